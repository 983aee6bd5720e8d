/*
 * ms_exec: the statement executor, driven by the real query parser, the
 * real record formats and a real RocksDB checkpoint.  Expected results are
 * computed by hand from the input rows listed in each test, or, for the
 * state-larger-than-memory tests, by an oracle kept beside the executor.
 */
#include <setjmp.h>
#include <signal.h>
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
#include "state/ms_codec.h"

static int count_legacy(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    ++*(int *)ud;
    return 0;
}

#define HOUR INT64_C(3600000000)
#define MIN  INT64_C(60000000)

typedef struct fixture {
    char root[64];
    char dir[96];
    ms_sql_program *prog;
    ms_format *fmt;
    ms_exec x;
    ms_ckpt *ck; /* open for the whole test: a loaded executor reads it */
    volatile sig_atomic_t stop;
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
    char err[512];
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/ms_exec_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/chk", f->root);
    setup_query(f, sql);
    assert_int_equal(ms_ckpt_open(f->dir, &f->ck, err, sizeof(err)), 0);
}

static void close_fixture(fixture *f)
{
    ms_exec_free(&f->x);
    ms_ckpt_close(f->ck);
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
    assert_int_equal(ms_exec_prepare(&f->x, err, sizeof(err)), 0);
    ms_ckpt_batch *wb = ms_ckpt_batch_for(f->ck);
    size_t n = ms_exec_commit(&f->x, wb);
    assert_false(ms_exec_failed(&f->x, err, sizeof(err)));
    assert_int_equal(ms_ckpt_commit(f->ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_exec_committed(&f->x);
    return n;
}

/* Drops the executor and loads it again from the checkpoint, with a memory
 * bound (0: none) and an in-memory top-K of top_k rows. */
static void reload_with(fixture *f, uint64_t memory, size_t top_k)
{
    char err[512];
    ms_exec_free(&f->x);
    ms_exec_init(&f->x, &f->prog->stmts[0]);
    ms_exec_limits lim = {.memory = memory, .stop = &f->stop, .top_k = top_k};
    ms_exec_set_limits(&f->x, &lim);
    assert_int_equal(ms_exec_load(&f->x, f->ck, err, sizeof(err)), 0);
}

static void reload(fixture *f)
{
    reload_with(f, 0, 0);
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

/* ------------------------------------------------ state larger than memory */

#define WC "SELECT word, COUNT(*) AS count FROM words GROUP BY word"
#define KS "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM csv(k STRING, v BIGINT) GROUP BY k"

/* Every row of the state by group index ("w%05d" / "k%05d"), a and n of
 * the last aggregate; a row twice or an unknown key fails. */
typedef struct collect {
    int64_t *a;
    int *seen;
    size_t n, rows;
    size_t agg;
} collect;

static void collect_row(void *ud, const ms_exec_row *r)
{
    collect *c = ud;
    char k[16];
    const uint8_t *key = r->key;
    if (r->klen == 7 && key[0] == 1) /* a csv group key: tag byte, then the string */
        key++;
    else
        assert_true(r->klen == 6);
    memcpy(k, key, 6);
    k[6] = '\0';
    size_t i = (size_t)strtoul(k + 1, NULL, 10);
    assert_true(i < c->n);
    assert_false(c->seen[i]);
    c->seen[i] = 1;
    c->a[i] = r->accs[c->agg].a;
    c->rows++;
}

/* The whole state (memory and RocksDB) equals the oracle: groups i with
 * count[i] > 0, aggregate agg equal to want[i]. */
static void assert_state_of(fixture *f, const int64_t *count, const int64_t *want, size_t n,
                            size_t agg)
{
    collect c = {calloc(n, sizeof(int64_t)), calloc(n, sizeof(int)), n, 0, agg};
    assert_int_equal(ms_exec_foreach(&f->x, collect_row, &c), 0);
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        groups += count[i] != 0;
        if ((count[i] != 0) != c.seen[i])
            fail_msg("group %zu: %s", i,
                     c.seen[i] ? "in the state, not in the input"
                               : "in the input, not in the state");
        if (want[i] != (c.seen[i] ? c.a[i] : 0))
            fail_msg("group %zu: %lld, want %lld", i, (long long)(c.seen[i] ? c.a[i] : 0),
                     (long long)want[i]);
    }
    assert_int_equal(c.rows, groups);
    assert_int_equal(ms_exec_groups(&f->x), groups);
    free(c.a);
    free(c.seen);
}

static void assert_state(fixture *f, const int64_t *count, size_t n)
{
    assert_state_of(f, count, count, n, 0);
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

#define NKEYS 20000

/* One batch of `rows` random keys among the first `range`: word count (the
 * deferred MultiGet) or k,v rows (a point get per miss). */
static void random_batch(fixture *f, int words, int64_t *count, int64_t *sum, size_t nrows,
                         size_t range)
{
    char line[64];
    for (size_t r = 0; r < nrows; r++) {
        size_t i = (size_t)(rnd() % range);
        int64_t v = (int64_t)(rnd() % 2001) - 1000;
        int n = words ? snprintf(line, sizeof(line), "w%05zu", i)
                      : snprintf(line, sizeof(line), "k%05zu,%lld", i, (long long)v);
        ms_format_record(f->fmt, (const uint8_t *)line, (size_t)n, NULL, ms_exec_emit, &f->x);
        count[i]++;
        if (sum)
            sum[i] += v;
    }
}

static void state_larger_than_memory(int words)
{
    fixture f;
    open_fixture(&f, words ? WC : KS);
    int64_t *count = calloc(NKEYS, sizeof(int64_t)), *sum = calloc(NKEYS, sizeof(int64_t));
    /* a first batch, unbounded, of every key */
    random_batch(&f, words, count, words ? NULL : sum, 3 * NKEYS, NKEYS);
    commit(&f);
    /* 256 KiB: a table of at most 2048 slots, about 700 changes a batch */
    reload_with(&f, 256 << 10, 10);
    assert_int_equal(f.x.table.n, 0);
    assert_false(f.x.table.complete);
    for (int b = 0; b < 40; b++) {
        random_batch(&f, words, count, words ? NULL : sum, 400, NKEYS);
        commit(&f);
        assert_true(f.x.table.nslots <= 2048);
    }
    assert_false(f.x.failed);
    assert_true(f.x.st.state_reads > 0);
    assert_true(f.x.table.evictions > 0);
    assert_state(&f, count, NKEYS);
    if (!words)
        assert_state_of(&f, count, sum, NKEYS, 1);
    /* and from the checkpoint alone */
    reload_with(&f, 256 << 10, 10);
    assert_state(&f, count, NKEYS);
    free(count);
    free(sum);
    close_fixture(&f);
}

static void test_state_larger_than_memory_count(void **state)
{
    (void)state;
    state_larger_than_memory(1);
}

static void test_state_larger_than_memory_point_gets(void **state)
{
    (void)state;
    state_larger_than_memory(0);
}

/* A batch whose changes cannot fit: the executor fails with a sentence
 * and raises the stop flag, and commits nothing. */
static void test_bound_exceeded_fails_the_batch(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, WC);
    feed(&f, "a b c\n");
    commit(&f);
    reload_with(&f, 256 << 10, 10);
    int64_t *count = calloc(NKEYS, sizeof(int64_t));
    random_batch(&f, 1, count, NULL, 5000, NKEYS);
    char err[1024];
    assert_true(ms_exec_failed(&f.x, err, sizeof(err)));
    assert_int_equal(f.stop, 1);
    assert_non_null(strstr(err, "query q:"));
    assert_non_null(strstr(err, "--state-memory"));
    assert_non_null(strstr(err, "--max-bytes-per-trigger"));
    assert_non_null(strstr(err, "re-runs it exactly"));
    assert_int_equal(ms_exec_prepare(&f.x, err, sizeof(err)), MS_EIO);
    ms_ckpt_batch *wb = ms_ckpt_batch_for(f.ck);
    assert_int_equal(ms_exec_commit(&f.x, wb), 0);
    assert_int_equal(ms_ckpt_batch_count(wb), 0);
    ms_ckpt_batch_free(wb);
    free(count);
    close_fixture(&f);
}

/* After a restart nothing of the state is read: the group count and the
 * top-K come from the totals record. */
static void test_restart_reads_no_state(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, WC);
    char line[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(line, sizeof(line), "w%05d", i % 100000);
        ms_format_record(f.fmt, (const uint8_t *)line, (size_t)n, NULL, ms_exec_emit, &f.x);
    }
    for (int i = 0; i < 7; i++)
        for (int r = 0; r <= i; r++) {
            int n = snprintf(line, sizeof(line), "w%05d", 500 + i);
            ms_format_record(f.fmt, (const uint8_t *)line, (size_t)n, NULL, ms_exec_emit, &f.x);
        }
    commit(&f);
    reload_with(&f, 1 << 20, 3); /* records a top-3 (the first load counts) */
    reload_with(&f, 1 << 20, 3);
    assert_int_equal(f.x.table.n, 0);
    assert_int_equal(f.x.st.state_reads, 0);
    assert_int_equal(ms_exec_groups(&f.x), 100000);
    rows rs = {.x = &f.x};
    ms_exec_foreach_top(&f.x, render, &rs);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.v[0], "word=w00506,count=8");
    assert_string_equal(rs.v[1], "word=w00505,count=7");
    assert_string_equal(rs.v[2], "word=w00504,count=6");
    for (size_t i = 0; i < rs.n; i++)
        free(rs.v[i]);
    feed(&f, "w00001 brand-new\n");
    commit(&f);
    assert_int_equal(ms_exec_groups(&f.x), 100001);
    assert_int_equal(ms_table_find(&f.x.table, (const uint8_t *)"w00001", 6)->value, 2);
    assert_int_equal(ms_table_find(&f.x.table, (const uint8_t *)"brand-new", 9)->value, 1);
    close_fixture(&f);
}

typedef struct closed_check {
    const ms_exec *x;
    size_t twos, ones;
} closed_check;

/* A closed row: k%04d with n=2, or "next" with n=1. */
static void check_closed(void *ud, const ms_exec_row *r)
{
    closed_check *c = ud;
    ms_value k, n;
    ms_exec_value(c->x, r, 1, &k);
    ms_exec_value(c->x, r, 2, &n);
    if (k.s.n == 4 && memcmp(k.s.p, "next", 4) == 0 && n.i == 1)
        c->ones++;
    else if (k.s.n == 5 && k.s.p[0] == 'k' && n.i == 2)
        c->twos++;
    else
        fail_msg("unexpected closed row %.*s n=%lld", (int)k.s.n, (const char *)k.s.p,
                 (long long)n.i);
}

/* Windows close by key range: with most of an hour's groups evicted from
 * memory, the commit that passes the hour closes every one of them (read
 * back from RocksDB), and they leave RocksDB too. */
static void test_windows_close_by_key_range(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "SELECT window_start, k, COUNT(*) AS n FROM csv(t TIMESTAMP, k STRING) "
                     "WATERMARK FOR t AS t - INTERVAL '1' MINUTE "
                     "GROUP BY TUMBLE(t, INTERVAL '1' HOUR), k EMIT APPEND");
    /* 96 KiB: at most 1024 slots (768 groups), about 250 changes a batch */
    reload_with(&f, 96 << 10, 0);
    char line[64];
    for (int h = 0; h < 4; h++) {
        /* 1000 groups in hour h, 100 a batch, 2 rows each, from h:02 on (the
         * watermark stands at h:01) */
        for (int b = 0; b < 10; b++) {
            for (int k = b * 100; k < b * 100 + 100; k++)
                for (int r = 0; r < 2; r++) {
                    int n = snprintf(line, sizeof(line), "%lld,k%04d",
                                     (long long)(h * HOUR + (b * 5 + r + 2) * MIN), k);
                    ms_format_record(f.fmt, (const uint8_t *)line, (size_t)n, NULL, ms_exec_emit,
                                     &f.x);
                }
            commit(&f);
            assert_int_equal(f.x.nclosed, 0);
        }
        /* one row at (h+1):02 moves the watermark past hour h's end */
        int n = snprintf(line, sizeof(line), "%lld,next", (long long)((h + 1) * HOUR + 2 * MIN));
        ms_format_record(f.fmt, (const uint8_t *)line, (size_t)n, NULL, ms_exec_emit, &f.x);
        commit(&f);
        /* closed: hour h's 1000 groups, plus the previous "next" row's */
        assert_int_equal(f.x.nclosed, h == 0 ? 1000 : 1001);
        assert_int_equal(f.x.last_closed_start, h * HOUR);
        assert_int_equal(ms_exec_groups(&f.x), 1);
        closed_check cc = {&f.x, 0, 0};
        ms_exec_foreach_closed(&f.x, check_closed, &cc);
        assert_int_equal(cc.twos, 1000);
        assert_int_equal(cc.ones, h == 0 ? 0 : 1);
    }
    assert_true(f.x.table.evictions > 0); /* the closed groups were mostly in RocksDB only */
    rows rs = {.x = &f.x};
    assert_int_equal(ms_exec_foreach(&f.x, render, &rs), 0);
    assert_int_equal(rs.n, 1); /* only the open hour's group, in memory and RocksDB alike */
    char want[96];
    snprintf(want, sizeof(want), "window_start=%lld,k=next,n=1", (long long)(4 * HOUR));
    assert_string_equal(rs.v[0], want);
    free(rs.v[0]);
    reload_with(&f, 96 << 10, 0);
    assert_int_equal(ms_exec_groups(&f.x), 1);
    close_fixture(&f);
}

/* ----------------------------------------------------------- top-K, pages */

/* The whole state in result order (the reference). */
static void sorted_state(fixture *f, ms_rowset *all)
{
    ms_rowset_init(all, &f->x);
    assert_int_equal(ms_rowset_add_all(all, &f->x, INT64_MIN), 0);
    ms_rowset_sort(all);
}

static void assert_same_rows(const ms_rowset *a, size_t from, size_t n, const ms_rowset *b)
{
    assert_int_equal(b->n, n);
    for (size_t i = 0; i < n; i++) {
        ms_exec_row x, y;
        ms_rowset_row(a, from + i, &x);
        ms_rowset_row(b, i, &y);
        if (x.klen != y.klen || memcmp(x.key, y.key, x.klen) != 0)
            fail_msg("row %zu: key %.*s, want %.*s", from + i, (int)y.klen, (const char *)y.key,
                     (int)x.klen, (const char *)x.key);
        for (size_t j = 0; j < a->naggs; j++)
            assert_true(x.accs[j].a == y.accs[j].a && x.accs[j].n == y.accs[j].n);
    }
}

static void assert_top_exact(fixture *f, size_t k)
{
    ms_rowset all, top;
    sorted_state(f, &all);
    ms_rowset_init(&top, &f->x);
    ms_exec_foreach_top(&f->x, ms_rowset_add_cb, &top);
    assert_same_rows(&all, 0, all.n < k ? all.n : k, &top);
    ms_rowset_free(&all);
    ms_rowset_free(&top);
}

/* The kept top-K equals the first K rows of the sorted state after every
 * commit: COUNT (only grows), MIN and SUM (fall: the full-scan fallback).
 * Batches of `nrows` rows (0: 1 to 40): 300 take the heap, up to 40 move rows in place
 * (ms_exec.c, TOP_INCR_MAX); a restart with a smaller K keeps the best. */
static void top_k_exact(const char *sql, int words, size_t nrows, int batches)
{
    fixture f;
    open_fixture(&f, sql);
    int64_t *count = calloc(NKEYS, sizeof(int64_t)), *sum = calloc(NKEYS, sizeof(int64_t));
    random_batch(&f, words, count, sum, 2000, 3000);
    commit(&f);
    reload_with(&f, 256 << 10, 7);
    for (int b = 0; b < batches; b++) {
        random_batch(&f, words, count, sum, nrows ? nrows : 1 + (size_t)(rnd() % 40), 3000);
        commit(&f);
        assert_top_exact(&f, 7);
        if (b == batches / 2) { /* a restart with a smaller K */
            reload_with(&f, 256 << 10, 5);
            assert_top_exact(&f, 5);
            reload_with(&f, 256 << 10, 7); /* back to 7: the record's 5 rows, then a scan */
        }
    }
    free(count);
    free(sum);
    close_fixture(&f);
}

static void test_top_k_exact_count(void **state)
{
    (void)state;
    top_k_exact(WC, 1, 300, 15);
    top_k_exact(WC, 1, 0, 200);
}

static void test_top_k_exact_min(void **state)
{
    (void)state;
    top_k_exact("SELECT k, MIN(v) AS lo FROM csv(k STRING, v BIGINT) GROUP BY k", 0, 300, 15);
    top_k_exact("SELECT k, MIN(v) AS lo FROM csv(k STRING, v BIGINT) GROUP BY k", 0, 0, 200);
}

static void test_top_k_exact_sum(void **state)
{
    (void)state;
    top_k_exact("SELECT k, SUM(v) AS s FROM csv(k STRING, v BIGINT) GROUP BY k", 0, 0, 200);
}

/* Where the top moves in place, only its K rows' keys are kept: rows that
 * leave are compacted away (the key buffer stays within a bound). */
static void test_top_k_keys_bounded(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, WC);
    int64_t *count = calloc(NKEYS, sizeof(int64_t));
    random_batch(&f, 1, count, NULL, 2000, 3000);
    commit(&f);
    reload_with(&f, 256 << 10, 7);
    for (int b = 0; b < 3000; b++) { /* 50 keys: rows of the top change ~1000 times */
        random_batch(&f, 1, count, NULL, 3, 50);
        commit(&f);
    }
    assert_top_exact(&f, 7);
    assert_true(f.x.top.keys.len <= 4096 + 2 * 7 * 6);
    free(count);
    close_fixture(&f);
}

/* Pages selected from a snapshot equal slices of the fully sorted state:
 * ties (counts), negative and large sums (mixed histogram buckets),
 * doubles and NULLs (AVG). */
static void pages_match(const char *sql, const char *const *lines, size_t nlines)
{
    fixture f;
    open_fixture(&f, sql);
    for (size_t i = 0; i < nlines; i++)
        ms_format_record(f.fmt, (const uint8_t *)lines[i], strlen(lines[i]), NULL, ms_exec_emit,
                         &f.x);
    commit(&f);
    reload_with(&f, 256 << 10, 0);
    ms_rowset all;
    sorted_state(&f, &all);
    ms_ckpt_snap *snap = ms_ckpt_snapshot(f.ck);
    ms_exec_hist *cache = NULL;
    size_t n = all.n;
    const uint64_t offs[] = {0, 1, 7, n / 3, n / 2 + 1, n - 5, n, n + 3};
    const size_t lims[] = {1, 5, 33, 1000};
    char err[512];
    for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
        for (size_t l = 0; l < sizeof(lims) / sizeof(lims[0]); l++) {
            ms_rowset page;
            ms_rowset_init(&page, &f.x);
            assert_int_equal(ms_exec_page(&f.x, f.ck, snap, (o & 1) ? &cache : NULL, offs[o],
                                          lims[l], ms_rowset_add_cb, &page, err, sizeof(err)),
                             0);
            size_t want = offs[o] >= n ? 0 : (n - offs[o] < lims[l] ? n - offs[o] : lims[l]);
            assert_same_rows(&all, (size_t)offs[o], want, &page);
            ms_rowset_free(&page);
        }
    ms_exec_hist_free(cache);
    ms_ckpt_snapshot_release(snap);
    ms_rowset_free(&all);
    close_fixture(&f);
}

static void test_pages_match_sorted_state(void **state)
{
    (void)state;
    enum { N = 3000 };
    char **lines = calloc(4 * N, sizeof(char *));
    size_t n = 0;
    char buf[64];
    /* word count: counts 1..4 for most words (big tie groups), a few large */
    for (int i = 0; i < N; i++) {
        int reps = i < 20 ? 50 + i % 7 : 1 + i % 4;
        size_t len = 0;
        char *l = calloc(1, (size_t)reps * 8 + 1);
        for (int r = 0; r < reps; r++)
            len += (size_t)sprintf(l + len, "w%05d ", i);
        lines[n++] = l;
    }
    pages_match(WC, (const char *const *)lines, n);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    /* sums: negatives, zeros, and many values within one histogram bucket */
    n = 0;
    for (int i = 0; i < N; i++) {
        long long v = i % 5 == 0   ? -(long long)(i % 13)
                      : i % 5 == 1 ? 1000 + i % 9
                      : i % 5 == 2 ? 0
                                   : (long long)i * 1000003;
        snprintf(buf, sizeof(buf), "k%05d,%lld", i, v);
        lines[n++] = strdup(buf);
    }
    pages_match(KS, (const char *const *)lines, n);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    /* AVG: doubles, and NULL for groups without a value */
    n = 0;
    for (int i = 0; i < N; i++) {
        if (i % 6 == 0)
            snprintf(buf, sizeof(buf), "k%05d,", i);
        else
            snprintf(buf, sizeof(buf), "k%05d,%d.%d", i, (i % 17) - 8, i % 10);
        lines[n++] = strdup(buf);
    }
    pages_match("SELECT k, AVG(v) AS mean FROM csv(k STRING, v DOUBLE) GROUP BY k",
                (const char *const *)lines, n);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* ------------------------------------------------------- format 1 upgrade */

/* A checkpoint of format 1 (state records in the default column family,
 * no totals record) is moved to format 2 once, when it is loaded. */
static void test_format1_checkpoint_is_upgraded(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, WC);
    char err[512];
    uint8_t one = 1;
    assert_int_equal(ms_ckpt_put_sync(f.ck, "m:format", 8, &one, 1, err, sizeof(err)), 0);
    ms_ckpt_batch *wb = ms_ckpt_batch_for(f.ck);
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    for (int i = 0; i < 5000; i++) {
        char w[16];
        int n = snprintf(w, sizeof(w), "w%05d", i);
        ms_buf_reset(&k);
        ms_buf_reset(&v);
        ms_codec_key_state(&k, "q", (const uint8_t *)w, (size_t)n);
        ms_codec_encode_count(&v, i % 9 + 1);
        ms_ckpt_batch_put_legacy(wb, k.data, k.len, v.data, v.len);
    }
    assert_int_equal(ms_ckpt_commit(f.ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    reload_with(&f, 1 << 20, 5);
    int64_t want[NKEYS] = {0};
    for (int i = 0; i < 5000; i++)
        want[i] = i % 9 + 1;
    /* keys "w%05d" are 6 bytes, as collect_row expects */
    assert_state(&f, want, 5000);
    ms_buf fmt = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(f.ck, "m:format", 8, &fmt, err, sizeof(err)), 0);
    assert_int_equal((uint8_t)fmt.data[0], MS_CKPT_FORMAT);
    int left = 0;
    ms_buf_reset(&k);
    ms_codec_key_state(&k, "q", NULL, 0);
    assert_int_equal(
        ms_ckpt_scan_legacy(f.ck, k.data, k.len, count_legacy, &left, err, sizeof(err)), 0);
    assert_int_equal(left, 0);
    /* the upgraded state is counted and ranked: top-5 are the 9s */
    rows rs = {.x = &f.x};
    ms_exec_foreach_top(&f.x, render, &rs);
    assert_int_equal(rs.n, 5);
    assert_string_equal(rs.v[0], "word=w00008,count=9");
    for (size_t i = 0; i < rs.n; i++)
        free(rs.v[i]);
    ms_buf_free(&k);
    ms_buf_free(&v);
    ms_buf_free(&fmt);
    close_fixture(&f);
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
        cmocka_unit_test(test_state_larger_than_memory_count),
        cmocka_unit_test(test_state_larger_than_memory_point_gets),
        cmocka_unit_test(test_bound_exceeded_fails_the_batch),
        cmocka_unit_test(test_restart_reads_no_state),
        cmocka_unit_test(test_windows_close_by_key_range),
        cmocka_unit_test(test_top_k_exact_count),
        cmocka_unit_test(test_top_k_exact_min),
        cmocka_unit_test(test_top_k_exact_sum),
        cmocka_unit_test(test_top_k_keys_bounded),
        cmocka_unit_test(test_pages_match_sorted_state),
        cmocka_unit_test(test_format1_checkpoint_is_upgraded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
