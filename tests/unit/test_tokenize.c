/* The `words` tokenizer: splitting rules, chunk boundaries, over-long words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse/ms_tokenize.h"

typedef struct {
    char words[64][64];
    int n;
} collected;

static void collect(void *ud, const ms_row *row)
{
    collected *c = ud;
    assert_int_equal(row->ncols, 1);
    assert_true(row->cols[0].s.n < 64);
    assert_true(c->n < 64);
    memcpy(c->words[c->n], row->cols[0].s.p, row->cols[0].s.n);
    c->words[c->n][row->cols[0].s.n] = '\0';
    c->n++;
}

/* Feeds text in chunks of `chunk` bytes. */
static void run(const char *text, size_t chunk, size_t max_word, collected *c, ms_tokenizer *t)
{
    memset(c, 0, sizeof(*c));
    ms_tokenizer_init(t, max_word);
    size_t n = strlen(text);
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        ms_tokenizer_feed(t, (const uint8_t *)text + off, k, collect, c);
    }
    ms_tokenizer_end(t, collect, c);
}

static void test_basic_split(void **state)
{
    (void)state;
    collected c;
    ms_tokenizer t;
    run("hello spark  streaming\ttest\n", 1000, 100, &c, &t);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.words[0], "hello");
    assert_string_equal(c.words[1], "spark");
    assert_string_equal(c.words[2], "streaming");
    assert_string_equal(c.words[3], "test");
    assert_int_equal(t.base.lines, 1);
    ms_tokenizer_free(&t);
}

static void test_all_whitespace_kinds(void **state)
{
    (void)state;
    collected c;
    ms_tokenizer t;
    run(" \t\v\f\r\na\vb\fc\rd\n\n", 1000, 100, &c, &t);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.words[3], "d");
    assert_int_equal(t.base.lines, 3);
    ms_tokenizer_free(&t);
}

static void test_case_and_punctuation_kept(void **state)
{
    (void)state;
    collected c;
    ms_tokenizer t;
    run("Spark spark SPARK, \"quoted\"\n", 1000, 100, &c, &t);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.words[0], "Spark");
    assert_string_equal(c.words[2], "SPARK,");
    assert_string_equal(c.words[3], "\"quoted\"");
    ms_tokenizer_free(&t);
}

static void test_chunk_boundaries_every_size(void **state)
{
    (void)state;
    const char *text = "alpha beta  gamma\ndelta epsilon\n zeta\n";
    for (size_t chunk = 1; chunk <= strlen(text); chunk++) {
        collected c;
        ms_tokenizer t;
        run(text, chunk, 100, &c, &t);
        assert_int_equal(c.n, 6);
        assert_string_equal(c.words[0], "alpha");
        assert_string_equal(c.words[2], "gamma");
        assert_string_equal(c.words[4], "epsilon");
        assert_string_equal(c.words[5], "zeta");
        assert_int_equal(t.base.lines, 3);
        ms_tokenizer_free(&t);
    }
}

static void test_overlong_words_dropped_and_counted(void **state)
{
    (void)state;
    for (size_t chunk = 1; chunk <= 12; chunk++) {
        collected c;
        ms_tokenizer t;
        /* max 5: "12345" is kept, "123456" and "abcdefghij" are dropped */
        run("ok 12345 123456 abcdefghij end\n", chunk, 5, &c, &t);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.words[0], "ok");
        assert_string_equal(c.words[1], "12345");
        assert_string_equal(c.words[2], "end");
        assert_int_equal(t.base.malformed[MS_MALFORMED_WORD_TOO_LONG], 2);
        ms_tokenizer_free(&t);
    }
}

static void test_binary_bytes_are_word_bytes(void **state)
{
    (void)state;
    collected c;
    ms_tokenizer t;
    run("caf\xc3\xa9 \xff\xfe x\x01y\n", 1000, 100, &c, &t);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.words[0], "caf\xc3\xa9");
    assert_string_equal(c.words[1], "\xff\xfe");
    assert_string_equal(c.words[2], "x\x01y");
    ms_tokenizer_free(&t);
}

static void test_empty_input(void **state)
{
    (void)state;
    collected c;
    ms_tokenizer t;
    run("", 1, 10, &c, &t);
    assert_int_equal(c.n, 0);
    assert_int_equal(t.base.lines, 0);
    ms_tokenizer_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_split),
        cmocka_unit_test(test_all_whitespace_kinds),
        cmocka_unit_test(test_case_and_punctuation_kept),
        cmocka_unit_test(test_chunk_boundaries_every_size),
        cmocka_unit_test(test_overlong_words_dropped_and_counted),
        cmocka_unit_test(test_binary_bytes_are_word_bytes),
        cmocka_unit_test(test_empty_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
