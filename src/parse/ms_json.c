/*
 * JSON records into typed rows: one object per record (JSON Lines), its
 * members matched to the declared columns by name.
 *
 * A small validating recursive-descent parser (RFC 8259 grammar), written
 * for this one job:
 *   - the record must be exactly one object, with only JSON whitespace
 *     around it; anything else (an array, a scalar, trailing bytes, a
 *     trailing comma, a raw control byte inside a string, a bad escape,
 *     nesting deeper than MS_JSON_MAX_DEPTH) is bad_json;
 *   - members whose name is not a column are validated and skipped, nested
 *     objects and arrays included;
 *   - a column whose member is absent, or null, is NULL; when a name occurs
 *     twice the last member wins (its value and its type check);
 *   - escapes are decoded (\uXXXX to UTF-8, a surrogate pair to one code
 *     point, a lone surrogate to U+FFFD, as jq does) into the format's
 *     scratch; other bytes of strings are kept as they are, valid UTF-8 or
 *     not (the display layer escapes what it shows);
 *   - types: STRING takes a string; BIGINT an integer literal (no fraction,
 *     no exponent) within int64; DOUBLE any number; BOOLEAN true/false;
 *     TIMESTAMP an integer (microseconds) or an ISO-8601 string.  Another
 *     JSON type is bad_type, an integer outside int64 or a double outside
 *     the double range bad_number, a TIMESTAMP string that is not a
 *     timestamp bad_value.
 * Precedence: bad_json wins over everything (the whole record is parsed
 * before a type error is counted); then the first column, in schema order,
 * whose value did not fit names the reason.
 *
 * The parser allocates nothing per record: slices point into the record or
 * into the scratch (ms_format_int.h), member names with escapes are decoded
 * into f->key, reused.
 */
#include <string.h>

#include "parse/ms_format_int.h"

#define MS_JSON_MAX_DEPTH 64

typedef struct jp {
    ms_format *f;
    const uint8_t *p;
    size_t n, i;
    uint8_t *colerr; /* per column: 0, or the reason + 1 */
} jp;

static inline void skip_ws(jp *j)
{
    while (j->i < j->n &&
           (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
        j->i++;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int hex4(const uint8_t *p, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Scans the string whose opening quote is at p[i]; stores its raw content
 * (escapes undecoded) and whether it holds escapes. */
static int scan_string(jp *j, ms_slice *raw, int *esc)
{
    const uint8_t *p = j->p;
    size_t i = j->i + 1, n = j->n, start = i;
    *esc = 0;
    for (;;) {
        if (i == n)
            return -1;
        uint8_t c = p[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            i++;
            continue;
        }
        *esc = 1;
        if (++i == n)
            return -1;
        switch (p[i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i++;
            break;
        case 'u': {
            unsigned cp;
            if (n - i < 5 || hex4(p + i + 1, &cp) != 0)
                return -1;
            i += 5;
            break;
        }
        default:
            return -1;
        }
    }
    raw->p = p + start;
    raw->n = i - start;
    j->i = i + 1;
    return 0;
}

static size_t put_utf8(uint8_t *w, unsigned cp)
{
    if (cp < 0x80) {
        w[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (uint8_t)(0xc0 | cp >> 6);
        w[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (uint8_t)(0xe0 | cp >> 12);
        w[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        w[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    w[0] = (uint8_t)(0xf0 | cp >> 18);
    w[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    w[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    w[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes a string already validated by scan_string into w (which has room
 * for raw.n bytes: no escape decodes longer than it is written); returns
 * the decoded length. */
static size_t decode_string(ms_slice raw, uint8_t *w)
{
    const uint8_t *p = raw.p, *end = raw.p + raw.n;
    uint8_t *w0 = w;
    while (p < end) {
        const uint8_t *bs = memchr(p, '\\', (size_t)(end - p));
        size_t plain = bs ? (size_t)(bs - p) : (size_t)(end - p);
        memcpy(w, p, plain);
        w += plain;
        p += plain;
        if (p == end)
            break;
        uint8_t c = p[1];
        p += 2;
        switch (c) {
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            hex4(p, &cp);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd; /* lone surrogate */
            }
            w += put_utf8(w, cp);
            break;
        }
        default: /* '"', '\\', '/' */
            *w++ = c;
            break;
        }
    }
    return (size_t)(w - w0);
}

/* A string value for the row: the raw slice, or its decoded copy in the
 * scratch. */
static ms_slice string_value(jp *j, ms_slice raw, int esc)
{
    if (!esc)
        return raw;
    uint8_t *w = ms_format__scratch(j->f);
    ms_slice s = {w, decode_string(raw, w)};
    j->f->scratch.len += s.n;
    return s;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at p[i]. */
static int scan_number(jp *j, ms_slice *num, int *is_int)
{
    const uint8_t *p = j->p;
    size_t i = j->i, n = j->n, start = i;
    *is_int = 1;
    if (i < n && p[i] == '-')
        i++;
    if (i == n)
        return -1;
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return -1;
    }
    if (i < n && p[i] == '.') {
        *is_int = 0;
        if (++i == n || p[i] < '0' || p[i] > '9')
            return -1;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        *is_int = 0;
        if (++i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i == n || p[i] < '0' || p[i] > '9')
            return -1;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    num->p = p + start;
    num->n = i - start;
    j->i = i;
    return 0;
}

/* true / false / null at p[i]: 1, 0, 2; -1 if none. */
static int scan_literal(jp *j)
{
    static const char *const lit[] = {"false", "true", "null"};
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(lit[k]);
        if (j->n - j->i >= len && memcmp(j->p + j->i, lit[k], len) == 0) {
            j->i += len;
            return k;
        }
    }
    return -1;
}

static int skip_value(jp *j, int depth);

/* An object or array at p[i] (a container at nesting level depth). */
static int skip_container(jp *j, int depth)
{
    if (depth > MS_JSON_MAX_DEPTH)
        return -1;
    uint8_t close = j->p[j->i] == '{' ? '}' : ']';
    j->i++;
    skip_ws(j);
    if (j->i < j->n && j->p[j->i] == close) {
        j->i++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            ms_slice raw;
            int esc;
            if (j->i == j->n || j->p[j->i] != '"' || scan_string(j, &raw, &esc) != 0)
                return -1;
            skip_ws(j);
            if (j->i == j->n || j->p[j->i] != ':')
                return -1;
            j->i++;
            skip_ws(j);
        }
        if (skip_value(j, depth) != 0)
            return -1;
        skip_ws(j);
        if (j->i == j->n)
            return -1;
        if (j->p[j->i] == ',') {
            j->i++;
            skip_ws(j);
            continue;
        }
        if (j->p[j->i] != close)
            return -1;
        j->i++;
        return 0;
    }
}

/* Any value at p[i] inside a container at level depth. */
static int skip_value(jp *j, int depth)
{
    if (j->i == j->n)
        return -1;
    uint8_t c = j->p[j->i];
    if (c == '"') {
        ms_slice raw;
        int esc;
        return scan_string(j, &raw, &esc);
    }
    if (c == '{' || c == '[')
        return skip_container(j, depth + 1);
    if (c == '-' || (c >= '0' && c <= '9')) {
        ms_slice num;
        int is_int;
        return scan_number(j, &num, &is_int);
    }
    return scan_literal(j) < 0 ? -1 : 0;
}

/* The value of a member that is column col; type errors are noted in
 * colerr, only syntax errors return -1. */
static int column_value(jp *j, size_t col)
{
    ms_format *f = j->f;
    ms_value *v = &f->row[col];
    enum ms_conv conv = (enum ms_conv)f->conv[col];
    enum ms_malformed err = MS_MALFORMED_MAX;
    if (j->i == j->n)
        return -1;
    uint8_t c = j->p[j->i];
    if (c == '"') {
        ms_slice raw;
        int esc;
        if (scan_string(j, &raw, &esc) != 0)
            return -1;
        if (conv == MS_CONV_STRING) {
            *v = ms_value_str(NULL, 0);
            v->s = string_value(j, raw, esc);
        } else if (conv == MS_CONV_TIMESTAMP) {
            ms_slice s = string_value(j, raw, esc);
            v->type = MS_TYPE_TIMESTAMP;
            if (ms_format_parse_timestamp(s.p, s.n, &v->i) != 0)
                err = MS_MALFORMED_BAD_VALUE;
        } else {
            err = MS_MALFORMED_BAD_TYPE;
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        ms_slice num;
        int is_int;
        if (scan_number(j, &num, &is_int) != 0)
            return -1;
        if (conv == MS_CONV_INT || conv == MS_CONV_TIMESTAMP) {
            v->type = conv == MS_CONV_INT ? MS_TYPE_INT : MS_TYPE_TIMESTAMP;
            if (!is_int)
                err = MS_MALFORMED_BAD_TYPE;
            else if (ms_format_parse_int64(num.p, num.n, &v->i) != 0)
                err = MS_MALFORMED_BAD_NUMBER;
        } else if (conv == MS_CONV_DOUBLE) {
            v->type = MS_TYPE_DOUBLE;
            if (ms_format_parse_double(num.p, num.n, &v->d) != 0)
                err = MS_MALFORMED_BAD_NUMBER;
        } else {
            err = MS_MALFORMED_BAD_TYPE;
        }
    } else if (c == '{' || c == '[') {
        if (skip_container(j, 2) != 0)
            return -1;
        err = MS_MALFORMED_BAD_TYPE;
    } else {
        int lit = scan_literal(j);
        if (lit < 0)
            return -1;
        if (lit == 2) {
            *v = ms_value_null();
        } else if (conv == MS_CONV_BOOL) {
            v->type = MS_TYPE_BOOL;
            v->i = lit;
        } else {
            err = MS_MALFORMED_BAD_TYPE;
        }
    }
    j->colerr[col] = err == MS_MALFORMED_MAX ? 0 : (uint8_t)(err + 1);
    return 0;
}

/* Column index of a member name, or -1. */
static long find_column(jp *j, ms_slice raw, int esc)
{
    ms_format *f = j->f;
    ms_slice name = raw;
    if (esc) {
        ms_buf_reset(&f->key);
        ms_buf_reserve(&f->key, raw.n);
        name.p = (const uint8_t *)f->key.data;
        name.n = decode_string(raw, (uint8_t *)f->key.data);
    }
    for (size_t c = 0; c < f->ncols; c++)
        if (f->name_len[c] == name.n && memcmp(f->schema->cols[c].name, name.p, name.n) == 0)
            return (long)c;
    return -1;
}

static int parse_object(jp *j)
{
    skip_ws(j);
    if (j->i == j->n || j->p[j->i] != '{')
        return -1;
    j->i++;
    skip_ws(j);
    if (j->i < j->n && j->p[j->i] == '}') {
        j->i++;
    } else {
        for (;;) {
            ms_slice raw;
            int esc;
            if (j->i == j->n || j->p[j->i] != '"' || scan_string(j, &raw, &esc) != 0)
                return -1;
            long col = find_column(j, raw, esc);
            skip_ws(j);
            if (j->i == j->n || j->p[j->i] != ':')
                return -1;
            j->i++;
            skip_ws(j);
            if ((col < 0 ? skip_value(j, 1) : column_value(j, (size_t)col)) != 0)
                return -1;
            skip_ws(j);
            if (j->i == j->n)
                return -1;
            if (j->p[j->i] == ',') {
                j->i++;
                skip_ws(j);
                continue;
            }
            if (j->p[j->i] != '}')
                return -1;
            j->i++;
            break;
        }
    }
    skip_ws(j);
    return j->i == j->n ? 0 : -1;
}

size_t ms_format__json(ms_format *f, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud)
{
    jp j = {f, p, n, 0, f->colerr};
    for (size_t c = 0; c < f->ncols; c++)
        f->row[c] = ms_value_null();
    memset(f->colerr, 0, f->ncols);
    if (parse_object(&j) != 0)
        return ms_format__bad(f, MS_MALFORMED_BAD_JSON);
    for (size_t c = 0; c < f->ncols; c++)
        if (f->colerr[c])
            return ms_format__bad(f, (enum ms_malformed)(f->colerr[c] - 1));
    return ms_format__emit(f, emit, ud);
}
