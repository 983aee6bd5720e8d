/*
 * ms_tracegen: deterministic synthetic Google cluster-trace files
 * (clusterdata-2011-2 layout, docs/design.md §4), so the producer, the engine's
 * queries and the benchmarks run without the 41 GB public trace.
 *
 *   OUT/task_events/part-00000-of-0000P.csv.gz ... (13 columns)
 *   OUT/job_events/part-00000-of-0000P.csv.gz  ... (8 columns)
 *
 * Model (per job, then per task):
 *   - Job submit times are spread over --days with a diurnal swell; job IDs
 *     increase with submit time, like the trace's 10-digit IDs.  About 1% of
 *     the jobs (at least one) were already running when the trace starts:
 *     their SUBMIT and first SCHEDULE rows carry time 0 ("before the trace").
 *   - Scheduling class mix 0: 48%, 1: 32%, 2: 16%, 3: 4%; a job's tasks share
 *     its class, user and priority.  Tasks per job: 55% one, else a heavy tail
 *     up to --tasks-per-job-max.
 *   - Task life: SUBMIT -> (UPDATE_PENDING) -> SCHEDULE -> (UPDATE_RUNNING)
 *     -> FINISH 64% | FAIL 15% | KILL 10% | EVICT 9.5% | LOST 1.5%; after a FAIL
 *     or EVICT the task is resubmitted (85%, at most 5 attempts).  Queueing
 *     delays are exponential, run times log-normal (median 5 min).
 *   - Job events: SUBMIT, SCHEDULE (its first task's), and FINISH, or KILL /
 *     FAIL when more than a quarter of its tasks ended that way, at its last
 *     task's end.
 *   - Events after the trace end are dropped, except that a quarter of the
 *     final events that fall there are written with time 2^63-1 ("after the
 *     trace"), so there are a few such rows, as in the public trace.
 *
 * Invariants: output is a pure function of the options (own PRNG, xoshiro256**
 * seeded with splitmix64, one stream per job; no rand(), no clock, gzip
 * headers without timestamps), so the same seed gives byte-identical files.
 * Rows are sorted by (time, job, task, sequence) across all parts of a table,
 * so a task's events keep their order.  Files are written under a temporary
 * name and renamed into place.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "core/ms_opt.h"
#include "mstream/mstream.h"
#include "ms_trace.h"

/* ======================================================================== */
/* options                                                                  */

typedef struct gen_config {
    char *out;
    double days;
    int64_t jobs;
    int64_t tasks_max;
    int64_t parts;
    int64_t seed;
    int plain;
    int force;
    int64_t level;
    int help;
    int version;
} gen_config;

#define OFF(f) offsetof(gen_config, f)

static const ms_opt gen_options[] = {
    {"out", NULL, 'o', MS_OPT_STR, OFF(out), NULL, 0, 0, "DIR",
     "output directory; task_events/ and job_events/ are created in it (required)"},
    {"days", NULL, 0, MS_OPT_DOUBLE, OFF(days), "1", 0.0001, 3650, "D", "trace span in days"},
    {"jobs", NULL, 0, MS_OPT_INT, OFF(jobs), "1000", 1, 50000000, "N", "number of jobs"},
    {"tasks-per-job-max", NULL, 0, MS_OPT_INT, OFF(tasks_max), "64", 1, 100000, "M",
     "largest number of tasks of one job"},
    {"parts", NULL, 0, MS_OPT_INT, OFF(parts), "4", 1, 99999, "P", "part files per table"},
    {"seed", NULL, 0, MS_OPT_INT, OFF(seed), "1", 0, 9e15, "S",
     "PRNG seed (same seed, same bytes)"},
    {"plain", NULL, 0, MS_OPT_FLAG, OFF(plain), "false", 0, 1, NULL,
     "write uncompressed .csv instead of .csv.gz"},
    {"force", NULL, 0, MS_OPT_FLAG, OFF(force), "false", 0, 1, NULL,
     "replace part files already in the output directories"},
    {"level", NULL, 0, MS_OPT_INT, OFF(level), "1", 1, 9, "L", "gzip level"},
    MS_OPT_HELP_VERSION(OFF(help), OFF(version), 'h', 'V'),
};

static const ms_opt_spec gen_spec = {
    .synopsis =
        "usage: ms_tracegen --out DIR [--days D] [--jobs N] [--tasks-per-job-max M] [--parts P]\n"
        "                   [--seed S] [--plain]",
    .about =
        "Writes deterministic synthetic Google cluster-trace files (task_events and job_events,\n"
        "clusterdata-2011-2 columns, time in microseconds, sorted by time) and prints one\n"
        "summary line with the row counts.",
    MS_OPT_TABLE(gen_options),
    .epilog = "exit status: 0 ok, 1 runtime failure (I/O), 2 usage error",
    .usage_width = 30,
};

/* ======================================================================== */
/* PRNG: xoshiro256** seeded by splitmix64                                  */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 bits. */
static double rng_unif(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static uint64_t rng_below(rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

/* Exponential with this mean, in microseconds. */
static int64_t rng_exp_us(rng *r, double mean_s)
{
    return (int64_t)llround(-mean_s * log1p(-rng_unif(r)) * 1e6);
}

/* Standard normal (Box-Muller, one of the pair). */
static double rng_normal(rng *r)
{
    double u1 = rng_unif(r), u2 = rng_unif(r);
    return sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586 * u2);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ b;
    return splitmix64(&x);
}

/* ======================================================================== */
/* the model                                                                */

#define US_PER_S     1000000LL
#define US_PER_DAY   (86400LL * US_PER_S)
#define TRACE_START  (600LL * US_PER_S) /* time counts from 600 s before the trace */
#define MAX_ATTEMPTS 5

enum {
    EV_SUBMIT = 0,
    EV_SCHEDULE,
    EV_EVICT,
    EV_FAIL,
    EV_FINISH,
    EV_KILL,
    EV_LOST,
    EV_UPDATE_PENDING,
    EV_UPDATE_RUNNING
};

typedef struct job {
    uint64_t id;
    int64_t submit; /* trace time, microseconds; < TRACE_START for pre-trace jobs */
    uint32_t ntasks;
    uint16_t user;
    uint8_t cls, prio;
    uint8_t pretrace;
} job;

typedef struct ev {
    int64_t t;
    uint32_t job;
    uint32_t task; /* UINT32_MAX for job events */
    uint16_t seq;
    uint8_t type;
    uint8_t attempt;
} ev;

typedef struct evvec {
    ev *v;
    size_t n, cap;
} evvec;

typedef struct gen {
    const gen_config *cfg;
    int64_t end; /* trace end, microseconds */
    job *jobs;
    evvec task_ev, job_ev;
    uint64_t time0_rows, max_rows;
} gen;

static void push(evvec *e, int64_t t, uint32_t j, uint32_t task, uint16_t seq, int type,
                 int attempt)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4096;
        e->v = ms_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    ev *x = &e->v[e->n++];
    x->t = t;
    x->job = j;
    x->task = task;
    x->seq = seq;
    x->type = (uint8_t)type;
    x->attempt = (uint8_t)attempt;
}

/* Emits an event of time t unless it falls after the trace: then a final
 * event becomes a 2^63-1 row in 2% of the cases, anything else is dropped.
 * Returns 0 if the task/job goes on, -1 once the trace end is passed. */
static int emit(gen *g, evvec *e, rng *r, int64_t t, uint32_t j, uint32_t task, uint16_t *seq,
                int type, int attempt, int final)
{
    if (t >= g->end) {
        if (final && rng_unif(r) < 0.25) {
            push(e, MS_TRACE_TIME_MAX, j, task, (*seq)++, type, attempt);
            g->max_rows++;
        }
        return -1;
    }
    if (t == 0)
        g->time0_rows++;
    push(e, t, j, task, (*seq)++, type, attempt);
    return 0;
}

static int64_t run_time_us(rng *r)
{
    /* Log-normal, median 300 s, capped at 3 days. */
    double s = exp(log(300.0) + 1.5 * rng_normal(r));
    if (s > 3 * 86400.0)
        s = 3 * 86400.0;
    return (int64_t)llround(s * 1e6) + 1;
}

/* Simulates one task; returns its end time (or -1 if it passes the trace
 * end) and its outcome in *outcome. */
static int64_t gen_task(gen *g, rng *r, uint32_t j, uint32_t task, int64_t submit, int pretrace,
                        int64_t *first_sched, int *outcome)
{
    uint16_t seq = 0;
    int64_t t = submit;
    *outcome = EV_FINISH;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (pretrace && attempt == 0) {
            /* Running before the trace started: both rows at time 0, and
             * part of its run time already elapsed. */
            emit(g, &g->task_ev, r, 0, j, task, &seq, EV_SUBMIT, attempt, 0);
            emit(g, &g->task_ev, r, 0, j, task, &seq, EV_SCHEDULE, attempt, 0);
            t = TRACE_START;
            if (*first_sched < 0 || *first_sched > 0)
                *first_sched = 0;
        } else {
            if (emit(g, &g->task_ev, r, t, j, task, &seq, EV_SUBMIT, attempt, 0))
                return -1;
            if (rng_unif(r) < 0.02) {
                t += rng_exp_us(r, 2.0);
                if (emit(g, &g->task_ev, r, t, j, task, &seq, EV_UPDATE_PENDING, attempt, 0))
                    return -1;
            }
            t += rng_unif(r) < 0.1 ? rng_exp_us(r, 600.0) : rng_exp_us(r, 20.0);
            if (emit(g, &g->task_ev, r, t, j, task, &seq, EV_SCHEDULE, attempt, 0))
                return -1;
            if (*first_sched < 0 || t < *first_sched)
                *first_sched = t;
        }
        int64_t run = run_time_us(r);
        if (pretrace && attempt == 0)
            run = (int64_t)(run * rng_unif(r)) + 1;
        if (rng_unif(r) < 0.03) {
            if (emit(g, &g->task_ev, r, t + (int64_t)(run * rng_unif(r)), j, task, &seq,
                     EV_UPDATE_RUNNING, attempt, 0))
                return -1;
        }
        t += run;
        double u = rng_unif(r);
        int type = u < 0.64    ? EV_FINISH
                   : u < 0.79  ? EV_FAIL
                   : u < 0.89  ? EV_KILL
                   : u < 0.985 ? EV_EVICT
                               : EV_LOST;
        int retry = (type == EV_FAIL || type == EV_EVICT) && attempt + 1 < MAX_ATTEMPTS &&
                    rng_unif(r) < 0.85;
        if (emit(g, &g->task_ev, r, t, j, task, &seq, type, attempt, !retry))
            return -1;
        *outcome = type;
        if (!retry)
            return t;
        t += rng_exp_us(r, 5.0);
    }
    return t;
}

static void gen_job(gen *g, uint32_t j)
{
    const job *jb = &g->jobs[j];
    rng r;
    rng_seed(&r, mix((uint64_t)g->cfg->seed, j));
    uint16_t seq = 0;
    int pre = jb->pretrace;
    emit(g, &g->job_ev, &r, pre ? 0 : jb->submit, j, UINT32_MAX, &seq, EV_SUBMIT, 0, 0);
    int64_t first_sched = -1, end = -1;
    uint32_t killed = 0, failed = 0;
    int gone = 0;
    int64_t tsub = jb->submit;
    for (uint32_t k = 0; k < jb->ntasks; k++) {
        int outcome;
        tsub += rng_exp_us(&r, 0.05);
        int64_t e = gen_task(g, &r, j, k, tsub, pre, &first_sched, &outcome);
        if (e < 0)
            gone = 1;
        else if (e > end)
            end = e;
        if (outcome == EV_KILL)
            killed++;
        else if (outcome == EV_FAIL)
            failed++;
    }
    if (first_sched >= 0 &&
        emit(g, &g->job_ev, &r, first_sched, j, UINT32_MAX, &seq, EV_SCHEDULE, 0, 0) == 0) {
        /* The job ends the way a good share (> 1/4) of its tasks ended. */
        int type = killed * 4 > jb->ntasks   ? EV_KILL
                   : failed * 4 > jb->ntasks ? EV_FAIL
                                             : EV_FINISH;
        int64_t t = gone ? g->end : end + rng_exp_us(&r, 1.0);
        emit(g, &g->job_ev, &r, t, j, UINT32_MAX, &seq, type, 0, 1);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void make_jobs(gen *g)
{
    const gen_config *c = g->cfg;
    size_t n = (size_t)c->jobs;
    rng r;
    rng_seed(&r, mix((uint64_t)c->seed, 0xfeedfaceull));
    int64_t span = g->end - TRACE_START;
    size_t npre = n / 100 + (n >= 3 ? 1 : 0);
    int64_t *sub = ms_xmalloc(n * sizeof(*sub));
    for (size_t i = 0; i < n; i++) {
        if (i < npre) {
            sub[i] = TRACE_START - 1 - (int64_t)rng_below(&r, (uint64_t)US_PER_DAY);
            continue;
        }
        /* Diurnal swell by rejection: busier by day than by night. */
        for (int tries = 0;; tries++) {
            int64_t t = TRACE_START + (int64_t)(rng_unif(&r) * (double)span * 0.995);
            double phase = (double)(t - TRACE_START) / (double)US_PER_DAY * 6.283185307179586;
            if (tries > 20 || rng_unif(&r) < 0.7 + 0.3 * sin(phase)) {
                sub[i] = t;
                break;
            }
        }
    }
    qsort(sub, n, sizeof(*sub), cmp_i64);
    g->jobs = ms_xcalloc(n, sizeof(*g->jobs));
    uint64_t id = 6250000000ull + rng_below(&r, 1000000);
    for (size_t i = 0; i < n; i++) {
        job *jb = &g->jobs[i];
        jb->submit = sub[i];
        jb->pretrace = sub[i] < TRACE_START;
        id += 1 + rng_below(&r, 40);
        jb->id = id;
        double u = rng_unif(&r);
        jb->cls = u < 0.48 ? 0 : u < 0.80 ? 1 : u < 0.96 ? 2 : 3;
        double v = rng_unif(&r);
        jb->user = (uint16_t)(500.0 * v * v * v);
        /* Priorities 0..11: mostly free (0-1) and batch (2-8), some production (9-11). */
        double w = rng_unif(&r);
        jb->prio = (uint8_t)(w < 0.45   ? rng_below(&r, 2)
                             : w < 0.90 ? 2 + rng_below(&r, 7)
                                        : 9 + rng_below(&r, 3));
        double z = rng_unif(&r);
        uint32_t nt = 1;
        if (z >= 0.55 && c->tasks_max > 1)
            nt = 1 + (uint32_t)((double)(c->tasks_max - 1) * pow(rng_unif(&r), 4.0));
        if (nt > (uint32_t)c->tasks_max)
            nt = (uint32_t)c->tasks_max;
        jb->ntasks = nt;
    }
    free(sub);
}

static int cmp_ev(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->job != y->job)
        return x->job < y->job ? -1 : 1;
    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* ======================================================================== */
/* output                                                                   */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 43 base64 characters and '=', like the trace's hashed names. */
static void put_hash(ms_buf *b, uint64_t h)
{
    char s[44];
    uint64_t x = h;
    for (int i = 0; i < 43; i++) {
        if (i % 10 == 0)
            x = splitmix64(&h);
        s[i] = B64[x & 63];
        x >>= 6;
    }
    s[43] = '=';
    ms_buf_append(b, s, sizeof(s));
}

static void put_u64(ms_buf *b, uint64_t v)
{
    char s[24];
    int n = 0;
    do {
        s[sizeof(s) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ms_buf_append(b, s + sizeof(s) - n, (size_t)n);
}

static const char *const CPU[] = {"0.003125", "0.006250", "0.01562", "0.03125", "0.04688",
                                  "0.0625",   "0.09375",  "0.125",   "0.1875",  "0.25"};
static const char *const MEM[] = {"0.001554", "0.003109", "0.006218", "0.009323", "0.01242",
                                  "0.01553",  "0.02174",  "0.03105",  "0.04657",  "0.06836"};
static const char *const DISK[] = {"3.815e-05", "7.725e-05", "0.0001154", "0.0002308",
                                   "0.0003862", "0.0005827", "0.001160"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void format_task_row(const gen *g, const ev *e, ms_buf *b)
{
    const job *jb = &g->jobs[e->job];
    uint64_t h = mix(jb->id, e->task);
    put_u64(b, (uint64_t)e->t);
    ms_buf_append(b, ",,", 2);
    put_u64(b, jb->id);
    ms_buf_putc(b, ',');
    put_u64(b, e->task);
    ms_buf_putc(b, ',');
    if (e->type != EV_SUBMIT && e->type != EV_UPDATE_PENDING)
        put_u64(b, 1000000 + mix(h, e->attempt) % 4000000000ull); /* machine ID */
    ms_buf_putc(b, ',');
    put_u64(b, e->type);
    ms_buf_putc(b, ',');
    put_hash(b, 0x75736572ull + jb->user);
    ms_buf_putc(b, ',');
    put_u64(b, jb->cls);
    ms_buf_putc(b, ',');
    put_u64(b, jb->prio);
    ms_buf_putc(b, ',');
    ms_buf_puts(b, CPU[(h >> 8) % NELEM(CPU)]);
    ms_buf_putc(b, ',');
    ms_buf_puts(b, MEM[(h >> 16) % NELEM(MEM)]);
    ms_buf_putc(b, ',');
    ms_buf_puts(b, DISK[(h >> 24) % NELEM(DISK)]);
    ms_buf_putc(b, ',');
    ms_buf_putc(b, ((h >> 32) % 100) < 5 ? '1' : '0');
    ms_buf_putc(b, '\n');
}

static void format_job_row(const gen *g, const ev *e, ms_buf *b)
{
    const job *jb = &g->jobs[e->job];
    put_u64(b, (uint64_t)e->t);
    ms_buf_append(b, ",,", 2);
    put_u64(b, jb->id);
    ms_buf_putc(b, ',');
    put_u64(b, e->type);
    ms_buf_putc(b, ',');
    put_hash(b, 0x75736572ull + jb->user);
    ms_buf_putc(b, ',');
    put_u64(b, jb->cls);
    ms_buf_putc(b, ',');
    put_hash(b, jb->id);
    ms_buf_putc(b, ',');
    put_hash(b, mix(jb->user, jb->id % 7)); /* logical name: few per user */
    ms_buf_putc(b, '\n');
}

typedef void (*format_fn)(const gen *g, const ev *e, ms_buf *b);

typedef struct out_file {
    gzFile gz;
    FILE *f;
} out_file;

static int out_write(out_file *o, const ms_buf *b)
{
    if (b->len == 0)
        return 0;
    if (o->gz)
        return gzwrite(o->gz, b->data, (unsigned)b->len) == (int)b->len ? 0 : -1;
    return fwrite(b->data, 1, b->len, o->f) == b->len ? 0 : -1;
}

static int write_table(gen *g, const char *dir, const evvec *e, format_fn fmt, char *errstr,
                       size_t errsz)
{
    const gen_config *c = g->cfg;
    ms_buf b = MS_BUF_INIT;
    int rc = 0;
    for (int64_t p = 0; p < c->parts && rc == 0; p++) {
        char name[64], path[4096], tmp[4096];
        snprintf(name, sizeof(name), "part-%05" PRId64 "-of-%05" PRId64 ".csv%s", p, c->parts,
                 c->plain ? "" : ".gz");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
        out_file o = {NULL, NULL};
        if (c->plain) {
            o.f = fopen(tmp, "wb");
        } else {
            char mode[8];
            snprintf(mode, sizeof(mode), "wb%d", (int)c->level);
            o.gz = gzopen(tmp, mode);
        }
        if (!o.f && !o.gz) {
            ms_opt_errf(0, errstr, errsz, "cannot create %s: %s", tmp, strerror(errno));
            rc = MS_EIO;
            break;
        }
        size_t from = (size_t)((uint64_t)e->n * (uint64_t)p / (uint64_t)c->parts);
        size_t to = (size_t)((uint64_t)e->n * (uint64_t)(p + 1) / (uint64_t)c->parts);
        for (size_t i = from; i < to && rc == 0; i++) {
            fmt(g, &e->v[i], &b);
            if (b.len >= (1u << 20)) {
                if (out_write(&o, &b) != 0)
                    rc = MS_EIO;
                ms_buf_reset(&b);
            }
        }
        if (rc == 0 && out_write(&o, &b) != 0)
            rc = MS_EIO;
        ms_buf_reset(&b);
        int cerr = o.gz ? (gzclose(o.gz) != Z_OK) : (fclose(o.f) != 0);
        if (rc == 0 && cerr)
            rc = MS_EIO;
        if (rc != 0) {
            ms_opt_errf(0, errstr, errsz, "writing %s failed: %s", tmp, strerror(errno));
            unlink(tmp);
            break;
        }
        if (rename(tmp, path) != 0) {
            ms_opt_errf(0, errstr, errsz, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            unlink(tmp);
            rc = MS_EIO;
        }
    }
    ms_buf_free(&b);
    return rc;
}

/* Creates dir (and parents); refuses a dir with part files unless --force. */
static int prepare_dir(const char *dir, int force, char *errstr, size_t errsz)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                ms_opt_errf(0, errstr, errsz, "cannot create directory %s: %s", tmp,
                            strerror(errno));
                return MS_EIO;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        ms_opt_errf(0, errstr, errsz, "cannot create directory %s: %s", tmp, strerror(errno));
        return MS_EIO;
    }
    char **names;
    size_t n;
    char lerr[512];
    int rc = ms_trace_list_parts(dir, &names, &n, lerr, sizeof(lerr));
    if (rc == MS_EIO) {
        ms_opt_errf(0, errstr, errsz, "%s", lerr);
        return rc;
    }
    if (rc == 0 && n > 0 && !force) {
        ms_opt_errf(0, errstr, errsz,
                    "%s already holds part files (%s ...): use --force to replace them", dir,
                    names[0]);
        ms_trace_free_names(names, n);
        return MS_EINVAL;
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            snprintf(tmp, sizeof(tmp), "%s/%s", dir, names[i]);
            unlink(tmp);
        }
        ms_trace_free_names(names, n);
    }
    return 0;
}

int main(int argc, char **argv)
{
    gen_config cfg;
    char err[1024];
    memset(&cfg, 0, sizeof(cfg));
    if (ms_opt_parse(&gen_spec, &cfg, NULL, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "ms_tracegen: %s\n", err);
        ms_opt_free(&gen_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    if (cfg.help || cfg.version) {
        if (cfg.help)
            ms_opt_usage(&gen_spec, stdout);
        else
            printf("ms_tracegen (mstream) %s\n", MS_VERSION);
        ms_opt_free(&gen_spec, &cfg);
        return MS_EXIT_OK;
    }
    if (!cfg.out) {
        fprintf(stderr, "ms_tracegen: --out DIR is required (see --help)\n");
        ms_opt_free(&gen_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    double t0 = ms_now_mono();
    int status = MS_EXIT_RUNTIME;
    char tdir[4096], jdir[4096];
    snprintf(tdir, sizeof(tdir), "%s/task_events", cfg.out);
    snprintf(jdir, sizeof(jdir), "%s/job_events", cfg.out);
    int rc = prepare_dir(tdir, cfg.force, err, sizeof(err));
    if (rc == 0)
        rc = prepare_dir(jdir, cfg.force, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "ms_tracegen: %s\n", err);
        ms_opt_free(&gen_spec, &cfg);
        return rc == MS_EINVAL ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    gen g;
    memset(&g, 0, sizeof(g));
    g.cfg = &cfg;
    g.end = TRACE_START + (int64_t)llround(cfg.days * (double)US_PER_DAY);
    make_jobs(&g);
    for (uint32_t j = 0; j < (uint32_t)cfg.jobs; j++)
        gen_job(&g, j);
    qsort(g.task_ev.v, g.task_ev.n, sizeof(ev), cmp_ev);
    qsort(g.job_ev.v, g.job_ev.n, sizeof(ev), cmp_ev);
    rc = write_table(&g, tdir, &g.task_ev, format_task_row, err, sizeof(err));
    if (rc == 0)
        rc = write_table(&g, jdir, &g.job_ev, format_job_row, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "ms_tracegen: %s\n", err);
    } else {
        printf("tracegen task_events=%zu job_events=%zu jobs=%" PRId64 " time0_rows=%" PRIu64
               " max_time_rows=%" PRIu64 " parts=%" PRId64 " days=%g seed=%" PRId64
               " format=%s out=%s elapsed_s=%.2f\n",
               g.task_ev.n, g.job_ev.n, cfg.jobs, g.time0_rows, g.max_rows, cfg.parts, cfg.days,
               cfg.seed, cfg.plain ? "csv" : "csv.gz", cfg.out, ms_now_mono() - t0);
        status = MS_EXIT_OK;
    }
    free(g.task_ev.v);
    free(g.job_ev.v);
    free(g.jobs);
    ms_opt_free(&gen_spec, &cfg);
    return status;
}
