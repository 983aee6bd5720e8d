/*
 * The option table loader of the producer-side tools.  See ms_cli.h.
 *
 * Invariants: every value that reaches a config field has passed its type
 * and bounds check; a failure leaves a sentence naming the option in errstr
 * and the config in a state ms_cli_free() can release.
 */
#include "ms_cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

static int fail(char *errstr, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errstr, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errsz, fmt, ap);
    va_end(ap);
    return MS_EUSAGE;
}

int ms_cli_errf(int err, char *errstr, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errsz, fmt, ap);
    va_end(ap);
    return err;
}

static int set_value(void *cfg, const ms_cli_opt *o, const char *val, char *errstr, size_t errsz)
{
    char *field = (char *)cfg + o->offset;
    char *end;
    double v;
    switch (o->type) {
    case MS_CLI_STR: {
        char **sp = (char **)(void *)field;
        if (!*val)
            return fail(errstr, errsz, "--%s needs a non-empty value", o->name);
        free(*sp);
        *sp = ms_xstrdup(val);
        return 0;
    }
    case MS_CLI_LIST: {
        ms_cli_list *l = (ms_cli_list *)(void *)field;
        if (!*val)
            return fail(errstr, errsz, "%s%c%s needs a non-empty value", o->short_name ? "-" : "--",
                        o->short_name ? o->short_name : ' ', o->short_name ? "" : o->name);
        l->v = ms_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = ms_xstrdup(val);
        return 0;
    }
    case MS_CLI_FLAG: {
        int *ip = (int *)(void *)field;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *ip = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *ip = 0;
        else
            return fail(errstr, errsz, "--%s takes true or false, not '%s'", o->name, val);
        return 0;
    }
    case MS_CLI_DOUBLE:
    case MS_CLI_INT:
        errno = 0;
        v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v))
            return fail(errstr, errsz, "--%s needs a number, not '%s'", o->name, val);
        if (o->type == MS_CLI_INT && v != floor(v))
            return fail(errstr, errsz, "--%s needs a whole number, not '%s'", o->name, val);
        if (v < o->min || v > o->max)
            return fail(errstr, errsz, "--%s must be between %g and %g, not '%s'", o->name, o->min,
                        o->max, val);
        if (o->type == MS_CLI_DOUBLE)
            *(double *)(void *)field = v;
        else
            *(int64_t *)(void *)field = (int64_t)v;
        return 0;
    }
    return fail(errstr, errsz, "--%s: unknown option type", o->name);
}

static const ms_cli_opt *find_long(const ms_cli_spec *spec, const char *name, size_t n)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_cli_opt *o = &spec->opts[i];
        if (strlen(o->name) == n && !strncmp(o->name, name, n))
            return o;
    }
    return NULL;
}

static const ms_cli_opt *find_short(const ms_cli_spec *spec, char c)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (spec->opts[i].short_name && spec->opts[i].short_name == c)
            return &spec->opts[i];
    return NULL;
}

int ms_cli_parse(const ms_cli_spec *spec, void *cfg, unsigned char *seen, int argc, char **argv,
                 char *errstr, size_t errsz)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_cli_opt *o = &spec->opts[i];
        if (seen)
            seen[i] = 0;
        if (o->def && set_value(cfg, o, o->def, errstr, errsz) != 0)
            return MS_EUSAGE; /* a broken default is a programming error */
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const ms_cli_opt *o = NULL;
        const char *val = NULL;
        if (!strcmp(arg, "-h"))
            arg = "--help";
        else if (!strcmp(arg, "-V"))
            arg = "--version";
        if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0') {
            o = find_short(spec, arg[1]);
            if (!o)
                return fail(errstr, errsz, "unknown option '%s' (see --help)", arg);
            if (arg[2])
                val = arg + 2;
        } else if (!strncmp(arg, "--", 2) && arg[2] != '\0') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(spec, name, nlen);
            if (!o)
                return fail(errstr, errsz, "unknown option '%s' (see --help)", arg);
            if (eq)
                val = eq + 1;
        } else {
            return fail(errstr, errsz, "unexpected argument '%s' (options start with --)", arg);
        }
        if (!val) {
            if (o->type == MS_CLI_FLAG) {
                val = "true";
            } else {
                if (i + 1 >= argc)
                    return fail(errstr, errsz, "--%s needs a value", o->name);
                val = argv[++i];
            }
        }
        int rc = set_value(cfg, o, val, errstr, errsz);
        if (rc)
            return rc;
        if (seen)
            seen[o - spec->opts] = 1;
    }
    return 0;
}

void ms_cli_free(const ms_cli_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_cli_opt *o = &spec->opts[i];
        char *field = (char *)cfg + o->offset;
        if (o->type == MS_CLI_STR) {
            char **sp = (char **)(void *)field;
            free(*sp);
            *sp = NULL;
        } else if (o->type == MS_CLI_LIST) {
            ms_cli_list *l = (ms_cli_list *)(void *)field;
            for (size_t j = 0; j < l->n; j++)
                free(l->v[j]);
            free(l->v);
            l->v = NULL;
            l->n = 0;
        }
    }
}

void ms_cli_usage(const ms_cli_spec *spec, FILE *out)
{
    fprintf(out, "%s\n\n", spec->synopsis);
    if (spec->about)
        fprintf(out, "%s\n\n", spec->about);
    fprintf(out, "options:\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_cli_opt *o = &spec->opts[i];
        char left[96];
        if (o->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(out, "  %-30s %s", left, o->desc);
        if (o->def && o->type != MS_CLI_FLAG)
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
    }
    if (spec->epilog)
        fprintf(out, "\n%s\n", spec->epilog);
}
