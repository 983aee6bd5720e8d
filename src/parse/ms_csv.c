/*
 * CSV records into typed rows: the declared `csv` schemas and the Google
 * cluster-trace tables `task_events` / `job_events` (docs/design.md §4).
 *
 * Fields follow RFC 4180 on one line, in the schema's dialect (ms_schema.h;
 * the defaults shown): separated by the delimiter (','); a field that
 * starts with the quote ('"') is quoted, ends at the next lone quote, may
 * hold delimiters, and writes a quote as two (`""`).  The closing quote
 * must be followed by a delimiter or the end of the record (else
 * bad_value, as is a quote never closed).  A quote inside an unquoted
 * field is kept as an ordinary byte; with quoting off ('quote' = '') every
 * quote is.  A record is one line of a file or one Kafka message; only a
 * message can hold a line break inside a quoted field (ms_format_line()
 * says what happens to a quoted field that spans lines of a file).
 *
 * Field to value, by column type:
 *   STRING     the bytes (quotes decoded); an empty field is an empty string
 *   BIGINT     [+-]digits within int64, else bad_number
 *   DOUBLE     strict decimal with optional exponent, else bad_number
 *   BOOLEAN    true/false/1/0 (any case), else bad_value
 *   TIMESTAMP  integer microseconds, or ISO-8601 (UTC), else bad_number
 *   event_type (trace) integer 0..8 -> "SUBMIT".."UPDATE_RUNNING"; another
 *              integer is bad_value, anything else bad_number
 * An empty field is NULL for every type but STRING (the trace leaves
 * machine IDs and resource requests empty; user and job names may be empty).
 * A quoted field converts like an unquoted one ("12" is the BIGINT 12).
 *
 * Precedence, left to right: a broken quote (bad_value) or a field beyond
 * the schema's last column (wrong_column_count) ends the record; a record
 * with too few fields is wrong_column_count whatever its fields hold;
 * otherwise the first field that does not convert names the reason.
 *
 * This is the hot loop of the trace benchmark: one pass over the bytes,
 * integers parsed by hand, slices into the record, no allocation, and the
 * columns the statement does not read only skipped (MS_CONV_SKIP: Spark's
 * column pruning; the field count is still checked).  The
 * dialect costs nothing there: the delimiter and the quote are loaded into
 * registers once per record, where the constants ',' and '"' used to be.
 */
#include <string.h>

#include "parse/ms_format_int.h"

/* Decodes the quoted field whose content starts at p[i] (after the opening
 * quote f->quote).  On success stores the content, sets *next to the index
 * of the byte after the closing quote, and returns 0; -1 if the quote is
 * never closed. */
static int quoted_field(ms_format *f, const uint8_t *p, size_t n, size_t i, ms_slice *out,
                        size_t *next)
{
    const int quote = f->quote;
    const uint8_t *q = memchr(p + i, quote, n - i);
    if (!q)
        return -1;
    size_t end = (size_t)(q - p);
    if (end + 1 >= n || p[end + 1] != quote) {
        /* The common case: no escaped quote, the content is a slice. */
        out->p = p + i;
        out->n = end - i;
        *next = end + 1;
        return 0;
    }
    /* `""` escapes: copy into the scratch, one quote per pair. */
    uint8_t *dst = ms_format__scratch(f), *w = dst;
    for (;;) {
        memcpy(w, p + i, end - i);
        w += end - i;
        if (end + 1 < n && p[end + 1] == quote) {
            *w++ = (uint8_t)quote;
            i = end + 2;
            q = i < n ? memchr(p + i, quote, n - i) : NULL;
            if (!q)
                return -1;
            end = (size_t)(q - p);
            continue;
        }
        break;
    }
    out->p = dst;
    out->n = (size_t)(w - dst);
    f->scratch.len += out->n;
    *next = end + 1;
    return 0;
}

/* An unquoted field of 1 to 18 digits, optionally negative, parsed in the
 * same pass that finds its end (no overflow possible).  Returns 1 with *i at
 * the delimiter or the end, or 0 (and *i unchanged) for anything else,
 * which the general path then handles. */
static inline int int_field(const uint8_t *p, size_t n, uint8_t delim, size_t *i, int64_t *out)
{
    size_t k = *i, start;
    int neg = k < n && p[k] == '-';
    k += (size_t)neg;
    start = k;
    uint64_t x = 0;
    while (k < n) {
        unsigned d = (unsigned)(p[k] - '0');
        if (d > 9)
            break;
        x = x * 10 + d;
        k++;
    }
    if (k == start || k - start > 18 || (k < n && p[k] != delim))
        return 0;
    *out = neg ? -(int64_t)x : (int64_t)x;
    *i = k;
    return 1;
}

/* Converts one field into v; returns MS_MALFORMED_MAX on success, else the
 * reason. */
static enum ms_malformed convert(const ms_format *f, enum ms_conv conv, const uint8_t *p, size_t n,
                                 ms_value *v)
{
    if (conv == MS_CONV_STRING) {
        *v = ms_value_str(p, n);
        return MS_MALFORMED_MAX;
    }
    if (conv == MS_CONV_SKIP) {
        *v = ms_value_null();
        return MS_MALFORMED_MAX;
    }
    if (n == 0) {
        *v = ms_value_null();
        return MS_MALFORMED_MAX;
    }
    switch (conv) {
    case MS_CONV_INT:
        v->type = MS_TYPE_INT;
        return ms_format_parse_int64(p, n, &v->i) ? MS_MALFORMED_BAD_NUMBER : MS_MALFORMED_MAX;
    case MS_CONV_TIMESTAMP:
        v->type = MS_TYPE_TIMESTAMP;
        return ms_format_parse_timestamp(p, n, &v->i) ? MS_MALFORMED_BAD_NUMBER : MS_MALFORMED_MAX;
    case MS_CONV_DOUBLE:
        v->type = MS_TYPE_DOUBLE;
        return ms_format_parse_double(p, n, &v->d) ? MS_MALFORMED_BAD_NUMBER : MS_MALFORMED_MAX;
    case MS_CONV_BOOL:
        v->type = MS_TYPE_BOOL;
        return ms_format_parse_bool(p, n, &v->i) ? MS_MALFORMED_BAD_VALUE : MS_MALFORMED_MAX;
    case MS_CONV_EVENT: {
        int64_t t;
        if (ms_format_parse_int64(p, n, &t))
            return MS_MALFORMED_BAD_NUMBER;
        if (t < 0 || t >= MS_TRACE_EVENT_TYPES)
            return MS_MALFORMED_BAD_VALUE;
        v->type = MS_TYPE_STRING;
        v->s = f->events[t];
        return MS_MALFORMED_MAX;
    }
    default:
        return MS_MALFORMED_BAD_VALUE;
    }
}

size_t ms_format__csv(ms_format *f, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud)
{
    const size_t ncols = f->ncols;
    const uint8_t delim = f->delim;
    const int quote = f->quote; /* -1 matches no byte */
    enum ms_malformed bad = MS_MALFORMED_MAX;
    size_t col = 0, i = 0;
    for (;;) {
        ms_slice fld;
        enum ms_conv conv = col < ncols ? (enum ms_conv)f->conv[col] : MS_CONV_STRING;
        int64_t x;
        if (i < n && p[i] == quote) {
            size_t next;
            if (quoted_field(f, p, n, i + 1, &fld, &next) != 0)
                return ms_format__bad(f, MS_MALFORMED_BAD_VALUE);
            if (next < n && p[next] != delim)
                return ms_format__bad(f, MS_MALFORMED_BAD_VALUE);
            i = next;
        } else if (conv == MS_CONV_SKIP) {
            /* A column the statement does not read: its end only (its value
             * stays the NULL ms_format_new put there). */
            while (i < n && p[i] != delim)
                i++;
            col++;
            if (i == n)
                break;
            i++;
            continue;
        } else if ((conv == MS_CONV_INT || conv == MS_CONV_TIMESTAMP || conv == MS_CONV_EVENT) &&
                   int_field(p, n, delim, &i, &x)) {
            /* The hot path of the trace: integers parsed while scanned. */
            ms_value *v = &f->row[col++];
            if (conv != MS_CONV_EVENT) {
                v->type = conv == MS_CONV_INT ? MS_TYPE_INT : MS_TYPE_TIMESTAMP;
                v->i = x;
            } else if (x >= 0 && x < MS_TRACE_EVENT_TYPES) {
                v->type = MS_TYPE_STRING;
                v->s = f->events[x];
            } else if (bad == MS_MALFORMED_MAX) {
                bad = MS_MALFORMED_BAD_VALUE;
            }
            if (i == n)
                break;
            i++;
            continue;
        } else {
            const uint8_t *d = memchr(p + i, delim, n - i);
            size_t end = d ? (size_t)(d - p) : n;
            fld.p = p + i;
            fld.n = end - i;
            i = end;
        }
        if (col == ncols)
            return ms_format__bad(f, MS_MALFORMED_COLUMN_COUNT); /* too many */
        if (bad == MS_MALFORMED_MAX)
            bad = convert(f, conv, fld.p, fld.n, &f->row[col]);
        col++;
        if (i == n)
            break;
        i++; /* the delimiter; one ending the record starts one more, empty field */
    }
    if (col != ncols)
        return ms_format__bad(f, MS_MALFORMED_COLUMN_COUNT);
    if (bad != MS_MALFORMED_MAX)
        return ms_format__bad(f, bad);
    return ms_format__emit(f, emit, ud);
}

/* ------------------------------------------------ lines of files (ms_format_line) */

int ms_format__csv_ends_in_quote(const ms_format *f, const uint8_t *p, size_t n, int in_quote)
{
    /* RFC 4180 as a state machine over the line; `""` inside a quoted
     * field is QUOTED -> AFTER_QUOTE -> QUOTED. */
    enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE } st = in_quote ? QUOTED : FIELD_START;
    const int quote = f->quote, delim = f->delim;
    if (quote < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = p[i];
        switch (st) {
        case FIELD_START:
            st = c == quote ? QUOTED : c == delim ? FIELD_START : UNQUOTED;
            break;
        case UNQUOTED:
            if (c == delim)
                st = FIELD_START;
            break;
        case QUOTED: {
            const uint8_t *q = memchr(p + i, quote, n - i);
            if (!q)
                return 1;
            i = (size_t)(q - p);
            st = AFTER_QUOTE;
            break;
        }
        case AFTER_QUOTE: /* a `""`, a delimiter, or text after the closing quote */
            st = c == quote ? QUOTED : c == delim ? FIELD_START : UNQUOTED;
            break;
        }
    }
    return st == QUOTED;
}

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

int ms_format__csv_header_ok(ms_format *f, const uint8_t *p, size_t n)
{
    size_t i = 0, col = 0;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* a UTF-8 byte order mark (spreadsheet exports) */
    ms_buf_reset(&f->scratch);
    f->scratch_set = 0;
    f->scratch_need = n;
    for (;;) {
        ms_slice fld;
        if (i < n && p[i] == f->quote) {
            size_t next;
            if (quoted_field(f, p, n, i + 1, &fld, &next) != 0 || (next < n && p[next] != f->delim))
                return 0;
            i = next;
        } else {
            const uint8_t *d = memchr(p + i, f->delim, n - i);
            size_t end = d ? (size_t)(d - p) : n;
            fld.p = p + i;
            fld.n = end - i;
            i = end;
        }
        while (fld.n && is_blank(fld.p[0])) {
            fld.p++;
            fld.n--;
        }
        while (fld.n && is_blank(fld.p[fld.n - 1]))
            fld.n--;
        if (col == f->ncols || fld.n != f->name_len[col])
            return 0;
        const char *name = f->schema->cols[col].name;
        for (size_t k = 0; k < fld.n; k++) {
            uint8_t a = fld.p[k], b = (uint8_t)name[k];
            if (a >= 'A' && a <= 'Z')
                a = (uint8_t)(a + 32);
            if (b >= 'A' && b <= 'Z')
                b = (uint8_t)(b + 32);
            if (a != b)
                return 0;
        }
        col++;
        if (i == n)
            break;
        i++;
    }
    return col == f->ncols;
}
