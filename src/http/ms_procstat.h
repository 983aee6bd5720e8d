/*
 * The standard process_* metrics, read from /proc/self at scrape time.
 */
#ifndef MS_PROCSTAT_H
#define MS_PROCSTAT_H

#include <stdint.h>

typedef struct ms_procstat {
    double cpu_seconds;
    uint64_t rss_bytes, vsize_bytes;
    uint64_t open_fds, max_fds;
    double start_time; /* seconds since the epoch */
} ms_procstat;

void ms_procstat_read(ms_procstat *p);
/* Peak resident set size in KiB of this process image (VmHWM; getrusage
 * where /proc is missing). */
long ms_procstat_peak_rss_kb(void);

#endif
