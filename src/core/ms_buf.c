#include "core/ms_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

void ms_buf_reserve(ms_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = ms_xrealloc(b->data, cap);
    b->cap = cap;
}

void ms_buf_append(ms_buf *b, const void *p, size_t n)
{
    ms_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ms_buf_putc(ms_buf *b, char c)
{
    ms_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void ms_buf_puts(ms_buf *b, const char *s)
{
    ms_buf_append(b, s, strlen(s));
}

void ms_buf_printf(ms_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        ms_buf_append(b, tmp, (size_t)n);
    } else {
        ms_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void ms_buf_reset(ms_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ms_buf_free(ms_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *ms_buf_steal(ms_buf *b, size_t *len)
{
    if (!b->data)
        ms_buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
