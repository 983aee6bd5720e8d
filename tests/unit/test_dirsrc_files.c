/* The directory source's file options on a real directory with real inotify
 * and RocksDB: .gz files (whole members only, damaged or binary ones
 * rejected, a truncated one waits), --path-glob-filter on rename-in,
 * --recursive with directories created after start, --max-file-age,
 * --latest-first, and --clean-source (never before the commit is durable;
 * name collisions in the archive; across file systems). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>
#include <zlib.h>

#include <cmocka.h>

#include "engine/ms_program.h"
#include "parse/ms_tokenize.h"
#include "query/ms_exec.h"
#include "source/ms_dirsrc.h"
#include "state/ms_codec.h"

typedef struct fixture {
    char root[64], in[96], chk[96], arch[96];
    ms_ckpt *ck;
    ms_dirsrc *src;
    ms_dirsrc_conf conf;
    ms_tokenizer tok;
    ms_sql_program *prog;
    ms_exec agg;
    char order[16][64]; /* files in the order part() saw them */
    size_t norder;
} fixture;

static void path_of(fixture *f, const char *name, char *p, size_t n)
{
    snprintf(p, n, "%s/%s", f->in, name);
}

static void put_bytes(fixture *f, const char *name, const void *data, size_t n, const char *mode)
{
    char p[256];
    path_of(f, name, p, sizeof(p));
    FILE *fp = fopen(p, mode);
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static void put(fixture *f, const char *name, const char *text, const char *mode)
{
    put_bytes(f, name, text, strlen(text), mode);
}

/* text as one gzip member (what `gzip -c` writes) into out (cap bytes). */
static size_t gzip_member(const void *text, size_t n, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* Appends text as one more gzip member to name ("w": a new file). */
static size_t put_gz(fixture *f, const char *name, const char *text, size_t n, const char *mode)
{
    uint8_t buf[1 << 16];
    size_t len = gzip_member(text, n, buf, sizeof(buf));
    put_bytes(f, name, buf, len, mode);
    return len;
}

static void set_mtime(fixture *f, const char *name, time_t t)
{
    char p[256];
    path_of(f, name, p, sizeof(p));
    struct utimbuf u = {t, t};
    assert_int_equal(utime(p, &u), 0);
}

static int exists(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void open_conf(fixture *f)
{
    char err[512];
    f->conf.dir = f->in;
    f->conf.rescan_sec = 3600;
    assert_int_equal(ms_dirsrc_open_conf(&f->conf, f->ck, &f->src, err, sizeof(err)), 0);
}

static void reopen(fixture *f)
{
    ms_dirsrc_close(f->src);
    f->src = NULL;
    open_conf(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->root, "/tmp/ms_dirsrcf_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->in, sizeof(f->in), "%s/in", f->root);
    snprintf(f->chk, sizeof(f->chk), "%s/chk", f->root);
    snprintf(f->arch, sizeof(f->arch), "%s/archive", f->root);
    assert_int_equal(mkdir(f->in, 0755), 0);
    assert_int_equal(mkdir(f->arch, 0755), 0);
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

static void tok_part(void *ud, const ms_part *p, const char *name, uint64_t start)
{
    fixture *f = ud;
    (void)p;
    (void)start;
    if (f->norder < 16)
        snprintf(f->order[f->norder++], sizeof(f->order[0]), "%s", name);
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

/* Plan and read one batch; *bytes gets the text bytes read.  Returns the
 * plan's size; the plan is left in *plan for commit_batch(). */
static size_t plan_read(fixture *f, uint64_t max_files, uint64_t max_bytes, ms_plan *plan,
                        uint64_t *bytes)
{
    ms_limits lim = {max_files, max_bytes};
    char err[512];
    ms_dirsrc_drain(f->src);
    assert_int_equal(ms_dirsrc_plan(f->src, &lim, plan, err, sizeof(err)), 0);
    uint64_t b = 0;
    if (plan->n) {
        volatile sig_atomic_t stop = 0;
        ms_input in = {&tok_input_ops, f};
        assert_int_equal(ms_dirsrc_read(f->src, plan, &in, &stop, &b), 0);
    }
    if (bytes)
        *bytes = b;
    return plan->n;
}

/* The commit, written (durable) or only handed over (durable = 0: the
 * write batch is dropped, as if the process died before the sync). */
static void commit_batch(fixture *f, ms_plan *plan, int durable)
{
    if (plan->n) {
        char err[512];
        ms_ckpt_batch *wb = ms_ckpt_batch_new();
        ms_exec_commit(&f->agg, wb);
        ms_dirsrc_commit(f->src, plan, wb);
        if (durable)
            assert_int_equal(ms_ckpt_commit(f->ck, wb, err, sizeof(err)), 0);
        ms_ckpt_batch_free(wb);
        ms_dirsrc_committed(f->src, plan);
        ms_exec_committed(&f->agg);
    }
    ms_plan_free(plan);
}

static size_t batch_bytes(fixture *f, uint64_t max_files, uint64_t max_bytes, uint64_t *bytes)
{
    ms_plan plan;
    size_t n = plan_read(f, max_files, max_bytes, &plan, bytes);
    commit_batch(f, &plan, 1);
    return n;
}

static size_t batch(fixture *f, uint64_t max_files, uint64_t max_bytes)
{
    return batch_bytes(f, max_files, max_bytes, NULL);
}

static int64_t count(fixture *f, const char *w)
{
    ms_entry *e = ms_table_find(&f->agg.table, (const uint8_t *)w, strlen(w));
    return e ? e->value : 0;
}

static ms_dirsrc_stats stats(fixture *f)
{
    ms_dirsrc_stats st;
    ms_dirsrc_get_stats(f->src, &st);
    return st;
}

/* ------------------------------------------------------------------ gzip */

static void test_gz_read_as_text(void **state)
{
    fixture *f = *state;
    const char *text = "alpha beta\nbeta gamma\n";
    put_gz(f, "a.csv.gz", text, strlen(text), "w");
    put(f, "plain.txt", "plain\n", "w");
    open_conf(f);
    uint64_t bytes = 0;
    assert_int_equal(batch_bytes(f, 0, 0, &bytes), 2);
    assert_int_equal(count(f, "beta"), 2);
    assert_int_equal(count(f, "gamma"), 1);
    assert_int_equal(bytes, strlen(text) + 6); /* text bytes, not compressed ones */
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(stats(f).pending_bytes, 0);
    /* A restart verifies it and reads nothing again. */
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "beta"), 2);
}

/* `gzip -c more >> f.gz`: the new member is read, the old ones are not. */
static void test_gz_appended_member(void **state)
{
    fixture *f = *state;
    put_gz(f, "log.gz", "one\n", 4, "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    put_gz(f, "log.gz", "two three\n", 10, "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "one"), 1);
    assert_int_equal(count(f, "two"), 1);
    reopen(f);
    put_gz(f, "log.gz", "four\n", 5, "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "one") + count(f, "two") + count(f, "four"), 3);
}

/* A member whose text ends inside a line waits for the member that ends
 * it (a position stands only where a line ends). */
static void test_gz_member_ending_mid_line_waits(void **state)
{
    fixture *f = *state;
    put_gz(f, "m.gz", "x\nhal", 5, "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "x"), 0);
    assert_true(stats(f).pending_bytes > 0);
    put_gz(f, "m.gz", "f\n", 2, "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "x"), 1);
    assert_int_equal(count(f, "half"), 1);
    assert_int_equal(count(f, "hal"), 0);
}

/* A .gz written in place, not moved in: while its member is cut off it
 * waits (no rejection), and once complete it is read once. */
static void test_gz_truncated_waits(void **state)
{
    fixture *f = *state;
    char text[4000];
    size_t n = 0;
    for (int i = 0; n + 16 < sizeof(text); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "w%d x%d\n", i % 97, i);
    uint8_t gz[8192];
    size_t len = gzip_member(text, n, gz, sizeof(gz));
    put_bytes(f, "t.gz", gz, len / 2, "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(stats(f).rejected[MS_REJECT_BAD_GZIP], 0);
    assert_int_equal(stats(f).pending_bytes, len / 2);
    assert_int_equal(count(f, "w1"), 0);
    put_bytes(f, "t.gz", gz + len / 2, len - len / 2, "a");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_true(count(f, "w1") > 0);
    assert_int_equal(count(f, "x5"), 1);
    assert_int_equal(stats(f).pending_bytes, 0);
}

/* Damage is a counted rejection; nothing of the damaged member is read,
 * the members before it are, and the rejection is not repeated. */
static void test_gz_damaged_rejected(void **state)
{
    fixture *f = *state;
    char text[2000];
    size_t n = 0;
    for (int i = 0; n + 16 < sizeof(text); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "bad%d\n", i);
    uint8_t gz[4096];
    size_t len = gzip_member(text, n, gz, sizeof(gz));
    gz[len - 6] ^= 0x55; /* the CRC (or the data): detected at the member's end */
    gz[len / 2] ^= 0xff;
    put_bytes(f, "broken.gz", gz, len, "w");
    put(f, "notgz.gz", "plain text in a .gz name\n", "w");
    put_gz(f, "good-then-bad.gz", "good\n", 5, "w");
    put_bytes(f, "good-then-bad.gz", "garbage\n", 8, "a");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 3);
    assert_int_equal(count(f, "good"), 1);
    for (int i = 0; i < 50; i++) {
        char w[16];
        snprintf(w, sizeof(w), "bad%d", i);
        assert_int_equal(count(f, w), 0);
    }
    assert_int_equal(count(f, "plain"), 0);
    assert_int_equal(stats(f).rejected[MS_REJECT_BAD_GZIP], 2);
    assert_int_equal(batch(f, 0, 0), 1); /* the garbage after the good member */
    assert_int_equal(stats(f).rejected[MS_REJECT_BAD_GZIP], 3);
    assert_int_equal(count(f, "garbage"), 0);
    assert_int_equal(batch(f, 0, 0), 0);
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "good"), 1);
}

/* The binary probe looks at the decompressed text. */
static void test_gz_binary_text_rejected(void **state)
{
    fixture *f = *state;
    put_gz(f, "b.gz", "ab\0cd\nef\n", 9, "w");
    put_gz(f, "ok.gz", "fine\n", 5, "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "ef"), 0);
    assert_int_equal(count(f, "fine"), 1);
    assert_int_equal(stats(f).rejected[MS_REJECT_BINARY], 1);
    assert_int_equal(stats(f).rejected[MS_REJECT_BAD_GZIP], 0);
    /* The probe covers the first 8 KiB of text even when a byte cap ends
     * the batch before them (as it covers a text file's first 8 KiB). */
    put_gz(f, "c.gz", "first\n", 6, "w");
    put_gz(f, "c.gz", "x\0y\n", 4, "a");
    assert_int_equal(batch(f, 0, 3), 1);
    assert_int_equal(count(f, "first"), 0);
    assert_int_equal(stats(f).rejected[MS_REJECT_BINARY], 2);
}

/* --max-bytes-per-trigger counts text bytes; a .gz member is never split,
 * and one bigger than the cap is read alone. */
static void test_gz_byte_cap(void **state)
{
    fixture *f = *state;
    put_gz(f, "1.gz", "aaaa bbbb cccc dddd\n", 20, "w");
    put_gz(f, "2.gz", "eeee ffff gggg hhhh\n", 20, "w");
    set_mtime(f, "1.gz", 1000);
    set_mtime(f, "2.gz", 2000);
    open_conf(f);
    uint64_t bytes = 0;
    assert_int_equal(batch_bytes(f, 0, 8, &bytes), 1);
    assert_int_equal(bytes, 20);
    assert_int_equal(count(f, "dddd"), 1);
    assert_int_equal(count(f, "eeee"), 0);
    assert_int_equal(batch_bytes(f, 0, 30, &bytes), 1);
    assert_int_equal(count(f, "hhhh"), 1);
    /* Members of one file: as many whole ones as fit. */
    put_gz(f, "3.gz", "m1\n", 3, "w");
    put_gz(f, "3.gz", "m2\n", 3, "a");
    put_gz(f, "3.gz", "m3\n", 3, "a");
    assert_int_equal(batch_bytes(f, 0, 6, &bytes), 1);
    assert_int_equal(bytes, 6);
    assert_int_equal(count(f, "m2"), 1);
    assert_int_equal(count(f, "m3"), 0);
    assert_int_equal(batch_bytes(f, 0, 6, &bytes), 1);
    assert_int_equal(count(f, "m3"), 1);
}

/* A .gz an mstream without gzip rejected as binary is read now. */
static void test_gz_rejected_by_older_version_is_read(void **state)
{
    fixture *f = *state;
    uint8_t gz[256];
    size_t len = gzip_member("old gz\n", 7, gz, sizeof(gz));
    put_bytes(f, "old.csv.gz", gz, len, "w");
    char p[256];
    path_of(f, "old.csv.gz", p, sizeof(p));
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    ms_filepos fp = {.dev = (uint64_t)st.st_dev,
                     .ino = (uint64_t)st.st_ino,
                     .offset = len,
                     .mark_len = len,
                     .mark_hash = ms_hash(gz, len),
                     .flags = MS_FPOS_REJECTED,
                     .name = "old.csv.gz"};
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    ms_codec_key_position(&k, fp.dev, fp.ino);
    ms_codec_encode_filepos(&v, &fp);
    char err[256];
    assert_int_equal(ms_ckpt_put_sync(f->ck, k.data, k.len, v.data, v.len, err, sizeof(err)), 0);
    ms_buf_free(&k);
    ms_buf_free(&v);
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "gz"), 1);
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "gz"), 1);
}

/* ------------------------------------------------------- names and order */

static void do_rename(fixture *f, const char *a, const char *b)
{
    char pa[256], pb[256];
    path_of(f, a, pa, sizeof(pa));
    path_of(f, b, pb, sizeof(pb));
    assert_int_equal(rename(pa, pb), 0);
}

static void test_glob_on_rename_in(void **state)
{
    fixture *f = *state;
    f->conf.glob = "*.{txt,gz}";
    put(f, "a.log", "alog\n", "w");
    put(f, ".b.txt", "hidden\n", "w");
    put(f, "c.txt", "ctxt\n", "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "ctxt"), 1);
    assert_int_equal(count(f, "alog"), 0);
    /* renamed to a matching name: read */
    do_rename(f, "a.log", "a.txt");
    do_rename(f, ".b.txt", "b.txt");
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "alog"), 1);
    assert_int_equal(count(f, "hidden"), 1);
    /* renamed away from it: not read, even when it grows ... */
    do_rename(f, "c.txt", "c.bak");
    put(f, "c.bak", "more\n", "a");
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "more"), 0);
    assert_int_equal(stats(f).backlog_files, 0); /* nor what the glob leaves */
    /* ... and renamed back, only what is new is read */
    do_rename(f, "c.bak", "c.txt");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "more"), 1);
    assert_int_equal(count(f, "ctxt"), 1);
}

static void mkdir_in(fixture *f, const char *rel)
{
    char p[256];
    path_of(f, rel, p, sizeof(p));
    assert_int_equal(mkdir(p, 0755), 0);
}

static void test_recursive(void **state)
{
    fixture *f = *state;
    f->conf.recursive = 1;
    mkdir_in(f, "d1");
    mkdir_in(f, "_skip");
    put(f, "d1/a.txt", "one\n", "w");
    put(f, "_skip/x.txt", "skipped\n", "w");
    char target[256], link[256];
    path_of(f, "d1", target, sizeof(target));
    path_of(f, "linked", link, sizeof(link));
    assert_int_equal(symlink(target, link), 0); /* not entered: d1 is read once */
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "one"), 1);
    /* Directories created while running, nested, and files in them. */
    mkdir_in(f, "d2");
    mkdir_in(f, "d2/e");
    mkdir_in(f, "d2/e/f");
    put(f, "d2/e/f/deep.txt", "deep\n", "w");
    put(f, "d2/top.txt", "two\n", "w");
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "deep"), 1);
    assert_int_equal(count(f, "two"), 1);
    /* A file written later into a directory made while running: its watch. */
    put(f, "d2/e/f/later.txt", "later\n", "w");
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "later"), 1);
    assert_true(stats(f).watches >= 5); /* in, d1, d2, d2/e, d2/e/f */
    assert_int_equal(count(f, "skipped"), 0);
    /* Names are relative; a restart reads nothing again. */
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_int_equal(count(f, "deep") + count(f, "one"), 2);
}

static void test_not_recursive_by_default(void **state)
{
    fixture *f = *state;
    mkdir_in(f, "d1");
    put(f, "d1/a.txt", "sub\n", "w");
    put(f, "top.txt", "top\n", "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "sub"), 0);
    assert_int_equal(count(f, "top"), 1);
}

static void test_max_file_age(void **state)
{
    fixture *f = *state;
    f->conf.max_file_age = 3600;
    put(f, "new.txt", "new\n", "w");
    put(f, "recent.txt", "recent\n", "w");
    put(f, "old.txt", "old\n", "w");
    set_mtime(f, "new.txt", 100000);
    set_mtime(f, "recent.txt", 100000 - 3000);
    set_mtime(f, "old.txt", 100000 - 4000);
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "old"), 0);
    assert_int_equal(count(f, "recent"), 1);
    assert_int_equal(stats(f).too_old, 1);
    assert_int_equal(stats(f).backlog_files, 0); /* what the age leaves is not backlog */
    /* A file once read is read to its end however old it gets. */
    put(f, "recent.txt", "again\n", "a");
    set_mtime(f, "recent.txt", 100000 - 3000);
    put(f, "newest.txt", "newest\n", "w");
    set_mtime(f, "newest.txt", 200000);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(count(f, "again"), 1);
    /* Touched into the window, the old file is read. */
    set_mtime(f, "old.txt", 199000);
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(count(f, "old"), 1);
    assert_int_equal(stats(f).too_old, 0);
}

static void test_latest_first(void **state)
{
    fixture *f = *state;
    f->conf.latest_first = 1;
    put(f, "a.txt", "a\n", "w");
    put(f, "b.txt", "b\n", "w");
    put(f, "c.txt", "c\n", "w");
    set_mtime(f, "a.txt", 3000);
    set_mtime(f, "b.txt", 1000);
    set_mtime(f, "c.txt", 2000);
    open_conf(f);
    while (batch(f, 1, 0))
        ;
    assert_int_equal(f->norder, 3);
    assert_string_equal(f->order[0], "a.txt");
    assert_string_equal(f->order[1], "c.txt");
    assert_string_equal(f->order[2], "b.txt");
}

/* ------------------------------------------------------------- cleaning */

/* A file is archived only once its commit is durable: a batch handed over
 * but not written leaves it in place; its written commit lets it go. */
static void test_archive_after_durable_commit(void **state)
{
    fixture *f = *state;
    f->conf.clean = MS_CLEAN_ARCHIVE;
    f->conf.archive_dir = f->arch;
    f->conf.recursive = 1;
    mkdir_in(f, "sub");
    put(f, "sub/x.txt", "x\n", "w");
    put(f, "partial.txt", "done\nnot yet", "w");
    open_conf(f);
    ms_plan plan;
    assert_int_equal(plan_read(f, 0, 0, &plan, NULL), 2);
    commit_batch(f, &plan, 0); /* handed over, never written */
    assert_int_equal(plan_read(f, 0, 0, &plan, NULL), 0);
    ms_plan_free(&plan);
    assert_true(exists(f->in, "sub/x.txt"));
    assert_int_equal(stats(f).archived, 0);
    /* A restart: the batch is read again, committed, then archived. */
    reopen(f);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_true(exists(f->in, "sub/x.txt"));
    assert_int_equal(batch(f, 0, 0), 0);
    assert_false(exists(f->in, "sub/x.txt"));
    assert_true(exists(f->arch, "sub/x.txt"));
    assert_true(exists(f->in, "partial.txt")); /* not read to its end */
    assert_int_equal(stats(f).archived, 1);
    /* Its position leaves the checkpoint with the next commit. */
    put(f, "y.txt", "y\n", "w");
    assert_int_equal(batch(f, 0, 0), 1);
    reopen(f);
    assert_int_equal(stats(f).files_tracked, 2);
}

/* Another file already has the name in the archive: a suffix; the same
 * bytes (this file, copied before a crash): the source just goes. */
static void test_archive_name_taken(void **state)
{
    fixture *f = *state;
    f->conf.clean = MS_CLEAN_ARCHIVE;
    f->conf.archive_dir = f->arch;
    char p[256];
    snprintf(p, sizeof(p), "%s/a.txt", f->arch);
    FILE *fp = fopen(p, "w");
    fputs("other\n", fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/b.txt", f->arch);
    fp = fopen(p, "w");
    fputs("same\n", fp);
    fclose(fp);
    put(f, "a.txt", "mine\n", "w");
    put(f, "b.txt", "same\n", "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 2);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_false(exists(f->in, "a.txt"));
    assert_false(exists(f->in, "b.txt"));
    assert_true(exists(f->arch, "a.txt.1"));
    assert_false(exists(f->arch, "b.txt.1"));
    assert_int_equal(stats(f).archived, 2);
}

static void test_delete(void **state)
{
    fixture *f = *state;
    f->conf.clean = MS_CLEAN_DELETE;
    put_gz(f, "z.gz", "zz\n", 3, "w");
    put_bytes(f, "bin.dat", "a\0b\n", 4, "w");
    put(f, "grow.txt", "g\n", "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 3);
    put(f, "grow.txt", "h\n", "a"); /* grew after it was read: read again first */
    assert_int_equal(batch(f, 0, 0), 1);
    assert_false(exists(f->in, "z.gz"));
    assert_true(exists(f->in, "bin.dat")); /* rejected files stay */
    assert_int_equal(count(f, "h"), 1);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_false(exists(f->in, "grow.txt"));
    assert_int_equal(stats(f).deleted, 2);
}

/* Across file systems (/dev/shm is tmpfs here): copied, synced, deleted. */
static void test_archive_other_file_system(void **state)
{
    fixture *f = *state;
    struct stat a, b;
    if (stat("/dev/shm", &a) != 0 || stat(f->root, &b) != 0 || a.st_dev == b.st_dev) {
        skip();
        return;
    }
    char shm[64];
    strcpy(shm, "/dev/shm/ms_archive_XXXXXX");
    assert_non_null(mkdtemp(shm));
    f->conf.clean = MS_CLEAN_ARCHIVE;
    f->conf.archive_dir = shm;
    f->conf.recursive = 1;
    mkdir_in(f, "s");
    put(f, "s/far.txt", "far away\n", "w");
    open_conf(f);
    assert_int_equal(batch(f, 0, 0), 1);
    assert_int_equal(batch(f, 0, 0), 0);
    assert_false(exists(f->in, "s/far.txt"));
    assert_true(exists(shm, "s/far.txt"));
    assert_int_equal(stats(f).archived, 1);
    char p[160];
    snprintf(p, sizeof(p), "%s/s/far.txt", shm);
    FILE *fp = fopen(p, "r");
    char line[32] = "";
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_string_equal(line, "far away\n");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", shm);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_gz_read_as_text),
        T(test_gz_appended_member),
        T(test_gz_member_ending_mid_line_waits),
        T(test_gz_truncated_waits),
        T(test_gz_damaged_rejected),
        T(test_gz_binary_text_rejected),
        T(test_gz_byte_cap),
        T(test_gz_rejected_by_older_version_is_read),
        T(test_glob_on_rename_in),
        T(test_recursive),
        T(test_not_recursive_by_default),
        T(test_max_file_age),
        T(test_latest_first),
        T(test_archive_after_durable_commit),
        T(test_archive_name_taken),
        T(test_delete),
        T(test_archive_other_file_system),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
