/*
 * Waiting for the brokers (design in ms_kafkasrc.h, files in
 * ms_kafkasrc_int.h).
 *
 * Waiting for the brokers (ms_kafka__wait): librdkafka's metadata and offset queries
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
#include "source/ms_kafkasrc_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

/* ------------------------------------------------- waiting for brokers */

/* Errors with which a call gives up when its timeout is over. */
static int err_waited(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
           err == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

/* Runs fn in slices (see the top of the file) for at most timeout_ms.
 * Returns fn's answer, its last error once the deadline is over, or
 * RD_KAFKA_RESP_ERR__INTR when *stop is set (on entry or between slices). */
rd_kafka_resp_err_t ms_kafka__wait(ms_kafkasrc *s, kcall_fn fn, void *arg)
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

rd_kafka_resp_err_t ms_kafka__call_metadata(ms_kafkasrc *s, void *arg, int timeout_ms)
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
    rd_kafka_resp_err_t err = ms_kafka__wait(s, call_offsets, l);
    if (err == RD_KAFKA_RESP_ERR__INTR)
        return KQ_STOPPED;
    if (err) {
        s->st.watermark_failures++;
        ms_kafka__broker_err(s, what, err);
        return KQ_FAILED;
    }
    return KQ_OK;
}

/* Queries one watermark (timestamp RD_KAFKA_OFFSET_END: high, _BEGINNING:
 * low) of the partitions idx[0..n) in one round per leader.  KQ_OK (the
 * partitions that answered carry the round's marks_gen), KQ_FAILED
 * (counted) or KQ_STOPPED. */
int ms_kafka__query_marks(ms_kafkasrc *s, const size_t *idx, size_t n, int64_t which)
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
            kpart *p = ms_kafka__part_by_name(s, e->topic, e->partition);
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
            ms_kafka__broker_err(s, "querying offsets", why);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* One watermark of one partition (which: RD_KAFKA_OFFSET_END for the high
 * one, _BEGINNING for the low one) into *off.  KQ_OK, KQ_FAILED (counted)
 * or KQ_STOPPED. */
int ms_kafka__query_mark(ms_kafkasrc *s, const char *topic, int32_t partition, int64_t which,
                         int64_t *off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
    int rc = offsets_round(s, l, "querying offsets after a read error");
    if (rc == KQ_OK) {
        const rd_kafka_topic_partition_t *e = &l->elems[0];
        if (e->err || e->offset < 0) {
            s->st.watermark_failures++;
            ms_kafka__broker_err(s, "querying offsets after a read error",
                                 e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET);
            rc = KQ_FAILED;
        } else {
            *off = e->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}
