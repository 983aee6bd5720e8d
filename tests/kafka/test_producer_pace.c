/* producers/ms_pace: deadlines from trace time and from a rate, lag
 * accounting, and the absolute sleep on the real monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ms_pace.h"
#include "ms_trace.h"

#define SEC    1000000000LL
#define DAY_US (86400LL * 1000000)

static void test_speed_factor(void **state)
{
    (void)state;
    ms_pace p;
    int64_t d;
    ms_pace_init(&p, MS_PACE_SPEED, 432000);
    /* Time-0 and 2^63-1 rows are not paced and do not start the clock. */
    assert_int_equal(ms_pace_deadline(&p, 0, 5 * SEC, &d), 0);
    assert_int_equal(ms_pace_deadline(&p, MS_TRACE_TIME_MAX, 5 * SEC, &d), 0);
    assert_false(p.started);
    int64_t t0 = 600000000; /* first row: due at once, fixes start */
    assert_int_equal(ms_pace_deadline(&p, t0, 7 * SEC, &d), 1);
    assert_int_equal(d, 7 * SEC);
    /* Five days later in trace time: one second later on the wall. */
    assert_int_equal(ms_pace_deadline(&p, t0 + 5 * DAY_US, 99 * SEC, &d), 1);
    assert_int_equal(d, 8 * SEC);
    /* Half a day: 0.1 s.  Deadlines do not depend on `now` after the start. */
    assert_int_equal(ms_pace_deadline(&p, t0 + DAY_US / 2, 123 * SEC, &d), 1);
    assert_int_equal(d, 7 * SEC + SEC / 10);
    /* A row earlier than the first one is late, never before the start. */
    assert_int_equal(ms_pace_deadline(&p, t0 - 1000, 8 * SEC, &d), 1);
    assert_int_equal(d, 7 * SEC);

    ms_pace_init(&p, MS_PACE_SPEED, 43200);
    assert_int_equal(ms_pace_deadline(&p, 1, 0, &d), 1);
    assert_int_equal(ms_pace_deadline(&p, 1 + 5 * DAY_US, 0, &d), 1);
    assert_int_equal(d, 10 * SEC);
    /* Real time (F = 1): one trace microsecond is one wall microsecond. */
    ms_pace_init(&p, MS_PACE_SPEED, 1);
    assert_int_equal(ms_pace_deadline(&p, 1000, 0, &d), 1);
    assert_int_equal(ms_pace_deadline(&p, 1000 + 1234567, 0, &d), 1);
    assert_int_equal(d, 1234567000LL);
    /* A tiny factor saturates instead of overflowing. */
    ms_pace_init(&p, MS_PACE_SPEED, 1e-6);
    assert_int_equal(ms_pace_deadline(&p, 1, 10, &d), 1);
    assert_int_equal(ms_pace_deadline(&p, MS_TRACE_TIME_MAX - 1, 10, &d), 1);
    assert_true(d > 10 && d < INT64_MAX / 2);
}

static void test_rate_and_none(void **state)
{
    (void)state;
    ms_pace p;
    int64_t d;
    ms_pace_init(&p, MS_PACE_RATE, 200);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ms_pace_deadline(&p, 0 /* time is ignored */, 3 * SEC + i, &d), 1);
        assert_int_equal(d, 3 * SEC + i * (SEC / 200));
    }
    ms_pace_init(&p, MS_PACE_NONE, 0);
    assert_int_equal(ms_pace_deadline(&p, 600000000, 0, &d), 0);
}

static void test_behind_schedule(void **state)
{
    (void)state;
    ms_pace p;
    ms_pace_init(&p, MS_PACE_RATE, 10);
    ms_pace_sent(&p, 100, 50); /* early is not negative lag */
    assert_int_equal(p.behind_ns, 0);
    ms_pace_sent(&p, 100, 400);
    assert_int_equal(p.behind_ns, 300);
    ms_pace_sent(&p, 1000, 1100);
    assert_int_equal(p.behind_ns, 100);
    assert_int_equal(p.behind_max_ns, 300);
}

static void test_sleep_until_is_absolute(void **state)
{
    (void)state;
    int64_t now = ms_pace_now_ns();
    int64_t deadline = now + 20000000; /* 20 ms */
    assert_int_equal(ms_pace_sleep_until(deadline), 0);
    assert_true(ms_pace_now_ns() >= deadline);
    /* A deadline in the past returns at once. */
    int64_t before = ms_pace_now_ns();
    assert_int_equal(ms_pace_sleep_until(before - SEC), 0);
    assert_true(ms_pace_now_ns() - before < SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speed_factor),
        cmocka_unit_test(test_rate_and_none),
        cmocka_unit_test(test_behind_schedule),
        cmocka_unit_test(test_sleep_until_is_absolute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
