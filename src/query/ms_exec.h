/*
 * ms_exec: runs one bound query statement (ms_sql_stmt) over rows — the
 * grouped, optionally windowed aggregate with its watermark.
 *
 *   row ──WHERE──▶ event time ──late?──▶ window(s) ──▶ group key ──▶ accumulators
 *                   (watermark)   drop+count   TUMBLE: 1, HOP: size/slide
 *
 * State: an ms_table from group key to either the count itself (statements
 * whose only aggregate is COUNT(*), e.g. word count: the fast path) or the
 * index of the group's accumulators (two int64 words per aggregate).
 *
 * Group key layout (also the RocksDB key suffix, "s:<stmt>:<key>"):
 *   [be64 window start, sign-flipped]   windowed statements only
 *   per group column: tag (0 NULL, 1 value) + payload
 *       BIGINT/TIMESTAMP/BOOLEAN  be64, sign-flipped
 *       DOUBLE                    8 bytes, order-preserving transform
 *       STRING                    bytes to the end (last column) or varint length + bytes
 *   except a single STRING group column of a never-NULL format (lines,
 *   words) with no window: the raw bytes (word count's keys are the words).
 *
 * Value layout: per aggregate, COUNT: zig-zag varint; SUM/MIN/MAX of
 * BIGINT/TIMESTAMP: zig-zag varint value + varint non-NULL count; of
 * DOUBLE and AVG: 8-byte little-endian IEEE value + varint count.  A
 * COUNT(*)-only statement's value is exactly ms_codec_encode_count().
 *
 * Event time and watermark (windowed statements with a watermark):
 *   watermark = the minimum over the input's active partitions of the
 *   largest event time each has sent in earlier batches, minus the delay
 *   (ms_watermark.h: partitions, idleness; the runtime says which
 *   partition rows come from with ms_exec_set_part, the engine lists the
 *   source's partitions with ms_exec_set_sources before the commit); rows
 *   whose event time is below the watermark at the start of their batch
 *   are late: dropped and counted.  At the commit of a batch the watermark
 *   advances, and every window whose end is <= the new watermark is closed:
 *   its rows are handed to the append output and its entries are deleted
 *   from the state and the checkpoint in the same write batch (complete
 *   mode keeps all windows, as Spark does).  The watermark is persisted in
 *   that commit too ("w:<stmt>", with every partition's largest event
 *   time).  The trace schemas' sentinel times, 0 ("before the trace") and
 *   2^63-1 ("after it"), carry no event time: a windowed or watermarked
 *   statement counts such rows as rows_no_time.  Elsewhere a time of
 *   2^63-1 counts but never advances the watermark.
 *
 * Thread-safety: engine thread only.
 */
#ifndef MS_EXEC_H
#define MS_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "query/ms_pipeline.h"
#include "query/ms_watermark.h"
#include "sql/ms_sql.h"
#include "state/ms_ckpt.h"
#include "state/ms_table.h"

/* Accumulator of one aggregate: a (COUNT: the count; SUM/MIN/MAX: the
 * value, int64 or double bits; AVG: the double sum), n (non-NULL inputs). */
typedef struct ms_acc {
    int64_t a;
    int64_t n;
} ms_acc;

/* A result row as the executor sees it: decoded key and accumulators. */
typedef struct ms_exec_row {
    const uint8_t *key; /* group key (layout above) */
    size_t klen;
    const ms_acc *accs; /* naggs accumulators */
    ms_acc count_only;  /* storage for the fast path */
} ms_exec_row;

typedef struct ms_exec_stats {
    uint64_t rows_in;       /* rows offered */
    uint64_t rows_filtered; /* dropped by WHERE */
    uint64_t rows_late;     /* dropped: older than the watermark */
    uint64_t rows_no_time;  /* dropped: NULL event time in a windowed statement */
    uint64_t rows_agg;      /* rows aggregated */
    uint64_t evicted;       /* groups evicted with their closed window, all time */
    uint64_t windows_closed;
} ms_exec_stats;

typedef struct ms_exec {
    const ms_sql_stmt *stmt;
    int fast_count; /* only COUNT(*): the table value is the count */
    int raw_key;    /* single never-NULL STRING group column, no window */
    ms_table table;
    ms_acc *accs; /* naggs per group (not used by the fast path) */
    size_t naccs, accs_cap;
    int64_t max_event;             /* max event time seen (INT64_MIN: none) */
    int64_t watermark;             /* INT64_MIN: none yet */
    int sentinels;                 /* the time column has the trace's sentinels (0, 2^63-1) */
    ms_wm wm;                      /* watermark over partitions (statements with a watermark) */
    ms_wm_part *wm_cur;            /* the partition rows come from now; NULL: not said yet */
    const ms_part_info *src_parts; /* the source's partitions (ms_exec_set_sources) */
    size_t nsrc_parts;
    double now;                                 /* monotonic clock of the batch, for idleness */
    int64_t last_closed_start, last_closed_end; /* latest closed window, INT64_MIN: none */
    ms_exec_stats st;
    ms_buf key, val;
    /* Rows of the windows closed by the last commit (append output):
     * keys and accumulators copied, valid until the next commit. */
    ms_buf closed_keys; /* varint klen + key, per row */
    ms_buf closed_accs; /* naggs ms_acc per row */
    size_t nclosed;
} ms_exec;

void ms_exec_init(ms_exec *x, const ms_sql_stmt *stmt);
void ms_exec_free(ms_exec *x);

/* The partition the following rows come from (ms_source.h), at monotonic
 * time now.  Rows offered before any call count for the directory. */
void ms_exec_set_part(ms_exec *x, const ms_part *p, double now);
/* Before the commit of a batch: the source's partitions and the clock for
 * the idleness rule (parts must stay valid until ms_exec_commit). */
void ms_exec_set_sources(ms_exec *x, const ms_part_info *parts, size_t n, double now);
/* --watermark-idle-sec (the default until set: ms_watermark.h's rule with
 * 5 s). */
void ms_exec_set_idle(ms_exec *x, double idle_sec);

/* ms_emit_fn: offers one row of the statement's schema width. */
void ms_exec_emit(void *x, const ms_row *row);

/* Loads the statement's committed state and watermark. */
int ms_exec_load(ms_exec *x, ms_ckpt *ck, char *errstr, size_t errstr_size);

/* Adds the batch's changes to the commit: changed groups, the new
 * watermark, and the deletion of the groups of windows it closes (whose
 * rows become the append output).  Returns the number of changed groups. */
size_t ms_exec_commit(ms_exec *x, ms_ckpt_batch *wb);
/* The write batch is handed over: forget dirtiness. */
void ms_exec_committed(ms_exec *x);

/* Iterates over every group in the state (any order). */
typedef void (*ms_exec_row_fn)(void *ud, const ms_exec_row *r);
void ms_exec_foreach(const ms_exec *x, ms_exec_row_fn fn, void *ud);
/* Iterates over the rows the last commit closed (append output). */
void ms_exec_foreach_closed(const ms_exec *x, ms_exec_row_fn fn, void *ud);

/* Decodes output column `out` of a row into v (strings point into the
 * key).  The value of an aggregate with no non-NULL input is NULL. */
void ms_exec_value(const ms_exec *x, const ms_exec_row *r, size_t out, ms_value *v);

/* ---------------------------------------------------------- group mode
 *
 * Several processes (docs/design.md §9): stage 1 runs the executor as a
 * combiner over one micro-batch of its input partitions and hands its
 * groups on as partial aggregates (ms_exec_take); stage 2 merges partial
 * aggregates into the state of the keys it owns (ms_exec_merge), whose
 * changes go to a changelog and come back from it (ms_exec_load_group,
 * ms_exec_encode_progress / ms_exec_decode_progress: the "w:" record). */

/* The value layout of accumulators (above): encode, and decode with the
 * checks of a record read from outside (MS_ECORRUPT). */
void ms_exec_encode_accs(const ms_exec *x, const ms_acc *acc, ms_buf *out);
int ms_exec_decode_accs(const ms_exec *x, const uint8_t *v, size_t vl, ms_acc *acc);

/* Calls fn for every group, then empties the state (the counters, the
 * event times of the partitions and the watermark stay). */
void ms_exec_take(ms_exec *x, ms_exec_row_fn fn, void *ud);

/* Merges the partial accumulators of `rows` input rows into group key
 * (created if new) and marks it changed.  A windowed statement with a
 * watermark refuses a partial of a window the watermark already closed:
 * its rows are counted late and 1 is returned; 0 otherwise. */
int ms_exec_merge(ms_exec *x, const uint8_t *key, size_t klen, const ms_acc *part, uint64_t rows);

/* Sets (restores) one group from its encoded value, not marked changed.
 * MS_ECORRUPT for a value that is not the statement's. */
int ms_exec_load_group(ms_exec *x, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl);

/* Iterates over the groups changed in the current batch. */
void ms_exec_foreach_changed(const ms_exec *x, ms_exec_row_fn fn, void *ud);

/* The statement's progress as ms_exec_commit() persists it ("w:<stmt>":
 * largest event time, watermark, latest closed window, the partitions'
 * event times), and its decoder (MS_ECORRUPT for other bytes). */
void ms_exec_encode_progress(const ms_exec *x, ms_buf *out);
int ms_exec_decode_progress(ms_exec *x, const uint8_t *v, size_t vl, double now);

/* Event time helpers (exposed for tests).  floor: the largest multiple of
 * step <= t, defined when !ms_exec_floor_overflows(t, step) (false unless t
 * is within one step of INT64_MIN). */
int64_t ms_exec_floor(int64_t t, int64_t step);
int ms_exec_floor_overflows(int64_t t, int64_t step);

#endif
