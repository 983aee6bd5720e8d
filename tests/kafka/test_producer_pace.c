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

/* The lag while an event waits: none while its deadline is ahead, growing
 * once it has passed (a producer blocked on a full queue), the last sent
 * event's lag when nothing waits. */
static void test_behind_while_blocked(void **state)
{
    (void)state;
    ms_pace p;
    int64_t d;
    ms_pace_init(&p, MS_PACE_RATE, 10); /* due at 0, 0.1 s, 0.2 s, ... */
    assert_int_equal(ms_pace_behind(&p, 0), 0);
    assert_int_equal(ms_pace_deadline(&p, 0, 5 * SEC, &d), 1);
    ms_pace_sent(&p, d, 5 * SEC + 7);
    assert_int_equal(ms_pace_behind(&p, 9 * SEC), 7); /* nothing waits: the last lag */
    assert_int_equal(ms_pace_deadline(&p, 0, 5 * SEC, &d), 1);
    assert_int_equal(d, 5 * SEC + SEC / 10);
    assert_int_equal(ms_pace_behind(&p, 5 * SEC + 1), 0); /* waiting, on time */
    assert_int_equal(ms_pace_behind(&p, 8 * SEC + SEC / 10), 3 * SEC);
    assert_int_equal(ms_pace_behind(&p, 9 * SEC + SEC / 10), 4 * SEC); /* still blocked */
    ms_pace_sent(&p, d, 9 * SEC + SEC / 10);
    assert_int_equal(ms_pace_behind(&p, 20 * SEC), 4 * SEC);
    assert_int_equal(p.behind_max_ns, 4 * SEC);
}

/* WARN when behind by more than the threshold, at most every `every`, and
 * "caught up" once below half of it; a zero threshold never warns. */
static void test_warn_rate_limited(void **state)
{
    (void)state;
    ms_pace_warn w = {.threshold_ns = SEC, .every_ns = 10 * SEC};
    assert_int_equal(ms_pace_warn_check(&w, SEC / 2, 0), MS_PACE_WARN_NONE);
    assert_int_equal(ms_pace_warn_check(&w, SEC, 1), MS_PACE_WARN_NONE); /* not above */
    assert_int_equal(ms_pace_warn_check(&w, SEC + 1, 2 * SEC), MS_PACE_WARN_BEHIND);
    for (int64_t t = 2 * SEC + 1; t < 12 * SEC; t += SEC / 10)
        assert_int_equal(ms_pace_warn_check(&w, 3 * SEC, t), MS_PACE_WARN_NONE);
    assert_int_equal(ms_pace_warn_check(&w, 5 * SEC, 12 * SEC), MS_PACE_WARN_BEHIND);
    assert_int_equal(ms_pace_warn_check(&w, 2 * SEC, 13 * SEC), MS_PACE_WARN_NONE);
    /* between half the threshold and the threshold: no news */
    assert_int_equal(ms_pace_warn_check(&w, SEC * 3 / 4, 14 * SEC), MS_PACE_WARN_NONE);
    assert_int_equal(ms_pace_warn_check(&w, SEC / 4, 15 * SEC), MS_PACE_WARN_CAUGHT_UP);
    assert_int_equal(w.worst_ns, 5 * SEC);
    assert_int_equal(ms_pace_warn_check(&w, 0, 16 * SEC), MS_PACE_WARN_NONE);
    /* a new episode warns at once again */
    assert_int_equal(ms_pace_warn_check(&w, 2 * SEC, 17 * SEC), MS_PACE_WARN_BEHIND);
    assert_int_equal(w.worst_ns, 2 * SEC);
    ms_pace_warn off = {.threshold_ns = 0, .every_ns = SEC};
    assert_int_equal(ms_pace_warn_check(&off, 1000 * SEC, 0), MS_PACE_WARN_NONE);
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
        cmocka_unit_test(test_speed_factor),      cmocka_unit_test(test_rate_and_none),
        cmocka_unit_test(test_behind_schedule),   cmocka_unit_test(test_behind_while_blocked),
        cmocka_unit_test(test_warn_rate_limited), cmocka_unit_test(test_sleep_until_is_absolute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
