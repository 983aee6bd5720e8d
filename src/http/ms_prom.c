/*
 * Prometheus exposition of a snapshot.  Families, in order: results of
 * every statement (top-K), the top-K cap, window bounds, build info, engine
 * batches and timings, input, per-statement operator counters and state,
 * process_*.
 *
 * Result families (docs/design.md §6.1, docs/metrics.md): per statement and aggregate
 * output column, mstream_<statement>_<alias>, labels = the statement's group
 * columns (output names; the window bounds are not labels: a windowed
 * statement exports the rows of its latest closed window, whose bounds are
 * the gauges mstream_query_last_closed_window_{start,end}_seconds).  The type
 * says what Prometheus may assume:
 *
 *   aggregate                      unwindowed            windowed
 *   COUNT(*), COUNT(x)             counter, _total       gauge
 *   SUM(x)                         gauge                 gauge
 *   MIN, MAX, AVG                  gauge                 gauge
 *   MIN/MAX of a TIMESTAMP         gauge, _seconds       gauge, _seconds
 *
 * Only what never decreases is a counter: a COUNT of an unwindowed
 * statement.  SUM is a gauge because no column type is unsigned: one
 * negative value makes the running total fall, which rate() would read as a
 * counter reset.  A TIMESTAMP aggregate is exported in seconds since the
 * epoch (fractions keep the microseconds) with the unit suffix _seconds.
 * NULL aggregates export no sample.  A gauge whose name would end in
 * "_total" loses that suffix; one that would end in a histogram's reserved
 * suffix (_sum, _count, _bucket) gets "_value".  A name already taken (one
 * of the engine's families, or an earlier result family: statement "a_b"
 * with alias "c" and statement "a" with alias "b_c") gets "_result" (then
 * "_result_2", ...) before its unit suffix, so no family is ever emitted
 * twice.
 */
#include "http/ms_prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "core/ms_text.h"
#include "engine/ms_render.h"
#include "state/ms_table.h"

static void family(ms_buf *o, const char *name, const char *type, const char *help)
{
    ms_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void num(ms_buf *o, double v)
{
    if (isnan(v)) {
        ms_buf_puts(o, "NaN");
    } else if (isinf(v)) {
        ms_buf_puts(o, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 9e15) {
        ms_buf_printf(o, "%.0f", v);
    } else {
        /* The shortest text that reads back as v (a microsecond timestamp in
         * seconds needs 16 digits). */
        char tmp[40];
        for (int prec = 9; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        ms_buf_puts(o, tmp);
    }
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

/* A metric or label name from arbitrary text: [a-zA-Z0-9_] kept, other
 * bytes become '_', a leading digit gets a '_' before it. */
static void put_name(ms_buf *o, const char *s)
{
    if (*s >= '0' && *s <= '9')
        ms_buf_putc(o, '_');
    for (; *s; s++) {
        char c = *s;
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        ms_buf_putc(o, ok ? c : '_');
    }
}

/* How a result column is exported (the table at the top of this file). */
enum result_kind { RESULT_COUNTER, RESULT_GAUGE, RESULT_SECONDS };

static enum result_kind result_kind(const ms_sql_stmt *st, const ms_sql_out *o)
{
    const ms_sql_agg *a = &st->aggs[o->index];
    if (a->type == MS_TYPE_TIMESTAMP)
        return RESULT_SECONDS;
    if (st->window.kind == MS_SQL_WINDOW_NONE &&
        (a->kind == MS_SQL_AGG_COUNT_STAR || a->kind == MS_SQL_AGG_COUNT))
        return RESULT_COUNTER;
    return RESULT_GAUGE;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The engine's own families (and the series names of its histograms): a
 * result family mstream_<statement>_<alias> must not take one of them
 * (a statement named "query" with an aggregate "rows" would). */
static const char *const engine_families[] = {
    "mstream_batch_duration_seconds_bucket",
    "mstream_batch_duration_seconds_count",
    "mstream_batch_duration_seconds_sum",
    "mstream_batch_duration_seconds",
    "mstream_batches_replayed_total",
    "mstream_batches_total",
    "mstream_build_info",
    "mstream_commit_bytes_total",
    "mstream_commit_duration_seconds_bucket",
    "mstream_commit_duration_seconds_count",
    "mstream_commit_duration_seconds_sum",
    "mstream_commit_duration_seconds",
    "mstream_commit_keys_total",
    "mstream_input_bytes_total",
    "mstream_input_files_total",
    "mstream_input_rows_per_second",
    "mstream_input_rows_total",
    "mstream_group_fenced_total",
    "mstream_group_generation",
    "mstream_group_info",
    "mstream_group_partitions_owned",
    "mstream_group_produced_bytes_total",
    "mstream_group_produced_records_total",
    "mstream_group_rebalances_total",
    "mstream_group_rejoins_total",
    "mstream_group_restore_records_per_second",
    "mstream_group_restore_records_remaining",
    "mstream_group_restore_records_total",
    "mstream_group_restore_seconds_total",
    "mstream_group_tasks",
    "mstream_group_transaction_commit_seconds_bucket",
    "mstream_group_transaction_commit_seconds_count",
    "mstream_group_transaction_commit_seconds_sum",
    "mstream_group_transaction_commit_seconds",
    "mstream_group_transactions_total",
    "mstream_group_records_corrupt_total",
    "mstream_last_commit_timestamp_seconds",
    "mstream_last_committed_batch_id",
    "mstream_kafka_data_loss_events_total",
    "mstream_kafka_messages_total",
    "mstream_kafka_metadata_refreshes_total",
    "mstream_kafka_offsets_lost_total",
    "mstream_kafka_partition_high_watermark",
    "mstream_kafka_partition_lag",
    "mstream_kafka_partition_low_watermark",
    "mstream_kafka_partition_offset",
    "mstream_kafka_partitions",
    "mstream_kafka_transient_errors_total",
    "mstream_kafka_watermark_failures_total",
    "mstream_late_rows_dropped_total",
    "mstream_malformed_rows_total",
    "mstream_processed_rows_per_second",
    "mstream_query_last_closed_window_end_seconds",
    "mstream_query_last_closed_window_start_seconds",
    "mstream_query_rows_filtered_total",
    "mstream_query_rows_no_event_time_total",
    "mstream_query_rows_total",
    "mstream_query_windows_closed_total",
    "mstream_ready",
    "mstream_recovery_seconds",
    "mstream_results_exported_series",
    "mstream_results_groups",
    "mstream_results_topk_limit",
    "mstream_source_backlog_bytes",
    "mstream_source_backlog_files",
    "mstream_source_clean_failures_total",
    "mstream_source_files",
    "mstream_source_files_cleaned_total",
    "mstream_source_files_rejected_total",
    "mstream_source_files_too_old",
    "mstream_source_inotify_overflows_total",
    "mstream_source_pending_bytes",
    "mstream_source_rescans_total",
    "mstream_source_rotations_total",
    "mstream_source_truncations_total",
    "mstream_source_watching",
    "mstream_state_bytes",
    "mstream_state_entries",
    "mstream_state_evicted_total",
    "mstream_trigger_interval_seconds",
    "mstream_up",
    "mstream_watermark_seconds",
};

/* Names taken by families already emitted (or reserved by the engine). */
static void names_init(ms_table *taken)
{
    ms_table_init(taken);
    for (size_t i = 0; i < sizeof(engine_families) / sizeof(engine_families[0]); i++)
        ms_table_add(taken, (const uint8_t *)engine_families[i], strlen(engine_families[i]), 1);
}

static int name_taken(const ms_table *taken, const ms_buf *name)
{
    return ms_table_find(taken, (const uint8_t *)name->data, name->len) != NULL;
}

/* The family name of a result column (see the top of this file), marked
 * taken. */
static void result_name(ms_buf *name, ms_table *taken, const char *stmt, const char *alias,
                        enum result_kind kind)
{
    ms_buf base = MS_BUF_INIT;
    ms_buf_puts(&base, "mstream_");
    put_name(&base, stmt);
    ms_buf_putc(&base, '_');
    put_name(&base, alias);
    const size_t min_len = 8 + 1; /* "mstream_" and a statement name: never strip below */
    const char *suffix = kind == RESULT_COUNTER   ? "_total"
                         : kind == RESULT_SECONDS ? "_seconds"
                                                  : "";
    static const char *const strip[] = {"_total", "_seconds"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(strip[i]);
        /* the unit suffix is added back below; a gauge is never *_total */
        if ((i == 0 || kind == RESULT_SECONDS) && ends_with(base.data, strip[i]) &&
            base.len - n >= min_len) {
            base.len -= n;
            base.data[base.len] = '\0';
        }
    }
    if (kind == RESULT_GAUGE && (ends_with(base.data, "_sum") || ends_with(base.data, "_count") ||
                                 ends_with(base.data, "_bucket")))
        ms_buf_puts(&base, "_value");
    for (int k = 1;; k++) {
        ms_buf_reset(name);
        ms_buf_append(name, base.data, base.len);
        if (k == 2)
            ms_buf_puts(name, "_result");
        else if (k > 2)
            ms_buf_printf(name, "_result_%d", k - 1);
        ms_buf_puts(name, suffix);
        if (!name_taken(taken, name))
            break;
    }
    ms_table_add(taken, (const uint8_t *)name->data, name->len, 1);
    ms_buf_free(&base);
}

/* Label sets ("a=\"x\",b=\"y\"") of the exported rows of a statement;
 * a row whose label set repeats an earlier one (a NULL and an empty string
 * both show as "") is left out, so no series is ever duplicated. */
typedef struct label_sets {
    ms_buf text;
    size_t *off, *len;
    int *keep;
} label_sets;

static void label_sets_build(label_sets *ls, const ms_stmt_snap *q, const ms_rowset *rs)
{
    const ms_sql_stmt *st = q->stmt;
    memset(ls, 0, sizeof(*ls));
    size_t n = q->ntopk ? q->ntopk : 1;
    ls->off = ms_xcalloc(n, sizeof(size_t));
    ls->len = ms_xcalloc(n, sizeof(size_t));
    ls->keep = ms_xcalloc(n, sizeof(int));
    /* Label names: the output names made valid; "__" is reserved, and two
     * names that become the same get _2, _3, ... */
    ms_buf names = MS_BUF_INIT;
    size_t *noff = ms_xcalloc(st->nouts + 1, sizeof(size_t));
    ms_table seen;
    ms_table_init(&seen);
    for (size_t c = 0; c < st->nouts; c++) {
        noff[c] = names.len;
        if (st->outs[c].kind != MS_SQL_OUT_GROUP_COL)
            continue;
        ms_buf one = MS_BUF_INIT;
        if (!strncmp(st->outs[c].name, "__", 2))
            ms_buf_putc(&one, 'l');
        put_name(&one, st->outs[c].name);
        size_t base = one.len;
        for (int k = 2; ms_table_add(&seen, (const uint8_t *)one.data, one.len, 1)->value > 1;
             k++) {
            one.len = base;
            ms_buf_printf(&one, "_%d", k);
        }
        ms_buf_append(&names, one.data, one.len);
        ms_buf_free(&one);
    }
    noff[st->nouts] = names.len;
    ms_table_free(&seen);
    ms_table_init(&seen);
    for (size_t i = 0; i < q->ntopk; i++) {
        ls->off[i] = ls->text.len;
        int first = 1;
        for (size_t c = 0; c < st->nouts; c++) {
            if (st->outs[c].kind != MS_SQL_OUT_GROUP_COL)
                continue;
            if (!first)
                ms_buf_putc(&ls->text, ',');
            first = 0;
            ms_buf_append(&ls->text, names.data + noff[c], noff[c + 1] - noff[c]);
            ms_buf_puts(&ls->text, "=\"");
            ms_value v;
            ms_rowset_value(rs, q->topk[i], c, &v);
            ms_render_prom_label(&ls->text, &v);
            ms_buf_putc(&ls->text, '"');
        }
        ls->len[i] = ls->text.len - ls->off[i];
        ms_entry *e =
            ms_table_add(&seen, (const uint8_t *)ls->text.data + ls->off[i], ls->len[i], 1);
        ls->keep[i] = e->value == 1;
    }
    ms_table_free(&seen);
    ms_buf_free(&names);
    free(noff);
}

static void label_sets_free(label_sets *ls)
{
    ms_buf_free(&ls->text);
    free(ls->off);
    free(ls->len);
    free(ls->keep);
}

/* The result families of one statement: one per aggregate output column,
 * labels = the group columns. */
static void render_results(ms_buf *o, ms_snapshot *s, ms_stmt_snap *q, ms_table *taken)
{
    const ms_sql_stmt *st = q->stmt;
    int windowed = st->window.kind != MS_SQL_WINDOW_NONE;
    const ms_rowset *rs = &q->top; /* the exported rows (ms_snapshot.h) */
    label_sets ls;
    label_sets_build(&ls, q, rs);
    ms_buf name = MS_BUF_INIT, help = MS_BUF_INIT;
    for (size_t c = 0; c < st->nouts; c++) {
        const ms_sql_out *out = &st->outs[c];
        if (out->kind != MS_SQL_OUT_AGG)
            continue;
        enum result_kind kind = result_kind(st, out);
        result_name(&name, taken, st->name, out->name, kind);
        const char *unit = kind == RESULT_SECONDS ? ", in seconds since the epoch" : "";
        ms_buf_reset(&help);
        if (windowed)
            ms_buf_printf(&help,
                          "%s of query %s in its latest %s window%s (the largest %zu groups; "
                          "every window at /api/v1/results?query=%s).",
                          out->name, st->name, q->win_closed ? "closed" : "open (no watermark)",
                          unit, s->top_k_limit, st->name);
        else
            ms_buf_printf(&help,
                          "%s %s of query %s%s (the largest %zu groups; all rows at "
                          "/api/v1/results?query=%s).",
                          kind == RESULT_COUNTER ? "Running" : "Current", out->name, st->name, unit,
                          s->top_k_limit, st->name);
        /* HELP text: no newline or backslash can come from names (they are
         * sanitised identifiers), but aliases may hold any printable text. */
        for (char *p = help.data; *p; p++)
            if (*p == '\\' || *p == '\n')
                *p = ' ';
        family(o, name.data, kind == RESULT_COUNTER ? "counter" : "gauge", help.data);
        for (size_t i = 0; i < q->ntopk; i++) {
            if (!ls.keep[i])
                continue;
            ms_value v;
            ms_rowset_value(rs, q->topk[i], c, &v);
            if (v.type == MS_TYPE_NULL)
                continue;
            ms_buf_puts(o, name.data);
            if (ls.len[i]) {
                ms_buf_putc(o, '{');
                ms_buf_append(o, ls.text.data + ls.off[i], ls.len[i]);
                ms_buf_putc(o, '}');
            }
            ms_buf_putc(o, ' ');
            if (v.type == MS_TYPE_DOUBLE)
                num(o, v.d);
            else if (v.type == MS_TYPE_TIMESTAMP)
                num(o, (double)v.i / 1e6);
            else
                num(o, (double)v.i);
            ms_buf_putc(o, '\n');
        }
    }
    ms_buf_free(&name);
    ms_buf_free(&help);
    label_sets_free(&ls);
}

/* The directory source's series. */
static void render_dir(ms_buf *o, const ms_stats *st)
{
    const char *src = "source=\"dir\"";
    counter1(o, "mstream_input_files_total", "File ranges read (one per file per batch).", src,
             (double)st->input_files);
    gauge1(o, "mstream_source_files", "Files currently tracked in the input directory.", src,
           (double)st->src.files_tracked);
    gauge1(o, "mstream_source_pending_bytes",
           "Bytes after the last newline of input files, waiting for their line to end.", src,
           (double)st->src.pending_bytes);
    gauge1(o, "mstream_source_watching", "1 while the inotify watch on the directory holds.", src,
           st->src.watching);
    gauge1(o, "mstream_source_backlog_files",
           "Files in the input directory with bytes not read yet (planned or waiting).", src,
           (double)st->src.backlog_files);
    gauge1(o, "mstream_source_backlog_bytes",
           "Bytes of the input directory not read yet, partial last lines included.", src,
           (double)st->src.backlog_bytes);
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
    gauge1(o, "mstream_source_files_too_old",
           "Files not read because --max-file-age leaves them out (at the last plan).", src,
           (double)st->src.too_old);
    family(o, "mstream_source_files_cleaned_total", "counter",
           "Files archived or deleted by --clean-source after a commit consumed them.");
    ms_buf_printf(o, "mstream_source_files_cleaned_total{source=\"dir\",action=\"archive\"} %llu\n",
                  (unsigned long long)st->src.archived);
    ms_buf_printf(o, "mstream_source_files_cleaned_total{source=\"dir\",action=\"delete\"} %llu\n",
                  (unsigned long long)st->src.deleted);
    counter1(o, "mstream_source_clean_failures_total",
             "Archive or delete attempts of --clean-source that failed (tried again later).", src,
             (double)st->src.clean_failures);
}

/* The Kafka source's series: per-partition position, end and lag, and the
 * counters of what the brokers did to us. */
static void render_kafka(ms_buf *o, const ms_kafkasrc_stats *k)
{
    family(o, "mstream_kafka_partition_offset", "gauge",
           "Next offset to read of the partition, as committed with the state.");
    for (size_t i = 0; i < k->npart; i++)
        if (k->parts[i].committed >= 0)
            ms_buf_printf(o, "mstream_kafka_partition_offset{topic=\"%s\",partition=\"%d\"} %lld\n",
                          k->parts[i].topic, (int)k->parts[i].partition,
                          (long long)k->parts[i].committed);
    family(o, "mstream_kafka_partition_high_watermark", "gauge",
           "End offset (high watermark) of the partition when last asked.");
    for (size_t i = 0; i < k->npart; i++)
        if (k->parts[i].high >= 0)
            ms_buf_printf(o,
                          "mstream_kafka_partition_high_watermark{topic=\"%s\",partition=\"%d\"} "
                          "%lld\n",
                          k->parts[i].topic, (int)k->parts[i].partition,
                          (long long)k->parts[i].high);
    family(o, "mstream_kafka_partition_low_watermark", "gauge",
           "Oldest offset the broker still holds for the partition when last asked.");
    for (size_t i = 0; i < k->npart; i++)
        if (k->parts[i].low >= 0)
            ms_buf_printf(o,
                          "mstream_kafka_partition_low_watermark{topic=\"%s\",partition=\"%d\"} "
                          "%lld\n",
                          k->parts[i].topic, (int)k->parts[i].partition,
                          (long long)k->parts[i].low);
    family(o, "mstream_kafka_partition_lag", "gauge",
           "Messages in the partition not yet committed: high watermark - offset.");
    for (size_t i = 0; i < k->npart; i++)
        ms_buf_printf(o, "mstream_kafka_partition_lag{topic=\"%s\",partition=\"%d\"} %lld\n",
                      k->parts[i].topic, (int)k->parts[i].partition, (long long)k->parts[i].lag);
    const char *src = "source=\"kafka\"";
    gauge1(o, "mstream_kafka_partitions", "Partitions of the topics read.", src, (double)k->npart);
    counter1(o, "mstream_kafka_messages_total", "Kafka messages read (including re-runs).", src,
             (double)k->messages);
    counter1(o, "mstream_kafka_transient_errors_total",
             "Broker and transport errors survived by retrying (nothing lost).", src,
             (double)k->transient_errors);
    counter1(o, "mstream_kafka_data_loss_events_total",
             "Partitions found to have lost offsets not yet read (retention, a re-created "
             "topic).",
             src, (double)k->data_loss_events);
    counter1(o, "mstream_kafka_offsets_lost_total",
             "Offsets skipped because they were lost (--fail-on-data-loss false).", src,
             (double)k->offsets_lost);
    counter1(o, "mstream_kafka_metadata_refreshes_total",
             "Successful partition discoveries (metadata requests).", src,
             (double)k->metadata_refreshes);
    counter1(o, "mstream_kafka_watermark_failures_total",
             "End/start offset queries that failed (the last known ends were kept).", src,
             (double)k->watermark_failures);
}

/* A family with one sample per statement, labelled query="<name>". */
#define PER_QUERY(o, s, NAME_, TYPE_, HELP_, EXPR_)                                                \
    do {                                                                                           \
        family(o, NAME_, TYPE_, HELP_);                                                            \
        for (size_t qi_ = 0; qi_ < (s)->nq; qi_++) {                                               \
            const ms_stmt_snap *q = &(s)->q[qi_];                                                  \
            ms_buf_printf(o, "%s{query=\"%s\"} ", NAME_, q->stmt->name);                           \
            num(o, (double)(EXPR_));                                                               \
            ms_buf_putc(o, '\n');                                                                  \
        }                                                                                          \
    } while (0)

/* Group mode (docs/design.md §9): this instance's share of the consumer
 * group.  Counters are this process's; Prometheus sums them across
 * instances. */
static void render_group(ms_buf *o, const ms_gstats *g)
{
    ms_buf lab = MS_BUF_INIT;
    const char *app = g->application_id ? g->application_id : "";
    const char *mem = g->member_id ? g->member_id : "";
    const char *txn = g->transactional_id ? g->transactional_id : "";
    ms_buf_puts(&lab, "application_id=\"");
    ms_text_prom_label(&lab, (const uint8_t *)app, strlen(app));
    ms_buf_puts(&lab, "\",member_id=\"");
    ms_text_prom_label(&lab, (const uint8_t *)mem, strlen(mem));
    ms_buf_puts(&lab, "\",transactional_id=\"");
    ms_text_prom_label(&lab, (const uint8_t *)txn, strlen(txn));
    ms_buf_putc(&lab, '"');
    gauge1(o, "mstream_group_info",
           "Always 1 in group mode; the labels name the application, this member and its "
           "transactional id.",
           lab.data, 1);
    ms_buf_free(&lab);
    gauge1(o, "mstream_group_generation", "Generation of the consumer group's last assignment.", "",
           (double)g->generation);
    family(o, "mstream_group_rebalances_total", "counter",
           "Rebalance events of this member: partitions assigned, revoked, or lost (taken "
           "away after the session timed out).");
    ms_buf_printf(o, "mstream_group_rebalances_total{event=\"assigned\"} %llu\n",
                  (unsigned long long)g->assigned);
    ms_buf_printf(o, "mstream_group_rebalances_total{event=\"revoked\"} %llu\n",
                  (unsigned long long)g->revoked);
    ms_buf_printf(o, "mstream_group_rebalances_total{event=\"lost\"} %llu\n",
                  (unsigned long long)g->lost);
    uint64_t restoring = 0, remaining = 0;
    for (size_t i = 0; i < g->ntasks; i++)
        if (g->tasks[i].restoring) {
            restoring++;
            if (g->tasks[i].restore_target > g->tasks[i].position)
                remaining += (uint64_t)(g->tasks[i].restore_target - g->tasks[i].position);
        }
    family(o, "mstream_group_partitions_owned", "gauge",
           "Partitions this instance owns: input partitions (stage 1) and repartition "
           "partitions, one task per query each (stage 2).");
    ms_buf_printf(o, "mstream_group_partitions_owned{role=\"input\"} %zu\n", g->ninputs);
    ms_buf_printf(o, "mstream_group_partitions_owned{role=\"task\"} %zu\n", g->ntasks);
    family(o, "mstream_group_tasks", "gauge", "Stage-2 tasks of this instance by state.");
    ms_buf_printf(o, "mstream_group_tasks{state=\"active\"} %llu\n",
                  (unsigned long long)(g->ntasks - restoring));
    ms_buf_printf(o, "mstream_group_tasks{state=\"restoring\"} %llu\n",
                  (unsigned long long)restoring);
    counter1(o, "mstream_group_restore_records_total",
             "Changelog records replayed into the state by finished restores.", "",
             (double)g->restore_records);
    counter1(o, "mstream_group_restore_seconds_total", "Time finished restores took.", "",
             g->restore_secs);
    gauge1(o, "mstream_group_restore_records_per_second",
           "Restore rate of the latest finished restore (0: none yet).", "", g->restore_rate);
    gauge1(o, "mstream_group_restore_records_remaining",
           "Changelog records restoring tasks have still to read (offsets).", "",
           (double)remaining);
    family(o, "mstream_group_transactions_total", "counter",
           "Kafka transactions (one per micro-batch) by outcome.");
    ms_buf_printf(o, "mstream_group_transactions_total{outcome=\"committed\"} %llu\n",
                  (unsigned long long)g->txn_committed);
    ms_buf_printf(o, "mstream_group_transactions_total{outcome=\"aborted\"} %llu\n",
                  (unsigned long long)g->txn_aborted);
    counter1(o, "mstream_group_fenced_total",
             "Times this instance found itself fenced (a zombie whose transaction the group "
             "refused).",
             "", (double)g->fenced);
    counter1(o, "mstream_group_rejoins_total",
             "Times this instance tore its Kafka clients down and joined the group again.", "",
             (double)g->rejoins);
    histogram(o, "mstream_group_transaction_commit_seconds",
              "Time to commit a transaction: flush its records, add the offsets, commit.",
              &g->txn_commit);
    family(o, "mstream_group_produced_records_total", "counter",
           "Records written to the internal topics, by topic role.");
    ms_buf_printf(o, "mstream_group_produced_records_total{role=\"repartition\"} %llu\n",
                  (unsigned long long)g->rep_records);
    ms_buf_printf(o, "mstream_group_produced_records_total{role=\"changelog\"} %llu\n",
                  (unsigned long long)g->cl_records);
    ms_buf_printf(o, "mstream_group_produced_records_total{role=\"output\"} %llu\n",
                  (unsigned long long)g->out_records);
    family(o, "mstream_group_produced_bytes_total", "counter",
           "Bytes (keys and values) written to the internal topics, by topic role.");
    ms_buf_printf(o, "mstream_group_produced_bytes_total{role=\"repartition\"} %llu\n",
                  (unsigned long long)g->rep_bytes);
    ms_buf_printf(o, "mstream_group_produced_bytes_total{role=\"changelog\"} %llu\n",
                  (unsigned long long)g->cl_bytes);
    ms_buf_printf(o, "mstream_group_produced_bytes_total{role=\"output\"} %llu\n",
                  (unsigned long long)g->out_bytes);
    counter1(o, "mstream_group_records_corrupt_total",
             "Records of the internal topics that did not decode (skipped, logged).", "",
             (double)g->corrupt_records);
}

void ms_prom_render(ms_buf *o, ms_snapshot *s, const ms_procstat *ps)
{
    const ms_stats *st = &s->stats;

    /* Results: per statement, one family per aggregate output column. */
    ms_table taken;
    names_init(&taken);
    pthread_mutex_lock(&s->sort_lock); /* a lazy sort may not move rows meanwhile */
    for (size_t i = 0; i < s->nq; i++)
        render_results(o, s, &s->q[i], &taken);
    pthread_mutex_unlock(&s->sort_lock);
    ms_table_free(&taken);
    PER_QUERY(o, s, "mstream_results_topk_limit", "gauge",
              "Cap on result series per query on /metrics (--top-k).", s->top_k_limit);
    PER_QUERY(o, s, "mstream_results_exported_series", "gauge",
              "Result rows exported on /metrics for the query (series per aggregate column).",
              q->ntopk);
    PER_QUERY(o, s, "mstream_results_groups", "gauge", "Groups in the query's full result table.",
              q->groups);
    int any_window = 0;
    for (size_t i = 0; i < s->nq; i++)
        any_window |= s->q[i].stmt->window.kind != MS_SQL_WINDOW_NONE;
    if (any_window) {
        family(o, "mstream_query_last_closed_window_start_seconds", "gauge",
               "Start of the latest window the watermark closed, whose rows the result gauges "
               "show (trace time, seconds).");
        for (size_t i = 0; i < s->nq; i++) {
            const ms_stmt_snap *q = &s->q[i];
            if (q->win_start != INT64_MIN && q->win_closed) {
                ms_buf_printf(o, "mstream_query_last_closed_window_start_seconds{query=\"%s\"} ",
                              q->stmt->name);
                num(o, (double)q->win_start / 1e6);
                ms_buf_putc(o, '\n');
            }
        }
        family(o, "mstream_query_last_closed_window_end_seconds", "gauge",
               "End (exclusive) of the latest window the watermark closed (seconds).");
        for (size_t i = 0; i < s->nq; i++) {
            const ms_stmt_snap *q = &s->q[i];
            if (q->win_start != INT64_MIN && q->win_closed) {
                ms_buf_printf(o, "mstream_query_last_closed_window_end_seconds{query=\"%s\"} ",
                              q->stmt->name);
                num(o, (double)q->win_end / 1e6);
                ms_buf_putc(o, '\n');
            }
        }
    }

    /* Engine. */
    gauge1(o, "mstream_build_info",
           "Always 1; the labels name the versions of mstream and of the libraries it was "
           "built with.",
           "version=\"" MS_VERSION "\",rocksdb=\"" MS_ROCKSDB_VERSION
           "\",librdkafka=\"" MS_RDKAFKA_VERSION "\"",
           1);
    gauge1(o, "mstream_up", "1 while the engine runs.", "", 1);
    gauge1(o, "mstream_trigger_interval_seconds",
           "--trigger-sec: a batch starts every so many seconds (0: as soon as input arrives).", "",
           st->trigger_sec);
    gauge1(o, "mstream_ready", "1 once recovery from the checkpoint is done.", "", s->ready);
    counter1(o, "mstream_batches_total", "Micro-batches committed by this process.", "",
             (double)st->batches);
    counter1(o, "mstream_batches_replayed_total",
             "Batches re-run at start-up from a plan persisted before a crash.", "",
             (double)st->replayed);
    gauge1(o, "mstream_last_committed_batch_id", "Id of the last committed batch (-1: none).", "",
           (double)st->last_batch_id);
    gauge1(o, "mstream_last_commit_timestamp_seconds",
           "Wall-clock time of the last commit (0: none).", "", st->last_commit_wall);
    histogram(o, "mstream_batch_duration_seconds",
              "Duration of a batch from planning to publishing.", &st->batch_dur);
    histogram(o, "mstream_commit_duration_seconds",
              "Duration of the synced RocksDB write batch that commits a batch.", &st->commit_dur);
    counter1(o, "mstream_commit_bytes_total", "Bytes of the RocksDB write batches committed.", "",
             (double)st->commit_bytes_total);
    counter1(o, "mstream_commit_keys_total", "Keys written or deleted by commits.", "",
             (double)st->commit_keys_total);
    gauge1(o, "mstream_recovery_seconds",
           "Time spent at start-up opening the checkpoint and loading state.", "",
           st->recovery_sec);

    const char *src = s->has_kafka ? "source=\"kafka\"" : "source=\"dir\"";
    counter1(o, "mstream_input_rows_total",
             s->has_kafka ? "Input rows (Kafka messages) read." : "Input rows (lines) read.", src,
             (double)st->input_rows);
    counter1(o, "mstream_input_bytes_total", "Input bytes read.", src, (double)st->input_bytes);
    gauge1(o, "mstream_input_rows_per_second",
           "Input rate of the last batch: rows / time since the previous batch started.", src,
           st->last_input_rps);
    gauge1(o, "mstream_processed_rows_per_second",
           "Processing rate of the last batch: rows / batch duration.", src,
           st->last_processed_rps);
    if (s->has_kafka)
        render_kafka(o, &s->kafka);
    else
        render_dir(o, st);
    if (s->has_group)
        render_group(o, &s->group);

    /* Query operators, per statement. */
    PER_QUERY(o, s, "mstream_query_rows_total", "counter",
              "Rows aggregated by the query (passed WHERE, not late).", q->xs.rows_agg);
    PER_QUERY(o, s, "mstream_query_rows_filtered_total", "counter",
              "Rows dropped by the query's WHERE clause.", q->xs.rows_filtered);
    PER_QUERY(o, s, "mstream_query_rows_no_event_time_total", "counter",
              "Rows dropped by a windowed query because their event time was NULL.",
              q->xs.rows_no_time);
    PER_QUERY(o, s, "mstream_late_rows_dropped_total", "counter",
              "Rows dropped because their event time was behind the watermark.", q->xs.rows_late);
    PER_QUERY(o, s, "mstream_query_windows_closed_total", "counter",
              "Windows of the query closed by the watermark (distinct window starts).",
              q->xs.windows_closed);
    PER_QUERY(o, s, "mstream_state_evicted_total", "counter",
              "State entries deleted with the closed window they belong to.", q->xs.evicted);
    family(o, "mstream_malformed_rows_total", "counter",
           "Rows (or words) rejected as malformed by the query's parser, by reason.");
    for (size_t i = 0; i < s->nq; i++)
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            ms_buf_printf(o, "mstream_malformed_rows_total{query=\"%s\",reason=\"%s\"} %llu\n",
                          s->q[i].stmt->name, ms_malformed_name((enum ms_malformed)r),
                          (unsigned long long)s->q[i].malformed[r]);
    PER_QUERY(o, s, "mstream_state_entries", "gauge", "Entries (groups) in the query's state.",
              q->state_entries);
    PER_QUERY(o, s, "mstream_state_bytes", "gauge", "Memory held by the query's state.",
              q->state_bytes);
    family(o, "mstream_watermark_seconds", "gauge",
           "Event-time watermark of the query (trace time, seconds); absent until it has one.");
    for (size_t i = 0; i < s->nq; i++) {
        const ms_stmt_snap *q = &s->q[i];
        if (q->stmt->watermark.present && q->watermark != INT64_MIN) {
            ms_buf_printf(o, "mstream_watermark_seconds{query=\"%s\"} ", q->stmt->name);
            num(o, (double)q->watermark / 1e6);
            ms_buf_putc(o, '\n');
        }
    }

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
