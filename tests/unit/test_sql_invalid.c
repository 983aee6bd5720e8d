/*
 * The table of invalid queries, tests/query/invalid/NN_name.sql: each file
 * starts with `-- expect: LINE:COL: <part of the message>`.  Every file must
 * be refused, with exactly that position, a message containing that text,
 * the source line of that position and a caret line under it.
 *
 * The directory is found from this file's path (__FILE__ is absolute under
 * CMake); argv[1] overrides it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "mstream/mstream.h"
#include "sql/ms_sql.h"

static char dir[4096];

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    d[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return d;
}

/* The `line`-th line of text (1-based), without its '\n'. */
static void nth_line(const char *text, int line, char *out, size_t out_size)
{
    const char *s = text;
    for (int i = 1; i < line && s; i++) {
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    assert_non_null(s);
    size_t n = strcspn(s, "\n");
    assert_true(n < out_size);
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Checks one case; returns 0 or prints why it failed and returns 1. */
static int check_case(const char *name)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len;
    char *text = slurp(path, &len);
    int line = 0, col = 0, used = 0;
    char want[512] = "";
    if (sscanf(text, "-- expect: %d:%d: %n", &line, &col, &used) != 2 || used == 0) {
        fprintf(stderr, "%s: first line must be `-- expect: LINE:COL: message`\n", name);
        free(text);
        return 1;
    }
    size_t wn = strcspn(text + used, "\n");
    assert_true(wn > 0 && wn < sizeof(want));
    memcpy(want, text + used, wn);

    char stem[256];
    snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(name, "."), name);
    char err[4096];
    ms_sql_program *prog = NULL;
    int rc = ms_sql_parse(text, len, path, stem, &prog, err, sizeof(err));
    int bad = 0;
    if (rc != MS_EINVAL || prog) {
        fprintf(stderr, "%s: accepted (rc %d), expected an error at %d:%d\n", name, rc, line, col);
        ms_sql_program_free(prog);
        free(text);
        return 1;
    }
    char head[8400];
    snprintf(head, sizeof(head), "%s:%d:%d: error: ", path, line, col);
    if (strncmp(err, head, strlen(head)) != 0) {
        fprintf(stderr, "%s: expected position %d:%d, got:\n%s\n", name, line, col, err);
        bad = 1;
    }
    const char *nl1 = strchr(err, '\n');
    if (!nl1 || !strstr(err, want) || strstr(err, want) > nl1) {
        fprintf(stderr, "%s: message should contain \"%s\", got:\n%s\n", name, want, err);
        bad = 1;
    }
    /* Source line and caret line, each indented by two spaces. */
    const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl2) {
        fprintf(stderr, "%s: no source and caret lines in:\n%s\n", name, err);
        free(text);
        return 1;
    }
    char src[1024];
    nth_line(text, line, src, sizeof(src));
    const char *caret = nl2 + 1;
    size_t shown = (size_t)(nl2 - nl1 - 1);
    /* Lines shown as they are: short, no tab, no control byte (shown as '?'). */
    int plain = strlen(src) <= 160 && !strchr(src, '\t');
    for (const char *q = src; *q; q++)
        plain &= (unsigned char)*q >= 0x20 && *q != 0x7f;
    if (plain && (shown != strlen(src) + 2 || strncmp(nl1 + 1, "  ", 2) != 0 ||
                  strncmp(nl1 + 3, src, strlen(src)) != 0)) {
        fprintf(stderr, "%s: source line should be \"  %s\", got:\n%s\n", name, src, err);
        bad = 1;
    }
    const char *hat = strchr(caret, '^');
    if (!hat || strspn(caret, " \t") != (size_t)(hat - caret) ||
        strspn(hat + 1, "~") != strlen(hat + 1)) {
        fprintf(stderr, "%s: bad caret line in:\n%s\n", name, err);
        bad = 1;
    } else if (plain && hat - caret != 2 + col - 1) {
        fprintf(stderr, "%s: caret at display column %d, expected %d:\n%s\n", name,
                (int)(hat - caret) - 1, col, err);
        bad = 1;
    }
    free(text);
    return bad;
}

static void test_invalid_queries(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".sql") == 0) {
            names = realloc(names, (n + 1) * sizeof(*names));
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        failed += check_case(names[i]);
        free(names[i]);
    }
    free(names);
    printf("%zu invalid queries checked, %d failed\n", n, failed);
    assert_true(n >= 30);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    } else {
        /* .../tests/unit/test_sql_invalid.c -> .../tests/query/invalid */
        const char *f = __FILE__;
        const char *slash = strrchr(f, '/');
        snprintf(dir, sizeof(dir), "%.*s/../query/invalid", slash ? (int)(slash - f) : 1,
                 slash ? f : ".");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
