/* Progress records: the INFO progress line (format and rate limit, driven by
 * the batches' own times, no clock) and the bounded chart history of
 * /api/v1/status. */
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ms_log.h"
#include "engine/ms_progress.h"

static ms_progress batch(int64_t id, double t, uint64_t rows, double ms_total)
{
    ms_progress p;
    memset(&p, 0, sizeof(p));
    p.batch_id = id;
    p.timestamp = t;
    p.rows = rows;
    p.input_rps = (double)rows / 2.0;
    p.processed_rps = ms_total > 0 ? (double)rows / (ms_total / 1e3) : 0;
    p.ms_total = ms_total;
    p.ms_commit = ms_total / 4;
    p.state_total = (uint64_t)id * 10;
    p.state_bytes = (uint64_t)id * 1000;
    return p;
}

static void test_line_format(void **state)
{
    (void)state;
    ms_progress p = batch(88, 1000.0, 1234, 12.5);
    p.nstmts_listed = 2;
    p.stmt[0].watermark = INT64_MIN; /* the first statement has none: the second's */
    p.stmt[1].watermark = INT64_C(3600000000) * 24 * 4 + INT64_C(43200000000);
    ms_buf b = MS_BUF_INIT;
    ms_progress_format_line(&b, &p, 10, 11468, 10.04);
    assert_string_equal(b.data, "progress batch=88 rows=1234 input_rows_per_s=617.0 "
                                "processed_rows_per_s=98720.0 duration_ms=12.5 commit_ms=3.1 "
                                "watermark=1970-01-05T12:00:00.000000Z batches=10 "
                                "batch_rows=11468 over_s=10.0");
    ms_buf_reset(&b);
    p.nstmts_listed = 0;
    p.replayed = 1;
    ms_progress_format_line(&b, &p, 1, 1234, 0);
    assert_non_null(
        strstr(b.data, " watermark=none batches=1 batch_rows=1234 over_s=0.0 replayed"));
    ms_buf_free(&b);
}

static void test_log_rate_limited_and_folded(void **state)
{
    (void)state;
    ms_progress_ring r;
    ms_progress_ring_init(&r, 4);
    /* Batches end at t + ms_total: 100.01, 101.01, 102.01, 105.02, 105.52. */
    ms_progress b0 = batch(0, 100.0, 5, 10), b1 = batch(1, 101.0, 7, 10),
                b2 = batch(2, 102.0, 11, 10), b3 = batch(3, 105.0, 13, 20),
                b4 = batch(4, 105.5, 17, 20);
    assert_int_equal(ms_progress_log(&r, &b0, 5), 1); /* the first batch: at once */
    assert_int_equal(r.log_batches, 0);
    assert_int_equal(ms_progress_log(&r, &b1, 5), 0); /* folded */
    assert_int_equal(ms_progress_log(&r, &b2, 5), 0);
    assert_int_equal(r.log_batches, 2);
    assert_int_equal(r.log_rows, 18);
    assert_int_equal(ms_progress_log(&r, &b3, 5), 1); /* 5.01 s after the last line */
    assert_int_equal(r.log_batches, 0);
    assert_int_equal(r.log_rows, 0);
    assert_int_equal(ms_progress_log(&r, &b4, 5), 0);
    /* every 0: each batch has its line */
    assert_int_equal(ms_progress_log(&r, &b4, 0), 1);
    /* a wall clock that stepped back logs and starts over */
    ms_progress early = batch(5, 50.0, 1, 1);
    assert_int_equal(ms_progress_log(&r, &early, 5), 1);
    ms_progress next = batch(6, 51.0, 1, 1);
    assert_int_equal(ms_progress_log(&r, &next, 5), 0);
    ms_progress_ring_free(&r);
}

/* Rows of the "history" object of a status document. */
static size_t history_rows(const char *doc, double *first_t, double *last_t)
{
    const char *h = strstr(doc, "\"history\":{");
    assert_non_null(h);
    const char *rows = strstr(h, "\"rows\":[");
    assert_non_null(rows);
    size_t n = 0;
    const char *p = rows + 8;
    while (*p == '[') {
        double t = strtod(p + 1, NULL);
        if (n == 0)
            *first_t = t;
        *last_t = t;
        n++;
        p = strchr(p, ']');
        assert_non_null(p);
        p++;
        if (*p == ',')
            p++;
    }
    assert_true(*p == ']');
    return n;
}

static void test_history_bounded(void **state)
{
    (void)state;
    ms_progress_ring r;
    ms_progress_ring_init(&r, 20);
    ms_stats st;
    memset(&st, 0, sizeof(st));
    /* 700 batches 0.5 s apart: 600 points kept (350 s, all recent). */
    for (int i = 0; i < 700; i++) {
        ms_progress p = batch(i, 1000.0 + i * 0.5, 3, 1);
        ms_progress_push(&r, &p);
    }
    ms_buf b = MS_BUF_INIT;
    ms_progress_render_status(&b, "q", "in", "DirectorySource[in]", "chk", 1, &st, NULL, &r);
    double t0 = 0, t1 = 0;
    assert_int_equal(history_rows(b.data, &t0, &t1), MS_PROGRESS_HISTORY);
    assert_true(t0 == 1000.0 + 100 * 0.5 && t1 == 1000.0 + 699 * 0.5);
    assert_non_null(strstr(b.data, "\"columns\":[\"time\",\"batchId\",\"numInputRows\","));
    assert_non_null(strstr(b.data, "[1349.500,699,3,1.5,3000,0,0,0,0.25,1,6990,699000]]"));
    /* recentProgress keeps its own bound (--status-batches) */
    assert_non_null(strstr(b.data, "\"batchId\":680,"));
    assert_null(strstr(b.data, "\"batchId\":679,"));
    /* 600 more, 2 s apart: only the last 600 s (301 points) are rendered */
    for (int i = 0; i < 600; i++) {
        ms_progress p = batch(700 + i, 2000.0 + i * 2.0, 3, 1);
        ms_progress_push(&r, &p);
    }
    ms_buf_reset(&b);
    ms_progress_render_status(&b, "q", "in", "DirectorySource[in]", "chk", 1, &st, NULL, &r);
    assert_int_equal(history_rows(b.data, &t0, &t1), 301);
    assert_true(t1 - t0 == MS_PROGRESS_HISTORY_SEC);
    assert_true(b.len < 100 * 1024);
    /* no inf or nan in the JSON, whatever a rate was */
    ms_progress odd = batch(5000, 3198.5, 1, 0);
    odd.input_rps = INFINITY;
    odd.processed_rps = NAN;
    ms_progress_push(&r, &odd);
    ms_buf_reset(&b);
    ms_progress_render_status(&b, "q", "in", "DirectorySource[in]", "chk", 1, &st, NULL, &r);
    assert_non_null(strstr(b.data, "[3198.500,5000,1,0,0,0,0,0,0,0,50000,5000000]]"));
    ms_buf_free(&b);
    ms_progress_ring_free(&r);
}

int main(void)
{
    ms_log_threshold = MS_LOG_WARN; /* the lines themselves are checked above */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_log_rate_limited_and_folded),
        cmocka_unit_test(test_history_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
