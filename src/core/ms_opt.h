/*
 * ms_opt: one command-line parser driven by an option table, shared by every
 * program of mstream (mstream itself through ms_config, producer, ms_tracegen,
 * ms_feeder).
 *
 * As librdkafka's rd_kafka_properties[] and Redis' standardConfig, a program
 * describes each option once -- long name, camelCase alias, short name,
 * type, field, default, bounds, help text -- and the same table applies the
 * defaults, parses argv and prints --help, so the three cannot drift.  What
 * is specific to one program (options that exclude each other, a query to
 * resolve, a value of one option that must look a certain way) stays in that
 * program, after ms_opt_parse() or in its `check` hook.
 *
 * Syntax accepted (argv[0] is skipped):
 *   --name VALUE, --name=VALUE   long name or its alias (--inputDir)
 *   -c VALUE, -cVALUE            one-letter short name, when the table has one
 *   --flag, --flag=true|false    flags; also 1/0, yes/no after '='
 *   --flag true|false            only with spec->flag_word (mstream's habit)
 *   -h, -V                       --help, --version, when the table has those
 * Anything else is a usage error: an unknown option, an argument that is not
 * an option, a missing or malformed value, a value out of bounds.
 *
 * Types and the field each fills (at ms_opt.offset in the config struct):
 *   MS_OPT_STR     char *, non-empty, owned by the struct
 *   MS_OPT_FLAG    int, 0 or 1
 *   MS_OPT_INT     int64_t, a whole number within [min, max]
 *   MS_OPT_DOUBLE  double within [min, max]
 *   MS_OPT_BYTES   int64_t, a size with an optional K/M/G (and B) suffix,
 *                  powers of 1024, within [min, max]
 *   MS_OPT_DURATION double, seconds: a number and a unit (ms, s, m or min, h,
 *                  d: "90s", "1.5h", "7d", Spark's spelling); only 0 may go
 *                  without a unit (a bare number is seconds to some users,
 *                  milliseconds to Spark's); within [min, max] seconds
 *   MS_OPT_LIST    repeatable: every value is appended, in order, to a
 *                  `char **` and the `size_t` count right after it (the
 *                  layout of ms_opt_list); values are non-empty, owned
 *
 * Invariants: every value that reaches a field has passed its type and
 * bounds check (defaults too: a default that fails is a programming error
 * and makes ms_opt_parse() fail); a failure returns MS_EUSAGE with one
 * sentence naming the option in errstr and leaves the struct in a state
 * ms_opt_free() can release.
 */
#ifndef MS_OPT_H
#define MS_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ms_opt_type {
    MS_OPT_STR,
    MS_OPT_FLAG,
    MS_OPT_INT,
    MS_OPT_DOUBLE,
    MS_OPT_BYTES,
    MS_OPT_DURATION,
    MS_OPT_LIST
};

typedef struct ms_opt_list {
    char **v;
    size_t n;
} ms_opt_list;

typedef struct ms_opt {
    const char *name;  /* kebab-case, without "--"; NULL: only the short name */
    const char *alias; /* camelCase alias (Spark's spelling) or NULL */
    char short_name;   /* 0 = none */
    enum ms_opt_type type;
    size_t offset;       /* of the field in the config struct */
    const char *def;     /* default as text; NULL = none (the field stays zero) */
    double min, max;     /* bounds of INT, DOUBLE and BYTES values */
    const char *metavar; /* "DIR" in "--input-dir DIR"; NULL for flags */
    const char *desc;
} ms_opt;

/* The --help and --version rows every table ends with; h and v are their
 * short names as --help lists them (0: not listed, -h and -V work anyway). */
/* clang-format off */
#define MS_OPT_HELP_VERSION(help_offset, version_offset, h, v)                                     \
    {"help", NULL, h, MS_OPT_FLAG, help_offset, "false", 0, 1, NULL, "print this help and exit"},  \
    {"version", NULL, v, MS_OPT_FLAG, version_offset, "false", 0, 1, NULL,                         \
     "print the version and exit"}
/* clang-format on */

/* .opts and .nopts of a spec from a table array. */
#define MS_OPT_TABLE(table) .opts = (table), .nopts = sizeof(table) / sizeof((table)[0])

/* A program's own check of one value, run before the value is stored; `val`
 * is NULL when the option is the last argument and lacks its value.  Returns
 * 0 to go on (with val == NULL: the parser's "needs a value"), or MS_EUSAGE
 * with a sentence in errstr. */
typedef int (*ms_opt_check_fn)(const ms_opt *o, const char *val, char *errstr, size_t errstr_size);

typedef struct ms_opt_spec {
    const char *synopsis; /* "usage: producer --brokers HOST:PORT ...", may span lines */
    const char *about;    /* a paragraph printed under the synopsis, may be NULL */
    const ms_opt *opts;
    size_t nopts;
    const char *epilog;    /* exit statuses etc., may be NULL */
    int usage_width;       /* width of the option column of --help */
    int flag_word;         /* a flag may take its value as the next argument, when
                            * that is exactly "true" or "false" */
    ms_opt_check_fn check; /* may be NULL */
} ms_opt_spec;

/* Applies the defaults and parses argv into cfg, which must be zeroed (or
 * hold only what ms_opt_free() can release).  `seen`, if not NULL, gets one
 * byte per table entry telling whether argv gave that option (for options
 * that exclude each other).  Returns 0, or MS_EUSAGE with a sentence in
 * errstr; either way release cfg with ms_opt_free(). */
int ms_opt_parse(const ms_opt_spec *spec, void *cfg, unsigned char *seen, int argc, char **argv,
                 char *errstr, size_t errstr_size);

/* Frees the strings and lists the table's fields own and zeroes them. */
void ms_opt_free(const ms_opt_spec *spec, void *cfg);

/* --help: synopsis, about, one line per option ("-c, --name META  desc
 * [default: D]", and "(alias --camelCase)" under it), epilog. */
void ms_opt_usage(const ms_opt_spec *spec, FILE *out);

/* Index of the option with this long name in spec->opts (for `seen`); a name
 * not in the table is a programming error and aborts. */
size_t ms_opt_index(const ms_opt_spec *spec, const char *name);

/* Writes a sentence into errstr (truncated to errstr_size) and returns err:
 * the one way the parser, the programs' checks around it and the producer
 * tools fill `char *errstr, size_t errstr_size`. */
int ms_opt_errf(int err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
