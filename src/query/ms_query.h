/*
 * Queries: what a pipeline computes and how its results are named.
 *
 * This version has one query, the built-in word count
 *
 *     SELECT word, COUNT(*) AS count FROM words(lines) GROUP BY word
 *
 * in output mode complete.  Its stages are the `words` parser
 * (ms_tokenize) and a grouped COUNT (ms_agg, below).  The fingerprint is
 * recorded in the checkpoint: a checkpoint made for another query is
 * refused rather than mixed.
 *
 * ms_agg keeps group -> count in an ms_table; its state lives in RocksDB
 * under "s:<query>:<group key>" (one varint per group) and only the groups a
 * batch changed are written by that batch's commit.
 */
#ifndef MS_QUERY_H
#define MS_QUERY_H

#include "parse/ms_tokenize.h"
#include "query/ms_pipeline.h"
#include "state/ms_ckpt.h"
#include "state/ms_table.h"

typedef struct ms_query_def {
    const char *name;        /* "wordcount": labels, state prefix, API name */
    const char *fingerprint; /* canonical text recorded in the checkpoint */
    const char *group_col;   /* label name of the group-by column */
    const char *agg_alias;   /* name of the aggregate column */
    const char *family;      /* Prometheus family of the result counters */
} ms_query_def;

const ms_query_def *ms_query_builtin(const char *name);

/* Records the query in a fresh checkpoint, or checks that an existing one
 * was made for the same query: MS_EMISMATCH (errstr says which query the
 * checkpoint holds) when not, so states are never mixed. */
int ms_query_bind_checkpoint(const ms_query_def *q, ms_ckpt *ck, const char *dir, char *errstr,
                             size_t errstr_size);

typedef struct ms_agg {
    const ms_query_def *def;
    ms_table table;
    uint64_t rows; /* rows aggregated, all time in this process */
    ms_buf key, val;
} ms_agg;

void ms_agg_init(ms_agg *a, const ms_query_def *def);
void ms_agg_free(ms_agg *a);
/* ms_emit_fn: COUNT(*) GROUP BY the row's columns. */
void ms_agg_emit(void *agg, const ms_row *row);
/* Loads the committed state of the query. */
int ms_agg_load(ms_agg *a, ms_ckpt *ck, char *errstr, size_t errstr_size);
/* Adds every changed group to the commit; returns how many. */
size_t ms_agg_commit(ms_agg *a, ms_ckpt_batch *wb);
void ms_agg_committed(ms_agg *a);

#endif
