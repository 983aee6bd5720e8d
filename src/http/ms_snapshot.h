/*
 * Published snapshots: what the HTTP thread serves.
 *
 * After each commit the engine thread builds a new immutable ms_snapshot
 * (results, top-K, counters, status JSON) and swaps it in with
 * ms_snapshot_publish().  Readers take a reference with
 * ms_snapshot_acquire() and drop it with ms_snapshot_release(); the last
 * reference frees it.  Keys point into the aggregate's arena, which lives
 * as long as the engine (the HTTP server is stopped before it is freed).
 *
 * Thread-safety: publish on the engine thread, acquire/release anywhere.
 */
#ifndef MS_SNAPSHOT_H
#define MS_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ms_stats.h"
#include "query/ms_query.h"

typedef struct ms_result_row {
    const uint8_t *key;
    uint32_t klen;
    int64_t value;
} ms_result_row;

typedef struct ms_snapshot {
    int refs;
    int ready;
    const ms_query_def *query;
    ms_stats stats;
    size_t top_k_limit;
    uint8_t *keys;       /* the bytes of every key, owned */
    ms_result_row *rows; /* every group (keys point into `keys`); sorted on first need */
    size_t nrows;
    ms_result_row *topk; /* the largest top_k_limit, sorted */
    size_t ntopk;
    char *status_json;
    pthread_mutex_t sort_lock;
    int sorted;
} ms_snapshot;

typedef struct ms_published {
    pthread_mutex_t lock;
    ms_snapshot *cur;
} ms_published;

void ms_published_init(ms_published *p);
void ms_published_destroy(ms_published *p);
/* Takes ownership of s (refs must be 0). */
void ms_snapshot_publish(ms_published *p, ms_snapshot *s);
ms_snapshot *ms_snapshot_acquire(ms_published *p);
void ms_snapshot_release(ms_snapshot *s);

/* Builds a snapshot of the aggregate's table: copies (key, value) of every
 * group and selects the top k. */
ms_snapshot *ms_snapshot_build(const ms_agg *agg, size_t k);
/* Sorts rows (value desc, key asc) once; used by /api/v1/results. */
void ms_snapshot_sort_rows(ms_snapshot *s);

int ms_result_cmp(const ms_result_row *a, const ms_result_row *b);

#endif
