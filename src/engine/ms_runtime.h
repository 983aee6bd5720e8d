/*
 * The running program: per statement a parser and an executor, and the
 * fan-out that lets the directory source feed all of them at once.
 *
 *                          ┌─▶ parser 1 (words: ms_tokenizer) ──rows──▶ ms_exec 1
 *   ms_dirsrc ──chunks──▶ fan-out
 *                          └─▶ parser 2 (ms_lines + ms_format) ──rows──▶ ms_exec 2
 *
 * Parsers.  A `words` statement uses the streaming tokenizer (the fast
 * path the word-count benchmark measures; it has no line-length limit, so
 * a 100 MB line of words is still counted).  The tokenizer emits one-column
 * rows; when the statement reads any column beyond `word` (the metadata
 * columns: topic, ...), its rows are widened to the schema width first, so
 * every row ms_exec_emit() sees is as wide as the statement's schema may
 * need.  Every other format goes through the line splitter and ms_format,
 * whose rows are always full width.
 *
 * The directory source and TOPIC.  The directory source feeds every
 * statement every line: TOPIC (which names a Kafka topic) is ignored, and
 * lines of another shape are counted as malformed by the statements that
 * cannot parse them.  The metadata column `topic` holds the file's name
 * (the rest are NULL); it is tracked only when some statement reads it.
 *
 * Message sources (Kafka) hand whole records to ms_runtime_message(),
 * which routes each one by TOPIC: a statement with TOPIC 't' sees only the
 * messages of topic t, one without TOPIC sees every message.
 *
 * With one statement that does not read `topic`, the statement's own
 * parser is handed to the source directly (no fan-out in the hot loop).
 *
 * Thread-safety: engine thread only.
 */
#ifndef MS_RUNTIME_H
#define MS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "parse/ms_format.h"
#include "parse/ms_lines.h"
#include "parse/ms_tokenize.h"
#include "query/ms_exec.h"
#include "source/ms_dirsrc.h"
#include "sql/ms_sql.h"

typedef struct ms_stmt_rt {
    const ms_sql_stmt *stmt;
    ms_exec x;
    int use_tok; /* words via ms_tokenizer */
    int widen;   /* tokenizer rows widened to the schema width */
    int needs_topic;
    ms_tokenizer tok;
    ms_format *fmt;     /* lines path: the statement's format */
    ms_format *msg_fmt; /* words statements: the format for whole messages */
    ms_lines lines;
    ms_parser *parser; /* &tok.base or &lines.base */
    ms_emit_fn emit;   /* what the parser emits into */
    void *emit_ud;
    ms_value *wide; /* widened row (schema width) */
} ms_stmt_rt;

typedef struct ms_runtime {
    ms_stmt_rt *st;
    size_t n;
    int needs_topic; /* some statement reads the file name */
    int track_files; /* needs_topic, or a csv header: follow the plan's files */
    ms_parser fan;   /* the fan-out parser */
    /* File tracking during ms_dirsrc_read (track_files only). */
    const ms_plan *plan;
    ms_dirsrc *src;
    size_t next_item;
    uint64_t skipped_seen;
    int at_file_start;
} ms_runtime;

typedef struct ms_runtime_opts {
    size_t max_word_bytes;
    size_t max_record_bytes;
} ms_runtime_opts;

/* Builds a parser and an executor per statement of prog (which must
 * outlive rt).  MS_EINVAL with errstr if a format cannot be made. */
int ms_runtime_init(ms_runtime *rt, const ms_sql_program *prog, const ms_runtime_opts *opts,
                    char *errstr, size_t errstr_size);
void ms_runtime_free(ms_runtime *rt);

/* What to hand to ms_dirsrc_read() for the batch of plan: parser, emit
 * and emit_ud (call before every read). */
void ms_runtime_begin_read(ms_runtime *rt, const ms_plan *plan, ms_dirsrc *src, ms_parser **parser,
                           ms_emit_fn *emit, void **emit_ud);

/* One message from a message source (Kafka; the signature of
 * ms_kafkasrc_msg_fn, ud = the runtime): parsed as one record by every
 * statement whose TOPIC is the message's topic (meta[MS_META_TOPIC]) or
 * that has none, with meta as its metadata columns.  Counted in each
 * statement's parser (lines, malformed) like the directory source's lines. */
void ms_runtime_message(void *rt, const ms_value meta[MS_META_NCOLS], const uint8_t *value,
                        size_t len);

/* Input rows seen so far (lines of the first statement's parser). */
uint64_t ms_runtime_lines(const ms_runtime *rt);

#endif
