/*
 * ms_baseline — the bare-loop word-count baseline for the mstream benchmark.
 *
 *   ms_baseline --input-dir DIR [--max-word-bytes N] [--top N] [--chunk BYTES]
 *
 * Reads every regular file of DIR that the engine would read (names not
 * starting with '.' or '_' and not ending in ".tmp"; files with a NUL byte in
 * the first 8 KiB are skipped as binary), in name order, with read() in 1 MiB
 * chunks, up to and including the last '\n' of each file (the engine's
 * tail semantics: an unterminated last line is not consumed). It splits the
 * bytes into words — maximal runs of bytes that are not ASCII whitespace
 * (space \t \n \v \f \r), including words that span chunk boundaries — and
 * counts them in an open-addressing hash table (linear probing, load <= 1/2,
 * 32-byte slots holding words of up to 12 bytes inline, longer ones in an
 * arena) keyed by the word bytes and hashed with XXH3_64bits from libxxhash, the hash the engine
 * uses. Words longer than --max-word-bytes (default 1024, as the engine) are
 * dropped and counted as malformed. No engine, no checkpoint, no threads.
 *
 * Output (stdout): one line of key=value pairs
 *   files= bytes= lines= words= distinct= malformed_long= rejected_binary=
 *   seconds= mb_per_s= words_per_s= checksum=0x... peak_rss_kb=
 * (MB = 10^6 bytes; checksum = sum over distinct words of count*XXH3(word) mod
 * 2^64, so the counting cannot be optimized away and two runs can be compared),
 * then, with --top N, N lines "top COUNT HEX" for the N most frequent words
 * (count descending, then word bytes ascending), the word hex-encoded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ms_baseline: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void *xrealloc(void *q, size_t n)
{
    void *p = realloc(q, n ? n : 1);
    if (!p) {
        fprintf(stderr, "ms_baseline: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---------- hash table ---------- */

#define INLINE_MAX 12 /* words up to this length live in the slot: one cache miss per lookup */

typedef struct {
    uint64_t hash;
    uint64_t count; /* 0 = empty slot */
    uint32_t len;
    char in[INLINE_MAX]; /* the word if len <= INLINE_MAX, else its uint64_t arena offset */
} entry_t;               /* 32 bytes, 64-byte-aligned table: a slot never straddles a line */

_Static_assert(sizeof(entry_t) == 32, "entry_t must be 32 bytes");

static entry_t *alloc_slots(size_t cap)
{
    entry_t *e = aligned_alloc(64, cap * sizeof(entry_t));
    if (!e) {
        fprintf(stderr, "ms_baseline: out of memory\n");
        exit(1);
    }
    memset(e, 0, cap * sizeof(entry_t));
    return e;
}

typedef struct {
    entry_t *e;
    size_t cap; /* power of two */
    size_t n;
    char *arena;
    size_t alen, acap;
} table_t;

static inline const char *entry_key(const table_t *t, const entry_t *e)
{
    if (e->len <= INLINE_MAX)
        return e->in;
    uint64_t off;
    memcpy(&off, e->in, sizeof off);
    return t->arena + off;
}

static void table_init(table_t *t, size_t cap)
{
    t->cap = cap;
    t->n = 0;
    t->e = alloc_slots(cap);
    t->acap = 1 << 20;
    t->alen = 0;
    t->arena = xmalloc(t->acap);
}

static void table_grow(table_t *t)
{
    size_t ncap = t->cap * 2, mask = ncap - 1;
    entry_t *ne = alloc_slots(ncap);
    for (size_t i = 0; i < t->cap; i++) {
        entry_t *o = &t->e[i];
        if (!o->count)
            continue;
        size_t p = o->hash & mask;
        while (ne[p].count)
            p = (p + 1) & mask;
        ne[p] = *o;
    }
    free(t->e);
    t->e = ne;
    t->cap = ncap;
}

static inline void table_add(table_t *t, const char *w, size_t len)
{
    uint64_t h = XXH3_64bits(w, len);
    size_t mask = t->cap - 1, p = h & mask;
    for (;;) {
        entry_t *e = &t->e[p];
        if (!e->count)
            break;
        if (e->hash == h && e->len == len && memcmp(entry_key(t, e), w, len) == 0) {
            e->count++;
            return;
        }
        p = (p + 1) & mask;
    }
    /* insert */
    entry_t *e = &t->e[p];
    e->hash = h;
    e->count = 1;
    e->len = (uint32_t)len;
    if (len <= INLINE_MAX) {
        memcpy(e->in, w, len);
    } else {
        if (t->alen + len > t->acap) {
            while (t->alen + len > t->acap)
                t->acap *= 2;
            t->arena = xrealloc(t->arena, t->acap);
        }
        memcpy(t->arena + t->alen, w, len);
        uint64_t off = t->alen;
        memcpy(e->in, &off, sizeof off);
        t->alen += len;
    }
    if (++t->n * 2 > t->cap)
        table_grow(t);
}

/* ---------- counting ---------- */

static uint8_t IS_WS[256];

typedef struct {
    table_t t;
    size_t max_word;
    uint64_t words, lines, bytes, malformed_long;
    /* a word that spans a chunk boundary */
    char *carry;
    size_t carry_len, carry_cap;
    int in_word; /* the previous chunk ended inside a word (bytes in carry) */
} counter_t;

static inline void emit(counter_t *c, const char *w, size_t len)
{
    if (len > c->max_word) {
        c->malformed_long++;
        return;
    }
    c->words++;
    table_add(&c->t, w, len);
}

static void carry_append(counter_t *c, const char *p, size_t n)
{
    /* a word already longer than max_word is dropped anyway: keep its length only */
    size_t keep = c->carry_len >= c->max_word + 1 ? 0 : n;
    if (keep > c->max_word + 1 - c->carry_len)
        keep = c->max_word + 1 - c->carry_len;
    if (c->carry_len + keep > c->carry_cap) {
        while (c->carry_len + keep > c->carry_cap)
            c->carry_cap = c->carry_cap ? c->carry_cap * 2 : 4096;
        c->carry = xrealloc(c->carry, c->carry_cap);
    }
    memcpy(c->carry + c->carry_len, p, keep);
    c->carry_len += keep;
    if (keep < n)
        c->carry_len = c->max_word + 1; /* saturate: marks "too long" */
}

static void flush_carry(counter_t *c)
{
    if (c->in_word) {
        emit(c, c->carry, c->carry_len);
        c->in_word = 0;
        c->carry_len = 0;
    }
}

static void count_chunk(counter_t *c, const char *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + n;
    if (c->in_word) {
        const unsigned char *s = p;
        while (p < end && !IS_WS[*p])
            p++;
        carry_append(c, (const char *)s, (size_t)(p - s));
        if (p == end)
            return;
        flush_carry(c);
    }
    uint64_t lines = 0;
    for (;;) {
        while (p < end && IS_WS[*p])
            lines += *p++ == '\n';
        if (p == end)
            break;
        const unsigned char *s = p;
        while (p < end && !IS_WS[*p])
            p++;
        if (p == end) {
            c->in_word = 1;
            c->carry_len = 0;
            carry_append(c, (const char *)s, (size_t)(p - s));
            break;
        }
        emit(c, (const char *)s, (size_t)(p - s));
    }
    c->lines += lines;
}

/* Offset just past the last '\n' of the file (0 if none). */
static int64_t consumable_len(int fd, int64_t size)
{
    char buf[65536];
    int64_t end = size;
    while (end > 0) {
        int64_t start = end > (int64_t)sizeof buf ? end - (int64_t)sizeof buf : 0;
        ssize_t r = pread(fd, buf, (size_t)(end - start), start);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r != end - start)
            return -1;
        for (int64_t i = r - 1; i >= 0; i--)
            if (buf[i] == '\n')
                return start + i + 1;
        end = start;
    }
    return 0;
}

static int skip_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || name[0] == '_')
        return 1;
    if (n >= 4 && strcmp(name + n - 4, ".tmp") == 0)
        return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* top-N selection */
static table_t *g_sort_t;
static int cmp_top(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int r = memcmp(entry_key(g_sort_t, x), entry_key(g_sort_t, y), m);
    if (r)
        return r;
    return x->len < y->len ? -1 : (x->len > y->len);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ms_baseline --input-dir DIR [--max-word-bytes N] [--top N] [--chunk BYTES]\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t max_word = 1024, chunk = 1 << 20;
    long top = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        char name[64];
        const char *eq = strchr(a, '=');
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            goto bad;
        if (eq) {
            size_t nl = (size_t)(eq - a);
            if (nl >= sizeof name)
                goto bad;
            memcpy(name, a, nl);
            name[nl] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc)
                goto bad;
            val = argv[++i];
        }
        char *end;
        if (strcmp(name, "--input-dir") == 0 || strcmp(name, "--inputDir") == 0)
            dir = val;
        else if (strcmp(name, "--max-word-bytes") == 0) {
            unsigned long long v = strtoull(val, &end, 10);
            if (end == val || *end || v == 0 || v > (1ULL << 30))
                goto bad;
            max_word = (size_t)v;
        } else if (strcmp(name, "--top") == 0) {
            top = strtol(val, &end, 10);
            if (end == val || *end || top < 0)
                goto bad;
        } else if (strcmp(name, "--chunk") == 0) {
            unsigned long long v = strtoull(val, &end, 10);
            if (end == val || *end || v == 0 || v > (1ULL << 30))
                goto bad;
            chunk = (size_t)v;
        } else
            goto bad;
        continue;
    bad:
        fprintf(stderr, "ms_baseline: bad argument: %s\n", a);
        usage(stderr);
        return 2;
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }

    static const char WS[] = " \t\n\v\f\r";
    for (const char *w = WS; *w; w++)
        IS_WS[(unsigned char)*w] = 1;

    /* list files */
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ms_baseline: opendir %s: %s\n", dir, strerror(errno));
        return 2;
    }
    char **names = NULL;
    size_t nnames = 0, cnames = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (skip_name(de->d_name))
            continue;
        if (nnames == cnames) {
            cnames = cnames ? cnames * 2 : 64;
            names = xrealloc(names, cnames * sizeof *names);
        }
        names[nnames++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nnames, sizeof *names, cmp_str);

    counter_t c;
    memset(&c, 0, sizeof c);
    c.max_word = max_word;
    table_init(&c.t, 1 << 16);
    char *buf = xmalloc(chunk);
    uint64_t files = 0, rejected = 0;
    char path[8192];

    double t0 = now_sec();
    for (size_t i = 0; i < nnames; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "ms_baseline: open %s: %s\n", path, strerror(errno));
            return 1;
        }
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            close(fd);
            continue;
        }
        int64_t limit = consumable_len(fd, st.st_size);
        if (limit < 0) {
            fprintf(stderr, "ms_baseline: read %s: %s\n", path, strerror(errno));
            return 1;
        }
        { /* binary check: a NUL byte in the first 8 KiB */
            char probe[8192];
            ssize_t pr;
            do
                pr = pread(fd, probe, sizeof probe, 0);
            while (pr < 0 && errno == EINTR);
            if (pr < 0) {
                fprintf(stderr, "ms_baseline: read %s: %s\n", path, strerror(errno));
                return 1;
            }
            if (memchr(probe, 0, (size_t)pr)) {
                rejected++;
                close(fd);
                continue;
            }
        }
        files++;
        int64_t pos = 0;
        while (pos < limit) {
            size_t want = (size_t)(limit - pos) < chunk ? (size_t)(limit - pos) : chunk;
            ssize_t r = read(fd, buf, want);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "ms_baseline: read %s: %s\n", path, strerror(errno));
                return 1;
            }
            if (r == 0)
                break; /* shrank under us */
            count_chunk(&c, buf, (size_t)r);
            pos += r;
            c.bytes += (uint64_t)r;
        }
        flush_carry(&c); /* cannot trigger: a consumed file ends in '\n' */
        close(fd);
    }
    double secs = now_sec() - t0;

    uint64_t checksum = 0;
    for (size_t i = 0; i < c.t.cap; i++)
        if (c.t.e[i].count)
            checksum += c.t.e[i].count * c.t.e[i].hash;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mbps = secs > 0 ? (double)c.bytes / 1e6 / secs : 0;
    double wps = secs > 0 ? (double)c.words / secs : 0;
    printf("files=%llu bytes=%llu lines=%llu words=%llu distinct=%zu malformed_long=%llu "
           "rejected_binary=%llu seconds=%.6f mb_per_s=%.2f words_per_s=%.0f checksum=0x%016llx "
           "peak_rss_kb=%ld\n",
           (unsigned long long)files, (unsigned long long)c.bytes, (unsigned long long)c.lines,
           (unsigned long long)c.words, c.t.n, (unsigned long long)c.malformed_long,
           (unsigned long long)rejected, secs, mbps, wps, (unsigned long long)checksum,
           ru.ru_maxrss);

    if (top > 0) {
        entry_t **v = xmalloc(sizeof(entry_t *) * (c.t.n ? c.t.n : 1));
        size_t k = 0;
        for (size_t i = 0; i < c.t.cap; i++)
            if (c.t.e[i].count)
                v[k++] = &c.t.e[i];
        g_sort_t = &c.t;
        qsort(v, k, sizeof *v, cmp_top);
        for (size_t i = 0; i < k && i < (size_t)top; i++) {
            printf("top %llu ", (unsigned long long)v[i]->count);
            const unsigned char *w = (const unsigned char *)entry_key(&c.t, v[i]);
            for (size_t j = 0; j < v[i]->len; j++)
                printf("%02x", w[j]);
            putchar('\n');
        }
        free(v);
    }
    free(buf);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(c.t.e);
    free(c.t.arena);
    free(c.carry);
    return 0;
}
