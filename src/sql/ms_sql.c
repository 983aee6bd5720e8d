/*
 * The query language's entry points that are not grammar: reading a query
 * file, freeing a program, lookups and the names of enum values.  The
 * grammar and the binder are in ms_sql_parse.c.
 */
#include "sql/ms_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "sql/ms_sql_int.h"

void ms_sql_program_free(ms_sql_program *prog)
{
    if (!prog)
        return;
    for (size_t i = 0; i < prog->nstmts; i++)
        if (prog->stmts[i].schema && prog->stmts[i].schema->owned)
            ms_schema_free((ms_schema *)prog->stmts[i].schema);
    ms_sql__arena_free(prog->arena);
    free(prog);
}

int ms_sql_parse_file(const char *path, ms_sql_program **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "cannot open query file %s: %s", path, strerror(errno));
        return MS_EIO;
    }
    ms_buf b = MS_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= MS_SQL__MAX_TEXT)
        ms_buf_append(&b, chunk, n);
    int err = ferror(f);
    fclose(f);
    if (err) {
        snprintf(errstr, errstr_size, "cannot read query file %s: read error", path);
        ms_buf_free(&b);
        return MS_EIO;
    }
    /* Default statement name: the file's stem. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t stem_len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *stem = ms_xmalloc(stem_len + 1);
    memcpy(stem, base, stem_len);
    stem[stem_len] = '\0';
    int rc = ms_sql_parse(b.data ? b.data : "", b.len, path, stem, out, errstr, errstr_size);
    free(stem);
    ms_buf_free(&b);
    return rc;
}

const ms_sql_stmt *ms_sql_program_find(const ms_sql_program *p, const char *name)
{
    for (size_t i = 0; i < p->nstmts; i++)
        if (strcmp(p->stmts[i].name, name) == 0)
            return &p->stmts[i];
    return NULL;
}

const char *ms_sql_agg_name(enum ms_sql_agg_kind k)
{
    static const char *const names[] = {
#define MS__SQL_AGG_NAME(e, s) s,
        MS_SQL_AGG_MAP(MS__SQL_AGG_NAME)
#undef MS__SQL_AGG_NAME
    };
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *ms_sql_cmp_name(enum ms_sql_cmp_op op)
{
    static const char *const names[] = {
#define MS__SQL_CMP_NAME(e, s) s,
        MS_SQL_CMP_MAP(MS__SQL_CMP_NAME)
#undef MS__SQL_CMP_NAME
    };
    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *ms_sql_emit_name(enum ms_sql_emit m)
{
    switch (m) {
    case MS_SQL_EMIT_COMPLETE:
        return "COMPLETE";
    case MS_SQL_EMIT_UPDATE:
        return "UPDATE";
    case MS_SQL_EMIT_APPEND:
        return "APPEND";
    }
    return "?";
}

const char *ms_sql_window_name(enum ms_sql_window_kind k)
{
    switch (k) {
    case MS_SQL_WINDOW_NONE:
        return "NONE";
    case MS_SQL_WINDOW_TUMBLE:
        return "TUMBLE";
    case MS_SQL_WINDOW_HOP:
        return "HOP";
    }
    return "?";
}
