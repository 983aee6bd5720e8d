/*
 * Source formats (lines, words, csv, task_events/job_events, json), their
 * scalar conversions, and the line splitter.
 *
 * Rows are rendered as text ("a|NULL|1.5", one row per line) so each case
 * states its expected output plainly; the collector also checks every row
 * has the schema's width and every value the column's type (or NULL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/ms_buf.h"
#include "parse/ms_format.h"
#include "parse/ms_lines.h"

/* ------------------------------------------------------------ collecting */

typedef struct collected {
    const ms_schema *schema;
    ms_buf out; /* rendered rows, '\n' after each */
    size_t rows;
    int with_meta; /* render the metadata columns too */
} collected;

static void render_value(ms_buf *b, const ms_value *v)
{
    switch (v->type) {
    case MS_TYPE_NULL:
        ms_buf_puts(b, "NULL");
        break;
    case MS_TYPE_BOOL:
        ms_buf_puts(b, v->i ? "true" : "false");
        break;
    case MS_TYPE_INT:
        ms_buf_printf(b, "%lld", (long long)v->i);
        break;
    case MS_TYPE_TIMESTAMP:
        ms_buf_printf(b, "t%lld", (long long)v->i);
        break;
    case MS_TYPE_DOUBLE:
        ms_buf_printf(b, "%.17g", v->d);
        break;
    case MS_TYPE_STRING:
        for (size_t i = 0; i < v->s.n; i++) {
            uint8_t c = v->s.p[i];
            if (c >= 0x20 && c < 0x7f && c != '\\')
                ms_buf_putc(b, (char)c);
            else
                ms_buf_printf(b, "\\x%02x", c);
        }
        break;
    default:
        fail_msg("value of unknown type %d", (int)v->type);
    }
}

static void collect(void *ud, const ms_row *row)
{
    collected *c = ud;
    assert_int_equal(row->ncols, ms_schema_width(c->schema));
    for (size_t i = 0; i < row->ncols; i++) {
        const ms_column *col = ms_schema_column(c->schema, i);
        if (row->cols[i].type != MS_TYPE_NULL && row->cols[i].type != col->type)
            fail_msg("column %s holds a %s, not a %s", col->name, ms_type_name(row->cols[i].type),
                     ms_type_name(col->type));
    }
    size_t show = c->with_meta ? row->ncols : c->schema->ncols;
    for (size_t i = 0; i < show; i++) {
        if (i)
            ms_buf_putc(&c->out, '|');
        render_value(&c->out, &row->cols[i]);
    }
    ms_buf_putc(&c->out, '\n');
    c->rows++;
}

static void coll_init(collected *c, const ms_schema *s)
{
    memset(c, 0, sizeof(*c));
    c->schema = s;
    ms_buf_reset(&c->out);
    ms_buf_puts(&c->out, ""); /* data is never NULL */
}

static ms_format *new_format(const ms_schema *s, size_t max_record, size_t max_word)
{
    char err[256] = "";
    ms_format_opts o = {max_record, max_word, NULL};
    ms_format *f = ms_format_new(s, &o, err, sizeof(err));
    if (!f)
        fail_msg("ms_format_new: %s", err);
    return f;
}

/* Parses one record (a C string) and returns its rendered rows (static). */
static const char *rec(ms_format *f, const char *text)
{
    static collected c;
    ms_buf_free(&c.out);
    coll_init(&c, ms_format_schema(f));
    size_t rows = ms_format_record(f, (const uint8_t *)text, strlen(text), NULL, collect, &c);
    assert_int_equal(rows, c.rows);
    return c.out.data;
}

/* The one reason counted since *before (a snapshot), or -1 if none. */
typedef struct counts {
    uint64_t m[MS_MALFORMED_MAX];
} counts;

static counts snap(const ms_format *f)
{
    counts c;
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        c.m[r] = ms_format_malformed(f, (enum ms_malformed)r);
    return c;
}

/* Parses text, expects no row and exactly one count under reason. */
static void expect_bad(ms_format *f, const char *text, size_t n, enum ms_malformed reason)
{
    counts before = snap(f);
    collected c;
    coll_init(&c, ms_format_schema(f));
    size_t rows = ms_format_record(f, (const uint8_t *)text, n, NULL, collect, &c);
    counts after = snap(f);
    if (rows != 0)
        fail_msg("record \"%.*s\" gave a row %s, expected %s", (int)n, text, c.out.data,
                 ms_malformed_name(reason));
    for (int r = 0; r < MS_MALFORMED_MAX; r++) {
        uint64_t d = after.m[r] - before.m[r];
        if (d != (r == (int)reason))
            fail_msg("record \"%.*s\": %s counted %llu times, expected %s", (int)n, text,
                     ms_malformed_name((enum ms_malformed)r), (unsigned long long)d,
                     ms_malformed_name(reason));
    }
    ms_buf_free(&c.out);
}
#define BAD(f, s, r) expect_bad((f), (s), strlen(s), (r))

static void expect_row(ms_format *f, const char *text, const char *rendered)
{
    counts before = snap(f);
    const char *got = rec(f, text);
    counts after = snap(f);
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        if (after.m[r] != before.m[r])
            fail_msg("record \"%s\" counted as %s, expected the row %s", text,
                     ms_malformed_name((enum ms_malformed)r), rendered);
    if (strcmp(got, rendered) != 0)
        fail_msg("record \"%s\":\n  got      %s  expected %s", text, got, rendered);
}
#define ROW(f, s, r) expect_row((f), (s), r "\n")

/* ----------------------------------------------------------------- lines */

static void test_lines_whole_record(void **state)
{
    (void)state;
    ms_format *f = new_format(ms_schema_builtin("lines"), 22, 0);
    ROW(f, "hello spark  streaming", "hello spark  streaming");
    ROW(f, "", "");            /* empty lines are rows, as in Spark's text source */
    ROW(f, " \t ", " \\x09 "); /* whitespace kept */
    ROW(f, "0123456789abcdefghijkl", "0123456789abcdefghijkl"); /* exactly the limit */
    BAD(f, "0123456789abcdefghijklm", MS_MALFORMED_LINE_TOO_LONG);
    /* Bytes are kept as they are, NUL included. */
    collected c;
    coll_init(&c, ms_format_schema(f));
    assert_int_equal(ms_format_record(f, (const uint8_t *)"a\0b\xff", 4, NULL, collect, &c), 1);
    assert_string_equal(c.out.data, "a\\x00b\\xff\n");
    assert_int_equal(ms_format_records(f), 6);
    ms_buf_free(&c.out);
    ms_format_free(f);
}

static void test_metadata_columns(void **state)
{
    (void)state;
    ms_format *f = new_format(ms_schema_builtin("lines"), 0, 0);
    ms_value meta[MS_META_NCOLS] = {
        [MS_META_TOPIC] = ms_value_str((const uint8_t *)"task-events", 11),
        [MS_META_PARTITION] = ms_value_int(3),
        [MS_META_OFFSET] = ms_value_int(12345),
        [MS_META_TIMESTAMP] = {.type = MS_TYPE_TIMESTAMP, .i = 1700000000000000},
        [MS_META_KEY] = ms_value_str((const uint8_t *)"job-7", 5),
    };
    collected c;
    coll_init(&c, ms_format_schema(f));
    c.with_meta = 1;
    ms_format_record(f, (const uint8_t *)"v", 1, meta, collect, &c);
    assert_string_equal(c.out.data, "v|task-events|3|12345|t1700000000000000|job-7\n");
    /* Without meta the columns are NULL again, not the previous record's. */
    ms_format_record(f, (const uint8_t *)"w", 1, NULL, collect, &c);
    assert_string_equal(c.out.data, "v|task-events|3|12345|t1700000000000000|job-7\n"
                                    "w|NULL|NULL|NULL|NULL|NULL\n");
    /* A key-less Kafka message: its key column is NULL. */
    meta[MS_META_KEY] = ms_value_null();
    ms_format_record(f, (const uint8_t *)"x", 1, meta, collect, &c);
    assert_non_null(strstr(c.out.data, "x|task-events|3|12345|t1700000000000000|NULL\n"));
    ms_buf_free(&c.out);
    ms_format_free(f);
}

/* ----------------------------------------------------------------- words */

static void test_words(void **state)
{
    (void)state;
    ms_format *f = new_format(ms_schema_builtin("words"), 0, 5);
    ROW(f, "  to be\tor\r\nnot ", "to\nbe\nor\nnot");
    /* Over-long words are dropped and counted; the others still come. */
    assert_string_equal(rec(f, "short toolong tiny"), "short\ntiny\n");
    assert_int_equal(ms_format_malformed(f, MS_MALFORMED_WORD_TOO_LONG), 1);
    /* An empty message has no word and is not malformed. */
    assert_string_equal(rec(f, ""), "");
    assert_string_equal(rec(f, " \n "), "");
    assert_int_equal(ms_format_malformed(f, MS_MALFORMED_EMPTY), 0);
    assert_int_equal(ms_format_records(f), 4);
    ms_format_free(f);
}

/* ------------------------------------------------------------------- csv */

static ms_schema *csv_schema(void)
{
    ms_schema *s = ms_schema_new(MS_FORMAT_CSV);
    ms_schema_add_column(s, "n", MS_TYPE_INT);
    ms_schema_add_column(s, "x", MS_TYPE_DOUBLE);
    ms_schema_add_column(s, "s", MS_TYPE_STRING);
    ms_schema_add_column(s, "b", MS_TYPE_BOOL);
    ms_schema_add_column(s, "t", MS_TYPE_TIMESTAMP);
    return s;
}

static void test_csv_types_and_nulls(void **state)
{
    (void)state;
    ms_schema *s = csv_schema();
    ms_format *f = new_format(s, 0, 0);
    ROW(f, "42,1.5,hello,true,1000", "42|1.5|hello|true|t1000");
    ROW(f, "-7,-0.25e-3,,FALSE,-5", "-7|-0.00025000000000000001||false|t-5");
    /* Empty fields: NULL except for STRING, which is an empty string. */
    ROW(f, ",,,,", "NULL|NULL||NULL|NULL");
    ROW(f, "+1,.5,x,1,0", "1|0.5|x|true|t0");
    ROW(f, "0,5.,x,0,1", "0|5|x|false|t1");
    ROW(f, "9223372036854775807,1e308,x,True,1", "9223372036854775807|1e+308|x|true|t1");
    ROW(f, "-9223372036854775808,2.5E+2,x,tRUE,1", "-9223372036854775808|250|x|true|t1");
    ROW(f, "1,1,x,1,2011-05-01T19:00:00Z", "1|1|x|true|t1304276400000000");
    assert_int_equal(ms_format_records(f), 8);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    ms_schema *s = csv_schema();
    ms_format *f = new_format(s, 0, 0);
    ROW(f, "1,2,\"a,b\",true,3", "1|2|a,b|true|t3");
    ROW(f, "1,2,\"say \"\"hi\"\"\",true,3", "1|2|say \"hi\"|true|t3");
    ROW(f, "1,2,\"\"\"\",true,3", "1|2|\"|true|t3");
    ROW(f, "1,2,\"\",true,3", "1|2||true|t3");
    /* Quoted numbers convert like unquoted ones; a quoted empty is NULL. */
    ROW(f, "\"12\",\"2.5\",x,\"true\",\"\"", "12|2.5|x|true|NULL");
    /* Several escaped fields in one record keep their own bytes. */
    ROW(f, "1,2,\"a\"\"b,c\"\"d\",true,3", "1|2|a\"b,c\"d|true|t3");
    /* A quote inside an unquoted field is an ordinary byte. */
    ROW(f, "1,2,ab\"c,true,3", "1|2|ab\"c|true|t3");
    BAD(f, "1,2,\"abc,true,3", MS_MALFORMED_BAD_VALUE);    /* never closed */
    BAD(f, "1,2,\"ab\"c,true,3", MS_MALFORMED_BAD_VALUE);  /* text after the quote */
    BAD(f, "1,2,\"a\"\"b,true,3", MS_MALFORMED_BAD_VALUE); /* closed by nothing */
    BAD(f, "1,2,x,true,\"3", MS_MALFORMED_BAD_VALUE);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_csv_malformed(void **state)
{
    (void)state;
    ms_schema *s = csv_schema();
    ms_format *f = new_format(s, 64, 0);
    BAD(f, "1,2,x,true", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "1,2,x,true,3,", MS_MALFORMED_COLUMN_COUNT); /* a trailing comma is a field */
    BAD(f, "1,2,x,true,3,4", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "1", MS_MALFORMED_COLUMN_COUNT);
    /* The count wins over bad values. */
    BAD(f, "zz,2,x,true", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "", MS_MALFORMED_EMPTY);
    expect_bad(f, "1,2,x\0y,true,3", 14, MS_MALFORMED_BINARY);
    BAD(f, "1,2,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,true,3",
        MS_MALFORMED_LINE_TOO_LONG);
    /* BIGINT */
    BAD(f, "9223372036854775808,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "-9223372036854775809,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "99999999999999999999999,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "12a,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1.0,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, " 1,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "-,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "0x10,2,x,true,3", MS_MALFORMED_BAD_NUMBER);
    /* DOUBLE */
    BAD(f, "1,0x1p3,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,inf,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,nan,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,1e309,x,true,3", MS_MALFORMED_BAD_NUMBER); /* beyond the double range */
    BAD(f, "1,1e,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,.,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,1.5 ,x,true,3", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,1,5,x,true,3", MS_MALFORMED_COLUMN_COUNT);
    /* BOOLEAN */
    BAD(f, "1,2,x,yes,3", MS_MALFORMED_BAD_VALUE);
    BAD(f, "1,2,x,2,3", MS_MALFORMED_BAD_VALUE);
    /* TIMESTAMP */
    BAD(f, "1,2,x,true,yesterday", MS_MALFORMED_BAD_NUMBER);
    /* The first bad field names the reason. */
    BAD(f, "1,2,x,maybe,never", MS_MALFORMED_BAD_VALUE);
    BAD(f, "x,2,x,maybe,3", MS_MALFORMED_BAD_NUMBER);
    /* Rejections never leak into later rows. */
    ROW(f, "1,2,x,true,3", "1|2|x|true|t3");
    assert_int_equal(ms_format_records(f), 30);
    ms_format_free(f);
    ms_schema_free(s);
}

/* ------------------------------------------------------------ timestamps */

static int64_t ts_oracle(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000000;
}

static int64_t ts(const char *s)
{
    int64_t v;
    if (ms_format_parse_timestamp((const uint8_t *)s, strlen(s), &v) != 0)
        fail_msg("timestamp \"%s\" rejected", s);
    return v;
}

static int ts_ok(const char *s)
{
    int64_t v;
    return ms_format_parse_timestamp((const uint8_t *)s, strlen(s), &v) == 0;
}

static void test_timestamps(void **state)
{
    (void)state;
    assert_int_equal(ts("0"), 0);
    assert_int_equal(ts("9223372036854775807"), INT64_MAX); /* trace: "after the trace" */
    assert_int_equal(ts("-1"), -1);
    assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(ts("2011-05-01T19:00:00Z"), ts_oracle(2011, 5, 1, 19, 0, 0));
    assert_int_equal(ts("2024-02-29T12:34:56.123456Z"),
                     ts_oracle(2024, 2, 29, 12, 34, 56) + 123456);
    assert_int_equal(ts("2024-02-29 12:34:56.5"), ts_oracle(2024, 2, 29, 12, 34, 56) + 500000);
    assert_int_equal(ts("2024-02-29T12:34:56.123456789Z"),
                     ts_oracle(2024, 2, 29, 12, 34, 56) + 123456); /* truncated */
    assert_int_equal(ts("2000-01-01"), ts_oracle(2000, 1, 1, 0, 0, 0));
    assert_int_equal(ts("1969-12-31T23:59:59.25Z"), -750000);
    assert_int_equal(ts("1900-03-01T00:00:00Z"), ts_oracle(1900, 3, 1, 0, 0, 0));
    assert_int_equal(ts("2024-06-01T12:00:00+02:00"), ts_oracle(2024, 6, 1, 10, 0, 0));
    assert_int_equal(ts("2024-06-01T12:00:00-05:30"), ts_oracle(2024, 6, 1, 17, 30, 0));
    /* Every day of a few years, against the C library. */
    for (int y = 1968; y <= 2104; y += 17)
        for (int mo = 1; mo <= 12; mo++)
            for (int d = 1; d <= 28; d += 9) {
                char b[40];
                snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, mo, d, d + 1);
                assert_int_equal(ts(b), ts_oracle(y, mo, d, mo, d, d + 1));
            }
    assert_false(ts_ok(""));
    assert_false(ts_ok("2023-02-29T00:00:00Z")); /* not a leap year */
    assert_false(ts_ok("1900-02-29"));
    assert_false(ts_ok("2023-13-01T00:00:00Z"));
    assert_false(ts_ok("2023-00-01T00:00:00Z"));
    assert_false(ts_ok("2023-04-31T00:00:00Z"));
    assert_false(ts_ok("2023-01-01T24:00:00Z"));
    assert_false(ts_ok("2023-01-01T00:60:00Z"));
    assert_false(ts_ok("2023-01-01T00:00:60Z"));
    assert_false(ts_ok("2023-01-01T00:00Z"));
    assert_false(ts_ok("2023-01-01T00:00:00."));
    assert_false(ts_ok("2023-01-01T00:00:00.1234567890Z"));
    assert_false(ts_ok("2023-01-01T00:00:00ZZ"));
    assert_false(ts_ok("2023-01-01T00:00:00+2"));
    assert_false(ts_ok("2023-1-01"));
    assert_false(ts_ok("20230101"
                       "x"));
    assert_false(ts_ok("12:00:00"));
}

/* ------------------------------------------------------------- doubles */

static void check_double(const char *s)
{
    double ours;
    if (ms_format_parse_double((const uint8_t *)s, strlen(s), &ours) != 0)
        fail_msg("double \"%s\" rejected", s);
    double ref = strtod(s, NULL);
    if (memcmp(&ours, &ref, sizeof(ref)) != 0)
        fail_msg("double \"%s\": %.17g, the C library says %.17g", s, ours, ref);
}

static void test_doubles_correctly_rounded(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "0",
        "-0",
        "0.0",
        "1",
        "0.1",
        "0.2",
        "0.3",
        "0.03125",
        "0.02499",
        "0.07959",
        "0.0003862",
        "3.14159",
        "123456789012345",
        "9007199254740993",
        "9007199254740992",
        "1e22",
        "1e23",
        "1e-22",
        "1e-23",
        "12345678901234567890",
        "1234567890123456789012345",
        "0.1000000000000000055511151231257827",
        "2.2250738585072014e-308",
        "4.9e-324",
        "1e-400",
        "1.7976931348623157e308",
        "00000000000000000000000000001.5",
        "0.000000000000000000000000000000000000001",
        "123.456e-7",
        "+.5",
        "5.",
        "-5.E3",
        "7.0e-10",
        "1.00000000000000011102230246251565404236316680908203125",
        "100000000000000000000000000000000000000000000000000000000000000000000000e-70"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_double(cases[i]);
    /* Pseudo-random numbers of every shape, against the C library. */
    uint64_t x = 88172645463325252ull;
    for (int k = 0; k < 20000; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char b[64];
        int digits = 1 + (int)(x % 20), frac = (int)((x >> 8) % (uint64_t)(digits + 1));
        int e = (int)((x >> 16) % 80) - 40;
        uint64_t m = x >> 20;
        int len = snprintf(b, sizeof(b), "%llu", (unsigned long long)m);
        if (len > digits)
            len = digits;
        b[len] = '\0';
        if (frac && frac < len) {
            memmove(b + len - frac + 1, b + len - frac, (size_t)frac + 1);
            b[len - frac] = '.';
        }
        if (k % 3 == 0)
            snprintf(b + strlen(b), sizeof(b) - strlen(b), "e%d", e);
        check_double(b);
    }
    double d;
    assert_int_equal(ms_format_parse_double((const uint8_t *)"1e309", 5, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"-1e309", 6, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"", 0, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"+", 1, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"1e+", 3, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"1..2", 4, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"--1", 3, &d), -1);
    assert_int_equal(ms_format_parse_double((const uint8_t *)"infinity", 8, &d), -1);
}

/* ----------------------------------------------------------------- trace */

static void test_task_events(void **state)
{
    (void)state;
    ms_format *f = new_format(ms_schema_builtin("task_events"), 0, 0);
    ROW(f,
        "5611824441,,6251812952,1761,1306108,4,fJYeclskJqPWsAT6TX/r9X5OiIZpSEb2PBGliYAOMxM=,0,"
        "2,0.02499,0.07959,0.0003862,0",
        "t5611824441|NULL|6251812952|1761|1306108|FINISH|"
        "fJYeclskJqPWsAT6TX/r9X5OiIZpSEb2PBGliYAOMxM=|0|2|0.024989999999999998|"
        "0.079589999999999994|0.00038620000000000001|0");
    /* Time 0 ("before the trace") and 2^63-1 ("after it") are kept; a
     * submitted task has no machine yet. */
    ROW(f, "0,,3418309,0,,0,u=,3,9,0.125,0.07446,0.0004244,0",
        "t0|NULL|3418309|0|NULL|SUBMIT|u=|3|9|0.125|0.074459999999999998|"
        "0.00042440000000000002|0");
    ROW(f, "9223372036854775807,1,1,1,1,8,u,1,1,,,,",
        "t9223372036854775807|1|1|1|1|UPDATE_RUNNING|u|1|1|NULL|NULL|NULL|NULL");
    static const char *const names[] = {"SUBMIT", "SCHEDULE",       "EVICT",
                                        "FAIL",   "FINISH",         "KILL",
                                        "LOST",   "UPDATE_PENDING", "UPDATE_RUNNING"};
    for (int t = 0; t < 9; t++) {
        char line[128], want[128];
        snprintf(line, sizeof(line), "1,,2,3,4,%d,u,0,0,0,0,0,0", t);
        snprintf(want, sizeof(want), "t1|NULL|2|3|4|%s|u|0|0|0|0|0|0\n", names[t]);
        assert_string_equal(rec(f, line), want);
        assert_string_equal(ms_trace_event_name(t), names[t]);
    }
    BAD(f, "1,,2,3,4,9,u,0,0,0,0,0,0", MS_MALFORMED_BAD_VALUE);
    BAD(f, "1,,2,3,4,-1,u,0,0,0,0,0,0", MS_MALFORMED_BAD_VALUE);
    BAD(f, "1,,2,3,4,SUBMIT,u,0,0,0,0,0,0", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,,2,3,4,4,u,0,0,0,0,0", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "x,,2,3,4,4,u,0,0,0,0,0,0", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "1,,2,3,4,4,u,0,0,zero,0,0,0", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "", MS_MALFORMED_EMPTY);
    ms_format_free(f);
}

static void test_job_events(void **state)
{
    (void)state;
    ms_format *f = new_format(ms_schema_builtin("job_events"), 0, 0);
    ROW(f,
        "0,,3418309,0,70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=,3,"
        "IHgtoxEBuUTHNbUeVs4hzptMY4n8rZKLbZg+Jh5fNG4=,wAmgn2H74cdoMuSFwJF3NaUEaudVBTZ0/HaNZBwIpEQ=",
        "t0|NULL|3418309|SUBMIT|70s3v5qRyCO/1PCdI6fVXnrW8FU/w+5CKRSa72xgcIo=|3|"
        "IHgtoxEBuUTHNbUeVs4hzptMY4n8rZKLbZg+Jh5fNG4=|wAmgn2H74cdoMuSFwJF3NaUEaudVBTZ0/"
        "HaNZBwIpEQ=");
    /* Empty user and job names are empty strings, not NULL. */
    ROW(f, "600000000,,1,5,,2,,", "t600000000|NULL|1|KILL||2||");
    BAD(f, "1,,2,3,4,4,u,0,0,0,0,0,0", MS_MALFORMED_COLUMN_COUNT); /* a task_events line */
    BAD(f, "1,,2,12,u,0,a,b", MS_MALFORMED_BAD_VALUE);
    ms_format_free(f);
}

/* ------------------------------------------------------------------ json */

static ms_schema *json_schema(void)
{
    ms_schema *s = ms_schema_new(MS_FORMAT_JSON);
    ms_schema_add_column(s, "id", MS_TYPE_INT);
    ms_schema_add_column(s, "name", MS_TYPE_STRING);
    ms_schema_add_column(s, "score", MS_TYPE_DOUBLE);
    ms_schema_add_column(s, "ok", MS_TYPE_BOOL);
    ms_schema_add_column(s, "ts", MS_TYPE_TIMESTAMP);
    return s;
}

static void test_json_members(void **state)
{
    (void)state;
    ms_schema *s = json_schema();
    ms_format *f = new_format(s, 0, 0);
    ROW(f, "{\"id\":1,\"name\":\"a\",\"score\":2.5,\"ok\":true,\"ts\":1000}", "1|a|2.5|true|t1000");
    /* Any order, whitespace anywhere, missing and null members are NULL. */
    ROW(f, " \t{ \"ok\" : false ,\r\n\"id\": -3 } ", "-3|NULL|NULL|false|NULL");
    ROW(f, "{\"id\":null,\"name\":null,\"score\":null,\"ok\":null,\"ts\":null}",
        "NULL|NULL|NULL|NULL|NULL");
    ROW(f, "{}", "NULL|NULL|NULL|NULL|NULL");
    /* Other members are skipped, whatever they hold. */
    ROW(f,
        "{\"x\":{\"id\":99,\"y\":[1,{\"z\":\"}]\"},[],[[]]],\"w\":\"{\"},\"id\":7,"
        "\"arr\":[true,false,null,-1.5e3,\"s\\\"\"],\"name\":\"n\"}",
        "7|n|NULL|NULL|NULL");
    /* Numbers: DOUBLE takes integers too; TIMESTAMP takes ISO strings. */
    ROW(f, "{\"score\":3,\"ts\":\"2011-05-01T19:00:00Z\"}", "NULL|NULL|3|NULL|t1304276400000000");
    ROW(f, "{\"score\":-0.0e0,\"id\":0}", "0|NULL|-0|NULL|NULL");
    ROW(f, "{\"id\":9223372036854775807}", "9223372036854775807|NULL|NULL|NULL|NULL");
    /* Duplicates: the last member wins, its type check too. */
    ROW(f, "{\"id\":1,\"id\":2}", "2|NULL|NULL|NULL|NULL");
    ROW(f, "{\"id\":\"one\",\"id\":1}", "1|NULL|NULL|NULL|NULL");
    BAD(f, "{\"id\":1,\"id\":\"one\"}", MS_MALFORMED_BAD_TYPE);
    /* A member name written with escapes is the same name. */
    ROW(f, "{\"n\\u0061me\":\"esc\"}", "NULL|esc|NULL|NULL|NULL");
    ROW(f, "{\"Name\":\"x\",\"name \":\"y\"}", "NULL|NULL|NULL|NULL|NULL"); /* exact match */
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_json_strings(void **state)
{
    (void)state;
    ms_schema *s = json_schema();
    ms_format *f = new_format(s, 0, 0);
    ROW(f, "{\"name\":\"a\\nb\\t\\\"q\\\" \\\\ \\/ \\b\\f\\r\"}",
        "NULL|a\\x0ab\\x09\"q\" \\x5c / \\x08\\x0c\\x0d|NULL|NULL|NULL");
    ROW(f, "{\"name\":\"caf\\u00e9 \\u20AC \\u0041\"}",
        "NULL|caf\\xc3\\xa9 \\xe2\\x82\\xac A|NULL|NULL|NULL");
    /* A surrogate pair is one code point (U+1F600, 4 UTF-8 bytes). */
    ROW(f, "{\"name\":\"\\ud83d\\ude00!\"}", "NULL|\\xf0\\x9f\\x98\\x80!|NULL|NULL|NULL");
    /* Lone surrogates become U+FFFD. */
    ROW(f, "{\"name\":\"\\ud83dx\\ude00\"}", "NULL|\\xef\\xbf\\xbdx\\xef\\xbf\\xbd|NULL|NULL|NULL");
    ROW(f, "{\"name\":\"\\ud83d\\u0041\"}", "NULL|\\xef\\xbf\\xbdA|NULL|NULL|NULL");
    ROW(f, "{\"name\":\"\\u0000\"}", "NULL|\\x00|NULL|NULL|NULL");
    /* Raw bytes, valid UTF-8 or not, are kept. */
    ROW(f, "{\"name\":\"\xc3\xa9\xff\"}", "NULL|\\xc3\\xa9\\xff|NULL|NULL|NULL");
    /* Two decoded strings in one row, and a decoded name, stay intact. */
    ms_schema *s2 = ms_schema_new(MS_FORMAT_JSON);
    ms_schema_add_column(s2, "a", MS_TYPE_STRING);
    ms_schema_add_column(s2, "b", MS_TYPE_STRING);
    ms_format *f2 = new_format(s2, 0, 0);
    ROW(f2, "{\"a\":\"x\\ty\",\"\\u0062\":\"\\u00e9\\n\",\"c\":\"\\t\"}",
        "x\\x09y|\\xc3\\xa9\\x0a");
    ms_format_free(f2);
    ms_schema_free(s2);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_json_types(void **state)
{
    (void)state;
    ms_schema *s = json_schema();
    ms_format *f = new_format(s, 0, 0);
    BAD(f, "{\"id\":\"12\"}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"id\":1.5}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"id\":1e2}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"id\":true}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"id\":{}}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"id\":[1]}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"name\":1}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"name\":{\"a\":\"b\"}}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"score\":\"1.5\"}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"ok\":1}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"ok\":\"true\"}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"ts\":1.5}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"ts\":false}", MS_MALFORMED_BAD_TYPE);
    BAD(f, "{\"ts\":\"next tuesday\"}", MS_MALFORMED_BAD_VALUE);
    BAD(f, "{\"id\":9223372036854775808}", MS_MALFORMED_BAD_NUMBER);
    BAD(f, "{\"score\":1e999}", MS_MALFORMED_BAD_NUMBER);
    /* The first column in schema order names the reason. */
    BAD(f, "{\"ts\":\"x\",\"id\":\"x\"}", MS_MALFORMED_BAD_TYPE);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_json_syntax(void **state)
{
    (void)state;
    ms_schema *s = json_schema();
    ms_format *f = new_format(s, 0, 0);
    static const char *const bad[] = {
        "[1]", "1", "\"s\"", "null", "{", "}", "{\"id\":1", "{\"id\":1}}", "{\"id\":1} x",
        "{\"id\":1}{}", "{\"id\":1,}", "{,}", "{\"id\" 1}", "{id:1}", "{'id':1}", "{\"id\":01}",
        "{\"id\":-}", "{\"id\":1.}", "{\"id\":.5}", "{\"id\":1e}", "{\"id\":+1}", "{\"id\":nul}",
        "{\"id\":True}", "{\"name\":\"a\tb\"}", "{\"name\":\"\\x\"}", "{\"name\":\"\\u12G4\"}",
        "{\"name\":\"\\u12\"}", "{\"name\":\"abc}", "{\"x\":[1,]}", "{\"x\":[1 2]}",
        "{\"x\":{\"a\"}}", "{\"x\":{\"a\":1,}}", "{\"x\":[}", "\xef\xbb\xbf{}",
        /* a type error does not hide a syntax error later on */
        "{\"id\":\"x\",}", " ", "{\"id\":1}\n\n{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        BAD(f, bad[i], MS_MALFORMED_BAD_JSON);
    BAD(f, "", MS_MALFORMED_EMPTY);
    expect_bad(f, "{\"name\":\"a\0\"}", 13, MS_MALFORMED_BINARY);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_json_depth_limit(void **state)
{
    (void)state;
    ms_schema *s = json_schema();
    ms_format *f = new_format(s, 0, 0);
    ms_buf b = MS_BUF_INIT;
    /* The record's object is level 1: 63 more levels are fine, 64 are not. */
    for (int levels = 62; levels <= 66; levels++) {
        ms_buf_reset(&b);
        ms_buf_puts(&b, "{\"id\":5,\"deep\":");
        for (int k = 0; k < levels; k++)
            ms_buf_puts(&b, k % 2 ? "{\"k\":" : "[");
        ms_buf_puts(&b, "0");
        for (int k = levels - 1; k >= 0; k--)
            ms_buf_puts(&b, k % 2 ? "}" : "]");
        ms_buf_puts(&b, "}");
        if (levels <= 63)
            ROW(f, b.data, "5|NULL|NULL|NULL|NULL");
        else
            BAD(f, b.data, MS_MALFORMED_BAD_JSON);
    }
    /* A deep record that would exhaust a naive recursion is just bad_json. */
    ms_buf_reset(&b);
    ms_buf_puts(&b, "{\"x\":");
    for (int k = 0; k < 100000; k++)
        ms_buf_putc(&b, '[');
    BAD(f, b.data, MS_MALFORMED_BAD_JSON);
    ms_buf_free(&b);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_format_new_refuses_bad_schemas(void **state)
{
    (void)state;
    char err[200];
    ms_schema *s = ms_schema_new(MS_FORMAT_CSV);
    assert_null(ms_format_new(s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "at least one column"));
    ms_schema_add_column(s, "a", MS_TYPE_NULL);
    assert_null(ms_format_new(s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "'a'"));
    ms_schema_free(s);
    assert_null(ms_format_new(NULL, NULL, err, sizeof(err)));
    /* Defaults when opts is NULL. */
    ms_format *f = ms_format_new(ms_schema_builtin("lines"), NULL, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(ms_format_max_record(f), MS_FORMAT_DEFAULT_MAX_RECORD);
    ms_format_free(f);
}

/* --------------------------------------------------------- line splitter */

/* Runs text through a fresh splitter cut into chunks of `chunk` bytes (the
 * cut points shifted by `shift`), returns the rendered rows (malloc'd) and
 * the counters. */
static char *split_run(const ms_schema *s, size_t max_record, const char *text, size_t n,
                       size_t chunk, size_t shift, counts *cnt, uint64_t *lines)
{
    ms_format *f = new_format(s, max_record, 0);
    ms_lines l;
    ms_lines_init(&l, f);
    collected c;
    coll_init(&c, s);
    size_t off = 0;
    if (shift && shift < n) {
        l.base.ops->feed(l.base.self, (const uint8_t *)text, shift, collect, &c);
        off = shift;
    }
    for (; off < n; off += chunk)
        l.base.ops->feed(l.base.self, (const uint8_t *)text + off,
                         n - off < chunk ? n - off : chunk, collect, &c);
    l.base.ops->end_file(l.base.self, collect, &c);
    assert_true(l.carry_len == 0 && !l.skipping);
    assert_true(ms_lines_carry_capacity(&l) <= max_record + 1);
    *cnt = snap(f);
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        assert_int_equal(l.base.malformed[r], cnt->m[r]);
    *lines = l.base.lines;
    assert_int_equal(ms_format_records(f), l.base.lines);
    ms_lines_free(&l);
    ms_format_free(f);
    return ms_buf_steal(&c.out, NULL);
}

static void test_lines_splitter(void **state)
{
    (void)state;
    const ms_schema *s = ms_schema_builtin("lines");
    const char *text = "first\r\n\nthird line\r\r\n\rx\n 0123456789 xy\nlast";
    counts cnt;
    uint64_t lines;
    char *whole = split_run(s, 12, text, strlen(text), 1 << 20, 0, &cnt, &lines);
    /* CR before LF stripped once, lone CRs kept, the unterminated end is a
     * line, the 14-byte line is too long for max 12. */
    assert_string_equal(whole, "first\n\nthird line\\x0d\n\\x0dx\nlast\n");
    assert_int_equal(lines, 6);
    assert_int_equal(cnt.m[MS_MALFORMED_LINE_TOO_LONG], 1);
    for (size_t chunk = 1; chunk <= strlen(text); chunk++)
        for (size_t shift = 0; shift < chunk; shift++) {
            counts c2;
            uint64_t lines2;
            char *got = split_run(s, 12, text, strlen(text), chunk, shift, &c2, &lines2);
            assert_string_equal(got, whole);
            assert_memory_equal(&c2, &cnt, sizeof(cnt));
            assert_int_equal(lines2, lines);
            free(got);
        }
    free(whole);
}

static void test_lines_limit_exact_at_every_cut(void **state)
{
    (void)state;
    const ms_schema *s = ms_schema_builtin("lines");
    /* max 8: 8 bytes fit, 8 bytes + CR fit (CRLF), 9 bytes do not, 8 + CR
     * at the very end of the input is stripped too, 9 + CR do not. */
    const char *text = "abcdefgh\nabcdefgh\r\nabcdefghi\nabcdefghi\r\nxy\nabcdefgh\r";
    for (size_t chunk = 1; chunk <= strlen(text); chunk++) {
        counts c;
        uint64_t lines;
        char *got = split_run(s, 8, text, strlen(text), chunk, 0, &c, &lines);
        assert_string_equal(got, "abcdefgh\nabcdefgh\nxy\nabcdefgh\n");
        assert_int_equal(c.m[MS_MALFORMED_LINE_TOO_LONG], 2);
        assert_int_equal(lines, 6);
        free(got);
    }
}

static void test_lines_csv_rows_independent_of_chunking(void **state)
{
    (void)state;
    const ms_schema *s = ms_schema_builtin("job_events");
    const char *text = "0,,1,0,u,3,j,l\n"
                       "5,,2,4,\"u,v\",1,,\n"
                       "\n"
                       "7,,3,9,u,1,j,l\r\n"
                       "8,,4,1,u,x,j,l\n"
                       "9,,5,5,u,2,j\n"
                       "10,,6,6,u,2,\"j\"\"k\",l";
    counts cnt;
    uint64_t lines;
    char *whole = split_run(s, 64, text, strlen(text), 1 << 20, 0, &cnt, &lines);
    assert_string_equal(whole, "t0|NULL|1|SUBMIT|u|3|j|l\n"
                               "t5|NULL|2|FINISH|u,v|1||\n"
                               "t10|NULL|6|LOST|u|2|j\"k|l\n");
    assert_int_equal(lines, 7);
    assert_int_equal(cnt.m[MS_MALFORMED_EMPTY], 1);
    assert_int_equal(cnt.m[MS_MALFORMED_BAD_VALUE], 1);
    assert_int_equal(cnt.m[MS_MALFORMED_BAD_NUMBER], 1);
    assert_int_equal(cnt.m[MS_MALFORMED_COLUMN_COUNT], 1);
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        counts c2;
        uint64_t lines2;
        char *got = split_run(s, 64, text, strlen(text), chunk, chunk / 2, &c2, &lines2);
        assert_string_equal(got, whole);
        assert_memory_equal(&c2, &cnt, sizeof(cnt));
        free(got);
    }
    free(whole);
}

static void test_lines_100mb_line_costs_no_memory(void **state)
{
    (void)state;
    const ms_schema *s = ms_schema_builtin("lines");
    ms_format *f = new_format(s, 0, 0); /* default limit: 1 MiB */
    ms_lines l;
    ms_lines_init(&l, f);
    collected c;
    coll_init(&c, s);
    const size_t mb = 1 << 20;
    uint8_t *chunk = malloc(mb);
    memset(chunk, 'x', mb);
    ms_lines_feed(&l, (const uint8_t *)"before\nxx", 9, collect, &c);
    for (int k = 0; k < 100; k++) {
        ms_lines_feed(&l, chunk, mb, collect, &c);
        /* Counted as soon as it is known to be too long, never buffered. */
        assert_true(ms_lines_carry_capacity(&l) <= MS_FORMAT_DEFAULT_MAX_RECORD + 1);
        assert_int_equal(l.carry_len, 0);
        assert_int_equal(l.base.malformed[MS_MALFORMED_LINE_TOO_LONG], 1);
    }
    ms_lines_feed(&l, (const uint8_t *)"xxx\nafter\n", 10, collect, &c);
    ms_lines_end_file(&l, collect, &c);
    assert_string_equal(c.out.data, "before\nafter\n");
    assert_int_equal(l.base.lines, 3);
    assert_int_equal(l.base.malformed[MS_MALFORMED_LINE_TOO_LONG], 1);
    assert_true(ms_lines_carry_capacity(&l) <= MS_FORMAT_DEFAULT_MAX_RECORD + 1);
    /* A 100 MB line cut at its end by the end of the file: same answer. */
    for (int k = 0; k < 100; k++)
        ms_lines_feed(&l, chunk, mb, collect, &c);
    ms_lines_end_file(&l, collect, &c);
    assert_int_equal(l.base.malformed[MS_MALFORMED_LINE_TOO_LONG], 2);
    assert_int_equal(l.base.lines, 4);
    assert_true(ms_lines_carry_capacity(&l) <= MS_FORMAT_DEFAULT_MAX_RECORD + 1);
    free(chunk);
    ms_buf_free(&c.out);
    ms_lines_free(&l);
    ms_format_free(f);
}

static void test_lines_files_meta_and_reset(void **state)
{
    (void)state;
    const ms_schema *s = ms_schema_builtin("words");
    ms_format *f = new_format(s, 0, 4);
    ms_lines l;
    ms_lines_init(&l, f);
    collected c;
    coll_init(&c, s);
    c.with_meta = 1;
    ms_value meta[MS_META_NCOLS];
    for (int k = 0; k < MS_META_NCOLS; k++)
        meta[k] = ms_value_null();
    meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)"a.txt", 5);
    ms_lines_set_meta(&l, meta);
    ms_lines_feed(&l, (const uint8_t *)"one two\nthr", 11, collect, &c);
    /* The end of a file ends its last line: "thr" is not glued to b.txt. */
    ms_lines_end_file(&l, collect, &c);
    char name[] = "b.txt";
    ms_lines_begin_file(&l, name);
    name[0] = 'X'; /* the splitter keeps its own copy */
    ms_lines_feed(&l, (const uint8_t *)"ee toolong\npartial", 18, collect, &c);
    /* A batch abandoned mid-file: the partial line is forgotten. */
    ms_lines_reset(&l);
    ms_lines_feed(&l, (const uint8_t *)"four\n", 5, collect, &c);
    ms_lines_end_file(&l, collect, &c);
    assert_string_equal(c.out.data, "one|a.txt|NULL|NULL|NULL|NULL\n"
                                    "two|a.txt|NULL|NULL|NULL|NULL\n"
                                    "thr|a.txt|NULL|NULL|NULL|NULL\n"
                                    "ee|b.txt|NULL|NULL|NULL|NULL\n"
                                    "four|b.txt|NULL|NULL|NULL|NULL\n");
    assert_int_equal(l.base.malformed[MS_MALFORMED_WORD_TOO_LONG], 1);
    assert_int_equal(l.base.lines, 4);
    assert_string_equal(l.base.ops->name, "lines");
    ms_buf_free(&c.out);
    ms_lines_free(&l);
    ms_format_free(f);
}

/* ------------------------------------------------------- csv options */

/* A csv(a STRING, n BIGINT) schema in a dialect. */
static ms_schema *dialect_schema(int delimiter, int quote, int header, int check)
{
    ms_schema *s = ms_schema_new(MS_FORMAT_CSV);
    ms_schema_add_column(s, "a", MS_TYPE_STRING);
    ms_schema_add_column(s, "n", MS_TYPE_INT);
    s->csv.delimiter = (unsigned char)delimiter;
    s->csv.quote = quote;
    s->csv.header = header;
    s->csv.check_header = check;
    return s;
}

static void test_csv_dialects(void **state)
{
    (void)state;
    /* ';' (a ',' is an ordinary byte), quoted fields holding ';' and "" */
    ms_schema *s = dialect_schema(';', '"', 0, 0);
    ms_format *f = new_format(s, 0, 0);
    ROW(f, "x,y;12", "x,y|12");
    ROW(f, "\"a;b\";\"7\"", "a;b|7");
    ROW(f, "\"say \"\"hi\"\"\";-3", "say \"hi\"|-3");
    ROW(f, ";", "|NULL");
    BAD(f, "a,12", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "a;1;2", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "\"a;1", MS_MALFORMED_BAD_VALUE);
    BAD(f, "\"a\"x;1", MS_MALFORMED_BAD_VALUE);
    BAD(f, "a;1,5", MS_MALFORMED_BAD_NUMBER); /* the fast integer path stops at ',' too */
    ms_format_free(f);
    ms_schema_free(s);

    /* a tab, and '|' */
    s = dialect_schema('\t', '"', 0, 0);
    f = new_format(s, 0, 0);
    ROW(f, "a b,c\t42", "a b,c|42");
    ROW(f, "\"t\tab\"\t1", "t\\x09ab|1");
    BAD(f, "a 42", MS_MALFORMED_COLUMN_COUNT);
    ms_format_free(f);
    ms_schema_free(s);
    s = dialect_schema('|', '"', 0, 0);
    f = new_format(s, 0, 0);
    ROW(f, "a,b|-9223372036854775808", "a,b|-9223372036854775808");
    ms_format_free(f);
    ms_schema_free(s);

    /* another quote; '"' is then an ordinary byte */
    s = dialect_schema(',', '\'', 0, 0);
    f = new_format(s, 0, 0);
    ROW(f, "'it''s, ok',1", "it's, ok|1");
    ROW(f, "\"x\",2", "\"x\"|2");
    BAD(f, "\"x,y\",2", MS_MALFORMED_COLUMN_COUNT);
    BAD(f, "'x,2", MS_MALFORMED_BAD_VALUE);
    ms_format_free(f);
    ms_schema_free(s);

    /* no quoting: every quote is data */
    s = dialect_schema(',', -1, 0, 0);
    f = new_format(s, 0, 0);
    ROW(f, "\"x\",2", "\"x\"|2");
    ROW(f, "\"\",3", "\"\"|3");
    BAD(f, "\"x,y\",2", MS_MALFORMED_COLUMN_COUNT);
    ms_format_free(f);
    ms_schema_free(s);

    /* the trace tables keep the default whatever they are given */
    ms_format *t = new_format(ms_schema_builtin("job_events"), 0, 0);
    ROW(t, "5,,6,0,u,2,\"j,k\",l", "t5|NULL|6|SUBMIT|u|2|j,k|l");
    ms_format_free(t);

    /* a dialect the format cannot read is refused */
    char e[256];
    s = dialect_schema(',', ',', 0, 0);
    assert_null(ms_format_new(s, NULL, e, sizeof(e)));
    s->csv.quote = '"';
    s->csv.delimiter = '\n';
    assert_null(ms_format_new(s, NULL, e, sizeof(e)));
    s->csv.delimiter = ',';
    s->csv.check_header = 1;
    assert_null(ms_format_new(s, NULL, e, sizeof(e)));
    ms_schema_free(s);
}

/* Feeds text through a splitter as one range of file "f.csv" starting at
 * `offset`, cut into chunks of `step` bytes; returns the rendered rows. */
static void feed_range(ms_lines *l, collected *c, uint64_t offset, const char *text, size_t step)
{
    ms_lines_begin_range(l, "f.csv", offset);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step)
        ms_lines_feed(l, (const uint8_t *)text + i, n - i < step ? n - i : step, collect, c);
    ms_lines_end_file(l, collect, c);
}

static void test_csv_header(void **state)
{
    (void)state;
    ms_schema *s = dialect_schema(',', '"', 1, 0);
    for (size_t step = 1; step <= 40; step += 13) {
        ms_format *f = new_format(s, 0, 0);
        ms_lines l;
        ms_lines_init(&l, f);
        collected c;
        coll_init(&c, s);
        /* the first line of a file is its header, whatever it holds */
        feed_range(&l, &c, 0, "city,count\r\nparis,1\nlyon,2\n", step);
        /* bytes appended later (a range from offset 27): no header there */
        feed_range(&l, &c, 27, "nice,3\n", step);
        /* another file, from its start; the header ends it without a newline */
        feed_range(&l, &c, 0, "whatever", step);
        /* an empty first line is the header too */
        feed_range(&l, &c, 0, "\nrome,4", step);
        assert_string_equal(c.out.data, "paris|1\nlyon|2\nnice|3\nrome|4\n");
        assert_int_equal(ms_format_headers(f), 3);
        assert_int_equal(l.base.lines, 7);
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            assert_int_equal(l.base.malformed[r], 0);
        /* told nothing of a range: no header is guessed (it would lose a row) */
        ms_lines_feed(&l, (const uint8_t *)"milan,5\n", 8, collect, &c);
        ms_lines_end_file(&l, collect, &c);
        assert_int_equal(c.rows, 5);
        /* an abandoned batch forgets the pending header */
        ms_lines_begin_range(&l, "g.csv", 0);
        ms_lines_reset(&l);
        ms_lines_feed(&l, (const uint8_t *)"turin,6\n", 8, collect, &c);
        ms_lines_end_file(&l, collect, &c);
        assert_int_equal(c.rows, 6);
        ms_buf_free(&c.out);
        ms_lines_free(&l);
        ms_format_free(f);
    }
    /* without the option, a header line is data (here: a bad number) */
    ms_schema *plain = dialect_schema(',', '"', 0, 0);
    ms_format *f = new_format(plain, 0, 0);
    ms_lines l;
    ms_lines_init(&l, f);
    collected c;
    coll_init(&c, plain);
    feed_range(&l, &c, 0, "city,count\nparis,1\n", 7);
    assert_string_equal(c.out.data, "paris|1\n");
    assert_int_equal(l.base.malformed[MS_MALFORMED_BAD_NUMBER], 1);
    ms_buf_free(&c.out);
    ms_lines_free(&l);
    ms_format_free(f);
    ms_schema_free(plain);

    /* a header longer than the record limit is counted as such, and it
     * was the header: the next line is data */
    f = new_format(s, 8, 0);
    ms_lines_init(&l, f);
    coll_init(&c, s);
    feed_range(&l, &c, 0, "a-very-long-header,n\nx,1\n", 4);
    feed_range(&l, &c, 0, "a-very-long-header,n\nx,2\n", 100);
    assert_string_equal(c.out.data, "x|1\nx|2\n");
    assert_int_equal(l.base.malformed[MS_MALFORMED_LINE_TOO_LONG], 2);
    assert_int_equal(ms_format_headers(f), 0);
    ms_buf_free(&c.out);
    ms_lines_free(&l);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_csv_check_header(void **state)
{
    (void)state;
    ms_schema *s = dialect_schema(';', '"', 1, 1);
    ms_format *f = new_format(s, 0, 0);
    ms_lines l;
    ms_lines_init(&l, f);
    collected c;
    coll_init(&c, s);
    static const struct {
        const char *header;
        int ok;
    } cases[] = {
        {"a;n", 1},
        {"A ; N", 1}, /* case and blanks around names */
        {"\xEF\xBB\xBF"
         "a;n",
         1},                /* a UTF-8 byte order mark */
        {"\"a\";\"n\"", 1}, /* quoted names */
        {"a;n\r", 1},       /* CRLF */
        {"n;a", 0},         /* swapped */
        {"a;n;x", 0},       /* one more */
        {"a", 0},           /* one less */
        {"a,n", 0},         /* another delimiter */
        {"\"a\"x;n", 0},    /* text after a closing quote */
        {"a;nn", 0},
    };
    uint64_t bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "%s\nrow;%zu\n", cases[i].header, i);
        feed_range(&l, &c, 0, text, 3);
        bad += !cases[i].ok;
        if (l.base.malformed[MS_MALFORMED_BAD_HEADER] != bad)
            fail_msg("header \"%s\": bad_header is %llu, expected %llu", cases[i].header,
                     (unsigned long long)l.base.malformed[MS_MALFORMED_BAD_HEADER],
                     (unsigned long long)bad);
    }
    /* the data lines are read either way (a file may be read over several
     * batches: only its header line is known to be the header) */
    assert_int_equal(c.rows, sizeof(cases) / sizeof(cases[0]));
    assert_int_equal(ms_format_headers(f), sizeof(cases) / sizeof(cases[0]));
    ms_buf_free(&c.out);
    ms_lines_free(&l);
    ms_format_free(f);
    ms_schema_free(s);
}

static void test_csv_quoted_line_break(void **state)
{
    (void)state;
    ms_schema *s = dialect_schema(',', '"', 0, 0);
    for (size_t step = 1; step <= 64; step += 21) {
        ms_format *f = new_format(s, 0, 0);
        ms_lines l;
        ms_lines_init(&l, f);
        collected c;
        coll_init(&c, s);
        feed_range(&l, &c, 0,
                   "one,1\n"
                   "\"two\n"          /* opens a quoted field that the line ends */
                   "still two\n"      /* inside it */
                   "end of two\",2\n" /* closes it: on its own, a row ('end of two"', 2) */
                   "three,3\n"
                   "\"say \"\"x\n" /* an escaped quote, then the line ends inside */
                   "\"\"\",4\n"    /* "" then the closing quote */
                   "\"a\",\"b\n"   /* the second field opens and stays open */
                   "c\",5\n"
                   "six,6\n"
                   "seven,\"7\n", /* open at the end of the range ... */
                   step);
        /* ... and the next range starts afresh: its first line is a row */
        feed_range(&l, &c, 100, "x\",8\nnine,9\n", step);
        assert_string_equal(c.out.data, "one|1\nthree|3\nsix|6\nx\"|8\nnine|9\n");
        /* each line of a record broken by a line break is one bad_value */
        assert_int_equal(l.base.malformed[MS_MALFORMED_BAD_VALUE], 8);
        assert_int_equal(l.base.lines, 13);
        /* a Kafka message is one record: a line break in a quoted field is data */
        ms_buf_reset(&c.out);
        static const char msg[] = "\"two\nlines\",2";
        assert_int_equal(
            ms_format_record(f, (const uint8_t *)msg, sizeof(msg) - 1, NULL, collect, &c), 1);
        assert_string_equal(c.out.data, "two\\x0alines|2\n");
        ms_buf_free(&c.out);
        ms_lines_free(&l);
        ms_format_free(f);
    }
    ms_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_whole_record),
        cmocka_unit_test(test_metadata_columns),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_csv_types_and_nulls),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_doubles_correctly_rounded),
        cmocka_unit_test(test_task_events),
        cmocka_unit_test(test_job_events),
        cmocka_unit_test(test_json_members),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_json_syntax),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_format_new_refuses_bad_schemas),
        cmocka_unit_test(test_lines_splitter),
        cmocka_unit_test(test_lines_limit_exact_at_every_cut),
        cmocka_unit_test(test_lines_csv_rows_independent_of_chunking),
        cmocka_unit_test(test_lines_100mb_line_costs_no_memory),
        cmocka_unit_test(test_lines_files_meta_and_reset),
        cmocka_unit_test(test_csv_dialects),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_csv_check_header),
        cmocka_unit_test(test_csv_quoted_line_break),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
