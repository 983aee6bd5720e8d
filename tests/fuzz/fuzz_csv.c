/* Fuzz the CSV formats (declared schemas and the cluster-trace tables).
 *
 * Input: byte 0 picks the schema, byte 1 the record limit, the rest is
 * records separated by '\n'.  Invariants: never crash; every record is
 * either exactly one row or exactly one malformed count; rows have the
 * schema's width, each value the column's type or NULL, event types one of
 * the nine names, the metadata columns what was passed in; and for the
 * one-column schemas the value agrees with the C library (strtoll, strtod)
 * on the same text. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <string.h>

#include "fuzz.h"
#include "parse/ms_format.h"

typedef struct check {
    const ms_schema *schema;
    const ms_value *meta;
    uint64_t rows;
    ms_value first; /* column 0 of the last row */
} check;

static void on_row(void *ud, const ms_row *row)
{
    check *c = ud;
    FUZZ_CHECK(row->ncols == ms_schema_width(c->schema));
    for (size_t i = 0; i < row->ncols; i++) {
        const ms_value *v = &row->cols[i];
        const ms_column *col = ms_schema_column(c->schema, i);
        FUZZ_CHECK(v->type == MS_TYPE_NULL || v->type == col->type);
        if (v->type == MS_TYPE_STRING)
            FUZZ_CHECK(v->s.n == 0 || v->s.p != NULL);
        if (v->type == MS_TYPE_DOUBLE)
            FUZZ_CHECK(isfinite(v->d));
        if (v->type == MS_TYPE_BOOL)
            FUZZ_CHECK(v->i == 0 || v->i == 1);
        if (i < c->schema->ncols && strcmp(col->name, "event_type") == 0 &&
            v->type == MS_TYPE_STRING) {
            int found = 0;
            for (int t = 0; t < MS_TRACE_EVENT_TYPES; t++)
                found |= strlen(ms_trace_event_name(t)) == v->s.n &&
                         memcmp(ms_trace_event_name(t), v->s.p, v->s.n) == 0;
            FUZZ_CHECK(found);
        }
    }
    for (size_t k = 0; k < MS_META_NCOLS; k++) {
        const ms_value *v = &row->cols[c->schema->ncols + k];
        if (c->meta)
            FUZZ_CHECK(v->type == c->meta[k].type && v->i == c->meta[k].i);
        else
            FUZZ_CHECK(v->type == MS_TYPE_NULL);
    }
    c->first = row->cols[0];
    c->rows++;
}

static uint64_t total_malformed(const ms_format *f)
{
    uint64_t t = 0;
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        t += ms_format_malformed(f, (enum ms_malformed)r);
    return t;
}

/* One-column schemas: the field is the whole record when it has no quote
 * and no comma; compare with the C library. */
static void oracle(enum ms_type t, const uint8_t *p, size_t n, int emitted, const ms_value *v)
{
    char s[80];
    if (n == 0 || n >= sizeof(s) || memchr(p, '"', n) || memchr(p, ',', n))
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    int plain = 1; /* only characters of a decimal number */
    for (size_t i = 0; i < n; i++)
        plain &= strchr("0123456789+-.eE", s[i]) != NULL && s[i] != '\0';
    char *end;
    errno = 0;
    if (t == MS_TYPE_INT && plain) {
        long long x = strtoll(s, &end, 10);
        int ok = end != s && *end == '\0' && errno == 0;
        FUZZ_CHECK(ok == emitted);
        if (emitted)
            FUZZ_CHECK(v->type == MS_TYPE_INT && v->i == x);
    } else if (t == MS_TYPE_DOUBLE && plain) {
        double x = strtod(s, &end);
        int ok = *end == '\0' && isfinite(x);
        FUZZ_CHECK(ok == emitted);
        if (emitted)
            FUZZ_CHECK(v->type == MS_TYPE_DOUBLE && memcmp(&x, &v->d, sizeof(x)) == 0);
    } else if (t == MS_TYPE_TIMESTAMP && emitted && n >= 10 && s[4] == '-') {
        /* A date parsed back from the microseconds is the date written. */
        int64_t us = v->i, secs = us / 1000000 - (us % 1000000 < 0);
        int has_offset = n > 19 && (strchr(s + 19, '+') || strchr(s + 19, '-'));
        if (!has_offset) {
            time_t tt = (time_t)secs;
            struct tm tm;
            FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL);
            char d[48];
            snprintf(d, sizeof(d), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
            FUZZ_CHECK(memcmp(d, s, 10) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const enum ms_type one_col[] = {MS_TYPE_INT, MS_TYPE_DOUBLE, MS_TYPE_TIMESTAMP,
                                           MS_TYPE_BOOL, MS_TYPE_STRING};
    unsigned pick = data[0] % 8;
    ms_schema *owned = NULL;
    const ms_schema *schema;
    if (pick == 0) {
        schema = ms_schema_builtin("task_events");
    } else if (pick == 1) {
        schema = ms_schema_builtin("job_events");
    } else if (pick == 2) {
        owned = ms_schema_new(MS_FORMAT_CSV);
        ms_schema_add_column(owned, "n", MS_TYPE_INT);
        ms_schema_add_column(owned, "x", MS_TYPE_DOUBLE);
        ms_schema_add_column(owned, "s", MS_TYPE_STRING);
        ms_schema_add_column(owned, "b", MS_TYPE_BOOL);
        ms_schema_add_column(owned, "t", MS_TYPE_TIMESTAMP);
        schema = owned;
    } else {
        owned = ms_schema_new(MS_FORMAT_CSV);
        ms_schema_add_column(owned, "v", one_col[(pick - 3) % 5]);
        schema = owned;
    }
    ms_format_opts o = {data[1] < 128 ? 1 + data[1] : 0, 0};
    char err[128];
    ms_format *f = ms_format_new(schema, &o, err, sizeof(err));
    FUZZ_CHECK(f != NULL);
    data += 2;
    size -= 2;

    static const uint8_t topic[] = "topic";
    ms_value meta[MS_META_NCOLS] = {
        [MS_META_TOPIC] = ms_value_str(topic, 5), [MS_META_PARTITION] = ms_value_int(1),
        [MS_META_OFFSET] = ms_value_int(2),       [MS_META_TIMESTAMP] = {.type = MS_TYPE_NULL},
        [MS_META_KEY] = ms_value_null(),
    };
    check c = {schema, NULL, 0, {.type = MS_TYPE_NULL}};
    size_t off = 0, k = 0;
    while (off <= size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - data - off) : size - off;
        c.meta = k++ % 2 ? meta : NULL;
        uint64_t rows0 = c.rows, bad0 = total_malformed(f);
        size_t got = ms_format_record(f, data + off, n, c.meta, on_row, &c);
        uint64_t bad = total_malformed(f) - bad0;
        FUZZ_CHECK(got == c.rows - rows0);
        FUZZ_CHECK(got + bad == 1);
        if (schema->ncols == 1 && n <= ms_format_max_record(f))
            oracle(schema->cols[0].type, data + off, n, got == 1, &c.first);
        if (!nl)
            break;
        off += n + 1;
    }
    FUZZ_CHECK(ms_format_records(f) == k);
    ms_format_free(f);
    ms_schema_free(owned);
    return 0;
}
