/* Command-line parsing: aliases, defaults, bounds, usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The table goes through core/ms_opt: the Spark-style spellings stay. */
static void test_short_letters_and_flag_words(void **state)
{
    (void)state;
    ms_config c;
    char err[256];
    char *a[] = {"mstream", "-h", "false", "-V"};
    assert_int_equal(parse(&c, err, 4, a), 0);
    assert_int_equal(c.help, 0);
    assert_int_equal(c.version, 1);
    ms_config_free(&c);
    char *b[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "-Xa=1", "-X", "b=2"};
    assert_int_equal(parse(&c, err, 8, b), 0);
    assert_int_equal(c.nkafka_props, 2);
    assert_string_equal(c.kafka_props[0], "a=1");
    assert_string_equal(c.kafka_props[1], "b=2");
    assert_int_equal(c.fail_on_data_loss, 1);
    ms_config_free(&c);
    assert_null(c.kafka_props);
    char *d[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "-q"};
    expect_usage(6, d, "unknown option '-q' (see --help)");
    char *e[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--top-k=-1"};
    expect_usage(6, e, "--top-k must be between 0 and 1e+07, not '-1'");
}

static void test_usage_text(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ms_config_usage(f);
    fclose(f);
    char line[256];
    snprintf(line, sizeof(line), "\n  %-34s directory to watch", "--input-dir DIR");
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "\n  %-34s   (alias --inputDir)\n", "");
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "\n  %-34s librdkafka property", "-X KEY=VALUE");
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, "[default: 127.0.0.1:4040]\n"));
    assert_null(strstr(text, "-h, --help")); /* -h works, but is not listed */
    assert_true(strncmp(text, "usage: mstream --input-dir DIR", 30) == 0);
    assert_non_null(strstr(text, "\n\nexit status: 0 ok"));
    free(text);
}

/* The directory source's file options, by their Spark names too, and what
 * is refused: bad values, archive without its directory, and every one of
 * them with --kafka. */
static void test_file_source_options(void **state)
{
    (void)state;
    char *argv[] = {"mstream",
                    "--inputDir",
                    "in",
                    "--checkpointDir",
                    "c",
                    "--pathGlobFilter",
                    "*.{csv,gz}",
                    "--recursiveFileLookup",
                    "--latestFirst",
                    "--maxFileAge",
                    "1.5h",
                    "--cleanSource",
                    "archive",
                    "--sourceArchiveDir",
                    "done"};
    ms_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 15, argv), 0);
    assert_string_equal(c.path_glob_filter, "*.{csv,gz}");
    assert_int_equal(c.recursive, 1);
    assert_int_equal(c.latest_first, 1);
    assert_true(c.max_file_age == 5400.0);
    assert_string_equal(c.clean_source, "archive");
    assert_string_equal(c.source_archive_dir, "done");
    ms_config_free(&c);
    char *d[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c"};
    assert_int_equal(parse(&c, err, 5, d), 0);
    assert_string_equal(c.clean_source, "off");
    assert_true(c.max_file_age == 0 && !c.recursive && !c.latest_first && !c.path_glob_filter);
    ms_config_free(&c);
    const char *ages[][2] = {{"7d", "604800"}, {"90s", "90"},     {"30m", "1800"},
                             {"2min", "120"},  {"250ms", "0.25"}, {"0", "0"}};
    for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
        char *a[] = {"mstream",        "--input-dir",     "in", "--checkpoint-dir", "c",
                     "--max-file-age", (char *)ages[i][0]};
        assert_int_equal(parse(&c, err, 7, a), 0);
        assert_true(c.max_file_age == atof(ages[i][1]));
        ms_config_free(&c);
    }

    char *e1[] = {"mstream", "--input-dir",    "in",  "--checkpoint-dir",
                  "c",       "--max-file-age", "3600"};
    expect_usage(7, e1, "duration with its unit");
    char *e2[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--max-file-age", "-1h"};
    expect_usage(7, e2, "duration");
    char *e3[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--max-file-age", "3y"};
    expect_usage(7, e3, "duration");
    char *e4[] = {"mstream", "--input-dir",    "in",  "--checkpoint-dir",
                  "c",       "--clean-source", "move"};
    expect_usage(7, e4, "off, archive or delete");
    char *e5[] = {"mstream", "--input-dir",    "in",     "--checkpoint-dir",
                  "c",       "--clean-source", "archive"};
    expect_usage(7, e5, "needs --source-archive-dir");
    char *e6[] = {"mstream", "--input-dir",    "in",     "--checkpoint-dir",
                  "c",       "--clean-source", "delete", "--source-archive-dir",
                  "x"};
    expect_usage(9, e6, "--clean-source archive only");
    char *e7[] = {"mstream", "--input-dir",          "in", "--checkpoint-dir",
                  "c",       "--source-archive-dir", "x"};
    expect_usage(7, e7, "--clean-source archive only");
    const char *kafka_only[][2] = {{"--path-glob-filter", "*.csv"}, {"--recursive", "true"},
                                   {"--latest-first", "true"},      {"--max-file-age", "1d"},
                                   {"--clean-source", "delete"},    {"--source-archive-dir", "x"}};
    for (size_t i = 0; i < sizeof(kafka_only) / sizeof(kafka_only[0]); i++) {
        char *k[] = {"mstream",
                     "--kafka",
                     "b:1",
                     "--topics",
                     "t",
                     "--checkpoint-dir",
                     "c",
                     (char *)kafka_only[i][0],
                     (char *)kafka_only[i][1]};
        expect_usage(9, k, kafka_only[i][0]);
        expect_usage(9, k, "directory source only");
    }
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
        cmocka_unit_test(test_short_letters_and_flag_words),
        cmocka_unit_test(test_usage_text),
        cmocka_unit_test(test_split_addr),
        cmocka_unit_test(test_file_source_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
