/*
 * The directory source: text files arriving in a watched directory.
 *
 * Discovery: inotify watch first, then a listing of the directory (files
 * that arrived before start-up or while the engine was down are found), then
 * de-duplication by (device, inode).  IN_Q_OVERFLOW, a lost watch and a
 * periodic timer trigger a full rescan.
 *
 * Positions: per (device, inode) the committed byte offset (always just after
 * a newline), the name last seen, and a content marker (hash of the first
 * bytes) that tells a replaced file reusing an inode from the original.
 * Only complete lines are consumed; bytes after the last newline wait for a
 * later batch (tail semantics).  Names starting with '.' or '_' or ending in
 * ".tmp" are ignored until renamed.
 *
 * Batch protocol, driven by the engine through ms_dirsrc_ops (ms_source.h):
 *   ms_dirsrc_plan()      choose byte ranges (caps applied), fill an ms_plan
 *   ms_dirsrc_read()      read exactly the planned ranges into the input
 *   ms_dirsrc_commit()    add new positions to the commit write batch
 *   ms_dirsrc_committed() the write batch is handed over: move positions
 * The directory is one partition (docs/design.md §3a).
 *
 * Thread-safety: engine thread only.
 */
#ifndef MS_DIRSRC_H
#define MS_DIRSRC_H

#include <signal.h>
#include <stdint.h>

#include "query/ms_pipeline.h"
#include "source/ms_source.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec.h"

#define MS_REJECT_MAP(X)                                                                           \
    X(BINARY, "binary")                                                                            \
    X(UNREADABLE, "unreadable")                                                                    \
    X(VANISHED, "vanished")                                                                        \
    X(NOT_REGULAR, "not_regular")

enum ms_reject {
#define MS__REJ_ENUM(e, s) MS_REJECT_##e,
    MS_REJECT_MAP(MS__REJ_ENUM)
#undef MS__REJ_ENUM
        MS_REJECT_MAX
};
const char *ms_reject_name(enum ms_reject r);

typedef struct ms_dirsrc_stats {
    uint64_t rejected[MS_REJECT_MAX];
    uint64_t truncations;
    uint64_t rotations;
    uint64_t rescans;
    uint64_t overflows;
    uint64_t files_tracked;
    uint64_t file_table_entries; /* in memory, also of files gone but not yet dropped */
    uint64_t pending_bytes;      /* bytes after the last newline of files, not yet consumable */
    uint64_t backlog_files;      /* files with bytes not read yet (planned or not) */
    uint64_t backlog_bytes;      /* ... and those bytes, partial last lines included */
    int watching;                /* the inotify watch is in place on the directory */
} ms_dirsrc_stats;

typedef struct ms_limits {
    uint64_t max_files; /* 0 = no cap */
    uint64_t max_bytes; /* 0 = no cap */
} ms_limits;

typedef struct ms_dirsrc ms_dirsrc;

/* Opens the source on dir and loads committed positions from the
 * checkpoint.  available_now freezes the set of files and their sizes at
 * this moment (Spark's AvailableNow). */
int ms_dirsrc_open(const char *dir, ms_ckpt *ck, int available_now, double rescan_sec,
                   ms_dirsrc **out, char *errstr, size_t errstr_size);
void ms_dirsrc_close(ms_dirsrc *s);

int ms_dirsrc_fd(const ms_dirsrc *s);             /* inotify descriptor, for poll() */
void ms_dirsrc_drain(ms_dirsrc *s);               /* reads pending inotify events */
int ms_dirsrc_maybe_new(const ms_dirsrc *s);      /* events or a due rescan wait */
double ms_dirsrc_next_rescan(const ms_dirsrc *s); /* monotonic time */

/* Fills plan (batch_id left to the caller).  plan->n == 0: nothing to do. */
int ms_dirsrc_plan(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan, char *errstr,
                   size_t errstr_size);

/* Reads the planned ranges into the input (part() before each file
 * range, end() after it).  Returns 0, or MS_EINVAL if *stop became set
 * (the batch is abandoned). */
int ms_dirsrc_read(ms_dirsrc *s, const ms_plan *plan, const ms_input *in,
                   volatile sig_atomic_t *stop, uint64_t *bytes_read);

void ms_dirsrc_commit(ms_dirsrc *s, const ms_plan *plan, ms_ckpt_batch *wb);
void ms_dirsrc_committed(ms_dirsrc *s, const ms_plan *plan);

void ms_dirsrc_get_stats(const ms_dirsrc *s, ms_dirsrc_stats *st);

/* The source's operations (ms_source.h); self is the ms_dirsrc. */
extern const ms_source_ops ms_dirsrc_ops;

/* Name rules of docs/design.md §3.1 (exposed for tests). */
int ms_dirsrc_ignored_name(const char *name);

#endif
