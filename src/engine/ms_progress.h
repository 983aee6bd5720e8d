/*
 * Batch progress: records (Spark's StreamingQueryProgress), the JSON of
 * /api/v1/status, the status page's history and the INFO progress line.
 *
 *   finish_commit (engine thread, once per durable batch)
 *     ├─ ms_progress_push(ring, pr)   full record  -> ring (last --status-batches)
 *     │                               chart point  -> history (last 10 min, <= 600)
 *     └─ ms_progress_log(ring, pr, every)  one INFO line, at most one per `every`
 *                                          seconds; batches in between are folded
 *                                          into the next line's counts
 *   publish: ms_progress_render_status(ring) -> "recentProgress" (full records)
 *                                               + "history" (compact columns)
 *
 * Bounds: the ring holds --status-batches full records; the history at most
 * MS_PROGRESS_HISTORY points, and only those of the last
 * MS_PROGRESS_HISTORY_SEC seconds (before the newest) are rendered, so
 * /api/v1/status stays below ~70 KB however long the engine runs.
 * Everything here runs on the engine thread; the rendered JSON is part of an
 * immutable snapshot.
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

#define MS_PROGRESS_HISTORY     600   /* chart points kept ... */
#define MS_PROGRESS_HISTORY_SEC 600.0 /* ... and rendered while this recent */

/* A chart point of the status page: one batch, its "history" row rendered
 * once when the batch is pushed (rendering 600 rows at every publish would
 * cost the engine thread milliseconds per batch; copying them costs
 * microseconds). */
#define MS_PROGRESS_ROW_MAX 256
typedef struct ms_progress_point {
    double t; /* trigger start, wall clock */
    unsigned len;
    char row[MS_PROGRESS_ROW_MAX]; /* [time,batchId,...] (see render_history) */
} ms_progress_point;

typedef struct ms_progress_ring {
    ms_progress *items;
    size_t cap, n, head; /* head: next write slot */
    ms_progress_point *hist;
    size_t hn, hhead;
    /* the progress line: wall time of the last one (0: none yet), and the
     * batches (and their rows) since it, this one included */
    double log_last;
    uint64_t log_batches, log_rows;
} ms_progress_ring;

void ms_progress_ring_init(ms_progress_ring *r, size_t cap);
void ms_progress_ring_free(ms_progress_ring *r);
/* Records a durable batch: its full record and its chart point. */
void ms_progress_push(ms_progress_ring *r, const ms_progress *p);

/* The progress line of a durable batch, as logged at INFO level:
 *
 *   progress batch=88 rows=1234 input_rows_per_s=2468.0 processed_rows_per_s=98765.4
 *   duration_ms=12.5 commit_ms=3.0 watermark=1970-01-05T12:00:00.000000Z
 *   batches=10 batch_rows=11468 over_s=10.0
 *
 * (one line): the batch's id, rows, rates (as in /api/v1/status), duration
 * and commit time, the watermark of the first statement that has one
 * (watermark=none otherwise); then the batches since the previous line, this
 * one included, their rows, and the seconds they span.  A replayed batch
 * (re-run after a crash) ends in " replayed".  Appends to b. */
void ms_progress_format_line(ms_buf *b, const ms_progress *p, uint64_t batches, uint64_t rows,
                             double over_s);

/* Called once per durable batch: logs its progress line at INFO when
 * every_sec have passed since the last line (or none was logged yet, or
 * every_sec is 0), else folds the batch into the next line.  Time is the
 * batch's end on the wall clock (p->timestamp + p->ms_total), so the rate
 * limit needs no clock of its own.  Returns 1 when a line was logged. */
int ms_progress_log(ms_progress_ring *r, const ms_progress *p, double every_sec);

/* Renders the /api/v1/status document.  input_dir: NULL for a Kafka
 * source; source_desc: the sources' description (Spark's
 * "DirectorySource[...]", "KafkaSource[...]"). */
void ms_progress_render_status(ms_buf *b, const char *program, const char *input_dir,
                               const char *source_desc, const char *checkpoint_dir, int ready,
                               const ms_stats *st, const struct ms_snapshot *snap,
                               const ms_progress_ring *r);

#endif
