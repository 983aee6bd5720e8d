/*
 * The directory source (design in ms_dirsrc.h).
 *
 * In-memory file table: files[] (one ms_dfile per (device, inode) seen) and
 * an index from the 16-byte (dev, ino) key to the slot in files[].  A file's
 * `committed` offset only moves in ms_dirsrc_committed(), when the write
 * batch of its commit is handed over; everything the planner decides lives
 * in the plan.
 *
 *   committed ─────────┐        planned end ───┐     size ─┐
 *   [ counted lines    ][ lines of this batch  ][ partial  ]
 *                                               (no newline yet: waits)
 *
 * A .gz file has the same picture in compressed bytes, every mark at the
 * end of a gzip member:
 *
 *   [ member | member ][ member | member       ][ incomplete member ]
 *
 * Sections: names and the table, watching (one inotify watch per
 * directory), listing, events, opening, identity, planning (and the gzip
 * walk), reading, committing, cleaning (--clean-source), the ops table.
 */
#include "source/ms_dirsrc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ms_log.h"
#include "source/ms_sources.h"
#include "mstream/mstream.h"
#include "source/ms_glob.h"
#include "source/ms_inotify.h"
#include "state/ms_table.h"

#define MARK_MAX     256u       /* bytes hashed into the content marker */
#define BINARY_PROBE 8192u      /* bytes checked for NUL on a new file */
#define READ_CHUNK   (1u << 20) /* read() size */
#define SCAN_CHUNK   (64u << 10)
#define COMPACT_MIN  64u          /* forgotten file entries before the table is compacted */
#define DIRCHECK_SEC 0.5          /* the directory is gone: how often its path is checked */
#define MAX_DEPTH    64           /* --recursive: directories below the input directory */
#define MAX_REL      4000u        /* longest relative name (the checkpoint keeps up to 4096) */
#define ZOUT         (256u << 10) /* inflate() output chunk */
#define CLEAN_RETRY  0.05         /* seconds: --clean-source waits for a commit to be durable */
#define CLEAN_TRIES  400          /* ... at most this many plans (then it is counted as failed) */

#define DF_GONE         0x01u /* not in the directory at the last full scan */
#define DF_REJECTED     0x02u /* rejected as binary: never read */
#define DF_UNREADABLE   0x04u /* open failed; retried at the next full scan */
#define DF_VERIFY       0x08u /* maybe another file under this inode: check the marker */
#define DF_GZIP         0x10u /* its position counts compressed bytes (MS_FPOS_GZIP) */
#define DF_CLEAN_FAILED 0x20u /* archive/delete failed; retried at the next full scan */

/* inotify events of a watched directory (subdirectories are not followed
 * through symbolic links). */
#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct ms_dfile {
    uint64_t dev, ino;
    char *name;
    uint64_t committed;
    uint64_t mark_len, mark_hash;
    int64_t btime_ns; /* birth time at the committed position, 0: unknown */
    int64_t born_ns;  /* birth time as last listed (0: unknown), for byte_quotas */
    uint64_t tail_len, tail_hash;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t limit;        /* available-now: size frozen at start (UINT64_MAX otherwise) */
    uint64_t nonl_checked; /* no newline in [committed, nonl_checked) */
    uint64_t planned_end;  /* end of its range in the last plan, else committed */
    uint32_t flags;
    uint32_t clean_tries; /* plans that found its last commit not yet durable */
    const char *gz_why;   /* zlib's words for a damaged .gz (static strings) */
} ms_dfile;

/* A watched directory: inotify's descriptor and the directory's name
 * relative to the input directory ("" for the input directory itself).
 * Kept sorted by wd (the kernel hands them out increasing). */
typedef struct ms_watch {
    int wd;
    char *rel;
} ms_watch;

struct ms_dirsrc {
    char *dir;
    ms_ckpt *ck; /* read back by --clean-source: which commits are durable */
    ms_glob *glob;
    int recursive;
    int latest_first;
    int64_t max_age_ns; /* --max-file-age, 0: none */
    int64_t newest_ns;  /* largest mtime of a file listed (matching the glob) */
    enum ms_clean clean;
    char *archive_dir;
    int archfd;
    int clean_wait;    /* a finished file waits for its commit to be durable */
    double clean_at;   /* ... and is looked at again then (monotonic) */
    ms_watch *watches; /* the input directory's and, with --recursive, every subdirectory's */
    size_t nwatches, capwatches;
    int watch_warned;
    z_stream *z;   /* .gz files: one inflater, made when the first one is read */
    uint8_t *zout; /* ZOUT bytes */
    int dirfd;
    uint64_t dir_dev, dir_ino; /* the directory dirfd is open on */
    int lost;                  /* the path is gone or another directory: see dir_check */
    int ifd;
    int wd;
    int available_now;
    double rescan_sec;
    double next_rescan;
    int rescan_needed;
    ms_dfile *files;
    size_t nfiles, capfiles;
    ms_table index; /* (dev, ino) -> slot in files[] */
    char **pending; /* names reported by inotify since the last plan */
    size_t npending, cappending;
    ms_dirsrc_stats st;
    uint8_t *buf; /* READ_CHUNK bytes */
    struct item_res {
        int skip;                     /* not read (or cut short): keep the old position */
        uint64_t tail_len, tail_hash; /* tail marker at the range's end */
    } * res;                          /* per plan item, from the read */
    size_t nres;
    ms_buf hold;                    /* read_range: the partial line held back */
    uint8_t tail[MS_FPOS_TAIL_MAX]; /* read_range: the last bytes read */
    size_t ntail;
    ms_buf key, val;
    int frozen;  /* initial listing done (available-now: no new files after it) */
    int drained; /* available-now: a plan found nothing left */
    int backlog; /* the last plan was cut by a cap: complete lines wait beyond it */
    ms_part_info part;
};

static const char *const reject_names[] = {
#define MS__REJ_NAME(e, s) s,
    MS_REJECT_MAP(MS__REJ_NAME)
#undef MS__REJ_NAME
};

const char *ms_reject_name(enum ms_reject r)
{
    return r < MS_REJECT_MAX ? reject_names[r] : "unknown";
}

int ms_dirsrc_ignored_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || name[0] == '.' || name[0] == '_')
        return 1;
    return n >= 4 && strcmp(name + n - 4, ".tmp") == 0;
}

int ms_dirsrc_gzip_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 3 && strcmp(name + n - 3, ".gz") == 0;
}

/* The name of a file, without the directories of a relative name. */
static const char *base_name(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

/* --path-glob-filter: a file whose name does not match is not read. */
static int selected(const ms_dirsrc *s, const char *rel)
{
    return !s->glob || ms_glob_match(s->glob, base_name(rel));
}

/* "rel/name", or name at the top (caller frees). */
static char *join_rel(const char *rel, const char *name)
{
    if (!rel[0])
        return ms_xstrdup(name);
    size_t a = strlen(rel), b = strlen(name);
    char *p = ms_xmalloc(a + b + 2);
    memcpy(p, rel, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* ------------------------------------------------------------------ table */

static void idx_key(uint8_t k[16], uint64_t dev, uint64_t ino)
{
    memcpy(k, &dev, 8);
    memcpy(k + 8, &ino, 8);
}

static ms_dfile *file_find(ms_dirsrc *s, uint64_t dev, uint64_t ino)
{
    uint8_t k[16];
    idx_key(k, dev, ino);
    ms_entry *e = ms_table_find(&s->index, k, 16);
    return e ? &s->files[e->value] : NULL;
}

static ms_dfile *file_add(ms_dirsrc *s, uint64_t dev, uint64_t ino, const char *name)
{
    if (s->nfiles == s->capfiles) {
        s->capfiles = s->capfiles ? s->capfiles * 2 : 64;
        s->files = ms_xrealloc(s->files, s->capfiles * sizeof(ms_dfile));
    }
    ms_dfile *f = &s->files[s->nfiles];
    memset(f, 0, sizeof(*f));
    f->dev = dev;
    f->ino = ino;
    f->name = ms_xstrdup(name);
    f->limit = s->available_now && s->frozen ? 0 : UINT64_MAX;
    uint8_t k[16];
    idx_key(k, dev, ino);
    ms_table_set_clean(&s->index, k, 16, (int64_t)s->nfiles);
    s->nfiles++;
    return f;
}

static void file_rename(ms_dfile *f, const char *name)
{
    if (strcmp(f->name, name) != 0) {
        ms_debug("file %s is now named %s (same inode: not read again)", f->name, name);
        free(f->name);
        f->name = ms_xstrdup(name);
    }
}

/* stat of a directory entry (following symlinks, as an open would), with
 * its birth time in ns (0 when the file system has none). */
static int stat_entry(ms_dirsrc *s, const char *name, struct stat *st, int64_t *btime)
{
    struct statx x;
    if (statx(s->dirfd, name, 0, STATX_BASIC_STATS | STATX_BTIME, &x) != 0)
        return -1;
    memset(st, 0, sizeof(*st));
    st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
    st->st_ino = (ino_t)x.stx_ino;
    st->st_mode = x.stx_mode;
    st->st_size = (off_t)x.stx_size;
    st->st_mtim.tv_sec = x.stx_mtime.tv_sec;
    st->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
    *btime = (x.stx_mask & STATX_BTIME)
                 ? (int64_t)x.stx_btime.tv_sec * 1000000000LL + x.stx_btime.tv_nsec
                 : 0;
    return 0;
}

/* A directory itself, not a symbolic link to one (--recursive never
 * follows links into directories: no cycles, no reading outside). */
static int real_dir(ms_dirsrc *s, const char *rel)
{
    struct stat st;
    return fstatat(s->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Learns about one directory entry from stat data.  Returns the file, or
 * NULL for a file the source does not read and does not know (its name
 * does not match --path-glob-filter: one already known keeps its entry and
 * position under the new name, so that renamed back it is read on). */
static ms_dfile *file_seen(ms_dirsrc *s, const char *name, const struct stat *st, int64_t btime)
{
    ms_dfile *f = file_find(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    int sel = selected(s, name);
    if (!f && !sel)
        return NULL;
    if (!f) {
        f = file_add(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino, name);
        ms_debug("new file %s (%lld bytes)", name, (long long)st->st_size);
    } else {
        file_rename(f, name);
    }
    /* The inode may now hold another file (the old one deleted, a new one
     * created, possibly of the very size already consumed): whenever the
     * file was gone or its mtime moved, the planner checks the content
     * marker even if the size says there is nothing new. */
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    if ((f->flags & DF_GONE) || mtime != f->mtime_ns) {
        f->flags |= DF_VERIFY;
        f->clean_tries = 0;
    }
    f->flags &= ~DF_GONE;
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = mtime;
    f->born_ns = btime;
    if (sel && mtime > s->newest_ns)
        s->newest_ns = mtime;
    return f;
}

/* --------------------------------------------------------------- watching */

static size_t watch_at(const ms_dirsrc *s, int wd)
{
    size_t lo = 0, hi = s->nwatches;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->watches[mid].wd < wd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The directory a watch descriptor stands for, or NULL. */
static const char *watch_rel(const ms_dirsrc *s, int wd)
{
    size_t i = watch_at(s, wd);
    return i < s->nwatches && s->watches[i].wd == wd ? s->watches[i].rel : NULL;
}

static void watch_set(ms_dirsrc *s, int wd, const char *rel)
{
    size_t i = watch_at(s, wd);
    if (i < s->nwatches && s->watches[i].wd == wd) {
        if (strcmp(s->watches[i].rel, rel)) { /* the same directory, moved */
            free(s->watches[i].rel);
            s->watches[i].rel = ms_xstrdup(rel);
        }
        return;
    }
    if (s->nwatches == s->capwatches) {
        s->capwatches = s->capwatches ? s->capwatches * 2 : 16;
        s->watches = ms_xrealloc(s->watches, s->capwatches * sizeof(ms_watch));
    }
    memmove(&s->watches[i + 1], &s->watches[i], (s->nwatches - i) * sizeof(ms_watch));
    s->watches[i].wd = wd;
    s->watches[i].rel = ms_xstrdup(rel);
    s->nwatches++;
    s->st.watches = s->nwatches;
}

static void watch_forget(ms_dirsrc *s, int wd)
{
    size_t i = watch_at(s, wd);
    if (i >= s->nwatches || s->watches[i].wd != wd)
        return;
    free(s->watches[i].rel);
    memmove(&s->watches[i], &s->watches[i + 1], (s->nwatches - i - 1) * sizeof(ms_watch));
    s->nwatches--;
    s->st.watches = s->nwatches;
}

/* Every watch removed (the input directory was replaced: its tree is
 * watched anew by the full scan that follows). */
static void watches_clear(ms_dirsrc *s)
{
    for (size_t i = 0; i < s->nwatches; i++) {
        if (s->ifd >= 0)
            inotify_rm_watch(s->ifd, s->watches[i].wd);
        free(s->watches[i].rel);
    }
    s->nwatches = 0;
    s->st.watches = 0;
    s->wd = -1;
}

/* The input directory's own watch. */
static int add_watch(ms_dirsrc *s)
{
    if (s->ifd < 0)
        return -1;
    watches_clear(s);
    s->wd = inotify_add_watch(s->ifd, s->dir, WATCH_MASK);
    s->st.watching = s->wd >= 0;
    if (s->wd < 0)
        return -errno;
    watch_set(s, s->wd, "");
    return 0;
}

/* --recursive: a subdirectory's watch, added before it is listed, so that
 * nothing created in it in between is missed.  Without a watch (the
 * kernel's limit, fs.inotify.max_user_watches) its files are found by the
 * periodic rescan. */
static void watch_subdir(ms_dirsrc *s, const char *rel)
{
    if (s->ifd < 0 || !rel[0])
        return;
    char *path = join_rel(s->dir, rel);
    int wd = inotify_add_watch(s->ifd, path, WATCH_MASK | IN_DONT_FOLLOW);
    if (wd < 0) {
        if (errno != ENOENT && errno != ENOTDIR && !s->watch_warned) {
            s->watch_warned = 1;
            ms_warn("cannot watch %s (%s): files in it are found by the rescan every %.3gs "
                    "(raise fs.inotify.max_user_watches for deep trees)",
                    path, strerror(errno), s->rescan_sec);
        }
        free(path);
        return;
    }
    free(path);
    watch_set(s, wd, rel);
}

/* The watched path: is it still the directory dirfd is open on?  A
 * directory removed and created again, or moved away and back, is opened
 * and watched anew (a full scan follows); while the path holds no
 * directory, the source is "lost": not healthy, nothing planned, the path
 * checked again every DIRCHECK_SEC.  Returns 1 when the directory is
 * there. */
static int dir_check(ms_dirsrc *s)
{
    struct stat st;
    if (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (!s->lost)
            ms_warn("input directory %s is gone (%s): nothing is read until it is back; "
                    "/readyz says not ready meanwhile",
                    s->dir, errno ? strerror(errno) : "not a directory");
        s->lost = 1;
        s->st.watching = 0;
        return 0;
    }
    if ((uint64_t)st.st_dev != s->dir_dev || (uint64_t)st.st_ino != s->dir_ino) {
        int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            s->lost = 1;
            s->st.watching = 0;
            return 0;
        }
        close(s->dirfd);
        s->dirfd = fd;
        s->dir_dev = (uint64_t)st.st_dev;
        s->dir_ino = (uint64_t)st.st_ino;
        ms_warn("input directory %s is another directory now (removed and created again?): "
                "watching and reading the new one",
                s->dir);
        s->lost = 1; /* rewatch below */
    }
    if (s->lost || (!s->st.watching && s->ifd >= 0)) {
        if (add_watch(s) == 0)
            ms_info("watching input directory %s again", s->dir);
        s->rescan_needed = 1;
    }
    s->lost = 0;
    return 1;
}

/* ---------------------------------------------------------------- listing */

typedef struct walk_dir {
    char *rel;
    int depth;
} walk_dir;

/* Lists the directory rel ("" = the input directory) and, with --recursive,
 * every directory below it, each watched before it is listed: every
 * regular file whose name is not ignored is learned (file_seen).
 * Directories that could not be listed for another reason than being gone
 * are added to *failed (their files must not be taken for deleted).
 * Returns 0, or -1 when rel itself could not be listed. */
static int walk(ms_dirsrc *s, const char *rel0, char ***failed, size_t *nfailed)
{
    size_t n = 0, cap = 8;
    walk_dir *stack = ms_xmalloc(cap * sizeof(*stack));
    stack[n++] = (walk_dir){ms_xstrdup(rel0), 0};
    int rc = 0;
    int first = 1;
    while (n) {
        walk_dir w = stack[--n];
        if (s->recursive)
            watch_subdir(s, w.rel);
        int fd = openat(s->dirfd, w.rel[0] ? w.rel : ".",
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC | (w.rel[0] ? O_NOFOLLOW : 0));
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            if (first) {
                rc = -1;
            } else if (e != ENOENT && e != ENOTDIR) {
                ms_warn("cannot list %s/%s: %s (its files are kept as they were)", s->dir, w.rel,
                        strerror(e));
                *failed = ms_xrealloc(*failed, (*nfailed + 1) * sizeof(char *));
                (*failed)[(*nfailed)++] = w.rel;
                w.rel = NULL;
            }
            free(w.rel);
            first = 0;
            continue;
        }
        first = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (ms_dirsrc_ignored_name(de->d_name))
                continue; /* also "." and ".." */
            if (strlen(w.rel) + strlen(de->d_name) + 1 > MAX_REL)
                continue; /* not a name the checkpoint could keep */
            char *child = join_rel(w.rel, de->d_name);
            int isdir = de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN && real_dir(s, child));
            if (isdir) {
                if (s->recursive && w.depth < MAX_DEPTH) {
                    if (n == cap) {
                        cap *= 2;
                        stack = ms_xrealloc(stack, cap * sizeof(*stack));
                    }
                    stack[n++] = (walk_dir){child, w.depth + 1};
                    child = NULL;
                }
                free(child);
                continue;
            }
            struct stat st;
            int64_t btime;
            if (stat_entry(s, child, &st, &btime) == 0 && S_ISREG(st.st_mode)) {
                ms_dfile *f = file_seen(s, child, &st, btime);
                if (f)
                    f->flags &= ~(DF_UNREADABLE | DF_CLEAN_FAILED); /* another chance */
            }
            free(child);
        }
        closedir(d);
        free(w.rel);
    }
    free(stack);
    return rc;
}

static void full_scan(ms_dirsrc *s)
{
    s->st.rescans++;
    s->rescan_needed = 0;
    s->next_rescan = ms_now_mono() + s->rescan_sec;
    for (size_t i = 0; i < s->nfiles; i++)
        s->files[i].flags |= DF_GONE;
    char **failed = NULL;
    size_t nfailed = 0;
    if (walk(s, "", &failed, &nfailed) != 0) {
        ms_warn("cannot list input directory %s: %s", s->dir, strerror(errno));
        for (size_t i = 0; i < s->nfiles; i++)
            s->files[i].flags &= ~DF_GONE;
    }
    for (size_t k = 0; k < nfailed; k++) {
        size_t fl = strlen(failed[k]);
        for (size_t i = 0; i < s->nfiles; i++) {
            ms_dfile *f = &s->files[i];
            if (!strncmp(f->name, failed[k], fl) && f->name[fl] == '/')
                f->flags &= ~DF_GONE;
        }
        free(failed[k]);
    }
    free(failed);
}

/* A name inotify reported (relative to the input directory): a file is
 * learned; with --recursive a new directory is watched and listed. */
static void stat_name(ms_dirsrc *s, const char *name)
{
    if (ms_dirsrc_ignored_name(base_name(name)))
        return;
    struct stat st;
    int64_t btime;
    if (stat_entry(s, name, &st, &btime) != 0)
        return; /* deleted or renamed away: the next full scan settles it */
    if (S_ISDIR(st.st_mode)) {
        int depth = 1;
        for (const char *c = name; *c; c++)
            depth += *c == '/';
        if (s->recursive && depth <= MAX_DEPTH && real_dir(s, name)) {
            char **failed = NULL;
            size_t nfailed = 0;
            walk(s, name, &failed, &nfailed);
            for (size_t k = 0; k < nfailed; k++)
                free(failed[k]);
            free(failed);
        }
        return;
    }
    if (!S_ISREG(st.st_mode))
        return;
    file_seen(s, name, &st, btime);
}

/* ----------------------------------------------------------------- events */

static void pending_add(ms_dirsrc *s, char *rel)
{
    for (size_t i = 0; i < s->npending; i++)
        if (strcmp(s->pending[i], rel) == 0) {
            free(rel);
            return;
        }
    if (s->npending > 4096) {
        /* A storm of names: a rescan is cheaper than remembering them. */
        s->rescan_needed = 1;
        free(rel);
        return;
    }
    if (s->npending == s->cappending) {
        s->cappending = s->cappending ? s->cappending * 2 : 64;
        s->pending = ms_xrealloc(s->pending, s->cappending * sizeof(char *));
    }
    s->pending[s->npending++] = rel;
}

static void on_event(void *ud, int wd, uint32_t mask, const char *name, size_t nlen)
{
    ms_dirsrc *s = ud;
    if (mask & IN_Q_OVERFLOW) {
        s->st.overflows++;
        s->rescan_needed = 1;
        ms_warn("inotify queue overflowed on %s: rescanning the directory", s->dir);
        return;
    }
    const char *rel = watch_rel(s, wd);
    if (!rel)
        return;
    if (wd == s->wd && (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))) {
        if (!s->lost)
            ms_warn("input directory %s was removed or moved: nothing is read until it is back; "
                    "/readyz says not ready meanwhile",
                    s->dir);
        if (s->wd >= 0 && !(mask & IN_IGNORED))
            inotify_rm_watch(s->ifd, s->wd);
        watch_forget(s, s->wd);
        s->wd = -1;
        s->st.watching = 0;
        s->lost = 1; /* the plan checks the path (dir_check) */
        return;
    }
    if (mask & IN_IGNORED) { /* a subdirectory removed (or unwatched) */
        watch_forget(s, wd);
        return;
    }
    if (mask & IN_MOVE_SELF) { /* a subdirectory moved: names below it changed */
        s->rescan_needed = 1;
        return;
    }
    if (!nlen)
        return;
    if (mask & IN_ISDIR) {
        if (!s->recursive || ms_dirsrc_ignored_name(name))
            return;
        if (mask & (IN_CREATE | IN_MOVED_TO))
            pending_add(s, join_rel(rel, name)); /* watched, then listed, by the plan */
        else if (mask & IN_MOVED_FROM)
            s->rescan_needed = 1; /* its files moved elsewhere, or away */
        return;
    }
    if (!(mask & (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE)))
        return;
    pending_add(s, join_rel(rel, name));
}

void ms_dirsrc_drain(ms_dirsrc *s)
{
    if (s->ifd < 0)
        return;
    _Alignas(struct inotify_event) uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t n = read(s->ifd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        if (ms_inotify_parse(buf, (size_t)n, on_event, s) != 0) {
            ms_warn("malformed inotify buffer (%zd bytes): rescanning %s", n, s->dir);
            s->rescan_needed = 1;
        }
    }
}

int ms_dirsrc_fd(const ms_dirsrc *s)
{
    return s->ifd;
}

int ms_dirsrc_maybe_new(const ms_dirsrc *s)
{
    double now = ms_now_mono();
    return s->npending > 0 || s->rescan_needed || s->lost || now >= s->next_rescan ||
           (s->clean_wait && now >= s->clean_at);
}

double ms_dirsrc_next_rescan(const ms_dirsrc *s)
{
    double t = s->next_rescan;
    if (s->lost) {
        double soon = ms_now_mono() + DIRCHECK_SEC;
        t = soon < t ? soon : t;
    }
    if (s->clean_wait && s->clean_at < t)
        t = s->clean_at;
    return t;
}

/* ---------------------------------------------------------------- opening */

static int load_pos(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    ms_dirsrc *s = ud;
    ms_filepos fp;
    if (ms_codec_decode_filepos(k, kl, v, vl, &fp) != 0)
        return MS_ECORRUPT;
    ms_dfile *f = file_add(s, fp.dev, fp.ino, fp.name);
    f->committed = fp.offset;
    f->mark_len = fp.mark_len;
    f->mark_hash = fp.mark_hash;
    f->btime_ns = fp.btime_ns;
    f->tail_len = fp.tail_len;
    f->tail_hash = fp.tail_hash;
    f->size = fp.offset;
    f->planned_end = fp.offset;
    f->flags |= DF_VERIFY; /* files may have been replaced while we were down */
    if (fp.flags & MS_FPOS_REJECTED)
        f->flags |= DF_REJECTED;
    if (fp.flags & MS_FPOS_GZIP)
        f->flags |= DF_GZIP;
    if ((fp.flags & (MS_FPOS_REJECTED | MS_FPOS_GZIP)) == MS_FPOS_REJECTED &&
        ms_dirsrc_gzip_name(fp.name)) {
        /* An mstream without gzip rejected it as binary, and nothing of a
         * rejected file was read: it is read now, from its start. */
        ms_info("%s/%s was rejected as binary by an mstream that did not read gzip: reading it "
                "as gzip now",
                s->dir, fp.name);
        f->committed = f->size = f->planned_end = 0;
        f->mark_len = f->tail_len = 0;
        f->btime_ns = 0;
        f->flags &= ~(DF_REJECTED | DF_VERIFY);
    }
    ms_filepos_free(&fp);
    return 0;
}

/* --clean-source archive: the archive directory, opened once.  Across file
 * systems a move is a copy (see clean_archive); said once at start. */
static int open_archive(ms_dirsrc *s, char *errstr, size_t errsz)
{
    s->archfd = open(s->archive_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat ast;
    if (s->archfd < 0 || fstat(s->archfd, &ast) != 0) {
        snprintf(errstr, errsz, "--source-archive-dir %s: %s (create it first)", s->archive_dir,
                 strerror(errno));
        return MS_EUSAGE;
    }
    if ((uint64_t)ast.st_dev != s->dir_dev)
        ms_info("archive directory %s is on another file system than %s: files read are copied "
                "there, synced, then deleted",
                s->archive_dir, s->dir);
    return 0;
}

int ms_dirsrc_open_conf(const ms_dirsrc_conf *c, ms_ckpt *ck, ms_dirsrc **out, char *errstr,
                        size_t errsz)
{
    *out = NULL;
    const char *dir = c->dir;
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(errstr, errsz, "input directory %s: %s (create it, or check --input-dir)", dir,
                 strerror(errno));
        return MS_EUSAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errstr, errsz, "input directory %s is not a directory (check --input-dir)", dir);
        return MS_EUSAGE;
    }
    ms_dirsrc *s = ms_xcalloc(1, sizeof(*s));
    s->dir = ms_xstrdup(dir);
    s->ck = ck;
    s->available_now = c->available_now;
    s->rescan_sec = c->rescan_sec;
    s->recursive = c->recursive;
    s->latest_first = c->latest_first;
    s->max_age_ns = (int64_t)(c->max_file_age * 1e9);
    s->clean = c->clean;
    s->wd = -1;
    s->ifd = -1;
    s->archfd = -1;
    ms_table_init(&s->index);
    s->buf = ms_xmalloc(READ_CHUNK);
    if (c->glob && ms_glob_compile(c->glob, &s->glob, errstr, errsz) != 0) {
        ms_dirsrc_close(s);
        return MS_EUSAGE;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat dst;
    if (s->dirfd < 0 || fstat(s->dirfd, &dst) != 0) {
        snprintf(errstr, errsz, "cannot open input directory %s: %s", dir, strerror(errno));
        ms_dirsrc_close(s);
        return MS_EUSAGE;
    }
    s->dir_dev = (uint64_t)dst.st_dev;
    s->dir_ino = (uint64_t)dst.st_ino;
    if (s->clean == MS_CLEAN_ARCHIVE) {
        s->archive_dir = ms_xstrdup(c->archive_dir ? c->archive_dir : "");
        if (open_archive(s, errstr, errsz) != 0) {
            ms_dirsrc_close(s);
            return MS_EUSAGE;
        }
    }

    int rc = ms_ckpt_scan(ck, "p:dir:", 6, load_pos, s, errstr, errsz);
    if (rc) {
        if (rc == MS_ECORRUPT)
            snprintf(errstr, errsz, "checkpoint holds a corrupt file position record");
        ms_dirsrc_close(s);
        return rc;
    }

    /* Watch first, then list: nothing that arrives in between is missed. */
    if (!s->available_now) {
        s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ifd < 0 || add_watch(s) != 0) {
            ms_warn("inotify unavailable for %s (%s): falling back to rescans every %.3gs", dir,
                    strerror(errno), s->rescan_sec);
        }
    }
    full_scan(s);
    if (s->available_now) {
        for (size_t i = 0; i < s->nfiles; i++) {
            ms_dfile *f = &s->files[i];
            f->limit = (f->flags & DF_GONE) ? 0 : f->size;
        }
        s->next_rescan = 1e300;
    }
    size_t known = 0, listed = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        known += s->files[i].committed > 0;
        listed += !(s->files[i].flags & DF_GONE);
    }
    ms_info("%s %s%s: %zu files listed, %zu positions restored from the checkpoint",
            s->available_now ? "reading" : "watching", dir,
            s->recursive ? " and its subdirectories" : "", listed, known);
    s->frozen = 1;
    *out = s;
    return 0;
}

int ms_dirsrc_open(const char *dir, ms_ckpt *ck, int available_now, double rescan_sec,
                   ms_dirsrc **out, char *errstr, size_t errsz)
{
    ms_dirsrc_conf c = {.dir = dir, .available_now = available_now, .rescan_sec = rescan_sec};
    return ms_dirsrc_open_conf(&c, ck, out, errstr, errsz);
}

void ms_dirsrc_close(ms_dirsrc *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].name);
    free(s->files);
    for (size_t i = 0; i < s->npending; i++)
        free(s->pending[i]);
    free(s->pending);
    for (size_t i = 0; i < s->nwatches; i++)
        free(s->watches[i].rel);
    free(s->watches);
    ms_table_free(&s->index);
    if (s->ifd >= 0)
        close(s->ifd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    if (s->archfd >= 0)
        close(s->archfd);
    if (s->z) {
        inflateEnd(s->z);
        free(s->z);
    }
    free(s->zout);
    ms_glob_free(s->glob);
    free(s->archive_dir);
    free(s->buf);
    free(s->res);
    ms_buf_free(&s->hold);
    ms_buf_free(&s->key);
    ms_buf_free(&s->val);
    free(s->dir);
    free(s);
}

/* ---------------------------------------------------------------- identity */

static int preadn(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Hash of bytes [off, off + n) of fd (n <= READ_CHUNK); -1 if they are not
 * all there. */
static int hash_range(ms_dirsrc *s, int fd, uint64_t off, uint64_t n, uint64_t *h)
{
    if (preadn(fd, s->buf, (size_t)n, off) != 0)
        return -1;
    *h = ms_hash(s->buf, (size_t)n);
    return 0;
}

/* Opens a directory entry for reading without ever blocking: O_NONBLOCK
 * (a FIFO renamed over a file would block a plain open until a writer
 * comes), and only a regular file is kept (checked on the descriptor, so a
 * swap after the listing cannot slip through).  Returns the descriptor, or
 * -errno; -EFTYPE-like -ENODEV for an entry that is not a regular file. */
static int open_regular(ms_dirsrc *s, const char *name, struct stat *st)
{
    int fd = openat(s->dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -ENODEV;
    }
    return fd;
}

/* Birth time of an open file in ns since the epoch; 0 when the file
 * system does not keep one. */
static int64_t file_btime(int fd)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) != 0 || !(stx.stx_mask & STATX_BTIME))
        return 0;
    return (int64_t)stx.stx_btime.tv_sec * 1000000000LL + stx.stx_btime.tv_nsec;
}

/* Whether the open file is provably the one a position describes
 * (ms_dirsrc.h, "File identity"): same birth time where both are known,
 * at least off bytes, the same first mark_len bytes and the same tail_len
 * bytes before off.  Otherwise *why says what differs. */
static int same_file(ms_dirsrc *s, int fd, int64_t btime, uint64_t size, const ms_filepos *p,
                     uint64_t off, const char **why)
{
    uint64_t h;
    if (p->btime_ns && btime && p->btime_ns != btime) {
        *why = "another file under the same inode (its birth time differs)";
        return 0;
    }
    if (size < off) {
        *why = "truncated";
        return 0;
    }
    if (p->mark_len && (hash_range(s, fd, 0, p->mark_len, &h) != 0 || h != p->mark_hash)) {
        *why = "new content under the same inode (its first bytes differ)";
        return 0;
    }
    if (p->tail_len &&
        (hash_range(s, fd, off - p->tail_len, p->tail_len, &h) != 0 || h != p->tail_hash)) {
        *why = "new content under the same inode (the bytes before the consumed position differ)";
        return 0;
    }
    return 1;
}

/* The position a file's entry holds, as a record (name not copied). */
static ms_filepos entry_pos(const ms_dfile *f)
{
    ms_filepos p;
    memset(&p, 0, sizeof(p));
    p.dev = f->dev;
    p.ino = f->ino;
    p.offset = f->committed;
    p.mark_len = f->mark_len;
    p.mark_hash = f->mark_hash;
    p.btime_ns = f->btime_ns;
    p.tail_len = f->tail_len;
    p.tail_hash = f->tail_hash;
    return p;
}

/* --------------------------------------------------------------- planning */

/* Position just after the last '\n' in [lo, hi), or 0 if there is none. */
static uint64_t last_newline(ms_dirsrc *s, int fd, uint64_t lo, uint64_t hi)
{
    while (hi > lo) {
        uint64_t n = hi - lo < SCAN_CHUNK ? hi - lo : SCAN_CHUNK;
        uint64_t from = hi - n;
        if (preadn(fd, s->buf, (size_t)n, from) != 0)
            return 0;
        const uint8_t *nl = memrchr(s->buf, '\n', (size_t)n);
        if (nl)
            return from + (uint64_t)(nl - s->buf) + 1;
        hi = from;
    }
    return 0;
}

/* Position just after the first '\n' in [lo, hi), or 0. */
static uint64_t first_newline(ms_dirsrc *s, int fd, uint64_t lo, uint64_t hi)
{
    while (lo < hi) {
        uint64_t n = hi - lo < SCAN_CHUNK ? hi - lo : SCAN_CHUNK;
        if (preadn(fd, s->buf, (size_t)n, lo) != 0)
            return 0;
        const uint8_t *nl = memchr(s->buf, '\n', (size_t)n);
        if (nl)
            return lo + (uint64_t)(nl - s->buf) + 1;
        lo += n;
    }
    return 0;
}

static int cmp_age(const void *a, const void *b)
{
    const ms_dfile *x = *(ms_dfile *const *)a, *y = *(ms_dfile *const *)b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* --latest-first: newest mtime first (names in order among equals). */
static int cmp_newest(const void *a, const void *b)
{
    const ms_dfile *x = *(ms_dfile *const *)a, *y = *(ms_dfile *const *)b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns > y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void plan_push(ms_plan *plan, size_t *cap, const ms_dfile *f, uint64_t start, uint64_t end,
                      uint64_t mark_len, uint64_t mark_hash, int64_t btime, uint32_t flags)
{
    if (plan->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        plan->items = ms_xrealloc(plan->items, *cap * sizeof(ms_plan_item));
    }
    ms_plan_item *it = &plan->items[plan->n++];
    memset(it, 0, sizeof(*it));
    it->pos.dev = f->dev;
    it->pos.ino = f->ino;
    it->pos.name = ms_xstrdup(f->name);
    it->pos.offset = start;
    it->pos.mark_len = mark_len;
    it->pos.mark_hash = mark_hash;
    it->pos.btime_ns = btime;
    if (start > 0 && start == f->committed) { /* reading on: the bytes before start */
        it->pos.tail_len = f->tail_len;
        it->pos.tail_hash = f->tail_hash;
    }
    it->pos.flags = flags;
    it->end = end;
}

/* Bytes a candidate waits to have read, as seen by the last stat: all of
 * it when it is shorter than its position (truncated: read anew), none
 * when it is a candidate only to have its identity checked. */
static uint64_t backlog_of(const ms_dfile *f)
{
    uint64_t size = f->size < f->limit ? f->size : f->limit;
    return size < f->committed ? size : size - f->committed;
}

/* --max-bytes-per-trigger: how many bytes each candidate (oldest first) may
 * contribute.  Files written one after the other are read one after the
 * other, so a newer file's rows never overtake an older one's; files
 * written at the same time (a file born before the last write to the ones
 * before it: two writers appending in turn) form one set, and the budget
 * is split over a set in proportion to each file's backlog, so they
 * advance together instead of one overtaking the other (ms_dirsrc.h).
 * A set that does not fit is the last one planned.  (--latest-first reads
 * newest first: each candidate then takes what the budget has left.) */
static void byte_quotas(ms_dfile **cand, size_t nc, uint64_t budget, uint64_t *quota)
{
    size_t i = 0;
    while (i < nc) {
        if (!backlog_of(cand[i])) {
            i++; /* nothing to read, only its identity to check: never held back */
            continue;
        }
        int64_t last_write = cand[i]->mtime_ns;
        size_t j = i + 1;
        while (j < nc && cand[j]->born_ns && cand[j]->born_ns < last_write) {
            if (cand[j]->mtime_ns > last_write)
                last_write = cand[j]->mtime_ns;
            j++;
        }
        long double total = 0;
        for (size_t k = i; k < j; k++)
            total += (long double)backlog_of(cand[k]);
        if (total <= (long double)budget) {
            for (size_t k = i; k < j; k++) {
                quota[k] = UINT64_MAX;
                budget -= backlog_of(cand[k]);
            }
            i = j;
            continue;
        }
        for (size_t k = i; k < j; k++)
            if (backlog_of(cand[k]))
                quota[k] =
                    total > 0 ? (uint64_t)((long double)budget * backlog_of(cand[k]) / total) : 0;
        if (quota[i] == 0)
            quota[i] = budget ? budget : 1; /* at least the first file moves */
        for (size_t k = j; k < nc; k++)
            if (backlog_of(cand[k]))
                quota[k] = 0;
        return;
    }
}

/* ------------------------------------------------------ planning: gzip */

/* The inflater (gzip only, members one after the other), made once. */
static z_stream *gz_stream(ms_dirsrc *s)
{
    if (!s->z) {
        z_stream *z = ms_xcalloc(1, sizeof(*z));
        if (inflateInit2(z, 16 + MAX_WBITS) != Z_OK) {
            free(z);
            return NULL;
        }
        s->z = z;
        s->zout = ms_xmalloc(ZOUT);
    }
    inflateReset(s->z);
    s->z->avail_in = 0;
    return s->z;
}

/* Where gz_walk gets compressed bytes: pread() of a file, or a buffer. */
typedef ssize_t (*gz_read_fn)(void *rd, uint8_t *buf, size_t n, uint64_t off);

static ssize_t gz_pread(void *rd, uint8_t *buf, size_t n, uint64_t off)
{
    ssize_t r;
    do
        r = pread(*(int *)rd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Inflates [start, size) of a .gz without keeping the text, to find where
 * a batch may end: after a complete, valid member whose text ends with a
 * newline (an empty text ends no line but opens none either), as far as
 * the budget of text bytes allows (at least one such member).  A member cut
 * off by the end of the file stops the walk (it may still be written);
 * damage stops it with g->bad.  The planner runs this before the plan is
 * persisted, so the reader never hands the parsers a line from a member
 * that turns out damaged; the reader inflates the same bytes again (the
 * cost of this pass is in docs/files.md).  in/out are the caller's buffers.
 * MS_EINVAL when *stop became set, MS_EIO when zlib has no memory. */
static int gz_walk(z_stream *z, uint8_t *in, size_t insz, uint8_t *out, size_t outsz,
                   gz_read_fn rd_fn, void *rd, uint64_t start, uint64_t size, uint64_t budget,
                   volatile sig_atomic_t *stop, ms_gz_scan *g)
{
    memset(g, 0, sizeof(*g));
    inflateReset(z);
    z->avail_in = 0;
    uint64_t off = start, text = 0;
    int line_open = 0;
    int done = 0; /* the end is found; from the start, the first 8 KiB of text are still probed */
    int full = 0; /* the last inflate() filled the output: it may hold more text */
    for (;;) {
        if (stop && *stop)
            return MS_EINVAL;
        if (done && !(start == 0 && text < BINARY_PROBE))
            break;
        if (z->avail_in == 0 && !full) {
            if (off >= size)
                break; /* the end: a member cut off here waits for the rest */
            size_t want = size - off < insz ? (size_t)(size - off) : insz;
            ssize_t r = rd_fn(rd, in, want, off);
            if (r <= 0)
                break; /* shrank since the stat: the next plan checks it again */
            z->next_in = in;
            z->avail_in = (uInt)r;
            off += (uint64_t)r;
        }
        z->next_out = out;
        z->avail_out = (uInt)outsz;
        int rc = inflate(z, Z_NO_FLUSH);
        size_t got = outsz - z->avail_out;
        full = z->avail_out == 0;
        if (got) {
            if (start == 0 && text < BINARY_PROBE &&
                memchr(out, '\0', BINARY_PROBE - text < got ? BINARY_PROBE - text : got)) {
                g->binary = 1;
                return 0;
            }
            text += got;
            line_open = out[got - 1] != '\n';
        }
        if (rc == Z_STREAM_END) {
            if (!line_open && !done) {
                if (g->end && text > budget) {
                    g->cut = done = 1; /* the batch ends at the member before */
                    continue;
                }
                g->end = off - z->avail_in;
                g->text = text;
                if (text >= budget) {
                    g->cut = g->end < size;
                    done = 1;
                    continue;
                }
            }
            uInt left = z->avail_in;
            const Bytef *next = z->next_in;
            inflateReset(z); /* the next member */
            z->next_in = (Bytef *)next;
            z->avail_in = left;
            continue;
        }
        if (rc == Z_OK || (rc == Z_BUF_ERROR && z->avail_in == 0))
            continue;
        if (rc == Z_MEM_ERROR)
            return MS_EIO;
        if (!done) { /* damage after the end is for the next plan to find */
            g->bad = 1;
            g->why = z->msg ? z->msg : "not gzip data";
        }
        break;
    }
    return 0;
}

typedef struct gz_buf {
    const uint8_t *p;
    size_t n;
} gz_buf;

static ssize_t gz_bufread(void *rd, uint8_t *buf, size_t n, uint64_t off)
{
    const gz_buf *b = rd;
    if (off >= b->n)
        return 0;
    size_t k = b->n - off < n ? (size_t)(b->n - off) : n;
    memcpy(buf, b->p + off, k);
    return (ssize_t)k;
}

int ms_dirsrc_gz_scan(const uint8_t *data, size_t n, uint64_t start, uint64_t budget, size_t chunk,
                      ms_gz_scan *g)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return MS_EIO;
    if (chunk == 0)
        chunk = 1;
    uint8_t *in = ms_xmalloc(chunk), *out = ms_xmalloc(chunk);
    gz_buf b = {data, n};
    int rc = gz_walk(&z, in, chunk, out, chunk, gz_bufread, &b, start, n, budget, NULL, g);
    free(in);
    free(out);
    inflateEnd(&z);
    return rc;
}

/* --------------------------------------------------------- planning: all */

/* --max-file-age: a file never read, older than the newest file listed
 * by more than the age, is left alone (Spark's maxFileAge, measured from
 * the newest file, not from the clock). */
static int too_old(const ms_dirsrc *s, const ms_dfile *f)
{
    return s->max_age_ns && f->committed == 0 && f->mark_len == 0 && !(f->flags & DF_REJECTED) &&
           f->mtime_ns < s->newest_ns - s->max_age_ns;
}

static void clean_files(ms_dirsrc *s);

int ms_dirsrc_plan(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan, char *errstr, size_t errsz)
{
    return ms_dirsrc_plan_stop(s, lim, plan, NULL, errstr, errsz);
}

int ms_dirsrc_plan_stop(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan,
                        volatile sig_atomic_t *stop, char *errstr, size_t errsz)
{
    memset(plan, 0, sizeof(*plan));
    s->backlog = 0;
    if (!s->available_now) {
        if (s->lost || s->rescan_needed || ms_now_mono() >= s->next_rescan) {
            if (!dir_check(s)) {
                s->st.pending_bytes = 0;
                return 0; /* the directory is gone: nothing to read until it is back */
            }
            full_scan(s);
        }
        for (size_t i = 0; i < s->npending; i++) {
            stat_name(s, s->pending[i]);
            free(s->pending[i]);
        }
        s->npending = 0;
    }

    /* Candidates: files with bytes beyond their committed position, or
     * shorter than it (truncated), or whose identity needs a check
     * (DF_VERIFY: a rejected file's too), oldest (or newest) first; not
     * those the glob or the age leaves out. */
    ms_dfile **cand = ms_xmalloc((s->nfiles ? s->nfiles : 1) * sizeof(*cand));
    size_t nc = 0;
    uint64_t old = 0, waiting = 0; /* waiting: bytes known to end in no line yet */
    for (size_t i = 0; i < s->nfiles; i++) {
        ms_dfile *f = &s->files[i];
        f->planned_end = f->committed;
        int verify = (f->flags & DF_VERIFY) && (f->mark_len || f->committed);
        if ((f->flags & (DF_GONE | DF_UNREADABLE)) || ((f->flags & DF_REJECTED) && !verify))
            continue;
        if (!selected(s, f->name))
            continue;
        if (too_old(s, f)) {
            old++;
            continue;
        }
        uint64_t size = f->size < f->limit ? f->size : f->limit;
        int nothing_new = size > f->committed && size <= f->nonl_checked;
        if (verify || (size != f->committed && !nothing_new))
            cand[nc++] = f;
        else if (nothing_new)
            waiting += size - f->committed;
    }
    s->st.too_old = old;
    qsort(cand, nc, sizeof(*cand), s->latest_first ? cmp_newest : cmp_age);
    uint64_t *quota = ms_xmalloc((nc ? nc : 1) * sizeof(uint64_t));
    for (size_t i = 0; i < nc; i++)
        quota[i] = UINT64_MAX;
    if (lim->max_bytes && !s->latest_first)
        byte_quotas(cand, nc, lim->max_bytes, quota);

    size_t cap = 0, nfiles = 0;
    uint64_t bytes = 0, pending = waiting;
    uint8_t mark[MARK_MAX];
    int rc = 0, held = 0; /* held: a candidate got no share of the budget */
plan_files:
    for (size_t ci = 0; ci < nc; ci++) {
        ms_dfile *f = cand[ci];
        if ((lim->max_files && nfiles >= lim->max_files) ||
            (lim->max_bytes && bytes >= lim->max_bytes)) {
            s->backlog = 1;
            break;
        }
        if (quota[ci] == 0) {
            s->backlog = 1;
            held = 1;
            continue;
        }
        struct stat st;
        int fd = open_regular(s, f->name, &st);
        if (fd < 0) {
            if (fd == -EACCES || fd == -EPERM) {
                s->st.rejected[MS_REJECT_UNREADABLE]++;
                f->flags |= DF_UNREADABLE;
                ms_warn("cannot read %s/%s: %s; skipped until the next rescan", s->dir, f->name,
                        strerror(-fd));
            } else if (fd == -ENODEV) {
                s->st.rejected[MS_REJECT_NOT_REGULAR]++;
                f->flags |= DF_UNREADABLE;
                ms_warn("%s/%s is no longer a regular file (a FIFO, device or directory was put "
                        "in its place): not read; skipped until the next rescan",
                        s->dir, f->name);
            }
            continue;
        }
        if ((uint64_t)st.st_ino != f->ino || (uint64_t)st.st_dev != f->dev) {
            close(fd); /* renamed or replaced since we looked: next scan settles it */
            s->rescan_needed = 1;
            continue;
        }
        f->size = (uint64_t)st.st_size;
        uint64_t size = f->size < f->limit ? f->size : f->limit;
        int64_t btime = file_btime(fd);
        uint64_t start = f->committed;
        uint32_t flags = 0;

        /* Provably the file we committed a position for?  Else it is a new
         * file: read from its start. */
        if (f->committed || f->mark_len) {
            const char *why = NULL;
            ms_filepos old_pos = entry_pos(f);
            if (!same_file(s, fd, btime, size, &old_pos, f->committed, &why)) {
                if (size < f->committed)
                    s->st.truncations++;
                else
                    s->st.rotations++;
                ms_warn("%s/%s: %s (%llu bytes read of it before): reading it from the start",
                        s->dir, f->name, why, (unsigned long long)f->committed);
                start = 0;
                flags |= MS_FPOS_RESTART;
            }
        }
        f->flags &= ~DF_VERIFY;
        if (flags & MS_FPOS_RESTART) {
            f->nonl_checked = 0;
            f->flags &= ~DF_REJECTED; /* new content: probed afresh below */
        } else if (f->flags & DF_REJECTED) {
            close(fd); /* the same binary file */
            continue;
        }
        /* gzip or text: a file's position says which it was read as; a new
         * one (or one read anew) goes by its name. */
        int gz = start == 0 ? ms_dirsrc_gzip_name(f->name) : (f->flags & DF_GZIP) != 0;
        if (gz)
            flags |= MS_FPOS_GZIP;
        uint64_t end = 0, take = 0; /* the range's end, and its bytes of text */

        if (gz) {
            /* A .gz is read in whole members; one that cannot fit what is
             * left of the byte budget waits for the next batch (unless
             * nothing is planned yet: at least one member moves). */
            uint64_t left = lim->max_bytes ? lim->max_bytes - bytes : UINT64_MAX;
            if (nfiles && lim->max_bytes && size - start > left + left / 8 + 4096) {
                s->backlog = 1;
                close(fd);
                continue;
            }
            ms_gz_scan g;
            z_stream *z = gz_stream(s);
            rc = z ? gz_walk(z, s->buf, READ_CHUNK, s->zout, ZOUT, gz_pread, &fd, start, size, left,
                             stop, &g)
                   : MS_EIO;
            if (rc) {
                close(fd);
                if (rc == MS_EINVAL)
                    snprintf(errstr, errsz, "interrupted");
                else
                    snprintf(errstr, errsz, "no memory to inflate %s/%s", s->dir, f->name);
                break;
            }
            if (g.binary || (g.bad && !g.end)) {
                uint64_t ml = size < MARK_MAX ? size : MARK_MAX;
                if (preadn(fd, mark, (size_t)ml, 0) != 0) {
                    close(fd);
                    continue;
                }
                if (g.bad) {
                    flags |= MS_FPOS_BADGZIP;
                    f->gz_why = g.why;
                }
                plan_push(plan, &cap, f, start, size, ml, ms_hash(mark, (size_t)ml), btime,
                          flags | MS_FPOS_REJECTED);
                close(fd);
                continue;
            }
            if (!g.end) { /* an incomplete member, or text without its newline yet */
                f->nonl_checked = size;
                pending += size - start;
                close(fd);
                continue;
            }
            if (nfiles && g.text > left) { /* its first member does not fit */
                s->backlog = 1;
                close(fd);
                continue;
            }
            end = g.end;
            take = g.text;
            s->backlog |= g.cut || g.bad; /* more to read (or to reject) at once */
        } else {
            /* A new file: refuse binary content once and for all. */
            if (start == 0 && size > 0) {
                size_t probe = size < BINARY_PROBE ? (size_t)size : BINARY_PROBE;
                if (preadn(fd, s->buf, probe, 0) == 0 && memchr(s->buf, '\0', probe)) {
                    uint64_t ml = size < MARK_MAX ? size : MARK_MAX;
                    plan_push(plan, &cap, f, 0, size, ml, ms_hash(s->buf, (size_t)ml), btime,
                              flags | MS_FPOS_REJECTED);
                    close(fd);
                    continue;
                }
            }

            /* End of the range: the last newline within the file's quota. */
            uint64_t hi = size;
            uint64_t q = quota[ci];
            if (lim->max_bytes && q > lim->max_bytes - bytes)
                q = lim->max_bytes - bytes;
            if (q != UINT64_MAX && hi - start > q)
                hi = start + q;
            uint64_t lo = start;
            if (hi == size && f->nonl_checked > lo && f->nonl_checked <= hi &&
                !(flags & MS_FPOS_RESTART))
                lo = f->nonl_checked;
            end = last_newline(s, fd, lo, hi);
            if (!end && hi < size && nfiles == 0)
                end = first_newline(s, fd, hi, size); /* one line bigger than the budget */
            if (hi < size)
                s->backlog = 1;
            if (!end || end <= start) {
                if (hi == size)
                    f->nonl_checked = size;
                pending += size - start;
                close(fd);
                continue;
            }
            take = end - start;
        }
        uint64_t ml = end < MARK_MAX ? end : MARK_MAX;
        if (preadn(fd, mark, (size_t)ml, 0) != 0) {
            close(fd);
            continue;
        }
        close(fd);
        plan_push(plan, &cap, f, start, end, ml, ms_hash(mark, (size_t)ml), btime, flags);
        f->planned_end = end;
        nfiles++;
        bytes += take;
        pending += size - end;
    }
    if (rc == 0 && plan->n == 0 && held) {
        /* The files given a share had no complete line in it (a writer in
         * the middle of a long line): rather than a batch of nothing, and
         * the others waiting on that writer, the budget goes to whoever
         * has a line, oldest first. */
        for (size_t i = 0; i < nc; i++)
            quota[i] = UINT64_MAX;
        held = 0;
        pending = waiting;
        goto plan_files;
    }
    free(quota);
    free(cand);
    if (rc) {
        ms_plan_free(plan);
        return rc;
    }
    s->st.pending_bytes = pending;
    clean_files(s);
    if (s->available_now && plan->n == 0 && !s->clean_wait)
        s->drained = 1;
    return 0;
}

/* ---------------------------------------------------------------- reading */

/* Opens the file of a plan item, following a rename since the plan:
 * the descriptor, -EACCES, -ENODEV (no longer a regular file) or -ENOENT. */
static int open_item(ms_dirsrc *s, const ms_plan_item *it)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *name = it->pos.name;
        ms_dfile *f = file_find(s, it->pos.dev, it->pos.ino);
        if (attempt > 0 && f)
            name = f->name;
        struct stat st;
        int fd = open_regular(s, name, &st);
        if (fd >= 0) {
            if ((uint64_t)st.st_dev == it->pos.dev && (uint64_t)st.st_ino == it->pos.ino)
                return fd;
            close(fd);
        } else if (fd == -EACCES || fd == -EPERM) {
            return -EACCES;
        } else if (fd == -ENODEV) {
            return -ENODEV;
        }
        if (attempt == 1)
            full_scan(s); /* find where the inode went */
    }
    return -ENOENT;
}

static const ms_part dir_part = {.topic = NULL, .partition = -1};

#define CONT_BYTES 64          /* bytes before each chunk compared again after reading it */
#define HOLD_MAX   (4u << 20)  /* a partial line longer than this is fed before its end */
#define FEED_PIECE (64u << 10) /* bytes handed to the parsers between two looks at *stop */

/* Hands bytes that continue the range to the input, holding back the
 * partial line after the last newline (the parsers see whole lines only,
 * so a range cut short leaves no torn line behind).  s->hold keeps it. */
static void feed_lines(ms_dirsrc *s, const ms_input *in, const uint8_t *d, size_t n)
{
    const uint8_t *nl = n ? memrchr(d, '\n', n) : NULL;
    if (!nl) {
        if (s->hold.len + n <= HOLD_MAX) {
            ms_buf_append(&s->hold, d, n);
            return;
        }
        /* A line longer than HOLD_MAX: passed on as it comes. */
        if (s->hold.len)
            in->ops->feed(in->ud, (const uint8_t *)s->hold.data, s->hold.len);
        ms_buf_reset(&s->hold);
        in->ops->feed(in->ud, d, n);
        return;
    }
    size_t upto = (size_t)(nl - d) + 1;
    if (s->hold.len) {
        in->ops->feed(in->ud, (const uint8_t *)s->hold.data, s->hold.len);
        ms_buf_reset(&s->hold);
    }
    in->ops->feed(in->ud, d, upto);
    ms_buf_append(&s->hold, d + upto, n - upto);
}

/* Keeps the last MS_FPOS_TAIL_MAX bytes read (for the tail marker). */
static void tail_keep(ms_dirsrc *s, const uint8_t *d, size_t n)
{
    if (n >= MS_FPOS_TAIL_MAX) {
        memcpy(s->tail, d + n - MS_FPOS_TAIL_MAX, MS_FPOS_TAIL_MAX);
        s->ntail = MS_FPOS_TAIL_MAX;
        return;
    }
    size_t keep = s->ntail + n > MS_FPOS_TAIL_MAX ? MS_FPOS_TAIL_MAX - n : s->ntail;
    memmove(s->tail, s->tail + s->ntail - keep, keep);
    memcpy(s->tail + keep, d, n);
    s->ntail = keep + n;
}

/* The tail marker the commit records: the last bytes of the file before the
 * range's end (compressed ones for a .gz), from what was read (and, for a
 * range shorter than the marker, the bytes before it, which the identity
 * check just found unchanged). */
static void tail_marker(ms_dirsrc *s, int fd, const ms_plan_item *it, size_t i)
{
    uint64_t range = it->end - it->pos.offset;
    uint64_t tl = it->end < MS_FPOS_TAIL_MAX ? it->end : MS_FPOS_TAIL_MAX;
    if (range >= tl) {
        s->res[i].tail_hash = ms_hash(s->tail + s->ntail - tl, (size_t)tl);
    } else if (preadn(fd, s->buf, (size_t)(tl - range), it->end - tl) == 0) {
        memcpy(s->buf + (tl - range), s->tail + s->ntail - range, (size_t)range);
        s->res[i].tail_hash = ms_hash(s->buf, (size_t)tl);
    } else {
        tl = 0;
    }
    s->res[i].tail_len = tl;
}

/* Reads one planned range into the input, verifying as it goes that the
 * file stays the one planned: after each chunk the file must still be at
 * least as long as what was read, and the CONT_BYTES before the chunk
 * must still be the bytes read before it (a truncation and rewrite
 * between two reads would glue new content to old).  Whole lines only
 * reach the parsers (feed_lines).  Returns 0, 1 when the range was cut
 * short (the file shrank or changed: the held partial line is dropped,
 * the position does not move, and the next plan sees a new file), or
 * MS_EINVAL when *stop became set. */
static int read_range(ms_dirsrc *s, int fd, const ms_plan_item *it, size_t i, const ms_input *in,
                      volatile sig_atomic_t *stop, uint64_t *bytes_read)
{
    uint64_t off = it->pos.offset;
    uint8_t prev[CONT_BYTES], again[CONT_BYTES];
    size_t nprev = 0;
    if (off > 0) {
        nprev = off < CONT_BYTES ? (size_t)off : CONT_BYTES;
        if (preadn(fd, prev, nprev, off - nprev) != 0)
            return 1;
    }
    ms_buf_reset(&s->hold);
    s->ntail = 0;
    in->ops->part(in->ud, &dir_part, it->pos.name, off);
    while (off < it->end) {
        if (*stop)
            return MS_EINVAL;
        size_t want = it->end - off < READ_CHUNK ? (size_t)(it->end - off) : READ_CHUNK;
        ssize_t r = pread(fd, s->buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        struct stat st;
        const char *why = NULL;
        if (r <= 0)
            why = r < 0 ? strerror(errno) : "end of file";
        else if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < off + (uint64_t)r)
            why = "the file shrank";
        else if (nprev &&
                 (preadn(fd, again, nprev, off - nprev) != 0 || memcmp(again, prev, nprev) != 0))
            why = "the bytes before it changed";
        if (why) {
            s->st.truncations++;
            ms_buf_reset(&s->hold);
            in->ops->discard(in->ud);
            ms_warn("%s/%s changed while being read (at byte %llu of %llu: %s): the rest of its "
                    "range and its partial line are left out of this batch, and the next plan "
                    "checks the file again",
                    s->dir, it->pos.name, (unsigned long long)off, (unsigned long long)it->end,
                    why);
            return 1;
        }
        /* Fed in pieces, the stop flag checked between them: a query whose
         * rows cost much (a HOP at the windows-per-row limit) still stops
         * within a fraction of a second. */
        for (size_t o = 0; o < (size_t)r; o += FEED_PIECE) {
            if (*stop)
                return MS_EINVAL;
            size_t k = (size_t)r - o < FEED_PIECE ? (size_t)r - o : FEED_PIECE;
            feed_lines(s, in, s->buf + o, k);
        }
        tail_keep(s, s->buf, (size_t)r);
        nprev = (size_t)r < CONT_BYTES ? (size_t)r : CONT_BYTES;
        memcpy(prev, s->buf + r - nprev, nprev);
        off += (uint64_t)r;
        *bytes_read += (uint64_t)r;
    }
    if (s->hold.len) /* a range ends at a newline: nothing is held, but be sure */
        in->ops->feed(in->ud, (const uint8_t *)s->hold.data, s->hold.len);
    ms_buf_reset(&s->hold);
    in->ops->end(in->ud);
    tail_marker(s, fd, it, i);
    return 0;
}

/* Reads one planned range of a .gz: the members [start, end) inflated, the
 * text fed as whole lines.  The planner walked the same members (gz_walk),
 * so they are complete and valid unless the file changed since: then, as a
 * text file that changed, the range is cut short (1).  Returns 0, 1, or
 * MS_EINVAL when *stop became set. */
static int read_gz_range(ms_dirsrc *s, int fd, const ms_plan_item *it, size_t i, const ms_input *in,
                         volatile sig_atomic_t *stop, uint64_t *bytes_read)
{
    z_stream *z = gz_stream(s);
    if (!z)
        return 1;
    uint64_t off = it->pos.offset;
    ms_buf_reset(&s->hold);
    s->ntail = 0;
    in->ops->part(in->ud, &dir_part, it->pos.name, off);
    const char *why = NULL;
    int in_member = 0;
    int full = 0; /* the last inflate() filled the output: it may hold more text */
    for (;;) {
        if (*stop)
            return MS_EINVAL;
        if (z->avail_in == 0 && !full) {
            if (off >= it->end) {
                if (in_member)
                    why = "its range now ends inside a gzip member";
                break;
            }
            size_t want = it->end - off < READ_CHUNK ? (size_t)(it->end - off) : READ_CHUNK;
            ssize_t r = pread(fd, s->buf, want, (off_t)off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                why = r < 0 ? strerror(errno) : "end of file";
                break;
            }
            tail_keep(s, s->buf, (size_t)r);
            z->next_in = s->buf;
            z->avail_in = (uInt)r;
            off += (uint64_t)r;
        }
        z->next_out = s->zout;
        z->avail_out = ZOUT;
        int rc = inflate(z, Z_NO_FLUSH);
        size_t got = ZOUT - z->avail_out;
        full = z->avail_out == 0;
        in_member = 1;
        for (size_t o = 0; o < got; o += FEED_PIECE) { /* as read_range: *stop between pieces */
            if (*stop)
                return MS_EINVAL;
            feed_lines(s, in, s->zout + o, got - o < FEED_PIECE ? got - o : FEED_PIECE);
        }
        *bytes_read += got;
        if (rc == Z_STREAM_END) {
            in_member = 0;
            uInt left = z->avail_in;
            const Bytef *next = z->next_in;
            inflateReset(z);
            z->next_in = (Bytef *)next;
            z->avail_in = left;
            continue;
        }
        if (rc == Z_OK || (rc == Z_BUF_ERROR && z->avail_in == 0))
            continue;
        why = z->msg ? z->msg : "not gzip data";
        break;
    }
    if (why) {
        s->st.truncations++;
        ms_buf_reset(&s->hold);
        in->ops->discard(in->ud);
        ms_warn("%s/%s changed while being read (a gzip member in bytes %llu..%llu: %s): the rest "
                "of its range and its partial line are left out of this batch, and the next plan "
                "checks the file again",
                s->dir, it->pos.name, (unsigned long long)it->pos.offset,
                (unsigned long long)it->end, why);
        return 1;
    }
    if (s->hold.len) /* the members end a line: nothing is held, but be sure */
        in->ops->feed(in->ud, (const uint8_t *)s->hold.data, s->hold.len);
    ms_buf_reset(&s->hold);
    in->ops->end(in->ud);
    tail_marker(s, fd, it, i);
    return 0;
}

int ms_dirsrc_read(ms_dirsrc *s, const ms_plan *plan, const ms_input *in,
                   volatile sig_atomic_t *stop, uint64_t *bytes_read)
{
    free(s->res);
    s->res = ms_xcalloc(plan->n ? plan->n : 1, sizeof(*s->res));
    s->nres = plan->n;
    *bytes_read = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const ms_plan_item *it = &plan->items[i];
        if (it->pos.flags & MS_FPOS_REJECTED)
            continue;
        int fd = open_item(s, it);
        const char *why = NULL;
        if (fd >= 0) {
            /* The inode may have been freed and reused, or the file
             * rewritten, since the plan: only the file the plan saw is the
             * planned input. */
            struct stat st;
            if (fstat(fd, &st) != 0 || !same_file(s, fd, file_btime(fd), (uint64_t)st.st_size,
                                                  &it->pos, it->pos.offset, &why)) {
                close(fd);
                fd = -ENOENT;
            }
        }
        if (fd < 0) {
            enum ms_reject r = fd == -EACCES   ? MS_REJECT_UNREADABLE
                               : fd == -ENODEV ? MS_REJECT_NOT_REGULAR
                                               : MS_REJECT_VANISHED;
            s->st.rejected[r]++;
            s->res[i].skip = 1;
            ms_warn("planned file %s/%s could not be read (%s%s%s): its bytes %llu..%llu are "
                    "skipped",
                    s->dir, it->pos.name, ms_reject_name(r), why ? ": " : "", why ? why : "",
                    (unsigned long long)it->pos.offset, (unsigned long long)it->end);
            continue;
        }
        int rc = (it->pos.flags & MS_FPOS_GZIP) ? read_gz_range(s, fd, it, i, in, stop, bytes_read)
                                                : read_range(s, fd, it, i, in, stop, bytes_read);
        close(fd);
        if (rc == MS_EINVAL)
            return MS_EINVAL;
        if (rc)
            s->res[i].skip = 1;
    }
    return 0;
}

/* ------------------------------------------------------------- committing */

static int skipped(const ms_dirsrc *s, size_t i)
{
    return i < s->nres && s->res[i].skip;
}

void ms_dirsrc_commit(ms_dirsrc *s, const ms_plan *plan, ms_ckpt_batch *wb)
{
    for (size_t i = 0; i < plan->n; i++) {
        if (skipped(s, i))
            continue;
        const ms_plan_item *it = &plan->items[i];
        ms_filepos fp = it->pos;
        fp.offset = it->end;
        fp.flags &= MS_FPOS_REJECTED | MS_FPOS_GZIP | MS_FPOS_BADGZIP;
        fp.tail_len = i < s->nres ? s->res[i].tail_len : 0;
        fp.tail_hash = i < s->nres ? s->res[i].tail_hash : 0;
        ms_buf_reset(&s->key);
        ms_buf_reset(&s->val);
        ms_codec_key_position(&s->key, fp.dev, fp.ino);
        ms_codec_encode_filepos(&s->val, &fp);
        ms_ckpt_batch_put(wb, s->key.data, s->key.len, s->val.data, s->val.len);
    }
    /* Files gone from the directory: forget their positions. */
    for (size_t i = 0; i < s->nfiles; i++) {
        const ms_dfile *f = &s->files[i];
        if ((f->flags & DF_GONE) && f->name[0]) {
            ms_buf_reset(&s->key);
            ms_codec_key_position(&s->key, f->dev, f->ino);
            ms_ckpt_batch_delete(wb, s->key.data, s->key.len);
        }
    }
}

/* An entry of a file that left the directory and whose position the
 * checkpoint no longer holds: nothing in it is needed. */
static int forgotten(const ms_dfile *f)
{
    return (f->flags & DF_GONE) && f->name[0] == '\0' && f->committed == 0;
}

/* Drops forgotten entries once they are at least half of the table (and at
 * least COMPACT_MIN), and rebuilds the index: a directory whose files are
 * consumed and then deleted keeps a table (and per-batch walks over it)
 * the size of what is in the directory, not of every file ever seen.  The
 * amortized cost is O(1) per forgotten file.  A file that comes back with
 * the same inode is a new entry, read from its start, as a forgotten entry
 * would have been. */
static void files_compact(ms_dirsrc *s)
{
    size_t gone = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        gone += forgotten(&s->files[i]);
    if (gone < COMPACT_MIN || gone * 2 < s->nfiles)
        return;
    ms_table_free(&s->index);
    ms_table_init(&s->index);
    size_t n = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        ms_dfile *f = &s->files[i];
        if (forgotten(f)) {
            free(f->name);
            continue;
        }
        s->files[n] = *f;
        uint8_t k[16];
        idx_key(k, f->dev, f->ino);
        ms_table_set_clean(&s->index, k, 16, (int64_t)n);
        n++;
    }
    ms_debug("file table: dropped %zu entries of deleted files, %zu left", s->nfiles - n, n);
    s->nfiles = n;
}

void ms_dirsrc_committed(ms_dirsrc *s, const ms_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        const ms_plan_item *it = &plan->items[i];
        ms_dfile *f = file_find(s, it->pos.dev, it->pos.ino);
        if (!f || skipped(s, i))
            continue;
        f->committed = it->end;
        f->mark_len = it->pos.mark_len;
        f->mark_hash = it->pos.mark_hash;
        f->btime_ns = it->pos.btime_ns;
        f->tail_len = i < s->nres ? s->res[i].tail_len : 0;
        f->tail_hash = i < s->nres ? s->res[i].tail_hash : 0;
        f->clean_tries = 0;
        if (it->pos.flags & MS_FPOS_GZIP)
            f->flags |= DF_GZIP;
        else
            f->flags &= ~DF_GZIP;
        if ((it->pos.flags & (MS_FPOS_REJECTED | MS_FPOS_BADGZIP)) ==
            (MS_FPOS_REJECTED | MS_FPOS_BADGZIP)) {
            f->flags |= DF_REJECTED;
            s->st.rejected[MS_REJECT_BAD_GZIP]++;
            ms_warn("rejected %s/%s: not valid gzip data from byte %llu on (%s)%s; move .gz "
                    "files into the directory complete (write elsewhere, then rename)",
                    s->dir, it->pos.name, (unsigned long long)it->pos.offset,
                    f->gz_why ? f->gz_why : "damaged",
                    it->pos.offset ? ", the members before were read" : "");
        } else if (it->pos.flags & MS_FPOS_REJECTED) {
            f->flags |= DF_REJECTED;
            s->st.rejected[MS_REJECT_BINARY]++;
            ms_warn("rejected %s/%s: binary content (NUL bytes in the first %u bytes of its %s)",
                    s->dir, it->pos.name, BINARY_PROBE,
                    (it->pos.flags & MS_FPOS_GZIP) ? "decompressed text" : "text");
        }
    }
    /* Positions of gone files were deleted in the commit: their entries
     * hold nothing now, and are dropped once they are most of the table. */
    for (size_t i = 0; i < s->nfiles; i++) {
        ms_dfile *f = &s->files[i];
        if ((f->flags & DF_GONE) && f->name[0]) {
            f->name[0] = '\0';
            f->committed = 0;
            f->mark_len = 0;
            f->tail_len = 0;
            f->btime_ns = 0;
        }
    }
    files_compact(s);
    free(s->res);
    s->res = NULL;
    s->nres = 0;
}

void ms_dirsrc_get_stats(const ms_dirsrc *s, ms_dirsrc_stats *st)
{
    *st = s->st;
    uint64_t n = 0, bf = 0, bb = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        const ms_dfile *f = &s->files[i];
        if (f->flags & DF_GONE)
            continue;
        n++;
        if ((f->flags & (DF_REJECTED | DF_UNREADABLE)) || !selected(s, f->name) || too_old(s, f))
            continue; /* not waiting to be read */
        uint64_t size = f->size < f->limit ? f->size : f->limit;
        uint64_t at = f->planned_end;
        if (size > at) {
            bf++;
            bb += size - at;
        }
    }
    st->files_tracked = n;
    st->file_table_entries = s->nfiles;
    st->backlog_files = bf;
    st->backlog_bytes = bb;
    st->watching = s->st.watching && !s->lost;
}

/* --------------------------------------------------------------- cleaning */

/* Whether the checkpoint holds the position f->committed of this very file
 * (marker and birth time alike): the commit that consumed it is durable.
 * The engine hands a write batch over before it is written (§2.1), so
 * reading it back is what makes "after the batch committed" true whatever
 * the pipelining; RocksDB shows a write only once its WAL is synced. */
static int commit_durable(ms_dirsrc *s, const ms_dfile *f)
{
    ms_buf_reset(&s->key);
    ms_codec_key_position(&s->key, f->dev, f->ino);
    char err[256];
    if (ms_ckpt_get(s->ck, s->key.data, s->key.len, &s->val, err, sizeof(err)) != 0)
        return 0;
    ms_filepos fp;
    if (ms_codec_decode_filepos((const uint8_t *)s->key.data, s->key.len,
                                (const uint8_t *)s->val.data, s->val.len, &fp) != 0)
        return 0;
    int same = fp.offset == f->committed && fp.mark_len == f->mark_len &&
               fp.mark_hash == f->mark_hash && fp.btime_ns == f->btime_ns &&
               !(fp.flags & MS_FPOS_REJECTED);
    ms_filepos_free(&fp);
    return same;
}

/* fsync of the directory that holds rel (relative to dirfd): a rename or
 * unlink is durable before the commit that forgets the file's position. */
static int sync_parent(int dirfd, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    char parent[MAX_REL + 1];
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 1, slash ? rel : ".");
    int fd = openat(dirfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* The directories of rel below the archive directory, made as needed. */
static int make_parents(int dirfd, const char *rel)
{
    char path[MAX_REL + 32];
    snprintf(path, sizeof(path), "%s", rel);
    for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdirat(dirfd, path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* 1 when the two files have the same bytes. */
static int same_bytes(ms_dirsrc *s, int afd, const char *a, int bfd, const char *b)
{
    int x = openat(afd, a, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int y = openat(bfd, b, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sx, sy;
    int same = x >= 0 && y >= 0 && fstat(x, &sx) == 0 && fstat(y, &sy) == 0 &&
               S_ISREG(sx.st_mode) && S_ISREG(sy.st_mode) && sx.st_size == sy.st_size;
    size_t half = READ_CHUNK / 2;
    for (uint64_t off = 0; same && off < (uint64_t)sx.st_size;) {
        size_t n = (uint64_t)sx.st_size - off < half ? (size_t)((uint64_t)sx.st_size - off) : half;
        same = preadn(x, s->buf, n, off) == 0 && preadn(y, s->buf + half, n, off) == 0 &&
               !memcmp(s->buf, s->buf + half, n);
        off += n;
    }
    if (x >= 0)
        close(x);
    if (y >= 0)
        close(y);
    return same;
}

/* Links the file a (below afd) in as b (below bfd) unless b exists: 0, or
 * -1 with errno (EEXIST: b is taken; EXDEV: another file system). */
static int place(int afd, const char *a, int bfd, const char *b)
{
    if (renameat2(afd, a, bfd, b, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* No RENAME_NOREPLACE on this file system: link (which never
     * replaces), then unlink. */
    if (linkat(afd, a, bfd, b, 0) != 0)
        return -1;
    return unlinkat(afd, a, 0);
}

/* Across file systems: a copy under a temporary name in the archive, synced,
 * then placed as dst; the source is left for the caller to unlink.  0, or
 * -1 with errno (EEXIST: dst is taken). */
static int copy_in(ms_dirsrc *s, const char *src, const char *dst)
{
    char tmp[MAX_REL + 64];
    const char *slash = strrchr(dst, '/');
    snprintf(tmp, sizeof(tmp), "%.*s.mstream-%s.part", slash ? (int)(slash - dst + 1) : 0, dst,
             slash ? slash + 1 : dst);
    int in = openat(s->dirfd, src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0)
        return -1;
    struct stat st;
    int out = -1, rc = -1, e = 0;
    if (fstat(in, &st) != 0)
        goto out;
    out = openat(s->archfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0)
        goto out;
    for (;;) {
        ssize_t r = read(in, s->buf, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        for (ssize_t w = 0; w < r;) {
            ssize_t k = write(out, s->buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                goto out;
            w += k;
        }
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);
    if (fsync(out) != 0)
        goto out;
    rc = place(s->archfd, tmp, s->archfd, dst);
out:
    e = errno;
    if (out >= 0)
        close(out);
    close(in);
    if (rc != 0)
        unlinkat(s->archfd, tmp, 0);
    errno = e;
    return rc;
}

/* --clean-source archive: f moved to <archive>/<its relative name>; a name
 * there that another file took gets ".1", ".2", ... appended, and one that
 * holds the same bytes (this file, copied before a crash) just lets the
 * source go.  Both directories are synced.  0, or -1 with errno. */
static int clean_archive(ms_dirsrc *s, const ms_dfile *f, char *where, size_t wsz)
{
    if (make_parents(s->archfd, f->name) != 0)
        return -1;
    for (int k = 0; k < 1000; k++) {
        char dst[MAX_REL + 16];
        if (k)
            snprintf(dst, sizeof(dst), "%s.%d", f->name, k);
        else
            snprintf(dst, sizeof(dst), "%s", f->name);
        snprintf(where, wsz, "%s/%s", s->archive_dir, dst);
        int rc = place(s->dirfd, f->name, s->archfd, dst);
        if (rc != 0 && errno == EXDEV) {
            rc = copy_in(s, f->name, dst);
            if (rc == 0 && sync_parent(s->archfd, dst) == 0 && unlinkat(s->dirfd, f->name, 0) != 0)
                return -1;
        }
        if (rc != 0 && errno == EEXIST) {
            if (!same_bytes(s, s->dirfd, f->name, s->archfd, dst))
                continue;
            if (unlinkat(s->dirfd, f->name, 0) != 0) /* archived already */
                return -1;
        } else if (rc != 0) {
            return -1;
        }
        if (sync_parent(s->archfd, dst) != 0 || sync_parent(s->dirfd, f->name) != 0)
            ms_warn("fsync of the directories of %s and %s failed (%s): the move may not survive "
                    "a power loss",
                    f->name, where, strerror(errno));
        return 0;
    }
    errno = EEXIST;
    return -1;
}

/* --clean-source: every file that a durable commit consumed to its last
 * byte and that has not changed since is archived or deleted (docs/files.md,
 * "Cleaning up").  Rejected, empty and partly read files stay; so does a
 * file renamed to a name the glob leaves out.  A file whose commit is not
 * durable yet is looked at again CLEAN_RETRY later (s->clean_wait).  Once
 * cleaned, a file is gone: the next commit drops its position. */
static void clean_files(ms_dirsrc *s)
{
    s->clean_wait = 0;
    if (s->clean == MS_CLEAN_OFF || s->lost)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        ms_dfile *f = &s->files[i];
        if ((f->flags & (DF_GONE | DF_REJECTED | DF_UNREADABLE | DF_VERIFY | DF_CLEAN_FAILED)) ||
            f->committed == 0 || f->committed != f->size || f->planned_end != f->committed ||
            !f->name[0] || !selected(s, f->name))
            continue;
        if (!commit_durable(s, f)) {
            if (++f->clean_tries < CLEAN_TRIES) {
                s->clean_wait = 1;
                continue;
            }
            s->st.clean_failures++;
            f->flags |= DF_CLEAN_FAILED;
            ms_warn("%s/%s was read to its end, but the checkpoint does not show that commit: "
                    "not %s (tried again after the next rescan)",
                    s->dir, f->name, s->clean == MS_CLEAN_ARCHIVE ? "archived" : "deleted");
            continue;
        }
        /* Not written since the plan that read its end? */
        struct stat st;
        int64_t btime;
        if (stat_entry(s, f->name, &st, &btime) != 0)
            continue; /* gone already: the next full scan forgets it */
        if ((uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino ||
            (uint64_t)st.st_size != f->committed ||
            (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec != f->mtime_ns) {
            if ((uint64_t)st.st_dev == f->dev && (uint64_t)st.st_ino == f->ino)
                file_seen(s, f->name, &st, btime); /* grown or touched: the next plan looks */
            else
                s->rescan_needed = 1;
            continue;
        }
        char where[MAX_REL * 2 + 64] = "";
        int rc;
        if (s->clean == MS_CLEAN_DELETE) {
            rc = unlinkat(s->dirfd, f->name, 0);
            if (rc == 0 && sync_parent(s->dirfd, f->name) != 0)
                ms_warn("fsync of the directory of %s/%s failed (%s): the deletion may not "
                        "survive a power loss",
                        s->dir, f->name, strerror(errno));
        } else {
            rc = clean_archive(s, f, where, sizeof(where));
        }
        if (rc != 0) {
            s->st.clean_failures++;
            f->flags |= DF_CLEAN_FAILED;
            ms_warn("cannot %s %s/%s%s%s: %s (tried again after the next rescan)",
                    s->clean == MS_CLEAN_DELETE ? "delete" : "archive", s->dir, f->name,
                    where[0] ? " to " : "", where, strerror(errno));
            continue;
        }
        if (s->clean == MS_CLEAN_DELETE) {
            s->st.deleted++;
            ms_debug("deleted %s/%s (read to its end, committed)", s->dir, f->name);
        } else {
            s->st.archived++;
            ms_debug("archived %s/%s as %s (read to its end, committed)", s->dir, f->name, where);
        }
        f->flags |= DF_GONE;
    }
    if (s->clean_wait)
        s->clean_at = ms_now_mono() + CLEAN_RETRY;
}

/* ------------------------------------------------------------ source ops */

static int op_plan(void *self, const ms_source_limits *lim, void **out, volatile sig_atomic_t *stop,
                   char *errstr, size_t errsz)
{
    ms_limits l = {lim->max_files, lim->max_bytes};
    ms_plan *p = ms_xcalloc(1, sizeof(*p));
    int rc = ms_dirsrc_plan_stop(self, &l, p, stop, errstr, errsz);
    if (rc) {
        ms_plan_free(p);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static size_t op_plan_ranges(const void *plan)
{
    return ((const ms_plan *)plan)->n;
}

static void op_plan_range(const void *plan, size_t i, ms_plan_range *r)
{
    const ms_plan_item *it = &((const ms_plan *)plan)->items[i];
    r->name = it->pos.name;
    r->partition = -1;
    r->start = it->pos.offset;
    r->end = it->end;
}

static void op_plan_encode(const void *plan, uint64_t batch_id, double created, ms_buf *out)
{
    ms_plan p = *(const ms_plan *)plan;
    p.batch_id = batch_id;
    p.created_wall = created;
    ms_codec_encode_plan(out, &p);
}

static int op_plan_decode(const void *v, size_t vl, void **out, uint64_t *batch_id)
{
    ms_plan *p = ms_xcalloc(1, sizeof(*p));
    if (ms_codec_decode_plan(v, vl, p) != 0) {
        free(p);
        return MS_ECORRUPT;
    }
    *batch_id = p->batch_id;
    *out = p;
    return 0;
}

static int op_replan(void *self, void *plan, char *errstr, size_t errsz)
{
    /* Positions move only at a commit: a plan persisted before the crash
     * starts where the checkpoint says, and is read as it stands. */
    (void)self;
    (void)plan;
    (void)errstr;
    (void)errsz;
    return 0;
}

static void op_plan_free(void *plan)
{
    if (!plan)
        return;
    ms_plan_free(plan);
    free(plan);
}

static int op_read(void *self, const void *plan, const ms_input *in, volatile sig_atomic_t *stop,
                   ms_read_stats *rs, char *errstr, size_t errsz)
{
    uint64_t bytes = 0;
    int rc = ms_dirsrc_read(self, plan, in, stop, &bytes);
    rs->bytes = bytes;
    if (rc == MS_EINVAL)
        snprintf(errstr, errsz, "interrupted");
    return rc;
}

static size_t op_commit(void *self, const void *plan, ms_ckpt_batch *wb)
{
    ms_dirsrc *s = self;
    const ms_plan *p = plan;
    ms_dirsrc_commit(s, p, wb);
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !(p->items[i].pos.flags & MS_FPOS_REJECTED) && !(i < s->nres && s->res[i].skip);
    return n;
}

static void op_committed(void *self, const void *plan)
{
    ms_dirsrc_committed(self, plan);
}

static int op_wait_fd(void *self)
{
    return ms_dirsrc_fd(self);
}

static double op_next_check(void *self)
{
    return ms_dirsrc_next_rescan(self);
}

static void op_wake(void *self)
{
    ms_dirsrc_drain(self);
}

static int op_has_new(void *self)
{
    return ms_dirsrc_maybe_new(self);
}

static int op_drained(void *self)
{
    return ((const ms_dirsrc *)self)->drained;
}

static int op_healthy(void *self)
{
    const ms_dirsrc *s = self;
    return !s->lost;
}

static size_t op_partitions(void *self, const ms_part_info **parts)
{
    ms_dirsrc *s = self;
    s->part.part.topic = NULL;
    s->part.part.partition = -1;
    s->part.backlog = s->backlog;
    *parts = &s->part;
    return 1;
}

static void op_describe(void *self, ms_buf *out)
{
    ms_buf_printf(out, "DirectorySource[%s]", ((const ms_dirsrc *)self)->dir);
}

static void op_stats(void *self, ms_source_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->has_dir = 1;
    ms_dirsrc_get_stats(self, &st->dir);
}

static int op_close(void *self)
{
    ms_dirsrc_close(self);
    return 0;
}

const ms_source_ops ms_dirsrc_ops = {
    .name = "dir",
    .plan = op_plan,
    .plan_ranges = op_plan_ranges,
    .plan_range = op_plan_range,
    .plan_encode = op_plan_encode,
    .plan_decode = op_plan_decode,
    .replan = op_replan,
    .plan_free = op_plan_free,
    .read = op_read,
    .commit = op_commit,
    .committed = op_committed,
    .wait_fd = op_wait_fd,
    .next_check = op_next_check,
    .wake = op_wake,
    .has_new = op_has_new,
    .drained = op_drained,
    .healthy = op_healthy,
    .partitions = op_partitions,
    .describe = op_describe,
    .stats = op_stats,
    .close = op_close,
};
