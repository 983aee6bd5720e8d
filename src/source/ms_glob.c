/*
 * File-name globs (ms_glob.h): brace expansion at compile time, fnmatch(3)
 * at match time.
 */
#include "source/ms_glob.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "mstream/mstream.h"

struct ms_glob {
    size_t n;
    char **pat; /* brace-free fnmatch patterns */
};

/* Index just past the bracket expression that starts at p[i] == '[', or i
 * + 1 when it is not closed (then '[' is an ordinary character, as
 * fnmatch takes it). */
static size_t skip_bracket(const char *p, size_t i, size_t n)
{
    size_t j = i + 1;
    if (j < n && (p[j] == '!' || p[j] == '^'))
        j++;
    if (j < n && p[j] == ']') /* a ']' first is a member */
        j++;
    for (; j < n; j++) {
        if (p[j] == '\\' && j + 1 < n)
            j++;
        else if (p[j] == ']')
            return j + 1;
    }
    return i + 1;
}

/* Where the brace group opened at p[open] closes (its '}'), or n when it
 * does not. */
static size_t match_brace(const char *p, size_t open, size_t n)
{
    int depth = 0;
    for (size_t i = open; i < n;) {
        if (p[i] == '\\') {
            i += 2;
        } else if (p[i] == '[') {
            i = skip_bracket(p, i, n);
        } else {
            if (p[i] == '{')
                depth++;
            else if (p[i] == '}' && --depth == 0)
                return i;
            i++;
        }
    }
    return n;
}

typedef struct expansion {
    ms_glob *g;
    char *errstr;
    size_t errsz;
} expansion;

static int push(expansion *x, const char *s, size_t n)
{
    if (x->g->n >= MS_GLOB_MAX_ALTERNATIVES) {
        snprintf(x->errstr, x->errsz,
                 "--path-glob-filter expands into more than %d alternatives: write fewer "
                 "{a,b} groups",
                 MS_GLOB_MAX_ALTERNATIVES);
        return MS_EUSAGE;
    }
    x->g->pat = ms_xrealloc(x->g->pat, (x->g->n + 1) * sizeof(char *));
    char *c = ms_xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    x->g->pat[x->g->n++] = c;
    return 0;
}

/* Expands the first brace group of p[0..n) and recurses on each result. */
static int expand(expansion *x, const char *p, size_t n, int depth)
{
    if (depth > 64) {
        snprintf(x->errstr, x->errsz, "--path-glob-filter nests {a,b} groups too deeply");
        return MS_EUSAGE;
    }
    size_t open = n;
    for (size_t i = 0; i < n;) {
        if (p[i] == '\\') {
            i += 2;
        } else if (p[i] == '[') {
            i = skip_bracket(p, i, n);
        } else if (p[i] == '{') {
            open = i;
            break;
        } else if (p[i] == '}') {
            snprintf(x->errstr, x->errsz,
                     "--path-glob-filter has a '}' that closes no '{' (write \\} for the "
                     "character)");
            return MS_EUSAGE;
        } else {
            i++;
        }
    }
    if (open == n)
        return push(x, p, n);
    size_t close = match_brace(p, open, n);
    if (close == n) {
        snprintf(x->errstr, x->errsz,
                 "--path-glob-filter has a '{' that is never closed (write \\{ for the "
                 "character)");
        return MS_EUSAGE;
    }
    ms_buf b = MS_BUF_INIT;
    int rc = 0;
    size_t start = open + 1;
    int d = 0;
    for (size_t i = open + 1; i <= close && rc == 0;) {
        int at_end = i == close;
        if (!at_end && p[i] == '\\') {
            i += 2;
            continue;
        }
        if (!at_end && p[i] == '[') {
            i = skip_bracket(p, i, close);
            continue;
        }
        if (!at_end && p[i] == '{')
            d++;
        else if (!at_end && p[i] == '}')
            d--;
        if (at_end || (p[i] == ',' && d == 0)) {
            ms_buf_reset(&b);
            ms_buf_append(&b, p, open);
            ms_buf_append(&b, p + start, i - start);
            ms_buf_append(&b, p + close + 1, n - close - 1);
            rc = expand(x, b.data ? b.data : "", b.len, depth + 1);
            start = i + 1;
        }
        i++;
    }
    ms_buf_free(&b);
    return rc;
}

int ms_glob_compile(const char *pattern, ms_glob **out, char *errstr, size_t errsz)
{
    *out = NULL;
    size_t n = strlen(pattern);
    if (n == 0 || n > MS_GLOB_MAX_LEN) {
        snprintf(errstr, errsz, "--path-glob-filter needs a pattern of 1 to %d bytes",
                 MS_GLOB_MAX_LEN);
        return MS_EUSAGE;
    }
    if (strchr(pattern, '/')) {
        snprintf(errstr, errsz,
                 "--path-glob-filter '%s' has a '/', but it is matched against file names only "
                 "(with --recursive, against the name of a file in any subdirectory)",
                 pattern);
        return MS_EUSAGE;
    }
    ms_glob *g = ms_xcalloc(1, sizeof(*g));
    expansion x = {g, errstr, errsz};
    int rc = expand(&x, pattern, n, 0);
    if (rc) {
        ms_glob_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int ms_glob_match(const ms_glob *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (fnmatch(g->pat[i], name, 0) == 0)
            return 1;
    return 0;
}

size_t ms_glob_alternatives(const ms_glob *g)
{
    return g->n;
}

void ms_glob_free(ms_glob *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->pat[i]);
    free(g->pat);
    free(g);
}
