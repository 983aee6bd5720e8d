/*
 * Kafka for group mode (docs/design.md §9): what several mstream processes
 * with one --application-id need of Kafka, and nothing of the engine.
 *
 *   ms_kmember   a consumer-group member: subscribe, cooperative-sticky
 *                assignment, a rebalance hook that runs before partitions
 *                are given up, static membership (group.instance.id)
 *   ms_ktxn      the transactional producer (one per process): begin,
 *                produce, send the consumer's offsets with the group's
 *                metadata (KIP-447: a zombie of an older generation is
 *                fenced), commit, abort
 *   ms_kreader   an assign-only reader of one partition at a time (the
 *                changelog a task restores from), and end offsets
 *   ms_kadmin_*  the internal topics (created with the partitions asked,
 *                compacted or not) and partition counts
 *
 * Everything reads read_committed: a consumer sees no record of a
 * transaction that is open or was aborted, and end offsets are the last
 * stable offset.
 *
 * The rebalance hook.  librdkafka calls the rebalance callback from
 * ms_kmember_poll() on the caller's thread.  On an assignment the new
 * partitions are added (rd_kafka_incremental_assign, their offsets fetched
 * by librdkafka with require_stable, so the committed offset of a partition
 * whose previous owner still has a transaction open is only handed over
 * once that transaction is resolved), then `assigned` runs.  On a
 * revocation `revoked` runs first — the owner finishes (commits) or, when
 * the assignment was lost (the member was kicked out: a zombie), abandons
 * the batch in flight — and only then are the partitions removed.
 *
 * Errors: 0, or a negative MS_E* code with a sentence in errstr.
 * MS_EFENCED: this process was replaced (a producer with the same
 * transactional.id, a member with the same group.instance.id, or a
 * transaction aborted by the coordinator): tear down, never commit.
 * MS_EABORT: the transaction failed and must be aborted (its records and
 * offsets are discarded).  MS_EIO: the brokers did not answer in time, or
 * a permanent error (authorization, ...).  MS_EUSAGE: configuration the
 * brokers or librdkafka refuse.
 *
 * Boundary: ms_kgroup.c, ms_ktxn.c and ms_kadmin.c are the only files of
 * this module that include librdkafka; no rd_kafka_* type crosses this
 * header.  Shutdown of every handle is bounded (librdkafka #3007): the
 * close functions return 1 when librdkafka's threads were left running.
 *
 * Thread-safety: one thread per handle (the engine thread); librdkafka's
 * own threads only log.
 */
#ifndef MS_KGROUP_H
#define MS_KGROUP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

/* What every handle is made from. */
typedef struct ms_kconf {
    const char *brokers;      /* bootstrap.servers */
    const char *const *props; /* -X "key=value", in order (properties mstream owns are ignored) */
    size_t nprops;
    int timeout_ms; /* one request to the brokers (metadata, offsets); 0 = 5000 */
} ms_kconf;

/* A topic-partition, with an offset and the commit metadata that goes
 * with it (NULL: none).  Strings are the owner's. */
typedef struct ms_ktp {
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1: none / unknown */
    const char *metadata;
} ms_ktp;

/* A message as the reader and the member return it; valid until the next
 * poll or read call on the same handle. */
typedef struct ms_kmsg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const uint8_t *key; /* NULL: no key */
    size_t klen;
    const uint8_t *value; /* NULL: a tombstone */
    size_t vlen;
    int64_t ts_us; /* INT64_MIN: none */
} ms_kmsg;

/* ------------------------------------------------------------------ admin */

/* Partition counts of topics: counts[i] = the partitions of topics[i], or
 * 0 when the topic does not exist.  MS_EIO when the brokers do not answer
 * within the timeout. */
int ms_kadmin_partitions(const ms_kconf *c, const char *const *topics, size_t n, int32_t *counts,
                         char *errstr, size_t errstr_size);

typedef struct ms_ktopic_spec {
    const char *name;
    int32_t partitions;
    int replication; /* -1: the broker's default.replication.factor */
    int compact;     /* cleanup.policy=compact (a changelog), else delete */
} ms_ktopic_spec;

/* Creates the topics that do not exist yet.  A topic that exists must have
 * the partitions asked (state is partitioned by that count): MS_EUSAGE
 * naming both counts otherwise.  A creation the broker refuses (policy,
 * authorization, replication factor) is MS_EUSAGE with the broker's reason
 * and what to do.  *created counts the topics made by this call. */
int ms_kadmin_ensure_topics(const ms_kconf *c, const ms_ktopic_spec *specs, size_t n,
                            size_t *created, char *errstr, size_t errstr_size);

/* ----------------------------------------------------------------- member */

typedef struct ms_kmember ms_kmember;

typedef struct ms_kmember_hooks {
    void *ud;
    /* parts were added to this member's assignment (offsets not resolved yet). */
    void (*assigned)(void *ud, const ms_ktp *parts, size_t n);
    /* parts are about to be given up; lost: the group already gave them to
     * others (session timeout, fenced): the batch in flight must be
     * abandoned, not committed. */
    void (*revoked)(void *ud, const ms_ktp *parts, size_t n, int lost);
} ms_kmember_hooks;

typedef struct ms_kmember_conf {
    ms_kconf k;
    const char *group_id;      /* the application id */
    const char *instance_id;   /* group.instance.id (static membership), NULL: dynamic */
    const char *const *topics; /* the subscription */
    size_t ntopics;
    /* Topics that start at their end when the group has no committed offset
     * for a partition (the rest start at their beginning). */
    const char *const *latest_topics;
    size_t nlatest;
    int session_timeout_ms;   /* 0: librdkafka's default */
    int max_poll_interval_ms; /* 0: librdkafka's default */
} ms_kmember_conf;

/* Creates the consumer and subscribes (no network wait).  MS_EUSAGE for a
 * property librdkafka refuses; MS_EIO if it cannot start. */
int ms_kmember_open(const ms_kmember_conf *c, const ms_kmember_hooks *h, ms_kmember **out,
                    char *errstr, size_t errstr_size);
/* Leaves the group (a static member does not: its partitions wait for it
 * for the session timeout) and destroys the consumer, bounded.  Returns 1
 * if librdkafka's threads were left running. */
int ms_kmember_close(ms_kmember *m);

/* Serves the group (rebalance hooks run in here) and returns the next
 * message: 1 and *out; 2 and *out with only topic, partition and offset
 * set: the partition is read up to its end (offset: the next one); 0 when
 * none came within timeout_ms; MS_EFENCED (another member took our
 * group.instance.id) or MS_EIO for a fatal consumer error. */
int ms_kmember_poll(ms_kmember *m, int timeout_ms, ms_kmsg *out, char *errstr, size_t errstr_size);

/* The next offset to read of each partition (parts[i].offset; -1 while not
 * known yet). */
void ms_kmember_positions(ms_kmember *m, ms_ktp *parts, size_t n);
/* Stops or resumes fetching partitions (a task restoring its state). */
int ms_kmember_pause(ms_kmember *m, const ms_ktp *parts, size_t n, int pause);
/* Moves the read position of partitions to parts[i].offset. */
int ms_kmember_seek(ms_kmember *m, const ms_ktp *parts, size_t n, char *errstr, size_t errstr_size);
/* The group's committed offsets and their metadata, waiting while a
 * transaction holds them (read_committed: require_stable).  out->offset
 * is -1 for a partition without one; the metadata strings are kept in
 * meta (out[i].metadata points into it) until the next call. */
int ms_kmember_committed(ms_kmember *m, ms_ktp *parts, size_t n, ms_buf *meta, int timeout_ms,
                         char *errstr, size_t errstr_size);

/* The member id (into out), and the generation of the last assignment
 * (-1: none). */
const char *ms_kmember_id(ms_kmember *m, ms_buf *out);
int32_t ms_kmember_generation(ms_kmember *m);

/* --------------------------------------------------- transactional producer */

typedef struct ms_ktxn ms_ktxn;

/* Creates the producer and initialises transactions: an older producer
 * with the same transactional_id is fenced and its open transaction
 * aborted.  txn_timeout_ms: how long the coordinator lets a transaction
 * stay open before aborting it (and fencing its producer).  MS_EIO when
 * the coordinator does not answer within c->timeout_ms (retried by the
 * caller), MS_EUSAGE for a configuration librdkafka refuses. */
int ms_ktxn_open(const ms_kconf *c, const char *transactional_id, int txn_timeout_ms, ms_ktxn **out,
                 char *errstr, size_t errstr_size);
int ms_ktxn_close(ms_ktxn *t);

/* Learns the leaders of the topics it will write (so the first batch does
 * not wait for their metadata); bounded by the request timeout per topic. */
void ms_ktxn_warm(ms_ktxn *t, const char *const *topics, size_t n);
/* Whether a transaction is open (begun and neither committed nor aborted). */
int ms_ktxn_open_txn(const ms_ktxn *t);
int ms_ktxn_begin(ms_ktxn *t, char *errstr, size_t errstr_size);
/* Queues one record of the open transaction (value NULL: a tombstone).
 * Never blocks for long: a full queue is served until it has room. */
int ms_ktxn_produce(ms_ktxn *t, const char *topic, int32_t partition, const void *key, size_t klen,
                    const void *value, size_t vlen, char *errstr, size_t errstr_size);
/* Waits until every record produced so far is written (or failed). */
int ms_ktxn_flush(ms_ktxn *t, char *errstr, size_t errstr_size);
/* The offset of the last record of the open transaction written to a
 * partition (after ms_ktxn_flush), -1 when none. */
int64_t ms_ktxn_last_offset(const ms_ktxn *t, const char *topic, int32_t partition);
/* Records produced (delivered) and their bytes, over the producer's life. */
void ms_ktxn_counts(const ms_ktxn *t, uint64_t *records, uint64_t *bytes);
/* Adds the consumer's offsets (with their metadata) to the open
 * transaction, with the member's group metadata: a member of an older
 * generation gets MS_EABORT (or MS_EFENCED) instead. */
int ms_ktxn_send_offsets(ms_ktxn *t, ms_kmember *m, const ms_ktp *offsets, size_t n, char *errstr,
                         size_t errstr_size);
int ms_ktxn_commit(ms_ktxn *t, char *errstr, size_t errstr_size);
int ms_ktxn_abort(ms_ktxn *t, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- reader */

typedef struct ms_kreader ms_kreader;

/* An assign-only consumer (it never joins a group nor commits). */
int ms_kreader_open(const ms_kconf *c, const char *group_id, ms_kreader **out, char *errstr,
                    size_t errstr_size);
int ms_kreader_close(ms_kreader *r);

/* End offsets (the last stable offset) into parts[i].offset, or the start
 * offsets with start set.  MS_EIO when the brokers did not answer. */
int ms_kreader_offsets(ms_kreader *r, ms_ktp *parts, size_t n, int start, char *errstr,
                       size_t errstr_size);

/* Reads one partition from *pos on: fn for every record, until the
 * position reaches `until` and the partition's end (whichever is later),
 * budget_sec passes, or *stop is set.  *pos moves past what was read (and
 * past transaction markers).  Returns 0 when done, 1 when there is more
 * (budget or stop), MS_E* on an error (fn's negative return stops the
 * read and is returned). */
int ms_kreader_read(ms_kreader *r, const char *topic, int32_t partition, int64_t *pos,
                    int64_t until, double budget_sec, volatile sig_atomic_t *stop,
                    int (*fn)(void *ud, const ms_kmsg *m), void *ud, char *errstr,
                    size_t errstr_size);

#endif
