/*
 * Built-in queries and the grouped COUNT aggregate (see ms_query.h).
 */
#include "query/ms_query.h"

#include <stdio.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec.h"

static const ms_query_def builtin_queries[] = {
    {
        .name = "wordcount",
        .fingerprint = "v1 SELECT word, COUNT(*) AS count FROM words(lines) GROUP BY word "
                       "OUTPUT complete",
        .group_col = "word",
        .agg_alias = "count",
        .family = "mstream_wordcount_count_total",
    },
};

const ms_query_def *ms_query_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin_queries) / sizeof(builtin_queries[0]); i++)
        if (strcmp(builtin_queries[i].name, name) == 0)
            return &builtin_queries[i];
    return NULL;
}

void ms_agg_init(ms_agg *a, const ms_query_def *def)
{
    memset(a, 0, sizeof(*a));
    a->def = def;
    ms_table_init(&a->table);
}

void ms_agg_free(ms_agg *a)
{
    ms_table_free(&a->table);
    ms_buf_free(&a->key);
    ms_buf_free(&a->val);
}

void ms_agg_emit(void *agg, const ms_row *row)
{
    ms_agg *a = agg;
    a->rows++;
    if (row->ncols == 1) {
        ms_table_add(&a->table, row->cols[0].s.p, row->cols[0].s.n, 1);
        return;
    }
    /* Several group columns: length-prefixed concatenation. */
    ms_buf_reset(&a->key);
    for (size_t i = 0; i < row->ncols; i++) {
        ms_codec_put_varint(&a->key, row->cols[i].s.n);
        ms_buf_append(&a->key, row->cols[i].s.p, row->cols[i].s.n);
    }
    ms_table_add(&a->table, (const uint8_t *)a->key.data, a->key.len, 1);
}

struct load_ctx {
    ms_agg *a;
    size_t plen;
};

static int load_one(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct load_ctx *c = ud;
    int64_t n;
    if (ms_codec_decode_count(v, vl, &n) != 0)
        return MS_ECORRUPT;
    ms_table_set_clean(&c->a->table, k + c->plen, kl - c->plen, n);
    return 0;
}

int ms_agg_load(ms_agg *a, ms_ckpt *ck, char *errstr, size_t errsz)
{
    ms_buf prefix = MS_BUF_INIT;
    ms_codec_key_state(&prefix, a->def->name, NULL, 0);
    struct load_ctx c = {a, prefix.len};
    int rc = ms_ckpt_scan(ck, prefix.data, prefix.len, load_one, &c, errstr, errsz);
    if (rc == MS_ECORRUPT)
        snprintf(errstr, errsz, "checkpoint holds a corrupt state record for query %s",
                 a->def->name);
    ms_buf_free(&prefix);
    return rc;
}

static void put_entry(ms_agg *a, ms_ckpt_batch *wb, const ms_entry *e)
{
    ms_buf_reset(&a->key);
    ms_buf_reset(&a->val);
    ms_codec_key_state(&a->key, a->def->name, ms_entry_key(e), e->klen);
    ms_codec_encode_count(&a->val, e->value);
    ms_ckpt_batch_put(wb, a->key.data, a->key.len, a->val.data, a->val.len);
}

size_t ms_agg_commit(ms_agg *a, ms_ckpt_batch *wb)
{
    ms_table *t = &a->table;
    /* No sorting here: the checkpoint's memtable takes keys in any order
     * (ms_ckpt.c).  When most slots are dirty, one sequential pass over the
     * slot array is cheaper than the dirty list's random order. */
    if (t->ndirty > t->nslots / 8) {
        for (size_t i = 0; i < t->nslots; i++) {
            const ms_entry *e = &t->slots[i];
            if (ms_entry_used(e) && e->epoch == t->epoch)
                put_entry(a, wb, e);
        }
    } else {
        for (size_t i = 0; i < t->ndirty; i++)
            put_entry(a, wb, &t->slots[t->dirty[i]]);
    }
    return t->ndirty;
}

void ms_agg_committed(ms_agg *a)
{
    ms_table_clear_dirty(&a->table);
}

int ms_query_bind_checkpoint(const ms_query_def *q, ms_ckpt *ck, const char *dir, char *errstr,
                             size_t errsz)
{
    ms_buf v = MS_BUF_INIT;
    size_t flen = strlen(q->fingerprint);
    int rc = ms_ckpt_get(ck, "m:query", 7, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        uint8_t fmt = MS_CKPT_FORMAT;
        rc = ms_ckpt_put_sync(ck, "m:format", 8, &fmt, 1, errstr, errsz);
        if (rc == 0)
            rc = ms_ckpt_put_sync(ck, "m:query", 7, q->fingerprint, flen, errstr, errsz);
    } else if (rc == 0) {
        if (v.len != flen || memcmp(v.data, q->fingerprint, flen) != 0) {
            snprintf(errstr, errsz,
                     "checkpoint %s was made for another query (\"%.*s\"); this run is \"%s\". "
                     "Use a new --checkpoint-dir for a different query",
                     dir, (int)(v.len > 300 ? 300 : v.len), v.data, q->fingerprint);
            rc = MS_EMISMATCH;
        } else {
            rc = ms_ckpt_get(ck, "m:format", 8, &v, errstr, errsz);
            if (rc == 0 && (v.len != 1 || (uint8_t)v.data[0] > MS_CKPT_FORMAT)) {
                snprintf(errstr, errsz,
                         "checkpoint %s was written by a newer mstream (format %d, this one "
                         "reads %d)",
                         dir, v.len ? (uint8_t)v.data[0] : -1, MS_CKPT_FORMAT);
                rc = MS_EMISMATCH;
            } else if (rc == MS_ENOTFOUND) {
                snprintf(errstr, errsz, "checkpoint %s has no format record", dir);
                rc = MS_ECORRUPT;
            }
        }
    }
    ms_buf_free(&v);
    return rc;
}
