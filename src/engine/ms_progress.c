/*
 * Progress records, the status document and the progress line.  See
 * ms_progress.h.
 */
#include "engine/ms_progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ms_log.h"
#include "core/ms_text.h"
#include "engine/ms_render.h"
#include "http/ms_snapshot.h"

void ms_progress_ring_init(ms_progress_ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->cap = cap ? cap : 1;
    r->items = ms_xcalloc(r->cap, sizeof(ms_progress));
    r->hist = ms_xcalloc(MS_PROGRESS_HISTORY, sizeof(ms_progress_point));
}

void ms_progress_ring_free(ms_progress_ring *r)
{
    free(r->items);
    free(r->hist);
    memset(r, 0, sizeof(*r));
}

static double fin(double x)
{
    return isfinite(x) ? x : 0.0; /* JSON has no inf or nan */
}

void ms_progress_push(ms_progress_ring *r, const ms_progress *p)
{
    r->items[r->head] = *p;
    r->head = (r->head + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
    ms_progress_point *pt = &r->hist[r->hhead];
    pt->t = p->timestamp;
    /* Bounded: %.6g stays short whatever the value; the wall time is
     * clamped to a plausible range for the same reason. */
    double t = p->timestamp > 0 && p->timestamp < 1e11 ? p->timestamp : 0;
    int n = snprintf(pt->row, sizeof(pt->row),
                     "[%.3f,%lld,%llu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%llu,%llu]", t,
                     (long long)p->batch_id, (unsigned long long)p->rows, fin(p->input_rps),
                     fin(p->processed_rps), fin(p->ms_plan), fin(p->ms_plan_sync), fin(p->ms_read),
                     fin(p->ms_commit), fin(p->ms_total), (unsigned long long)p->state_total,
                     (unsigned long long)p->state_bytes);
    pt->len = n > 0 && (size_t)n < sizeof(pt->row) ? (unsigned)n : 0;
    r->hhead = (r->hhead + 1) % MS_PROGRESS_HISTORY;
    if (r->hn < MS_PROGRESS_HISTORY)
        r->hn++;
}

/* ------------------------------------------------------- progress line */

void ms_progress_format_line(ms_buf *b, const ms_progress *p, uint64_t batches, uint64_t rows,
                             double over_s)
{
    ms_buf_printf(b,
                  "progress batch=%lld rows=%llu input_rows_per_s=%.1f processed_rows_per_s=%.1f "
                  "duration_ms=%.1f commit_ms=%.1f watermark=",
                  (long long)p->batch_id, (unsigned long long)p->rows, p->input_rps,
                  p->processed_rps, p->ms_total, p->ms_commit);
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < p->nstmts_listed && wm == INT64_MIN; i++)
        wm = p->stmt[i].watermark;
    if (wm == INT64_MIN)
        ms_buf_puts(b, "none");
    else
        ms_render_timestamp(b, wm);
    ms_buf_printf(b, " batches=%llu batch_rows=%llu over_s=%.1f%s", (unsigned long long)batches,
                  (unsigned long long)rows, over_s, p->replayed ? " replayed" : "");
}

int ms_progress_log(ms_progress_ring *r, const ms_progress *p, double every_sec)
{
    double end = p->timestamp + p->ms_total / 1e3;
    double since = r->log_last > 0 ? end - r->log_last : 0;
    r->log_batches++;
    r->log_rows += p->rows;
    /* A wall clock that stepped back (since < 0) logs too, and starts over. */
    if (r->log_last > 0 && every_sec > 0 && since >= 0 && since < every_sec)
        return 0;
    if (ms_log_threshold >= MS_LOG_INFO) {
        ms_buf line = MS_BUF_INIT;
        ms_progress_format_line(&line, p, r->log_batches, r->log_rows, since > 0 ? since : 0);
        ms_info("%s", line.data);
        ms_buf_free(&line);
    }
    r->log_last = end;
    r->log_batches = 0;
    r->log_rows = 0;
    return 1;
}

static void iso_time(ms_buf *b, double t)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[40];
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    ms_buf_printf(b, "\"%s.%03dZ\"", tmp, (int)((t - (double)s) * 1000.0));
}

static void render_stmt(ms_buf *b, const ms_stmt_snap *q)
{
    const ms_sql_stmt *st = q->stmt;
    ms_buf_puts(b, "{\"name\":");
    ms_text_json_str(b, st->name);
    ms_buf_puts(b, ",\"canonical\":");
    ms_text_json_str(b, st->canonical);
    ms_buf_puts(b, ",\"format\":");
    ms_text_json_str(b, st->schema->format);
    ms_buf_puts(b, ",\"topic\":");
    if (st->topic)
        ms_text_json_str(b, st->topic);
    else
        ms_buf_puts(b, "null");
    ms_buf_puts(b, ",\"emit\":");
    ms_text_json_str(b, ms_sql_emit_name(st->emit));
    ms_buf_puts(b, ",\"watermark\":");
    ms_render_json_timestamp(b, q->watermark);
    ms_buf_puts(b, ",\"maxEventTime\":");
    ms_render_json_timestamp(b, q->max_event);
    /* The watermark is the minimum over these (the active ones). */
    ms_buf_puts(b, ",\"partitions\":[");
    for (size_t k = 0; k < q->nparts; k++) {
        ms_buf_puts(b, k ? ",{\"partition\":" : "{\"partition\":");
        ms_text_json_str(b, q->parts[k].key);
        ms_buf_puts(b, ",\"maxEventTime\":");
        ms_render_json_timestamp(b, q->parts[k].max_event);
        ms_buf_printf(b, ",\"idle\":%s,\"backlog\":%s}", q->parts[k].idle ? "true" : "false",
                      q->parts[k].backlog ? "true" : "false");
    }
    ms_buf_putc(b, ']');
    ms_buf_printf(b,
                  ",\"stateEntries\":%llu,\"stateBytes\":%llu,\"groups\":%zu,"
                  "\"inputRows\":%llu,\"aggregatedRows\":%llu,\"filteredRows\":%llu,"
                  "\"lateRowsDropped\":%llu,\"noEventTimeRows\":%llu,\"windowsClosed\":%llu,"
                  "\"evicted\":%llu,\"malformed\":{",
                  (unsigned long long)q->state_entries, (unsigned long long)q->state_bytes,
                  (size_t)q->groups, (unsigned long long)q->xs.rows_in,
                  (unsigned long long)q->xs.rows_agg, (unsigned long long)q->xs.rows_filtered,
                  (unsigned long long)q->xs.rows_late, (unsigned long long)q->xs.rows_no_time,
                  (unsigned long long)q->xs.windows_closed, (unsigned long long)q->xs.evicted);
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        ms_buf_printf(b, "%s\"%s\":%llu", r ? "," : "", ms_malformed_name((enum ms_malformed)r),
                      (unsigned long long)q->malformed[r]);
    /* The state store (query/ms_exec.h): memory is a cache of the state in
     * the checkpoint; counters since this process started. */
    const ms_exec_stats *x = &q->xs;
    ms_buf_printf(b,
                  "},\"state\":{\"groups\":%llu,\"memoryBytes\":%llu,\"memoryLimitBytes\":%llu,"
                  "\"diskBytes\":%llu,\"groupsInMemory\":%llu,\"allInMemory\":%s,"
                  "\"cacheLookups\":%llu,\"cacheMisses\":%llu,\"stateReads\":%llu,"
                  "\"cacheEvictions\":%llu,\"cacheHitRate\":",
                  (unsigned long long)q->groups, (unsigned long long)q->state_bytes,
                  (unsigned long long)q->memory_limit, (unsigned long long)q->disk_bytes,
                  (unsigned long long)q->cache_entries, q->cache_complete ? "true" : "false",
                  (unsigned long long)x->cache_lookups, (unsigned long long)x->cache_misses,
                  (unsigned long long)x->state_reads, (unsigned long long)x->cache_evictions);
    if (x->cache_lookups)
        ms_buf_printf(b, "%.6f", 1.0 - (double)x->cache_misses / (double)x->cache_lookups);
    else
        ms_buf_puts(b, "null");
    ms_buf_puts(b, "}}");
}

static void render_one(ms_buf *b, const ms_progress *p, const char *query, const char *desc)
{
    ms_buf_printf(b, "{\"batchId\":%lld,\"timestamp\":", (long long)p->batch_id);
    iso_time(b, p->timestamp);
    ms_buf_puts(b, ",\"name\":");
    ms_text_json_str(b, query);
    ms_buf_printf(b,
                  ",\"replayed\":%s,\"numInputRows\":%llu,\"numInputBytes\":%llu,"
                  "\"inputRowsPerSecond\":%.3f,\"processedRowsPerSecond\":%.3f,",
                  p->replayed ? "true" : "false", (unsigned long long)p->rows,
                  (unsigned long long)p->bytes, p->input_rps, p->processed_rps);
    ms_buf_printf(b,
                  "\"durationMs\":{\"latestOffset\":%.3f,\"planSync\":%.3f,\"addBatch\":%.3f,"
                  "\"commit\":%.3f,\"triggerExecution\":%.3f},",
                  p->ms_plan, p->ms_plan_sync, p->ms_read, p->ms_commit, p->ms_total);
    ms_buf_puts(b, "\"eventTime\":{");
    int first = 1;
    for (size_t i = 0; i < p->nstmts_listed; i++) {
        if (p->stmt[i].watermark == INT64_MIN)
            continue;
        /* Spark reports one watermark: the first statement that has one. */
        ms_buf_puts(b, "\"max\":");
        ms_render_json_timestamp(b, p->stmt[i].max_event);
        ms_buf_puts(b, ",\"watermark\":");
        ms_render_json_timestamp(b, p->stmt[i].watermark);
        first = 0;
        break;
    }
    (void)first;
    ms_buf_puts(b, "},\"stateOperators\":[");
    for (size_t i = 0; i < p->nstmts_listed; i++) {
        if (i)
            ms_buf_putc(b, ',');
        ms_buf_puts(b, "{\"operatorName\":\"aggregate\",\"query\":");
        ms_text_json_str(b, p->stmt[i].name);
        ms_buf_printf(b,
                      ",\"numRowsTotal\":%llu,\"numRowsUpdated\":%llu,\"memoryUsedBytes\":%llu,"
                      "\"numRowsDroppedByWatermark\":%llu,\"numRowsRemoved\":%llu}",
                      (unsigned long long)p->stmt[i].total, (unsigned long long)p->stmt[i].updated,
                      (unsigned long long)p->stmt[i].bytes, (unsigned long long)p->stmt[i].late,
                      (unsigned long long)p->stmt[i].evicted);
    }
    ms_buf_printf(b, "],\"commitBytes\":%llu,", (unsigned long long)p->commit_bytes);
    ms_buf_puts(b, "\"sources\":[{\"description\":");
    ms_text_json_str(b, desc);
    ms_buf_printf(b, ",\"numInputRows\":%llu,\"%s\":%llu,\"%s\":[", (unsigned long long)p->rows,
                  p->kafka ? "numPartitions" : "numFiles", (unsigned long long)p->files,
                  p->kafka ? "partitions" : "files");
    for (size_t i = 0; i < p->nfiles_listed; i++) {
        if (i)
            ms_buf_putc(b, ',');
        ms_buf_puts(b, p->kafka ? "{\"topic\":" : "{\"name\":");
        ms_text_json_str(b, p->file[i].name);
        if (p->kafka)
            ms_buf_printf(b, ",\"partition\":%d", (int)p->file[i].partition);
        ms_buf_printf(b, ",\"startOffset\":%llu,\"endOffset\":%llu}",
                      (unsigned long long)p->file[i].start, (unsigned long long)p->file[i].end);
    }
    ms_buf_puts(b, "]}],\"sink\":{\"description\":\"MetricsSnapshot\"}}");
}

/* "history": the chart points of the last MS_PROGRESS_HISTORY_SEC seconds,
 * oldest first, as columns + rows (as /api/v1/results); time in seconds
 * since the epoch, durations in ms. */
static void render_history(ms_buf *b, const ms_progress_ring *r)
{
    ms_buf_printf(b,
                  ",\"history\":{\"windowSeconds\":%.0f,\"maxPoints\":%d,\"columns\":["
                  "\"time\",\"batchId\",\"numInputRows\",\"inputRowsPerSecond\","
                  "\"processedRowsPerSecond\",\"latestOffsetMs\",\"planSyncMs\","
                  "\"addBatchMs\",\"commitMs\",\"triggerExecutionMs\",\"stateRows\","
                  "\"stateBytes\"],\"rows\":[",
                  MS_PROGRESS_HISTORY_SEC, MS_PROGRESS_HISTORY);
    double newest =
        r->hn ? r->hist[(r->hhead + MS_PROGRESS_HISTORY - 1) % MS_PROGRESS_HISTORY].t : 0;
    int first = 1;
    for (size_t i = 0; i < r->hn; i++) {
        const ms_progress_point *pt =
            &r->hist[(r->hhead + MS_PROGRESS_HISTORY - r->hn + i) % MS_PROGRESS_HISTORY];
        if (newest - pt->t > MS_PROGRESS_HISTORY_SEC || pt->len == 0)
            continue;
        if (!first)
            ms_buf_putc(b, ',');
        ms_buf_append(b, pt->row, pt->len);
        first = 0;
    }
    ms_buf_puts(b, "]}");
}

void ms_progress_render_status(ms_buf *b, const char *query, const char *input_dir,
                               const char *source_desc, const char *checkpoint_dir, int ready,
                               const ms_stats *st, const ms_snapshot *snap,
                               const ms_progress_ring *r)
{
    ms_buf_puts(b, "{\"query\":");
    ms_text_json_str(b, query);
    ms_buf_puts(b, ",\"queries\":[");
    for (size_t i = 0; snap && i < snap->nq; i++) {
        if (i)
            ms_buf_putc(b, ',');
        render_stmt(b, &snap->q[i]);
    }
    ms_buf_putc(b, ']');
    ms_buf_puts(b, ",\"inputDir\":");
    if (input_dir)
        ms_text_json_str(b, input_dir);
    else
        ms_buf_puts(b, "null");
    if (input_dir) /* what waits in the directory, read or not yet planned */
        ms_buf_printf(b, ",\"backlog\":{\"files\":%llu,\"bytes\":%llu,\"pendingBytes\":%llu}",
                      (unsigned long long)st->src.backlog_files,
                      (unsigned long long)st->src.backlog_bytes,
                      (unsigned long long)st->src.pending_bytes);
    ms_buf_puts(b, ",\"source\":");
    ms_text_json_str(b, source_desc);
    ms_buf_puts(b, ",\"checkpointDir\":");
    ms_text_json_str(b, checkpoint_dir);
    if (snap && snap->csnap) {
        const ms_ckpt_stats *k = &snap->ckstats;
        ms_buf_printf(
            b,
            ",\"checkpointStore\":{\"memoryBudgetBytes\":%llu,\"sstBytes\":%llu,"
            "\"memtableBytes\":%llu,\"blockCacheBytes\":%llu,"
            "\"blockCacheCapacityBytes\":%llu,\"memtableSwitches\":%llu,"
            "\"backgroundJobs\":%llu,\"pendingCompactionBytes\":%llu}",
            (unsigned long long)k->budget, (unsigned long long)k->sst_bytes,
            (unsigned long long)k->memtable_bytes, (unsigned long long)k->block_cache_bytes,
            (unsigned long long)k->block_cache_cap, (unsigned long long)k->wal_switches,
            (unsigned long long)k->bg_jobs, (unsigned long long)k->pending_compaction_bytes);
    }
    ms_buf_printf(b,
                  ",\"ready\":%s,\"lastBatchId\":%lld,\"batchesCommitted\":%llu,"
                  "\"batchesReplayed\":%llu,\"inputRows\":%llu,\"inputBytes\":%llu,"
                  "\"stateEntries\":%llu,\"stateBytes\":%llu,\"recoverySeconds\":%.6f,"
                  "\"startTime\":",
                  ready ? "true" : "false", (long long)st->last_batch_id,
                  (unsigned long long)st->batches, (unsigned long long)st->replayed,
                  (unsigned long long)st->input_rows, (unsigned long long)st->input_bytes,
                  (unsigned long long)st->state_entries, (unsigned long long)st->state_bytes,
                  st->recovery_sec);
    iso_time(b, st->start_wall);
    ms_buf_puts(b, ",\"recentProgress\":[");
    for (size_t i = 0; i < r->n; i++) {
        size_t idx = (r->head + r->cap - r->n + i) % r->cap; /* oldest first */
        if (i)
            ms_buf_putc(b, ',');
        render_one(b, &r->items[idx], query, source_desc);
    }
    ms_buf_putc(b, ']');
    render_history(b, r);
    if (snap && snap->has_group) {
        ms_buf_puts(b, ",\"group\":");
        ms_gstats_render_json(b, &snap->group);
    }
    ms_buf_puts(b, "}\n");
}
