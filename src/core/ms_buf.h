/*
 * ms_buf: a growable byte buffer, the one string builder of mstream (used by
 * the codec, the Prometheus and JSON encoders, the plan writer).
 * Ownership: the buffer owns `data`; ms_buf_free() releases it.  `data` is
 * always NUL-terminated after any append, so it can be used as a C string
 * when the content has no NUL.
 */
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms_buf {
    char *data;
    size_t len;
    size_t cap;
} ms_buf;

#define MS_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void ms_buf_reserve(ms_buf *b, size_t extra);
void ms_buf_append(ms_buf *b, const void *p, size_t n);
void ms_buf_putc(ms_buf *b, char c);
void ms_buf_puts(ms_buf *b, const char *s);
void ms_buf_printf(ms_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ms_buf_reset(ms_buf *b);
void ms_buf_free(ms_buf *b);
/* Hands the storage to the caller (who frees it) and resets the buffer. */
char *ms_buf_steal(ms_buf *b, size_t *len);

#endif
