/*
 * Checkpoint records of the Kafka source: partition positions and the plan
 * of a batch.  Pure functions, no I/O, no librdkafka; decoders never trust
 * their input (a corrupt record yields MS_ECORRUPT, never a crash) and are
 * fuzzed (tests/fuzz/fuzz_codec_kafka.c).  Integers are the LEB128 varints
 * of ms_codec.h; every encoding is canonical, so decode(encode(x)) == x and
 * encode(decode(bytes)) == bytes.
 *
 * Keys and values:
 *
 *   p:kafka:<topic>\0<be32 partition>   position: u8 version (2),
 *                                       varint next offset to read,
 *                                       varint marker offset + 1 (0: none),
 *                                       [varint marker hash]
 *                                       (version 1: the offset alone)
 *   m:plan (written by the engine)      plan: u8 MS_KAFKA_PLAN_VERSION2,
 *                                       varint batch id, varint created (ms),
 *                                       varint n, n x { varint topic length,
 *                                       topic bytes, varint partition,
 *                                       varint start, varint end,
 *                                       varint flags }
 *                                       (MS_KAFKA_PLAN_VERSION: no flags)
 *
 * Topic names follow Kafka's rule ([A-Za-z0-9._-], 1..249 bytes), so a
 * topic never holds the NUL that ends it in a key, and keys sort by topic
 * then partition.  Offsets are 0..INT64_MAX.  A plan's items are sorted by
 * (topic, partition) with no duplicates, and start <= end: a decoder that
 * accepted a duplicate would let a re-run read a range twice.
 *
 * The plan's version bytes (0x4b 'K', 0x4c 'L') differ from the file plan's (1, 2), so
 * a plan of the other source kind is refused as corrupt, not misread.
 */
#ifndef MS_CODEC_KAFKA_H
#define MS_CODEC_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

#define MS_KAFKA_POS_PREFIX     "p:kafka:"
#define MS_KAFKA_POS_PREFIX_LEN 8
#define MS_KAFKA_PLAN_VERSION   0x4b /* 'K': items without flags (read, never written) */
#define MS_KAFKA_PLAN_VERSION2  0x4c /* 'L': items with flags */

/* Flags of a planned range. */
#define MS_KAFKA_RANGE_RESTART                                                                     \
    0x1u /* the partition was re-created: start may be below the                                   \
          * committed position (it reads the new partition) */
#define MS_KAFKA_RANGE_FLAGS 0x1u
#define MS_KAFKA_TOPIC_MAX   249

/* A committed partition position, with the content marker of the last
 * message read (its offset, below offset, and a hash of its key, value and
 * timestamp: ms_kafkasrc.h, "Topic lifecycle"). */
typedef struct ms_kafka_pos {
    char *topic; /* owned */
    int32_t partition;
    int64_t offset;      /* next offset to read */
    int64_t mark_offset; /* -1: no marker */
    uint64_t mark_hash;
} ms_kafka_pos;

/* One planned range: offsets [start, end) of one partition.  start == end
 * only records a position (a fresh starting offset, a new partition). */
typedef struct ms_kafka_range {
    char *topic; /* owned */
    int32_t partition;
    int64_t start, end;
    uint32_t flags; /* MS_KAFKA_RANGE_* */
} ms_kafka_range;

typedef struct ms_kafka_plan {
    uint64_t batch_id;   /* set by the engine */
    uint64_t created_ms; /* wall clock, ms since the epoch; set by the engine */
    size_t n;
    ms_kafka_range *items; /* owned; sorted by (topic, partition), unique */
} ms_kafka_plan;

/* 1 if s[0..n) is a valid Kafka topic name. */
int ms_codec_kafka_topic_valid(const char *s, size_t n);

void ms_codec_key_kafka_pos(ms_buf *b, const char *topic, int32_t partition);
void ms_codec_encode_kafka_pos(ms_buf *b, int64_t offset, int64_t mark_offset, uint64_t mark_hash);
/* Decodes key + value of a position record; pos->topic is allocated. */
int ms_codec_decode_kafka_pos(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                              ms_kafka_pos *pos);
void ms_kafka_pos_free(ms_kafka_pos *pos);

void ms_codec_encode_kafka_plan(ms_buf *b, const ms_kafka_plan *p);
int ms_codec_decode_kafka_plan(const uint8_t *v, size_t vl, ms_kafka_plan *p);
void ms_kafka_plan_free(ms_kafka_plan *p);

/* Order of plan items and positions: topic (bytewise), then partition. */
int ms_kafka_tp_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb);

#endif
