/*
 * Trace table reading: row parsing, line splitting, part files.  See
 * ms_trace.h for the layers and their invariants.
 *
 * The line splitter keeps unread bytes in one buffer and refills it from the
 * read function; a line is returned only when its '\n' (or the end of the
 * input) is in the buffer, so the caller never sees half a line.  A line that
 * outgrows max_line switches the splitter to "skipping" until the next '\n'.
 */
#include "ms_trace.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/ms_log.h"
#include "core/ms_opt.h"
#include "mstream/mstream.h"

#define MS_TRACE_READ_CHUNK (256u * 1024u)
#define MS_TRACE_READ_MIN   (4u * 1024u)
#define MS_TRACE_WARN_MAX   5

static const char *const ms_trace_bad_names[] = {"ok",
#define MS__TRACE_BAD_NAME(n, s) s,
                                                 MS_TRACE_BAD_MAP(MS__TRACE_BAD_NAME)
#undef MS__TRACE_BAD_NAME
};

const char *ms_trace_bad_name(int reason)
{
    if (reason < 0 || reason >= MS_TRACE_NBAD)
        return "unknown";
    return ms_trace_bad_names[reason];
}

/* ======================================================================== */
/* rows                                                                     */

int ms_trace_parse_time(const char *s, size_t n, int64_t *t)
{
    if (n == 0 || n > 19)
        return MS_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return MS_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (v > (uint64_t)INT64_MAX)
        return MS_EINVAL;
    *t = (int64_t)v;
    return 0;
}

int ms_trace_row_parse(const char *line, size_t len, ms_trace_row *row)
{
    if (len == 0)
        return MS_TRACE_EMPTY;
    const char *comma = memchr(line, ',', len);
    size_t tlen = comma ? (size_t)(comma - line) : len;
    if (ms_trace_parse_time(line, tlen, &row->t) != 0)
        return MS_TRACE_BAD_TIME;
    /* Column MS_TRACE_KEY_FIELD (0-based): skip that many commas. */
    const char *p = line, *end = line + len;
    for (int f = 0; f < MS_TRACE_KEY_FIELD; f++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            return MS_TRACE_NO_KEY;
        p = c + 1;
    }
    const char *c = memchr(p, ',', (size_t)(end - p));
    size_t klen = c ? (size_t)(c - p) : (size_t)(end - p);
    if (klen == 0)
        return MS_TRACE_NO_KEY;
    row->line = line;
    row->len = len;
    row->key = p;
    row->keylen = klen;
    return MS_TRACE_OK;
}

/* ======================================================================== */
/* lines                                                                    */

void ms_trace_lines_init(ms_trace_lines *l, ms_trace_read_fn fn, void *ud, size_t max_line)
{
    memset(l, 0, sizeof(*l));
    l->read = fn;
    l->ud = ud;
    l->max_line = max_line ? max_line : MS_TRACE_MAX_LINE;
}

void ms_trace_lines_free(ms_trace_lines *l)
{
    free(l->buf);
    l->buf = NULL;
    l->cap = l->pos = l->len = 0;
}

/* Moves the unread bytes to the front and reads more after them.
 * Returns > 0 bytes added, 0 at end of input, < 0 on error. */
static long fill(ms_trace_lines *l)
{
    if (l->pos > 0) {
        memmove(l->buf, l->buf + l->pos, l->len - l->pos);
        l->len -= l->pos;
        l->pos = 0;
    }
    /* Start small and double up to the read chunk (and beyond only for a
     * long line): short inputs never pay for a large buffer. */
    if (l->cap - l->len < MS_TRACE_READ_MIN ||
        (l->cap < MS_TRACE_READ_CHUNK && l->len > l->cap / 2)) {
        size_t ncap = l->cap ? l->cap * 2 : MS_TRACE_READ_MIN * 4;
        while (ncap - l->len < MS_TRACE_READ_MIN)
            ncap *= 2;
        l->cap = ncap;
        l->buf = ms_xrealloc(l->buf, l->cap);
    }
    long got = l->read(l->ud, l->buf + l->len, l->cap - l->len);
    if (got > 0)
        l->len += (size_t)got;
    return got;
}

int ms_trace_lines_next(ms_trace_lines *l, const char **line, size_t *len)
{
    size_t scanned = 0; /* bytes after pos known to hold no '\n' */
    for (;;) {
        char *start = l->buf ? l->buf + l->pos : NULL;
        size_t avail = l->len - l->pos;
        char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - start);
            l->pos += n + 1;
            l->lineno++;
            if (l->skipping) {
                l->skipping = 0;
                return MS_ECORRUPT;
            }
            if (n > l->max_line)
                return MS_ECORRUPT;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            *line = start;
            *len = n;
            return 1;
        }
        scanned = avail;
        if (avail > l->max_line) {
            /* Over-long line: drop what we have and skip to its end. */
            l->skipping = 1;
            l->pos = l->len;
            scanned = 0;
        }
        if (l->eof || l->error) {
            if (l->error && !l->skipping && avail == 0)
                return MS_EIO;
            if (avail == 0 && !l->skipping)
                return 0;
            /* The last line has no '\n'. */
            l->pos = l->len;
            l->lineno++;
            if (l->skipping) {
                l->skipping = 0;
                return MS_ECORRUPT;
            }
            if (avail > 0 && start[avail - 1] == '\r')
                avail--;
            *line = start;
            *len = avail;
            if (l->error) /* report the partial line's loss, not a fragment */
                return MS_EIO;
            return 1;
        }
        long got = fill(l);
        if (got == 0)
            l->eof = 1;
        else if (got < 0)
            l->error = 1;
        if (l->pos == 0 && scanned > l->len)
            scanned = 0;
    }
}

/* ======================================================================== */
/* part files                                                               */

/* part-<digits>-of-<digits>.csv or .csv.gz; returns the stem length or 0. */
static size_t part_stem(const char *name)
{
    const char *p = name;
    if (strncmp(p, "part-", 5) != 0)
        return 0;
    p += 5;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (strncmp(p, "-of-", 4) != 0)
        return 0;
    p += 4;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (strcmp(p, ".csv") != 0 && strcmp(p, ".csv.gz") != 0)
        return 0;
    return (size_t)(p - name);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ms_trace_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int ms_trace_list_parts(const char *dir, char ***names_out, size_t *n_out, char *errstr,
                        size_t errsz)
{
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        ms_opt_errf(0, errstr, errsz, "cannot read directory %s: %s", dir, strerror(errno));
        return MS_EIO;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!part_stem(de->d_name))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        names = ms_xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = ms_xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 1; i < n; i++) {
        size_t a = part_stem(names[i - 1]), b = part_stem(names[i]);
        if (a == b && !strncmp(names[i - 1], names[i], a)) {
            ms_opt_errf(0, errstr, errsz,
                        "%s holds both %s and %s: remove one, or its rows would be sent twice", dir,
                        names[i - 1], names[i]);
            ms_trace_free_names(names, n);
            return MS_EINVAL;
        }
    }
    *names_out = names;
    *n_out = n;
    return 0;
}

static long gz_read_fn(void *ud, void *buf, size_t n)
{
    if (n > (1u << 30))
        n = 1u << 30;
    int got = gzread((gzFile)ud, buf, (unsigned)n);
    if (got == 0) {
        /* A truncated .gz ends with Z_BUF_ERROR and a 0 return, not -1. */
        int zerr = Z_OK;
        gzerror((gzFile)ud, &zerr);
        if (zerr != Z_OK)
            return -1;
    }
    return got;
}

int ms_trace_reader_open(ms_trace_reader *r, const char *dir, char *errstr, size_t errsz)
{
    memset(r, 0, sizeof(*r));
    int rc = ms_trace_list_parts(dir, &r->names, &r->nnames, errstr, errsz);
    if (rc)
        return rc;
    if (r->nnames == 0) {
        ms_opt_errf(0, errstr, errsz, "no trace files (part-NNNNN-of-MMMMM.csv or .csv.gz) in %s",
                    dir);
        return MS_ENOTFOUND;
    }
    r->dir = ms_xstrdup(dir);
    return 0;
}

static void close_current(ms_trace_reader *r)
{
    if (r->gz) {
        gzclose((gzFile)r->gz);
        r->gz = NULL;
    }
    ms_trace_lines_free(&r->lines);
}

static const char *current_name(const ms_trace_reader *r)
{
    return r->next > 0 ? r->names[r->next - 1] : "?";
}

int ms_trace_reader_next(ms_trace_reader *r, ms_trace_row *row, char *errstr, size_t errsz)
{
    for (;;) {
        if (!r->gz) {
            if (r->next >= r->nnames)
                return 0;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", r->dir, r->names[r->next++]);
            gzFile gz = gzopen(path, "rb");
            if (!gz) {
                r->read_errors++;
                ms_opt_errf(0, errstr, errsz, "cannot open %s: %s", path,
                            errno ? strerror(errno) : "out of memory");
                return MS_EIO;
            }
            gzbuffer(gz, 256 * 1024);
            r->gz = gz;
            ms_trace_lines_init(&r->lines, gz_read_fn, gz, MS_TRACE_MAX_LINE);
        }
        const char *line;
        size_t len;
        int rc = ms_trace_lines_next(&r->lines, &line, &len);
        if (rc == 0) {
            close_current(r);
            continue;
        }
        if (rc == MS_EIO) {
            int zerr = Z_OK;
            const char *msg = gzerror((gzFile)r->gz, &zerr);
            ms_opt_errf(0, errstr, errsz, "reading %s/%s failed after line %llu: %s", r->dir,
                        current_name(r), (unsigned long long)r->lines.lineno,
                        zerr == Z_ERRNO ? strerror(errno) : msg);
            r->read_errors++;
            close_current(r);
            return MS_EIO;
        }
        int bad = rc == MS_ECORRUPT ? MS_TRACE_TOO_LONG : ms_trace_row_parse(line, len, row);
        if (bad != MS_TRACE_OK) {
            r->bad[bad]++;
            if (r->warned++ < MS_TRACE_WARN_MAX)
                ms_warn("%s/%s line %llu skipped (%s)%s", r->dir, current_name(r),
                        (unsigned long long)r->lines.lineno, ms_trace_bad_name(bad),
                        r->warned == MS_TRACE_WARN_MAX ? "; further skipped rows are only counted"
                                                       : "");
            continue;
        }
        r->rows++;
        r->bytes += len + 1;
        return 1;
    }
}

uint64_t ms_trace_reader_skipped(const ms_trace_reader *r)
{
    uint64_t n = 0;
    for (int i = 1; i < MS_TRACE_NBAD; i++)
        n += r->bad[i];
    return n;
}

void ms_trace_reader_close(ms_trace_reader *r)
{
    close_current(r);
    ms_trace_free_names(r->names, r->nnames);
    free(r->dir);
    memset(r, 0, sizeof(*r));
}
