/*
 * Source formats: one record (a line of a file, or a Kafka message value)
 * in, zero or more typed rows out.
 *
 *   record bytes ──▶ ms_format_record() ──▶ emit(row) × 0..n
 *                         │
 *                         └─▶ malformed[reason]++   (counted, skipped, never fatal)
 *
 * One ms_format serves one query statement and runs on the engine thread
 * only.  The schema (query/ms_schema.h) says what the rows look like:
 *
 *   lines        one row per record: value = the whole record (an empty
 *                record is a row holding an empty string, as Spark's text
 *                source does).
 *   words        one row per word (maximal run of bytes that are not ASCII
 *                whitespace); a word longer than max_word_bytes is dropped
 *                and counted as word_too_long.  An empty record gives no row
 *                and is not malformed.
 *   csv          RFC 4180 fields into the declared columns, in the dialect of
 *                the query's WITH options: delimiter, quote, header
 *                (ms_csv.c, ms_schema.h).
 *   task_events, job_events
 *                the Google cluster-trace CSV schemas (ms_csv.c); the event
 *                type is exposed by name (SUBMIT, SCHEDULE, ...).
 *   json         one object per record, members matched to the declared
 *                columns by name (ms_json.c).
 *
 * Every row is ms_schema_width(schema) values wide: the format's columns,
 * then the MS_META_NCOLS metadata columns, copied from the `meta` argument
 * (all NULL when meta is NULL).
 *
 * Memory: a row and every slice in it are valid only during the emit call.
 * Slices point into the record itself, or into scratch memory owned by the
 * format (decoded CSV quotes, JSON escapes).  Parsing allocates nothing per
 * row: the scratch memory grows to the largest record seen, which is at
 * most max_record_bytes.
 *
 * Malformed records (reasons of ms_pipeline.h), checked in this order, and
 * each record counted under one reason only:
 *   line_too_long       the record is longer than max_record_bytes (any format)
 *   empty_record        csv / trace / json: a record of zero bytes
 *   binary              csv / trace / json: a record holding a NUL byte
 *   wrong_column_count  csv / trace: not exactly the schema's number of fields
 *                       (the checks below apply to the columns a statement
 *                       reads only: ms_format_opts.used)
 *   bad_json            json: not exactly one well-formed JSON object
 *   bad_value           csv: a quoted field not closed, or text after its
 *                       closing quote; a BOOLEAN that is not true/false/1/0;
 *                       an event type outside 0..8.
 *                       json: a TIMESTAMP string that is not ISO-8601
 *   bad_number          csv: a BIGINT/DOUBLE/TIMESTAMP field that is not one;
 *                       json: a BIGINT outside int64, a DOUBLE outside the
 *                       double range
 *   bad_type            json: a member whose JSON type does not fit the
 *                       column (a string for BIGINT, 1.5 for BIGINT, ...)
 *   bad_header          csv with 'check-header': a header line that does not
 *                       name the declared columns (ms_format_line)
 * Malformed lines are not logged one by one (a bad file would flood the
 * log); the counters are exported as metrics.
 */
#ifndef MS_FORMAT_H
#define MS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "query/ms_pipeline.h"
#include "query/ms_schema.h"
#include "query/ms_value.h"

#define MS_FORMAT_DEFAULT_MAX_RECORD (1u << 20) /* 1 MiB */
#define MS_FORMAT_DEFAULT_MAX_WORD   1024

typedef struct ms_format_opts {
    size_t max_record_bytes; /* longer records: line_too_long; 0 = 1 MiB */
    size_t max_word_bytes;   /* words format: longer words dropped; 0 = 1024 */
    /* csv and the trace schemas: per format column, whether the statement
     * reads it; NULL: every column.  A column not read is not converted
     * (NULL in the row), so its text never makes a row malformed — Spark's
     * CSV column pruning; the number of fields is always checked. */
    const uint8_t *used;
} ms_format_opts;

typedef struct ms_format ms_format;

/* Makes a parser for schema (which must outlive it); opts may be NULL for
 * the defaults.  Returns NULL and says why in errstr when the schema cannot
 * be parsed into (no column, a column of type NULL, lines/words with other
 * than one STRING column). */
ms_format *ms_format_new(const ms_schema *schema, const ms_format_opts *opts, char *errstr,
                         size_t errstr_size);
void ms_format_free(ms_format *f);

/* Parses one record p[0..n) (a line without its '\n', or one Kafka message
 * value) and calls emit once per row.  meta: MS_META_NCOLS values copied
 * into the rows' metadata columns, or NULL.  Returns the number of rows
 * emitted. */
size_t ms_format_record(ms_format *f, const uint8_t *p, size_t n, const ms_value *meta,
                        ms_emit_fn emit, void *ud);

/* Counts a record the caller rejected without parsing it (the line splitter's
 * over-long lines, which it never buffers whole). */
void ms_format_reject(ms_format *f, enum ms_malformed reason);

/* ---------------------------------------------------------- lines of files
 *
 * A file is read in ranges (a batch reads bytes [offset, end) of it).  The
 * line splitter (ms_lines.h) hands each line to ms_format_line(), between
 * ms_format_begin_range() and ms_format_end_range(); lines never told of a
 * range start (a caller that does not know the offset) are read as if the
 * range did not start at offset 0.  Two things of a CSV file live across
 * the lines of a range and nowhere else, so that the rows of a range depend
 * on its bytes and its offset only (a batch re-run after a crash reads the
 * same ranges and gives the same rows):
 *
 *   header     with 'header' = 'true', the first line of a range that starts
 *              at offset 0 is the file's header: no row, not malformed
 *              (with 'check-header', bad_header when it does not name the
 *              declared columns, and one warning naming the file).  Bytes
 *              appended later are read from a later offset: no header there.
 *   quoted     a line break cannot be inside a quoted field of a file: a
 *   fields     CSV line left inside an open quote is malformed (bad_value,
 *              as any unclosed quote), and so is every following line of
 *              the range up to the one that closes the quote, each counted
 *              as one bad_value record: the pieces of a broken record never
 *              become rows of their own.
 *
 * A line longer than max_record_bytes (ms_format_reject() or here) ends both
 * states: its bytes are not looked at. */

/* The next line is the first of bytes [offset, ...) of the file `name`
 * (for messages; NULL if unknown; must stay valid until the range ends). */
void ms_format_begin_range(ms_format *f, const char *name, uint64_t offset);
/* A line of the current range, as ms_format_record() otherwise. */
size_t ms_format_line(ms_format *f, const uint8_t *p, size_t n, const ms_value *meta,
                      ms_emit_fn emit, void *ud);
/* The range is over (or abandoned). */
void ms_format_end_range(ms_format *f);
/* Header lines skipped so far (counted in ms_format_records too). */
uint64_t ms_format_headers(const ms_format *f);

uint64_t ms_format_records(const ms_format *f); /* every record seen, rejected or not */
uint64_t ms_format_malformed(const ms_format *f, enum ms_malformed r);
const ms_schema *ms_format_schema(const ms_format *f);
size_t ms_format_max_record(const ms_format *f);

/* ----------------------------------------------------- scalar conversions
 * The text-to-value rules of the CSV format, shared with the query layer
 * (literals in queries).  Each returns 0 and stores the value, or -1 when
 * the whole of p[0..n) is not exactly one value of that kind. */

/* [+-]digits, within int64. */
int ms_format_parse_int64(const uint8_t *p, size_t n, int64_t *out);
/* [+-]digits[.digits][(e|E)[+-]digits] (at least one mantissa digit; no
 * hex, inf or nan), finite; correctly rounded, independent of the locale. */
int ms_format_parse_double(const uint8_t *p, size_t n, double *out);
/* true, false, 1, 0 (case-insensitive) -> 1 or 0. */
int ms_format_parse_bool(const uint8_t *p, size_t n, int64_t *out);
/* An integer (microseconds), or ISO-8601 `YYYY-MM-DD[(T| )HH:MM:SS[.f{1,9}]]
 * [Z|(+|-)HH:MM]` -> microseconds since the Unix epoch, UTC (digits beyond
 * microseconds are truncated). */
int ms_format_parse_timestamp(const uint8_t *p, size_t n, int64_t *out);

#endif
