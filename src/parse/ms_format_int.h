/*
 * Inside the source formats: the ms_format struct and the entry points that
 * ms_format.c dispatches to.  Only src/parse/ms_format.c, ms_csv.c and
 * ms_json.c include this file.
 *
 * Scratch memory: decoded text (CSV `""` escapes, JSON escapes) goes into
 * f->scratch.  Decoded text is never longer than the record it comes from,
 * so the first decode of a record reserves record-length bytes
 * (ms_format__scratch) and no later append of that record can move the
 * buffer under slices already stored in the row.
 */
#ifndef MS_FORMAT_INT_H
#define MS_FORMAT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "parse/ms_format.h"

/* How a column's text becomes a value. */
enum ms_conv {
    MS_CONV_STRING,
    MS_CONV_INT,
    MS_CONV_DOUBLE,
    MS_CONV_BOOL,
    MS_CONV_TIMESTAMP,
    MS_CONV_EVENT, /* trace event type: integer 0..8 in the file, its name in the row */
    MS_CONV_SKIP,  /* csv: a column the statement does not read, NULL in the row */
};

struct ms_format {
    const ms_schema *schema;
    enum ms_format_kind kind;
    size_t ncols;      /* format columns */
    size_t width;      /* ncols + MS_META_NCOLS */
    size_t max_record; /* bytes */
    size_t max_word;   /* bytes */
    ms_value *row;     /* width values, rebuilt for every row */
    uint8_t *conv;     /* ncols enum ms_conv */
    size_t *name_len;  /* ncols strlen(column name), for JSON member matching */
    uint8_t *colerr;   /* ncols, JSON: type error of the column's member (reason + 1) */
    int meta_null;     /* the metadata columns of row currently hold NULLs */

    /* CSV kinds: the schema's dialect */
    uint8_t delim; /* field separator */
    int quote;     /* quote byte, or -1: no quoting */
    int header;    /* csv: files start with a header line */
    int check_header;

    /* Line-oriented input (ms_format_line), reset at every range boundary */
    int pending_header;    /* the next line is the header of its file */
    int in_quote;          /* the previous line ended inside a quoted field */
    const char *file_name; /* of the current range, for messages; may be NULL */
    uint64_t headers;      /* header lines read */

    ms_buf scratch;  /* decoded values of the current record */
    int scratch_set; /* scratch reserved for the current record */
    size_t scratch_need;
    ms_buf key;                            /* JSON: the current member name, when it has escapes */
    ms_slice events[MS_TRACE_EVENT_TYPES]; /* trace event names by type */

    uint64_t records;
    uint64_t malformed[MS_MALFORMED_MAX];
};

/* Where the next decoded bytes of the current record go (see above): the
 * first call of a record reserves the record's length, so the caller may
 * write up to that many bytes in all, then adds what it wrote to
 * f->scratch.len. */
static inline uint8_t *ms_format__scratch(ms_format *f)
{
    if (!f->scratch_set) {
        ms_buf_reserve(&f->scratch, f->scratch_need);
        f->scratch_set = 1;
    }
    return (uint8_t *)f->scratch.data + f->scratch.len;
}

static inline size_t ms_format__bad(ms_format *f, enum ms_malformed r)
{
    f->malformed[r]++;
    return 0;
}

static inline size_t ms_format__emit(ms_format *f, ms_emit_fn emit, void *ud)
{
    ms_row row = {f->row, f->width};
    emit(ud, &row);
    return 1;
}

/* Records already checked for length, emptiness and NUL bytes. */
size_t ms_format__csv(ms_format *f, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud);
size_t ms_format__json(ms_format *f, const uint8_t *p, size_t n, ms_emit_fn emit, void *ud);

/* Whether a line of a CSV file ends inside a quoted field, the line
 * starting inside one if in_quote (0 when quoting is off). */
int ms_format__csv_ends_in_quote(const ms_format *f, const uint8_t *p, size_t n, int in_quote);
/* Whether a header line names exactly the declared columns, in order
 * (ASCII case ignored, blanks around a name and a UTF-8 BOM skipped). */
int ms_format__csv_header_ok(ms_format *f, const uint8_t *p, size_t n);

#endif
