/* Fuzz the query language front end: any bytes as query text.
 * Invariants: parse never crashes or leaks; a refusal is MS_EINVAL with a
 * gcc-style message (file:line:col, source line, caret line); an accepted
 * program satisfies the binder's invariants (ms_sql_parse.c) and the limits
 * (windows per row, statements, csv options the format accepts), its canonical
 * texts parse again to themselves, and WHERE evaluates to one of the three
 * truth values on any row of the schema's types or NULLs. */
#include <string.h>

#include "fuzz.h"
#include "mstream/mstream.h"
#include "sql/ms_sql.h"

static void check_error(const char *err)
{
    FUZZ_CHECK(strncmp(err, "fuzz.sql:", 9) == 0);
    FUZZ_CHECK(strstr(err, ": error: ") != NULL);
    if (strstr(err, "larger than"))
        return; /* the size limit has no position */
    const char *l2 = strchr(err, '\n');
    FUZZ_CHECK(l2 && strncmp(l2 + 1, "  ", 2) == 0);
    const char *l3 = strchr(l2 + 1, '\n');
    FUZZ_CHECK(l3 && strncmp(l3 + 1, "  ", 2) == 0);
    const char *hat = l3 + 3 + strspn(l3 + 3, " \t");
    FUZZ_CHECK(*hat == '^');
    FUZZ_CHECK(strspn(hat + 1, "~") == strlen(hat + 1));
}

static void check_stmt(const ms_sql_stmt *s, const uint8_t *data, size_t size)
{
    size_t width = ms_schema_width(s->schema);
    FUZZ_CHECK(s->name && s->name[0]);
    FUZZ_CHECK(s->naggs >= 1 && s->nouts >= s->naggs);
    for (size_t j = 0; j < s->naggs; j++) {
        FUZZ_CHECK(s->aggs[j].arg >= -1 && s->aggs[j].arg < (int)width);
        FUZZ_CHECK((s->aggs[j].arg == -1) == (s->aggs[j].kind == MS_SQL_AGG_COUNT_STAR));
    }
    for (size_t k = 0; k < s->ngroup_cols; k++)
        FUZZ_CHECK(s->group_cols[k] >= 0 && s->group_cols[k] < (int)width);
    for (size_t i = 0; i < s->nouts; i++) {
        const ms_sql_out *o = &s->outs[i];
        if (o->kind == MS_SQL_OUT_AGG)
            FUZZ_CHECK(o->index < s->naggs);
        if (o->kind == MS_SQL_OUT_GROUP_COL)
            FUZZ_CHECK(o->index < s->ngroup_cols);
        if (o->kind == MS_SQL_OUT_WINDOW_START || o->kind == MS_SQL_OUT_WINDOW_END)
            FUZZ_CHECK(s->window.kind != MS_SQL_WINDOW_NONE);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s->outs[j].name, o->name) != 0);
    }
    if (s->window.kind != MS_SQL_WINDOW_NONE) {
        FUZZ_CHECK(s->window.size_us > 0 && s->window.slide_us > 0);
        FUZZ_CHECK(s->window.size_us % s->window.slide_us == 0);
        FUZZ_CHECK(ms_sql_window_fanout(&s->window) <= MS_SQL_MAX_FANOUT);
        FUZZ_CHECK(ms_schema_column(s->schema, (size_t)s->window.col)->type == MS_TYPE_TIMESTAMP);
    }
    if (s->watermark.present) {
        FUZZ_CHECK(s->watermark.delay_us > 0);
        if (s->window.kind != MS_SQL_WINDOW_NONE)
            FUZZ_CHECK(s->watermark.col == s->window.col);
    }
    if (s->emit == MS_SQL_EMIT_APPEND)
        FUZZ_CHECK(s->window.kind != MS_SQL_WINDOW_NONE && s->watermark.present);
    if (s->topic)
        FUZZ_CHECK(s->topic[0] != '\0');
    /* csv options: a dialect the format accepts; the default elsewhere */
    const ms_csv_dialect *d = &s->schema->csv;
    if (s->schema->kind == MS_FORMAT_CSV) {
        FUZZ_CHECK(d->delimiter > 0 && d->delimiter < 0x80 && d->delimiter != '\n' &&
                   d->delimiter != '\r');
        FUZZ_CHECK(d->quote == -1 || (d->quote > 0 && d->quote < 0x80 && d->quote != '\n' &&
                                      d->quote != '\r' && d->quote != d->delimiter));
        FUZZ_CHECK(!d->check_header || d->header);
    } else {
        FUZZ_CHECK(d->delimiter == ',' && d->quote == '"' && !d->header && !d->check_header);
    }

    /* canonical text: a fixed point */
    char err[2048];
    ms_sql_program *p2 = NULL;
    int rc =
        ms_sql_parse(s->canonical, strlen(s->canonical), "canon.sql", NULL, &p2, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "canonical text refused:\n%s\n%s\n", s->canonical, err);
    FUZZ_CHECK(rc == 0 && p2->nstmts == 1);
    FUZZ_CHECK(strcmp(p2->stmts[0].canonical, s->canonical) == 0);
    FUZZ_CHECK(strcmp(p2->stmts[0].name, s->name) == 0);
    FUZZ_CHECK(p2->stmts[0].naggs == s->naggs);
    const ms_csv_dialect *d2 = &p2->stmts[0].schema->csv;
    FUZZ_CHECK(d2->delimiter == d->delimiter && d2->quote == d->quote && d2->header == d->header);
    FUZZ_CHECK((p2->stmts[0].where == NULL) == (s->where == NULL));

    /* WHERE on rows of NULLs and of values taken from the input; the
     * normalised WHERE of the canonical text gives the same verdicts */
    ms_value row[64 + MS_META_NCOLS];
    if (!s->where || width > sizeof(row) / sizeof(row[0])) {
        ms_sql_program_free(p2);
        return;
    }
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < width; i++) {
            uint8_t b = size ? data[(i * 7 + (size_t)round * 13) % size] : 0;
            b = (uint8_t)(b ^ (uint8_t)(round * 37));
            ms_value v = ms_value_null();
            if (round > 0 && (b & 3) != 0) {
                v.type = ms_schema_column(s->schema, i)->type;
                if (v.type == MS_TYPE_STRING) {
                    size_t off = b % (size ? size : 1);
                    v.s.p = data + off;
                    v.s.n = (size - off) % 5;
                } else if (v.type == MS_TYPE_DOUBLE) {
                    v.d = (double)((int8_t)b >> 2) / 2.0;
                } else if (v.type == MS_TYPE_BOOL) {
                    v.i = (b >> 2) & 1;
                } else {
                    v.i = (int8_t)b >> 3; /* small: hits the literals 0, 1, -1, 3... */
                }
            }
            row[i] = v;
        }
        enum ms_sql_truth t = ms_sql_eval(s->where, row);
        FUZZ_CHECK(t == MS_SQL_TRUE || t == MS_SQL_FALSE || t == MS_SQL_UNKNOWN);
        FUZZ_CHECK(ms_sql_eval_where(s->where, row) == (t == MS_SQL_TRUE));
        FUZZ_CHECK(ms_sql_eval(p2->stmts[0].where, row) == t);
    }
    ms_sql_program_free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[4096];
    ms_sql_program *p = NULL;
    int rc = ms_sql_parse((const char *)data, size, "fuzz.sql", "fuzz", &p, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == MS_EINVAL && p == NULL);
        check_error(err);
        return 0;
    }
    FUZZ_CHECK(p && p->nstmts >= 1 && p->nstmts <= MS_SQL_MAX_STATEMENTS);
    int64_t fanout = 0;
    for (size_t i = 0; i < p->nstmts; i++)
        fanout += ms_sql_window_fanout(&p->stmts[i].window);
    FUZZ_CHECK(fanout <= MS_SQL_MAX_FANOUT);
    for (size_t i = 0; i < p->nstmts; i++) {
        check_stmt(&p->stmts[i], data, size);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(p->stmts[i].name, p->stmts[j].name) != 0);
    }
    ms_sql_program_free(p);
    return 0;
}
