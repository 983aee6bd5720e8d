/*
 * A stage-2 task of group mode (docs/design.md §9): the state of one
 * statement's group keys that hash to repartition partition q, owned by
 * the process the consumer group gave q to (Kafka Streams' task).
 *
 *   repartition q ──partials, watermarks──▶ task (stmt, q) ──changes──▶ changelog q
 *                                              │  ▲                           │
 *                                   commit ────┘  └──── restore ◀─────────────┘
 *                                   cache (RocksDB)        (from the cache's offset)
 *
 * The state is an executor (ms_exec.h) fed with partial aggregates
 * instead of rows; its watermark is the minimum over the upstream (input)
 * partitions of the largest event time each announced (ms_watermark.h),
 * per task: a task only closes a window once its own repartition
 * partition has carried every upstream partition past it.
 *
 * Commit (one Kafka transaction per micro-batch, driven by ms_group.c):
 * every group the batch changed goes to the changelog with its new value,
 * every group a closed window evicted as a tombstone, and the task's
 * progress (event times, watermark) as record 'w' when it moved.  The
 * same changes are staged for the local cache, which is written only
 * once the transaction is committed, with the changelog offset it then
 * reflects (ms_codec_group.h has the layouts).
 *
 * Restore: the cache's entries of (stmt, q) are brought up to the
 * changelog's end (at least to the offset the committed offsets' metadata
 * names) by replaying the changelog into the cache, then loaded.  A cache
 * that is ahead of the changelog (the topic was made anew) is wiped first.
 *
 * This file is group mode's only user of the state store (ms_exec's state
 * and the checkpoint), so a new store is ported here.
 *
 * Thread-safety: engine thread only.
 */
#ifndef MS_GTASK_H
#define MS_GTASK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ms_rowset.h"
#include "query/ms_exec.h"
#include "source/ms_source.h"
#include "state/ms_ckpt.h"

typedef struct ms_gtask {
    const ms_sql_stmt *stmt;
    int32_t q;
    ms_exec x;
    int restoring;          /* not processing yet: catching up with the changelog */
    int64_t cl_next;        /* the next changelog offset the state reflects */
    int64_t restore_target; /* restore at least to this offset */
    int64_t restore_from;   /* where the restore started (for progress) */
    uint64_t restored;      /* changelog records replayed by the restore */
    double restore_started, restore_secs;
    int touched; /* partials merged or watermarks heard since the last commit */
    /* The latest window this task closed (/metrics). */
    ms_rowset closed;
    int64_t closed_start, closed_end;
    ms_buf key, val, prog;
} ms_gtask;

void ms_gtask_init(ms_gtask *t, const ms_sql_stmt *stmt, int32_t q, double idle_sec);
void ms_gtask_free(ms_gtask *t);

/* ------------------------------------------------------------- restore */

/* The changelog offset the local cache reflects (0: nothing cached). */
int ms_gtask_cache_offset(ms_gtask *t, ms_ckpt *ck, int64_t *next, char *errstr,
                          size_t errstr_size);
/* Deletes the task's cache (a cache of another changelog) into wb. */
int ms_gtask_cache_wipe(ms_gtask *t, ms_ckpt *ck, ms_ckpt_batch *wb, char *errstr,
                        size_t errstr_size);
/* Replays one changelog record (key, value; value NULL: a tombstone) into
 * the cache batch.  MS_ECORRUPT for a record that is not the statement's. */
int ms_gtask_restore_record(ms_gtask *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                            ms_ckpt_batch *wb);
/* Stages the cache's offset record (next changelog offset) into wb. */
void ms_gtask_cache_set_offset(ms_gtask *t, int64_t next, ms_ckpt_batch *wb);
/* Loads the task's state from the cache (after the restore's writes). */
int ms_gtask_load(ms_gtask *t, ms_ckpt *ck, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------- stage 2 */

/* A repartition record: a partial row, or an upstream partition's
 * watermark.  MS_ECORRUPT for bytes that are neither (counted and skipped
 * by the caller). */
int ms_gtask_feed(ms_gtask *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                  double now);

/* What a commit produces, through the caller's hooks. */
typedef struct ms_gtask_sink {
    void *ud;
    /* A changelog record of the task (v NULL: tombstone). */
    int (*changelog)(void *ud, ms_gtask *t, const void *k, size_t kl, const void *v, size_t vl);
    /* A row of a window the commit closed (APPEND output); may be NULL. */
    int (*closed_row)(void *ud, ms_gtask *t, const ms_exec_row *r);
} ms_gtask_sink;

/* Advances the watermark (upstream: the input partitions, with whether
 * input waits in them), closes windows, and hands every change to the
 * sink; the same changes are staged into cache_wb.  Returns 0, or the
 * first error of a hook. */
int ms_gtask_commit(ms_gtask *t, const ms_part_info *upstream, size_t nup, double now,
                    const ms_gtask_sink *sink, ms_ckpt_batch *cache_wb);

#endif
