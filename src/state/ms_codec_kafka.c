/*
 * Kafka checkpoint records (layout and invariants in ms_codec_kafka.h).
 */
#include "state/ms_codec_kafka.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec.h"

#define POS_VERSION 2          /* 1: the offset alone */
#define MAX_ITEMS   (1u << 20) /* partitions in one plan */

int ms_codec_kafka_topic_valid(const char *s, size_t n)
{
    if (n == 0 || n > MS_KAFKA_TOPIC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int ms_kafka_tp_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
    int c = strcmp(ta, tb);
    if (c)
        return c < 0 ? -1 : 1;
    return pa < pb ? -1 : pa > pb;
}

static int get_offset(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t v;
    if (ms_codec_get_varint(p, end, &v) || v > (uint64_t)INT64_MAX)
        return MS_ECORRUPT;
    *out = (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------- positions */

void ms_codec_key_kafka_pos(ms_buf *b, const char *topic, int32_t partition)
{
    ms_buf_append(b, MS_KAFKA_POS_PREFIX, MS_KAFKA_POS_PREFIX_LEN);
    ms_buf_append(b, topic, strlen(topic) + 1); /* with its NUL */
    uint32_t u = (uint32_t)partition;
    uint8_t t[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    ms_buf_append(b, t, 4);
}

void ms_codec_encode_kafka_pos(ms_buf *b, int64_t offset, int64_t mark_offset, uint64_t mark_hash)
{
    ms_buf_putc(b, POS_VERSION);
    ms_codec_put_varint(b, (uint64_t)offset);
    if (mark_offset < 0 || mark_offset >= offset) {
        ms_codec_put_varint(b, 0);
        return;
    }
    ms_codec_put_varint(b, (uint64_t)mark_offset + 1);
    ms_codec_put_varint(b, mark_hash);
}

int ms_codec_decode_kafka_pos(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                              ms_kafka_pos *pos)
{
    memset(pos, 0, sizeof(*pos));
    /* prefix, at least one topic byte, NUL, 4 partition bytes */
    if (kl < MS_KAFKA_POS_PREFIX_LEN + 1 + 1 + 4 ||
        memcmp(k, MS_KAFKA_POS_PREFIX, MS_KAFKA_POS_PREFIX_LEN) != 0)
        return MS_ECORRUPT;
    const char *topic = (const char *)k + MS_KAFKA_POS_PREFIX_LEN;
    size_t tl = kl - MS_KAFKA_POS_PREFIX_LEN - 5;
    if (topic[tl] != '\0' || !ms_codec_kafka_topic_valid(topic, tl))
        return MS_ECORRUPT;
    const uint8_t *pp = (const uint8_t *)topic + tl + 1;
    uint32_t part = (uint32_t)pp[0] << 24 | (uint32_t)pp[1] << 16 | (uint32_t)pp[2] << 8 | pp[3];
    if (part > (uint32_t)INT32_MAX)
        return MS_ECORRUPT;
    const uint8_t *p = v, *end = v + vl;
    int64_t off, mo = -1;
    uint64_t mh = 0;
    if (vl < 1 || (*p != 1 && *p != POS_VERSION))
        return MS_ECORRUPT;
    int version = *p++;
    if (get_offset(&p, end, &off))
        return MS_ECORRUPT;
    if (version >= 2) {
        uint64_t m1;
        if (ms_codec_get_varint(&p, end, &m1) || m1 > (uint64_t)off)
            return MS_ECORRUPT; /* a marker is below the position */
        if (m1 && ms_codec_get_varint(&p, end, &mh))
            return MS_ECORRUPT;
        mo = (int64_t)m1 - 1;
    }
    if (p != end)
        return MS_ECORRUPT;
    pos->mark_offset = mo;
    pos->mark_hash = mh;
    pos->topic = ms_xmemdup(topic, tl + 1);
    pos->partition = (int32_t)part;
    pos->offset = off;
    return 0;
}

void ms_kafka_pos_free(ms_kafka_pos *pos)
{
    free(pos->topic);
    pos->topic = NULL;
}

/* ------------------------------------------------------------------ plans */

void ms_codec_encode_kafka_plan(ms_buf *b, const ms_kafka_plan *pl)
{
    ms_buf_putc(b, (char)MS_KAFKA_PLAN_VERSION2);
    ms_codec_put_varint(b, pl->batch_id);
    ms_codec_put_varint(b, pl->created_ms);
    ms_codec_put_varint(b, pl->n);
    for (size_t i = 0; i < pl->n; i++) {
        const ms_kafka_range *r = &pl->items[i];
        size_t tl = strlen(r->topic);
        ms_codec_put_varint(b, tl);
        ms_buf_append(b, r->topic, tl);
        ms_codec_put_varint(b, (uint64_t)(uint32_t)r->partition);
        ms_codec_put_varint(b, (uint64_t)r->start);
        ms_codec_put_varint(b, (uint64_t)r->end);
        ms_codec_put_varint(b, r->flags);
    }
}

static int get_range(const uint8_t **p, const uint8_t *end, ms_kafka_range *r, int version)
{
    uint64_t tl, part;
    if (ms_codec_get_varint(p, end, &tl) || tl > MS_KAFKA_TOPIC_MAX || (uint64_t)(end - *p) < tl ||
        !ms_codec_kafka_topic_valid((const char *)*p, (size_t)tl))
        return MS_ECORRUPT;
    r->topic = ms_xmalloc((size_t)tl + 1);
    memcpy(r->topic, *p, (size_t)tl);
    r->topic[tl] = '\0';
    *p += tl;
    if (ms_codec_get_varint(p, end, &part) || part > (uint64_t)INT32_MAX)
        return MS_ECORRUPT;
    r->partition = (int32_t)part;
    if (get_offset(p, end, &r->start) || get_offset(p, end, &r->end) || r->end < r->start)
        return MS_ECORRUPT;
    uint64_t fl = 0;
    if (version == MS_KAFKA_PLAN_VERSION2 &&
        (ms_codec_get_varint(p, end, &fl) || (fl & ~(uint64_t)MS_KAFKA_RANGE_FLAGS)))
        return MS_ECORRUPT;
    r->flags = (uint32_t)fl;
    return 0;
}

int ms_codec_decode_kafka_plan(const uint8_t *v, size_t vl, ms_kafka_plan *pl)
{
    memset(pl, 0, sizeof(*pl));
    const uint8_t *p = v, *end = v + vl;
    uint64_t n;
    if (vl < 1 || (*p != MS_KAFKA_PLAN_VERSION && *p != MS_KAFKA_PLAN_VERSION2))
        return MS_ECORRUPT;
    int version = *p++;
    /* an item takes at least 5 bytes: bound n before allocating */
    if (ms_codec_get_varint(&p, end, &pl->batch_id) ||
        ms_codec_get_varint(&p, end, &pl->created_ms) || ms_codec_get_varint(&p, end, &n) ||
        n > MAX_ITEMS || n > (uint64_t)(end - p) / 5)
        return MS_ECORRUPT;
    pl->items = ms_xcalloc((size_t)n ? (size_t)n : 1, sizeof(ms_kafka_range));
    for (size_t i = 0; i < n; i++) {
        ms_kafka_range *r = &pl->items[i];
        pl->n = i + 1; /* so ms_kafka_plan_free frees what was decoded */
        if (get_range(&p, end, r, version) != 0 ||
            (i > 0 && ms_kafka_tp_cmp(pl->items[i - 1].topic, pl->items[i - 1].partition, r->topic,
                                      r->partition) >= 0)) {
            ms_kafka_plan_free(pl);
            return MS_ECORRUPT;
        }
    }
    pl->n = (size_t)n;
    if (p != end) {
        ms_kafka_plan_free(pl);
        return MS_ECORRUPT;
    }
    return 0;
}

void ms_kafka_plan_free(ms_kafka_plan *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->items[i].topic);
    free(pl->items);
    memset(pl, 0, sizeof(*pl));
}
