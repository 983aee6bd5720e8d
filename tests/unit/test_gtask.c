/*
 * Group mode's stage 2 without a broker (cmocka): partial aggregates merged
 * into an executor equal the rows aggregated directly (every aggregate, NULLs
 * included), a partial of a closed window is refused and counted late, a
 * task closes a window only once every upstream partition has announced an
 * event time past it (the minimum), its commit hands changes, tombstones and
 * progress to the changelog in the codec's layout, and its local cache on a
 * real RocksDB checkpoint (temp dir) gives the same state back.
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

#include "engine/ms_gtask.h"
#include "engine/ms_rowset.h"
#include "mstream/mstream.h"
#include "parse/ms_format.h"
#include "query/ms_exec.h"
#include "sql/ms_sql.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec_group.h"

#define HOUR INT64_C(3600000000)
#define MIN  INT64_C(60000000)

static ms_sql_program *parse(const char *sql)
{
    ms_sql_program *p = NULL;
    char err[1024];
    if (ms_sql_parse(sql, strlen(sql), "test.sql", "q", &p, err, sizeof(err)) != 0)
        fail_msg("query did not parse: %s", err);
    return p;
}

static void feed(ms_format *f, ms_exec *x, const char *lines)
{
    for (const char *p = lines; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        ms_format_record(f, (const uint8_t *)p, n, NULL, ms_exec_emit, x);
        p += n + (nl != NULL);
    }
}

/* Every group as "key-bytes-hex=v1,v2,..." lines, sorted: a result dump
 * independent of table order. */
static void render_row(void *ud, const ms_exec_row *r)
{
    void **a = ud;
    ms_buf *b = a[0];
    const ms_exec *x = a[1];
    for (size_t i = 0; i < r->klen; i++)
        ms_buf_printf(b, "%02x", r->key[i]);
    ms_buf_putc(b, '=');
    for (size_t o = 0; o < x->stmt->nouts; o++) {
        ms_value v;
        ms_exec_value(x, r, o, &v);
        if (v.type == MS_TYPE_NULL)
            ms_buf_puts(b, "null");
        else if (v.type == MS_TYPE_DOUBLE)
            ms_buf_printf(b, "%.17g", v.d);
        else if (v.type == MS_TYPE_STRING)
            ms_buf_printf(b, "%.*s", (int)v.s.n, (const char *)v.s.p);
        else
            ms_buf_printf(b, "%lld", (long long)v.i);
        ms_buf_putc(b, ',');
    }
    ms_buf_putc(b, '\n');
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dump_str(const ms_exec *x)
{
    ms_buf b = MS_BUF_INIT;
    void *a[2] = {&b, (void *)x};
    ms_exec_foreach(x, render_row, a);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++)
        n += b.data[i] == '\n';
    char **lines = calloc(n + 1, sizeof(char *));
    size_t k = 0;
    char *save = NULL;
    if (b.data)
        for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            lines[k++] = l;
    qsort(lines, k, sizeof(char *), cmpstr);
    ms_buf out = MS_BUF_INIT;
    ms_buf_puts(&out, "");
    for (size_t i = 0; i < k; i++) {
        ms_buf_puts(&out, lines[i]);
        ms_buf_putc(&out, '\n');
    }
    free(lines);
    ms_buf_free(&b);
    return ms_buf_steal(&out, NULL);
}

/* A combiner's partials, merged into a stage-2 executor. */
typedef struct merge_ctx {
    ms_exec *into;
    ms_exec *from;
} merge_ctx;

static void merge_row(void *ud, const ms_exec_row *r)
{
    merge_ctx *c = ud;
    /* Through the value layout, as the repartition topic carries it. */
    ms_buf v = MS_BUF_INIT;
    ms_exec_encode_accs(c->from, r->accs, &v);
    ms_acc accs[8];
    assert_int_equal(ms_exec_decode_accs(c->into, (const uint8_t *)v.data, v.len, accs), 0);
    ms_exec_merge(c->into, r->key, r->klen, accs, 1);
    ms_buf_free(&v);
}

static void test_partials_equal_rows(void **state)
{
    (void)state;
    const char *sql = "SELECT user, COUNT(*) AS n, SUM(priority) AS s, MIN(cpu_request) AS lo, "
                      "MAX(cpu_request) AS hi, AVG(memory_request) AS m, COUNT(machine_id) AS c, "
                      "MIN(priority) AS plo, MAX(priority) AS phi "
                      "FROM task_events GROUP BY user";
    ms_sql_program *p = parse(sql);
    char err[256];
    ms_format *f = ms_format_new(p->stmts[0].schema, NULL, err, sizeof(err));
    assert_non_null(f);
    /* time,missing,job,task,machine,type,user,class,priority,cpu,mem,disk,diff */
    const char *parts[3] = {"1,,1,0,7,0,alice,1,5,0.5,0.25,0,0\n2,,1,1,,1,bob,0,-3,,0.5,0,0\n"
                            "3,,2,0,9,0,alice,2,11,0.125,,0,0\n",
                            "4,,3,0,,4,carol,1,,,,0,0\n5,,3,1,4,1,alice,0,-7,0.75,1.5,0,0\n",
                            "6,,4,0,2,0,bob,3,9,0.0625,0.125,0,0\n7,,4,1,,5,carol,1,2,,,0,0\n"
                            "8,,5,0,1,0,dave,0,,,,0,0\n"};
    ms_exec direct, merged;
    ms_exec_init(&direct, &p->stmts[0]);
    ms_exec_init(&merged, &p->stmts[0]);
    for (int i = 0; i < 3; i++) {
        feed(f, &direct, parts[i]);
        ms_exec comb;
        ms_exec_init(&comb, &p->stmts[0]);
        feed(f, &comb, parts[i]);
        merge_ctx c = {&merged, &comb};
        ms_exec_take(&comb, merge_row, &c);
        assert_int_equal(comb.table.n, 0); /* taken */
        ms_exec_free(&comb);
    }
    char *a = dump_str(&direct), *b = dump_str(&merged);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "alice,3,9,0.125,0.75,"));
    free(a);
    free(b);
    ms_exec_free(&direct);
    ms_exec_free(&merged);
    ms_format_free(f);
    ms_sql_program_free(p);
}

static const char *HOURLY =
    "SELECT window_start, scheduling_class, COUNT(*) AS n FROM task_events TOPIC 't' "
    "WATERMARK FOR time AS time - INTERVAL '10' MINUTE "
    "GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class EMIT APPEND";

/* A partial of (hour h, class c) with n rows, as stage 1 sends it. */
static void partial(ms_gtask *t, int64_t h, int64_t cls, int64_t n)
{
    uint8_t key[17];
    uint64_t ws = (uint64_t)(h * HOUR) ^ (UINT64_C(1) << 63);
    uint64_t cv = (uint64_t)cls ^ (UINT64_C(1) << 63);
    for (int i = 0; i < 8; i++) {
        key[i] = (uint8_t)(ws >> (56 - 8 * i));
        key[9 + i] = (uint8_t)(cv >> (56 - 8 * i));
    }
    key[8] = 1;
    ms_buf acc = MS_BUF_INIT, v = MS_BUF_INIT;
    ms_acc a = {n, n};
    ms_exec_encode_accs(&t->x, &a, &acc);
    ms_gcodec_partial(&v, (uint64_t)n, acc.data, acc.len);
    assert_int_equal(ms_gtask_feed(t, key, sizeof(key), (const uint8_t *)v.data, v.len, 1.0), 0);
    ms_buf_free(&acc);
    ms_buf_free(&v);
}

static void watermark(ms_gtask *t, int partition, int64_t max_event)
{
    char key[32];
    snprintf(key, sizeof(key), "t/%d", partition);
    ms_buf v = MS_BUF_INIT;
    ms_gcodec_watermark(&v, max_event);
    assert_int_equal(
        ms_gtask_feed(t, (const uint8_t *)key, strlen(key), (const uint8_t *)v.data, v.len, 1.0),
        0);
    ms_buf_free(&v);
}

typedef struct cl_log {
    int puts, tombstones, progress, closed;
} cl_log;

static int on_cl(void *ud, ms_gtask *t, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)t;
    cl_log *l = ud;
    ms_gcl r;
    assert_int_equal(ms_gcodec_decode_cl(k, kl, v, vl, &r), 0);
    if (r.type == MS_GCL_PROGRESS)
        l->progress++;
    else if (r.val)
        l->puts++;
    else
        l->tombstones++;
    return 0;
}

static int on_closed(void *ud, ms_gtask *t, const ms_exec_row *r)
{
    (void)t;
    (void)r;
    ((cl_log *)ud)->closed++;
    return 0;
}

static void test_task_watermark_is_the_minimum(void **state)
{
    (void)state;
    ms_sql_program *p = parse(HOURLY);
    ms_gtask t;
    ms_gtask_init(&t, &p->stmts[0], 2, 5.0);
    t.restoring = 0;
    ms_part_info up[2] = {{{"t", 0}, 0}, {{"t", 1}, 0}};
    cl_log l = {0};
    ms_gtask_sink sink = {&l, on_cl, on_closed};
    ms_ckpt_batch *wb = ms_ckpt_batch_new();

    partial(&t, 0, 1, 3);
    partial(&t, 0, 2, 1);
    partial(&t, 1, 1, 4);
    /* Partition 0 is past hour 0 (+10 min delay); partition 1 is not. */
    watermark(&t, 0, 1 * HOUR + 20 * MIN);
    watermark(&t, 1, 50 * MIN);
    assert_int_equal(ms_gtask_commit(&t, up, 2, 2.0, &sink, wb), 0);
    assert_int_equal(l.puts, 3);
    assert_int_equal(l.tombstones, 0);
    assert_int_equal(l.closed, 0);
    assert_int_equal(l.progress, 1);
    assert_int_equal(t.x.watermark, 40 * MIN);
    /* Partition 1 catches up: hour 0 closes, its two groups are emitted
     * and tombstoned; hour 1 stays. */
    watermark(&t, 1, 1 * HOUR + 15 * MIN);
    l = (cl_log){0};
    assert_int_equal(ms_gtask_commit(&t, up, 2, 3.0, &sink, wb), 0);
    assert_int_equal(l.closed, 2);
    assert_int_equal(l.tombstones, 2);
    assert_int_equal(l.puts, 0);
    assert_int_equal(t.x.table.n, 1);
    assert_int_equal(t.closed_start, 0);
    assert_int_equal(t.closed.n, 2);
    /* A partial of the closed hour is refused, its rows counted late. */
    partial(&t, 0, 3, 5);
    assert_int_equal(t.x.st.rows_late, 5);
    assert_int_equal(t.x.table.n, 1);
    /* Corrupt records are refused. */
    assert_int_equal(ms_gtask_feed(&t, (const uint8_t *)"t/0", 3, (const uint8_t *)"\x07", 1, 1.0),
                     MS_ECORRUPT);
    assert_int_equal(
        ms_gtask_feed(&t, (const uint8_t *)"no-slash", 8, (const uint8_t *)"\x02\x02", 2, 1.0),
        MS_ECORRUPT);
    ms_ckpt_batch_free(wb);
    ms_gtask_free(&t);
    ms_sql_program_free(p);
}

static void test_task_cache_round_trip(void **state)
{
    (void)state;
    char root[64], dir[96], err[512];
    snprintf(root, sizeof(root), "/tmp/ms_gtask_XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/chk", root);
    ms_ckpt *ck = NULL;
    assert_int_equal(ms_ckpt_open(dir, &ck, err, sizeof(err)), 0);
    ms_sql_program *p = parse(HOURLY);

    ms_gtask t;
    ms_gtask_init(&t, &p->stmts[0], 1, 5.0);
    t.restoring = 0;
    ms_part_info up[1] = {{{"t", 0}, 0}};
    cl_log l = {0};
    ms_gtask_sink sink = {&l, on_cl, NULL};
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    partial(&t, 3, 0, 2);
    partial(&t, 4, 1, 7);
    watermark(&t, 0, 4 * HOUR + 30 * MIN);
    assert_int_equal(ms_gtask_commit(&t, up, 1, 2.0, &sink, wb), 0);
    ms_gtask_cache_set_offset(&t, 42, wb);
    assert_int_equal(ms_ckpt_commit(ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    char *before = dump_str(&t.x);

    /* Another task of the same partition (a restart, a new owner with
     * this disk): the cache gives the same state, watermark and offset. */
    ms_gtask u;
    ms_gtask_init(&u, &p->stmts[0], 1, 5.0);
    int64_t off = -1;
    assert_int_equal(ms_gtask_cache_offset(&u, ck, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 42);
    assert_int_equal(ms_gtask_load(&u, ck, err, sizeof(err)), 0);
    char *after = dump_str(&u.x);
    assert_string_equal(before, after);
    assert_int_equal(u.x.watermark, t.x.watermark);
    /* Replaying changelog records into the cache: a tombstone removes. */
    ms_buf k = MS_BUF_INIT;
    ms_exec_row first = {0};
    int found = 0;
    const ms_table *tb = &t.x.table;
    for (size_t i = 0; i < tb->nslots && !found; i++)
        if (ms_entry_used(&tb->slots[i])) {
            first.key = ms_entry_key(&tb->slots[i]);
            first.klen = tb->slots[i].klen;
            found = 1;
        }
    assert_true(found);
    ms_gcodec_cl_entry_key(&k, first.key, first.klen);
    wb = ms_ckpt_batch_new();
    assert_int_equal(ms_gtask_restore_record(&u, (const uint8_t *)k.data, k.len, NULL, 0, wb), 0);
    assert_int_equal(ms_gtask_restore_record(&u, (const uint8_t *)"zz", 2, NULL, 0, wb),
                     MS_ECORRUPT);
    assert_int_equal(ms_ckpt_commit(ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_gtask v;
    ms_gtask_init(&v, &p->stmts[0], 1, 5.0);
    assert_int_equal(ms_gtask_load(&v, ck, err, sizeof(err)), 0);
    assert_int_equal(v.x.table.n, t.x.table.n - 1);
    /* Another partition of the statement has nothing cached. */
    ms_gtask w;
    ms_gtask_init(&w, &p->stmts[0], 0, 5.0);
    assert_int_equal(ms_gtask_cache_offset(&w, ck, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 0);
    assert_int_equal(ms_gtask_load(&w, ck, err, sizeof(err)), 0);
    assert_int_equal(w.x.table.n, 0);
    /* Wiping the cache of partition 1. */
    wb = ms_ckpt_batch_new();
    assert_int_equal(ms_gtask_cache_wipe(&u, ck, wb, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_commit(ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    assert_int_equal(ms_gtask_cache_offset(&u, ck, &off, err, sizeof(err)), 0);
    assert_int_equal(off, 0);

    ms_buf_free(&k);
    free(before);
    free(after);
    ms_gtask_free(&t);
    ms_gtask_free(&u);
    ms_gtask_free(&v);
    ms_gtask_free(&w);
    ms_sql_program_free(p);
    ms_ckpt_close(ck);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_meta_and_offsets(void **state)
{
    (void)state;
    char m[32];
    ms_gcodec_meta(m, sizeof(m), 1234567);
    assert_string_equal(m, "cl=1234567");
    assert_int_equal(ms_gcodec_parse_meta(m), 1234567);
    assert_int_equal(ms_gcodec_parse_meta("cl="), -1);
    assert_int_equal(ms_gcodec_parse_meta("cl=12x"), -1);
    assert_int_equal(ms_gcodec_parse_meta(NULL), -1);
    assert_int_equal(ms_gcodec_parse_meta("cl=99999999999999999999999"), -1);
    ms_buf b = MS_BUF_INIT;
    ms_gcodec_offset_value(&b, 300);
    int64_t n;
    assert_int_equal(ms_gcodec_decode_offset((const uint8_t *)b.data, b.len, &n), 0);
    assert_int_equal(n, 300);
    assert_int_equal(ms_gcodec_decode_offset((const uint8_t *)b.data, 1, &n), MS_ECORRUPT);
    ms_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partials_equal_rows),
        cmocka_unit_test(test_task_watermark_is_the_minimum),
        cmocka_unit_test(test_task_cache_round_trip),
        cmocka_unit_test(test_meta_and_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
