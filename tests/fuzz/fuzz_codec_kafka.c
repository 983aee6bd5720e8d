/* Fuzz the Kafka source's parsers: the checkpoint records of
 * ms_codec_kafka.h and the --starting-offsets text.  The first byte picks
 * the parser.  Record encodings are canonical, so whatever decodes must
 * re-encode to exactly the input bytes (a decoder can neither invent nor
 * lose a field), and a decoded plan must satisfy the invariants a re-run
 * relies on (sorted, unique partitions, start <= end). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mstream/mstream.h"
#include "source/ms_kafkasrc.h"
#include "state/ms_codec_kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t kind = data[0] % 3;
    data++;
    size--;
    ms_buf b = MS_BUF_INIT;
    switch (kind) {
    case 0: {
        ms_kafka_plan p;
        if (ms_codec_decode_kafka_plan(data, size, &p) == 0) {
            for (size_t i = 0; i < p.n; i++) {
                const ms_kafka_range *r = &p.items[i];
                FUZZ_CHECK(r->start >= 0 && r->start <= r->end && r->partition >= 0);
                FUZZ_CHECK(ms_codec_kafka_topic_valid(r->topic, strlen(r->topic)));
                FUZZ_CHECK(i == 0 || ms_kafka_tp_cmp(p.items[i - 1].topic, p.items[i - 1].partition,
                                                     r->topic, r->partition) < 0);
            }
            ms_codec_encode_kafka_plan(&b, &p);
            if (data[0] == MS_KAFKA_PLAN_VERSION2) { /* the current version is canonical */
                FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
            } else { /* 'K' plans are read, and written again as 'L' with no flags */
                ms_kafka_plan q;
                FUZZ_CHECK(ms_codec_decode_kafka_plan((const uint8_t *)b.data, b.len, &q) == 0);
                FUZZ_CHECK(q.n == p.n);
                for (size_t i = 0; i < p.n; i++)
                    FUZZ_CHECK(q.items[i].start == p.items[i].start &&
                               q.items[i].end == p.items[i].end && q.items[i].flags == 0);
                ms_kafka_plan_free(&q);
            }
            ms_kafka_plan_free(&p);
        } else {
            FUZZ_CHECK(p.n == 0 && p.items == NULL);
        }
        break;
    }
    case 1: {
        /* the next byte: key length; then the key, then the value */
        if (size < 1)
            break;
        size_t kl = data[0] < size - 1 ? data[0] : size - 1;
        const uint8_t *k = data + 1, *v = data + 1 + kl;
        size_t vl = size - 1 - kl;
        ms_kafka_pos pos;
        if (ms_codec_decode_kafka_pos(k, kl, v, vl, &pos) == 0) {
            FUZZ_CHECK(pos.partition >= 0 && pos.offset >= 0);
            ms_codec_key_kafka_pos(&b, pos.topic, pos.partition);
            FUZZ_CHECK(b.len == kl && memcmp(b.data, k, kl) == 0);
            ms_buf_reset(&b);
            ms_codec_encode_kafka_pos(&b, pos.offset, pos.mark_offset, pos.mark_hash);
            FUZZ_CHECK(pos.mark_offset >= -1 && pos.mark_offset < pos.offset);
            if (vl && v[0] == 2) /* the current version is canonical */
                FUZZ_CHECK(b.len == vl && memcmp(b.data, v, vl) == 0);
            else /* version 1: the offset alone, written again as 2 */
                FUZZ_CHECK(pos.mark_offset == -1);
            ms_kafka_pos_free(&pos);
        } else {
            FUZZ_CHECK(pos.topic == NULL);
        }
        break;
    }
    default: {
        /* --starting-offsets text (a C string: stop at the first NUL) */
        char *spec = malloc(size + 1);
        memcpy(spec, data, size);
        spec[size] = '\0';
        char err[256] = "";
        ms_kafka_start *v = NULL;
        size_t n = 0;
        int rc = ms_kafkasrc_parse_offsets(spec, &v, &n, err, sizeof(err));
        if (rc == 0) {
            FUZZ_CHECK(n >= 1 || strchr(spec, '{'));
            for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(v[i].offset >= MS_KAFKA_OFFSET_EARLIEST);
                FUZZ_CHECK(v[i].topic ? v[i].partition >= 0 : v[i].partition == -1);
                for (size_t j = 0; j < i; j++) /* no partition given twice */
                    FUZZ_CHECK(!(v[i].topic && v[j].topic && v[i].partition == v[j].partition &&
                                 strcmp(v[i].topic, v[j].topic) == 0));
            }
        } else {
            FUZZ_CHECK(rc == MS_EUSAGE && err[0] && v == NULL && n == 0);
        }
        ms_kafkasrc_starts_free(v, n);
        free(spec);
        break;
    }
    }
    ms_buf_free(&b);
    return 0;
}
