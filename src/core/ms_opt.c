/*
 * The option-table parser.  See ms_opt.h for the syntax and the types.
 *
 * Invariants: a value is checked completely (the program's hook, then type,
 * then bounds) before it replaces what the field held, so a failed option
 * leaves the previous value in place; `seen` marks only options whose value
 * was stored.  Messages name an option by its long name ("--count needs a
 * number"), a list that has a short name by that ("-X needs a non-empty
 * value": lists are given as -X), and a missing value always by the long
 * name when there is one.
 */
#include "core/ms_opt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

int ms_opt_errf(int err, char *errstr, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errsz, fmt, ap);
    va_end(ap);
    return err;
}

/* "--name", or "-X" for an option without a long name and for a list. */
static const char *display_name(const ms_opt *o, char *buf, size_t bufsz)
{
    if (o->short_name && (!o->name || o->type == MS_OPT_LIST))
        snprintf(buf, bufsz, "-%c", o->short_name);
    else
        snprintf(buf, bufsz, "--%s", o->name);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* values                                                                   */

/* "64M", "1.5G", "4096", "10KB": powers of 1024, rounded down to bytes. */
static int parse_bytes(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0, end++;
        break;
    case 'm':
    case 'M':
        mul = 1024.0 * 1024, end++;
        break;
    case 'g':
    case 'G':
        mul = 1024.0 * 1024 * 1024, end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    *out = floor(v * mul);
    return 0;
}

/* "90s", "1.5h", "7d", "250ms", "0": seconds.  A unit is required except
 * for 0 (see ms_opt.h). */
static int parse_duration(const char *s, double *out)
{
    static const struct {
        const char *unit;
        double sec;
    } units[] = {{"ms", 1e-3}, {"s", 1}, {"min", 60}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    if (!*end && v == 0) {
        *out = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].unit)) {
            *out = v * units[i].sec;
            return isfinite(*out) ? 0 : -1;
        }
    return -1;
}

/* A number for INT, DOUBLE, BYTES or DURATION, inside the option's bounds. */
static int parse_number(const ms_opt *o, const char *val, double *v, char *errstr, size_t errsz)
{
    char *end, disp[64];
    const char *name = display_name(o, disp, sizeof(disp));
    if (o->type == MS_OPT_BYTES) {
        if (parse_bytes(val, v) != 0)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s needs a size such as 64M, not '%s'",
                               name, val);
    } else if (o->type == MS_OPT_DURATION) {
        if (parse_duration(val, v) != 0)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                               "%s needs a duration with its unit (ms, s, m, h or d) such as 90s, "
                               "12h or 7d, not '%s'",
                               name, val);
    } else {
        errno = 0;
        *v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(*v))
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s needs a number, not '%s'", name, val);
        if (o->type == MS_OPT_INT && *v != floor(*v))
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s needs a whole number, not '%s'", name,
                               val);
    }
    if (*v < o->min || *v > o->max)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s must be between %g and %g, not '%s'", name,
                           o->min, o->max, val);
    return 0;
}

static int set_value(void *cfg, const ms_opt *o, const char *val, char *errstr, size_t errsz)
{
    char *field = (char *)cfg + o->offset;
    char disp[64];
    double v = 0;
    int rc;
    switch (o->type) {
    case MS_OPT_STR: {
        char **sp = (char **)(void *)field;
        if (!*val)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s needs a non-empty value",
                               display_name(o, disp, sizeof(disp)));
        free(*sp);
        *sp = ms_xstrdup(val);
        return 0;
    }
    case MS_OPT_LIST: {
        /* A `char **` and its `size_t` count, laid out as ms_opt_list. */
        char ***vp = (char ***)(void *)(field + offsetof(ms_opt_list, v));
        size_t *np = (size_t *)(void *)(field + offsetof(ms_opt_list, n));
        if (!*val)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s needs a non-empty value",
                               display_name(o, disp, sizeof(disp)));
        *vp = ms_xrealloc(*vp, (*np + 1) * sizeof(**vp));
        (*vp)[(*np)++] = ms_xstrdup(val);
        return 0;
    }
    case MS_OPT_FLAG: {
        int *ip = (int *)(void *)field;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *ip = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *ip = 0;
        else
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s takes true or false, not '%s'",
                               display_name(o, disp, sizeof(disp)), val);
        return 0;
    }
    case MS_OPT_INT:
    case MS_OPT_BYTES:
    case MS_OPT_DOUBLE:
    case MS_OPT_DURATION:
        rc = parse_number(o, val, &v, errstr, errsz);
        if (rc)
            return rc;
        if (o->type == MS_OPT_DOUBLE || o->type == MS_OPT_DURATION)
            *(double *)(void *)field = v;
        else
            *(int64_t *)(void *)field = (int64_t)v;
        return 0;
    }
    return ms_opt_errf(MS_EUSAGE, errstr, errsz, "%s: unknown option type",
                       display_name(o, disp, sizeof(disp)));
}

/* ------------------------------------------------------------------------ */
/* argv                                                                     */

static const ms_opt *find_long(const ms_opt_spec *spec, const char *name, size_t n)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_opt *o = &spec->opts[i];
        if (o->name && strlen(o->name) == n && !strncmp(o->name, name, n))
            return o;
        if (o->alias && strlen(o->alias) == n && !strncmp(o->alias, name, n))
            return o;
    }
    return NULL;
}

/* The option of "-c..."; a bare "-h" / "-V" is --help / --version even in a
 * table that gives those no short name. */
static const ms_opt *find_short(const ms_opt_spec *spec, const char *arg)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (spec->opts[i].short_name && spec->opts[i].short_name == arg[1])
            return &spec->opts[i];
    if (!strcmp(arg, "-h"))
        return find_long(spec, "help", 4);
    if (!strcmp(arg, "-V"))
        return find_long(spec, "version", 7);
    return NULL;
}

int ms_opt_parse(const ms_opt_spec *spec, void *cfg, unsigned char *seen, int argc, char **argv,
                 char *errstr, size_t errsz)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_opt *o = &spec->opts[i];
        if (seen)
            seen[i] = 0;
        if (o->def && set_value(cfg, o, o->def, errstr, errsz) != 0)
            return MS_EUSAGE; /* a broken default is a programming error */
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const ms_opt *o = NULL;
        const char *val = NULL;
        int rc;
        if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0') {
            o = find_short(spec, arg);
            if (!o)
                return ms_opt_errf(MS_EUSAGE, errstr, errsz, "unknown option '%s' (see --help)",
                                   arg);
            if (arg[2])
                val = arg + 2;
        } else if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            o = find_long(spec, name, eq ? (size_t)(eq - name) : strlen(name));
            if (!o)
                return ms_opt_errf(MS_EUSAGE, errstr, errsz, "unknown option '%s' (see --help)",
                                   arg);
            if (eq)
                val = eq + 1;
        } else {
            return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                               "unexpected argument '%s' (options start with --)", arg);
        }
        if (!val && o->type == MS_OPT_FLAG) {
            val = "true";
            if (spec->flag_word && i + 1 < argc &&
                (!strcmp(argv[i + 1], "true") || !strcmp(argv[i + 1], "false")))
                val = argv[++i];
        } else if (!val && i + 1 < argc) {
            val = argv[++i];
        } else if (!val) {
            if (spec->check && (rc = spec->check(o, NULL, errstr, errsz)) != 0)
                return rc;
            if (o->name)
                return ms_opt_errf(MS_EUSAGE, errstr, errsz, "--%s needs a value", o->name);
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "-%c needs a value", o->short_name);
        }
        if (spec->check && (rc = spec->check(o, val, errstr, errsz)) != 0)
            return rc;
        rc = set_value(cfg, o, val, errstr, errsz);
        if (rc)
            return rc;
        if (seen)
            seen[o - spec->opts] = 1;
    }
    return 0;
}

void ms_opt_free(const ms_opt_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_opt *o = &spec->opts[i];
        char *field = (char *)cfg + o->offset;
        if (o->type == MS_OPT_STR) {
            char **sp = (char **)(void *)field;
            free(*sp);
            *sp = NULL;
        } else if (o->type == MS_OPT_LIST) {
            char ***vp = (char ***)(void *)(field + offsetof(ms_opt_list, v));
            size_t *np = (size_t *)(void *)(field + offsetof(ms_opt_list, n));
            for (size_t j = 0; j < *np; j++)
                free((*vp)[j]);
            free(*vp);
            *vp = NULL;
            *np = 0;
        }
    }
}

size_t ms_opt_index(const ms_opt_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (spec->opts[i].name && !strcmp(spec->opts[i].name, name))
            return i;
    abort(); /* a name not in the table is a programming error */
}

/* ------------------------------------------------------------------------ */
/* --help                                                                   */

void ms_opt_usage(const ms_opt_spec *spec, FILE *out)
{
    fprintf(out, "%s\n\n", spec->synopsis);
    if (spec->about)
        fprintf(out, "%s\n\n", spec->about);
    fprintf(out, "options:\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const ms_opt *o = &spec->opts[i];
        char names[64], left[128];
        if (o->short_name && o->name)
            snprintf(names, sizeof(names), "-%c, --%s", o->short_name, o->name);
        else
            display_name(o, names, sizeof(names));
        snprintf(left, sizeof(left), "%s%s%s", names, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(out, "  %-*s %s", spec->usage_width, left, o->desc);
        if (o->def && o->type != MS_OPT_FLAG)
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
        if (o->alias)
            fprintf(out, "  %-*s   (alias --%s)\n", spec->usage_width, "", o->alias);
    }
    if (spec->epilog)
        fprintf(out, "\n%s\n", spec->epilog);
}
