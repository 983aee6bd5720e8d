/* Fuzz the CSV formats (declared schemas and the cluster-trace tables).
 *
 * Input: byte 0 picks the schema (bits 0-2), the dialect of a declared one
 * (bits 3-4: default; ';' with quote "'"; '\t' without quoting; '|' with a
 * checked header) and whether records are lines of a file (bit 5:
 * ms_format_line from offset 0, so the header and quoted fields cut by a
 * line break come into play); byte 1 the record limit; the rest is records
 * separated by '\n'.  Invariants: never crash; every record is either
 * exactly one row or exactly one malformed count (as lines: the first line
 * with a header is neither, or one bad_header); rows have the schema's
 * width, each value the column's type or NULL, event types one of the nine
 * names, the metadata columns what was passed in; for the one-column
 * schemas the value agrees with the C library (strtoll, strtod) on the same
 * text; and the ';'/"'" dialect gives, record for record, the rows and
 * reasons the default dialect gives on the text with ';' and ',', "'" and
 * '"' swapped (the dialect changes which bytes are special, nothing else);
 * and a pruned twin (ms_format_opts.used: columns picked by byte 1's bits)
 * accepts every record the full format accepts, with the same values in
 * the columns it reads, and rejects none the full format accepts (a column
 * not read only has to be there). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <string.h>

#include "core/ms_log.h"
#include "fuzz.h"
#include "parse/ms_format.h"

#define MAXW 48

typedef struct check {
    const ms_schema *schema;
    const ms_value *meta;
    uint64_t rows;
    ms_value first;      /* column 0 of the last row */
    ms_value last[MAXW]; /* the last row (format columns; slices into the record) */
} check;

/* The pruned twin's row: the columns it reads equal the full row's. */
typedef struct pruned_row {
    const ms_schema *schema;
    const uint8_t *used;
    const ms_value *full; /* the full format's row of this record, or NULL */
    int rows;
} pruned_row;

static void on_pruned_row(void *ud, const ms_row *row)
{
    pruned_row *p = ud;
    p->rows++;
    for (size_t i = 0; i < p->schema->ncols && i < MAXW; i++) {
        const ms_value *v = &row->cols[i];
        if (!p->used[i]) {
            FUZZ_CHECK(v->type == MS_TYPE_NULL);
            continue;
        }
        if (!p->full)
            continue;
        const ms_value *w = &p->full[i];
        FUZZ_CHECK(v->type == w->type);
        if (v->type == MS_TYPE_STRING)
            FUZZ_CHECK(v->s.n == w->s.n && (!v->s.n || memcmp(v->s.p, w->s.p, v->s.n) == 0));
        else if (v->type == MS_TYPE_DOUBLE)
            FUZZ_CHECK(memcmp(&v->d, &w->d, sizeof(v->d)) == 0);
        else if (v->type != MS_TYPE_NULL)
            FUZZ_CHECK(v->i == w->i);
    }
}

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
    for (size_t i = 0; i < c->schema->ncols && i < MAXW; i++)
        c->last[i] = row->cols[i];
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

static uint64_t malformed_of(const ms_format *f, enum ms_malformed r)
{
    return ms_format_malformed(f, r);
}

/* ';' <-> ',' and '\'' <-> '"': the default dialect's view of a ';'/"'" record. */
static void swap_specials(const uint8_t *p, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        out[i] = c == ';' ? ',' : c == ',' ? ';' : c == '\'' ? '"' : c == '"' ? '\'' : c;
    }
}

typedef struct twin_row {
    uint64_t rows;
    ms_value first; /* column 0; a string is valid until the next record */
} twin_row;

static void on_twin_row(void *ud, const ms_row *row)
{
    twin_row *t = ud;
    t->first = row->cols[0];
    t->rows++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_log_threshold = MS_LOG_ERROR; /* a bad header is logged: not once per input */
    if (size < 2)
        return 0;
    static const enum ms_type one_col[] = {MS_TYPE_INT, MS_TYPE_DOUBLE, MS_TYPE_TIMESTAMP,
                                           MS_TYPE_BOOL, MS_TYPE_STRING};
    unsigned pick = data[0] % 8, dialect = (data[0] >> 3) & 3;
    int as_lines = (data[0] >> 5) & 1;
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
    if (owned && dialect == 1) {
        owned->csv.delimiter = ';';
        owned->csv.quote = '\'';
    } else if (owned && dialect == 2) {
        owned->csv.delimiter = '\t';
        owned->csv.quote = -1;
    } else if (owned && dialect == 3) {
        owned->csv.delimiter = '|';
        owned->csv.header = owned->csv.check_header = 1;
    }
    int plain = !owned || dialect == 0; /* the default dialect */
    ms_format_opts o = {data[1] < 128 ? 1 + data[1] : 0, 0, NULL};
    char err[128];
    ms_format *f = ms_format_new(schema, &o, err, sizeof(err));
    FUZZ_CHECK(f != NULL);
    /* the pruned twin: it reads the columns whose bit of byte 1 is set */
    uint8_t used[32];
    for (size_t i = 0; i < sizeof(used); i++)
        used[i] = (uint8_t)((data[1] >> (i % 8)) & 1);
    ms_format_opts po = o;
    po.used = used;
    ms_format *pruned = !as_lines && schema->ncols <= sizeof(used)
                            ? ms_format_new(schema, &po, err, sizeof(err))
                            : NULL;
    /* the default-dialect twin of the ';'/"'" dialect */
    ms_format *twin = NULL;
    ms_schema *twin_schema = NULL;
    uint8_t *swapped = NULL;
    if (owned && dialect == 1 && !as_lines) {
        twin_schema = ms_schema_new(MS_FORMAT_CSV);
        for (size_t i = 0; i < owned->ncols; i++)
            ms_schema_add_column(twin_schema, owned->cols[i].name, owned->cols[i].type);
        twin = ms_format_new(twin_schema, &o, err, sizeof(err));
        FUZZ_CHECK(twin != NULL);
        swapped = malloc(size ? size : 1);
        FUZZ_CHECK(swapped != NULL);
    }
    data += 2;
    size -= 2;

    static const uint8_t topic[] = "topic";
    ms_value meta[MS_META_NCOLS] = {
        [MS_META_TOPIC] = ms_value_str(topic, 5), [MS_META_PARTITION] = ms_value_int(1),
        [MS_META_OFFSET] = ms_value_int(2),       [MS_META_TIMESTAMP] = {.type = MS_TYPE_NULL},
        [MS_META_KEY] = ms_value_null(),
    };
    check c = {.schema = schema, .first = {.type = MS_TYPE_NULL}};
    size_t off = 0, k = 0;
    if (as_lines)
        ms_format_begin_range(f, "fuzz.csv", 0);
    while (off <= size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - data - off) : size - off;
        c.meta = k++ % 2 ? meta : NULL;
        uint64_t rows0 = c.rows, bad0 = total_malformed(f), hdr0 = ms_format_headers(f);
        uint64_t bh0 = malformed_of(f, MS_MALFORMED_BAD_HEADER), before[MS_MALFORMED_MAX];
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            before[r] = malformed_of(f, (enum ms_malformed)r);
        size_t got = as_lines ? ms_format_line(f, data + off, n, c.meta, on_row, &c)
                              : ms_format_record(f, data + off, n, c.meta, on_row, &c);
        uint64_t bad = total_malformed(f) - bad0, hdr = ms_format_headers(f) - hdr0;
        FUZZ_CHECK(got == c.rows - rows0);
        if (hdr) {
            /* the header: first line, no row, malformed only if it does not match */
            FUZZ_CHECK(as_lines && k == 1 && schema->csv.header && got == 0 && bad <= 1);
            FUZZ_CHECK(bad == malformed_of(f, MS_MALFORMED_BAD_HEADER) - bh0);
            if (schema->ncols == 1 && n == 3 && memcmp(data + off, " V ", 3) == 0)
                FUZZ_CHECK(bad == 0); /* names match ignoring case and blanks */
        } else {
            FUZZ_CHECK(got + bad == 1);
            FUZZ_CHECK(malformed_of(f, MS_MALFORMED_BAD_HEADER) == bh0);
        }
        if (as_lines && k == 1 && schema->csv.header && n <= ms_format_max_record(f))
            FUZZ_CHECK(hdr == 1);
        if (!as_lines && plain && schema->ncols == 1 && n <= ms_format_max_record(f))
            oracle(schema->cols[0].type, data + off, n, got == 1, &c.first);
        if (pruned) {
            pruned_row pr = {schema, used, c.rows > rows0 ? c.last : NULL, 0};
            size_t pg = ms_format_record(pruned, data + off, n, c.meta, on_pruned_row, &pr);
            FUZZ_CHECK(pg >= got); /* a record the full format accepts, it accepts too */
        }
        if (twin) {
            uint64_t fd[MS_MALFORMED_MAX], td[MS_MALFORMED_MAX];
            for (int r = 0; r < MS_MALFORMED_MAX; r++) {
                fd[r] = malformed_of(f, (enum ms_malformed)r) - before[r];
                td[r] = malformed_of(twin, (enum ms_malformed)r);
            }
            swap_specials(data + off, n, swapped);
            twin_row tr = {0, {.type = MS_TYPE_NULL}};
            size_t tg = ms_format_record(twin, swapped, n, NULL, on_twin_row, &tr);
            FUZZ_CHECK(tg == got);
            for (int r = 0; r < MS_MALFORMED_MAX; r++)
                FUZZ_CHECK(malformed_of(twin, (enum ms_malformed)r) - td[r] == fd[r]);
            if (got) {
                const ms_value *a = &c.first, *b = &tr.first;
                FUZZ_CHECK(a->type == b->type);
                if (a->type == MS_TYPE_STRING) {
                    FUZZ_CHECK(a->s.n == b->s.n);
                    uint8_t *back = malloc(b->s.n ? b->s.n : 1);
                    FUZZ_CHECK(back != NULL);
                    swap_specials(b->s.p, b->s.n, back);
                    FUZZ_CHECK(b->s.n == 0 || memcmp(back, a->s.p, a->s.n) == 0);
                    free(back);
                } else if (a->type == MS_TYPE_DOUBLE) {
                    FUZZ_CHECK(memcmp(&a->d, &b->d, sizeof(a->d)) == 0);
                } else if (a->type != MS_TYPE_NULL) {
                    FUZZ_CHECK(a->i == b->i);
                }
            }
        }
        if (!nl)
            break;
        off += n + 1;
    }
    if (as_lines)
        ms_format_end_range(f);
    FUZZ_CHECK(ms_format_records(f) == k);
    ms_format_free(f);
    ms_format_free(twin);
    ms_format_free(pruned);
    ms_schema_free(twin_schema);
    free(swapped);
    ms_schema_free(owned);
    return 0;
}
