/*
 * ms_rowset: a copy of result rows of one statement (group keys and
 * accumulators), detached from the executor's table, so that it can be
 * published to the HTTP thread or written by a sink while the executor
 * moves on.  Rows are decoded into typed output columns on demand with
 * ms_exec_value(), through a private decoder that holds only what that
 * function reads (the statement and its key layout), never the live table.
 *
 * Order: ms_rowset_sort() orders rows by the statement's first aggregate
 * output column, descending (NULL last), ties by key bytes ascending — the
 * order of /api/v1/results and of the top-K on /metrics.  It compares the
 * rows' sort keys (ms_exec_sortkey), so it is exactly the order of the
 * checkpoint's result index.
 *
 * Ownership: the rowset owns its bytes; ms_exec_row values returned by
 * ms_rowset_row() point into it and stay valid until the next add/clear.
 * The statement (in its ms_sql_program) must outlive the rowset.
 */
#ifndef MS_ROWSET_H
#define MS_ROWSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "query/ms_exec.h"

typedef struct ms_rowset_ent {
    size_t koff;                 /* offset of the key in keys */
    uint32_t klen;               /* key length */
    uint8_t sk[MS_EXEC_SORTKEY]; /* sort key of the row (ms_exec_sortkey) */
} ms_rowset_ent;

typedef struct ms_rowset {
    ms_exec dec; /* decoder only (ms_exec_decoder) */
    size_t naggs;
    ms_buf keys;
    ms_acc *accs; /* naggs per row */
    ms_rowset_ent *rows;
    size_t n, cap;
} ms_rowset;

/* A rowset for rows of executor x (x is only read here, for its layout). */
void ms_rowset_init(ms_rowset *rs, const ms_exec *x);
void ms_rowset_free(ms_rowset *rs);
void ms_rowset_clear(ms_rowset *rs);
void ms_rowset_add(ms_rowset *rs, const ms_exec_row *r);
/* ms_exec_row_fn adapter: ud is the rowset. */
void ms_rowset_add_cb(void *ud, const ms_exec_row *r);
/* Copies every group of x (ms_exec_foreach: memory, or RocksDB with the
 * cache over it — O(state)); rows of windowed statements whose window
 * starts at `only_start` when only_start != INT64_MIN.  0 or MS_EIO. */
int ms_rowset_add_all(ms_rowset *rs, const ms_exec *x, int64_t only_start);
/* Copies the groups that changed in the current batch (after
 * ms_exec_prepare(), before ms_exec_commit()). */
void ms_rowset_add_changed(ms_rowset *rs, const ms_exec *x);
/* Keeps only the best k rows (result order), sorted. */
void ms_rowset_keep_top(ms_rowset *rs, size_t k);

void ms_rowset_row(const ms_rowset *rs, size_t i, ms_exec_row *out);
void ms_rowset_value(const ms_rowset *rs, size_t i, size_t out_col, ms_value *v);
void ms_rowset_sort(ms_rowset *rs);
/* Sorts by key bytes only: window start first (ascending), then the group
 * columns in their key encoding.  A fixed order that does not depend on the
 * table's layout, so a re-run of a batch lists rows the same way. */
void ms_rowset_sort_key(ms_rowset *rs);
/* Indices of the best k rows in sort order (k <= n) into idx[]. */
size_t ms_rowset_topk(const ms_rowset *rs, size_t k, size_t *idx);
/* Order of two rows (negative: a before b). */
int ms_rowset_cmp(const ms_rowset *rs, size_t a, size_t b);

/* Makes dst (uninitialised) a copy of src. */
void ms_rowset_copy(ms_rowset *dst, const ms_rowset *src);
/* Appends row i of src to dst (same statement). */
void ms_rowset_add_from(ms_rowset *dst, const ms_rowset *src, size_t i);

/* Window start of a row of a windowed statement. */
int64_t ms_rowset_window_start(const ms_rowset *rs, size_t i);

#endif
