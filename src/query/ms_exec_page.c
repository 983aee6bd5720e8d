/*
 * Pages of a statement's full table in result order, read from a RocksDB
 * snapshot without an index of that order (see "Result order" in
 * ms_exec.h).
 *
 * A radix selection over the rows' sort keys.  A histogram of the first
 * two value bytes of every row's sort key (kept per published snapshot by
 * the caller) gives every bucket's first rank; the buckets wholly inside
 * the page are collected, a bucket cut by the page's edge is sliced in key
 * order when all its rows share one sort key (the rows of one count: the
 * scan is in key order), or refined by the next two bytes (another pass
 * over the rows with that prefix; at most two per level, four levels).
 * Every pass reads the statement's rows through the snapshot; memory is
 * the histograms (65536 buckets) and the page's rows.
 *
 * Thread-safety: any thread (a decoder-only executor, a snapshot).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "query/ms_exec.h"
#include "query/ms_exec_int.h"
#include "state/ms_codec.h"

#define HIST_N 65536u

struct ms_exec_hist {
    uint8_t prefix[MS_EXEC_SORTKEY];
    size_t plen;     /* bytes of the sort key fixed (3, 5, 7 or 9 after level 0) */
    uint64_t total;  /* rows with the prefix */
    uint64_t nulls;  /* level 0: rows whose sort value is NULL (last) */
    uint64_t *count; /* per bucket: the next two bytes */
    uint8_t *first;  /* per bucket: the sort key of its first row */
    uint8_t *mixed;  /* per bucket: 1 if its rows have different sort keys */
};

void ms_exec_hist_free(ms_exec_hist *h)
{
    if (!h)
        return;
    free(h->count);
    free(h->first);
    free(h->mixed);
    free(h);
}

static ms_exec_hist *hist_new(const uint8_t *prefix, size_t plen)
{
    ms_exec_hist *h = ms_xcalloc(1, sizeof(*h));
    if (plen)
        memcpy(h->prefix, prefix, plen);
    h->plen = plen;
    h->count = ms_xcalloc(HIST_N, sizeof(uint64_t));
    h->first = ms_xmalloc((size_t)HIST_N * MS_EXEC_SORTKEY);
    h->mixed = ms_xcalloc(HIST_N, 1);
    return h;
}

/* Bucket of a sort key below a prefix of plen bytes (0: level 0, whose
 * buckets are bytes 1-2 of a non-NULL key). */
static unsigned sk_bucket(const uint8_t *sk, size_t plen)
{
    size_t at = plen ? plen : 1;
    unsigned hi = sk[at], lo = at + 1 < MS_EXEC_SORTKEY ? sk[at + 1] : 0;
    return hi << 8 | lo;
}

static size_t next_plen(size_t plen)
{
    size_t n = (plen ? plen : 1) + 2;
    return n > MS_EXEC_SORTKEY ? MS_EXEC_SORTKEY : n;
}

static void hist_add(ms_exec_hist *h, const uint8_t *sk)
{
    if (h->plen && memcmp(sk, h->prefix, h->plen) != 0)
        return;
    h->total++;
    if (!h->plen && sk[0] != 1) {
        h->nulls++;
        return;
    }
    unsigned b = sk_bucket(sk, h->plen);
    uint8_t *f = &h->first[(size_t)b * MS_EXEC_SORTKEY];
    if (!h->count[b]++)
        memcpy(f, sk, MS_EXEC_SORTKEY);
    else if (!h->mixed[b] && memcmp(f, sk, MS_EXEC_SORTKEY) != 0)
        h->mixed[b] = 1;
}

enum { TASK_RANGE, TASK_SLICE };

typedef struct page_task {
    int kind;
    uint8_t sk[MS_EXEC_SORTKEY]; /* RANGE: the prefix; SLICE: the whole key */
    size_t plen;
    unsigned lo, hi;     /* RANGE: buckets below the prefix */
    uint64_t skip, take; /* SLICE: rows of that key, in key order */
    uint64_t seen, taken;
} page_task;

typedef struct page_ref {
    uint8_t prefix[MS_EXEC_SORTKEY];
    size_t plen;
    uint64_t a, b; /* ranks wanted among the rows with the prefix */
} page_ref;

typedef struct page_plan {
    page_task *t;
    size_t nt, capt;
    page_ref r[2];
    size_t nr;
} page_plan;

static page_task *plan_task(page_plan *p)
{
    if (p->nt == p->capt) {
        p->capt = p->capt ? 2 * p->capt : 8;
        p->t = ms_xrealloc(p->t, p->capt * sizeof(page_task));
    }
    page_task *t = &p->t[p->nt++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* Ranks [a, b) among the rows of histogram h: tasks for whole buckets and
 * uniform edges, refinements for mixed edges (at most two). */
static void plan_level(page_plan *p, const ms_exec_hist *h, uint64_t a, uint64_t b)
{
    uint64_t c = 0;
    page_task *range = NULL;
    for (unsigned k = 0; k <= HIST_N && c < b; k++) {
        int nullb = k == HIST_N;
        if (nullb && h->plen)
            break;
        uint64_t n = nullb ? h->nulls : h->count[k];
        if (!n)
            continue;
        uint64_t lo = a > c ? a - c : 0, hi = b - c < n ? b - c : n;
        if (c + n <= a) {
            c += n;
            continue;
        }
        if (lo == 0 && hi == n && !nullb) {
            if (!range) {
                range = plan_task(p);
                range->kind = TASK_RANGE;
                memcpy(range->sk, h->prefix, h->plen);
                range->plen = h->plen;
                range->lo = k;
            }
            range->hi = k;
        } else {
            range = NULL;
            if (nullb || !h->mixed[k] || h->plen == MS_EXEC_SORTKEY) {
                page_task *t = plan_task(p);
                t->kind = TASK_SLICE;
                if (nullb) {
                    memset(t->sk, 0, MS_EXEC_SORTKEY);
                    t->sk[0] = 2;
                } else {
                    memcpy(t->sk, &h->first[(size_t)k * MS_EXEC_SORTKEY], MS_EXEC_SORTKEY);
                }
                t->skip = lo;
                t->take = hi - lo;
            } else {
                page_ref *r = &p->r[p->nr++];
                memcpy(r->prefix, &h->first[(size_t)k * MS_EXEC_SORTKEY], MS_EXEC_SORTKEY);
                r->plen = next_plen(h->plen);
                r->a = lo;
                r->b = hi;
            }
        }
        if (nullb)
            range = NULL;
        c += n;
    }
}

typedef struct page_row {
    size_t off, klen; /* key in the row store */
    size_t aoff;      /* accumulators (naggs) in the row store */
    uint8_t sk[MS_EXEC_SORTKEY];
} page_row;

struct page_pass {
    const ms_exec *dec;
    size_t plen; /* bytes before the group key */
    ms_acc *tmp;
    int corrupt;
    /* histogram passes */
    ms_exec_hist *h[2];
    /* the collecting pass */
    page_plan *plan;
    ms_buf store;
    page_row *rows;
    size_t nrows, caprows;
};

static void page_keep(struct page_pass *c, const uint8_t *key, size_t klen, const uint8_t *sk)
{
    if (c->nrows == c->caprows) {
        c->caprows = c->caprows ? 2 * c->caprows : 64;
        c->rows = ms_xrealloc(c->rows, c->caprows * sizeof(page_row));
    }
    page_row *r = &c->rows[c->nrows++];
    size_t asz = c->dec->stmt->naggs * sizeof(ms_acc);
    static const uint8_t pad[8];
    if (c->store.len % 8) /* the accumulators stay aligned */
        ms_buf_append(&c->store, pad, 8 - c->store.len % 8);
    r->aoff = c->store.len;
    ms_buf_append(&c->store, c->tmp, asz);
    r->off = c->store.len;
    r->klen = klen;
    ms_buf_append(&c->store, key, klen);
    memcpy(r->sk, sk, MS_EXEC_SORTKEY);
}

static int page_row_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct page_pass *c = ud;
    if (kl < c->plen)
        return 0;
    if (ms_exec__decode_accs(c->dec, v, vl, c->tmp) != 0) {
        c->corrupt = 1;
        return 1;
    }
    uint8_t sk[MS_EXEC_SORTKEY];
    ms_exec_sortkey(c->dec, c->tmp, sk);
    if (!c->plan) {
        for (int i = 0; i < 2; i++)
            if (c->h[i])
                hist_add(c->h[i], sk);
        return 0;
    }
    const uint8_t *key = k + c->plen;
    size_t klen = kl - c->plen;
    for (size_t i = 0; i < c->plan->nt; i++) {
        page_task *t = &c->plan->t[i];
        if (t->kind == TASK_RANGE) {
            if (t->plen && memcmp(sk, t->sk, t->plen) != 0)
                continue;
            if (!t->plen && sk[0] != 1)
                continue;
            unsigned b = sk_bucket(sk, t->plen);
            if (b < t->lo || b > t->hi)
                continue;
            page_keep(c, key, klen, sk);
            return 0;
        }
        if (memcmp(sk, t->sk, MS_EXEC_SORTKEY) != 0)
            continue;
        if (t->seen++ < t->skip)
            return 0;
        if (t->taken < t->take) {
            t->taken++;
            page_keep(c, key, klen, sk);
        }
        return 0;
    }
    return 0;
}

/* One pass over the statement's rows through the snapshot. */
static int page_pass_run(struct page_pass *c, ms_ckpt *ck, const ms_ckpt_snap *snap, char *errstr,
                         size_t errsz)
{
    ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
    ms_codec_key_state(&lo, c->dec->stmt->name, NULL, 0);
    ms_buf_append(&hi, lo.data, lo.len);
    hi.data[hi.len - 1] = ':' + 1;
    c->plen = lo.len;
    int rc = ms_ckpt_scan_range(ck, snap, lo.data, lo.len, hi.data, hi.len, 0, page_row_cb, c,
                                errstr, errsz);
    ms_buf_free(&lo);
    ms_buf_free(&hi);
    if (rc == 0 && c->corrupt) {
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 c->dec->stmt->name);
        rc = MS_ECORRUPT;
    }
    return rc;
}

static int page_row_cmp(const void *pa, const void *pb, void *ud)
{
    const page_row *a = pa, *b = pb;
    const uint8_t *base = (const uint8_t *)((const struct page_pass *)ud)->store.data;
    return ms_exec__row_cmp(a->sk, base + a->off, a->klen, b->sk, base + b->off, b->klen);
}

int ms_exec_page(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap, ms_exec_hist **cache,
                 uint64_t offset, size_t limit, ms_exec_row_fn fn, void *ud, char *errstr,
                 size_t errsz)
{
    struct page_pass c;
    memset(&c, 0, sizeof(c));
    c.dec = dec;
    c.tmp = ms_xcalloc(dec->stmt->naggs ? dec->stmt->naggs : 1, sizeof(ms_acc));
    int rc = 0;
    ms_exec_hist *h0 = cache ? *cache : NULL;
    if (!h0) {
        h0 = hist_new(NULL, 0);
        c.h[0] = h0;
        rc = page_pass_run(&c, ck, snap, errstr, errsz);
        c.h[0] = NULL;
        if (rc) {
            ms_exec_hist_free(h0);
            free(c.tmp);
            return rc;
        }
        if (cache)
            *cache = h0;
    }
    page_plan plan;
    memset(&plan, 0, sizeof(plan));
    uint64_t end = limit && offset < h0->total
                       ? (limit < h0->total - offset ? offset + limit : h0->total)
                       : offset;
    if (end > offset)
        plan_level(&plan, h0, offset, end);
    /* Refine the mixed edge buckets, a level (two more bytes) at a time. */
    while (rc == 0 && plan.nr) {
        page_ref refs[2];
        size_t nref = plan.nr;
        memcpy(refs, plan.r, sizeof(refs));
        plan.nr = 0;
        for (size_t i = 0; i < nref; i++)
            c.h[i] = hist_new(refs[i].prefix, refs[i].plen);
        rc = page_pass_run(&c, ck, snap, errstr, errsz);
        for (size_t i = 0; i < nref; i++) {
            if (rc == 0)
                plan_level(&plan, c.h[i], refs[i].a, refs[i].b);
            ms_exec_hist_free(c.h[i]);
            c.h[i] = NULL;
        }
    }
    if (rc == 0 && plan.nt) {
        c.plan = &plan;
        rc = page_pass_run(&c, ck, snap, errstr, errsz);
    }
    if (rc == 0) {
        if (c.nrows > 1)
            qsort_r(c.rows, c.nrows, sizeof(page_row), page_row_cmp, &c);
        for (size_t i = 0; i < c.nrows; i++) {
            ms_exec_row r;
            const uint8_t *base = (const uint8_t *)c.store.data;
            r.key = base + c.rows[i].off;
            r.klen = c.rows[i].klen;
            r.accs = (const ms_acc *)(const void *)(base + c.rows[i].aoff);
            r.count_only.a = r.count_only.n = 0;
            if (dec->stmt->naggs)
                memcpy(&r.count_only, r.accs, sizeof(ms_acc));
            fn(ud, &r);
        }
    }
    if (!cache)
        ms_exec_hist_free(h0);
    free(plan.t);
    free(c.rows);
    ms_buf_free(&c.store);
    free(c.tmp);
    return rc;
}
