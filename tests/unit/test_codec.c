/* Checkpoint record codec: round trips and rejection of corrupt records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mstream/mstream.h"
#include "state/ms_codec.h"

static void test_varint_round_trip(void **state)
{
    (void)state;
    const uint64_t vals[] = {0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        ms_buf b = MS_BUF_INIT;
        ms_codec_put_varint(&b, vals[i]);
        const uint8_t *p = (const uint8_t *)b.data;
        uint64_t out;
        assert_int_equal(ms_codec_get_varint(&p, p + b.len, &out), 0);
        assert_true(out == vals[i]);
        assert_ptr_equal(p, (const uint8_t *)b.data + b.len);
        /* every truncation fails */
        for (size_t k = 0; k < b.len; k++) {
            p = (const uint8_t *)b.data;
            assert_int_equal(ms_codec_get_varint(&p, p + k, &out), MS_ECORRUPT);
        }
        ms_buf_free(&b);
    }
    /* 11 continuation bytes: overlong */
    const uint8_t bad[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t *p = bad;
    uint64_t out;
    assert_int_equal(ms_codec_get_varint(&p, bad + 11, &out), MS_ECORRUPT);
}

static void test_count_round_trip(void **state)
{
    (void)state;
    const int64_t vals[] = {0, 1, -1, 2, 1000000, -1000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        ms_buf b = MS_BUF_INIT;
        ms_codec_encode_count(&b, vals[i]);
        int64_t out;
        assert_int_equal(ms_codec_decode_count((const uint8_t *)b.data, b.len, &out), 0);
        assert_true(out == vals[i]);
        ms_buf_free(&b);
    }
}

static void test_filepos_round_trip(void **state)
{
    (void)state;
    ms_filepos fp = {.dev = 0x801,
                     .ino = 123456789,
                     .offset = 4096,
                     .mark_len = 256,
                     .mark_hash = 0xdeadbeefcafef00dull,
                     .flags = 0,
                     .name = "batch1.txt"};
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    ms_codec_key_position(&k, fp.dev, fp.ino);
    ms_codec_encode_filepos(&v, &fp);
    ms_filepos out;
    assert_int_equal(ms_codec_decode_filepos((const uint8_t *)k.data, k.len,
                                             (const uint8_t *)v.data, v.len, &out),
                     0);
    assert_true(out.dev == fp.dev && out.ino == fp.ino && out.offset == fp.offset);
    assert_true(out.mark_len == fp.mark_len && out.mark_hash == fp.mark_hash);
    assert_string_equal(out.name, "batch1.txt");
    ms_filepos_free(&out);
    for (size_t cut = 0; cut < v.len; cut++)
        assert_int_equal(ms_codec_decode_filepos((const uint8_t *)k.data, k.len,
                                                 (const uint8_t *)v.data, cut, &out),
                         MS_ECORRUPT);
    /* a marker longer than the consumed bytes is impossible */
    ms_buf_reset(&v);
    fp.mark_len = fp.offset + 1;
    ms_codec_encode_filepos(&v, &fp);
    assert_int_equal(ms_codec_decode_filepos((const uint8_t *)k.data, k.len,
                                             (const uint8_t *)v.data, v.len, &out),
                     MS_ECORRUPT);
    ms_buf_free(&k);
    ms_buf_free(&v);
}

static void test_plan_round_trip(void **state)
{
    (void)state;
    ms_plan_item items[2] = {
        {.pos = {.dev = 1, .ino = 2, .offset = 0, .mark_len = 100, .name = "a.txt"}, .end = 100},
        {.pos = {.dev = 1,
                 .ino = 3,
                 .offset = 50,
                 .mark_len = 50,
                 .mark_hash = 9,
                 .flags = MS_FPOS_RESTART,
                 .name = "b.txt"},
         .end = 70},
    };
    ms_plan p = {.batch_id = 42, .created_wall = 1700000000.5, .n = 2, .items = items};
    ms_buf v = MS_BUF_INIT;
    ms_codec_encode_plan(&v, &p);
    ms_plan out;
    assert_int_equal(ms_codec_decode_plan((const uint8_t *)v.data, v.len, &out), 0);
    assert_int_equal(out.batch_id, 42);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.items[1].pos.name, "b.txt");
    assert_int_equal(out.items[1].pos.offset, 50);
    assert_int_equal(out.items[1].end, 70);
    assert_int_equal(out.items[1].pos.flags, MS_FPOS_RESTART);
    assert_int_equal(out.items[0].pos.mark_len, 100); /* marker of the new end, past the start */
    ms_plan_free(&out);
    for (size_t cut = 0; cut < v.len; cut++)
        assert_int_equal(ms_codec_decode_plan((const uint8_t *)v.data, cut, &out), MS_ECORRUPT);
    /* trailing garbage */
    ms_buf_putc(&v, 0);
    assert_int_equal(ms_codec_decode_plan((const uint8_t *)v.data, v.len, &out), MS_ECORRUPT);
    ms_buf_free(&v);
}

static void test_batch_record_and_versions(void **state)
{
    (void)state;
    ms_batch_rec r = {
        .batch_id = 7, .commit_ms = 1700000000123ull, .rows = 3, .bytes = 99, .files = 2};
    ms_buf v = MS_BUF_INIT;
    ms_codec_encode_batch(&v, &r);
    ms_batch_rec out;
    assert_int_equal(ms_codec_decode_batch((const uint8_t *)v.data, v.len, &out), 0);
    assert_memory_equal(&out, &r, sizeof(r));
    v.data[0] = 2; /* unknown record version */
    assert_int_equal(ms_codec_decode_batch((const uint8_t *)v.data, v.len, &out), MS_ECORRUPT);
    ms_buf_free(&v);
}

static void test_state_key_layout(void **state)
{
    (void)state;
    ms_buf k = MS_BUF_INIT;
    ms_codec_key_state(&k, "wordcount", (const uint8_t *)"sp\0rk", 5);
    assert_int_equal(k.len, 2 + 9 + 1 + 5);
    assert_memory_equal(k.data, "s:wordcount:sp\0rk", k.len);
    ms_buf_free(&k);
}

static void test_counters_round_trip_and_damage(void **state)
{
    (void)state;
    ms_counters_rec c = {.rows_in = 1ull << 40,
                         .rows_filtered = 2,
                         .rows_late = 3,
                         .rows_no_time = 4,
                         .rows_agg = 5,
                         .evicted = 6,
                         .windows_closed = 7,
                         .nmalformed = 3,
                         .malformed = {8, 0, 9}};
    ms_buf v = MS_BUF_INIT;
    ms_codec_encode_counters(&v, &c);
    ms_counters_rec out;
    assert_int_equal(ms_codec_decode_counters((const uint8_t *)v.data, v.len, &out), 0);
    assert_memory_equal(&out, &c, sizeof(c));
    /* cut short, a byte too many, an unknown version, too many reasons */
    assert_int_equal(ms_codec_decode_counters((const uint8_t *)v.data, v.len - 1, &out),
                     MS_ECORRUPT);
    ms_buf_putc(&v, 0);
    assert_int_equal(ms_codec_decode_counters((const uint8_t *)v.data, v.len, &out), MS_ECORRUPT);
    v.data[0] = 2;
    assert_int_equal(ms_codec_decode_counters((const uint8_t *)v.data, v.len - 1, &out),
                     MS_ECORRUPT);
    ms_buf_reset(&v);
    const uint8_t many[] = {1, 0, 0, 0, 0, 0, 0, 0, MS_CODEC_MAX_REASONS + 1};
    assert_int_equal(ms_codec_decode_counters(many, sizeof(many), &out), MS_ECORRUPT);
    ms_buf k = MS_BUF_INIT;
    ms_codec_key_counters(&k, "hourly");
    assert_int_equal(k.len, 8);
    assert_memory_equal(k.data, "k:hourly", 8);
    ms_buf_free(&k);
    ms_buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_round_trip),
        cmocka_unit_test(test_count_round_trip),
        cmocka_unit_test(test_filepos_round_trip),
        cmocka_unit_test(test_plan_round_trip),
        cmocka_unit_test(test_batch_record_and_versions),
        cmocka_unit_test(test_state_key_layout),
        cmocka_unit_test(test_counters_round_trip_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
