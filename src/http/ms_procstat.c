#include "http/ms_procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void ms_procstat_read(ms_procstat *p)
{
    memset(p, 0, sizeof(*p));
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "re");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        const char *rp = strrchr(buf, ')'); /* comm may hold spaces */
        unsigned long utime = 0, stime = 0, vsize = 0;
        unsigned long long starttime = 0;
        long rss = 0;
        if (rp && sscanf(rp + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                         "%*d %*d %llu %lu %ld",
                         &utime, &stime, &starttime, &vsize, &rss) == 5) {
            p->cpu_seconds = (double)(utime + stime) / (double)tck;
            p->vsize_bytes = vsize;
            p->rss_bytes = (uint64_t)rss * (uint64_t)page;
            FILE *u = fopen("/proc/stat", "re");
            if (u) {
                char line[256];
                while (fgets(line, sizeof(line), u)) {
                    unsigned long long btime;
                    if (sscanf(line, "btime %llu", &btime) == 1) {
                        p->start_time = (double)btime + (double)starttime / (double)tck;
                        break;
                    }
                }
                fclose(u);
            }
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                p->open_fds++;
        closedir(d);
        if (p->open_fds)
            p->open_fds--; /* the descriptor of the listing itself */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur;
}

long ms_procstat_peak_rss_kb(void)
{
    /* VmHWM: the high-water mark of this process image.  ru_maxrss also
     * counts the forking parent's pages from before exec (a Python test
     * harness of 35 MiB made every mstream "peak" at least 35 MiB). */
    FILE *f = fopen("/proc/self/status", "re");
    if (f) {
        char line[256];
        long kb = -1;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "VmHWM: %ld", &kb) == 1)
                break;
        fclose(f);
        if (kb >= 0)
            return kb;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ru.ru_maxrss;
}
