/*
 * The pipeline a query runs, stage by stage:
 *
 *   source ──chunks of complete lines──▶ parser ──rows──▶ aggregate ──▶ publish
 *   (ms_dirsrc)                         (ms_tokenize)    (ms_agg)      (ms_snapshot)
 *
 * Each stage only knows the interface of the next one, so a query layer can
 * assemble other pipelines (CSV parser, windowed aggregate, Kafka source)
 * without touching the engine loop.  A row is an array of typed values
 * (ms_value.h), valid only during the emit call.
 */
#ifndef MS_PIPELINE_H
#define MS_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "query/ms_value.h"

typedef struct ms_row {
    const ms_value *cols;
    size_t ncols;
} ms_row;

typedef void (*ms_emit_fn)(void *ud, const ms_row *row);

/* Reasons a parser or operator rejects a row; counted, logged, never fatal. */
#define MS_MALFORMED_MAP(X)                                                                        \
    X(WORD_TOO_LONG, "word_too_long")     /* a word longer than --max-word-bytes */                \
    X(LINE_TOO_LONG, "line_too_long")     /* a record longer than --max-record-bytes */            \
    X(COLUMN_COUNT, "wrong_column_count") /* CSV: not the schema's number of fields */             \
    X(BAD_NUMBER, "bad_number")           /* a numeric field that is not a number */               \
    X(BAD_VALUE, "bad_value")             /* a value out of its domain (event type 12) */          \
    X(BAD_JSON, "bad_json")               /* not one JSON object */                                \
    X(BAD_TYPE, "bad_type")               /* JSON member of the wrong type */                      \
    X(EMPTY, "empty_record")              /* an empty Kafka message or CSV line */                 \
    X(BINARY, "binary")                   /* a record holding NUL bytes */                         \
    X(BAD_HEADER, "bad_header")           /* csv: a header not naming the declared columns */

enum ms_malformed {
#define MS__MAL_ENUM(e, s) MS_MALFORMED_##e,
    MS_MALFORMED_MAP(MS__MAL_ENUM)
#undef MS__MAL_ENUM
        MS_MALFORMED_MAX
};

const char *ms_malformed_name(enum ms_malformed r);

/* A parser turns chunks of complete lines into rows.  Chunks of one batch
 * arrive in file order; a chunk may end in the middle of a line only if
 * more chunks of the same file follow, and ms_parser_ops.end_file() is
 * called after the last chunk of each file range. */
typedef struct ms_parser_ops {
    const char *name;
    void (*feed)(void *self, const uint8_t *data, size_t n, ms_emit_fn emit, void *emit_ud);
    void (*end_file)(void *self, ms_emit_fn emit, void *emit_ud);
} ms_parser_ops;

typedef struct ms_parser {
    const ms_parser_ops *ops;
    void *self;
    uint64_t lines;                       /* input rows seen */
    uint64_t malformed[MS_MALFORMED_MAX]; /* by reason */
} ms_parser;

#endif
