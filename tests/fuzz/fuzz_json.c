/* Fuzz the JSON format.
 *
 * Input: byte 0 picks the declared columns, the rest is records separated
 * by '\n'.  Invariants: never crash; every record is exactly one row or one
 * malformed count; rows have the schema's width and each value the column's
 * type or NULL; and the grammar's edges hold for every record:
 *   - JSON whitespace around a record changes nothing (same row, or the
 *     same reason);
 *   - a record that is a row, followed by one more byte that is not
 *     whitespace, is not a row (a record is exactly one object);
 *   - parsing the same record twice gives the same answer. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "parse/ms_format.h"
#include "state/ms_table.h"

typedef struct outcome {
    const ms_schema *schema;
    uint64_t rows;
    uint64_t hash; /* of the last row */
} outcome;

static uint64_t value_hash(const ms_value *v)
{
    uint64_t h = (uint64_t)v->type * 0x9e3779b97f4a7c15ull;
    switch (v->type) {
    case MS_TYPE_STRING:
        return h ^ ms_hash(v->s.p, v->s.n);
    case MS_TYPE_DOUBLE:
        return h ^ ms_hash(&v->d, sizeof(v->d));
    case MS_TYPE_NULL:
        return h;
    default:
        return h ^ ms_hash(&v->i, sizeof(v->i));
    }
}

static void on_row(void *ud, const ms_row *row)
{
    outcome *o = ud;
    FUZZ_CHECK(row->ncols == ms_schema_width(o->schema));
    uint64_t h = 0;
    for (size_t i = 0; i < row->ncols; i++) {
        const ms_value *v = &row->cols[i];
        FUZZ_CHECK(v->type == MS_TYPE_NULL || v->type == ms_schema_column(o->schema, i)->type);
        if (v->type == MS_TYPE_DOUBLE)
            FUZZ_CHECK(isfinite(v->d));
        if (v->type == MS_TYPE_BOOL)
            FUZZ_CHECK(v->i == 0 || v->i == 1);
        if (i >= o->schema->ncols)
            FUZZ_CHECK(v->type == MS_TYPE_NULL);
        h = h * 31 + value_hash(v);
    }
    o->hash = h;
    o->rows++;
}

/* What one record gave: a row (and its hash) or one malformed reason. */
typedef struct result {
    int row;
    uint64_t hash;
    int reason;
} result;

static result parse(ms_format *f, const ms_schema *s, const uint8_t *p, size_t n)
{
    uint64_t before[MS_MALFORMED_MAX];
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        before[r] = ms_format_malformed(f, (enum ms_malformed)r);
    outcome o = {s, 0, 0};
    size_t got = ms_format_record(f, p, n, NULL, on_row, &o);
    FUZZ_CHECK(got == o.rows && got <= 1);
    result res = {(int)got, o.hash, -1};
    int counted = 0;
    for (int r = 0; r < MS_MALFORMED_MAX; r++) {
        uint64_t d = ms_format_malformed(f, (enum ms_malformed)r) - before[r];
        FUZZ_CHECK(d <= 1);
        if (d) {
            res.reason = r;
            counted++;
        }
    }
    FUZZ_CHECK(counted + (int)got == 1);
    return res;
}

static int same(result a, result b)
{
    return a.row == b.row && (a.row ? a.hash == b.hash : a.reason == b.reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const names[] = {"a", "b", "c", "id", "name", "\xc3\xa9", "x y", ""};
    static const enum ms_type types[] = {MS_TYPE_INT, MS_TYPE_STRING, MS_TYPE_DOUBLE, MS_TYPE_BOOL,
                                         MS_TYPE_TIMESTAMP};
    ms_schema *s = ms_schema_new(MS_FORMAT_JSON);
    unsigned pick = data[0];
    /* Columns a, b, c, id, name always; some more by the first byte, with
     * types rotated by it. */
    for (size_t i = 0; i < 8; i++)
        if (i < 5 || (pick >> i) & 1)
            ms_schema_add_column(s, names[i], types[(i + pick) % 5]);
    char err[128];
    ms_format *f = ms_format_new(s, NULL, err, sizeof(err));
    FUZZ_CHECK(f != NULL);
    data++;
    size--;

    uint8_t *buf = malloc(size + 8);
    size_t off = 0, k = 0;
    while (off <= size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - data - off) : size - off;
        const uint8_t *p = data + off;
        result r1 = parse(f, s, p, n);
        k++;
        FUZZ_CHECK(same(r1, parse(f, s, p, n)));
        k++;
        if (n > 0) {
            /* Whitespace around: the same answer. */
            memcpy(buf, " \t", 2);
            memcpy(buf + 2, p, n);
            memcpy(buf + 2 + n, "\r\n ", 3);
            FUZZ_CHECK(same(r1, parse(f, s, buf, n + 5)));
            k++;
            /* One more non-whitespace byte: never a row. */
            buf[n] = (n & 1) ? '}' : '1';
            memcpy(buf, p, n);
            result r3 = parse(f, s, buf, n + 1);
            k++;
            FUZZ_CHECK(!(r1.row && r3.row));
        }
        if (!nl)
            break;
        off += n + 1;
    }
    FUZZ_CHECK(ms_format_records(f) == k);
    free(buf);
    ms_format_free(f);
    ms_schema_free(s);
    return 0;
}
