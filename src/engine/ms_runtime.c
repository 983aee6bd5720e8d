/*
 * Parsers, executors and the fan-out of a running program (see
 * ms_runtime.h).  Sources say which file or partition they read through
 * the input's part() (ms_source.h), so file names for the `topic` column
 * come from the source itself.
 */
#include "engine/ms_runtime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

/* --------------------------------------------------------------- columns */

/* Whether the expression reads a column whose index is in [lo, hi]. */
static int expr_reads(const ms_sql_expr *e, int lo, int hi)
{
    if (!e)
        return 0;
    switch (e->kind) {
    case MS_SQL_EXPR_CONST:
        return 0;
    case MS_SQL_EXPR_COL:
        return e->col >= lo && e->col <= hi;
    case MS_SQL_EXPR_CMP:
        return expr_reads(e->cmp.l, lo, hi) || expr_reads(e->cmp.r, lo, hi);
    case MS_SQL_EXPR_IN:
        return expr_reads(e->in.arg, lo, hi);
    case MS_SQL_EXPR_IS_NULL:
        return expr_reads(e->is_null.arg, lo, hi);
    case MS_SQL_EXPR_NOT:
        return expr_reads(e->not_arg, lo, hi);
    case MS_SQL_EXPR_AND:
    case MS_SQL_EXPR_OR:
        for (size_t i = 0; i < e->bool_args.n; i++)
            if (expr_reads(e->bool_args.args[i], lo, hi))
                return 1;
        return 0;
    }
    return 1;
}

static int in_range(int col, int lo, int hi)
{
    return col >= lo && col <= hi;
}

/* Whether the statement reads a column whose index is in [lo, hi] anywhere
 * (WHERE, group columns, aggregate arguments, window or watermark column). */
static int stmt_reads(const ms_sql_stmt *s, int lo, int hi)
{
    if (expr_reads(s->where, lo, hi))
        return 1;
    for (size_t i = 0; i < s->ngroup_cols; i++)
        if (in_range(s->group_cols[i], lo, hi))
            return 1;
    for (size_t i = 0; i < s->naggs; i++)
        if (in_range(s->aggs[i].arg, lo, hi))
            return 1;
    return (s->window.kind != MS_SQL_WINDOW_NONE && in_range(s->window.col, lo, hi)) ||
           (s->watermark.present && in_range(s->watermark.col, lo, hi));
}

static int stmt_reads_col(const ms_sql_stmt *s, int col)
{
    return stmt_reads(s, col, col);
}

/* Whether it reads any column at index >= limit. */
static int stmt_reads_beyond(const ms_sql_stmt *s, int limit)
{
    return stmt_reads(s, limit, INT_MAX);
}

/* ------------------------------------------------------------- fan-out */

static void widen_emit(void *ud, const ms_row *row)
{
    ms_stmt_rt *s = ud;
    s->wide[0] = row->cols[0];
    ms_row w = {s->wide, ms_schema_width(s->stmt->schema)};
    ms_exec_emit(&s->x, &w);
}

/* -------------------------------------------------------------- input */

static void in_part(void *ud, const ms_part *p, const char *name, uint64_t start)
{
    ms_runtime *rt = ud;
    double now = ms_now_mono();
    for (size_t k = 0; k < rt->n; k++)
        ms_exec_set_part(&rt->st[k].x, p, now); /* event time per partition */
    if (!rt->track_files || p->topic)
        return; /* message sources carry their metadata with each record */
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        if (!s->use_tok) /* where the range starts: a csv header is at offset 0 */
            ms_lines_begin_range(&s->lines, name, start);
        if (!s->needs_topic)
            continue;
        if (s->use_tok) {
            /* The name lives in the plan, which outlives the read. */
            s->wide[s->stmt->schema->ncols + MS_META_TOPIC] =
                ms_value_str((const uint8_t *)name, strlen(name));
        } else {
            ms_lines_begin_file(&s->lines, name);
        }
    }
}

static void in_feed(void *ud, const uint8_t *d, size_t n)
{
    ms_runtime *rt = ud;
    if (rt->direct) {
        ms_stmt_rt *s = &rt->st[0];
        s->parser->ops->feed(s->parser->self, d, n, s->emit, s->emit_ud);
        return;
    }
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        s->parser->ops->feed(s->parser->self, d, n, s->emit, s->emit_ud);
    }
}

static void in_end(void *ud)
{
    ms_runtime *rt = ud;
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        s->parser->ops->end_file(s->parser->self, s->emit, s->emit_ud);
    }
}

static void in_discard(void *ud)
{
    ms_runtime *rt = ud;
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        if (s->use_tok)
            ms_tokenizer_reset(&s->tok);
        else
            ms_lines_reset(&s->lines);
    }
}

static void in_record(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value,
                      size_t len)
{
    ms_runtime *rt = ud;
    const ms_value *t = &meta[MS_META_TOPIC];
    rt->records++;
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        const char *want = s->stmt->topic;
        if (want && !(t->type == MS_TYPE_STRING && t->s.n == strlen(want) &&
                      memcmp(t->s.p, want, t->s.n) == 0))
            continue;
        ms_format *f = s->use_tok ? s->msg_fmt : s->fmt;
        uint64_t before[MS_MALFORMED_MAX];
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            before[r] = ms_format_malformed(f, (enum ms_malformed)r);
        /* Rows of a format are full width: straight to the executor. */
        ms_format_record(f, value, len, meta, ms_exec_emit, &s->x);
        s->records++;
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            s->parser->malformed[r] += ms_format_malformed(f, (enum ms_malformed)r) - before[r];
    }
}

static const ms_input_ops runtime_input_ops = {
    .part = in_part,
    .feed = in_feed,
    .end = in_end,
    .discard = in_discard,
    .record = in_record,
};

/* ----------------------------------------------------------- life cycle */

int ms_runtime_init(ms_runtime *rt, const ms_sql_program *prog, const ms_runtime_opts *opts,
                    char *errstr, size_t errsz)
{
    memset(rt, 0, sizeof(*rt));
    rt->n = prog->nstmts;
    rt->st = ms_xcalloc(rt->n, sizeof(ms_stmt_rt));
    rt->in.ops = &runtime_input_ops;
    rt->in.ud = rt;
    ms_format_opts fo = {.max_record_bytes = opts->max_record_bytes,
                         .max_word_bytes = opts->max_word_bytes};
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        const ms_sql_stmt *stmt = &prog->stmts[k];
        s->stmt = stmt;
        ms_exec_init(&s->x, stmt);
        if (opts->watermark_idle_sec > 0)
            ms_exec_set_idle(&s->x, opts->watermark_idle_sec);
        int topic_col = (int)stmt->schema->ncols + MS_META_TOPIC;
        s->needs_topic = stmt_reads_col(stmt, topic_col);
        rt->needs_topic |= s->needs_topic;
        rt->track_files |= s->needs_topic || stmt->schema->csv.header;
        s->emit = ms_exec_emit;
        s->emit_ud = &s->x;
        if (stmt->schema->kind == MS_FORMAT_WORDS) {
            s->use_tok = 1;
            ms_tokenizer_init(&s->tok, opts->max_word_bytes);
            s->msg_fmt = ms_format_new(stmt->schema, &fo, errstr, errsz);
            if (!s->msg_fmt) {
                rt->n = k + 1;
                return MS_EINVAL;
            }
            s->parser = &s->tok.base;
            if (stmt_reads_beyond(stmt, 1)) {
                size_t w = ms_schema_width(stmt->schema);
                s->widen = 1;
                s->wide = ms_xcalloc(w, sizeof(ms_value));
                for (size_t i = 0; i < w; i++)
                    s->wide[i] = ms_value_null();
                s->emit = widen_emit;
                s->emit_ud = s;
            }
        } else {
            /* Column pruning: only what the statement reads is converted. */
            uint8_t *used = ms_xcalloc(stmt->schema->ncols ? stmt->schema->ncols : 1, 1);
            for (size_t c = 0; c < stmt->schema->ncols; c++)
                used[c] = (uint8_t)stmt_reads_col(stmt, (int)c);
            ms_format_opts fu = fo;
            fu.used = used;
            s->fmt = ms_format_new(stmt->schema, &fu, errstr, errsz);
            free(used);
            if (!s->fmt) {
                rt->n = k + 1;
                return MS_EINVAL;
            }
            ms_lines_init(&s->lines, s->fmt);
            s->parser = &s->lines.base;
        }
    }
    for (size_t k = 0; k < rt->n; k++)
        ms_exec_set_malformed_source(&rt->st[k].x, rt->st[k].parser->malformed);
    rt->direct = rt->n == 1 && !rt->track_files;
    return 0;
}

void ms_runtime_free(ms_runtime *rt)
{
    for (size_t k = 0; k < rt->n; k++) {
        ms_stmt_rt *s = &rt->st[k];
        ms_exec_free(&s->x);
        if (s->use_tok)
            ms_tokenizer_free(&s->tok);
        if (s->msg_fmt)
            ms_format_free(s->msg_fmt);
        if (s->fmt) {
            ms_lines_free(&s->lines);
            ms_format_free(s->fmt);
        }
        free(s->wide);
    }
    free(rt->st);
    memset(rt, 0, sizeof(*rt));
}

const ms_input *ms_runtime_input(ms_runtime *rt)
{
    return &rt->in;
}

uint64_t ms_runtime_rows(const ms_runtime *rt)
{
    return rt->records + (rt->n ? rt->st[0].parser->lines : 0);
}
