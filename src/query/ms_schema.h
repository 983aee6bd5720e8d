/*
 * Schemas: the columns a source format produces.
 *
 * Built-in formats have fixed schemas (ms_schema_builtin): `lines`
 * (value STRING), `words` (word STRING), and the two Google cluster-usage
 * trace tables (docs/design.md §4) `task_events` and `job_events`.  `csv` and
 * `json` take their columns from the query (ms_schema_new + add_column).
 *
 * Every row carries, after the format's own columns, the source metadata
 * columns below (MS_META_*), in this order.  Kafka fills them; the
 * directory source sets `topic` to the file name and the rest to NULL.
 *
 *   row = [ format columns 0..ncols-1 | topic partition offset timestamp key ]
 */
#ifndef MS_SCHEMA_H
#define MS_SCHEMA_H

#include <stddef.h>

#include "query/ms_value.h"

typedef struct ms_column {
    const char *name;
    enum ms_type type;
} ms_column;

enum ms_format_kind {
    MS_FORMAT_LINES,
    MS_FORMAT_WORDS,
    MS_FORMAT_CSV,
    MS_FORMAT_JSON,
    MS_FORMAT_TASK_EVENTS, /* CSV, 13 columns, docs/design.md §4 */
    MS_FORMAT_JOB_EVENTS,  /* CSV, 8 columns, docs/design.md §4 */
};

/* How a CSV record is written (csv, task_events, job_events): the query's
 * WITH ('delimiter' = ..., 'quote' = ..., 'header' = ...) options, docs/sql.md.
 * The trace tables always use the default. */
typedef struct ms_csv_dialect {
    unsigned char delimiter; /* default ',' */
    int quote;               /* default '"'; -1: no quoting, '"' is an ordinary byte */
    int header;              /* 1: the first line of every file is a header, not a record */
    int check_header;        /* 1: the header must name the declared columns (needs header) */
} ms_csv_dialect;

typedef struct ms_schema {
    enum ms_format_kind kind;
    const char *format; /* "lines", "words", "csv", "json", "task_events", "job_events" */
    ms_column *cols;
    size_t ncols;
    int time_col;       /* default event-time column (TIMESTAMP), or -1 */
    int owned;          /* 1: made by ms_schema_new, cols and names are heap copies */
    ms_csv_dialect csv; /* CSV kinds; the default for every other */
} ms_schema;

/* Source metadata columns, appended after the format's columns. */
enum {
    MS_META_TOPIC,     /* STRING: Kafka topic, or the file name */
    MS_META_PARTITION, /* BIGINT */
    MS_META_OFFSET,    /* BIGINT */
    MS_META_TIMESTAMP, /* TIMESTAMP: Kafka message timestamp */
    MS_META_KEY,       /* STRING: Kafka message key */
    MS_META_NCOLS
};
extern const ms_column ms_meta_columns[MS_META_NCOLS];

/* "lines", "words", "task_events", "job_events"; NULL for anything else
 * (csv and json have no fixed schema). */
const ms_schema *ms_schema_builtin(const char *format);

/* A schema declared in a query: kind MS_FORMAT_CSV or MS_FORMAT_JSON. */
ms_schema *ms_schema_new(enum ms_format_kind kind);
void ms_schema_add_column(ms_schema *s, const char *name, enum ms_type type);
void ms_schema_free(ms_schema *s); /* no-op for built-in schemas */

/* Index of a column by name (format columns first, then metadata columns
 * at ncols + MS_META_*), or -1. */
int ms_schema_find(const ms_schema *s, const char *name);
/* Total row width: ncols + MS_META_NCOLS. */
static inline size_t ms_schema_width(const ms_schema *s)
{
    return s->ncols + MS_META_NCOLS;
}
/* Column descriptor by row index (format or metadata column). */
const ms_column *ms_schema_column(const ms_schema *s, size_t idx);

/* Trace event types, docs/design.md §4: 0 SUBMIT .. 8 UPDATE_RUNNING; NULL if out of range. */
const char *ms_trace_event_name(int64_t type);
#define MS_TRACE_EVENT_TYPES 9

#endif
