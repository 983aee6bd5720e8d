/*
 * Batch progress records (Spark's StreamingQueryProgress) and the JSON of
 * /api/v1/status.  The engine keeps the last N records in a ring and
 * renders the status document once per publish.
 */
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "engine/ms_stats.h"

#define MS_PROGRESS_FILES 8 /* file ranges listed per batch */
#define MS_PROGRESS_STMTS 8 /* statements listed per batch (stateOperators) */

struct ms_snapshot;

typedef struct ms_progress {
    int64_t batch_id;
    double timestamp; /* trigger start, wall clock */
    int replayed;     /* re-run of a plan persisted before a crash */
    uint64_t rows, bytes, files;
    uint64_t state_updated, state_total, state_bytes, commit_bytes;
    double input_rps, processed_rps;
    double ms_plan, ms_plan_sync, ms_read, ms_commit, ms_total;
    size_t nstmts_listed;
    struct {
        const char *name; /* the statement's (lives as long as the program) */
        uint64_t updated, total, bytes, late, evicted;
        int64_t watermark, max_event; /* INT64_MIN: none */
    } stmt[MS_PROGRESS_STMTS];
    int kafka; /* the ranges are Kafka partitions (name = topic), not files */
    size_t nfiles_listed;
    struct {
        char name[128];
        int32_t partition; /* Kafka only */
        uint64_t start, end;
    } file[MS_PROGRESS_FILES];
} ms_progress;

typedef struct ms_progress_ring {
    ms_progress *items;
    size_t cap, n, head; /* head: next write slot */
} ms_progress_ring;

void ms_progress_ring_init(ms_progress_ring *r, size_t cap);
void ms_progress_ring_free(ms_progress_ring *r);
void ms_progress_push(ms_progress_ring *r, const ms_progress *p);

/* Renders the /api/v1/status document.  input_dir: NULL for a Kafka
 * source; source_desc: the sources' description (Spark's
 * "DirectorySource[...]", "KafkaSource[...]"). */
void ms_progress_render_status(ms_buf *b, const char *program, const char *input_dir,
                               const char *source_desc, const char *checkpoint_dir, int ready,
                               const ms_stats *st, const struct ms_snapshot *snap,
                               const ms_progress_ring *r);

#endif
