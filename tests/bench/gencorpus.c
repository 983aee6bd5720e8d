/*
 * ms_gencorpus — deterministic Zipf word-corpus generator for the mstream benchmark.
 *
 *   ms_gencorpus --out DIR [--bytes N[K|M|G]] [--files K] [--seed S]
 *                [--vocab V] [--zipf S] [--min-words A] [--max-words B]
 *
 * Output: K files DIR/part-NNNNN.txt, each about N/K bytes, made of lines of
 * A..B words (default 10..20) separated by single spaces, every line ending in
 * '\n' (so every byte is consumed by an engine with tail semantics).
 *
 * The vocabulary is V distinct lower-case ASCII words (default 1,000,000) with
 * English letter frequencies and lengths that grow with frequency rank (see
 * LEN_A/LEN_B below: ~4.8 letters per token, ~8.5 per distinct word, like
 * English text), and tokens are drawn from a Zipf law
 * P(rank r) ~ 1/r^s (default s = 1.0) with Vose's alias method (O(1)/draw).
 *
 * The output is a pure function of (seed, vocab, zipf, bytes, files,
 * min/max words): own PRNG (splitmix64 seeding + xoshiro256**), no rand().
 * Each file has its own PRNG stream (seeded from seed and file index), so the
 * files are generated in parallel on up to --threads threads (default 2)
 * without changing the output.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------- PRNG ---------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t s[4];
} rng_t;

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* uniform in [0, n) (Lemire's multiply-shift; bias < 2^-32, irrelevant here) */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* uniform double in [0,1) */
static inline double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---------- options ---------- */

typedef struct {
    const char *out;
    uint64_t bytes;
    unsigned files;
    uint64_t seed;
    uint32_t vocab;
    double zipf;
    unsigned min_words, max_words;
    unsigned threads;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ms_gencorpus --out DIR [--bytes N[K|M|G]] [--files K] [--seed S]\n"
               "                    [--vocab V] [--zipf S] [--min-words A] [--max-words B]\n"
               "                    [--threads T]\n"
               "defaults: --bytes 1G --files 8 --seed 42 --vocab 1000000 --zipf 1.0\n"
               "          --min-words 10 --max-words 20 --threads 2\n");
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    uint64_t mul = 1;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ULL << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ULL << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ULL << 30;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    *out = (uint64_t)(v * (double)mul);
    return 0;
}

static int parse_uint(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* ---------- vocabulary ---------- */

/* Word length model: the word of frequency rank r (1-based) has length
 *   round(LEN_A + LEN_B * log2(r) + N(0, LEN_SD)), clamped to [1, MAX_LEN],
 * i.e. frequent words are short. With the defaults (1M words, s = 1.0) this gives
 * a mean of ~4.8 letters per token in running text and ~8.5 letters per
 * distinct word, close to English corpora. If all words of a length are
 * taken (short lengths), the word is made longer. */
#define LEN_A   0.85
#define LEN_B   0.414
#define LEN_SD  1.2
#define MAX_LEN 24

/* English letter frequencies a..z (percent). */
static const double LETTER_W[26] = {8.2,  1.5,  2.8, 4.3,  12.7, 2.2,  2.0, 6.1, 7.0,
                                    0.15, 0.77, 4.0, 2.4,  6.7,  7.5,  1.9, 0.1, 6.0,
                                    6.3,  9.1,  2.8, 0.98, 2.4,  0.15, 2.0, 0.07};

typedef struct {
    char *arena;   /* all words, no separators */
    uint64_t *off; /* offset of word i (by rank) in arena */
    uint8_t *len;  /* length of word i (by rank) */
    uint32_t n;
} vocab_t;

static uint64_t word_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ms_gencorpus: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "ms_gencorpus: out of memory\n");
        exit(1);
    }
    return p;
}

static void build_vocab(vocab_t *v, uint32_t n, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed ^ 0x766f636162ULL /* "vocab" */);

    double ccdf[26], acc = 0;
    for (int i = 0; i < 26; i++)
        acc += LETTER_W[i], ccdf[i] = acc;
    for (int i = 0; i < 26; i++)
        ccdf[i] /= acc;

    /* upper bound on arena: n words of at most MAX_LEN + a few (length bumps) */
    size_t cap = (size_t)n * (MAX_LEN + 8);
    char *arena = xmalloc(cap);
    uint64_t *off = xmalloc(sizeof(uint64_t) * n);
    uint8_t *len = xmalloc(n);

    /* dedupe set: open addressing on word index+1 */
    size_t scap = 1;
    while (scap < (size_t)n * 2)
        scap <<= 1;
    uint32_t *set = xcalloc(scap, sizeof(uint32_t));

    size_t used = 0;
    for (uint32_t i = 0; i < n; i++) { /* i = rank - 1 */
        /* Box-Muller normal deviate */
        double u1 = rng_unit(&r), u2 = rng_unit(&r);
        double g = sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
        double m = LEN_A + LEN_B * log2((double)i + 1.0) + LEN_SD * g;
        int L = (int)lround(m);
        if (L < 1)
            L = 1;
        if (L > MAX_LEN)
            L = MAX_LEN;
        int tries = 0;
        for (;;) {
            char *w = arena + used;
            for (int k = 0; k < L; k++) {
                double c = rng_unit(&r);
                int j = 0;
                while (j < 25 && ccdf[j] <= c)
                    j++;
                w[k] = (char)('a' + j);
            }
            uint64_t h = word_hash(w, (size_t)L);
            size_t pos = h & (scap - 1);
            int dup = 0;
            while (set[pos]) {
                uint32_t o = set[pos] - 1;
                if (len[o] == L && memcmp(arena + off[o], w, (size_t)L) == 0) {
                    dup = 1;
                    break;
                }
                pos = (pos + 1) & (scap - 1);
            }
            if (!dup) {
                set[pos] = i + 1;
                off[i] = used;
                len[i] = (uint8_t)L;
                used += (size_t)L;
                break;
            }
            if (++tries >= 8) {
                tries = 0;
                if (L < MAX_LEN + 7)
                    L++; /* this length looks saturated: lengthen */
            }
        }
    }
    free(set);
    v->arena = arena;
    v->off = off;
    v->len = len;
    v->n = n;
}

/* ---------- Zipf alias table (Vose) ---------- */

typedef struct {
    uint32_t prob;
    uint32_t alias;
} alias_t; /* prob: threshold in 2^32 units */

static alias_t *build_alias(uint32_t n, double s)
{
    double *p = xmalloc(sizeof(double) * n);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += (p[i] = pow((double)(i + 1), -s));
    for (uint32_t i = 0; i < n; i++)
        p[i] = p[i] * n / sum;
    uint32_t *small = xmalloc(sizeof(uint32_t) * n), *large = xmalloc(sizeof(uint32_t) * n);
    size_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    alias_t *t = xmalloc(sizeof(alias_t) * n);
    while (ns && nl) {
        uint32_t l = small[--ns], g = large[nl - 1];
        double th = p[l] * 4294967296.0;
        t[l].prob = th >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)th;
        t[l].alias = g;
        p[g] = (p[g] + p[l]) - 1.0;
        if (p[g] < 1.0) {
            nl--;
            small[ns++] = g;
        }
    }
    while (nl) {
        uint32_t g = large[--nl];
        t[g].prob = 0xFFFFFFFFu;
        t[g].alias = g;
    }
    while (ns) { /* numerical leftovers */
        uint32_t l = small[--ns];
        t[l].prob = 0xFFFFFFFFu;
        t[l].alias = l;
    }
    free(p);
    free(small);
    free(large);
    return t;
}

static inline uint32_t zipf_draw(rng_t *r, const alias_t *t, uint32_t n)
{
    uint64_t x = rng_next(r);
    uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
    uint32_t u = (uint32_t)x;
    return u < t[i].prob ? i : t[i].alias;
}

/* ---------- file generation ---------- */

typedef struct {
    const opts_t *o;
    const vocab_t *v;
    const alias_t *t;
    unsigned next_file; /* shared work counter (under mu) */
    pthread_mutex_t mu;
    uint64_t words, lines, bytes;
    int failed;
} job_t;

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int gen_file(job_t *j, unsigned fi, uint64_t *words, uint64_t *lines, uint64_t *bytes)
{
    const opts_t *o = j->o;
    uint64_t per = o->bytes / o->files;
    uint64_t target = fi + 1 == o->files ? o->bytes - per * (o->files - 1) : per;
    char path[4096];
    snprintf(path, sizeof path, "%s/part-%05u.txt", o->out, fi);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ms_gencorpus: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    rng_t r;
    uint64_t sx = o->seed * 0x9E3779B97F4A7C15ULL + fi + 1;
    rng_seed(&r, splitmix64(&sx));

    enum { BUF = 4 << 20 };
    char *buf = xmalloc(BUF + 4096);
    size_t bl = 0;
    uint64_t written = 0, w = 0, l = 0;
    const vocab_t *v = j->v;
    const char *arena = v->arena;
    unsigned span = o->max_words - o->min_words + 1;
    while (written + bl < target) {
        unsigned nw = o->min_words + rng_below(&r, span);
        for (unsigned k = 0; k < nw; k++) {
            uint32_t id = zipf_draw(&r, j->t, v->n);
            size_t L = v->len[id];
            memcpy(buf + bl, arena + v->off[id], L);
            bl += L;
            buf[bl++] = ' ';
        }
        /* a line is at most 100 words * (MAX_LEN + 7 + 1) < 4096 bytes, and a line
         * starts with bl < BUF, so the BUF + 4096 allocation always has room */
        buf[bl - 1] = '\n'; /* replace the trailing space */
        w += nw;
        l++;
        if (bl >= BUF) {
            if (write_all(fd, buf, bl))
                goto fail;
            written += bl;
            bl = 0;
        }
    }
    if (bl && write_all(fd, buf, bl))
        goto fail;
    written += bl;
    free(buf);
    if (close(fd)) {
        fprintf(stderr, "ms_gencorpus: close %s: %s\n", path, strerror(errno));
        return -1;
    }
    *words = w;
    *lines = l;
    *bytes = written;
    return 0;
fail:
    fprintf(stderr, "ms_gencorpus: write %s: %s\n", path, strerror(errno));
    free(buf);
    close(fd);
    return -1;
}

static void *worker(void *arg)
{
    job_t *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        unsigned fi = j->next_file++;
        int stop = j->failed;
        pthread_mutex_unlock(&j->mu);
        if (stop || fi >= j->o->files)
            break;
        uint64_t w = 0, l = 0, b = 0;
        int rc = gen_file(j, fi, &w, &l, &b);
        pthread_mutex_lock(&j->mu);
        if (rc)
            j->failed = 1;
        j->words += w;
        j->lines += l;
        j->bytes += b;
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    opts_t o = {NULL, 1ULL << 30, 8, 42, 1000000, 1.0, 10, 20, 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
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
        uint64_t u;
        if (strcmp(name, "--out") == 0)
            o.out = val;
        else if (strcmp(name, "--bytes") == 0) {
            if (parse_size(val, &o.bytes))
                goto bad;
        } else if (strcmp(name, "--files") == 0) {
            if (parse_uint(val, &u) || u == 0 || u > 100000)
                goto bad;
            o.files = (unsigned)u;
        } else if (strcmp(name, "--seed") == 0) {
            if (parse_uint(val, &o.seed))
                goto bad;
        } else if (strcmp(name, "--vocab") == 0) {
            if (parse_uint(val, &u) || u == 0 || u > 100000000)
                goto bad;
            o.vocab = (uint32_t)u;
        } else if (strcmp(name, "--zipf") == 0) {
            char *end;
            o.zipf = strtod(val, &end);
            if (end == val || *end || !(o.zipf >= 0) || o.zipf > 10)
                goto bad;
        } else if (strcmp(name, "--min-words") == 0) {
            if (parse_uint(val, &u) || u == 0 || u > 100)
                goto bad;
            o.min_words = (unsigned)u;
        } else if (strcmp(name, "--max-words") == 0) {
            if (parse_uint(val, &u) || u == 0 || u > 100)
                goto bad;
            o.max_words = (unsigned)u;
        } else if (strcmp(name, "--threads") == 0) {
            if (parse_uint(val, &u) || u == 0 || u > 256)
                goto bad;
            o.threads = (unsigned)u;
        } else
            goto bad;
        continue;
    bad:
        fprintf(stderr, "ms_gencorpus: bad argument: %s\n", a);
        usage(stderr);
        return 2;
    }
    if (!o.out || o.min_words > o.max_words) {
        usage(stderr);
        return 2;
    }
    if (mkdir(o.out, 0755) && errno != EEXIST) {
        fprintf(stderr, "ms_gencorpus: mkdir %s: %s\n", o.out, strerror(errno));
        return 1;
    }

    double t0 = now_sec();
    vocab_t v;
    build_vocab(&v, o.vocab, o.seed);
    alias_t *t = build_alias(o.vocab, o.zipf);
    double t1 = now_sec();

    job_t j = {&o, &v, t, 0, PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    unsigned nt = o.threads < o.files ? o.threads : o.files;
    pthread_t th[256];
    for (unsigned i = 0; i < nt; i++) {
        if (pthread_create(&th[i], NULL, worker, &j)) {
            fprintf(stderr, "ms_gencorpus: pthread_create failed\n");
            return 1;
        }
    }
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    double t2 = now_sec();
    if (j.failed)
        return 1;

    unsigned long long vocab_bytes = 0; /* the vocabulary's letters */
    for (uint32_t i = 0; i < v.n; i++)
        vocab_bytes += v.len[i];
    printf("files=%u bytes=%llu words=%llu lines=%llu vocab=%u vocab_bytes=%llu zipf=%g "
           "seed=%llu vocab_sec=%.3f gen_sec=%.3f\n",
           o.files, (unsigned long long)j.bytes, (unsigned long long)j.words,
           (unsigned long long)j.lines, o.vocab, vocab_bytes, o.zipf, (unsigned long long)o.seed,
           t1 - t0, t2 - t1);
    free(t);
    free(v.arena);
    free(v.off);
    free(v.len);
    return 0;
}
