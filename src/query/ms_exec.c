/*
 * The statement executor (see ms_exec.h for the layouts and the rules).
 */
#include "query/ms_exec.h"
#include "query/ms_exec_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec.h"

/* ------------------------------------------------------------ encodings */

static void put_be64(ms_buf *b, uint64_t v)
{
    uint8_t p[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    ms_buf_append(b, p, 8);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#define SIGN_BIT (UINT64_C(1) << 63)

static uint64_t double_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u & SIGN_BIT) ? ~u : u | SIGN_BIT;
}

static double double_unkey(uint64_t u)
{
    u = (u & SIGN_BIT) ? u & ~SIGN_BIT : ~u;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static double bits_double(int64_t a)
{
    double d;
    memcpy(&d, &a, 8);
    return d;
}

static int64_t double_bits(double d)
{
    int64_t a;
    memcpy(&a, &d, 8);
    return a;
}

static void put_zz(ms_buf *b, int64_t v)
{
    ms_codec_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int get_zz(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t z;
    if (ms_codec_get_varint(p, end, &z))
        return -1;
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

static void put_le64(ms_buf *b, int64_t a)
{
    uint8_t p[8];
    uint64_t v = (uint64_t)a;
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
    ms_buf_append(b, p, 8);
}

static int get_le64(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    if (end - *p < 8)
        return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | (*p)[i];
    *p += 8;
    *out = (int64_t)v;
    return 0;
}

static int agg_is_double(const ms_sql_agg *g)
{
    return g->kind == MS_SQL_AGG_AVG || g->type == MS_TYPE_DOUBLE;
}

static void encode_accs(const ms_exec *x, const ms_acc *acc, ms_buf *b)
{
    for (size_t j = 0; j < x->stmt->naggs; j++) {
        const ms_sql_agg *g = &x->stmt->aggs[j];
        if (g->kind == MS_SQL_AGG_COUNT_STAR || g->kind == MS_SQL_AGG_COUNT) {
            put_zz(b, acc[j].a);
            continue;
        }
        if (agg_is_double(g))
            put_le64(b, acc[j].a);
        else
            put_zz(b, acc[j].a);
        ms_codec_put_varint(b, (uint64_t)acc[j].n);
    }
}

int ms_exec__decode_accs(const ms_exec *x, const uint8_t *v, size_t vl, ms_acc *acc)
{
    const uint8_t *p = v, *end = v + vl;
    for (size_t j = 0; j < x->stmt->naggs; j++) {
        const ms_sql_agg *g = &x->stmt->aggs[j];
        acc[j].n = 0;
        if (g->kind == MS_SQL_AGG_COUNT_STAR || g->kind == MS_SQL_AGG_COUNT) {
            if (get_zz(&p, end, &acc[j].a))
                return MS_ECORRUPT;
            acc[j].n = acc[j].a;
            continue;
        }
        uint64_t n;
        if ((agg_is_double(g) ? get_le64(&p, end, &acc[j].a) : get_zz(&p, end, &acc[j].a)) ||
            ms_codec_get_varint(&p, end, &n) || n > INT64_MAX)
            return MS_ECORRUPT;
        acc[j].n = (int64_t)n;
    }
    return p == end ? 0 : MS_ECORRUPT;
}

/* Appends the group columns of row to the key. */
static void encode_groups(const ms_exec *x, const ms_value *row, ms_buf *b)
{
    const ms_sql_stmt *s = x->stmt;
    for (size_t k = 0; k < s->ngroup_cols; k++) {
        const ms_value *v = &row[s->group_cols[k]];
        if (v->type == MS_TYPE_NULL) {
            ms_buf_append(b, "\0", 1);
            continue;
        }
        ms_buf_append(b, "\1", 1);
        switch (v->type) {
        case MS_TYPE_STRING:
            if (k + 1 < s->ngroup_cols)
                ms_codec_put_varint(b, v->s.n);
            ms_buf_append(b, v->s.p, v->s.n);
            break;
        case MS_TYPE_DOUBLE:
            /* -0.0 and 0.0 are one group (as in Spark); so are all NaNs. */
            put_be64(b, double_key(v->d == 0.0 ? 0.0 : isnan(v->d) ? NAN : v->d));
            break;
        default: /* BIGINT, TIMESTAMP, BOOLEAN */
            put_be64(b, (uint64_t)v->i ^ SIGN_BIT);
            break;
        }
    }
}

/* ---------------------------------------------------------- sort keys */

/* The sort key of a row from the accumulator of its sort aggregate (c may
 * be NULL when there is none): class 1 (a value) or 2 (NULL), then nine
 * bytes that order the values ascending, inverted so that ascending bytes
 * are descending values.  The nine bytes put the magnitude first (a
 * byte of sign and bit length for integers, the sign and exponent for
 * doubles), so their first two bytes make a useful histogram of the
 * values (ms_exec_page). */
static void sortkey_acc(const ms_exec *x, const ms_acc *c, uint8_t out[MS_EXEC_SORTKEY])
{
    uint8_t e[MS_EXEC_SORTKEY - 1];
    memset(e, 0, sizeof(e));
    int null = 1, dbl = 0;
    int64_t v = 0;
    double d = 0;
    if (x->sort_agg >= 0 && c) {
        const ms_sql_agg *g = &x->stmt->aggs[x->sort_agg];
        null = 0;
        if (g->kind == MS_SQL_AGG_COUNT_STAR || g->kind == MS_SQL_AGG_COUNT)
            v = c->a;
        else if (c->n == 0 || g->type == MS_TYPE_STRING)
            null = 1;
        else if (g->kind == MS_SQL_AGG_AVG)
            dbl = 1, d = bits_double(c->a) / (double)c->n;
        else if (g->type == MS_TYPE_DOUBLE)
            dbl = 1, d = bits_double(c->a);
        else
            v = c->a;
    }
    out[0] = null ? 2 : 1;
    if (!null && dbl) {
        uint64_t u = double_key(d);
        for (int i = 7; i >= 0; i--, u >>= 8)
            e[i] = (uint8_t)u;
    } else if (!null) {
        /* bit length of the magnitude, then its bits left-aligned; for
         * negative values both mirrored */
        uint64_t mag = v >= 0 ? (uint64_t)v : ~(uint64_t)v;
        int len = mag ? 64 - __builtin_clzll(mag) : 0;
        uint64_t m = len ? mag << (64 - len) : 0;
        e[0] = (uint8_t)(v >= 0 ? 0x80 + len : 0x7f - len);
        if (v < 0)
            m = ~m;
        for (int i = 8; i >= 1; i--, m >>= 8)
            e[i] = (uint8_t)m;
    }
    for (int i = 0; i < MS_EXEC_SORTKEY - 1; i++)
        out[1 + i] = null ? 0 : (uint8_t)~e[i];
}

void ms_exec_sortkey(const ms_exec *x, const ms_acc *accs, uint8_t out[MS_EXEC_SORTKEY])
{
    sortkey_acc(x, x->sort_agg >= 0 ? &accs[x->sort_agg] : NULL, out);
}

void ms_exec_decoder(ms_exec *dec, const ms_exec *x)
{
    memset(dec, 0, sizeof(*dec));
    dec->stmt = x->stmt;
    dec->fast_count = x->fast_count;
    dec->raw_key = x->raw_key;
    dec->sort_agg = x->sort_agg;
}

int ms_exec__row_cmp(const uint8_t *ska, const uint8_t *ka, size_t kla, const uint8_t *skb,
                     const uint8_t *kb, size_t klb)
{
    int c = memcmp(ska, skb, MS_EXEC_SORTKEY);
    if (c)
        return c;
    size_t n = kla < klb ? kla : klb;
    c = n ? memcmp(ka, kb, n) : 0;
    if (c)
        return c;
    return kla < klb ? -1 : kla > klb;
}

/* ---------------------------------------------------------- life cycle */

static void on_evict(void *ud, const ms_entry *e);
static void on_over(void *ud);

void ms_exec_init(ms_exec *x, const ms_sql_stmt *stmt)
{
    memset(x, 0, sizeof(*x));
    x->stmt = stmt;
    x->fast_count = stmt->naggs == 1 && stmt->aggs[0].kind == MS_SQL_AGG_COUNT_STAR;
    x->raw_key =
        stmt->window.kind == MS_SQL_WINDOW_NONE && stmt->ngroup_cols == 1 &&
        ms_schema_column(stmt->schema, (size_t)stmt->group_cols[0])->type == MS_TYPE_STRING &&
        (stmt->schema->kind == MS_FORMAT_WORDS || stmt->schema->kind == MS_FORMAT_LINES) &&
        stmt->group_cols[0] < (int)stmt->schema->ncols;
    x->sort_agg = -1;
    for (size_t i = 0; i < stmt->nouts; i++) {
        if (stmt->outs[i].kind == MS_SQL_OUT_AGG) {
            x->sort_agg = (int)stmt->outs[i].index;
            break;
        }
    }
    ms_table_init(&x->table);
    ms_table_init(&x->top_keys);
    x->table.on_evict = on_evict;
    x->table.evict_ud = x;
    x->table.on_over = on_over;
    x->table.over_ud = x;
    x->acc_free = -1;
    x->max_event = INT64_MIN;
    x->watermark = INT64_MIN;
    int tcol = stmt->window.kind != MS_SQL_WINDOW_NONE ? stmt->window.col
               : stmt->watermark.present               ? stmt->watermark.col
                                                       : -1;
    x->sentinels =
        tcol >= 0 && tcol == stmt->schema->time_col &&
        (stmt->schema->kind == MS_FORMAT_TASK_EVENTS || stmt->schema->kind == MS_FORMAT_JOB_EVENTS);
    ms_wm_init(&x->wm, stmt->watermark.present ? stmt->watermark.delay_us : 0,
               MS_WM_IDLE_DEFAULT_SEC, stmt->topic);
    x->last_closed_start = x->last_closed_end = INT64_MIN;
}

static void top_free(ms_exec_top *t)
{
    ms_buf_free(&t->keys);
    free(t->koff);
    free(t->klen);
    free(t->accs);
    free(t->sk);
    memset(t, 0, sizeof(*t));
}

void ms_exec_free(ms_exec *x)
{
    ms_wm_free(&x->wm);
    ms_table_free(&x->table);
    free(x->accs);
    ms_buf_free(&x->key);
    ms_buf_free(&x->val);
    ms_buf_free(&x->rbuf);
    ms_buf_free(&x->rkey);
    ms_buf_free(&x->closed_keys);
    ms_buf_free(&x->closed_accs);
    top_free(&x->top);
    ms_table_free(&x->top_keys);
}

void ms_exec_set_limits(ms_exec *x, const ms_exec_limits *lim)
{
    x->memory = lim->memory;
    x->stop = lim->stop;
    x->top_k = x->stmt->window.kind == MS_SQL_WINDOW_NONE ? lim->top_k : 0;
    x->table.durable = lim->durable;
    x->table.wait_durable = lim->wait_durable;
    x->table.wait_ud = lim->wait_ud;
}

uint64_t ms_exec_groups(const ms_exec *x)
{
    return x->ck ? x->groups : x->table.n;
}

size_t ms_exec_memory(const ms_exec *x)
{
    return ms_table_bytes(&x->table) - x->table.extra_bytes + x->accs_cap * sizeof(ms_acc) +
           x->top.keys.cap + x->top.cap * (2 * sizeof(size_t) + MS_EXEC_SORTKEY) +
           x->top.cap * x->stmt->naggs * sizeof(ms_acc);
}

/* The executor cannot go on with the batch: say why, stop the engine. */
static void fail(ms_exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ms_exec *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
    x->failed = 1;
    if (x->stop)
        *x->stop = 1;
}

int ms_exec_failed(const ms_exec *x, char *errstr, size_t errsz)
{
    if (x->failed && errsz)
        snprintf(errstr, errsz, "%s", x->err);
    return x->failed;
}

static void human_bytes(char *out, size_t n, uint64_t v)
{
    if (v >= (UINT64_C(1) << 30) && v % (UINT64_C(1) << 30) == 0)
        snprintf(out, n, "%lluG", (unsigned long long)(v >> 30));
    else if (v >= (1u << 20))
        snprintf(out, n, "%.1fM", (double)v / (1 << 20));
    else
        snprintf(out, n, "%lluK", (unsigned long long)(v >> 10));
}

static void on_over(void *ud)
{
    ms_exec *x = ud;
    char share[32];
    human_bytes(share, sizeof(share), x->memory);
    fail(x,
         "query %s: the groups this batch changed (%zu so far) need more than the %s of "
         "memory this query has from --state-memory; changed groups cannot leave memory "
         "before their batch is committed, so mstream stops instead of swapping. Raise "
         "--state-memory; lowering --max-bytes-per-trigger or --max-offsets-per-trigger makes "
         "later batches change fewer groups, but this batch's plan is already persisted and a "
         "restart re-runs it exactly, so the restart needs the larger --state-memory",
         x->stmt->name, x->table.ndirty, share);
}

/* ---------------------------------------------------------- accumulators */

static void init_accs(const ms_exec *x, ms_acc *a)
{
    for (size_t j = 0; j < x->stmt->naggs; j++) {
        const ms_sql_agg *g = &x->stmt->aggs[j];
        a[j].a = agg_is_double(g) && g->kind != MS_SQL_AGG_MIN && g->kind != MS_SQL_AGG_MAX
                     ? double_bits(0.0)
                     : 0;
        a[j].n = 0;
    }
}

static void count_accs(ms_exec *x)
{
    x->table.extra_bytes = x->accs_live * x->stmt->naggs * sizeof(ms_acc);
}

/* A block of naggs accumulators: a freed one (evicted group), or new. */
static ms_acc *new_accs(ms_exec *x, int64_t *index)
{
    size_t na = x->stmt->naggs;
    if (x->acc_free >= 0) {
        *index = x->acc_free;
        x->acc_free = x->accs[x->acc_free].a;
    } else {
        if (x->naccs + na > x->accs_cap) {
            x->accs_cap = x->accs_cap ? x->accs_cap * 2 : 64 * na;
            while (x->accs_cap < x->naccs + na)
                x->accs_cap *= 2;
            x->accs = ms_xrealloc(x->accs, x->accs_cap * sizeof(ms_acc));
        }
        *index = (int64_t)x->naccs;
        x->naccs += na;
    }
    x->accs_live++;
    count_accs(x);
    ms_acc *a = &x->accs[*index];
    init_accs(x, a);
    return a;
}

static void free_accs(ms_exec *x, int64_t index)
{
    x->accs[index].a = x->acc_free;
    x->acc_free = index;
    x->accs_live--;
    count_accs(x);
}

static void on_evict(void *ud, const ms_entry *e)
{
    ms_exec *x = ud;
    if (!x->fast_count)
        free_accs(x, e->value);
}

static const ms_acc *entry_accs(const ms_exec *x, const ms_entry *e, ms_acc *one)
{
    if (x->fast_count) {
        one->a = one->n = e->value;
        return one;
    }
    return &x->accs[e->value];
}

static void state_key(ms_exec *x, const uint8_t *k, size_t kl)
{
    ms_buf_reset(&x->key);
    ms_codec_key_state(&x->key, x->stmt->name, k, kl);
}

/* Saturating int64 addition: a running SUM never wraps around. */
static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static void update_accs(const ms_exec *x, ms_acc *acc, const ms_value *row)
{
    for (size_t j = 0; j < x->stmt->naggs; j++) {
        const ms_sql_agg *g = &x->stmt->aggs[j];
        ms_acc *c = &acc[j];
        if (g->kind == MS_SQL_AGG_COUNT_STAR) {
            c->a++;
            continue;
        }
        const ms_value *v = &row[g->arg];
        if (v->type == MS_TYPE_NULL)
            continue;
        int dbl = v->type == MS_TYPE_DOUBLE;
        switch (g->kind) {
        case MS_SQL_AGG_COUNT:
            c->a++;
            break;
        case MS_SQL_AGG_SUM:
            if (g->type == MS_TYPE_DOUBLE)
                c->a = double_bits(bits_double(c->a) + (dbl ? v->d : (double)v->i));
            else
                c->a = add_sat(c->a, v->i);
            break;
        case MS_SQL_AGG_AVG:
            c->a = double_bits(bits_double(c->a) + (dbl ? v->d : (double)v->i));
            break;
        case MS_SQL_AGG_MIN:
        case MS_SQL_AGG_MAX: {
            int want_min = g->kind == MS_SQL_AGG_MIN;
            if (dbl) {
                if (isnan(v->d))
                    break;
                double cur = bits_double(c->a);
                if (c->n == 0 || (want_min ? v->d < cur : v->d > cur))
                    c->a = double_bits(v->d);
            } else if (c->n == 0 || (want_min ? v->i < c->a : v->i > c->a)) {
                c->a = v->i;
            }
            break;
        }
        default:
            break;
        }
        c->n++;
    }
}

/* A group that is not in memory: known to be new when the table is
 * complete, else read from the checkpoint.  Inserted and marked changed. */
static ms_entry *miss(ms_exec *x, const uint8_t *key, size_t klen)
{
    ms_table *t = &x->table;
    int found = 0;
    if (!t->complete && x->ck) {
        char err[2048];
        /* (key may point into x->key: the record key is built apart) */
        ms_buf_reset(&x->rkey);
        ms_codec_key_state(&x->rkey, x->stmt->name, key, klen);
        int rc = ms_ckpt_get(x->ck, x->rkey.data, x->rkey.len, &x->rbuf, err, sizeof(err));
        x->st.state_reads++;
        if (rc == 0)
            found = 1;
        else if (rc != MS_ENOTFOUND)
            fail(x, "reading the state of query %s failed: %s", x->stmt->name, err);
    }
    ms_entry *e = ms_table_insert(t, key, klen, 0); /* may evict others */
    int64_t idx;
    ms_acc *acc = new_accs(x, &idx);
    e->value = idx;
    uint32_t flags = MS_DIRTY_NEW;
    if (found) {
        if (ms_exec__decode_accs(x, (const uint8_t *)x->rbuf.data, x->rbuf.len, acc) != 0) {
            fail(x, "checkpoint holds a corrupt state record for query %s", x->stmt->name);
            init_accs(x, acc);
        } else {
            flags = 0;
        }
    }
    ms_table_touch(t, e, flags);
    return e;
}

static void add_group(ms_exec *x, const uint8_t *key, size_t klen, const ms_value *row)
{
    if (x->fast_count) {
        ms_table_add(&x->table, key, klen, 1);
        return;
    }
    ms_table *t = &x->table;
    ms_entry *e = ms_table_lookup(t, key, klen);
    if (!e) {
        e = miss(x, key, klen);
    } else if (!ms_table_is_dirty(t, e)) {
        ms_table_touch(t, e, 0);
    }
    update_accs(x, &x->accs[e->value], row);
}

static const ms_part dir_part = {.topic = NULL, .partition = -1};

void ms_exec_set_part(ms_exec *x, const ms_part *p, double now)
{
    x->now = now;
    if (x->stmt->watermark.present)
        x->wm_cur = ms_wm_part_of(&x->wm, p, now);
}

void ms_exec_set_sources(ms_exec *x, const ms_part_info *parts, size_t n, double now)
{
    x->src_parts = parts;
    x->nsrc_parts = n;
    x->now = now;
}

void ms_exec_set_idle(ms_exec *x, double idle_sec)
{
    x->wm.idle_sec = idle_sec;
}

int ms_exec_floor_overflows(int64_t t, int64_t step)
{
    int64_t r = t % step;
    return r < 0 && t < INT64_MIN + (r + step);
}

int64_t ms_exec_floor(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if ((t % step) != 0 && t < 0)
        q--;
    return q * step;
}

static int64_t window_end(int64_t start, int64_t size)
{
    return start > INT64_MAX - size ? INT64_MAX : start + size;
}

void ms_exec_emit(void *ud, const ms_row *row)
{
    ms_exec *x = ud;
    const ms_sql_stmt *s = x->stmt;
    const ms_value *r = row->cols;
    x->st.rows_in++;
    if (!ms_sql_eval_where(s->where, r)) {
        x->st.rows_filtered++;
        return;
    }
    if (x->raw_key) {
        const ms_value *v = &r[s->group_cols[0]];
        x->st.rows_agg++;
        add_group(x, v->s.p, v->s.n, r);
        return;
    }
    int64_t t = 0;
    int tcol = s->window.kind != MS_SQL_WINDOW_NONE ? s->window.col
               : s->watermark.present               ? s->watermark.col
                                                    : -1;
    if (tcol >= 0) {
        const ms_value *tv = &r[tcol];
        if (tv->type == MS_TYPE_NULL) {
            x->st.rows_no_time++;
            return;
        }
        t = tv->i;
        if (x->sentinels && (t == 0 || t == INT64_MAX)) {
            x->st.rows_no_time++; /* "before/after the trace": no event time */
            return;
        }
        if (s->window.kind != MS_SQL_WINDOW_NONE && t < INT64_MIN + s->window.slide_us &&
            ms_exec_floor_overflows(t, s->window.slide_us)) {
            /* No window start fits in 64 bits at or before t (a time within
             * one slide of -2^63): the row has no window. */
            x->st.rows_no_time++;
            return;
        }
        if (s->watermark.present) {
            if (x->watermark != INT64_MIN && t < x->watermark) {
                x->st.rows_late++;
                return;
            }
            if (!x->wm_cur)
                x->wm_cur = ms_wm_part_of(&x->wm, &dir_part, x->now);
            if (x->wm_cur && t != INT64_MAX) {
                x->wm_cur->seen = 1;
                if (t > x->wm_cur->max_event)
                    x->wm_cur->max_event = t;
            }
        }
        if (t != INT64_MAX && t > x->max_event)
            x->max_event = t;
    }
    x->st.rows_agg++;
    if (s->window.kind == MS_SQL_WINDOW_NONE) {
        ms_buf_reset(&x->key);
        encode_groups(x, r, &x->key);
        add_group(x, (const uint8_t *)x->key.data, x->key.len, r);
        return;
    }
    /* Every window that contains t: [start, start + size) with start a
     * multiple of the slide (TUMBLE: slide == size, one window). */
    int64_t size = s->window.size_us, slide = s->window.slide_us;
    int64_t last = ms_exec_floor(t, slide);
    for (int64_t start = last;; start -= slide) {
        int64_t end = window_end(start, size);
        /* [start, end) holds t; a saturated end (t near 2^63-1, the trace's
         * "after the end") holds t too. */
        if (end <= t && !(end == INT64_MAX && t == INT64_MAX && start == last))
            break;
        if (!(s->watermark.present && x->watermark != INT64_MIN && end <= x->watermark)) {
            ms_buf_reset(&x->key);
            put_be64(&x->key, (uint64_t)start ^ SIGN_BIT);
            encode_groups(x, r, &x->key);
            add_group(x, (const uint8_t *)x->key.data, x->key.len, r);
        }
        if (start < INT64_MIN + slide)
            break;
    }
}

/* ------------------------------------------------------------- resolve */

#define MULTIGET_CHUNK 4096

struct resolve_ctx {
    ms_exec *x;
    const size_t *rec; /* dirty record index per key */
    int corrupt;
};

static void resolve_one(void *ud, size_t i, const uint8_t *v, size_t vl)
{
    struct resolve_ctx *c = ud;
    ms_table *t = &c->x->table;
    ms_dirty *d = &t->dirty[c->rec[i]];
    ms_entry *e = &t->slots[d->slot];
    d->flags &= ~MS_DIRTY_UNRESOLVED;
    if (!v) {
        d->flags |= MS_DIRTY_NEW;
        return;
    }
    int64_t base;
    if (ms_codec_decode_count(v, vl, &base) != 0) {
        c->corrupt = 1;
        return;
    }
    e->value += base;
}

int ms_exec_prepare(ms_exec *x, char *errstr, size_t errsz)
{
    ms_table *t = &x->table;
    /* Reads and writes in key order (ms_table_sort_dirty); once a batch */
    if (x->ck && !x->failed && t->ndirty != x->sorted_dirty) {
        ms_table_sort_dirty(t);
        x->sorted_dirty = t->ndirty;
    }
    if (!x->failed && t->nunresolved && x->ck) {
        size_t *rec = ms_xmalloc(MULTIGET_CHUNK * sizeof(size_t));
        size_t *off = ms_xmalloc(MULTIGET_CHUNK * sizeof(size_t));
        size_t *len = ms_xmalloc(MULTIGET_CHUNK * sizeof(size_t));
        const uint8_t **keys = ms_xmalloc(MULTIGET_CHUNK * sizeof(*keys));
        ms_buf kb = MS_BUF_INIT;
        struct resolve_ctx c = {.x = x, .rec = rec};
        char err[2048] = "";
        size_t n = 0;
        for (size_t i = 0; i <= t->ndirty && !x->failed; i++) {
            if (i < t->ndirty && (t->dirty[i].flags & MS_DIRTY_UNRESOLVED)) {
                const ms_entry *e = &t->slots[t->dirty[i].slot];
                rec[n] = i;
                off[n] = kb.len;
                ms_codec_key_state(&kb, x->stmt->name, ms_entry_key(e), e->klen);
                len[n] = kb.len - off[n];
                n++;
            }
            if (n == MULTIGET_CHUNK || (i == t->ndirty && n)) {
                for (size_t k = 0; k < n; k++)
                    keys[k] = (const uint8_t *)kb.data + off[k];
                int rc = ms_ckpt_multi_get(x->ck, n, keys, len, resolve_one, &c, err, sizeof(err));
                x->st.state_reads += n;
                if (rc)
                    fail(x, "reading the state of query %s failed: %s", x->stmt->name, err);
                else if (c.corrupt)
                    fail(x, "checkpoint holds a corrupt state record for query %s", x->stmt->name);
                n = 0;
                ms_buf_reset(&kb);
            }
        }
        ms_buf_free(&kb);
        free(rec);
        free(off);
        free(len);
        free(keys);
        t->nunresolved = 0;
    }
    if (x->failed) {
        if (errsz)
            snprintf(errstr, errsz, "%s", x->err);
        return MS_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------- commits */

/* The state record of a changed group. */
static void put_group(ms_exec *x, ms_ckpt_batch *wb, const ms_entry *e)
{
    ms_acc one;
    const ms_acc *acc = entry_accs(x, e, &one);
    ms_buf_reset(&x->val);
    encode_accs(x, acc, &x->val);
    state_key(x, ms_entry_key(e), e->klen);
    ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
}

static void watermark_key(ms_buf *b, const char *stmt)
{
    ms_buf_reset(b);
    ms_buf_append(b, "w:", 2);
    ms_buf_append(b, stmt, strlen(stmt));
}

/* A group of a closed window: to the append output, out of the state. */
static void close_row(ms_exec *x, ms_ckpt_batch *wb, const uint8_t *k, size_t kl, const ms_acc *acc,
                      int64_t *newest)
{
    size_t na = x->stmt->naggs;
    state_key(x, k, kl);
    ms_ckpt_batch_delete(wb, x->key.data, x->key.len);
    ms_codec_put_varint(&x->closed_keys, kl);
    ms_buf_append(&x->closed_keys, k, kl);
    ms_buf_append(&x->closed_accs, acc, na * sizeof(ms_acc));
    x->nclosed++;
    int64_t start = (int64_t)(get_be64(k) ^ SIGN_BIT);
    if (start > *newest)
        *newest = start;
}

static void drop_group(ms_exec *x, ms_entry *e)
{
    if (!x->fast_count)
        free_accs(x, e->value);
    ms_table_delete(&x->table, e);
}

struct close_ctx {
    ms_exec *x;
    ms_ckpt_batch *wb;
    size_t plen;
    int64_t newest;
    ms_acc *tmp;
    int corrupt;
};

static int close_stored(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct close_ctx *c = ud;
    ms_exec *x = c->x;
    const uint8_t *key = k + c->plen;
    size_t klen = kl - c->plen;
    if (klen < 8)
        return 0;
    ms_entry *e = ms_table_find(&x->table, key, klen);
    const ms_acc *acc;
    ms_acc one;
    if (e) {
        acc = entry_accs(x, e, &one); /* memory holds the newer value */
    } else if (ms_exec__decode_accs(x, v, vl, c->tmp) == 0) {
        acc = c->tmp;
    } else {
        c->corrupt = 1;
        return 1;
    }
    close_row(x, c->wb, key, klen, acc, &c->newest);
    if (e)
        drop_group(x, e);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Distinct windows (window starts) among the rows the commit closed: a
 * commit whose watermark jumps an hour closes every window in between. */
static uint64_t closed_windows(const ms_exec *x)
{
    int64_t *starts = ms_xmalloc(x->nclosed * sizeof(int64_t));
    const uint8_t *p = (const uint8_t *)x->closed_keys.data, *end = p + x->closed_keys.len;
    size_t n = 0;
    uint64_t kl;
    while (n < x->nclosed && ms_codec_get_varint(&p, end, &kl) == 0 && kl >= 8 &&
           kl <= (uint64_t)(end - p)) {
        starts[n++] = (int64_t)(get_be64(p) ^ SIGN_BIT);
        p += kl;
    }
    qsort(starts, n, sizeof(int64_t), cmp_i64);
    uint64_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || starts[i] != starts[i - 1];
    free(starts);
    return distinct;
}

/* The bytes of window start `start` of the statement's state keys. */
static void window_prefix(ms_buf *b, const char *stmt, int64_t start)
{
    ms_buf_reset(b);
    ms_codec_key_state(b, stmt, NULL, 0);
    put_be64(b, (uint64_t)start ^ SIGN_BIT);
}

/* Closes the windows the watermark passed since the last commit (end <=
 * the new watermark, > the watermark before): their rows go to the append
 * output, their groups leave the state.  With a checkpoint that is a key
 * range of RocksDB plus the groups this batch created (ms_exec.h); in
 * memory only, a walk of the table. */
static void evict_closed(ms_exec *x, ms_ckpt_batch *wb, int64_t wm_before)
{
    const ms_sql_stmt *s = x->stmt;
    ms_buf_reset(&x->closed_keys);
    ms_buf_reset(&x->closed_accs);
    x->nclosed = 0;
    if (s->window.kind == MS_SQL_WINDOW_NONE || !s->watermark.present ||
        s->emit == MS_SQL_EMIT_COMPLETE || x->watermark == INT64_MIN)
        return;
    int64_t size = s->window.size_us;
    if (x->watermark < INT64_MIN + size)
        return;
    int64_t hi = x->watermark - size; /* windows starting at or before hi are closed */
    int64_t lo =
        wm_before == INT64_MIN || wm_before < INT64_MIN + size ? INT64_MIN : wm_before - size;
    if (lo != INT64_MIN && lo >= hi)
        return;
    struct close_ctx c = {.x = x, .wb = wb, .newest = INT64_MIN};
    ms_table *t = &x->table;
    if (!x->ck) {
        for (size_t i = 0; i < t->nslots; i++) {
            ms_entry *e = &t->slots[i];
            if (!ms_entry_used(e) || e->klen < 8)
                continue;
            int64_t start = (int64_t)(get_be64(ms_entry_key(e)) ^ SIGN_BIT);
            if (start > hi)
                continue;
            ms_acc one;
            close_row(x, wb, ms_entry_key(e), e->klen, entry_accs(x, e, &one), &c.newest);
            drop_group(x, e);
        }
    } else {
        ms_buf lo_key = MS_BUF_INIT, hi_key = MS_BUF_INIT;
        ms_codec_key_state(&lo_key, s->name, NULL, 0);
        c.plen = lo_key.len;
        if (lo != INT64_MIN)
            window_prefix(&lo_key, s->name, lo + 1);
        if (hi == INT64_MAX) {
            ms_codec_key_state(&hi_key, s->name, NULL, 0);
            hi_key.data[hi_key.len - 1] = ':' + 1; /* past every key of the statement */
        } else {
            window_prefix(&hi_key, s->name, hi + 1);
        }
        c.tmp = ms_xcalloc(s->naggs ? s->naggs : 1, sizeof(ms_acc));
        char err[2048];
        int rc = ms_ckpt_scan_range(x->ck, NULL, lo_key.data, lo_key.len, hi_key.data, hi_key.len,
                                    0, close_stored, &c, err, sizeof(err));
        if (rc == MS_EIO)
            fail(x, "reading the closed windows of query %s failed: %s", s->name, err);
        else if (c.corrupt)
            fail(x, "checkpoint holds a corrupt state record for query %s", s->name);
        free(c.tmp);
        ms_buf_free(&lo_key);
        ms_buf_free(&hi_key);
        /* Groups this batch created are not in RocksDB yet. */
        for (size_t i = 0; i < t->ndirty; i++) {
            ms_dirty *d = &t->dirty[i];
            ms_entry *e = &t->slots[d->slot];
            if (!(d->flags & MS_DIRTY_NEW) || (d->flags & MS_DIRTY_GONE) || !ms_entry_used(e) ||
                e->epoch != t->epoch || e->klen < 8)
                continue;
            int64_t start = (int64_t)(get_be64(ms_entry_key(e)) ^ SIGN_BIT);
            if (start > hi || (lo != INT64_MIN && start <= lo))
                continue;
            ms_acc one;
            close_row(x, wb, ms_entry_key(e), e->klen, entry_accs(x, e, &one), &c.newest);
            d->flags |= MS_DIRTY_GONE;
            drop_group(x, e);
        }
    }
    if (!x->nclosed)
        return;
    x->groups = x->groups > x->nclosed ? x->groups - x->nclosed : 0;
    x->st.evicted += x->nclosed;
    x->st.windows_closed += closed_windows(x);
    x->last_closed_start = c.newest;
    x->last_closed_end = window_end(c.newest, size);
}

/* ---------------------------------------------------------------- top-K */

typedef struct top_cand {
    const uint8_t *key;
    size_t klen;
    const ms_acc *accs; /* NULL: `one` (the fast path's count) */
    ms_acc one;
    uint8_t *own; /* the key and accumulators copied (full scans), or NULL */
    uint8_t sk[MS_EXEC_SORTKEY];
} top_cand;

static const ms_acc *cand_accs(const top_cand *c)
{
    return c->accs ? c->accs : &c->one;
}

static int cand_cmp(const top_cand *a, const top_cand *b)
{
    return ms_exec__row_cmp(a->sk, a->key, a->klen, b->sk, b->key, b->klen);
}

/* Max-heap on result order (the worst of the best k at the root). */
static void cand_sift(top_cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_cmp(&h[l], &h[w]) > 0)
            w = l;
        if (r < n && cand_cmp(&h[r], &h[w]) > 0)
            w = r;
        if (w == i)
            return;
        top_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Keeps the best k candidates in h[0..*n), as a heap. */
static void cand_push(top_cand *h, size_t *n, size_t k, const top_cand *c)
{
    if (!k)
        return;
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = *c;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (cand_cmp(&h[i], &h[p]) <= 0)
                break;
            top_cand t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (cand_cmp(c, &h[0]) < 0) {
        free(h[0].own);
        h[0] = *c;
        cand_sift(h, *n, 0);
    }
}

static int cand_qcmp(const void *a, const void *b)
{
    return cand_cmp(a, b);
}

/* Replaces the top with the candidates (sorted here; copied, since they
 * may point into the old top). */
static void top_set(ms_exec *x, top_cand *c, size_t n)
{
    if (n > 1)
        qsort(c, n, sizeof(*c), cand_qcmp);
    size_t na = x->stmt->naggs;
    ms_exec_top t;
    memset(&t, 0, sizeof(t));
    t.cap = n ? n : 1;
    t.koff = ms_xmalloc(t.cap * sizeof(size_t));
    t.klen = ms_xmalloc(t.cap * sizeof(size_t));
    t.accs = ms_xmalloc(t.cap * (na ? na : 1) * sizeof(ms_acc));
    t.sk = ms_xmalloc(t.cap * MS_EXEC_SORTKEY);
    for (size_t i = 0; i < n; i++) {
        t.koff[i] = t.keys.len;
        t.klen[i] = c[i].klen;
        ms_buf_append(&t.keys, c[i].key, c[i].klen);
        memcpy(&t.accs[i * na], cand_accs(&c[i]), na * sizeof(ms_acc));
        memcpy(&t.sk[i * MS_EXEC_SORTKEY], c[i].sk, MS_EXEC_SORTKEY);
    }
    t.n = n;
    top_free(&x->top);
    x->top = t;
    /* which keys are in it (update_top's quick test) */
    ms_table_free(&x->top_keys);
    ms_table_init(&x->top_keys);
    for (size_t i = 0; i < n; i++)
        ms_table_set_clean(&x->top_keys, (const uint8_t *)t.keys.data + t.koff[i], t.klen[i],
                           (int64_t)t.koff[i]);
}

static void top_row(const ms_exec *x, size_t i, top_cand *c)
{
    c->key = (const uint8_t *)x->top.keys.data + x->top.koff[i];
    if (!x->top.keys.data)
        c->key = (const uint8_t *)"";
    c->klen = x->top.klen[i];
    c->accs = &x->top.accs[i * x->stmt->naggs];
    c->own = NULL;
    memcpy(c->sk, &x->top.sk[i * MS_EXEC_SORTKEY], MS_EXEC_SORTKEY);
}

struct top_col {
    const ms_exec *x;
    top_cand *h;
    size_t n, k;
};

/* ms_exec_row_fn: offers a row of a full scan (copied when kept). */
static void col_offer(void *ud, const ms_exec_row *r)
{
    struct top_col *c = ud;
    top_cand cand = {.key = r->key, .klen = r->klen, .accs = r->accs};
    ms_exec_sortkey(c->x, r->accs, cand.sk);
    if (!c->k || (c->n == c->k && cand_cmp(&cand, &c->h[0]) >= 0))
        return;
    size_t asz = c->x->stmt->naggs * sizeof(ms_acc);
    cand.own = ms_xmalloc(asz + r->klen + 1);
    memcpy(cand.own, r->accs, asz);
    memcpy(cand.own + asz, r->key, r->klen);
    cand.accs = (const ms_acc *)(const void *)cand.own;
    cand.key = cand.own + asz;
    cand_push(c->h, &c->n, c->k, &cand);
}

/* The top-K from every row of the state (memory, or RocksDB with the
 * cache's newer values over it): when the kept top-K cannot tell. */
static int full_top(ms_exec *x)
{
    struct top_col c = {.x = x, .k = x->top_k, .h = ms_xmalloc((x->top_k + 1) * sizeof(top_cand))};
    int rc = ms_exec_foreach(x, col_offer, &c);
    if (rc == 0)
        top_set(x, c.h, c.n);
    for (size_t i = 0; i < c.n; i++)
        free(c.h[i].own);
    free(c.h);
    return rc;
}

/* 1 if a changed group may enter or move in the top-K: it is in it, or it
 * ranks above its last row, or the top-K is not full (O(changed)). */
static int top_touched(const ms_exec *x)
{
    const ms_table *t = &x->table;
    if (x->top.n < x->top_k)
        return 1;
    top_cand last;
    top_row(x, x->top.n - 1, &last);
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_dirty *d = &t->dirty[i];
        const ms_entry *e = &t->slots[d->slot];
        if ((d->flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        if (ms_table_find(&x->top_keys, ms_entry_key(e), e->klen))
            return 1;
        top_cand c = {.key = ms_entry_key(e), .klen = e->klen};
        if (x->fast_count)
            c.one.a = c.one.n = e->value;
        else
            c.accs = &x->accs[e->value];
        ms_exec_sortkey(x, cand_accs(&c), c.sk);
        if (cand_cmp(&c, &last) < 0)
            return 1;
    }
    return 0;
}

/* ----------------------------------------------- top-K, moved in place
 *
 * A batch that changes few groups (at most TOP_INCR_MAX) re-ranks only
 * them: each changed group in the top leaves its row, then each changed
 * group that ranks above the last row (or any, while the top is not full)
 * is put at its rank by binary search, and the row pushed past K leaves.
 * That is the heap's result (the best K of the unchanged rows and the
 * changed groups) in O(changed * log K) comparisons and O(changed * K)
 * bytes moved, against O(K log K) comparisons and a rebuild for the heap.
 */
#define TOP_INCR_MAX 64

static void top_reserve(ms_exec *x, size_t n)
{
    ms_exec_top *t = &x->top;
    if (n <= t->cap)
        return;
    size_t na = x->stmt->naggs ? x->stmt->naggs : 1;
    size_t cap = t->cap ? t->cap : 16;
    while (cap < n)
        cap *= 2;
    t->koff = ms_xrealloc(t->koff, cap * sizeof(size_t));
    t->klen = ms_xrealloc(t->klen, cap * sizeof(size_t));
    t->accs = ms_xrealloc(t->accs, cap * na * sizeof(ms_acc));
    t->sk = ms_xrealloc(t->sk, cap * MS_EXEC_SORTKEY);
    t->cap = cap;
}

/* Moves rows [from, n) to start at `to` (one row up or down). */
static void top_shift(ms_exec *x, size_t from, size_t to)
{
    ms_exec_top *t = &x->top;
    size_t na = x->stmt->naggs, cnt = t->n - from;
    memmove(&t->koff[to], &t->koff[from], cnt * sizeof(size_t));
    memmove(&t->klen[to], &t->klen[from], cnt * sizeof(size_t));
    memmove(&t->accs[to * na], &t->accs[from * na], cnt * na * sizeof(ms_acc));
    memmove(&t->sk[to * MS_EXEC_SORTKEY], &t->sk[from * MS_EXEC_SORTKEY], cnt * MS_EXEC_SORTKEY);
}

static void top_remove(ms_exec *x, size_t i, ms_entry *in_keys)
{
    ms_exec_top *t = &x->top;
    ms_table_delete(&x->top_keys, in_keys);
    t->dead += t->klen[i];
    top_shift(x, i + 1, i);
    t->n--;
}

/* The row holding the key at offset koff (a linear scan of K offsets). */
static size_t top_row_at(const ms_exec *x, int64_t koff)
{
    size_t i = 0;
    while (i < x->top.n && (int64_t)x->top.koff[i] != koff)
        i++;
    return i;
}

static void top_insert(ms_exec *x, const top_cand *c)
{
    ms_exec_top *t = &x->top;
    size_t lo = 0, hi = t->n; /* the first row that ranks below c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        top_cand r;
        top_row(x, mid, &r);
        if (cand_cmp(&r, c) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    top_reserve(x, t->n + 1);
    top_shift(x, lo, lo + 1);
    t->n++;
    size_t na = x->stmt->naggs;
    t->koff[lo] = t->keys.len;
    t->klen[lo] = c->klen;
    ms_buf_append(&t->keys, c->key, c->klen);
    memcpy(&t->accs[lo * na], cand_accs(c), na * sizeof(ms_acc));
    memcpy(&t->sk[lo * MS_EXEC_SORTKEY], c->sk, MS_EXEC_SORTKEY);
    ms_table_set_clean(&x->top_keys, c->key, c->klen, (int64_t)t->koff[lo]);
}

/* Drops the bytes of keys that left, once they outweigh the live ones. */
static void top_compact(ms_exec *x)
{
    ms_exec_top *t = &x->top;
    if (t->dead < 4096 || t->dead < t->keys.len / 2)
        return;
    ms_buf keys = MS_BUF_INIT;
    ms_table_free(&x->top_keys);
    ms_table_init(&x->top_keys);
    for (size_t i = 0; i < t->n; i++) {
        size_t off = keys.len;
        ms_buf_append(&keys, t->keys.data + t->koff[i], t->klen[i]);
        t->koff[i] = off;
        ms_table_set_clean(&x->top_keys, (const uint8_t *)keys.data + off, t->klen[i],
                           (int64_t)off);
    }
    ms_buf_free(&t->keys);
    t->keys = keys;
    t->dead = 0;
}

static void dirty_cand(const ms_exec *x, const ms_entry *e, top_cand *c)
{
    c->key = ms_entry_key(e);
    c->klen = e->klen;
    c->own = NULL;
    if (x->fast_count) {
        c->accs = NULL;
        c->one.a = c->one.n = e->value;
    } else {
        c->accs = &x->accs[e->value];
    }
    ms_exec_sortkey(x, cand_accs(c), c->sk);
}

/* Returns 1 if the top changed; -1 if it may have lost rows to groups
 * outside it (the caller scans the state). */
static int top_incremental(ms_exec *x, uint64_t groups_before)
{
    ms_table *t = &x->table;
    size_t k = x->top_k;
    int had_all = groups_before <= x->top.n, changed = 0;
    /* the old K-th row (a copy: rows move, and the key buffer may grow) */
    top_cand oldk;
    uint8_t oldk_key[64];
    ms_buf oldk_big = MS_BUF_INIT;
    int have_oldk = x->top.n > 0;
    if (have_oldk) {
        top_row(x, x->top.n - 1, &oldk);
        if (oldk.klen <= sizeof(oldk_key)) {
            memcpy(oldk_key, oldk.key, oldk.klen);
            oldk.key = oldk_key;
        } else {
            ms_buf_append(&oldk_big, oldk.key, oldk.klen);
            oldk.key = (const uint8_t *)oldk_big.data;
        }
    }
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_entry *e = &t->slots[t->dirty[i].slot];
        if ((t->dirty[i].flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        ms_entry *in = ms_table_find(&x->top_keys, ms_entry_key(e), e->klen);
        if (in) {
            size_t row = top_row_at(x, in->value);
            if (row == x->top.n) { /* cannot happen: top_keys holds the rows' keys */
                ms_table_delete(&x->top_keys, in);
                continue;
            }
            top_remove(x, row, in);
            changed = 1;
        }
    }
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_entry *e = &t->slots[t->dirty[i].slot];
        if ((t->dirty[i].flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        top_cand c, last;
        dirty_cand(x, e, &c);
        if (x->top.n == k) {
            top_row(x, k - 1, &last);
            if (cand_cmp(&c, &last) >= 0)
                continue;
        }
        top_insert(x, &c);
        changed = 1;
        if (x->top.n > k) {
            top_cand drop;
            top_row(x, k, &drop);
            top_remove(x, k, ms_table_find(&x->top_keys, drop.key, drop.klen));
        }
    }
    /* Exact unless rows outside the old top could now rank above the new
     * last (see update_top). */
    int exact = had_all;
    if (!exact && x->top.n == k && have_oldk) {
        top_cand last;
        top_row(x, k - 1, &last);
        exact = cand_cmp(&last, &oldk) <= 0;
    }
    ms_buf_free(&oldk_big);
    if (!exact)
        return -1;
    top_compact(x);
    return changed;
}

/* After the batch's changes: the new top-K (see ms_exec.h).  Returns 1 if
 * it changed. */
static int update_top(ms_exec *x, uint64_t groups_before)
{
    ms_table *t = &x->table;
    size_t k = x->top_k;
    if (!k || !t->ndirty)
        return 0;
    if (t->ndirty <= TOP_INCR_MAX) {
        int rc = top_incremental(x, groups_before);
        if (rc >= 0)
            return rc;
        if (full_top(x) != 0)
            fail(x, "reading the state of query %s for its top-%zu failed (see the log)",
                 x->stmt->name, k);
        return 1;
    }
    if (!top_touched(x))
        return 0;
    top_cand *h = ms_xmalloc((k + 1) * sizeof(top_cand));
    size_t n = 0;
    int had_all = groups_before <= x->top.n;
    top_cand oldk;
    int have_oldk = x->top.n > 0;
    if (have_oldk)
        top_row(x, x->top.n - 1, &oldk);
    for (size_t i = 0; i < x->top.n; i++) {
        top_cand c;
        top_row(x, i, &c);
        const ms_entry *e = ms_table_find(t, c.key, c.klen);
        if (e && ms_table_is_dirty(t, e))
            continue;
        cand_push(h, &n, k, &c);
    }
    for (size_t i = 0; i < t->ndirty; i++) {
        if (i + 8 < t->ndirty)
            __builtin_prefetch(&t->slots[t->dirty[i + 8].slot]);
        const ms_dirty *d = &t->dirty[i];
        const ms_entry *e = &t->slots[d->slot];
        if ((d->flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        top_cand c;
        c.key = ms_entry_key(e);
        c.klen = e->klen;
        c.own = NULL;
        if (x->fast_count) {
            c.accs = NULL;
            c.one.a = c.one.n = e->value;
        } else {
            c.accs = &x->accs[e->value];
        }
        ms_exec_sortkey(x, cand_accs(&c), c.sk);
        cand_push(h, &n, k, &c);
    }
    /* Exact unless rows outside the old top-K could now rank above the
     * new K-th: the old top held every group, or the new K-th ranks at or
     * above the old K-th (every row outside ranked below that).  COUNT and
     * MAX only grow: always exact.  Otherwise, a full scan. */
    int exact = had_all || (n == k && have_oldk && cand_cmp(&h[0], &oldk) <= 0);
    if (exact)
        top_set(x, h, n);
    free(h);
    if (!exact && full_top(x) != 0)
        fail(x, "reading the state of query %s for its top-%zu failed (see the log)", x->stmt->name,
             k);
    return 1;
}

/* "n:<stmt>": the group count alone, in every commit that changes it (it
 * wins over the totals record's, which is written only when the top-K
 * changes). */
static void put_groups(ms_exec *x, ms_ckpt_batch *wb)
{
    ms_buf_reset(&x->key);
    ms_codec_key_groups(&x->key, x->stmt->name);
    ms_buf_reset(&x->val);
    ms_codec_encode_groups(&x->val, x->groups);
    ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
}

/* "t:<stmt>": the group count and the top-K rows. */
static void put_totals(ms_exec *x, ms_ckpt_batch *wb)
{
    ms_buf rec = MS_BUF_INIT;
    size_t na = x->stmt->naggs;
    ms_codec_totals_begin(&rec, x->groups, x->top.n);
    for (size_t i = 0; i < x->top.n; i++) {
        ms_buf_reset(&x->val);
        encode_accs(x, &x->top.accs[i * na], &x->val);
        ms_codec_totals_add(&rec, (const uint8_t *)x->top.keys.data + x->top.koff[i],
                            x->top.klen[i], (const uint8_t *)x->val.data, x->val.len);
    }
    ms_buf_reset(&x->key);
    ms_codec_key_totals(&x->key, x->stmt->name);
    ms_ckpt_batch_put(wb, x->key.data, x->key.len, rec.data, rec.len);
    ms_buf_free(&rec);
}

void ms_exec_set_malformed_source(ms_exec *x, const uint64_t *counts)
{
    x->malformed_src = counts;
}

void ms_exec_malformed(const ms_exec *x, uint64_t out[MS_MALFORMED_MAX])
{
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        out[r] = x->malformed_base[r] + (x->malformed_src ? x->malformed_src[r] : 0);
}

/* The counters record: what the batch counted, committed with it. */
static void put_counters(ms_exec *x, ms_ckpt_batch *wb)
{
    _Static_assert(MS_MALFORMED_MAX <= MS_CODEC_MAX_REASONS, "the counters record holds them");
    const ms_exec_stats *st = &x->st;
    ms_counters_rec c = {.rows_in = st->rows_in,
                         .rows_filtered = st->rows_filtered,
                         .rows_late = st->rows_late,
                         .rows_no_time = st->rows_no_time,
                         .rows_agg = st->rows_agg,
                         .evicted = st->evicted,
                         .windows_closed = st->windows_closed,
                         .nmalformed = MS_MALFORMED_MAX};
    ms_exec_malformed(x, c.malformed);
    ms_buf_reset(&x->val);
    ms_codec_encode_counters(&x->val, &c);
    ms_buf_reset(&x->key);
    ms_codec_key_counters(&x->key, x->stmt->name);
    ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
}

static int load_counters(ms_exec *x, char *errstr, size_t errsz)
{
    ms_buf v = MS_BUF_INIT;
    ms_buf_reset(&x->key);
    ms_codec_key_counters(&x->key, x->stmt->name);
    int rc = ms_ckpt_get(x->ck, x->key.data, x->key.len, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        rc = 0; /* a checkpoint of an older mstream: from zero */
    } else if (rc == 0) {
        ms_counters_rec c;
        if (ms_codec_decode_counters((const uint8_t *)v.data, v.len, &c) != 0) {
            snprintf(errstr, errsz, "checkpoint holds a corrupt counters record for query %s",
                     x->stmt->name);
            rc = MS_ECORRUPT;
        } else {
            x->st.rows_in = c.rows_in;
            x->st.rows_filtered = c.rows_filtered;
            x->st.rows_late = c.rows_late;
            x->st.rows_no_time = c.rows_no_time;
            x->st.rows_agg = c.rows_agg;
            x->st.evicted = c.evicted;
            x->st.windows_closed = c.windows_closed;
            /* reasons a newer mstream added are not ours to show */
            for (size_t r = 0; r < c.nmalformed && r < MS_MALFORMED_MAX; r++)
                x->malformed_base[r] = c.malformed[r];
        }
    }
    ms_buf_free(&v);
    return rc;
}

size_t ms_exec_commit(ms_exec *x, ms_ckpt_batch *wb)
{
    const ms_sql_stmt *s = x->stmt;
    ms_table *t = &x->table;
    char err[8];
    if (ms_exec_prepare(x, err, sizeof(err)) != 0)
        return 0; /* failed: the engine does not commit the batch */
    size_t changed = t->ndirty;
    uint64_t groups_before = x->groups;
    for (size_t i = 0; i < t->ndirty; i++) {
        /* The records are in the order the groups were first changed:
         * fetch the slots ahead, a cache miss each. */
        if (i + 8 < t->ndirty)
            __builtin_prefetch(&t->slots[t->dirty[i + 8].slot]);
        const ms_dirty *d = &t->dirty[i];
        put_group(x, wb, &t->slots[d->slot]);
        x->groups += (d->flags & MS_DIRTY_NEW) != 0;
    }
    int64_t wm_before = x->watermark;
    if (s->watermark.present) {
        x->wm_cur = NULL; /* the advance may move the partitions */
        x->watermark = ms_wm_advance(&x->wm, x->src_parts, x->nsrc_parts, x->now);
        x->src_parts = NULL;
        x->nsrc_parts = 0;
        evict_closed(x, wb, wm_before);
        ms_buf_reset(&x->val);
        put_zz(&x->val, x->max_event);
        put_zz(&x->val, x->watermark);
        put_zz(&x->val, x->last_closed_start);
        ms_wm_encode(&x->wm, &x->val);
        watermark_key(&x->key, s->name);
        ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
    } else {
        ms_buf_reset(&x->closed_keys);
        ms_buf_reset(&x->closed_accs);
        x->nclosed = 0;
    }
    int top_changed = update_top(x, groups_before);
    if (x->ck && top_changed)
        put_totals(x, wb);
    if (x->ck && x->groups != groups_before)
        put_groups(x, wb);
    if (x->ck)
        put_counters(x, wb);
    x->st.cache_lookups = t->lookups;
    x->st.cache_misses = t->inserts;
    x->st.cache_evictions = t->evictions;
    return changed;
}

void ms_exec_committed(ms_exec *x)
{
    ms_table_clear_dirty(&x->table);
    x->sorted_dirty = 0;
}

/* --------------------------------------------------------------- loading */

/* At most this many groups are loaded whole at start (and only when they
 * fit a quarter of the bound): a small state is then all in memory and a
 * new key costs no lookup. */
#define EAGER_GROUPS 65536

struct load_ctx {
    ms_exec *x;
    size_t plen;
    uint64_t n;
};

static int load_group(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct load_ctx *c = ud;
    ms_exec *x = c->x;
    const uint8_t *key = k + c->plen;
    size_t klen = kl - c->plen;
    c->n++;
    if (x->fast_count) {
        int64_t n;
        if (ms_codec_decode_count(v, vl, &n) != 0)
            return MS_ECORRUPT;
        ms_table_set_clean(&x->table, key, klen, n);
        return 0;
    }
    int64_t idx;
    ms_acc *acc = new_accs(x, &idx);
    if (ms_exec__decode_accs(x, v, vl, acc) != 0)
        return MS_ECORRUPT;
    ms_table_set_clean(&x->table, key, klen, idx);
    return 0;
}

static int count_group(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    ((struct load_ctx *)ud)->n++;
    return 0;
}

struct move_ctx {
    ms_exec *x;
    size_t plen;
    ms_ckpt_batch *wb;
    size_t inbatch;
    ms_acc *tmp;
    int rc;
    char *err;
    size_t errsz;
};

static int any_record(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    *(int *)ud = 1;
    return 1;
}

/* Moves one format-1 state record to the state family; commits every 64k
 * records. */
static int move_legacy(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct move_ctx *c = ud;
    ms_exec *x = c->x;
    if (ms_exec__decode_accs(x, v, vl, c->tmp) != 0)
        return MS_ECORRUPT;
    ms_ckpt_batch_put(c->wb, k, kl, v, vl); /* an "s:" key: to the state family */
    ms_ckpt_batch_delete_legacy(c->wb, k, kl);
    if (++c->inbatch >= 65536) {
        int rc = ms_ckpt_commit(x->ck, c->wb, c->err, c->errsz);
        ms_ckpt_batch_free(c->wb);
        c->wb = ms_ckpt_batch_for(x->ck);
        c->inbatch = 0;
        if (rc)
            return c->rc = rc;
    }
    return 0;
}

/* Format 1 kept state records in the default family: move them once (idempotent: a crash half-way
 * leaves records to move and no totals record, so the next start finishes the job). */
static int upgrade_legacy(ms_exec *x, char *errstr, size_t errsz)
{
    ms_buf prefix = MS_BUF_INIT;
    ms_codec_key_state(&prefix, x->stmt->name, NULL, 0);
    int any = 0;
    int rc = ms_ckpt_scan_legacy(x->ck, prefix.data, prefix.len, any_record, &any, errstr, errsz);
    if (rc == 1)
        rc = 0;
    if (rc || !any) {
        ms_buf_free(&prefix);
        return rc;
    }
    ms_info("checkpoint: moving the state of query %s to the format-%d layout (once)",
            x->stmt->name, MS_CKPT_FORMAT);
    uint8_t fmt = MS_CKPT_FORMAT;
    rc = ms_ckpt_put_sync(x->ck, "m:format", 8, &fmt, 1, errstr, errsz);
    struct move_ctx c = {.x = x,
                         .plen = prefix.len,
                         .wb = ms_ckpt_batch_for(x->ck),
                         .tmp = ms_xcalloc(x->stmt->naggs ? x->stmt->naggs : 1, sizeof(ms_acc)),
                         .err = errstr,
                         .errsz = errsz};
    if (rc == 0)
        rc = ms_ckpt_scan_legacy(x->ck, prefix.data, prefix.len, move_legacy, &c, errstr, errsz);
    if (rc == MS_ECORRUPT && !c.rc)
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 x->stmt->name);
    if (rc == 0 && c.inbatch)
        rc = ms_ckpt_commit(x->ck, c.wb, errstr, errsz);
    ms_ckpt_batch_free(c.wb);
    free(c.tmp);
    ms_buf_free(&prefix);
    return rc;
}

struct totals_ctx {
    ms_exec *x;
    top_cand *c;
    ms_acc *accs;
    size_t n, cap;
};

static int totals_row(void *ud, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl)
{
    struct totals_ctx *t = ud;
    size_t na = t->x->stmt->naggs ? t->x->stmt->naggs : 1;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->c = ms_xrealloc(t->c, t->cap * sizeof(top_cand));
        t->accs = ms_xrealloc(t->accs, t->cap * na * sizeof(ms_acc));
    }
    if (ms_exec__decode_accs(t->x, v, vl, &t->accs[t->n * na]) != 0)
        return MS_ECORRUPT;
    t->c[t->n].key = key;
    t->c[t->n].klen = klen;
    t->n++;
    return 0;
}

/* Counts the groups and finds the top-K with a full scan (a checkpoint
 * without a totals record: fresh, or just upgraded from format 1), and
 * records them. */
static int recount(ms_exec *x, char *errstr, size_t errsz)
{
    ms_buf prefix = MS_BUF_INIT;
    ms_codec_key_state(&prefix, x->stmt->name, NULL, 0);
    struct load_ctx c = {.x = x, .plen = prefix.len};
    int rc = ms_ckpt_scan(x->ck, prefix.data, prefix.len, count_group, &c, errstr, errsz);
    ms_buf_free(&prefix);
    if (rc)
        return rc;
    x->groups = c.n;
    top_free(&x->top);
    if (x->top_k && c.n) {
        x->table.complete = 0; /* the scan reads RocksDB */
        rc = full_top(x);
        if (rc) {
            snprintf(errstr, errsz, "reading the state of query %s failed (see the log)",
                     x->stmt->name);
            return rc;
        }
    }
    ms_ckpt_batch *wb = ms_ckpt_batch_for(x->ck);
    put_totals(x, wb);
    rc = ms_ckpt_commit(x->ck, wb, errstr, errsz);
    ms_ckpt_batch_free(wb);
    return rc;
}

/* The group count of "n:<stmt>", newer than the totals record's. */
static int load_groups(ms_exec *x, char *errstr, size_t errsz)
{
    ms_buf v = MS_BUF_INIT;
    ms_buf_reset(&x->key);
    ms_codec_key_groups(&x->key, x->stmt->name);
    int rc = ms_ckpt_get(x->ck, x->key.data, x->key.len, &v, errstr, errsz);
    if (rc == 0 && ms_codec_decode_groups((const uint8_t *)v.data, v.len, &x->groups) != 0) {
        snprintf(errstr, errsz, "checkpoint holds a corrupt group count record for query %s",
                 x->stmt->name);
        rc = MS_ECORRUPT;
    }
    ms_buf_free(&v);
    return rc == MS_ENOTFOUND ? 0 : rc;
}

static int load_totals(ms_exec *x, char *errstr, size_t errsz)
{
    ms_buf v = MS_BUF_INIT;
    ms_buf_reset(&x->key);
    ms_codec_key_totals(&x->key, x->stmt->name);
    int rc = ms_ckpt_get(x->ck, x->key.data, x->key.len, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        ms_buf_free(&v);
        return recount(x, errstr, errsz);
    }
    if (rc == 0) {
        struct totals_ctx t = {.x = x};
        if (ms_codec_decode_totals((const uint8_t *)v.data, v.len, &x->groups, totals_row, &t) !=
            0) {
            snprintf(errstr, errsz, "checkpoint holds a corrupt totals record for query %s",
                     x->stmt->name);
            rc = MS_ECORRUPT;
        } else {
            size_t na = x->stmt->naggs ? x->stmt->naggs : 1;
            for (size_t i = 0; i < t.n; i++) {
                t.c[i].accs = &t.accs[i * na];
                ms_exec_sortkey(x, t.c[i].accs, t.c[i].sk);
            }
            /* a smaller --top-k than the record's keeps its best rows */
            if (t.n > 1)
                qsort(t.c, t.n, sizeof(*t.c), cand_qcmp);
            top_set(x, t.c, t.n < x->top_k ? t.n : x->top_k);
        }
        free(t.c);
        free(t.accs);
    }
    ms_buf_free(&v);
    return rc;
}

int ms_exec_load(ms_exec *x, ms_ckpt *ck, char *errstr, size_t errsz)
{
    x->ck = ck;
    if (x->memory) {
        /* Half for the table, half for what a batch's changes stand for
         * until they are committed: the dirty record (8 bytes), the state
         * record in the write batch (prefix, value, tags; the buffer may
         * be twice its size) and in the memtable (plus sequence number and
         * the vector's pointer); the keys count apart (ms_table: four
         * copies).  Measured: 4M new 8-byte words in one batch took about
         * 100 bytes each beside the table; this says 112 + 32. */
        size_t plen = strlen(x->stmt->name) + 3;
        size_t vlen = 2 + 10 * x->stmt->naggs;
        size_t cost = sizeof(ms_dirty) + 2 * (plen + vlen) + 40;
        ms_table_set_limit(&x->table, (size_t)(x->memory / 2), (size_t)(x->memory / 2), cost);
    }
    int rc = upgrade_legacy(x, errstr, errsz);
    if (rc == 0)
        rc = load_totals(x, errstr, errsz);
    if (rc == 0)
        rc = load_groups(x, errstr, errsz);
    if (rc == 0)
        rc = load_counters(x, errstr, errsz);
    if (rc)
        return rc;
    ms_buf v = MS_BUF_INIT;
    watermark_key(&x->key, x->stmt->name);
    rc = ms_ckpt_get(ck, x->key.data, x->key.len, &v, errstr, errsz);
    if (rc == 0) {
        const uint8_t *p = (const uint8_t *)v.data, *end = p + v.len;
        /* Since per-partition watermarks the partitions follow; a record
         * of three numbers is from before (one undivided input). */
        if (get_zz(&p, end, &x->max_event) || get_zz(&p, end, &x->watermark) ||
            get_zz(&p, end, &x->last_closed_start) ||
            (p != end && ms_wm_decode(&x->wm, &p, end, ms_now_mono()) != 0) || p != end) {
            snprintf(errstr, errsz, "checkpoint holds a corrupt watermark record for query %s",
                     x->stmt->name);
            rc = MS_ECORRUPT;
        } else {
            x->wm.watermark = x->watermark;
            if (x->last_closed_start != INT64_MIN)
                x->last_closed_end = window_end(x->last_closed_start, x->stmt->window.size_us);
        }
    } else if (rc == MS_ENOTFOUND) {
        rc = 0;
    }
    ms_buf_free(&v);
    if (rc)
        return rc;
    /* The state stays in RocksDB, unless it is small. */
    ms_table *t = &x->table;
    size_t per = 2 * sizeof(ms_entry) + x->stmt->naggs * sizeof(ms_acc) + 32;
    if (x->groups == 0) {
        t->complete = 1;
    } else if (x->groups <= EAGER_GROUPS && (!x->memory || x->groups * per <= x->memory / 4)) {
        ms_buf prefix = MS_BUF_INIT;
        ms_codec_key_state(&prefix, x->stmt->name, NULL, 0);
        struct load_ctx c = {x, prefix.len, 0};
        rc = ms_ckpt_scan(ck, prefix.data, prefix.len, load_group, &c, errstr, errsz);
        ms_buf_free(&prefix);
        if (rc == MS_ECORRUPT)
            snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                     x->stmt->name);
        if (rc)
            return rc;
        t->complete = c.n == x->groups && t->evictions == 0;
        if (c.n != x->groups) {
            ms_warn("query %s: the totals record counts %llu groups, the state holds %llu; "
                    "using the state's count",
                    x->stmt->name, (unsigned long long)x->groups, (unsigned long long)c.n);
            x->groups = c.n;
        }
    } else {
        t->complete = 0;
    }
    return 0;
}

/* ------------------------------------------------------------- results */

static void row_of_entry(const ms_exec *x, const ms_entry *e, ms_exec_row *r)
{
    r->key = ms_entry_key(e);
    r->klen = e->klen;
    if (x->fast_count) {
        r->count_only.a = r->count_only.n = e->value;
        r->accs = &r->count_only;
    } else {
        r->accs = &x->accs[e->value];
    }
}

struct scan_rows {
    const ms_exec *x;
    size_t plen; /* bytes of key before the group key */
    ms_exec_row_fn fn;
    void *ud;
    ms_acc *tmp;
    uint64_t skip; /* rows to pass over first */
    size_t limit;  /* rows to deliver (SIZE_MAX: all) */
    int overlay;   /* the cache's newer values win */
    int corrupt;
};

static int scan_row(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct scan_rows *c = ud;
    if (c->skip) {
        c->skip--;
        return 0;
    }
    if (!c->limit)
        return 1;
    if (kl < c->plen)
        return 0;
    ms_exec_row r;
    r.key = k + c->plen;
    r.klen = kl - c->plen;
    const ms_entry *e = c->overlay ? ms_table_find(&c->x->table, r.key, r.klen) : NULL;
    if (e) {
        row_of_entry(c->x, e, &r);
    } else {
        if (ms_exec__decode_accs(c->x, v, vl, c->tmp) != 0) {
            c->corrupt = 1;
            return 1;
        }
        r.count_only = c->tmp[0];
        r.accs = c->tmp;
    }
    c->fn(c->ud, &r);
    if (c->limit != SIZE_MAX)
        c->limit--;
    return 0;
}

int ms_exec_foreach(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    const ms_table *t = &x->table;
    if (!x->ck || t->complete) {
        for (size_t i = 0; i < t->nslots; i++) {
            const ms_entry *e = &t->slots[i];
            if (!ms_entry_used(e))
                continue;
            ms_exec_row r;
            row_of_entry(x, e, &r);
            fn(ud, &r);
        }
        return 0;
    }
    ms_buf prefix = MS_BUF_INIT;
    ms_codec_key_state(&prefix, x->stmt->name, NULL, 0);
    struct scan_rows c = {.x = x,
                          .plen = prefix.len,
                          .fn = fn,
                          .ud = ud,
                          .tmp = ms_xcalloc(x->stmt->naggs ? x->stmt->naggs : 1, sizeof(ms_acc)),
                          .limit = SIZE_MAX,
                          .overlay = 1};
    char err[2048];
    int rc = ms_ckpt_scan(x->ck, prefix.data, prefix.len, scan_row, &c, err, sizeof(err));
    free(c.tmp);
    ms_buf_free(&prefix);
    if (rc || c.corrupt) {
        ms_error("reading the state of query %s failed: %s", x->stmt->name,
                 c.corrupt ? "a corrupt record" : err);
        return MS_EIO;
    }
    /* Groups the batch created are not in RocksDB yet. */
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_dirty *d = &t->dirty[i];
        const ms_entry *e = &t->slots[d->slot];
        if (!(d->flags & MS_DIRTY_NEW) || (d->flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        ms_exec_row r;
        row_of_entry(x, e, &r);
        fn(ud, &r);
    }
    return 0;
}

void ms_exec_foreach_changed(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    const ms_table *t = &x->table;
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_dirty *d = &t->dirty[i];
        const ms_entry *e = &t->slots[d->slot];
        if ((d->flags & MS_DIRTY_GONE) || !ms_entry_used(e))
            continue;
        ms_exec_row r;
        row_of_entry(x, e, &r);
        fn(ud, &r);
    }
}

void ms_exec_foreach_top(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    for (size_t i = 0; i < x->top.n; i++) {
        top_cand c;
        top_row(x, i, &c);
        ms_exec_row r;
        r.key = c.key;
        r.klen = c.klen;
        r.count_only.a = r.count_only.n = 0;
        if (x->stmt->naggs)
            r.count_only = c.accs[0];
        r.accs = c.accs;
        fn(ud, &r);
    }
}

int ms_exec_page_keys(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap,
                      const uint8_t *after, size_t after_len, uint64_t offset, size_t limit,
                      ms_exec_row_fn fn, void *ud, char *errstr, size_t errsz)
{
    ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
    ms_codec_key_state(&lo, dec->stmt->name, NULL, 0);
    ms_buf_append(&hi, lo.data, lo.len);
    hi.data[hi.len - 1] = ':' + 1;
    size_t plen = lo.len;
    if (after) { /* the smallest key after it: the key and a 0 byte */
        ms_buf_append(&lo, after, after_len);
        ms_buf_putc(&lo, '\0');
    }
    struct scan_rows c = {.x = dec,
                          .plen = plen,
                          .fn = fn,
                          .ud = ud,
                          .tmp =
                              ms_xcalloc(dec->stmt->naggs ? dec->stmt->naggs : 1, sizeof(ms_acc)),
                          .skip = offset,
                          .limit = limit};
    int rc = limit ? ms_ckpt_scan_range(ck, snap, lo.data, lo.len, hi.data, hi.len, 0, scan_row, &c,
                                        errstr, errsz)
                   : 0;
    if (rc == 1)
        rc = 0;
    if (rc == 0 && c.corrupt) {
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 dec->stmt->name);
        rc = MS_ECORRUPT;
    }
    free(c.tmp);
    ms_buf_free(&lo);
    ms_buf_free(&hi);
    return rc;
}

int ms_exec_window_rows(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap, int64_t start,
                        ms_exec_row_fn fn, void *ud, char *errstr, size_t errsz)
{
    ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
    window_prefix(&lo, dec->stmt->name, start);
    if (start == INT64_MAX) {
        ms_codec_key_state(&hi, dec->stmt->name, NULL, 0);
        hi.data[hi.len - 1] = ':' + 1;
    } else {
        window_prefix(&hi, dec->stmt->name, start + 1);
    }
    struct scan_rows c = {.x = dec,
                          .plen = lo.len - 8,
                          .fn = fn,
                          .ud = ud,
                          .tmp =
                              ms_xcalloc(dec->stmt->naggs ? dec->stmt->naggs : 1, sizeof(ms_acc)),
                          .limit = SIZE_MAX};
    int rc = ms_ckpt_scan_range(ck, snap, lo.data, lo.len, hi.data, hi.len, 0, scan_row, &c, errstr,
                                errsz);
    if (rc == 0 && c.corrupt) {
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 dec->stmt->name);
        rc = MS_ECORRUPT;
    }
    free(c.tmp);
    ms_buf_free(&lo);
    ms_buf_free(&hi);
    return rc;
}

static int first_key(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v;
    (void)vl;
    int64_t *out = ud;
    size_t plen = (size_t)out[1];
    if (kl >= plen + 8)
        out[0] = (int64_t)(get_be64(k + plen) ^ SIGN_BIT);
    return 1;
}

int ms_exec_newest_window(const ms_exec *dec, ms_ckpt *ck, const ms_ckpt_snap *snap,
                          int64_t max_start, int64_t *start, char *errstr, size_t errsz)
{
    *start = INT64_MIN;
    ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
    ms_codec_key_state(&lo, dec->stmt->name, NULL, 0);
    if (max_start == INT64_MAX) {
        ms_buf_append(&hi, lo.data, lo.len);
        hi.data[hi.len - 1] = ':' + 1;
    } else {
        window_prefix(&hi, dec->stmt->name, max_start + 1);
    }
    int64_t out[2] = {INT64_MIN, (int64_t)lo.len};
    int rc = ms_ckpt_scan_range(ck, snap, lo.data, lo.len, hi.data, hi.len, 1, first_key, out,
                                errstr, errsz);
    if (rc == 1)
        rc = 0;
    *start = out[0];
    ms_buf_free(&lo);
    ms_buf_free(&hi);
    return rc;
}

void ms_exec_window_rows_mem(const ms_exec *x, int64_t start, ms_exec_row_fn fn, void *ud)
{
    const ms_table *t = &x->table;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->klen < 8 ||
            (int64_t)(get_be64(ms_entry_key(e)) ^ SIGN_BIT) != start)
            continue;
        ms_exec_row r;
        row_of_entry(x, e, &r);
        fn(ud, &r);
    }
}

int64_t ms_exec_newest_window_mem(const ms_exec *x, int64_t max_start)
{
    const ms_table *t = &x->table;
    int64_t best = INT64_MIN;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->klen < 8)
            continue;
        int64_t s = (int64_t)(get_be64(ms_entry_key(e)) ^ SIGN_BIT);
        if (s <= max_start && s > best)
            best = s;
    }
    return best;
}

void ms_exec_foreach_closed(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    const uint8_t *p = (const uint8_t *)x->closed_keys.data;
    const uint8_t *end = p + x->closed_keys.len;
    const ms_acc *acc = (const ms_acc *)(const void *)x->closed_accs.data;
    size_t na = x->stmt->naggs;
    for (size_t i = 0; i < x->nclosed; i++) {
        uint64_t kl;
        if (ms_codec_get_varint(&p, end, &kl) || kl > (uint64_t)(end - p))
            return;
        ms_exec_row r;
        r.key = p;
        r.klen = (size_t)kl;
        memcpy(&r.count_only, &acc[i * na], sizeof(ms_acc));
        r.accs = x->fast_count ? &r.count_only : &acc[i * na];
        fn(ud, &r);
        p += kl;
    }
}

/* Finds group column k in a key: sets *v. */
static void decode_group(const ms_exec *x, const uint8_t *key, size_t klen, size_t want,
                         ms_value *v)
{
    const ms_sql_stmt *s = x->stmt;
    if (x->raw_key) {
        *v = ms_value_str(key, klen);
        return;
    }
    const uint8_t *p = key, *end = key + klen;
    if (s->window.kind != MS_SQL_WINDOW_NONE)
        p += 8;
    for (size_t k = 0; k < s->ngroup_cols && p < end; k++) {
        enum ms_type ty = ms_schema_column(s->schema, (size_t)s->group_cols[k])->type;
        int null = *p++ == 0;
        ms_value cur = ms_value_null();
        if (!null) {
            if (ty == MS_TYPE_STRING) {
                uint64_t n = (uint64_t)(end - p);
                if (k + 1 < s->ngroup_cols &&
                    (ms_codec_get_varint(&p, end, &n) || n > (uint64_t)(end - p)))
                    break;
                cur = ms_value_str(p, (size_t)n);
                p += n;
            } else if (end - p >= 8) {
                uint64_t u = get_be64(p);
                p += 8;
                cur.type = ty;
                if (ty == MS_TYPE_DOUBLE)
                    cur.d = double_unkey(u);
                else
                    cur.i = (int64_t)(u ^ SIGN_BIT);
            }
        }
        if (k == want) {
            *v = cur;
            return;
        }
    }
    *v = ms_value_null();
}

void ms_exec_value(const ms_exec *x, const ms_exec_row *r, size_t out, ms_value *v)
{
    const ms_sql_stmt *s = x->stmt;
    const ms_sql_out *o = &s->outs[out];
    *v = ms_value_null();
    switch (o->kind) {
    case MS_SQL_OUT_GROUP_COL:
        decode_group(x, r->key, r->klen, o->index, v);
        return;
    case MS_SQL_OUT_WINDOW_START:
    case MS_SQL_OUT_WINDOW_END: {
        if (r->klen < 8)
            return;
        int64_t start = (int64_t)(get_be64(r->key) ^ SIGN_BIT);
        v->type = MS_TYPE_TIMESTAMP;
        v->i = o->kind == MS_SQL_OUT_WINDOW_START ? start : window_end(start, s->window.size_us);
        return;
    }
    case MS_SQL_OUT_AGG: {
        const ms_sql_agg *g = &s->aggs[o->index];
        const ms_acc *c = &r->accs[o->index];
        if (g->kind == MS_SQL_AGG_COUNT_STAR || g->kind == MS_SQL_AGG_COUNT) {
            *v = ms_value_int(c->a);
            return;
        }
        if (c->n == 0)
            return; /* NULL */
        if (g->kind == MS_SQL_AGG_AVG) {
            v->type = MS_TYPE_DOUBLE;
            v->d = bits_double(c->a) / (double)c->n;
        } else if (g->type == MS_TYPE_DOUBLE) {
            v->type = MS_TYPE_DOUBLE;
            v->d = bits_double(c->a);
        } else {
            v->type = g->type;
            v->i = c->a;
        }
        return;
    }
    }
}

/* ------------------------------------------------------------ group mode */

void ms_exec_encode_accs(const ms_exec *x, const ms_acc *acc, ms_buf *out)
{
    encode_accs(x, acc, out);
}

int ms_exec_decode_accs(const ms_exec *x, const uint8_t *v, size_t vl, ms_acc *acc)
{
    return ms_exec__decode_accs(x, v, vl, acc);
}

void ms_exec_take(ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    ms_exec_foreach(x, fn, ud);
    ms_table_free(&x->table);
    ms_table_init(&x->table);
    x->naccs = 0;
    x->acc_free = -1;
}

/* Combines a partial accumulator into c, as if its rows had been offered
 * one by one (MIN/MAX keep the better value; the rest add). */
static void merge_acc(const ms_sql_agg *g, ms_acc *c, const ms_acc *p)
{
    switch (g->kind) {
    case MS_SQL_AGG_COUNT_STAR:
    case MS_SQL_AGG_COUNT:
        c->a = add_sat(c->a, p->a);
        c->n = c->a;
        return;
    case MS_SQL_AGG_SUM:
        if (p->n == 0)
            return;
        if (g->type == MS_TYPE_DOUBLE)
            c->a = double_bits(bits_double(c->a) + bits_double(p->a));
        else
            c->a = add_sat(c->a, p->a);
        break;
    case MS_SQL_AGG_AVG:
        if (p->n == 0)
            return;
        c->a = double_bits(bits_double(c->a) + bits_double(p->a));
        break;
    case MS_SQL_AGG_MIN:
    case MS_SQL_AGG_MAX: {
        if (p->n == 0)
            return;
        int want_min = g->kind == MS_SQL_AGG_MIN;
        if (c->n == 0) {
            c->a = p->a;
        } else if (g->type == MS_TYPE_DOUBLE) {
            double cur = bits_double(c->a), v = bits_double(p->a);
            if (!isnan(v) && (isnan(cur) || (want_min ? v < cur : v > cur)))
                c->a = p->a;
        } else if (want_min ? p->a < c->a : p->a > c->a) {
            c->a = p->a;
        }
        break;
    }
    default:
        return;
    }
    c->n = add_sat(c->n, p->n);
}

int ms_exec_merge(ms_exec *x, const uint8_t *key, size_t klen, const ms_acc *part, uint64_t rows)
{
    const ms_sql_stmt *s = x->stmt;
    if (s->window.kind != MS_SQL_WINDOW_NONE && s->watermark.present && x->watermark != INT64_MIN &&
        klen >= 8) {
        int64_t start = (int64_t)(get_be64(key) ^ SIGN_BIT);
        if (window_end(start, s->window.size_us) <= x->watermark) {
            x->st.rows_late += rows;
            return 1;
        }
    }
    if (x->fast_count) {
        ms_table_add(&x->table, key, klen, part[0].a);
        return 0;
    }
    ms_entry *e = ms_table_find(&x->table, key, klen);
    int64_t idx;
    if (!e) {
        new_accs(x, &idx);
        ms_table_set_clean(&x->table, key, klen, idx);
    } else {
        idx = e->value;
    }
    ms_table_add(&x->table, key, klen, 0); /* marks the group changed */
    ms_acc *acc = &x->accs[idx];
    for (size_t j = 0; j < s->naggs; j++)
        merge_acc(&s->aggs[j], &acc[j], &part[j]);
    return 0;
}

int ms_exec_load_group(ms_exec *x, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl)
{
    if (x->fast_count) {
        int64_t n;
        if (ms_codec_decode_count(v, vl, &n) != 0)
            return MS_ECORRUPT;
        ms_table_set_clean(&x->table, key, klen, n);
        return 0;
    }
    size_t na = x->stmt->naggs;
    ms_acc *tmp = ms_xcalloc(na ? na : 1, sizeof(ms_acc));
    int rc = ms_exec__decode_accs(x, v, vl, tmp);
    if (rc == 0) {
        ms_entry *e = ms_table_find(&x->table, key, klen);
        int64_t idx;
        if (e)
            idx = e->value;
        else
            new_accs(x, &idx);
        memcpy(&x->accs[idx], tmp, na * sizeof(ms_acc));
        ms_table_set_clean(&x->table, key, klen, idx);
    }
    free(tmp);
    return rc;
}

void ms_exec_encode_progress(const ms_exec *x, ms_buf *out)
{
    put_zz(out, x->max_event);
    put_zz(out, x->watermark);
    put_zz(out, x->last_closed_start);
    ms_wm_encode(&x->wm, out);
}

int ms_exec_decode_progress(ms_exec *x, const uint8_t *v, size_t vl, double now)
{
    const uint8_t *p = v, *end = v + vl;
    int64_t max_event, watermark, last_closed;
    if (get_zz(&p, end, &max_event) || get_zz(&p, end, &watermark) ||
        get_zz(&p, end, &last_closed) || ms_wm_decode(&x->wm, &p, end, now) != 0 || p != end)
        return MS_ECORRUPT;
    x->max_event = max_event;
    x->watermark = watermark;
    x->wm.watermark = watermark;
    x->last_closed_start = last_closed;
    x->last_closed_end =
        last_closed == INT64_MIN ? INT64_MIN : window_end(last_closed, x->stmt->window.size_us);
    return 0;
}
