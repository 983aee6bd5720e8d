/* Fuzz the producer's trace reader below the file layer: any bytes, any
 * chunking, any line cap.  Invariants: the lines (and the skipped over-long
 * ones) are the same whatever the chunk boundaries; no line holds '\n' or
 * exceeds the cap; a parsed row's key lies inside its line and holds no
 * comma; a parsed time prints back to its own digits (leading zeros aside). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "ms_trace.h"
#include "mstream/mstream.h"

typedef struct mem {
    const uint8_t *p;
    size_t n, off, chunk;
} mem;

static long mem_read(void *ud, void *buf, size_t n)
{
    mem *m = ud;
    size_t left = m->n - m->off;
    if (n > m->chunk)
        n = m->chunk;
    if (n > left)
        n = left;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long)n;
}

typedef struct acc {
    uint64_t lines, skipped, rows, bad[MS_TRACE_NBAD], hash;
} acc;

static void check_row(const char *line, size_t len, acc *a)
{
    ms_trace_row row;
    int bad = ms_trace_row_parse(line, len, &row);
    FUZZ_CHECK(bad >= 0 && bad < MS_TRACE_NBAD);
    a->bad[bad]++;
    if (bad != MS_TRACE_OK)
        return;
    a->rows++;
    FUZZ_CHECK(row.t >= 0);
    FUZZ_CHECK(row.line == line && row.len == len);
    FUZZ_CHECK(row.key > line && row.key + row.keylen <= line + len && row.keylen > 0);
    FUZZ_CHECK(memchr(row.key, ',', row.keylen) == NULL);
    char digits[32];
    int nd = snprintf(digits, sizeof(digits), "%" PRId64, row.t);
    const char *comma = memchr(line, ',', len);
    FUZZ_CHECK(comma != NULL);
    const char *tf = line;
    while (tf < comma - 1 && *tf == '0')
        tf++;
    FUZZ_CHECK((size_t)(comma - tf) == (size_t)nd && memcmp(tf, digits, (size_t)nd) == 0);
}

static void read_all(const uint8_t *d, size_t n, size_t chunk, size_t cap, acc *a)
{
    mem m = {d, n, 0, chunk};
    ms_trace_lines l;
    ms_trace_lines_init(&l, mem_read, &m, cap);
    for (int guard = 0; guard < 1 << 20; guard++) {
        const char *line;
        size_t len;
        int rc = ms_trace_lines_next(&l, &line, &len);
        if (rc == 0)
            break;
        FUZZ_CHECK(rc == 1 || rc == MS_ECORRUPT);
        if (rc != 1) {
            a->skipped++;
            continue;
        }
        FUZZ_CHECK(len <= cap);
        FUZZ_CHECK(memchr(line, '\n', len) == NULL);
        a->lines++;
        for (size_t i = 0; i < len; i++)
            a->hash = a->hash * 131 + (uint8_t)line[i];
        a->hash = a->hash * 131 + 0x100;
        check_row(line, len, a);
    }
    ms_trace_lines_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = 1 + data[0] % 64;
    size_t chunk = 1 + data[1] % 23;
    data += 2;
    size -= 2;
    acc whole, parts;
    memset(&whole, 0, sizeof(whole));
    memset(&parts, 0, sizeof(parts));
    read_all(data, size, size + 1, cap, &whole);
    read_all(data, size, chunk, cap, &parts);
    FUZZ_CHECK(whole.lines == parts.lines && whole.skipped == parts.skipped);
    FUZZ_CHECK(whole.hash == parts.hash && whole.rows == parts.rows);
    FUZZ_CHECK(memcmp(whole.bad, parts.bad, sizeof(whole.bad)) == 0);
    return 0;
}
