/* core/ms_opt: the option-table parser every program uses.  Each type with
 * its bounds, long names, camelCase aliases, short names, the '=' and the
 * separate-word syntaxes, "--flag true|false" only where the spec asks for
 * it, repeated lists, the check hook, defaults, `seen`, every usage error,
 * and --help as printed from the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ms_opt.h"
#include "mstream/mstream.h"

typedef struct conf {
    char *dir;
    int on;
    int64_t count;
    double ratio;
    int64_t size;
    char **kv;
    size_t nkv;
    ms_opt_list tags;
    int help;
    int version;
} conf;

#define OFF(f) offsetof(conf, f)

enum { O_DIR, O_ON, O_COUNT, O_RATIO, O_SIZE, O_KV, O_TAG, O_HELP, O_VERSION, N_O };

static const ms_opt table[N_O] = {
    {"input-dir", "inputDir", 'd', MS_OPT_STR, OFF(dir), NULL, 0, 0, "DIR", "where"},
    {"turn-on", "turnOn", 0, MS_OPT_FLAG, OFF(on), "true", 0, 1, "true|false", "a switch"},
    {"count", NULL, 'c', MS_OPT_INT, OFF(count), "7", -5, 1000, "N", "how many"},
    {"ratio", NULL, 0, MS_OPT_DOUBLE, OFF(ratio), "0.5", 0.25, 2, "R", "how much"},
    {"max-size", "maxSize", 0, MS_OPT_BYTES, OFF(size), "1K", 1, 1 << 30, "BYTES", "how big"},
    {NULL, NULL, 'K', MS_OPT_LIST, OFF(kv), NULL, 0, 0, "KEY=VALUE", "a property"},
    {"tag", NULL, 't', MS_OPT_LIST, OFF(tags), NULL, 0, 0, "T", "a tag"},
    {"help", NULL, 0, MS_OPT_FLAG, OFF(help), "false", 0, 1, NULL, "print help"},
    {"version", NULL, 0, MS_OPT_FLAG, OFF(version), "false", 0, 1, NULL, "print version"},
};

/* -K must hold '=': the hook words its own errors, including a missing value. */
static int check_kv(const ms_opt *o, const char *val, char *errstr, size_t errsz)
{
    if (o->short_name != 'K')
        return 0;
    if (!val)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz, "-K needs KEY=VALUE after it");
    if (!strchr(val, '='))
        return ms_opt_errf(MS_EUSAGE, errstr, errsz, "-K takes KEY=VALUE, not '%s'", val);
    return 0;
}

static const ms_opt_spec words = {.synopsis = "usage: t --input-dir DIR",
                                  .about = "Tests the parser.",
                                  .opts = table,
                                  .nopts = N_O,
                                  .epilog = "exit status: 0 ok",
                                  .usage_width = 26,
                                  .flag_word = 1,
                                  .check = check_kv};

/* The same table without the separate flag word and without the hook. */
static const ms_opt_spec plain = {
    .synopsis = "usage: t", .opts = table, .nopts = N_O, .usage_width = 20};

static int run(const ms_opt_spec *spec, conf *c, unsigned char *seen, char *err, int argc,
               const char *const *argv)
{
    memset(c, 0, sizeof(*c));
    err[0] = '\0';
    return ms_opt_parse(spec, c, seen, argc, (char **)argv, err, 256);
}

static void test_defaults_from_text(void **state)
{
    (void)state;
    conf c;
    char err[256];
    unsigned char seen[N_O];
    memset(seen, 0xff, sizeof(seen));
    const char *a[] = {"t"};
    assert_int_equal(run(&words, &c, seen, err, 1, a), 0);
    assert_null(c.dir);
    assert_int_equal(c.on, 1);
    assert_int_equal(c.count, 7);
    assert_true(c.ratio == 0.5);
    assert_int_equal(c.size, 1024);
    assert_int_equal(c.nkv, 0);
    assert_int_equal(c.tags.n, 0);
    for (size_t i = 0; i < N_O; i++)
        assert_int_equal(seen[i], 0); /* defaults are not "seen" */
    ms_opt_free(&words, &c);
}

static void test_every_type_and_syntax(void **state)
{
    (void)state;
    conf c;
    char err[256];
    unsigned char seen[N_O];
    const char *a[] = {
        "t",     "--inputDir", "in", "--turn-on=false", "-c-5", "--ratio",       "2", "-K", "a=1",
        "-Kb=2", "-t",         "x",  "--tag=y",         "-tz",  "--maxSize=1.5M"};
    assert_int_equal(run(&words, &c, seen, err, 15, a), 0);
    assert_string_equal(c.dir, "in");
    assert_int_equal(c.on, 0);
    assert_int_equal(c.count, -5);
    assert_true(c.ratio == 2.0);
    assert_int_equal(c.size, 3 * 512 * 1024);
    assert_int_equal(c.nkv, 2);
    assert_string_equal(c.kv[0], "a=1");
    assert_string_equal(c.kv[1], "b=2");
    assert_int_equal(c.tags.n, 3);
    assert_string_equal(c.tags.v[0], "x");
    assert_string_equal(c.tags.v[1], "y");
    assert_string_equal(c.tags.v[2], "z");
    assert_int_equal(seen[O_DIR] + seen[O_ON] + seen[O_COUNT] + seen[O_RATIO], 4);
    assert_int_equal(seen[O_SIZE] + seen[O_KV] + seen[O_TAG], 3);
    assert_int_equal(seen[O_HELP] + seen[O_VERSION], 0);
    ms_opt_free(&words, &c);
    assert_null(c.dir);
    assert_null(c.kv);
    assert_int_equal(c.nkv, 0);
    assert_null(c.tags.v);
}

static void test_last_value_wins_and_short_names(void **state)
{
    (void)state;
    conf c;
    char err[256];
    const char *a[] = {"t", "-d", "one", "--input-dir=two", "-dthree", "-c", "9", "--count", "10"};
    assert_int_equal(run(&plain, &c, NULL, err, 9, a), 0);
    assert_string_equal(c.dir, "three");
    assert_int_equal(c.count, 10);
    ms_opt_free(&plain, &c);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        int64_t want;
    } ok[] = {
        {"--max-size=4096", 4096},  {"--max-size=10k", 10240},  {"--max-size=10KB", 10240},
        {"--max-size=2m", 2 << 20}, {"--max-size=1G", 1 << 30}, {"--max-size=0.5K", 512},
        {"--max-size=3b", 3},       {"--max-size=1.9", 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        conf c;
        char err[256];
        const char *a[] = {"t", ok[i].arg};
        if (run(&plain, &c, NULL, err, 2, a) != 0)
            fail_msg("%s: %s", ok[i].arg, err);
        if (c.size != ok[i].want)
            fail_msg("%s gave %lld, not %lld", ok[i].arg, (long long)c.size, (long long)ok[i].want);
        ms_opt_free(&plain, &c);
    }
}

/* "--flag true|false" as two words only with spec->flag_word. */
static void test_flag_word(void **state)
{
    (void)state;
    conf c;
    char err[256];
    const char *a[] = {"t", "--turnOn", "false", "--help", "true"};
    assert_int_equal(run(&words, &c, NULL, err, 5, a), 0);
    assert_int_equal(c.on, 0);
    assert_int_equal(c.help, 1);
    ms_opt_free(&words, &c);

    const char *b[] = {"t", "--turn-on", "--count", "3"}; /* no word: true */
    assert_int_equal(run(&words, &c, NULL, err, 4, b), 0);
    assert_int_equal(c.on, 1);
    assert_int_equal(c.count, 3);
    ms_opt_free(&words, &c);

    const char *d[] = {"t", "--turn-on", "false"};
    assert_int_equal(run(&plain, &c, NULL, err, 3, d), MS_EUSAGE);
    assert_string_equal(err, "unexpected argument 'false' (options start with --)");
    ms_opt_free(&plain, &c);

    const char *e[] = {"t", "--turn-on=no", "--version=1"}; /* '=' takes 1/0 yes/no too */
    assert_int_equal(run(&plain, &c, NULL, err, 3, e), 0);
    assert_int_equal(c.on, 0);
    assert_int_equal(c.version, 1);
    ms_opt_free(&plain, &c);
}

/* -h and -V stand for --help and --version even without a short name. */
static void test_help_and_version_letters(void **state)
{
    (void)state;
    conf c;
    char err[256];
    const char *a[] = {"t", "-h", "-V"};
    assert_int_equal(run(&plain, &c, NULL, err, 3, a), 0);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.version, 1);
    ms_opt_free(&plain, &c);
    const char *b[] = {"t", "-hx"};
    assert_int_equal(run(&plain, &c, NULL, err, 2, b), MS_EUSAGE);
    assert_string_equal(err, "unknown option '-hx' (see --help)");
    ms_opt_free(&plain, &c);
}

static void test_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const ms_opt_spec *spec;
        int argc;
        const char *argv[4];
        const char *want; /* the whole sentence */
    } cases[] = {
        {&plain, 2, {"t", "--nope"}, "unknown option '--nope' (see --help)"},
        {&plain, 2, {"t", "--nope=1"}, "unknown option '--nope=1' (see --help)"},
        {&plain, 2, {"t", "--input-dirx"}, "unknown option '--input-dirx' (see --help)"},
        {&plain, 2, {"t", "-q"}, "unknown option '-q' (see --help)"},
        {&plain, 2, {"t", "stray"}, "unexpected argument 'stray' (options start with --)"},
        {&plain, 2, {"t", "-"}, "unexpected argument '-' (options start with --)"},
        {&plain, 2, {"t", "--"}, "unexpected argument '--' (options start with --)"},
        {&plain, 2, {"t", "--inputDir"}, "--input-dir needs a value"},
        {&plain, 2, {"t", "-c"}, "--count needs a value"},
        {&plain, 2, {"t", "-K"}, "-K needs a value"},
        {&words, 2, {"t", "-K"}, "-K needs KEY=VALUE after it"},
        {&words, 3, {"t", "-K", "novalue"}, "-K takes KEY=VALUE, not 'novalue'"},
        {&plain, 3, {"t", "-K", ""}, "-K needs a non-empty value"},
        {&plain, 2, {"t", "--tag="}, "-t needs a non-empty value"},
        {&plain, 2, {"t", "--input-dir="}, "--input-dir needs a non-empty value"},
        {&plain, 2, {"t", "--turn-on=maybe"}, "--turn-on takes true or false, not 'maybe'"},
        {&plain, 2, {"t", "--count=x"}, "--count needs a number, not 'x'"},
        {&plain, 2, {"t", "--count=1e999"}, "--count needs a number, not '1e999'"},
        {&plain, 2, {"t", "--count=nan"}, "--count needs a number, not 'nan'"},
        {&plain, 2, {"t", "-c2.5"}, "--count needs a whole number, not '2.5'"},
        {&plain, 2, {"t", "-c1001"}, "--count must be between -5 and 1000, not '1001'"},
        {&plain, 2, {"t", "-c-6"}, "--count must be between -5 and 1000, not '-6'"},
        {&plain, 2, {"t", "--ratio=0.2"}, "--ratio must be between 0.25 and 2, not '0.2'"},
        {&plain, 2, {"t", "--max-size=12Q"}, "--max-size needs a size such as 64M, not '12Q'"},
        {&plain,
         2,
         {"t", "--max-size=2G"},
         "--max-size must be between 1 and 1.07374e+09, not '2G'"},
        {&plain,
         2,
         {"t", "--max-size=0.5"},
         "--max-size must be between 1 and 1.07374e+09, not "
         "'0.5'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        conf c;
        char err[256];
        unsigned char seen[N_O];
        int rc = run(cases[i].spec, &c, seen, err, cases[i].argc, cases[i].argv);
        if (rc != MS_EUSAGE)
            fail_msg("case %zu (%s): rc %d", i, cases[i].argv[1], rc);
        if (strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        ms_opt_free(cases[i].spec, &c);
    }
}

/* A value that fails leaves the earlier one in place and is not "seen". */
static void test_failure_keeps_previous_value(void **state)
{
    (void)state;
    conf c;
    char err[256];
    unsigned char seen[N_O];
    const char *a[] = {"t", "--count=9", "-K", "a=1", "--ratio=9"};
    assert_int_equal(run(&words, &c, seen, err, 5, a), MS_EUSAGE);
    assert_int_equal(c.count, 9);
    assert_true(c.ratio == 0.5);
    assert_int_equal(seen[O_COUNT], 1);
    assert_int_equal(seen[O_RATIO], 0);
    assert_int_equal(c.nkv, 1);
    ms_opt_free(&words, &c); /* releases what was stored before the error */
    assert_null(c.kv);
}

static void test_broken_default_fails(void **state)
{
    (void)state;
    static const ms_opt bad[] = {
        {"n", NULL, 0, MS_OPT_INT, OFF(count), "12", 0, 10, "N", "out of its own bounds"},
    };
    static const ms_opt_spec spec = {.synopsis = "usage: t", .opts = bad, .nopts = 1};
    conf c;
    char err[256];
    const char *a[] = {"t"};
    assert_int_equal(run(&spec, &c, NULL, err, 1, a), MS_EUSAGE);
    assert_non_null(strstr(err, "--n must be between 0 and 10, not '12'"));
}

static void test_index_and_errf(void **state)
{
    (void)state;
    assert_int_equal(ms_opt_index(&words, "input-dir"), O_DIR);
    assert_int_equal(ms_opt_index(&words, "version"), O_VERSION);
    char small[8];
    assert_int_equal(ms_opt_errf(MS_EIO, small, sizeof(small), "%s", "truncated here"), MS_EIO);
    assert_string_equal(small, "truncat");
}

static char *usage_text(const ms_opt_spec *spec)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ms_opt_usage(spec, f);
    fclose(f);
    return text;
}

static void test_usage_from_the_table(void **state)
{
    (void)state;
    char *text = usage_text(&words);
    char want[2048];
    snprintf(want, sizeof(want),
             "usage: t --input-dir DIR\n\nTests the parser.\n\noptions:\n"
             "  %-26s where\n"
             "  %-26s   (alias --inputDir)\n"
             "  %-26s a switch\n"
             "  %-26s   (alias --turnOn)\n"
             "  %-26s how many [default: 7]\n"
             "  %-26s how much [default: 0.5]\n"
             "  %-26s how big [default: 1K]\n"
             "  %-26s   (alias --maxSize)\n"
             "  %-26s a property\n"
             "  %-26s a tag\n"
             "  %-26s print help\n"
             "  %-26s print version\n"
             "\nexit status: 0 ok\n",
             "-d, --input-dir DIR", "", "--turn-on true|false", "", "-c, --count N", "--ratio R",
             "--max-size BYTES", "", "-K KEY=VALUE", "-t, --tag T", "--help", "--version");
    assert_string_equal(text, want);
    free(text);

    /* No about, no epilog: neither leaves an empty paragraph; width 20. */
    text = usage_text(&plain);
    const char *head = "usage: t\n\noptions:\n  -d, --input-dir DIR  where\n";
    assert_true(strncmp(text, head, strlen(head)) == 0);
    snprintf(want, sizeof(want), "  %-20s print version\n", "--version");
    assert_true(strlen(text) > strlen(want));
    assert_string_equal(text + strlen(text) - strlen(want), want);
    assert_null(strstr(text, "\n\n\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_from_text),
        cmocka_unit_test(test_every_type_and_syntax),
        cmocka_unit_test(test_last_value_wins_and_short_names),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_flag_word),
        cmocka_unit_test(test_help_and_version_letters),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_failure_keeps_previous_value),
        cmocka_unit_test(test_broken_default_fails),
        cmocka_unit_test(test_index_and_errf),
        cmocka_unit_test(test_usage_from_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
