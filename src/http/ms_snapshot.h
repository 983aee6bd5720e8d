/*
 * Published snapshots: what the HTTP thread serves.
 *
 * After each commit the engine thread builds a new immutable ms_snapshot
 * and swaps it in with ms_snapshot_publish().  It holds, per statement of
 * the program, a copy of every result row (group key + accumulators, in an
 * ms_rowset; typed output columns are decoded at render time with
 * ms_exec_value), the rows exported on /metrics (the top-K by the first
 * aggregate output column; for windowed statements, the rows of the latest
 * closed window), the statement's counters, and the engine's counters and
 * status JSON.  Readers take a reference with ms_snapshot_acquire() and
 * drop it with ms_snapshot_release(); the last reference frees it.
 *
 * The statements themselves (ms_sql_stmt) belong to the program, which the
 * engine frees only after the HTTP server is stopped.
 *
 * Thread-safety: build and publish on the engine thread, acquire/release
 * and ms_snapshot_sort_rows anywhere (the lazy sort takes a lock).
 */
#ifndef MS_SNAPSHOT_H
#define MS_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ms_gstats.h"
#include "engine/ms_rowset.h"
#include "engine/ms_stats.h"
#include "query/ms_exec.h"
#include "source/ms_kafkasrc.h"

typedef struct ms_stmt_snap {
    const ms_sql_stmt *stmt;
    ms_rowset rows; /* every group of the state; sorted on first need */
    int sorted;
    /* What /metrics exports: unwindowed statements, the top-K of rows;
     * windowed ones, the top-K of the rows of window [win_start, win_end)
     * (INT64_MIN: no such window yet). */
    ms_rowset win;       /* windowed statements only */
    size_t *topk;        /* indices into rows (unwindowed) or win (windowed) */
    size_t ntopk, ncand; /* exported, and candidates they were chosen from */
    int64_t win_start, win_end;
    int win_closed; /* 1: the window is closed (final); 0: the newest, still open */
    ms_exec_stats xs;
    uint64_t malformed[MS_MALFORMED_MAX];
    uint64_t lines;
    uint64_t state_entries, state_bytes;
    int64_t watermark, max_event; /* INT64_MIN: none */
    /* The watermark's partitions (ms_watermark.h), copied. */
    struct ms_snap_part {
        char *key;
        int64_t max_event;
        int idle, backlog;
    } * parts;
    size_t nparts;
} ms_stmt_snap;

typedef struct ms_snapshot {
    int refs;
    int ready;
    const char *program; /* the program's name (query file stem), owned by the engine */
    ms_stats stats;
    size_t top_k_limit;
    ms_stmt_snap *q;
    size_t nq;
    char *status_json;
    /* The Kafka source's counters and per-partition positions and lag
     * (has_kafka: the engine reads Kafka; owned, freed with the snapshot). */
    int has_kafka;
    ms_kafkasrc_stats kafka;
    /* Group mode (docs/design.md §9): ownership, rebalances, restores,
     * transactions (has_group; owned, freed with the snapshot). */
    int has_group;
    ms_gstats group;
    pthread_mutex_t sort_lock;
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

/* A snapshot for nq statements with a top-K cap of k; fill each with
 * ms_snapshot_set_stmt(). */
ms_snapshot *ms_snapshot_new(size_t nq, size_t k);

/* Copies the results and counters of statement i from its executor.
 * closed: the rows of the latest window the executor closed (evicted from
 * its state), or NULL; closed_start/closed_end its bounds. */
void ms_snapshot_set_stmt(ms_snapshot *s, size_t i, const ms_exec *x, const ms_rowset *closed,
                          int64_t closed_start, int64_t closed_end,
                          const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines);

/* Group mode (docs/design.md §9): statement i's results are the union of
 * the groups of several executors, its tasks (each holds the keys of one
 * partition), shown with the counters st.  closed: the rows of the latest
 * window any of them closed. */
void ms_snapshot_set_stmt_parts(ms_snapshot *s, size_t i, const ms_sql_stmt *stmt,
                                const ms_exec *const *xs, size_t nx, const ms_exec_stats *st,
                                const ms_rowset *closed, int64_t closed_start, int64_t closed_end,
                                const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines);

/* Sorts a statement's rows once (value desc, key asc); /api/v1/results. */
void ms_snapshot_sort_rows(ms_snapshot *s, ms_stmt_snap *q);

/* Statement by name, or NULL; NULL name: the first statement. */
ms_stmt_snap *ms_snapshot_find(ms_snapshot *s, const char *name);

#endif
