/*
 * Canonical text of a statement (see ms_sql.h): what the checkpoint
 * records to refuse a restart with a query that would read its state
 * differently.
 *
 * The text is valid syntax and a fixed point: parsing it and taking the
 * canonical text again gives the same bytes (the fuzz target checks this).
 *
 *   CREATE QUERY "name" AS SELECT <group columns>, [window_start,] <aggregates>
 *   FROM <format>[(<declared columns>)] [WITH (<csv options>)]
 *   [WATERMARK FOR "c" AS "c" - INTERVAL ...]
 *   [WHERE <normal form>] [GROUP BY [<window>,] <group columns>] EMIT <mode>
 *
 * WHERE normal form, built bottom-up as a tree of terms:
 *   - NOT is pushed down to the atoms: NOT (a = b) -> a <> b, NOT (x IN ..)
 *     -> x NOT IN .., NOT (x IS NULL) -> x IS NOT NULL, De Morgan for AND and
 *     OR, NOT NOT x -> x (all exact in SQL's three-valued logic);
 *   - nested ANDs (ORs) are flattened, their terms sorted by text and
 *     duplicates dropped; a group left with one term is that term;
 *   - a comparison with a literal on the left is mirrored (5 < a -> a > 5);
 *   - IN lists are sorted and deduplicated;
 *   - identifiers are double-quoted, literals written in one spelling
 *     (shortest round-tripping DOUBLE, '' inside strings).
 * Output names are not part of the state, so aliases are left out; a default
 * name that would collide gets a deterministic alias instead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/ms_sql_int.h"

void ms_sql__quote_ident(ms_buf *b, const char *name)
{
    ms_buf_putc(b, '"');
    for (const char *s = name; *s; s++) {
        if (*s == '"')
            ms_buf_putc(b, '"');
        ms_buf_putc(b, *s);
    }
    ms_buf_putc(b, '"');
}

void ms_sql__append_literal(ms_buf *b, const ms_value *v)
{
    switch (v->type) {
    case MS_TYPE_NULL:
        ms_buf_puts(b, "NULL");
        break;
    case MS_TYPE_BOOL:
        ms_buf_puts(b, v->i ? "TRUE" : "FALSE");
        break;
    case MS_TYPE_INT:
    case MS_TYPE_TIMESTAMP:
        ms_buf_printf(b, "%" PRId64, v->i);
        break;
    case MS_TYPE_DOUBLE: {
        char tmp[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v->d);
            if (strtod(tmp, NULL) == v->d)
                break;
        }
        ms_buf_puts(b, tmp);
        if (!strpbrk(tmp, ".e"))
            ms_buf_puts(b, ".0"); /* stays a DOUBLE when parsed again */
        break;
    }
    case MS_TYPE_STRING:
        ms_buf_putc(b, '\'');
        for (size_t i = 0; i < v->s.n; i++) {
            if (v->s.p[i] == '\'')
                ms_buf_putc(b, '\'');
            ms_buf_putc(b, (char)v->s.p[i]);
        }
        ms_buf_putc(b, '\'');
        break;
    default:
        ms_buf_puts(b, "NULL");
        break;
    }
}

static const struct {
    const char *name;
    int64_t us;
} units[] = {
    {"DAY", 86400 * 1000000LL}, {"HOUR", 3600 * 1000000LL}, {"MINUTE", 60 * 1000000LL},
    {"SECOND", 1000000},        {"MILLISECOND", 1000},      {"MICROSECOND", 1},
};

void ms_sql__interval_text(ms_buf *b, int64_t us)
{
    size_t i = 0;
    while (us % units[i].us != 0)
        i++;
    ms_buf_printf(b, "'%" PRId64 "' %s", us / units[i].us, units[i].name);
}

/* ------------------------------------------------------------------ */
/* WHERE normal form                                                    */
/* ------------------------------------------------------------------ */

enum { T_ATOM, T_AND, T_OR };

/* What a term's text is, for operands: parentheses are needed around
 * anything but a literal or a column, and literals go to the right. */
enum { SIMPLE_NO, SIMPLE_LITERAL, SIMPLE_COLUMN };

typedef struct term {
    int kind;
    int simple;
    char *text;
    struct term **kids;
    size_t nkids;
} term;

static char *steal(struct ms_sql_arena *a, ms_buf *b)
{
    char *s = ms_sql__strndup(a, b->data ? b->data : "", b->len);
    ms_buf_free(b);
    return s;
}

static term *norm(const ms_sql_stmt *st, const ms_sql_expr *e, int neg, struct ms_sql_arena *a);

static void operand_text(const term *t, ms_buf *b)
{
    if (t->simple != SIMPLE_NO) {
        ms_buf_puts(b, t->text);
    } else {
        ms_buf_putc(b, '(');
        ms_buf_puts(b, t->text);
        ms_buf_putc(b, ')');
    }
}

static enum ms_sql_cmp_op negate_op(enum ms_sql_cmp_op op)
{
    static const enum ms_sql_cmp_op neg[] = {
        [MS_SQL_CMP_EQ] = MS_SQL_CMP_NE, [MS_SQL_CMP_NE] = MS_SQL_CMP_EQ,
        [MS_SQL_CMP_LT] = MS_SQL_CMP_GE, [MS_SQL_CMP_LE] = MS_SQL_CMP_GT,
        [MS_SQL_CMP_GT] = MS_SQL_CMP_LE, [MS_SQL_CMP_GE] = MS_SQL_CMP_LT,
    };
    return neg[op];
}

static enum ms_sql_cmp_op mirror_op(enum ms_sql_cmp_op op)
{
    static const enum ms_sql_cmp_op mir[] = {
        [MS_SQL_CMP_EQ] = MS_SQL_CMP_EQ, [MS_SQL_CMP_NE] = MS_SQL_CMP_NE,
        [MS_SQL_CMP_LT] = MS_SQL_CMP_GT, [MS_SQL_CMP_LE] = MS_SQL_CMP_GE,
        [MS_SQL_CMP_GT] = MS_SQL_CMP_LT, [MS_SQL_CMP_GE] = MS_SQL_CMP_LE,
    };
    return mir[op];
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmp_term(const void *x, const void *y)
{
    return strcmp((*(term *const *)x)->text, (*(term *const *)y)->text);
}

static term *atom(struct ms_sql_arena *a, ms_buf *b, int simple)
{
    term *t = ms_sql__alloc(a, sizeof(*t));
    t->kind = T_ATOM;
    t->simple = simple;
    t->text = steal(a, b);
    return t;
}

/* Adds e's terms to a group of kind `want` (T_AND or T_OR), splicing
 * subgroups of the same kind. */
static void collect(const ms_sql_stmt *st, const ms_sql_expr *e, int neg, int want, term ***kids,
                    size_t *n, size_t *cap, struct ms_sql_arena *a)
{
    term *t = norm(st, e, neg, a);
    term **add = &t;
    size_t nadd = 1;
    if (t->kind == want) {
        add = t->kids;
        nadd = t->nkids;
    }
    for (size_t i = 0; i < nadd; i++) {
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 8;
            term **d = ms_sql__alloc(a, ncap * sizeof(*d));
            if (*n)
                memcpy(d, *kids, *n * sizeof(*d));
            *kids = d;
            *cap = ncap;
        }
        (*kids)[(*n)++] = add[i];
    }
}

static term *norm(const ms_sql_stmt *st, const ms_sql_expr *e, int neg, struct ms_sql_arena *a)
{
    ms_buf b = MS_BUF_INIT;
    switch (e->kind) {
    case MS_SQL_EXPR_CONST: {
        ms_value v = e->value;
        if (neg && v.type == MS_TYPE_BOOL)
            v.i = !v.i;
        ms_sql__append_literal(&b, &v);
        return atom(a, &b, SIMPLE_LITERAL);
    }
    case MS_SQL_EXPR_COL:
        if (neg)
            ms_buf_puts(&b, "NOT ");
        ms_sql__quote_ident(&b, ms_schema_column(st->schema, (size_t)e->col)->name);
        return atom(a, &b, neg ? SIMPLE_NO : SIMPLE_COLUMN);
    case MS_SQL_EXPR_CMP: {
        term *l = norm(st, e->cmp.l, 0, a), *r = norm(st, e->cmp.r, 0, a);
        enum ms_sql_cmp_op op = neg ? negate_op(e->cmp.op) : e->cmp.op;
        if (l->simple == SIMPLE_LITERAL && r->simple != SIMPLE_LITERAL) {
            term *t = l;
            l = r;
            r = t;
            op = mirror_op(op);
        }
        operand_text(l, &b);
        ms_buf_printf(&b, " %s ", ms_sql_cmp_name(op));
        operand_text(r, &b);
        return atom(a, &b, SIMPLE_NO);
    }
    case MS_SQL_EXPR_IN: {
        operand_text(norm(st, e->in.arg, 0, a), &b);
        ms_buf_puts(&b, neg != e->in.negated ? " NOT IN (" : " IN (");
        char **items = ms_sql__alloc(a, e->in.n * sizeof(*items));
        for (size_t i = 0; i < e->in.n; i++) {
            ms_buf lb = MS_BUF_INIT;
            ms_sql__append_literal(&lb, &e->in.list[i]);
            items[i] = steal(a, &lb);
        }
        qsort(items, e->in.n, sizeof(*items), cmp_str);
        for (size_t i = 0, k = 0; i < e->in.n; i++) {
            if (i && strcmp(items[i], items[i - 1]) == 0)
                continue;
            ms_buf_printf(&b, "%s%s", k++ ? ", " : "", items[i]);
        }
        ms_buf_putc(&b, ')');
        return atom(a, &b, SIMPLE_NO);
    }
    case MS_SQL_EXPR_IS_NULL:
        operand_text(norm(st, e->is_null.arg, 0, a), &b);
        ms_buf_puts(&b, neg != e->is_null.negated ? " IS NOT NULL" : " IS NULL");
        return atom(a, &b, SIMPLE_NO);
    case MS_SQL_EXPR_NOT:
        return norm(st, e->not_arg, !neg, a);
    case MS_SQL_EXPR_AND:
    case MS_SQL_EXPR_OR: {
        int kind = (e->kind == MS_SQL_EXPR_AND) != neg ? T_AND : T_OR;
        term **kids = NULL;
        size_t n = 0, cap = 0;
        for (size_t i = 0; i < e->bool_args.n; i++)
            collect(st, e->bool_args.args[i], neg, kind, &kids, &n, &cap, a);
        qsort(kids, n, sizeof(*kids), cmp_term);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (k == 0 || strcmp(kids[i]->text, kids[k - 1]->text) != 0)
                kids[k++] = kids[i];
        if (k == 1)
            return kids[0];
        term *t = ms_sql__alloc(a, sizeof(*t));
        t->kind = kind;
        t->kids = kids;
        t->nkids = k;
        for (size_t i = 0; i < k; i++) {
            if (i)
                ms_buf_puts(&b, kind == T_AND ? " AND " : " OR ");
            int paren = kids[i]->kind != T_ATOM;
            if (paren)
                ms_buf_putc(&b, '(');
            ms_buf_puts(&b, kids[i]->text);
            if (paren)
                ms_buf_putc(&b, ')');
        }
        t->text = steal(a, &b);
        return t;
    }
    }
    ms_buf_puts(&b, "TRUE");
    return atom(a, &b, SIMPLE_LITERAL);
}

/* ------------------------------------------------------------------ */
/* Statement                                                            */
/* ------------------------------------------------------------------ */

static const char *col_name(const ms_sql_stmt *s, int idx)
{
    return ms_schema_column(s->schema, (size_t)idx)->name;
}

static void append_window(ms_buf *b, const ms_sql_stmt *s)
{
    ms_buf_puts(b, s->window.kind == MS_SQL_WINDOW_HOP ? "HOP(" : "TUMBLE(");
    ms_sql__quote_ident(b, col_name(s, s->window.col));
    if (s->window.kind == MS_SQL_WINDOW_HOP) {
        ms_buf_puts(b, ", INTERVAL ");
        ms_sql__interval_text(b, s->window.slide_us);
    }
    ms_buf_puts(b, ", INTERVAL ");
    ms_sql__interval_text(b, s->window.size_us);
    ms_buf_putc(b, ')');
}

/* A delimiter or quote byte as a csv option's value (parsed back by
 * option_char() in ms_sql_parse.c). */
static void append_option_char(ms_buf *b, int c)
{
    if (c < 0)
        ms_buf_puts(b, "''");
    else if (c == '\t')
        ms_buf_puts(b, "'\\t'");
    else if (c < 0x20 || c >= 0x7f)
        ms_buf_printf(b, "'\\x%02X'", (unsigned)c);
    else if (c == '\'')
        ms_buf_puts(b, "''''");
    else
        ms_buf_printf(b, "'%c'", c);
}

/* The options that change what a line holds, those not at their default,
 * in a fixed order; 'check-header' only counts, it changes no state. */
static void append_csv_options(ms_buf *b, const ms_csv_dialect *d)
{
    const char *sep = " WITH (";
    if (d->header) {
        ms_buf_printf(b, "%s'header' = 'true'", sep);
        sep = ", ";
    }
    if (d->delimiter != ',') {
        ms_buf_printf(b, "%s'delimiter' = ", sep);
        append_option_char(b, d->delimiter);
        sep = ", ";
    }
    if (d->quote != '"') {
        ms_buf_printf(b, "%s'quote' = ", sep);
        append_option_char(b, d->quote);
        sep = ", ";
    }
    if (sep[0] == ',')
        ms_buf_putc(b, ')');
}

static int name_taken(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

void ms_sql__canonicalize(ms_sql_stmt *s, struct ms_sql_arena *arena)
{
    struct ms_sql_arena *tmp = ms_sql__arena_new();
    ms_buf b = MS_BUF_INIT;
    ms_buf_puts(&b, "CREATE QUERY ");
    ms_sql__quote_ident(&b, s->name);
    ms_buf_puts(&b, " AS SELECT ");

    /* Output names so far, to give colliding default names an alias. */
    size_t nnames = 0;
    char **names = ms_sql__alloc(tmp, (s->ngroup_cols + s->naggs + 1) * sizeof(*names));
    for (size_t k = 0; k < s->ngroup_cols; k++) {
        names[nnames++] = (char *)col_name(s, s->group_cols[k]);
        ms_sql__quote_ident(&b, col_name(s, s->group_cols[k]));
        ms_buf_puts(&b, ", ");
    }
    if (s->window.kind != MS_SQL_WINDOW_NONE) {
        names[nnames++] = "window_start";
        ms_buf_puts(&b, "window_start, ");
    }
    for (size_t j = 0; j < s->naggs; j++) {
        const ms_sql_agg *ag = &s->aggs[j];
        ms_buf def = MS_BUF_INIT;
        if (ag->kind == MS_SQL_AGG_COUNT_STAR) {
            ms_buf_puts(&b, "COUNT(*)");
            ms_buf_puts(&def, "count");
        } else {
            const char *fn = ms_sql_agg_name(ag->kind);
            ms_buf_printf(&b, "%s(", fn);
            ms_sql__quote_ident(&b, col_name(s, ag->arg));
            ms_buf_putc(&b, ')');
            for (const char *c = fn; *c; c++)
                ms_buf_putc(&def, (char)(*c - 'A' + 'a'));
            ms_buf_printf(&def, "_%s", col_name(s, ag->arg));
        }
        char *name = steal(tmp, &def);
        if (name_taken(names, nnames, name)) {
            const char *base = name;
            for (size_t k = j;; k++) {
                ms_buf alt = MS_BUF_INIT;
                ms_buf_printf(&alt, "%s_%zu", base, k);
                name = steal(tmp, &alt);
                if (!name_taken(names, nnames, name))
                    break;
            }
            ms_buf_puts(&b, " AS ");
            ms_sql__quote_ident(&b, name);
        }
        names[nnames++] = name;
        if (j + 1 < s->naggs)
            ms_buf_puts(&b, ", ");
    }

    ms_buf_printf(&b, " FROM %s", s->schema->format);
    if (s->schema->kind == MS_FORMAT_CSV || s->schema->kind == MS_FORMAT_JSON) {
        ms_buf_putc(&b, '(');
        for (size_t i = 0; i < s->schema->ncols; i++) {
            if (i)
                ms_buf_puts(&b, ", ");
            ms_sql__quote_ident(&b, s->schema->cols[i].name);
            ms_buf_printf(&b, " %s", ms_type_name(s->schema->cols[i].type));
        }
        ms_buf_putc(&b, ')');
    }
    if (s->schema->kind == MS_FORMAT_CSV)
        append_csv_options(&b, &s->schema->csv);
    if (s->watermark.present) {
        ms_buf_puts(&b, " WATERMARK FOR ");
        ms_sql__quote_ident(&b, col_name(s, s->watermark.col));
        ms_buf_puts(&b, " AS ");
        ms_sql__quote_ident(&b, col_name(s, s->watermark.col));
        ms_buf_puts(&b, " - INTERVAL ");
        ms_sql__interval_text(&b, s->watermark.delay_us);
    }
    if (s->where) {
        ms_buf_puts(&b, " WHERE ");
        ms_buf_puts(&b, norm(s, s->where, 0, tmp)->text);
    }
    if (s->ngroup_cols || s->window.kind != MS_SQL_WINDOW_NONE) {
        ms_buf_puts(&b, " GROUP BY ");
        if (s->window.kind != MS_SQL_WINDOW_NONE) {
            append_window(&b, s);
            if (s->ngroup_cols)
                ms_buf_puts(&b, ", ");
        }
        for (size_t k = 0; k < s->ngroup_cols; k++) {
            if (k)
                ms_buf_puts(&b, ", ");
            ms_sql__quote_ident(&b, col_name(s, s->group_cols[k]));
        }
    }
    ms_buf_printf(&b, " EMIT %s", ms_sql_emit_name(s->emit));
    s->canonical = ms_sql__strndup(arena, b.data, b.len);
    ms_buf_free(&b);
    ms_sql__arena_free(tmp);
}
