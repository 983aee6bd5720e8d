/* Fuzz the watermark record's partition list (ms_wm_decode, a checkpoint
 * record parser): whatever decodes re-encodes to exactly the bytes it
 * consumed (no field invented or lost), keys are strictly increasing (one
 * entry per partition), and an advance over the decoded partitions keeps
 * the watermark at or below the smallest active maximum it could pick. */
#include <string.h>

#include "fuzz.h"
#include "mstream/mstream.h"
#include "query/ms_watermark.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_wm w;
    ms_wm_init(&w, size ? data[0] : 0, 5.0, NULL);
    const uint8_t *p = data, *end = data + size;
    if (ms_wm_decode(&w, &p, end, 0) == 0) {
        ms_buf b = MS_BUF_INIT;
        ms_wm_encode(&w, &b);
        FUZZ_CHECK(b.len == (size_t)(p - data) && memcmp(b.data, data, b.len) == 0);
        for (size_t i = 1; i < w.n; i++)
            FUZZ_CHECK(strcmp(w.parts[i - 1].key, w.parts[i].key) < 0);
        int64_t wm = ms_wm_advance(&w, NULL, 0, 1.0);
        int64_t m = ms_wm_max_event(&w);
        FUZZ_CHECK(wm == INT64_MIN || wm <= m);
        ms_buf_free(&b);
    } else {
        FUZZ_CHECK(w.n == 0);
    }
    ms_wm_free(&w);
    return 0;
}
