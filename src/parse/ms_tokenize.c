/*
 * Streaming word tokenizer (see ms_tokenize.h).
 *
 * Invariant between calls: either carry_len > 0 (a word prefix of at most
 * max_word bytes is pending), or skipping is set (an over-long word is being
 * dropped), or neither (we are between words).  Never both.
 */
#include "parse/ms_tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

const uint8_t ms_is_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1};

static const char *const malformed_names[] = {
#define MS__MAL_NAME(e, s) s,
    MS_MALFORMED_MAP(MS__MAL_NAME)
#undef MS__MAL_NAME
};

const char *ms_malformed_name(enum ms_malformed r)
{
    return r < MS_MALFORMED_MAX ? malformed_names[r] : "unknown";
}

static void tok_feed(void *self, const uint8_t *d, size_t n, ms_emit_fn emit, void *ud)
{
    ms_tokenizer_feed(self, d, n, emit, ud);
}

static void tok_end(void *self, ms_emit_fn emit, void *ud)
{
    ms_tokenizer_end(self, emit, ud);
}

static const ms_parser_ops ms_words_parser_ops = {
    .name = "words",
    .feed = tok_feed,
    .end_file = tok_end,
};

void ms_tokenizer_init(ms_tokenizer *t, size_t max_word)
{
    memset(t, 0, sizeof(*t));
    t->base.ops = &ms_words_parser_ops;
    t->base.self = t;
    t->max_word = max_word ? max_word : 1;
    t->carry = ms_xmalloc(t->max_word);
}

void ms_tokenizer_free(ms_tokenizer *t)
{
    free(t->carry);
    t->carry = NULL;
}

static inline void emit_word(ms_emit_fn emit, void *ud, const uint8_t *w, size_t n)
{
    ms_value col = ms_value_str(w, n);
    ms_row row = {&col, 1};
    emit(ud, &row);
}

static inline void drop_long(ms_tokenizer *t)
{
    t->base.malformed[MS_MALFORMED_WORD_TOO_LONG]++;
}

void ms_tokenizer_feed(ms_tokenizer *t, const uint8_t *d, size_t n, ms_emit_fn emit, void *ud)
{
    size_t i = 0;
    uint64_t lines = 0;

    /* Finish the word or the skip carried over from the previous chunk. */
    if (t->carry_len || t->skipping) {
        size_t j = 0;
        while (j < n && !ms_is_space[d[j]])
            j++;
        if (t->skipping) {
            if (j < n)
                t->skipping = 0;
        } else if (t->carry_len + j > t->max_word) {
            t->carry_len = 0;
            drop_long(t);
            if (j == n)
                t->skipping = 1;
        } else {
            memcpy(t->carry + t->carry_len, d, j);
            t->carry_len += j;
            if (j < n) {
                emit_word(emit, ud, t->carry, t->carry_len);
                t->carry_len = 0;
            }
        }
        if (j == n)
            return;
        i = j;
    }

    for (;;) {
        while (i < n && ms_is_space[d[i]]) {
            lines += d[i] == '\n';
            i++;
        }
        if (i == n)
            break;
        size_t start = i;
        while (i < n && !ms_is_space[d[i]])
            i++;
        size_t len = i - start;
        if (i == n) {
            /* The word may continue in the next chunk. */
            if (len > t->max_word) {
                drop_long(t);
                t->skipping = 1;
            } else {
                memcpy(t->carry, d + start, len);
                t->carry_len = len;
            }
            break;
        }
        if (len > t->max_word)
            drop_long(t);
        else
            emit_word(emit, ud, d + start, len);
    }
    t->base.lines += lines;
}

void ms_tokenizer_end(ms_tokenizer *t, ms_emit_fn emit, void *ud)
{
    if (t->carry_len)
        emit_word(emit, ud, t->carry, t->carry_len);
    t->carry_len = 0;
    t->skipping = 0;
}

void ms_tokenizer_reset(ms_tokenizer *t)
{
    t->carry_len = 0;
    t->skipping = 0;
}
