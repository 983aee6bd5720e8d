/*
 * Group mode's options (cmocka): --application-id and the options that go
 * with it, parsed from the one option table, and every combination group
 * mode refuses, with the sentence the user reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ms_config.h"
#include "mstream/mstream.h"

static int parse(ms_config *c, char *err, size_t errsz, int argc, char **argv)
{
    int rc = ms_config_parse(c, argc, argv, err, errsz);
    return rc;
}

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_group_options(void **state)
{
    (void)state;
    char err[512] = "";
    ms_config c;
    char *argv[] = {"mstream",
                    "--kafka",
                    "b:1",
                    "--checkpoint-dir",
                    "chk",
                    "--application-id",
                    "cluster.app_1-x",
                    "--groupInstanceId",
                    "node-7",
                    "--internal-partitions",
                    "8",
                    "--internal-replication-factor",
                    "3",
                    "--session-timeout-sec",
                    "6",
                    "--transaction-timeout-sec=12.5",
                    "--starting-offsets",
                    "latest"};
    assert_int_equal(parse(&c, err, sizeof(err), ARGC(argv), argv), 0);
    assert_string_equal(c.application_id, "cluster.app_1-x");
    assert_string_equal(c.group_instance_id, "node-7");
    assert_int_equal(c.internal_partitions, 8);
    assert_int_equal(c.internal_replication, 3);
    assert_true(c.session_timeout_sec == 6.0);
    assert_true(c.transaction_timeout_sec == 12.5);
    ms_config_free(&c);

    /* Defaults, and no group mode without the option. */
    char *a2[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c"};
    assert_int_equal(parse(&c, err, sizeof(err), ARGC(a2), a2), 0);
    assert_null(c.application_id);
    assert_int_equal(c.internal_partitions, 0);
    assert_int_equal(c.internal_replication, -1);
    assert_true(c.session_timeout_sec == 10.0);
    assert_true(c.transaction_timeout_sec == 10.0);
    ms_config_free(&c);
}

static void expect_usage(char **argv, int argc, const char *words)
{
    char err[512] = "";
    ms_config c;
    assert_int_equal(parse(&c, err, sizeof(err), argc, argv), MS_EUSAGE);
    if (!strstr(err, words))
        fail_msg("error %s lacks \"%s\"", err, words);
    ms_config_free(&c);
}

static void test_group_refusals(void **state)
{
    (void)state;
    char *dir[] = {"mstream", "--input-dir", ".", "--checkpoint-dir", "c", "--application-id", "a"};
    expect_usage(dir, ARGC(dir), "needs --kafka");
    char *now[] = {"mstream", "--kafka",          "b:1", "--checkpoint-dir",
                   "c",       "--application-id", "a",   "--available-now"};
    expect_usage(now, ARGC(now), "--available-now cannot be used with --application-id");
    char *bad[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--application-id", "a b"};
    expect_usage(bad, ARGC(bad), "may only hold a-z A-Z 0-9");
    char *json[] = {"mstream",
                    "--kafka",
                    "b:1",
                    "--checkpoint-dir",
                    "c",
                    "--application-id",
                    "a",
                    "--starting-offsets",
                    "{\"t\":{\"0\":5}}"};
    expect_usage(json, ARGC(json), "earliest or latest");
    char *alone[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--group-instance-id",
                     "x"};
    expect_usage(alone, ARGC(alone), "applies to group mode only");
    char *parts[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--internal-partitions",
                     "4"};
    expect_usage(parts, ARGC(parts), "applies to group mode only");
    char *sess[] = {"mstream", "--kafka",          "b:1", "--checkpoint-dir",
                    "c",       "--application-id", "a",   "--session-timeout-sec",
                    "0.5"};
    expect_usage(sess, ARGC(sess), "session-timeout-sec");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_options),
        cmocka_unit_test(test_group_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
