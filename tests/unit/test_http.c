/* Rendering of /metrics and the API from a published snapshot of real
 * executors (parsed queries, ms_exec), several statements with typed columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/ms_program.h"
#include "http/ms_http.h"
#include "mstream/mstream.h"
#include "query/ms_exec.h"

static const double bounds[MS_HIST_BUCKETS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

#define HOUR INT64_C(3600000000)

/* Three statements: the word count, a csv statement with every aggregate,
 * and an hourly window with a watermark (append). */
static const char *program_text =
    "CREATE QUERY wordcount AS SELECT word, COUNT(*) AS count FROM words GROUP BY word;\n"
    "CREATE QUERY sales AS SELECT city, COUNT(*) AS orders, SUM(amount) AS revenue,\n"
    "  AVG(amount) AS avg_amount, MAX(sold_at) AS last_sale, MIN(qty) AS min_qty\n"
    "  FROM csv(city STRING, amount DOUBLE, qty BIGINT, sold_at TIMESTAMP) GROUP BY city;\n"
    "CREATE QUERY hourly AS SELECT window_start, window_end, kind, COUNT(*) AS events\n"
    "  FROM csv(t TIMESTAMP, kind STRING) WATERMARK FOR t AS t - INTERVAL '10' MINUTE\n"
    "  GROUP BY TUMBLE(t, INTERVAL '1' HOUR), kind EMIT APPEND;\n";

static ms_sql_program *prog;
static ms_exec x[3];
static ms_published pub;

static void word(const char *w, size_t n, int times)
{
    ms_value col = ms_value_str((const uint8_t *)w, n);
    ms_row row = {&col, 1};
    for (int i = 0; i < times; i++)
        ms_exec_emit(&x[0], &row);
}

static void row_of(ms_exec *e, ms_value *cols, size_t ncols)
{
    ms_value r[16];
    size_t w = ms_schema_width(e->stmt->schema);
    for (size_t i = 0; i < w; i++)
        r[i] = i < ncols ? cols[i] : ms_value_null();
    ms_row row = {r, w};
    ms_exec_emit(e, &row);
}

static ms_value str(const char *s)
{
    return ms_value_str((const uint8_t *)s, strlen(s));
}

static ms_value dbl(double d)
{
    ms_value v = {.type = MS_TYPE_DOUBLE, .d = d};
    return v;
}

static ms_value ts(int64_t us)
{
    ms_value v = {.type = MS_TYPE_TIMESTAMP, .i = us};
    return v;
}

static void sale(const char *city, double amount, int64_t qty, int64_t at)
{
    ms_value c[4] = {str(city), dbl(amount), ms_value_int(qty), at < 0 ? ms_value_null() : ts(at)};
    row_of(&x[1], c, 4);
}

static void event(int64_t t, const char *kind)
{
    ms_value c[2] = {ts(t), str(kind)};
    row_of(&x[2], c, 2);
}

/* Commits every executor (no checkpoint needed: the batch is dropped). */
static void commit_all(ms_rowset *closed, int64_t *cs, int64_t *ce)
{
    for (int i = 0; i < 3; i++) {
        ms_ckpt_batch *b = ms_ckpt_batch_new();
        ms_exec_commit(&x[i], b);
        if (i == 2 && x[2].nclosed) {
            ms_rowset all;
            ms_rowset_init(&all, &x[2]);
            ms_exec_foreach_closed(&x[2], ms_rowset_add_cb, &all);
            ms_rowset_clear(closed);
            for (size_t r = 0; r < all.n; r++)
                if (ms_rowset_window_start(&all, r) == x[2].last_closed_start)
                    ms_rowset_add_from(closed, &all, r);
            ms_rowset_free(&all);
            *cs = x[2].last_closed_start;
            *ce = x[2].last_closed_end;
        }
        ms_ckpt_batch_free(b);
        ms_exec_committed(&x[i]);
    }
}

static void publish(int ready, ms_rowset *closed, int64_t cs, int64_t ce)
{
    ms_snapshot *s = ms_snapshot_new(3, 3);
    uint64_t mal[MS_MALFORMED_MAX] = {0};
    mal[MS_MALFORMED_BAD_NUMBER] = 2;
    for (size_t i = 0; i < 3; i++)
        ms_snapshot_set_stmt(s, i, &x[i], i == 2 ? closed : NULL, cs, ce, mal, 10);
    s->ready = ready;
    s->stats.last_batch_id = 4;
    s->stats.trigger_sec = 2.5;
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_hist_observe(&s->stats.commit_dur, 2.5);
    ms_snapshot_publish(&pub, s);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (ms_sql_parse(program_text, strlen(program_text), "t.sql", "t", &prog, err, sizeof(err)))
        fail_msg("%s", err);
    for (int i = 0; i < 3; i++)
        ms_exec_init(&x[i], &prog->stmts[i]);
    word("spark", 5, 3);
    word("a\"b", 3, 2);
    word("\xff\x0a", 2, 1);
    word("zzz", 3, 1);
    sale("paris", 10.5, 3, 1000000);
    sale("paris", 4.5, 1, 5000000);
    sale("oslo", 2.25, 7, -1);
    event(0, "SUBMIT");
    event(10, "SUBMIT");
    event(20, "FAIL");
    event(HOUR + 5, "SUBMIT");
    ms_rowset closed;
    ms_rowset_init(&closed, &x[2]);
    int64_t cs = INT64_MIN, ce = INT64_MIN;
    commit_all(&closed, &cs, &ce); /* watermark: 1h+5-10min: window 0 still open */
    event(HOUR + 20 * 60 * 1000000LL, "KILL");
    commit_all(&closed, &cs, &ce); /* watermark 1h+10min: window [0,1h) closes */
    assert_int_equal(cs, 0);
    assert_int_equal(ce, HOUR);
    ms_published_init(&pub);
    publish(1, &closed, cs, ce);
    ms_rowset_free(&closed);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ms_published_destroy(&pub);
    for (int i = 0; i < 3; i++)
        ms_exec_free(&x[i]);
    ms_sql_program_free(prog);
    return 0;
}

static char *get(const char *path, const char *q, const char *off, const char *lim, int *status)
{
    ms_buf b = MS_BUF_INIT;
    const char *ct;
    *status = ms_http_render(&pub, path, q, off, lim, &b, &ct);
    return ms_buf_steal(&b, NULL);
}

static void test_metrics_topk_and_escaping(void **state)
{
    (void)state;
    int st;
    char *m = get("/metrics", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(m, "# TYPE mstream_wordcount_count_total counter\n"));
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"spark\"} 3\n"));
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"a\\\"b\"} 2\n"));
    /* ties at 1 sort by bytes: "zzz" (0x7a) before "\xff\n", so only it makes the top 3 */
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"zzz\"} 1\n"));
    assert_null(strstr(m, "xff"));
    assert_non_null(strstr(m, "mstream_results_topk_limit{query=\"wordcount\"} 3\n"));
    assert_non_null(strstr(m, "mstream_results_groups{query=\"wordcount\"} 4\n"));
    assert_non_null(strstr(m, "mstream_results_exported_series{query=\"wordcount\"} 3\n"));
    assert_non_null(strstr(m, "mstream_commit_duration_seconds_bucket{le=\"3\"} 1\n"));
    assert_non_null(strstr(m, "mstream_commit_duration_seconds_bucket{le=\"2\"} 0\n"));
    assert_non_null(strstr(m, "process_resident_memory_bytes "));
    /* no raw control bytes or invalid UTF-8 anywhere */
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    free(m);
}

static void test_metrics_typed_families(void **state)
{
    (void)state;
    int st;
    char *m = get("/metrics", NULL, NULL, NULL, &st);
    /* COUNT of an unwindowed statement: a counter; SUM (its argument may be
     * negative) and the rest: gauges. */
    assert_non_null(strstr(m, "# TYPE mstream_sales_orders_total counter\n"));
    assert_non_null(strstr(m, "mstream_sales_orders_total{city=\"paris\"} 2\n"));
    assert_non_null(strstr(m, "# TYPE mstream_sales_revenue gauge\n"));
    assert_non_null(strstr(m, "mstream_sales_revenue{city=\"paris\"} 15\n"));
    assert_null(strstr(m, "mstream_sales_revenue_total"));
    assert_non_null(strstr(m, "# TYPE mstream_sales_avg_amount gauge\n"));
    assert_non_null(strstr(m, "mstream_sales_avg_amount{city=\"paris\"} 7.5\n"));
    assert_non_null(strstr(m, "mstream_sales_avg_amount{city=\"oslo\"} 2.25\n"));
    assert_non_null(strstr(m, "mstream_sales_min_qty{city=\"oslo\"} 7\n"));
    /* MAX of a timestamp: seconds, with the unit in the name; NULL (oslo has
     * none) exports nothing */
    assert_non_null(strstr(m, "# TYPE mstream_sales_last_sale_seconds gauge\n"));
    assert_non_null(strstr(m, "mstream_sales_last_sale_seconds{city=\"paris\"} 5\n"));
    assert_null(strstr(m, "mstream_sales_last_sale_seconds{city=\"oslo\"}"));
    assert_null(strstr(m, "mstream_sales_last_sale{"));
    /* Windowed: the latest closed window's rows, gauges, no window label. */
    assert_non_null(strstr(m, "# TYPE mstream_hourly_events gauge\n"));
    assert_non_null(strstr(m, "mstream_hourly_events{kind=\"SUBMIT\"} 2\n"));
    assert_non_null(strstr(m, "mstream_hourly_events{kind=\"FAIL\"} 1\n"));
    assert_null(strstr(m, "mstream_hourly_events{kind=\"KILL\"}")); /* still open */
    assert_null(strstr(m, "window_start=\""));
    assert_non_null(
        strstr(m, "mstream_query_last_closed_window_start_seconds{query=\"hourly\"} 0\n"));
    assert_non_null(
        strstr(m, "mstream_query_last_closed_window_end_seconds{query=\"hourly\"} 3600\n"));
    assert_non_null(strstr(m, "mstream_watermark_seconds{query=\"hourly\"} 4200\n"));
    assert_null(strstr(m, "mstream_watermark_seconds{query=\"sales\"}"));
    assert_non_null(strstr(m, "mstream_state_entries{query=\"hourly\"} 2\n")); /* 1h window */
    assert_non_null(strstr(m, "mstream_state_evicted_total{query=\"hourly\"} 2\n"));
    assert_non_null(
        strstr(m, "mstream_malformed_rows_total{query=\"sales\",reason=\"bad_number\"} 2\n"));
    assert_non_null(strstr(m, "mstream_late_rows_dropped_total{query=\"hourly\"} 0\n"));
    /* build information and the trigger interval */
    assert_non_null(strstr(m, "# TYPE mstream_build_info gauge\n"));
    assert_non_null(strstr(m, "mstream_build_info{version=\"" MS_VERSION
                              "\",rocksdb=\"" MS_ROCKSDB_VERSION
                              "\",librdkafka=\"" MS_RDKAFKA_VERSION "\"} 1\n"));
    assert_non_null(strstr(m, "# TYPE mstream_trigger_interval_seconds gauge\n"));
    assert_non_null(strstr(m, "mstream_trigger_interval_seconds 2.5\n"));
    /* one HELP/TYPE per family */
    const char *p = strstr(m, "# TYPE mstream_state_entries ");
    assert_non_null(p);
    assert_null(strstr(p + 1, "# TYPE mstream_state_entries "));
    free(m);
}

static void test_results_paging(void **state)
{
    (void)state;
    int st;
    char *r = get("/api/v1/results", "wordcount", "1", "2", &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"total\":4"));
    assert_non_null(strstr(r, "\"columns\":[\"word\",\"count\"]"));
    assert_non_null(strstr(r, "\"rows\":[[\"a\\\"b\",2],[\"zzz\",1]]"));
    free(r);
    r = get("/api/v1/results", "wordcount", "3", NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"rows\":[[\"\\\\xff\\\\x0a\",1]]"));
    free(r);
    r = get("/api/v1/results", NULL, "-1", NULL, &st);
    assert_int_equal(st, 400);
    free(r);
    r = get("/api/v1/results", NULL, NULL, "0", &st);
    assert_int_equal(st, 400);
    free(r);
    r = get("/api/v1/results", NULL, "100", NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"query\":\"wordcount\"")); /* the first statement */
    assert_non_null(strstr(r, "\"rows\":[]"));
    free(r);
}

static void test_results_typed_columns(void **state)
{
    (void)state;
    int st;
    char *r = get("/api/v1/results", "sales", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(
        r,
        "\"columns\":[\"city\",\"orders\",\"revenue\",\"avg_amount\",\"last_sale\",\"min_qty\"]"));
    assert_non_null(strstr(r, "\"types\":[\"STRING\",\"BIGINT\",\"DOUBLE\",\"DOUBLE\","
                              "\"TIMESTAMP\",\"BIGINT\"]"));
    assert_non_null(strstr(
        r, "[\"paris\",2,15,7.5,\"1970-01-01T00:00:05.000000Z\",1],[\"oslo\",1,2.25,2.25,null,7]"));
    free(r);
    /* Windowed: the open windows (closed ones were evicted and emitted). */
    r = get("/api/v1/results", "hourly", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"emit\":\"APPEND\""));
    assert_non_null(strstr(r, "\"total\":2"));
    assert_non_null(
        strstr(r, "[\"1970-01-01T01:00:00.000000Z\",\"1970-01-01T02:00:00.000000Z\",\"KILL\",1]"));
    free(r);
    r = get("/api/v1/results", "nope", NULL, NULL, &st);
    assert_int_equal(st, 404);
    assert_non_null(strstr(r, "\"error\":\"unknown query\""));
    assert_non_null(strstr(r, "\"queries\":[\"wordcount\",\"sales\",\"hourly\"]"));
    free(r);
}

/* A statement "query" with an aggregate "rows" would take the engine's
 * mstream_query_rows_total: its family gets "_result" instead. */
static void test_metrics_name_collision(void **state)
{
    (void)state;
    const char *text =
        "CREATE QUERY query AS SELECT word, COUNT(*) AS rows FROM words GROUP BY word";
    char err[512];
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse(text, strlen(text), "t.sql", "t", &p, err, sizeof(err)), 0);
    ms_exec e;
    ms_exec_init(&e, &p->stmts[0]);
    ms_value col = str("w");
    ms_row row = {&col, 1};
    ms_exec_emit(&e, &row);
    ms_published pb;
    ms_published_init(&pb);
    ms_snapshot *s = ms_snapshot_new(1, 10);
    uint64_t mal[MS_MALFORMED_MAX] = {0};
    ms_snapshot_set_stmt(s, 0, &e, NULL, INT64_MIN, INT64_MIN, mal, 1);
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_snapshot_publish(&pb, s);
    ms_buf b = MS_BUF_INIT;
    const char *ct;
    assert_int_equal(ms_http_render(&pb, "/metrics", NULL, NULL, NULL, &b, &ct), 200);
    assert_non_null(strstr(b.data, "mstream_query_rows_result_total{word=\"w\"} 1\n"));
    assert_null(strstr(b.data, "mstream_query_rows_total{word="));
    assert_non_null(strstr(b.data, "mstream_query_rows_total{query=\"query\"} 1\n"));
    ms_buf_free(&b);
    ms_published_destroy(&pb);
    ms_exec_free(&e);
    ms_sql_program_free(p);
}

/* Family names stay unique whatever the statement names and aliases: two
 * statements whose names meet ("a_b" + "c", "a" + "b_c"), a gauge alias
 * ending in a histogram suffix or in _total, a TIMESTAMP alias that already
 * says _seconds; a SUM that goes negative is a gauge. */
static void test_metrics_unique_family_names(void **state)
{
    (void)state;
    const char *text =
        "CREATE QUERY a_b AS SELECT k, COUNT(*) AS c FROM csv(k STRING, v BIGINT, t TIMESTAMP) "
        "GROUP BY k;\n"
        "CREATE QUERY a AS SELECT k, COUNT(*) AS b_c FROM csv(k STRING, v BIGINT, t TIMESTAMP) "
        "GROUP BY k;\n"
        "CREATE QUERY s AS SELECT k, SUM(v) AS sum, MIN(v) AS total, AVG(v) AS v_count,\n"
        "  MAX(t) AS seen_seconds, MIN(t) AS first, COUNT(*) AS n\n"
        "  FROM csv(k STRING, v BIGINT, t TIMESTAMP) GROUP BY k;\n";
    char err[512];
    ms_sql_program *p = NULL;
    if (ms_sql_parse(text, strlen(text), "t.sql", "t", &p, err, sizeof(err)))
        fail_msg("%s", err);
    ms_exec e[3];
    for (int i = 0; i < 3; i++) {
        ms_exec_init(&e[i], &p->stmts[i]);
        ms_value c[3] = {str("x"), ms_value_int(-3), ts(1500000)};
        row_of(&e[i], c, 3);
        ms_value d[3] = {str("x"), ms_value_int(1), ts(2500000)};
        row_of(&e[i], d, 3);
    }
    ms_published pb;
    ms_published_init(&pb);
    ms_snapshot *s = ms_snapshot_new(3, 10);
    uint64_t mal[MS_MALFORMED_MAX] = {0};
    for (size_t i = 0; i < 3; i++)
        ms_snapshot_set_stmt(s, i, &e[i], NULL, INT64_MIN, INT64_MIN, mal, 2);
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_snapshot_publish(&pb, s);
    ms_buf b = MS_BUF_INIT;
    const char *ct;
    assert_int_equal(ms_http_render(&pb, "/metrics", NULL, NULL, NULL, &b, &ct), 200);
    const char *m = b.data;
    assert_non_null(
        strstr(m, "# TYPE mstream_a_b_c_total counter\nmstream_a_b_c_total{k=\"x\"} 2\n"));
    assert_non_null(strstr(m, "# TYPE mstream_a_b_c_result_total counter\n"
                              "mstream_a_b_c_result_total{k=\"x\"} 2\n"));
    assert_non_null(
        strstr(m, "# TYPE mstream_s_sum_value gauge\nmstream_s_sum_value{k=\"x\"} -2\n"));
    assert_non_null(strstr(m, "# TYPE mstream_s gauge\nmstream_s{k=\"x\"} -3\n"));
    assert_non_null(strstr(m, "# TYPE mstream_s_v_count_value gauge\n"));
    assert_non_null(strstr(m, "mstream_s_v_count_value{k=\"x\"} -1\n"));
    assert_non_null(strstr(m, "# TYPE mstream_s_seen_seconds gauge\n"
                              "mstream_s_seen_seconds{k=\"x\"} 2.5\n"));
    assert_non_null(strstr(m, "# TYPE mstream_s_first_seconds gauge\n"
                              "mstream_s_first_seconds{k=\"x\"} 1.5\n"));
    assert_non_null(strstr(m, "# TYPE mstream_s_n_total counter\n"));
    /* Every family once. */
    size_t ntypes = 0;
    char *names[256];
    for (const char *q = strstr(m, "# TYPE "); q; q = strstr(q + 1, "# TYPE ")) {
        const char *sp = strchr(q + 7, ' ');
        assert_non_null(sp);
        assert_true(ntypes < 256);
        names[ntypes] = strndup(q + 7, (size_t)(sp - (q + 7)));
        for (size_t j = 0; j < ntypes; j++)
            if (!strcmp(names[j], names[ntypes]))
                fail_msg("family %s emitted twice", names[j]);
        ntypes++;
    }
    assert_true(ntypes > 40);
    for (size_t j = 0; j < ntypes; j++)
        free(names[j]);
    ms_buf_free(&b);
    ms_published_destroy(&pb);
    for (int i = 0; i < 3; i++)
        ms_exec_free(&e[i]);
    ms_sql_program_free(p);
}

static void test_health_and_unknown(void **state)
{
    (void)state;
    int st;
    free(get("/healthz", NULL, NULL, NULL, &st));
    assert_int_equal(st, 200);
    free(get("/readyz", NULL, NULL, NULL, &st));
    assert_int_equal(st, 200);
    free(get("/nope", NULL, NULL, NULL, &st));
    assert_int_equal(st, 404);
    publish(0, NULL, INT64_MIN, INT64_MIN);
    free(get("/readyz", NULL, NULL, NULL, &st));
    assert_int_equal(st, 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_topk_and_escaping),
        cmocka_unit_test(test_metrics_typed_families),
        cmocka_unit_test(test_results_paging),
        cmocka_unit_test(test_results_typed_columns),
        cmocka_unit_test(test_metrics_name_collision),
        cmocka_unit_test(test_metrics_unique_family_names),
        cmocka_unit_test(test_health_and_unknown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
