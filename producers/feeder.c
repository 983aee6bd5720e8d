/*
 * ms_feeder: writes text files into a directory that mstream watches, the
 * way a well-behaved upstream does (docs/design.md §3, §5): each file is written
 * under a hidden temporary name, fsynced, then renamed into place, so the
 * engine never sees a partial file.
 *
 *   --from FILE_OR_DIR ──(gunzip if .gz)──> [split every N lines] ──>
 *        DIR/.NAME.tmp ── write, fsync ── wait for the file's deadline ──
 *        link to DIR/NAME (never replaces a file) ── unlink the tmp ── fsync DIR
 *
 * Invariants: a name visible in DIR (not starting with '.', not ending in
 * .tmp) always holds its complete content; an existing file is never
 * overwritten (the feeder stops with an error instead); with --rate R the
 * n-th file is published at start + n/R seconds (absolute deadlines, as the
 * producer paces); SIGINT/SIGTERM stop after the file in progress, and a
 * temporary file is never left behind.
 *
 * --loop feeds the input again and again (a demo that keeps moving): pass k
 * names its files p<k, 6 digits>-NAME, so no name repeats and the names
 * sort in delivery order.  --keep-files N deletes the oldest files this
 * feeder delivered once more than N of them exist, so an endless loop does
 * not fill the disk (or grow the engine's list of files).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ms_log.h"
#include "core/ms_opt.h"
#include "mstream/mstream.h"
#include "ms_pace.h"

typedef struct feed_config {
    char *out;
    char *from;
    double rate;
    int64_t lines_per_file;
    char *prefix;
    int64_t max_files;
    int loop;
    int64_t keep_files;
    int help;
    int version;
} feed_config;

#define OFF(f) offsetof(feed_config, f)

static const ms_opt feed_options[] = {
    {"out", NULL, 'o', MS_OPT_STR, OFF(out), NULL, 0, 0, "DIR",
     "directory to deliver files into, created if missing (required)"},
    {"from", NULL, 'f', MS_OPT_STR, OFF(from), NULL, 0, 0, "FILE_OR_DIR",
     "input file, or directory whose files are fed in name order; .gz is decompressed "
     "(required)"},
    {"rate", NULL, 0, MS_OPT_DOUBLE, OFF(rate), "0", 0, 1e6, "FILES_PER_SEC",
     "publish at most this many files per second (0 = as fast as possible)"},
    {"lines-per-file", NULL, 0, MS_OPT_INT, OFF(lines_per_file), "0", 0, 1e12, "N",
     "split the input into files of N lines (0 = one output file per input file)"},
    {"prefix", NULL, 0, MS_OPT_STR, OFF(prefix), NULL, 0, 0, "NAME",
     "prepend NAME- to every output file name"},
    {"max-files", NULL, 0, MS_OPT_INT, OFF(max_files), "0", 0, 1e12, "N",
     "stop after N files (0 = no limit)"},
    {"loop", NULL, 0, MS_OPT_FLAG, OFF(loop), "false", 0, 1, NULL,
     "feed the input again and again until SIGINT/SIGTERM or --max-files (needs --rate or "
     "--max-files); pass K names its files pK-NAME (K in 6 digits)"},
    {"keep-files", NULL, 0, MS_OPT_INT, OFF(keep_files), "0", 0, 1e9, "N",
     "delete the oldest files this feeder delivered once more than N of them exist (0 = keep "
     "all)"},
    MS_OPT_HELP_VERSION(OFF(help), OFF(version), 'h', 'V'),
};

static const ms_opt_spec feed_spec = {
    .synopsis =
        "usage: ms_feeder --out DIR --from FILE_OR_DIR [--rate FILES_PER_SEC] [--lines-per-file N]",
    .about =
        "Feeds text files into a watched directory atomically (write .NAME.tmp, fsync, rename),\n"
        "optionally split into files of N lines and paced to a number of files per second.",
    MS_OPT_TABLE(feed_options),
    .epilog =
        "exit status: 0 ok, 1 runtime failure, 2 usage error.  SIGINT/SIGTERM stop after the\n"
        "file in progress; a summary line goes to stderr.",
    .usage_width = 30,
};

static volatile sig_atomic_t ms_feed_stop;

static void on_signal(int sig)
{
    ms_feed_stop = sig;
}

typedef struct feeder {
    const feed_config *cfg;
    int dirfd;
    ms_pace pace;
    uint64_t files, lines, bytes, deleted;
    int pass;    /* 1-based; named in the files with --loop */
    char **kept; /* --keep-files: names delivered, oldest first (a ring) */
    size_t nkept, kept_head;
    /* the file being written */
    int fd;
    char tmp[4096], final[4096];
    uint64_t cur_lines;
} feeder;

static int is_ignored(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || name[0] == '_' || (n >= 4 && !strcmp(name + n - 4, ".tmp"));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Output name of chunk `seq` of input `base` (1-based seq, 0 = whole file). */
static void out_name(const feeder *f, const char *base, uint64_t seq, char *buf, size_t n)
{
    char stem[1024];
    snprintf(stem, sizeof(stem), "%s", base);
    size_t l = strlen(stem);
    if (l > 3 && !strcmp(stem + l - 3, ".gz"))
        stem[l - 3] = '\0';
    char pre[1200];
    snprintf(pre, sizeof(pre), "%s%s", f->cfg->prefix ? f->cfg->prefix : "",
             f->cfg->prefix ? "-" : "");
    if (f->cfg->loop) {
        size_t l2 = strlen(pre);
        snprintf(pre + l2, sizeof(pre) - l2, "p%06d-", f->pass);
    }
    if (seq == 0) {
        snprintf(buf, n, "%s%s", pre, stem);
        return;
    }
    char *dot = strrchr(stem, '.');
    const char *ext = "";
    if (dot && dot != stem) {
        ext = dot;
        *dot = '\0';
        snprintf(buf, n, "%s%s-%06" PRIu64 ".%s", pre, stem, seq, ext + 1);
    } else {
        snprintf(buf, n, "%s%s-%06" PRIu64, pre, stem, seq);
    }
}

static int begin_file(feeder *f, const char *name, char *errstr, size_t errsz)
{
    snprintf(f->final, sizeof(f->final), "%s", name);
    snprintf(f->tmp, sizeof(f->tmp), ".%s.tmp", name);
    if (faccessat(f->dirfd, f->final, F_OK, 0) == 0) {
        ms_opt_errf(0, errstr, errsz,
                    "%s/%s already exists: the feeder never replaces a file (use an empty --out "
                    "or a --prefix)",
                    f->cfg->out, f->final);
        return MS_EINVAL;
    }
    f->fd = openat(f->dirfd, f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        ms_opt_errf(0, errstr, errsz, "cannot create %s/%s: %s", f->cfg->out, f->tmp,
                    strerror(errno));
        return MS_EIO;
    }
    f->cur_lines = 0;
    return 0;
}

static int write_all(feeder *f, const char *p, size_t n, char *errstr, size_t errsz)
{
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ms_opt_errf(0, errstr, errsz, "write to %s/%s failed: %s", f->cfg->out, f->tmp,
                        strerror(errno));
            return MS_EIO;
        }
        p += w;
        n -= (size_t)w;
        f->bytes += (uint64_t)w;
    }
    return 0;
}

static void abandon_file(feeder *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
        unlinkat(f->dirfd, f->tmp, 0);
    }
}

/* --keep-files N: remembers a delivered name; deletes the oldest of them
 * while more than N exist (one already gone is not an error). */
static void keep_only(feeder *f, const char *name)
{
    size_t cap = (size_t)f->cfg->keep_files;
    if (cap == 0)
        return;
    if (!f->kept)
        f->kept = ms_xcalloc(cap + 1, sizeof(char *));
    f->kept[(f->kept_head + f->nkept) % (cap + 1)] = ms_xstrdup(name);
    f->nkept++;
    while (f->nkept > cap) {
        char *old = f->kept[f->kept_head];
        if (unlinkat(f->dirfd, old, 0) == 0)
            f->deleted++;
        else if (errno != ENOENT)
            ms_warn("--keep-files: cannot delete %s/%s: %s", f->cfg->out, old, strerror(errno));
        free(old);
        f->kept[f->kept_head] = NULL;
        f->kept_head = (f->kept_head + 1) % (cap + 1);
        f->nkept--;
    }
}

/* fsync, wait for the file's deadline, publish without replacing, fsync DIR. */
static int finish_file(feeder *f, char *errstr, size_t errsz)
{
    if (fsync(f->fd) != 0 || close(f->fd) != 0) {
        ms_opt_errf(0, errstr, errsz, "fsync/close of %s/%s failed: %s", f->cfg->out, f->tmp,
                    strerror(errno));
        close(f->fd);
        f->fd = -1;
        unlinkat(f->dirfd, f->tmp, 0);
        return MS_EIO;
    }
    f->fd = -1;
    int64_t deadline;
    if (ms_pace_deadline(&f->pace, 1, ms_pace_now_ns(), &deadline)) {
        while (!ms_feed_stop && ms_pace_now_ns() < deadline)
            ms_pace_sleep_until(deadline);
        ms_pace_sent(&f->pace, deadline, ms_pace_now_ns());
    }
    /* link() fails with EEXIST instead of replacing, unlike rename(). */
    if (linkat(f->dirfd, f->tmp, f->dirfd, f->final, 0) != 0) {
        int e = errno;
        unlinkat(f->dirfd, f->tmp, 0);
        ms_opt_errf(0, errstr, errsz, "cannot publish %s/%s: %s", f->cfg->out, f->final,
                    strerror(e));
        return MS_EIO;
    }
    unlinkat(f->dirfd, f->tmp, 0);
    if (fsync(f->dirfd) != 0) {
        ms_opt_errf(0, errstr, errsz, "fsync of directory %s failed: %s", f->cfg->out,
                    strerror(errno));
        return MS_EIO;
    }
    f->files++;
    f->lines += f->cur_lines;
    keep_only(f, f->final);
    return 0;
}

static int limit_reached(const feeder *f)
{
    return f->cfg->max_files > 0 && f->files >= (uint64_t)f->cfg->max_files;
}

static int feed_one(feeder *f, const char *path, const char *base, char *errstr, size_t errsz)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        ms_opt_errf(0, errstr, errsz, "cannot open %s: %s", path, strerror(errno));
        return MS_EIO;
    }
    gzbuffer(gz, 256 * 1024);
    static char buf[256 * 1024];
    uint64_t per = (uint64_t)f->cfg->lines_per_file, seq = 0, files_before = f->files;
    int rc = 0;
    char name[2048];
    for (;;) {
        int n = gzread(gz, buf, sizeof(buf));
        int zerr = Z_OK;
        const char *zmsg = n <= 0 ? gzerror(gz, &zerr) : NULL;
        if (n < 0 || zerr != Z_OK) {
            /* gzread returns 0, not -1, at the end of a truncated .gz. */
            rc = ms_opt_errf(MS_EIO, errstr, errsz, "reading %s failed: %s", path,
                             zerr == Z_ERRNO ? strerror(errno) : zmsg);
            break;
        }
        if (n == 0)
            break;
        const char *p = buf, *end = buf + n;
        while (p < end) {
            if (f->fd < 0) {
                if (ms_feed_stop || limit_reached(f))
                    goto done;
                out_name(f, base, per ? ++seq : 0, name, sizeof(name));
                if ((rc = begin_file(f, name, errstr, errsz)) != 0)
                    goto done;
            }
            const char *q = p;
            if (per) {
                /* Up to the newline that completes this file's N lines. */
                while (q < end && f->cur_lines < per) {
                    const char *nl = memchr(q, '\n', (size_t)(end - q));
                    if (!nl) {
                        q = end;
                        break;
                    }
                    q = nl + 1;
                    f->cur_lines++;
                }
            } else {
                for (const char *c = p; (c = memchr(c, '\n', (size_t)(end - c))) != NULL; c++)
                    f->cur_lines++;
                q = end;
            }
            if ((rc = write_all(f, p, (size_t)(q - p), errstr, errsz)) != 0)
                goto done;
            p = q;
            if (per && f->cur_lines >= per && (rc = finish_file(f, errstr, errsz)) != 0)
                goto done;
        }
    }
    /* The rest of the input (whole file, or the last partial chunk). */
    if (rc == 0 && f->fd >= 0) {
        if (ms_feed_stop)
            abandon_file(f);
        else
            rc = finish_file(f, errstr, errsz);
    }
    if (rc == 0 && f->fd < 0 && per == 0 && f->files == files_before && !ms_feed_stop &&
        !limit_reached(f)) {
        /* An empty input still becomes an (empty) file. */
        out_name(f, base, 0, name, sizeof(name));
        if ((rc = begin_file(f, name, errstr, errsz)) == 0)
            rc = finish_file(f, errstr, errsz);
    }
done:
    if (rc != 0 || ms_feed_stop || limit_reached(f))
        abandon_file(f);
    gzclose(gz);
    return rc;
}

static int mkdirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv)
{
    feed_config cfg;
    char err[1024];
    memset(&cfg, 0, sizeof(cfg));
    if (ms_opt_parse(&feed_spec, &cfg, NULL, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "ms_feeder: %s\n", err);
        ms_opt_free(&feed_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    if (cfg.help || cfg.version) {
        if (cfg.help)
            ms_opt_usage(&feed_spec, stdout);
        else
            printf("ms_feeder (mstream) %s\n", MS_VERSION);
        ms_opt_free(&feed_spec, &cfg);
        return MS_EXIT_OK;
    }
    if (!cfg.out || !cfg.from) {
        fprintf(stderr, "ms_feeder: --out DIR and --from FILE_OR_DIR are required (see --help)\n");
        ms_opt_free(&feed_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    if (cfg.loop && cfg.rate <= 0 && cfg.max_files <= 0) {
        fprintf(stderr, "ms_feeder: --loop needs --rate or --max-files (it would write files as "
                        "fast as the disk takes them, forever)\n");
        ms_opt_free(&feed_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    struct stat st;
    if (stat(cfg.from, &st) != 0) {
        fprintf(stderr, "ms_feeder: --from %s: %s\n", cfg.from, strerror(errno));
        ms_opt_free(&feed_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    char **names = NULL;
    size_t n = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(cfg.from);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            char p[4096];
            struct stat fs;
            snprintf(p, sizeof(p), "%s/%s", cfg.from, de->d_name);
            if (is_ignored(de->d_name) || stat(p, &fs) != 0 || !S_ISREG(fs.st_mode))
                continue;
            names = ms_xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = ms_xstrdup(de->d_name);
        }
        if (d)
            closedir(d);
        if (n > 1)
            qsort(names, n, sizeof(*names), cmp_names);
    }
    int status = MS_EXIT_RUNTIME;
    feeder f;
    memset(&f, 0, sizeof(f));
    f.cfg = &cfg;
    f.fd = -1;
    f.dirfd = -1;
    if (mkdirs(cfg.out) != 0 || (f.dirfd = open(cfg.out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "ms_feeder: cannot create or open directory %s: %s\n", cfg.out,
                strerror(errno));
        goto out;
    }
    ms_pace_init(&f.pace, cfg.rate > 0 ? MS_PACE_RATE : MS_PACE_NONE, cfg.rate);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double t0 = ms_now_mono();
    int rc = 0;
    int passes = 0;
    for (;;) {
        f.pass = ++passes;
        uint64_t before = f.files;
        if (S_ISDIR(st.st_mode)) {
            for (size_t i = 0; i < n && rc == 0 && !ms_feed_stop && !limit_reached(&f); i++) {
                char p[4096];
                snprintf(p, sizeof(p), "%s/%s", cfg.from, names[i]);
                rc = feed_one(&f, p, names[i], err, sizeof(err));
            }
        } else {
            const char *slash = strrchr(cfg.from, '/');
            rc = feed_one(&f, cfg.from, slash ? slash + 1 : cfg.from, err, sizeof(err));
        }
        /* an input of nothing gives nothing to loop over */
        if (rc || ms_feed_stop || limit_reached(&f) || !cfg.loop || f.files == before)
            break;
    }
    if (rc)
        fprintf(stderr, "ms_feeder: %s\n", err);
    fprintf(stderr,
            "summary files=%" PRIu64 " lines=%" PRIu64 " bytes=%" PRIu64
            " elapsed_s=%.3f behind_max_ms=%.1f passes=%d deleted=%" PRIu64 " interrupted=%d\n",
            f.files, f.lines, f.bytes, ms_now_mono() - t0, (double)f.pace.behind_max_ns / 1e6,
            passes, f.deleted, ms_feed_stop ? 1 : 0);
    status = rc == 0 ? MS_EXIT_OK : rc == MS_EINVAL ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
out:
    if (f.dirfd >= 0)
        close(f.dirfd);
    for (size_t i = 0; f.kept && i <= (size_t)cfg.keep_files; i++)
        free(f.kept[i]);
    free(f.kept);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ms_opt_free(&feed_spec, &cfg);
    return status;
}
