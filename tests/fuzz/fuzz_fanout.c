/* Fuzz the running program: one input through the fan-out parser into four
 * statements (the tokenizer fast path, the tokenizer widened to full rows,
 * csv and a windowed json statement, both through the line splitter), then their results through
 * every renderer (/metrics, /api/v1/results, json and console sinks).
 *
 * Input (one in four is run, by a hash of the bytes): byte 0 a number k of
 * cuts (0..15) (bits 4-6 zero: render the results too), then k two-byte cut positions,
 * then the text.  The text is fed as one chunk and cut at the fuzzer's
 * positions; both runs must give every statement the same groups with the
 * same accumulators, the same row and malformed counts; the widened words
 * statement sees exactly the words of the fast one.  /metrics is printable
 * ASCII or valid UTF-8 without control bytes; nothing crashes or leaks. */
#include <stdlib.h>
#include <string.h>

#include "core/ms_text.h"
#include "engine/ms_runtime.h"
#include "fuzz.h"
#include "http/ms_http.h"
#include "http/ms_prom.h"
#include "sink/ms_sink.h"
#include "state/ms_table.h"

static const char program[] =
    "CREATE QUERY w AS SELECT word, COUNT(*) AS n FROM words GROUP BY word;\n"
    "CREATE QUERY wt AS SELECT word, topic, COUNT(*) AS n FROM words WHERE partition IS NULL\n"
    "  GROUP BY word, topic;\n"
    "CREATE QUERY c AS SELECT a, SUM(b) AS sb, MAX(c) AS mc, AVG(b) AS ab\n"
    "  FROM csv(a STRING, b BIGINT, c DOUBLE) WHERE b > -5 OR c IS NULL GROUP BY a;\n"
    "CREATE QUERY j AS SELECT window_start, s, COUNT(*) AS n, MIN(t) AS first\n"
    "  FROM json(s STRING, t TIMESTAMP) WATERMARK FOR t AS t - INTERVAL '1' MINUTE\n"
    "  GROUP BY TUMBLE(t, INTERVAL '1' HOUR), s EMIT APPEND;\n";

static const double bounds[MS_HIST_BUCKETS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void run(ms_runtime *rt, const ms_sql_program *p, const uint8_t *text, size_t n,
                const size_t *cuts, size_t ncuts)
{
    char err[256];
    ms_runtime_opts o = {.max_word_bytes = 16, .max_record_bytes = 48};
    FUZZ_CHECK(ms_runtime_init(rt, p, &o, err, sizeof(err)) == 0);
    const ms_input *in = ms_runtime_input(rt);
    FUZZ_CHECK(!rt->direct); /* several statements: the fan-out */
    ms_part dir = {.topic = NULL, .partition = -1};
    in->ops->part(in->ud, &dir, "f.txt", 0);
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t at = i < ncuts ? cuts[i] : n;
        in->ops->feed(in->ud, text + prev, at - prev);
        prev = at;
    }
    in->ops->end(in->ud);
}

/* Every group of a statement, sorted by key. */
static void groups(const ms_exec *x, ms_rowset *rs)
{
    ms_rowset_init(rs, x);
    ms_rowset_add_all(rs, x, INT64_MIN);
    ms_rowset_sort_key(rs);
}

static void same_results(const ms_runtime *a, const ms_runtime *b)
{
    for (size_t k = 0; k < a->n; k++) {
        const ms_stmt_rt *x = &a->st[k], *y = &b->st[k];
        FUZZ_CHECK(x->x.st.rows_in == y->x.st.rows_in);
        FUZZ_CHECK(x->x.st.rows_agg == y->x.st.rows_agg);
        FUZZ_CHECK(x->x.st.rows_late == y->x.st.rows_late);
        FUZZ_CHECK(
            memcmp(x->parser->malformed, y->parser->malformed, sizeof(x->parser->malformed)) == 0);
        ms_rowset ra, rb;
        groups(&x->x, &ra);
        groups(&y->x, &rb);
        FUZZ_CHECK(ra.n == rb.n);
        FUZZ_CHECK(ra.keys.len == rb.keys.len);
        for (size_t i = 0; i < ra.n; i++) {
            ms_exec_row r1, r2;
            ms_rowset_row(&ra, i, &r1);
            ms_rowset_row(&rb, i, &r2);
            FUZZ_CHECK(r1.klen == r2.klen && (!r1.klen || memcmp(r1.key, r2.key, r1.klen) == 0));
            FUZZ_CHECK(memcmp(r1.accs, r2.accs, x->stmt->naggs * sizeof(ms_acc)) == 0);
        }
        ms_rowset_free(&ra);
        ms_rowset_free(&rb);
    }
    /* The widened words statement saw the same words as the fast one. */
    FUZZ_CHECK(a->st[0].x.st.rows_in == a->st[1].x.st.rows_in);
    FUZZ_CHECK(a->st[1].widen && !a->st[0].widen);
}

static void render_all(ms_runtime *rt, const ms_sql_program *p)
{
    ms_published pub;
    ms_published_init(&pub);
    ms_snapshot *s = ms_snapshot_new(rt->n, 5);
    for (size_t k = 0; k < rt->n; k++) {
        ms_ckpt_batch *wb = ms_ckpt_batch_new();
        ms_exec_commit(&rt->st[k].x, wb);
        ms_ckpt_batch_free(wb);
        ms_rowset closed;
        ms_rowset_init(&closed, &rt->st[k].x);
        ms_exec_foreach_closed(&rt->st[k].x, ms_rowset_add_cb, &closed);
        ms_snapshot_set_stmt(s, k, &rt->st[k].x, &closed, rt->st[k].x.last_closed_start,
                             rt->st[k].x.last_closed_end, rt->st[k].parser->malformed, 0);
        ms_buf b = MS_BUF_INIT;
        ms_sink_render_jsonl(rt->st[k].stmt, &closed, &b);
        ms_buf_free(&b);
        ms_rowset_free(&closed);
    }
    static ms_sink *console;
    if (!console) {
        char err[128];
        FUZZ_CHECK(ms_sink_open("console", p, &console, err, sizeof(err)) == 0);
    }
    ms_rowset all[8], *ptr[8];
    for (size_t k = 0; k < rt->n && k < 8; k++) {
        ms_rowset_init(&all[k], &rt->st[k].x);
        ms_rowset_add_all(&all[k], &rt->st[k].x, INT64_MIN);
        ptr[k] = &all[k];
    }
    ms_buf con = MS_BUF_INIT;
    ms_sink_render_console(console, 1, ptr, &con);
    ms_buf_free(&con);
    for (size_t k = 0; k < rt->n && k < 8; k++)
        ms_rowset_free(&all[k]);
    s->stats.batch_dur.bounds = bounds;
    s->stats.commit_dur.bounds = bounds;
    ms_snapshot_publish(&pub, s);
    ms_buf b = MS_BUF_INIT;
    const char *ct;
    ms_procstat ps; /* zeros: /proc is not what is fuzzed */
    memset(&ps, 0, sizeof(ps));
    ms_prom_render(&b, s, &ps);
    const uint8_t *m = (const uint8_t *)b.data;
    for (size_t i = 0; i < b.len;) {
        FUZZ_CHECK(m[i] == '\n' || (m[i] >= 0x20 && m[i] != 0x7f));
        size_t l = m[i] < 0x80 ? 1 : ms_text_utf8_seq(m + i, b.len - i);
        FUZZ_CHECK(l > 0);
        i += l;
    }
    for (size_t k = 0; k < p->nstmts; k++) {
        ms_buf_reset(&b);
        FUZZ_CHECK(ms_http_render(&pub, "/api/v1/results", p->stmts[k].name, "0", "3", &b, &ct) ==
                   200);
    }
    ms_buf_free(&b);
    ms_published_destroy(&pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Two runtimes of four statements per input cost ten times a parser
     * target's work: three inputs in four (by a hash of the input) are
     * skipped, so the replay driver's mutations stay within its time limit
     * under ASan. */
    if (size < 1 || (ms_hash(data, size) & 3) != 0)
        return 0;
    size_t ncuts = data[0] % 16;
    if (size < 1 + 2 * ncuts)
        return 0;
    const uint8_t *text = data + 1 + 2 * ncuts;
    size_t n = size - 1 - 2 * ncuts;
    size_t cuts[16];
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = n ? (size_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8) % (n + 1) : 0;
    qsort(cuts, ncuts, sizeof(size_t), cmp_size);

    static ms_sql_program *p;
    if (!p) {
        char err[512];
        FUZZ_CHECK(
            ms_sql_parse(program, sizeof(program) - 1, "fuzz.sql", "f", &p, err, sizeof(err)) == 0);
    }
    ms_runtime one, cut;
    run(&one, p, text, n, NULL, 0);
    run(&cut, p, text, n, cuts, ncuts);
    same_results(&one, &cut);
    if ((data[0] & 0x70) == 0) /* an eighth of the inputs: rendering is slower */
        render_all(&cut, p);
    ms_runtime_free(&one);
    ms_runtime_free(&cut);
    return 0;
}
