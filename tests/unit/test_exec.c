/*
 * ms_exec: the statement executor, driven by the real query parser, the
 * real record formats and a real RocksDB checkpoint.  Expected results are
 * computed by hand from the input rows listed in each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/ms_rowset.h"
#include "engine/ms_runtime.h"
#include "mstream/mstream.h"
#include "parse/ms_format.h"
#include "query/ms_exec.h"
#include "sql/ms_sql.h"
#include "state/ms_ckpt.h"

#define HOUR INT64_C(3600000000)
#define MIN  INT64_C(60000000)

typedef struct fixture {
    char root[64];
    char dir[96];
    ms_sql_program *prog;
    ms_format *fmt;
    ms_exec x;
} fixture;

static void setup_query(fixture *f, const char *sql)
{
    char err[1024];
    int rc = ms_sql_parse(sql, strlen(sql), "test.sql", "q", &f->prog, err, sizeof(err));
    if (rc)
        fail_msg("query did not parse: %s", err);
    f->fmt = ms_format_new(f->prog->stmts[0].schema, NULL, err, sizeof(err));
    assert_non_null(f->fmt);
    ms_exec_init(&f->x, &f->prog->stmts[0]);
}

static void open_fixture(fixture *f, const char *sql)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/ms_exec_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/chk", f->root);
    setup_query(f, sql);
}

static void close_fixture(fixture *f)
{
    ms_exec_free(&f->x);
    ms_format_free(f->fmt);
    ms_sql_program_free(f->prog);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
}

static void feed(fixture *f, const char *lines)
{
    const char *p = lines;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        ms_format_record(f->fmt, (const uint8_t *)p, n, NULL, ms_exec_emit, &f->x);
        p += n + (nl != NULL);
    }
}

/* Commits the executor's changes to the checkpoint; returns changed groups. */
static size_t commit(fixture *f)
{
    char err[512];
    ms_ckpt *ck;
    assert_int_equal(ms_ckpt_open(f->dir, &ck, err, sizeof(err)), 0);
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    size_t n = ms_exec_commit(&f->x, wb);
    assert_int_equal(ms_ckpt_commit(ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_exec_committed(&f->x);
    ms_ckpt_close(ck);
    return n;
}

/* Drops the in-memory executor and reloads it from the checkpoint. */
static void reload(fixture *f)
{
    char err[512];
    ms_exec_free(&f->x);
    ms_exec_init(&f->x, &f->prog->stmts[0]);
    ms_ckpt *ck;
    assert_int_equal(ms_ckpt_open(f->dir, &ck, err, sizeof(err)), 0);
    assert_int_equal(ms_exec_load(&f->x, ck, err, sizeof(err)), 0);
    ms_ckpt_close(ck);
}

/* Renders each row as "col=value,..." and collects them sorted. */
typedef struct rows {
    const ms_exec *x;
    char *v[256];
    size_t n;
} rows;

static void render(void *ud, const ms_exec_row *r)
{
    rows *rs = ud;
    char line[512];
    size_t off = 0;
    for (size_t o = 0; o < rs->x->stmt->nouts; o++) {
        ms_value v;
        ms_exec_value(rs->x, r, o, &v);
        off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s=", o ? "," : "",
                                rs->x->stmt->outs[o].name);
        switch (v.type) {
        case MS_TYPE_NULL:
            off += (size_t)snprintf(line + off, sizeof(line) - off, "NULL");
            break;
        case MS_TYPE_STRING:
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%.*s", (int)v.s.n,
                                    (const char *)v.s.p);
            break;
        case MS_TYPE_DOUBLE:
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%g", v.d);
            break;
        default:
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%lld", (long long)v.i);
            break;
        }
    }
    assert_true(rs->n < 256);
    rs->v[rs->n++] = strdup(line);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All rows of the state (closed = 0) or of the last closed windows, sorted
 * and joined with '\n'. */
static char *dump(fixture *f, int closed)
{
    rows rs = {.x = &f->x};
    if (closed)
        ms_exec_foreach_closed(&f->x, render, &rs);
    else
        ms_exec_foreach(&f->x, render, &rs);
    qsort(rs.v, rs.n, sizeof(char *), cmpstr);
    size_t len = 1;
    for (size_t i = 0; i < rs.n; i++)
        len += strlen(rs.v[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; i < rs.n; i++) {
        strcat(out, rs.v[i]);
        strcat(out, "\n");
        free(rs.v[i]);
    }
    return out;
}

static void assert_dump(fixture *f, int closed, const char *want)
{
    char *got = dump(f, closed);
    if (strcmp(got, want) != 0)
        fail_msg("rows differ\n--- got\n%s--- want\n%s", got, want);
    free(got);
}

/* ------------------------------------------------------------------ */

static void test_wordcount_fast_path(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT word, COUNT(*) AS count FROM words GROUP BY word");
    assert_true(f.x.fast_count);
    assert_true(f.x.raw_key);
    feed(&f, "b a b\nc b\n");
    assert_int_equal(commit(&f), 3);
    feed(&f, "a\n");
    assert_int_equal(commit(&f), 1); /* only the changed group is written */
    reload(&f);
    assert_dump(&f, 0, "word=a,count=2\nword=b,count=3\nword=c,count=1\n");
    close_fixture(&f);
}

static void test_all_aggregates_with_nulls(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT k, COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, MIN(v) AS lo, "
                     "MAX(v) AS hi, AVG(v) AS mean, SUM(d) AS sd, MAX(d) AS hd "
                     "FROM csv(k STRING, v BIGINT, d DOUBLE) WHERE k <> 'skip' GROUP BY k");
    feed(&f, "x,1,0.5\nx,,\nx,5,1.5\ny,,\nskip,100,1\nx,-3,2\n");
    assert_int_equal(f.x.st.rows_filtered, 1);
    assert_int_equal(f.x.st.rows_agg, 5);
    commit(&f);
    reload(&f);
    assert_dump(&f, 0,
                "k=x,n=4,nv=3,s=3,lo=-3,hi=5,mean=1,sd=4,hd=2\n"
                "k=y,n=1,nv=0,s=NULL,lo=NULL,hi=NULL,mean=NULL,sd=NULL,hd=NULL\n");
    close_fixture(&f);
}

static void test_task_events_by_class(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT scheduling_class, event_type, COUNT(*) AS events FROM task_events "
                     "GROUP BY scheduling_class, event_type");
    /* time,missing,job,task,machine,type,user,class,prio,cpu,mem,disk,diff */
    feed(&f, "0,,1,0,,0,u,1,9,0.1,0.1,0,0\n"
             "5,,1,0,7,1,u,1,9,0.1,0.1,0,0\n"
             "9,,2,0,,0,u,0,9,0.1,0.1,0,0\n"
             "9,,1,0,7,4,u,1,9,0.1,0.1,0,0\n"
             "bad line\n");
    commit(&f);
    reload(&f);
    assert_dump(&f, 0,
                "scheduling_class=0,event_type=SUBMIT,events=1\n"
                "scheduling_class=1,event_type=FINISH,events=1\n"
                "scheduling_class=1,event_type=SCHEDULE,events=1\n"
                "scheduling_class=1,event_type=SUBMIT,events=1\n");
    assert_int_equal(ms_format_malformed(f.fmt, MS_MALFORMED_COLUMN_COUNT), 1);
    close_fixture(&f);
}

static void test_tumble_watermark_append(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT window_start, window_end, k, COUNT(*) AS n FROM csv(t TIMESTAMP, k "
                     "STRING) WATERMARK FOR t AS t - INTERVAL '10' MINUTE "
                     "GROUP BY TUMBLE(t, INTERVAL '1' HOUR), k EMIT APPEND");
    char in[256];
    /* Batch 1: two rows in hour 0, one in hour 1 (00:50 and 01:05). */
    snprintf(in, sizeof(in), "%lld,a\n%lld,a\n%lld,b\n", (long long)(10 * MIN),
             (long long)(50 * MIN), (long long)(HOUR + 5 * MIN));
    feed(&f, in);
    commit(&f);
    /* Watermark = 01:05 - 10 min = 00:55: hour 0 is still open. */
    assert_int_equal(f.x.watermark, HOUR - 5 * MIN);
    assert_int_equal(f.x.nclosed, 0);
    /* Batch 2: 01:20 closes hour 0 (watermark 01:10); 00:40 is late (< 00:55). */
    snprintf(in, sizeof(in), "%lld,b\n%lld,a\n", (long long)(HOUR + 20 * MIN),
             (long long)(40 * MIN));
    feed(&f, in);
    assert_int_equal(f.x.st.rows_late, 1);
    commit(&f);
    char want[256];
    snprintf(want, sizeof(want), "window_start=0,window_end=%lld,k=a,n=2\n", (long long)HOUR);
    assert_dump(&f, 1, want);
    /* Hour 0 left the state and the checkpoint; hour 1 remains. */
    reload(&f);
    snprintf(want, sizeof(want), "window_start=%lld,window_end=%lld,k=b,n=2\n", (long long)HOUR,
             (long long)(2 * HOUR));
    assert_dump(&f, 0, want);
    assert_int_equal(f.x.watermark, HOUR + 10 * MIN);
    assert_int_equal(f.x.last_closed_start, 0);
    /* After the reload, a row of hour 0 is still late. */
    snprintf(in, sizeof(in), "%lld,a\n", (long long)(59 * MIN));
    feed(&f, in);
    assert_int_equal(f.x.st.rows_late, 1);
    assert_int_equal(f.x.st.rows_agg, 0);
    close_fixture(&f);
}

static void test_hop_windows(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT window_start, COUNT(*) AS n, SUM(v) AS s FROM csv(t TIMESTAMP, v "
                     "BIGINT) GROUP BY HOP(t, INTERVAL '20' MINUTE, INTERVAL '1' HOUR)");
    char in[128];
    /* 00:30 lies in the windows starting -00:20, 00:00, 00:20. */
    snprintf(in, sizeof(in), "%lld,1\n%lld,10\n", (long long)(30 * MIN), (long long)(45 * MIN));
    feed(&f, in);
    commit(&f);
    char want[256];
    snprintf(want, sizeof(want),
             "window_start=%lld,n=1,s=1\nwindow_start=%lld,n=2,s=11\n"
             "window_start=%lld,n=2,s=11\nwindow_start=%lld,n=1,s=10\n",
             (long long)(-20 * MIN), (long long)0, (long long)(20 * MIN), (long long)(40 * MIN));
    /* Sorted as strings: "-1200000000" < "0" < "1200000000" < "2400000000". */
    assert_dump(&f, 0, want);
    close_fixture(&f);
}

static void test_edge_times_and_signed_zero(void **state)
{
    (void)state;
    fixture f;
    /* A row at 2^63-1 (the trace's "after the end") lands in the last window. */
    open_fixture(&f, "SELECT window_start, COUNT(*) AS n FROM csv(t TIMESTAMP) "
                     "GROUP BY TUMBLE(t, INTERVAL '1' HOUR)");
    feed(&f, "9223372036854775807\n0\n");
    assert_int_equal(f.x.st.rows_agg, 2);
    assert_int_equal(f.x.table.n, 2);
    close_fixture(&f);
    /* -0.0 and 0.0 are one group. */
    open_fixture(&f, "SELECT d, COUNT(*) AS n FROM csv(d DOUBLE) GROUP BY d");
    feed(&f, "0.0\n-0.0\n1.5\n");
    assert_int_equal(f.x.table.n, 2);
    close_fixture(&f);
}

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(ms_exec_floor(59, 60), 0);
    assert_int_equal(ms_exec_floor(60, 60), 60);
    assert_int_equal(ms_exec_floor(-1, 60), -60);
    assert_int_equal(ms_exec_floor(-60, 60), -60);
}

static void message(ms_runtime *rt, const char *topic, int64_t offset, const char *value)
{
    ms_value meta[MS_META_NCOLS];
    for (int i = 0; i < MS_META_NCOLS; i++)
        meta[i] = ms_value_null();
    meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)topic, strlen(topic));
    meta[MS_META_PARTITION] = ms_value_int(0);
    meta[MS_META_OFFSET] = ms_value_int(offset);
    const ms_input *in = ms_runtime_input(rt);
    ms_part part = {.topic = topic, .partition = 0};
    in->ops->part(in->ud, &part, topic, (uint64_t)offset);
    in->ops->record(in->ud, meta, (const uint8_t *)value, strlen(value));
}

static int64_t total_count(const ms_exec *x)
{
    ms_rowset rs;
    ms_rowset_init(&rs, x);
    ms_rowset_add_all(&rs, x, INT64_MIN);
    int64_t n = 0;
    for (size_t i = 0; i < rs.n; i++) {
        ms_value v;
        ms_rowset_value(&rs, i, x->stmt->nouts - 1, &v);
        n += v.i;
    }
    ms_rowset_free(&rs);
    return n;
}

/* Messages (Kafka) are routed by TOPIC; a statement without TOPIC sees all
 * of them; metadata columns reach WHERE; malformed records are counted per
 * statement; words are split out of whole messages. */
static void test_runtime_messages_by_topic(void **state)
{
    (void)state;
    const char *sql =
        "CREATE QUERY tasks AS SELECT event_type, COUNT(*) AS n FROM task_events\n"
        "  TOPIC 'task-events' GROUP BY event_type;\n"
        "CREATE QUERY jobs AS SELECT event_type, COUNT(*) AS n FROM job_events\n"
        "  TOPIC 'job-events' GROUP BY event_type;\n"
        "CREATE QUERY words AS SELECT word, COUNT(*) AS n FROM words WHERE offset >= 1\n"
        "  GROUP BY word;\n";
    char err[512];
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse(sql, strlen(sql), "t.sql", "t", &p, err, sizeof(err)), 0);
    ms_runtime rt;
    ms_runtime_opts o = {.max_word_bytes = 30, .max_record_bytes = 1024};
    assert_int_equal(ms_runtime_init(&rt, p, &o, err, sizeof(err)), 0);
    message(&rt, "task-events", 0, "0,,1,0,,0,u,2,9,0.1,0.2,0,0");
    message(&rt, "task-events", 1, "5,,1,0,,1,u,2,9,0.1,0.2,0,0");
    message(&rt, "task-events", 2, "5,,1,0,,99,u,2,9,0.1,0.2,0,0"); /* bad event type */
    message(&rt, "job-events", 3, "0,,7,0,u,3,name,logical");
    message(&rt, "job-events", 4, "0,,7,4"); /* 4 columns, not 8 */
    message(&rt, "other", 5, "x yy averyveryveryveryveryverylongword");
    const ms_stmt_rt *tasks = &rt.st[0], *jobs = &rt.st[1], *words = &rt.st[2];
    assert_int_equal(total_count(&tasks->x), 2);
    assert_int_equal(tasks->records, 3);
    assert_int_equal(tasks->parser->malformed[MS_MALFORMED_BAD_VALUE], 1);
    assert_int_equal(tasks->parser->malformed[MS_MALFORMED_COLUMN_COUNT], 0);
    assert_int_equal(total_count(&jobs->x), 1);
    assert_int_equal(jobs->parser->malformed[MS_MALFORMED_COLUMN_COUNT], 1);
    /* words: every message (no TOPIC), offset >= 1 keeps all but the first */
    assert_int_equal(words->records, 6);
    assert_int_equal(ms_runtime_rows(&rt), 6);
    assert_int_equal(words->parser->malformed[MS_MALFORMED_WORD_TOO_LONG], 1);
    assert_int_equal(words->x.st.rows_filtered, 1); /* the words of offset 0: "0,,1,..." */
    assert_non_null(ms_table_find(&words->x.table, (const uint8_t *)"yy", 2));
    assert_non_null(ms_table_find(&words->x.table, (const uint8_t *)"0,,7,4", 6));
    assert_int_equal(words->x.table.n, 6);
    ms_runtime_free(&rt);
    ms_sql_program_free(p);
}

/* The trace's sentinel times carry no event time for a windowed statement
 * and count normally for an unwindowed one. */
static void test_trace_sentinel_times(void **state)
{
    (void)state;
    const char *trace = "0,,1,0,,0,u,2,9,0.1,0.2,0,0\n"
                        "9223372036854775807,,1,0,,4,u,2,9,0.1,0.2,0,0\n"
                        "3600000000,,1,0,,1,u,2,9,0.1,0.2,0,0\n";
    fixture f;
    open_fixture(&f, "SELECT window_start, COUNT(*) AS n FROM task_events\n"
                     "  WATERMARK FOR time AS time - INTERVAL '1' MINUTE\n"
                     "  GROUP BY TUMBLE(time, INTERVAL '1' HOUR) EMIT APPEND;");
    feed(&f, trace);
    assert_int_equal(f.x.st.rows_no_time, 2);
    assert_int_equal(f.x.st.rows_agg, 1);
    assert_int_equal(f.x.table.n, 1); /* no window in year 294247, none at 0 */
    assert_int_equal(f.x.max_event, HOUR);
    close_fixture(&f);
    open_fixture(&f, "SELECT event_type, COUNT(*) AS n FROM task_events GROUP BY event_type;");
    feed(&f, trace);
    assert_int_equal(f.x.st.rows_no_time, 0);
    assert_int_equal(f.x.st.rows_agg, 3);
    close_fixture(&f);
}

/* Rows of two partitions through the runtime: the watermark is the
 * minimum over them, so the partition behind keeps its rows. */
static void test_runtime_watermark_per_partition(void **state)
{
    (void)state;
    const char *sql = "SELECT window_start, COUNT(*) AS n FROM task_events TOPIC 't'\n"
                      "  WATERMARK FOR time AS time - INTERVAL '10' MINUTE\n"
                      "  GROUP BY TUMBLE(time, INTERVAL '1' HOUR) EMIT APPEND;";
    char err[512];
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse(sql, strlen(sql), "t.sql", "t", &p, err, sizeof(err)), 0);
    ms_runtime rt;
    ms_runtime_opts o = {.max_word_bytes = 30, .max_record_bytes = 1024, .watermark_idle_sec = 60};
    assert_int_equal(ms_runtime_init(&rt, p, &o, err, sizeof(err)), 0);
    ms_exec *x = &rt.st[0].x;
    const ms_input *in = ms_runtime_input(&rt);
    ms_value meta[MS_META_NCOLS];
    for (int i = 0; i < MS_META_NCOLS; i++)
        meta[i] = ms_value_null();
    meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)"t", 1);
    char line[128];
    /* Partition 0 runs 5 hours ahead of partition 1, both sending. */
    for (int batch = 0; batch < 4; batch++) {
        for (int32_t part = 0; part < 2; part++) {
            ms_part mp = {.topic = "t", .partition = part};
            in->ops->part(in->ud, &mp, "t", 0);
            for (int i = 0; i < 6; i++) {
                int64_t t = (int64_t)(part == 0 ? 5 : 0) * HOUR + batch * HOUR + i * 10 * MIN + 1;
                int n =
                    snprintf(line, sizeof(line), "%lld,,1,0,,0,u,2,9,0.1,0.2,0,0", (long long)t);
                in->ops->record(in->ud, meta, (const uint8_t *)line, (size_t)n);
            }
        }
        ms_part_info parts[] = {{{"t", 0}, 0}, {{"t", 1}, 0}};
        ms_exec_set_sources(x, parts, 2, (double)batch);
        ms_ckpt_batch *wb = ms_ckpt_batch_new();
        ms_exec_commit(x, wb);
        ms_exec_committed(x);
        ms_ckpt_batch_free(wb);
        /* partition 1's latest row: batch hour + 50 min; watermark 10 min behind */
        assert_int_equal(x->watermark, batch * HOUR + 40 * MIN + 1);
    }
    assert_int_equal(x->st.rows_late, 0);
    assert_int_equal(x->st.rows_agg, 48);
    assert_int_equal(x->wm.n, 2);
    ms_runtime_free(&rt);
    ms_sql_program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_sentinel_times),
        cmocka_unit_test(test_runtime_watermark_per_partition),
        cmocka_unit_test(test_wordcount_fast_path),
        cmocka_unit_test(test_all_aggregates_with_nulls),
        cmocka_unit_test(test_task_events_by_class),
        cmocka_unit_test(test_tumble_watermark_append),
        cmocka_unit_test(test_hop_windows),
        cmocka_unit_test(test_edge_times_and_signed_zero),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_runtime_messages_by_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
