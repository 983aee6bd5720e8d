#include <dirent.h>
/* The checkpoint on real RocksDB: single writer, query binding, commit cost,
 * the state column family, snapshots, multi-gets and range scans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mstream/mstream.h"
#include "engine/ms_program.h"
#include "query/ms_exec.h"
#include "state/ms_ckpt.h"

/* Removes the temp root of a checkpoint path made by tmpdir(), then frees it. */
static void rmtmp(char *path)
{
    char cmd[512];
    char *slash = strrchr(path, '/');
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
    free(path);
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/ms_ckpt_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *path = malloc(strlen(d) + 8);
    sprintf(path, "%s/chk", d);
    return path;
}

static void test_open_put_get_scan(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[512];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_put_sync(c, "s:a", 3, "1", 1, err, sizeof(err)), 0);
    ms_ckpt_batch *b = ms_ckpt_batch_new();
    ms_ckpt_batch_put(b, "s:b", 3, "2", 1);
    ms_ckpt_batch_put(b, "t:c", 3, "3", 1);
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_ckpt_close(c);

    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "s:b", 3, &v, err, sizeof(err)), 0);
    assert_memory_equal(v.data, "2", 1);
    assert_int_equal(ms_ckpt_get(c, "s:x", 3, &v, err, sizeof(err)), MS_ENOTFOUND);
    ms_buf_free(&v);
    ms_ckpt_close(c);
    rmtmp(dir);
}

static void test_second_writer_gets_holder_pid(void **state)
{
    (void)state;
    char *dir = tmpdir();
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    if (child == 0) {
        char err[512];
        ms_ckpt *c;
        if (ms_ckpt_open(dir, &c, err, sizeof(err)) != 0)
            _exit(1);
        if (write(go[1], "x", 1) != 1)
            _exit(1);
        char ch;
        if (read(done[0], &ch, 1) != 1)
            _exit(1);
        ms_ckpt_close(c);
        _exit(0);
    }
    char ch;
    assert_int_equal(read(go[0], &ch, 1), 1);
    char err[512] = "";
    ms_ckpt *c = NULL;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), MS_EBUSY);
    char want[64];
    snprintf(want, sizeof(want), "pid %ld", (long)child);
    if (!strstr(err, want) || !strstr(err, dir))
        fail_msg("message '%s' lacks '%s' or the directory", err, want);
    assert_int_equal(write(done[1], "x", 1), 1);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* released: a new writer is accepted */
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_ckpt_close(c);
    rmtmp(dir);
}

static void test_unwritable_path_is_refused_in_words(void **state)
{
    (void)state;
    char err[512] = "";
    ms_ckpt *c = NULL;
    int rc = ms_ckpt_open("/proc/self/mstream-chk", &c, err, sizeof(err));
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_non_null(strstr(err, "/proc/self/mstream-chk"));
    rc = ms_ckpt_open("/etc/hostname/chk", &c, err, sizeof(err));
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "not a directory"));
}

static ms_sql_program *parse(const char *text)
{
    ms_sql_program *p = NULL;
    char err[512];
    int rc = ms_sql_parse(text, strlen(text), "t.sql", "wordcount", &p, err, sizeof(err));
    if (rc)
        fail_msg("parse: %s", err);
    return p;
}

static ms_sql_program *wordcount(void)
{
    ms_sql_program *p = NULL;
    char err[512];
    assert_int_equal(ms_program_load(NULL, &p, err, sizeof(err)), 0);
    return p;
}

static void test_query_binding(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[2048];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_sql_program *wc = wordcount();
    assert_int_equal(ms_program_bind_checkpoint(wc, c, dir, err, sizeof(err)), 0);
    assert_int_equal(ms_program_bind_checkpoint(wc, c, dir, err, sizeof(err)), 0);
    /* An alias, comments, layout and keyword case do not change the state. */
    ms_sql_program *alias =
        parse("-- same state\nselect word, count(*) as n\n  from words group by word;");
    assert_int_equal(ms_program_bind_checkpoint(alias, c, dir, err, sizeof(err)), 0);
    /* Another aggregate does. */
    ms_sql_program *other =
        parse("SELECT word, COUNT(*) AS count FROM words WHERE word <> 'a' GROUP BY word");
    assert_int_equal(ms_program_bind_checkpoint(other, c, dir, err, sizeof(err)), MS_EMISMATCH);
    assert_non_null(strstr(err, "another query"));
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "WHERE")); /* this run's text */
    assert_non_null(strstr(err, "checkpoint: CREATE QUERY \"wordcount\""));
    ms_sql_program_free(other);
    ms_sql_program_free(alias);
    ms_sql_program_free(wc);
    ms_ckpt_close(c);
    rmtmp(dir);
}

/* A checkpoint of the built-in word count from before query files is
 * accepted for queries/wordcount.sql (same state layout) and upgraded. */
static void test_legacy_wordcount_checkpoint(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[2048];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    const char *legacy =
        "v1 SELECT word, COUNT(*) AS count FROM words(lines) GROUP BY word OUTPUT complete";
    uint8_t fmt = 1;
    assert_int_equal(ms_ckpt_put_sync(c, "m:format", 8, &fmt, 1, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_put_sync(c, "m:query", 7, legacy, strlen(legacy), err, sizeof(err)),
                     0);
    ms_sql_program *other = parse("SELECT word, MAX(offset) FROM words GROUP BY word");
    assert_int_equal(ms_program_bind_checkpoint(other, c, dir, err, sizeof(err)), MS_EMISMATCH);
    ms_sql_program *wc = wordcount();
    assert_int_equal(ms_program_bind_checkpoint(wc, c, dir, err, sizeof(err)), 0);
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "m:query", 7, &v, err, sizeof(err)), 0);
    char *canon = ms_program_canonical(wc);
    assert_int_equal(v.len, strlen(canon));
    assert_memory_equal(v.data, canon, v.len);
    free(canon);
    ms_buf_free(&v);
    ms_sql_program_free(other);
    ms_sql_program_free(wc);
    ms_ckpt_close(c);
    rmtmp(dir);
}

static void count_word(ms_exec *x, const char *w, size_t n)
{
    ms_value col = ms_value_str((const uint8_t *)w, n);
    ms_row row = {&col, 1};
    ms_exec_emit(x, &row);
}

/* Commits the executor's changed groups in one synced write batch. */
static void commit_exec(ms_ckpt *c, ms_exec *x)
{
    char err[512];
    ms_ckpt_batch *b = ms_ckpt_batch_new();
    ms_exec_commit(x, b);
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_exec_committed(x);
}

/* docs/design.md §2: a batch touching k groups writes O(k) bytes whatever the state size. */
static size_t commit_bytes_for_k(size_t total, size_t k, char *dir)
{
    char err[512];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_sql_program *wc = wordcount();
    ms_exec x;
    ms_exec_init(&x, &wc->stmts[0]);
    char w[32];
    for (size_t i = 0; i < total; i++)
        count_word(&x, w, (size_t)snprintf(w, sizeof(w), "word%08zu", i));
    commit_exec(c, &x);
    for (size_t i = 0; i < k; i++)
        count_word(&x, w, (size_t)snprintf(w, sizeof(w), "word%08zu", i * 3));
    ms_ckpt_batch *b = ms_ckpt_batch_new();
    assert_int_equal(ms_exec_commit(&x, b), k);
    size_t bytes = ms_ckpt_batch_bytes(b);
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_exec_free(&x);
    ms_sql_program_free(wc);
    ms_ckpt_close(c);
    return bytes;
}

static void test_commit_cost_follows_change(void **state)
{
    (void)state;
    char *d1 = tmpdir(), *d2 = tmpdir();
    size_t small = commit_bytes_for_k(100, 10, d1);
    size_t large = commit_bytes_for_k(200000, 10, d2);
    assert_true(small > 0);
    assert_int_equal(small, large);
    rmtmp(d1);
    rmtmp(d2);
}

static void test_state_survives_reopen(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[512];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_sql_program *wc = wordcount();
    ms_exec x;
    ms_exec_init(&x, &wc->stmts[0]);
    const char *words[] = {"spark", "streaming", "spark", "\xff\x01"};
    for (int i = 0; i < 4; i++)
        count_word(&x, words[i], strlen(words[i]));
    commit_exec(c, &x);
    ms_exec_free(&x);
    ms_ckpt_close(c);

    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_exec_init(&x, &wc->stmts[0]);
    assert_int_equal(ms_exec_load(&x, c, err, sizeof(err)), 0);
    assert_int_equal(x.table.n, 3);
    assert_int_equal(ms_table_find(&x.table, (const uint8_t *)"spark", 5)->value, 2);
    assert_int_equal(ms_table_find(&x.table, (const uint8_t *)"\xff\x01", 2)->value, 1);
    assert_int_equal(x.table.ndirty, 0);
    ms_exec_free(&x);
    ms_sql_program_free(wc);
    ms_ckpt_close(c);
    rmtmp(dir);
}

/* ------------------------------------------------ a damaged checkpoint */

static int count_sst(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l > 4 && !strcmp(de->d_name + l - 4, ".sst");
    }
    closedir(d);
    return n;
}

/* Path of the one table file (.sst) of the checkpoint at dir. */
static void find_sst(const char *dir, char *out, size_t outsz)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".sst")) {
            snprintf(out, outsz, "%s/%s", dir, de->d_name);
            n++;
        }
    }
    closedir(d);
    if (n != 1)
        fail_msg("checkpoint %s holds %d table files, expected 1", dir, n);
}

static uint64_t get_varint(const uint8_t **p)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    return v;
}

/* Flips n bytes of the file at path from offset off (n = 0: nothing). */
static void flip(const char *path, long off, int n)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        assert_int_equal(fseek(f, off + i, SEEK_SET), 0);
        int c = fgetc(f);
        assert_true(c != EOF);
        assert_int_equal(fseek(f, off + i, SEEK_SET), 0);
        assert_int_equal(fputc(c ^ 0xff, f), c ^ 0xff);
    }
    assert_int_equal(fclose(f), 0);
}

/* Offset of the index block of a block-based table: its handle is the
 * second one in the 53-byte footer (format_version 1..5: checksum type,
 * metaindex handle, index handle, padding, version, magic). */
static long index_block_offset(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t foot[53];
    assert_int_equal(fseek(f, -53, SEEK_END), 0);
    assert_int_equal(fread(foot, 1, sizeof(foot), f), sizeof(foot));
    fclose(f);
    const uint8_t *p = foot + 1;
    get_varint(&p); /* metaindex offset */
    get_varint(&p); /* metaindex size */
    uint64_t off = get_varint(&p);
    assert_true(off > 0);
    return (long)off;
}

/* A checkpoint with one table: a read of the state family switches a
 * memtable of more than a few hundred entries to immutable and starts its
 * flush, and closing waits for that flush (ms_ckpt.h).  Returns the
 * table's path in sst. */
static char *damaged_setup(char *sst, size_t sstsz)
{
    char *dir = tmpdir();
    char err[1024];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    char k[32], v[64];
    ms_ckpt_batch *b = ms_ckpt_batch_new();
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "s:key%06d", i);
        snprintf(v, sizeof(v), "value of key %d, long enough to fill blocks", i);
        ms_ckpt_batch_put(b, k, strlen(k), v, strlen(v));
    }
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_buf got = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "s:key000001", 11, &got, err, sizeof(err)), 0);
    ms_buf_free(&got);
    /* The flush runs in the background: wait (bounded) for its table. */
    for (int i = 0; i < 500 && count_sst(dir) == 0; i++)
        usleep(10000);
    ms_ckpt_close(c);
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_ckpt_close(c);
    find_sst(dir, sst, sstsz);
    return dir;
}

static int count_rows(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(int *)ud;
    return 0;
}

static void assert_damage_message(const char *err, const char *sst, const char *reason)
{
    char want[600];
    snprintf(want, sizeof(want), "is damaged: %s is corrupt", sst);
    if (!strstr(err, want) || !strstr(err, reason) || !strstr(err, "restore") ||
        !strstr(err, "remove it") || !strstr(err, "lost") || strstr(err, "in use"))
        fail_msg("message lacks '%s', '%s' or the recovery advice: %s", want, reason, err);
}

/* A table whose index block is damaged fails the open: "block checksum
 * mismatch" names no lock, so this is MS_EDAMAGED (exit 1), never MS_EBUSY
 * (exit 3, "in use by another process"). */
static void test_damaged_index_block_fails_open_as_damage(void **state)
{
    (void)state;
    char sst[600];
    char *dir = damaged_setup(sst, sizeof(sst));
    flip(sst, index_block_offset(sst) + 1, 4);
    char err[1024] = "";
    ms_ckpt *c = NULL;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), MS_EDAMAGED);
    assert_null(c);
    assert_damage_message(err, sst, "block checksum mismatch");
    rmtmp(dir);
}

/* A damaged data block opens fine and fails the first read of that block,
 * by get and by scan, with the same message. */
static void test_damaged_data_block_fails_reads_as_damage(void **state)
{
    (void)state;
    char sst[600];
    char *dir = damaged_setup(sst, sizeof(sst));
    flip(sst, 1, 4);
    char err[1024] = "";
    ms_ckpt *c = NULL;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "s:key000000", 11, &v, err, sizeof(err)), MS_EDAMAGED);
    assert_damage_message(err, sst, "block checksum mismatch");
    ms_buf_free(&v);
    err[0] = '\0';
    int rows = 0;
    assert_int_equal(ms_ckpt_scan(c, "s:", 2, count_rows, &rows, err, sizeof(err)), MS_EDAMAGED);
    assert_damage_message(err, sst, "block checksum mismatch");
    ms_ckpt_close(c);
    rmtmp(dir);
}

static int collect_keys(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v;
    (void)vl;
    ms_buf *b = ud;
    ms_buf_append(b, k, kl);
    ms_buf_putc(b, ' ');
    return 0;
}

static void got_value(void *ud, size_t i, const uint8_t *v, size_t vl)
{
    ms_buf *b = ud;
    if (v)
        ms_buf_printf(b, "%zu=%.*s ", i, (int)vl, (const char *)v);
    else
        ms_buf_printf(b, "%zu=- ", i);
}

/* "s:" keys live in the state family: a batch made without a checkpoint
 * has them routed at commit, the default family (legacy scan) does not
 * see them; a snapshot keeps its view; range scans both ways; MultiGet. */
static void test_state_family_snapshots_and_reads(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[512];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open_mem(dir, 8 << 20, &c, err, sizeof(err)), 0);
    ms_ckpt_stats st;
    ms_ckpt_get_stats(c, &st);
    assert_int_equal(st.budget, 8 << 20);
    assert_int_equal(st.block_cache_cap, 2 << 20); /* a quarter */
    ms_ckpt_batch *b = ms_ckpt_batch_new();
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof(k), "s:q:%d", i);
        ms_ckpt_batch_put(b, k, 5, "v", 1);
    }
    ms_ckpt_batch_put(b, "m:x", 3, "meta", 4);
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_buf out = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_scan_legacy(c, "s:", 2, collect_keys, &out, err, sizeof(err)), 0);
    assert_int_equal(out.len, 0);
    ms_ckpt_snap *snap = ms_ckpt_snapshot(c);
    b = ms_ckpt_batch_for(c);
    ms_ckpt_batch_delete(b, "s:q:1", 5);
    ms_ckpt_batch_put(b, "s:q:9", 5, "w", 1);
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    /* [s:q:1, s:q:5) now, and then */
    ms_buf_reset(&out);
    assert_int_equal(ms_ckpt_scan_range(c, NULL, "s:q:1", 5, "s:q:5", 5, 0, collect_keys, &out, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(out.data, "s:q:2 s:q:3 s:q:4 ");
    ms_buf_reset(&out);
    assert_int_equal(ms_ckpt_scan_range(c, snap, "s:q:1", 5, "s:q:5", 5, 1, collect_keys, &out, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(out.data, "s:q:4 s:q:3 s:q:2 s:q:1 ");
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get_at(c, snap, "s:q:9", 5, &v, err, sizeof(err)), MS_ENOTFOUND);
    assert_int_equal(ms_ckpt_get(c, "s:q:9", 5, &v, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_get(c, "m:x", 3, &v, err, sizeof(err)), 0);
    assert_memory_equal(v.data, "meta", 4);
    const uint8_t *keys[3] = {(const uint8_t *)"s:q:0", (const uint8_t *)"s:q:1",
                              (const uint8_t *)"s:q:9"};
    size_t lens[3] = {5, 5, 5};
    ms_buf_reset(&out);
    assert_int_equal(ms_ckpt_multi_get(c, 3, keys, lens, got_value, &out, err, sizeof(err)), 0);
    assert_string_equal(out.data, "0=v 1=- 2=w ");
    ms_ckpt_snapshot_release(snap);
    ms_buf_free(&v);
    ms_buf_free(&out);
    ms_ckpt_close(c);
    rmtmp(dir);
}

/* Reads of a state family whose memtable holds many entries switch it
 * first (a vector memtable would be copied and sorted by every read). */
static void test_reads_switch_a_big_state_memtable(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[512];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    ms_ckpt_batch *b = ms_ckpt_batch_for(c);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "s:q:%04d", i);
        ms_ckpt_batch_put(b, k, (size_t)n, "v", 1);
    }
    assert_int_equal(ms_ckpt_commit(c, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);
    ms_ckpt_stats st;
    ms_ckpt_get_stats(c, &st);
    assert_int_equal(st.wal_switches, 0);
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "m:none", 6, &v, err, sizeof(err)), MS_ENOTFOUND);
    ms_ckpt_get_stats(c, &st);
    assert_int_equal(st.wal_switches, 0); /* the default family: nothing to switch */
    assert_int_equal(ms_ckpt_get(c, "s:q:0500", 8, &v, err, sizeof(err)), 0);
    ms_ckpt_get_stats(c, &st);
    assert_int_equal(st.wal_switches, 1);
    assert_int_equal(ms_ckpt_get(c, "s:q:0501", 8, &v, err, sizeof(err)), 0);
    ms_ckpt_get_stats(c, &st);
    assert_int_equal(st.wal_switches, 1); /* once per batch of writes */
    ms_buf_free(&v);
    ms_ckpt_close(c);
    rmtmp(dir);
}

static int count_keys(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(size_t *)ud)++;
    return 0;
}

/* ms_ckpt_open_readonly: no lock (it opens beside a writer of this very
 * process, which a second ms_ckpt_open refuses), the checkpoint as of the
 * open (the state family's log replayed, later commits not seen), no
 * writes, and nothing created for a missing or foreign directory. */
static void test_readonly_open_beside_the_writer(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[512];
    ms_ckpt *ro = NULL, *w;
    assert_int_equal(ms_ckpt_open_readonly(dir, &ro, err, sizeof(err)), MS_ENOTFOUND);
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_not_equal(access(dir, F_OK), 0); /* not created */
    char *slash = strrchr(dir, '/');
    *slash = '\0'; /* the temp root: a directory, not a database */
    assert_int_equal(ms_ckpt_open_readonly(dir, &ro, err, sizeof(err)), MS_ENOTFOUND);
    assert_non_null(strstr(err, "is not an mstream checkpoint"));
    *slash = '/';
    assert_null(ro);

    assert_int_equal(ms_ckpt_open(dir, &w, err, sizeof(err)), 0);
    ms_ckpt_batch *b = ms_ckpt_batch_for(w);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "s:q:%04d", i);
        ms_ckpt_batch_put(b, k, (size_t)n, "v", 1);
    }
    ms_ckpt_batch_put(b, "m:last", 6, "1", 1);
    assert_int_equal(ms_ckpt_commit(w, b, err, sizeof(err)), 0);
    ms_ckpt_batch_free(b);

    assert_int_equal(ms_ckpt_open_readonly(dir, &ro, err, sizeof(err)), 0);
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(ro, "m:last", 6, &v, err, sizeof(err)), 0);
    assert_memory_equal(v.data, "1", 1);
    size_t n = 0;
    assert_int_equal(ms_ckpt_scan(ro, "s:q:", 4, count_keys, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1000);
    assert_int_not_equal(ms_ckpt_put_sync(ro, "m:x", 3, "1", 1, err, sizeof(err)), 0);

    /* The writer goes on; the read-only view stays as of its open. */
    assert_int_equal(ms_ckpt_put_sync(w, "m:last", 6, "2", 1, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_put_sync(w, "s:q:new", 7, "v", 1, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_get(ro, "m:last", 6, &v, err, sizeof(err)), 0);
    assert_memory_equal(v.data, "1", 1);
    assert_int_equal(ms_ckpt_get(ro, "s:q:new", 7, &v, err, sizeof(err)), MS_ENOTFOUND);
    ms_ckpt_close(ro);
    assert_int_equal(ms_ckpt_open_readonly(dir, &ro, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_get(ro, "m:last", 6, &v, err, sizeof(err)), 0);
    assert_memory_equal(v.data, "2", 1);
    assert_int_equal(ms_ckpt_get(ro, "s:q:new", 7, &v, err, sizeof(err)), 0);
    ms_ckpt_close(ro);
    ms_buf_free(&v);
    ms_ckpt_close(w);
    rmtmp(dir);
}

static void test_program_from_checkpoint_record(void **state)
{
    (void)state;
    char err[1024];
    ms_sql_program *p = NULL, *q = NULL;
    assert_int_equal(ms_program_load(NULL, &p, err, sizeof(err)), 0);
    char *canon = ms_program_canonical(p);
    assert_int_equal(ms_program_from_checkpoint(canon, strlen(canon), &q, err, sizeof(err)), 0);
    char *again = ms_program_canonical(q);
    assert_string_equal(canon, again);
    assert_string_equal(q->stmts[0].name, "wordcount");
    free(again);
    ms_sql_program_free(q);
    const char *legacy =
        "v1 SELECT word, COUNT(*) AS count FROM words(lines) GROUP BY word OUTPUT complete";
    assert_int_equal(ms_program_from_checkpoint(legacy, strlen(legacy), &q, err, sizeof(err)), 0);
    again = ms_program_canonical(q);
    assert_string_equal(canon, again);
    free(again);
    ms_sql_program_free(q);
    q = NULL;
    assert_int_equal(ms_program_from_checkpoint("SELEKT", 6, &q, err, sizeof(err)), MS_ECORRUPT);
    assert_null(q);
    assert_non_null(strstr(err, "(m:query) does not parse"));
    free(canon);
    ms_sql_program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_put_get_scan),
        cmocka_unit_test(test_second_writer_gets_holder_pid),
        cmocka_unit_test(test_unwritable_path_is_refused_in_words),
        cmocka_unit_test(test_query_binding),
        cmocka_unit_test(test_legacy_wordcount_checkpoint),
        cmocka_unit_test(test_commit_cost_follows_change),
        cmocka_unit_test(test_state_survives_reopen),
        cmocka_unit_test(test_damaged_index_block_fails_open_as_damage),
        cmocka_unit_test(test_damaged_data_block_fails_reads_as_damage),
        cmocka_unit_test(test_state_family_snapshots_and_reads),
        cmocka_unit_test(test_reads_switch_a_big_state_memtable),
        cmocka_unit_test(test_readonly_open_beside_the_writer),
        cmocka_unit_test(test_program_from_checkpoint_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
