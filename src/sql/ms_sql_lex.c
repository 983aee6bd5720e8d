/*
 * Lexer, error reporter and arena of the query language (see ms_sql_int.h).
 *
 * Tokens are spans of the text; values (identifier names, string contents,
 * numbers) are decoded by the parser only when it needs them.  The lexer
 * runs on demand, a few tokens ahead of the parser, so the first error in
 * text order is the one reported, whether lexical or syntactic.
 *
 *   whitespace  space \t \n \r \f \v          (skipped)
 *   comments    -- to end of line, / * ... * / (skipped, not nested)
 *   IDENT       [A-Za-z_][A-Za-z0-9_]*        (keywords are IDENTs)
 *   QIDENT      "..." with "" for a quote     (never a keyword)
 *   STRING      '...' with '' for a quote     (may span lines)
 *   INT/FLOAT   12  1.5  .5  1e9  2.5E-3      (a letter right after is an error)
 *   punctuation ( ) , ; * - = <> != < <= > >=
 */
#include "sql/ms_sql_int.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ms_log.h"

/* ------------------------------------------------------------------ */
/* Arena                                                                */
/* ------------------------------------------------------------------ */

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

struct ms_sql_arena {
    arena_blk *head;
};

#define ARENA_BLOCK 4096

struct ms_sql_arena *ms_sql__arena_new(void)
{
    return ms_xcalloc(1, sizeof(struct ms_sql_arena));
}

void ms_sql__arena_free(struct ms_sql_arena *a)
{
    if (!a)
        return;
    arena_blk *b = a->head;
    while (b) {
        arena_blk *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *ms_sql__alloc(struct ms_sql_arena *a, size_t n)
{
    const size_t al = alignof(max_align_t);
    n = (n + al - 1) / al * al;
    if (n == 0)
        n = al;
    arena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = ms_xmalloc(sizeof(arena_blk) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *ms_sql__strndup(struct ms_sql_arena *a, const char *s, size_t n)
{
    char *d = ms_sql__alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ------------------------------------------------------------------ */
/* Error reporting                                                      */
/* ------------------------------------------------------------------ */

static int is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80; /* UTF-8 continuation byte */
}

int ms_sql__line_of(const ms_sql__parser *p, uint32_t off)
{
    int line = 1;
    for (uint32_t i = 0; i < off && i < p->len; i++)
        line += p->text[i] == '\n';
    return line;
}

/* Widest part of a long source line shown around the error. */
#define SHOW_MAX    160
#define SHOW_BEFORE 80

int ms_sql__error_at(ms_sql__parser *p, uint32_t off, uint32_t len, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    if (!p->errstr || p->errstr_size == 0)
        return -1;
    if (off > p->len)
        off = p->len;
    const char *t = p->text;
    uint32_t ls = off, le = off;
    while (ls > 0 && t[ls - 1] != '\n')
        ls--;
    while (le < p->len && t[le] != '\n')
        le++;
    if (le > ls && t[le - 1] == '\r' && off < le)
        le--;
    if (off > le)
        le = off; /* the error points at the '\r' of a CRLF line end */
    int col = 1;
    for (uint32_t i = ls; i < off; i++)
        col += !is_cont((unsigned char)t[i]);

    /* The part of the line shown: all of it, or SHOW_MAX bytes around off. */
    uint32_t s = ls, e = le;
    if (le - ls > SHOW_MAX) {
        s = off - ls > SHOW_BEFORE ? off - SHOW_BEFORE : ls;
        while (s < off && is_cont((unsigned char)t[s]))
            s++;
        e = s + SHOW_MAX < le ? s + SHOW_MAX : le;
        if (e <= off)
            e = off + 1 < le ? off + 1 : le;
        while (e < le && is_cont((unsigned char)t[e]))
            e++;
    }

    ms_buf b = MS_BUF_INIT;
    ms_buf_printf(&b, "%s:%d:%d: error: ", p->filename ? p->filename : "<query>",
                  ms_sql__line_of(p, off), col);
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ms_buf_puts(&b, msg);
    ms_buf_puts(&b, "\n  ");
    if (s > ls)
        ms_buf_puts(&b, "...");
    for (uint32_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)t[i];
        ms_buf_putc(&b, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
    }
    if (e < le)
        ms_buf_puts(&b, "...");
    ms_buf_puts(&b, "\n  ");
    if (s > ls)
        ms_buf_puts(&b, "   ");
    for (uint32_t i = s; i < off; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '\t')
            ms_buf_putc(&b, '\t');
        else if (!is_cont(c))
            ms_buf_putc(&b, ' ');
    }
    ms_buf_putc(&b, '^');
    uint32_t tend = off + len < e ? off + len : e;
    for (uint32_t i = off + 1; i < tend; i++)
        if (!is_cont((unsigned char)t[i]))
            ms_buf_putc(&b, '~');
    snprintf(p->errstr, p->errstr_size, "%s", b.data);
    ms_buf_free(&b);
    return -1;
}

void ms_sql__append_escaped(ms_buf *out, const char *s, size_t n, size_t max)
{
    size_t k = n > max ? max - 3 : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            ms_buf_puts(out, "\\n");
        else if (c < 0x20 || c == 0x7f)
            ms_buf_printf(out, "\\x%02x", c);
        else
            ms_buf_putc(out, (char)c);
    }
    if (k < n)
        ms_buf_puts(out, "...");
}

void ms_sql__tok_describe(const ms_sql__parser *p, const ms_sql__tok *t, ms_buf *out)
{
    if (t->kind == MS_SQL__TOK_EOF) {
        ms_buf_puts(out, "end of input");
        return;
    }
    if (t->kind == MS_SQL__TOK_STRING)
        ms_buf_puts(out, "string ");
    else if (t->kind == MS_SQL__TOK_INT || t->kind == MS_SQL__TOK_FLOAT)
        ms_buf_puts(out, "number ");
    if (t->kind != MS_SQL__TOK_STRING)
        ms_buf_putc(out, '\'');
    ms_sql__append_escaped(out, p->text + t->off, t->len, 40);
    if (t->kind != MS_SQL__TOK_STRING)
        ms_buf_putc(out, '\'');
}

int ms_sql__expected(ms_sql__parser *p, const ms_sql__tok *t, const char *what)
{
    if (p->failed)
        return -1;
    ms_buf b = MS_BUF_INIT;
    ms_sql__tok_describe(p, t, &b);
    int rc = ms_sql__error_at(p, t->off, t->len, "expected %s, found %s", what, b.data);
    ms_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lexer                                                                */
/* ------------------------------------------------------------------ */

static int is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static ms_sql__tok lex_error(ms_sql__parser *p, uint32_t off, uint32_t len, const char *msg)
{
    ms_sql__error_at(p, off, len, "%s", msg);
    p->pos = p->len; /* nothing after a lexical error is looked at */
    ms_sql__tok t = {MS_SQL__TOK_ERROR, off, len};
    return t;
}

/* Skips whitespace and comments; 0, or -1 after an unterminated comment. */
static int skip_blank(ms_sql__parser *p)
{
    const char *s = p->text;
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            p->pos++;
        } else if (c == '-' && p->pos + 1 < p->len && s[p->pos + 1] == '-') {
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
        } else if (c == '/' && p->pos + 1 < p->len && s[p->pos + 1] == '*') {
            uint32_t start = p->pos;
            p->pos += 2;
            for (;;) {
                if (p->pos + 1 >= p->len) {
                    lex_error(p, start, 2, "unterminated comment: '/*' has no closing '*/'");
                    return -1;
                }
                if (s[p->pos] == '*' && s[p->pos + 1] == '/') {
                    p->pos += 2;
                    break;
                }
                p->pos++;
            }
        } else {
            break;
        }
    }
    return 0;
}

/* A quoted token ('string' or "identifier"); the quote doubles as escape. */
static ms_sql__tok lex_quoted(ms_sql__parser *p, char q)
{
    uint32_t start = p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return lex_error(p, start, 1,
                             q == '\'' ? "unterminated string: missing closing quote (')"
                                       : "unterminated quoted identifier: missing closing "
                                         "double quote (\")");
        if (p->text[p->pos] == q) {
            if (p->pos + 1 < p->len && p->text[p->pos + 1] == q) {
                p->pos += 2;
                continue;
            }
            p->pos++;
            break;
        }
        p->pos++;
    }
    ms_sql__tok t = {q == '\'' ? MS_SQL__TOK_STRING : MS_SQL__TOK_QIDENT, start, p->pos - start};
    if (q == '"' && t.len == 2)
        return lex_error(p, start, 2, "empty quoted identifier");
    /* Names end up in labels and messages: no control characters. */
    for (uint32_t i = start + 1; q == '"' && i + 1 < p->pos; i++) {
        unsigned char c = (unsigned char)p->text[i];
        if (c < 0x20 || c == 0x7f)
            return lex_error(p, i, 1, "a quoted identifier cannot contain control characters");
    }
    return t;
}

static ms_sql__tok lex_number(ms_sql__parser *p)
{
    const char *s = p->text;
    uint32_t start = p->pos;
    int is_float = 0;
    while (p->pos < p->len && is_digit((unsigned char)s[p->pos]))
        p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        is_float = 1;
        p->pos++;
        while (p->pos < p->len && is_digit((unsigned char)s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        uint32_t e = p->pos + 1;
        if (e < p->len && (s[e] == '+' || s[e] == '-'))
            e++;
        if (e < p->len && is_digit((unsigned char)s[e])) {
            is_float = 1;
            p->pos = e;
            while (p->pos < p->len && is_digit((unsigned char)s[p->pos]))
                p->pos++;
        }
    }
    if (p->pos < p->len && (is_ident_char((unsigned char)s[p->pos]) || s[p->pos] == '.')) {
        while (p->pos < p->len && (is_ident_char((unsigned char)s[p->pos]) || s[p->pos] == '.'))
            p->pos++;
        return lex_error(p, start, p->pos - start,
                         "malformed number (a number is digits with an optional fraction "
                         "and exponent, such as 42, 1.5 or 2e6)");
    }
    ms_sql__tok t = {is_float ? MS_SQL__TOK_FLOAT : MS_SQL__TOK_INT, start, p->pos - start};
    return t;
}

static ms_sql__tok lex_one(ms_sql__parser *p)
{
    if (skip_blank(p) < 0) {
        ms_sql__tok t = {MS_SQL__TOK_ERROR, p->len, 0};
        return t;
    }
    /* End of input is reported just past the last token, not after the
     * trailing blanks and comments. */
    ms_sql__tok t = {MS_SQL__TOK_EOF, p->lex_end, 0};
    if (p->pos >= p->len)
        return t;
    t.off = p->pos;
    const char *s = p->text;
    unsigned char c = (unsigned char)s[p->pos];
    unsigned char c1 = p->pos + 1 < p->len ? (unsigned char)s[p->pos + 1] : 0;
    if (is_ident_start(c)) {
        while (p->pos < p->len && is_ident_char((unsigned char)s[p->pos]))
            p->pos++;
        t.kind = MS_SQL__TOK_IDENT;
        t.len = p->pos - t.off;
        return t;
    }
    if (is_digit(c) || (c == '.' && is_digit(c1)))
        return lex_number(p);
    if (c == '\'' || c == '"')
        return lex_quoted(p, (char)c);
    t.len = 1;
    switch (c) {
    case '(':
        t.kind = MS_SQL__TOK_LPAREN;
        break;
    case ')':
        t.kind = MS_SQL__TOK_RPAREN;
        break;
    case ',':
        t.kind = MS_SQL__TOK_COMMA;
        break;
    case ';':
        t.kind = MS_SQL__TOK_SEMI;
        break;
    case '*':
        t.kind = MS_SQL__TOK_STAR;
        break;
    case '-':
        t.kind = MS_SQL__TOK_MINUS;
        break;
    case '=':
        t.kind = MS_SQL__TOK_EQ;
        break;
    case '<':
        t.kind = c1 == '>' ? MS_SQL__TOK_NE : c1 == '=' ? MS_SQL__TOK_LE : MS_SQL__TOK_LT;
        t.len = t.kind == MS_SQL__TOK_LT ? 1 : 2;
        break;
    case '>':
        t.kind = c1 == '=' ? MS_SQL__TOK_GE : MS_SQL__TOK_GT;
        t.len = t.kind == MS_SQL__TOK_GE ? 2 : 1;
        break;
    case '!':
        if (c1 == '=') {
            t.kind = MS_SQL__TOK_NE;
            t.len = 2;
            break;
        }
        return lex_error(p, t.off, 1, "unexpected character '!' (did you mean '!=' or NOT?)");
    default: {
        char msg[128];
        uint32_t n = 1;
        while (c >= 0xc2 && c <= 0xf4 && n < 4 && t.off + n < p->len &&
               is_cont((unsigned char)s[t.off + n]))
            n++;
        int utf8 = n == (c >= 0xf0 ? 4u : c >= 0xe0 ? 3u : 2u);
        if (c >= 0x21 && c < 0x7f)
            snprintf(msg, sizeof(msg), "unexpected character '%c'", c);
        else if (c >= 0x80 && utf8)
            snprintf(msg, sizeof(msg),
                     "unexpected character '%.*s' (outside strings and quoted names only ASCII "
                     "is allowed)",
                     (int)n, s + t.off);
        else
            snprintf(msg, sizeof(msg), "unexpected byte 0x%02x", c);
        if (!utf8)
            n = 1;
        return lex_error(p, t.off, n, msg);
    }
    }
    p->pos += t.len;
    return t;
}

const ms_sql__tok *ms_sql__peek(ms_sql__parser *p, int k)
{
    while (p->nla <= k) {
        ms_sql__tok t = lex_one(p);
        if (t.kind != MS_SQL__TOK_EOF && t.kind != MS_SQL__TOK_ERROR)
            p->lex_end = t.off + t.len;
        p->la[p->nla++] = t;
    }
    return &p->la[k];
}

ms_sql__tok ms_sql__next(ms_sql__parser *p)
{
    ms_sql__tok t = *ms_sql__peek(p, 0);
    if (t.kind != MS_SQL__TOK_EOF && t.kind != MS_SQL__TOK_ERROR)
        p->last_end = t.off + t.len;
    memmove(&p->la[0], &p->la[1], (size_t)(p->nla - 1) * sizeof(p->la[0]));
    p->nla--;
    return t;
}

int ms_sql__is_kw(const ms_sql__parser *p, const ms_sql__tok *t, const char *kw)
{
    return t->kind == MS_SQL__TOK_IDENT && strlen(kw) == t->len &&
           strncasecmp(p->text + t->off, kw, t->len) == 0;
}

int ms_sql__is_reserved(const ms_sql__parser *p, const ms_sql__tok *t)
{
    static const char *const reserved[] = {
        "SELECT", "FROM", "WHERE", "GROUP", "BY",   "EMIT",  "AS",       "AND",    "OR",
        "NOT",    "IN",   "IS",    "NULL",  "TRUE", "FALSE", "INTERVAL", "CREATE",
    };
    if (t->kind != MS_SQL__TOK_IDENT)
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (ms_sql__is_kw(p, t, reserved[i]))
            return 1;
    return 0;
}

char *ms_sql__tok_text(ms_sql__parser *p, const ms_sql__tok *t, size_t *lenp)
{
    const char *s = p->text + t->off;
    size_t n = t->len;
    if (t->kind != MS_SQL__TOK_STRING && t->kind != MS_SQL__TOK_QIDENT) {
        if (lenp)
            *lenp = n;
        return ms_sql__strndup(p->arena, s, n);
    }
    char q = s[0];
    char *d = ms_sql__alloc(p->arena, n);
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        d[k++] = s[i];
        if (s[i] == q)
            i++; /* doubled quote */
    }
    d[k] = '\0';
    if (lenp)
        *lenp = k;
    return d;
}
