/*
 * Checkpoint record codec: the byte layout of every key and value mstream
 * writes to RocksDB.  Pure functions, no I/O; decoders never trust their
 * input (a corrupt record yields MS_ECORRUPT, never a crash) and are fuzzed.
 *
 * Keys (a one-letter namespace, then ':'):
 *   m:format            u8 format version (MS_CKPT_FORMAT)
 *   m:query             query fingerprint text (the query the state is for)
 *   m:last              batch record of the last committed batch
 *   m:plan:<be64 id>    plan record of batch id, written before it runs, deleted by
 *                       its commit (a key per batch: plan N+1 is written while
 *                       commit N may still be in flight)
 *   b:<be64 batch id>   batch record (history of recent commits)
 *   p:dir:<be64 dev><be64 ino>   file position record
 *   s:<query>:<group key>        state value (see query/ms_exec.h for both layouts)
 *   w:<query>           watermark record: max event time, watermark, last closed window
 *   c:<query>           rows of the latest closed window (kept for /metrics after a restart)
 *   t:<query>           totals: groups in the state and its top-K rows (below)
 *   n:<query>           groups in the state (version 1, varint): newer than t:'s
 *   k:<query>           the statement's counters (below), in every commit
 *
 * "s:" lives in the checkpoint's state column family, the rest in the
 * default one (state/ms_ckpt.h).  Format 2 added "t:" and the state
 * family; a format-1 checkpoint is upgraded when it is opened
 * (ms_exec_load), and an older mstream refuses a format-2 one (it cannot
 * open a database with a column family it does not know).
 *
 * Values start with a version byte (1).  Integers are LEB128 varints;
 * strings are varint length + bytes.
 *
 * Totals record "t:<query>": version 1, varint groups, varint row count,
 * per row varint key length + key + varint value length + value (the
 * state value layout of ms_exec.h), rows in result order.
 *
 * Counters record "k:<query>": version 1, varints rows_in, rows_filtered,
 * rows_late, rows_no_time, rows_agg, evicted, windows_closed, then varint
 * n (<= MS_CODEC_MAX_REASONS) and n varints: malformed rows by reason, in
 * the order of MS_MALFORMED_MAP (reasons are only ever appended).  The
 * counters are committed with the batch they count, so a batch re-run
 * after a crash recounts from the committed values; a checkpoint without
 * the record (older mstream) starts them at zero.
 */
#ifndef MS_CODEC_H
#define MS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

#define MS_CKPT_FORMAT 2

/* Flags of a file position / plan item. */
#define MS_FPOS_REJECTED 0x1u  /* file rejected (binary): never read again */
#define MS_FPOS_RESTART  0x2u  /* plan item: the file was truncated or replaced; start over */
#define MS_FPOS_TAIL_MAX 4096u /* bytes before the position hashed into the tail marker */
#define MS_FPOS_GZIP     0x4u  /* a .gz file: offsets count compressed bytes (ms_dirsrc.h) */
#define MS_FPOS_BADGZIP  0x8u  /* with REJECTED: rejected as damaged gzip, not as binary */

typedef struct ms_filepos {
    uint64_t dev, ino;
    uint64_t offset;    /* bytes consumed (always just after a newline) */
    uint64_t mark_len;  /* content marker: length of the prefix hashed ... */
    uint64_t mark_hash; /* ... and its hash; detects a replaced file reusing the inode */
    int64_t btime_ns;   /* birth time (statx), 0: the file system does not say */
    uint64_t tail_len;  /* tail marker: the last bytes before offset (<= MS_FPOS_TAIL_MAX) ... */
    uint64_t tail_hash; /* ... and their hash; a rewrite keeping the head is a new file */
    uint32_t flags;
    char *name; /* owned; name relative to the input directory when last seen */
} ms_filepos;

typedef struct ms_plan_item {
    ms_filepos pos; /* pos.offset = start of the range */
    uint64_t end;   /* end of the range (exclusive), just after a newline */
} ms_plan_item;

typedef struct ms_plan {
    uint64_t batch_id;
    double created_wall; /* seconds since the epoch */
    size_t n;
    ms_plan_item *items; /* owned */
} ms_plan;

typedef struct ms_batch_rec {
    uint64_t batch_id;
    uint64_t commit_ms; /* wall clock, ms since the epoch */
    uint64_t rows, bytes, files;
} ms_batch_rec;

void ms_codec_put_varint(ms_buf *b, uint64_t v);
int ms_codec_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

void ms_codec_key_position(ms_buf *b, uint64_t dev, uint64_t ino);
void ms_codec_key_batch(ms_buf *b, uint64_t batch_id);
void ms_codec_key_plan(ms_buf *b, uint64_t batch_id);
void ms_codec_key_state(ms_buf *b, const char *query, const uint8_t *key, size_t klen);
void ms_codec_key_totals(ms_buf *b, const char *query);
void ms_codec_key_groups(ms_buf *b, const char *query);
void ms_codec_encode_groups(ms_buf *b, uint64_t groups);
int ms_codec_decode_groups(const uint8_t *v, size_t vl, uint64_t *groups);

/* The totals record (layout above).  Encoding: begin, then one add per row. */
void ms_codec_totals_begin(ms_buf *b, uint64_t groups, size_t nrows);
void ms_codec_totals_add(ms_buf *b, const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen);
/* Decodes the framing; cb sees every row (a non-zero return aborts with
 * MS_ECORRUPT).  0 or MS_ECORRUPT. */
typedef int (*ms_codec_row_fn)(void *ud, const uint8_t *key, size_t klen, const uint8_t *val,
                               size_t vlen);
int ms_codec_decode_totals(const uint8_t *v, size_t vl, uint64_t *groups, ms_codec_row_fn cb,
                           void *ud);

#define MS_CODEC_MAX_REASONS 32

typedef struct ms_counters_rec {
    uint64_t rows_in, rows_filtered, rows_late, rows_no_time, rows_agg, evicted, windows_closed;
    size_t nmalformed;
    uint64_t malformed[MS_CODEC_MAX_REASONS];
} ms_counters_rec;

void ms_codec_key_counters(ms_buf *b, const char *query);
void ms_codec_encode_counters(ms_buf *b, const ms_counters_rec *c);
/* 0 or MS_ECORRUPT (c is then unspecified). */
int ms_codec_decode_counters(const uint8_t *v, size_t vl, ms_counters_rec *c);

void ms_codec_encode_filepos(ms_buf *b, const ms_filepos *fp);
/* Decodes key+value of a position record; fp->name is allocated. */
int ms_codec_decode_filepos(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                            ms_filepos *fp);
void ms_filepos_free(ms_filepos *fp);

void ms_codec_encode_plan(ms_buf *b, const ms_plan *p);
int ms_codec_decode_plan(const uint8_t *v, size_t vl, ms_plan *p);
void ms_plan_free(ms_plan *p);

void ms_codec_encode_batch(ms_buf *b, const ms_batch_rec *r);
int ms_codec_decode_batch(const uint8_t *v, size_t vl, ms_batch_rec *r);

void ms_codec_encode_count(ms_buf *b, int64_t v);
int ms_codec_decode_count(const uint8_t *v, size_t vl, int64_t *out);

#endif
