/*
 * Replay driver for the fuzz targets, so they run as ordinary tests without
 * libFuzzer: every file of the corpus directories given as arguments is run,
 * then MS_FUZZ_ITERS (default 5000) deterministic mutations of them (bit
 * flips, byte sets, truncations, splices, insertions of interesting bytes).
 * When a target aborts, the failing input is written to
 * ./fuzz-crash-<target>.bin.  A corpus that is missing or empty is an error: a replay that runs
 * nothing proves nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

typedef struct {
    uint8_t *data;
    size_t len;
} input;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static input load(const char *path)
{
    input in = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return in;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    in.data = malloc(n > 0 ? (size_t)n : 1);
    in.len = n > 0 ? fread(in.data, 1, (size_t)n, f) : 0;
    fclose(f);
    return in;
}

static const char *current_name = "input";
static const uint8_t *current;
static size_t current_len;

static char crash_name[300];

/* SIGABRT (a failed invariant, a sanitizer report): keep the input. */
static void save_current(int sig)
{
    int fd = open(crash_name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (current_len && write(fd, current, current_len) < 0)
            sig = 0;
        close(fd);
    }
    signal(sig ? sig : SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

static void run(const uint8_t *d, size_t n)
{
    current = d;
    current_len = n;
    LLVMFuzzerTestOneInput(d, n);
}

int main(int argc, char **argv)
{
    input *corpus = NULL;
    size_t ncorpus = 0;
    const char *slash = strrchr(argv[0], '/');
    current_name = slash ? slash + 1 : argv[0];
    snprintf(crash_name, sizeof(crash_name), "fuzz-crash-%s.bin", current_name);
    signal(SIGABRT, save_current);
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open corpus %s\n", argv[i]);
            return 2;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            input in = load(path);
            if (!in.data)
                continue;
            corpus = realloc(corpus, (ncorpus + 1) * sizeof(input));
            corpus[ncorpus++] = in;
        }
        closedir(d);
    }
    if (ncorpus == 0) {
        fprintf(stderr, "empty corpus: nothing to replay\n");
        return 2;
    }
    for (size_t i = 0; i < ncorpus; i++)
        run(corpus[i].data, corpus[i].len);

    const char *it = getenv("MS_FUZZ_ITERS");
    long iters = it ? atol(it) : 5000;
    static const uint8_t interesting[] = {0, 0x7f, 0x80, 0xff, '\n', ' ', '\\', '"', 0xc3, 0xed};
    uint8_t *buf = malloc(1 << 16);
    for (long k = 0; k < iters; k++) {
        const input *src = &corpus[next() % ncorpus];
        size_t n = src->len > (1 << 15) ? (1 << 15) : src->len;
        memcpy(buf, src->data, n);
        int muts = 1 + (int)(next() % 4);
        for (int m = 0; m < muts; m++) {
            switch (next() % 6) {
            case 0:
                if (n)
                    buf[next() % n] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1:
                if (n)
                    buf[next() % n] = interesting[next() % sizeof(interesting)];
                break;
            case 2:
                if (n)
                    n = next() % n;
                break;
            case 3: { /* splice from another input */
                const input *o = &corpus[next() % ncorpus];
                if (o->len && n < (1 << 15)) {
                    size_t from = next() % o->len, len = next() % (o->len - from + 1);
                    if (n + len > (1 << 15))
                        len = (1 << 15) - n;
                    memcpy(buf + n, o->data + from, len);
                    n += len;
                }
                break;
            }
            case 4:
                if (n < (1 << 15)) {
                    size_t at = n ? next() % n : 0;
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = interesting[next() % sizeof(interesting)];
                    n++;
                }
                break;
            default:
                if (n)
                    buf[next() % n] = (uint8_t)next();
                break;
            }
        }
        run(buf, n);
    }
    fprintf(stderr, "%s: %zu corpus inputs and %ld mutations passed\n", current_name, ncorpus,
            iters);
    free(buf);
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].data);
    free(corpus);
    return 0;
}
