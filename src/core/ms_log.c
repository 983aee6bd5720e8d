/*
 * Logging, allocation helpers, clocks and error names.
 */
#include "core/ms_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

void ms_log(enum ms_log_level lvl, const char *fmt, ...)
{
    if (lvl > ms_log_threshold)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000L, level_names[lvl], msg);
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
