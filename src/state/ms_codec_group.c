/*
 * Group mode's record layouts (see ms_codec_group.h).
 */
#include "state/ms_codec_group.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstream/mstream.h"
#include "state/ms_codec.h"

#define VERSION 0x01

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

/* ------------------------------------------------------------ repartition */

void ms_gcodec_partial(ms_buf *v, uint64_t rows, const void *accs, size_t alen)
{
    ms_buf_putc(v, MS_GREC_PARTIAL);
    ms_codec_put_varint(v, rows);
    ms_buf_append(v, accs, alen);
}

void ms_gcodec_watermark(ms_buf *v, int64_t max_event)
{
    ms_buf_putc(v, MS_GREC_WATERMARK);
    put_zz(v, max_event);
}

int ms_gcodec_decode_rep(const uint8_t *v, size_t vl, ms_grec *out)
{
    memset(out, 0, sizeof(*out));
    if (!v || vl < 1)
        return MS_ECORRUPT;
    const uint8_t *p = v + 1, *end = v + vl;
    out->type = v[0];
    switch (v[0]) {
    case MS_GREC_PARTIAL:
        if (ms_codec_get_varint(&p, end, &out->rows))
            return MS_ECORRUPT;
        out->accs = p;
        out->alen = (size_t)(end - p);
        return 0;
    case MS_GREC_WATERMARK:
        if (get_zz(&p, end, &out->max_event) || p != end)
            return MS_ECORRUPT;
        return 0;
    default:
        return MS_ECORRUPT;
    }
}

/* --------------------------------------------------------------- changelog */

void ms_gcodec_cl_entry_key(ms_buf *k, const uint8_t *gkey, size_t klen)
{
    ms_buf_putc(k, MS_GCL_ENTRY);
    ms_buf_append(k, gkey, klen);
}

void ms_gcodec_cl_progress_key(ms_buf *k)
{
    ms_buf_putc(k, MS_GCL_PROGRESS);
}

void ms_gcodec_cl_value(ms_buf *v, const void *payload, size_t n)
{
    ms_buf_putc(v, VERSION);
    ms_buf_append(v, payload, n);
}

int ms_gcodec_decode_cl(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, ms_gcl *out)
{
    memset(out, 0, sizeof(*out));
    if (!k || kl < 1)
        return MS_ECORRUPT;
    out->type = k[0];
    if (k[0] == MS_GCL_ENTRY) {
        out->key = k + 1;
        out->klen = kl - 1;
    } else if (k[0] != MS_GCL_PROGRESS || kl != 1) {
        return MS_ECORRUPT;
    }
    if (!v) {
        if (out->type != MS_GCL_ENTRY)
            return MS_ECORRUPT; /* progress is never deleted */
        return 0;
    }
    if (vl < 1 || v[0] != VERSION)
        return MS_ECORRUPT;
    out->val = v + 1;
    out->vlen = vl - 1;
    return 0;
}

/* -------------------------------------------------------------------- cache */

void ms_gcodec_cache_key(ms_buf *k, char what, const char *stmt, int32_t q, const uint8_t *gkey,
                         size_t klen)
{
    ms_buf_puts(k, "g:");
    ms_buf_putc(k, what);
    ms_buf_putc(k, ':');
    ms_buf_puts(k, stmt);
    ms_buf_putc(k, '\0');
    uint8_t be[4] = {(uint8_t)((uint32_t)q >> 24), (uint8_t)((uint32_t)q >> 16),
                     (uint8_t)((uint32_t)q >> 8), (uint8_t)q};
    ms_buf_append(k, be, 4);
    if (klen)
        ms_buf_append(k, gkey, klen);
}

void ms_gcodec_offset_value(ms_buf *v, int64_t next)
{
    ms_buf_putc(v, VERSION);
    ms_codec_put_varint(v, next < 0 ? 0 : (uint64_t)next);
}

int ms_gcodec_decode_offset(const uint8_t *v, size_t vl, int64_t *next)
{
    if (!v || vl < 2 || v[0] != VERSION)
        return MS_ECORRUPT;
    const uint8_t *p = v + 1, *end = v + vl;
    uint64_t n;
    if (ms_codec_get_varint(&p, end, &n) || p != end || n > INT64_MAX)
        return MS_ECORRUPT;
    *next = (int64_t)n;
    return 0;
}

void ms_gcodec_meta(char *buf, size_t n, int64_t cl_offset)
{
    snprintf(buf, n, "cl=%" PRId64, cl_offset);
}

int64_t ms_gcodec_parse_meta(const char *meta)
{
    if (!meta || strncmp(meta, "cl=", 3) != 0 || meta[3] < '0' || meta[3] > '9')
        return -1;
    int64_t v = 0;
    for (const char *p = meta + 3; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}
