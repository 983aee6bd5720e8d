/*
 * Group mode's consumer side (design in ms_kgroup.h): the member of the
 * application's consumer group and the assign-only reader of changelogs,
 * plus what the group-mode Kafka files share (ms_kgroup_int.h).
 */
#include "source/ms_kgroup_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

/* ------------------------------------------------------------- shared */

int ms_kg__set(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr, size_t errsz)
{
    char why[256];
    if (rd_kafka_conf_set(kc, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsz, "kafka property %s=%s: %s", k, v, why);
        return MS_EUSAGE;
    }
    return 0;
}

void ms_kg__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum ms_log_level l = level <= 4 ? MS_LOG_WARN : level <= 5 ? MS_LOG_INFO : MS_LOG_DEBUG;
    if (l == MS_LOG_DEBUG && ms_log_threshold < MS_LOG_DEBUG)
        return;
    ms_log(l, "librdkafka %s: %s", fac, buf);
}

rd_kafka_conf_t *ms_kg__conf(const ms_kconf *c, const ms_kg_prop *owned, size_t nowned,
                             const char *role, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (!c->brokers || !c->brokers[0]) {
        snprintf(errstr, errsz, "no Kafka brokers given (--kafka HOST:PORT[,HOST:PORT...])");
        goto err;
    }
    if (ms_kg__set(kc, "bootstrap.servers", c->brokers, errstr, errsz) ||
        ms_kg__set(kc, "client.id", role, errstr, errsz))
        goto err;
    for (size_t i = 0; i < c->nprops; i++) {
        const char *kv = c->props[i];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv) {
            snprintf(errstr, errsz, "kafka property \"%s\" is not key=value", kv ? kv : "");
            goto err;
        }
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        int mine = 0;
        for (size_t o = 0; o < nowned; o++)
            mine |= strcmp(key, owned[o].name) == 0;
        if (mine) {
            ms_warn("kafka property %s is ignored: in group mode mstream sets %s itself", kv, key);
            continue;
        }
        if (ms_kg__set(kc, key, eq + 1, errstr, errsz))
            goto err;
    }
    for (size_t o = 0; o < nowned; o++)
        if (owned[o].value && ms_kg__set(kc, owned[o].name, owned[o].value, errstr, errsz))
            goto err;
    rd_kafka_conf_set_log_cb(kc, ms_kg__log_cb);
    return kc;
err:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

/* The shutdown on a thread of its own, so that it can be waited for with a
 * deadline (librdkafka #3007). */
typedef struct closer {
    rd_kafka_t *rk;
    int close_consumer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} closer;

static void *close_run(void *ud)
{
    closer *c = ud;
    if (c->close_consumer)
        rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy_flags(c->rk, c->close_consumer ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int ms_kg__destroy_bounded(rd_kafka_t *rk, int close_consumer)
{
    closer *c = ms_xcalloc(1, sizeof(*c));
    c->rk = rk;
    c->close_consumer = close_consumer;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (pthread_create(&th, &attr, close_run, c) != 0) {
        pthread_attr_destroy(&attr);
        close_run(c);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return 0;
    }
    pthread_attr_destroy(&attr);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)MS_KG_CLOSE_WAIT_SEC;
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
    int done = c->done;
    pthread_mutex_unlock(&c->mu);
    if (!done) {
        ms_warn("kafka: librdkafka did not shut down within %.0fs (librdkafka #3007): leaving "
                "its threads behind",
                MS_KG_CLOSE_WAIT_SEC);
        return 1; /* c stays: the thread still uses it */
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return 0;
}

/* A list for librdkafka from ours. */
static rd_kafka_topic_partition_list_t *to_list(const ms_ktp *parts, size_t n, int with_offsets)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition);
        if (with_offsets)
            e->offset = parts[i].offset;
    }
    return l;
}

/* ------------------------------------------------------------- member */

struct ms_kmember {
    rd_kafka_t *rk;
    ms_kmember_hooks h;
    rd_kafka_message_t *last; /* returned by the last poll; destroyed by the next */
    rd_kafka_topic_t **rkts;  /* topics created with auto.offset.reset=latest */
    size_t nrkts;
    int32_t generation;
    int closing; /* close: the rebalance callback only unassigns */
    int fatal, fenced;
    char fatal_msg[512];
    ms_ktp *tmp; /* hook arguments */
    size_t tmpcap;
    double next_warn;
};

/* The generation of the group metadata, from its serialized form
 * ("CGMDv2:" and the generation in host order, as librdkafka 2.0 writes
 * it); -1 when the layout is not that one. */
static int32_t read_generation(rd_kafka_t *rk)
{
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(rk);
    if (!md)
        return -1;
    void *buf = NULL;
    size_t sz = 0;
    int32_t gen = -1;
    rd_kafka_error_t *e = rd_kafka_consumer_group_metadata_write(md, &buf, &sz);
    if (!e && sz >= 11 && memcmp(buf, "CGMDv2:", 7) == 0)
        memcpy(&gen, (const char *)buf + 7, 4);
    if (e)
        rd_kafka_error_destroy(e);
    free(buf);
    rd_kafka_consumer_group_metadata_destroy(md);
    return gen;
}

static const ms_ktp *hook_parts(ms_kmember *m, const rd_kafka_topic_partition_list_t *l)
{
    if ((size_t)l->cnt > m->tmpcap) {
        m->tmpcap = (size_t)l->cnt;
        m->tmp = ms_xrealloc(m->tmp, m->tmpcap * sizeof(ms_ktp));
    }
    for (int i = 0; i < l->cnt; i++) {
        m->tmp[i].topic = l->elems[i].topic;
        m->tmp[i].partition = l->elems[i].partition;
        m->tmp[i].offset = l->elems[i].offset;
        m->tmp[i].metadata = NULL;
    }
    return m->tmp;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ms_kmember *m = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        m->generation = read_generation(rk);
        if (e) {
            ms_error("kafka group: adding %d assigned partitions failed: %s", parts->cnt,
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return;
        }
        if (!m->closing && m->h.assigned && parts->cnt)
            m->h.assigned(m->h.ud, hook_parts(m, parts), (size_t)parts->cnt);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        if (!m->closing && m->h.revoked && parts->cnt)
            m->h.revoked(m->h.ud, hook_parts(m, parts), (size_t)parts->cnt, lost);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        if (e) {
            ms_error("kafka group: giving up %d partitions failed: %s", parts->cnt,
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        return;
    }
    ms_error("kafka group: rebalance failed: %s", rd_kafka_err2str(err));
    if (!m->closing && m->h.revoked) {
        rd_kafka_topic_partition_list_t *cur = NULL;
        if (rd_kafka_assignment(rk, &cur) == 0 && cur && cur->cnt)
            m->h.revoked(m->h.ud, hook_parts(m, cur), (size_t)cur->cnt, 1);
        if (cur)
            rd_kafka_topic_partition_list_destroy(cur);
    }
    rd_kafka_assign(rk, NULL);
}

static int fenced_code(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID || err == RD_KAFKA_RESP_ERR__FENCED ||
           err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

static void member_fatal(ms_kmember *m)
{
    if (m->fatal)
        return;
    char buf[256];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(m->rk, buf, sizeof(buf));
    m->fatal = 1;
    m->fenced = fenced_code(orig);
    snprintf(m->fatal_msg, sizeof(m->fatal_msg), "kafka group member failed for good: %s%s", buf,
             m->fenced ? " (another process joined with the same --group-instance-id)" : "");
    ms_error("%s", m->fatal_msg);
}

static void on_member_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    ms_kmember *m = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        member_fatal(m);
        return;
    }
    double now = ms_now_mono();
    if (now >= m->next_warn) {
        ms_warn("kafka group: %s: %s (retrying)", rd_kafka_err2name((rd_kafka_resp_err_t)err),
                reason);
        m->next_warn = now + 10.0;
    }
}

int ms_kmember_open(const ms_kmember_conf *c, const ms_kmember_hooks *h, ms_kmember **out,
                    char *errstr, size_t errsz)
{
    *out = NULL;
    char sess[32], poll_iv[32];
    snprintf(sess, sizeof(sess), "%d", c->session_timeout_ms);
    snprintf(poll_iv, sizeof(poll_iv), "%d", c->max_poll_interval_ms);
    const ms_kg_prop owned[] = {
        {"group.id", c->group_id},
        {"group.instance.id", c->instance_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", c->session_timeout_ms > 0 ? sess : NULL},
        {"max.poll.interval.ms", c->max_poll_interval_ms > 0 ? poll_iv : NULL},
        /* Batches end at their trigger: a fetch must not hold up the poll. */
        {"fetch.wait.max.ms", "50"},
        /* librdkafka 2.0 stops fetching a partition whose queue holds
         * queued.min.messages and backs it off for a second (the Kafka
         * source's finding, ms_kafkasrc.c): the byte bound limits memory. */
        {"queued.min.messages", "10000000"},
    };
    rd_kafka_conf_t *kc =
        ms_kg__conf(&c->k, owned, sizeof(owned) / sizeof(owned[0]), "mstream-group", errstr, errsz);
    if (!kc)
        return MS_EUSAGE;
    ms_kmember *m = ms_xcalloc(1, sizeof(*m));
    m->h = *h;
    m->generation = -1;
    rd_kafka_conf_set_opaque(kc, m);
    rd_kafka_conf_set_rebalance_cb(kc, on_rebalance);
    rd_kafka_conf_set_error_cb(kc, on_member_error);
    char why[512];
    m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, why, sizeof(why));
    if (!m->rk) {
        rd_kafka_conf_destroy(kc);
        free(m);
        snprintf(errstr, errsz, "cannot start the Kafka group member: %s", why);
        return MS_EIO;
    }
    rd_kafka_poll_set_consumer(m->rk);
    /* Topics that start at their end: their handles exist before the
     * subscription, with auto.offset.reset=latest (a handle's first
     * configuration is the one every user of the topic gets). */
    m->rkts = ms_xcalloc(c->nlatest ? c->nlatest : 1, sizeof(rd_kafka_topic_t *));
    for (size_t i = 0; i < c->nlatest; i++) {
        rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
        char tw[256];
        if (rd_kafka_topic_conf_set(tc, "auto.offset.reset", "latest", tw, sizeof(tw)) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_topic_conf_destroy(tc);
            continue;
        }
        m->rkts[m->nrkts] = rd_kafka_topic_new(m->rk, c->latest_topics[i], tc);
        if (m->rkts[m->nrkts])
            m->nrkts++;
        else
            rd_kafka_topic_conf_destroy(tc);
    }
    rd_kafka_topic_partition_list_t *sub =
        rd_kafka_topic_partition_list_new((int)(c->ntopics ? c->ntopics : 1));
    for (size_t i = 0; i < c->ntopics; i++)
        rd_kafka_topic_partition_list_add(sub, c->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        snprintf(errstr, errsz, "kafka group %s: cannot subscribe: %s", c->group_id,
                 rd_kafka_err2str(err));
        m->closing = 1;
        ms_kmember_close(m);
        return MS_EIO;
    }
    *out = m;
    return 0;
}

int ms_kmember_close(ms_kmember *m)
{
    if (!m)
        return 0;
    m->closing = 1;
    if (m->last)
        rd_kafka_message_destroy(m->last);
    for (size_t i = 0; i < m->nrkts; i++)
        rd_kafka_topic_destroy(m->rkts[i]);
    int left = m->rk ? ms_kg__destroy_bounded(m->rk, 1) : 0;
    free(m->rkts);
    free(m->tmp);
    if (left)
        return 1; /* the closing thread may still call on_rebalance with m: keep it */
    free(m);
    return 0;
}

int ms_kmember_poll(ms_kmember *m, int timeout_ms, ms_kmsg *out, char *errstr, size_t errsz)
{
    if (m->last) {
        rd_kafka_message_destroy(m->last);
        m->last = NULL;
    }
    if (m->fatal) {
        snprintf(errstr, errsz, "%s", m->fatal_msg);
        return m->fenced ? MS_EFENCED : MS_EIO;
    }
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, timeout_ms);
    if (!msg)
        return 0;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && msg->rkt) {
        memset(out, 0, sizeof(*out));
        out->topic = rd_kafka_topic_name(msg->rkt);
        out->partition = msg->partition;
        out->offset = msg->offset;
        m->last = msg;
        return 2;
    }
    if (msg->err) {
        if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
            member_fatal(m);
            rd_kafka_message_destroy(msg);
            snprintf(errstr, errsz, "%s", m->fatal_msg);
            return m->fenced ? MS_EFENCED : MS_EIO;
        }
        on_member_error(m->rk, msg->err, rd_kafka_message_errstr(msg), m);
        rd_kafka_message_destroy(msg);
        return 0;
    }
    out->topic = rd_kafka_topic_name(msg->rkt);
    out->partition = msg->partition;
    out->offset = msg->offset;
    out->key = msg->key;
    out->klen = msg->key_len;
    out->value = msg->payload;
    out->vlen = msg->len;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(msg, &tt);
    out->ts_us = tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? INT64_MIN : ts * 1000;
    m->last = msg;
    return 1;
}

void ms_kmember_positions(ms_kmember *m, ms_ktp *parts, size_t n)
{
    rd_kafka_topic_partition_list_t *l = to_list(parts, n, 0);
    if (rd_kafka_position(m->rk, l) != 0)
        for (int i = 0; i < l->cnt; i++)
            l->elems[i].offset = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t off = l->elems[i].offset;
        parts[i].offset = l->elems[i].err || off < 0 ? -1 : off;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

int ms_kmember_pause(ms_kmember *m, const ms_ktp *parts, size_t n, int pause)
{
    rd_kafka_topic_partition_list_t *l = to_list(parts, n, 0);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(m->rk, l) : rd_kafka_resume_partitions(m->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? MS_EIO : 0;
}

int ms_kmember_seek(ms_kmember *m, const ms_ktp *parts, size_t n, char *errstr, size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = to_list(parts, n, 1);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, l, 5000);
    int rc = 0;
    if (e) {
        snprintf(errstr, errsz, "kafka group: seek failed: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = MS_EIO;
    }
    for (int i = 0; rc == 0 && i < l->cnt; i++)
        if (l->elems[i].err) {
            snprintf(errstr, errsz, "kafka group: seek of %s/%" PRId32 " failed: %s",
                     l->elems[i].topic, l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
            rc = MS_EIO;
        }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int ms_kmember_committed(ms_kmember *m, ms_ktp *parts, size_t n, ms_buf *meta, int timeout_ms,
                         char *errstr, size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = to_list(parts, n, 0);
    rd_kafka_resp_err_t err = rd_kafka_committed(m->rk, l, timeout_ms);
    if (err) {
        snprintf(errstr, errsz, "kafka group: committed offsets: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
        return err == RD_KAFKA_RESP_ERR__TIMED_OUT ? MS_ETIMEDOUT : MS_EIO;
    }
    ms_buf_reset(meta);
    size_t *at = ms_xmalloc((n ? n : 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        parts[i].offset = e->err || e->offset < 0 ? -1 : e->offset;
        at[i] = SIZE_MAX;
        if (!e->err && e->metadata && e->metadata_size) {
            at[i] = meta->len;
            ms_buf_append(meta, e->metadata, e->metadata_size);
            ms_buf_putc(meta, '\0');
        }
    }
    for (size_t i = 0; i < n; i++)
        parts[i].metadata = at[i] == SIZE_MAX ? NULL : meta->data + at[i];
    free(at);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

const char *ms_kmember_id(ms_kmember *m, ms_buf *out)
{
    ms_buf_reset(out);
    char *id = rd_kafka_memberid(m->rk);
    ms_buf_puts(out, id ? id : "");
    if (id)
        rd_kafka_mem_free(m->rk, id);
    return out->data ? out->data : "";
}

int32_t ms_kmember_generation(ms_kmember *m)
{
    return m->generation;
}

/* internal: the consumer handle, for the producer's send_offsets */
rd_kafka_t *ms_kg__member_rk(ms_kmember *m);
rd_kafka_t *ms_kg__member_rk(ms_kmember *m)
{
    return m->rk;
}

/* ------------------------------------------------------------- reader */

struct ms_kreader {
    rd_kafka_t *rk;
    int timeout_ms;
};

int ms_kreader_open(const ms_kconf *c, const char *group_id, ms_kreader **out, char *errstr,
                    size_t errsz)
{
    *out = NULL;
    const ms_kg_prop owned[] = {
        {"group.id", group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "50"},
        {"queued.min.messages", "1000000"},
    };
    rd_kafka_conf_t *kc =
        ms_kg__conf(c, owned, sizeof(owned) / sizeof(owned[0]), "mstream-restore", errstr, errsz);
    if (!kc)
        return MS_EUSAGE;
    ms_kreader *r = ms_xcalloc(1, sizeof(*r));
    r->timeout_ms = ms_kg__timeout(c);
    char why[512];
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, why, sizeof(why));
    if (!r->rk) {
        rd_kafka_conf_destroy(kc);
        free(r);
        snprintf(errstr, errsz, "cannot start the Kafka changelog reader: %s", why);
        return MS_EIO;
    }
    rd_kafka_poll_set_consumer(r->rk);
    *out = r;
    return 0;
}

int ms_kreader_close(ms_kreader *r)
{
    if (!r)
        return 0;
    int left = 0;
    if (r->rk) {
        rd_kafka_assign(r->rk, NULL);
        left = ms_kg__destroy_bounded(r->rk, 0);
    }
    free(r);
    return left;
}

int ms_kreader_offsets(ms_kreader *r, ms_ktp *parts, size_t n, int start, char *errstr,
                       size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = to_list(parts, n, 0);
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = start ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(r->rk, l, r->timeout_ms);
    int rc = 0;
    if (err) {
        snprintf(errstr, errsz, "kafka: querying %s offsets: %s", start ? "start" : "end",
                 rd_kafka_err2str(err));
        rc = MS_EIO;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        if (e->err || e->offset < 0) {
            snprintf(errstr, errsz, "kafka: querying the %s offset of %s/%" PRId32 ": %s",
                     start ? "start" : "end", e->topic, e->partition,
                     rd_kafka_err2str(e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET));
            rc = MS_EIO;
            break;
        }
        parts[i].offset = e->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int ms_kreader_read(ms_kreader *r, const char *topic, int32_t partition, int64_t *pos,
                    int64_t until, double budget_sec, volatile sig_atomic_t *stop,
                    int (*fn)(void *ud, const ms_kmsg *m), void *ud, char *errstr, size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset =
        *pos >= 0 ? *pos : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        snprintf(errstr, errsz, "kafka: cannot read %s/%" PRId32 ": %s", topic, partition,
                 rd_kafka_err2str(err));
        return MS_EIO;
    }
    double deadline = ms_now_mono() + budget_sec;
    int rc = 1;
    int at_end = 0;
    for (;;) {
        if (at_end && *pos >= until) {
            rc = 0;
            break;
        }
        if ((stop && *stop) || ms_now_mono() >= deadline)
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->rk, 100);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (msg->partition == partition && msg->offset > *pos)
                *pos = msg->offset;
            at_end = 1;
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (msg->err) {
            if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
                snprintf(errstr, errsz, "kafka changelog reader failed: %s",
                         rd_kafka_message_errstr(msg));
                rd_kafka_message_destroy(msg);
                rc = MS_EIO;
                break;
            }
            if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                ms_warn("kafka %s/%" PRId32 ": offset %" PRId64 " is out of range (%s); reading "
                        "from the earliest offset left",
                        topic, partition, *pos, rd_kafka_message_errstr(msg));
            }
            rd_kafka_message_destroy(msg);
            continue;
        }
        at_end = 0;
        if (msg->offset >= *pos) {
            ms_kmsg km = {.topic = topic,
                          .partition = msg->partition,
                          .offset = msg->offset,
                          .key = msg->key,
                          .klen = msg->key_len,
                          .value = msg->payload,
                          .vlen = msg->len,
                          .ts_us = INT64_MIN};
            int frc = fn(ud, &km);
            *pos = msg->offset + 1;
            if (frc < 0) {
                rd_kafka_message_destroy(msg);
                rc = frc;
                break;
            }
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_assign(r->rk, NULL);
    ms_debug("kafka reader %s/%" PRId32 ": at %" PRId64 " (until %" PRId64 ", %s): %s", topic,
             partition, *pos, until, at_end ? "at its end" : "not at its end",
             rc == 0   ? "done"
             : rc == 1 ? "more"
                       : "failed");
    return rc;
}
