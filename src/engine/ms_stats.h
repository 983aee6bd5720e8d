/*
 * Engine statistics: plain counters owned by the engine thread and copied
 * by value into every published snapshot (the HTTP thread never sees the
 * live struct).
 */
#ifndef MS_STATS_H
#define MS_STATS_H

#include <stdint.h>

#include "query/ms_pipeline.h"
#include "source/ms_dirsrc.h"

#define MS_HIST_BUCKETS 15

typedef struct ms_hist {
    const double *bounds;             /* MS_HIST_BUCKETS upper bounds, seconds */
    uint64_t counts[MS_HIST_BUCKETS]; /* non-cumulative */
    uint64_t count;
    double sum;
} ms_hist;

extern const double ms_hist_commit_bounds[MS_HIST_BUCKETS];
extern const double ms_hist_batch_bounds[MS_HIST_BUCKETS];

void ms_hist_observe(ms_hist *h, double v);

typedef struct ms_stats {
    uint64_t batches;        /* committed by this process */
    uint64_t replayed;       /* batches re-run from a plan found at start-up */
    int64_t last_batch_id;   /* -1: none yet */
    double last_commit_wall; /* seconds since the epoch, 0: none */
    uint64_t input_rows, input_bytes, input_files;
    uint64_t agg_rows;
    uint64_t malformed[MS_MALFORMED_MAX];
    uint64_t late_rows;
    uint64_t commit_bytes_total, commit_keys_total;
    ms_dirsrc_stats src;
    uint64_t state_entries, state_bytes;
    ms_hist batch_dur, commit_dur;
    double last_input_rps, last_processed_rps;
    double recovery_sec;
    double start_wall;
    double trigger_sec; /* --trigger-sec, for mstream_trigger_interval_seconds */
} ms_stats;

#endif
