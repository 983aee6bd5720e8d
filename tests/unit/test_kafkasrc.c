/*
 * The Kafka source against librdkafka's mock cluster (3 brokers, real
 * Kafka protocol over loopback sockets) and a real RocksDB checkpoint.
 *
 * Every message produced carries its own identity: value
 * "<topic>:<partition>:<offset>" (padded with '.' for big ones), key
 * "k<offset>" on even offsets and none on odd ones, timestamp TS_BASE_MS +
 * offset.  The collector checks each delivered message against that and
 * checks that every partition's offsets arrive consecutively from where
 * they should start: a lost, duplicated or reordered message fails the
 * test, whatever faults were injected.
 *
 * Every wait is bounded: reads take a stop flag that a stopper thread sets
 * after READ_LIMIT_SEC, and broker flips happen on a helper thread with a
 * bounded sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "source/ms_kafkasrc.h"

#include "kafka_mock.h"
#include "state/ms_codec.h"
#include "state/ms_codec_kafka.h"

#define TS_BASE_MS     1600000000000LL
#define READ_LIMIT_SEC 60.0
#define MAXTP          16
#define NBROKERS       3

/* Kafka protocol ApiKeys (librdkafka keeps them in a private header). */
#define API_FETCH       1
#define API_LISTOFFSETS 2
#define API_METADATA    3

/* ------------------------------------------------------------- collector */

typedef struct rec {
    char topic[32];
    int32_t part;
    int64_t off;
} rec;

typedef struct collector {
    struct {
        char topic[32];
        int32_t part;
        int64_t next;
    } tp[MAXTP];
    size_t ntp;
    uint64_t n;
    char err[512]; /* the first problem seen */
    rec *log;
    size_t nlog, caplog;
    /* called after each message (fault injection in the middle of a read) */
    void (*hook)(struct collector *c, void *ud);
    void *hook_ud;
} collector;

static void col_fail(collector *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void col_fail(collector *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

static int64_t *col_next(collector *c, const char *topic, size_t tl, int32_t part)
{
    for (size_t i = 0; i < c->ntp; i++)
        if (c->tp[i].part == part && strlen(c->tp[i].topic) == tl &&
            memcmp(c->tp[i].topic, topic, tl) == 0)
            return &c->tp[i].next;
    if (c->ntp == MAXTP || tl >= sizeof(c->tp[0].topic))
        return NULL;
    memcpy(c->tp[c->ntp].topic, topic, tl);
    c->tp[c->ntp].topic[tl] = '\0';
    c->tp[c->ntp].part = part;
    c->tp[c->ntp].next = -1; /* first message sets it unless col_expect did */
    return &c->tp[c->ntp++].next;
}

/* The next offset that must arrive for (topic, part). */
static void col_expect(collector *c, const char *topic, int32_t part, int64_t off)
{
    *col_next(c, topic, strlen(topic), part) = off;
}

static int64_t col_get(collector *c, const char *topic, int32_t part)
{
    return *col_next(c, topic, strlen(topic), part);
}

static void on_msg(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len)
{
    collector *c = ud;
    c->n++;
    if (meta[MS_META_TOPIC].type != MS_TYPE_STRING || meta[MS_META_PARTITION].type != MS_TYPE_INT ||
        meta[MS_META_OFFSET].type != MS_TYPE_INT) {
        col_fail(c, "metadata columns of the wrong type");
        return;
    }
    const char *topic = (const char *)meta[MS_META_TOPIC].s.p;
    size_t tl = meta[MS_META_TOPIC].s.n;
    int32_t part = (int32_t)meta[MS_META_PARTITION].i;
    int64_t off = meta[MS_META_OFFSET].i;
    char want[96];
    int wl =
        snprintf(want, sizeof(want), "%.*s:%d:%lld", (int)tl, topic, (int)part, (long long)off);
    if (len < (size_t)wl || memcmp(value, want, (size_t)wl) != 0 ||
        (len > (size_t)wl && value[wl] != '.'))
        col_fail(c, "message at %s has value \"%.*s\"", want, (int)(len < 60 ? len : 60), value);
    if (meta[MS_META_TIMESTAMP].type != MS_TYPE_TIMESTAMP ||
        meta[MS_META_TIMESTAMP].i != (TS_BASE_MS + off) * 1000)
        col_fail(c, "message at %s has timestamp %lld", want, (long long)meta[MS_META_TIMESTAMP].i);
    if (off % 2 == 0) {
        char k[32];
        int kl = snprintf(k, sizeof(k), "k%lld", (long long)off);
        if (meta[MS_META_KEY].type != MS_TYPE_STRING || meta[MS_META_KEY].s.n != (size_t)kl ||
            memcmp(meta[MS_META_KEY].s.p, k, (size_t)kl) != 0)
            col_fail(c, "message at %s has the wrong key", want);
    } else if (meta[MS_META_KEY].type != MS_TYPE_NULL) {
        col_fail(c, "message at %s should have no key", want);
    }
    int64_t *next = col_next(c, topic, tl, part);
    if (!next) {
        col_fail(c, "too many partitions");
        return;
    }
    if (*next >= 0 && off != *next)
        col_fail(c, "%.*s partition %d: offset %lld arrived, %lld expected", (int)tl, topic,
                 (int)part, (long long)off, (long long)*next);
    *next = off + 1;
    if (c->nlog == c->caplog) {
        c->caplog = c->caplog ? c->caplog * 2 : 1024;
        c->log = realloc(c->log, c->caplog * sizeof(rec));
    }
    rec *r = &c->log[c->nlog++];
    snprintf(r->topic, sizeof(r->topic), "%.*s", (int)tl, topic);
    r->part = part;
    r->off = off;
    if (c->hook)
        c->hook(c, c->hook_ud);
}

static void col_free(collector *c)
{
    free(c->log);
    memset(c, 0, sizeof(*c));
}

/* --------------------------------------------------------------- fixture */

typedef struct fixture {
    kmock k;
    int dr_failed;
    struct {
        char topic[32];
        int32_t part;
        int64_t produced;
    } tp[MAXTP];
    size_t ntp;
    ms_kafkasrc *src;
    ms_kafkasrc_conf conf;
    const char *topics[4];
    const char *props[4];
    collector col;
} fixture;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    fixture *f = opaque;
    if (m->err)
        f->dr_failed++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    kmock_open(&f->k, "/tmp/ms_kafkasrc_XXXXXX", NBROKERS, on_dr, f);

    f->conf.brokers = f->k.boot;
    f->conf.topics = f->topics;
    f->conf.props = f->props;
    f->conf.starting_offsets = "earliest";
    f->conf.fail_on_data_loss = 1;
    f->conf.timeout_ms = 2000;
    f->conf.ckpt_dir = f->k.chk;
    f->props[0] = "reconnect.backoff.max.ms=200";
    f->conf.nprops = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ms_kafkasrc_close(f->src);
    col_free(&f->col);
    kmock_close(&f->k);
    free(f);
    return 0;
}

static void create_topic(fixture *f, const char *topic, int partitions)
{
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, topic, partitions, NBROKERS), 0);
}

static int64_t *produced(fixture *f, const char *topic, int32_t part)
{
    for (size_t i = 0; i < f->ntp; i++)
        if (f->tp[i].part == part && strcmp(f->tp[i].topic, topic) == 0)
            return &f->tp[i].produced;
    assert_true(f->ntp < MAXTP);
    snprintf(f->tp[f->ntp].topic, sizeof(f->tp[0].topic), "%s", topic);
    f->tp[f->ntp].part = part;
    return &f->tp[f->ntp++].produced;
}

/* Produces n messages to (topic, part), values padded to pad bytes, a
 * flush every flush_every messages (each flush ends a message set). */
static void produce(fixture *f, const char *topic, int32_t part, int n, size_t pad, int flush_every)
{
    int64_t *cnt = produced(f, topic, part);
    char *val = malloc(pad + 96);
    for (int i = 0; i < n; i++) {
        int64_t off = (*cnt)++;
        int vl = snprintf(val, 96, "%s:%d:%lld", topic, (int)part, (long long)off);
        size_t len = (size_t)vl;
        if (pad > len) {
            memset(val + len, '.', pad - len);
            len = pad;
        }
        char key[32];
        int kl = snprintf(key, sizeof(key), "k%lld", (long long)off);
        const char *kp = off % 2 == 0 ? key : NULL;
        size_t klen = off % 2 == 0 ? (size_t)kl : 0;
        rd_kafka_resp_err_t err;
        do {
            err = rd_kafka_producev(f->k.prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                    RD_KAFKA_V_VALUE(val, len), RD_KAFKA_V_KEY(kp, klen),
                                    RD_KAFKA_V_TIMESTAMP(TS_BASE_MS + off),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(f->k.prod, 10);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        assert_int_equal(err, 0);
        if (flush_every && (i + 1) % flush_every == 0)
            assert_int_equal(rd_kafka_flush(f->k.prod, 10000), 0);
    }
    free(val);
    assert_int_equal(rd_kafka_flush(f->k.prod, 10000), 0);
    assert_int_equal(f->dr_failed, 0);
}

static void open_src(fixture *f)
{
    char err[512] = "";
    /* MS_KDEBUG=debug=fetch,broker adds librdkafka debugging (with
     * MS_TEST_DEBUG=1 to show it) */
    const char *props[8];
    ms_kafkasrc_conf c = f->conf;
    assert_true(c.nprops < 8);
    memcpy(props, c.props, c.nprops * sizeof(char *));
    if (getenv("MS_KDEBUG"))
        props[c.nprops++] = getenv("MS_KDEBUG");
    c.props = props;
    int rc = ms_kafkasrc_open(&c, f->k.ck, &f->src, err, sizeof(err));
    if (rc)
        fail_msg("open: %s", err);
}

static void reopen(fixture *f)
{
    ms_kafkasrc_close(f->src);
    f->src = NULL;
    open_src(f);
}

static int read_plan(fixture *f, const ms_kafka_plan *plan, char *err, size_t errsz)
{
    stopper st; /* no read can hang the suite */
    stopper_start(&st, READ_LIMIT_SEC);
    kmock_input kin;
    int rc = ms_kafkasrc_read(f->src, plan, kmock_input_init(&kin, on_msg, &f->col), &st.flag, err,
                              errsz);
    stopper_join(&st);
    if (st.flag)
        fail_msg("a read did not finish within %.0fs", READ_LIMIT_SEC);
    if (kin.mismatched)
        fail_msg("%llu messages came from another partition than the input was told",
                 (unsigned long long)kin.mismatched);
    return rc;
}

static void commit_plan(fixture *f, const ms_kafka_plan *plan)
{
    char err[512];
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    ms_kafkasrc_commit(f->src, plan, wb);
    assert_int_equal(ms_ckpt_commit(f->k.ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_kafkasrc_committed(f->src, plan);
}

/* One whole batch.  Returns the messages planned; *nitems the plan size. */
static uint64_t batch(fixture *f, size_t *nitems)
{
    ms_kafka_plan plan;
    char err[512] = "";
    int rc = ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err));
    if (rc)
        fail_msg("plan: %s", err);
    uint64_t want = ms_kafkasrc_plan_messages(&plan);
    uint64_t before = f->col.n;
    if (plan.n) {
        rc = read_plan(f, &plan, err, sizeof(err));
        if (rc)
            fail_msg("read: %s", err);
        commit_plan(f, &plan);
    }
    if (f->col.err[0])
        fail_msg("%s", f->col.err);
    assert_int_equal(f->col.n - before, want);
    if (nitems)
        *nitems = plan.n;
    ms_kafka_plan_free(&plan);
    return want;
}

/* Batches until a plan has nothing to read (bounded). */
static uint64_t drain(fixture *f, int max_batches)
{
    uint64_t total = 0;
    for (int i = 0; i < max_batches; i++) {
        uint64_t n = batch(f, NULL);
        if (n == 0)
            return total;
        total += n;
    }
    fail_msg("still reading after %d batches", max_batches);
    return total;
}

static const ms_kafka_part_stats *pstat(const ms_kafkasrc_stats *st, const char *topic, int32_t p)
{
    for (size_t i = 0; i < st->npart; i++)
        if (st->parts[i].partition == p && strcmp(st->parts[i].topic, topic) == 0)
            return &st->parts[i];
    return NULL;
}

static int64_t low_watermark(fixture *f, const char *topic, int32_t part)
{
    int64_t lo = -1, hi = -1;
    assert_int_equal(rd_kafka_query_watermark_offsets(f->k.prod, topic, part, &lo, &hi, 5000), 0);
    return lo;
}

/* ---------------------------------------------------------------- codec */

static void test_codec_positions(void **state)
{
    (void)state;
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    ms_codec_key_kafka_pos(&k, "task-events", 7);
    ms_codec_encode_kafka_pos(&v, 123456789, 123456788, 0xfeedfacecafebeefULL);
    ms_kafka_pos pos;
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     0);
    assert_string_equal(pos.topic, "task-events");
    assert_int_equal(pos.partition, 7);
    assert_int_equal(pos.offset, 123456789);
    assert_int_equal(pos.mark_offset, 123456788);
    assert_true(pos.mark_hash == 0xfeedfacecafebeefULL);
    ms_kafka_pos_free(&pos);
    /* version 1 (the offset alone) is read with no marker */
    {
        ms_buf v1 = MS_BUF_INIT;
        ms_buf_putc(&v1, 1);
        ms_codec_put_varint(&v1, 42);
        assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                                   (const uint8_t *)v1.data, v1.len, &pos),
                         0);
        assert_int_equal(pos.offset, 42);
        assert_int_equal(pos.mark_offset, -1);
        ms_kafka_pos_free(&pos);
        /* a marker at or beyond the position is refused */
        ms_buf_reset(&v1);
        ms_buf_putc(&v1, 2);
        ms_codec_put_varint(&v1, 42);
        ms_codec_put_varint(&v1, 43);
        ms_codec_put_varint(&v1, 7);
        assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                                   (const uint8_t *)v1.data, v1.len, &pos),
                         MS_ECORRUPT);
        ms_buf_free(&v1);
    }
    /* every truncation of the value or the key fails */
    for (size_t i = 0; i < v.len; i++)
        assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                                   (const uint8_t *)v.data, i, &pos),
                         MS_ECORRUPT);
    for (size_t i = 0; i < k.len; i++)
        assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, i,
                                                   (const uint8_t *)v.data, v.len, &pos),
                         MS_ECORRUPT);
    /* trailing bytes, another version, an offset beyond INT64_MAX */
    ms_buf_putc(&v, 0);
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     MS_ECORRUPT);
    ms_buf_reset(&v);
    ms_buf_putc(&v, 3);
    ms_codec_put_varint(&v, 5);
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     MS_ECORRUPT);
    ms_buf_reset(&v);
    ms_buf_putc(&v, 1);
    ms_codec_put_varint(&v, (uint64_t)INT64_MAX + 1);
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     MS_ECORRUPT);
    /* a topic name with a byte Kafka does not allow */
    ms_buf_reset(&k);
    ms_codec_key_kafka_pos(&k, "bad/topic", 0);
    ms_buf_reset(&v);
    ms_codec_encode_kafka_pos(&v, 1, -1, 0);
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     MS_ECORRUPT);
    /* a negative partition */
    ms_buf_reset(&k);
    ms_codec_key_kafka_pos(&k, "t", -1);
    assert_int_equal(ms_codec_decode_kafka_pos((const uint8_t *)k.data, k.len,
                                               (const uint8_t *)v.data, v.len, &pos),
                     MS_ECORRUPT);
    /* keys sort by topic, then partition (as plan items) */
    ms_buf a = MS_BUF_INIT, b = MS_BUF_INIT;
    ms_codec_key_kafka_pos(&a, "ab", 300);
    ms_codec_key_kafka_pos(&b, "abc", 1);
    assert_true(memcmp(a.data, b.data, a.len < b.len ? a.len : b.len) < 0);
    assert_true(ms_kafka_tp_cmp("ab", 300, "abc", 1) < 0);
    ms_buf_reset(&a);
    ms_buf_reset(&b);
    ms_codec_key_kafka_pos(&a, "t", 2);
    ms_codec_key_kafka_pos(&b, "t", 256);
    assert_true(memcmp(a.data, b.data, a.len) < 0);
    assert_true(ms_kafka_tp_cmp("t", 2, "t", 256) < 0);
    ms_buf_free(&a);
    ms_buf_free(&b);
    ms_buf_free(&k);
    ms_buf_free(&v);
}

static void test_codec_plan(void **state)
{
    (void)state;
    ms_kafka_range items[3] = {
        {"a", 0, 0, 10, 0}, {"a", 3, 5, 5, MS_KAFKA_RANGE_RESTART}, {"b-2", 1, 100, 1u << 30, 0}};
    ms_kafka_plan p = {.batch_id = 42, .created_ms = 1700000000123ull, .n = 3, .items = items};
    ms_buf b = MS_BUF_INIT;
    ms_kafkasrc_plan_encode(&p, &b);
    ms_kafka_plan q;
    assert_int_equal(ms_kafkasrc_plan_decode(b.data, b.len, &q), 0);
    assert_int_equal(q.batch_id, 42);
    assert_int_equal(q.created_ms, 1700000000123ull);
    assert_int_equal(q.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(q.items[i].topic, items[i].topic);
        assert_int_equal(q.items[i].partition, items[i].partition);
        assert_int_equal(q.items[i].start, items[i].start);
        assert_int_equal(q.items[i].end, items[i].end);
        assert_int_equal(q.items[i].flags, items[i].flags);
    }
    assert_int_equal(ms_kafkasrc_plan_messages(&q), 10 + (1u << 30) - 100);
    ms_kafka_plan_free(&q);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(ms_kafkasrc_plan_decode(b.data, i, &q), MS_ECORRUPT);

    /* duplicates and disorder would make a re-run read a range twice */
    ms_kafka_range dup[2] = {{"a", 1, 0, 10, 0}, {"a", 1, 10, 20, 0}};
    ms_kafka_range unsorted[2] = {{"b", 0, 0, 1, 0}, {"a", 0, 0, 1, 0}};
    ms_kafka_range backwards[1] = {{"a", 0, 10, 9, 0}};
    ms_kafka_range badname[1] = {{"a b", 0, 0, 1, 0}};
    struct {
        ms_kafka_range *it;
        size_t n;
    } bad[] = {{dup, 2}, {unsorted, 2}, {backwards, 1}, {badname, 1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms_kafka_plan x = {.batch_id = 1, .n = bad[i].n, .items = bad[i].it};
        ms_buf_reset(&b);
        ms_kafkasrc_plan_encode(&x, &b);
        assert_int_equal(ms_kafkasrc_plan_decode(b.data, b.len, &q), MS_ECORRUPT);
    }
    /* a directory-source plan (version 1) is not a Kafka plan */
    const uint8_t fileplan[] = {1, 0, 0, 0};
    assert_int_equal(ms_kafkasrc_plan_decode(fileplan, sizeof(fileplan), &q), MS_ECORRUPT);
    /* a plan of the first version ('K', no flags) is still read */
    ms_buf_reset(&b);
    ms_buf_putc(&b, (char)MS_KAFKA_PLAN_VERSION);
    ms_codec_put_varint(&b, 7);
    ms_codec_put_varint(&b, 1);
    ms_codec_put_varint(&b, 1);
    ms_codec_put_varint(&b, 1);
    ms_buf_putc(&b, 't');
    ms_codec_put_varint(&b, 0);
    ms_codec_put_varint(&b, 3);
    ms_codec_put_varint(&b, 9);
    assert_int_equal(ms_kafkasrc_plan_decode(b.data, b.len, &q), 0);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.items[0].start, 3);
    assert_int_equal(q.items[0].flags, 0);
    ms_kafka_plan_free(&q);
    /* unknown flags are refused */
    ms_kafka_range odd[1] = {{"a", 0, 0, 1, 0x80}};
    ms_kafka_plan x = {.batch_id = 1, .n = 1, .items = odd};
    ms_buf_reset(&b);
    ms_kafkasrc_plan_encode(&x, &b);
    assert_int_equal(ms_kafkasrc_plan_decode(b.data, b.len, &q), MS_ECORRUPT);
    /* a huge item count in a short record is refused before allocating */
    ms_buf_reset(&b);
    ms_buf_putc(&b, (char)MS_KAFKA_PLAN_VERSION);
    ms_codec_put_varint(&b, 1);
    ms_codec_put_varint(&b, 1);
    ms_codec_put_varint(&b, 1u << 19);
    assert_int_equal(ms_kafkasrc_plan_decode(b.data, b.len, &q), MS_ECORRUPT);
    ms_buf_free(&b);

    assert_true(ms_codec_kafka_topic_valid("Task_events.v2-x", 16));
    assert_false(ms_codec_kafka_topic_valid("", 0));
    assert_false(ms_codec_kafka_topic_valid("a\0b", 3));
    char longname[251];
    memset(longname, 'x', 250);
    longname[250] = 0;
    assert_true(ms_codec_kafka_topic_valid(longname, 249));
    assert_false(ms_codec_kafka_topic_valid(longname, 250));
}

static void test_parse_offsets(void **state)
{
    (void)state;
    char err[512];
    ms_kafka_start *v;
    size_t n;
    assert_int_equal(ms_kafkasrc_parse_offsets("earliest", &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_null(v[0].topic);
    assert_int_equal(v[0].offset, MS_KAFKA_OFFSET_EARLIEST);
    ms_kafkasrc_starts_free(v, n);
    assert_int_equal(ms_kafkasrc_parse_offsets(NULL, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(v[0].offset, MS_KAFKA_OFFSET_LATEST);
    ms_kafkasrc_starts_free(v, n);

    assert_int_equal(
        ms_kafkasrc_parse_offsets(
            " {\"t1\": {\"0\": 23, \"1\": -2, \"10\": -1}, \"t.2\":{}, \"x\":{\"7\":0}} ", &v, &n,
            err, sizeof(err)),
        0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].topic, "t1");
    assert_int_equal(v[0].partition, 0);
    assert_int_equal(v[0].offset, 23);
    assert_int_equal(v[1].partition, 1);
    assert_int_equal(v[1].offset, MS_KAFKA_OFFSET_EARLIEST);
    assert_int_equal(v[2].partition, 10);
    assert_int_equal(v[2].offset, MS_KAFKA_OFFSET_LATEST);
    assert_string_equal(v[3].topic, "x");
    assert_int_equal(v[3].partition, 7);
    assert_int_equal(v[3].offset, 0);
    ms_kafkasrc_starts_free(v, n);

    const char *bad[] = {
        "oldest",
        "{",
        "{\"t\":{\"0\":1}",
        "{\"t\":{\"0\":-3}}",
        "{\"t\":{\"a\":1}}",
        "{\"t\":{\"01\":1}}",
        "{\"t\":{\"0\":1,\"0\":2}}",
        "{\"t\":{\"0\":99999999999999999999}}",
        "{\"t\":{\"0\":1}} x",
        "{\"bad topic\":{\"0\":1}}",
        "{\"t\\n\":{\"0\":1}}",
        "{\"t\":{\"3000000000\":1}}",
        "{\"t\":{\"0\":1,}}",
        "{\"t\":[1]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(ms_kafkasrc_parse_offsets(bad[i], &v, &n, err, sizeof(err)), MS_EUSAGE);
        assert_non_null(strstr(err, "starting offsets"));
    }
}

static void test_bad_config(void **state)
{
    fixture *f = *state;
    char err[512];
    ms_kafkasrc *s = NULL;
    f->topics[0] = "t1";
    f->conf.ntopics = 1;

    f->topics[0] = "no spaces";
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "not a valid Kafka topic name"));
    f->topics[0] = "t1";

    f->props[1] = "no.such.property=1";
    f->conf.nprops = 2;
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "no.such.property"));
    f->props[1] = "novalue";
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "key=value"));
    f->conf.nprops = 1;

    f->conf.starting_offsets = "{\"other\":{\"0\":1}}";
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "other"));
    f->conf.starting_offsets = "sometime";
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    f->conf.starting_offsets = "earliest";

    f->conf.ntopics = 0;
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    f->conf.ntopics = 1;
    f->conf.brokers = "";
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_EUSAGE);
    f->conf.brokers = f->k.boot;

    /* a corrupt position record in the checkpoint */
    ms_buf k = MS_BUF_INIT;
    ms_codec_key_kafka_pos(&k, "t1", 0);
    assert_int_equal(ms_ckpt_put_sync(f->k.ck, k.data, k.len, "\x01\x80", 2, err, sizeof(err)), 0);
    ms_buf_free(&k);
    assert_int_equal(ms_kafkasrc_open(&f->conf, f->k.ck, &s, err, sizeof(err)), MS_ECORRUPT);
    assert_non_null(strstr(err, "corrupt Kafka position"));
    assert_null(s);
}

/* ------------------------------------------------------- batches, restart */

static void test_batches_exactly_once(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 100, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    f->conf.max_offsets_per_trigger = 70;
    open_src(f);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t1", p, 0);

    size_t nitems;
    uint64_t first = batch(f, &nitems);
    assert_int_equal(first, 70);
    assert_int_equal(nitems, 3);
    assert_int_equal(drain(f, 10), 230);
    assert_int_equal(f->col.n, 300);
    for (int p = 0; p < 3; p++)
        assert_int_equal(col_get(&f->col, "t1", p), 100);

    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.messages, 300);
    assert_int_equal(st.npart, 3);
    for (int p = 0; p < 3; p++) {
        const ms_kafka_part_stats *ps = pstat(&st, "t1", p);
        assert_non_null(ps);
        assert_int_equal(ps->committed, 100);
        assert_int_equal(ps->high, 100);
        assert_int_equal(ps->lag, 0);
    }
    ms_kafkasrc_stats_free(&st);

    /* more messages; lag shows them once a plan has seen the new ends */
    produce(f, "t1", 1, 40, 0, 0);
    reopen(f); /* restart: resumes at the committed positions */
    ms_kafka_plan plan;
    char err[256];
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(pstat(&st, "t1", 1)->lag, 40);
    assert_int_equal(pstat(&st, "t1", 0)->lag, 0);
    assert_int_equal(pstat(&st, "t1", 1)->committed, 100);
    ms_kafkasrc_stats_free(&st);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.items[0].partition, 1);
    assert_int_equal(plan.items[0].start, 100);
    assert_int_equal(plan.items[0].end, 140);
    ms_kafka_plan_free(&plan);

    assert_int_equal(drain(f, 5), 40);
    assert_int_equal(col_get(&f->col, "t1", 1), 140);
    assert_int_equal(f->col.n, 340);
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static void test_replay_decoded_plan(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 2);
    produce(f, "t1", 0, 50, 0, 0);
    produce(f, "t1", 1, 30, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    open_src(f);
    assert_int_equal(batch(f, NULL), 80);
    produce(f, "t1", 0, 20, 0, 0);
    produce(f, "t1", 1, 5, 0, 0);

    /* Batch 2 is planned and persisted, read, and the process dies before
     * the commit. */
    ms_kafka_plan plan;
    char err[256];
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    plan.batch_id = 2;
    plan.created_ms = 1700000000000ull;
    ms_buf recbuf = MS_BUF_INIT;
    ms_kafkasrc_plan_encode(&plan, &recbuf);
    assert_int_equal(
        ms_ckpt_put_sync(f->k.ck, "m:plan", 6, recbuf.data, recbuf.len, err, sizeof(err)), 0);
    ms_buf_free(&recbuf);
    assert_int_equal(read_plan(f, &plan, err, sizeof(err)), 0);
    assert_int_equal(f->col.n, 105);
    ms_kafka_plan_free(&plan);
    size_t nfirst = f->col.nlog;
    rec *first = malloc(25 * sizeof(*first));
    memcpy(first, f->col.log + 80, 25 * sizeof(*first));

    /* More messages arrive while it is down. */
    produce(f, "t1", 0, 30, 0, 0);
    produce(f, "t1", 1, 30, 0, 0);
    reopen(f);

    /* Recovery re-runs the persisted plan: exactly the same messages. */
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(f->k.ck, "m:plan", 6, &v, err, sizeof(err)), 0);
    ms_kafka_plan again;
    assert_int_equal(ms_kafkasrc_plan_decode(v.data, v.len, &again), 0);
    ms_buf_free(&v);
    assert_int_equal(again.batch_id, 2);
    assert_int_equal(ms_kafkasrc_replan(f->src, &again, err, sizeof(err)), 0);
    col_expect(&f->col, "t1", 0, 50);
    col_expect(&f->col, "t1", 1, 30);
    assert_int_equal(read_plan(f, &again, err, sizeof(err)), 0);
    if (f->col.err[0])
        fail_msg("%s", f->col.err);
    assert_int_equal(f->col.nlog - nfirst, 25);
    rec *second = f->col.log + nfirst;
    qsort(first, 25, sizeof(rec), cmp_rec);
    qsort(second, 25, sizeof(rec), cmp_rec);
    for (size_t i = 0; i < 25; i++)
        assert_int_equal(cmp_rec(&first[i], &second[i]), 0);
    free(first);
    commit_plan(f, &again);
    ms_kafka_plan_free(&again);
    /* The next batch starts where the re-run ended. */
    assert_int_equal(drain(f, 5), 60);
    assert_int_equal(col_get(&f->col, "t1", 0), 100);
    assert_int_equal(col_get(&f->col, "t1", 1), 65);

    /* A plan that starts before the committed position is refused. */
    ms_kafka_range bad = {"t1", 0, 10, 20, 0};
    ms_kafka_plan bp = {.n = 1, .items = &bad};
    err[0] = '\0';
    assert_int_equal(ms_kafkasrc_replan(f->src, &bp, err, sizeof(err)), MS_ECORRUPT);
    assert_non_null(strstr(err, "committed position 100"));
}

/* --------------------------------------------------------- rate limiting */

static void test_max_offsets_split(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    produce(f, "t1", 0, 100, 0, 0);
    produce(f, "t1", 1, 10, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    f->conf.max_offsets_per_trigger = 22;
    open_src(f);

    ms_kafka_plan plan;
    char err[256];
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    /* p2 is empty but its starting position must be recorded */
    assert_int_equal(plan.n, 3);
    int64_t got[3];
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(plan.items[i].partition, (int32_t)i);
        assert_int_equal(plan.items[i].start, 0);
        got[i] = plan.items[i].end - plan.items[i].start;
    }
    /* backlogs 100 and 10: the cap is split about 10:1, all of it used */
    assert_int_equal(got[0] + got[1] + got[2], 22);
    assert_int_equal(got[2], 0);
    assert_in_range(got[1], 1, 3);
    assert_in_range(got[0], 19, 21);
    ms_kafka_plan_free(&plan);

    /* a cap smaller than the number of partitions with a backlog: the
     * largest backlog goes first, nobody starves for long */
    produce(f, "t1", 2, 5, 0, 0);
    f->conf.max_offsets_per_trigger = 2;
    reopen(f);
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_int_equal(ms_kafkasrc_plan_messages(&plan), 2);
    for (size_t i = 0; i < plan.n; i++)
        assert_true(plan.items[i].end - plan.items[i].start <= 1);
    assert_int_equal(plan.items[0].end - plan.items[0].start, 1); /* p0: 100 */
    assert_int_equal(plan.items[1].end - plan.items[1].start, 1); /* p1: 10 */
    ms_kafka_plan_free(&plan);

    /* every batch respects the cap, and everything is read exactly once */
    f->conf.max_offsets_per_trigger = 7;
    reopen(f);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t1", p, 0);
    for (int i = 0; i < 40; i++) {
        uint64_t n = batch(f, NULL);
        assert_true(n <= 7);
        if (n == 0)
            break;
    }
    assert_int_equal(f->col.n, 115);
}

/* ------------------------------------------------------- starting offsets */

static void test_starting_offsets(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 10, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;

    /* latest: the first batch only records where to start */
    f->conf.starting_offsets = "latest";
    open_src(f);
    size_t nitems;
    assert_int_equal(batch(f, &nitems), 0);
    assert_int_equal(nitems, 3);
    assert_int_equal(batch(f, &nitems), 0);
    assert_int_equal(nitems, 0); /* recorded: nothing more to do */
    produce(f, "t1", 0, 5, 0, 0);
    col_expect(&f->col, "t1", 0, 10);
    assert_int_equal(batch(f, NULL), 5);

    /* with positions in the checkpoint, starting offsets are ignored */
    f->conf.starting_offsets = "earliest";
    reopen(f);
    assert_int_equal(batch(f, NULL), 0);
    f->conf.starting_offsets = "{\"t1\":{\"0\":0,\"1\":0,\"2\":0}}";
    reopen(f);
    assert_int_equal(batch(f, NULL), 0);
}

static void test_starting_offsets_json(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 10, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    /* p0 from 3, p1 from earliest, p2 unnamed: latest */
    f->conf.starting_offsets = "{\"t1\":{\"0\":3,\"1\":-2}}";
    open_src(f);
    col_expect(&f->col, "t1", 0, 3);
    col_expect(&f->col, "t1", 1, 0);
    col_expect(&f->col, "t1", 2, 10);
    assert_int_equal(batch(f, NULL), 7 + 10);
    produce(f, "t1", 2, 2, 0, 0);
    assert_int_equal(batch(f, NULL), 2);
    assert_int_equal(col_get(&f->col, "t1", 0), 10);
    assert_int_equal(col_get(&f->col, "t1", 2), 12);
}

/* ------------------------------------------------------------ discovery */

static void test_new_partitions(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 2);
    produce(f, "t1", 0, 10, 0, 0);
    /* t2 does not exist yet as far as the brokers say.  (The mock creates
     * any topic a client asks about, so it exists and answers "unknown
     * topic" until the error is cleared.) */
    create_topic(f, "t2", 3);
    rd_kafka_mock_topic_set_error(f->k.mc, "t2", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    f->topics[0] = "t1";
    f->topics[1] = "t2";
    f->conf.ntopics = 2;
    f->conf.starting_offsets = "latest";
    open_src(f);
    assert_int_equal(batch(f, NULL), 0); /* latest: positions recorded */
    produce(f, "t1", 1, 4, 0, 0);
    col_expect(&f->col, "t1", 1, 0);
    assert_int_equal(batch(f, NULL), 4);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.npart, 2);
    ms_kafkasrc_stats_free(&st);

    /* t2 appears while running: its partitions are read from the start,
     * whatever the starting offsets said */
    rd_kafka_mock_topic_set_error(f->k.mc, "t2", RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int p = 0; p < 3; p++)
        produce(f, "t2", p, 6, 0, 0);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t2", p, 0);
    assert_int_equal(drain(f, 5), 18);
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.npart, 5);
    assert_int_equal(pstat(&st, "t2", 2)->committed, 6);
    assert_true(st.metadata_refreshes >= 3);
    ms_kafkasrc_stats_free(&st);

    /* and after a restart they resume where they were */
    produce(f, "t2", 1, 3, 0, 0);
    reopen(f);
    assert_int_equal(batch(f, NULL), 3);
    assert_int_equal(col_get(&f->col, "t2", 1), 9);
}

/* ------------------------------------------------------- fault injection */

static void test_request_errors(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 200, 0, 20);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    f->conf.max_offsets_per_trigger = 150;
    open_src(f);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t1", p, 0);

    /* Metadata and ListOffsets fail: the plan keeps what it knew (here:
     * nothing yet, so an empty plan), counts, and does not fail. */
    rd_kafka_mock_push_request_errors(f->k.mc, API_METADATA, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(
        f->k.mc, API_LISTOFFSETS, 4, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR);
    /* Fetch fails too, in the middle of the reads. */
    rd_kafka_mock_push_request_errors(
        f->k.mc, API_FETCH, 6, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_UNKNOWN,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_UNKNOWN);
    double t0 = ms_now_mono();
    uint64_t total = 0;
    for (int i = 0; i < 30 && total < 600; i++)
        total += batch(f, NULL);
    assert_int_equal(total, 600);
    assert_true(ms_now_mono() - t0 < 45);
    for (int p = 0; p < 3; p++)
        assert_int_equal(col_get(&f->col, "t1", p), 200);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_true(st.transient_errors >= 2);
    assert_int_equal(st.data_loss_events, 0);
    print_message("request errors: %llu transient errors counted, %llu watermark failures\n",
                  (unsigned long long)st.transient_errors,
                  (unsigned long long)st.watermark_failures);
    ms_kafkasrc_stats_free(&st);
    rd_kafka_mock_clear_request_errors(f->k.mc, API_FETCH);
}

typedef struct flipper {
    rd_kafka_mock_cluster_t *mc;
    uint64_t at;  /* message count that triggers the fault */
    double hold;  /* seconds the brokers stay down */
    int fired;    /* the hook took the brokers down */
    int restored; /* the thread brought them back */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* leader change instead of down/up */
    const char *topic;
    int leader_change;
} flipper;

static void *flipper_run(void *ud)
{
    flipper *fl = ud;
    pthread_mutex_lock(&fl->mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    while (!fl->fired)
        if (pthread_cond_timedwait(&fl->cv, &fl->mu, &deadline) != 0)
            break;
    pthread_mutex_unlock(&fl->mu);
    if (fl->fired) {
        usleep((useconds_t)(fl->hold * 1e6));
        for (int b = 1; b <= NBROKERS; b++)
            rd_kafka_mock_broker_set_up(fl->mc, b);
        fl->restored = 1;
    }
    return NULL;
}

static void flip_hook(collector *c, void *ud)
{
    flipper *fl = ud;
    if (c->n != fl->at)
        return;
    if (fl->leader_change) {
        for (int p = 0; p < 3; p++)
            rd_kafka_mock_partition_set_leader(fl->mc, fl->topic, p, 1 + (p + 1) % NBROKERS);
        fl->fired = 1;
        return;
    }
    for (int b = 1; b <= NBROKERS; b++)
        rd_kafka_mock_broker_set_down(fl->mc, b);
    pthread_mutex_lock(&fl->mu);
    fl->fired = 1;
    pthread_cond_signal(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
}

static void test_broker_down_during_read(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 1000, 1000, 50);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    /* small fetches, so the read is still fetching when the brokers go */
    f->props[1] = "fetch.message.max.bytes=2000";
    f->props[2] = "queued.max.messages.kbytes=300";
    f->conf.nprops = 3;
    open_src(f);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t1", p, 0);

    flipper fl = {.mc = f->k.mc, .at = 50, .hold = 1.5};
    pthread_mutex_init(&fl.mu, NULL);
    pthread_cond_init(&fl.cv, NULL);
    assert_int_equal(pthread_create(&fl.th, NULL, flipper_run, &fl), 0);
    f->col.hook = flip_hook;
    f->col.hook_ud = &fl;
    double t0 = ms_now_mono();
    assert_int_equal(batch(f, NULL), 3000);
    double took = ms_now_mono() - t0;
    pthread_join(fl.th, NULL);
    f->col.hook = NULL;
    assert_true(fl.fired && fl.restored);
    assert_true(took >= 1.5); /* it waited for the brokers, it did not give up */
    for (int p = 0; p < 3; p++)
        assert_int_equal(col_get(&f->col, "t1", p), 1000);

    /* Brokers down during planning: the plan costs time, not data. */
    for (int b = 1; b <= NBROKERS; b++)
        rd_kafka_mock_broker_set_down(f->k.mc, b);
    ms_kafka_plan plan;
    char err[256];
    ms_kafkasrc_stats st0, st1;
    ms_kafkasrc_get_stats(f->src, &st0);
    t0 = ms_now_mono();
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_true(ms_now_mono() - t0 < 3 * f->conf.timeout_ms / 1000.0 + 2);
    assert_int_equal(ms_kafkasrc_plan_messages(&plan), 0);
    ms_kafka_plan_free(&plan);
    ms_kafkasrc_get_stats(f->src, &st1);
    assert_true(st1.transient_errors > st0.transient_errors);
    ms_kafkasrc_stats_free(&st0);
    ms_kafkasrc_stats_free(&st1);
    for (int b = 1; b <= NBROKERS; b++)
        rd_kafka_mock_broker_set_up(f->k.mc, b);
    produce(f, "t1", 0, 10, 0, 0);
    uint64_t total = 0;
    for (int i = 0; i < 20 && total < 10; i++)
        total += batch(f, NULL);
    assert_int_equal(total, 10);
    pthread_mutex_destroy(&fl.mu);
    pthread_cond_destroy(&fl.cv);
}

static void test_leader_change_during_read(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 3);
    for (int p = 0; p < 3; p++)
        produce(f, "t1", p, 1000, 0, 50);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    f->props[1] = "fetch.message.max.bytes=2000";
    f->conf.nprops = 2;
    open_src(f);
    for (int p = 0; p < 3; p++)
        col_expect(&f->col, "t1", p, 0);
    flipper fl = {.mc = f->k.mc, .at = 30, .topic = "t1", .leader_change = 1};
    f->col.hook = flip_hook;
    f->col.hook_ud = &fl;
    assert_int_equal(batch(f, NULL), 3000);
    f->col.hook = NULL;
    assert_true(fl.fired);
    for (int p = 0; p < 3; p++)
        assert_int_equal(col_get(&f->col, "t1", p), 1000);
    /* and the next batch reads from the new leaders */
    produce(f, "t1", 2, 10, 0, 0);
    assert_int_equal(batch(f, NULL), 10);
}

static void test_unreachable_brokers(void **state)
{
    fixture *f = *state;
    f->conf.brokers = "127.0.0.1:1"; /* nothing listens there */
    f->conf.timeout_ms = 500;
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    double t0 = ms_now_mono();
    open_src(f); /* no network wait */
    assert_true(ms_now_mono() - t0 < 2);

    /* planning costs at most about one timeout, and plans nothing */
    ms_kafka_plan plan;
    char err[256];
    t0 = ms_now_mono();
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_true(ms_now_mono() - t0 < 3);
    assert_int_equal(plan.n, 0);
    ms_kafka_plan_free(&plan);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_true(st.transient_errors >= 1);
    assert_int_equal(st.metadata_refreshes, 0);
    ms_kafkasrc_stats_free(&st);

    /* a read waits for the brokers until the stop flag says otherwise */
    ms_kafka_range r = {"t1", 0, 0, 10, 0};
    ms_kafka_plan p = {.n = 1, .items = &r};
    stopper later;
    kmock_input kin;
    stopper_start(&later, 0.5);
    t0 = ms_now_mono();
    err[0] = '\0';
    assert_int_equal(ms_kafkasrc_read(f->src, &p, kmock_input_init(&kin, on_msg, &f->col),
                                      &later.flag, err, sizeof(err)),
                     MS_EINVAL);
    stopper_join(&later);
    assert_string_equal(err, "interrupted");
    assert_true(ms_now_mono() - t0 < 3);
    assert_int_equal(f->col.n, 0);

    /* closing does not wait for a coordinator that never answers */
    t0 = ms_now_mono();
    ms_kafkasrc_close(f->src);
    f->src = NULL;
    assert_true(ms_now_mono() - t0 < 5);
}

static void test_permanent_error(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 1);
    produce(f, "t1", 0, 5, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    open_src(f);
    assert_int_equal(batch(f, NULL), 5);
    /* the brokers refuse the topic: retrying cannot help, the query fails */
    rd_kafka_mock_topic_set_error(f->k.mc, "t1", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ms_kafka_plan plan;
    char err[512] = "";
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), MS_EIO);
    assert_non_null(strstr(err, "uthoriz"));
    assert_non_null(strstr(err, "t1"));
    assert_int_equal(plan.n, 0);
    ms_kafka_plan_free(&plan);
}

/* ------------------------------------------------------------ data loss */

/* The mock broker keeps 5 MiB per partition: 60 messages of 100 KB, each
 * in its own message set, push the oldest messages out (retention). */
static void expire_old(fixture *f, const char *topic, int32_t part)
{
    produce(f, topic, part, 60, 100 * 1000, 1);
}

static void test_data_loss_at_plan(void **state)
{
    fixture *f = *state;
    create_topic(f, "big", 1);
    produce(f, "big", 0, 10, 0, 0);
    f->topics[0] = "big";
    f->conf.ntopics = 1;
    f->conf.max_offsets_per_trigger = 5;
    open_src(f);
    assert_int_equal(batch(f, NULL), 5); /* committed position: 5 */
    expire_old(f, "big", 0);
    int64_t low = low_watermark(f, "big", 0);
    assert_true(low > 5);

    /* fail on data loss (the default): a clear error, nothing read */
    ms_kafka_plan plan;
    char err[512] = "";
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), MS_ECORRUPT);
    char want[128];
    snprintf(want, sizeof(want), "topic big partition 0: offsets 5..%lld", (long long)low - 1);
    if (!strstr(err, want))
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    assert_non_null(strstr(err, "--fail-on-data-loss false"));
    assert_int_equal(plan.n, 0);
    ms_kafka_plan_free(&plan);

    /* --fail-on-data-loss false: counted, and reading goes on at low */
    f->conf.fail_on_data_loss = 0;
    f->conf.max_offsets_per_trigger = 0;
    reopen(f);
    col_expect(&f->col, "big", 0, low);
    assert_int_equal(batch(f, NULL), 70 - low);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.data_loss_events, 1);
    assert_int_equal(st.offsets_lost, low - 5);
    assert_int_equal(pstat(&st, "big", 0)->committed, 70);
    ms_kafkasrc_stats_free(&st);
}

static void test_data_loss_during_read(void **state)
{
    fixture *f = *state;
    create_topic(f, "big", 1);
    produce(f, "big", 0, 1000, 0, 100);
    f->topics[0] = "big";
    f->conf.ntopics = 1;
    f->conf.max_offsets_per_trigger = 500;
    open_src(f);
    assert_int_equal(batch(f, NULL), 500);

    /* planned [500, 1000), then expired before the read fetches it */
    ms_kafka_plan plan;
    char err[512] = "";
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.items[0].start, 500);
    assert_int_equal(plan.items[0].end, 1000);
    expire_old(f, "big", 0);
    assert_true(low_watermark(f, "big", 0) > 1000);
    assert_int_equal(read_plan(f, &plan, err, sizeof(err)), MS_ECORRUPT);
    if (!strstr(err, "topic big partition 0: offsets 500..999"))
        fail_msg("unexpected message: %s", err);
    assert_non_null(strstr(err, "500 messages were lost"));

    /* the re-run of the same plan after a restart told to continue */
    f->conf.fail_on_data_loss = 0;
    reopen(f);
    assert_int_equal(ms_kafkasrc_replan(f->src, &plan, err, sizeof(err)), 0);
    assert_int_equal(read_plan(f, &plan, err, sizeof(err)), 0);
    commit_plan(f, &plan);
    ms_kafka_plan_free(&plan);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.data_loss_events, 1);
    assert_int_equal(st.offsets_lost, 500);
    ms_kafkasrc_stats_free(&st);
    assert_int_equal(f->col.n, 500);
}

static void test_spurious_out_of_range(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 1);
    produce(f, "t1", 0, 300, 0, 30);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    open_src(f);
    col_expect(&f->col, "t1", 0, 0);
    /* the broker claims the offset is out of range, but it is in the log */
    rd_kafka_mock_push_request_errors(f->k.mc, API_FETCH, 1, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(batch(f, NULL), 300);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.data_loss_events, 0);
    assert_true(st.transient_errors >= 1);
    ms_kafkasrc_stats_free(&st);
}

/* ---------------------------------------------------------- available-now */

static void test_available_now(void **state)
{
    fixture *f = *state;
    create_topic(f, "t1", 2);
    produce(f, "t1", 0, 30, 0, 0);
    produce(f, "t1", 1, 25, 0, 0);
    f->topics[0] = "t1";
    f->conf.ntopics = 1;
    f->conf.available_now = 1;
    f->conf.max_offsets_per_trigger = 20;
    open_src(f);
    assert_false(ms_kafkasrc_drained(f->src));
    assert_int_equal(batch(f, NULL), 20); /* ends frozen now: 30 and 25 */
    produce(f, "t1", 0, 50, 0, 0);        /* arrives after the start: not read */
    assert_int_equal(drain(f, 10), 35);
    assert_true(ms_kafkasrc_drained(f->src));
    assert_int_equal(col_get(&f->col, "t1", 0), 30);
    assert_int_equal(col_get(&f->col, "t1", 1), 25);
}

/* ----------------------------------------------------------- performance */

typedef struct counter {
    uint64_t n, bytes;
} counter;

static void on_count(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len)
{
    counter *c = ud;
    (void)meta;
    (void)value;
    c->n++;
    c->bytes += len;
}

/* A bare consumer as kcat or a minimal application writes it: assign at
 * 0, rd_kafka_consumer_poll until every partition reached its end.
 * Returns seconds from assign to the last message (connections warm). */
static double bare_consume(fixture *f, const char *topic, int nparts, int64_t per_part)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", f->k.boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(kc, "group.id", "bare", err, sizeof(err)), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 5000), 0); /* warm up */
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = 0;
    int64_t left = nparts * per_part;
    double t0 = ms_now_mono();
    assert_int_equal(rd_kafka_assign(rk, l), 0);
    while (left > 0 && ms_now_mono() - t0 < READ_LIMIT_SEC) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m && !m->err)
            left--;
        if (m)
            rd_kafka_message_destroy(m);
    }
    double took = ms_now_mono() - t0;
    assert_int_equal(left, 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_assign(rk, NULL);
    rd_kafka_destroy(rk);
    return took;
}

static void test_throughput_vs_bare_consumer(void **state)
{
    fixture *f = *state;
    const int per_part = 25000; /* 4 x 25000 x 100 B: below the mock's 5 MiB retention */
    create_topic(f, "perf", 4);
    for (int p = 0; p < 4; p++)
        produce(f, "perf", p, per_part, 100, 0);
    f->topics[0] = "perf";
    f->conf.ntopics = 1;
    open_src(f);

    /* best of 3 each, alternating, the same plan read again each time */
    ms_kafka_plan plan;
    char err[512];
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_int_equal(ms_kafkasrc_plan_messages(&plan), 4 * per_part);
    double bare = 1e9, ours = 1e9;
    for (int round = 0; round < 3; round++) {
        double b = bare_consume(f, "perf", 4, per_part);
        bare = b < bare ? b : bare;
        counter c = {0, 0};
        volatile sig_atomic_t stop = 0;
        kmock_input kin;
        double t0 = ms_now_mono();
        assert_int_equal(ms_kafkasrc_read(f->src, &plan, kmock_input_init(&kin, on_count, &c),
                                          &stop, err, sizeof(err)),
                         0);
        double o = ms_now_mono() - t0;
        ours = o < ours ? o : ours;
        assert_int_equal(c.n, 4 * per_part);
        assert_int_equal(c.bytes, 4 * per_part * 100);
        assert_int_equal(kin.mismatched, 0);
    }
    ms_kafka_plan_free(&plan);
    print_message("%d messages of 100 B: bare consumer_poll loop %.3fs, kafka source read "
                  "%.3fs: %.0f%% of the bare rate\n",
                  4 * per_part, bare, ours, 100.0 * bare / ours);
    /* the target is >= 80%; the bound is loose because the 2 cores are
     * shared, but a pathological slowdown (a wait per batch) still fails */
    assert_true(ours < 2.5 * bare + 0.2);

    /* and the source checked every message (identity, order, metadata) */
    for (int p = 0; p < 4; p++)
        col_expect(&f->col, "perf", p, 0);
    assert_int_equal(batch(f, NULL), 4 * per_part);
}

int main(void)
{
    ms_log_threshold = getenv("MS_TEST_DEBUG") ? MS_LOG_DEBUG : MS_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_positions),
        cmocka_unit_test(test_codec_plan),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_decoded_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_offsets_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starting_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starting_offsets_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_down_during_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_change_during_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_brokers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_loss_at_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_loss_during_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spurious_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_available_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput_vs_bare_consumer, setup, teardown),
    };
    if (getenv("MS_TEST_FILTER")) /* e.g. MS_TEST_FILTER='test_data_loss*' */
        cmocka_set_test_filter(getenv("MS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
