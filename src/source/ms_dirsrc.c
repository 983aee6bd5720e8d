/*
 * The directory source (design in ms_dirsrc.h).
 *
 * In-memory file table: files[] (one ms_dfile per (device, inode) seen) and
 * an index from the 16-byte (dev, ino) key to the slot in files[].  A file's
 * `committed` offset only moves in ms_dirsrc_committed(), after the commit
 * that made it durable; everything the planner decides lives in the plan.
 *
 *   committed ─────────┐        planned end ───┐     size ─┐
 *   [ counted lines    ][ lines of this batch  ][ partial  ]
 *                                               (no newline yet: waits)
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

#include "core/ms_log.h"
#include "source/ms_sources.h"
#include "mstream/mstream.h"
#include "source/ms_inotify.h"
#include "state/ms_table.h"

#define MARK_MAX     256u       /* bytes hashed into the content marker */
#define BINARY_PROBE 8192u      /* bytes checked for NUL on a new file */
#define READ_CHUNK   (1u << 20) /* read() size */
#define SCAN_CHUNK   (64u << 10)
#define COMPACT_MIN  64u /* forgotten file entries before the table is compacted */
#define DIRCHECK_SEC 0.5 /* the directory is gone: how often its path is checked */

#define DF_GONE       0x1u /* not in the directory at the last full scan */
#define DF_REJECTED   0x2u /* rejected as binary: never read */
#define DF_UNREADABLE 0x4u /* open failed; retried at the next full scan */
#define DF_VERIFY     0x8u /* maybe another file under this inode: check the marker */

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
} ms_dfile;

struct ms_dirsrc {
    char *dir;
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

/* Learns about one directory entry from stat data.  Returns the file. */
static ms_dfile *file_seen(ms_dirsrc *s, const char *name, const struct stat *st, int64_t btime)
{
    ms_dfile *f = file_find(s, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
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
    if ((f->flags & DF_GONE) || mtime != f->mtime_ns)
        f->flags |= DF_VERIFY;
    f->flags &= ~DF_GONE;
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = mtime;
    f->born_ns = btime;
    return f;
}

static void stat_name(ms_dirsrc *s, const char *name)
{
    if (ms_dirsrc_ignored_name(name))
        return;
    struct stat st;
    int64_t btime;
    if (stat_entry(s, name, &st, &btime) != 0)
        return; /* deleted or renamed away: the next full scan settles it */
    if (!S_ISREG(st.st_mode))
        return;
    file_seen(s, name, &st, btime);
}

/* --------------------------------------------------------------- watching */

static int add_watch(ms_dirsrc *s)
{
    if (s->ifd < 0)
        return -1;
    if (s->wd >= 0)
        inotify_rm_watch(s->ifd, s->wd);
    s->wd = inotify_add_watch(s->ifd, s->dir,
                              IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                  IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    s->st.watching = s->wd >= 0;
    return s->wd >= 0 ? 0 : -errno;
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

static void full_scan(ms_dirsrc *s)
{
    s->st.rescans++;
    s->rescan_needed = 0;
    s->next_rescan = ms_now_mono() + s->rescan_sec;
    for (size_t i = 0; i < s->nfiles; i++)
        s->files[i].flags |= DF_GONE;
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        ms_warn("cannot list input directory %s: %s", s->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        for (size_t i = 0; i < s->nfiles; i++)
            s->files[i].flags &= ~DF_GONE;
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (ms_dirsrc_ignored_name(de->d_name))
            continue;
        struct stat st;
        int64_t btime;
        if (stat_entry(s, de->d_name, &st, &btime) != 0 || !S_ISREG(st.st_mode))
            continue;
        ms_dfile *f = file_seen(s, de->d_name, &st, btime);
        f->flags &= ~DF_UNREADABLE; /* give it another chance */
    }
    closedir(d);
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
    if (wd != s->wd)
        return;
    if (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (!s->lost)
            ms_warn("input directory %s was removed or moved: nothing is read until it is back; "
                    "/readyz says not ready meanwhile",
                    s->dir);
        if (s->wd >= 0 && !(mask & IN_IGNORED))
            inotify_rm_watch(s->ifd, s->wd);
        s->wd = -1;
        s->st.watching = 0;
        s->lost = 1; /* the plan checks the path (dir_check) */
        return;
    }
    if (!nlen || !(mask & (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE)))
        return;
    for (size_t i = 0; i < s->npending; i++)
        if (strcmp(s->pending[i], name) == 0)
            return;
    if (s->npending == s->cappending) {
        s->cappending = s->cappending ? s->cappending * 2 : 64;
        s->pending = ms_xrealloc(s->pending, s->cappending * sizeof(char *));
    }
    if (s->npending > 4096) {
        /* A storm of names: a rescan is cheaper than remembering them. */
        s->rescan_needed = 1;
        return;
    }
    s->pending[s->npending++] = ms_xstrdup(name);
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
    return s->npending > 0 || s->rescan_needed || s->lost || ms_now_mono() >= s->next_rescan;
}

double ms_dirsrc_next_rescan(const ms_dirsrc *s)
{
    if (s->lost) {
        double soon = ms_now_mono() + DIRCHECK_SEC;
        return soon < s->next_rescan ? soon : s->next_rescan;
    }
    return s->next_rescan;
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
    ms_filepos_free(&fp);
    return 0;
}

int ms_dirsrc_open(const char *dir, ms_ckpt *ck, int available_now, double rescan_sec,
                   ms_dirsrc **out, char *errstr, size_t errsz)
{
    *out = NULL;
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
    s->available_now = available_now;
    s->rescan_sec = rescan_sec;
    s->wd = -1;
    s->ifd = -1;
    ms_table_init(&s->index);
    s->buf = ms_xmalloc(READ_CHUNK);
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat dst;
    if (s->dirfd < 0 || fstat(s->dirfd, &dst) != 0) {
        snprintf(errstr, errsz, "cannot open input directory %s: %s", dir, strerror(errno));
        ms_dirsrc_close(s);
        return MS_EUSAGE;
    }
    s->dir_dev = (uint64_t)dst.st_dev;
    s->dir_ino = (uint64_t)dst.st_ino;

    int rc = ms_ckpt_scan(ck, "p:dir:", 6, load_pos, s, errstr, errsz);
    if (rc) {
        if (rc == MS_ECORRUPT)
            snprintf(errstr, errsz, "checkpoint holds a corrupt file position record");
        ms_dirsrc_close(s);
        return rc;
    }

    /* Watch first, then list: nothing that arrives in between is missed. */
    if (!available_now) {
        s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ifd < 0 || add_watch(s) != 0) {
            ms_warn("inotify unavailable for %s (%s): falling back to rescans every %.3gs", dir,
                    strerror(errno), rescan_sec);
        }
    }
    full_scan(s);
    if (available_now) {
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
    ms_info("%s %s: %zu files listed, %zu positions restored from the checkpoint",
            available_now ? "reading" : "watching", dir, listed, known);
    s->frozen = 1;
    *out = s;
    return 0;
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
    ms_table_free(&s->index);
    if (s->ifd >= 0)
        close(s->ifd);
    if (s->dirfd >= 0)
        close(s->dirfd);
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

/* Bytes a candidate waits to have read, as seen by the last stat. */
static uint64_t backlog_of(const ms_dfile *f)
{
    uint64_t size = f->size < f->limit ? f->size : f->limit;
    return size > f->committed ? size - f->committed : size;
}

/* --max-bytes-per-trigger: how many bytes each candidate (oldest first) may
 * contribute.  Files written one after the other are read one after the
 * other, so a newer file's rows never overtake an older one's; files
 * written at the same time (a file born before the last write to the ones
 * before it: two writers appending in turn) form one set, and the budget
 * is split over a set in proportion to each file's backlog, so they
 * advance together instead of one overtaking the other (ms_dirsrc.h).
 * A set that does not fit is the last one planned. */
static void byte_quotas(ms_dfile **cand, size_t nc, uint64_t budget, uint64_t *quota)
{
    size_t i = 0;
    while (i < nc) {
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
            quota[k] =
                total > 0 ? (uint64_t)((long double)budget * backlog_of(cand[k]) / total) : 0;
        if (quota[i] == 0)
            quota[i] = budget ? budget : 1; /* at least the first file moves */
        for (size_t k = j; k < nc; k++)
            quota[k] = 0;
        return;
    }
}

int ms_dirsrc_plan(ms_dirsrc *s, const ms_limits *lim, ms_plan *plan, char *errstr, size_t errsz)
{
    (void)errstr;
    (void)errsz;
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
     * (DF_VERIFY: a rejected file's too), oldest first. */
    ms_dfile **cand = ms_xmalloc((s->nfiles ? s->nfiles : 1) * sizeof(*cand));
    size_t nc = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        ms_dfile *f = &s->files[i];
        f->planned_end = f->committed;
        int verify = (f->flags & DF_VERIFY) && (f->mark_len || f->committed);
        if ((f->flags & (DF_GONE | DF_UNREADABLE)) || ((f->flags & DF_REJECTED) && !verify))
            continue;
        uint64_t size = f->size < f->limit ? f->size : f->limit;
        if (verify || (size != f->committed && !(size > f->committed && size <= f->nonl_checked)))
            cand[nc++] = f;
    }
    qsort(cand, nc, sizeof(*cand), cmp_age);
    uint64_t *quota = ms_xmalloc((nc ? nc : 1) * sizeof(uint64_t));
    for (size_t i = 0; i < nc; i++)
        quota[i] = UINT64_MAX;
    if (lim->max_bytes)
        byte_quotas(cand, nc, lim->max_bytes, quota);

    size_t cap = 0, nfiles = 0;
    uint64_t bytes = 0, pending = 0;
    uint8_t mark[MARK_MAX];
    for (size_t ci = 0; ci < nc; ci++) {
        ms_dfile *f = cand[ci];
        if ((lim->max_files && nfiles >= lim->max_files) ||
            (lim->max_bytes && bytes >= lim->max_bytes)) {
            s->backlog = 1;
            break;
        }
        if (quota[ci] == 0) {
            s->backlog = 1;
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
            ms_filepos old = entry_pos(f);
            if (!same_file(s, fd, btime, size, &old, f->committed, &why)) {
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
        uint64_t end = last_newline(s, fd, lo, hi);
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
        uint64_t ml = end < MARK_MAX ? end : MARK_MAX;
        if (preadn(fd, mark, (size_t)ml, 0) != 0) {
            close(fd);
            continue;
        }
        close(fd);
        plan_push(plan, &cap, f, start, end, ml, ms_hash(mark, (size_t)ml), btime, flags);
        f->planned_end = end;
        nfiles++;
        bytes += end - start;
        pending += size - end;
    }
    free(quota);
    free(cand);
    s->st.pending_bytes = pending;
    if (s->available_now && plan->n == 0)
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
    /* The tail marker the commit records: the bytes before the end, from
     * what was read (and, for a range shorter than the marker, the bytes
     * before it, which the identity check just found unchanged). */
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
        int rc = read_range(s, fd, it, i, in, stop, bytes_read);
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
        fp.flags &= MS_FPOS_REJECTED;
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
        if (it->pos.flags & MS_FPOS_REJECTED) {
            f->flags |= DF_REJECTED;
            s->st.rejected[MS_REJECT_BINARY]++;
            ms_warn("rejected %s/%s: binary content (NUL bytes in its first %u bytes)", s->dir,
                    it->pos.name, BINARY_PROBE);
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
        if (f->flags & (DF_REJECTED | DF_UNREADABLE))
            continue;
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

/* ------------------------------------------------------------ source ops */

static int op_plan(void *self, const ms_source_limits *lim, void **out, volatile sig_atomic_t *stop,
                   char *errstr, size_t errsz)
{
    (void)stop;
    ms_limits l = {lim->max_files, lim->max_bytes};
    ms_plan *p = ms_xcalloc(1, sizeof(*p));
    int rc = ms_dirsrc_plan(self, &l, p, errstr, errsz);
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
