/*
 * ms_trace: reading Google cluster-trace tables (docs/design.md §4) as the producer
 * needs them: the part files of one table directory in name order, each row
 * with its time (column 1, microseconds) and its key (column 3, the job ID).
 *
 *   DIR/part-00000-of-00500.csv.gz ─┐
 *   DIR/part-00001-of-00500.csv.gz ─┼─> ms_trace_reader ──> rows (t, key, line)
 *   ...           (.csv or .csv.gz) ─┘        │
 *                                     bad rows counted by reason, skipped
 *
 * Layers, each usable alone (the fuzz target and unit tests drive the lower
 * two with memory input):
 *   ms_trace_row_parse()  one line -> time and key, or the reason it is bad;
 *   ms_trace_lines        splits a byte stream (any read function) into
 *                         lines with a length cap, whatever the chunking;
 *   ms_trace_reader       the part files of a directory, .csv or .csv.gz
 *                         (zlib reads both), one after the other.
 *
 * Invariants: a row's pointers stay valid until the next call on the same
 * reader; no line is ever returned in pieces (a line longer than the cap is
 * skipped whole and counted as too_long); a trailing '\r' is not part of a
 * line; the last line of a file needs no '\n'.  Time is a plain decimal
 * integer 0..2^63-1 (no sign, no spaces): 0 means "before the trace" and
 * 2^63-1 "after it", as in the public trace.
 */
#ifndef MS_TRACE_H
#define MS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define MS_TRACE_TIME_MAX  INT64_MAX
#define MS_TRACE_KEY_FIELD 2 /* 0-based: the job ID is the 3rd column of both tables */
#define MS_TRACE_MAX_LINE  (1u << 20)

/* Why a row was skipped. */
#define MS_TRACE_BAD_MAP(X)                                                                        \
    X(EMPTY, "empty")                                                                              \
    X(BAD_TIME, "bad_time")                                                                        \
    X(NO_KEY, "no_job_id")                                                                         \
    X(TOO_LONG, "too_long")

enum ms_trace_bad {
    MS_TRACE_OK = 0,
#define MS__TRACE_BAD_ENUM(n, s) MS_TRACE_##n,
    MS_TRACE_BAD_MAP(MS__TRACE_BAD_ENUM)
#undef MS__TRACE_BAD_ENUM
        MS_TRACE_NBAD
};

const char *ms_trace_bad_name(int reason);

typedef struct ms_trace_row {
    int64_t t;
    const char *line; /* without '\n' / "\r\n" */
    size_t len;
    const char *key; /* inside line */
    size_t keylen;
} ms_trace_row;

/* Parses the time (column 1) and finds the key (column 3) of one line.
 * Returns MS_TRACE_OK or the ms_trace_bad reason. */
int ms_trace_row_parse(const char *line, size_t len, ms_trace_row *row);

/* Parses a whole decimal time field; 0 or MS_EINVAL. */
int ms_trace_parse_time(const char *s, size_t n, int64_t *t);

/* ---- line splitter ---------------------------------------------------- */

/* Reads up to n bytes into buf: > 0 bytes read, 0 end of input, < 0 error. */
typedef long (*ms_trace_read_fn)(void *ud, void *buf, size_t n);

typedef struct ms_trace_lines {
    ms_trace_read_fn read;
    void *ud;
    char *buf;
    size_t cap, pos, len; /* unread bytes are buf[pos, len) */
    size_t max_line;
    int eof, error, skipping;
    uint64_t lineno; /* 1-based number of the last line returned */
} ms_trace_lines;

void ms_trace_lines_init(ms_trace_lines *l, ms_trace_read_fn fn, void *ud, size_t max_line);
/* 1 = a line (*line, *len), 0 = end of input, MS_EIO = read error (end of this
 * input), MS_ECORRUPT = a line longer than max_line was skipped whole. */
int ms_trace_lines_next(ms_trace_lines *l, const char **line, size_t *len);
void ms_trace_lines_free(ms_trace_lines *l);

/* ---- part files ----------------------------------------------------------- */

/* Names (not paths) of the regular files part-N-of-M.csv[.gz] of dir, sorted.
 * *n may be 0.  MS_EIO if dir cannot be read, MS_EINVAL if a part exists both
 * as .csv and .csv.gz; a sentence in errstr either way. */
int ms_trace_list_parts(const char *dir, char ***names, size_t *n, char *errstr,
                        size_t errstr_size);
void ms_trace_free_names(char **names, size_t n);

typedef struct ms_trace_reader {
    char *dir;
    char **names;
    size_t nnames, next; /* next: index of the next file to open */
    void *gz;            /* gzFile of the current file, NULL between files */
    ms_trace_lines lines;
    uint64_t rows;  /* rows returned */
    uint64_t bytes; /* bytes of the returned lines, newline included */
    uint64_t bad[MS_TRACE_NBAD];
    uint64_t read_errors; /* files that ended in a read/decompression error */
    uint64_t warned;
} ms_trace_reader;

/* Opens the table directory; MS_EIO/MS_EINVAL/MS_ENOTFOUND (no part files)
 * with a sentence in errstr. */
int ms_trace_reader_open(ms_trace_reader *r, const char *dir, char *errstr, size_t errstr_size);
/* 1 = a row, 0 = all files read, MS_EIO = a file could not be opened or read
 * to its end (errstr says which; the next call goes on with the next file).
 * Bad rows are counted in r->bad[] and skipped (the first few are logged). */
int ms_trace_reader_next(ms_trace_reader *r, ms_trace_row *row, char *errstr, size_t errstr_size);
void ms_trace_reader_close(ms_trace_reader *r);
/* Total of r->bad[]. */
uint64_t ms_trace_reader_skipped(const ms_trace_reader *r);

#endif
