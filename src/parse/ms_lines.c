/*
 * Line splitter (see ms_lines.h).
 *
 * State between calls: at most one of
 *   carry_len > 0   a line prefix of at most max_carry bytes is pending
 *                   (it may be exactly max_carry bytes only if it ends in
 *                   '\r', which the next byte may turn into a CRLF);
 *   skipping        an over-long line, already counted, is being dropped;
 * or neither (at the start of a line).  A line is "too long" by the same
 * rule wherever the chunks were cut: its length without "\n" and without
 * one '\r' before it exceeds max_record_bytes.
 */
#include "parse/ms_lines.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

static void lines_feed(void *self, const uint8_t *d, size_t n, ms_emit_fn emit, void *ud)
{
    ms_lines_feed(self, d, n, emit, ud);
}

static void lines_end(void *self, ms_emit_fn emit, void *ud)
{
    ms_lines_end_file(self, emit, ud);
}

static const ms_parser_ops ms_lines_parser_ops = {
    .name = "lines",
    .feed = lines_feed,
    .end_file = lines_end,
};

void ms_lines_init(ms_lines *l, ms_format *fmt)
{
    memset(l, 0, sizeof(*l));
    l->base.ops = &ms_lines_parser_ops;
    l->base.self = l;
    l->fmt = fmt;
    l->max_carry = ms_format_max_record(fmt) + 1;
}

void ms_lines_free(ms_lines *l)
{
    free(l->carry);
    free(l->file_name);
    l->carry = NULL;
    l->file_name = NULL;
    l->carry_len = l->carry_cap = 0;
}

void ms_lines_set_meta(ms_lines *l, const ms_value *meta)
{
    l->meta = meta;
}

void ms_lines_begin_file(ms_lines *l, const char *name)
{
    free(l->file_name);
    l->file_name = ms_xstrdup(name);
    for (int k = 0; k < MS_META_NCOLS; k++)
        l->file_meta[k] = ms_value_null();
    l->file_meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)l->file_name, strlen(name));
    l->meta = l->file_meta;
}

void ms_lines_begin_range(ms_lines *l, const char *name, uint64_t offset)
{
    ms_format_begin_range(l->fmt, name, offset);
}

size_t ms_lines_carry_capacity(const ms_lines *l)
{
    return l->carry_cap;
}

void ms_lines_reset(ms_lines *l)
{
    l->carry_len = 0;
    l->skipping = 0;
    ms_format_end_range(l->fmt);
}

static void sync_counters(ms_lines *l)
{
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        l->base.malformed[r] = ms_format_malformed(l->fmt, (enum ms_malformed)r);
}

/* A line too long to carry: counted now, its rest dropped. */
static void start_skip(ms_lines *l)
{
    ms_format_reject(l->fmt, MS_MALFORMED_LINE_TOO_LONG);
    l->base.lines++;
    l->carry_len = 0;
    l->skipping = 1;
}

/* Whether a line prefix of len bytes, ending in byte last, can still become
 * a line of at most max_record bytes. */
static int may_fit(const ms_lines *l, size_t len, uint8_t last)
{
    return len < l->max_carry || (len == l->max_carry && last == '\r');
}

static void carry_append(ms_lines *l, const uint8_t *d, size_t n)
{
    size_t need = l->carry_len + n;
    if (need > l->carry_cap) {
        size_t cap = l->carry_cap ? l->carry_cap * 2 : 256;
        if (cap < need)
            cap = need;
        if (cap > l->max_carry)
            cap = l->max_carry;
        l->carry = ms_xrealloc(l->carry, cap);
        l->carry_cap = cap;
    }
    memcpy(l->carry + l->carry_len, d, n);
    l->carry_len = need;
}

static void line(ms_lines *l, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud)
{
    if (n && p[n - 1] == '\r')
        n--;
    l->base.lines++;
    ms_format_line(l->fmt, p, n, l->meta, emit, ud);
}

void ms_lines_feed(ms_lines *l, const uint8_t *d, size_t n, ms_emit_fn emit, void *ud)
{
    size_t i = 0;
    if (n == 0)
        return;

    /* Finish the line or the skip left by the previous chunk. */
    if (l->carry_len || l->skipping) {
        const uint8_t *nl = memchr(d, '\n', n);
        size_t j = nl ? (size_t)(nl - d) : n;
        if (l->skipping) {
            if (nl)
                l->skipping = 0;
        } else {
            size_t total = l->carry_len + j;
            uint8_t last = j ? d[j - 1] : l->carry[l->carry_len - 1];
            if (!may_fit(l, total, last)) {
                start_skip(l);
                l->skipping = nl == NULL;
            } else {
                carry_append(l, d, j);
                if (nl) {
                    line(l, l->carry, l->carry_len, emit, ud);
                    l->carry_len = 0;
                }
            }
        }
        if (!nl) {
            sync_counters(l);
            return;
        }
        i = j + 1;
    }

    while (i < n) {
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        if (!nl) {
            /* The line continues in the next chunk. */
            if (may_fit(l, n - i, d[n - 1]))
                carry_append(l, d + i, n - i);
            else
                start_skip(l);
            break;
        }
        size_t j = (size_t)(nl - d);
        line(l, d + i, j - i, emit, ud); /* the format rejects an over-long one */
        i = j + 1;
    }
    sync_counters(l);
}

void ms_lines_end_file(ms_lines *l, ms_emit_fn emit, void *ud)
{
    if (l->carry_len)
        line(l, l->carry, l->carry_len, emit, ud);
    l->carry_len = 0;
    l->skipping = 0;
    ms_format_end_range(l->fmt);
    sync_counters(l);
}
