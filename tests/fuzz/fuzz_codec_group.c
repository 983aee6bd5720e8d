/* Fuzz group mode's record parsers (state/ms_codec_group.h) and what reads
 * records of the internal topics into a task (engine/ms_gtask.h): the
 * first byte picks the parser.  Whatever decodes re-encodes to the same
 * record (no field invented or lost); a record fed to a stage-2 task of a
 * real statement either decodes or is refused, never crashes, and a commit
 * afterwards hands every change it makes to the changelog as records the
 * codec reads back. */
#include <string.h>

#include "engine/ms_gtask.h"
#include "fuzz.h"
#include "mstream/mstream.h"
#include "sql/ms_sql.h"
#include "state/ms_codec_group.h"

static ms_sql_program *prog;

static const char *const QUERIES =
    "CREATE QUERY hourly AS SELECT window_start, scheduling_class, event_type, COUNT(*) AS n "
    "FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE "
    "GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type EMIT APPEND;"
    "CREATE QUERY aggs AS SELECT user, SUM(priority) AS s, MIN(cpu_request) AS lo, "
    "MAX(cpu_request) AS hi, AVG(memory_request) AS m, COUNT(machine_id) AS c "
    "FROM task_events GROUP BY user;"
    "CREATE QUERY words AS SELECT word, COUNT(*) AS n FROM words GROUP BY word;";

static int cl_check(void *ud, ms_gtask *t, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)ud;
    (void)t;
    ms_gcl r;
    FUZZ_CHECK(ms_gcodec_decode_cl(k, kl, v, vl, &r) == 0);
    return 0;
}

static void feed_task(const ms_sql_stmt *st, const uint8_t *data, size_t size)
{
    ms_gtask t;
    ms_gtask_init(&t, st, 0, 5.0);
    t.restoring = 0;
    /* Records: u8 key length, key, u8 value length, value, repeated. */
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 2) {
        size_t kl = *p++;
        if (kl > (size_t)(end - p))
            kl = (size_t)(end - p);
        const uint8_t *k = p;
        p += kl;
        if (p >= end)
            break;
        size_t vl = *p++;
        if (vl > (size_t)(end - p))
            vl = (size_t)(end - p);
        const uint8_t *v = p;
        p += vl;
        ms_gtask_feed(&t, k, kl, v, vl, 1.0);
    }
    ms_gtask_sink sink = {NULL, cl_check, NULL};
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    FUZZ_CHECK(ms_gtask_commit(&t, NULL, 0, 100.0, &sink, wb) == 0);
    ms_ckpt_batch_free(wb);
    ms_gtask_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!prog) {
        char err[512];
        if (ms_sql_parse(QUERIES, strlen(QUERIES), NULL, "fuzz", &prog, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_codec_group: %s\n", err);
            abort();
        }
    }
    if (size < 1)
        return 0;
    uint8_t kind = data[0] % 6;
    data++;
    size--;
    ms_buf b = MS_BUF_INIT;
    switch (kind) {
    case 0: { /* a repartition record's value */
        ms_grec r;
        if (ms_gcodec_decode_rep(data, size, &r) == 0) {
            if (r.type == MS_GREC_PARTIAL)
                ms_gcodec_partial(&b, r.rows, r.accs, r.alen);
            else
                ms_gcodec_watermark(&b, r.max_event);
            /* Varints may be written longer than needed: compare what the
             * re-encoding decodes to. */
            ms_grec q;
            FUZZ_CHECK(ms_gcodec_decode_rep((const uint8_t *)b.data, b.len, &q) == 0);
            FUZZ_CHECK(q.type == r.type && q.rows == r.rows && q.alen == r.alen &&
                       q.max_event == r.max_event);
            FUZZ_CHECK(!r.alen || memcmp(q.accs, r.accs, r.alen) == 0);
        }
        break;
    }
    case 1:
    case 2: { /* a changelog record: u8 key length, key, value (kind 2: a tombstone) */
        if (size < 1)
            break;
        size_t kl = data[0] < size - 1 ? data[0] : size - 1;
        const uint8_t *k = data + 1, *v = kind == 2 ? NULL : data + 1 + kl;
        size_t vl = kind == 2 ? 0 : size - 1 - kl;
        ms_gcl r;
        if (ms_gcodec_decode_cl(k, kl, v, vl, &r) == 0) {
            ms_buf kb = MS_BUF_INIT;
            if (r.type == MS_GCL_ENTRY)
                ms_gcodec_cl_entry_key(&kb, r.key, r.klen);
            else
                ms_gcodec_cl_progress_key(&kb);
            FUZZ_CHECK(kb.len == kl && memcmp(kb.data, k, kl) == 0);
            if (r.val) {
                ms_gcodec_cl_value(&b, r.val, r.vlen);
                FUZZ_CHECK(b.len == vl && memcmp(b.data, v, vl) == 0);
            } else {
                FUZZ_CHECK(!v && r.type == MS_GCL_ENTRY);
            }
            ms_buf_free(&kb);
        }
        break;
    }
    case 3: { /* the cache's offset record, and offset metadata */
        int64_t next;
        if (ms_gcodec_decode_offset(data, size, &next) == 0) {
            FUZZ_CHECK(next >= 0);
            ms_gcodec_offset_value(&b, next);
            int64_t again;
            FUZZ_CHECK(ms_gcodec_decode_offset((const uint8_t *)b.data, b.len, &again) == 0);
            FUZZ_CHECK(again == next);
        }
        char meta[64];
        size_t n = size < sizeof(meta) - 1 ? size : sizeof(meta) - 1;
        memcpy(meta, data, n);
        meta[n] = '\0';
        int64_t cl = ms_gcodec_parse_meta(meta);
        if (cl >= 0) {
            char again[64];
            ms_gcodec_meta(again, sizeof(again), cl);
            FUZZ_CHECK(ms_gcodec_parse_meta(again) == cl);
        }
        break;
    }
    case 4: /* records fed to a task of each statement, then committed */
        for (size_t i = 0; i < prog->nstmts; i++)
            feed_task(&prog->stmts[i], data, size);
        break;
    case 5: { /* a task's progress record */
        ms_exec x;
        ms_exec_init(&x, &prog->stmts[0]);
        if (ms_exec_decode_progress(&x, data, size, 0) == 0) {
            ms_exec_encode_progress(&x, &b);
            ms_exec y;
            ms_exec_init(&y, &prog->stmts[0]);
            FUZZ_CHECK(ms_exec_decode_progress(&y, (const uint8_t *)b.data, b.len, 0) == 0);
            FUZZ_CHECK(y.watermark == x.watermark && y.max_event == x.max_event &&
                       y.wm.n == x.wm.n);
            ms_exec_free(&y);
        }
        ms_exec_free(&x);
        break;
    }
    }
    ms_buf_free(&b);
    return 0;
}
