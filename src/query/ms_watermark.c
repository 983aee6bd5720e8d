/*
 * The watermark over partitions (design in ms_watermark.h).
 */
#include "query/ms_watermark.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec.h"

void ms_wm_init(ms_wm *w, int64_t delay_us, double idle_sec, const char *topic)
{
    memset(w, 0, sizeof(*w));
    w->delay_us = delay_us;
    w->idle_sec = idle_sec;
    w->topic = topic;
    w->watermark = INT64_MIN;
}

static void parts_clear(ms_wm *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->parts[i].key);
    w->n = 0;
}

void ms_wm_free(ms_wm *w)
{
    parts_clear(w);
    free(w->parts);
    ms_buf_free(&w->key);
    memset(w, 0, sizeof(*w));
}

/* Index of the first partition whose key is >= key. */
static size_t lower(const ms_wm *w, const char *key, size_t klen)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = w->parts[mid].key;
        size_t kl = strlen(k);
        int c = memcmp(k, key, kl < klen ? kl : klen);
        if (c < 0 || (c == 0 && kl < klen))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ms_wm_part *find_or_add(ms_wm *w, const char *key, size_t klen, double now)
{
    size_t i = lower(w, key, klen);
    if (i < w->n && strlen(w->parts[i].key) == klen && memcmp(w->parts[i].key, key, klen) == 0)
        return &w->parts[i];
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->parts = ms_xrealloc(w->parts, w->cap * sizeof(ms_wm_part));
    }
    memmove(&w->parts[i + 1], &w->parts[i], (w->n - i) * sizeof(ms_wm_part));
    w->n++;
    ms_wm_part *p = &w->parts[i];
    memset(p, 0, sizeof(*p));
    p->key = ms_xmalloc(klen + 1);
    memcpy(p->key, key, klen);
    p->key[klen] = '\0';
    p->max_event = INT64_MIN;
    p->last_active = now;
    return p;
}

/* Whether partition p belongs to the statement's input. */
static int ours(const ms_wm *w, const ms_part *p)
{
    return !w->topic || !p->topic || strcmp(w->topic, p->topic) == 0;
}

ms_wm_part *ms_wm_part_of(ms_wm *w, const ms_part *p, double now)
{
    if (!ours(w, p))
        return NULL;
    ms_buf_reset(&w->key);
    ms_part_key(&w->key, p);
    return find_or_add(w, w->key.data, w->key.len, now);
}

int64_t ms_wm_max_event(const ms_wm *w)
{
    int64_t m = INT64_MIN;
    for (size_t i = 0; i < w->n; i++)
        if (w->parts[i].max_event > m)
            m = w->parts[i].max_event;
    return m;
}

int64_t ms_wm_advance(ms_wm *w, const ms_part_info *parts, size_t n, double now)
{
    for (size_t i = 0; i < w->n; i++)
        w->parts[i].listed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ours(w, &parts[i].part))
            continue;
        ms_buf_reset(&w->key);
        ms_part_key(&w->key, &parts[i].part);
        ms_wm_part *p = find_or_add(w, w->key.data, w->key.len, now);
        p->listed = 1;
        p->backlog = parts[i].backlog;
    }
    /* Idleness; partitions the source no longer has are forgotten once idle. */
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        ms_wm_part *p = &w->parts[i];
        if (p->seen)
            p->last_active = now;
        p->seen = 0;
        p->idle = !p->backlog && now - p->last_active >= w->idle_sec;
        if (p->idle && !p->listed && n > 0) {
            free(p->key);
            continue;
        }
        w->parts[kept++] = *p;
    }
    w->n = kept;

    int64_t cand = INT64_MIN, all_max = INT64_MIN;
    int active = 0, held = 0;
    for (size_t i = 0; i < w->n; i++) {
        const ms_wm_part *p = &w->parts[i];
        if (p->max_event > all_max)
            all_max = p->max_event;
        if (p->idle)
            continue;
        if (p->max_event == INT64_MIN)
            held = 1;
        else if (!active || p->max_event < cand)
            cand = p->max_event;
        active = 1;
    }
    if (!active)
        cand = all_max; /* everything idle: nothing is coming that could be late */
    else if (held)
        cand = INT64_MIN;
    if (cand != INT64_MIN) {
        int64_t wm = cand < INT64_MIN + w->delay_us ? INT64_MIN + 1 : cand - w->delay_us;
        if (wm > w->watermark)
            w->watermark = wm;
    }
    return w->watermark;
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

void ms_wm_encode(const ms_wm *w, ms_buf *out)
{
    ms_codec_put_varint(out, w->n);
    for (size_t i = 0; i < w->n; i++) {
        size_t kl = strlen(w->parts[i].key);
        ms_codec_put_varint(out, kl);
        ms_buf_append(out, w->parts[i].key, kl);
        put_zz(out, w->parts[i].max_event);
    }
}

int ms_wm_decode(ms_wm *w, const uint8_t **pp, const uint8_t *end, double now)
{
    const uint8_t *p = *pp;
    uint64_t n;
    if (ms_codec_get_varint(&p, end, &n) || n > (uint64_t)(end - p))
        return MS_ECORRUPT;
    parts_clear(w);
    const char *prev = NULL;
    size_t prevl = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t kl;
        int64_t mx;
        if (ms_codec_get_varint(&p, end, &kl) || kl == 0 || kl > (uint64_t)(end - p) ||
            memchr(p, '\0', (size_t)kl))
            goto bad;
        const char *k = (const char *)p;
        p += kl;
        if (get_zz(&p, end, &mx))
            goto bad;
        /* Strictly increasing keys: one entry per partition. */
        if (prev) {
            int c = memcmp(prev, k, prevl < kl ? prevl : (size_t)kl);
            if (c > 0 || (c == 0 && prevl >= kl))
                goto bad;
        }
        prev = k;
        prevl = (size_t)kl;
        ms_wm_part *wp = find_or_add(w, k, (size_t)kl, now);
        wp->max_event = mx;
    }
    *pp = p;
    return 0;
bad:
    parts_clear(w);
    return MS_ECORRUPT;
}
