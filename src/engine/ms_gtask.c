/*
 * A stage-2 task of group mode (see ms_gtask.h).
 */
#include "engine/ms_gtask.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec.h"
#include "state/ms_codec_group.h"

void ms_gtask_init(ms_gtask *t, const ms_sql_stmt *stmt, int32_t q, double idle_sec)
{
    memset(t, 0, sizeof(*t));
    t->stmt = stmt;
    t->q = q;
    ms_exec_init(&t->x, stmt);
    if (idle_sec > 0)
        ms_exec_set_idle(&t->x, idle_sec);
    ms_rowset_init(&t->closed, &t->x);
    t->closed_start = t->closed_end = INT64_MIN;
    t->restore_target = -1;
}

void ms_gtask_free(ms_gtask *t)
{
    ms_rowset_free(&t->closed);
    ms_exec_free(&t->x);
    ms_buf_free(&t->key);
    ms_buf_free(&t->val);
    ms_buf_free(&t->prog);
}

/* ------------------------------------------------------------- restore */

static void cache_key(ms_gtask *t, char what, const uint8_t *gkey, size_t klen)
{
    ms_buf_reset(&t->key);
    ms_gcodec_cache_key(&t->key, what, t->stmt->name, t->q, gkey, klen);
}

int ms_gtask_cache_offset(ms_gtask *t, ms_ckpt *ck, int64_t *next, char *errstr, size_t errsz)
{
    *next = 0;
    cache_key(t, 'o', NULL, 0);
    ms_buf v = MS_BUF_INIT;
    int rc = ms_ckpt_get(ck, t->key.data, t->key.len, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        rc = 0;
    } else if (rc == 0 && ms_gcodec_decode_offset((const uint8_t *)v.data, v.len, next) != 0) {
        snprintf(errstr, errsz,
                 "the local cache holds a corrupt changelog offset for query %s partition %" PRId32,
                 t->stmt->name, t->q);
        rc = MS_ECORRUPT;
    }
    ms_buf_free(&v);
    return rc;
}

struct wipe_ctx {
    ms_ckpt_batch *wb;
};

static int wipe_one(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v;
    (void)vl;
    ms_ckpt_batch_delete(((struct wipe_ctx *)ud)->wb, k, kl);
    return 0;
}

int ms_gtask_cache_wipe(ms_gtask *t, ms_ckpt *ck, ms_ckpt_batch *wb, char *errstr, size_t errsz)
{
    struct wipe_ctx c = {wb};
    cache_key(t, 's', NULL, 0);
    int rc = ms_ckpt_scan(ck, t->key.data, t->key.len, wipe_one, &c, errstr, errsz);
    cache_key(t, 'w', NULL, 0);
    ms_ckpt_batch_delete(wb, t->key.data, t->key.len);
    cache_key(t, 'o', NULL, 0);
    ms_ckpt_batch_delete(wb, t->key.data, t->key.len);
    return rc;
}

int ms_gtask_restore_record(ms_gtask *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                            ms_ckpt_batch *wb)
{
    ms_gcl r;
    if (ms_gcodec_decode_cl(k, kl, v, vl, &r) != 0)
        return MS_ECORRUPT;
    if (r.type == MS_GCL_PROGRESS) {
        cache_key(t, 'w', NULL, 0);
        ms_ckpt_batch_put(wb, t->key.data, t->key.len, v, vl);
    } else {
        cache_key(t, 's', r.key, r.klen);
        if (r.val)
            ms_ckpt_batch_put(wb, t->key.data, t->key.len, v, vl);
        else
            ms_ckpt_batch_delete(wb, t->key.data, t->key.len);
    }
    t->restored++;
    return 0;
}

void ms_gtask_cache_set_offset(ms_gtask *t, int64_t next, ms_ckpt_batch *wb)
{
    cache_key(t, 'o', NULL, 0);
    ms_buf_reset(&t->val);
    ms_gcodec_offset_value(&t->val, next);
    ms_ckpt_batch_put(wb, t->key.data, t->key.len, t->val.data, t->val.len);
    t->cl_next = next;
}

struct load_ctx {
    ms_gtask *t;
    size_t plen;
};

static int load_one(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct load_ctx *c = ud;
    if (vl < 1 || v[0] != 0x01)
        return MS_ECORRUPT;
    return ms_exec_load_group(&c->t->x, k + c->plen, kl - c->plen, v + 1, vl - 1);
}

int ms_gtask_load(ms_gtask *t, ms_ckpt *ck, char *errstr, size_t errsz)
{
    cache_key(t, 's', NULL, 0);
    struct load_ctx c = {t, t->key.len};
    ms_buf prefix = MS_BUF_INIT;
    ms_buf_append(&prefix, t->key.data, t->key.len);
    int rc = ms_ckpt_scan(ck, prefix.data, prefix.len, load_one, &c, errstr, errsz);
    ms_buf_free(&prefix);
    if (rc == 0) {
        ms_buf v = MS_BUF_INIT;
        cache_key(t, 'w', NULL, 0);
        rc = ms_ckpt_get(ck, t->key.data, t->key.len, &v, errstr, errsz);
        if (rc == MS_ENOTFOUND)
            rc = 0;
        else if (rc == 0 && (v.len < 1 || (uint8_t)v.data[0] != 0x01 ||
                             ms_exec_decode_progress(&t->x, (const uint8_t *)v.data + 1, v.len - 1,
                                                     ms_now_mono()) != 0))
            rc = MS_ECORRUPT;
        ms_buf_free(&v);
    }
    if (rc == MS_ECORRUPT)
        snprintf(errstr, errsz,
                 "the local cache or the changelog holds a corrupt record of query %s partition "
                 "%" PRId32 " (delete the checkpoint directory: it is restored from the changelog)",
                 t->stmt->name, t->q);
    ms_exec_committed(&t->x);
    return rc;
}

/* ------------------------------------------------------------- stage 2 */

/* "topic/partition" (not NUL-terminated) into p; buf holds the topic. */
static int parse_part(const uint8_t *k, size_t kl, char *buf, size_t bufsz, ms_part *p)
{
    if (kl == 0 || kl >= bufsz)
        return -1;
    memcpy(buf, k, kl);
    buf[kl] = '\0';
    if (memchr(buf, '\0', kl))
        return -1;
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf || !slash[1])
        return -1;
    int64_t n = 0;
    for (const char *c = slash + 1; *c; c++) {
        if (*c < '0' || *c > '9' || n > INT32_MAX / 10)
            return -1;
        n = n * 10 + (*c - '0');
    }
    if (n > INT32_MAX)
        return -1;
    *slash = '\0';
    p->topic = buf;
    p->partition = (int32_t)n;
    return 0;
}

int ms_gtask_feed(ms_gtask *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, double now)
{
    ms_grec r;
    if (ms_gcodec_decode_rep(v, vl, &r) != 0)
        return MS_ECORRUPT;
    ms_exec *x = &t->x;
    if (r.type == MS_GREC_WATERMARK) {
        char buf[300];
        ms_part p;
        if (parse_part(k, kl, buf, sizeof(buf), &p) != 0)
            return MS_ECORRUPT;
        t->touched = 1;
        if (!x->stmt->watermark.present || r.max_event == INT64_MIN)
            return 0;
        ms_wm_part *wp = ms_wm_part_of(&x->wm, &p, now);
        if (wp) {
            wp->seen = 1;
            if (r.max_event > wp->max_event)
                wp->max_event = r.max_event;
        }
        if (r.max_event != INT64_MAX && r.max_event > x->max_event)
            x->max_event = r.max_event;
        return 0;
    }
    size_t na = x->stmt->naggs;
    ms_acc accs[16];
    ms_acc *acc = na <= 16 ? accs : ms_xcalloc(na, sizeof(ms_acc));
    int rc = ms_exec_decode_accs(x, r.accs, r.alen, acc);
    if (rc == 0) {
        ms_exec_merge(x, k, kl, acc, r.rows);
        t->touched = 1;
    }
    if (acc != accs)
        free(acc);
    return rc ? MS_ECORRUPT : 0;
}

int ms_gtask_commit(ms_gtask *t, const ms_part_info *upstream, size_t nup, double now,
                    const ms_gtask_sink *sink, ms_ckpt_batch *cache_wb)
{
    ms_exec *x = &t->x;
    int rc = 0;
    ms_rowset changed;
    ms_rowset_init(&changed, x);
    ms_rowset_add_changed(&changed, x);
    ms_buf before = MS_BUF_INIT;
    ms_exec_encode_progress(x, &before);

    /* The executor's own write batch is not used: the changelog and the
     * cache get the changes below. */
    ms_exec_set_sources(x, upstream, nup, now);
    ms_ckpt_batch *unused = ms_ckpt_batch_new();
    ms_exec_commit(x, unused);
    ms_ckpt_batch_free(unused);

    /* Groups of closed windows: tombstones (and the APPEND output). */
    if (x->nclosed) {
        ms_rowset all;
        ms_rowset_init(&all, x);
        ms_exec_foreach_closed(x, ms_rowset_add_cb, &all);
        ms_rowset_clear(&t->closed);
        for (size_t r = 0; r < all.n && rc == 0; r++) {
            ms_exec_row row;
            ms_rowset_row(&all, r, &row);
            ms_buf_reset(&t->key);
            ms_gcodec_cl_entry_key(&t->key, row.key, row.klen);
            rc = sink->changelog(sink->ud, t, t->key.data, t->key.len, NULL, 0);
            if (rc == 0 && sink->closed_row)
                rc = sink->closed_row(sink->ud, t, &row);
            cache_key(t, 's', row.key, row.klen);
            ms_ckpt_batch_delete(cache_wb, t->key.data, t->key.len);
            if (ms_rowset_window_start(&all, r) == x->last_closed_start)
                ms_rowset_add_from(&t->closed, &all, r);
        }
        t->closed_start = x->last_closed_start;
        t->closed_end = x->last_closed_end;
        ms_rowset_free(&all);
    }
    /* Groups the batch changed that are still in the state: their values. */
    for (size_t r = 0; r < changed.n && rc == 0; r++) {
        ms_exec_row row;
        ms_rowset_row(&changed, r, &row);
        if (!ms_table_find(&x->table, row.key, row.klen))
            continue; /* evicted: its tombstone is above */
        ms_buf_reset(&t->prog);
        ms_exec_encode_accs(x, row.accs, &t->prog);
        ms_buf_reset(&t->val);
        ms_gcodec_cl_value(&t->val, t->prog.data, t->prog.len);
        ms_buf_reset(&t->key);
        ms_gcodec_cl_entry_key(&t->key, row.key, row.klen);
        rc = sink->changelog(sink->ud, t, t->key.data, t->key.len, t->val.data, t->val.len);
        cache_key(t, 's', row.key, row.klen);
        ms_ckpt_batch_put(cache_wb, t->key.data, t->key.len, t->val.data, t->val.len);
    }
    /* The progress, when it moved. */
    ms_buf_reset(&t->prog);
    ms_exec_encode_progress(x, &t->prog);
    if (rc == 0 && (t->prog.len != before.len || memcmp(t->prog.data, before.data, before.len))) {
        ms_buf_reset(&t->val);
        ms_gcodec_cl_value(&t->val, t->prog.data, t->prog.len);
        ms_buf_reset(&t->key);
        ms_gcodec_cl_progress_key(&t->key);
        rc = sink->changelog(sink->ud, t, t->key.data, t->key.len, t->val.data, t->val.len);
        cache_key(t, 'w', NULL, 0);
        ms_ckpt_batch_put(cache_wb, t->key.data, t->key.len, t->val.data, t->val.len);
    }
    ms_exec_committed(x);
    t->touched = 0;
    ms_buf_free(&before);
    ms_rowset_free(&changed);
    return rc;
}
