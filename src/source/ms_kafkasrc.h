/*
 * The Kafka source: topics read through librdkafka, positions kept only in
 * the checkpoint (docs/design.md §2, §3).
 *
 * Positions: per (topic, partition) the next offset to read, stored under
 * p:kafka:<topic>\0<be32 partition> (ms_codec_kafka.h) in the same commit as
 * the state they produced.  The consumer group is never used for offsets:
 * partitions are assigned with explicit offsets, auto-commit and the offset
 * store are off, and auto.offset.reset=error makes an offset the broker no
 * longer has surface as an error instead of a silent jump.
 *
 * Batch protocol, driven by the engine through ms_kafkasrc_ops (ms_source.h):
 *   ms_kafkasrc_plan()       per partition [start, end): start = committed
 *                            position, end = the end offset seen now, capped
 *   (engine persists the plan: ms_kafkasrc_plan_encode() under m:plan)
 *   ms_kafkasrc_read()       exactly the planned messages, none beyond
 *   ms_kafkasrc_commit()     new positions (the ends) into the write batch
 *   ms_kafkasrc_committed()  the commit is durable: move in-memory positions
 * Recovery: ms_kafkasrc_plan_decode() of m:plan, ms_kafkasrc_replan(), then
 * read/commit/committed as usual: a re-run reads exactly the same messages.
 *
 *   low watermark      committed            planned end        high watermark
 *   │ (older: deleted  │ (counted in state) │                  │
 *   ▼  by retention)   ▼                    ▼                  ▼
 *   ───────────────────[ messages of this batch ][ later batches ]
 *
 * Starting offsets (earliest | latest | JSON as Spark's) apply only to
 * partitions without a committed position; the resolved offset is recorded
 * by the first commit (a plan item with start == end when nothing is to be
 * read), so a restart never re-resolves "latest".  Partitions that appear
 * while running (new partitions, a topic created later) start at earliest.
 *
 * Failures: a broker that is down, a leader change, a request error cost
 * time, never data — planning keeps the last known end offsets, reading
 * retries until the stop flag is set; both count the errors.  Every wait
 * for the brokers (plan and read alike) also ends when the stop flag is
 * set, so SIGTERM is not held up by --kafka-timeout-sec.  An offset that
 * expired (below the low watermark) or vanished (above the high watermark)
 * fails the batch with a message naming topic, partition and offsets when
 * fail_on_data_loss is set (the default, as Spark's failOnDataLoss); else it
 * is logged, counted, and reading continues at the oldest offset available.
 *
 * Topic lifecycle.  A topic deleted and created again starts its offsets
 * over, so an offset alone cannot tell the old partition from the new one.
 * Each committed position therefore carries a content marker: the offset
 * and a hash of the key, value and timestamp of the last message read
 * (near the end of the range; ms_codec_kafka.h).  The partition is the one
 * mstream read as long as
 *   - its end offset is not below the position (else: re-created, fewer
 *     messages),
 *   - it still exists while its topic does (else: re-created with fewer
 *     partitions; a partition nothing was read of is just forgotten),
 *   - the message at the marker's offset is the same one: every read
 *     starts at the marker and compares it before delivering anything of
 *     the partition, and after a restart or after the topic went missing
 *     from the metadata the plan fetches it first (ms_kafka_read.c).
 * A re-created partition is data loss: with fail_on_data_loss the plan or
 * read fails naming topic and partition (the engine exits 1); else it is
 * logged and counted, and the new partition is read from its earliest
 * offset (plan items flagged MS_KAFKA_RANGE_RESTART, so a re-run after a
 * crash accepts a start below the committed position).  What is left:
 * a marker deleted by retention or compaction cannot be compared (only
 * the end offsets then speak), and a crash in the middle of a batch
 * followed by the topic's re-creation before the restart re-runs the
 * persisted plan against the new partition.
 *
 * Shutdown: librdkafka's can hang after a topic went away (librdkafka
 * #3007); close gives it CLOSE_WAIT_SEC and then leaves its threads, and
 * the engine ends the process with _exit().
 *
 * Boundary: this file and ms_kafkasrc.c are the only ones that include
 * librdkafka; no rd_kafka_* type crosses this header, and librdkafka errors
 * become MS_E* codes plus a sentence in errstr.
 *
 * Thread-safety: engine thread only.  librdkafka's own threads only log
 * (through ms_log, which is thread-safe).
 */
#ifndef MS_KAFKASRC_H
#define MS_KAFKASRC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "query/ms_schema.h"
#include "query/ms_value.h"
#include "source/ms_source.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec_kafka.h"

#define MS_KAFKA_OFFSET_EARLIEST (-2) /* Spark's JSON spelling */
#define MS_KAFKA_OFFSET_LATEST   (-1)

typedef struct ms_kafkasrc_conf {
    const char *brokers;       /* bootstrap.servers */
    const char *const *topics; /* topic names */
    size_t ntopics;
    const char *const *props; /* "key=value" passed to librdkafka (-X) */
    size_t nprops;
    /* "earliest", "latest" or JSON {"topic":{"0":23,"1":-2}} (-2 earliest,
     * -1 latest; partitions the JSON does not name start at latest).
     * NULL = "latest" (Spark's default for streaming queries). */
    const char *starting_offsets;
    int fail_on_data_loss;            /* 1 = fail the batch (Spark's default) */
    uint64_t max_offsets_per_trigger; /* 0 = no cap */
    int available_now;                /* plan only up to the ends seen first, then drained */
    const char *group_id;             /* NULL: "mstream-<hash of ckpt_dir>" */
    const char *ckpt_dir;             /* only names the default group id; may be NULL */
    int timeout_ms;                   /* one metadata / offsets query; 0 = 5000 */
    double metadata_interval_sec;     /* partition discovery period; 0 = every plan */
} ms_kafkasrc_conf;

typedef struct ms_kafkasrc ms_kafkasrc;

/* Opens the consumer (no network wait: an unreachable broker is retried by
 * every plan) and loads committed positions from the checkpoint.
 * MS_EUSAGE with a sentence for bad configuration (topic names, -X
 * properties, starting offsets); MS_ECORRUPT for a corrupt position record;
 * MS_EIO if librdkafka cannot start. */
int ms_kafkasrc_open(const ms_kafkasrc_conf *conf, ms_ckpt *ck, ms_kafkasrc **out, char *errstr,
                     size_t errstr_size);
/* Closes the consumer.  librdkafka's shutdown is given CLOSE_WAIT_SEC (it
 * can hang after a topic went away, librdkafka #3007); past that its
 * threads are left running and 1 is returned: the caller should end the
 * process with _exit() instead of waiting for them.  0 otherwise. */
int ms_kafkasrc_close(ms_kafkasrc *s);

/* Fills plan (batch_id and created_ms left to the caller).  plan->n == 0:
 * nothing to do.  Items with start == end read nothing but must still be
 * committed (they record a resolved starting offset).  Returns 0 — a broker
 * that cannot be reached only means no new end offsets this time (the call
 * then takes about timeout_ms per query, metadata then offsets) — or, with
 * errstr: MS_EINVAL ("interrupted") when *stop is set on entry or becomes
 * set while a query waits for the brokers (noticed within two seconds,
 * however long timeout_ms is): no plan (plan->n == 0) and no
 * position moved; MS_ECORRUPT when data was lost and fail_on_data_loss is
 * set; MS_EIO for an error retrying cannot fix (authorization,
 * authentication, a fatal client error).  stop may be NULL (never). */
int ms_kafkasrc_plan(ms_kafkasrc *s, ms_kafka_plan *plan, volatile sig_atomic_t *stop, char *errstr,
                     size_t errstr_size);

/* Messages planned (sum of end - start). */
uint64_t ms_kafkasrc_plan_messages(const ms_kafka_plan *plan);

/* The plan record the engine persists under m:plan, and its decoder
 * (MS_ECORRUPT for a record that is not a valid Kafka plan). */
void ms_kafkasrc_plan_encode(const ms_kafka_plan *plan, ms_buf *out);
int ms_kafkasrc_plan_decode(const void *v, size_t vl, ms_kafka_plan *plan);

/* Recovery: adopts a decoded plan of a batch that was not committed, so
 * that read/commit/committed can run it again.  MS_ECORRUPT with errstr if
 * the plan starts a partition before its committed position (it would
 * count messages twice). */
int ms_kafkasrc_replan(ms_kafkasrc *s, const ms_kafka_plan *plan, char *errstr, size_t errstr_size);

/* Reads exactly the planned messages, in offset order per partition, into
 * in: part() whenever the partition changes, then record() per message
 * with meta[MS_META_TOPIC..MS_META_KEY] = topic, partition, offset,
 * timestamp (µs, NULL if the broker has none), key (NULL if none); the
 * value and the slices are valid only during the call.  Transient broker errors are retried with no
 * limit but *stop.  Returns 0; MS_EINVAL ("interrupted") when *stop became set (the batch is
 * abandoned; noticed within two seconds, also while an offset query waits for the brokers);
 * MS_ECORRUPT when planned offsets expired and fail_on_data_loss is set; MS_EIO for a permanent
 * error (authorization, authentication, a fatal client error).  stop may be NULL (never). */
int ms_kafkasrc_read(ms_kafkasrc *s, const ms_kafka_plan *plan, const ms_input *in,
                     volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/* Adds the positions reached (the planned ends) to the commit batch. */
void ms_kafkasrc_commit(ms_kafkasrc *s, const ms_kafka_plan *plan, ms_ckpt_batch *wb);
/* The commit is durable: positions move to the planned ends. */
void ms_kafkasrc_committed(ms_kafkasrc *s, const ms_kafka_plan *plan);

/* available_now: every partition has been read up to the end offset seen
 * when the source first reached the brokers. */
int ms_kafkasrc_drained(const ms_kafkasrc *s);

typedef struct ms_kafka_part_stats {
    char *topic; /* owned by the stats */
    int32_t partition;
    int64_t committed; /* next offset to read (-1: not resolved yet) */
    int64_t low, high; /* watermarks last seen (-1: unknown) */
    int64_t lag;       /* high - committed, 0 when unknown */
} ms_kafka_part_stats;

typedef struct ms_kafkasrc_stats {
    uint64_t messages, bytes;     /* read (and delivered to the callback) */
    uint64_t transient_errors;    /* broker/transport errors survived */
    uint64_t data_loss_events;    /* partitions where offsets were found missing */
    uint64_t offsets_lost;        /* offsets skipped because of them */
    uint64_t metadata_refreshes;  /* successful partition discoveries */
    uint64_t watermark_failures;  /* end-offset queries that failed (last ends kept) */
    uint64_t partitions_assigned; /* partitions read by the last read */
    size_t npart;
    ms_kafka_part_stats *parts; /* owned; sorted by topic, partition */
} ms_kafkasrc_stats;

/* A snapshot of the counters and per-partition lag (for /metrics); free it
 * with ms_kafkasrc_stats_free. */
void ms_kafkasrc_get_stats(const ms_kafkasrc *s, ms_kafkasrc_stats *st);
void ms_kafkasrc_stats_free(ms_kafkasrc_stats *st);

/* The source's operations (ms_source.h); self is the ms_kafkasrc. */
extern const ms_source_ops ms_kafkasrc_ops;

/* Parses starting offsets ("earliest", "latest" or Spark's JSON) into a
 * list of (topic, partition, offset) with partition -1 standing for "every
 * partition of the topic" ("earliest"/"latest": topic NULL).  Exposed for
 * the fuzz target.  MS_EUSAGE with a sentence on a syntax error. */
typedef struct ms_kafka_start {
    char *topic; /* owned; NULL = every topic */
    int32_t partition;
    int64_t offset; /* >= 0, MS_KAFKA_OFFSET_EARLIEST or MS_KAFKA_OFFSET_LATEST */
} ms_kafka_start;
int ms_kafkasrc_parse_offsets(const char *spec, ms_kafka_start **out, size_t *n, char *errstr,
                              size_t errstr_size);
void ms_kafkasrc_starts_free(ms_kafka_start *v, size_t n);

#endif
