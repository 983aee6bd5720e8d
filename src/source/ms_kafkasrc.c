/*
 * The Kafka source (design in ms_kafkasrc.h).
 *
 * In-memory state: topics[] (sorted by name, deduplicated) and parts[]
 * (sorted by topic index, then partition — the order of plan items and of
 * checkpoint keys).  A partition's `pos` only moves in
 * ms_kafkasrc_committed() (or replan/plan for a position that was never
 * durable); everything the planner decides lives in the plan.
 *
 * Reading (ms_kafka_read.c) and waiting for the brokers (ms_kafka_wait.c)
 * have their own files; ms_kafkasrc_int.h lists them all.
 */
#include "source/ms_kafkasrc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "source/ms_kafkasrc_int.h"
#include "source/ms_sources.h"
#include "state/ms_table.h"

/* ------------------------------------------------------------- utilities */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

ssize_t ms_kafka__topic_index(const ms_kafkasrc *s, const char *name)
{
    size_t lo = 0, hi = s->ntopics;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->topics[mid].name, name);
        if (c == 0)
            return (ssize_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Index of the first part >= (ti, partition). */
static size_t part_lower(const ms_kafkasrc *s, size_t ti, int32_t partition)
{
    size_t lo = 0, hi = s->nparts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const kpart *p = &s->parts[mid];
        if (p->ti < ti || (p->ti == ti && p->partition < partition))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static kpart *part_find(ms_kafkasrc *s, size_t ti, int32_t partition)
{
    size_t i = part_lower(s, ti, partition);
    if (i < s->nparts && s->parts[i].ti == ti && s->parts[i].partition == partition)
        return &s->parts[i];
    return NULL;
}

/* Finds or inserts (ti, partition); *added tells which.  Pointers into
 * parts[] are invalidated by an insertion. */
static kpart *part_get(ms_kafkasrc *s, size_t ti, int32_t partition, int *added)
{
    size_t i = part_lower(s, ti, partition);
    *added = 0;
    if (i < s->nparts && s->parts[i].ti == ti && s->parts[i].partition == partition)
        return &s->parts[i];
    if (s->nparts == s->capparts) {
        s->capparts = s->capparts ? s->capparts * 2 : 16;
        s->parts = ms_xrealloc(s->parts, s->capparts * sizeof(kpart));
    }
    memmove(&s->parts[i + 1], &s->parts[i], (s->nparts - i) * sizeof(kpart));
    s->nparts++;
    kpart *p = &s->parts[i];
    memset(p, 0, sizeof(*p));
    p->ti = ti;
    p->partition = partition;
    p->pos = -1;
    p->low = p->high = -1;
    p->frozen_end = -1;
    p->plan_end = -1;
    p->mark_off = p->nmark_off = -1;
    *added = 1;
    return p;
}

kpart *ms_kafka__part_by_name(ms_kafkasrc *s, const char *topic, int32_t partition)
{
    ssize_t ti = ms_kafka__topic_index(s, topic);
    return ti < 0 ? NULL : part_find(s, (size_t)ti, partition);
}

/* A transient failure: counted; one warning per TROUBLE_LOG_SEC. */
void ms_kafka__trouble(ms_kafkasrc *s, const char *what, const char *reason)
{
    s->st.transient_errors++;
    s->trouble_since_log++;
    double now = ms_now_mono();
    if (now >= s->next_trouble_log) {
        ms_warn("kafka %s: %s: %s (retrying; %" PRIu64 " transient errors in the last %.0fs)",
                s->brokers, what, reason, s->trouble_since_log, TROUBLE_LOG_SEC);
        s->trouble_since_log = 0;
        s->next_trouble_log = now + TROUBLE_LOG_SEC;
    }
}

/* A broker error: permanent ones make the source fail for good (the next
 * plan or read returns MS_EIO with the reason), the rest are retried. */
void ms_kafka__broker_err(ms_kafkasrc *s, const char *what, rd_kafka_resp_err_t err)
{
    if (err_permanent(err)) {
        if (!s->fatal) {
            s->fatal = 1;
            snprintf(s->fatal_msg, sizeof(s->fatal_msg), "kafka %s: %s: %s (%s)", s->brokers, what,
                     rd_kafka_err2str(err), rd_kafka_err2name(err));
            ms_error("%s", s->fatal_msg);
        }
        return;
    }
    ms_kafka__trouble(s, what, rd_kafka_err2str(err));
}

/* ------------------------------------------------------ librdkafka hooks */

/* Runs on the thread that serves the queue: ours (consume, poll). */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ms_kafkasrc *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        s->fatal = 1;
        snprintf(s->fatal_msg, sizeof(s->fatal_msg), "kafka client failed for good: %s", buf);
        ms_error("%s", s->fatal_msg);
        return;
    }
    if (err_permanent((rd_kafka_resp_err_t)err) && !s->fatal) {
        s->fatal = 1;
        snprintf(s->fatal_msg, sizeof(s->fatal_msg), "kafka %s: %s (%s)", s->brokers, reason,
                 rd_kafka_err2name((rd_kafka_resp_err_t)err));
        ms_error("%s", s->fatal_msg);
        return;
    }
    ms_kafka__trouble(s, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Runs on librdkafka's threads; ms_log is thread-safe. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum ms_log_level l = level <= 4 ? MS_LOG_WARN : level <= 5 ? MS_LOG_INFO : MS_LOG_DEBUG;
    if (l == MS_LOG_DEBUG && ms_log_threshold < MS_LOG_DEBUG)
        return;
    ms_log(l, "librdkafka %s: %s", fac, buf);
}

/* Serves callbacks and drops events left over from an earlier read. */
void ms_kafka__drain_events(ms_kafkasrc *s)
{
    /* Bounded: a consumer whose topic went away can produce error events
     * as fast as they are drained. */
    rd_kafka_message_t *m;
    double until = ms_now_mono() + 0.2;
    for (int n = 0; n < 100000 && (m = rd_kafka_consumer_poll(s->rk, 0)) != NULL; n++) {
        if ((n & 255) == 255 && ms_now_mono() > until) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err && !m->rkt && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            on_error(s->rk, m->err, rd_kafka_message_errstr(m), s);
        rd_kafka_message_destroy(m);
    }
}

/* The starting offset of a partition without a position: the JSON entry,
 * else the global word, else latest. */
static int64_t start_spec(const ms_kafkasrc *s, const kpart *p)
{
    if (!s->fresh || !p->initial)
        return MS_KAFKA_OFFSET_EARLIEST; /* a partition that appeared later */
    int64_t dflt = MS_KAFKA_OFFSET_LATEST;
    for (size_t i = 0; i < s->nstarts; i++) {
        const ms_kafka_start *st = &s->starts[i];
        if (!st->topic)
            dflt = st->offset;
        else if (st->partition == p->partition && strcmp(st->topic, tname(s, p)) == 0)
            return st->offset;
    }
    return dflt;
}

/* ---------------------------------------------------------------- opening */

static int load_pos(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    ms_kafkasrc *s = ud;
    ms_kafka_pos pos;
    if (ms_codec_decode_kafka_pos(k, kl, v, vl, &pos) != 0)
        return MS_ECORRUPT;
    s->fresh = 0;
    ssize_t ti = ms_kafka__topic_index(s, pos.topic);
    if (ti >= 0) {
        int added;
        kpart *p = part_get(s, (size_t)ti, pos.partition, &added);
        p->pos = pos.offset;
        p->durable = 1;
        p->mark_off = pos.mark_offset;
        p->mark_hash = pos.mark_hash;
        p->verify = 1; /* the topic may have been re-created while we were down */
    }
    ms_kafka_pos_free(&pos);
    return 0;
}

static int set_prop(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr, size_t errsz)
{
    char why[256];
    if (rd_kafka_conf_set(kc, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsz, "kafka property %s=%s: %s", k, v, why);
        return MS_EUSAGE;
    }
    return 0;
}

/* Properties mstream owns: offsets live in the checkpoint, and reading
 * needs partition-EOF events and out-of-range errors. */
static const char *const owned_props[][2] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "true"},
    {"auto.offset.reset", "error"},
};
#define NOWNED (sizeof(owned_props) / sizeof(owned_props[0]))

static rd_kafka_conf_t *make_conf(const ms_kafkasrc_conf *c, ms_kafkasrc *s, char *errstr,
                                  size_t errsz)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char group[64];
    if (c->ckpt_dir)
        snprintf(group, sizeof(group), "mstream-%016" PRIx64,
                 ms_hash(c->ckpt_dir, strlen(c->ckpt_dir)));
    else
        snprintf(group, sizeof(group), "mstream");
    if (set_prop(kc, "bootstrap.servers", c->brokers, errstr, errsz) ||
        set_prop(kc, "group.id", c->group_id ? c->group_id : group, errstr, errsz) ||
        set_prop(kc, "client.id", "mstream", errstr, errsz) ||
        /* A read stops at the planned ends, which the brokers already
         * have: the only fetch that waits for data is one past the end,
         * and it would hold up the next batch's assignment. */
        set_prop(kc, "fetch.wait.max.ms", "10", errstr, errsz) ||
        /* librdkafka 2.0 stops fetching a partition whose local queue
         * holds queued.min.messages (default 100000) and then backs it
         * off for a whole second (fetch.queue.backoff.ms, which makes
         * that configurable, came in 2.1): an engine that parses and
         * groups more slowly than the fetcher fills the queue, and sat
         * idle 2/3 of a batch on a 4-partition backlog (tests/bench/
         * kafka_bench.py).  The byte bound, queued.max.messages.kbytes
         * (64 MiB), stays the one that limits memory. */
        set_prop(kc, "queued.min.messages", "10000000", errstr, errsz))
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
        int owned = 0;
        for (size_t o = 0; o < NOWNED; o++)
            owned |= strcmp(key, owned_props[o][0]) == 0;
        if (owned) {
            ms_warn("kafka property %s is ignored: mstream keeps offsets in its checkpoint and "
                    "sets %s itself",
                    kv, key);
            continue;
        }
        if (set_prop(kc, key, eq + 1, errstr, errsz))
            goto err;
    }
    for (size_t o = 0; o < NOWNED; o++)
        if (set_prop(kc, owned_props[o][0], owned_props[o][1], errstr, errsz))
            goto err;
    rd_kafka_conf_set_opaque(kc, s);
    rd_kafka_conf_set_error_cb(kc, on_error);
    rd_kafka_conf_set_log_cb(kc, on_log);
    return kc;
err:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

int ms_kafkasrc_open(const ms_kafkasrc_conf *c, ms_ckpt *ck, ms_kafkasrc **out, char *errstr,
                     size_t errsz)
{
    *out = NULL;
    if (!c->brokers || !c->brokers[0]) {
        snprintf(errstr, errsz, "no Kafka brokers given (--kafka HOST:PORT[,HOST:PORT...])");
        return MS_EUSAGE;
    }
    if (c->ntopics == 0) {
        snprintf(errstr, errsz, "no Kafka topics given (--topics a,b)");
        return MS_EUSAGE;
    }
    for (size_t i = 0; i < c->ntopics; i++) {
        const char *t = c->topics[i];
        if (!t || !ms_codec_kafka_topic_valid(t, strlen(t))) {
            snprintf(errstr, errsz,
                     "\"%.64s\" is not a valid Kafka topic name (1 to 249 characters among "
                     "a-z A-Z 0-9 . _ -)",
                     t ? t : "");
            return MS_EUSAGE;
        }
    }

    ms_kafkasrc *s = ms_xcalloc(1, sizeof(*s));
    s->brokers = ms_xstrdup(c->brokers);
    s->fresh = 1;
    s->fail_on_data_loss = c->fail_on_data_loss;
    s->max_offsets = c->max_offsets_per_trigger;
    s->available_now = c->available_now;
    s->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
    s->meta_interval = c->metadata_interval_sec > 0 ? c->metadata_interval_sec : 0;
    s->msgs = ms_xmalloc(CONSUME_BATCH * sizeof(*s->msgs));

    /* Topics: sorted, deduplicated (their order is the plan's order). */
    const char **names = ms_xmalloc(c->ntopics * sizeof(char *));
    memcpy(names, c->topics, c->ntopics * sizeof(char *));
    qsort(names, c->ntopics, sizeof(char *), cmp_str);
    s->topics = ms_xcalloc(c->ntopics, sizeof(ktopic));
    for (size_t i = 0; i < c->ntopics; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            s->topics[s->ntopics++].name = ms_xstrdup(names[i]);
    free(names);

    int rc = ms_kafkasrc_parse_offsets(c->starting_offsets, &s->starts, &s->nstarts, errstr, errsz);
    if (rc)
        goto err;
    for (size_t i = 0; i < s->nstarts; i++)
        if (s->starts[i].topic && ms_kafka__topic_index(s, s->starts[i].topic) < 0) {
            snprintf(errstr, errsz, "starting offsets name topic %s, which is not among the topics",
                     s->starts[i].topic);
            rc = MS_EUSAGE;
            goto err;
        }

    rc = ms_ckpt_scan(ck, MS_KAFKA_POS_PREFIX, MS_KAFKA_POS_PREFIX_LEN, load_pos, s, errstr, errsz);
    if (rc) {
        if (rc == MS_ECORRUPT)
            snprintf(errstr, errsz, "checkpoint holds a corrupt Kafka position record");
        goto err;
    }

    rd_kafka_conf_t *kc = make_conf(c, s, errstr, errsz);
    if (!kc) {
        rc = MS_EUSAGE;
        goto err;
    }
    char why[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, why, sizeof(why));
    if (!s->rk) {
        rd_kafka_conf_destroy(kc);
        snprintf(errstr, errsz, "cannot start the Kafka consumer: %s", why);
        rc = MS_EIO;
        goto err;
    }
    rd_kafka_poll_set_consumer(s->rk); /* callbacks are served by our consume calls */
    s->q = rd_kafka_queue_get_consumer(s->rk);
    for (size_t i = 0; i < s->ntopics; i++) {
        s->topics[i].rkt = rd_kafka_topic_new(s->rk, s->topics[i].name, NULL);
        if (!s->topics[i].rkt) {
            snprintf(errstr, errsz, "kafka topic %s: %s", s->topics[i].name,
                     rd_kafka_err2str(rd_kafka_last_error()));
            rc = MS_EIO;
            goto err;
        }
    }
    size_t known = 0;
    for (size_t i = 0; i < s->nparts; i++)
        known += s->parts[i].durable;
    ms_info("kafka %s: %zu topic(s), %zu partition positions restored from the checkpoint%s",
            c->brokers, s->ntopics, known, s->fresh ? " (fresh: starting offsets apply)" : "");
    *out = s;
    return 0;
err:
    ms_kafkasrc_close(s);
    return rc;
}

/* librdkafka's shutdown, on a thread of its own so that it can be waited
 * for with a deadline. */
typedef struct closer {
    rd_kafka_t *rk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} closer;

static void *close_run(void *ud)
{
    closer *c = ud;
    /* No group membership to leave (assign only, nothing committed):
     * closing must not wait for a coordinator that may be down. */
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* 1 when the shutdown did not finish within CLOSE_WAIT_SEC (left running). */
static int destroy_bounded(rd_kafka_t *rk)
{
    closer *c = ms_xcalloc(1, sizeof(*c));
    c->rk = rk;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (pthread_create(&th, &attr, close_run, c) != 0) {
        pthread_attr_destroy(&attr);
        close_run(c); /* no thread: wait as before */
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return 0;
    }
    pthread_attr_destroy(&attr);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)CLOSE_WAIT_SEC;
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
    int done = c->done;
    pthread_mutex_unlock(&c->mu);
    if (!done) {
        ms_warn("kafka: librdkafka did not shut down within %.0fs (it can hang after a topic "
                "went away, librdkafka #3007): leaving its threads behind",
                CLOSE_WAIT_SEC);
        return 1; /* c stays: the thread still uses it */
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return 0;
}

int ms_kafkasrc_close(ms_kafkasrc *s)
{
    if (!s)
        return 0;
    int left = 0;
    if (s->rk) {
        rd_kafka_assign(s->rk, NULL);
        ms_kafka__drain_events(s);
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        if (s->topics[i].rkt)
            rd_kafka_topic_destroy(s->topics[i].rkt);
        free(s->topics[i].name);
    }
    if (s->q)
        rd_kafka_queue_destroy(s->q);
    if (s->rk)
        left = destroy_bounded(s->rk);
    free(s->topics);
    free(s->parts);
    ms_kafkasrc_starts_free(s->starts, s->nstarts);
    ms_buf_free(&s->key);
    ms_buf_free(&s->val);
    free(s->msgs);
    free(s->brokers);
    free(s->pinfo);
    free(s);
    return left;
}

/* ------------------------------------------------------------- discovery */

/* Asks the brokers for the partitions of our topics.  KQ_OK, KQ_FAILED
 * when the brokers did not answer (counted; the partitions known so far
 * stay) or KQ_STOPPED. */
int ms_kafka__refresh_metadata(ms_kafkasrc *s)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = ms_kafka__wait(s, ms_kafka__call_metadata, &md);
    if (err == RD_KAFKA_RESP_ERR__INTR)
        return KQ_STOPPED;
    if (err) {
        ms_kafka__broker_err(s, "listing partitions", err);
        return KQ_FAILED;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        ssize_t ti = ms_kafka__topic_index(s, t->topic);
        if (ti < 0)
            continue;
        ktopic *kt = &s->topics[ti];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            (t->err == 0 && t->partition_cnt == 0)) {
            if (!kt->missing)
                ms_warn("kafka topic %s does not exist (yet): waiting for it", kt->name);
            kt->missing = 1;
            kt->meta_seen = 1;
            /* Deleted, maybe to be created again: what it holds when it is
             * back is checked against the markers before anything is read. */
            for (size_t k = part_lower(s, (size_t)ti, 0);
                 k < s->nparts && s->parts[k].ti == (size_t)ti; k++) {
                s->parts[k].in_meta = 0;
                s->parts[k].verify = 1;
            }
            continue;
        }
        if (t->err) {
            ms_kafka__broker_err(s, kt->name, t->err);
            continue; /* keep what we knew */
        }
        if (kt->missing)
            ms_info("kafka topic %s exists now (%d partitions)", kt->name, t->partition_cnt);
        kt->missing = 0;
        for (size_t k = part_lower(s, (size_t)ti, 0); k < s->nparts && s->parts[k].ti == (size_t)ti;
             k++)
            s->parts[k].in_meta = 0;
        for (int j = 0; j < t->partition_cnt; j++) {
            int32_t id = t->partitions[j].id;
            if (id < 0)
                continue;
            int added;
            kpart *p = part_get(s, (size_t)ti, id, &added);
            if (added) {
                p->initial = !kt->meta_seen;
                if (kt->meta_seen)
                    ms_info("kafka topic %s: new partition %" PRId32 " (read from its earliest "
                            "offset)",
                            kt->name, id);
            }
            p->in_meta = 1;
        }
        kt->meta_seen = 1;
    }
    rd_kafka_metadata_destroy(md);
    s->st.metadata_refreshes++;

    if (s->available_now && !s->frozen) {
        int all = 1;
        for (size_t i = 0; i < s->ntopics; i++)
            all &= s->topics[i].meta_seen;
        if (all) {
            s->frozen = 1;
            for (size_t i = 0; i < s->nparts; i++)
                s->parts[i].in_set = s->parts[i].in_meta;
        }
    }
    return KQ_OK;
}

/* --------------------------------------------------------------- planning */

void ms_kafka__data_loss_msg(char *errstr, size_t errsz, const char *topic, int32_t part,
                             int64_t from, int64_t to, const char *why)
{
    snprintf(errstr, errsz,
             "kafka topic %s partition %" PRId32 ": offsets %" PRId64 "..%" PRId64
             " are no longer in the broker (%s): %" PRId64
             " messages were lost before mstream read them. The query stops here so the loss "
             "is not silent; restart with --fail-on-data-loss false to skip them and continue",
             topic, part, from, to - 1, why, to - from);
}

/* Records a loss that the query continues past. */
void ms_kafka__count_loss(ms_kafkasrc *s, const char *topic, int32_t part, int64_t from, int64_t to,
                          const char *why)
{
    s->st.data_loss_events++;
    if (to > from)
        s->st.offsets_lost += (uint64_t)(to - from);
    ms_error("DATA LOSS: kafka topic %s partition %" PRId32 ": offsets %" PRId64 "..%" PRId64
             " are no longer in the broker (%s); %" PRId64
             " messages skipped (--fail-on-data-loss false)",
             topic, part, from, to - 1, why, to > from ? to - from : 0);
}

typedef struct cand {
    size_t pi; /* index in parts[] */
    int64_t start, end;
} cand;

/* --------------------------------------------------------- topic lifecycle */

/* The partition p holds other messages than the ones mstream read (its
 * topic was deleted and created again): fail, or read the new partition
 * from its earliest offset.  why says how it was found out. */
static int recreated(ms_kafkasrc *s, kpart *p, const char *why, char *errstr, size_t errsz)
{
    if (s->fail_on_data_loss) {
        snprintf(errstr, errsz,
                 "kafka topic %s partition %" PRId32 " was deleted and created again (%s): "
                 "mstream had read it up to offset %" PRId64 ", and the partition now holds "
                 "%" PRId64 " other messages (offsets %" PRId64 " to %" PRId64 "). The query stops "
                 "here so the loss is not silent; restart with --fail-on-data-loss false to read "
                 "the new partition from its earliest offset",
                 tname(s, p), p->partition, why, p->pos, p->high - p->low, p->low, p->high);
        return MS_ECORRUPT;
    }
    s->st.data_loss_events++;
    ms_error("DATA LOSS: kafka topic %s partition %" PRId32 " was deleted and created again (%s): "
             "reading the new partition from its earliest offset %" PRId64 ", 0 of its messages "
             "skipped; messages of the old partition after offset %" PRId64
             " that mstream had not read are lost (--fail-on-data-loss false)",
             tname(s, p), p->partition, why, p->low, p->pos);
    p->pos = p->low;
    p->durable = 0;
    p->restart = 1;
    p->mark_off = -1;
    p->verify = 0;
    return 0;
}

/* Topic lifecycle (ms_kafkasrc.h): partitions that vanished from a topic
 * that exists, partitions whose end is now below the committed position,
 * and the content markers due for a check (idx[0..n): the partitions with
 * fresh watermarks).  Partitions whose check is pending (no answer yet)
 * get their `verify` kept, and the planner leaves them out. */
static int check_lifecycle(ms_kafkasrc *s, const size_t *idx, size_t n, char *errstr, size_t errsz)
{
    for (size_t i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        const ktopic *t = &s->topics[p->ti];
        if (!p->durable || p->dropped || p->in_meta || !t->meta_seen || t->missing)
            continue;
        if (p->pos <= 0) { /* nothing was read of it: nothing it held is known */
            ms_info("kafka topic %s has no partition %" PRId32 " any more; nothing had been "
                    "read of it",
                    t->name, p->partition);
            p->dropped = 1;
            continue;
        }
        if (s->fail_on_data_loss) {
            snprintf(errstr, errsz,
                     "kafka topic %s has no partition %" PRId32 " any more (was the topic deleted "
                     "and created again with fewer partitions?): mstream had read it up to offset "
                     "%" PRId64 ". The query stops here so the loss is not silent; restart with "
                     "--fail-on-data-loss false to go on with the partitions the topic has",
                     t->name, p->partition, p->pos);
            return MS_ECORRUPT;
        }
        s->st.data_loss_events++;
        ms_error("DATA LOSS: kafka topic %s has no partition %" PRId32 " any more: its position "
                 "(offset %" PRId64 ") is forgotten; messages it held that mstream had not read "
                 "are lost (--fail-on-data-loss false)",
                 t->name, p->partition, p->pos);
        p->dropped = 1;
    }
    size_t *check = ms_xmalloc((n ? n : 1) * sizeof(size_t));
    size_t nck = 0;
    for (size_t k = 0; k < n; k++) {
        kpart *p = &s->parts[idx[k]];
        if (!p->durable || p->pos <= 0 || p->high < 0 || p->low < 0)
            continue;
        if (p->pos > p->high) {
            int rc = recreated(s, p, "its end offset is below the position read", errstr, errsz);
            if (rc) {
                free(check);
                return rc;
            }
            continue;
        }
        if (!p->verify)
            continue; /* while running, each read checks the marker first (ms_kafka_read.c) */
        if (p->mark_off < 0 || p->mark_off < p->low) {
            /* Nothing to compare (no marker, or retention took the message):
             * the end offsets are all there is to go by. */
            p->verify = 0;
            continue;
        }
        check[nck++] = idx[k];
    }
    int rc = nck ? ms_kafka__verify_marks(s, check, nck, errstr, errsz) : 0;
    for (size_t k = 0; k < nck && rc == 0; k++) {
        kpart *p = &s->parts[check[k]];
        ms_debug("kafka topic %s partition %" PRId32 ": marker at offset %" PRId64 " checked: %s",
                 tname(s, p), p->partition, p->mark_off,
                 p->vres == VR_SAME        ? "the same message"
                 : p->vres == VR_DIFFERENT ? "another message"
                 : p->vres == VR_GONE      ? "not there"
                                           : "no answer");
        switch (p->vres) {
        case VR_DIFFERENT:
            rc = recreated(s, p, "the message at the last offset read is another one", errstr,
                           errsz);
            break;
        case VR_SAME:
        case VR_GONE: /* compacted away: no evidence either way */
            p->verify = 0;
            break;
        default:
            break; /* no answer: checked again at the next plan */
        }
    }
    free(check);
    return rc;
}

static int cmp_backlog_desc(const void *a, const void *b)
{
    const cand *x = *(const cand *const *)a, *y = *(const cand *const *)b;
    int64_t bx = x->end - x->start, by = y->end - y->start;
    if (bx != by)
        return bx > by ? -1 : 1;
    return x->pi < y->pi ? -1 : x->pi > y->pi;
}

/* --max-offsets-per-trigger: the cap is split across partitions in
 * proportion to their backlog (Spark's rule), every partition with a
 * backlog gets at least one offset when the cap allows, and the sum never
 * exceeds the cap. */
static void apply_cap(cand *c, size_t n, uint64_t cap)
{
    size_t k = 0;
    long double total = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].end > c[i].start) {
            k++;
            total += (long double)(c[i].end - c[i].start);
        }
    if (cap == 0 || total <= (long double)cap)
        return;
    if (cap < k) {
        /* Too few offsets for everyone: one each to the largest backlogs. */
        cand **order = ms_xmalloc(k * sizeof(cand *));
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].end > c[i].start)
                order[m++] = &c[i];
        qsort(order, m, sizeof(cand *), cmp_backlog_desc);
        for (size_t i = 0; i < m; i++)
            order[i]->end = i < cap ? order[i]->start + 1 : order[i]->start;
        free(order);
        return;
    }
    /* One each, then the rest in proportion to what remains of each backlog. */
    uint64_t rest = cap - k;
    long double remaining = total - (long double)k;
    uint64_t *give = ms_xcalloc(n, sizeof(uint64_t));
    uint64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].end <= c[i].start)
            continue;
        uint64_t r = (uint64_t)(c[i].end - c[i].start) - 1;
        long double share = remaining > 0 ? (long double)rest * (long double)r / remaining : 0;
        uint64_t g = share >= (long double)r ? r : (uint64_t)share;
        give[i] = g;
        given += g;
    }
    /* Rounding: take back any excess, then hand out what is left one by one. */
    for (size_t i = 0; i < n && given > rest; i++) {
        uint64_t t = give[i] < given - rest ? give[i] : given - rest;
        give[i] -= t;
        given -= t;
    }
    while (given < rest) {
        int moved = 0;
        for (size_t i = 0; i < n && given < rest; i++) {
            if (c[i].end <= c[i].start)
                continue;
            if (give[i] < (uint64_t)(c[i].end - c[i].start) - 1) {
                give[i]++;
                given++;
                moved = 1;
            }
        }
        if (!moved)
            break;
    }
    for (size_t i = 0; i < n; i++)
        if (c[i].end > c[i].start)
            c[i].end = c[i].start + 1 + (int64_t)give[i];
    free(give);
}

/* The plan itself; ms_kafkasrc_plan() lends it the stop flag. */
static int plan_run(ms_kafkasrc *s, ms_kafka_plan *plan, char *errstr, size_t errsz)
{
    ms_kafka__drain_events(s);
    if (s->fatal) {
        snprintf(errstr, errsz, "%s", s->fatal_msg);
        return MS_EIO;
    }
    if (stopped(s)) {
        interrupted(errstr, errsz);
        return MS_EINVAL;
    }
    double now = ms_now_mono();
    int unreachable = 0;
    if (now >= s->next_meta) {
        int mq = ms_kafka__refresh_metadata(s);
        if (mq == KQ_STOPPED) {
            interrupted(errstr, errsz);
            return MS_EINVAL;
        }
        if (mq == KQ_OK)
            s->next_meta = now + s->meta_interval;
        else
            unreachable = 1; /* the offset queries would wait as long: skip them */
    }
    if (s->fatal) {
        snprintf(errstr, errsz, "%s", s->fatal_msg);
        return MS_EIO;
    }
    if (s->available_now && !s->frozen)
        return 0; /* the set to drain is not known yet */

    size_t *idx = ms_xmalloc((s->nparts ? s->nparts : 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        if (!p->in_meta || (s->available_now && !p->in_set))
            continue;
        if (s->available_now && p->frozen_end >= 0 && p->durable && p->pos >= p->frozen_end)
            continue; /* drained */
        idx[n++] = i;
    }
    if (n && !unreachable) {
        s->marks_gen++;
        if (ms_kafka__query_marks(s, idx, n, RD_KAFKA_OFFSET_END) == KQ_STOPPED ||
            ms_kafka__query_marks(s, idx, n, RD_KAFKA_OFFSET_BEGINNING) == KQ_STOPPED) {
            free(idx);
            interrupted(errstr, errsz);
            return MS_EINVAL; /* nothing planned, no position moved */
        }
    }
    if (s->fatal) {
        free(idx);
        snprintf(errstr, errsz, "%s", s->fatal_msg);
        return MS_EIO;
    }
    if (!unreachable) {
        int lc = check_lifecycle(s, idx, n, errstr, errsz);
        if (lc) {
            free(idx);
            return lc;
        }
    }

    cand *c = ms_xmalloc((n ? n : 1) * sizeof(cand));
    size_t nc = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        kpart *p = &s->parts[idx[k]];
        if (p->high < 0)
            continue; /* never reached its leader: nothing to plan yet */
        if (p->verify && p->durable && p->pos > 0 && p->mark_off >= 0)
            continue; /* its marker could not be checked yet: read nothing of it */
        if (s->available_now && p->frozen_end < 0)
            p->frozen_end = p->high;
        if (p->pos < 0) {
            int64_t spec = start_spec(s, p);
            if (spec == MS_KAFKA_OFFSET_EARLIEST && p->low < 0)
                continue;
            p->pos = spec == MS_KAFKA_OFFSET_EARLIEST ? p->low
                     : spec == MS_KAFKA_OFFSET_LATEST ? p->high
                                                      : spec;
            p->durable = 0;
            ms_info("kafka topic %s partition %" PRId32 ": starting at offset %" PRId64 " (%s)",
                    tname(s, p), p->partition, p->pos,
                    spec == MS_KAFKA_OFFSET_EARLIEST ? "earliest"
                    : spec == MS_KAFKA_OFFSET_LATEST ? "latest"
                                                     : "given offset");
        }
        int64_t start = p->pos, end = p->high;
        if (p->low >= 0 && start < p->low) {
            if (s->fail_on_data_loss) {
                ms_kafka__data_loss_msg(errstr, errsz, tname(s, p), p->partition, start, p->low,
                                        "deleted by retention");
                rc = MS_ECORRUPT;
                break;
            }
            ms_kafka__count_loss(s, tname(s, p), p->partition, start, p->low,
                                 "deleted by retention");
            start = p->low;
        }
        if (s->available_now && end > p->frozen_end)
            end = p->frozen_end;
        if (end < start)
            end = start;
        if (end > start || !p->durable || start != p->pos)
            c[nc++] = (cand){idx[k], start, end};
    }
    free(idx);
    if (rc) {
        free(c);
        return rc;
    }
    apply_cap(c, nc, s->max_offsets);
    for (size_t i = 0; i < s->nparts; i++)
        s->parts[i].plan_end = -1;
    for (size_t i = 0; i < nc; i++)
        s->parts[c[i].pi].plan_end = c[i].end;

    plan->items = ms_xcalloc(nc ? nc : 1, sizeof(ms_kafka_range));
    for (size_t i = 0; i < nc; i++) {
        const kpart *p = &s->parts[c[i].pi];
        if (c[i].end == c[i].start && p->durable && c[i].start == p->pos)
            continue; /* capped to nothing: no position to record */
        ms_kafka_range *r = &plan->items[plan->n++];
        r->topic = ms_xstrdup(tname(s, p));
        r->partition = p->partition;
        r->start = c[i].start;
        r->end = c[i].end;
        r->flags = p->restart ? MS_KAFKA_RANGE_RESTART : 0;
    }
    free(c);
    return 0;
}

int ms_kafkasrc_plan(ms_kafkasrc *s, ms_kafka_plan *plan, volatile sig_atomic_t *stop, char *errstr,
                     size_t errsz)
{
    memset(plan, 0, sizeof(*plan));
    s->stop = stop;
    int rc = plan_run(s, plan, errstr, errsz);
    s->stop = NULL;
    return rc;
}

uint64_t ms_kafkasrc_plan_messages(const ms_kafka_plan *plan)
{
    uint64_t n = 0;
    for (size_t i = 0; i < plan->n; i++)
        n += (uint64_t)(plan->items[i].end - plan->items[i].start);
    return n;
}

void ms_kafkasrc_plan_encode(const ms_kafka_plan *plan, ms_buf *out)
{
    ms_codec_encode_kafka_plan(out, plan);
}

int ms_kafkasrc_plan_decode(const void *v, size_t vl, ms_kafka_plan *plan)
{
    return ms_codec_decode_kafka_plan(v, vl, plan);
}

int ms_kafkasrc_replan(ms_kafkasrc *s, const ms_kafka_plan *plan, char *errstr, size_t errsz)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *r = &plan->items[i];
        ssize_t ti = ms_kafka__topic_index(s, r->topic);
        if (ti < 0) {
            snprintf(errstr, errsz,
                     "the batch to re-run reads kafka topic %s, which is not among the topics "
                     "now; restart with the topics the checkpoint was made with",
                     r->topic);
            return MS_EUSAGE;
        }
        int added;
        kpart *p = part_get(s, (size_t)ti, r->partition, &added);
        if (r->flags & MS_KAFKA_RANGE_RESTART) {
            /* Planned after the partition was found re-created: it reads
             * the new partition from its start, below the old position. */
            p->pos = r->start;
            p->durable = 0;
            p->restart = 1;
            p->verify = 0;
            p->mark_off = -1;
            continue;
        }
        if (p->durable && r->start < p->pos) {
            snprintf(errstr, errsz,
                     "the batch to re-run starts kafka topic %s partition %" PRId32
                     " at offset %" PRId64 ", before its committed position %" PRId64
                     ": the checkpoint is inconsistent",
                     r->topic, r->partition, r->start, p->pos);
            return MS_ECORRUPT;
        }
        if (!p->durable)
            p->pos = r->start;
    }
    return 0;
}

/* ------------------------------------------------------------- committing */

void ms_kafkasrc_commit(ms_kafkasrc *s, const ms_kafka_plan *plan, ms_ckpt_batch *wb)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *r = &plan->items[i];
        const kpart *sp = ms_kafka__part_by_name(s, r->topic, r->partition);
        if (sp && sp->read_skipped)
            continue; /* re-created under the read: the position stays */
        ms_buf_reset(&s->key);
        ms_buf_reset(&s->val);
        ms_codec_key_kafka_pos(&s->key, r->topic, r->partition);
        /* The marker: the last message this batch read near the end, or the
         * one the position had (a batch that read nothing of it). */
        const kpart *p = ms_kafka__part_by_name(s, r->topic, r->partition);
        int64_t mo = -1;
        uint64_t mh = 0;
        if (p && p->nmark_off >= r->start && p->nmark_off < r->end) {
            mo = p->nmark_off;
            mh = p->nmark_hash;
        } else if (p && !(r->flags & MS_KAFKA_RANGE_RESTART) && p->mark_off >= 0) {
            mo = p->mark_off;
            mh = p->mark_hash;
        }
        ms_codec_encode_kafka_pos(&s->val, r->end, mo, mh);
        ms_ckpt_batch_put(wb, s->key.data, s->key.len, s->val.data, s->val.len);
    }
    /* Partitions gone from their topic: their positions are forgotten. */
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        if (!p->dropped)
            continue;
        ms_buf_reset(&s->key);
        ms_codec_key_kafka_pos(&s->key, tname(s, p), p->partition);
        ms_ckpt_batch_delete(wb, s->key.data, s->key.len);
    }
}

void ms_kafkasrc_committed(ms_kafkasrc *s, const ms_kafka_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *r = &plan->items[i];
        ssize_t ti = ms_kafka__topic_index(s, r->topic);
        if (ti < 0)
            continue;
        int added;
        kpart *p = part_get(s, (size_t)ti, r->partition, &added);
        if (p->read_skipped) {
            p->read_skipped = 0;
            p->nmark_off = -1;
            continue;
        }
        if (p->nmark_off >= r->start && p->nmark_off < r->end) {
            p->mark_off = p->nmark_off;
            p->mark_hash = p->nmark_hash;
        } else if (r->flags & MS_KAFKA_RANGE_RESTART) {
            p->mark_off = -1;
        }
        p->nmark_off = -1;
        p->pos = r->end;
        p->durable = 1;
        p->restart = 0;
    }
    for (size_t i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        if (p->dropped) {
            p->dropped = 0;
            p->durable = 0;
            p->pos = -1;
            p->mark_off = -1;
        }
    }
}

int ms_kafkasrc_drained(const ms_kafkasrc *s)
{
    if (!s->available_now || !s->frozen)
        return 0;
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        if (!p->in_set)
            continue;
        if (p->frozen_end < 0 || !p->durable || p->pos < p->frozen_end)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ stats */

void ms_kafkasrc_get_stats(const ms_kafkasrc *s, ms_kafkasrc_stats *st)
{
    *st = s->st;
    st->npart = s->nparts;
    st->parts = ms_xcalloc(s->nparts ? s->nparts : 1, sizeof(ms_kafka_part_stats));
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        ms_kafka_part_stats *ps = &st->parts[i];
        ps->topic = ms_xstrdup(tname(s, p));
        ps->partition = p->partition;
        ps->committed = p->durable ? p->pos : -1;
        ps->low = p->low;
        ps->high = p->high;
        ps->lag = p->high >= 0 && p->durable && p->high > p->pos ? p->high - p->pos : 0;
    }
}

void ms_kafkasrc_stats_free(ms_kafkasrc_stats *st)
{
    for (size_t i = 0; i < st->npart; i++)
        free(st->parts[i].topic);
    free(st->parts);
    st->parts = NULL;
    st->npart = 0;
}

/* ------------------------------------------------------------ source ops */

#define IDLE_POLL_SEC 0.1 /* --trigger-sec 0: pause after a plan with nothing new */

static int op_plan(void *self, const ms_source_limits *lim, void **out, volatile sig_atomic_t *stop,
                   char *errstr, size_t errsz)
{
    ms_kafkasrc *s = self;
    (void)lim; /* the cap was given at open (max_offsets_per_trigger) */
    ms_kafka_plan *p = ms_xcalloc(1, sizeof(*p));
    int rc = ms_kafkasrc_plan(s, p, stop, errstr, errsz);
    if (rc) {
        ms_kafka_plan_free(p);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static size_t op_plan_ranges(const void *plan)
{
    return ((const ms_kafka_plan *)plan)->n;
}

static void op_plan_range(const void *plan, size_t i, ms_plan_range *r)
{
    const ms_kafka_range *it = &((const ms_kafka_plan *)plan)->items[i];
    r->name = it->topic;
    r->partition = it->partition;
    r->start = (uint64_t)it->start;
    r->end = (uint64_t)it->end;
}

static void op_plan_encode(const void *plan, uint64_t batch_id, double created, ms_buf *out)
{
    ms_kafka_plan p = *(const ms_kafka_plan *)plan;
    p.batch_id = batch_id;
    p.created_ms = (uint64_t)(created * 1000.0);
    ms_codec_encode_kafka_plan(out, &p);
}

static int op_plan_decode(const void *v, size_t vl, void **out, uint64_t *batch_id)
{
    ms_kafka_plan *p = ms_xcalloc(1, sizeof(*p));
    if (ms_codec_decode_kafka_plan(v, vl, p) != 0) {
        free(p);
        return MS_ECORRUPT;
    }
    *batch_id = p->batch_id;
    *out = p;
    return 0;
}

static int op_replan(void *self, void *plan, char *errstr, size_t errsz)
{
    return ms_kafkasrc_replan(self, plan, errstr, errsz);
}

static void op_plan_free(void *plan)
{
    if (!plan)
        return;
    ms_kafka_plan_free(plan);
    free(plan);
}

static int op_read(void *self, const void *plan, const ms_input *in, volatile sig_atomic_t *stop,
                   ms_read_stats *rs, char *errstr, size_t errsz)
{
    ms_kafkasrc *s = self;
    uint64_t m0 = s->st.messages, b0 = s->st.bytes;
    int rc = ms_kafkasrc_read(s, plan, in, stop, errstr, errsz);
    rs->records = s->st.messages - m0;
    rs->bytes = s->st.bytes - b0;
    return rc;
}

static size_t op_commit(void *self, const void *plan, ms_ckpt_batch *wb)
{
    const ms_kafka_plan *p = plan;
    ms_kafkasrc_commit(self, p, wb);
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const kpart *kp = ms_kafka__part_by_name(self, p->items[i].topic, p->items[i].partition);
        n += p->items[i].end > p->items[i].start && !(kp && kp->read_skipped);
    }
    return n;
}

static void op_committed(void *self, const void *plan)
{
    ms_kafkasrc_committed(self, plan);
}

static int op_wait_fd(void *self)
{
    (void)self;
    return -1; /* the brokers are asked at each plan */
}

static double op_next_check(void *self)
{
    (void)self;
    return ms_now_mono() + IDLE_POLL_SEC;
}

static void op_wake(void *self)
{
    (void)self;
}

static int op_has_new(void *self)
{
    (void)self;
    return 1; /* only the brokers know */
}

static int op_drained(void *self)
{
    return ms_kafkasrc_drained(self);
}

static size_t op_partitions(void *self, const ms_part_info **out)
{
    ms_kafkasrc *s = self;
    if (s->nparts > s->capinfo) {
        s->capinfo = s->nparts;
        s->pinfo = ms_xrealloc(s->pinfo, s->capinfo * sizeof(ms_part_info));
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        if (!p->in_meta)
            continue;
        int64_t at = p->plan_end >= 0 ? p->plan_end : p->pos;
        s->pinfo[n].part.topic = tname(s, p);
        s->pinfo[n].part.partition = p->partition;
        s->pinfo[n].backlog = p->high >= 0 && at >= 0 && p->high > at;
        n++;
    }
    *out = s->pinfo;
    return n;
}

static void op_describe(void *self, ms_buf *out)
{
    const ms_kafkasrc *s = self;
    ms_buf_printf(out, "KafkaSource[%s: ", s->brokers);
    for (size_t i = 0; i < s->ntopics; i++)
        ms_buf_printf(out, "%s%s", i ? "," : "", s->topics[i].name);
    ms_buf_putc(out, ']');
}

static void op_stats(void *self, ms_source_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->has_kafka = 1;
    ms_kafkasrc_get_stats(self, &st->kafka);
}

static int op_close(void *self)
{
    return ms_kafkasrc_close(self);
}

const ms_source_ops ms_kafkasrc_ops = {
    .name = "kafka",
    .plan = op_plan,
    .plan_ranges = op_plan_ranges,
    .plan_range = op_plan_range,
    .plan_encode = op_plan_encode,
    .plan_decode = op_plan_decode,
    .replan = op_replan,
    .plan_free = op_plan_free,
    .read = op_read,
    .commit = op_commit,
    .committed = op_committed,
    .wait_fd = op_wait_fd,
    .next_check = op_next_check,
    .wake = op_wake,
    .has_new = op_has_new,
    .drained = op_drained,
    .healthy = NULL,
    .partitions = op_partitions,
    .describe = op_describe,
    .stats = op_stats,
    .close = op_close,
};
