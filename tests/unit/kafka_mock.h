/*
 * The environment the Kafka source's unit tests share: a temp dir with a
 * real RocksDB checkpoint, librdkafka's mock cluster (owned by a host
 * handle), and a producer writing to it; and a stopper thread that sets a
 * stop flag after a delay, so no wait can hang a test.  Included by
 * test_kafkasrc*.c, after cmocka.h.
 */
#ifndef MS_TEST_KAFKA_MOCK_H
#define MS_TEST_KAFKA_MOCK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/ms_log.h"
#include "source/ms_source.h"
#include "state/ms_ckpt.h"

typedef struct kmock {
    char root[64], chk[96];
    ms_ckpt *ck;
    rd_kafka_t *host; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char boot[256];
    rd_kafka_t *prod;
} kmock;

/* tmpl: a mkdtemp template such as "/tmp/ms_kafkasrc_XXXXXX".  dr, if not
 * NULL, is the producer's delivery report callback, with opaque. */
static inline void kmock_open(kmock *m, const char *tmpl, int nbrokers,
                              void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                              void *opaque)
{
    snprintf(m->root, sizeof(m->root), "%s", tmpl);
    assert_non_null(mkdtemp(m->root));
    snprintf(m->chk, sizeof(m->chk), "%s/chk", m->root);
    char err[512];
    assert_int_equal(ms_ckpt_open(m->chk, &m->ck, err, sizeof(err)), 0);

    rd_kafka_conf_t *hc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(hc, "log_level", "3", err, sizeof(err)), RD_KAFKA_CONF_OK);
    m->host = rd_kafka_new(RD_KAFKA_PRODUCER, hc, err, sizeof(err));
    assert_non_null(m->host);
    m->mc = rd_kafka_mock_cluster_new(m->host, nbrokers);
    assert_non_null(m->mc);
    snprintf(m->boot, sizeof(m->boot), "%s", rd_kafka_mock_cluster_bootstraps(m->mc));

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", m->boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    /* quiet while the tests take the brokers down */
    assert_int_equal(rd_kafka_conf_set(pc, "log_level", "2", err, sizeof(err)), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(pc, "linger.ms", "2", err, sizeof(err)), RD_KAFKA_CONF_OK);
    if (dr) {
        rd_kafka_conf_set_dr_msg_cb(pc, dr);
        rd_kafka_conf_set_opaque(pc, opaque);
    }
    m->prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    assert_non_null(m->prod);
}

/* The checkpoint and the clients; the caller closes its source first. */
static inline void kmock_close(kmock *m)
{
    ms_ckpt_close(m->ck);
    rd_kafka_destroy(m->prod);
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->host);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", m->root);
    assert_int_equal(system(cmd), 0);
}

/* Sets *flag after `delay` seconds (or never, if cancelled first). */
typedef struct stopper {
    pthread_t th;
    volatile sig_atomic_t flag;
    volatile int cancel;
    double delay;
} stopper;

static inline void *stopper_run(void *ud)
{
    stopper *st = ud;
    double until = ms_now_mono() + st->delay;
    while (!st->cancel && ms_now_mono() < until)
        usleep(5000);
    if (!st->cancel)
        st->flag = 1;
    return NULL;
}

static inline void stopper_start(stopper *st, double delay)
{
    memset(st, 0, sizeof(*st));
    st->delay = delay;
    assert_int_equal(pthread_create(&st->th, NULL, stopper_run, st), 0);
}

static inline void stopper_join(stopper *st)
{
    st->cancel = 1;
    pthread_join(st->th, NULL);
}

/* An ms_input that hands each record to fn, and checks that the source
 * said which partition the record comes from (part() before it). */
typedef void (*kmock_msg_fn)(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value,
                             size_t len);

typedef struct kmock_input {
    ms_input in;
    kmock_msg_fn fn;
    void *ud;
    const char *topic; /* the partition part() announced */
    int32_t partition;
    uint64_t parts;      /* part() calls */
    uint64_t mismatched; /* records of another partition than the one announced */
} kmock_input;

static inline void kmock_in_part(void *ud, const ms_part *p, const char *name, uint64_t start)
{
    kmock_input *k = ud;
    (void)name;
    (void)start;
    k->topic = p->topic;
    k->partition = p->partition;
    k->parts++;
}

static inline void kmock_in_record(void *ud, const ms_value meta[MS_META_NCOLS],
                                   const uint8_t *value, size_t len)
{
    kmock_input *k = ud;
    const ms_value *t = &meta[MS_META_TOPIC];
    if (!k->topic || t->s.n != strlen(k->topic) || memcmp(t->s.p, k->topic, t->s.n) != 0 ||
        meta[MS_META_PARTITION].i != k->partition)
        k->mismatched++;
    k->fn(k->ud, meta, value, len);
}

static const ms_input_ops kmock_input_ops = {.part = kmock_in_part, .record = kmock_in_record};

static inline const ms_input *kmock_input_init(kmock_input *k, kmock_msg_fn fn, void *ud)
{
    memset(k, 0, sizeof(*k));
    k->in.ops = &kmock_input_ops;
    k->in.ud = k;
    k->fn = fn;
    k->ud = ud;
    return &k->in;
}

#endif
