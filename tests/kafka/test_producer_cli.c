/* producers/ms_cli: the option table loader shared by producer, ms_tracegen
 * and ms_feeder: defaults, syntaxes, bounds, lists, errors, --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ms_cli.h"
#include "mstream/mstream.h"

typedef struct cfg {
    char *name;
    double f;
    int64_t n;
    int flag;
    ms_cli_list props;
} cfg;

static const ms_cli_opt opts[] = {
    {"name", 0, MS_CLI_STR, offsetof(cfg, name), "dflt", 0, 0, "NAME", "a name"},
    {"factor", 0, MS_CLI_DOUBLE, offsetof(cfg, f), NULL, 0.5, 10, "F", "a factor"},
    {"count", 'n', MS_CLI_INT, offsetof(cfg, n), "3", 0, 100, "N", "a count"},
    {"flag", 0, MS_CLI_FLAG, offsetof(cfg, flag), "false", 0, 1, NULL, "a flag"},
    {"property", 'X', MS_CLI_LIST, offsetof(cfg, props), NULL, 0, 0, "K=V", "a property"},
};

static const ms_cli_spec spec = {"usage: t [options]", "About t.", opts, 5, "exit status: 0"};

static int parse(cfg *c, unsigned char *seen, char *err, int argc, const char **argv)
{
    memset(c, 0, sizeof(*c));
    return ms_cli_parse(&spec, c, seen, argc, (char **)argv, err, 256);
}

static void test_defaults_and_syntaxes(void **state)
{
    (void)state;
    cfg c;
    char err[256];
    unsigned char seen[5];
    const char *a1[] = {"t"};
    assert_int_equal(parse(&c, seen, err, 1, a1), 0);
    assert_string_equal(c.name, "dflt");
    assert_true(c.f == 0 && c.n == 3 && c.flag == 0 && c.props.n == 0);
    assert_int_equal(seen[1] + seen[2], 0);
    ms_cli_free(&spec, &c);

    const char *a2[] = {"t",      "--name=x", "--factor", "2.5", "-n",         "7",
                        "--flag", "-Xa=1",    "-X",       "b=2", "--property", "c=3"};
    assert_int_equal(parse(&c, seen, err, 12, a2), 0);
    assert_string_equal(c.name, "x");
    assert_true(c.f == 2.5 && c.n == 7 && c.flag == 1);
    assert_int_equal(c.props.n, 3);
    assert_string_equal(c.props.v[0], "a=1");
    assert_string_equal(c.props.v[1], "b=2");
    assert_string_equal(c.props.v[2], "c=3");
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[3], 1);
    ms_cli_free(&spec, &c);
    assert_null(c.name);
    assert_null(c.props.v);
}

static void test_errors(void **state)
{
    (void)state;
    struct {
        int argc;
        const char *argv[4];
        const char *msg;
    } cases[] = {
        {2, {"t", "--factor=0.1"}, "between 0.5 and 10"},
        {2, {"t", "--factor=abc"}, "needs a number"},
        {3, {"t", "-n", "1.5"}, "whole number"},
        {2, {"t", "--count"}, "needs a value"},
        {2, {"t", "--nope"}, "unknown option '--nope'"},
        {2, {"t", "-q"}, "unknown option '-q'"},
        {2, {"t", "stray"}, "unexpected argument 'stray'"},
        {2, {"t", "--flag=maybe"}, "true or false"},
        {2, {"t", "--name="}, "non-empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg c;
        char err[256] = "";
        assert_int_equal(parse(&c, NULL, err, cases[i].argc, cases[i].argv), MS_EUSAGE);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].msg, err);
        ms_cli_free(&spec, &c);
    }
}

static void test_usage_lists_every_option(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ms_cli_usage(&spec, f);
    fclose(f);
    for (size_t i = 0; i < 5; i++)
        assert_non_null(strstr(text, opts[i].name));
    assert_non_null(strstr(text, "-X, --property K=V"));
    assert_non_null(strstr(text, "[default: 3]"));
    assert_non_null(strstr(text, "exit status: 0"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_syntaxes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_usage_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
