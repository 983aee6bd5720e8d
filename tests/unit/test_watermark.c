/* ms_watermark: the minimum over active partitions, idleness with an
 * injected clock, backlogs, topics, and the persisted record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mstream/mstream.h"
#include "query/ms_watermark.h"

#define MIN (60 * INT64_C(1000000))

static void row(ms_wm *w, const char *topic, int32_t part, int64_t t, double now)
{
    ms_part p = {.topic = topic, .partition = part};
    ms_wm_part *wp = ms_wm_part_of(w, &p, now);
    assert_non_null(wp);
    wp->seen = 1;
    if (t > wp->max_event)
        wp->max_event = t;
}

static ms_part_info info(const char *topic, int32_t part, int backlog)
{
    ms_part_info i = {.part = {.topic = topic, .partition = part}, .backlog = backlog};
    return i;
}

/* A partition behind its siblings holds the watermark: its rows stay on
 * time (with one global maximum they would be late). */
static void test_minimum_over_partitions(void **state)
{
    (void)state;
    ms_wm w;
    ms_wm_init(&w, 10 * MIN, 5.0, NULL);
    ms_part_info parts[] = {info("t", 0, 0), info("t", 1, 0)};
    row(&w, "t", 0, 100 * MIN, 0);
    row(&w, "t", 1, 20 * MIN, 0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 1.0), 10 * MIN);
    row(&w, "t", 0, 200 * MIN, 1.5);
    row(&w, "t", 1, 50 * MIN, 1.5);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 2.0), 40 * MIN);
    assert_int_equal(ms_wm_max_event(&w), 200 * MIN);
    ms_wm_free(&w);
}

/* A partition the source lists but that never sent anything holds the
 * watermark back until it has been quiet for idle_sec; then the others
 * decide, until it sends again. */
static void test_silent_partition_goes_idle(void **state)
{
    (void)state;
    ms_wm w;
    ms_wm_init(&w, 0, 5.0, NULL);
    ms_part_info parts[] = {info("t", 0, 0), info("t", 1, 0)};
    row(&w, "t", 0, 100 * MIN, 0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 1.0), INT64_MIN); /* t/1 holds */
    row(&w, "t", 0, 110 * MIN, 4.0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 4.0), INT64_MIN); /* quiet for 4 s < 5 s */
    row(&w, "t", 0, 120 * MIN, 6.5);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 6.5), 120 * MIN); /* t/1 idle since 6 s */
    assert_true(w.parts[1].idle);
    /* t/1 sends (old rows: below the watermark, the caller drops them as
     * late), and is active again: the watermark does not move back. */
    row(&w, "t", 1, 30 * MIN, 7.0);
    row(&w, "t", 0, 130 * MIN, 7.0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 7.0), 120 * MIN);
    assert_false(w.parts[1].idle);
    ms_wm_free(&w);
}

/* A partition with input waiting beyond the plan is never idle. */
static void test_backlog_is_never_idle(void **state)
{
    (void)state;
    ms_wm w;
    ms_wm_init(&w, 0, 1.0, NULL);
    ms_part_info parts[] = {info("t", 0, 0), info("t", 1, 1)};
    row(&w, "t", 0, 100 * MIN, 0);
    row(&w, "t", 1, 10 * MIN, 0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 0.5), 10 * MIN);
    row(&w, "t", 0, 200 * MIN, 9.0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 9.0), 10 * MIN); /* t/1 capped, not idle */
    parts[1].backlog = 0;
    assert_int_equal(ms_wm_advance(&w, parts, 2, 9.5), 200 * MIN);
    ms_wm_free(&w);
}

/* Everything idle: nothing that could be late is coming, the largest
 * event time decides (windows can close at the end of the input). */
static void test_all_idle_uses_the_maximum(void **state)
{
    (void)state;
    ms_wm w;
    ms_wm_init(&w, MIN, 2.0, NULL);
    ms_part_info parts[] = {info("t", 0, 0), info("t", 1, 0)};
    row(&w, "t", 0, 100 * MIN, 0);
    row(&w, "t", 1, 50 * MIN, 0);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 0), 49 * MIN);
    assert_int_equal(ms_wm_advance(&w, parts, 2, 10.0), 99 * MIN);
    ms_wm_free(&w);
}

/* A statement reading topic a ignores the partitions of b; partitions the
 * source no longer lists are forgotten once idle. */
static void test_topics_and_forgetting(void **state)
{
    (void)state;
    ms_wm w;
    ms_wm_init(&w, 0, 1.0, "a");
    ms_part pb = {.topic = "b", .partition = 0};
    assert_null(ms_wm_part_of(&w, &pb, 0));
    ms_part_info parts[] = {info("a", 0, 0), info("a", 1, 0), info("b", 0, 0)};
    row(&w, "a", 0, 5, 0);
    row(&w, "a", 1, 7, 0);
    ms_wm_advance(&w, parts, 3, 0);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.parts[0].key, "a/0");
    assert_string_equal(w.parts[1].key, "a/1");
    ms_part_info fewer[] = {info("a", 0, 0)};
    row(&w, "a", 0, 9, 0.5);
    assert_int_equal(ms_wm_advance(&w, fewer, 1, 0.5), 7); /* a/1 not idle yet: it holds */
    assert_int_equal(w.n, 2);
    row(&w, "a", 0, 11, 3.0);
    assert_int_equal(ms_wm_advance(&w, fewer, 1, 3.0), 11);
    assert_int_equal(w.n, 1); /* a/1: gone from the source and idle */
    ms_wm_free(&w);
}

/* The record: every partition's largest event time, in key order; the
 * decoder refuses what is not such a list. */
static void test_record_roundtrip_and_corrupt(void **state)
{
    (void)state;
    ms_wm w, v;
    ms_wm_init(&w, 0, 5.0, NULL);
    ms_wm_init(&v, 0, 5.0, NULL);
    row(&w, "t", 2, 42, 0);
    row(&w, "t", 10, -3, 0);
    ms_part d = {.topic = NULL, .partition = -1};
    ms_wm_part_of(&w, &d, 0); /* known, no event time yet */
    ms_buf b = MS_BUF_INIT;
    ms_wm_encode(&w, &b);
    const uint8_t *p = (const uint8_t *)b.data, *end = p + b.len;
    assert_int_equal(ms_wm_decode(&v, &p, end, 100.0), 0);
    assert_ptr_equal(p, end);
    assert_int_equal(v.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(v.parts[i].key, w.parts[i].key);
        assert_int_equal(v.parts[i].max_event, w.parts[i].max_event);
        assert_true(v.parts[i].last_active == 100.0);
    }
    /* Keys out of order: two entries for one partition would be possible. */
    ms_buf c = MS_BUF_INIT;
    uint8_t bad[] = {2, 3, 't', '/', '2', 0, 3, 't', '/', '1', 0};
    ms_buf_append(&c, bad, sizeof(bad));
    p = (const uint8_t *)c.data;
    assert_int_equal(ms_wm_decode(&v, &p, p + c.len, 0), MS_ECORRUPT);
    assert_int_equal(v.n, 0);
    uint8_t trunc[] = {1, 3, 't', '/'};
    p = trunc;
    assert_int_equal(ms_wm_decode(&v, &p, trunc + sizeof(trunc), 0), MS_ECORRUPT);
    ms_buf_free(&b);
    ms_buf_free(&c);
    ms_wm_free(&w);
    ms_wm_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimum_over_partitions),
        cmocka_unit_test(test_silent_partition_goes_idle),
        cmocka_unit_test(test_backlog_is_never_idle),
        cmocka_unit_test(test_all_idle_uses_the_maximum),
        cmocka_unit_test(test_topics_and_forgetting),
        cmocka_unit_test(test_record_roundtrip_and_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
