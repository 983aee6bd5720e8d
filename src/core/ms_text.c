#include "core/ms_text.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

size_t ms_text_utf8_seq(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* C1 control characters U+0080..U+009F are shown escaped too. */
    if (cp >= 0x80 && cp <= 0x9f)
        return 0;
    return len;
}

static void put_hex_escape(ms_buf *out, uint8_t c)
{
    char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
    ms_buf_append(out, e, 4);
}

static void display(ms_buf *out, const uint8_t *s, size_t n, int double_backslash)
{
    ms_buf_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f) {
            if (c == '\\' && double_backslash)
                ms_buf_append(out, "\\\\", 2);
            else
                ms_buf_putc(out, (char)c);
            i++;
            continue;
        }
        size_t l = c >= 0x80 ? ms_text_utf8_seq(s + i, n - i) : 0;
        if (l) {
            ms_buf_append(out, s + i, l);
            i += l;
        } else {
            put_hex_escape(out, c);
            i++;
        }
    }
}

void ms_text_display(ms_buf *out, const uint8_t *s, size_t n)
{
    display(out, s, n, 1);
}

void ms_text_terminal(ms_buf *out, const uint8_t *s, size_t n)
{
    display(out, s, n, 0);
}

/* JSON-escapes text that is already valid UTF-8 without control bytes
 * except those escaped here. */
static void json_escape_valid(ms_buf *out, const char *s, size_t n)
{
    ms_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            ms_buf_putc(out, '\\');
            ms_buf_putc(out, (char)c);
        } else if (c < 0x20) {
            ms_buf_printf(out, "\\u%04x", c);
        } else {
            ms_buf_putc(out, (char)c);
        }
    }
    ms_buf_putc(out, '"');
}

void ms_text_json_bytes(ms_buf *out, const uint8_t *s, size_t n)
{
    ms_buf tmp = MS_BUF_INIT;
    ms_text_display(&tmp, s, n);
    json_escape_valid(out, tmp.data ? tmp.data : "", tmp.len);
    ms_buf_free(&tmp);
}

void ms_text_json_str(ms_buf *out, const char *s)
{
    ms_text_json_bytes(out, (const uint8_t *)s, strlen(s));
}

void ms_text_prom_label(ms_buf *out, const uint8_t *s, size_t n)
{
    ms_buf tmp = MS_BUF_INIT;
    ms_text_display(&tmp, s, n);
    for (size_t i = 0; i < tmp.len; i++) {
        char c = tmp.data[i];
        if (c == '\\')
            ms_buf_append(out, "\\\\", 2);
        else if (c == '"')
            ms_buf_append(out, "\\\"", 2);
        else if (c == '\n')
            ms_buf_append(out, "\\n", 2);
        else
            ms_buf_putc(out, c);
    }
    ms_buf_free(&tmp);
}
