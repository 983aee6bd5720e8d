/*
 * The query language: a small SQL dialect close to Flink SQL / Spark SQL.
 *
 *   text ──lexer──▶ tokens ──parser+binder──▶ ms_sql_program ──▶ executor
 *   (ms_sql_lex.c)          (ms_sql_parse.c)   (bound, typed)     ms_sql_eval_where()
 *
 * A query file holds one or more statements:
 *
 *   CREATE QUERY events_by_class AS
 *     SELECT window_start, scheduling_class, COUNT(*) AS events
 *     FROM task_events TOPIC 'task-events'
 *          WATERMARK FOR time AS time - INTERVAL '10' MINUTE
 *     WHERE event_type IN ('SUBMIT', 'FAIL')
 *     GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class
 *     EMIT APPEND;
 *
 * docs/sql.md has the grammar.  ms_sql_parse() refuses anything that does
 * not parse or type-check before anything runs, with a gcc-style message
 * (file:line:col, the source line, a caret under the offending token).
 *
 * What the executor gets (every field already bound and checked):
 *   - column references are row indices into the statement's schema
 *     (format columns, then the MS_META_* columns, see ms_schema.h);
 *   - group_cols[] in GROUP BY order; the window (if any) is separate;
 *   - aggs[]: distinct aggregates in order of first appearance in SELECT
 *     (the same aggregate selected twice is computed once);
 *   - outs[]: the result columns in SELECT order, each pointing at a group
 *     column, the window bounds or an aggregate;
 *   - canonical: a text that determines the state layout (see below).
 *
 * Ownership: one ms_sql_program owns everything reachable from it (names,
 * expression trees, string constants, the csv/json schemas); all of it lives
 * until ms_sql_program_free().  Nothing in a program is mutated after
 * ms_sql_parse() returns, so several threads may read it.
 *
 * Limits (docs/sql.md, "Limits"): what one input row may cost is bounded
 * when the query is parsed, so that no query text can make a single row
 * take unbounded time or memory.  Every per-row cost is linear in the query
 * text (at most 1 MiB: columns, WHERE terms, IN lists, aggregates) except
 * the one that multiplies: a HOP window adds a row to size/slide windows,
 * and the directory source hands every row to every statement.  So:
 *   - the group updates of one row, summed over the statements (windows per
 *     row, 1 without a window), are at most MS_SQL_MAX_FANOUT;
 *   - a file holds at most MS_SQL_MAX_STATEMENTS statements (each costs
 *     memory and work for every row, matching or not).
 * Intervals fit in 64-bit microseconds and are > 0 (slide 0 is refused).
 *
 * Canonical text: "CREATE QUERY "name" AS SELECT ... EMIT MODE", valid syntax
 * that re-parses to itself.  It covers exactly what determines the state:
 * statement name, format, declared columns and the csv options that change
 * what a line holds (header, delimiter, quote), WHERE (normalised: NOT pushed
 * down, AND/OR flattened, sorted and deduplicated, constants on the right,
 * IN lists sorted), group columns, window, watermark delay, aggregates (kind
 * and argument, in order) and emit mode.  Aliases, output column order,
 * TOPIC, whitespace, comments and keyword case do not change it.
 */
#ifndef MS_SQL_H
#define MS_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "query/ms_schema.h"
#include "query/ms_value.h"

/* Windows one input row may be added to, summed over a file's statements
 * (1 for a statement without a window; size/slide for HOP).  A day sliding
 * every 10 seconds is 8640; the reported HOP(1 microsecond, 1 hour) was
 * 3.6e9, 3 GiB of state from one row. */
#define MS_SQL_MAX_FANOUT 10000
/* Statements in one query file. */
#define MS_SQL_MAX_STATEMENTS 1000

/* ------------------------------------------------------------------ */
/* Expressions (WHERE)                                                  */
/* ------------------------------------------------------------------ */

enum ms_sql_expr_kind {
    MS_SQL_EXPR_CONST,   /* literal: value */
    MS_SQL_EXPR_COL,     /* column: col (row index) */
    MS_SQL_EXPR_CMP,     /* cmp.l <op> cmp.r */
    MS_SQL_EXPR_IN,      /* in.arg [NOT] IN (in.list) */
    MS_SQL_EXPR_IS_NULL, /* is_null.arg IS [NOT] NULL */
    MS_SQL_EXPR_NOT,     /* NOT not_arg */
    MS_SQL_EXPR_AND,     /* args[0] AND args[1] AND ... */
    MS_SQL_EXPR_OR,      /* args[0] OR args[1] OR ... */
};

/* X(enum, SQL spelling) */
#define MS_SQL_CMP_MAP(X)                                                                          \
    X(EQ, "=")                                                                                     \
    X(NE, "<>")                                                                                    \
    X(LT, "<")                                                                                     \
    X(LE, "<=")                                                                                    \
    X(GT, ">")                                                                                     \
    X(GE, ">=")

enum ms_sql_cmp_op {
#define MS__SQL_CMP_ENUM(e, s) MS_SQL_CMP_##e,
    MS_SQL_CMP_MAP(MS__SQL_CMP_ENUM)
#undef MS__SQL_CMP_ENUM
};

typedef struct ms_sql_expr ms_sql_expr;
struct ms_sql_expr {
    enum ms_sql_expr_kind kind;
    /* Value type: MS_TYPE_BOOL for every predicate (CMP, IN, IS_NULL, NOT,
     * AND, OR); the literal's or column's type for CONST and COL (an integer
     * literal compared with a TIMESTAMP is typed TIMESTAMP). */
    enum ms_type type;
    union {
        ms_value value; /* CONST; strings point into the program */
        int col;        /* COL: index into the row */
        struct {
            enum ms_sql_cmp_op op;
            const ms_sql_expr *l, *r;
        } cmp;
        struct {
            const ms_sql_expr *arg;
            const ms_value *list; /* literals, already of arg's type class */
            size_t n;
            int negated; /* NOT IN */
        } in;
        struct {
            const ms_sql_expr *arg;
            int negated; /* IS NOT NULL */
        } is_null;
        const ms_sql_expr *not_arg;
        struct {
            const ms_sql_expr *const *args;
            size_t n; /* >= 2 */
        } bool_args;  /* AND, OR */
    };
    uint32_t off, len; /* source span of the expression's first token */
};

/* Three-valued result of a predicate. */
enum ms_sql_truth { MS_SQL_FALSE = 0, MS_SQL_TRUE = 1, MS_SQL_UNKNOWN = 2 };

/* SQL three-valued logic: comparisons involving NULL are UNKNOWN; NOT
 * UNKNOWN is UNKNOWN; FALSE AND x is FALSE; TRUE OR x is TRUE.  A value
 * whose runtime type does not fit the comparison (never produced by a
 * format that honours its schema) counts as UNKNOWN.  Strings compare
 * bytewise (memcmp, then length).  No allocation; `row` must have
 * ms_schema_width(schema) values. */
enum ms_sql_truth ms_sql_eval(const ms_sql_expr *e, const ms_value *row);

/* 1 when the row passes the WHERE clause `e` (TRUE; FALSE and UNKNOWN
 * drop it), 0 otherwise.  `e` may be NULL (no WHERE): every row passes. */
static inline int ms_sql_eval_where(const ms_sql_expr *e, const ms_value *row)
{
    return e == NULL || ms_sql_eval(e, row) == MS_SQL_TRUE;
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

/* X(enum, SQL name) */
#define MS_SQL_AGG_MAP(X)                                                                          \
    X(COUNT_STAR, "COUNT")                                                                         \
    X(COUNT, "COUNT")                                                                              \
    X(SUM, "SUM")                                                                                  \
    X(MIN, "MIN")                                                                                  \
    X(MAX, "MAX")                                                                                  \
    X(AVG, "AVG")

enum ms_sql_agg_kind {
#define MS__SQL_AGG_ENUM(e, s) MS_SQL_AGG_##e,
    MS_SQL_AGG_MAP(MS__SQL_AGG_ENUM)
#undef MS__SQL_AGG_ENUM
};

typedef struct ms_sql_agg {
    enum ms_sql_agg_kind kind;
    int arg;               /* row index of the argument; -1 for COUNT(*) */
    enum ms_type arg_type; /* MS_TYPE_NULL for COUNT(*) */
    enum ms_type type;     /* result: COUNT BIGINT, SUM arg's, AVG DOUBLE, MIN/MAX arg's */
} ms_sql_agg;

enum ms_sql_window_kind {
    MS_SQL_WINDOW_NONE,
    MS_SQL_WINDOW_TUMBLE,
    MS_SQL_WINDOW_HOP,
};

typedef struct ms_sql_window {
    enum ms_sql_window_kind kind;
    int col;          /* row index of the TIMESTAMP column; -1 for NONE */
    int64_t size_us;  /* window length */
    int64_t slide_us; /* == size_us for TUMBLE; size_us % slide_us == 0 for HOP */
} ms_sql_window;

/* Windows a row of the statement goes to: size/slide (<= MS_SQL_MAX_FANOUT),
 * 1 without a window. */
static inline int64_t ms_sql_window_fanout(const ms_sql_window *w)
{
    return w->kind == MS_SQL_WINDOW_NONE ? 1 : w->size_us / w->slide_us;
}

typedef struct ms_sql_watermark {
    int present;
    int col;          /* row index of the TIMESTAMP column */
    int64_t delay_us; /* watermark = max event time seen - delay_us */
} ms_sql_watermark;

enum ms_sql_out_kind {
    MS_SQL_OUT_GROUP_COL,    /* index: k-th group column (group_cols[k]) */
    MS_SQL_OUT_WINDOW_START, /* TIMESTAMP */
    MS_SQL_OUT_WINDOW_END,   /* TIMESTAMP, exclusive */
    MS_SQL_OUT_AGG,          /* index: j-th aggregate (aggs[j]) */
};

typedef struct ms_sql_out {
    const char *name; /* alias, or the default name; unique in the statement */
    enum ms_sql_out_kind kind;
    size_t index;
    enum ms_type type;
} ms_sql_out;

enum ms_sql_emit {
    MS_SQL_EMIT_COMPLETE, /* the whole result table after every batch */
    MS_SQL_EMIT_UPDATE,   /* the rows a batch changed */
    MS_SQL_EMIT_APPEND,   /* each window's row once, when the watermark closes it */
};

typedef struct ms_sql_stmt {
    const char *name;         /* [a-z0-9_]+, unique in the program */
    const ms_schema *schema;  /* built-in, or declared (csv/json, owned); csv: its
                               * WITH options are schema->csv */
    const char *topic;        /* TOPIC 'x', or NULL */
    const ms_sql_expr *where; /* NULL: no WHERE */
    const int *group_cols;    /* row indices, GROUP BY order */
    size_t ngroup_cols;
    ms_sql_window window;
    ms_sql_watermark watermark;
    const ms_sql_agg *aggs; /* >= 1 */
    size_t naggs;
    const ms_sql_out *outs; /* SELECT order */
    size_t nouts;
    enum ms_sql_emit emit;
    const char *canonical; /* see the top of this file */
    int line;              /* line of the statement's first token */
} ms_sql_stmt;

struct ms_sql_arena;

typedef struct ms_sql_program {
    size_t nstmts; /* >= 1 */
    ms_sql_stmt *stmts;
    struct ms_sql_arena *arena; /* private: owns every allocation */
} ms_sql_program;

/*
 * Parses and binds `text` (len bytes, need not be NUL-terminated).
 * `filename` is used in messages only (NULL: "<query>").  An unnamed
 * statement is called `default_name` (callers pass the file stem); a
 * file with several statements must name each with CREATE QUERY.
 *
 * Returns 0 and sets *out (free with ms_sql_program_free), or MS_EINVAL
 * with errstr holding
 *
 *   queries/bad.sql:3:1: error: expected FROM, found 'FORM'
 *     FORM task_events
 *     ^~~~
 *
 * (file:line:col, where col counts characters from 1 and a tab counts as
 * one; then the source line and a caret line, both indented by two spaces;
 * tabs are copied into the caret line so it stays aligned).
 */
int ms_sql_parse(const char *text, size_t len, const char *filename, const char *default_name,
                 ms_sql_program **out, char *errstr, size_t errstr_size);

/* Reads `path` and parses it; the default statement name is the file's
 * stem ("queries/wordcount.sql" -> "wordcount").  MS_EIO if the file
 * cannot be read, MS_EINVAL if it does not parse. */
int ms_sql_parse_file(const char *path, ms_sql_program **out, char *errstr, size_t errstr_size);

void ms_sql_program_free(ms_sql_program *p);

/* The statement's canonical text (same as stmt->canonical). */
static inline const char *ms_sql_stmt_canonical(const ms_sql_stmt *s)
{
    return s->canonical;
}

/* Statement of a program by name, or NULL. */
const ms_sql_stmt *ms_sql_program_find(const ms_sql_program *p, const char *name);

/* "COUNT", "SUM", ...; "=", "<>", ...; "COMPLETE", ...; "TUMBLE", ... */
const char *ms_sql_agg_name(enum ms_sql_agg_kind k);
const char *ms_sql_cmp_name(enum ms_sql_cmp_op op);
const char *ms_sql_emit_name(enum ms_sql_emit m);
const char *ms_sql_window_name(enum ms_sql_window_kind k);

#endif
