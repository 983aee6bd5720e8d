/*
 * Built-in schemas and query-declared ones (see ms_schema.h).
 */
#include "query/ms_schema.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

const char *ms_type_name(enum ms_type t)
{
    static const char *const names[] = {
#define MS__TYPE_NAME(e, s) s,
        MS_TYPE_MAP(MS__TYPE_NAME)
#undef MS__TYPE_NAME
    };
    return (unsigned)t < MS_TYPE_MAX ? names[t] : "?";
}

const ms_column ms_meta_columns[MS_META_NCOLS] = {
    [MS_META_TOPIC] = {"topic", MS_TYPE_STRING},
    [MS_META_PARTITION] = {"partition", MS_TYPE_INT},
    [MS_META_OFFSET] = {"offset", MS_TYPE_INT},
    [MS_META_TIMESTAMP] = {"timestamp", MS_TYPE_TIMESTAMP},
    [MS_META_KEY] = {"key", MS_TYPE_STRING},
};

static ms_column lines_cols[] = {{"value", MS_TYPE_STRING}};
static ms_column words_cols[] = {{"word", MS_TYPE_STRING}};

/* clusterdata-2011-2, docs/design.md §4.  Column order is the file's. */
static ms_column task_cols[] = {
    {"time", MS_TYPE_TIMESTAMP},
    {"missing_info", MS_TYPE_INT},
    {"job_id", MS_TYPE_INT},
    {"task_index", MS_TYPE_INT},
    {"machine_id", MS_TYPE_INT},
    {"event_type", MS_TYPE_STRING}, /* by name: SUBMIT, SCHEDULE, ... */
    {"user", MS_TYPE_STRING},
    {"scheduling_class", MS_TYPE_INT},
    {"priority", MS_TYPE_INT},
    {"cpu_request", MS_TYPE_DOUBLE},
    {"memory_request", MS_TYPE_DOUBLE},
    {"disk_space_request", MS_TYPE_DOUBLE},
    {"different_machines_restriction", MS_TYPE_INT},
};
static ms_column job_cols[] = {
    {"time", MS_TYPE_TIMESTAMP},  {"missing_info", MS_TYPE_INT},
    {"job_id", MS_TYPE_INT},      {"event_type", MS_TYPE_STRING},
    {"user", MS_TYPE_STRING},     {"scheduling_class", MS_TYPE_INT},
    {"job_name", MS_TYPE_STRING}, {"logical_job_name", MS_TYPE_STRING},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const ms_schema builtin_schemas[] = {
    {MS_FORMAT_LINES, "lines", lines_cols, N(lines_cols), -1, 0, {',', '"', 0, 0}},
    {MS_FORMAT_WORDS, "words", words_cols, N(words_cols), -1, 0, {',', '"', 0, 0}},
    {MS_FORMAT_TASK_EVENTS, "task_events", task_cols, N(task_cols), 0, 0, {',', '"', 0, 0}},
    {MS_FORMAT_JOB_EVENTS, "job_events", job_cols, N(job_cols), 0, 0, {',', '"', 0, 0}},
};

const ms_schema *ms_schema_builtin(const char *format)
{
    for (size_t i = 0; i < N(builtin_schemas); i++)
        if (strcmp(builtin_schemas[i].format, format) == 0)
            return &builtin_schemas[i];
    return NULL;
}

ms_schema *ms_schema_new(enum ms_format_kind kind)
{
    ms_schema *s = ms_xcalloc(1, sizeof(*s));
    s->kind = kind;
    s->format = kind == MS_FORMAT_JSON ? "json" : "csv";
    s->time_col = -1;
    s->owned = 1;
    s->csv = (ms_csv_dialect){',', '"', 0, 0};
    return s;
}

void ms_schema_add_column(ms_schema *s, const char *name, enum ms_type type)
{
    s->cols = ms_xrealloc(s->cols, (s->ncols + 1) * sizeof(*s->cols));
    s->cols[s->ncols].name = ms_xstrdup(name);
    s->cols[s->ncols].type = type;
    s->ncols++;
}

void ms_schema_free(ms_schema *s)
{
    if (!s || !s->owned)
        return;
    for (size_t i = 0; i < s->ncols; i++)
        free((char *)s->cols[i].name);
    free(s->cols);
    free(s);
}

int ms_schema_find(const ms_schema *s, const char *name)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return (int)i;
    for (size_t i = 0; i < MS_META_NCOLS; i++)
        if (strcmp(ms_meta_columns[i].name, name) == 0)
            return (int)(s->ncols + i);
    return -1;
}

const ms_column *ms_schema_column(const ms_schema *s, size_t idx)
{
    if (idx < s->ncols)
        return &s->cols[idx];
    idx -= s->ncols;
    return idx < MS_META_NCOLS ? &ms_meta_columns[idx] : NULL;
}

const char *ms_trace_event_name(int64_t type)
{
    static const char *const names[MS_TRACE_EVENT_TYPES] = {
        "SUBMIT", "SCHEDULE", "EVICT",          "FAIL",           "FINISH",
        "KILL",   "LOST",     "UPDATE_PENDING", "UPDATE_RUNNING",
    };
    return type >= 0 && type < MS_TRACE_EVENT_TYPES ? names[type] : NULL;
}
