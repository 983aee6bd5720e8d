/*
 * The Kafka source's insides, shared by its files (ms_kafkasrc.h has the
 * design):
 *
 *   ms_kafkasrc.c       opening, partition discovery, planning, positions,
 *                       the source ops
 *   ms_kafka_offsets.c  starting offsets (earliest, latest, Spark's JSON)
 *   ms_kafka_wait.c     waiting for the brokers: metadata and offset queries
 *                       in slices that end on the stop flag
 *   ms_kafka_read.c     reading exactly the planned messages
 *
 * Functions shared between these files carry a double prefix
 * (ms_kafka__*); nothing here is for the rest of mstream.
 *
 * Thread-safety: engine thread only, as the source.
 */
#ifndef MS_KAFKASRC_INT_H
#define MS_KAFKASRC_INT_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "source/ms_kafkasrc.h"

#define DEFAULT_TIMEOUT_MS 5000
#define CONSUME_BATCH      1024
#define CONSUME_WAIT_MS    100
#define STALL_SEC          10.0 /* no progress for this long: warn, check watermarks */
#define TROUBLE_LOG_SEC    10.0 /* transient errors: one warning per period */
#define TRUNC_CHECKS       2    /* watchdog checks that must see a partition end below the plan */
#define SLICE_MS           200  /* first slice of a broker wait (kwait) */
#define SLICE_MAX_MS       5000 /* longest slice: bounds the reaction to *stop */

#define MARK_WINDOW    8   /* the marker: the last message read within this of the end */
#define CLOSE_WAIT_SEC 5.0 /* librdkafka's shutdown may take this long, then is left */

/* What a marker check found (kpart.vres). */
enum { VR_NONE = 0, VR_SAME, VR_DIFFERENT, VR_GONE, VR_UNKNOWN };

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
    /* Topic lifecycle (ms_kafkasrc.h): the content marker of the last message
     * read before pos (committed), the one the running read found (for the
     * next commit), whether it must be checked before reading on, when it
     * last was, and what the check found. */
    int64_t mark_off;
    uint64_t mark_hash;
    int64_t nmark_off;
    uint64_t nmark_hash;
    int verify;
    int vres;
    int dropped;      /* gone from its topic: the commit deletes its position */
    int restart;      /* re-created: pos is the new partition's earliest offset */
    int read_skipped; /* the last read found it re-created and read nothing of it */
} kpart;

typedef struct ktopic {
    char *name;
    rd_kafka_topic_t *rkt;
    int meta_seen; /* one successful metadata answer about it */
    int missing;   /* the last answer said it does not exist */
} ktopic;

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
    int verifying;          /* read_run is checking markers, not reading a plan */
    double verify_deadline; /* ... and gives up at this monotonic time */
};

/* Outcome of a query that waits for the brokers. */
enum { KQ_OK = 0, KQ_FAILED = 1, KQ_STOPPED = 2 };

static inline const char *tname(const ms_kafkasrc *s, const kpart *p)
{
    return s->topics[p->ti].name;
}

/* Errors that retrying cannot fix. */
static inline int err_permanent(rd_kafka_resp_err_t err)
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

static inline int stopped(const ms_kafkasrc *s)
{
    return s->stop && *s->stop;
}

static inline void interrupted(char *errstr, size_t errsz)
{
    snprintf(errstr, errsz, "interrupted");
}

/* ms_kafkasrc.c */
ssize_t ms_kafka__topic_index(const ms_kafkasrc *s, const char *name);
kpart *ms_kafka__part_by_name(ms_kafkasrc *s, const char *topic, int32_t partition);
void ms_kafka__trouble(ms_kafkasrc *s, const char *what, const char *reason);
int ms_kafka__refresh_metadata(ms_kafkasrc *s); /* KQ_OK, KQ_FAILED or KQ_STOPPED */
void ms_kafka__broker_err(ms_kafkasrc *s, const char *what, rd_kafka_resp_err_t err);
void ms_kafka__drain_events(ms_kafkasrc *s);
void ms_kafka__data_loss_msg(char *errstr, size_t errsz, const char *topic, int32_t part,
                             int64_t from, int64_t to, const char *why);
void ms_kafka__count_loss(ms_kafkasrc *s, const char *topic, int32_t part, int64_t from, int64_t to,
                          const char *why);

/* ms_kafka_read.c */
/* The content marker of a message: its value, key and timestamp, hashed. */
uint64_t ms_kafka__msg_hash(const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len);
/* Fetches the message at each partition's marker offset and sets its vres
 * (VR_SAME, VR_DIFFERENT, VR_GONE: not there any more, VR_UNKNOWN: no
 * answer within the timeout).  0, or MS_EINVAL when *stop was set. */
int ms_kafka__verify_marks(ms_kafkasrc *s, const size_t *idx, size_t n, char *errstr, size_t errsz);

/* ms_kafka_wait.c */
typedef rd_kafka_resp_err_t (*kcall_fn)(ms_kafkasrc *s, void *arg, int timeout_ms);
rd_kafka_resp_err_t ms_kafka__wait(ms_kafkasrc *s, kcall_fn fn, void *arg);
rd_kafka_resp_err_t ms_kafka__call_metadata(ms_kafkasrc *s, void *arg, int timeout_ms);
int ms_kafka__query_marks(ms_kafkasrc *s, const size_t *idx, size_t n, int64_t which);
int ms_kafka__query_mark(ms_kafkasrc *s, const char *topic, int32_t partition, int64_t which,
                         int64_t *off);

#endif
