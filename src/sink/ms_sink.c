/*
 * The json and console sinks (see ms_sink.h).
 */
#include "sink/ms_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ms_log.h"
#include "core/ms_text.h"
#include "engine/ms_render.h"
#include "mstream/mstream.h"

#define CONSOLE_ROWS  20 /* Spark's show(): 20 rows */
#define CONSOLE_TRUNC 20 /* ... and cells cut to 20 characters */

struct ms_sink {
    const ms_sql_program *prog;
    char *json_dir; /* NULL: no json sink */
    int console;
};

/* mkdir -p */
static int make_dirs(const char *path, char *errstr, size_t errsz)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                snprintf(errstr, errsz, "sink directory %s: cannot create %s: %s", path, tmp,
                         strerror(errno));
                return MS_EIO;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errstr, errsz, "sink directory %s is not a directory", path);
        return MS_EIO;
    }
    return 0;
}

int ms_sink_open(const char *spec, const ms_sql_program *prog, ms_sink **out, char *errstr,
                 size_t errsz)
{
    *out = NULL;
    ms_sink *s = ms_xcalloc(1, sizeof(*s));
    s->prog = prog;
    char *copy = ms_xstrdup(spec);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "console")) {
            s->console = 1;
        } else if (!strncmp(tok, "json:", 5) && tok[5]) {
            if (s->json_dir) {
                snprintf(errstr, errsz, "--sink: only one json:DIR sink, not '%s'", spec);
                rc = MS_EUSAGE;
                break;
            }
            s->json_dir = ms_xstrdup(tok + 5);
        } else {
            snprintf(errstr, errsz, "--sink: '%s' is not json:DIR or console", tok);
            rc = MS_EUSAGE;
            break;
        }
    }
    free(copy);
    if (rc == 0 && !s->json_dir && !s->console) {
        snprintf(errstr, errsz, "--sink needs json:DIR or console");
        rc = MS_EUSAGE;
    }
    if (rc == 0 && s->json_dir) {
        rc = make_dirs(s->json_dir, errstr, errsz);
        for (size_t i = 0; rc == 0 && i < prog->nstmts; i++) {
            char d[4400];
            snprintf(d, sizeof(d), "%s/%s", s->json_dir, prog->stmts[i].name);
            rc = make_dirs(d, errstr, errsz);
        }
    }
    if (rc) {
        ms_sink_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ms_sink_close(ms_sink *s)
{
    if (!s)
        return;
    free(s->json_dir);
    free(s);
}

int ms_sink_has_json(const ms_sink *s)
{
    return s && s->json_dir;
}

int ms_sink_has_console(const ms_sink *s)
{
    return s && s->console;
}

/* ----------------------------------------------------------------- json */

void ms_sink_render_jsonl(const ms_sql_stmt *st, const ms_rowset *rs, ms_buf *out)
{
    for (size_t i = 0; i < rs->n; i++) {
        ms_buf_putc(out, '{');
        for (size_t c = 0; c < st->nouts; c++) {
            if (c)
                ms_buf_putc(out, ',');
            ms_text_json_str(out, st->outs[c].name);
            ms_buf_putc(out, ':');
            ms_value v;
            ms_rowset_value(rs, i, c, &v);
            ms_render_json(out, &v);
        }
        ms_buf_puts(out, "}\n");
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* tmp + fsync + rename + fsync(dir) */
static int write_atomic(const char *dir, const char *name, const ms_buf *data, char *errstr,
                        size_t errsz)
{
    char tmp[4600], dst[4600];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errsz, "json sink: cannot create %s: %s", tmp, strerror(errno));
        return MS_EIO;
    }
    if (write_all(fd, data->data ? data->data : "", data->len) != 0 || fsync(fd) != 0) {
        snprintf(errstr, errsz, "json sink: cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return MS_EIO;
    }
    if (close(fd) != 0 || rename(tmp, dst) != 0) {
        snprintf(errstr, errsz, "json sink: cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        unlink(tmp);
        return MS_EIO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(errstr, errsz, "json sink: cannot sync directory %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return MS_EIO;
    }
    close(dfd);
    return 0;
}

int ms_sink_write_json(ms_sink *s, uint64_t batch_id, ms_rowset *const *rows, char *errstr,
                       size_t errsz)
{
    if (!ms_sink_has_json(s))
        return 0;
    ms_buf data = MS_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->prog->nstmts; i++) {
        const ms_sql_stmt *st = &s->prog->stmts[i];
        ms_rowset_sort_key(rows[i]);
        ms_buf_reset(&data);
        ms_sink_render_jsonl(st, rows[i], &data);
        char dir[4400], name[64];
        snprintf(dir, sizeof(dir), "%s/%s", s->json_dir, st->name);
        snprintf(name, sizeof(name), "batch-%020llu.json", (unsigned long long)batch_id);
        rc = write_atomic(dir, name, &data, errstr, errsz);
    }
    ms_buf_free(&data);
    return rc;
}

/* -------------------------------------------------------------- console */

/* Characters (UTF-8 code points) of a valid UTF-8 string. */
static size_t text_width(const char *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)p[i] & 0xc0) != 0x80;
    return w;
}

/* Byte length of the first k characters. */
static size_t prefix_bytes(const char *p, size_t n, size_t k)
{
    size_t i = 0, w = 0;
    while (i < n) {
        if (((unsigned char)p[i] & 0xc0) != 0x80) {
            if (w == k)
                break;
            w++;
        }
        i++;
    }
    return i;
}

/* Spark's show(): cells longer than 20 characters are cut to 17 + "...". */
static void cell_text(ms_buf *b, const ms_value *v)
{
    if (v->type == MS_TYPE_NULL) {
        ms_buf_puts(b, "NULL");
        return;
    }
    ms_buf tmp = MS_BUF_INIT;
    ms_render_text(&tmp, v);
    if (!tmp.data)
        ms_buf_puts(&tmp, "");
    if (text_width(tmp.data, tmp.len) > CONSOLE_TRUNC) {
        ms_buf_append(b, tmp.data, prefix_bytes(tmp.data, tmp.len, CONSOLE_TRUNC - 3));
        ms_buf_puts(b, "...");
    } else {
        ms_buf_append(b, tmp.data, tmp.len);
    }
    ms_buf_free(&tmp);
}

static void pad(ms_buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ms_buf_putc(b, c);
}

static void render_table(const ms_sql_stmt *st, const ms_rowset *rs, ms_buf *out)
{
    size_t nc = st->nouts, nr = rs->n < CONSOLE_ROWS ? rs->n : CONSOLE_ROWS;
    /* cells[r][c] as text; row 0 is the header */
    ms_buf cells = MS_BUF_INIT;
    size_t *off = ms_xcalloc((nr + 1) * nc + 1, sizeof(size_t));
    size_t *width = ms_xcalloc(nc ? nc : 1, sizeof(size_t));
    for (size_t r = 0; r <= nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            off[r * nc + c] = cells.len;
            if (r == 0) {
                ms_buf tmp = MS_BUF_INIT;
                ms_text_display(&tmp, (const uint8_t *)st->outs[c].name, strlen(st->outs[c].name));
                ms_value v = ms_value_str((const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len);
                cell_text(&cells, &v);
                ms_buf_free(&tmp);
            } else {
                ms_value v;
                ms_rowset_value(rs, r - 1, c, &v);
                cell_text(&cells, &v);
            }
        }
    }
    off[(nr + 1) * nc] = cells.len;
    for (size_t r = 0; r <= nr; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t i = r * nc + c;
            size_t w = text_width(cells.data + off[i], off[i + 1] - off[i]);
            if (w > width[c])
                width[c] = w;
        }
    ms_buf sep = MS_BUF_INIT;
    ms_buf_putc(&sep, '+');
    for (size_t c = 0; c < nc; c++) {
        pad(&sep, '-', width[c]);
        ms_buf_putc(&sep, '+');
    }
    ms_buf_putc(&sep, '\n');
    ms_buf_append(out, sep.data, sep.len);
    for (size_t r = 0; r <= nr; r++) {
        ms_buf_putc(out, '|');
        for (size_t c = 0; c < nc; c++) {
            size_t i = r * nc + c;
            size_t n = off[i + 1] - off[i];
            pad(out, ' ', width[c] - text_width(cells.data + off[i], n)); /* right-aligned */
            ms_buf_append(out, cells.data + off[i], n);
            ms_buf_putc(out, '|');
        }
        ms_buf_putc(out, '\n');
        if (r == 0)
            ms_buf_append(out, sep.data, sep.len);
    }
    ms_buf_append(out, sep.data, sep.len);
    if (rs->n > nr)
        ms_buf_printf(out, "only showing top %d rows\n", CONSOLE_ROWS);
    ms_buf_putc(out, '\n');
    ms_buf_free(&sep);
    ms_buf_free(&cells);
    free(off);
    free(width);
}

void ms_sink_render_console(const ms_sink *s, uint64_t batch_id, ms_rowset *const *rows,
                            ms_buf *out)
{
    if (!ms_sink_has_console(s))
        return;
    for (size_t i = 0; i < s->prog->nstmts; i++) {
        const ms_sql_stmt *st = &s->prog->stmts[i];
        ms_rowset_sort(rows[i]);
        ms_buf_puts(out, "-------------------------------------------\n");
        if (s->prog->nstmts == 1)
            ms_buf_printf(out, "Batch: %llu\n", (unsigned long long)batch_id);
        else
            ms_buf_printf(out, "Batch: %llu, query: %s\n", (unsigned long long)batch_id, st->name);
        ms_buf_puts(out, "-------------------------------------------\n");
        render_table(st, rows[i], out);
    }
}
