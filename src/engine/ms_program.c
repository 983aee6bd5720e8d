/*
 * Query program loading and checkpoint binding (see ms_program.h).
 */
#include "engine/ms_program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "ms_embedded_queries.h"
#include "mstream/mstream.h"
#include "source/ms_sources.h"
#include "state/ms_codec.h"

/* What checkpoints made by the built-in word count (before query files)
 * recorded; same state layout as queries/wordcount.sql. */
#define LEGACY_WORDCOUNT                                                                           \
    "v1 SELECT word, COUNT(*) AS count FROM words(lines) GROUP BY word OUTPUT complete"

static const char builtin_wordcount[] = MS_EMBEDDED_WORDCOUNT_SQL;

const char *ms_program_builtin_wordcount(void)
{
    return builtin_wordcount;
}

int ms_program_load(const char *path, ms_sql_program **out, char *errstr, size_t errsz)
{
    if (path)
        return ms_sql_parse_file(path, out, errstr, errsz);
    return ms_sql_parse(builtin_wordcount, sizeof(builtin_wordcount) - 1,
                        "queries/wordcount.sql (built in)", "wordcount", out, errstr, errsz);
}

int ms_program_from_checkpoint(const char *text, size_t len, ms_sql_program **out, char *errstr,
                               size_t errsz)
{
    *out = NULL;
    if (len == strlen(LEGACY_WORDCOUNT) && memcmp(text, LEGACY_WORDCOUNT, len) == 0)
        return ms_program_load(NULL, out, errstr, errsz);
    char perr[512];
    if (ms_sql_parse(text, len, "the checkpoint's query record", "query", out, perr,
                     sizeof(perr)) != 0) {
        snprintf(errstr, errsz, "the query recorded in the checkpoint (m:query) does not parse: %s",
                 perr);
        return MS_ECORRUPT;
    }
    return 0;
}

char *ms_program_canonical(const ms_sql_program *p)
{
    ms_buf b = MS_BUF_INIT;
    for (size_t i = 0; i < p->nstmts; i++) {
        if (i)
            ms_buf_puts(&b, ";\n");
        ms_buf_puts(&b, p->stmts[i].canonical);
    }
    if (!b.data)
        ms_buf_puts(&b, "");
    return ms_buf_steal(&b, NULL);
}

/* 1 when the program is exactly the built-in word count. */
static int is_builtin_wordcount(const char *canon)
{
    ms_sql_program *wc = NULL;
    char err[256];
    if (ms_program_load(NULL, &wc, err, sizeof(err)) != 0)
        return 0;
    char *c = ms_program_canonical(wc);
    int same = strcmp(c, canon) == 0;
    free(c);
    ms_sql_program_free(wc);
    return same;
}

static int check_format(ms_ckpt *ck, const char *dir, char *errstr, size_t errsz)
{
    ms_buf v = MS_BUF_INIT;
    int rc = ms_ckpt_get(ck, "m:format", 8, &v, errstr, errsz);
    if (rc == 0 && (v.len != 1 || (uint8_t)v.data[0] > MS_CKPT_FORMAT)) {
        snprintf(errstr, errsz,
                 "checkpoint %s was written by a newer mstream (format %d, this one reads %d)", dir,
                 v.len ? (uint8_t)v.data[0] : -1, MS_CKPT_FORMAT);
        rc = MS_EMISMATCH;
    } else if (rc == MS_ENOTFOUND) {
        snprintf(errstr, errsz, "checkpoint %s has no format record", dir);
        rc = MS_ECORRUPT;
    }
    ms_buf_free(&v);
    return rc;
}

int ms_program_bind_checkpoint(const ms_sql_program *p, ms_ckpt *ck, const char *dir, char *errstr,
                               size_t errsz)
{
    char *canon = ms_program_canonical(p);
    size_t clen = strlen(canon);
    ms_buf v = MS_BUF_INIT;
    int rc = ms_ckpt_get(ck, "m:query", 7, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        uint8_t fmt = MS_CKPT_FORMAT;
        rc = ms_ckpt_put_sync(ck, "m:format", 8, &fmt, 1, errstr, errsz);
        if (rc == 0)
            rc = ms_ckpt_put_sync(ck, "m:query", 7, canon, clen, errstr, errsz);
    } else if (rc == 0) {
        int same = v.len == clen && memcmp(v.data, canon, clen) == 0;
        if (!same && v.len == strlen(LEGACY_WORDCOUNT) &&
            memcmp(v.data, LEGACY_WORDCOUNT, v.len) == 0 && is_builtin_wordcount(canon)) {
            ms_info("checkpoint %s: recording the word count's query text in the current form",
                    dir);
            rc = ms_ckpt_put_sync(ck, "m:query", 7, canon, clen, errstr, errsz);
            same = rc == 0;
            if (rc)
                goto out;
        }
        if (!same) {
            snprintf(errstr, errsz,
                     "checkpoint %s was made for another query, and its state cannot be reused "
                     "for this one.\n  checkpoint: %.*s\n  this run:   %s\nOnly aliases, the "
                     "order of output columns, TOPIC, comments and sinks may change across "
                     "restarts; use a new --checkpoint-dir for a different query",
                     dir, (int)(v.len > 2000 ? 2000 : v.len), v.data, canon);
            rc = MS_EMISMATCH;
        } else {
            rc = check_format(ck, dir, errstr, errsz);
        }
    }
out:
    ms_buf_free(&v);
    free(canon);
    return rc;
}

int ms_program_bind_source(ms_ckpt *ck, const char *dir, const char *source, int fresh,
                           char *errstr, size_t errsz)
{
    size_t slen = strlen(source);
    ms_buf v = MS_BUF_INIT;
    int rc = ms_ckpt_get(ck, "m:source", 8, &v, errstr, errsz);
    if (rc == MS_ENOTFOUND) {
        ms_buf_reset(&v);
        ms_buf_puts(&v, "dir"); /* written before sources were recorded */
        if (fresh || !strcmp(source, "dir") || ms_source_binding_upgrades(v.data, v.len, source))
            rc = ms_ckpt_put_sync(ck, "m:source", 8, source, slen, errstr, errsz);
        else
            rc = MS_EMISMATCH;
    } else if (rc == 0) {
        rc = v.len == slen && memcmp(v.data, source, slen) == 0 ? 0 : MS_EMISMATCH;
        if (rc && ms_source_binding_upgrades(v.data, v.len, source)) {
            ms_info("checkpoint %s: recording its source as %s", dir, source);
            rc = ms_ckpt_put_sync(ck, "m:source", 8, source, slen, errstr, errsz);
        }
    }
    if (rc == MS_EMISMATCH) {
        char was[1100], now[1100];
        ms_source_binding_describe(was, sizeof(was), v.data, v.len);
        ms_source_binding_describe(now, sizeof(now), source, slen);
        snprintf(errstr, errsz,
                 "checkpoint %s holds the positions and state of %s; this run reads %s. "
                 "Its state cannot be reused for another input: use a new --checkpoint-dir "
                 "(or restart with the source it was made for)",
                 dir, was, now);
    }
    ms_buf_free(&v);
    return rc;
}
