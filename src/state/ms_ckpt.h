/*
 * ms_ckpt: the checkpoint directory, a RocksDB database that one process at
 * a time may write.  This is the only module that includes rocksdb/c.h; it
 * turns RocksDB's `char **errptr` strings into sentences for users and
 * MS_E* codes, and frees them here.
 *
 * Durability: ms_ckpt_put_sync() and ms_ckpt_commit() write with sync=true
 * (WAL fsync'ed before they return).  A batch becomes durable only through
 * ms_ckpt_commit() of one write batch (docs/design.md §2).
 *
 * Two column families, chosen by the key (callers never name them):
 *
 *   "state"    keys "s:..." (state values, query/ms_exec.h): the bulk of
 *              the data.  Vector
 *              memtable (a commit of a million changed groups appends; the
 *              sort happens when the memtable is flushed, on RocksDB's
 *              background thread, over keys each commit wrote in order:
 *              ms_table_sort_dirty), whole-key bloom filters, a block cache,
 *              partitioned index and filter blocks charged to that cache.
 *   "default"  everything else: plans, positions, batch records,
 *              watermarks, totals and top-K records.  Skip-list memtable: recovery
 *              reads these without sorting anything.
 *
 * One write batch spans both families and stays one atomic, synced write.
 *
 * Memory (ms_ckpt_open_mem): `memory` is the share of --state-memory that
 * RocksDB may use: a quarter for the block cache, the rest for write
 * buffers (state memtables of memory/16, up to 4 of them; default family
 * memtables of at most 4 MiB).  The write-ahead log is kept short: a
 * commit that finds 64k entries or more in the state memtable switches it
 * first (its flush runs in the background while the next batch is read),
 * max_total_wal_size is twice a state memtable, and recovery does not
 * flush what it replays (a flush of a million vector-memtable entries
 * takes seconds; replaying them a fraction of one).  So a restart after
 * kill -9 replays about the last commit or two, whatever the size of the
 * state.  Closing waits for a flush in progress to be installed (RocksDB
 * would wait for it and then discard it).
 *
 * Reading the state family: a vector memtable is unsorted; a read of a
 * mutable one copies and sorts it.  So before any read of the state family
 * (point gets, multi-gets, iterators, from any thread), a mutable memtable
 * holding more than a few hundred entries is switched to immutable (a
 * flush without waiting): the read then sees a tiny mutable memtable and
 * immutable ones, each sorted once.  A run that never reads its state
 * (the cache holds all of it) never pays for this.
 *
 * Thread-safety: open/close/commit/put_sync on one thread at a time (the
 * engine's, or its committer's for ms_ckpt_commit); gets, scans,
 * snapshots and stats from any thread (the HTTP thread reads through a
 * snapshot).  Batches belong to one thread.
 */
#ifndef MS_CKPT_H
#define MS_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

typedef struct ms_ckpt ms_ckpt;
typedef struct ms_ckpt_batch ms_ckpt_batch;
typedef struct ms_ckpt_snap ms_ckpt_snap;

/* Opens (creating if missing) the checkpoint at dir.  MS_EBUSY only when
 * its lock is held, by another process (errstr names the directory and the
 * holder's pid) or by this one; MS_EDAMAGED when RocksDB finds its files
 * corrupt; MS_EIO with the reason otherwise.
 *
 * Every function below that reads or writes returns MS_EDAMAGED, with a
 * sentence naming the damaged file, RocksDB's reason and how to recover,
 * when RocksDB reports corruption (a block read for the first time may be
 * the damaged one), and MS_EIO for other failures.
 *
 * ms_ckpt_open() sizes RocksDB's memory for
 * small tests (MS_CKPT_DEFAULT_MEMORY); the engine calls ms_ckpt_open_mem()
 * with its share of --state-memory. */
#define MS_CKPT_DEFAULT_MEMORY (64u << 20)
int ms_ckpt_open(const char *dir, ms_ckpt **out, char *errstr, size_t errstr_size);
int ms_ckpt_open_mem(const char *dir, uint64_t memory, ms_ckpt **out, char *errstr,
                     size_t errstr_size);
void ms_ckpt_close(ms_ckpt *c);

/* Opens the checkpoint at dir for reading only, without its LOCK, so it
 * works while an engine writes it (the checkpoint tools, mstream
 * checkpoint ...).  What it reads is the checkpoint as of the open: the
 * table files the MANIFEST lists then, plus the write-ahead log replayed
 * then, so every batch whose commit returned before the open (commits are
 * synced) and nothing written after it.  Nothing is created: a missing
 * directory, or one without a RocksDB database, is MS_ENOTFOUND with a
 * sentence; damage is MS_EDAMAGED as for ms_ckpt_open().  A file the
 * writer deletes during the open makes it try again (a few times, 20 ms
 * apart).  Gets and scans work as on a writable checkpoint; writes fail
 * (RocksDB refuses them); nothing is flushed.  A format-1 checkpoint
 * (default family only) reads its state records from the default family. */
int ms_ckpt_open_readonly(const char *dir, ms_ckpt **out, char *errstr, size_t errstr_size);

/* 1 for keys that live in the state family ("s:..."). */
static inline int ms_ckpt_is_state_key(const void *k, size_t n)
{
    const char *p = k;
    return n >= 2 && p[0] == 's' && p[1] == ':';
}

/* 0 and the value in val; MS_ENOTFOUND; or MS_EIO/MS_EDAMAGED with errstr.  snap may be
 * NULL (the latest state). */
int ms_ckpt_get(ms_ckpt *c, const void *key, size_t klen, ms_buf *val, char *errstr,
                size_t errstr_size);
int ms_ckpt_get_at(ms_ckpt *c, const ms_ckpt_snap *snap, const void *key, size_t klen, ms_buf *val,
                   char *errstr, size_t errstr_size);
int ms_ckpt_put_sync(ms_ckpt *c, const void *key, size_t klen, const void *val, size_t vlen,
                     char *errstr, size_t errstr_size);

/* Point lookups of n keys of the state family in one call (RocksDB's
 * batched MultiGet; keys need not be sorted).  cb gets each key's index
 * and its value, or NULL/0 when absent.  0, or MS_EIO with errstr. */
typedef void (*ms_ckpt_multi_cb)(void *ud, size_t i, const uint8_t *v, size_t vl);
int ms_ckpt_multi_get(ms_ckpt *c, size_t n, const uint8_t *const *keys, const size_t *klens,
                      ms_ckpt_multi_cb cb, void *ud, char *errstr, size_t errstr_size);

/* Calls cb for every key starting with prefix, in key order; a non-zero
 * return from cb stops the scan and is returned. */
typedef int (*ms_ckpt_scan_cb)(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int ms_ckpt_scan(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                 char *errstr, size_t errstr_size);
/* Keys in [lo, hi) (hi NULL: every key from lo on that starts with lo's
 * family), ascending, or descending with reverse; snap may be NULL.  The
 * family is lo's. */
int ms_ckpt_scan_range(ms_ckpt *c, const ms_ckpt_snap *snap, const void *lo, size_t lolen,
                       const void *hi, size_t hilen, int reverse, ms_ckpt_scan_cb cb, void *ud,
                       char *errstr, size_t errstr_size);
/* The default family only, whatever the key: for checkpoints written
 * before the state family existed (format 1), whose state records are
 * moved over once (ms_exec_load). */
int ms_ckpt_scan_legacy(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                        char *errstr, size_t errstr_size);

/* A consistent read view (RocksDB snapshot): what was committed when it
 * was taken.  Any thread may use and release it; release every snapshot
 * before ms_ckpt_close(). */
ms_ckpt_snap *ms_ckpt_snapshot(ms_ckpt *c);
void ms_ckpt_snapshot_release(ms_ckpt_snap *s);

/* Write batches.  ms_ckpt_batch_for(c) makes a batch for checkpoint c
 * (state keys go to its state family as they are added);
 * ms_ckpt_batch_new() makes one without a checkpoint, whose state keys are
 * routed when it is committed (a copy of the batch: fine for positions and
 * tests, not for a large commit). */
ms_ckpt_batch *ms_ckpt_batch_for(ms_ckpt *c);
ms_ckpt_batch *ms_ckpt_batch_new(void);
void ms_ckpt_batch_put(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl);
void ms_ckpt_batch_delete(ms_ckpt_batch *b, const void *k, size_t kl);
/* Deletes (writes) k in the default family whatever it looks like: legacy
 * state records being moved to the state family (and, for the tests of
 * that move, written where format 1 kept them). */
void ms_ckpt_batch_delete_legacy(ms_ckpt_batch *b, const void *k, size_t kl);
void ms_ckpt_batch_put_legacy(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl);
size_t ms_ckpt_batch_bytes(ms_ckpt_batch *b);
size_t ms_ckpt_batch_count(ms_ckpt_batch *b);
void ms_ckpt_batch_free(ms_ckpt_batch *b);

/* Writes the batch atomically with sync=true. */
int ms_ckpt_commit(ms_ckpt *c, ms_ckpt_batch *b, char *errstr, size_t errstr_size);

/* Approximate bytes on disk of the live data (RocksDB's estimate). */
uint64_t ms_ckpt_disk_bytes(ms_ckpt *c);
/* Approximate bytes on disk (SST files) of the keys in [lo, hi). */
uint64_t ms_ckpt_range_bytes(ms_ckpt *c, const void *lo, size_t lolen, const void *hi,
                             size_t hilen);

typedef struct ms_ckpt_stats {
    uint64_t sst_bytes;         /* SST files, both families */
    uint64_t memtable_bytes;    /* memtables (mutable and immutable), both families */
    uint64_t block_cache_bytes; /* block cache in use (data, index and filter blocks) */
    uint64_t block_cache_cap;
    uint64_t wal_switches; /* state memtables switched before a read */
    uint64_t budget;       /* the memory RocksDB was given */
    uint64_t bg_jobs;      /* flushes and compactions running now */
    uint64_t
        pending_compaction_bytes; /* RocksDB's estimate of what compaction still has to rewrite */
} ms_ckpt_stats;
void ms_ckpt_get_stats(ms_ckpt *c, ms_ckpt_stats *st);

#endif
