/*
 * Logging to stderr: one line per event, ISO-8601 UTC timestamp, level, text.
 * Log lines about files name the file, the operation and strerror (Redis'
 * habit), so a user can act on them without reading the source.
 *
 * Thread-safety: ms_log() may be called from any thread; each line is written
 * with one fprintf under stderr's lock.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stdlib.h>

enum ms_log_level { MS_LOG_ERROR = 0, MS_LOG_WARN, MS_LOG_INFO, MS_LOG_DEBUG };

extern enum ms_log_level ms_log_threshold;

int ms_log_level_parse(const char *s, enum ms_log_level *out);
void ms_log(enum ms_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ms_error(...) ms_log(MS_LOG_ERROR, __VA_ARGS__)
#define ms_warn(...)  ms_log(MS_LOG_WARN, __VA_ARGS__)
#define ms_info(...)  ms_log(MS_LOG_INFO, __VA_ARGS__)
#define ms_debug(...)                                                                              \
    do {                                                                                           \
        if (ms_log_threshold >= MS_LOG_DEBUG)                                                      \
            ms_log(MS_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

/* Allocation that cannot fail: on exhaustion it logs and aborts, as Redis'
 * zmalloc does.  Everything else in mstream treats memory as available. */
void *ms_xmalloc(size_t n);
void *ms_xcalloc(size_t n, size_t sz);
void *ms_xrealloc(void *p, size_t n);
char *ms_xstrdup(const char *s);
void *ms_xmemdup(const void *p, size_t n);

/* Monotonic and wall clocks in seconds. */
double ms_now_mono(void);
double ms_now_wall(void);

#endif
