/* Fuzz the display form and the Prometheus / JSON encoders: whatever the
 * bytes, the output is valid UTF-8 with no control bytes, and a label value
 * never ends inside an escape. */
#include <string.h>

#include "core/ms_text.h"
#include "fuzz.h"

static void check_clean(const ms_buf *b)
{
    const uint8_t *p = (const uint8_t *)b->data;
    size_t i = 0;
    while (i < b->len) {
        if (p[i] < 0x80) {
            FUZZ_CHECK(p[i] >= 0x20 && p[i] != 0x7f);
            i++;
        } else {
            size_t l = ms_text_utf8_seq(p + i, b->len - i);
            FUZZ_CHECK(l > 0);
            i += l;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_buf d = MS_BUF_INIT, pl = MS_BUF_INIT, j = MS_BUF_INIT;
    ms_text_display(&d, data, size);
    check_clean(&d);
    ms_text_prom_label(&pl, data, size);
    check_clean(&pl);
    /* no unescaped quote, and an even run of trailing backslashes */
    size_t bs = 0;
    for (size_t i = 0; i < pl.len; i++) {
        if (pl.data[i] == '"')
            FUZZ_CHECK(bs % 2 == 1);
        bs = pl.data[i] == '\\' ? bs + 1 : 0;
    }
    FUZZ_CHECK(bs % 2 == 0);
    ms_text_json_bytes(&j, data, size);
    check_clean(&j);
    FUZZ_CHECK(j.len >= 2 && j.data[0] == '"' && j.data[j.len - 1] == '"');
    ms_buf_free(&d);
    ms_buf_free(&pl);
    ms_buf_free(&j);
    return 0;
}
