/*
 * WHERE evaluation over one row, in SQL's three-valued logic (Kleene):
 *
 *   NOT:  T->F  F->T  U->U
 *   AND:  any F -> F, else any U -> U, else T     (stops at the first F)
 *   OR:   any T -> T, else any U -> U, else F     (stops at the first T)
 *   a <op> b, x IN (...): U when an operand is NULL
 *   x IS [NOT] NULL:      never U
 *
 * This runs on every input row: no allocation, no string copies, one
 * recursive call per node.  The binder has already checked types, so the
 * type tests below only guard against a row that breaks its schema (such a
 * value compares as UNKNOWN instead of being misread).
 */
#include <math.h>
#include <string.h>

#include "sql/ms_sql.h"

static int is_intlike(enum ms_type t)
{
    return t == MS_TYPE_INT || t == MS_TYPE_TIMESTAMP || t == MS_TYPE_BOOL;
}

/* Three-way comparison of two non-NULL values into *c; 0 if incomparable. */
static int compare(const ms_value *a, const ms_value *b, int *c)
{
    if (a->type == MS_TYPE_STRING || b->type == MS_TYPE_STRING) {
        if (a->type != b->type)
            return 0;
        size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        int r = n ? memcmp(a->s.p, b->s.p, n) : 0;
        *c = r ? r : (a->s.n > b->s.n) - (a->s.n < b->s.n);
        return 1;
    }
    if (is_intlike(a->type) && is_intlike(b->type)) {
        if ((a->type == MS_TYPE_BOOL) != (b->type == MS_TYPE_BOOL))
            return 0;
        *c = (a->i > b->i) - (a->i < b->i);
        return 1;
    }
    if ((a->type == MS_TYPE_DOUBLE || a->type == MS_TYPE_INT) &&
        (b->type == MS_TYPE_DOUBLE || b->type == MS_TYPE_INT)) {
        double x = a->type == MS_TYPE_DOUBLE ? a->d : (double)a->i;
        double y = b->type == MS_TYPE_DOUBLE ? b->d : (double)b->i;
        if (isnan(x) || isnan(y))
            return 0;
        *c = (x > y) - (x < y);
        return 1;
    }
    return 0;
}

static enum ms_sql_truth apply(enum ms_sql_cmp_op op, int c)
{
    switch (op) {
    case MS_SQL_CMP_EQ:
        return c == 0;
    case MS_SQL_CMP_NE:
        return c != 0;
    case MS_SQL_CMP_LT:
        return c < 0;
    case MS_SQL_CMP_LE:
        return c <= 0;
    case MS_SQL_CMP_GT:
        return c > 0;
    case MS_SQL_CMP_GE:
        return c >= 0;
    }
    return MS_SQL_UNKNOWN;
}

/* The value of an operand: a literal, a column, or a predicate's truth as
 * a BOOLEAN (UNKNOWN as NULL), stored in *tmp. */
static const ms_value *operand(const ms_sql_expr *e, const ms_value *row, ms_value *tmp)
{
    if (e->kind == MS_SQL_EXPR_CONST)
        return &e->value;
    if (e->kind == MS_SQL_EXPR_COL)
        return &row[e->col];
    enum ms_sql_truth t = ms_sql_eval(e, row);
    tmp->type = t == MS_SQL_UNKNOWN ? MS_TYPE_NULL : MS_TYPE_BOOL;
    tmp->i = t == MS_SQL_TRUE;
    return tmp;
}

static enum ms_sql_truth truth_of(const ms_value *v)
{
    return v->type == MS_TYPE_BOOL ? (v->i != 0 ? MS_SQL_TRUE : MS_SQL_FALSE) : MS_SQL_UNKNOWN;
}

static enum ms_sql_truth negate(enum ms_sql_truth t)
{
    return t == MS_SQL_UNKNOWN ? t : t == MS_SQL_TRUE ? MS_SQL_FALSE : MS_SQL_TRUE;
}

enum ms_sql_truth ms_sql_eval(const ms_sql_expr *e, const ms_value *row)
{
    ms_value ta, tb;
    switch (e->kind) {
    case MS_SQL_EXPR_CONST:
        return truth_of(&e->value);
    case MS_SQL_EXPR_COL:
        return truth_of(&row[e->col]);
    case MS_SQL_EXPR_CMP: {
        const ms_value *a = operand(e->cmp.l, row, &ta);
        if (a->type == MS_TYPE_NULL)
            return MS_SQL_UNKNOWN;
        const ms_value *b = operand(e->cmp.r, row, &tb);
        int c;
        if (b->type == MS_TYPE_NULL || !compare(a, b, &c))
            return MS_SQL_UNKNOWN;
        return apply(e->cmp.op, c);
    }
    case MS_SQL_EXPR_IN: {
        const ms_value *a = operand(e->in.arg, row, &ta);
        if (a->type == MS_TYPE_NULL)
            return MS_SQL_UNKNOWN;
        enum ms_sql_truth r = MS_SQL_FALSE;
        for (size_t i = 0; i < e->in.n; i++) {
            int c;
            if (!compare(a, &e->in.list[i], &c))
                r = MS_SQL_UNKNOWN;
            else if (c == 0) {
                r = MS_SQL_TRUE;
                break;
            }
        }
        return e->in.negated ? negate(r) : r;
    }
    case MS_SQL_EXPR_IS_NULL: {
        const ms_value *a = operand(e->is_null.arg, row, &ta);
        return (a->type == MS_TYPE_NULL) != e->is_null.negated ? MS_SQL_TRUE : MS_SQL_FALSE;
    }
    case MS_SQL_EXPR_NOT:
        return negate(ms_sql_eval(e->not_arg, row));
    case MS_SQL_EXPR_AND: {
        enum ms_sql_truth r = MS_SQL_TRUE;
        for (size_t i = 0; i < e->bool_args.n; i++) {
            enum ms_sql_truth t = ms_sql_eval(e->bool_args.args[i], row);
            if (t == MS_SQL_FALSE)
                return MS_SQL_FALSE;
            if (t == MS_SQL_UNKNOWN)
                r = MS_SQL_UNKNOWN;
        }
        return r;
    }
    case MS_SQL_EXPR_OR: {
        enum ms_sql_truth r = MS_SQL_FALSE;
        for (size_t i = 0; i < e->bool_args.n; i++) {
            enum ms_sql_truth t = ms_sql_eval(e->bool_args.args[i], row);
            if (t == MS_SQL_TRUE)
                return MS_SQL_TRUE;
            if (t == MS_SQL_UNKNOWN)
                r = MS_SQL_UNKNOWN;
        }
        return r;
    }
    }
    return MS_SQL_UNKNOWN;
}
