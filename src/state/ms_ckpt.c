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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

/* A state memtable holding more entries than this is switched to immutable
 * before the state family is read (see ms_ckpt.h): copying and sorting a
 * few hundred pointers per read is cheap, a million is not. */
#define SWITCH_MIN_ENTRIES 256
/* A commit finding c->switch_bytes of state records in the state memtable
 * switches it first (its flush runs in the background while the next batch
 * is read): the write-ahead log a crash leaves, and so the replay at
 * restart, stays about the last commit or two long.  The last commit itself
 * is not switched: a clean exit right after it waits for no flush, and the
 * next start replays it.  RocksDB's own switch (write_buffer_size) is set
 * far above that, so that a replay never has to flush on the way (it
 * would, synchronously, with a memtable fuller than write_buffer_size). */

static const char *const cf_names[2] = {"default", "state"};

struct ms_ckpt {
    rocksdb_t *db;
    rocksdb_options_t *opts;    /* database (and default family) options */
    rocksdb_options_t *cf_opts; /* state family */
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *filter;        /* owned by table once set */
    rocksdb_column_family_handle_t *cf[2]; /* [0] default, [1] state */
    rocksdb_writeoptions_t *wsync;
    rocksdb_readoptions_t *ropts;
    rocksdb_flushoptions_t *fo_nowait;
    uint64_t state_active;       /* entries written to the state memtable since its last switch */
    uint64_t state_active_bytes; /* ... and their bytes */
    uint64_t switch_bytes;       /* a commit switches the memtable first past this */
    uint64_t switches;
    uint64_t budget;
    int readonly; /* ms_ckpt_open_readonly: no writes, no flushes, no LOCK */
    char *dir;
};

struct ms_ckpt_batch {
    rocksdb_writebatch_t *wb;
    ms_ckpt *c;         /* NULL: a batch without a state family */
    size_t nstate;      /* state-family records in it */
    size_t state_bytes; /* their keys and values */
};

struct ms_ckpt_snap {
    ms_ckpt *c;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
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

static void state_switch(ms_ckpt *c, uint64_t min);

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static rocksdb_column_family_handle_t *cf_of(const ms_ckpt *c, const void *k, size_t kl)
{
    return c->cf[ms_ckpt_is_state_key(k, kl)];
}

/* Sizes RocksDB from its share of --state-memory (see ms_ckpt.h). */
static int make_options(ms_ckpt *c, uint64_t memory, char *errstr, size_t errsz)
{
    c->budget = memory;
    uint64_t cache = clamp_u64(memory / 4, 1u << 20, UINT64_C(1) << 40);
    uint64_t wbs = clamp_u64(memory / 2, 1u << 20, 256u << 20);
    uint64_t wbs_default = clamp_u64(memory / 64, 1u << 20, 4u << 20);
    c->switch_bytes = clamp_u64(memory / 16, 256u << 10, 16u << 20);

    /* Database options first, from text (avoid_flush_during_recovery has
     * no setter in the C API), then everything else on that object. */
    rocksdb_options_t *base = rocksdb_options_create();
    c->opts = rocksdb_options_create();
    char *rerr = NULL;
    rocksdb_get_options_from_string(base, "avoid_flush_during_recovery=true", c->opts, &rerr);
    rocksdb_options_destroy(base);
    if (rerr) {
        snprintf(errstr, errsz, "RocksDB options for checkpoint %s: %s", c->dir, rerr);
        rocksdb_free(rerr);
        return MS_EIO;
    }
    rocksdb_options_set_create_if_missing(c->opts, 1);
    rocksdb_options_set_create_missing_column_families(c->opts, 1);
    rocksdb_options_set_keep_log_file_num(c->opts, 2);
    rocksdb_options_set_max_open_files(c->opts, 256);
    rocksdb_options_set_max_background_jobs(c->opts, 2);
    /* Required by the vector memtable; mstream writes from one thread. */
    rocksdb_options_set_allow_concurrent_memtable_write(c->opts, 0);
    /* Replay after a crash is bounded by this plus the last commit. */
    rocksdb_options_set_max_total_wal_size(c->opts, 4 * c->switch_bytes + wbs_default);

    c->cache = rocksdb_cache_create_lru((size_t)cache);
    c->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(c->table, c->cache);
    c->filter = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(c->table, c->filter);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(c->table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(c->table, 1);
    /* Partitioned index and filters: a small cache holds the partitions a
     * lookup needs, not one filter block the size of a whole file. */
    rocksdb_block_based_options_set_index_type(
        c->table, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(c->table, 1);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(c->table, 1);
    rocksdb_block_based_options_set_format_version(c->table, 5);

    /* The default family: small records, read at start-up. */
    rocksdb_options_set_block_based_table_factory(c->opts, c->table);
    rocksdb_options_set_write_buffer_size(c->opts, (size_t)wbs_default);
    /* Its memtables are small, and switched with the state's (so that old
     * logs can go): a few may wait behind a big state flush without
     * RocksDB holding the switch (and the commit doing it) back. */
    rocksdb_options_set_max_write_buffer_number(c->opts, 8);

    /* The state family.  Each commit inserts every changed key, and a
     * batch over a large vocabulary changes ~1M keys: a vector memtable
     * makes those inserts appends, and the sort happens when the memtable
     * is flushed, on RocksDB's background thread (the other core),
     * instead of as skip-list inserts inside the commit (tests/bench). */
    c->cf_opts = rocksdb_options_create_copy(c->opts);
    rocksdb_options_set_memtable_vector_rep(c->cf_opts);
    rocksdb_options_set_write_buffer_size(c->cf_opts, (size_t)wbs);
    rocksdb_options_set_arena_block_size(c->cf_opts, 1u << 20);
    /* Switched memtables wait for the one flush thread: a heavy-update
     * run queues a few (each about switch_bytes plus a commit) before
     * RocksDB would slow the writes down. */
    rocksdb_options_set_max_write_buffer_number(c->cf_opts, 8);
    /* A flush per batch or two makes L0 files quickly; compacting them
     * eight at a time (bloom filters keep reads cheap meanwhile) halves the
     * rewrites of the level below. */
    rocksdb_options_set_level0_file_num_compaction_trigger(c->cf_opts, 8);
    rocksdb_options_set_level0_slowdown_writes_trigger(c->cf_opts, 24);
    rocksdb_options_set_level0_stop_writes_trigger(c->cf_opts, 40);
    return 0;
}

int ms_ckpt_open_mem(const char *dir, uint64_t memory, ms_ckpt **out, char *errstr, size_t errsz)
{
    *out = NULL;
    int rc = mkdir_p(dir, errstr, errsz);
    if (rc)
        return rc;

    ms_ckpt *c = ms_xcalloc(1, sizeof(*c));
    c->dir = ms_xstrdup(dir);
    rc = make_options(c, memory, errstr, errsz);
    if (rc) {
        ms_ckpt_close(c);
        return rc;
    }
    c->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(c->wsync, 1);
    c->ropts = rocksdb_readoptions_create();
    c->fo_nowait = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(c->fo_nowait, 0);

    char *rerr = NULL;
    const rocksdb_options_t *cfo[2] = {c->opts, c->cf_opts};
    c->db = rocksdb_open_column_families(c->opts, dir, 2, cf_names, cfo, c->cf, &rerr);
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
        c->cf[0] = c->cf[1] = NULL;
        ms_ckpt_close(c);
        return rc;
    }
    /* What recovery replayed into the state memtable (it is not flushed
     * during recovery): switched before the first read of the state. */
    uint64_t n = 0;
    if (rocksdb_property_int_cf(c->db, c->cf[1], "rocksdb.num-entries-active-mem-table", &n) == 0)
        c->state_active = n;
    if (rocksdb_property_int_cf(c->db, c->cf[1], "rocksdb.cur-size-active-mem-table", &n) == 0)
        c->state_active_bytes = n;
    *out = c;
    return 0;
}

/* ------------------------------------------------------ read-only open */

/* 1 when dir holds a RocksDB database (its CURRENT file names the
 * MANIFEST); nothing is created either way. */
static int is_database(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof(path), "%s/CURRENT", dir) >= (int)sizeof(path))
        return 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* RocksDB reports a file it listed but could not open ("No such file or
 * directory": the writer deleted an obsolete log or table meanwhile). */
static int vanished_file(const char *rerr)
{
    return !strncmp(rerr, "IO error: ", 10) && strstr(rerr, "No such file or directory");
}

int ms_ckpt_open_readonly(const char *dir, ms_ckpt **out, char *errstr, size_t errsz)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(errstr, errsz, "checkpoint directory %s: %s", dir, strerror(errno));
        return MS_ENOTFOUND;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errstr, errsz, "checkpoint directory %s is not a directory", dir);
        return MS_ENOTFOUND;
    }
    if (!is_database(dir)) {
        snprintf(errstr, errsz,
                 "%s is not an mstream checkpoint (it holds no RocksDB database: no CURRENT file)",
                 dir);
        return MS_ENOTFOUND;
    }
    ms_ckpt *c = ms_xcalloc(1, sizeof(*c));
    c->dir = ms_xstrdup(dir);
    c->readonly = 1;
    int rc = make_options(c, MS_CKPT_DEFAULT_MEMORY, errstr, errsz);
    if (rc) {
        ms_ckpt_close(c);
        return rc;
    }
    rocksdb_options_set_create_if_missing(c->opts, 0);
    rocksdb_options_set_create_missing_column_families(c->opts, 0);
    /* Every table file is opened now, so a table the writer compacts away
     * later stays readable through its descriptor. */
    rocksdb_options_set_max_open_files(c->opts, -1);
    rocksdb_options_set_max_open_files(c->cf_opts, -1);
    /* The log replayed into the state family goes into a skip list (the
     * writer's vector memtable would be copied and sorted by every read,
     * and a read-only database cannot switch it). */
    rocksdb_options_destroy(c->cf_opts);
    c->cf_opts = rocksdb_options_create_copy(c->opts);
    rocksdb_options_set_write_buffer_size(c->cf_opts, 256u << 20);
    c->ropts = rocksdb_readoptions_create();

    /* The writer may delete a log, a table or a MANIFEST between RocksDB's
     * listing and its open: try again a few times (bounded).  Format 1 has
     * the default family only; its state records live there (cf_of routes
     * "s:" keys to cf[1], which is then the default family). */
    const rocksdb_options_t *cfo[2] = {c->opts, c->cf_opts};
    int nopen = 1;
    for (int attempt = 0;; attempt++) {
        char *rerr = NULL;
        size_t ncf = 0;
        char **names = rocksdb_list_column_families(c->opts, dir, &ncf, &rerr);
        if (!rerr) {
            nopen = 1;
            for (size_t i = 0; i < ncf; i++)
                if (!strcmp(names[i], cf_names[1]))
                    nopen = 2;
        }
        if (names) /* also after an error: an empty list is still allocated */
            rocksdb_list_column_families_destroy(names, ncf);
        if (!rerr) {
            c->db = rocksdb_open_for_read_only_column_families(c->opts, dir, nopen, cf_names, cfo,
                                                               c->cf, 0, &rerr);
        }
        if (c->db)
            break;
        if (attempt < 9 && vanished_file(rerr)) {
            rocksdb_free(rerr);
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        rc = take_err(rerr, "opening RocksDB read-only", dir, errstr, errsz);
        c->cf[0] = c->cf[1] = NULL;
        ms_ckpt_close(c);
        return rc;
    }
    if (nopen == 1)
        c->cf[1] = c->cf[0];
    *out = c;
    return 0;
}

int ms_ckpt_open(const char *dir, ms_ckpt **out, char *errstr, size_t errsz)
{
    return ms_ckpt_open_mem(dir, MS_CKPT_DEFAULT_MEMORY, out, errstr, errsz);
}

/* RocksDB's close waits for a flush in progress and then throws its result
 * away (its log is replayed at the next start): wait for it to be
 * installed instead (bounded).  Flushes not started yet are left to the
 * next start's replay. */
static void wait_flushes(ms_ckpt *c)
{
    for (int i = 0; i < 12000; i++) {
        uint64_t running = 0;
        if (rocksdb_property_int(c->db, "rocksdb.num-running-flushes", &running) != 0 || !running)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void ms_ckpt_close(ms_ckpt *c)
{
    if (!c)
        return;
    if (c->db && c->cf[0] && !c->readonly)
        wait_flushes(c);
    for (int i = 0; i < 2; i++)
        if (c->cf[i] && (i == 0 || c->cf[1] != c->cf[0]))
            rocksdb_column_family_handle_destroy(c->cf[i]);
    if (c->db)
        rocksdb_close(c->db);
    if (c->ropts)
        rocksdb_readoptions_destroy(c->ropts);
    if (c->wsync)
        rocksdb_writeoptions_destroy(c->wsync);
    if (c->fo_nowait)
        rocksdb_flushoptions_destroy(c->fo_nowait);
    if (c->cf_opts)
        rocksdb_options_destroy(c->cf_opts);
    if (c->opts)
        rocksdb_options_destroy(c->opts);
    if (c->table)
        rocksdb_block_based_options_destroy(c->table); /* frees the filter policy too */
    else if (c->filter)
        rocksdb_filterpolicy_destroy(c->filter);
    if (c->cache)
        rocksdb_cache_destroy(c->cache);
    free(c->dir);
    free(c);
}

/* Switches the state memtable to immutable (its flush runs in the
 * background) when it holds at least `min` entries.  Any thread. */
static void state_switch(ms_ckpt *c, uint64_t min)
{
    if (c->readonly)
        return; /* a read-only database cannot flush; its memtables are skip lists */
    if (__atomic_load_n(&c->state_active, __ATOMIC_RELAXED) < min)
        return;
    if (__atomic_exchange_n(&c->state_active, 0, __ATOMIC_ACQ_REL) < min)
        return; /* another thread just did it */
    __atomic_store_n(&c->state_active_bytes, 0, __ATOMIC_RELAXED);
    char *rerr = NULL;
    /* The default family too (its records are small): a log file is
     * deleted once every family is flushed past it. */
    rocksdb_flush_cf(c->db, c->fo_nowait, c->cf[1], &rerr);
    if (!rerr)
        rocksdb_flush_cf(c->db, c->fo_nowait, c->cf[0], &rerr);
    if (rerr) {
        /* Reads stay correct, only slower: say so once per failure. */
        ms_warn("checkpoint %s: switching the state memtable before a read failed: %s", c->dir,
                rerr);
        rocksdb_free(rerr);
        return;
    }
    __atomic_add_fetch(&c->switches, 1, __ATOMIC_RELAXED);
}

/* Before a read of the state family: a big mutable vector memtable is
 * switched to immutable (ms_ckpt.h). */
static void state_read_prepare(ms_ckpt *c)
{
    state_switch(c, SWITCH_MIN_ENTRIES);
}

static int get_with(ms_ckpt *c, const rocksdb_readoptions_t *ro, const void *key, size_t klen,
                    ms_buf *val, char *errstr, size_t errsz)
{
    rocksdb_column_family_handle_t *cf = cf_of(c, key, klen);
    if (cf == c->cf[1])
        state_read_prepare(c);
    char *rerr = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(c->db, ro, cf, key, klen, &vlen, &rerr);
    if (rerr)
        return take_err(rerr, "reading", c->dir, errstr, errsz);
    if (!v)
        return MS_ENOTFOUND;
    ms_buf_reset(val);
    ms_buf_append(val, v, vlen);
    rocksdb_free(v);
    return 0;
}

int ms_ckpt_get(ms_ckpt *c, const void *key, size_t klen, ms_buf *val, char *errstr, size_t errsz)
{
    return get_with(c, c->ropts, key, klen, val, errstr, errsz);
}

int ms_ckpt_get_at(ms_ckpt *c, const ms_ckpt_snap *snap, const void *key, size_t klen, ms_buf *val,
                   char *errstr, size_t errsz)
{
    return get_with(c, snap ? snap->ro : c->ropts, key, klen, val, errstr, errsz);
}

int ms_ckpt_put_sync(ms_ckpt *c, const void *key, size_t klen, const void *val, size_t vlen,
                     char *errstr, size_t errsz)
{
    char *rerr = NULL;
    rocksdb_put_cf(c->db, c->wsync, cf_of(c, key, klen), key, klen, val, vlen, &rerr);
    if (rerr)
        return take_err(rerr, "synced write", c->dir, errstr, errsz);
    if (ms_ckpt_is_state_key(key, klen))
        __atomic_add_fetch(&c->state_active, 1, __ATOMIC_RELAXED);
    return 0;
}

int ms_ckpt_multi_get(ms_ckpt *c, size_t n, const uint8_t *const *keys, const size_t *klens,
                      ms_ckpt_multi_cb cb, void *ud, char *errstr, size_t errsz)
{
    if (!n)
        return 0;
    state_read_prepare(c);
    rocksdb_pinnableslice_t **vals = ms_xcalloc(n, sizeof(*vals));
    char **errs = ms_xcalloc(n, sizeof(*errs));
    rocksdb_batched_multi_get_cf(c->db, c->ropts, c->cf[1], n, (const char *const *)keys, klens,
                                 vals, errs, false);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i]) {
            if (rc == 0)
                rc = take_err(errs[i], "reading state", c->dir, errstr, errsz);
            else
                rocksdb_free(errs[i]);
        } else if (rc == 0) {
            size_t vl = 0;
            const char *v = vals[i] ? rocksdb_pinnableslice_value(vals[i], &vl) : NULL;
            cb(ud, i, (const uint8_t *)v, v ? vl : 0);
        }
        if (vals[i])
            rocksdb_pinnableslice_destroy(vals[i]);
    }
    free(vals);
    free(errs);
    return rc;
}

static int scan_iter(ms_ckpt *c, rocksdb_iterator_t *it, const void *lo, size_t lolen,
                     const void *hi, size_t hilen, int reverse, int prefix_only, ms_ckpt_scan_cb cb,
                     void *ud, char *errstr, size_t errsz)
{
    int rc = 0;
    if (reverse) {
        if (hi) {
            rocksdb_iter_seek_for_prev(it, hi, hilen);
            /* hi is exclusive */
            if (rocksdb_iter_valid(it)) {
                size_t kl;
                const char *k = rocksdb_iter_key(it, &kl);
                if (kl == hilen && memcmp(k, hi, hilen) == 0)
                    rocksdb_iter_prev(it);
            }
        } else {
            rocksdb_iter_seek_to_last(it);
        }
    } else {
        rocksdb_iter_seek(it, lo, lolen);
    }
    for (; rocksdb_iter_valid(it); reverse ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (prefix_only) {
            if (kl < lolen || memcmp(k, lo, lolen) != 0)
                break;
        } else {
            size_t m = kl < lolen ? kl : lolen;
            int below = memcmp(k, lo, m) < 0 || (memcmp(k, lo, m) == 0 && kl < lolen);
            if (reverse && below)
                break;
            if (hi && !reverse) {
                size_t mh = kl < hilen ? kl : hilen;
                int ch = memcmp(k, hi, mh);
                if (ch > 0 || (ch == 0 && kl >= hilen))
                    break;
            }
        }
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

int ms_ckpt_scan(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                 char *errstr, size_t errsz)
{
    rocksdb_column_family_handle_t *cf = cf_of(c, prefix, plen);
    if (cf == c->cf[1])
        state_read_prepare(c);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->db, c->ropts, cf);
    return scan_iter(c, it, prefix, plen, NULL, 0, 0, 1, cb, ud, errstr, errsz);
}

int ms_ckpt_scan_legacy(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                        char *errstr, size_t errsz)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->db, c->ropts, c->cf[0]);
    return scan_iter(c, it, prefix, plen, NULL, 0, 0, 1, cb, ud, errstr, errsz);
}

int ms_ckpt_scan_range(ms_ckpt *c, const ms_ckpt_snap *snap, const void *lo, size_t lolen,
                       const void *hi, size_t hilen, int reverse, ms_ckpt_scan_cb cb, void *ud,
                       char *errstr, size_t errsz)
{
    rocksdb_column_family_handle_t *cf = cf_of(c, lo, lolen);
    if (cf == c->cf[1])
        state_read_prepare(c);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (snap)
        rocksdb_readoptions_set_snapshot(ro, snap->snap);
    if (hi)
        rocksdb_readoptions_set_iterate_upper_bound(ro, hi, hilen);
    rocksdb_readoptions_set_iterate_lower_bound(ro, lo, lolen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(c->db, ro, cf);
    int rc = scan_iter(c, it, lo, lolen, hi, hilen, reverse, 0, cb, ud, errstr, errsz);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

ms_ckpt_snap *ms_ckpt_snapshot(ms_ckpt *c)
{
    ms_ckpt_snap *s = ms_xcalloc(1, sizeof(*s));
    s->c = c;
    s->snap = rocksdb_create_snapshot(c->db);
    s->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(s->ro, s->snap);
    return s;
}

void ms_ckpt_snapshot_release(ms_ckpt_snap *s)
{
    if (!s)
        return;
    rocksdb_readoptions_destroy(s->ro);
    rocksdb_release_snapshot(s->c->db, s->snap);
    free(s);
}

ms_ckpt_batch *ms_ckpt_batch_for(ms_ckpt *c)
{
    ms_ckpt_batch *b = ms_xcalloc(1, sizeof(*b));
    b->wb = rocksdb_writebatch_create();
    b->c = c;
    return b;
}

ms_ckpt_batch *ms_ckpt_batch_new(void)
{
    return ms_ckpt_batch_for(NULL);
}

void ms_ckpt_batch_put(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl)
{
    if (ms_ckpt_is_state_key(k, kl)) {
        b->nstate++;
        b->state_bytes += kl + vl;
        if (b->c) {
            rocksdb_writebatch_put_cf(b->wb, b->c->cf[1], k, kl, v, vl);
            return;
        }
    }
    rocksdb_writebatch_put(b->wb, k, kl, v, vl);
}

void ms_ckpt_batch_delete(ms_ckpt_batch *b, const void *k, size_t kl)
{
    if (ms_ckpt_is_state_key(k, kl)) {
        b->nstate++;
        b->state_bytes += kl;
        if (b->c) {
            rocksdb_writebatch_delete_cf(b->wb, b->c->cf[1], k, kl);
            return;
        }
    }
    rocksdb_writebatch_delete(b->wb, k, kl);
}

void ms_ckpt_batch_delete_legacy(ms_ckpt_batch *b, const void *k, size_t kl)
{
    rocksdb_writebatch_delete(b->wb, k, kl);
}

void ms_ckpt_batch_put_legacy(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put(b->wb, k, kl, v, vl);
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

static void rebuild_put(void *ud, const char *k, size_t kl, const char *v, size_t vl)
{
    ms_ckpt_batch_put(ud, k, kl, v, vl);
}

static void rebuild_delete(void *ud, const char *k, size_t kl)
{
    ms_ckpt_batch_delete(ud, k, kl);
}

int ms_ckpt_commit(ms_ckpt *c, ms_ckpt_batch *b, char *errstr, size_t errsz)
{
    if (b->nstate && b->c != c) {
        if (b->c) {
            snprintf(errstr, errsz,
                     "internal error: a write batch made for another checkpoint was committed "
                     "to %s",
                     c->dir);
            return MS_EINVAL;
        }
        /* Made without a checkpoint (ms_ckpt_batch_new): its state records
         * sit in the default family's part; route them now (a copy). */
        ms_ckpt_batch *r = ms_ckpt_batch_for(c);
        rocksdb_writebatch_iterate(b->wb, r, rebuild_put, rebuild_delete);
        rocksdb_writebatch_destroy(b->wb);
        b->wb = r->wb;
        b->c = c;
        b->nstate = r->nstate;
        b->state_bytes = r->state_bytes;
        free(r);
    }
    if (b->nstate && __atomic_load_n(&c->state_active_bytes, __ATOMIC_RELAXED) >= c->switch_bytes)
        state_switch(c, 1);
    char *rerr = NULL;
    rocksdb_write(c->db, c->wsync, b->wb, &rerr);
    if (rerr)
        return take_err(rerr, "commit (synced write batch)", c->dir, errstr, errsz);
    if (b->nstate) {
        __atomic_add_fetch(&c->state_active, b->nstate, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->state_active_bytes, b->state_bytes, __ATOMIC_RELAXED);
    }
    return 0;
}

static uint64_t prop_sum(ms_ckpt *c, const char *name)
{
    uint64_t total = 0;
    for (int i = 0; i < (c->cf[1] == c->cf[0] ? 1 : 2); i++) {
        uint64_t v = 0;
        if (rocksdb_property_int_cf(c->db, c->cf[i], name, &v) == 0)
            total += v;
    }
    return total;
}

uint64_t ms_ckpt_disk_bytes(ms_ckpt *c)
{
    return prop_sum(c, "rocksdb.total-sst-files-size") +
           prop_sum(c, "rocksdb.cur-size-all-mem-tables");
}

uint64_t ms_ckpt_range_bytes(ms_ckpt *c, const void *lo, size_t lolen, const void *hi, size_t hilen)
{
    const char *start = lo, *limit = hi;
    uint64_t size = 0;
    char *rerr = NULL;
    rocksdb_approximate_sizes_cf(c->db, cf_of(c, lo, lolen), 1, &start, &lolen, &limit, &hilen,
                                 &size, &rerr);
    if (rerr) {
        rocksdb_free(rerr);
        return 0;
    }
    return size;
}

void ms_ckpt_get_stats(ms_ckpt *c, ms_ckpt_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->sst_bytes = prop_sum(c, "rocksdb.total-sst-files-size");
    st->memtable_bytes = prop_sum(c, "rocksdb.cur-size-all-mem-tables");
    st->block_cache_bytes = rocksdb_cache_get_usage(c->cache);
    st->block_cache_cap = rocksdb_cache_get_capacity(c->cache);
    st->wal_switches = __atomic_load_n(&c->switches, __ATOMIC_RELAXED);
    st->budget = c->budget;
    uint64_t v = 0;
    if (rocksdb_property_int(c->db, "rocksdb.num-running-compactions", &v) == 0)
        st->bg_jobs += v;
    if (rocksdb_property_int(c->db, "rocksdb.num-running-flushes", &v) == 0)
        st->bg_jobs += v;
    st->pending_compaction_bytes = prop_sum(c, "rocksdb.estimate-pending-compaction-bytes");
}
