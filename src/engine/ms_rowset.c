/*
 * Detached copies of result rows (see ms_rowset.h).
 */
#include "engine/ms_rowset.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

void ms_rowset_init(ms_rowset *rs, const ms_exec *x)
{
    memset(rs, 0, sizeof(*rs));
    ms_exec_decoder(&rs->dec, x);
    rs->naggs = x->stmt->naggs;
}

void ms_rowset_free(ms_rowset *rs)
{
    ms_buf_free(&rs->keys);
    free(rs->accs);
    free(rs->rows);
    rs->accs = NULL;
    rs->rows = NULL;
    rs->n = rs->cap = 0;
}

void ms_rowset_clear(ms_rowset *rs)
{
    ms_buf_reset(&rs->keys);
    rs->n = 0;
}

void ms_rowset_row(const ms_rowset *rs, size_t i, ms_exec_row *out)
{
    static const uint8_t none[1];
    const ms_rowset_ent *e = &rs->rows[i];
    out->key = rs->keys.data ? (const uint8_t *)rs->keys.data + e->koff : none;
    out->klen = e->klen;
    out->accs = &rs->accs[i * rs->naggs];
    out->count_only.a = out->count_only.n = 0;
    if (rs->naggs)
        out->count_only = rs->accs[i * rs->naggs];
}

void ms_rowset_value(const ms_rowset *rs, size_t i, size_t out_col, ms_value *v)
{
    ms_exec_row r;
    ms_rowset_row(rs, i, &r);
    ms_exec_value(&rs->dec, &r, out_col, v);
}

void ms_rowset_add(ms_rowset *rs, const ms_exec_row *r)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->rows = ms_xrealloc(rs->rows, rs->cap * sizeof(ms_rowset_ent));
        rs->accs = ms_xrealloc(rs->accs, rs->cap * (rs->naggs ? rs->naggs : 1) * sizeof(ms_acc));
    }
    ms_rowset_ent *e = &rs->rows[rs->n];
    e->koff = rs->keys.len;
    e->klen = (uint32_t)r->klen;
    if (r->klen)
        ms_buf_append(&rs->keys, r->key, r->klen);
    memcpy(&rs->accs[rs->n * rs->naggs], r->accs, rs->naggs * sizeof(ms_acc));
    ms_exec_sortkey(&rs->dec, r->accs, e->sk);
    rs->n++;
}

void ms_rowset_add_cb(void *ud, const ms_exec_row *r)
{
    ms_rowset_add(ud, r);
}

static uint64_t key_start(const uint8_t *k)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | k[i];
    return v ^ (UINT64_C(1) << 63);
}

int64_t ms_rowset_window_start(const ms_rowset *rs, size_t i)
{
    const ms_rowset_ent *e = &rs->rows[i];
    if (e->klen < 8 || rs->dec.stmt->window.kind == MS_SQL_WINDOW_NONE)
        return INT64_MIN;
    return (int64_t)key_start((const uint8_t *)rs->keys.data + e->koff);
}

struct add_ctx {
    ms_rowset *rs;
    int64_t only_start;
};

static void add_filtered(void *ud, const ms_exec_row *r)
{
    struct add_ctx *c = ud;
    if (c->only_start != INT64_MIN && (r->klen < 8 || (int64_t)key_start(r->key) != c->only_start))
        return;
    ms_rowset_add(c->rs, r);
}

int ms_rowset_add_all(ms_rowset *rs, const ms_exec *x, int64_t only_start)
{
    struct add_ctx c = {rs, x->stmt->window.kind != MS_SQL_WINDOW_NONE ? only_start : INT64_MIN};
    return ms_exec_foreach(x, add_filtered, &c);
}

void ms_rowset_add_changed(ms_rowset *rs, const ms_exec *x)
{
    ms_exec_foreach_changed(x, ms_rowset_add_cb, rs);
}

/* --------------------------------------------------------------- order */

static int cmp_key(const ms_rowset *rs, size_t a, size_t b)
{
    const ms_rowset_ent *x = &rs->rows[a], *y = &rs->rows[b];
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(rs->keys.data + x->koff, rs->keys.data + y->koff, n) : 0;
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

int ms_rowset_cmp(const ms_rowset *rs, size_t a, size_t b)
{
    int c = memcmp(rs->rows[a].sk, rs->rows[b].sk, MS_EXEC_SORTKEY);
    return c ? c : cmp_key(rs, a, b);
}

/* Sorting permutes an index array, then rows and accumulators follow. */
static int cmp_idx(const void *a, const void *b, void *rs)
{
    return ms_rowset_cmp(rs, *(const size_t *)a, *(const size_t *)b);
}

static int cmp_idx_key(const void *a, const void *b, void *rs)
{
    return cmp_key(rs, *(const size_t *)a, *(const size_t *)b);
}

static void sort_with(ms_rowset *rs, int (*cmp)(const void *, const void *, void *));

void ms_rowset_sort(ms_rowset *rs)
{
    sort_with(rs, cmp_idx);
}

void ms_rowset_sort_key(ms_rowset *rs)
{
    sort_with(rs, cmp_idx_key);
}

static void sort_with(ms_rowset *rs, int (*cmp)(const void *, const void *, void *))
{
    if (rs->n < 2)
        return;
    size_t *idx = ms_xmalloc(rs->n * sizeof(size_t));
    for (size_t i = 0; i < rs->n; i++)
        idx[i] = i;
    qsort_r(idx, rs->n, sizeof(size_t), cmp, rs);
    ms_rowset_ent *rows = ms_xmalloc(rs->n * sizeof(ms_rowset_ent));
    size_t na = rs->naggs;
    ms_acc *accs = ms_xmalloc(rs->n * (na ? na : 1) * sizeof(ms_acc));
    for (size_t i = 0; i < rs->n; i++) {
        rows[i] = rs->rows[idx[i]];
        memcpy(&accs[i * na], &rs->accs[idx[i] * na], na * sizeof(ms_acc));
    }
    free(rs->rows);
    free(rs->accs);
    free(idx);
    rs->rows = rows;
    rs->accs = accs;
    rs->cap = rs->n;
}

/* Max-heap on order (the worst of the best k at the root). */
static void sift_down(const ms_rowset *rs, size_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ms_rowset_cmp(rs, h[l], h[w]) > 0)
            w = l;
        if (r < n && ms_rowset_cmp(rs, h[r], h[w]) > 0)
            w = r;
        if (w == i)
            return;
        size_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

size_t ms_rowset_topk(const ms_rowset *rs, size_t k, size_t *idx)
{
    if (k > rs->n)
        k = rs->n;
    if (!k)
        return 0;
    for (size_t i = 0; i < k; i++)
        idx[i] = i;
    for (size_t i = k / 2; i-- > 0;)
        sift_down(rs, idx, k, i);
    for (size_t i = k; i < rs->n; i++) {
        if (ms_rowset_cmp(rs, i, idx[0]) < 0) {
            idx[0] = i;
            sift_down(rs, idx, k, 0);
        }
    }
    /* Heap sort of the k indices into ascending order. */
    for (size_t end = k; end > 1; end--) {
        size_t t = idx[0];
        idx[0] = idx[end - 1];
        idx[end - 1] = t;
        sift_down(rs, idx, end - 1, 0);
    }
    return k;
}

void ms_rowset_copy(ms_rowset *dst, const ms_rowset *src)
{
    *dst = *src;
    memset(&dst->keys, 0, sizeof(dst->keys));
    ms_buf_append(&dst->keys, src->keys.data ? src->keys.data : "", src->keys.len);
    size_t cap = src->n ? src->n : 1;
    dst->cap = cap;
    dst->rows = ms_xmalloc(cap * sizeof(ms_rowset_ent));
    dst->accs = ms_xmalloc(cap * (src->naggs ? src->naggs : 1) * sizeof(ms_acc));
    if (src->n) {
        memcpy(dst->rows, src->rows, src->n * sizeof(ms_rowset_ent));
        memcpy(dst->accs, src->accs, src->n * src->naggs * sizeof(ms_acc));
    }
}

void ms_rowset_add_from(ms_rowset *dst, const ms_rowset *src, size_t i)
{
    ms_exec_row r;
    ms_rowset_row(src, i, &r);
    ms_rowset_add(dst, &r);
}

void ms_rowset_keep_top(ms_rowset *rs, size_t k)
{
    if (rs->n <= k) {
        ms_rowset_sort(rs);
        return;
    }
    size_t *idx = ms_xmalloc((k ? k : 1) * sizeof(size_t));
    size_t n = ms_rowset_topk(rs, k, idx);
    ms_rowset top;
    top = *rs;
    memset(&top.keys, 0, sizeof(top.keys));
    top.rows = NULL;
    top.accs = NULL;
    top.n = top.cap = 0;
    for (size_t i = 0; i < n; i++)
        ms_rowset_add_from(&top, rs, idx[i]);
    free(idx);
    ms_rowset_free(rs);
    *rs = top;
}
