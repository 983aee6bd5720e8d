/*
 * Published snapshots: what the HTTP thread serves.
 *
 * After each commit the engine thread builds a new immutable ms_snapshot
 * and swaps it in with ms_snapshot_publish().  Its size does not depend on
 * the state's: per statement of the program it holds
 *
 *   - the rows /metrics exports: the top-K by the first aggregate output
 *     column (unwindowed statements: the executor's top-K, kept at every
 *     commit; windowed ones: the top-K rows of the latest closed window,
 *     or, when windows are never evicted, of the newest window, read from
 *     the checkpoint through the snapshot below),
 *   - the statement's counters and group count,
 *   - and, for the full table (/api/v1/results), a RocksDB snapshot taken
 *     when the snapshot is published, once its batch is durable: the first
 *     rows come from the top-K above, deeper pages are selected from the
 *     state through that snapshot (ms_exec_page: a few passes over the
 *     statement's rows, memory for the page only), so every page of one
 *     published snapshot is consistent whatever the engine does meanwhile.
 *
 * Executors without a checkpoint (unit tests, fuzzers) have all their rows
 * in memory: the snapshot copies them (`rows`), as it always did.
 *
 * Readers take a reference with ms_snapshot_acquire() and drop it with
 * ms_snapshot_release(); the last reference frees it (and releases the
 * RocksDB snapshot, so the engine must release every snapshot before it
 * closes the checkpoint).
 *
 * The statements themselves (ms_sql_stmt) belong to the program, which the
 * engine frees only after the HTTP server is stopped.
 *
 * Thread-safety: build, attach and publish on the engine thread,
 * acquire/release, ms_snapshot_sort_rows and ms_snapshot_page anywhere
 * (the lazy sort takes a lock).
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
    ms_exec dec;     /* decoder of the statement's rows (ms_exec_decoder) */
    ms_ckpt *ck;     /* the checkpoint holding the state; NULL: rows below */
    ms_rowset rows;  /* memory-only executors: every group; sorted on first need */
    int sorted;      /* rows are in result order (1) or key order (2) */
    uint64_t groups; /* groups in the state (the full table's rows) */
    /* What /metrics exports: the rows of `top` at indices topk[0..ntopk),
     * in result order.  Unwindowed statements: the top-K of the state;
     * windowed ones: the top-K of the rows of window [win_start, win_end)
     * (INT64_MIN: no such window yet). */
    ms_rowset top; /* (with a checkpoint: the executor's kept top rows, exact) */
    size_t *topk;
    size_t ntopk, ncand; /* exported, and candidates they were chosen from */
    int64_t win_start, win_end;
    int win_closed;     /* 1: the window is closed (final); 0: the newest, still open */
    int win_from_ckpt;  /* the window's rows are read when the snapshot is attached */
    int top_exact;      /* top holds the first top.n rows of the full table (or all of it) */
    ms_exec_hist *hist; /* the full table's histogram, made by the first deep page */
    ms_exec_stats xs;
    uint64_t malformed[MS_MALFORMED_MAX];
    uint64_t lines;
    uint64_t state_entries, state_bytes; /* groups, and bytes of memory held */
    uint64_t cache_entries;              /* groups in memory */
    uint64_t disk_bytes;                 /* SST bytes of its state and index (estimate) */
    uint64_t memory_limit;               /* its share of --state-memory; 0: none */
    int cache_complete;                  /* memory holds every group */
    int64_t watermark, max_event;        /* INT64_MIN: none */
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
    /* The checkpoint's view when the snapshot was published (NULL: none),
     * and RocksDB's memory figures then. */
    ms_ckpt_snap *csnap;
    ms_ckpt_stats ckstats;
    /* Group mode (docs/design.md §9): ownership, rebalances, restores,
     * transactions (has_group; owned, freed with the snapshot). */
    int has_group;
    ms_gstats group;
    pthread_mutex_t sort_lock;
    double pinned_until; /* monotonic; under the publisher's lock (ms_snapshot_acquire_batch) */
} ms_snapshot;

/* The published snapshot, and a few earlier ones a client is paging.
 *
 * Paging a large table takes many requests while batches go on; every
 * page must come from one batch.  A page asked for by batch id
 * (ms_snapshot_acquire_batch: /api/v1/results?batchId=N) pins that
 * snapshot for MS_SNAPSHOT_PIN_SEC more seconds; when a newer one is
 * published, a pinned snapshot is retained (at most MS_SNAPSHOT_RETAINED,
 * the least recently pinned dropped first) instead of released, and
 * dropped once its pin runs out.  A retained snapshot holds its RocksDB
 * snapshot (old versions of the state stay on disk meanwhile) and its top
 * rows, so the cost is bounded by the count and the time. */
#define MS_SNAPSHOT_RETAINED 8
#define MS_SNAPSHOT_PIN_SEC  60.0

typedef struct ms_published {
    pthread_mutex_t lock;
    ms_snapshot *cur;
    ms_snapshot *retained[MS_SNAPSHOT_RETAINED];
    size_t nretained;
} ms_published;

void ms_published_init(ms_published *p);
void ms_published_destroy(ms_published *p);
/* Takes ownership of s (refs must be 0). */
void ms_snapshot_publish(ms_published *p, ms_snapshot *s);
ms_snapshot *ms_snapshot_acquire(ms_published *p);
/* The snapshot of batch_id (the current one or a retained one), acquired
 * and pinned (see above); batch_id < 0: the current one, pinned.  NULL
 * when that batch is no longer (or not yet) available. */
ms_snapshot *ms_snapshot_acquire_batch(ms_published *p, int64_t batch_id);
void ms_snapshot_release(ms_snapshot *s);

/* A snapshot for nq statements with a top-K cap of k; fill each with
 * ms_snapshot_set_stmt(). */
ms_snapshot *ms_snapshot_new(size_t nq, size_t k);

/* Copies the exported rows and counters of statement i from its executor
 * (O(top-K), or O(state) for an executor without a checkpoint).
 * closed: the rows of the latest window the executor closed (evicted from
 * its state), or NULL; closed_start/closed_end its bounds. */
void ms_snapshot_set_stmt(ms_snapshot *s, size_t i, const ms_exec *x, const ms_rowset *closed,
                          int64_t closed_start, int64_t closed_end,
                          const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines);

/* When the snapshot's batch is durable (just before publishing): takes the
 * checkpoint's read view, reads what the snapshot reads from it (windowed
 * statements whose windows stay in the state: the rows of the window they
 * export), and RocksDB's memory figures.  ck NULL: nothing. */
void ms_snapshot_attach(ms_snapshot *s, ms_ckpt *ck);

/* Group mode (docs/design.md §9): statement i's results are the union of
 * the groups of several executors, its tasks (each holds the keys of one
 * partition), shown with the counters st.  closed: the rows of the latest
 * window any of them closed. */
void ms_snapshot_set_stmt_parts(ms_snapshot *s, size_t i, const ms_sql_stmt *stmt,
                                const ms_exec *const *xs, size_t nx, const ms_exec_stats *st,
                                const ms_rowset *closed, int64_t closed_start, int64_t closed_end,
                                const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines);

/* Sorts a memory-only statement's rows (result order). */
void ms_snapshot_sort_rows(ms_snapshot *s, ms_stmt_snap *q);

/* A page of the statement's full table, appended to out (initialised for
 * q's statement): rows [offset, offset + limit) in result order, or with
 * by_key, in group-key order after the key `after` (NULL: the first).  0,
 * or an error with errstr. */
int ms_snapshot_page(ms_snapshot *s, ms_stmt_snap *q, int by_key, const uint8_t *after,
                     size_t after_len, uint64_t offset, size_t limit, ms_rowset *out, char *errstr,
                     size_t errstr_size);

/* Statement by name, or NULL; NULL name: the first statement. */
ms_stmt_snap *ms_snapshot_find(ms_snapshot *s, const char *name);

#endif
