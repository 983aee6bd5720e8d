/*
 * ms_cli: the option table of the producer-side tools (producer, ms_tracegen,
 * ms_feeder).
 *
 * As in src/core/ms_config.c (and librdkafka's rd_kafka_properties[]), one
 * table per program lists every option with its name, type, default, bounds,
 * the field of the program's config struct it fills, and its description;
 * ms_cli_parse() applies the defaults and parses argv with that table, and
 * ms_cli_usage() prints --help from the same table, so the two cannot drift.
 *
 * Syntax: `--name VALUE`, `--name=VALUE`, flags as `--name` (or
 * `--name=true|false`), a one-letter short name as `-X VALUE` or `-XVALUE`.
 * A MS_CLI_LIST option may be repeated; its values are collected in order.
 *
 * Ownership: strings and lists in the config struct belong to it and are
 * released by ms_cli_free().  Bounds apply to given values and defaults alike.
 */
#ifndef MS_CLI_H
#define MS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ms_cli_type {
    MS_CLI_STR,    /* char *            */
    MS_CLI_DOUBLE, /* double            */
    MS_CLI_INT,    /* int64_t           */
    MS_CLI_FLAG,   /* int (0 or 1)      */
    MS_CLI_LIST,   /* ms_cli_list, repeatable */
};

typedef struct ms_cli_list {
    char **v;
    size_t n;
} ms_cli_list;

typedef struct ms_cli_opt {
    const char *name; /* kebab-case, without "--" */
    char short_name;  /* 0 = none */
    enum ms_cli_type type;
    size_t offset;   /* of the field in the config struct */
    const char *def; /* default as text, NULL = none (field stays zero) */
    double min, max; /* bounds of numeric values */
    const char *metavar;
    const char *desc;
} ms_cli_opt;

typedef struct ms_cli_spec {
    const char *synopsis; /* "usage: producer --brokers HOST:PORT ..." */
    const char *about;    /* a paragraph printed under the synopsis */
    const ms_cli_opt *opts;
    size_t nopts;
    const char *epilog; /* exit statuses etc., may be NULL */
} ms_cli_spec;

/* Zeroes cfg, applies the defaults, parses argv.  Returns 0, or MS_EUSAGE with
 * a sentence in errstr.  `seen`, if not NULL, gets one flag per table entry
 * telling whether argv gave that option (to check exclusive options). */
int ms_cli_parse(const ms_cli_spec *spec, void *cfg, unsigned char *seen, int argc, char **argv,
                 char *errstr, size_t errstr_size);
void ms_cli_free(const ms_cli_spec *spec, void *cfg);
void ms_cli_usage(const ms_cli_spec *spec, FILE *out);

/* Writes a sentence into errstr (truncated to errstr_size) and returns err:
 * the one way the producer-side tools fill `char *errstr, size_t errstr_size`. */
int ms_cli_errf(int err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
