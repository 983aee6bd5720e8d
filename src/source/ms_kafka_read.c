/*
 * Reading exactly the planned messages (design in ms_kafkasrc.h, files in
 * ms_kafkasrc_int.h).
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
 */
#include "source/ms_kafkasrc_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_table.h"

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
    int64_t mark_off;  /* the last message read within MARK_WINDOW of the end, -1: none */
    uint64_t mark_hash;
    /* The committed marker, read again before the range (ms_kafkasrc.h,
     * "Topic lifecycle"): messages below `first` are compared, never
     * delivered. */
    int64_t first; /* the planned start */
    int64_t vmark; /* offset of the marker to compare, -1: none */
    uint64_t vhash;
    int mismatch; /* the marker's offset holds another message: not read */
} rstate;

uint64_t ms_kafka__msg_hash(const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len)
{
    uint64_t h = ms_hash(value ? (const void *)value : "", value ? len : 0);
    const ms_value *k = &meta[MS_META_KEY], *t = &meta[MS_META_TIMESTAMP];
    if (k->type == MS_TYPE_STRING)
        h ^= ms_hash(k->s.p ? (const void *)k->s.p : "", k->s.n) * 0x9E3779B97F4A7C15ULL + 1;
    if (t->type == MS_TYPE_TIMESTAMP)
        h ^= ((uint64_t)t->i + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    return h;
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
    if (s->verifying) { /* a marker check: the message is not there, no loss of ours */
        mark_done(s, r, active);
        return 0;
    }
    if (r->next < lo) {
        int64_t to = lo < r->end ? lo : r->end;
        if (s->fail_on_data_loss) {
            ms_kafka__data_loss_msg(errstr, errsz, r->topic, r->partition, r->next, to,
                                    "deleted by retention while the batch was being read");
            return MS_ECORRUPT;
        }
        ms_kafka__count_loss(s, r->topic, r->partition, r->next, to, "deleted while being read");
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
            ms_kafka__trouble(s, r->topic, "partition end is below the planned end; waiting");
            *reassign |= !stalled;
            return 0;
        }
        if (s->fail_on_data_loss) {
            ms_kafka__data_loss_msg(errstr, errsz, r->topic, r->partition, r->next, r->end,
                                    "the partition was truncated");
            return MS_ECORRUPT;
        }
        ms_kafka__count_loss(s, r->topic, r->partition, r->next, r->end,
                             "the partition was truncated");
        mark_done(s, r, active);
        return 0;
    }
    r->trunc_seen = 0;
    if (!stalled) {
        ms_kafka__trouble(s, r->topic,
                          "offset reported out of range, but it is in the log: retrying");
        *reassign = 1;
    }
    return 0;
}

/* The broker says r->next is out of range (auto.offset.reset=error). */
static int out_of_range(ms_kafkasrc *s, rstate *r, size_t *active, int *reassign, char *errstr,
                        size_t errsz)
{
    if (r->next < r->first) { /* the marker is gone (retention): no check, read the range */
        r->next = r->first;
        r->vmark = -1;
        *reassign = 1;
        return 0;
    }
    int64_t lo = -1, hi = -1;
    int q = ms_kafka__query_mark(s, r->topic, r->partition, RD_KAFKA_OFFSET_END, &hi);
    if (q == KQ_OK)
        q = ms_kafka__query_mark(s, r->topic, r->partition, RD_KAFKA_OFFSET_BEGINNING, &lo);
    if (q == KQ_STOPPED) {
        interrupted(errstr, errsz);
        return MS_EINVAL;
    }
    if (q != KQ_OK) {
        *reassign = 1; /* the fetcher stopped: restart it and see */
        return 0;
    }
    kpart *p = ms_kafka__part_by_name(s, r->topic, r->partition);
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
        kpart *p = ms_kafka__part_by_name(s, rs[i].topic, rs[i].partition);
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
        if (ms_kafka__query_marks(s, idx, k, RD_KAFKA_OFFSET_END) == KQ_STOPPED ||
            ms_kafka__query_marks(s, idx, k, RD_KAFKA_OFFSET_BEGINNING) == KQ_STOPPED) {
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

/* The message at r's committed marker is another one: the topic was
 * deleted and created again.  Nothing of the partition was delivered yet
 * (the marker comes first): fail, or leave the range out of this batch —
 * its position does not move — and let the next plan read the new
 * partition from its start (ms_kafkasrc.c, recreated()). */
static int marker_mismatch(ms_kafkasrc *s, rstate *r, size_t *active, char *errstr, size_t errsz)
{
    if (s->fail_on_data_loss) {
        snprintf(errstr, errsz,
                 "kafka topic %s partition %" PRId32 " was deleted and created again (the "
                 "message at offset %" PRId64 ", the last one read before, is another one now). "
                 "The query stops here so the loss is not silent; restart with "
                 "--fail-on-data-loss false to read the new partition from its earliest offset",
                 r->topic, r->partition, r->vmark);
        return MS_ECORRUPT;
    }
    ms_warn("kafka topic %s partition %" PRId32 " was deleted and created again (the message at "
            "offset %" PRId64 " is another one): nothing of it is read in this batch",
            r->topic, r->partition, r->vmark);
    r->mismatch = 1;
    mark_done(s, r, active);
    return 0;
}

/* Errors that say a topic or partition does not exist (any more). */
static int topic_error(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* The broker says r's topic or partition is unknown while it is read.
 * The metadata decides: gone for real, the planned messages cannot be read
 * (fail, or count them and go on; the partition's marker is checked
 * before it is read again); else a transient error, retried. */
static int topic_gone(ms_kafkasrc *s, rstate *r, size_t *active, const char *why, char *errstr,
                      size_t errsz)
{
    if (s->verifying) {
        mark_done(s, r, active);
        return 0;
    }
    int q = ms_kafka__refresh_metadata(s);
    if (q == KQ_STOPPED) {
        interrupted(errstr, errsz);
        return MS_EINVAL;
    }
    kpart *p = ms_kafka__part_by_name(s, r->topic, r->partition);
    ssize_t ti = ms_kafka__topic_index(s, r->topic);
    if (q != KQ_OK || (ti >= 0 && !s->topics[ti].missing && p && p->in_meta)) {
        ms_kafka__trouble(s, r->topic, why);
        return 0;
    }
    if (p)
        p->verify = 1;
    if (s->fail_on_data_loss) {
        snprintf(errstr, errsz,
                 "kafka topic %s partition %" PRId32 " was deleted while the batch was read: its "
                 "offsets %" PRId64 "..%" PRId64 " cannot be read any more. The query stops here "
                 "so the loss is not silent; restart with --fail-on-data-loss false to go on "
                 "with what the topic holds once it exists again",
                 r->topic, r->partition, r->next, r->end - 1);
        return MS_ECORRUPT;
    }
    ms_kafka__count_loss(s, r->topic, r->partition, r->next, r->end,
                         "the topic was deleted while the batch was read");
    mark_done(s, r, active);
    return 0;
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
    ms_kafka__drain_events(s); /* nothing from an earlier assignment may reach this read */
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
                         .last_moved = t_start,
                         .mark_off = -1,
                         .first = it->start,
                         .vmark = -1};
        const kpart *p = ms_kafka__part_by_name(s, it->topic, it->partition);
        if (!s->verifying && p && !(it->flags & MS_KAFKA_RANGE_RESTART) && p->mark_off >= 0 &&
            p->mark_off < it->start && p->low >= 0 && p->mark_off >= p->low) {
            rs[n].vmark = rs[n].next = p->mark_off;
            rs[n].vhash = p->mark_hash;
        }
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
        if (s->verifying && ms_now_mono() > s->verify_deadline) {
            rc = MS_ETIMEDOUT;
            break;
        }
        /* What is queued, without waiting (a batch call with a timeout
         * waits for a full batch); else wait for one message. */
        ssize_t got = rd_kafka_consume_batch_queue(s->q, 0, s->msgs, CONSUME_BATCH);
        if (got < 0) {
            ms_kafka__trouble(s, "consuming", rd_kafka_err2str(rd_kafka_last_error()));
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
                if (m->offset < r->first) {
                    /* Before the range: the marker, compared, not read. */
                    if (m->offset == r->vmark &&
                        ms_kafka__msg_hash(meta, m->payload, m->len) != r->vhash)
                        rc = marker_mismatch(s, r, &active, errstr, errsz);
                    r->next = m->offset + 1;
                    rd_kafka_message_destroy(m);
                    if (rc) {
                        destroy_msgs(s->msgs, i + 1, got);
                        break;
                    }
                    continue;
                }
                if (m->offset >= r->end - MARK_WINDOW) {
                    r->mark_off = m->offset;
                    r->mark_hash = ms_kafka__msg_hash(meta, m->payload, m->len);
                }
                if (in) {
                    if (r != cur) {
                        ms_part part = {.topic = r->topic, .partition = r->partition};
                        in->ops->part(in->ud, &part, r->topic, (uint64_t)m->offset);
                        cur = r;
                    }
                    in->ops->record(in->ud, meta, m->payload, m->len);
                    s->st.messages++;
                    s->st.bytes += m->len;
                }
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
            } else if (r && !r->done && topic_error(m->err)) {
                rc = topic_gone(s, r, &active, rd_kafka_message_errstr(m), errstr, errsz);
            } else {
                ms_kafka__trouble(s, r ? r->topic : "reading", rd_kafka_message_errstr(m));
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
    /* The markers this read found: for the commit, or for the check. */
    for (size_t i = 0; i < n; i++) {
        kpart *p = ms_kafka__part_by_name(s, rs[i].topic, rs[i].partition);
        if (!p)
            continue;
        if (!s->verifying) {
            p->nmark_off = rs[i].mark_off;
            p->nmark_hash = rs[i].mark_hash;
            p->read_skipped = rs[i].mismatch;
            if (rs[i].mismatch)
                p->verify = 1;
        } else if (!rs[i].done) {
            p->vres = VR_UNKNOWN;
        } else if (rs[i].mark_off != p->mark_off) {
            p->vres = VR_GONE;
        } else {
            p->vres = rs[i].mark_hash == p->mark_hash ? VR_SAME : VR_DIFFERENT;
        }
    }
    free(rs);
    return rc;
}

int ms_kafka__verify_marks(ms_kafkasrc *s, const size_t *idx, size_t n, char *errstr, size_t errsz)
{
    ms_kafka_range *items = ms_xcalloc(n ? n : 1, sizeof(ms_kafka_range));
    for (size_t i = 0; i < n; i++) {
        kpart *p = &s->parts[idx[i]];
        p->vres = VR_UNKNOWN;
        items[i].topic = (char *)tname(s, p);
        items[i].partition = p->partition;
        items[i].start = p->mark_off;
        items[i].end = p->mark_off + 1;
    }
    ms_kafka_plan plan = {.n = n, .items = items};
    s->verifying = 1;
    s->verify_deadline = ms_now_mono() + s->timeout_ms / 1000.0;
    int rc = read_run(s, &plan, NULL, errstr, errsz);
    s->verifying = 0;
    free(items);
    return rc == MS_ETIMEDOUT ? 0 : rc;
}

int ms_kafkasrc_read(ms_kafkasrc *s, const ms_kafka_plan *plan, const ms_input *in,
                     volatile sig_atomic_t *stop, char *errstr, size_t errsz)
{
    s->stop = stop;
    int rc = read_run(s, plan, in, errstr, errsz);
    s->stop = NULL;
    return rc;
}
