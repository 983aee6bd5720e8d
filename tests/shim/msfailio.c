/*
 * msfailio — LD_PRELOAD fault-injection shim for mstream's fault tests.
 *
 * It interposes a few libc entry points with dlsym(RTLD_NEXT) and fails them
 * on request, so the integration tests can stage I/O errors that a healthy
 * disk never produces:
 *
 *   MSFAILIO_FSYNC_PATH=substr   fsync()/fdatasync() on a descriptor whose
 *                                /proc/self/fd/N target contains substr ...
 *   MSFAILIO_FSYNC_AFTER=N       ... succeed N times (default 0), then every
 *                                later matching call fails with EIO (a disk
 *                                that has gone bad stays bad).
 *   MSFAILIO_OPEN_EACCES=substr  open/open64/openat/openat64/fopen/fopen64 of
 *                                a path containing substr fail with EACCES
 *                                (tests run as root, so chmod 000 is no use).
 *   MSFAILIO_OPEN_ENOENT=substr  the same opens fail with ENOENT (a file that
 *                                another process deleted after a listing) ...
 *   MSFAILIO_OPEN_ENOENT_TIMES=N ... the first N times only (default: always).
 *   MSFAILIO_LOG=1               log every intercepted sync call and every
 *                                injected failure to stderr as
 *                                "msfailio: <call> #<k> fd=<fd> path=<p> -> ok|EIO"
 *                                where k counts matching calls from 1 (0 for
 *                                calls that do not match MSFAILIO_FSYNC_PATH).
 *
 * Without any of these variables the shim is a transparent pass-through.
 * Thread-safe: the counter is atomic; the environment is read on each call
 * (cheap next to an fsync) so nothing depends on constructor order.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* The fortified inline open() of glibc would clash with our definitions. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static atomic_long msf_sync_matches;

/* dlsym() returns an object pointer; copy it into a function pointer with
 * memcpy so that -Wpedantic builds stay quiet. */
#define MSF_RESOLVE(fnptr, name)                                                                   \
    do {                                                                                           \
        if ((fnptr) == NULL) {                                                                     \
            void *msf_p_ = msf_next(name);                                                         \
            memcpy(&(fnptr), &msf_p_, sizeof(fnptr));                                              \
        }                                                                                          \
    } while (0)

static void *msf_next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        static const char msg[] = "msfailio: dlsym(RTLD_NEXT) failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    return p;
}

static int msf_log_enabled(void)
{
    const char *v = getenv("MSFAILIO_LOG");
    return v != NULL && v[0] != '\0' && v[0] != '0';
}

static void msf_fd_path(int fd, char *buf, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap - 1);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
}

static void msf_log(const char *call, long k, int fd, const char *path, const char *res)
{
    char line[4400];
    int n = snprintf(line, sizeof line, "msfailio: %s #%ld fd=%d path=%s -> %s\n", call, k, fd,
                     path, res);
    if (n > 0) {
        size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        ssize_t w = write(2, line, len);
        (void)w;
    }
}

/* Returns 1 if this sync call must fail with EIO. */
static int msf_sync_should_fail(const char *call, int fd)
{
    const char *sub = getenv("MSFAILIO_FSYNC_PATH");
    int log = msf_log_enabled();
    if ((sub == NULL || sub[0] == '\0') && !log)
        return 0;
    char path[4096];
    msf_fd_path(fd, path, sizeof path);
    if (sub == NULL || sub[0] == '\0' || strstr(path, sub) == NULL) {
        if (log)
            msf_log(call, 0, fd, path, "ok");
        return 0;
    }
    long after = 0;
    const char *a = getenv("MSFAILIO_FSYNC_AFTER");
    if (a != NULL && a[0] != '\0')
        after = strtol(a, NULL, 10);
    long k = atomic_fetch_add(&msf_sync_matches, 1) + 1;
    int fail = k > after;
    if (log || fail)
        msf_log(call, k, fd, path, fail ? "EIO" : "ok");
    return fail;
}

int fsync(int fd)
{
    static int (*real)(int);
    MSF_RESOLVE(real, "fsync");
    if (msf_sync_should_fail("fsync", fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    MSF_RESOLVE(real, "fdatasync");
    if (msf_sync_should_fail("fdatasync", fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

/* ---- open family: EACCES and ENOENT injection -------------------------- */

static atomic_long msf_enoent_matches;

/* 1 (errno set) when the open of path must fail: EACCES for
 * MSFAILIO_OPEN_EACCES, ENOENT for the first MSFAILIO_OPEN_ENOENT_TIMES
 * (default: every) opens of a path containing MSFAILIO_OPEN_ENOENT (a file
 * another process deleted between a listing and the open). */
static int msf_open_denied(const char *call, const char *path)
{
    if (path == NULL)
        return 0;
    const char *sub = getenv("MSFAILIO_OPEN_EACCES");
    if (sub != NULL && sub[0] != '\0' && strstr(path, sub) != NULL) {
        if (msf_log_enabled())
            msf_log(call, 0, -1, path, "EACCES");
        errno = EACCES;
        return 1;
    }
    sub = getenv("MSFAILIO_OPEN_ENOENT");
    if (sub != NULL && sub[0] != '\0' && strstr(path, sub) != NULL) {
        const char *times = getenv("MSFAILIO_OPEN_ENOENT_TIMES");
        long k = atomic_fetch_add(&msf_enoent_matches, 1) + 1;
        if (times != NULL && times[0] != '\0' && k > atol(times))
            return 0;
        if (msf_log_enabled())
            msf_log(call, k, -1, path, "ENOENT");
        errno = ENOENT;
        return 1;
    }
    return 0;
}

static int msf_needs_mode(int flags)
{
#ifdef O_TMPFILE
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return 1;
#endif
    return (flags & O_CREAT) != 0;
}

#define MSF_OPEN_MODE(flags, mode)                                                                 \
    do {                                                                                           \
        if (msf_needs_mode(flags)) {                                                               \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            mode = (mode_t)va_arg(ap, int);                                                        \
            va_end(ap);                                                                            \
        }                                                                                          \
    } while (0)

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    mode_t mode = 0;
    MSF_OPEN_MODE(flags, mode);
    MSF_RESOLVE(real, "open");
    if (msf_open_denied("open", path)) {
        return -1; /* errno set */
    }
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    mode_t mode = 0;
    MSF_OPEN_MODE(flags, mode);
    MSF_RESOLVE(real, "open64");
    if (msf_open_denied("open64", path)) {
        return -1; /* errno set */
    }
    return real(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    mode_t mode = 0;
    MSF_OPEN_MODE(flags, mode);
    MSF_RESOLVE(real, "openat");
    if (msf_open_denied("openat", path)) {
        return -1; /* errno set */
    }
    return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    mode_t mode = 0;
    MSF_OPEN_MODE(flags, mode);
    MSF_RESOLVE(real, "openat64");
    if (msf_open_denied("openat64", path)) {
        return -1; /* errno set */
    }
    return real(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE builds call these instead of open/openat. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
    static int (*real)(const char *, int);
    MSF_RESOLVE(real, "__open_2");
    if (msf_open_denied("__open_2", path)) {
        return -1; /* errno set */
    }
    return real(path, flags);
}

int __open64_2(const char *path, int flags)
{
    static int (*real)(const char *, int);
    MSF_RESOLVE(real, "__open64_2");
    if (msf_open_denied("__open64_2", path)) {
        return -1; /* errno set */
    }
    return real(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    static int (*real)(int, const char *, int);
    MSF_RESOLVE(real, "__openat_2");
    if (msf_open_denied("__openat_2", path)) {
        return -1; /* errno set */
    }
    return real(dirfd, path, flags);
}

/* glibc's fopen opens internally (not through the PLT), so wrap it too. */
FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    MSF_RESOLVE(real, "fopen");
    if (msf_open_denied("fopen", path)) {
        return NULL; /* errno set */
    }
    return real(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    MSF_RESOLVE(real, "fopen64");
    if (msf_open_denied("fopen64", path)) {
        return NULL; /* errno set */
    }
    return real(path, mode);
}
