/* Fuzz the `words` tokenizer: any bytes, any chunking. Invariants: words are
 * non-empty, hold no whitespace, respect the length cap, and the words are
 * the same whatever the chunk boundaries. */
#include <string.h>

#include "fuzz.h"
#include "parse/ms_tokenize.h"
#include "state/ms_table.h"

typedef struct {
    uint64_t n, bytes, hash;
    size_t max;
} acc;

static void on_word(void *ud, const ms_row *row)
{
    acc *a = ud;
    const ms_slice *w = &row->cols[0].s;
    FUZZ_CHECK(row->ncols == 1);
    FUZZ_CHECK(w->n > 0 && w->n <= a->max);
    for (size_t i = 0; i < w->n; i++)
        FUZZ_CHECK(!ms_is_space[w->p[i]]);
    a->n++;
    a->bytes += w->n;
    a->hash = a->hash * 31 + ms_hash(w->p, w->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = 1 + data[0] % 32;
    size_t chunk = 1 + data[1] % 17;
    data += 2;
    size -= 2;
    acc whole = {0, 0, 0, max}, parts = {0, 0, 0, max};
    ms_tokenizer t;
    ms_tokenizer_init(&t, max);
    ms_tokenizer_feed(&t, data, size, on_word, &whole);
    ms_tokenizer_end(&t, on_word, &whole);
    uint64_t long1 = t.base.malformed[MS_MALFORMED_WORD_TOO_LONG], lines1 = t.base.lines;
    ms_tokenizer_free(&t);
    ms_tokenizer_init(&t, max);
    for (size_t off = 0; off < size; off += chunk)
        ms_tokenizer_feed(&t, data + off, size - off < chunk ? size - off : chunk, on_word, &parts);
    ms_tokenizer_end(&t, on_word, &parts);
    FUZZ_CHECK(whole.n == parts.n && whole.bytes == parts.bytes && whole.hash == parts.hash);
    FUZZ_CHECK(long1 == t.base.malformed[MS_MALFORMED_WORD_TOO_LONG]);
    FUZZ_CHECK(lines1 == t.base.lines);
    ms_tokenizer_free(&t);
    return 0;
}
