/* Rendering of /metrics and the API from a published snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/ms_http.h"

static const double bounds[MS_HIST_BUCKETS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void add(ms_agg *a, const char *w, size_t n, int times)
{
    ms_value col = ms_value_str((const uint8_t *)w, n);
    ms_row row = {&col, 1};
    for (int i = 0; i < times; i++)
        ms_agg_emit(a, &row);
}

static ms_published pub;
static ms_agg agg;

static int setup(void **state)
{
    (void)state;
    ms_agg_init(&agg, ms_query_builtin("wordcount"));
    add(&agg, "spark", 5, 3);
    add(&agg, "a\"b", 3, 2);
    add(&agg, "\xff\x0a", 2, 1);
    add(&agg, "zzz", 3, 1);
    ms_published_init(&pub);
    ms_snapshot *s = ms_snapshot_build(&agg, 3);
    s->ready = 1;
    s->stats.last_batch_id = 4;
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_hist_observe(&s->stats.commit_dur, 2.5);
    ms_snapshot_publish(&pub, s);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ms_published_destroy(&pub);
    ms_agg_free(&agg);
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
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"spark\"} 3\n"));
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"a\\\"b\"} 2\n"));
    /* ties at 1 sort by bytes: "zzz" (0x7a) before "\xff\n", so only it makes the top 3 */
    assert_non_null(strstr(m, "mstream_wordcount_count_total{word=\"zzz\"} 1\n"));
    assert_null(strstr(m, "xff"));
    assert_non_null(strstr(m, "mstream_results_topk_limit{query=\"wordcount\"} 3\n"));
    assert_non_null(strstr(m, "mstream_results_groups{query=\"wordcount\"} 4\n"));
    assert_non_null(strstr(m, "mstream_commit_duration_seconds_bucket{le=\"3\"} 1\n"));
    assert_non_null(strstr(m, "mstream_commit_duration_seconds_bucket{le=\"2\"} 0\n"));
    assert_non_null(strstr(m, "process_resident_memory_bytes "));
    /* no raw control bytes or invalid UTF-8 anywhere */
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    free(m);
}

static void test_results_paging(void **state)
{
    (void)state;
    int st;
    char *r = get("/api/v1/results", "wordcount", "1", "2", &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"total\":4"));
    assert_non_null(strstr(r, "\"rows\":[[\"a\\\"b\",2],[\"zzz\",1]]"));
    free(r);
    r = get("/api/v1/results", "wordcount", "3", NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"rows\":[[\"\\\\xff\\\\x0a\",1]]"));
    free(r);
    r = get("/api/v1/results", "nope", NULL, NULL, &st);
    assert_int_equal(st, 404);
    free(r);
    r = get("/api/v1/results", NULL, "-1", NULL, &st);
    assert_int_equal(st, 400);
    free(r);
    r = get("/api/v1/results", NULL, NULL, "0", &st);
    assert_int_equal(st, 400);
    free(r);
    r = get("/api/v1/results", NULL, "100", NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "\"rows\":[]"));
    free(r);
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
    ms_snapshot *s = ms_snapshot_build(&agg, 3);
    s->ready = 0;
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_snapshot_publish(&pub, s);
    free(get("/readyz", NULL, NULL, NULL, &st));
    assert_int_equal(st, 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_topk_and_escaping),
        cmocka_unit_test(test_results_paging),
        cmocka_unit_test(test_health_and_unknown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
