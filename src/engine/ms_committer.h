/*
 * The committer: a thread that makes a batch durable while the engine thread
 * already reads the next one.
 *
 *   engine thread:  read N │ build WriteBatch N │ read N+1 ... │ wait N, publish N │ ...
 *   committer:                                 │ rocksdb_write(N, sync) │
 *
 * At most one commit is in flight: the engine waits for commit N before it
 * submits N+1, so commits stay in batch order and a failed commit stops the
 * engine before anything later is made durable.  Publishing (the snapshot
 * swap) stays on the engine thread, after the wait, so nothing is served
 * before it is durable (docs/design.md §2, step 4).
 *
 * `ndurable` counts the commits that succeeded; the committer thread
 * advances it (atomically) the moment a commit is on disk, and the state
 * tables read it to know which changed entries may leave memory
 * (state/ms_table.h) without waiting for the engine to collect the result.
 *
 * Thread-safety: submit/wait/busy/wait_idle on the engine thread only.
 */
#ifndef MS_COMMITTER_H
#define MS_COMMITTER_H

#include <pthread.h>

#include "state/ms_ckpt.h"

typedef struct ms_committer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ms_ckpt *ck;
    ms_ckpt_batch *wb; /* submitted, owned until done */
    int state;         /* 0 idle, 1 submitted, 2 done */
    int quit;
    int started;
    int rc;
    double seconds; /* duration of the last rocksdb write */
    char err[512];
    uint64_t ndurable; /* commits on disk (written by the committer thread) */
} ms_committer;

/* Starts the thread (create it with the engine's signals blocked). */
int ms_committer_start(ms_committer *c, ms_ckpt *ck);
/* Stops the thread; a commit in flight is waited for first. */
void ms_committer_stop(ms_committer *c);
/* Hands a write batch over (ownership too); must not be busy. */
void ms_committer_submit(ms_committer *c, ms_ckpt_batch *wb);
/* 1 while a submitted commit has not been waited for. */
int ms_committer_busy(ms_committer *c);
/* Waits for the submitted commit: its ms_ckpt_commit result, its duration,
 * and the error text. */
int ms_committer_wait(ms_committer *c, double *seconds, char *errstr, size_t errstr_size);
/* Blocks until no commit is being written, leaving its result to
 * ms_committer_wait(). */
void ms_committer_wait_idle(ms_committer *c);

#endif
