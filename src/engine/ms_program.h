/*
 * The query program an engine runs: loading a query file and binding it to
 * a checkpoint.
 *
 *   --query NAME|PATH ──ms_config_resolve_query──▶ path (or the built-in
 *   wordcount) ──ms_sql_parse──▶ ms_sql_program ──bind──▶ "m:query"
 *
 * Checkpoint binding: the checkpoint records the program's canonical text
 * (every statement's canonical text, in file order, joined by ";\n") under
 * "m:query" when it is created, and a restart whose canonical text differs
 * is refused with MS_EMISMATCH and a message that shows both.  Aliases,
 * output column order, TOPIC, comments, layout and sinks are not part of
 * the canonical text, so changing them is accepted; anything that changes
 * the state layout is not (docs/sql.md, "Restarting with a changed query").
 *
 * Checkpoints written before query files existed hold the fingerprint of
 * the built-in word count; their state layout is exactly that of
 * queries/wordcount.sql, so such a checkpoint is accepted for it and its
 * record is rewritten.
 */
#ifndef MS_PROGRAM_H
#define MS_PROGRAM_H

#include <stddef.h>

#include "sql/ms_sql.h"
#include "state/ms_ckpt.h"

/* Loads the program: the file at path, or the built-in copy of
 * queries/wordcount.sql when path is NULL.  MS_EINVAL with the parser's
 * positioned message (file:line:col, source line, caret) in errstr, MS_EIO
 * when the file cannot be read. */
int ms_program_load(const char *path, ms_sql_program **out, char *errstr, size_t errstr_size);

/* The built-in word count's text (queries/wordcount.sql at build time). */
const char *ms_program_builtin_wordcount(void);

/* The program a checkpoint was made for, from its "m:query" record (len
 * bytes): the canonical text parsed again (also the built-in word count
 * for the record of checkpoints made before query files).  Statement
 * names, group columns, window and aggregates are the engine's; output
 * names are the default ones (aliases are not recorded).  MS_ECORRUPT
 * with a sentence when the text does not parse. */
int ms_program_from_checkpoint(const char *text, size_t len, ms_sql_program **out, char *errstr,
                               size_t errstr_size);

/* The program's canonical text (owned by the caller). */
char *ms_program_canonical(const ms_sql_program *p);

/* Records the program in a fresh checkpoint, or checks that an existing
 * one was made for the same canonical text: MS_EMISMATCH (errstr names
 * both texts) when not, MS_ECORRUPT / MS_EIO otherwise. */
int ms_program_bind_checkpoint(const ms_sql_program *p, ms_ckpt *ck, const char *dir, char *errstr,
                               size_t errstr_size);

/* The source a checkpoint's positions belong to ("m:source"): "dir:" and
 * the input directory's canonical path, or "kafka:" + the topics, sorted,
 * comma-separated (ms_sources.h).
 * fresh: the checkpoint was just created (no "m:query" before binding).
 * A fresh checkpoint records the source; an existing one must match it, or
 * MS_EMISMATCH with a sentence naming both (positions of a directory are
 * no positions in Kafka topics, and a topic added or removed would leave
 * state counted from another input).  Checkpoints made before the record
 * existed hold directory positions, and older ones recorded a bare "dir":
 * both are accepted for a directory (and the record rewritten, which ties
 * them to this directory from now on) and refused for Kafka. */
int ms_program_bind_source(ms_ckpt *ck, const char *dir, const char *source, int fresh,
                           char *errstr, size_t errstr_size);

#endif
