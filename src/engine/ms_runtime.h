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
 * The input (ms_source.h's ms_input): sources hand their input to
 * ms_runtime_input(), which is told the partition (the file, or the Kafka
 * topic-partition) before its bytes or records arrive.
 *
 * A text source (the directory) feeds every statement every line: TOPIC
 * (which names a Kafka topic) is ignored, and lines of another shape are
 * counted as malformed by the statements that cannot parse them.  The
 * metadata column `topic` holds the file's name (the rest are NULL); it is
 * tracked only when some statement reads it.
 *
 * A message source (Kafka) hands whole records, which are routed by TOPIC:
 * a statement with TOPIC 't' sees only the messages of topic t, one without
 * TOPIC sees every message.
 *
 * With one statement that does not read `topic`, the statement's own
 * parser gets the chunks directly (no fan-out in the hot loop).
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
#include "source/ms_source.h"
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
    ms_value *wide;   /* widened row (schema width) */
    uint64_t records; /* records routed to this statement by message sources */
} ms_stmt_rt;

typedef struct ms_runtime {
    ms_stmt_rt *st;
    size_t n;
    int needs_topic;  /* some statement reads the file name */
    int track_files;  /* needs_topic, or a csv header: told where each file range starts */
    int direct;       /* one statement, no file tracking: chunks go straight to its parser */
    uint64_t records; /* records delivered by message sources */
    ms_input in;      /* what sources read into (ms_runtime_input) */
} ms_runtime;

typedef struct ms_runtime_opts {
    size_t max_word_bytes;
    size_t max_record_bytes;
    double watermark_idle_sec; /* 0: ms_watermark.h's default */
} ms_runtime_opts;

/* Builds a parser and an executor per statement of prog (which must
 * outlive rt).  MS_EINVAL with errstr if a format cannot be made. */
int ms_runtime_init(ms_runtime *rt, const ms_sql_program *prog, const ms_runtime_opts *opts,
                    char *errstr, size_t errstr_size);
void ms_runtime_free(ms_runtime *rt);

/* What sources read into: every statement's parser and executor. */
const ms_input *ms_runtime_input(ms_runtime *rt);

/* Input rows seen so far: lines of text sources plus records of message
 * sources. */
uint64_t ms_runtime_rows(const ms_runtime *rt);

#endif
