/*
 * Sources: what the engine reads, behind one table of operations.
 *
 * A source is a plugin (Fluent Bit's input plugins are the model): its file
 * fills an ms_source_ops table with designated initializers at the bottom,
 * and the engine drives every source through that table alone — one loop,
 * one commit path, no "if this source then ..." in the engine.
 *
 *   engine                      source (ms_dirsrc.c, ms_kafkasrc.c)
 *   ──────                      ──────
 *   wait(fd, deadline) ◀──────  wait_fd / next_check / wake / has_new
 *   plan            ──────────▶ plan: an opaque plan (byte or offset ranges)
 *   persist m:plan:<id>  ◀────  plan_encode (the engine only knows the id)
 *   read            ──────────▶ read: exactly the planned input, handed to
 *                               an ms_input (the runtime's parsers)
 *   commit          ──────────▶ commit: new positions into the write batch
 *   durable         ──────────▶ committed: in-memory positions move on
 *   recovery        ──────────▶ plan_decode + replan: a plan left by a crash
 *                               is re-run exactly as planned
 *
 * Partitions.  Every source presents its input as partitions
 * (docs/design.md §3a): a Kafka topic-partition, or the directory (one
 * partition).  read() tells the input which partition the following bytes
 * or records come from (ms_input_ops.part), so the parsers know the file
 * they read and the executors keep one event-time maximum per partition;
 * partitions() lists every partition the source knows, with whether input
 * is waiting in it beyond the current plan (a partition with a backlog is
 * never idle), for the watermark's idleness rule.
 *
 * Errors.  Operations that can fail return 0 or a negative MS_E* code with
 * a sentence in errstr: MS_EINVAL "interrupted" when *stop became set (the
 * batch is abandoned, nothing of it persisted), MS_ECORRUPT for data loss
 * the user asked to fail on and for corrupt checkpoint records, MS_EIO for
 * failures retrying cannot fix, MS_EUSAGE for configuration the checkpoint
 * or the brokers refuse.
 *
 * Thread-safety: engine thread only.
 */
#ifndef MS_SOURCE_H
#define MS_SOURCE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "query/ms_schema.h"
#include "query/ms_value.h"
#include "state/ms_ckpt.h"

/* ------------------------------------------------------------ partitions */

/* One partition of a source.  topic is NULL for the directory (one
 * partition, partition -1); strings belong to the source and stay valid
 * until its next plan. */
typedef struct ms_part {
    const char *topic;
    int32_t partition;
} ms_part;

/* A partition as partitions() lists it. */
typedef struct ms_part_info {
    ms_part part;
    int backlog; /* input waits in it beyond what has been planned */
} ms_part_info;

/* The stable text that names a partition in checkpoints and in
 * /api/v1/status: "dir", or "<topic>/<partition>". */
void ms_part_key(ms_buf *b, const ms_part *p);

/* ------------------------------------------------------------ the input */

/* Where read() delivers the input: the runtime's parsers and executors.
 * part() is called before the first bytes or records of a partition and
 * whenever the partition changes (for a file source: before each file
 * range); name is what the `topic` metadata column shows (the file's name;
 * the topic for Kafka), valid until the next part() or end(); start is the
 * position of what follows (the byte offset in the file: 0 means the file's
 * first line; the offset of the next Kafka message).  A text source delivers lines with feed() — a
 * chunk may end inside a line only if more chunks of the same range follow — and calls end() after
 * the last chunk of each file range, or discard() instead when a range is cut short (the file
 * changed under it: a line partly fed is forgotten, not emitted); a message source delivers
 * whole records with record(). */
typedef struct ms_input_ops {
    void (*part)(void *ud, const ms_part *p, const char *name, uint64_t start);
    void (*feed)(void *ud, const uint8_t *data, size_t n);
    void (*end)(void *ud);
    void (*discard)(void *ud);
    void (*record)(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len);
} ms_input_ops;

typedef struct ms_input {
    const ms_input_ops *ops;
    void *ud;
} ms_input;

/* ------------------------------------------------------------ the table */

/* Caps on one batch (--max-files/bytes/offsets-per-trigger; 0 = none). */
typedef struct ms_source_limits {
    uint64_t max_files;
    uint64_t max_bytes;
    uint64_t max_offsets;
} ms_source_limits;

/* What a read did, for progress and /metrics. */
typedef struct ms_read_stats {
    uint64_t records; /* rows (lines) or messages delivered */
    uint64_t bytes;
} ms_read_stats;

/* What a plan covers, for the progress record of its batch. */
typedef struct ms_plan_range {
    const char *name;  /* the file, or the topic */
    int32_t partition; /* -1 for a file */
    uint64_t start, end;
} ms_plan_range;

struct ms_progress;
struct ms_source_stats;

typedef struct ms_source_ops {
    const char *name; /* "dir", "kafka" */

    /* Chooses the input of the next batch (capped by lim) into *plan, a
     * plan owned by the caller (plan_free).  A plan of no ranges
     * (plan_ranges() == 0) means nothing to do now. */
    int (*plan)(void *self, const ms_source_limits *lim, void **plan, volatile sig_atomic_t *stop,
                char *errstr, size_t errstr_size);
    /* Ranges of a plan, and range i of it (for progress and logs). */
    size_t (*plan_ranges)(const void *plan);
    void (*plan_range)(const void *plan, size_t i, ms_plan_range *r);
    /* The plan record persisted before the batch runs ("m:plan:<id>"),
     * and its decoder: MS_ECORRUPT for a record that is not this source's
     * plan (another source's plan is refused, never misread). */
    void (*plan_encode)(const void *plan, uint64_t batch_id, double created_wall, ms_buf *out);
    int (*plan_decode)(const void *v, size_t vl, void **plan, uint64_t *batch_id);
    /* Recovery: adopts a decoded plan of the batch that was persisted but
     * not committed, so that read/commit/committed can run it again. */
    int (*replan)(void *self, void *plan, char *errstr, size_t errstr_size);
    void (*plan_free)(void *plan);

    /* Reads exactly the planned input into in. */
    int (*read)(void *self, const void *plan, const ms_input *in, volatile sig_atomic_t *stop,
                ms_read_stats *rs, char *errstr, size_t errstr_size);
    /* The positions the batch reached, into the commit's write batch;
     * returns the number of ranges read (files, partitions). */
    size_t (*commit)(void *self, const void *plan, ms_ckpt_batch *wb);
    /* The write batch is handed to the committer: positions move on (the
     * next plan starts where this one ends). */
    void (*committed)(void *self, const void *plan);

    /* Waiting for input: a descriptor that becomes readable when input may
     * have arrived (-1: none), the monotonic time by which a plan should
     * be tried anyway, wake() after the descriptor was readable (drains
     * it), and whether a plan may find something now (trigger 0). */
    int (*wait_fd)(void *self);
    double (*next_check)(void *self);
    void (*wake)(void *self);
    int (*has_new)(void *self);
    /* Available-now: everything present at start has been committed. */
    int (*drained)(void *self);
    /* Not ready to read (the directory is gone; no broker reached yet):
     * /readyz answers 503 meanwhile.  NULL: always ready. */
    int (*healthy)(void *self);

    /* Partitions, for watermarks: *parts is valid until the next call. */
    size_t (*partitions)(void *self, const ms_part_info **parts);
    /* Spark's description ("DirectorySource[dir]") and counters. */
    void (*describe)(void *self, ms_buf *out);
    void (*stats)(void *self, struct ms_source_stats *st);

    /* Returns 1 when threads of the source could not be stopped in time
     * and were left running (the process should then end with _exit()). */
    int (*close)(void *self);
} ms_source_ops;

typedef struct ms_source {
    const ms_source_ops *ops;
    void *self;
} ms_source;

#endif
