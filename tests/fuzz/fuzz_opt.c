/* Fuzz the shared option-table parser (core/ms_opt) with a table of every
 * type.  The first byte picks the spec (with or without the "--flag false"
 * word), the rest is split on NUL into argv.  Invariants: accepted argv
 * leaves every field of the right type inside its bounds, lists of
 * non-empty strings and options not `seen` at their defaults; refused argv
 * leaves MS_EUSAGE and a sentence in errstr; either way the struct frees. */
#include <math.h>
#include <string.h>

#include "core/ms_opt.h"
#include "fuzz.h"
#include "mstream/mstream.h"

typedef struct conf {
    char *name;
    int flag;
    int64_t count;
    double ratio;
    int64_t size;
    ms_opt_list props;
    char **tags;
    size_t ntags;
    int help;
} conf;

#define OFF(f) offsetof(conf, f)

enum { O_NAME, O_FLAG, O_COUNT, O_RATIO, O_SIZE, O_PROPS, O_TAGS, O_HELP, N_O };

static const ms_opt table[N_O] = {
    {"name", "theName", 'n', MS_OPT_STR, OFF(name), "x", 0, 0, "S", "a string"},
    {"flag", "aFlag", 0, MS_OPT_FLAG, OFF(flag), "true", 0, 1, NULL, "a flag"},
    {"count", NULL, 'c', MS_OPT_INT, OFF(count), "3", -10, 1e12, "N", "an int"},
    {"ratio", NULL, 0, MS_OPT_DOUBLE, OFF(ratio), "0.5", 0.001, 100, "R", "a double"},
    {"size", "maxSize", 's', MS_OPT_BYTES, OFF(size), "1M", 1, 1e15, "B", "a size"},
    {"property", NULL, 'X', MS_OPT_LIST, OFF(props), NULL, 0, 0, "K=V", "a list"},
    {NULL, NULL, 'T', MS_OPT_LIST, OFF(tags), NULL, 0, 0, "T", "a short-only list"},
    {"help", NULL, 0, MS_OPT_FLAG, OFF(help), "false", 0, 1, NULL, "help"},
};

static int check_props(const ms_opt *o, const char *val, char *errstr, size_t errsz)
{
    if (o->short_name == 'X' && val && !strchr(val, '='))
        return ms_opt_errf(MS_EUSAGE, errstr, errsz, "-X takes K=V, not '%s'", val);
    return 0;
}

static const ms_opt_spec specs[2] = {
    {.synopsis = "usage: f", .opts = table, .nopts = N_O, .usage_width = 24},
    {.synopsis = "usage: f",
     .opts = table,
     .nopts = N_O,
     .usage_width = 24,
     .flag_word = 1,
     .check = check_props},
};

static void check_list(char **v, size_t n)
{
    FUZZ_CHECK((n == 0) == (v == NULL));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(v[i] && v[i][0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ms_opt_spec *spec = &specs[data[0] & 1];
    char buf[2048];
    char *argv[48];
    int argc = fuzz_argv(data + 1, size - 1, buf, sizeof(buf), argv, 48, "f");
    conf c;
    memset(&c, 0, sizeof(c));
    unsigned char seen[N_O];
    char err[256] = "";
    int rc = ms_opt_parse(spec, &c, seen, argc, argv, err, sizeof(err));
    if (rc == 0) {
        FUZZ_CHECK(c.name && c.name[0] != '\0');
        FUZZ_CHECK(c.flag == 0 || c.flag == 1);
        FUZZ_CHECK(c.help == 0 || c.help == 1);
        FUZZ_CHECK(c.count >= -10 && c.count <= (int64_t)1e12);
        FUZZ_CHECK(isfinite(c.ratio) && c.ratio >= 0.001 && c.ratio <= 100);
        FUZZ_CHECK(c.size >= 1 && c.size <= (int64_t)1e15);
        check_list(c.props.v, c.props.n);
        check_list(c.tags, c.ntags);
        if (spec->check)
            for (size_t i = 0; i < c.props.n; i++)
                FUZZ_CHECK(strchr(c.props.v[i], '=') != NULL);
        if (!seen[O_NAME])
            FUZZ_CHECK(strcmp(c.name, "x") == 0);
        if (!seen[O_COUNT])
            FUZZ_CHECK(c.count == 3);
        if (!seen[O_SIZE])
            FUZZ_CHECK(c.size == 1024 * 1024);
        FUZZ_CHECK(seen[O_PROPS] == (c.props.n > 0));
        FUZZ_CHECK(seen[O_TAGS] == (c.ntags > 0));
    } else {
        FUZZ_CHECK(rc == MS_EUSAGE && err[0] != '\0');
    }
    ms_opt_free(spec, &c);
    FUZZ_CHECK(c.name == NULL && c.props.v == NULL && c.tags == NULL && c.ntags == 0);
    return 0;
}
