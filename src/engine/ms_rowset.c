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
    rs->dec.stmt = x->stmt;
    rs->dec.raw_key = x->raw_key;
    rs->dec.fast_count = x->fast_count;
    rs->naggs = x->stmt->naggs;
    rs->sort_out = -1;
    for (size_t i = 0; i < x->stmt->nouts; i++) {
        if (x->stmt->outs[i].kind == MS_SQL_OUT_AGG) {
            rs->sort_out = (int)i;
            break;
        }
    }
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
    ms_value v = ms_value_null();
    if (rs->sort_out >= 0)
        ms_exec_value(&rs->dec, r, (size_t)rs->sort_out, &v);
    e->first_type = (uint8_t)(v.type == MS_TYPE_STRING ? MS_TYPE_NULL : v.type);
    if (v.type == MS_TYPE_DOUBLE)
        e->first.d = v.d;
    else
        e->first.i = v.i;
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

static void add_entry(ms_rowset *rs, const ms_exec *x, const ms_entry *e)
{
    ms_exec_row r;
    r.key = ms_entry_key(e);
    r.klen = e->klen;
    if (x->fast_count) {
        r.count_only.a = r.count_only.n = e->value;
        r.accs = &r.count_only;
    } else {
        r.accs = &x->accs[e->value];
    }
    ms_rowset_add(rs, &r);
}

void ms_rowset_add_all(ms_rowset *rs, const ms_exec *x, int64_t only_start)
{
    const ms_table *t = &x->table;
    int windowed = x->stmt->window.kind != MS_SQL_WINDOW_NONE;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e))
            continue;
        if (only_start != INT64_MIN && windowed &&
            (e->klen < 8 || (int64_t)key_start(ms_entry_key(e)) != only_start))
            continue;
        add_entry(rs, x, e);
    }
}

void ms_rowset_add_changed(ms_rowset *rs, const ms_exec *x)
{
    const ms_table *t = &x->table;
    for (size_t i = 0; i < t->ndirty; i++)
        add_entry(rs, x, &t->slots[t->dirty[i]]);
}

/* --------------------------------------------------------------- order */

static int cmp_first_desc(const ms_rowset_ent *a, const ms_rowset_ent *b)
{
    int an = a->first_type == MS_TYPE_NULL, bn = b->first_type == MS_TYPE_NULL;
    if (an || bn)
        return an - bn; /* NULL last */
    if (a->first_type == MS_TYPE_DOUBLE || b->first_type == MS_TYPE_DOUBLE) {
        double x = a->first_type == MS_TYPE_DOUBLE ? a->first.d : (double)a->first.i;
        double y = b->first_type == MS_TYPE_DOUBLE ? b->first.d : (double)b->first.i;
        if (x != y)
            return x > y ? -1 : (x < y ? 1 : 0);
        return 0;
    }
    return a->first.i == b->first.i ? 0 : (a->first.i > b->first.i ? -1 : 1);
}

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
    const ms_rowset_ent *x = &rs->rows[a], *y = &rs->rows[b];
    int c = cmp_first_desc(x, y);
    if (c)
        return c;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    c = n ? memcmp(rs->keys.data + x->koff, rs->keys.data + y->koff, n) : 0;
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
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
