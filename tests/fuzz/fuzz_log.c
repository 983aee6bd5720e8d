/* Fuzz the log records (ms_log.h): whatever the bytes of the text, a log
 * record is one line -- clean display form and a single newline at its end
 * -- and a message of ms_say() only ever breaks lines where the text had a
 * newline, every line after the first indented, so that no line of it can
 * pass for a record. */
#include <string.h>

#include "core/ms_log.h"
#include "core/ms_text.h"
#include "fuzz.h"

/* Valid UTF-8 without control bytes, except tabs when tabs_ok. */
static void check_clean(const uint8_t *p, size_t n, int tabs_ok)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            FUZZ_CHECK((p[i] >= 0x20 && p[i] != 0x7f) || (tabs_ok && p[i] == '\t'));
            i++;
        } else {
            size_t l = ms_text_utf8_seq(p + i, n - i);
            FUZZ_CHECK(l > 0);
            i += l;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_buf r = MS_BUF_INIT, s = MS_BUF_INIT;
    ms_log_format(&r, MS_LOG_WARN, (const char *)data, size);
    FUZZ_CHECK(r.len >= 7 && !memcmp(r.data, "WARN  ", 6) && r.data[r.len - 1] == '\n');
    check_clean((const uint8_t *)r.data, r.len - 1, 0);

    ms_say_format(&s, (const char *)data, size);
    FUZZ_CHECK(s.len >= 1 && s.data[s.len - 1] == '\n');
    size_t lines = 0, newlines = 0;
    for (size_t i = 0; i < size; i++)
        newlines += data[i] == '\n';
    const uint8_t *p = (const uint8_t *)s.data, *end = p + s.len;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(nl != NULL);
        check_clean(p, (size_t)(nl - p), 1);
        if (lines > 0)
            FUZZ_CHECK(nl > p && (p[0] == ' ' || p[0] == '\t'));
        lines++;
        p = nl + 1;
    }
    FUZZ_CHECK(lines == newlines + 1);
    ms_buf_free(&r);
    ms_buf_free(&s);
    return 0;
}
