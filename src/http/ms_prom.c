/*
 * Prometheus exposition of a snapshot.  Families, in order: results of the
 * query (top-K), the top-K cap, engine batches and timings, input, state,
 * rejections, process_*.
 */
#include "http/ms_prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ms_text.h"

static void family(ms_buf *o, const char *name, const char *type, const char *help)
{
    ms_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void num(ms_buf *o, double v)
{
    if (isnan(v))
        ms_buf_puts(o, "NaN");
    else if (isinf(v))
        ms_buf_puts(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9e15)
        ms_buf_printf(o, "%.0f", v);
    else
        ms_buf_printf(o, "%.9g", v);
}

/* One sample: name{labels} value.  labels is preformatted ("" for none). */
static void sample(ms_buf *o, const char *name, const char *labels, double v)
{
    ms_buf_puts(o, name);
    if (labels && *labels)
        ms_buf_printf(o, "{%s}", labels);
    ms_buf_putc(o, ' ');
    num(o, v);
    ms_buf_putc(o, '\n');
}

static void gauge1(ms_buf *o, const char *name, const char *help, const char *labels, double v)
{
    family(o, name, "gauge", help);
    sample(o, name, labels, v);
}

static void counter1(ms_buf *o, const char *name, const char *help, const char *labels, double v)
{
    family(o, name, "counter", help);
    sample(o, name, labels, v);
}

static void histogram(ms_buf *o, const char *name, const char *help, const ms_hist *h)
{
    family(o, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < MS_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        ms_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                      (unsigned long long)cum);
    }
    ms_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    ms_buf_printf(o, "%s_sum ", name);
    num(o, h->sum);
    ms_buf_printf(o, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

void ms_prom_render(ms_buf *o, const ms_snapshot *s, const ms_procstat *ps)
{
    const ms_stats *st = &s->stats;
    const char *q = s->query->name;
    char ql[128];
    snprintf(ql, sizeof(ql), "query=\"%s\"", q);

    /* Results: one family per aggregate, group-by columns as labels. */
    char help[256];
    snprintf(help, sizeof(help),
             "Running %s of query %s by %s (the largest %zu groups; all rows at "
             "/api/v1/results?query=%s).",
             s->query->agg_alias, q, s->query->group_col, s->top_k_limit, q);
    family(o, s->query->family, "counter", help);
    for (size_t i = 0; i < s->ntopk; i++) {
        const ms_result_row *r = &s->topk[i];
        ms_buf_printf(o, "%s{%s=\"", s->query->family, s->query->group_col);
        ms_text_prom_label(o, r->key, r->klen);
        ms_buf_puts(o, "\"} ");
        num(o, (double)r->value);
        ms_buf_putc(o, '\n');
    }
    gauge1(o, "mstream_results_topk_limit", "Cap on result series per query on /metrics (--top-k).",
           ql, (double)s->top_k_limit);
    gauge1(o, "mstream_results_exported_series", "Result series exported for the query.", ql,
           (double)s->ntopk);
    gauge1(o, "mstream_results_groups", "Groups in the query's full result table.", ql,
           (double)s->nrows);

    /* Engine. */
    gauge1(o, "mstream_up", "1 while the engine runs.", "", 1);
    gauge1(o, "mstream_ready", "1 once recovery from the checkpoint is done.", "", s->ready);
    counter1(o, "mstream_batches_total", "Micro-batches committed by this process.", ql,
             (double)st->batches);
    counter1(o, "mstream_batches_replayed_total",
             "Batches re-run at start-up from a plan persisted before a crash.", ql,
             (double)st->replayed);
    gauge1(o, "mstream_last_committed_batch_id", "Id of the last committed batch (-1: none).", ql,
           (double)st->last_batch_id);
    gauge1(o, "mstream_last_commit_timestamp_seconds",
           "Wall-clock time of the last commit (0: none).", ql, st->last_commit_wall);
    histogram(o, "mstream_batch_duration_seconds",
              "Duration of a batch from planning to publishing.", &st->batch_dur);
    histogram(o, "mstream_commit_duration_seconds",
              "Duration of the synced RocksDB write batch that commits a batch.", &st->commit_dur);
    counter1(o, "mstream_commit_bytes_total", "Bytes of the RocksDB write batches committed.", ql,
             (double)st->commit_bytes_total);
    counter1(o, "mstream_commit_keys_total", "Keys written or deleted by commits.", ql,
             (double)st->commit_keys_total);
    gauge1(o, "mstream_recovery_seconds",
           "Time spent at start-up opening the checkpoint and loading state.", "",
           st->recovery_sec);

    const char *src = "source=\"dir\"";
    counter1(o, "mstream_input_rows_total", "Input rows (lines) read.", src,
             (double)st->input_rows);
    counter1(o, "mstream_input_bytes_total", "Input bytes read.", src, (double)st->input_bytes);
    counter1(o, "mstream_input_files_total", "File ranges read (one per file per batch).", src,
             (double)st->input_files);
    gauge1(o, "mstream_input_rows_per_second",
           "Input rate of the last batch: rows / time since the previous batch started.", src,
           st->last_input_rps);
    gauge1(o, "mstream_processed_rows_per_second",
           "Processing rate of the last batch: rows / batch duration.", src,
           st->last_processed_rps);
    gauge1(o, "mstream_source_files", "Files currently tracked in the input directory.", src,
           (double)st->src.files_tracked);
    gauge1(o, "mstream_source_pending_bytes",
           "Bytes after the last newline of input files, waiting for their line to end.", src,
           (double)st->src.pending_bytes);
    gauge1(o, "mstream_source_watching", "1 while the inotify watch on the directory holds.", src,
           st->src.watching);
    family(o, "mstream_source_files_rejected_total", "counter",
           "Files (or planned ranges) rejected, by reason.");
    for (int r = 0; r < MS_REJECT_MAX; r++)
        ms_buf_printf(o, "mstream_source_files_rejected_total{source=\"dir\",reason=\"%s\"} %llu\n",
                      ms_reject_name((enum ms_reject)r), (unsigned long long)st->src.rejected[r]);
    counter1(o, "mstream_source_truncations_total",
             "Files found shorter than their committed position (read again from the start).", src,
             (double)st->src.truncations);
    counter1(o, "mstream_source_rotations_total",
             "Files whose first bytes changed under the same inode (read again from the start).",
             src, (double)st->src.rotations);
    counter1(o, "mstream_source_rescans_total", "Full listings of the input directory.", src,
             (double)st->src.rescans);
    counter1(o, "mstream_source_inotify_overflows_total", "inotify queue overflows.", src,
             (double)st->src.overflows);

    /* Query operators. */
    counter1(o, "mstream_query_rows_total", "Rows aggregated by the query.", ql,
             (double)st->agg_rows);
    family(o, "mstream_malformed_rows_total", "counter",
           "Rows (or words) rejected as malformed, by reason.");
    for (int r = 0; r < MS_MALFORMED_MAX; r++)
        ms_buf_printf(o, "mstream_malformed_rows_total{query=\"%s\",reason=\"%s\"} %llu\n", q,
                      ms_malformed_name((enum ms_malformed)r),
                      (unsigned long long)st->malformed[r]);
    counter1(o, "mstream_late_rows_dropped_total",
             "Rows dropped because their event time was behind the watermark.", ql,
             (double)st->late_rows);
    gauge1(o, "mstream_state_entries", "Entries in the query's state.", ql,
           (double)st->state_entries);
    gauge1(o, "mstream_state_bytes", "Memory held by the query's state.", ql,
           (double)st->state_bytes);

    /* Process. */
    counter1(o, "process_cpu_seconds_total", "Total user and system CPU time in seconds.", "",
             ps->cpu_seconds);
    gauge1(o, "process_resident_memory_bytes", "Resident memory size in bytes.", "",
           (double)ps->rss_bytes);
    gauge1(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "",
           (double)ps->vsize_bytes);
    gauge1(o, "process_open_fds", "Number of open file descriptors.", "", (double)ps->open_fds);
    gauge1(o, "process_max_fds", "Maximum number of open file descriptors.", "",
           (double)ps->max_fds);
    gauge1(o, "process_start_time_seconds", "Start time of the process since the epoch.", "",
           ps->start_time);
}
