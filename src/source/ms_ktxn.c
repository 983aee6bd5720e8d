/*
 * The transactional producer of group mode (design in ms_kgroup.h).
 *
 * One per process: every micro-batch is one transaction holding the
 * repartition and changelog records and the consumer's offsets
 * (librdkafka's examples/transactions.c is the model).  librdkafka's error
 * classes map to ours: fatal and fenced -> MS_EFENCED (this producer is
 * finished: a newer one took its transactional.id, or the coordinator
 * aborted its transaction and bumped its epoch), other fatal -> MS_EIO
 * with ms_ktxn's fatal flag, abortable -> MS_EABORT, retriable errors are
 * retried here within the request timeout.
 *
 * Delivery reports record, per partition, the offset of the last record
 * of the open transaction (a changelog's position after the batch).
 */
#include "source/ms_kgroup_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

rd_kafka_t *ms_kg__member_rk(ms_kmember *m);

typedef struct lastoff {
    char *topic;
    int32_t partition;
    int64_t offset;
} lastoff;

struct ms_ktxn {
    rd_kafka_t *rk;
    int in_txn;
    int timeout_ms;
    lastoff *lo; /* the open transaction's last offsets, per partition */
    size_t nlo, caplo;
    uint64_t delivered, bytes;
    int dr_failed;
    char dr_err[256];
    rd_kafka_topic_t **rkts; /* topics warmed up (ms_ktxn_warm) */
    size_t nrkts;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ms_ktxn *t = opaque;
    if (m->err) {
        if (!t->dr_failed)
            snprintf(t->dr_err, sizeof(t->dr_err), "%s", rd_kafka_err2str(m->err));
        t->dr_failed = 1;
        return;
    }
    t->delivered++;
    t->bytes += m->len + m->key_len;
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < t->nlo; i++) {
        lastoff *l = &t->lo[i];
        if (l->partition == m->partition && strcmp(l->topic, topic) == 0) {
            if (m->offset > l->offset)
                l->offset = m->offset;
            return;
        }
    }
    if (t->nlo == t->caplo) {
        t->caplo = t->caplo ? t->caplo * 2 : 16;
        t->lo = ms_xrealloc(t->lo, t->caplo * sizeof(lastoff));
    }
    t->lo[t->nlo++] = (lastoff){ms_xstrdup(topic), m->partition, m->offset};
}

static void lastoff_clear(ms_ktxn *t)
{
    for (size_t i = 0; i < t->nlo; i++)
        free(t->lo[i].topic);
    t->nlo = 0;
}

static int fenced_err(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* Converts (and destroys) an error of the transactional API. */
static int txn_err(ms_ktxn *t, rd_kafka_error_t *e, const char *what, char *errstr, size_t errsz)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    int rc;
    if (rd_kafka_error_is_fatal(e)) {
        char buf[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(t->rk, buf, sizeof(buf));
        rc = fenced_err(code) || fenced_err(orig) ? MS_EFENCED : MS_EIO;
    } else if (rd_kafka_error_txn_requires_abort(e)) {
        rc = MS_EABORT;
    } else {
        rc = MS_EIO;
    }
    snprintf(errstr, errsz, "kafka transaction: %s: %s (%s)%s", what, rd_kafka_error_string(e),
             rd_kafka_error_name(e),
             rc == MS_EFENCED ? ": this producer was fenced (a newer one took over, or the "
                                "transaction outlived transaction.timeout.ms)"
                              : "");
    rd_kafka_error_destroy(e);
    return rc;
}

int ms_ktxn_open(const ms_kconf *c, const char *txn_id, int txn_timeout_ms, ms_ktxn **out,
                 char *errstr, size_t errsz)
{
    *out = NULL;
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", txn_timeout_ms > 0 ? txn_timeout_ms : 60000);
    const ms_kg_prop owned[] = {
        {"transactional.id", txn_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"transaction.timeout.ms", tmo},
        {"linger.ms", "5"},
    };
    rd_kafka_conf_t *kc =
        ms_kg__conf(c, owned, sizeof(owned) / sizeof(owned[0]), "mstream-txn", errstr, errsz);
    if (!kc)
        return MS_EUSAGE;
    ms_ktxn *t = ms_xcalloc(1, sizeof(*t));
    t->timeout_ms = ms_kg__timeout(c);
    rd_kafka_conf_set_opaque(kc, t);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    char why[512];
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, why, sizeof(why));
    if (!t->rk) {
        rd_kafka_conf_destroy(kc);
        free(t);
        snprintf(errstr, errsz, "cannot start the Kafka transactional producer: %s", why);
        return MS_EUSAGE;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, t->timeout_ms);
    if (e) {
        int rc = txn_err(t, e, "initialising transactions", errstr, errsz);
        ms_ktxn_close(t);
        return rc == MS_EFENCED ? MS_EFENCED : MS_EIO;
    }
    *out = t;
    return 0;
}

int ms_ktxn_close(ms_ktxn *t)
{
    if (!t)
        return 0;
    int left = 0;
    for (size_t i = 0; i < t->nrkts; i++)
        rd_kafka_topic_destroy(t->rkts[i]);
    free(t->rkts);
    if (t->rk) {
        rd_kafka_purge(t->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        left = ms_kg__destroy_bounded(t->rk, 0);
    }
    lastoff_clear(t);
    free(t->lo);
    if (!left)
        free(t);
    return left;
}

void ms_ktxn_warm(ms_ktxn *t, const char *const *topics, size_t n)
{
    t->rkts = ms_xrealloc(t->rkts, (t->nrkts + n + 1) * sizeof(rd_kafka_topic_t *));
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topics[i], NULL);
        if (!rkt)
            continue;
        t->rkts[t->nrkts++] = rkt;
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(t->rk, 0, rkt, &md, t->timeout_ms) == 0 && md)
            rd_kafka_metadata_destroy(md);
    }
}

int ms_ktxn_open_txn(const ms_ktxn *t)
{
    return t && t->in_txn;
}

int ms_ktxn_begin(ms_ktxn *t, char *errstr, size_t errsz)
{
    lastoff_clear(t);
    t->dr_failed = 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
    if (e)
        return txn_err(t, e, "begin", errstr, errsz);
    t->in_txn = 1;
    return 0;
}

int ms_ktxn_produce(ms_ktxn *t, const char *topic, int32_t partition, const void *key, size_t klen,
                    const void *value, size_t vlen, char *errstr, size_t errsz)
{
    double deadline = ms_now_mono() + t->timeout_ms / 1000.0;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY((void *)(uintptr_t)key, klen),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value ? vlen : 0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && ms_now_mono() < deadline) {
            rd_kafka_poll(t->rk, 10);
            continue;
        }
        char buf[256];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(t->rk, buf, sizeof(buf));
        if (fatal) {
            snprintf(errstr, errsz, "kafka transaction: producing to %s: %s", topic, buf);
            return fenced_err(fatal) ? MS_EFENCED : MS_EIO;
        }
        snprintf(errstr, errsz, "kafka transaction: producing to %s/%" PRId32 ": %s", topic,
                 partition, rd_kafka_err2str(err));
        return MS_EABORT;
    }
}

int ms_ktxn_flush(ms_ktxn *t, char *errstr, size_t errsz)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(t->rk, t->timeout_ms);
    if (err) {
        snprintf(errstr, errsz, "kafka transaction: records not written within %d ms: %s",
                 t->timeout_ms, rd_kafka_err2str(err));
        return MS_EABORT;
    }
    if (t->dr_failed) {
        char buf[256];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(t->rk, buf, sizeof(buf));
        snprintf(errstr, errsz, "kafka transaction: a record was not written: %s",
                 fatal ? buf : t->dr_err);
        return fatal && fenced_err(fatal) ? MS_EFENCED : MS_EABORT;
    }
    return 0;
}

int64_t ms_ktxn_last_offset(const ms_ktxn *t, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < t->nlo; i++)
        if (t->lo[i].partition == partition && strcmp(t->lo[i].topic, topic) == 0)
            return t->lo[i].offset;
    return -1;
}

void ms_ktxn_counts(const ms_ktxn *t, uint64_t *records, uint64_t *bytes)
{
    *records = t ? t->delivered : 0;
    *bytes = t ? t->bytes : 0;
}

int ms_ktxn_send_offsets(ms_ktxn *t, ms_kmember *m, const ms_ktp *offsets, size_t n, char *errstr,
                         size_t errsz)
{
    if (!n)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_add(l, offsets[i].topic, offsets[i].partition);
        e->offset = offsets[i].offset;
        if (offsets[i].metadata) {
            e->metadata = ms_xstrdup(offsets[i].metadata);
            e->metadata_size = strlen(offsets[i].metadata);
        }
    }
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(ms_kg__member_rk(m));
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(t->rk, l, md, t->timeout_ms);
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return txn_err(t, e, "sending the consumer's offsets", errstr, errsz);
    return 0;
}

int ms_ktxn_commit(ms_ktxn *t, char *errstr, size_t errsz)
{
    double deadline = ms_now_mono() + t->timeout_ms / 1000.0;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(t->rk, t->timeout_ms);
        if (!e) {
            t->in_txn = 0;
            return 0;
        }
        if (rd_kafka_error_is_retriable(e) && ms_now_mono() < deadline) {
            rd_kafka_error_destroy(e);
            continue;
        }
        return txn_err(t, e, "commit", errstr, errsz);
    }
}

int ms_ktxn_abort(ms_ktxn *t, char *errstr, size_t errsz)
{
    if (!t->in_txn)
        return 0;
    double deadline = ms_now_mono() + t->timeout_ms / 1000.0;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->rk, t->timeout_ms);
        if (!e) {
            t->in_txn = 0;
            lastoff_clear(t);
            return 0;
        }
        if (rd_kafka_error_is_retriable(e) && ms_now_mono() < deadline) {
            rd_kafka_error_destroy(e);
            continue;
        }
        return txn_err(t, e, "abort", errstr, errsz);
    }
}
