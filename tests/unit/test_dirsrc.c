/* The directory source on a real directory with real inotify and RocksDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utime.h>
#include <unistd.h>

#include <cmocka.h>

#include "parse/ms_tokenize.h"
#include "engine/ms_program.h"
#include "engine/ms_rowset.h"
#include "engine/ms_runtime.h"
#include "query/ms_exec.h"
#include "source/ms_dirsrc.h"

typedef struct fixture {
    char root[64], in[96], chk[96];
    ms_ckpt *ck;
    ms_dirsrc *src;
    ms_tokenizer tok;
    ms_sql_program *prog;
    ms_exec agg;
} fixture;

static void put(fixture *f, const char *name, const char *data, const char *mode)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->in, name);
    FILE *fp = fopen(p, mode);
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);
}

static void open_src(fixture *f, int available_now)
{
    char err[512];
    assert_int_equal(ms_dirsrc_open(f->in, f->ck, available_now, 3600, &f->src, err, sizeof(err)),
                     0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->root, "/tmp/ms_dirsrc_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->in, sizeof(f->in), "%s/in", f->root);
    snprintf(f->chk, sizeof(f->chk), "%s/chk", f->root);
    assert_int_equal(mkdir(f->in, 0755), 0);
    char err[512];
    assert_int_equal(ms_ckpt_open(f->chk, &f->ck, err, sizeof(err)), 0);
    ms_tokenizer_init(&f->tok, 64);
    assert_int_equal(ms_program_load(NULL, &f->prog, err, sizeof(err)), 0);
    ms_exec_init(&f->agg, &f->prog->stmts[0]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ms_dirsrc_close(f->src);
    ms_ckpt_close(f->ck);
    ms_tokenizer_free(&f->tok);
    ms_exec_free(&f->agg);
    ms_sql_program_free(f->prog);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The source's input, straight into the fixture's tokenizer and counts. */
static void tok_part(void *ud, const ms_part *p, const char *name, uint64_t start)
{
    (void)ud;
    (void)p;
    (void)name;
    (void)start;
}

static void tok_feed(void *ud, const uint8_t *d, size_t n)
{
    fixture *f = ud;
    f->tok.base.ops->feed(f->tok.base.self, d, n, ms_exec_emit, &f->agg);
}

static void tok_end(void *ud)
{
    fixture *f = ud;
    f->tok.base.ops->end_file(f->tok.base.self, ms_exec_emit, &f->agg);
}

static void tok_discard(void *ud)
{
    fixture *f = ud;
    ms_tokenizer_reset(&f->tok);
}

static const ms_input_ops tok_input_ops = {
    .part = tok_part, .feed = tok_feed, .end = tok_end, .discard = tok_discard};

/* One whole batch: plan, read, commit, committed.  Returns plan size. */
static size_t batch(fixture *f, uint64_t max_files, uint64_t max_bytes)
{
    ms_limits lim = {max_files, max_bytes};
    ms_plan plan;
    char err[512];
    ms_dirsrc_drain(f->src);
    assert_int_equal(ms_dirsrc_plan(f->src, &lim, &plan, err, sizeof(err)), 0);
    size_t n = plan.n;
    if (n) {
        volatile sig_atomic_t stop = 0;
        uint64_t bytes;
        ms_input in = {&tok_input_ops, f};
        assert_int_equal(ms_dirsrc_read(f->src, &plan, &in, &stop, &bytes), 0);
        ms_ckpt_batch *wb = ms_ckpt_batch_new();
        ms_exec_commit(&f->agg, wb);
        ms_dirsrc_commit(f->src, &plan, wb);
        assert_int_equal(ms_ckpt_commit(f->ck, wb, err, sizeof(err)), 0);
        ms_ckpt_batch_free(wb);
        ms_dirsrc_committed(f->src, &plan);
        ms_exec_committed(&f->agg);
    }
    ms_plan_free(&plan);
    return n;
}

static int64_t count(fixture *f, const char *w)
{
    ms_entry *e = ms_table_find(&f->agg.table, (const uint8_t *)w, strlen(w));
    return e ? e->value : 0;
}

static void test_existing_files_and_tail_semantics(void **state)
{
    fixture *f = *state;
    put(f, "a.txt", "hello spark\nspark par", "w"); /* "par" has no newline yet */
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "spark"), 1); /* the second line is not complete */
    assert_int_equal(count(f, "par"), 0);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.pending_bytes, 9);
    assert_int_equal(batch(f, 0, 0), 0); /* nothing new */
    put(f, "a.txt", "tial\n", "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "partial"), 1);
    assert_int_equal(count(f, "spark"), 2);
    assert_int_equal(count(f, "hello"), 1); /* the first line was not read twice */
}

static void test_ignored_names_and_atomic_rename(void **state)
{
    fixture *f = *state;
    open_src(f, 0);
    put(f, ".hidden", "x\n", "w");
    put(f, "_temp", "x\n", "w");
    put(f, "c.tmp", "y\n", "w");
    assert_int_equal(batch(f, 0, 0), 0);
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/c.tmp", f->in);
    snprintf(b, sizeof(b), "%s/c.txt", f->in);
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "y"), 1);
    assert_int_equal(count(f, "x"), 0);
    /* renamed again: same inode, not read again */
    snprintf(a, sizeof(a), "%s/d.txt", f->in);
    assert_int_equal(rename(b, a), 0);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "y"), 1);
    assert_true(ms_dirsrc_ignored_name(".x") && ms_dirsrc_ignored_name("_x") &&
                ms_dirsrc_ignored_name("x.tmp") && !ms_dirsrc_ignored_name("x.txt"));
}

static void test_caps(void **state)
{
    fixture *f = *state;
    put(f, "1.txt", "a\n", "w");
    put(f, "2.txt", "b\n", "w");
    put(f, "3.txt", "c\n", "w");
    put(f, "big.txt", "one two\nthree four\nfive\n", "w");
    open_src(f, 0);
    size_t batches = 0;
    while (batch(f, 1, 10))
        batches++;
    assert_true(batches >= 6);
    assert_int_equal(count(f, "a") + count(f, "b") + count(f, "c"), 3);
    assert_int_equal(count(f, "one") + count(f, "four") + count(f, "five"), 3);
}

static void test_line_longer_than_byte_cap(void **state)
{
    fixture *f = *state;
    put(f, "l.txt", "aaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbb\nc\n", "w");
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 8), 1); /* at least one line, even past the cap */
    assert_int_equal(count(f, "bbbbbbbbbbbbbbbbbbbbbb"), 1);
    assert_int_equal(count(f, "c"), 0);
    assert_int_equal(batch(f, 0, 8), 1);
    assert_int_equal(count(f, "c"), 1);
}

static void test_binary_rejected_once(void **state)
{
    fixture *f = *state;
    char p[256];
    snprintf(p, sizeof(p), "%s/bin.dat", f->in);
    FILE *fp = fopen(p, "w");
    fwrite("ab\0cd\nef\n", 1, 9, fp);
    fclose(fp);
    put(f, "ok.txt", "fine\n", "w");
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "fine"), 1);
    assert_int_equal(count(f, "ef"), 0);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.rejected[MS_REJECT_BINARY], 1);
    put(f, "bin.dat", "more\n", "a");
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "more"), 0);
}

static void set_mtime(fixture *f, const char *name, time_t t)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->in, name);
    struct utimbuf u = {t, t};
    assert_int_equal(utime(p, &u), 0);
}

/* Overwrites name in place (same inode, same size) and sets its mtime. */
static void rewrite_in_place(fixture *f, const char *name, const char *data, size_t n, time_t mtime)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->in, name);
    FILE *fp = fopen(p, "r+");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
    set_mtime(f, name, mtime);
}

/* New content of exactly the size already consumed, under the same inode
 * (a file deleted and another created that reuses its inode, or rewritten
 * in place): the size says "nothing new", the content marker says
 * otherwise, and the marker wins.  Running (the mtime moved) and across a
 * restart (positions from the checkpoint are verified once). */
static void test_same_size_new_content_is_read(void **state)
{
    fixture *f = *state;
    put(f, "s.txt", "alpha\n", "w");
    set_mtime(f, "s.txt", 1000000000);
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "alpha"), 1);
    rewrite_in_place(f, "s.txt", "gamma\n", 6, 1000000100);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "gamma"), 1);
    assert_int_equal(count(f, "alpha"), 1);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.rotations, 1);
    /* only the mtime moves (touch): same content, nothing read */
    set_mtime(f, "s.txt", 1000000200);
    assert_int_equal(batch(f, 0, 0), 0);
    /* replaced while mstream is down, even with the old mtime put back */
    ms_dirsrc_close(f->src);
    f->src = NULL;
    rewrite_in_place(f, "s.txt", "delta\n", 6, 1000000200);
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "delta"), 1);
    assert_int_equal(count(f, "gamma"), 1);
    assert_int_equal(batch(f, 0, 0), 0); /* verified once, not every batch */
}

/* A rejected binary file whose inode later holds text is read. */
static void test_rejected_inode_with_new_text_is_read(void **state)
{
    fixture *f = *state;
    char p[256];
    snprintf(p, sizeof(p), "%s/b.dat", f->in);
    FILE *fp = fopen(p, "w");
    fwrite("ab\0cd\n", 1, 6, fp);
    fclose(fp);
    set_mtime(f, "b.dat", 1000000000);
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.rejected[MS_REJECT_BINARY], 1);
    rewrite_in_place(f, "b.dat", "text\n\n", 6, 1000000100);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "text"), 1);
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.rejected[MS_REJECT_BINARY], 1);
}

static void test_truncation_restarts_file(void **state)
{
    fixture *f = *state;
    put(f, "t.txt", "old words here\n", "w");
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    put(f, "t.txt", "new\n", "w"); /* truncate and rewrite */
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "new"), 1);
    assert_int_equal(count(f, "old"), 1);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.truncations, 1);
}

static void test_positions_survive_restart(void **state)
{
    fixture *f = *state;
    put(f, "r.txt", "one\n", "w");
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 1);
    ms_dirsrc_close(f->src);
    f->src = NULL;
    put(f, "r.txt", "two\n", "a");
    put(f, "s.txt", "three\n", "w");
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "one"), 1);
    assert_int_equal(count(f, "two"), 1);
    assert_int_equal(count(f, "three"), 1);
}

/* Files consumed and then deleted leave the in-memory table: after their
 * positions are dropped from the checkpoint, entries of gone files are
 * compacted away, and the files still there keep their positions. */
static void test_deleted_files_leave_the_table(void **state)
{
    fixture *f = *state;
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "f%03d.txt", i);
        put(f, name, "w\n", "w");
    }
    open_src(f, 0);
    assert_int_equal(batch(f, 0, 0), 100);
    assert_int_equal(count(f, "w"), 100);
    ms_dirsrc_close(f->src); /* a restart: the listing notices what is gone */
    f->src = NULL;
    for (int i = 0; i < 80; i++) {
        char path[160];
        snprintf(path, sizeof(path), "%s/f%03d.txt", f->in, i);
        assert_int_equal(unlink(path), 0);
    }
    put(f, "new.txt", "n\n", "w");
    open_src(f, 0);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.files_tracked, 21);
    /* the 80 positions are still held (new.txt may reuse a deleted inode) */
    assert_true(st.file_table_entries >= 100);
    assert_int_equal(batch(f, 0, 0), 1); /* commits their removal */
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.files_tracked, 21);
    assert_int_equal(st.file_table_entries, 21);
    /* the index was rebuilt: the files left keep their positions */
    put(f, "f090.txt", "x\n", "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "w"), 100);
    assert_int_equal(count(f, "x"), 1);
    assert_int_equal(count(f, "n"), 1);
    assert_int_equal(batch(f, 0, 0), 0);
    /* and the checkpoint holds only their positions */
    ms_dirsrc_close(f->src);
    f->src = NULL;
    open_src(f, 0);
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.file_table_entries, 21);
    assert_int_equal(batch(f, 0, 0), 0);
}

static void test_available_now_freezes_sizes(void **state)
{
    fixture *f = *state;
    put(f, "x.txt", "first\n", "w");
    open_src(f, 1);
    put(f, "x.txt", "later\n", "a");
    put(f, "y.txt", "late\n", "w");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "first"), 1);
    assert_int_equal(count(f, "later"), 0);
    assert_int_equal(count(f, "late"), 0);
}

/* Count of the group whose first output columns are the strings a (and b). */
static int64_t group_count(const ms_exec *x, const char *a, const char *b)
{
    ms_rowset rs;
    ms_rowset_init(&rs, x);
    ms_rowset_add_all(&rs, x, INT64_MIN);
    int64_t found = 0;
    size_t cnt_col = x->stmt->nouts - 1;
    for (size_t i = 0; i < rs.n; i++) {
        ms_value v0, v1, c;
        ms_rowset_value(&rs, i, 0, &v0);
        ms_rowset_value(&rs, i, 1, &v1);
        ms_rowset_value(&rs, i, cnt_col, &c);
        if (v0.type != MS_TYPE_STRING || v0.s.n != strlen(a) || memcmp(v0.s.p, a, v0.s.n))
            continue;
        if (b && (v1.type != MS_TYPE_STRING || v1.s.n != strlen(b) || memcmp(v1.s.p, b, v1.s.n)))
            continue;
        found += c.i;
    }
    ms_rowset_free(&rs);
    return found;
}

/* A byte cap that cuts the older file short never lets the plan go on to a
 * newer file: files are consumed strictly oldest first, so an event-time
 * query never sees a newer file's rows before an older file's (the bug was
 * a budget left over after the last newline of the cut file, spent on a
 * line of the next file). */
static void test_cap_never_overtakes_an_older_file(void **state)
{
    fixture *f = *state;
    put(f, "old.txt", "aaaa\nbbbbbbbbbbbb\n", "w"); /* 5 + 13 bytes */
    put(f, "new.txt", "c\n", "w");
    set_mtime(f, "old.txt", 1000);
    set_mtime(f, "new.txt", 2000);
    open_src(f, 0);
    ms_limits lim = {0, 8}; /* old.txt's first line (5 bytes) fits, 3 bytes left over */
    ms_plan plan;
    char err[512];
    assert_int_equal(ms_dirsrc_plan(f->src, &lim, &plan, err, sizeof(err)), 0);
    assert_int_equal(plan.n, 1);
    assert_string_equal(plan.items[0].pos.name, "old.txt");
    assert_int_equal(plan.items[0].end, 5);
    ms_plan_free(&plan);
    /* Batch by batch, "c" (new.txt) is counted only after old.txt is done. */
    assert_int_equal(batch(f, 0, 8), 1);
    assert_int_equal(count(f, "aaaa"), 1);
    assert_int_equal(count(f, "c"), 0);
    batch(f, 0, 8);
    assert_int_equal(count(f, "bbbbbbbbbbbb"), 1);
    assert_int_equal(count(f, "c"), 0);
    batch(f, 0, 8);
    assert_int_equal(count(f, "c"), 1);
}

/* The metadata column `topic` is the name of the file a row came from,
 * through the fan-out, also when the plan holds a rejected (binary) file
 * and a file that vanished between planning and reading. */
static void test_topic_is_the_file_name(void **state)
{
    fixture *f = *state;
    const char *text = "CREATE QUERY t AS SELECT topic, word, COUNT(*) AS n FROM words\n"
                       "  GROUP BY topic, word;\n"
                       "CREATE QUERY l AS SELECT topic, COUNT(*) AS n FROM lines GROUP BY topic;\n";
    char err[512];
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse(text, strlen(text), "t.sql", "t", &p, err, sizeof(err)), 0);
    ms_runtime rt;
    ms_runtime_opts o = {.max_word_bytes = 64, .max_record_bytes = 1024};
    assert_int_equal(ms_runtime_init(&rt, p, &o, err, sizeof(err)), 0);
    assert_true(rt.needs_topic);
    put(f, "a.txt", "x y\n", "w");
    char bin[256];
    snprintf(bin, sizeof(bin), "%s/bin.dat", f->in);
    FILE *fp = fopen(bin, "w");
    fwrite("q\0r\n", 1, 4, fp);
    fclose(fp);
    put(f, "b.txt", "gone\n", "w");
    put(f, "c.txt", "w x\nv\n", "w");
    set_mtime(f, "a.txt", 1000);
    set_mtime(f, "bin.dat", 1001);
    set_mtime(f, "b.txt", 1002);
    set_mtime(f, "c.txt", 1003);
    open_src(f, 0);
    ms_limits lim = {0, 0};
    ms_plan plan;
    assert_int_equal(ms_dirsrc_plan(f->src, &lim, &plan, err, sizeof(err)), 0);
    assert_int_equal(plan.n, 4);
    char gone[256];
    snprintf(gone, sizeof(gone), "%s/b.txt", f->in);
    assert_int_equal(unlink(gone), 0);
    volatile sig_atomic_t stop = 0;
    uint64_t bytes;
    assert_int_equal(ms_dirsrc_read(f->src, &plan, ms_runtime_input(&rt), &stop, &bytes), 0);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.rejected[MS_REJECT_VANISHED], 1);
    const ms_exec *t = &rt.st[0].x, *l = &rt.st[1].x;
    assert_int_equal(group_count(t, "a.txt", "x"), 1);
    assert_int_equal(group_count(t, "a.txt", "y"), 1);
    assert_int_equal(group_count(t, "c.txt", "w"), 1);
    assert_int_equal(group_count(t, "c.txt", "x"), 1);
    assert_int_equal(group_count(t, "c.txt", "v"), 1);
    assert_int_equal(t->table.n, 5);
    assert_int_equal(group_count(l, "a.txt", NULL), 1);
    assert_int_equal(group_count(l, "c.txt", NULL), 2);
    assert_int_equal(l->table.n, 2);
    ms_plan_free(&plan);
    ms_runtime_free(&rt);
    ms_sql_program_free(p);
}

/* The input, with a hook that truncates and rewrites the file being read
 * right after its first chunk arrived. */
typedef struct cutter {
    fixture *f;
    char path[256];
    int feeds, discards, ends;
} cutter;

static void cut_part(void *ud, const ms_part *p, const char *name, uint64_t start)
{
    (void)ud;
    (void)p;
    (void)name;
    (void)start;
}

static void cut_feed(void *ud, const uint8_t *d, size_t n)
{
    cutter *c = ud;
    tok_feed(c->f, d, n);
    if (c->feeds++ == 0) {
        FILE *fp = fopen(c->path, "w"); /* truncated, then a short new text */
        assert_non_null(fp);
        fputs("fresh text\n", fp);
        fclose(fp);
    }
}

static void cut_end(void *ud)
{
    cutter *c = ud;
    c->ends++;
    tok_end(c->f);
}

static void cut_discard(void *ud)
{
    cutter *c = ud;
    c->discards++;
    tok_discard(c->f);
}

static const ms_input_ops cut_ops = {
    .part = cut_part, .feed = cut_feed, .end = cut_end, .discard = cut_discard};

/* A file truncated and rewritten while its range is read: the complete
 * lines read before are counted, the line cut at the chunk boundary is
 * not (no torn word), the position does not move, and the next plan reads
 * the new text as a new file. */
static void test_truncated_while_read(void **state)
{
    fixture *f = *state;
    cutter c = {.f = f};
    snprintf(c.path, sizeof(c.path), "%s/big.txt", f->in);
    FILE *fp = fopen(c.path, "w");
    assert_non_null(fp);
    size_t total = 0, lines = 0;
    while (total < (3u << 20)) { /* 3 MiB: three read chunks */
        total += (size_t)fprintf(fp, "w%07zu longer-words-%zu\n", lines, lines);
        lines++;
    }
    fclose(fp);
    open_src(f, 0);
    ms_limits lim = {0, 0};
    ms_plan plan;
    char err[256];
    assert_int_equal(ms_dirsrc_plan(f->src, &lim, &plan, err, sizeof(err)), 0);
    assert_int_equal(plan.n, 1);
    volatile sig_atomic_t stop = 0;
    uint64_t bytes = 0;
    ms_input in = {&cut_ops, &c};
    assert_int_equal(ms_dirsrc_read(f->src, &plan, &in, &stop, &bytes), 0);
    assert_int_equal(c.discards, 1);
    assert_int_equal(c.ends, 0);
    /* Every counted word is a whole word of a line of the first chunk. */
    size_t whole = 0;
    for (size_t i = 0; i < lines; i++) {
        char w[32];
        snprintf(w, sizeof(w), "w%07zu", i);
        int64_t n = count(f, w);
        assert_true(n == 0 || n == 1);
        if (n) {
            assert_int_equal(i, whole); /* a prefix of the lines */
            char l[48];
            snprintf(l, sizeof(l), "longer-words-%zu", i);
            assert_int_equal(count(f, l), 1);
            whole++;
        }
    }
    assert_true(whole > 1000 && whole < lines / 2);
    assert_int_equal((int64_t)f->agg.table.n, (int64_t)(2 * whole)); /* no torn word */
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    ms_exec_commit(&f->agg, wb);
    ms_dirsrc_commit(f->src, &plan, wb);
    assert_int_equal(ms_ckpt_commit(f->ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_dirsrc_committed(f->src, &plan);
    ms_exec_committed(&f->agg);
    ms_plan_free(&plan);
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    assert_int_equal(st.truncations, 1);
    assert_int_equal(batch(f, 0, 0), 1); /* the new text, from its start */
    assert_int_equal(count(f, "fresh"), 1);
    assert_int_equal(count(f, "text"), 1);
    assert_int_equal(batch(f, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncated_while_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_files_and_tail_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_names_and_atomic_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_longer_than_byte_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_rejected_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_restarts_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_size_new_content_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_inode_with_new_text_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_files_leave_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_available_now_freezes_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_never_overtakes_an_older_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_is_the_file_name, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
