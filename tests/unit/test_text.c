/* Display form, JSON strings and Prometheus label escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ms_text.h"

static char *display(const char *s, size_t n)
{
    ms_buf b = MS_BUF_INIT;
    ms_text_display(&b, (const uint8_t *)s, n);
    return ms_buf_steal(&b, NULL);
}

static char *prom(const char *s, size_t n)
{
    ms_buf b = MS_BUF_INIT;
    ms_text_prom_label(&b, (const uint8_t *)s, n);
    return ms_buf_steal(&b, NULL);
}

static char *json(const char *s, size_t n)
{
    ms_buf b = MS_BUF_INIT;
    ms_text_json_bytes(&b, (const uint8_t *)s, n);
    return ms_buf_steal(&b, NULL);
}

#define CHECK(fn, in, want)                                                                        \
    do {                                                                                           \
        char *got_ = fn(in, sizeof(in) - 1);                                                       \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_display_form(void **state)
{
    (void)state;
    CHECK(display, "spark", "spark");
    CHECK(display, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(display, "a\\b", "a\\\\b");
    CHECK(display, "\xff\xfe", "\\xff\\xfe");
    CHECK(display, "x\x01y\x7f", "x\\x01y\\x7f");
    CHECK(display, "a\nb", "a\\x0ab");
    CHECK(display, "\xc0\xaf", "\\xc0\\xaf");                   /* overlong '/' */
    CHECK(display, "\xed\xa0\x80", "\\xed\\xa0\\x80");          /* surrogate */
    CHECK(display, "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
    CHECK(display, "\xe2\x82", "\\xe2\\x82");                   /* truncated sequence */
    CHECK(display, "\xc2\x85", "\\xc2\\x85");                   /* C1 control NEL */
}

static void test_display_is_injective(void **state)
{
    (void)state;
    /* The literal text \xff and the byte 0xff must not collide. */
    char *a = display("\\xff", 4);
    char *b = display("\xff", 1);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_prom_label(void **state)
{
    (void)state;
    CHECK(prom, "spark", "spark");
    CHECK(prom, "say \"hi\"", "say \\\"hi\\\"");
    CHECK(prom, "a\\b", "a\\\\\\\\b"); /* display \\ then exposition escapes each */
    CHECK(prom, "\xff", "\\\\xff");
}

static void test_json(void **state)
{
    (void)state;
    CHECK(json, "spark", "\"spark\"");
    CHECK(json, "say \"hi\"", "\"say \\\"hi\\\"\"");
    CHECK(json, "\xff", "\"\\\\xff\"");
    CHECK(json, "\t", "\"\\\\x09\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_display_form),
        cmocka_unit_test(test_display_is_injective),
        cmocka_unit_test(test_prom_label),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
