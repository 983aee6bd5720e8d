/*
 * Checkpoint record codec (layout in ms_codec.h).
 */
#include "state/ms_codec.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

#define REC_VERSION 1
#define POS_VERSION 2 /* position and plan records: 1 + birth time and the tail marker */
#define MAX_NAME    4096u
#define MAX_ITEMS   (1u << 24)

void ms_codec_put_varint(ms_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    ms_buf_append(b, tmp, n);
}

int ms_codec_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return MS_ECORRUPT;
        uint8_t c = *q++;
        if ((shift == 63 && c > 1) || (shift > 0 && c == 0))
            return MS_ECORRUPT; /* overflow, or a non-canonical (padded) encoding */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return MS_ECORRUPT;
}

static void put_be64(ms_buf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (56 - 8 * i));
    ms_buf_append(b, t, 8);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_str(ms_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    ms_codec_put_varint(b, n);
    ms_buf_append(b, s ? s : "", n);
}

static int get_str(const uint8_t **p, const uint8_t *end, char **out)
{
    uint64_t n;
    if (ms_codec_get_varint(p, end, &n) || n > MAX_NAME || (uint64_t)(end - *p) < n)
        return MS_ECORRUPT;
    if (memchr(*p, '\0', (size_t)n))
        return MS_ECORRUPT;
    char *s = ms_xmalloc((size_t)n + 1);
    memcpy(s, *p, (size_t)n);
    s[n] = '\0';
    *p += n;
    *out = s;
    return 0;
}

static int get_u32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    if (ms_codec_get_varint(p, end, &v) || v > UINT32_MAX)
        return MS_ECORRUPT;
    *out = (uint32_t)v;
    return 0;
}

#define POS_PREFIX     "p:dir:"
#define POS_PREFIX_LEN 6

void ms_codec_key_position(ms_buf *b, uint64_t dev, uint64_t ino)
{
    ms_buf_append(b, POS_PREFIX, POS_PREFIX_LEN);
    put_be64(b, dev);
    put_be64(b, ino);
}

void ms_codec_key_batch(ms_buf *b, uint64_t batch_id)
{
    ms_buf_append(b, "b:", 2);
    put_be64(b, batch_id);
}

void ms_codec_key_plan(ms_buf *b, uint64_t batch_id)
{
    ms_buf_append(b, "m:plan:", 7);
    put_be64(b, batch_id);
}

void ms_codec_key_state(ms_buf *b, const char *query, const uint8_t *key, size_t klen)
{
    ms_buf_append(b, "s:", 2);
    ms_buf_puts(b, query);
    ms_buf_putc(b, ':');
    ms_buf_append(b, key, klen);
}

void ms_codec_key_totals(ms_buf *b, const char *query)
{
    ms_buf_append(b, "t:", 2);
    ms_buf_puts(b, query);
}

void ms_codec_key_groups(ms_buf *b, const char *query)
{
    ms_buf_append(b, "n:", 2);
    ms_buf_puts(b, query);
}

void ms_codec_encode_groups(ms_buf *b, uint64_t groups)
{
    ms_buf_putc(b, REC_VERSION);
    ms_codec_put_varint(b, groups);
}

int ms_codec_decode_groups(const uint8_t *v, size_t vl, uint64_t *groups)
{
    const uint8_t *p = v, *end = v + vl;
    if (vl < 1 || *p++ != REC_VERSION || ms_codec_get_varint(&p, end, groups) || p != end)
        return MS_ECORRUPT;
    return 0;
}

void ms_codec_key_counters(ms_buf *b, const char *query)
{
    ms_buf_append(b, "k:", 2);
    ms_buf_puts(b, query);
}

void ms_codec_encode_counters(ms_buf *b, const ms_counters_rec *c)
{
    ms_buf_putc(b, REC_VERSION);
    const uint64_t f[] = {c->rows_in,  c->rows_filtered, c->rows_late,     c->rows_no_time,
                          c->rows_agg, c->evicted,       c->windows_closed};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        ms_codec_put_varint(b, f[i]);
    size_t n = c->nmalformed < MS_CODEC_MAX_REASONS ? c->nmalformed : MS_CODEC_MAX_REASONS;
    ms_codec_put_varint(b, n);
    for (size_t i = 0; i < n; i++)
        ms_codec_put_varint(b, c->malformed[i]);
}

int ms_codec_decode_counters(const uint8_t *v, size_t vl, ms_counters_rec *c)
{
    const uint8_t *p = v, *end = v + vl;
    memset(c, 0, sizeof(*c));
    if (vl < 1 || *p++ != REC_VERSION)
        return MS_ECORRUPT;
    uint64_t *f[] = {&c->rows_in,  &c->rows_filtered, &c->rows_late,     &c->rows_no_time,
                     &c->rows_agg, &c->evicted,       &c->windows_closed};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (ms_codec_get_varint(&p, end, f[i]))
            return MS_ECORRUPT;
    uint64_t n;
    if (ms_codec_get_varint(&p, end, &n) || n > MS_CODEC_MAX_REASONS)
        return MS_ECORRUPT;
    c->nmalformed = (size_t)n;
    for (size_t i = 0; i < c->nmalformed; i++)
        if (ms_codec_get_varint(&p, end, &c->malformed[i]))
            return MS_ECORRUPT;
    return p == end ? 0 : MS_ECORRUPT;
}

#define MAX_TOTALS_ROWS (1u << 24)

void ms_codec_totals_begin(ms_buf *b, uint64_t groups, size_t nrows)
{
    ms_buf_putc(b, REC_VERSION);
    ms_codec_put_varint(b, groups);
    ms_codec_put_varint(b, nrows);
}

void ms_codec_totals_add(ms_buf *b, const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen)
{
    ms_codec_put_varint(b, klen);
    ms_buf_append(b, key, klen);
    ms_codec_put_varint(b, vlen);
    ms_buf_append(b, val, vlen);
}

int ms_codec_decode_totals(const uint8_t *v, size_t vl, uint64_t *groups, ms_codec_row_fn cb,
                           void *ud)
{
    const uint8_t *p = v, *end = v + vl;
    uint64_t n;
    if (vl < 1 || *p++ != REC_VERSION || ms_codec_get_varint(&p, end, groups) ||
        ms_codec_get_varint(&p, end, &n) || n > MAX_TOTALS_ROWS || n > (uint64_t)(end - p))
        return MS_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t kl, l;
        if (ms_codec_get_varint(&p, end, &kl) || kl > (uint64_t)(end - p))
            return MS_ECORRUPT;
        const uint8_t *key = p;
        p += kl;
        if (ms_codec_get_varint(&p, end, &l) || l > (uint64_t)(end - p))
            return MS_ECORRUPT;
        if (cb && cb(ud, key, (size_t)kl, p, (size_t)l) != 0)
            return MS_ECORRUPT;
        p += l;
    }
    return p == end ? 0 : MS_ECORRUPT;
}

/* Fields of a file position, shared by position records and plan items:
 * version 1 ends with the name, version 2 adds the birth time (ns, 0:
 * unknown) and the tail marker. */
static void put_pos_fields(ms_buf *b, const ms_filepos *fp)
{
    ms_codec_put_varint(b, fp->offset);
    ms_codec_put_varint(b, fp->mark_len);
    ms_codec_put_varint(b, fp->mark_hash);
    ms_codec_put_varint(b, fp->flags);
    put_str(b, fp->name);
    ms_codec_put_varint(b, (uint64_t)fp->btime_ns);
    ms_codec_put_varint(b, fp->tail_len);
    ms_codec_put_varint(b, fp->tail_hash);
}

static int get_pos_fields(const uint8_t **p, const uint8_t *end, ms_filepos *fp, int version)
{
    uint64_t bt = 0;
    if (ms_codec_get_varint(p, end, &fp->offset) || ms_codec_get_varint(p, end, &fp->mark_len) ||
        ms_codec_get_varint(p, end, &fp->mark_hash) || get_u32(p, end, &fp->flags) ||
        get_str(p, end, &fp->name))
        return MS_ECORRUPT;
    if (version >= 2 && (ms_codec_get_varint(p, end, &bt) || bt > INT64_MAX ||
                         ms_codec_get_varint(p, end, &fp->tail_len) ||
                         ms_codec_get_varint(p, end, &fp->tail_hash) || fp->tail_len > fp->offset ||
                         fp->tail_len > MS_FPOS_TAIL_MAX)) {
        free(fp->name);
        fp->name = NULL;
        return MS_ECORRUPT;
    }
    fp->btime_ns = (int64_t)bt;
    return 0;
}

void ms_codec_encode_filepos(ms_buf *b, const ms_filepos *fp)
{
    ms_buf_putc(b, POS_VERSION);
    put_pos_fields(b, fp);
}

int ms_codec_decode_filepos(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                            ms_filepos *fp)
{
    memset(fp, 0, sizeof(*fp));
    if (kl != POS_PREFIX_LEN + 16 || memcmp(k, POS_PREFIX, POS_PREFIX_LEN) != 0)
        return MS_ECORRUPT;
    fp->dev = get_be64(k + POS_PREFIX_LEN);
    fp->ino = get_be64(k + POS_PREFIX_LEN + 8);
    const uint8_t *p = v, *end = v + vl;
    if (vl < 1 || (*p != REC_VERSION && *p != POS_VERSION))
        return MS_ECORRUPT;
    int version = *p++;
    int rc = get_pos_fields(&p, end, fp, version);
    /* the marker covers consumed bytes only */
    if (rc == 0 && (p != end || fp->mark_len > fp->offset))
        rc = MS_ECORRUPT;
    if (rc)
        ms_filepos_free(fp);
    return rc;
}

void ms_filepos_free(ms_filepos *fp)
{
    free(fp->name);
    fp->name = NULL;
}

void ms_codec_encode_plan(ms_buf *b, const ms_plan *pl)
{
    ms_buf_putc(b, POS_VERSION);
    ms_codec_put_varint(b, pl->batch_id);
    ms_codec_put_varint(b, (uint64_t)(pl->created_wall * 1000.0));
    ms_codec_put_varint(b, pl->n);
    for (size_t i = 0; i < pl->n; i++) {
        const ms_plan_item *it = &pl->items[i];
        ms_codec_put_varint(b, it->pos.dev);
        ms_codec_put_varint(b, it->pos.ino);
        put_pos_fields(b, &it->pos);
        ms_codec_put_varint(b, it->end);
    }
}

int ms_codec_decode_plan(const uint8_t *v, size_t vl, ms_plan *pl)
{
    memset(pl, 0, sizeof(*pl));
    const uint8_t *p = v, *end = v + vl;
    uint64_t ms, n;
    if (vl < 1 || (*p != REC_VERSION && *p != POS_VERSION))
        return MS_ECORRUPT;
    int version = *p++;
    if (ms_codec_get_varint(&p, end, &pl->batch_id) || ms_codec_get_varint(&p, end, &ms) ||
        ms_codec_get_varint(&p, end, &n) || n > MAX_ITEMS || n > (uint64_t)(end - p))
        return MS_ECORRUPT;
    pl->created_wall = (double)ms / 1000.0;
    pl->items = ms_xcalloc((size_t)n ? (size_t)n : 1, sizeof(ms_plan_item));
    for (size_t i = 0; i < n; i++) {
        ms_plan_item *it = &pl->items[i];
        pl->n = i + 1; /* so ms_plan_free frees what was decoded */
        if (ms_codec_get_varint(&p, end, &it->pos.dev) ||
            ms_codec_get_varint(&p, end, &it->pos.ino) ||
            get_pos_fields(&p, end, &it->pos, version) || ms_codec_get_varint(&p, end, &it->end) ||
            it->end < it->pos.offset ||
            it->pos.mark_len > it->end) { /* the new marker covers the range's end */
            ms_plan_free(pl);
            return MS_ECORRUPT;
        }
    }
    pl->n = (size_t)n;
    if (p != end) {
        ms_plan_free(pl);
        return MS_ECORRUPT;
    }
    return 0;
}

void ms_plan_free(ms_plan *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        ms_filepos_free(&pl->items[i].pos);
    free(pl->items);
    memset(pl, 0, sizeof(*pl));
}

void ms_codec_encode_batch(ms_buf *b, const ms_batch_rec *r)
{
    ms_buf_putc(b, REC_VERSION);
    ms_codec_put_varint(b, r->batch_id);
    ms_codec_put_varint(b, r->commit_ms);
    ms_codec_put_varint(b, r->rows);
    ms_codec_put_varint(b, r->bytes);
    ms_codec_put_varint(b, r->files);
}

int ms_codec_decode_batch(const uint8_t *v, size_t vl, ms_batch_rec *r)
{
    memset(r, 0, sizeof(*r));
    const uint8_t *p = v, *end = v + vl;
    if (vl < 1 || *p++ != REC_VERSION)
        return MS_ECORRUPT;
    if (ms_codec_get_varint(&p, end, &r->batch_id) || ms_codec_get_varint(&p, end, &r->commit_ms) ||
        ms_codec_get_varint(&p, end, &r->rows) || ms_codec_get_varint(&p, end, &r->bytes) ||
        ms_codec_get_varint(&p, end, &r->files) || p != end)
        return MS_ECORRUPT;
    return 0;
}

void ms_codec_encode_count(ms_buf *b, int64_t v)
{
    /* zig-zag, so a negative delta aggregate (later SUMs) stays small */
    ms_codec_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int ms_codec_decode_count(const uint8_t *v, size_t vl, int64_t *out)
{
    const uint8_t *p = v;
    uint64_t z;
    if (ms_codec_get_varint(&p, v + vl, &z) || p != v + vl)
        return MS_ECORRUPT;
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}
