/*
 * Sinks: where each batch's results go besides /metrics and the API
 * (docs/design.md §6.3; Spark's output sinks).
 *
 *   --sink json:DIR   per batch and statement, DIR/<statement>/batch-<id>.json
 *                     (id zero-padded to 20 digits), newline-delimited JSON
 *                     objects, one per row, columns in SELECT order, typed
 *                     as in /api/v1/results (ms_render.h).
 *   --sink console    Spark's console sink: a table per batch and
 *                     statement on stdout, at most 20 rows.
 *
 * Which rows (the statement's EMIT mode): COMPLETE, every row of the state
 * after the batch; UPDATE, the rows the batch changed; APPEND, the rows of
 * the windows the batch's watermark closed (each window once).  JSON rows
 * are in key order (window start, then the group columns), the console
 * shows the rows with the largest first aggregate first.
 *
 * Exactly-once: a json file is written atomically (temporary file, fsync,
 * rename, fsync of the directory) after the batch is read and before its
 * commit is submitted, and only once the previous batch is durable.  A
 * crash before the commit leaves at most the file of the one batch whose
 * plan is re-run exactly at restart, which then rewrites it with identical
 * content: writing a batch id again is idempotent.  A file is written for
 * every batch and statement, empty when the batch has no rows to emit.
 * The console sink prints after the batch is published (at-least-once on
 * screen: a batch re-run after a crash is printed again).
 *
 * Sinks are not part of the query's canonical text: they may change across
 * restarts.  Thread-safety: engine thread only.
 */
#ifndef MS_SINK_H
#define MS_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ms_buf.h"
#include "engine/ms_rowset.h"
#include "sql/ms_sql.h"

typedef struct ms_sink ms_sink;

/* Parses --sink ("json:DIR", "console", comma-separated) and prepares the
 * directories.  MS_EUSAGE for a bad spec, MS_EIO when a directory cannot
 * be made; errstr says which. */
int ms_sink_open(const char *spec, const ms_sql_program *prog, ms_sink **out, char *errstr,
                 size_t errstr_size);
void ms_sink_close(ms_sink *s);

int ms_sink_has_json(const ms_sink *s);
int ms_sink_has_console(const ms_sink *s);

/* Writes the json files of batch_id: rows[i] is statement i's output, in
 * any order (it is sorted here).  0, or MS_EIO with errstr naming the file;
 * nothing of the batch may be committed then. */
int ms_sink_write_json(ms_sink *s, uint64_t batch_id, ms_rowset *const *rows, char *errstr,
                       size_t errstr_size);

/* Renders the console tables of batch_id into out (printed later, once
 * the batch is published); rows[i] is sorted here. */
void ms_sink_render_console(const ms_sink *s, uint64_t batch_id, ms_rowset *const *rows,
                            ms_buf *out);

/* One statement's rows as newline-delimited JSON objects (exposed for
 * tests). */
void ms_sink_render_jsonl(const ms_sql_stmt *st, const ms_rowset *rs, ms_buf *out);

#endif
