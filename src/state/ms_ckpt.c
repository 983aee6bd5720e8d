/*
 * Checkpoint directory on RocksDB (see ms_ckpt.h).
 *
 * Single writer: RocksDB takes an fcntl() write lock on <dir>/LOCK.  When
 * the open fails on that lock we ask the kernel who holds it (F_GETLK gives
 * the holder's pid) and report that instead of RocksDB's raw text.
 *
 * Diagnosis of RocksDB errors (take_err, lock_conflict): the Status text
 * starts with its class ("IO error: ", "Corruption: ", ...), and only that
 * prefix and the lock messages of RocksDB's POSIX file system are trusted:
 *
 *   "IO error: While lock file: <dir>/LOCK: Resource temporarily unavailable"
 *       (EAGAIN/EACCES: another process holds it)          -> MS_EBUSY, exit 3
 *   "IO error: lock hold by current process, ...: <dir>/LOCK: ..."
 *       (this process has it open already)                  -> MS_EBUSY, exit 3
 *   "Corruption: ..." at open (a table's footer or index, the MANIFEST) or at
 *       the first read of a damaged block                   -> MS_EDAMAGED, exit 1
 *   anything else                                           -> MS_EIO, exit 1
 *
 * Never a substring search for "lock": "block checksum mismatch" contains
 * it, and a damaged table once sent users looking for a second process.
 * MS_EDAMAGED is distinct from MS_ECORRUPT (a record we decoded is bad) so
 * callers that reword MS_ECORRUPT keep this message, which names the file,
 * RocksDB's reason and how to recover.
 */
#include "state/ms_ckpt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

struct ms_ckpt {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wsync;
    rocksdb_readoptions_t *ropts;
    char *dir;
};

struct ms_ckpt_batch {
    rocksdb_writebatch_t *wb;
};

/* The file a RocksDB message names: the first "<dir>/NAME" whose NAME is a
 * table (.sst), else the first one at all (MANIFEST-N, N.log, CURRENT).
 * Returns its length in msg, 0 if none; *at is set to its start. */
static size_t named_file(const char *msg, const char *dir, const char **at)
{
    size_t dl = strlen(dir), best = 0;
    for (const char *p = strstr(msg, dir); p; p = strstr(p + 1, dir)) {
        if (p[dl] != '/')
            continue;
        size_t n = dl + 1;
        while (p[n] && (isalnum((unsigned char)p[n]) || strchr("._-", p[n])))
            n++;
        if (n == dl + 1)
            continue;
        int table = n >= 4 && !memcmp(p + n - 4, ".sst", 4);
        if (table || !best) {
            *at = p;
            best = n;
        }
        if (table)
            break;
    }
    return best;
}

/* Converts and frees a RocksDB error string (see the top of this file). */
static int take_err(char *rerr, const char *what, const char *dir, char *errstr, size_t errsz)
{
    const char *msg = rerr;
    if (!strncmp(msg, "Corruption: ", 12)) {
        const char *f = "a file (RocksDB does not say which; see the LOG file there)";
        size_t fl = named_file(msg, dir, &f);
        if (!fl)
            fl = strlen(f);
        /* RocksDB's reason comes last: a short errstr (the committer's)
         * cuts its tail, never the file or the advice. */
        snprintf(
            errstr, errsz,
            "checkpoint %s is damaged: %.*s is corrupt, so its state cannot be trusted and "
            "mstream stops. To recover, restore the directory from a copy made while "
            "mstream was stopped; or remove it to start over with empty state: the counts "
            "and positions it holds are then lost for good, and the input is read again "
            "from the beginning (Kafka: from --starting-offsets). RocksDB's report (%s): \"%s\"",
            dir, (int)fl, f, what, msg);
        rocksdb_free(rerr);
        return MS_EDAMAGED;
    }
    if (!strncmp(msg, "IO error: ", 10))
        msg += 10;
    snprintf(errstr, errsz, "%s in checkpoint %s failed: %s", what, dir, msg);
    rocksdb_free(rerr);
    return MS_EIO;
}

/* 1 if a failed open's error is RocksDB's own report that <dir>/LOCK is
 * held (by another process, or already by this one). */
static int lock_conflict(const char *rerr)
{
    if (strncmp(rerr, "IO error: ", 10) != 0 || !strstr(rerr, "/LOCK: "))
        return 0;
    if (strstr(rerr, "IO error: lock hold by current process"))
        return 1;
    if (strncmp(rerr, "IO error: While lock file: ", 27) != 0)
        return 0;
    size_t n = strlen(rerr);
    static const int busy[] = {EAGAIN, EACCES};
    for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
        const char *why = strerror(busy[i]);
        size_t wl = strlen(why);
        if (n >= wl && !strcmp(rerr + n - wl, why))
            return 1;
    }
    return 0;
}

static int mkdir_p(const char *path, char *errstr, size_t errsz)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
        snprintf(errstr, errsz, "checkpoint path is too long: %s", path);
        return MS_EINVAL;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                snprintf(errstr, errsz, "cannot create checkpoint directory %s: %s at %s", path,
                         strerror(errno), tmp);
                return MS_EIO;
            }
            struct stat st;
            if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
                snprintf(errstr, errsz,
                         "cannot create checkpoint directory %s: %s is not a directory", path, tmp);
                return MS_EIO;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    if (access(path, W_OK) != 0) {
        snprintf(errstr, errsz, "checkpoint directory %s is not writable: %s", path,
                 strerror(errno));
        return MS_EIO;
    }
    return 0;
}

/* Returns the pid holding an fcntl lock on <dir>/LOCK, or 0 if unknown. */
static long lock_holder(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    long pid = 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        pid = (long)fl.l_pid;
    close(fd);
    return pid;
}

int ms_ckpt_open(const char *dir, ms_ckpt **out, char *errstr, size_t errsz)
{
    *out = NULL;
    int rc = mkdir_p(dir, errstr, errsz);
    if (rc)
        return rc;

    ms_ckpt *c = ms_xcalloc(1, sizeof(*c));
    c->dir = ms_xstrdup(dir);
    c->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(c->opts, 1);
    rocksdb_options_set_keep_log_file_num(c->opts, 2);
    rocksdb_options_set_max_open_files(c->opts, 256);
    /* Each commit inserts every changed key into the memtable, and a batch
     * over a large vocabulary changes ~1M keys.  A vector memtable makes
     * those inserts appends; the sort happens when the memtable is flushed,
     * on RocksDB's background thread (the other core), instead of as
     * skip-list inserts inside the commit.  mstream only reads the
     * checkpoint at start-up (state load, recovery), where a vector
     * memtable's slower reads do not matter.  Measured (256 MB Zipf corpus,
     * 64 MB batches of ~1M changed keys): commit p50 329 ms -> see
     * tests/bench/README.md. */
    rocksdb_options_set_memtable_vector_rep(c->opts);
    rocksdb_options_set_allow_concurrent_memtable_write(c->opts, 0);
    rocksdb_options_set_write_buffer_size(c->opts, 64u << 20);
    rocksdb_options_set_max_write_buffer_number(c->opts, 4);
    c->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(c->wsync, 1);
    c->ropts = rocksdb_readoptions_create();

    char *rerr = NULL;
    c->db = rocksdb_open(c->opts, dir, &rerr);
    if (!c->db) {
        if (lock_conflict(rerr)) {
            long pid = lock_holder(dir);
            if (pid > 0)
                snprintf(errstr, errsz,
                         "checkpoint %s is in use by another mstream process (pid %ld); stop it "
                         "or choose another --checkpoint-dir",
                         dir, pid);
            else
                snprintf(errstr, errsz,
                         "checkpoint %s is in use by another process (its pid is unknown: the "
                         "lock is held within this process or by another host); choose another "
                         "--checkpoint-dir",
                         dir);
            rocksdb_free(rerr);
            rc = MS_EBUSY;
        } else {
            rc = take_err(rerr, "opening RocksDB", dir, errstr, errsz);
        }
        ms_ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ms_ckpt_close(ms_ckpt *c)
{
    if (!c)
        return;
    if (c->db)
        rocksdb_close(c->db);
    if (c->ropts)
        rocksdb_readoptions_destroy(c->ropts);
    if (c->wsync)
        rocksdb_writeoptions_destroy(c->wsync);
    if (c->opts)
        rocksdb_options_destroy(c->opts);
    free(c->dir);
    free(c);
}

int ms_ckpt_get(ms_ckpt *c, const void *key, size_t klen, ms_buf *val, char *errstr, size_t errsz)
{
    char *rerr = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get(c->db, c->ropts, key, klen, &vlen, &rerr);
    if (rerr)
        return take_err(rerr, "reading", c->dir, errstr, errsz);
    if (!v)
        return MS_ENOTFOUND;
    ms_buf_reset(val);
    ms_buf_append(val, v, vlen);
    rocksdb_free(v);
    return 0;
}

int ms_ckpt_put_sync(ms_ckpt *c, const void *key, size_t klen, const void *val, size_t vlen,
                     char *errstr, size_t errsz)
{
    char *rerr = NULL;
    rocksdb_put(c->db, c->wsync, key, klen, val, vlen, &rerr);
    if (rerr)
        return take_err(rerr, "synced write", c->dir, errstr, errsz);
    return 0;
}

int ms_ckpt_scan(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                 char *errstr, size_t errsz)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(c->db, c->ropts);
    int rc = 0;
    for (rocksdb_iter_seek(it, prefix, plen); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < plen || memcmp(k, prefix, plen) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        rc = cb(ud, (const uint8_t *)k, kl, (const uint8_t *)v, vl);
        if (rc)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr)
        return take_err(rerr, "scanning", c->dir, errstr, errsz);
    return rc;
}

ms_ckpt_batch *ms_ckpt_batch_new(void)
{
    ms_ckpt_batch *b = ms_xmalloc(sizeof(*b));
    b->wb = rocksdb_writebatch_create();
    return b;
}

void ms_ckpt_batch_put(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put(b->wb, k, kl, v, vl);
}

void ms_ckpt_batch_delete(ms_ckpt_batch *b, const void *k, size_t kl)
{
    rocksdb_writebatch_delete(b->wb, k, kl);
}

size_t ms_ckpt_batch_bytes(ms_ckpt_batch *b)
{
    size_t n = 0;
    rocksdb_writebatch_data(b->wb, &n);
    return n;
}

size_t ms_ckpt_batch_count(ms_ckpt_batch *b)
{
    return (size_t)rocksdb_writebatch_count(b->wb);
}

void ms_ckpt_batch_free(ms_ckpt_batch *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    free(b);
}

int ms_ckpt_commit(ms_ckpt *c, ms_ckpt_batch *b, char *errstr, size_t errsz)
{
    char *rerr = NULL;
    rocksdb_write(c->db, c->wsync, b->wb, &rerr);
    if (rerr)
        return take_err(rerr, "commit (synced write batch)", c->dir, errstr, errsz);
    return 0;
}

uint64_t ms_ckpt_disk_bytes(ms_ckpt *c)
{
    uint64_t v = 0;
    if (!rocksdb_property_int(c->db, "rocksdb.total-sst-files-size", &v)) {
        uint64_t w = 0;
        if (!rocksdb_property_int(c->db, "rocksdb.cur-size-all-mem-tables", &w))
            v += w;
    }
    return v;
}
