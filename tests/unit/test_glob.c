/* --path-glob-filter globs (ms_glob.h): Hadoop GlobFilter's syntax on file
 * names, and the patterns refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mstream/mstream.h"
#include "source/ms_glob.h"

static int matches(const char *pat, const char *name)
{
    ms_glob *g = NULL;
    char err[256];
    assert_int_equal(ms_glob_compile(pat, &g, err, sizeof(err)), 0);
    int m = ms_glob_match(g, name);
    ms_glob_free(g);
    return m;
}

static void test_wildcards_and_classes(void **state)
{
    (void)state;
    assert_true(matches("*.csv", "part-1.csv"));
    assert_false(matches("*.csv", "part-1.csv.gz"));
    assert_true(matches("part-?.txt", "part-7.txt"));
    assert_false(matches("part-?.txt", "part-17.txt"));
    assert_true(matches("part-[0-9][0-9].txt", "part-42.txt"));
    assert_false(matches("part-[0-9][0-9].txt", "part-4x.txt"));
    assert_true(matches("log-[!a]*", "log-b1"));
    assert_false(matches("log-[!a]*", "log-a1"));
    assert_true(matches("log-[^a]*", "log-b1"));
    assert_false(matches("log-[^a]*", "log-a1"));
    assert_true(matches("a\\*b", "a*b"));
    assert_false(matches("a\\*b", "axb"));
}

static void test_braces(void **state)
{
    (void)state;
    ms_glob *g = NULL;
    char err[256];
    assert_int_equal(ms_glob_compile("*.{csv,csv.gz}", &g, err, sizeof(err)), 0);
    assert_int_equal(ms_glob_alternatives(g), 2);
    assert_true(ms_glob_match(g, "a.csv"));
    assert_true(ms_glob_match(g, "a.csv.gz"));
    assert_false(ms_glob_match(g, "a.json"));
    ms_glob_free(g);
    /* Nested groups, an escaped comma, braces inside a class. */
    assert_int_equal(ms_glob_compile("{a,{b,c}x,d\\,e}", &g, err, sizeof(err)), 0);
    assert_int_equal(ms_glob_alternatives(g), 4);
    assert_true(ms_glob_match(g, "a") && ms_glob_match(g, "bx") && ms_glob_match(g, "cx"));
    assert_true(ms_glob_match(g, "d,e"));
    assert_false(ms_glob_match(g, "b") || ms_glob_match(g, "d"));
    ms_glob_free(g);
    assert_true(matches("[{]*", "{x"));
    assert_true(matches("x{}y", "xy")); /* an empty group is an empty alternative */
    assert_true(matches("a,b", "a,b")); /* a comma outside braces is itself */
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"", "a/*.csv", "{a,b", "a}b", "{{a}", "*.{a,b}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms_glob *g = NULL;
        char err[256] = "";
        assert_int_equal(ms_glob_compile(bad[i], &g, err, sizeof(err)), MS_EUSAGE);
        assert_null(g);
        assert_non_null(strstr(err, "--path-glob-filter"));
    }
    /* 9 groups of 2 = 512 alternatives: too many. */
    ms_glob *g = NULL;
    char err[256] = "";
    assert_int_equal(
        ms_glob_compile("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}", &g, err, sizeof(err)),
        MS_EUSAGE);
    assert_non_null(strstr(err, "alternatives"));
    assert_int_equal(
        ms_glob_compile("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}", &g, err, sizeof(err)), 0);
    assert_int_equal(ms_glob_alternatives(g), 256);
    ms_glob_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcards_and_classes),
        cmocka_unit_test(test_braces),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
