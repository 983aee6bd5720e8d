/* Fuzz the planner's walk over a .gz (ms_dirsrc_gz_scan, the framing the
 * directory source puts around zlib): the first input byte picks the read
 * piece size and the text budget, the rest is the file.  Whatever the bytes,
 * the walk ends; an end it reports is, by an independent inflate of the
 * whole buffer, the end of a complete member whose text (from the start)
 * ends with a newline, with exactly the text length reported, at most the
 * budget unless it is the first such end; with no budget it is the last
 * such end before the data ends or breaks, and "bad" is reported exactly
 * when the data breaks (not merely stops) after it; "binary" exactly when
 * the first 8 KiB of text hold a NUL. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "source/ms_dirsrc.h"

#define MAXB 64

typedef struct ref {
    uint64_t end[MAXB], text[MAXB]; /* usable member ends and their text lengths */
    size_t n;
    int broken;     /* zlib reported damage (not just the end of the data) */
    int nul;        /* a NUL in the first 8 KiB of the text produced */
    uint64_t total; /* text bytes produced before the end or the damage */
} ref;

static void reference(const uint8_t *d, size_t n, ref *r)
{
    memset(r, 0, sizeof(*r));
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        abort();
    uint8_t out[1 << 14];
    z.next_in = (Bytef *)(uintptr_t)d;
    z.avail_in = (uInt)n;
    int open = 0;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof(out);
        int rc = inflate(&z, Z_NO_FLUSH);
        size_t got = sizeof(out) - z.avail_out;
        if (got) {
            if (r->total < 8192 && memchr(out, 0, 8192 - r->total < got ? 8192 - r->total : got))
                r->nul = 1;
            r->total += got;
            open = out[got - 1] != '\n';
        }
        if (rc == Z_STREAM_END) {
            if (!open && r->n < MAXB) {
                r->end[r->n] = n - z.avail_in;
                r->text[r->n] = r->total;
                r->n++;
            }
            if (z.avail_in == 0)
                break;
            const Bytef *next = z.next_in;
            uInt left = z.avail_in;
            inflateReset(&z);
            z.next_in = (Bytef *)next;
            z.avail_in = left;
            continue;
        }
        if (rc == Z_OK)
            continue;
        if (rc == Z_BUF_ERROR && z.avail_in == 0)
            break; /* the data stops inside a member */
        r->broken = 1;
        break;
    }
    inflateEnd(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 16))
        return 0;
    static const size_t chunks[] = {1, 3, 16, 100, 4096, 1 << 20};
    static const uint64_t budgets[] = {UINT64_MAX, UINT64_MAX, 1, 10, 100, 5000};
    size_t chunk = chunks[data[0] % 6];
    uint64_t budget = budgets[(data[0] / 6) % 6];
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    ms_gz_scan g;
    FUZZ_CHECK(ms_dirsrc_gz_scan(d, n, 0, budget, chunk, &g) == 0);
    ref r;
    reference(d, n, &r);
    FUZZ_CHECK(g.binary == r.nul); /* the first 8 KiB of text, whatever the budget */
    if (g.binary)
        return 0;
    FUZZ_CHECK(g.end <= n);
    if (g.end) {
        size_t i = 0;
        while (i < r.n && r.end[i] != g.end)
            i++;
        FUZZ_CHECK(i < r.n); /* a usable member end */
        FUZZ_CHECK(r.text[i] == g.text);
        FUZZ_CHECK(i == 0 || g.text <= budget);
        if (budget == UINT64_MAX)
            FUZZ_CHECK(i + 1 == r.n);    /* the last one */
        FUZZ_CHECK(!g.cut || g.end < n); /* bytes follow that were not looked at */
    } else if (r.n < MAXB) {
        FUZZ_CHECK(r.n == 0);
    }
    if (budget == UINT64_MAX && r.n < MAXB)
        FUZZ_CHECK(g.bad == r.broken);
    if (g.bad)
        FUZZ_CHECK(r.broken && g.why != NULL);
    return 0;
}
