/*
 * ms_trace_baseline: the bare loop the windowed trace benchmark compares
 * mstream against.  It reads every task_events/NAME.csv file of a trace
 * directory with read(), splits lines, takes the time (field 0), the event
 * type (field 5) and the scheduling class (field 7), and counts events per
 * (hour of trace time, class, type) in a flat array — what
 * queries/task_events_hourly.sql computes, with no parser of the general
 * kind, no engine, no checkpoint, no watermark.
 *
 * Prints: rows=N counted=N skipped=N groups=N checksum=N elapsed_sec=S
 * (skipped: lines without a usable time/class/type, and the trace's
 * sentinel times 0 "before the trace" and 2^63-1 "after it", which carry
 * no event time: docs/design.md §4.2).
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR_US   INT64_C(3600000000)
#define MAX_HOURS 24 * 400
#define NCLASS    4
#define NTYPE     9

static uint64_t counts[MAX_HOURS][NCLASS][NTYPE];
static uint64_t rows, counted, skipped;

static int parse_i64(const char *p, const char *e, int64_t *out)
{
    if (p == e)
        return -1;
    int64_t v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static void line(const char *p, const char *e)
{
    rows++;
    const char *f[9];
    int nf = 0;
    f[nf++] = p;
    for (const char *q = p; q < e && nf < 9; q++)
        if (*q == ',')
            f[nf++] = q + 1;
    int64_t t, type, cls;
    if (nf < 9 || parse_i64(f[0], f[1] - 1, &t) || parse_i64(f[5], f[6] - 1, &type) ||
        parse_i64(f[7], f[8] - 1, &cls) || t == 0 || t == INT64_MAX || type >= NTYPE ||
        cls >= NCLASS || t / HOUR_US >= MAX_HOURS) {
        skipped++;
        return;
    }
    counts[t / HOUR_US][cls][type]++;
    counted++;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(
            stderr,
            "usage: ms_trace_baseline TRACE_DIR (reads the .csv files of TRACE_DIR/task_events)\n");
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/task_events", argv[1]);
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".csv"))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static char buf[1 << 20];
    char *carry = malloc(1 << 20);
    size_t carry_len = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
            const char *p = buf, *e = buf + r;
            if (carry_len) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                size_t take = nl ? (size_t)(nl - p) : (size_t)(e - p);
                if (carry_len + take < (1 << 20)) {
                    memcpy(carry + carry_len, p, take);
                    carry_len += take;
                }
                if (!nl)
                    continue;
                line(carry, carry + carry_len);
                carry_len = 0;
                p = nl + 1;
            }
            for (;;) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                if (!nl)
                    break;
                line(p, nl);
                p = nl + 1;
            }
            carry_len = (size_t)(e - p);
            memcpy(carry, p, carry_len);
        }
        close(fd);
        if (carry_len)
            line(carry, carry + carry_len);
        carry_len = 0;
        free(names[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t groups = 0, checksum = 0;
    for (int h = 0; h < MAX_HOURS; h++)
        for (int c = 0; c < NCLASS; c++)
            for (int ty = 0; ty < NTYPE; ty++)
                if (counts[h][c][ty]) {
                    groups++;
                    checksum += counts[h][c][ty] * (uint64_t)(h * 131 + c * 17 + ty + 1);
                }
    printf("rows=%llu counted=%llu skipped=%llu groups=%llu checksum=%llu elapsed_sec=%.3f\n",
           (unsigned long long)rows, (unsigned long long)counted, (unsigned long long)skipped,
           (unsigned long long)groups, (unsigned long long)checksum,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    free(carry);
    return 0;
}
