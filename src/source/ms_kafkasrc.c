/*
 * The Kafka source (design in ms_kafkasrc.h).
 *
 * In-memory state: topics[] (sorted by name, deduplicated) and parts[]
 * (sorted by topic index, then partition — the order of plan items and of
 * checkpoint keys).  A partition's `pos` only moves in
 * ms_kafkasrc_committed() (or replan/plan for a position that was never
 * durable); everything the planner decides lives in the plan.
 *
 * Reading: one consumer handle, partitions assigned with explicit offsets
 * for the duration of one read, messages pulled in batches from the
 * consumer queue.  A partition is done when a message at offset >= end-1
 * arrived (later ones are discarded: the next batch re-reads them from its
 * own start) or a partition-EOF event reports a fetch position >= end
 * (transaction markers and compaction leave holes the consumer never
 * delivers).  A partition that is done is paused; at the end of the read
 * everything is unassigned.
 *
 * Offsets out of range (auto.offset.reset=error): the watermarks decide.
 * Below the low watermark: data loss (fail, or count and continue at low).
 * Inside the log: a spurious error, retried.  The same check runs when a
 * read makes no progress for STALL_SEC, so a loss the broker never reports
 * as an error still surfaces.
 *
 * Waiting for the brokers (kwait): librdkafka's metadata and offset queries
 * block for their whole timeout when no broker answers, and take no stop
 * flag.  Each is therefore run in slices: the call is repeated with a short
 * timeout (SLICE_MS) until it gets an answer, the timeout_ms deadline
 * passes, or *stop is set.  This is safe with librdkafka 2.0.2: a call that
 * times out abandons its requests (their replies are dropped, the callbacks
 * see ERR__DESTROY and touch nothing of the caller), and a repeated call
 * sends fresh ones; nothing was sent at all when rd_kafka_metadata() found
 * no broker up (ERR__TRANSPORT).  A broker that is up but slower than a
 * slice answers a later, longer slice: the slice doubles after each
 * ERR__TIMED_OUT, up to SLICE_MAX_MS, which bounds how long a stop waits.
 * 5 s is the default --kafka-timeout-sec: a broker slow enough to need
 * more fails these calls with the default timeout anyway.
 * A failure that comes before the slice is over is an answer, and is
 * handled as before.  rd_kafka_query_watermark_offsets() is not used: it
 * waits for its replies as long as the requests live (socket.timeout.ms),
 * whatever timeout it is given; rd_kafka_offsets_for_times() asks the same
 * (ListOffsets, latest and earliest) and keeps to its timeout.
 */
#include "source/ms_kafkasrc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "core/ms_log.h"
#include "source/ms_sources.h"
#include "mstream/mstream.h"
#include "state/ms_table.h"

#define DEFAULT_TIMEOUT_MS 5000
#define CONSUME_BATCH      1024
#define CONSUME_WAIT_MS    100
#define STALL_SEC          10.0 /* no progress for this long: warn, check watermarks */
#define TROUBLE_LOG_SEC    10.0 /* transient errors: one warning per period */
#define TRUNC_CHECKS       2    /* watchdog checks that must see a partition end below the plan */
#define SLICE_MS           200  /* first slice of a broker wait (kwait) */
#define SLICE_MAX_MS       5000 /* longest slice: bounds the reaction to *stop */

typedef struct kpart {
    size_t ti;
    int32_t partition;
    int64_t pos;                /* next offset to read; -1: not resolved yet */
    int durable;                /* pos is what the checkpoint holds */
    int64_t low, high;          /* watermarks last seen; -1: unknown */
    int in_meta;                /* listed by the last metadata answer about its topic */
    int initial;                /* found by the first answer: takes the starting offsets */
    int in_set;                 /* available-now: part of the frozen set */
    int64_t frozen_end;         /* available-now: end offset seen first; -1: unknown */
    uint64_t low_gen, high_gen; /* query round that last set low / high */
    int64_t plan_end;           /* end of its range in the last plan; -1: not in it */
} kpart;

typedef struct ktopic {
    char *name;
    rd_kafka_topic_t *rkt;
    int meta_seen; /* one successful metadata answer about it */
    int missing;   /* the last answer said it does not exist */
} ktopic;

/* Read state of one planned range. */
typedef struct rstate {
    const char *topic; /* the plan's string */
    size_t tlen;
    const rd_kafka_topic_t *rkt; /* learnt from the first message */
    int32_t partition;
    int64_t next, end;
    int done;
    int paused;
    int trunc_seen;    /* watchdog checks that saw the partition end below `end` */
    double last_moved; /* monotonic time of its last message (or the read's start) */
    double checked_at; /* last stall check */
} rstate;

struct ms_kafkasrc {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    char *brokers;
    ktopic *topics;
    size_t ntopics;
    kpart *parts;
    size_t nparts, capparts;
    ms_kafka_start *starts;
    size_t nstarts;
    int fresh; /* no Kafka position in the checkpoint at open */
    int fail_on_data_loss;
    uint64_t max_offsets;
    int available_now, frozen;
    int timeout_ms;
    double meta_interval, next_meta;
    ms_kafkasrc_stats st;
    double next_trouble_log;
    uint64_t trouble_since_log;
    int fatal;
    char fatal_msg[512];
    ms_buf key, val;
    rd_kafka_message_t **msgs;
    uint64_t marks_gen;          /* offset query rounds */
    volatile sig_atomic_t *stop; /* the caller's stop flag, during plan and read */
    ms_part_info *pinfo;         /* partitions(), rebuilt at each call */
    size_t capinfo;
};

/* ------------------------------------------------------------- utilities */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static ssize_t topic_index(const ms_kafkasrc *s, const char *name)
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
    *added = 1;
    return p;
}

static kpart *part_by_name(ms_kafkasrc *s, const char *topic, int32_t partition)
{
    ssize_t ti = topic_index(s, topic);
    return ti < 0 ? NULL : part_find(s, (size_t)ti, partition);
}

static const char *tname(const ms_kafkasrc *s, const kpart *p)
{
    return s->topics[p->ti].name;
}

/* Errors that retrying cannot fix. */
static int err_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FATAL:
        return 1;
    default:
        return 0;
    }
}

/* A transient failure: counted; one warning per TROUBLE_LOG_SEC. */
static void trouble(ms_kafkasrc *s, const char *what, const char *reason)
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
static void broker_err(ms_kafkasrc *s, const char *what, rd_kafka_resp_err_t err)
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
    trouble(s, what, rd_kafka_err2str(err));
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
    trouble(s, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
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
static void drain_events(ms_kafkasrc *s)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(s->rk, 0)) != NULL) {
        if (m->err && !m->rkt && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            on_error(s->rk, m->err, rd_kafka_message_errstr(m), s);
        rd_kafka_message_destroy(m);
    }
}

/* ------------------------------------------------- waiting for brokers */

/* Outcome of a query that waits for the brokers. */
enum { KQ_OK = 0, KQ_FAILED = 1, KQ_STOPPED = 2 };

static int stopped(const ms_kafkasrc *s)
{
    return s->stop && *s->stop;
}

static void interrupted(char *errstr, size_t errsz)
{
    snprintf(errstr, errsz, "interrupted");
}

/* One blocking librdkafka call, given its timeout. */
typedef rd_kafka_resp_err_t (*kcall_fn)(ms_kafkasrc *s, void *arg, int timeout_ms);

/* Errors with which a call gives up when its timeout is over. */
static int err_waited(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
           err == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

/* Runs fn in slices (see the top of the file) for at most timeout_ms.
 * Returns fn's answer, its last error once the deadline is over, or
 * RD_KAFKA_RESP_ERR__INTR when *stop is set (on entry or between slices). */
static rd_kafka_resp_err_t kwait(ms_kafkasrc *s, kcall_fn fn, void *arg)
{
    double deadline = ms_now_mono() + s->timeout_ms / 1000.0;
    int slice = SLICE_MS;
    for (;;) {
        if (stopped(s))
            return RD_KAFKA_RESP_ERR__INTR;
        double t0 = ms_now_mono();
        double left = (deadline - t0) * 1000.0;
        int tmo = left < slice ? (int)left : slice;
        if (tmo < 1)
            tmo = 1;
        rd_kafka_resp_err_t err = fn(s, arg, tmo);
        double t1 = ms_now_mono();
        if (!err || !err_waited(err) || (t1 - t0) * 1000.0 < tmo / 2.0 || t1 >= deadline)
            return err;
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) /* maybe a slow broker: more time */
            slice = slice * 2 < SLICE_MAX_MS ? slice * 2 : SLICE_MAX_MS;
    }
}

static rd_kafka_resp_err_t call_metadata(ms_kafkasrc *s, void *arg, int timeout_ms)
{
    /* all_topics=0, only_rkt=NULL: the topics this handle knows (ours) */
    return rd_kafka_metadata(s->rk, 0, NULL, arg, timeout_ms);
}

static rd_kafka_resp_err_t call_offsets(ms_kafkasrc *s, void *arg, int timeout_ms)
{
    return rd_kafka_offsets_for_times(s->rk, arg, timeout_ms);
}

/* One round of offset queries for the partitions of l (each offset set to
 * RD_KAFKA_OFFSET_END for the high watermark, _BEGINNING for the low one;
 * the answers replace them).  A failure of the whole round is counted. */
static int offsets_round(ms_kafkasrc *s, rd_kafka_topic_partition_list_t *l, const char *what)
{
    rd_kafka_resp_err_t err = kwait(s, call_offsets, l);
    if (err == RD_KAFKA_RESP_ERR__INTR)
        return KQ_STOPPED;
    if (err) {
        s->st.watermark_failures++;
        broker_err(s, what, err);
        return KQ_FAILED;
    }
    return KQ_OK;
}

/* --------------------------------------------------- starting offsets */

typedef struct jparse {
    const char *begin, *p, *end;
    char *err;
    size_t errsz;
} jparse;

static void jskip(jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jfail(jparse *j, const char *what)
{
    if (j->p < j->end)
        snprintf(j->err, j->errsz,
                 "starting offsets: %s at byte %zu (expected JSON like "
                 "{\"topic\":{\"0\":23,\"1\":-2}}, or earliest or latest)",
                 what, (size_t)(j->p - j->begin));
    else
        snprintf(j->err, j->errsz, "starting offsets: %s at the end of the text", what);
    return MS_EUSAGE;
}

static int jexpect(jparse *j, char c)
{
    jskip(j);
    if (j->p >= j->end || *j->p != c) {
        char what[32];
        snprintf(what, sizeof(what), "expected '%c'", c);
        return jfail(j, what);
    }
    j->p++;
    return 0;
}

static int jpeek(jparse *j, char c)
{
    jskip(j);
    return j->p < j->end && *j->p == c;
}

/* A string without escapes (topic names and partition numbers need none). */
static int jstring(jparse *j, const char **s, size_t *n)
{
    if (jexpect(j, '"'))
        return MS_EUSAGE;
    const char *start = j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\' || (unsigned char)*j->p < 0x20)
            return jfail(j, "escapes and control characters are not allowed in names");
        j->p++;
    }
    if (j->p >= j->end)
        return jfail(j, "unterminated string");
    *s = start;
    *n = (size_t)(j->p - start);
    j->p++;
    return 0;
}

static int jint(jparse *j, int64_t *out)
{
    jskip(j);
    int neg = j->p < j->end && *j->p == '-';
    if (neg)
        j->p++;
    const char *start = j->p;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return jfail(j, "offset out of range");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p == start)
        return jfail(j, "expected an offset");
    if (j->p - start > 1 && *start == '0')
        return jfail(j, "leading zero in an offset");
    if (neg && v != 1 && v != 2)
        return jfail(j, "a negative offset must be -1 (latest) or -2 (earliest)");
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static void starts_push(ms_kafka_start **v, size_t *n, size_t *cap, char *topic, int32_t part,
                        int64_t off)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = ms_xrealloc(*v, *cap * sizeof(ms_kafka_start));
    }
    (*v)[*n].topic = topic;
    (*v)[*n].partition = part;
    (*v)[*n].offset = off;
    (*n)++;
}

static int parse_json_offsets(jparse *j, ms_kafka_start **out, size_t *nout)
{
    ms_kafka_start *v = NULL;
    size_t n = 0, cap = 0;
    int rc = jexpect(j, '{');
    if (rc == 0 && jpeek(j, '}'))
        j->p++;
    else
        while (rc == 0) {
            const char *t;
            size_t tl;
            if ((rc = jstring(j, &t, &tl)) != 0)
                break;
            if (!ms_codec_kafka_topic_valid(t, tl)) {
                rc = jfail(j, "not a valid Kafka topic name");
                break;
            }
            if ((rc = jexpect(j, ':')) != 0 || (rc = jexpect(j, '{')) != 0)
                break;
            if (jpeek(j, '}')) {
                j->p++;
            } else {
                while (rc == 0) {
                    const char *ps;
                    size_t pl;
                    int64_t part = 0, off;
                    if ((rc = jstring(j, &ps, &pl)) != 0)
                        break;
                    if (pl == 0 || pl > 10 || (pl > 1 && ps[0] == '0')) {
                        rc = jfail(j, "a partition must be a number such as \"0\"");
                        break;
                    }
                    for (size_t i = 0; i < pl && rc == 0; i++) {
                        if (ps[i] < '0' || ps[i] > '9')
                            rc = jfail(j, "a partition must be a number such as \"0\"");
                        part = part * 10 + (ps[i] - '0');
                    }
                    if (rc == 0 && part > INT32_MAX)
                        rc = jfail(j, "partition number too large");
                    if (rc || (rc = jexpect(j, ':')) != 0 || (rc = jint(j, &off)) != 0)
                        break;
                    for (size_t i = 0; i < n; i++)
                        if (v[i].partition == part && strlen(v[i].topic) == tl &&
                            memcmp(v[i].topic, t, tl) == 0)
                            rc = jfail(j, "a partition is given twice");
                    if (rc)
                        break;
                    char *topic = ms_xmalloc(tl + 1);
                    memcpy(topic, t, tl);
                    topic[tl] = '\0';
                    starts_push(&v, &n, &cap, topic, (int32_t)part, off);
                    if (jpeek(j, ',')) {
                        j->p++;
                        continue;
                    }
                    rc = jexpect(j, '}');
                    break;
                }
            }
            if (rc)
                break;
            if (jpeek(j, ',')) {
                j->p++;
                continue;
            }
            rc = jexpect(j, '}');
            break;
        }
    if (rc == 0) {
        jskip(j);
        if (j->p != j->end)
            rc = jfail(j, "text after the JSON object");
    }
    if (rc) {
        ms_kafkasrc_starts_free(v, n);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

int ms_kafkasrc_parse_offsets(const char *spec, ms_kafka_start **out, size_t *n, char *errstr,
                              size_t errsz)
{
    *out = NULL;
    *n = 0;
    if (!spec || strcmp(spec, "latest") == 0 || strcmp(spec, "earliest") == 0) {
        ms_kafka_start *v = ms_xcalloc(1, sizeof(*v));
        v->partition = -1;
        v->offset = spec && spec[0] == 'e' ? MS_KAFKA_OFFSET_EARLIEST : MS_KAFKA_OFFSET_LATEST;
        *out = v;
        *n = 1;
        return 0;
    }
    jparse j = {spec, spec, spec + strlen(spec), errstr, errsz};
    jskip(&j);
    if (j.p == j.end || *j.p != '{') {
        snprintf(errstr, errsz,
                 "starting offsets must be earliest, latest or JSON like "
                 "{\"topic\":{\"0\":23,\"1\":-2}}, not \"%.64s\"",
                 spec);
        return MS_EUSAGE;
    }
    return parse_json_offsets(&j, out, n);
}

void ms_kafkasrc_starts_free(ms_kafka_start *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].topic);
    free(v);
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
    ssize_t ti = topic_index(s, pos.topic);
    if (ti >= 0) {
        int added;
        kpart *p = part_get(s, (size_t)ti, pos.partition, &added);
        p->pos = pos.offset;
        p->durable = 1;
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
        if (s->starts[i].topic && topic_index(s, s->starts[i].topic) < 0) {
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

void ms_kafkasrc_close(ms_kafkasrc *s)
{
    if (!s)
        return;
    if (s->rk) {
        rd_kafka_assign(s->rk, NULL);
        drain_events(s);
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        if (s->topics[i].rkt)
            rd_kafka_topic_destroy(s->topics[i].rkt);
        free(s->topics[i].name);
    }
    if (s->q)
        rd_kafka_queue_destroy(s->q);
    if (s->rk) {
        /* No group membership to leave (assign only, nothing committed):
         * closing must not wait for a coordinator that may be down. */
        rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    free(s->topics);
    free(s->parts);
    ms_kafkasrc_starts_free(s->starts, s->nstarts);
    ms_buf_free(&s->key);
    ms_buf_free(&s->val);
    free(s->msgs);
    free(s->brokers);
    free(s->pinfo);
    free(s);
}

/* ------------------------------------------------------------- discovery */

/* Asks the brokers for the partitions of our topics.  KQ_OK, KQ_FAILED
 * when the brokers did not answer (counted; the partitions known so far
 * stay) or KQ_STOPPED. */
static int refresh_metadata(ms_kafkasrc *s)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = kwait(s, call_metadata, &md);
    if (err == RD_KAFKA_RESP_ERR__INTR)
        return KQ_STOPPED;
    if (err) {
        broker_err(s, "listing partitions", err);
        return KQ_FAILED;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        ssize_t ti = topic_index(s, t->topic);
        if (ti < 0)
            continue;
        ktopic *kt = &s->topics[ti];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            (t->err == 0 && t->partition_cnt == 0)) {
            if (!kt->missing)
                ms_warn("kafka topic %s does not exist (yet): waiting for it", kt->name);
            kt->missing = 1;
            kt->meta_seen = 1;
            for (size_t k = part_lower(s, (size_t)ti, 0);
                 k < s->nparts && s->parts[k].ti == (size_t)ti; k++)
                s->parts[k].in_meta = 0;
            continue;
        }
        if (t->err) {
            broker_err(s, kt->name, t->err);
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

/* Queries one watermark (timestamp RD_KAFKA_OFFSET_END: high, _BEGINNING:
 * low) of the partitions idx[0..n) in one round per leader.  KQ_OK (the
 * partitions that answered carry the round's marks_gen), KQ_FAILED
 * (counted) or KQ_STOPPED. */
static int query_marks(ms_kafkasrc *s, const size_t *idx, size_t n, int64_t which)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const kpart *p = &s->parts[idx[i]];
        rd_kafka_topic_partition_list_add(l, tname(s, p), p->partition)->offset = which;
    }
    int rc = offsets_round(
        s, l, which == RD_KAFKA_OFFSET_END ? "querying end offsets" : "querying start offsets");
    if (rc == KQ_OK) {
        int failed = 0;
        rd_kafka_resp_err_t why = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *e = &l->elems[i];
            kpart *p = part_by_name(s, e->topic, e->partition);
            if (!p)
                continue;
            if (e->err || e->offset < 0) {
                failed++;
                why = e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET;
                continue;
            }
            if (which == RD_KAFKA_OFFSET_END) {
                p->high = e->offset;
                p->high_gen = s->marks_gen;
            } else {
                p->low = e->offset;
                p->low_gen = s->marks_gen;
            }
        }
        if (failed) {
            s->st.watermark_failures++;
            broker_err(s, "querying offsets", why);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* --------------------------------------------------------------- planning */

static void data_loss_msg(char *errstr, size_t errsz, const char *topic, int32_t part, int64_t from,
                          int64_t to, const char *why)
{
    snprintf(errstr, errsz,
             "kafka topic %s partition %" PRId32 ": offsets %" PRId64 "..%" PRId64
             " are no longer in the broker (%s): %" PRId64
             " messages were lost before mstream read them. The query stops here so the loss "
             "is not silent; restart with --fail-on-data-loss false to skip them and continue",
             topic, part, from, to - 1, why, to - from);
}

/* Records a loss that the query continues past. */
static void count_loss(ms_kafkasrc *s, const char *topic, int32_t part, int64_t from, int64_t to,
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
    drain_events(s);
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
        int mq = refresh_metadata(s);
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
        if (query_marks(s, idx, n, RD_KAFKA_OFFSET_END) == KQ_STOPPED ||
            query_marks(s, idx, n, RD_KAFKA_OFFSET_BEGINNING) == KQ_STOPPED) {
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

    cand *c = ms_xmalloc((n ? n : 1) * sizeof(cand));
    size_t nc = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        kpart *p = &s->parts[idx[k]];
        if (p->high < 0)
            continue; /* never reached its leader: nothing to plan yet */
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
                data_loss_msg(errstr, errsz, tname(s, p), p->partition, start, p->low,
                              "deleted by retention");
                rc = MS_ECORRUPT;
                break;
            }
            count_loss(s, tname(s, p), p->partition, start, p->low, "deleted by retention");
            start = p->low;
        } else if (start > p->high) {
            if (s->fail_on_data_loss) {
                snprintf(errstr, errsz,
                         "kafka topic %s partition %" PRId32 ": the position to read from, offset "
                         "%" PRId64 ", is beyond the partition's end, %" PRId64
                         " (was the topic deleted and created again?). The query stops here; "
                         "restart with --fail-on-data-loss false to continue from offset %" PRId64,
                         tname(s, p), p->partition, start, p->high, p->high);
                rc = MS_ECORRUPT;
                break;
            }
            count_loss(s, tname(s, p), p->partition, p->high, p->high,
                       "the partition ends before the committed position");
            start = p->high;
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
        ssize_t ti = topic_index(s, r->topic);
        if (ti < 0) {
            snprintf(errstr, errsz,
                     "the batch to re-run reads kafka topic %s, which is not among the topics "
                     "now; restart with the topics the checkpoint was made with",
                     r->topic);
            return MS_EUSAGE;
        }
        int added;
        kpart *p = part_get(s, (size_t)ti, r->partition, &added);
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

/* ---------------------------------------------------------------- reading */

static rstate *rs_find(rstate *rs, size_t n, size_t *hint, const rd_kafka_message_t *m)
{
    if (!m->rkt)
        return NULL;
    rstate *r;
    if (*hint < n && rs[*hint].rkt == m->rkt && rs[*hint].partition == m->partition)
        return &rs[*hint];
    const char *name = NULL;
    for (size_t i = 0; i < n; i++) {
        r = &rs[i];
        if (r->partition != m->partition)
            continue;
        if (!r->rkt) {
            if (!name)
                name = rd_kafka_topic_name(m->rkt);
            if (strcmp(name, r->topic) != 0)
                continue;
            r->rkt = m->rkt;
        } else if (r->rkt != m->rkt) {
            continue;
        }
        *hint = i;
        return r;
    }
    return NULL;
}

static int do_assign(ms_kafkasrc *s, rstate *rs, size_t n, char *errstr, size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (!rs[i].done) {
            rd_kafka_topic_partition_list_add(l, rs[i].topic, rs[i].partition)->offset = rs[i].next;
            cnt++;
        }
    rd_kafka_resp_err_t err = rd_kafka_assign(s->rk, cnt ? l : NULL);
    rd_kafka_topic_partition_list_destroy(l);
    s->st.partitions_assigned = cnt;
    if (err) {
        snprintf(errstr, errsz, "kafka: cannot assign partitions: %s", rd_kafka_err2str(err));
        return MS_EIO;
    }
    return 0;
}

/* A partition that is done stops fetching for the rest of the read. */
static void pause_one(ms_kafkasrc *s, rstate *r)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, r->partition);
    rd_kafka_pause_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    r->paused = 1;
}

/* A pause outlives the assignment: undo them all before the read ends, or
 * the next read of those partitions would never fetch.  (Resuming after the
 * next assign instead would discard that assign's first fetch.) */
static void resume_paused(ms_kafkasrc *s, rstate *rs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        if (rs[i].paused)
            rd_kafka_topic_partition_list_add(l, rs[i].topic, rs[i].partition);
    if (l->cnt)
        rd_kafka_resume_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < n; i++)
        rs[i].paused = 0;
}

static void mark_done(ms_kafkasrc *s, rstate *r, size_t *active)
{
    if (r->done)
        return;
    r->done = 1;
    (*active)--;
    if (*active)
        pause_one(s, r);
}

/* Decides, from fresh watermarks, what an out-of-range error or a stalled
 * partition means: data loss (MS_ECORRUPT, or counted and skipped), or a
 * transient state to retry (*reassign set when the partition must be
 * restarted). */
static int judge_range(ms_kafkasrc *s, rstate *r, int64_t lo, int64_t hi, int stalled,
                       size_t *active, int *reassign, char *errstr, size_t errsz)
{
    if (r->next < lo) {
        int64_t to = lo < r->end ? lo : r->end;
        if (s->fail_on_data_loss) {
            data_loss_msg(errstr, errsz, r->topic, r->partition, r->next, to,
                          "deleted by retention while the batch was being read");
            return MS_ECORRUPT;
        }
        count_loss(s, r->topic, r->partition, r->next, to, "deleted while being read");
        r->next = lo;
        if (r->next >= r->end)
            mark_done(s, r, active);
        *reassign = 1;
        return 0;
    }
    if (hi < r->end && r->next >= hi) {
        /* The partition now ends below the planned end.  A new leader can
         * report a lower end for a moment; only a lasting one is a loss. */
        if (!stalled || ++r->trunc_seen < TRUNC_CHECKS) {
            trouble(s, r->topic, "partition end is below the planned end; waiting");
            *reassign |= !stalled;
            return 0;
        }
        if (s->fail_on_data_loss) {
            data_loss_msg(errstr, errsz, r->topic, r->partition, r->next, r->end,
                          "the partition was truncated");
            return MS_ECORRUPT;
        }
        count_loss(s, r->topic, r->partition, r->next, r->end, "the partition was truncated");
        mark_done(s, r, active);
        return 0;
    }
    r->trunc_seen = 0;
    if (!stalled) {
        trouble(s, r->topic, "offset reported out of range, but it is in the log: retrying");
        *reassign = 1;
    }
    return 0;
}

/* One watermark of one partition (which: RD_KAFKA_OFFSET_END for the high
 * one, _BEGINNING for the low one) into *off.  KQ_OK, KQ_FAILED (counted)
 * or KQ_STOPPED. */
static int query_mark(ms_kafkasrc *s, const char *topic, int32_t partition, int64_t which,
                      int64_t *off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
    int rc = offsets_round(s, l, "querying offsets after a read error");
    if (rc == KQ_OK) {
        const rd_kafka_topic_partition_t *e = &l->elems[0];
        if (e->err || e->offset < 0) {
            s->st.watermark_failures++;
            broker_err(s, "querying offsets after a read error",
                       e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET);
            rc = KQ_FAILED;
        } else {
            *off = e->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* The broker says r->next is out of range (auto.offset.reset=error). */
static int out_of_range(ms_kafkasrc *s, rstate *r, size_t *active, int *reassign, char *errstr,
                        size_t errsz)
{
    int64_t lo = -1, hi = -1;
    int q = query_mark(s, r->topic, r->partition, RD_KAFKA_OFFSET_END, &hi);
    if (q == KQ_OK)
        q = query_mark(s, r->topic, r->partition, RD_KAFKA_OFFSET_BEGINNING, &lo);
    if (q == KQ_STOPPED) {
        interrupted(errstr, errsz);
        return MS_EINVAL;
    }
    if (q != KQ_OK) {
        *reassign = 1; /* the fetcher stopped: restart it and see */
        return 0;
    }
    kpart *p = part_by_name(s, r->topic, r->partition);
    if (p) {
        p->low = lo;
        p->high = hi;
    }
    return judge_range(s, r, lo, hi, 0, active, reassign, errstr, errsz);
}

/* Partitions without a message for STALL_SEC: say so once, and check in
 * one offset query round that what they wait for still exists. */
static int check_stalled(ms_kafkasrc *s, rstate *rs, size_t n, double now, size_t *active,
                         int *reassign, char *errstr, size_t errsz)
{
    size_t *idx = ms_xmalloc((n ? n : 1) * sizeof(size_t));
    size_t *ri = ms_xmalloc((n ? n : 1) * sizeof(size_t));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rs[i].done || now - rs[i].last_moved < STALL_SEC || now - rs[i].checked_at < STALL_SEC)
            continue;
        kpart *p = part_by_name(s, rs[i].topic, rs[i].partition);
        if (!p)
            continue;
        rs[i].checked_at = now;
        idx[k] = (size_t)(p - s->parts);
        ri[k++] = i;
    }
    if (k) {
        const rstate *r = &rs[ri[0]];
        ms_warn("kafka topic %s partition %" PRId32 ": no message for %.0fs, waiting for offsets "
                "%" PRId64 "..%" PRId64 " (%zu partitions waiting; checking they still exist)",
                r->topic, r->partition, now - r->last_moved, r->next, r->end - 1, k);
    }
    int rc = 0;
    if (k) {
        s->marks_gen++;
        if (query_marks(s, idx, k, RD_KAFKA_OFFSET_END) == KQ_STOPPED ||
            query_marks(s, idx, k, RD_KAFKA_OFFSET_BEGINNING) == KQ_STOPPED) {
            interrupted(errstr, errsz);
            rc = MS_EINVAL;
        }
        for (size_t j = 0; j < k && rc == 0; j++) {
            const kpart *p = &s->parts[idx[j]];
            if (p->low_gen == s->marks_gen && p->high_gen == s->marks_gen)
                rc =
                    judge_range(s, &rs[ri[j]], p->low, p->high, 1, active, reassign, errstr, errsz);
        }
    }
    free(idx);
    free(ri);
    return rc;
}

static void destroy_msgs(rd_kafka_message_t **m, ssize_t from, ssize_t n)
{
    for (ssize_t i = from; i < n; i++)
        rd_kafka_message_destroy(m[i]);
}

static int read_run(ms_kafkasrc *s, const ms_kafka_plan *plan, const ms_input *in, char *errstr,
                    size_t errsz)
{
    if (s->fatal) {
        snprintf(errstr, errsz, "%s", s->fatal_msg);
        return MS_EIO;
    }
    drain_events(s); /* nothing from an earlier assignment may reach this read */
    double t_start = ms_now_mono();
    rstate *rs = ms_xcalloc(plan->n ? plan->n : 1, sizeof(rstate));
    size_t n = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *it = &plan->items[i];
        if (it->end <= it->start)
            continue;
        rs[n] = (rstate){.topic = it->topic,
                         .tlen = strlen(it->topic),
                         .partition = it->partition,
                         .next = it->start,
                         .end = it->end,
                         .last_moved = t_start};
        n++;
    }
    size_t active = n, hint = 0;
    const rstate *cur = NULL; /* the partition the input was last told of */
    int rc = n ? do_assign(s, rs, n, errstr, errsz) : 0;
    double next_check = ms_now_mono() + 1.0;
    while (rc == 0 && active > 0) {
        if (stopped(s)) {
            interrupted(errstr, errsz);
            rc = MS_EINVAL;
            break;
        }
        /* What is queued, without waiting (a batch call with a timeout
         * waits for a full batch); else wait for one message. */
        ssize_t got = rd_kafka_consume_batch_queue(s->q, 0, s->msgs, CONSUME_BATCH);
        if (got < 0) {
            trouble(s, "consuming", rd_kafka_err2str(rd_kafka_last_error()));
            got = 0;
        }
        if (got == 0) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, CONSUME_WAIT_MS);
            if (m)
                s->msgs[got++] = m;
        }
        int reassign = 0;
        double tnow = got ? ms_now_mono() : 0;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = s->msgs[i];
            rstate *r = rs_find(rs, n, &hint, m);
            if (m->err == 0) {
                if (!r || r->done || m->offset < r->next) {
                    rd_kafka_message_destroy(m);
                    continue; /* not ours, or from before a re-assignment */
                }
                if (m->offset >= r->end) {
                    mark_done(s, r, &active); /* beyond the plan: the next batch's */
                    rd_kafka_message_destroy(m);
                    continue;
                }
                ms_value meta[MS_META_NCOLS];
                rd_kafka_timestamp_type_t tst;
                int64_t ts = rd_kafka_message_timestamp(m, &tst);
                meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)r->topic, r->tlen);
                meta[MS_META_PARTITION] = ms_value_int(r->partition);
                meta[MS_META_OFFSET] = ms_value_int(m->offset);
                if (ts >= 0 && tst != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
                    meta[MS_META_TIMESTAMP] = (ms_value){.type = MS_TYPE_TIMESTAMP, .i = ts * 1000};
                else
                    meta[MS_META_TIMESTAMP] = ms_value_null();
                meta[MS_META_KEY] = m->key ? ms_value_str(m->key, m->key_len) : ms_value_null();
                if (r != cur) {
                    ms_part part = {.topic = r->topic, .partition = r->partition};
                    in->ops->part(in->ud, &part, r->topic, (uint64_t)m->offset);
                    cur = r;
                }
                in->ops->record(in->ud, meta, m->payload, m->len);
                s->st.messages++;
                s->st.bytes += m->len;
                r->next = m->offset + 1;
                r->last_moved = tnow;
                if (r->next >= r->end)
                    mark_done(s, r, &active);
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* the fetch position reached the log end: holes (markers,
                 * compaction) up to there hold nothing to deliver */
                if (r && !r->done && m->offset >= r->end)
                    mark_done(s, r, &active);
            } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                       m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                if (r && !r->done)
                    rc = out_of_range(s, r, &active, &reassign, errstr, errsz);
            } else if (err_permanent(m->err)) {
                snprintf(errstr, errsz, "kafka %s: %s (%s)", s->brokers, rd_kafka_message_errstr(m),
                         rd_kafka_err2name(m->err));
                rc = MS_EIO;
            } else {
                trouble(s, r ? r->topic : "reading", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            if (rc) {
                destroy_msgs(s->msgs, i + 1, got);
                break;
            }
        }
        if (rc == 0 && s->fatal) {
            snprintf(errstr, errsz, "%s", s->fatal_msg);
            rc = MS_EIO;
        }
        if (rc)
            break;
        double now = ms_now_mono();
        if (rc == 0 && now >= next_check) {
            next_check = now + 1.0;
            rc = check_stalled(s, rs, n, now, &active, &reassign, errstr, errsz);
        }
        if (rc == 0 && reassign && active > 0) {
            resume_paused(s, rs, n); /* while they are still assigned */
            rc = do_assign(s, rs, n, errstr, errsz);
        }
    }
    if (n) {
        resume_paused(s, rs, n);
        rd_kafka_assign(s->rk, NULL);
    }
    free(rs);
    return rc;
}

int ms_kafkasrc_read(ms_kafkasrc *s, const ms_kafka_plan *plan, const ms_input *in,
                     volatile sig_atomic_t *stop, char *errstr, size_t errsz)
{
    s->stop = stop;
    int rc = read_run(s, plan, in, errstr, errsz);
    s->stop = NULL;
    return rc;
}

/* ------------------------------------------------------------- committing */

void ms_kafkasrc_commit(ms_kafkasrc *s, const ms_kafka_plan *plan, ms_ckpt_batch *wb)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *r = &plan->items[i];
        ms_buf_reset(&s->key);
        ms_buf_reset(&s->val);
        ms_codec_key_kafka_pos(&s->key, r->topic, r->partition);
        ms_codec_encode_kafka_pos(&s->val, r->end);
        ms_ckpt_batch_put(wb, s->key.data, s->key.len, s->val.data, s->val.len);
    }
}

void ms_kafkasrc_committed(ms_kafkasrc *s, const ms_kafka_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_kafka_range *r = &plan->items[i];
        ssize_t ti = topic_index(s, r->topic);
        if (ti < 0)
            continue;
        int added;
        kpart *p = part_get(s, (size_t)ti, r->partition, &added);
        p->pos = r->end;
        p->durable = 1;
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
    for (size_t i = 0; i < p->n; i++)
        n += p->items[i].end > p->items[i].start;
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

static void op_close(void *self)
{
    ms_kafkasrc_close(self);
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
