/* Fuzz the line splitter: the rows must not depend on the chunking.
 *
 * Input: byte 0 picks the format (lines, words, job_events CSV, JSON, a csv
 * with a checked header and ';', a csv with '\t' and quote "'") and, by its
 * top bit, whether the range starts at offset 0 (where a header is),
 * byte 1 the record limit (1..64 bytes, so over-long lines are common),
 * byte 2 a number k of cuts (0..15), then k two-byte cut positions, then the
 * text.  The text is run three ways:
 *   - one chunk;
 *   - cut at the fuzzer's positions (chunks of any size, empty ones too);
 *   - a plain reference: split at every '\n', one '\r' stripped, the bytes
 *     after the last '\n' as a last line, each line given straight to
 *     ms_format_line (so a header and quoted fields cut by a line break
 *     are the format's business, the same whatever the chunks);
 * and the three must give the same rows in the same order, the same
 * malformed counts and the same number of lines.  The carry never grows
 * past the record limit + 1. */
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "fuzz.h"
#include "parse/ms_format.h"
#include "parse/ms_lines.h"
#include "state/ms_table.h"

typedef struct acc {
    const ms_schema *schema;
    uint64_t rows, hash;
} acc;

static void on_row(void *ud, const ms_row *row)
{
    acc *a = ud;
    FUZZ_CHECK(row->ncols == ms_schema_width(a->schema));
    for (size_t i = 0; i < row->ncols; i++) {
        const ms_value *v = &row->cols[i];
        FUZZ_CHECK(v->type == MS_TYPE_NULL || v->type == ms_schema_column(a->schema, i)->type);
        uint64_t h = (uint64_t)v->type;
        if (v->type == MS_TYPE_STRING)
            h ^= ms_hash(v->s.p, v->s.n) << 3;
        else if (v->type == MS_TYPE_DOUBLE)
            h ^= ms_hash(&v->d, sizeof(v->d)) << 3;
        else if (v->type != MS_TYPE_NULL)
            h ^= ms_hash(&v->i, sizeof(v->i)) << 3;
        a->hash = a->hash * 1000003 + h;
    }
    a->rows++;
}

typedef struct run {
    acc a;
    uint64_t lines;
    uint64_t malformed[MS_MALFORMED_MAX];
} run;

static void finish(run *r, ms_format *f, uint64_t lines)
{
    r->lines = lines;
    for (int k = 0; k < MS_MALFORMED_MAX; k++)
        r->malformed[k] = ms_format_malformed(f, (enum ms_malformed)k);
    FUZZ_CHECK(ms_format_records(f) == lines);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void chunked(run *r, const ms_schema *s, const ms_format_opts *o, uint64_t start,
                    const uint8_t *text, size_t n, const size_t *cuts, size_t ncuts)
{
    char err[128];
    ms_format *f = ms_format_new(s, o, err, sizeof(err));
    FUZZ_CHECK(f != NULL);
    ms_lines l;
    ms_lines_init(&l, f);
    ms_lines_begin_range(&l, "fuzz.csv", start);
    r->a.schema = s;
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t at = i < ncuts ? cuts[i] : n;
        ms_lines_feed(&l, text + prev, at - prev, on_row, &r->a);
        FUZZ_CHECK(ms_lines_carry_capacity(&l) <= ms_format_max_record(f) + 1);
        for (int k = 0; k < MS_MALFORMED_MAX; k++)
            FUZZ_CHECK(l.base.malformed[k] == ms_format_malformed(f, (enum ms_malformed)k));
        prev = at;
    }
    ms_lines_end_file(&l, on_row, &r->a);
    finish(r, f, l.base.lines);
    ms_lines_free(&l);
    ms_format_free(f);
}

static void reference(run *r, const ms_schema *s, const ms_format_opts *o, uint64_t start,
                      const uint8_t *text, size_t n)
{
    char err[128];
    ms_format *f = ms_format_new(s, o, err, sizeof(err));
    FUZZ_CHECK(f != NULL);
    ms_format_begin_range(f, "fuzz.csv", start);
    r->a.schema = s;
    uint64_t lines = 0;
    size_t off = 0;
    while (off < n) {
        const uint8_t *nl = memchr(text + off, '\n', n - off);
        size_t len = nl ? (size_t)(nl - text - off) : n - off;
        size_t keep = len && text[off + len - 1] == '\r' ? len - 1 : len;
        ms_format_line(f, text + off, keep, NULL, on_row, &r->a);
        lines++;
        off += len + 1;
    }
    ms_format_end_range(f);
    finish(r, f, lines);
    ms_format_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_log_threshold = MS_LOG_ERROR; /* a bad header is logged: not once per input */
    if (size < 3)
        return 0;
    static const char *const builtin[] = {"lines", "words", "job_events"};
    unsigned pick = (data[0] & 0x7f) % 6;
    uint64_t start = data[0] & 0x80 ? 0 : 17;
    ms_schema *owned = NULL;
    const ms_schema *s;
    if (pick < 3) {
        s = ms_schema_builtin(builtin[pick]);
    } else {
        owned = ms_schema_new(pick == 3 ? MS_FORMAT_JSON : MS_FORMAT_CSV);
        ms_schema_add_column(owned, "a", MS_TYPE_STRING);
        ms_schema_add_column(owned, "b", MS_TYPE_INT);
        if (pick == 4) {
            owned->csv.header = owned->csv.check_header = 1;
            owned->csv.delimiter = ';';
        } else if (pick == 5) {
            ms_schema_add_column(owned, "c", MS_TYPE_STRING);
            owned->csv.delimiter = '\t';
            owned->csv.quote = '\'';
        }
        s = owned;
    }
    ms_format_opts o = {1 + data[1] % 64, 1 + data[1] / 64, NULL};
    size_t ncuts = data[2] % 16;
    data += 3;
    size -= 3;
    if (size < 2 * ncuts) {
        ms_schema_free(owned);
        return 0;
    }
    const uint8_t *text = data + 2 * ncuts;
    size_t n = size - 2 * ncuts;
    size_t cuts[16];
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = n ? ((size_t)data[2 * i] << 8 | data[2 * i + 1]) % (n + 1) : 0;
    qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

    run whole, parts, ref;
    memset(&whole, 0, sizeof(whole));
    memset(&parts, 0, sizeof(parts));
    memset(&ref, 0, sizeof(ref));
    chunked(&whole, s, &o, start, text, n, NULL, 0);
    chunked(&parts, s, &o, start, text, n, cuts, ncuts);
    reference(&ref, s, &o, start, text, n);
    FUZZ_CHECK(whole.a.rows == parts.a.rows && whole.a.hash == parts.a.hash);
    FUZZ_CHECK(whole.lines == parts.lines);
    FUZZ_CHECK(memcmp(whole.malformed, parts.malformed, sizeof(whole.malformed)) == 0);
    FUZZ_CHECK(whole.a.rows == ref.a.rows && whole.a.hash == ref.a.hash);
    FUZZ_CHECK(whole.lines == ref.lines);
    FUZZ_CHECK(memcmp(whole.malformed, ref.malformed, sizeof(whole.malformed)) == 0);
    ms_schema_free(owned);
    return 0;
}
