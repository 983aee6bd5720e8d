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
 * Thread-safety: engine thread only.
 */
#ifndef MS_CKPT_H
#define MS_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

typedef struct ms_ckpt ms_ckpt;
typedef struct ms_ckpt_batch ms_ckpt_batch;

/* Opens (creating if missing) the checkpoint at dir.  MS_EBUSY only when
 * its lock is held, by another process (errstr names the directory and the
 * holder's pid) or by this one; MS_EDAMAGED when RocksDB finds its files
 * corrupt; MS_EIO with the reason otherwise.
 *
 * Every function below that reads or writes returns MS_EDAMAGED, with a
 * sentence naming the damaged file, RocksDB's reason and how to recover,
 * when RocksDB reports corruption (a block read for the first time may be
 * the damaged one), and MS_EIO for other failures. */
int ms_ckpt_open(const char *dir, ms_ckpt **out, char *errstr, size_t errstr_size);
void ms_ckpt_close(ms_ckpt *c);

/* 0 and the value in val; MS_ENOTFOUND; or MS_EIO/MS_EDAMAGED with errstr. */
int ms_ckpt_get(ms_ckpt *c, const void *key, size_t klen, ms_buf *val, char *errstr,
                size_t errstr_size);
int ms_ckpt_put_sync(ms_ckpt *c, const void *key, size_t klen, const void *val, size_t vlen,
                     char *errstr, size_t errstr_size);

/* Calls cb for every key starting with prefix, in key order; a non-zero
 * return from cb stops the scan and is returned. */
typedef int (*ms_ckpt_scan_cb)(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int ms_ckpt_scan(ms_ckpt *c, const void *prefix, size_t plen, ms_ckpt_scan_cb cb, void *ud,
                 char *errstr, size_t errstr_size);

ms_ckpt_batch *ms_ckpt_batch_new(void);
void ms_ckpt_batch_put(ms_ckpt_batch *b, const void *k, size_t kl, const void *v, size_t vl);
void ms_ckpt_batch_delete(ms_ckpt_batch *b, const void *k, size_t kl);
size_t ms_ckpt_batch_bytes(ms_ckpt_batch *b);
size_t ms_ckpt_batch_count(ms_ckpt_batch *b);
void ms_ckpt_batch_free(ms_ckpt_batch *b);

/* Writes the batch atomically with sync=true. */
int ms_ckpt_commit(ms_ckpt *c, ms_ckpt_batch *b, char *errstr, size_t errstr_size);

/* Approximate bytes on disk of the live data (RocksDB's estimate). */
uint64_t ms_ckpt_disk_bytes(ms_ckpt *c);

#endif
