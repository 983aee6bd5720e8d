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
 * Files, as Spark's file source options say (docs/files.md):
 *   - --recursive: one inotify watch per directory, a directory created or
 *     moved in is watched, then listed; names are paths relative to the
 *     input directory ("2024/05/a.csv"); directories with an ignored name
 *     and symbolic links to directories are not entered.
 *   - --path-glob-filter: a file whose name does not match is not read;
 *     one renamed to a matching name is, and one renamed away keeps its
 *     position (renamed back, it is read on from there).
 *   - --latest-first: newest mtime first; --max-file-age: files never read
 *     whose mtime is older than the newest file's minus the age are left.
 *   - .gz files are gzip: positions count compressed bytes and stand only
 *     at the end of a gzip member whose text ends with a newline, so a plan
 *     re-run after a crash inflates the same members into the same text.
 *     The planner inflates what it plans first (gz_walk): a range is
 *     planned only once its members are complete and valid, so the reader
 *     never feeds a line of a damaged member (a truncated last member
 *     waits, as a line without its newline does; a damaged one is rejected
 *     as bad_gzip).
 *   - --clean-source: a file is finished when the checkpoint (read back,
 *     so the commit is durable) holds it consumed to its last byte and it
 *     has not changed since; it is then deleted, or moved below the
 *     archive directory with its relative path (rename, or copy + fsync +
 *     unlink across file systems), the directories synced, and its
 *     position dropped by the next commit.
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
    X(NOT_REGULAR, "not_regular")                                                                  \
    X(BAD_GZIP, "bad_gzip")

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
    uint64_t watches;            /* directories watched (--recursive: the subdirectories too) */
    uint64_t too_old;            /* files left unread by --max-file-age (at the last plan) */
    uint64_t archived, deleted;  /* files cleaned by --clean-source */
    uint64_t clean_failures;     /* archive or delete attempts that failed (retried) */
} ms_dirsrc_stats;

/* --clean-source */
enum ms_clean { MS_CLEAN_OFF, MS_CLEAN_ARCHIVE, MS_CLEAN_DELETE };

/* What the source is opened with (ms_dirsrc_open_conf). */
typedef struct ms_dirsrc_conf {
    const char *dir;
    int available_now; /* freeze the set of files and their sizes at start (AvailableNow) */
    double rescan_sec;
    const char *glob; /* --path-glob-filter, NULL: every name (compiled at open) */
    int recursive;
    int latest_first;
    double max_file_age; /* seconds, 0: no limit */
    enum ms_clean clean;
    const char *archive_dir; /* MS_CLEAN_ARCHIVE: an existing directory outside dir */
} ms_dirsrc_conf;

typedef struct ms_limits {
    uint64_t max_files; /* 0 = no cap */
    uint64_t max_bytes; /* 0 = no cap */
} ms_limits;

typedef struct ms_dirsrc ms_dirsrc;

/* Opens the source and loads committed positions from the checkpoint (which
 * it keeps, to read back what commits made durable for --clean-source).
 * MS_EUSAGE for a directory or glob that cannot be used. */
int ms_dirsrc_open_conf(const ms_dirsrc_conf *conf, ms_ckpt *ck, ms_dirsrc **out, char *errstr,
                        size_t errstr_size);
/* The same with every file option at its default. */
int ms_dirsrc_open(const char *dir, ms_ckpt *ck, int available_now, double rescan_sec,
                   ms_dirsrc **out, char *errstr, size_t errstr_size);
void ms_dirsrc_close(ms_dirsrc *s);

int ms_dirsrc_fd(const ms_dirsrc *s);             /* inotify descriptor, for poll() */
void ms_dirsrc_drain(ms_dirsrc *s);               /* reads pending inotify events */
int ms_dirsrc_maybe_new(const ms_dirsrc *s);      /* events or a due rescan wait */
double ms_dirsrc_next_rescan(const ms_dirsrc *s); /* monotonic time */

/* Fills plan (batch_id left to the caller).  plan->n == 0: nothing to do.
 * A byte cap counts text bytes (a .gz's decompressed ones).  The _stop form
 * returns MS_EINVAL ("interrupted") when *stop becomes set while .gz files
 * are inflated, and MS_EIO when zlib has no memory. */
int ms_dirsrc_plan(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan, char *errstr,
                   size_t errstr_size);
int ms_dirsrc_plan_stop(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan,
                        volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

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

/* What the planner's walk over a .gz found, from a member boundary on
 * (ms_dirsrc.c, gz_walk). */
typedef struct ms_gz_scan {
    uint64_t end;    /* just after the last member whose text ends a line (0: none) */
    uint64_t text;   /* text bytes up to end */
    int binary;      /* a NUL in the first 8 KiB of the text (from offset 0 only) */
    int cut;         /* stopped by the budget before the end of the data */
    int bad;         /* damaged: not gzip, a bad code, a wrong CRC or length */
    const char *why; /* ... in zlib's words (a static string) */
} ms_gz_scan;

/* The planner's walk over the gzip bytes data[start, n), reading them in
 * pieces of chunk bytes, with a budget of text bytes (UINT64_MAX: none);
 * for tests and the fuzz target.  0, or MS_EIO when zlib has no memory. */
int ms_dirsrc_gz_scan(const uint8_t *data, size_t n, uint64_t start, uint64_t budget, size_t chunk,
                      ms_gz_scan *g);

/* Name rules of docs/design.md §3.1 (exposed for tests). */
int ms_dirsrc_ignored_name(const char *name);
/* A name read as gzip: it ends in ".gz". */
int ms_dirsrc_gzip_name(const char *name);

#endif
