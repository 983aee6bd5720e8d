/* Command-line parsing: aliases, defaults, bounds, usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ms_config.h"
#include "mstream/mstream.h"

static int parse(ms_config *c, char *err, int argc, char **argv)
{
    return ms_config_parse(c, argc, argv, err, 256);
}

static void test_usage_line_with_aliases(void **state)
{
    (void)state;
    char *argv[] = {"mstream",      "--inputDir", "tmp/stream_in", "--checkpointDir", "tmp/chk",
                    "--triggerSec", "5"};
    ms_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 7, argv), 0);
    assert_string_equal(c.input_dir, "tmp/stream_in");
    assert_string_equal(c.checkpoint_dir, "tmp/chk");
    assert_true(c.trigger_sec == 5.0);
    assert_string_equal(c.metrics_addr, "127.0.0.1:4040");
    assert_string_equal(c.query, "wordcount");
    assert_int_equal(c.top_k, 100);
    assert_int_equal(c.available_now, 0);
    ms_config_free(&c);
}

static void test_kebab_equals_and_sizes(void **state)
{
    (void)state;
    char *argv[] = {"mstream",
                    "--input-dir=in",
                    "--checkpoint-dir",
                    "chk",
                    "--trigger-sec=0.25",
                    "--available-now",
                    "--max-bytes-per-trigger",
                    "64M",
                    "--max-files-per-trigger=3",
                    "--metrics-addr",
                    "127.0.0.1:0"};
    ms_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 11, argv), 0);
    assert_true(c.trigger_sec == 0.25);
    assert_int_equal(c.available_now, 1);
    assert_int_equal(c.max_bytes_per_trigger, 64 * 1024 * 1024);
    assert_int_equal(c.max_files_per_trigger, 3);
    ms_config_free(&c);
}

static void expect_usage(int argc, char **argv, const char *needle)
{
    ms_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, err, argc, argv), MS_EUSAGE);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    ms_config_free(&c);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *a1[] = {"mstream", "--checkpoint-dir", "chk"};
    expect_usage(3, a1, "--input-dir is required");
    char *a2[] = {"mstream", "--input-dir", "in"};
    expect_usage(3, a2, "--checkpoint-dir is required");
    char *a3[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--bogus"};
    expect_usage(6, a3, "unknown option '--bogus'");
    char *a4[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--trigger-sec", "x"};
    expect_usage(7, a4, "needs a number");
    char *a5[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--trigger-sec", "-1"};
    expect_usage(7, a5, "must be between");
    char *a6[] = {"mstream", "--input-dir",    "in",  "--checkpoint-dir",
                  "c",       "--metrics-addr", "4040"};
    expect_usage(7, a6, "HOST:PORT");
    char *a7[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--trigger-sec"};
    expect_usage(6, a7, "needs a value");
    char *a8[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--query", "other"};
    expect_usage(7, a8, "unknown query");
    char *a9[] = {
        "mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--max-files-per-trigger", "1.5"};
    expect_usage(7, a9, "whole number");
    char *a10[] = {"mstream", "stray"};
    expect_usage(2, a10, "unexpected argument");
}

static void test_help_and_version_need_nothing_else(void **state)
{
    (void)state;
    char *a[] = {"mstream", "--help"};
    ms_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 2, a), 0);
    assert_int_equal(c.help, 1);
    ms_config_free(&c);
    char *b[] = {"mstream", "--version"};
    assert_int_equal(parse(&c, err, 2, b), 0);
    assert_int_equal(c.version, 1);
    ms_config_free(&c);
}

static void test_split_addr(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(ms_config_split_addr("127.0.0.1:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    assert_int_equal(ms_config_split_addr("[::1]:4040", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 4040);
    assert_int_not_equal(ms_config_split_addr("host:99999", host, sizeof(host), &port), 0);
    assert_int_not_equal(ms_config_split_addr(":80", host, sizeof(host), &port), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_line_with_aliases),
        cmocka_unit_test(test_kebab_equals_and_sizes),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_and_version_need_nothing_else),
        cmocka_unit_test(test_split_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
