/*
 * The line splitter: turns the chunks of a file that the directory source
 * reads into records for a format, one per line.
 *
 *   chunk ─┬─ "...a line\n" ──────────────▶ ms_format_record(line)
 *          └─ "start of a li" ─▶ carry ──┐   (next chunk completes it)
 *   chunk ──── "ne\n..." ────────────────┴─▶ ms_format_record(carry+rest)
 *
 * A line is the bytes before a '\n', without the '\n' and without one '\r'
 * just before it (CRLF files).  After a file's last chunk, end_file() turns
 * bytes left without a final newline into one last line (the directory
 * source plans ranges that end after a newline, but a file may shrink or
 * be cut).  An empty remainder is no line.
 *
 * Invariants:
 *   - the rows and counters produced never depend on where the chunks were
 *     cut (the fuzz target fuzz_lines checks this against a one-chunk run
 *     and against a plain split of the whole input);
 *   - a line longer than the format's max_record_bytes is never buffered
 *     whole: as soon as it is known to be too long it is counted once as
 *     line_too_long and its bytes are dropped until the next newline, so
 *     the carry never holds more than max_record_bytes + 1 bytes (the +1:
 *     a '\r' that may be the line's CR) whatever the length of the line.
 *
 * Lines go to ms_format_line(): a CSV header line and quoted fields cut by a
 * line break are handled there (ms_format.h, "lines of files"), per range:
 * ms_lines_begin_range() says where a file's bytes start, end_file() and
 * reset() end the range.
 *
 * A splitter is an ms_parser (first member), so the directory source can
 * drive it through ms_parser_ops; base.lines counts lines and
 * base.malformed mirrors the format's counters after every call.
 * Engine thread only.
 */
#ifndef MS_LINES_H
#define MS_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "parse/ms_format.h"
#include "query/ms_pipeline.h"

typedef struct ms_lines {
    ms_parser base;       /* first member: a splitter is a parser */
    ms_format *fmt;       /* not owned */
    const ms_value *meta; /* metadata columns for the rows (not owned), or NULL */
    uint8_t *carry;       /* a line cut by the end of the previous chunk */
    size_t carry_len, carry_cap;
    size_t max_carry; /* max_record_bytes + 1 */
    int skipping;     /* inside an over-long line, dropping bytes until '\n' */
    char *file_name;  /* ms_lines_begin_file(): owned copy, topic of file_meta */
    ms_value file_meta[MS_META_NCOLS];
} ms_lines;

void ms_lines_init(ms_lines *l, ms_format *fmt);
void ms_lines_free(ms_lines *l);

/* Metadata for the rows of the following lines (MS_META_NCOLS values, or
 * NULL); the values must stay valid while they are in use. */
void ms_lines_set_meta(ms_lines *l, const ms_value *meta);

/* The directory source's metadata for the lines of one file: topic = the
 * file's name (copied), the other columns NULL; replaces set_meta. */
void ms_lines_begin_file(ms_lines *l, const char *name);

/* The following bytes are those of `name` from byte `offset` on (offset 0:
 * the file's first line comes first, which a csv 'header' skips).  The name
 * is used in messages and must stay valid until end_file(). */
void ms_lines_begin_range(ms_lines *l, const char *name, uint64_t offset);

/* Feeds the next n bytes of the current file. */
void ms_lines_feed(ms_lines *l, const uint8_t *data, size_t n, ms_emit_fn emit, void *ud);
/* The current file's range is over: emits the line still carried, if any. */
void ms_lines_end_file(ms_lines *l, ms_emit_fn emit, void *ud);
/* Forgets a partial line without emitting it (a batch abandoned mid-file). */
void ms_lines_reset(ms_lines *l);

/* Bytes allocated for the carry (at most max_record_bytes + 1). */
size_t ms_lines_carry_capacity(const ms_lines *l);

#endif
