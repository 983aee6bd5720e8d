/*
 * Parser and binder of the query language: hand-written recursive descent
 * over the grammar in docs/sql.md, binding as it goes.
 *
 * Binding order follows the text.  The schema is known once FROM is parsed,
 * so WHERE, GROUP BY and the watermark are resolved and type-checked as they
 * are read, and their errors point at the token that caused them.  SELECT
 * items come before FROM: they are kept with their tokens and bound at the
 * end of the statement, when the group columns and the window are known.
 *
 * Invariants of a statement this file returns (the executor relies on them):
 *   - every column index is < ms_schema_width(schema);
 *   - naggs >= 1; aggs[] are distinct (kind, arg) pairs;
 *   - every group column is referenced by some output column, and so is the
 *     window (window_start or window_end) when there is one;
 *   - output names are unique;
 *   - window/watermark columns are TIMESTAMP and the same column if both;
 *     HOP size is a multiple of its slide; all intervals > 0;
 *   - the limits of ms_sql.h: windows per row summed over the program <=
 *     MS_SQL_MAX_FANOUT, at most MS_SQL_MAX_STATEMENTS statements;
 *   - a csv schema's dialect is one ms_format_new() accepts (delimiter and
 *     quote ASCII, not a line break, different; check_header => header);
 *     every other schema keeps the default dialect;
 *   - EMIT APPEND implies a window and a watermark;
 *   - WHERE has type BOOLEAN and every comparison in it is between
 *     compatible types (see ms_sql.h).
 *
 * Reserved words (need double quotes to be used as names): SELECT FROM WHERE
 * GROUP BY EMIT AS AND OR NOT IN IS NULL TRUE FALSE INTERVAL CREATE.  Every
 * other keyword (COUNT, TUMBLE, TOPIC, formats, types, units...) is
 * recognised by its position, so `COUNT(*) AS count` and a column named
 * `time` or `user` work.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "sql/ms_sql_int.h"

typedef ms_sql__parser parser;
typedef ms_sql__tok tok;

#define PEEK(p)         ms_sql__peek((p), 0)
#define PEEK_AT(p, k)   ms_sql__peek((p), (k))
#define IS_KW(p, t, kw) ms_sql__is_kw((p), (t), (kw))

/* ------------------------------------------------------------------ */
/* Statement under construction                                         */
/* ------------------------------------------------------------------ */

typedef struct sel_item {
    int is_agg;
    enum ms_sql_agg_kind agg;
    tok first;   /* first token of the item (column, or function name) */
    tok arg_tok; /* column token (aggregate argument or the column itself) */
    char *col;   /* column name; NULL for COUNT(*) */
    char *alias; /* NULL without AS */
    tok alias_tok;
} sel_item;

typedef struct stmt_ctx {
    ms_sql_stmt *st;
    tok start;    /* CREATE or SELECT */
    tok name_tok; /* valid if named */
    int named;
    tok select_tok;
    sel_item *items;
    size_t nitems, items_cap;
    int *groups;
    tok *group_toks;
    size_t ngroups, groups_cap;
    tok window_tok; /* TUMBLE / HOP */
} stmt_ctx;

/* Grows an arena array to hold at least n+1 elements. */
static void *grow(parser *p, void *arr, size_t n, size_t *cap, size_t elsz)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *d = ms_sql__alloc(p->arena, ncap * elsz);
    if (n)
        memcpy(d, arr, n * elsz);
    *cap = ncap;
    return d;
}

static char *tok_text(parser *p, const tok *t)
{
    return ms_sql__tok_text(p, t, NULL);
}

/* Accepts an identifier: a non-reserved bare word or a quoted name. */
static int is_ident(parser *p, const tok *t)
{
    return t->kind == MS_SQL__TOK_QIDENT ||
           (t->kind == MS_SQL__TOK_IDENT && !ms_sql__is_reserved(p, t));
}

/* Consumes an identifier; on anything else reports "expected <what>". */
static int expect_ident(parser *p, const char *what, tok *t_out, char **name)
{
    const tok *t = PEEK(p);
    if (!is_ident(p, t)) {
        if (t->kind == MS_SQL__TOK_IDENT && !p->failed) {
            ms_buf b = MS_BUF_INIT;
            ms_buf_printf(&b,
                          "%s (%.*s is a reserved word; write it in double quotes, as "
                          "\"%.*s\", to use it as a name)",
                          what, (int)t->len, p->text + t->off, (int)t->len, p->text + t->off);
            int rc = ms_sql__expected(p, t, b.data);
            ms_buf_free(&b);
            return rc;
        }
        return ms_sql__expected(p, t, what);
    }
    *t_out = ms_sql__next(p);
    *name = tok_text(p, t_out);
    return 0;
}

static int expect_kind(parser *p, enum ms_sql__tok_kind k, const char *what)
{
    const tok *t = PEEK(p);
    if (t->kind != k)
        return ms_sql__expected(p, t, what);
    ms_sql__next(p);
    return 0;
}

static int expect_kw(parser *p, const char *kw, const char *what)
{
    const tok *t = PEEK(p);
    if (!IS_KW(p, t, kw))
        return ms_sql__expected(p, t, what);
    ms_sql__next(p);
    return 0;
}

static int accept_kw(parser *p, const char *kw)
{
    if (!IS_KW(p, PEEK(p), kw))
        return 0;
    ms_sql__next(p);
    return 1;
}

/* "time, missing_info, ...; metadata: topic, partition, ..." */
static void list_columns(const ms_schema *s, int windowed, ms_buf *b)
{
    for (size_t i = 0; i < s->ncols; i++)
        ms_buf_printf(b, "%s%s", i ? ", " : "", s->cols[i].name);
    ms_buf_puts(b, "; metadata columns: ");
    for (size_t i = 0; i < MS_META_NCOLS; i++)
        ms_buf_printf(b, "%s%s", i ? ", " : "", ms_meta_columns[i].name);
    if (windowed)
        ms_buf_puts(b, "; window bounds: window_start, window_end");
}

/* Row index of column `name`, or -1 after an error listing the columns. */
static int resolve_col(parser *p, const ms_sql_stmt *st, const tok *t, const char *name,
                       int windowed)
{
    int idx = ms_schema_find(st->schema, name);
    if (idx >= 0)
        return idx;
    ms_buf b = MS_BUF_INIT;
    list_columns(st->schema, windowed, &b);
    ms_sql__error_at(p, t->off, t->len, "unknown column '%s' in %s; the columns are: %s", name,
                     st->schema->format, b.data);
    ms_buf_free(&b);
    return -1;
}

static enum ms_type col_type(const ms_sql_stmt *st, int idx)
{
    return ms_schema_column(st->schema, (size_t)idx)->type;
}

/* ------------------------------------------------------------------ */
/* Literals and intervals                                               */
/* ------------------------------------------------------------------ */

/* Integer from digits, negated if neg; -1 on overflow. */
static int parse_int(const char *s, size_t n, int neg, int64_t *out)
{
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

static int number_value(parser *p, const tok *t, int neg, const tok *sign, ms_value *v)
{
    const char *s = p->text + t->off;
    uint32_t off = sign ? sign->off : t->off, len = t->off + t->len - off;
    if (t->kind == MS_SQL__TOK_INT) {
        v->type = MS_TYPE_INT;
        if (parse_int(s, t->len, neg, &v->i) < 0)
            return ms_sql__error_at(p, off, len,
                                    "integer %s%.*s is out of range (BIGINT is 64-bit: "
                                    "-9223372036854775808 to 9223372036854775807)",
                                    neg ? "-" : "", (int)t->len, s);
        return 0;
    }
    char *z = ms_sql__strndup(p->arena, s, t->len);
    double d = strtod(z, NULL);
    if (isinf(d) || isnan(d))
        return ms_sql__error_at(p, off, len, "number %s%s is out of range for DOUBLE",
                                neg ? "-" : "", z);
    v->type = MS_TYPE_DOUBLE;
    v->d = neg ? -d : d;
    return 0;
}

/* literal := string | number | '-' number | TRUE | FALSE | NULL.
 * *span covers the literal (both tokens of a negative number). */
static int parse_literal(parser *p, ms_value *v, uint32_t *off, uint32_t *len)
{
    const tok *t = PEEK(p);
    *off = t->off;
    *len = t->len;
    memset(v, 0, sizeof(*v));
    if (t->kind == MS_SQL__TOK_STRING) {
        tok s = ms_sql__next(p);
        size_t n;
        char *d = ms_sql__tok_text(p, &s, &n);
        *v = ms_value_str((const uint8_t *)d, n);
        return 0;
    }
    if (t->kind == MS_SQL__TOK_INT || t->kind == MS_SQL__TOK_FLOAT) {
        tok n = ms_sql__next(p);
        return number_value(p, &n, 0, NULL, v);
    }
    if (t->kind == MS_SQL__TOK_MINUS) {
        tok m = ms_sql__next(p);
        const tok *n = PEEK(p);
        if (n->kind != MS_SQL__TOK_INT && n->kind != MS_SQL__TOK_FLOAT)
            return ms_sql__expected(p, n, "a number after '-'");
        tok num = ms_sql__next(p);
        *len = num.off + num.len - m.off;
        return number_value(p, &num, 1, &m, v);
    }
    if (IS_KW(p, t, "TRUE") || IS_KW(p, t, "FALSE")) {
        v->type = MS_TYPE_BOOL;
        v->i = IS_KW(p, t, "TRUE");
        ms_sql__next(p);
        return 0;
    }
    if (IS_KW(p, t, "NULL")) {
        v->type = MS_TYPE_NULL;
        ms_sql__next(p);
        return 0;
    }
    return ms_sql__expected(p, t, "a literal (a 'string', a number, TRUE, FALSE or NULL)");
}

static const struct {
    const char *name;
    int64_t us;
} units[] = {
    {"MICROSECOND", 1},         {"MILLISECOND", 1000},      {"SECOND", 1000000},
    {"MINUTE", 60 * 1000000LL}, {"HOUR", 3600 * 1000000LL}, {"DAY", 86400 * 1000000LL},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* interval := INTERVAL string unit; *us > 0. */
static int parse_interval(parser *p, int64_t *us)
{
    if (expect_kw(p, "INTERVAL", "INTERVAL (as in INTERVAL '5' MINUTE)") < 0)
        return -1;
    const tok *t = PEEK(p);
    if (t->kind != MS_SQL__TOK_STRING)
        return ms_sql__expected(p, t, "the interval's length as a quoted integer, as in '5'");
    tok str = ms_sql__next(p);
    size_t n;
    char *s = ms_sql__tok_text(p, &str, &n);
    int64_t count = 0;
    int digits = n > 0;
    for (size_t i = 0; i < n; i++)
        digits &= s[i] >= '0' && s[i] <= '9';
    if (!digits || parse_int(s, n, 0, &count) < 0 || count <= 0)
        return ms_sql__error_at(p, str.off, str.len,
                                "an interval length must be a positive integer, as in "
                                "INTERVAL '5' MINUTE");
    const tok *u = PEEK(p);
    for (size_t i = 0; i < NUNITS; i++) {
        size_t ul = strlen(units[i].name);
        int plural = u->kind == MS_SQL__TOK_IDENT && u->len == ul + 1 &&
                     (p->text[u->off + ul] == 's' || p->text[u->off + ul] == 'S');
        if (!IS_KW(p, u, units[i].name) &&
            !(plural && strncasecmp(p->text + u->off, units[i].name, ul) == 0))
            continue;
        tok ut = ms_sql__next(p);
        if (count > INT64_MAX / units[i].us)
            return ms_sql__error_at(p, str.off, ut.off + ut.len - str.off,
                                    "interval is too long (it must fit in 64-bit microseconds)");
        *us = count * units[i].us;
        return 0;
    }
    return ms_sql__expected(p, u,
                            "a time unit (MICROSECOND, MILLISECOND, SECOND, MINUTE, HOUR or DAY)");
}

/* ------------------------------------------------------------------ */
/* WHERE expressions                                                    */
/* ------------------------------------------------------------------ */

static ms_sql_expr *parse_or(parser *p, stmt_ctx *c);

static ms_sql_expr *new_expr(parser *p, enum ms_sql_expr_kind kind, enum ms_type type, uint32_t off,
                             uint32_t len)
{
    ms_sql_expr *e = ms_sql__alloc(p->arena, sizeof(*e));
    e->kind = kind;
    e->type = type;
    e->off = off;
    e->len = len;
    return e;
}

/* How an operand is named in a type error. */
static void describe(parser *p, const ms_sql_stmt *st, const ms_sql_expr *e, ms_buf *b)
{
    if (e->kind == MS_SQL_EXPR_COL)
        ms_buf_printf(b, "column '%s'", ms_schema_column(st->schema, (size_t)e->col)->name);
    else if (e->kind == MS_SQL_EXPR_CONST)
        ms_sql__append_escaped(b, p->text + e->off, e->len, 40);
    else
        ms_buf_puts(b, "a condition");
    ms_buf_printf(b, " (%s)", ms_type_name(e->type));
}

static int is_numeric(enum ms_type t)
{
    return t == MS_TYPE_INT || t == MS_TYPE_DOUBLE;
}

/* Whether values of types a and b may be compared; an integer literal is
 * retyped TIMESTAMP when compared with a TIMESTAMP. */
static int comparable(enum ms_type a, enum ms_type b)
{
    return (is_numeric(a) && is_numeric(b)) || (a == b && a != MS_TYPE_NULL);
}

static int timestamp_literal(ms_sql_expr *e)
{
    if (e->kind != MS_SQL_EXPR_CONST || e->type != MS_TYPE_INT)
        return 0;
    e->type = e->value.type = MS_TYPE_TIMESTAMP;
    return 1;
}

/* An integer literal compared with a DOUBLE is a DOUBLE (the comparison
 * is done in DOUBLE anyway); `x > 1` and `x > 1.0` are the same query. */
static void widen_literal(ms_sql_expr *e, enum ms_type other)
{
    if (e->kind == MS_SQL_EXPR_CONST && e->type == MS_TYPE_INT && other == MS_TYPE_DOUBLE) {
        e->type = e->value.type = MS_TYPE_DOUBLE;
        e->value.d = (double)e->value.i;
    }
}

static const char ts_hint[] = "; a TIMESTAMP compares with a TIMESTAMP or with an integer "
                              "literal (microseconds)";

static int check_cmp(parser *p, stmt_ctx *c, ms_sql_expr *l, ms_sql_expr *r, const tok *op)
{
    if (l->type == MS_TYPE_TIMESTAMP && r->type == MS_TYPE_INT && timestamp_literal(r))
        return 0;
    if (r->type == MS_TYPE_TIMESTAMP && l->type == MS_TYPE_INT && timestamp_literal(l))
        return 0;
    if (comparable(l->type, r->type)) {
        widen_literal(l, r->type);
        widen_literal(r, l->type);
        return 0;
    }
    ms_buf a = MS_BUF_INIT, b = MS_BUF_INIT;
    describe(p, c->st, l, &a);
    describe(p, c->st, r, &b);
    int ts = l->type == MS_TYPE_TIMESTAMP || r->type == MS_TYPE_TIMESTAMP;
    ms_sql__error_at(p, op->off, op->len, "cannot compare %s with %s%s", a.data, b.data,
                     ts ? ts_hint : "");
    ms_buf_free(&a);
    ms_buf_free(&b);
    return -1;
}

static int null_misuse(parser *p, const ms_sql_expr *e)
{
    return ms_sql__error_at(p, e->off, e->len,
                            "NULL can only be tested with IS NULL or IS NOT NULL (a comparison "
                            "with NULL is never true)");
}

static int is_null_lit(const ms_sql_expr *e)
{
    return e->kind == MS_SQL_EXPR_CONST && e->type == MS_TYPE_NULL;
}

static int need_bool(parser *p, stmt_ctx *c, const ms_sql_expr *e, const char *ctx)
{
    if (e->type == MS_TYPE_BOOL)
        return 0;
    if (is_null_lit(e))
        return null_misuse(p, e);
    ms_buf b = MS_BUF_INIT;
    describe(p, c->st, e, &b);
    ms_sql__error_at(p, e->off, e->len, "%s needs a BOOLEAN condition, found %s", ctx, b.data);
    ms_buf_free(&b);
    return -1;
}

/* operand := ident | literal | '(' expr ')' */
static ms_sql_expr *parse_operand(parser *p, stmt_ctx *c)
{
    const tok *t = PEEK(p);
    if (t->kind == MS_SQL__TOK_LPAREN) {
        tok lp = ms_sql__next(p);
        if (++p->depth > MS_SQL__MAX_DEPTH) {
            ms_sql__error_at(p, lp.off, lp.len,
                             "expression nested too deeply (more than %d levels)",
                             MS_SQL__MAX_DEPTH);
            return NULL;
        }
        ms_sql_expr *e = parse_or(p, c);
        p->depth--;
        if (!e || expect_kind(p, MS_SQL__TOK_RPAREN, "')' or an operator (AND, OR, =, ...)") < 0)
            return NULL;
        return e;
    }
    if (t->kind == MS_SQL__TOK_QIDENT || (t->kind == MS_SQL__TOK_IDENT && is_ident(p, t))) {
        if (t->kind == MS_SQL__TOK_IDENT && PEEK_AT(p, 1)->kind == MS_SQL__TOK_LPAREN) {
            ms_sql__error_at(p, t->off, t->len,
                             "functions and aggregates cannot be used in WHERE; it filters "
                             "input rows before they are aggregated");
            return NULL;
        }
        tok ct = ms_sql__next(p);
        char *name = tok_text(p, &ct);
        int idx = resolve_col(p, c->st, &ct, name, 0);
        if (idx < 0)
            return NULL;
        ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_COL, col_type(c->st, idx), ct.off, ct.len);
        e->col = idx;
        return e;
    }
    if (t->kind == MS_SQL__TOK_IDENT && !IS_KW(p, t, "TRUE") && !IS_KW(p, t, "FALSE") &&
        !IS_KW(p, t, "NULL")) {
        ms_sql__expected(p, t, "a column, a literal or '('");
        return NULL;
    }
    if (t->kind != MS_SQL__TOK_IDENT && t->kind != MS_SQL__TOK_STRING &&
        t->kind != MS_SQL__TOK_INT && t->kind != MS_SQL__TOK_FLOAT &&
        t->kind != MS_SQL__TOK_MINUS) {
        ms_sql__expected(p, t, "a column, a literal or '('");
        return NULL;
    }
    ms_value v;
    uint32_t off, len;
    if (parse_literal(p, &v, &off, &len) < 0)
        return NULL;
    ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_CONST, v.type, off, len);
    e->value = v;
    return e;
}

static int cmp_op(enum ms_sql__tok_kind k, enum ms_sql_cmp_op *op)
{
    switch (k) {
    case MS_SQL__TOK_EQ:
        *op = MS_SQL_CMP_EQ;
        return 1;
    case MS_SQL__TOK_NE:
        *op = MS_SQL_CMP_NE;
        return 1;
    case MS_SQL__TOK_LT:
        *op = MS_SQL_CMP_LT;
        return 1;
    case MS_SQL__TOK_LE:
        *op = MS_SQL_CMP_LE;
        return 1;
    case MS_SQL__TOK_GT:
        *op = MS_SQL_CMP_GT;
        return 1;
    case MS_SQL__TOK_GE:
        *op = MS_SQL_CMP_GE;
        return 1;
    default:
        return 0;
    }
}

/* [NOT] IN '(' literal { ',' literal } ')' after operand l. */
static ms_sql_expr *parse_in(parser *p, stmt_ctx *c, ms_sql_expr *l, int negated)
{
    if (is_null_lit(l)) {
        null_misuse(p, l);
        return NULL;
    }
    if (expect_kind(p, MS_SQL__TOK_LPAREN, "'(' and a list of literals after IN") < 0)
        return NULL;
    ms_value *list = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        ms_value v;
        uint32_t off, len;
        if (parse_literal(p, &v, &off, &len) < 0)
            return NULL;
        ms_sql_expr lit = {.kind = MS_SQL_EXPR_CONST, .type = v.type, .off = off, .len = len};
        lit.value = v;
        if (is_null_lit(&lit)) {
            null_misuse(p, &lit);
            return NULL;
        }
        if (!(l->type == MS_TYPE_TIMESTAMP && timestamp_literal(&lit)) &&
            !comparable(l->type, lit.type)) {
            ms_buf a = MS_BUF_INIT, b = MS_BUF_INIT;
            describe(p, c->st, &lit, &a);
            describe(p, c->st, l, &b);
            ms_sql__error_at(p, off, len, "IN list value %s does not match %s%s", a.data, b.data,
                             l->type == MS_TYPE_TIMESTAMP ? ts_hint : "");
            ms_buf_free(&a);
            ms_buf_free(&b);
            return NULL;
        }
        widen_literal(&lit, l->type);
        list = grow(p, list, n, &cap, sizeof(*list));
        list[n++] = lit.value;
        const tok *t = PEEK(p);
        if (t->kind == MS_SQL__TOK_COMMA) {
            ms_sql__next(p);
            continue;
        }
        if (t->kind == MS_SQL__TOK_RPAREN) {
            ms_sql__next(p);
            break;
        }
        ms_sql__expected(p, t, "',' or ')' in the IN list");
        return NULL;
    }
    ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_IN, MS_TYPE_BOOL, l->off, l->len);
    e->in.arg = l;
    e->in.list = list;
    e->in.n = n;
    e->in.negated = negated;
    return e;
}

/* cmp := operand [ op operand | [NOT] IN (...) | IS [NOT] NULL ] */
static ms_sql_expr *parse_cmp(parser *p, stmt_ctx *c)
{
    ms_sql_expr *l = parse_operand(p, c);
    if (!l)
        return NULL;
    const tok *t = PEEK(p);
    enum ms_sql_cmp_op op;
    if (cmp_op(t->kind, &op)) {
        tok opt = ms_sql__next(p);
        if (is_null_lit(l)) {
            null_misuse(p, l);
            return NULL;
        }
        ms_sql_expr *r = parse_operand(p, c);
        if (!r)
            return NULL;
        if (is_null_lit(r)) {
            null_misuse(p, r);
            return NULL;
        }
        if (check_cmp(p, c, l, r, &opt) < 0)
            return NULL;
        ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_CMP, MS_TYPE_BOOL, l->off, l->len);
        e->cmp.op = op;
        e->cmp.l = l;
        e->cmp.r = r;
        return e;
    }
    if (IS_KW(p, t, "IN")) {
        ms_sql__next(p);
        return parse_in(p, c, l, 0);
    }
    if (IS_KW(p, t, "NOT") && IS_KW(p, PEEK_AT(p, 1), "IN")) {
        ms_sql__next(p);
        ms_sql__next(p);
        return parse_in(p, c, l, 1);
    }
    if (IS_KW(p, t, "IS")) {
        ms_sql__next(p);
        int negated = accept_kw(p, "NOT");
        if (expect_kw(p, "NULL", negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS") < 0)
            return NULL;
        ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_IS_NULL, MS_TYPE_BOOL, l->off, l->len);
        e->is_null.arg = l;
        e->is_null.negated = negated;
        return e;
    }
    if (is_null_lit(l)) {
        null_misuse(p, l);
        return NULL;
    }
    return l;
}

/* not := NOT not | cmp */
static ms_sql_expr *parse_not(parser *p, stmt_ctx *c)
{
    if (!IS_KW(p, PEEK(p), "NOT"))
        return parse_cmp(p, c);
    tok nt = ms_sql__next(p);
    if (++p->depth > MS_SQL__MAX_DEPTH) {
        ms_sql__error_at(p, nt.off, nt.len, "expression nested too deeply (more than %d levels)",
                         MS_SQL__MAX_DEPTH);
        return NULL;
    }
    ms_sql_expr *arg = parse_not(p, c);
    p->depth--;
    if (!arg || need_bool(p, c, arg, "NOT") < 0)
        return NULL;
    ms_sql_expr *e = new_expr(p, MS_SQL_EXPR_NOT, MS_TYPE_BOOL, nt.off, nt.len);
    e->not_arg = arg;
    return e;
}

/* and := not { AND not };  expr := and { OR and } */
static ms_sql_expr *parse_bool_list(parser *p, stmt_ctx *c, int is_or)
{
    const char *kw = is_or ? "OR" : "AND";
    ms_sql_expr *first = is_or ? parse_bool_list(p, c, 0) : parse_not(p, c);
    if (!first || !IS_KW(p, PEEK(p), kw))
        return first;
    if (need_bool(p, c, first, kw) < 0)
        return NULL;
    ms_sql_expr **args = NULL;
    size_t n = 0, cap = 0;
    args = grow(p, args, n, &cap, sizeof(*args));
    args[n++] = first;
    while (accept_kw(p, kw)) {
        ms_sql_expr *e = is_or ? parse_bool_list(p, c, 0) : parse_not(p, c);
        if (!e || need_bool(p, c, e, kw) < 0)
            return NULL;
        args = grow(p, args, n, &cap, sizeof(*args));
        args[n++] = e;
    }
    ms_sql_expr *e =
        new_expr(p, is_or ? MS_SQL_EXPR_OR : MS_SQL_EXPR_AND, MS_TYPE_BOOL, first->off, first->len);
    e->bool_args.args = (const ms_sql_expr *const *)args;
    e->bool_args.n = n;
    return e;
}

static ms_sql_expr *parse_or(parser *p, stmt_ctx *c)
{
    return parse_bool_list(p, c, 1);
}

/* ------------------------------------------------------------------ */
/* FROM source                                                          */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    enum ms_type type;
} type_names[] = {
    {"BIGINT", MS_TYPE_INT},     {"INT", MS_TYPE_INT},
    {"INTEGER", MS_TYPE_INT},    {"DOUBLE", MS_TYPE_DOUBLE},
    {"FLOAT", MS_TYPE_DOUBLE},   {"STRING", MS_TYPE_STRING},
    {"VARCHAR", MS_TYPE_STRING}, {"TIMESTAMP", MS_TYPE_TIMESTAMP},
    {"BOOLEAN", MS_TYPE_BOOL},
};

static int parse_coldefs(parser *p, ms_schema *s)
{
    ms_sql__next(p); /* ( */
    for (;;) {
        tok nt;
        char *name;
        if (expect_ident(p, "a column name", &nt, &name) < 0)
            return -1;
        if (strcmp(name, "window_start") == 0 || strcmp(name, "window_end") == 0)
            return ms_sql__error_at(p, nt.off, nt.len,
                                    "%s names a window bound in SELECT; give the column another "
                                    "name",
                                    name);
        for (size_t i = 0; i < s->ncols; i++)
            if (strcmp(s->cols[i].name, name) == 0)
                return ms_sql__error_at(p, nt.off, nt.len, "column '%s' is declared twice", name);
        const tok *t = PEEK(p);
        size_t k = 0;
        while (k < sizeof(type_names) / sizeof(type_names[0]) && !IS_KW(p, t, type_names[k].name))
            k++;
        if (k == sizeof(type_names) / sizeof(type_names[0]))
            return ms_sql__expected(p, t,
                                    "a column type (BIGINT, INT, INTEGER, DOUBLE, FLOAT, STRING, "
                                    "VARCHAR, TIMESTAMP or BOOLEAN)");
        ms_sql__next(p);
        ms_schema_add_column(s, name, type_names[k].type);
        t = PEEK(p);
        if (t->kind == MS_SQL__TOK_COMMA) {
            ms_sql__next(p);
            continue;
        }
        if (t->kind == MS_SQL__TOK_RPAREN) {
            ms_sql__next(p);
            break;
        }
        return ms_sql__expected(p, t, "',' or ')' after a column declaration");
    }
    return 0;
}

/* WATERMARK FOR col AS col '-' interval */
static int parse_watermark(parser *p, stmt_ctx *c)
{
    ms_sql_stmt *st = c->st;
    ms_sql__next(p); /* WATERMARK */
    if (expect_kw(p, "FOR", "FOR after WATERMARK (WATERMARK FOR col AS col - INTERVAL ...)") < 0)
        return -1;
    tok ct, ct2;
    char *col, *col2;
    if (expect_ident(p, "the event-time column", &ct, &col) < 0)
        return -1;
    int idx = resolve_col(p, st, &ct, col, 0);
    if (idx < 0)
        return -1;
    if (col_type(st, idx) != MS_TYPE_TIMESTAMP)
        return ms_sql__error_at(p, ct.off, ct.len,
                                "the watermark column must be a TIMESTAMP; '%s' is %s", col,
                                ms_type_name(col_type(st, idx)));
    if (expect_kw(p, "AS", "AS after the watermark column") < 0)
        return -1;
    if (expect_ident(p, "the event-time column again, as in time - INTERVAL '1' MINUTE", &ct2,
                     &col2) < 0)
        return -1;
    if (strcmp(col, col2) != 0)
        return ms_sql__error_at(p, ct2.off, ct2.len,
                                "the watermark must be computed from its own column: "
                                "WATERMARK FOR %s AS %s - INTERVAL ...",
                                col, col);
    if (expect_kind(p, MS_SQL__TOK_MINUS, "'-' and the watermark delay (an INTERVAL)") < 0)
        return -1;
    if (parse_interval(p, &st->watermark.delay_us) < 0)
        return -1;
    st->watermark.present = 1;
    st->watermark.col = idx;
    return 0;
}

/* One ASCII character other than NUL, CR and LF, written as itself or as
 * \t, \xHH or \u00HH (as Spark's `sep`); -1 for anything else. */
static int option_char(const char *v, size_t n)
{
    int c = -1;
    if (n == 1) {
        c = (unsigned char)v[0];
    } else if (n == 2 && v[0] == '\\' && v[1] == 't') {
        c = '\t';
    } else if ((n == 4 && v[0] == '\\' && (v[1] == 'x' || v[1] == 'X')) ||
               (n == 6 && v[0] == '\\' && (v[1] == 'u' || v[1] == 'U') && v[2] == '0' &&
                v[3] == '0')) {
        c = 0;
        for (size_t i = n - 2; i < n; i++) {
            int h = v[i] >= '0' && v[i] <= '9'   ? v[i] - '0'
                    : v[i] >= 'a' && v[i] <= 'f' ? v[i] - 'a' + 10
                    : v[i] >= 'A' && v[i] <= 'F' ? v[i] - 'A' + 10
                                                 : -1;
            if (h < 0)
                return -1;
            c = c * 16 + h;
        }
    }
    if (c <= 0 || c >= 0x80 || c == '\n' || c == '\r')
        return -1;
    return c;
}

enum { OPT_HEADER, OPT_DELIMITER, OPT_QUOTE, OPT_CHECK_HEADER, OPT_N };

/* WITH '(' string '=' string { ',' string '=' string } ')' after csv(...):
 * the dialect of the csv source (ms_schema.h), as Flink's connector options
 * with Spark's names. */
static int parse_csv_options(parser *p, ms_schema *s)
{
    static const char *const names[] = {"header", "delimiter", "quote", "check-header", "sep"};
    static const char known[] = "the options are 'header', 'delimiter' (or 'sep'), 'quote' and "
                                "'check-header'";
    ms_sql__next(p); /* WITH */
    if (expect_kind(p, MS_SQL__TOK_LPAREN,
                    "'(' and the csv options, as in WITH ('header' = 'true')") < 0)
        return -1;
    tok key_tok[OPT_N], val_tok[OPT_N];
    int have[OPT_N] = {0};
    for (;;) {
        const tok *t = PEEK(p);
        if (t->kind != MS_SQL__TOK_STRING)
            return ms_sql__expected(p, t, "a csv option's name in quotes, as in 'header'");
        tok kt = ms_sql__next(p);
        size_t kn;
        char *key = ms_sql__tok_text(p, &kt, &kn);
        int k = 0;
        while (k < 5 && !(strlen(names[k]) == kn && strncasecmp(names[k], key, kn) == 0))
            k++;
        if (k == 5) {
            ms_buf b = MS_BUF_INIT;
            ms_sql__append_escaped(&b, key, kn, 40);
            ms_sql__error_at(p, kt.off, kt.len, "unknown csv option '%s'; %s", b.data, known);
            ms_buf_free(&b);
            return -1;
        }
        if (k == 4)
            k = OPT_DELIMITER;
        if (have[k])
            return ms_sql__error_at(p, kt.off, kt.len, "the csv option '%s' is given twice",
                                    names[k]);
        if (expect_kind(p, MS_SQL__TOK_EQ, "'=' and the option's value") < 0)
            return -1;
        t = PEEK(p);
        if (t->kind != MS_SQL__TOK_STRING)
            return ms_sql__expected(p, t, "the option's value in quotes, as in 'header' = 'true'");
        tok vt = ms_sql__next(p);
        size_t vn;
        char *v = ms_sql__tok_text(p, &vt, &vn);
        if (k == OPT_HEADER || k == OPT_CHECK_HEADER) {
            int on = vn == 4 && strncasecmp(v, "true", 4) == 0;
            if (!on && !(vn == 5 && strncasecmp(v, "false", 5) == 0))
                return ms_sql__error_at(p, vt.off, vt.len, "'%s' is 'true' or 'false'", names[k]);
            if (k == OPT_HEADER)
                s->csv.header = on;
            else
                s->csv.check_header = on;
        } else {
            int c = option_char(v, vn);
            if (c < 0 && !(k == OPT_QUOTE && vn == 0))
                return ms_sql__error_at(
                    p, vt.off, vt.len,
                    "%s is one ASCII character other than a line break (a tab is '\\t'; any "
                    "other as '\\xHH')%s",
                    k == OPT_QUOTE ? "the quote" : "a delimiter",
                    k == OPT_QUOTE ? ", or '' for no quoting" : "");
            if (k == OPT_DELIMITER)
                s->csv.delimiter = (unsigned char)c;
            else
                s->csv.quote = c; /* -1: none */
        }
        have[k] = 1;
        key_tok[k] = kt;
        val_tok[k] = vt;
        t = PEEK(p);
        if (t->kind == MS_SQL__TOK_COMMA) {
            ms_sql__next(p);
            continue;
        }
        if (t->kind == MS_SQL__TOK_RPAREN) {
            ms_sql__next(p);
            break;
        }
        return ms_sql__expected(p, t, "',' or ')' after a csv option");
    }
    if (s->csv.quote == s->csv.delimiter) {
        /* at the one written last (or the only one written) */
        const tok *at =
            !have[OPT_QUOTE] ? &val_tok[OPT_DELIMITER]
            : !have[OPT_DELIMITER] || val_tok[OPT_QUOTE].off > val_tok[OPT_DELIMITER].off
                ? &val_tok[OPT_QUOTE]
                : &val_tok[OPT_DELIMITER];
        return ms_sql__error_at(p, at->off, at->len,
                                "the quote and the delimiter must differ (both would be '%c'); "
                                "'quote' = '' turns quoting off",
                                s->csv.delimiter);
    }
    if (s->csv.check_header && !s->csv.header)
        return ms_sql__error_at(p, key_tok[OPT_CHECK_HEADER].off, key_tok[OPT_CHECK_HEADER].len,
                                "'check-header' compares the header line with the declared "
                                "columns: it needs 'header' = 'true'");
    return 0;
}

/* source := format [ '(' coldefs ')' ] [ WITH (options) ] [ TOPIC string ] [ WATERMARK ... ] */
static int parse_source(parser *p, stmt_ctx *c)
{
    static const char *const formats[] = {"lines", "words",       "csv",
                                          "json",  "task_events", "job_events"};
    ms_sql_stmt *st = c->st;
    const tok *t = PEEK(p);
    size_t k = 0;
    while (k < sizeof(formats) / sizeof(formats[0]) && !IS_KW(p, t, formats[k]))
        k++;
    if (k == sizeof(formats) / sizeof(formats[0]))
        return ms_sql__expected(
            p, t, "a source format (lines, words, csv, json, task_events or job_events)");
    ms_sql__next(p);
    int declared = strcmp(formats[k], "csv") == 0 || strcmp(formats[k], "json") == 0;
    t = PEEK(p);
    if (declared) {
        ms_schema *s =
            ms_schema_new(strcmp(formats[k], "csv") == 0 ? MS_FORMAT_CSV : MS_FORMAT_JSON);
        st->schema = s; /* owned by the statement from here on */
        if (t->kind != MS_SQL__TOK_LPAREN)
            return ms_sql__expected(p, t,
                                    "'(' and the column list of the format, as in "
                                    "csv(name STRING, amount DOUBLE)");
        if (parse_coldefs(p, s) < 0)
            return -1;
        if (IS_KW(p, PEEK(p), "WITH") && s->kind == MS_FORMAT_CSV && parse_csv_options(p, s) < 0)
            return -1;
    } else {
        st->schema = ms_schema_builtin(formats[k]);
        if (t->kind == MS_SQL__TOK_LPAREN)
            return ms_sql__error_at(p, t->off, t->len,
                                    "%s has a fixed schema; a column list is only for csv and "
                                    "json",
                                    formats[k]);
    }
    t = PEEK(p);
    if (IS_KW(p, t, "WITH"))
        return ms_sql__error_at(p, t->off, t->len,
                                "WITH options are only for csv (header, delimiter, quote); %s "
                                "has none",
                                formats[k]);
    if (accept_kw(p, "TOPIC")) {
        t = PEEK(p);
        if (t->kind != MS_SQL__TOK_STRING)
            return ms_sql__expected(p, t, "the topic name as a string, as in TOPIC 'events'");
        tok tt = ms_sql__next(p);
        size_t n;
        char *topic = ms_sql__tok_text(p, &tt, &n);
        if (n == 0)
            return ms_sql__error_at(p, tt.off, tt.len, "TOPIC needs a non-empty topic name");
        if (memchr(topic, '\0', n))
            return ms_sql__error_at(p, tt.off, tt.len, "a topic name cannot contain NUL");
        st->topic = topic;
    }
    if (IS_KW(p, PEEK(p), "WATERMARK"))
        return parse_watermark(p, c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* GROUP BY                                                             */
/* ------------------------------------------------------------------ */

static int parse_window(parser *p, stmt_ctx *c)
{
    ms_sql_stmt *st = c->st;
    tok wt = ms_sql__next(p);
    int hop = IS_KW(p, &wt, "HOP");
    if (st->window.kind != MS_SQL_WINDOW_NONE)
        return ms_sql__error_at(p, wt.off, wt.len,
                                "a statement can have at most one window (TUMBLE or HOP)");
    ms_sql__next(p); /* ( */
    tok ct;
    char *col;
    if (expect_ident(p, "the event-time column", &ct, &col) < 0)
        return -1;
    int idx = resolve_col(p, st, &ct, col, 0);
    if (idx < 0)
        return -1;
    if (col_type(st, idx) != MS_TYPE_TIMESTAMP)
        return ms_sql__error_at(p, ct.off, ct.len, "a window needs a TIMESTAMP column; '%s' is %s",
                                col, ms_type_name(col_type(st, idx)));
    if (st->watermark.present && st->watermark.col != idx)
        return ms_sql__error_at(
            p, ct.off, ct.len,
            "the window and the watermark must use the same event-time column; the watermark is "
            "on '%s'",
            ms_schema_column(st->schema, (size_t)st->watermark.col)->name);
    if (expect_kind(p, MS_SQL__TOK_COMMA, "',' and the window size (an INTERVAL)") < 0)
        return -1;
    int64_t a, b = 0;
    tok at = *PEEK(p);
    if (parse_interval(p, &a) < 0)
        return -1;
    uint32_t a_end = p->last_end;
    if (hop) {
        if (expect_kind(p, MS_SQL__TOK_COMMA,
                        "',' and the window size (HOP(col, slide, size) as in Flink)") < 0)
            return -1;
        tok bt = *PEEK(p);
        if (parse_interval(p, &b) < 0)
            return -1;
        if (b % a != 0) {
            ms_buf sz = MS_BUF_INIT, sl = MS_BUF_INIT;
            ms_sql__interval_text(&sz, b);
            ms_sql__interval_text(&sl, a);
            ms_sql__error_at(p, bt.off, p->last_end - bt.off,
                             "the HOP window size (INTERVAL %s) must be a multiple of its slide "
                             "(INTERVAL %s); HOP takes (column, slide, size)",
                             sz.data, sl.data);
            ms_buf_free(&sz);
            ms_buf_free(&sl);
            return -1;
        }
        if (b / a > MS_SQL_MAX_FANOUT) {
            /* Each row would be added to b/a windows: bounded here, so that
             * no query can make one row cost unbounded time and memory. */
            ms_buf sz = MS_BUF_INIT, sl = MS_BUF_INIT, min = MS_BUF_INIT;
            ms_sql__interval_text(&sz, b);
            ms_sql__interval_text(&sl, a);
            /* The shortest slide in the unit the slide was written in
             * that still divides the size: the most windows per row within
             * the limit (k = 1 always divides). */
            int64_t u = 1;
            for (size_t i = 0; i < NUNITS; i++)
                if (a % units[i].us == 0)
                    u = units[i].us;
            int64_t k = MS_SQL_MAX_FANOUT;
            while ((b / u) % k != 0)
                k--;
            ms_sql__interval_text(&min, b / k);
            ms_sql__error_at(p, at.off, a_end - at.off,
                             "this HOP window adds every row to %lld windows (size INTERVAL %s / "
                             "slide INTERVAL %s); at most %d windows per row are allowed: the "
                             "shortest slide for this size is INTERVAL %s (%lld windows per row)",
                             (long long)(b / a), sz.data, sl.data, MS_SQL_MAX_FANOUT, min.data,
                             (long long)k);
            ms_buf_free(&sz);
            ms_buf_free(&sl);
            ms_buf_free(&min);
            return -1;
        }
    }
    if (expect_kind(p, MS_SQL__TOK_RPAREN, "')' to close the window") < 0)
        return -1;
    st->window.kind = hop ? MS_SQL_WINDOW_HOP : MS_SQL_WINDOW_TUMBLE;
    st->window.col = idx;
    st->window.size_us = hop ? b : a;
    st->window.slide_us = a;
    c->window_tok = wt;
    return 0;
}

static int parse_group_by(parser *p, stmt_ctx *c)
{
    ms_sql_stmt *st = c->st;
    for (;;) {
        const tok *t = PEEK(p);
        if ((IS_KW(p, t, "TUMBLE") || IS_KW(p, t, "HOP")) &&
            PEEK_AT(p, 1)->kind == MS_SQL__TOK_LPAREN) {
            if (parse_window(p, c) < 0)
                return -1;
        } else {
            tok ct;
            char *col;
            if (expect_ident(p, "a column, TUMBLE(...) or HOP(...)", &ct, &col) < 0)
                return -1;
            int idx = resolve_col(p, st, &ct, col, 0);
            if (idx < 0)
                return -1;
            for (size_t i = 0; i < c->ngroups; i++)
                if (c->groups[i] == idx)
                    return ms_sql__error_at(p, ct.off, ct.len, "column '%s' is grouped twice", col);
            /* two parallel arrays, grown in step from the same capacity */
            size_t cap = c->groups_cap;
            c->groups = grow(p, c->groups, c->ngroups, &cap, sizeof(*c->groups));
            c->group_toks =
                grow(p, c->group_toks, c->ngroups, &c->groups_cap, sizeof(*c->group_toks));
            c->groups[c->ngroups] = idx;
            c->group_toks[c->ngroups++] = ct;
        }
        if (PEEK(p)->kind != MS_SQL__TOK_COMMA)
            return 0;
        ms_sql__next(p);
    }
}

/* ------------------------------------------------------------------ */
/* SELECT items                                                         */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    enum ms_sql_agg_kind kind;
} agg_names[] = {
    {"COUNT", MS_SQL_AGG_COUNT}, {"SUM", MS_SQL_AGG_SUM}, {"MIN", MS_SQL_AGG_MIN},
    {"MAX", MS_SQL_AGG_MAX},     {"AVG", MS_SQL_AGG_AVG},
};

static int parse_item(parser *p, stmt_ctx *c)
{
    const tok *t = PEEK(p);
    sel_item it;
    memset(&it, 0, sizeof(it));
    it.first = *t;
    size_t k = sizeof(agg_names) / sizeof(agg_names[0]);
    if (t->kind == MS_SQL__TOK_IDENT && PEEK_AT(p, 1)->kind == MS_SQL__TOK_LPAREN) {
        for (k = 0; k < sizeof(agg_names) / sizeof(agg_names[0]); k++)
            if (IS_KW(p, t, agg_names[k].name))
                break;
        if (k == sizeof(agg_names) / sizeof(agg_names[0]))
            return ms_sql__error_at(p, t->off, t->len,
                                    "unknown aggregate '%.*s'; expected COUNT, SUM, MIN, MAX or "
                                    "AVG",
                                    (int)t->len, p->text + t->off);
    }
    if (k < sizeof(agg_names) / sizeof(agg_names[0])) {
        ms_sql__next(p);
        ms_sql__next(p); /* ( */
        it.is_agg = 1;
        it.agg = agg_names[k].kind;
        const tok *a = PEEK(p);
        if (a->kind == MS_SQL__TOK_STAR) {
            it.arg_tok = ms_sql__next(p);
            if (it.agg != MS_SQL_AGG_COUNT)
                return ms_sql__error_at(p, it.arg_tok.off, it.arg_tok.len,
                                        "'*' is only allowed in COUNT(*); %s needs a column",
                                        agg_names[k].name);
            it.agg = MS_SQL_AGG_COUNT_STAR;
        } else if (expect_ident(p, it.agg == MS_SQL_AGG_COUNT ? "a column or '*'" : "a column",
                                &it.arg_tok, &it.col) < 0) {
            return -1;
        }
        if (expect_kind(p, MS_SQL__TOK_RPAREN, "')' after the aggregate's argument") < 0)
            return -1;
    } else {
        if (expect_ident(p, "a column or an aggregate (COUNT, SUM, MIN, MAX, AVG)", &it.arg_tok,
                         &it.col) < 0)
            return -1;
    }
    if (accept_kw(p, "AS") && expect_ident(p, "a name after AS", &it.alias_tok, &it.alias) < 0)
        return -1;
    c->items = grow(p, c->items, c->nitems, &c->items_cap, sizeof(*c->items));
    c->items[c->nitems++] = it;
    return 0;
}

static const char *agg_default_prefix(enum ms_sql_agg_kind k)
{
    switch (k) {
    case MS_SQL_AGG_COUNT_STAR:
    case MS_SQL_AGG_COUNT:
        return "count";
    case MS_SQL_AGG_SUM:
        return "sum";
    case MS_SQL_AGG_MIN:
        return "min";
    case MS_SQL_AGG_MAX:
        return "max";
    default:
        return "avg";
    }
}

/* Binds one aggregate item: type rules, then dedup into aggs[]. */
static int bind_agg(parser *p, stmt_ctx *c, const sel_item *it, ms_sql_agg *aggs, size_t *naggs,
                    ms_sql_out *out)
{
    ms_sql_stmt *st = c->st;
    ms_sql_agg a = {it->agg, -1, MS_TYPE_NULL, MS_TYPE_INT};
    const char *fn = ms_sql_agg_name(it->agg);
    if (it->agg != MS_SQL_AGG_COUNT_STAR) {
        a.arg = resolve_col(p, st, &it->arg_tok, it->col, 0);
        if (a.arg < 0)
            return -1;
        a.arg_type = col_type(st, a.arg);
        enum ms_type at = a.arg_type;
        switch (it->agg) {
        case MS_SQL_AGG_SUM:
        case MS_SQL_AGG_AVG:
            if (at != MS_TYPE_INT && at != MS_TYPE_DOUBLE)
                return ms_sql__error_at(p, it->arg_tok.off, it->arg_tok.len,
                                        "%s needs a BIGINT or DOUBLE column; '%s' is %s", fn,
                                        it->col, ms_type_name(at));
            a.type = it->agg == MS_SQL_AGG_AVG ? MS_TYPE_DOUBLE : at;
            break;
        case MS_SQL_AGG_MIN:
        case MS_SQL_AGG_MAX:
            if (at != MS_TYPE_INT && at != MS_TYPE_DOUBLE && at != MS_TYPE_TIMESTAMP)
                return ms_sql__error_at(p, it->arg_tok.off, it->arg_tok.len,
                                        "%s needs a BIGINT, DOUBLE or TIMESTAMP column; '%s' is %s",
                                        fn, it->col, ms_type_name(at));
            a.type = at;
            break;
        default:
            break;
        }
    }
    size_t j = 0;
    while (j < *naggs && !(aggs[j].kind == a.kind && aggs[j].arg == a.arg))
        j++;
    if (j == *naggs)
        aggs[(*naggs)++] = a;
    out->kind = MS_SQL_OUT_AGG;
    out->index = j;
    out->type = a.type;
    if (!it->alias) {
        if (a.kind == MS_SQL_AGG_COUNT_STAR) {
            out->name = "count";
        } else {
            ms_buf b = MS_BUF_INIT;
            ms_buf_printf(&b, "%s_%s", agg_default_prefix(a.kind), it->col);
            out->name = ms_sql__strndup(p->arena, b.data, b.len);
            ms_buf_free(&b);
        }
    }
    return 0;
}

/* Binds the SELECT list once the statement is fully read. */
static int bind_select(parser *p, stmt_ctx *c)
{
    ms_sql_stmt *st = c->st;
    int windowed = st->window.kind != MS_SQL_WINDOW_NONE;
    ms_sql_out *outs = ms_sql__alloc(p->arena, c->nitems * sizeof(*outs));
    ms_sql_agg *aggs = ms_sql__alloc(p->arena, c->nitems * sizeof(*aggs));
    size_t naggs = 0;
    for (size_t i = 0; i < c->nitems; i++) {
        const sel_item *it = &c->items[i];
        ms_sql_out *o = &outs[i];
        o->name = it->alias;
        if (it->is_agg) {
            if (bind_agg(p, c, it, aggs, &naggs, o) < 0)
                return -1;
        } else if (windowed &&
                   (strcmp(it->col, "window_start") == 0 || strcmp(it->col, "window_end") == 0)) {
            o->kind = it->col[7] == 's' ? MS_SQL_OUT_WINDOW_START : MS_SQL_OUT_WINDOW_END;
            o->type = MS_TYPE_TIMESTAMP;
            if (!o->name)
                o->name = it->col;
        } else {
            int idx = ms_schema_find(st->schema, it->col);
            if (idx < 0 &&
                (strcmp(it->col, "window_start") == 0 || strcmp(it->col, "window_end") == 0))
                return ms_sql__error_at(p, it->arg_tok.off, it->arg_tok.len,
                                        "%s needs a window: add TUMBLE(...) or HOP(...) to "
                                        "GROUP BY",
                                        it->col);
            if (idx < 0 && resolve_col(p, st, &it->arg_tok, it->col, windowed) < 0)
                return -1;
            size_t k = 0;
            while (k < c->ngroups && c->groups[k] != idx)
                k++;
            if (k == c->ngroups)
                return ms_sql__error_at(p, it->arg_tok.off, it->arg_tok.len,
                                        "column '%s' must appear in GROUP BY or be inside an "
                                        "aggregate (COUNT, SUM, MIN, MAX, AVG)",
                                        it->col);
            o->kind = MS_SQL_OUT_GROUP_COL;
            o->index = k;
            o->type = col_type(st, idx);
            if (!o->name)
                o->name = it->col;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(outs[j].name, o->name) == 0) {
                const tok *at = it->alias ? &it->alias_tok : &it->first;
                return ms_sql__error_at(p, at->off, at->len,
                                        "duplicate output column name '%s'; give one of them "
                                        "another name with AS",
                                        o->name);
            }
    }
    if (naggs == 0)
        return ms_sql__error_at(p, c->select_tok.off, c->select_tok.len,
                                "a query needs at least one aggregate (COUNT, SUM, MIN, MAX or "
                                "AVG) in SELECT");
    for (size_t k = 0; k < c->ngroups; k++) {
        size_t i = 0;
        while (i < c->nitems && !(outs[i].kind == MS_SQL_OUT_GROUP_COL && outs[i].index == k))
            i++;
        if (i == c->nitems)
            return ms_sql__error_at(p, c->group_toks[k].off, c->group_toks[k].len,
                                    "GROUP BY column '%s' must also be selected, so that results "
                                    "are labelled",
                                    ms_schema_column(st->schema, (size_t)c->groups[k])->name);
    }
    if (windowed) {
        size_t i = 0;
        while (i < c->nitems && outs[i].kind != MS_SQL_OUT_WINDOW_START &&
               outs[i].kind != MS_SQL_OUT_WINDOW_END)
            i++;
        if (i == c->nitems)
            return ms_sql__error_at(p, c->window_tok.off, c->window_tok.len,
                                    "select window_start or window_end, so that results of "
                                    "different windows are told apart");
    }
    st->outs = outs;
    st->nouts = c->nitems;
    st->aggs = aggs;
    st->naggs = naggs;
    st->group_cols = c->groups;
    st->ngroup_cols = c->ngroups;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Statements and programs                                              */
/* ------------------------------------------------------------------ */

static int valid_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* What may follow the clauses read so far, for "expected ..." messages. */
static int expected_end(parser *p, const char *more, int topic, int wm, int where, int group,
                        int emit)
{
    ms_buf b = MS_BUF_INIT;
    ms_buf_puts(&b, more);
    if (topic)
        ms_buf_puts(&b, "TOPIC, ");
    if (wm)
        ms_buf_puts(&b, "WATERMARK, ");
    if (where)
        ms_buf_puts(&b, "WHERE, ");
    if (group)
        ms_buf_puts(&b, "GROUP BY, ");
    if (emit)
        ms_buf_puts(&b, "EMIT, ");
    ms_buf_puts(&b, "';' or end of input");
    int rc = ms_sql__expected(p, PEEK(p), b.data);
    ms_buf_free(&b);
    return rc;
}

static int is_stmt_end(parser *p)
{
    enum ms_sql__tok_kind k = PEEK(p)->kind;
    return k == MS_SQL__TOK_SEMI || k == MS_SQL__TOK_EOF;
}

static int parse_stmt(parser *p, stmt_ctx *c)
{
    ms_sql_stmt *st = c->st;
    c->start = *PEEK(p);
    st->line = ms_sql__line_of(p, c->start.off);
    st->window.col = -1;
    st->watermark.col = -1;
    if (accept_kw(p, "CREATE")) {
        if (expect_kw(p, "QUERY", "QUERY after CREATE (CREATE QUERY name AS SELECT ...)") < 0)
            return -1;
        char *name;
        if (expect_ident(p, "the query's name", &c->name_tok, &name) < 0)
            return -1;
        if (!valid_name(name))
            return ms_sql__error_at(p, c->name_tok.off, c->name_tok.len,
                                    "a query name is lowercase letters, digits and '_'; "
                                    "'%s' is not",
                                    name);
        st->name = name;
        c->named = 1;
        if (expect_kw(p, "AS", "AS after the query's name") < 0)
            return -1;
    }
    const tok *t = PEEK(p);
    if (!IS_KW(p, t, "SELECT"))
        return ms_sql__expected(p, t, c->named ? "SELECT" : "SELECT or CREATE QUERY");
    c->select_tok = ms_sql__next(p);
    for (;;) {
        if (parse_item(p, c) < 0)
            return -1;
        if (PEEK(p)->kind != MS_SQL__TOK_COMMA)
            break;
        ms_sql__next(p);
    }
    if (expect_kw(p, "FROM", c->items[c->nitems - 1].alias ? "',' or FROM" : "',', AS or FROM") < 0)
        return -1;
    if (parse_source(p, c) < 0)
        return -1;
    int wm = st->watermark.present, topic = st->topic != NULL;
    if (accept_kw(p, "WHERE")) {
        /* What follows first: in `WHERE user 'x'` the missing operator is
         * the mistake, not the type of `user`. */
        ms_sql_expr *e = parse_or(p, c);
        if (!e)
            return -1;
        if (!is_stmt_end(p) && !IS_KW(p, PEEK(p), "GROUP") && !IS_KW(p, PEEK(p), "EMIT"))
            return expected_end(p, "an operator (=, <>, <, IN, IS, AND, OR...), ", 0, 0, 0, 1, 1);
        if (need_bool(p, c, e, "WHERE") < 0)
            return -1;
        st->where = e;
    } else if (!is_stmt_end(p) && !IS_KW(p, PEEK(p), "GROUP") && !IS_KW(p, PEEK(p), "EMIT")) {
        return expected_end(p, "", !topic && !wm, !wm, 1, 1, 1);
    }
    if (accept_kw(p, "GROUP")) {
        if (expect_kw(p, "BY", "BY after GROUP") < 0 || parse_group_by(p, c) < 0)
            return -1;
        if (!is_stmt_end(p) && !IS_KW(p, PEEK(p), "EMIT"))
            return expected_end(p, "',', ", 0, 0, 0, 0, 1);
    }
    if (accept_kw(p, "EMIT")) {
        t = PEEK(p);
        if (IS_KW(p, t, "COMPLETE"))
            st->emit = MS_SQL_EMIT_COMPLETE;
        else if (IS_KW(p, t, "UPDATE"))
            st->emit = MS_SQL_EMIT_UPDATE;
        else if (IS_KW(p, t, "APPEND"))
            st->emit = MS_SQL_EMIT_APPEND;
        else
            return ms_sql__expected(p, t, "COMPLETE, UPDATE or APPEND after EMIT");
        tok mt = ms_sql__next(p);
        if (st->emit == MS_SQL_EMIT_APPEND &&
            (st->window.kind == MS_SQL_WINDOW_NONE || !st->watermark.present))
            return ms_sql__error_at(p, mt.off, mt.len,
                                    "EMIT APPEND needs a window (TUMBLE or HOP) and a WATERMARK: "
                                    "a window's row is appended once the watermark passes its "
                                    "end; %s",
                                    st->window.kind == MS_SQL_WINDOW_NONE
                                        ? "this statement has no window"
                                        : "this statement has no WATERMARK");
    }
    if (!is_stmt_end(p))
        return expected_end(p, "", 0, 0, 0, 0, 0);
    if (bind_select(p, c) < 0)
        return -1;
    return 0;
}

int ms_sql_parse(const char *text, size_t len, const char *filename, const char *default_name,
                 ms_sql_program **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (len > MS_SQL__MAX_TEXT) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s: error: the query text is larger than %u bytes",
                     filename ? filename : "<query>", MS_SQL__MAX_TEXT);
        return MS_EINVAL;
    }
    ms_sql_program *prog = ms_xcalloc(1, sizeof(*prog));
    prog->arena = ms_sql__arena_new();
    parser ps;
    memset(&ps, 0, sizeof(ps));
    parser *p = &ps;
    p->text = text ? text : "";
    p->len = (uint32_t)len;
    p->filename = filename;
    p->arena = prog->arena;
    p->errstr = errstr;
    p->errstr_size = errstr_size;

    const char *nul = len ? memchr(p->text, '\0', len) : NULL;
    if (nul) {
        ms_sql__error_at(p, (uint32_t)(nul - p->text), 1, "the query text contains a NUL byte");
        goto fail;
    }
    stmt_ctx *ctxs = NULL;
    size_t cap = 0, ctx_cap = 0;
    for (;;) {
        if (PEEK(p)->kind == MS_SQL__TOK_EOF && prog->nstmts == 0) {
            ms_sql__expected(p, PEEK(p), "a statement (SELECT or CREATE QUERY)");
            goto fail;
        }
        size_t n = prog->nstmts;
        if (n == MS_SQL_MAX_STATEMENTS) {
            ms_sql__error_at(p, PEEK(p)->off, PEEK(p)->len,
                             "a query file holds at most %d statements; this is one more",
                             MS_SQL_MAX_STATEMENTS);
            goto fail;
        }
        prog->stmts = grow(p, prog->stmts, n, &cap, sizeof(*prog->stmts));
        ctxs = grow(p, ctxs, n, &ctx_cap, sizeof(*ctxs));
        memset(&ctxs[n], 0, sizeof(ctxs[n]));
        ctxs[n].st = &prog->stmts[n];
        prog->nstmts++;
        if (parse_stmt(p, &ctxs[n]) < 0)
            goto fail;
        if (PEEK(p)->kind == MS_SQL__TOK_SEMI)
            ms_sql__next(p);
        if (PEEK(p)->kind == MS_SQL__TOK_EOF)
            break;
    }
    /* grow() may have moved the statements: point the contexts at them. */
    for (size_t i = 0; i < prog->nstmts; i++)
        ctxs[i].st = &prog->stmts[i];
    /* Names: given, or the default for a lone statement; unique. */
    for (size_t i = 0; i < prog->nstmts; i++) {
        stmt_ctx *c = &ctxs[i];
        if (c->named)
            continue;
        if (prog->nstmts > 1) {
            ms_sql__error_at(p, c->start.off, c->start.len,
                             "a file with several statements must name each one: "
                             "CREATE QUERY name AS SELECT ...");
            goto fail;
        }
        if (!valid_name(default_name)) {
            if (default_name) {
                ms_buf b = MS_BUF_INIT;
                ms_sql__append_escaped(&b, default_name, strlen(default_name), 64);
                ms_sql__error_at(p, c->start.off, c->start.len,
                                 "this statement would be named '%s' after its file, which is "
                                 "not a valid query name (lowercase letters, digits and '_'); "
                                 "name it with CREATE QUERY name AS SELECT ...",
                                 b.data);
                ms_buf_free(&b);
            } else
                ms_sql__error_at(p, c->start.off, c->start.len,
                                 "this statement needs a name: CREATE QUERY name AS SELECT ...");
            goto fail;
        }
        c->st->name = ms_sql__strndup(p->arena, default_name, strlen(default_name));
    }
    for (size_t i = 0; i < prog->nstmts; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(prog->stmts[i].name, prog->stmts[j].name) == 0) {
                ms_sql__error_at(p, ctxs[i].name_tok.off, ctxs[i].name_tok.len,
                                 "duplicate query name '%s' (line %d has the first one)",
                                 prog->stmts[i].name, prog->stmts[j].line);
                goto fail;
            }
    /* Every row goes to every statement: their windows per row add up. */
    int64_t fanout = 0;
    for (size_t i = 0; i < prog->nstmts; i++) {
        int64_t own = ms_sql_window_fanout(&prog->stmts[i].window);
        fanout += own;
        if (fanout > MS_SQL_MAX_FANOUT) {
            const tok *at = own > 1 ? &ctxs[i].window_tok : &ctxs[i].start;
            ms_sql__error_at(p, at->off, at->len,
                             "the statements up to this one add every input row to %lld windows "
                             "together (this one: %lld); at most %d per row are allowed in one "
                             "file: use longer slides, or fewer statements",
                             (long long)fanout, (long long)own, MS_SQL_MAX_FANOUT);
            goto fail;
        }
    }
    for (size_t i = 0; i < prog->nstmts; i++)
        ms_sql__canonicalize(&prog->stmts[i], prog->arena);
    *out = prog;
    return 0;
fail:
    ms_sql_program_free(prog);
    return MS_EINVAL;
}
