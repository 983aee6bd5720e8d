/*
 * Group mode's record layouts (docs/design.md §9): what mstream writes to
 * its internal Kafka topics, and the keys of the local cache of the
 * changelog.  Pure functions, no I/O; decoders never trust their input (a
 * record that is not one of these is MS_ECORRUPT, never a crash) and are
 * fuzzed (tests/fuzz/fuzz_codec_group.c).
 *
 * Repartition topic <application-id>-<statement>-repartition, stage 1 to
 * stage 2, partition = XXH3-64 of the group key modulo the partitions:
 *   partial row    key:   the group key (query/ms_exec.h layout)
 *                  value: 0x01, varint rows, the accumulators (ms_exec.h value layout)
 *   watermark      key:   the input partition, "topic/partition"
 *                  value: 0x02, zig-zag largest event time of that partition
 *                         (INT64_MIN: none yet); sent to every partition
 * Changelog topic <application-id>-<statement>-changelog, compacted,
 * partition q = the stage-2 task of repartition partition q:
 *   entry          key: 'k' + group key   value: 0x01 + accumulators
 *                  (no value: a tombstone, the group left the state)
 *   task progress  key: 'w'               value: 0x01 + the statement's progress
 *                  (ms_exec_encode_progress: event times, watermark, latest
 *                  closed window, upstream partitions)
 * Output topic <application-id>-<statement>-output (EMIT APPEND
 * statements): key the group key, value the row as a JSON object (as the
 * json sink writes it).
 * Committed offsets of a repartition partition carry the metadata
 * "cl=<offset>": the changelog offset the task's state reached in that
 * transaction (restoring reads the changelog at least that far).
 *
 * Local cache (the checkpoint directory's RocksDB; "g:" namespace):
 *   g:s:<stmt>\0<be32 q><group key>    an entry's value, as in the changelog
 *   g:w:<stmt>\0<be32 q>               the task's progress, as in the changelog
 *   g:o:<stmt>\0<be32 q>               0x01, varint: the next changelog offset
 *                                      the cache reflects
 *   m:instance                         0x01, this instance's id (its transactional.id)
 */
#ifndef MS_CODEC_GROUP_H
#define MS_CODEC_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

#define MS_GREC_PARTIAL   0x01
#define MS_GREC_WATERMARK 0x02

/* A repartition record, decoded. */
typedef struct ms_grec {
    int type;            /* MS_GREC_PARTIAL or MS_GREC_WATERMARK */
    uint64_t rows;       /* partial: input rows it stands for */
    const uint8_t *accs; /* partial: the accumulators (into the value) */
    size_t alen;
    int64_t max_event; /* watermark */
} ms_grec;

void ms_gcodec_partial(ms_buf *v, uint64_t rows, const void *accs, size_t alen);
void ms_gcodec_watermark(ms_buf *v, int64_t max_event);
int ms_gcodec_decode_rep(const uint8_t *v, size_t vl, ms_grec *out);

/* A changelog record, decoded. */
enum { MS_GCL_ENTRY = 'k', MS_GCL_PROGRESS = 'w' };
typedef struct ms_gcl {
    int type;           /* MS_GCL_ENTRY or MS_GCL_PROGRESS */
    const uint8_t *key; /* entry: the group key (into the key) */
    size_t klen;
    const uint8_t *val; /* the payload after the version byte; NULL: tombstone */
    size_t vlen;
} ms_gcl;

void ms_gcodec_cl_entry_key(ms_buf *k, const uint8_t *gkey, size_t klen);
void ms_gcodec_cl_progress_key(ms_buf *k);
/* A changelog value: the version byte and the payload. */
void ms_gcodec_cl_value(ms_buf *v, const void *payload, size_t n);
/* v == NULL: a tombstone (only an entry may be one). */
int ms_gcodec_decode_cl(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, ms_gcl *out);

/* Cache keys; what: 's' (entries; gkey appended), 'w', 'o'. */
void ms_gcodec_cache_key(ms_buf *k, char what, const char *stmt, int32_t q, const uint8_t *gkey,
                         size_t klen);
void ms_gcodec_offset_value(ms_buf *v, int64_t next);
int ms_gcodec_decode_offset(const uint8_t *v, size_t vl, int64_t *next);

/* "cl=<offset>" and its parser (-1 for anything else). */
void ms_gcodec_meta(char *buf, size_t n, int64_t cl_offset);
int64_t ms_gcodec_parse_meta(const char *meta);

#endif
