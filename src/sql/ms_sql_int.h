/*
 * Internals of the query language front end, shared by its files only:
 * the arena that owns a program, the tokens, the lexer and the error
 * reporter.
 *
 * Error discipline: the first error wins.  ms_sql__error_at() formats the
 * message into the parser's errstr only if none was recorded yet and
 * always returns -1, so every parse function can `return ms_sql__error_at(...)`
 * and callers just propagate -1.  A lexical error is recorded by the lexer
 * when the token is first looked at and yields a MS_SQL__TOK_ERROR token,
 * which matches nothing, so the parse fails right there and the lexical
 * message is the one reported.
 */
#ifndef MS_SQL_INT_H
#define MS_SQL_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "sql/ms_sql.h"

/* Queries are small; the limit keeps offsets in 32 bits and bounds work. */
#define MS_SQL__MAX_TEXT (1u << 20)
/* Nesting depth of parentheses and NOTs in WHERE (bounds recursion). */
#define MS_SQL__MAX_DEPTH 64

/* ---- arena: every allocation of a program, freed at once ---- */

void *ms_sql__alloc(struct ms_sql_arena *a, size_t n); /* zeroed, max-aligned */
char *ms_sql__strndup(struct ms_sql_arena *a, const char *s, size_t n);
struct ms_sql_arena *ms_sql__arena_new(void);
void ms_sql__arena_free(struct ms_sql_arena *a);

/* ---- tokens ---- */

enum ms_sql__tok_kind {
    MS_SQL__TOK_EOF,
    MS_SQL__TOK_ERROR,  /* lexical error, already reported */
    MS_SQL__TOK_IDENT,  /* bare word: keyword or identifier */
    MS_SQL__TOK_QIDENT, /* "double quoted" identifier, never a keyword */
    MS_SQL__TOK_STRING, /* 'single quoted' */
    MS_SQL__TOK_INT,    /* digits */
    MS_SQL__TOK_FLOAT,  /* digits with '.' or an exponent */
    MS_SQL__TOK_LPAREN,
    MS_SQL__TOK_RPAREN,
    MS_SQL__TOK_COMMA,
    MS_SQL__TOK_SEMI,
    MS_SQL__TOK_STAR,
    MS_SQL__TOK_MINUS,
    MS_SQL__TOK_EQ,
    MS_SQL__TOK_NE, /* <> or != */
    MS_SQL__TOK_LT,
    MS_SQL__TOK_LE,
    MS_SQL__TOK_GT,
    MS_SQL__TOK_GE,
};

typedef struct ms_sql__tok {
    enum ms_sql__tok_kind kind;
    uint32_t off, len; /* span in the text (quotes included) */
} ms_sql__tok;

#define MS_SQL__LOOKAHEAD 3

typedef struct ms_sql__parser {
    const char *text;
    uint32_t len;
    const char *filename;
    uint32_t pos;      /* lexer position */
    uint32_t last_end; /* end of the last consumed token */
    uint32_t lex_end;  /* end of the last token lexed: where EOF is reported */
    ms_sql__tok la[MS_SQL__LOOKAHEAD];
    int nla;
    int depth;
    int failed;
    struct ms_sql_arena *arena;
    char *errstr;
    size_t errstr_size;
} ms_sql__parser;

/* k-th token ahead (0 = current), lexed on demand; k < MS_SQL__LOOKAHEAD. */
const ms_sql__tok *ms_sql__peek(ms_sql__parser *p, int k);
/* Consumes the current token and returns it. */
ms_sql__tok ms_sql__next(ms_sql__parser *p);

/* Case-insensitive match of a bare word against an upper-case keyword. */
int ms_sql__is_kw(const ms_sql__parser *p, const ms_sql__tok *t, const char *kw);
/* A bare word that cannot be an identifier unless quoted (SELECT, FROM...). */
int ms_sql__is_reserved(const ms_sql__parser *p, const ms_sql__tok *t);
/* Decoded value of an identifier, quoted identifier or string token. */
char *ms_sql__tok_text(ms_sql__parser *p, const ms_sql__tok *t, size_t *len);
/* Appends at most max bytes of s for a message: control characters
 * escaped (\n, \xNN), "..." when cut. */
void ms_sql__append_escaped(ms_buf *out, const char *s, size_t n, size_t max);
/* "'FORM'", "end of input", "string 'abc'": for "found ..." messages. */
void ms_sql__tok_describe(const ms_sql__parser *p, const ms_sql__tok *t, ms_buf *out);

/* Records "file:line:col: error: <msg>" + source line + caret line at the
 * span [off, off+len) unless an error is already recorded.  Returns -1. */
int ms_sql__error_at(ms_sql__parser *p, uint32_t off, uint32_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "expected <what>, found <token>" at token t. */
int ms_sql__expected(ms_sql__parser *p, const ms_sql__tok *t, const char *what);
/* 1-based line of a text offset. */
int ms_sql__line_of(const ms_sql__parser *p, uint32_t off);

/* ---- canonical text (ms_sql_canon.c) ---- */

/* Builds stmt->canonical in the arena. */
void ms_sql__canonicalize(ms_sql_stmt *s, struct ms_sql_arena *a);
/* Appends an identifier in double quotes ("" for a quote inside). */
void ms_sql__quote_ident(ms_buf *b, const char *name);
/* Appends a literal as it would be written in a query. */
void ms_sql__append_literal(ms_buf *b, const ms_value *v);
/* Appends "'90' MINUTE": an interval in its largest exact unit. */
void ms_sql__interval_text(ms_buf *b, int64_t us);

#endif
