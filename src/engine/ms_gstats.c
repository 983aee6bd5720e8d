/*
 * Group mode's counters (see ms_gstats.h).
 */
#include "engine/ms_gstats.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "core/ms_text.h"

const double ms_hist_txn_bounds[MS_HIST_BUCKETS] = {0.001, 0.002, 0.004, 0.008, 0.016,
                                                    0.032, 0.064, 0.128, 0.256, 0.512,
                                                    1.024, 2.048, 4.096, 8.192, 16.384};

static char *dup_or_null(const char *s)
{
    return s ? ms_xstrdup(s) : NULL;
}

void ms_gstats_copy(ms_gstats *dst, const ms_gstats *src)
{
    *dst = *src;
    dst->application_id = dup_or_null(src->application_id);
    dst->member_id = dup_or_null(src->member_id);
    dst->transactional_id = dup_or_null(src->transactional_id);
    dst->inputs = ms_xcalloc(src->ninputs ? src->ninputs : 1, sizeof(ms_gstats_part));
    for (size_t i = 0; i < src->ninputs; i++) {
        dst->inputs[i].topic = ms_xstrdup(src->inputs[i].topic);
        dst->inputs[i].partition = src->inputs[i].partition;
    }
    dst->tasks = ms_xcalloc(src->ntasks ? src->ntasks : 1, sizeof(ms_gstats_task));
    if (src->ntasks)
        memcpy(dst->tasks, src->tasks, src->ntasks * sizeof(ms_gstats_task));
}

void ms_gstats_free(ms_gstats *g)
{
    free(g->application_id);
    free(g->member_id);
    free(g->transactional_id);
    for (size_t i = 0; i < g->ninputs; i++)
        free(g->inputs[i].topic);
    free(g->inputs);
    free(g->tasks);
    memset(g, 0, sizeof(*g));
}

static void str_or_null(ms_buf *b, const char *s)
{
    if (s)
        ms_text_json_str(b, s);
    else
        ms_buf_puts(b, "null");
}

void ms_gstats_render_json(ms_buf *b, const ms_gstats *g)
{
    ms_buf_puts(b, "{\"applicationId\":");
    str_or_null(b, g->application_id);
    ms_buf_puts(b, ",\"memberId\":");
    str_or_null(b, g->member_id);
    ms_buf_puts(b, ",\"transactionalId\":");
    str_or_null(b, g->transactional_id);
    ms_buf_printf(b,
                  ",\"generation\":%d,\"tasksGeneration\":%d,\"rebalances\":{\"assigned\":%llu,"
                  "\"revoked\":%llu,"
                  "\"lost\":%llu},\"transactions\":{\"committed\":%llu,\"aborted\":%llu,"
                  "\"fenced\":%llu,\"rejoins\":%llu},\"restoredRecords\":%llu,"
                  "\"restoreSeconds\":%.3f,\"lastRestoreRecordsPerSecond\":%.1f,"
                  "\"produced\":{\"repartitionRecords\":%llu,\"repartitionBytes\":%llu,"
                  "\"changelogRecords\":%llu,\"changelogBytes\":%llu,\"outputRecords\":%llu,"
                  "\"outputBytes\":%llu},\"corruptRecords\":%llu,\"inputPartitions\":[",
                  (int)g->generation, (int)g->tasks_generation, (unsigned long long)g->assigned,
                  (unsigned long long)g->revoked, (unsigned long long)g->lost,
                  (unsigned long long)g->txn_committed, (unsigned long long)g->txn_aborted,
                  (unsigned long long)g->fenced, (unsigned long long)g->rejoins,
                  (unsigned long long)g->restore_records, g->restore_secs, g->restore_rate,
                  (unsigned long long)g->rep_records, (unsigned long long)g->rep_bytes,
                  (unsigned long long)g->cl_records, (unsigned long long)g->cl_bytes,
                  (unsigned long long)g->out_records, (unsigned long long)g->out_bytes,
                  (unsigned long long)g->corrupt_records);
    for (size_t i = 0; i < g->ninputs; i++) {
        ms_buf_puts(b, i ? ",{\"topic\":" : "{\"topic\":");
        ms_text_json_str(b, g->inputs[i].topic);
        ms_buf_printf(b, ",\"partition\":%d}", (int)g->inputs[i].partition);
    }
    ms_buf_puts(b, "],\"tasks\":[");
    for (size_t i = 0; i < g->ntasks; i++) {
        const ms_gstats_task *t = &g->tasks[i];
        ms_buf_puts(b, i ? ",{\"query\":" : "{\"query\":");
        ms_text_json_str(b, t->stmt);
        ms_buf_printf(b,
                      ",\"partition\":%d,\"state\":\"%s\",\"groups\":%llu,"
                      "\"changelogOffset\":%lld,\"restore\":{\"from\":%lld,\"target\":%lld,"
                      "\"records\":%llu,\"seconds\":%.3f}}",
                      (int)t->partition, t->restoring ? "restoring" : "active",
                      (unsigned long long)t->groups, (long long)t->position,
                      (long long)t->restore_from, (long long)t->restore_target,
                      (unsigned long long)t->restored, t->restore_secs);
    }
    ms_buf_puts(b, "]}");
}
