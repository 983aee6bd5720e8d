/*
 * Group mode's counters and ownership (docs/design.md §9), as a published
 * snapshot carries them to /metrics and /api/v1/status: which input
 * partitions and stage-2 tasks this process owns, restores, rebalances,
 * transactions.  Plain values copied into every snapshot (the HTTP thread
 * never sees the live struct).
 */
#ifndef MS_GSTATS_H
#define MS_GSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ms_stats.h"

typedef struct ms_gstats_part {
    char *topic; /* owned */
    int32_t partition;
} ms_gstats_part;

typedef struct ms_gstats_task {
    const char *stmt; /* the program's statement name (outlives the snapshot) */
    int32_t partition;
    int restoring;
    int64_t restore_from, restore_target, position; /* changelog offsets */
    uint64_t restored;                              /* records replayed so far */
    double restore_secs;
    uint64_t groups;
} ms_gstats_task;

typedef struct ms_gstats {
    char *application_id, *member_id, *transactional_id; /* owned */
    int32_t generation;                                  /* of the input group; -1: not in it yet */
    int32_t tasks_generation;         /* of the tasks group (<application-id>-tasks) */
    uint64_t assigned, revoked, lost; /* rebalance events */
    uint64_t txn_committed, txn_aborted, fenced, rejoins;
    uint64_t restore_records; /* changelog records replayed by finished restores */
    double restore_secs;      /* ... and the time they took */
    double restore_rate;      /* records/s of the latest finished restore (0: none) */
    uint64_t rep_records, rep_bytes, cl_records, cl_bytes, out_records, out_bytes;
    uint64_t corrupt_records; /* internal records that did not decode (skipped) */
    ms_hist txn_commit;       /* flush + offsets + commit of a transaction */
    ms_gstats_part *inputs;   /* owned input partitions */
    size_t ninputs;
    ms_gstats_task *tasks; /* owned stage-2 tasks */
    size_t ntasks;
} ms_gstats;

extern const double ms_hist_txn_bounds[MS_HIST_BUCKETS];

/* A deep copy (dst uninitialised); free with ms_gstats_free. */
void ms_gstats_copy(ms_gstats *dst, const ms_gstats *src);
void ms_gstats_free(ms_gstats *g);

/* The "group" object of /api/v1/status. */
struct ms_buf;
void ms_gstats_render_json(struct ms_buf *b, const ms_gstats *g);

#endif
