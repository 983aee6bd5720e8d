/*
 * The statement executor (see ms_exec.h for the layouts and the rules).
 */
#include "query/ms_exec.h"

#include <math.h>
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

static int decode_accs(const ms_exec *x, const uint8_t *v, size_t vl, ms_acc *acc)
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

/* ---------------------------------------------------------- life cycle */

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
    ms_table_init(&x->table);
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

void ms_exec_free(ms_exec *x)
{
    ms_wm_free(&x->wm);
    ms_table_free(&x->table);
    free(x->accs);
    ms_buf_free(&x->key);
    ms_buf_free(&x->val);
    ms_buf_free(&x->closed_keys);
    ms_buf_free(&x->closed_accs);
}

static ms_acc *new_accs(ms_exec *x, int64_t *index)
{
    size_t na = x->stmt->naggs;
    if (x->naccs + na > x->accs_cap) {
        x->accs_cap = x->accs_cap ? x->accs_cap * 2 : 64 * na;
        while (x->accs_cap < x->naccs + na)
            x->accs_cap *= 2;
        x->accs = ms_xrealloc(x->accs, x->accs_cap * sizeof(ms_acc));
    }
    *index = (int64_t)x->naccs;
    ms_acc *a = &x->accs[x->naccs];
    x->naccs += na;
    for (size_t j = 0; j < na; j++) {
        const ms_sql_agg *g = &x->stmt->aggs[j];
        a[j].a = agg_is_double(g) && g->kind != MS_SQL_AGG_MIN && g->kind != MS_SQL_AGG_MAX
                     ? double_bits(0.0)
                     : 0;
        a[j].n = 0;
    }
    return a;
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

static void add_group(ms_exec *x, const uint8_t *key, size_t klen, const ms_value *row)
{
    if (x->fast_count) {
        ms_table_add(&x->table, key, klen, 1);
        return;
    }
    ms_entry *e = ms_table_find(&x->table, key, klen);
    ms_acc *acc;
    if (!e) {
        int64_t idx;
        acc = new_accs(x, &idx);
        e = ms_table_set_clean(&x->table, key, klen, idx);
    } else {
        acc = &x->accs[e->value];
    }
    ms_table_add(&x->table, key, klen, 0); /* marks the group changed */
    update_accs(x, acc, row);
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

/* ------------------------------------------------------------- commits */

static void state_key(ms_exec *x, const uint8_t *k, size_t kl)
{
    ms_buf_reset(&x->key);
    ms_codec_key_state(&x->key, x->stmt->name, k, kl);
}

static const ms_acc *entry_accs(const ms_exec *x, const ms_entry *e, ms_acc *one)
{
    if (x->fast_count) {
        one->a = one->n = e->value;
        return one;
    }
    return &x->accs[e->value];
}

static void put_group(ms_exec *x, ms_ckpt_batch *wb, const ms_entry *e)
{
    ms_acc one;
    state_key(x, ms_entry_key(e), e->klen);
    ms_buf_reset(&x->val);
    encode_accs(x, entry_accs(x, e, &one), &x->val);
    ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
}

static void watermark_key(ms_buf *b, const char *stmt)
{
    ms_buf_reset(b);
    ms_buf_append(b, "w:", 2);
    ms_buf_append(b, stmt, strlen(stmt));
}

/* Closes the windows whose end is <= the watermark: their rows go to the
 * append output, their groups leave the state (the table is rebuilt
 * without them, which also compacts the accumulators). */
static void evict_closed(ms_exec *x, ms_ckpt_batch *wb)
{
    const ms_sql_stmt *s = x->stmt;
    ms_buf_reset(&x->closed_keys);
    ms_buf_reset(&x->closed_accs);
    x->nclosed = 0;
    if (s->window.kind == MS_SQL_WINDOW_NONE || !s->watermark.present ||
        s->emit == MS_SQL_EMIT_COMPLETE || x->watermark == INT64_MIN)
        return;
    const ms_table *t = &x->table;
    size_t nevict = 0;
    int64_t newest_start = INT64_MIN;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->klen < 8)
            continue;
        int64_t start = (int64_t)(get_be64(ms_entry_key(e)) ^ SIGN_BIT);
        if (window_end(start, s->window.size_us) > x->watermark)
            continue;
        nevict++;
        if (start > newest_start)
            newest_start = start;
    }
    if (!nevict)
        return;

    ms_table kept;
    ms_table_init(&kept);
    ms_acc *accs = NULL;
    size_t naccs = 0, cap = 0, na = s->naggs;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->klen < 8)
            continue;
        ms_acc one;
        const ms_acc *acc = entry_accs(x, e, &one);
        const uint8_t *k = ms_entry_key(e);
        int64_t start = (int64_t)(get_be64(k) ^ SIGN_BIT);
        if (window_end(start, s->window.size_us) <= x->watermark) {
            state_key(x, k, e->klen);
            ms_ckpt_batch_delete(wb, x->key.data, x->key.len);
            ms_codec_put_varint(&x->closed_keys, e->klen);
            ms_buf_append(&x->closed_keys, k, e->klen);
            ms_buf_append(&x->closed_accs, acc, na * sizeof(ms_acc));
            x->nclosed++;
            continue;
        }
        if (x->fast_count) {
            ms_table_set_clean(&kept, k, e->klen, e->value);
        } else {
            if (naccs + na > cap) {
                cap = cap ? cap * 2 : 64 * na;
                accs = ms_xrealloc(accs, cap * sizeof(ms_acc));
            }
            memcpy(&accs[naccs], acc, na * sizeof(ms_acc));
            ms_table_set_clean(&kept, k, e->klen, (int64_t)naccs);
            naccs += na;
        }
    }
    ms_table_free(&x->table);
    x->table = kept;
    free(x->accs);
    x->accs = accs;
    x->naccs = naccs;
    x->accs_cap = cap;
    x->st.evicted += nevict;
    x->st.windows_closed++;
    x->last_closed_start = newest_start;
    x->last_closed_end = window_end(newest_start, s->window.size_us);
}

size_t ms_exec_commit(ms_exec *x, ms_ckpt_batch *wb)
{
    const ms_sql_stmt *s = x->stmt;
    ms_table *t = &x->table;
    size_t changed = t->ndirty;
    if (t->ndirty > t->nslots / 8) {
        for (size_t i = 0; i < t->nslots; i++) {
            const ms_entry *e = &t->slots[i];
            if (ms_entry_used(e) && e->epoch == t->epoch)
                put_group(x, wb, e);
        }
    } else {
        for (size_t i = 0; i < t->ndirty; i++)
            put_group(x, wb, &t->slots[t->dirty[i]]);
    }
    if (s->watermark.present) {
        x->wm_cur = NULL; /* the advance may move the partitions */
        x->watermark = ms_wm_advance(&x->wm, x->src_parts, x->nsrc_parts, x->now);
        x->src_parts = NULL;
        x->nsrc_parts = 0;
        /* The changed groups are in the write batch; the eviction rebuilds
         * the table clean. */
        ms_table_clear_dirty(t);
        evict_closed(x, wb);
        ms_buf_reset(&x->val);
        put_zz(&x->val, x->max_event);
        put_zz(&x->val, x->watermark);
        put_zz(&x->val, x->last_closed_start);
        ms_wm_encode(&x->wm, &x->val);
        watermark_key(&x->key, s->name);
        ms_ckpt_batch_put(wb, x->key.data, x->key.len, x->val.data, x->val.len);
    }
    return changed;
}

void ms_exec_committed(ms_exec *x)
{
    ms_table_clear_dirty(&x->table);
}

/* --------------------------------------------------------------- loading */

struct load_ctx {
    ms_exec *x;
    size_t plen;
};

static int load_group(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct load_ctx *c = ud;
    ms_exec *x = c->x;
    const uint8_t *key = k + c->plen;
    size_t klen = kl - c->plen;
    if (x->fast_count) {
        int64_t n;
        if (ms_codec_decode_count(v, vl, &n) != 0)
            return MS_ECORRUPT;
        ms_table_set_clean(&x->table, key, klen, n);
        return 0;
    }
    int64_t idx;
    ms_acc *acc = new_accs(x, &idx);
    if (decode_accs(x, v, vl, acc) != 0)
        return MS_ECORRUPT;
    ms_table_set_clean(&x->table, key, klen, idx);
    return 0;
}

int ms_exec_load(ms_exec *x, ms_ckpt *ck, char *errstr, size_t errsz)
{
    ms_buf prefix = MS_BUF_INIT;
    ms_codec_key_state(&prefix, x->stmt->name, NULL, 0);
    struct load_ctx c = {x, prefix.len};
    int rc = ms_ckpt_scan(ck, prefix.data, prefix.len, load_group, &c, errstr, errsz);
    ms_buf_free(&prefix);
    if (rc == MS_ECORRUPT)
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 x->stmt->name);
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
    return rc;
}

/* ------------------------------------------------------------- results */

void ms_exec_foreach(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    const ms_table *t = &x->table;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e))
            continue;
        ms_exec_row r;
        r.key = ms_entry_key(e);
        r.klen = e->klen;
        if (x->fast_count) {
            r.count_only.a = r.count_only.n = e->value;
            r.accs = &r.count_only;
        } else {
            r.accs = &x->accs[e->value];
        }
        fn(ud, &r);
    }
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
    return decode_accs(x, v, vl, acc);
}

void ms_exec_take(ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    ms_exec_foreach(x, fn, ud);
    ms_table_free(&x->table);
    ms_table_init(&x->table);
    x->naccs = 0;
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
    int rc = decode_accs(x, v, vl, tmp);
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

void ms_exec_foreach_changed(const ms_exec *x, ms_exec_row_fn fn, void *ud)
{
    const ms_table *t = &x->table;
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_entry *e = &t->slots[t->dirty[i]];
        ms_exec_row r;
        r.key = ms_entry_key(e);
        r.klen = e->klen;
        if (x->fast_count) {
            r.count_only.a = r.count_only.n = e->value;
            r.accs = &r.count_only;
        } else {
            r.accs = &x->accs[e->value];
        }
        fn(ud, &r);
    }
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
