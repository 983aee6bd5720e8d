/* The state table: counts, growth, dirty tracking, key stability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "state/ms_table.h"

static void test_add_and_find(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    ms_table_add(&t, (const uint8_t *)"spark", 5, 1);
    ms_table_add(&t, (const uint8_t *)"spark", 5, 1);
    ms_table_add(&t, (const uint8_t *)"hello", 5, 1);
    assert_int_equal(t.n, 2);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"spark", 5)->value, 2);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"hello", 5)->value, 1);
    assert_null(ms_table_find(&t, (const uint8_t *)"spar", 4));
    assert_null(ms_table_find(&t, (const uint8_t *)"sparks", 6));
    ms_table_free(&t);
}

static void test_empty_and_binary_keys(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    ms_table_add(&t, (const uint8_t *)"", 0, 3);
    ms_table_add(&t, (const uint8_t *)"a\0b", 3, 1);
    ms_table_add(&t, (const uint8_t *)"a\0c", 3, 1);
    assert_int_equal(t.n, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"", 0)->value, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"a\0c", 3)->value, 1);
    ms_table_free(&t);
}

static void test_growth_keeps_everything(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    char k[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100000; i++) {
            int n = snprintf(k, sizeof(k), "w%d", i);
            ms_table_add(&t, (const uint8_t *)k, (size_t)n, i % 7 + 1);
        }
    }
    assert_int_equal(t.n, 100000);
    for (int i = 0; i < 100000; i += 997) {
        int n = snprintf(k, sizeof(k), "w%d", i);
        ms_entry *e = ms_table_find(&t, (const uint8_t *)k, (size_t)n);
        assert_non_null(e);
        assert_int_equal(e->value, 3 * (i % 7 + 1));
    }
    /* long keys (arena) and short keys (inline) both survive growth */
    const char *lk = "a-key-longer-than-twelve-bytes";
    ms_table_add(&t, (const uint8_t *)lk, strlen(lk), 5);
    for (int i = 100000; i < 300000; i++) {
        int n = snprintf(k, sizeof(k), "w%d", i);
        ms_table_add(&t, (const uint8_t *)k, (size_t)n, 1);
    }
    ms_entry *e = ms_table_find(&t, (const uint8_t *)lk, strlen(lk));
    assert_non_null(e);
    assert_int_equal(e->value, 5);
    assert_memory_equal(ms_entry_key(e), lk, strlen(lk));
    e = ms_table_find(&t, (const uint8_t *)"w0", 2);
    assert_memory_equal(ms_entry_key(e), "w0", 2);
    assert_int_equal(t.n, 300001);
    ms_table_free(&t);
}

static void test_dirty_tracking(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "k%d", i);
        ms_table_set_clean(&t, (const uint8_t *)k, (size_t)n, 5);
    }
    assert_int_equal(t.ndirty, 0); /* loading state changes nothing */
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    ms_table_add(&t, (const uint8_t *)"k2", 2, 1);
    ms_table_add(&t, (const uint8_t *)"new", 3, 1);
    assert_int_equal(t.ndirty, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"k1", 2)->value, 7);
    ms_table_clear_dirty(&t);
    assert_int_equal(t.ndirty, 0);
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    assert_int_equal(t.ndirty, 1);
    assert_int_equal(t.slots[t.dirty[0]].value, 8);
    /* the dirty list follows entries when the table grows */
    for (int i = 0; i < 5000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "g%d", i);
        ms_table_add(&t, (const uint8_t *)k, (size_t)n, 1);
    }
    assert_int_equal(t.ndirty, 5001);
    int64_t sum = 0;
    for (size_t i = 0; i < t.ndirty; i++)
        sum += t.slots[t.dirty[i]].value;
    assert_int_equal(sum, 8 + 5000);
    ms_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_empty_and_binary_keys),
        cmocka_unit_test(test_growth_keeps_everything),
        cmocka_unit_test(test_dirty_tracking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
