/* Fuzz the checkpoint record decoders.  The first byte picks the record
 * type ('T': a totals record, 'N': a group count, 'K': the counters;
 * otherwise its value
 * mod 4).  Whatever
 * decodes must re-encode to the same bytes (the encoding is canonical), so
 * a decoder can neither invent nor lose a field. */
#include <string.h>

#include "fuzz.h"
#include "state/ms_codec.h"

struct totals {
    ms_buf rows; /* varint klen, key, varint vlen, value per row */
    size_t n;
};

static int totals_row(void *ud, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct totals *t = ud;
    ms_codec_put_varint(&t->rows, klen);
    ms_buf_append(&t->rows, key, klen);
    ms_codec_put_varint(&t->rows, vlen);
    ms_buf_append(&t->rows, val, vlen);
    t->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t kind = data[0] == 'T' || data[0] == 'N' || data[0] == 'K' ? data[0] : data[0] % 4;
    data++;
    size--;
    ms_buf b = MS_BUF_INIT;
    switch (kind) {
    case 'N': {
        uint64_t g;
        if (ms_codec_decode_groups(data, size, &g) == 0) {
            ms_codec_encode_groups(&b, g);
            FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
        }
        break;
    }
    case 'K': {
        ms_counters_rec c;
        if (ms_codec_decode_counters(data, size, &c) == 0) {
            ms_codec_encode_counters(&b, &c);
            FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
        }
        break;
    }
    case 'T': {
        struct totals t = {MS_BUF_INIT, 0};
        uint64_t groups;
        if (ms_codec_decode_totals(data, size, &groups, totals_row, &t) == 0) {
            /* the rows again, through the encoder */
            const uint8_t *p = (const uint8_t *)t.rows.data, *end = p + t.rows.len;
            ms_codec_totals_begin(&b, groups, t.n);
            for (size_t i = 0; i < t.n; i++) {
                uint64_t kl, vl;
                FUZZ_CHECK(ms_codec_get_varint(&p, end, &kl) == 0);
                const uint8_t *k = p;
                p += kl;
                FUZZ_CHECK(ms_codec_get_varint(&p, end, &vl) == 0);
                ms_codec_totals_add(&b, k, (size_t)kl, p, (size_t)vl);
                p += vl;
            }
            FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
        }
        ms_buf_free(&t.rows);
        break;
    }
    case 0: {
        ms_plan p;
        if (ms_codec_decode_plan(data, size, &p) == 0) {
            ms_codec_encode_plan(&b, &p);
            ms_plan q;
            FUZZ_CHECK(ms_codec_decode_plan((const uint8_t *)b.data, b.len, &q) == 0);
            FUZZ_CHECK(q.n == p.n && q.batch_id == p.batch_id);
            for (size_t i = 0; i < p.n; i++)
                FUZZ_CHECK(q.items[i].end == p.items[i].end &&
                           q.items[i].pos.btime_ns == p.items[i].pos.btime_ns &&
                           q.items[i].pos.tail_len == p.items[i].pos.tail_len &&
                           q.items[i].pos.tail_hash == p.items[i].pos.tail_hash &&
                           strcmp(q.items[i].pos.name, p.items[i].pos.name) == 0);
            ms_plan_free(&q);
            ms_plan_free(&p);
        }
        break;
    }
    case 1: {
        /* key: 22 bytes taken from the input when there are enough */
        ms_buf k = MS_BUF_INIT;
        ms_codec_key_position(&k, 0, 0);
        size_t take = size >= 16 ? 16 : 0;
        memcpy(k.data + 6, data, take);
        ms_filepos fp;
        if (ms_codec_decode_filepos((const uint8_t *)k.data, k.len, data + take, size - take,
                                    &fp) == 0) {
            ms_codec_encode_filepos(&b, &fp);
            if (data[take] == 2) { /* the current version: canonical */
                FUZZ_CHECK(b.len == size - take && memcmp(b.data, data + take, b.len) == 0);
            } else { /* version 1 is read, and written again as 2 with the same fields */
                ms_filepos q;
                FUZZ_CHECK(ms_codec_decode_filepos((const uint8_t *)k.data, k.len,
                                                   (const uint8_t *)b.data, b.len, &q) == 0);
                FUZZ_CHECK(q.offset == fp.offset && q.mark_len == fp.mark_len &&
                           q.mark_hash == fp.mark_hash && q.flags == fp.flags && q.btime_ns == 0 &&
                           q.tail_len == 0 && strcmp(q.name, fp.name) == 0);
                ms_filepos_free(&q);
            }
            FUZZ_CHECK(fp.tail_len <= fp.offset && fp.mark_len <= fp.offset);
            ms_filepos_free(&fp);
        }
        ms_buf_free(&k);
        break;
    }
    case 2: {
        ms_batch_rec r;
        if (ms_codec_decode_batch(data, size, &r) == 0) {
            ms_codec_encode_batch(&b, &r);
            FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
        }
        break;
    }
    default: {
        int64_t v;
        if (ms_codec_decode_count(data, size, &v) == 0) {
            ms_codec_encode_count(&b, v);
            int64_t w;
            FUZZ_CHECK(ms_codec_decode_count((const uint8_t *)b.data, b.len, &w) == 0 && w == v);
        }
        break;
    }
    }
    ms_buf_free(&b);
    return 0;
}
