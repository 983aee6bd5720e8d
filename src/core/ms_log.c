/*
 * Logging (the only writer of stderr, see ms_log.h), allocation helpers,
 * clocks and error names.
 */
#include "core/ms_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ms_text.h"
#include "mstream/mstream.h"

enum ms_log_level ms_log_threshold = MS_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int ms_log_level_parse(const char *s, enum ms_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum ms_log_level)i;
            return 0;
        }
    }
    return MS_EINVAL;
}

void ms_log_format(ms_buf *out, enum ms_log_level lvl, const char *text, size_t n)
{
    ms_buf_printf(out, "%-5s ", level_names[lvl]);
    ms_text_display(out, (const uint8_t *)text, n);
    ms_buf_putc(out, '\n');
}

void ms_say_format(ms_buf *out, const char *text, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && text[j] != '\n' && text[j] != '\t')
            j++;
        ms_text_terminal(out, (const uint8_t *)text + i, j - i);
        if (j == n)
            break;
        ms_buf_putc(out, text[j]);
        if (text[j] == '\n' && (j + 1 == n || (text[j + 1] != ' ' && text[j + 1] != '\t')))
            ms_buf_puts(out, "  ");
        i = j + 1;
    }
    ms_buf_putc(out, '\n');
}

/* Records longer than this (formatted, before escaping) are cut, and say
 * how much was cut. */
#define MS_LOG_MAX 4096

/* Formats fmt into buf[MS_LOG_MAX]; returns the length kept and sets *cut to
 * the bytes that did not fit. */
__attribute__((format(printf, 3, 0))) static size_t format_text(char *buf, size_t *cut,
                                                                const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, MS_LOG_MAX, fmt, ap);
    *cut = 0;
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    if ((size_t)n >= MS_LOG_MAX) {
        *cut = (size_t)n - (MS_LOG_MAX - 1);
        return MS_LOG_MAX - 1;
    }
    return (size_t)n;
}

/* Writes b, whose last byte is the record's newline, noting a cut. */
static void write_stderr(ms_buf *b, size_t cut)
{
    if (cut) {
        b->len--;
        ms_buf_printf(b, " [%zu more bytes not shown]\n", cut);
    }
    flockfile(stderr);
    fwrite(b->data, 1, b->len, stderr);
    fflush(stderr);
    funlockfile(stderr);
}

void ms_log(enum ms_log_level lvl, const char *fmt, ...)
{
    if (lvl > ms_log_threshold)
        return;
    char text[MS_LOG_MAX];
    size_t cut;
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_text(text, &cut, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    ms_buf b = MS_BUF_INIT;
    ms_buf_printf(&b, "%s.%03ldZ ", when, ts.tv_nsec / 1000000L);
    ms_log_format(&b, lvl, text, n);
    write_stderr(&b, cut);
    ms_buf_free(&b);
}

void ms_say(const char *fmt, ...)
{
    char text[MS_LOG_MAX];
    size_t cut;
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_text(text, &cut, fmt, ap);
    va_end(ap);
    ms_buf b = MS_BUF_INIT;
    ms_say_format(&b, text, n);
    write_stderr(&b, cut);
    ms_buf_free(&b);
}

static void oom(size_t n);

FILE *ms_say_lines_open(ms_say_lines *sl)
{
    sl->text = NULL;
    sl->len = 0;
    sl->f = open_memstream(&sl->text, &sl->len);
    if (!sl->f)
        oom(0);
    return sl->f;
}

void ms_say_lines_close(ms_say_lines *sl)
{
    if (fclose(sl->f) != 0)
        oom(sl->len);
    char *line = sl->text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        ms_say("%s", line);
        line = nl ? nl + 1 : NULL;
    }
    free(sl->text);
    sl->text = NULL;
}

static void oom(size_t n)
{
    fprintf(stderr, "mstream: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ms_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *ms_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        oom(n * sz);
    return p;
}

void *ms_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *ms_xstrdup(const char *s)
{
    return ms_xmemdup(s, strlen(s) + 1);
}

void *ms_xmemdup(const void *p, size_t n)
{
    void *q = ms_xmalloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

double ms_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double ms_now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *ms_err_name(int err)
{
    switch (err) {
#define MS__ERR_NAME(name, val, msg)                                                               \
    case val:                                                                                      \
        return "MS_E" #name;
        MS_ERRNO_MAP(MS__ERR_NAME)
#undef MS__ERR_NAME
    }
    return "MS_E?";
}

const char *ms_err_str(int err)
{
    switch (err) {
#define MS__ERR_STR(name, val, msg)                                                                \
    case val:                                                                                      \
        return msg;
        MS_ERRNO_MAP(MS__ERR_STR)
#undef MS__ERR_STR
    }
    return "unknown error";
}

void ms_log_flush(void)
{
    fflush(stdout);
    fflush(stderr);
}
