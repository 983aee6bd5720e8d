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
 * Where the state lives.  With a checkpoint (ms_exec_load), RocksDB holds
 * the whole state and the table is a cache of it (state/ms_table.h):
 *
 *   row ─▶ group key ─▶ table hit ─────────────────────────▶ update
 *                        │ miss
 *                        ├─ table complete: a new group ─────▶ update
 *                        ├─ COUNT(*) only: count this batch's delta now,
 *                        │  add the stored count at ms_exec_prepare()
 *                        │  (one MultiGet for all such keys of the batch)
 *                        └─ otherwise: point get "s:<stmt>:<key>" ─▶ update
 *
 * The table is `complete` while it holds every group (a fresh or small
 * state: no lookup for a new key); the first eviction ends that.  Restart
 * reads no state: only the totals record "t:<stmt>" (group count and the
 * top-K rows), the watermark and the latest closed window; a state of at
 * most EAGER_GROUPS groups that fits a quarter of the budget is loaded
 * whole (complete again).  Deferring the stored value is exact for COUNT(*)
 * only (integer addition is associative; a DOUBLE SUM is not, and a re-run
 * must commit the same bytes), hence the point gets elsewhere.
 *
 * Result order.  Rows are ordered by the first aggregate output column,
 * descending, NULL last, then by group key: the 10-byte sort key
 * (ms_exec_sortkey: class byte 1 value / 2 NULL, then the value in an
 * order-preserving form that puts its magnitude first, inverted) followed
 * by the key.  No index of that order is kept in RocksDB — it would write
 * three records per changed group instead of one (an index record's
 * delete and put), which the flushes and compactions of a heavy-update
 * workload cannot absorb (tests/bench).  Instead:
 *   - the top-K of an unwindowed statement is kept in memory: after each
 *     commit, the best of (previous top-K ∪ changed groups).  That is
 *     exact unless the new K-th ranks below the previous K-th (a row of
 *     the top fell: MIN, AVG, SUM of negatives; never for COUNT or MAX),
 *     and then the top-K comes from a full scan.  It is stored with the
 *     group count in "t:<stmt>" in every commit that changes the state, so
 *     /metrics has it right after a restart;
 *   - a page of the full table beyond the kept top-K is selected from a
 *     RocksDB snapshot (ms_exec_page): a histogram of the sort keys' first
 *     bytes, then the page's buckets, refined when an edge bucket mixes
 *     values — a few passes over the statement's rows, memory for the page.
 *
 * Closed windows are a key range: the window start is the first 8 bytes
 * of the group key, so a commit that moves the watermark from w0 to w1
 * reads "s:<stmt>:" + [w0 - size + 1, w1 - size + 1) from RocksDB (where
 * the cache holds a newer value it wins) plus the groups the batch created,
 * never the whole table.
 *
 * Memory bound (ms_exec_set_limits): half of the statement's bytes for the
 * table (slots, keys, accumulators), half for what the batch's changes
 * stand for until committed (dirty records, the write batch and memtable
 * copies: ms_table_dirty_bytes()).  Changed groups cannot be evicted before
 * their commit is durable; when they outgrow the bound the executor fails
 * (ms_exec_failed: a sentence naming the statement, the bound and what to
 * do) and raises the engine's stop flag.  A re-run of the same plan would
 * change the same groups: only a larger --state-memory lets it through.
 *
 * Thread-safety: engine thread only, except ms_exec_page(),
 * ms_exec_window_rows() and ms_exec_value() on a decoder-only executor
 * (stmt, fast_count, raw_key set: ms_rowset's), which any thread may call.
 */
#ifndef MS_EXEC_H
#define MS_EXEC_H

#include <signal.h>
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
    /* The cache (this process): lookups of a group, those that missed the
     * table, groups read from RocksDB, entries evicted to make room. */
    uint64_t cache_lookups, cache_misses, state_reads, cache_evictions;
} ms_exec_stats;

/* The memory bound and what the engine lends the executor. */
typedef struct ms_exec_limits {
    uint64_t memory;                /* bytes for the statement's state in memory; 0: unbounded */
    volatile sig_atomic_t *stop;    /* set when the executor fails (the engine stops reading) */
    const uint64_t *durable;        /* batches committed durably (the committer's counter) */
    void (*wait_durable)(void *ud); /* blocks until the commit in flight is done */
    void *wait_ud;
    size_t top_k; /* rows kept in the in-memory top-K (unwindowed statements) */
} ms_exec_limits;

/* The top-K rows of an unwindowed statement, sorted in result order.  A
 * batch that changes few groups moves each in place (ms_exec.c, update_top);
 * the bytes of keys that left stay in `keys` until `dead` is worth a
 * compaction. */
typedef struct ms_exec_top {
    ms_buf keys;
    size_t *koff, *klen;
    ms_acc *accs; /* naggs per row */
    uint8_t *sk;  /* MS_EXEC_SORTKEY per row */
    size_t n, cap;
    size_t dead; /* bytes of `keys` no row refers to */
} ms_exec_top;

#define MS_EXEC_SORTKEY 10
/* Rows the engine keeps in the top-K at least: /api/v1/results' default
 * page (1000 rows) is then read from memory. */
#define MS_EXEC_RESULTS_TOP 1000

typedef struct ms_exec {
    const ms_sql_stmt *stmt;
    int fast_count; /* only COUNT(*): the table value is the count */
    int raw_key;    /* single never-NULL STRING group column, no window */
    int sort_agg;   /* aggregate of the first aggregate output column, -1: none */
    ms_table table;
    ms_acc *accs; /* naggs per group (not used by the fast path) */
    size_t naccs, accs_cap;
    int64_t acc_free; /* first free accumulator block (evicted groups), -1: none */
    size_t accs_live;
    int64_t max_event;             /* max event time seen (INT64_MIN: none) */
    int64_t watermark;             /* INT64_MIN: none yet */
    int sentinels;                 /* the time column has the trace's sentinels (0, 2^63-1) */
    ms_wm wm;                      /* watermark over partitions (statements with a watermark) */
    ms_wm_part *wm_cur;            /* the partition rows come from now; NULL: not said yet */
    const ms_part_info *src_parts; /* the source's partitions (ms_exec_set_sources) */
    size_t nsrc_parts;
    double now;                                 /* monotonic clock of the batch, for idleness */
    int64_t last_closed_start, last_closed_end; /* latest closed window, INT64_MIN: none */
    ms_exec_stats st; /* counters since the checkpoint began ("k:<stmt>", ms_codec.h) */
    /* Malformed rows by reason: the checkpoint's count at start plus what
     * the statement's parser rejected in this process (malformed_src). */
    uint64_t malformed_base[MS_MALFORMED_MAX];
    const uint64_t *malformed_src;
    ms_buf key, val;
    /* Rows of the windows closed by the last commit (append output):
     * keys and accumulators copied, valid until the next commit. */
    ms_buf closed_keys; /* varint klen + key, per row */
    ms_buf closed_accs; /* naggs ms_acc per row */
    size_t nclosed;
    /* The state store. */
    ms_ckpt *ck;                 /* the checkpoint holding the state; NULL: memory only */
    uint64_t memory;             /* the bound (ms_exec_limits.memory) */
    uint64_t groups;             /* groups in the state */
    size_t top_k;                /* 0: no in-memory top-K */
    ms_exec_top top;             /* unwindowed statements with top_k */
    ms_table top_keys;           /* the top's keys (value: their offset in top.keys) */
    size_t sorted_dirty;         /* dirty records already in key order (ms_exec_prepare) */
    volatile sig_atomic_t *stop; /* raised on failure */
    int failed;
    char err[640];
    ms_buf rbuf, rkey; /* reads */
} ms_exec;

/* An executor whose state lives in memory only (no bound) until
 * ms_exec_load() attaches a checkpoint. */
void ms_exec_init(ms_exec *x, const ms_sql_stmt *stmt);
void ms_exec_free(ms_exec *x);
/* Sets the bound and the engine's hooks (before ms_exec_load). */
void ms_exec_set_limits(ms_exec *x, const ms_exec_limits *lim);

/* The partition the following rows come from (ms_source.h), at monotonic
 * time now.  Rows offered before any call count for the directory. */
void ms_exec_set_part(ms_exec *x, const ms_part *p, double now);
/* Before the commit of a batch: the source's partitions and the clock for
 * the idleness rule (parts must stay valid until ms_exec_commit). */
void ms_exec_set_sources(ms_exec *x, const ms_part_info *parts, size_t n, double now);
/* --watermark-idle-sec (the default until set: ms_watermark.h's rule with
 * 5 s). */
void ms_exec_set_idle(ms_exec *x, double idle_sec);

/* The statement's parser's counts of malformed rows by reason in this
 * process (MS_MALFORMED_MAX of them, they must outlive x): committed with
 * the executor's counters, so they continue across restarts. */
void ms_exec_set_malformed_source(ms_exec *x, const uint64_t *counts);
/* Malformed rows by reason since the checkpoint began (after
 * ms_exec_load; without a checkpoint, since start). */
void ms_exec_malformed(const ms_exec *x, uint64_t out[MS_MALFORMED_MAX]);

/* ms_emit_fn: offers one row of the statement's schema width. */
void ms_exec_emit(void *x, const ms_row *row);

/* Attaches the checkpoint that holds the statement's state (it must stay
 * open while the executor is used) and loads what a restart needs: the
 * group count and top-K, the watermark, the counters (ms_exec_stats'
 * rows_* , evicted, windows_closed and the malformed counts: a checkpoint
 * without them starts at zero) — not the state (see above).
 * Upgrades a format-1 checkpoint's state once. */
int ms_exec_load(ms_exec *x, ms_ckpt *ck, char *errstr, size_t errstr_size);

/* After the batch's rows: adds the stored values of the COUNT(*) groups
 * the batch found neither in memory nor known to be new (one MultiGet).
 * Call before reading the batch's changes (ms_exec_foreach_changed,
 * ms_exec_foreach) and before ms_exec_commit (which calls it if needed).
 * 0, or MS_EIO with errstr (the batch must not be committed). */
int ms_exec_prepare(ms_exec *x, char *errstr, size_t errstr_size);

/* 1 if the executor failed during the batch (memory bound exceeded, a
 * state read failed): the batch must not be committed; errstr says why
 * and what to do. */
int ms_exec_failed(const ms_exec *x, char *errstr, size_t errstr_size);

/* Adds the batch's changes to the commit: changed groups (state and index
 * records), the new watermark, the deletion of the groups of windows it
 * closes (whose rows become the append output), the totals record and
 * the counters record.
 * Returns the number of changed groups. */
size_t ms_exec_commit(ms_exec *x, ms_ckpt_batch *wb);
/* The write batch is handed over: forget dirtiness. */
void ms_exec_committed(ms_exec *x);

/* Iterates over every group in the state (memory, or RocksDB with the
 * newer values of the cache over it), after ms_exec_prepare().  0 or
 * MS_EIO (logged). */
typedef void (*ms_exec_row_fn)(void *ud, const ms_exec_row *r);
int ms_exec_foreach(const ms_exec *x, ms_exec_row_fn fn, void *ud);
/* Iterates over the groups the current batch changed (after prepare). */
void ms_exec_foreach_changed(const ms_exec *x, ms_exec_row_fn fn, void *ud);
/* Iterates over the rows the last commit closed (append output). */
void ms_exec_foreach_closed(const ms_exec *x, ms_exec_row_fn fn, void *ud);
/* Iterates over the in-memory top-K rows, in result order (unwindowed
 * statements with a top_k; none otherwise). */
void ms_exec_foreach_top(const ms_exec *x, ms_exec_row_fn fn, void *ud);

/* Groups in the state (not only in memory). */
uint64_t ms_exec_groups(const ms_exec *x);
/* Bytes of memory the statement's state holds. */
size_t ms_exec_memory(const ms_exec *x);

/* Makes dec (uninitialised) a decoder-only copy of x: what ms_exec_value,
 * ms_exec_sortkey and the readers below use (stmt and its key layout). */
void ms_exec_decoder(ms_exec *dec, const ms_exec *x);

/* The sort key of a row: see "Result order" above. */
void ms_exec_sortkey(const ms_exec *x, const ms_acc *accs, uint8_t out[MS_EXEC_SORTKEY]);

/* Reads, through snap, rows [offset, offset + limit) in result order of
 * statement dec->stmt (dec: a decoder-only executor), without an index:
 * see "Result order" above.  *cache (may be NULL) keeps the first-level
 * histogram between calls on one snapshot (free it with
 * ms_exec_hist_free).  Any thread.  0 or an error with errstr. */
typedef struct ms_exec_hist ms_exec_hist;
int ms_exec_page(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap, ms_exec_hist **cache,
                 uint64_t offset, size_t limit, ms_exec_row_fn fn, void *ud, char *errstr,
                 size_t errstr_size);
void ms_exec_hist_free(ms_exec_hist *h);
/* Rows in group-key order through snap: after the key `after` (NULL: from
 * the first), skipping `offset`, at most `limit` — a seek and the page,
 * whatever the state's size.  Any thread.  0 or an error with errstr. */
int ms_exec_page_keys(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap,
                      const uint8_t *after, size_t after_len, uint64_t offset, size_t limit,
                      ms_exec_row_fn fn, void *ud, char *errstr, size_t errstr_size);
/* The rows of window `start` of a windowed statement through snap (any
 * thread), and the newest window start <= max_start that has a row
 * (*start = INT64_MIN: none).  0 or MS_EIO. */
int ms_exec_window_rows(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap, int64_t start,
                        ms_exec_row_fn fn, void *ud, char *errstr, size_t errstr_size);
int ms_exec_newest_window(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap,
                          int64_t max_start, int64_t *start, char *errstr, size_t errstr_size);
/* The same over the in-memory table (an executor without a checkpoint). */
void ms_exec_window_rows_mem(const ms_exec *x, int64_t start, ms_exec_row_fn fn, void *ud);
int64_t ms_exec_newest_window_mem(const ms_exec *x, int64_t max_start);

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
