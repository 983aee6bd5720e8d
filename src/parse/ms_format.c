/*
 * Source formats (see ms_format.h): construction, the per-record dispatch,
 * the `lines` and `words` formats, and the scalar conversions every format
 * shares.
 *
 * The row buffer f->row is built once (width values) and rewritten in place
 * for every row: format columns by the parser, metadata columns only when
 * the caller's meta changes between "given" and "NULL" (a memcpy of five
 * values otherwise).  Nothing is allocated per record.
 *
 * Numbers are parsed by hand: integers with an overflow check, doubles by
 * Clinger's fast path (at most 19 significant digits making an integer
 * m <= 2^53 and a power of ten |e| <= 22: m * 10^e is then one correctly
 * rounded IEEE operation), falling back to strtod_l in the "C" locale for
 * the rare rest, so the result never depends on setlocale().
 */
#include "parse/ms_format.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "parse/ms_format_int.h"
#include "parse/ms_tokenize.h"

/* ------------------------------------------------------------ lifecycle */

static int conv_of(enum ms_type t, enum ms_conv *out)
{
    switch (t) {
    case MS_TYPE_STRING:
        *out = MS_CONV_STRING;
        return 0;
    case MS_TYPE_INT:
        *out = MS_CONV_INT;
        return 0;
    case MS_TYPE_DOUBLE:
        *out = MS_CONV_DOUBLE;
        return 0;
    case MS_TYPE_BOOL:
        *out = MS_CONV_BOOL;
        return 0;
    case MS_TYPE_TIMESTAMP:
        *out = MS_CONV_TIMESTAMP;
        return 0;
    default:
        return -1;
    }
}

ms_format *ms_format_new(const ms_schema *schema, const ms_format_opts *opts, char *errstr,
                         size_t errstr_size)
{
    if (!schema) {
        snprintf(errstr, errstr_size, "no schema given for the source format");
        return NULL;
    }
    const char *fmt = schema->format ? schema->format : "?";
    if (schema->ncols == 0) {
        snprintf(errstr, errstr_size, "the %s format needs at least one column", fmt);
        return NULL;
    }
    if ((schema->kind == MS_FORMAT_LINES || schema->kind == MS_FORMAT_WORDS) &&
        (schema->ncols != 1 || schema->cols[0].type != MS_TYPE_STRING)) {
        snprintf(errstr, errstr_size, "the %s format has exactly one STRING column", fmt);
        return NULL;
    }
    const ms_csv_dialect *d = &schema->csv;
    if (schema->kind == MS_FORMAT_CSV &&
        (d->delimiter == '\0' || d->delimiter == '\n' || d->delimiter == '\r' ||
         d->quote == d->delimiter || d->quote == '\0' || d->quote == '\n' || d->quote == '\r' ||
         d->quote < -1 || d->quote > 255 || (d->check_header && !d->header))) {
        snprintf(errstr, errstr_size, "the csv options cannot be used together (see docs/sql.md)");
        return NULL;
    }
    for (size_t i = 0; i < schema->ncols; i++) {
        enum ms_conv c;
        if (conv_of(schema->cols[i].type, &c) != 0) {
            snprintf(errstr, errstr_size,
                     "column '%s' of the %s format has type %s, which no input can hold",
                     schema->cols[i].name, fmt, ms_type_name(schema->cols[i].type));
            return NULL;
        }
    }

    ms_format *f = ms_xcalloc(1, sizeof(*f));
    f->schema = schema;
    f->kind = schema->kind;
    f->ncols = schema->ncols;
    f->width = ms_schema_width(schema);
    f->max_record =
        opts && opts->max_record_bytes ? opts->max_record_bytes : MS_FORMAT_DEFAULT_MAX_RECORD;
    f->max_word = opts && opts->max_word_bytes ? opts->max_word_bytes : MS_FORMAT_DEFAULT_MAX_WORD;
    f->row = ms_xcalloc(f->width, sizeof(*f->row));
    f->conv = ms_xcalloc(f->ncols, 1);
    f->name_len = ms_xcalloc(f->ncols, sizeof(*f->name_len));
    f->colerr = ms_xcalloc(f->ncols, 1);
    int trace = f->kind == MS_FORMAT_TASK_EVENTS || f->kind == MS_FORMAT_JOB_EVENTS;
    for (size_t i = 0; i < f->ncols; i++) {
        enum ms_conv c = MS_CONV_STRING;
        conv_of(schema->cols[i].type, &c);
        if (trace && strcmp(schema->cols[i].name, "event_type") == 0)
            c = MS_CONV_EVENT;
        if (opts && opts->used && !opts->used[i] && schema->kind != MS_FORMAT_JSON)
            c = MS_CONV_SKIP;
        f->conv[i] = (uint8_t)c;
        f->name_len[i] = strlen(schema->cols[i].name);
        f->row[i] = ms_value_null();
    }
    for (size_t i = f->ncols; i < f->width; i++)
        f->row[i] = ms_value_null();
    f->meta_null = 1;
    /* The trace tables are plain CSV whatever their schema says. */
    static const ms_csv_dialect plain = {',', '"', 0, 0};
    const ms_csv_dialect *dl = schema->kind == MS_FORMAT_CSV ? &schema->csv : &plain;
    f->delim = dl->delimiter;
    f->quote = dl->quote;
    f->header = dl->header;
    f->check_header = dl->check_header;
    for (int t = 0; t < MS_TRACE_EVENT_TYPES; t++) {
        const char *name = ms_trace_event_name(t);
        f->events[t].p = (const uint8_t *)name;
        f->events[t].n = strlen(name);
    }
    return f;
}

void ms_format_free(ms_format *f)
{
    if (!f)
        return;
    free(f->row);
    free(f->conv);
    free(f->name_len);
    free(f->colerr);
    ms_buf_free(&f->scratch);
    ms_buf_free(&f->key);
    free(f);
}

uint64_t ms_format_records(const ms_format *f)
{
    return f->records;
}

uint64_t ms_format_malformed(const ms_format *f, enum ms_malformed r)
{
    return (unsigned)r < MS_MALFORMED_MAX ? f->malformed[r] : 0;
}

const ms_schema *ms_format_schema(const ms_format *f)
{
    return f->schema;
}

size_t ms_format_max_record(const ms_format *f)
{
    return f->max_record;
}

uint64_t ms_format_headers(const ms_format *f)
{
    return f->headers;
}

void ms_format_reject(ms_format *f, enum ms_malformed reason)
{
    f->records++;
    if ((unsigned)reason < MS_MALFORMED_MAX)
        f->malformed[reason]++;
    /* The line's bytes were dropped unseen: whether it was the header or
     * closed a quoted field is unknown; the next line starts afresh (as
     * ms_format_line() does with an over-long line it is handed whole). */
    f->pending_header = 0;
    f->in_quote = 0;
}

/* -------------------------------------------------------- lines and words */

static size_t words_record(ms_format *f, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud)
{
    size_t i = 0, rows = 0;
    for (;;) {
        while (i < n && ms_is_space[p[i]])
            i++;
        if (i == n)
            return rows;
        size_t start = i;
        while (i < n && !ms_is_space[p[i]])
            i++;
        if (i - start > f->max_word) {
            f->malformed[MS_MALFORMED_WORD_TOO_LONG]++;
            continue;
        }
        f->row[0] = ms_value_str(p + start, i - start);
        rows += ms_format__emit(f, emit, ud);
    }
}

size_t ms_format_record(ms_format *f, const uint8_t *p, size_t n, const ms_value *meta,
                        ms_emit_fn emit, void *ud)
{
    f->records++;
    if (n > f->max_record)
        return ms_format__bad(f, MS_MALFORMED_LINE_TOO_LONG);
    if (meta) {
        memcpy(f->row + f->ncols, meta, MS_META_NCOLS * sizeof(*meta));
        f->meta_null = 0;
    } else if (!f->meta_null) {
        for (size_t i = f->ncols; i < f->width; i++)
            f->row[i] = ms_value_null();
        f->meta_null = 1;
    }

    switch (f->kind) {
    case MS_FORMAT_LINES:
        f->row[0] = ms_value_str(p, n);
        return ms_format__emit(f, emit, ud);
    case MS_FORMAT_WORDS:
        return words_record(f, p, n, emit, ud);
    default:
        break;
    }
    if (n == 0)
        return ms_format__bad(f, MS_MALFORMED_EMPTY);
    if (memchr(p, 0, n))
        return ms_format__bad(f, MS_MALFORMED_BINARY);
    ms_buf_reset(&f->scratch);
    f->scratch_set = 0;
    f->scratch_need = n;
    if (f->kind == MS_FORMAT_JSON)
        return ms_format__json(f, p, n, emit, ud);
    return ms_format__csv(f, p, n, emit, ud);
}

/* ------------------------------------------------------- lines of files */

static int csv_like(const ms_format *f)
{
    return f->kind == MS_FORMAT_CSV || f->kind == MS_FORMAT_TASK_EVENTS ||
           f->kind == MS_FORMAT_JOB_EVENTS;
}

void ms_format_begin_range(ms_format *f, const char *name, uint64_t offset)
{
    f->file_name = name;
    f->pending_header = f->header && offset == 0;
    f->in_quote = 0;
}

void ms_format_end_range(ms_format *f)
{
    f->file_name = NULL;
    f->pending_header = 0;
    f->in_quote = 0;
}

/* The header line of a file: skipped; with check-header, compared with the
 * declared columns, and a mismatch counted and logged. */
static void header_line(ms_format *f, const uint8_t *p, size_t n)
{
    f->headers++;
    if (!f->check_header || ms_format__csv_header_ok(f, p, n))
        return;
    f->malformed[MS_MALFORMED_BAD_HEADER]++;
    ms_buf want = MS_BUF_INIT, got = MS_BUF_INIT;
    for (size_t i = 0; i < f->ncols; i++) {
        if (i)
            ms_buf_puts(&want, ", ");
        ms_buf_puts(&want, f->schema->cols[i].name);
    }
    for (size_t i = 0; i < n && i < 200; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f)
            ms_buf_putc(&got, (char)p[i]);
        else
            ms_buf_printf(&got, "\\x%02x", p[i]);
    }
    if (n > 200)
        ms_buf_puts(&got, "...");
    ms_warn("%s: its header line \"%s\" does not name the columns of csv(%s); counted as "
            "malformed (bad_header), the file's other lines are read by position",
            f->file_name ? f->file_name : "a file", got.data ? got.data : "", want.data);
    ms_buf_free(&want);
    ms_buf_free(&got);
}

size_t ms_format_line(ms_format *f, const uint8_t *p, size_t n, const ms_value *meta,
                      ms_emit_fn emit, void *ud)
{
    if (!f->pending_header && !f->in_quote) {
        size_t rows = ms_format_record(f, p, n, meta, emit, ud);
        /* Only a rejected CSV line can have left a quoted field open. */
        if (rows == 0 && csv_like(f) && f->quote >= 0 && n <= f->max_record &&
            ms_format__csv_ends_in_quote(f, p, n, 0))
            f->in_quote = 1;
        return rows;
    }
    f->records++;
    if (n > f->max_record) {
        f->pending_header = 0;
        f->in_quote = 0;
        return ms_format__bad(f, MS_MALFORMED_LINE_TOO_LONG);
    }
    if (f->in_quote) {
        /* A line break inside a quoted field: the record was counted
         * malformed by its first line; each line up to the one that closes
         * the quote is too. */
        f->in_quote = ms_format__csv_ends_in_quote(f, p, n, 1);
        return ms_format__bad(f, MS_MALFORMED_BAD_VALUE);
    }
    f->pending_header = 0;
    f->in_quote = ms_format__csv_ends_in_quote(f, p, n, 0);
    header_line(f, p, n);
    return 0;
}

/* ---------------------------------------------------- scalar conversions */

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

int ms_format_parse_int64(const uint8_t *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == n)
        return -1;
    /* Up to 18 digits cannot overflow; check only beyond.  Magnitude
     * limit: 2^63 - 1, or 2^63 for a negative number. */
    uint64_t limit = (uint64_t)INT64_MAX + (uint64_t)neg, v = 0;
    size_t safe = n - i <= 18 ? n : i + 18;
    for (; i < safe; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (d > 9)
            return -1;
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    /* -(2^63) has no positive int64 twin: negate in unsigned arithmetic. */
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* The slow path: exact conversion by the C library, in the "C" locale. */
static double slow_double(const uint8_t *p, size_t n)
{
    char small[64];
    char *s = n < sizeof(small) ? small : ms_xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    double d = c_locale ? strtod_l(s, NULL, c_locale) : strtod(s, NULL);
    if (s != small)
        free(s);
    return d;
}

int ms_format_parse_double(const uint8_t *p, size_t n, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0, nd = 0, inexact = 0;
    size_t digits = 0;
    uint64_t m = 0;
    int64_t e10 = 0;
    if (n && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    for (; i < n && IS_DIGIT(p[i]); i++, digits++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (nd < 19) {
            if (m || d) {
                m = m * 10 + d;
                nd++;
            }
        } else {
            e10++;
            inexact |= d != 0;
        }
    }
    if (i < n && p[i] == '.') {
        for (i++; i < n && IS_DIGIT(p[i]); i++, digits++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (nd < 19) {
                if (m || d) {
                    m = m * 10 + d;
                    nd++;
                }
                e10--;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (digits == 0)
        return -1;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        int eneg = 0;
        int64_t e = 0;
        i++;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            eneg = p[i++] == '-';
        if (i == n || !IS_DIGIT(p[i]))
            return -1;
        for (; i < n && IS_DIGIT(p[i]); i++)
            if (e < 1000000000)
                e = e * 10 + (p[i] - '0');
        e10 += eneg ? -e : e;
    }
    if (i != n)
        return -1;
    double d;
    if (m == 0) {
        d = 0.0;
    } else if (!inexact && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        d = (double)m;
        d = e10 >= 0 ? d * pow10[e10] : d / pow10[-e10];
    } else {
        d = fabs(slow_double(p, n));
    }
    if (!isfinite(d))
        return -1;
    *out = neg ? -d : d;
    return 0;
}

static int ieq(const uint8_t *p, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (uint8_t)lower[i])
            return 0;
    return 1;
}

int ms_format_parse_bool(const uint8_t *p, size_t n, int64_t *out)
{
    if (n == 1 && (p[0] == '0' || p[0] == '1')) {
        *out = p[0] == '1';
        return 0;
    }
    if (n == 4 && ieq(p, "true", 4)) {
        *out = 1;
        return 0;
    }
    if (n == 5 && ieq(p, "false", 5)) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* k decimal digits at p. */
static int fixed_digits(const uint8_t *p, int k, int *v)
{
    int x = 0;
    for (int i = 0; i < k; i++) {
        if (!IS_DIGIT(p[i]))
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

static int parse_iso8601(const uint8_t *p, size_t n, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, s = 0, oh = 0, om = 0, osign = 0;
    int64_t us = 0;
    size_t i = 10;
    if (n < 10 || fixed_digits(p, 4, &y) || p[4] != '-' || fixed_digits(p + 5, 2, &mo) ||
        p[7] != '-' || fixed_digits(p + 8, 2, &d))
        return -1;
    if (i < n && (p[i] == 'T' || p[i] == 't' || p[i] == ' ')) {
        if (n - i < 9 || fixed_digits(p + i + 1, 2, &h) || p[i + 3] != ':' ||
            fixed_digits(p + i + 4, 2, &mi) || p[i + 6] != ':' || fixed_digits(p + i + 7, 2, &s))
            return -1;
        i += 9;
        if (i < n && (p[i] == '.' || p[i] == ',')) {
            int k = 0;
            for (i++; i < n && IS_DIGIT(p[i]); i++, k++) {
                if (k >= 9)
                    return -1;
                if (k < 6)
                    us = us * 10 + (p[i] - '0');
            }
            if (k == 0)
                return -1;
            for (; k < 6; k++)
                us *= 10;
        }
        if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
            i++;
        } else if (i < n && (p[i] == '+' || p[i] == '-')) {
            osign = p[i] == '-' ? -1 : 1;
            if (n - i < 6 || fixed_digits(p + i + 1, 2, &oh) || p[i + 3] != ':' ||
                fixed_digits(p + i + 4, 2, &om) || oh > 23 || om > 59)
                return -1;
            i += 6;
        }
    }
    if (i != n || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    secs -= (int64_t)osign * (oh * 3600 + om * 60); /* local = UTC + offset */
    *out = secs * 1000000 + us;
    return 0;
}

int ms_format_parse_timestamp(const uint8_t *p, size_t n, int64_t *out)
{
    if (ms_format_parse_int64(p, n, out) == 0)
        return 0;
    return parse_iso8601(p, n, out);
}
