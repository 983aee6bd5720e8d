/*
 * The `words` format: splits text into words, the maximal runs of bytes that
 * are not ASCII whitespace (space, \t, \n, \v, \f, \r).  Case and all other
 * bytes are kept as they are (Spark's split(value, " ") example, minus the
 * empty words).  The tokenizer is streaming: a word may span chunk
 * boundaries; words longer than max_word bytes are dropped and counted
 * (reason word_too_long) without ever being buffered whole, so a 100 MB
 * "word" costs no memory.
 */
#ifndef MS_TOKENIZE_H
#define MS_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "query/ms_pipeline.h"

typedef struct ms_tokenizer {
    ms_parser base; /* first member: a tokenizer is a parser */
    uint8_t *carry; /* word cut by the end of the previous chunk */
    size_t carry_len;
    size_t max_word;
    int skipping; /* inside an over-long word, dropping bytes until whitespace */
} ms_tokenizer;

void ms_tokenizer_init(ms_tokenizer *t, size_t max_word);
void ms_tokenizer_free(ms_tokenizer *t);

/* Feeds n bytes; calls emit once per complete word (one-column rows). */
void ms_tokenizer_feed(ms_tokenizer *t, const uint8_t *data, size_t n, ms_emit_fn emit, void *ud);
/* End of input: emits a word still carried. */
void ms_tokenizer_end(ms_tokenizer *t, ms_emit_fn emit, void *ud);
/* Forgets a word still carried, without emitting it (input cut short). */
void ms_tokenizer_reset(ms_tokenizer *t);

extern const uint8_t ms_is_space[256];

#endif
