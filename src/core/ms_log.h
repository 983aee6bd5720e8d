/*
 * Logging to stderr: one line per event, ISO-8601 UTC timestamp, level, text.
 * Log lines about files name the file, the operation and strerror (Redis'
 * habit), so a user can act on them without reading the source.
 *
 * This file is the only writer of stderr in mstream (a test greps src/ for
 * any other), and it promises, whatever the arguments hold — a file name
 * from the watched directory with a newline and a fake "ERROR" line in it,
 * ESC sequences, invalid UTF-8, a broker's or RocksDB's message:
 *
 *   - one log record is one line:  "2024-05-01T12:00:00.000Z WARN  text";
 *   - no raw control byte and no invalid UTF-8 reaches the terminal or the
 *     log collector: the formatted text is written in the display form of
 *     ms_text.h (`\\` and `\xNN`), the one /api/v1/status and /metrics use,
 *     so a name reads the same in the log as in the API, two names never
 *     read the same, and no name can forge a record.
 *
 * The escaping applies to the whole formatted text, so call sites pass raw
 * names and need no convention (and must not pre-escape, or `\` doubles).
 *
 * Thread-safety: ms_log() and ms_say() may be called from any thread; each
 * record is built first and written with one fwrite under stderr's lock.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stdio.h>
#include <stdlib.h>

#include "core/ms_buf.h"

enum ms_log_level { MS_LOG_ERROR = 0, MS_LOG_WARN, MS_LOG_INFO, MS_LOG_DEBUG };

extern enum ms_log_level ms_log_threshold;

int ms_log_level_parse(const char *s, enum ms_log_level *out);
void ms_log(enum ms_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message for the person running the command, without timestamp and
 * level: usage and fatal errors ("mstream: ..."), the serving line, the
 * summary lines.  The same display form, except that a backslash stays one
 * (ms_text_terminal: a query's line under a parse error reads as written),
 * a newline in the text
 * starts a new line (a query's parse error shows the line and a caret under
 * it) and a tab is kept; every line after the first is indented, so none
 * of them can pass for a record of its own. */
void ms_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flushes what was written (before _exit(), which skips stdio's own). */
void ms_log_flush(void);

/* For code that prints several lines with stdio (the summary): lines
 * written to the stream ms_say_lines_open() returns are said, one ms_say()
 * each, by ms_say_lines_close().  The stream cannot fail to open (out of
 * memory aborts, as ms_xmalloc). */
typedef struct ms_say_lines {
    FILE *f;
    char *text;
    size_t len;
} ms_say_lines;
FILE *ms_say_lines_open(ms_say_lines *sl);
void ms_say_lines_close(ms_say_lines *sl);

/* The record ms_log() writes for text, without the timestamp: the level
 * padded to five, a space, the display form, a newline (exposed for tests). */
void ms_log_format(ms_buf *out, enum ms_log_level lvl, const char *text, size_t n);
/* What ms_say() writes for text (exposed for tests). */
void ms_say_format(ms_buf *out, const char *text, size_t n);

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
