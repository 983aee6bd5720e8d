/*
 * producer: replays Google cluster-trace tables into Kafka (docs/design.md §5).
 *
 *   task_events/part-*.csv[.gz] ──reader──┐
 *                                         ├─ merge by time ─ pace ─ rd_kafka_produce
 *   job_events/part-*.csv[.gz]  ──reader──┘   (ties: job     (absolute   key = job ID
 *                                              row first)     deadlines)  topic per table
 *
 * Invariants
 *  - Events leave in trace-time order across both tables; time-0 rows first,
 *    2^63-1 rows last (they sort there); a row whose time does not parse is
 *    counted by reason and skipped, never sent.
 *  - The key is the job ID (column 3), so librdkafka's murmur2 partitioner
 *    (Java-compatible) puts all of a job's events in one partition, and
 *    idempotence keeps them in order there across retries.
 *  - Every message handed to librdkafka ends in exactly one delivery report
 *    (delivered or failed); after the bounded final flush whatever is still
 *    queued is purged, which reports it as failed.  So at exit
 *    sent == delivered + failed, and the exit status is 0 only if
 *    failed == 0 and every input file was read to its end.
 *  - SIGINT/SIGTERM: stop reading, flush what was sent, print the summary;
 *    a second signal cuts the flush short (the rest counts as failed).
 *  - Behind schedule (the broker or the machine cannot keep up): the
 *    progress lines say by how much (behind_ms, behind_max_ms), and a WARN
 *    goes out once the lag passes --behind-warn-sec, repeated at most every
 *    WARN_EVERY_SEC while it lasts, then "back on schedule" (ms_pace.h).
 *  - --loop: when both tables are read, they are read again from the start,
 *    every row of pass k with time t (0 < t < 2^63-1) sent as t + k * P,
 *    its time column rewritten: P is the span of the first pass's times plus
 *    their mean gap, so event time keeps increasing from pass to pass at the
 *    same pace and windowed queries keep closing windows.  Time-0 and
 *    2^63-1 rows go out unchanged in every pass.
 *
 * Threads: everything here runs on the main thread, including the delivery
 * report and error callbacks (served by rd_kafka_poll/rd_kafka_flush);
 * librdkafka's own threads block all signals, so the handlers run here too.
 * This is the only file of producers/ that includes librdkafka.
 */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "core/ms_opt.h"
#include "mstream/mstream.h"
#include "ms_pace.h"
#include "ms_trace.h"

/* ======================================================================== */
/* options                                                                  */

typedef struct producer_config {
    char *brokers;
    char *task_events;
    char *job_events;
    char *task_topic;
    char *job_topic;
    double speed_factor;
    double rate;
    int no_pacing;
    double progress_sec;
    int64_t limit;
    double behind_warn_sec;
    int loop;
    double flush_timeout_sec;
    ms_opt_list props;
    char *log_level;
    int help;
    int version;
} producer_config;

#define OFF(f) offsetof(producer_config, f)

static const ms_opt producer_options[] = {
    {"brokers", NULL, 'b', MS_OPT_STR, OFF(brokers), NULL, 0, 0, "HOST:PORT",
     "Kafka bootstrap servers, comma-separated (required)"},
    {"task-events", NULL, 0, MS_OPT_STR, OFF(task_events), NULL, 0, 0, "DIR",
     "directory of task_events part-NNNNN-of-MMMMM.csv[.gz] files"},
    {"job-events", NULL, 0, MS_OPT_STR, OFF(job_events), NULL, 0, 0, "DIR",
     "directory of job_events part files (at least one of the two directories)"},
    {"task-topic", NULL, 0, MS_OPT_STR, OFF(task_topic), "task-events", 0, 0, "NAME",
     "topic for task events"},
    {"job-topic", NULL, 0, MS_OPT_STR, OFF(job_topic), "job-events", 0, 0, "NAME",
     "topic for job events"},
    {"speed-factor", NULL, 0, MS_OPT_DOUBLE, OFF(speed_factor), NULL, 1e-6, 1e12, "F",
     "replay F times faster than real time: an event is due (t - t_first)/1e6/F s after the "
     "first; 432000 replays 5 days of trace in 1 s [default: 1, real time]"},
    {"rate", NULL, 0, MS_OPT_DOUBLE, OFF(rate), NULL, 1e-3, 1e9, "EVENTS_PER_SEC",
     "instead of trace time, send EVENTS_PER_SEC events per second"},
    {"no-pacing", NULL, 0, MS_OPT_FLAG, OFF(no_pacing), "false", 0, 1, NULL,
     "send as fast as the broker takes them (loading)"},
    {"progress-sec", NULL, 0, MS_OPT_DOUBLE, OFF(progress_sec), "1", 0, 86400, "SECONDS",
     "progress line on stderr every SECONDS (0 = none)"},
    {"limit", NULL, 0, MS_OPT_INT, OFF(limit), "0", 0, 9e18, "N", "stop after N events (0 = all)"},
    {"loop", NULL, 0, MS_OPT_FLAG, OFF(loop), "false", 0, 1, NULL,
     "replay the trace again and again until SIGINT/SIGTERM or --limit, each pass shifted "
     "forward in trace time by the trace's span (the time column of the messages is rewritten), "
     "so event time keeps increasing"},
    {"behind-warn-sec", NULL, 0, MS_OPT_DOUBLE, OFF(behind_warn_sec), "1", 0, 86400, "SECONDS",
     "log a WARN when the replay runs more than SECONDS behind its schedule (again at most "
     "every 10 s while it lasts; 0 = never)"},
    {"flush-timeout-sec", NULL, 0, MS_OPT_DOUBLE, OFF(flush_timeout_sec), "30", 0, 86400, "SECONDS",
     "at the end, wait at most SECONDS for outstanding deliveries; the rest counts as failed"},
    {"property", NULL, 'X', MS_OPT_LIST, OFF(props), NULL, 0, 0, "KEY=VALUE",
     "librdkafka property (repeatable), e.g. -X linger.ms=20 -X compression.codec=lz4"},
    {"log-level", NULL, 0, MS_OPT_STR, OFF(log_level), "info", 0, 0, "LEVEL",
     "error, warn, info or debug"},
    MS_OPT_HELP_VERSION(OFF(help), OFF(version), 'h', 'V'),
};

static const ms_opt_spec producer_spec = {
    .synopsis =
        "usage: producer --brokers HOST:PORT [--task-events DIR] [--job-events DIR]\n"
        "                [--speed-factor F | --rate EVENTS_PER_SEC | --no-pacing] [options]",
    .about =
        "Replays Google cluster-trace task and job events (part-*-of-*.csv or .csv.gz, sorted\n"
        "by time) into Kafka: both tables merged in time order, keyed by job ID, paced on\n"
        "absolute deadlines.  Progress and a final summary go to stderr.",
    MS_OPT_TABLE(producer_options),
    .epilog = "Librdkafka defaults set here (override with -X): enable.idempotence=true,\n"
              "linger.ms=5, partitioner=murmur2_random (Java-compatible key hashing).\n\n"
              "exit status: 0 every event sent was delivered, 1 runtime failure or anything\n"
              "undelivered/unread, 2 usage error.  SIGINT/SIGTERM: stop, flush, summary.",
    .usage_width = 30,
};

/* ======================================================================== */
/* state                                                                    */

enum { TABLE_TASK = 0, TABLE_JOB = 1, NTABLES = 2 };

#define MAX_ERR_KINDS  8
#define WARN_MAX       5
#define WARN_EVERY_SEC 10

typedef struct producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt[NTABLES];
    uint64_t sent, delivered, failed, sent_by_table[NTABLES];
    uint64_t produce_errors; /* refused by rd_kafka_produce (counted in failed) */
    struct {
        rd_kafka_resp_err_t err;
        uint64_t n;
    } errs[MAX_ERR_KINDS];
    uint64_t warned_dr, kafka_errors;
    int fatal;
} producer;

static volatile sig_atomic_t ms_stop_signal;  /* first SIGINT/SIGTERM */
static volatile sig_atomic_t ms_abort_signal; /* second one */

static void on_signal(int sig)
{
    if (ms_stop_signal)
        ms_abort_signal = sig;
    ms_stop_signal = sig;
}

static void count_error(producer *p, rd_kafka_resp_err_t err)
{
    for (int i = 0; i < MAX_ERR_KINDS; i++) {
        if (p->errs[i].n == 0 || p->errs[i].err == err) {
            p->errs[i].err = err;
            p->errs[i].n++;
            return;
        }
    }
    p->errs[MAX_ERR_KINDS - 1].n++; /* more kinds than slots: lumped into the last */
}

/* Delivery report: runs on the main thread inside rd_kafka_poll/flush. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    producer *p = opaque;
    if (!m->err) {
        p->delivered++;
        return;
    }
    p->failed++;
    count_error(p, m->err);
    if (p->warned_dr++ < WARN_MAX)
        ms_error("delivery failed: topic %s, key %.*s: %s%s", rd_kafka_topic_name(m->rkt),
                 (int)(m->key_len > 64 ? 64 : m->key_len), m->key ? (const char *)m->key : "",
                 rd_kafka_err2str(m->err),
                 p->warned_dr == WARN_MAX ? " (further delivery failures are only counted)" : "");
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    producer *p = opaque;
    p->kafka_errors++;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        ms_error("kafka fatal error (%s): %s; stopping", rd_kafka_err2name(orig), buf);
        p->fatal = 1;
        return;
    }
    if (p->kafka_errors <= 10)
        ms_warn("kafka: %s (%s)%s", reason, rd_kafka_err2name((rd_kafka_resp_err_t)err),
                p->kafka_errors == 10 ? "; further client errors are only counted" : "");
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    ms_log(level <= 3   ? MS_LOG_ERROR
           : level <= 5 ? MS_LOG_WARN
                        : MS_LOG_DEBUG,
           "kafka %s: %s", fac, buf);
}

/* ======================================================================== */
/* setup                                                                    */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr, size_t errsz)
{
    if (rd_kafka_conf_set(conf, k, v, errstr, errsz) != RD_KAFKA_CONF_OK)
        return MS_EUSAGE;
    return 0;
}

static int kafka_open(producer *p, const producer_config *cfg, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[512];
    /* Our defaults first, so -X overrides them. */
    if (conf_set(conf, "bootstrap.servers", cfg->brokers, kerr, sizeof(kerr)) ||
        conf_set(conf, "enable.idempotence", "true", kerr, sizeof(kerr)) ||
        conf_set(conf, "linger.ms", "5", kerr, sizeof(kerr)) ||
        conf_set(conf, "partitioner", "murmur2_random", kerr, sizeof(kerr)) ||
        conf_set(conf, "queue.buffering.max.messages", "500000", kerr, sizeof(kerr)) ||
        conf_set(conf, "client.id", "mstream-producer", kerr, sizeof(kerr))) {
        snprintf(errstr, errsz, "librdkafka configuration: %s", kerr);
        rd_kafka_conf_destroy(conf);
        return MS_EUSAGE;
    }
    for (size_t i = 0; i < cfg->props.n; i++) {
        char *kv = ms_xstrdup(cfg->props.v[i]);
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            snprintf(errstr, errsz, "-X needs KEY=VALUE, not '%s'", cfg->props.v[i]);
            free(kv);
            rd_kafka_conf_destroy(conf);
            return MS_EUSAGE;
        }
        *eq = '\0';
        if (conf_set(conf, kv, eq + 1, kerr, sizeof(kerr))) {
            snprintf(errstr, errsz, "-X %s: %s", cfg->props.v[i], kerr);
            free(kv);
            rd_kafka_conf_destroy(conf);
            return MS_EUSAGE;
        }
        free(kv);
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!p->rk) {
        snprintf(errstr, errsz, "cannot create the Kafka producer: %s", kerr);
        rd_kafka_conf_destroy(conf);
        return MS_EUSAGE;
    }
    const char *topics[NTABLES] = {cfg->task_topic, cfg->job_topic};
    for (int i = 0; i < NTABLES; i++) {
        p->rkt[i] = rd_kafka_topic_new(p->rk, topics[i], NULL);
        if (!p->rkt[i]) {
            snprintf(errstr, errsz, "topic '%s': %s", topics[i],
                     rd_kafka_err2str(rd_kafka_last_error()));
            return MS_EUSAGE;
        }
    }
    return 0;
}

static void kafka_close(producer *p)
{
    for (int i = 0; i < NTABLES; i++)
        if (p->rkt[i])
            rd_kafka_topic_destroy(p->rkt[i]);
    if (p->rk)
        rd_kafka_destroy(p->rk);
}

/* ======================================================================== */
/* the run                                                                  */

typedef struct run {
    const producer_config *cfg;
    producer *p;
    ms_pace pace;
    ms_pace_warn warn;
    int64_t t0_ns, last_progress_ns, paced_last_ns;
    uint64_t last_progress_sent;
    int64_t last_t;
    int have_last_t;
    int64_t t_min, t_max; /* span of paced trace time */
    int have_span;
    /* --loop: pass number (1-based), the times of the first pass (first,
     * last, how many), the shift of this pass, and the rewritten line */
    int pass;
    int64_t first_t, last_t1;
    uint64_t timed_rows;
    int64_t period, shift;
    ms_buf line;
} run;

static void progress(run *r, int64_t now)
{
    if (r->cfg->progress_sec <= 0)
        return;
    int64_t every = (int64_t)(r->cfg->progress_sec * 1e9);
    if (now - r->last_progress_ns < every)
        return;
    double dt = (double)(now - r->last_progress_ns) / 1e9;
    producer *p = r->p;
    double day = r->have_last_t ? (double)r->last_t / 86400e6 : 0;
    int64_t behind = ms_pace_behind(&r->pace, now);
    int64_t worst = behind > r->pace.behind_max_ns ? behind : r->pace.behind_max_ns;
    fprintf(stderr,
            "progress sent=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64
            " rate=%.0f/s behind_ms=%.1f behind_max_ms=%.1f queued=%d trace_day=%.3f pass=%d\n",
            p->sent, p->delivered, p->failed, (double)(p->sent - r->last_progress_sent) / dt,
            (double)behind / 1e6, (double)worst / 1e6, rd_kafka_outq_len(p->rk), day, r->pass);
    r->last_progress_ns = now;
    r->last_progress_sent = p->sent;
}

static const char *pace_desc(const run *r, char *buf, size_t n)
{
    if (r->pace.mode == MS_PACE_RATE)
        snprintf(buf, n, "--rate %g", r->pace.factor);
    else
        snprintf(buf, n, "--speed-factor %g", r->pace.factor);
    return buf;
}

/* Behind-schedule warnings, then the periodic progress line. */
static void watch(run *r, int64_t now)
{
    char pace[64];
    int64_t behind = ms_pace_behind(&r->pace, now);
    switch (ms_pace_warn_check(&r->warn, behind, now)) {
    case MS_PACE_WARN_BEHIND:
        ms_warn("behind schedule by %.1f s (more than --behind-warn-sec %g): the broker or this "
                "machine cannot keep up with %s; sent=%" PRIu64 " delivered=%" PRIu64 " queued=%d",
                (double)behind / 1e9, r->cfg->behind_warn_sec, pace_desc(r, pace, sizeof(pace)),
                r->p->sent, r->p->delivered, rd_kafka_outq_len(r->p->rk));
        break;
    case MS_PACE_WARN_CAUGHT_UP:
        ms_info("back on schedule (it was up to %.1f s behind)", (double)r->warn.worst_ns / 1e9);
        break;
    default:
        break;
    }
    progress(r, now);
}

/* Waits for an absolute deadline, serving delivery reports and progress
 * meanwhile.  Returns 0 when due, -1 when a signal asked to stop. */
static int wait_until(run *r, int64_t deadline)
{
    for (;;) {
        if (ms_stop_signal || r->p->fatal)
            return -1;
        int64_t now = ms_pace_now_ns();
        if (now >= deadline)
            return 0;
        int64_t slice = now + 50000000; /* 50 ms: keep reports and progress flowing */
        ms_pace_sleep_until(deadline < slice ? deadline : slice);
        rd_kafka_poll(r->p->rk, 0);
        watch(r, ms_pace_now_ns());
    }
}

/* Hands one row (value: its line, or the line with its time rewritten) to
 * librdkafka.  Returns 0 sent, 1 refused (counted failed), -1 interrupted
 * before it could be queued. */
static int produce_row(run *r, int table, const ms_trace_row *row, const char *value, size_t len)
{
    producer *p = r->p;
    for (int attempt = 0;; attempt++) {
        if (rd_kafka_produce(p->rkt[table], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             (void *)(uintptr_t)value, len, row->key, row->keylen, NULL) == 0)
            return 0;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Back-pressure: serve delivery reports until there is room. */
            if (ms_stop_signal || p->fatal)
                return -1;
            rd_kafka_poll(p->rk, 10);
            watch(r, ms_pace_now_ns());
            continue;
        }
        p->failed++;
        p->produce_errors++;
        count_error(p, err);
        if (p->warned_dr++ < WARN_MAX)
            ms_error("cannot send to topic %s (key %.*s): %s", rd_kafka_topic_name(p->rkt[table]),
                     (int)row->keylen, row->key, rd_kafka_err2str(err));
        return 1;
    }
}

typedef struct source {
    int open;
    ms_trace_reader rd;
    ms_trace_row row;
    int have, done;
} source;

static void source_fill(source *s, uint64_t *read_errors)
{
    char err[512];
    while (s->open && !s->have && !s->done) {
        int rc = ms_trace_reader_next(&s->rd, &s->row, err, sizeof(err));
        if (rc == 1)
            s->have = 1;
        else if (rc == 0)
            s->done = 1;
        else {
            ms_error("%s", err);
            (*read_errors)++;
        }
    }
}

static int open_sources(const producer_config *cfg, source src[NTABLES], char *errstr,
                        size_t errsz);

/* --loop: the next pass over both tables, shifted by one more period.
 * 0, or -1 when there is nothing to loop over or it cannot go on. */
static int next_pass(run *r, source src[NTABLES])
{
    if (!r->cfg->loop || r->timed_rows == 0)
        return -1;
    if (r->pass == 1) {
        int64_t span = r->last_t1 - r->first_t;
        int64_t gap = r->timed_rows > 1 ? span / (int64_t)(r->timed_rows - 1) : 0;
        r->period = span + (gap > 0 ? gap : 1);
    }
    if (r->shift + r->period > MS_TRACE_TIME_MAX - 1 - r->last_t1) {
        ms_warn("--loop: pass %d would move trace time past 2^63-1; stopping", r->pass + 1);
        return -1;
    }
    char err[1024];
    /* Bad rows stay counted over the passes (and are logged in the first). */
    uint64_t bad[NTABLES][MS_TRACE_NBAD], warned[NTABLES];
    for (int i = 0; i < NTABLES; i++) {
        memcpy(bad[i], src[i].rd.bad, sizeof(bad[i]));
        warned[i] = src[i].rd.warned;
        if (src[i].open)
            ms_trace_reader_close(&src[i].rd);
    }
    memset(src, 0, sizeof(source) * NTABLES);
    if (open_sources(r->cfg, src, err, sizeof(err)) != 0) {
        ms_error("--loop: cannot read the trace again: %s", err);
        return -1;
    }
    for (int i = 0; i < NTABLES; i++) {
        memcpy(src[i].rd.bad, bad[i], sizeof(bad[i]));
        src[i].rd.warned = warned[i];
    }
    r->pass++;
    r->shift += r->period;
    ms_info("--loop: pass %d, trace time shifted by %.3f days", r->pass,
            (double)r->shift / 86400e6);
    return 0;
}

static int produce_all(run *r, source src[NTABLES], uint64_t *read_errors)
{
    producer *p = r->p;
    uint64_t since_poll = 0;
    for (;;) {
        if (ms_stop_signal || p->fatal)
            break;
        if (r->cfg->limit > 0 && p->sent >= (uint64_t)r->cfg->limit)
            break;
        for (int i = 0; i < NTABLES; i++)
            source_fill(&src[i], read_errors);
        int pick = -1;
        /* Ties go to the job row: a job's SUBMIT precedes its tasks'. */
        if (src[TABLE_JOB].have)
            pick = TABLE_JOB;
        if (src[TABLE_TASK].have && (pick < 0 || src[TABLE_TASK].row.t < src[pick].row.t))
            pick = TABLE_TASK;
        if (pick < 0) {
            if (next_pass(r, src) == 0)
                continue;
            break;
        }
        const ms_trace_row *row = &src[pick].row;
        int64_t t = row->t;
        const char *value = row->line;
        size_t vlen = row->len;
        if (t > 0 && t != MS_TRACE_TIME_MAX) {
            if (r->pass == 1) {
                if (!r->timed_rows++)
                    r->first_t = t;
                r->last_t1 = t;
            }
            const char *comma = memchr(row->line, ',', row->len);
            if (r->shift > 0 && comma) { /* a row with a key has its commas */
                t += r->shift;
                ms_buf_reset(&r->line);
                ms_buf_printf(&r->line, "%" PRId64, t);
                ms_buf_append(&r->line, comma, row->len - (size_t)(comma - row->line));
                value = r->line.data;
                vlen = r->line.len;
            }
        }
        int64_t deadline;
        int paced = ms_pace_deadline(&r->pace, t, ms_pace_now_ns(), &deadline);
        if (paced && wait_until(r, deadline) != 0)
            break;
        int rc = produce_row(r, pick, row, value, vlen);
        if (rc < 0)
            break;
        int64_t now = ms_pace_now_ns();
        if (rc == 0) {
            p->sent++;
            p->sent_by_table[pick]++;
        }
        if (paced) {
            ms_pace_sent(&r->pace, deadline, now);
            r->paced_last_ns = now;
            if (r->pace.mode == MS_PACE_SPEED) {
                if (!r->have_span)
                    r->t_min = r->t_max = t, r->have_span = 1;
                if (t > r->t_max)
                    r->t_max = t;
            }
        }
        if (t > 0 && t != MS_TRACE_TIME_MAX) {
            r->last_t = t;
            r->have_last_t = 1;
        }
        src[pick].have = 0;
        if (paced || ++since_poll >= 64) {
            rd_kafka_poll(p->rk, 0);
            since_poll = 0;
        }
        watch(r, now);
    }
    return 0;
}

/* Bounded final flush; whatever remains is purged and so reported failed. */
static void flush_all(run *r)
{
    producer *p = r->p;
    int64_t deadline = ms_pace_now_ns() + (int64_t)(r->cfg->flush_timeout_sec * 1e9);
    while (rd_kafka_outq_len(p->rk) > 0 && !ms_abort_signal && !p->fatal) {
        int64_t now = ms_pace_now_ns();
        if (now >= deadline)
            break;
        int64_t left_ms = (deadline - now) / 1000000;
        rd_kafka_flush(p->rk, (int)(left_ms < 100 ? (left_ms > 0 ? left_ms : 1) : 100));
        progress(r, ms_pace_now_ns());
    }
    if (rd_kafka_outq_len(p->rk) > 0) {
        ms_error("%d messages still undelivered after the final flush (%s); purging them",
                 rd_kafka_outq_len(p->rk),
                 ms_abort_signal ? "interrupted twice" : "--flush-timeout-sec reached");
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 100 && p->delivered + p->failed < p->sent; i++)
            rd_kafka_poll(p->rk, 50);
    }
}

static int open_sources(const producer_config *cfg, source src[NTABLES], char *errstr, size_t errsz)
{
    const char *dirs[NTABLES] = {cfg->task_events, cfg->job_events};
    for (int i = 0; i < NTABLES; i++) {
        if (!dirs[i])
            continue;
        int rc = ms_trace_reader_open(&src[i].rd, dirs[i], errstr, errsz);
        if (rc)
            return rc;
        src[i].open = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    producer_config cfg;
    unsigned char seen[sizeof(producer_options) / sizeof(producer_options[0])];
    char err[1024];
    int status = MS_EXIT_RUNTIME;
    memset(&cfg, 0, sizeof(cfg));
    if (ms_opt_parse(&producer_spec, &cfg, seen, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        ms_opt_free(&producer_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    if (cfg.help) {
        ms_opt_usage(&producer_spec, stdout);
        ms_opt_free(&producer_spec, &cfg);
        return MS_EXIT_OK;
    }
    if (cfg.version) {
        printf("producer (mstream) %s, librdkafka %s\n", MS_VERSION, rd_kafka_version_str());
        ms_opt_free(&producer_spec, &cfg);
        return MS_EXIT_OK;
    }
    const char *usage_err = NULL;
    enum ms_log_level lvl;
    if (!cfg.brokers)
        usage_err = "--brokers is required (e.g. --brokers 127.0.0.1:9092)";
    else if (!cfg.task_events && !cfg.job_events)
        usage_err = "give --task-events DIR, --job-events DIR, or both";
    else if (seen[ms_opt_index(&producer_spec, "speed-factor")] +
                 seen[ms_opt_index(&producer_spec, "rate")] +
                 (seen[ms_opt_index(&producer_spec, "no-pacing")] && cfg.no_pacing) >
             1)
        usage_err = "--speed-factor, --rate and --no-pacing exclude each other: give one";
    else if (ms_log_level_parse(cfg.log_level, &lvl) != 0)
        usage_err = "--log-level must be error, warn, info or debug";
    if (usage_err) {
        fprintf(stderr, "producer: %s (see --help)\n", usage_err);
        ms_opt_free(&producer_spec, &cfg);
        return MS_EXIT_USAGE;
    }
    ms_log_threshold = lvl;

    source src[NTABLES];
    memset(src, 0, sizeof(src));
    producer p;
    memset(&p, 0, sizeof(p));
    run r;
    memset(&r, 0, sizeof(r));
    r.cfg = &cfg;
    r.p = &p;
    r.pass = 1;
    r.warn.threshold_ns = (int64_t)(cfg.behind_warn_sec * 1e9);
    r.warn.every_ns = (int64_t)WARN_EVERY_SEC * 1000000000;
    if (open_sources(&cfg, src, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    if (kafka_open(&p, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    if (cfg.no_pacing)
        ms_pace_init(&r.pace, MS_PACE_NONE, 0);
    else if (cfg.rate > 0)
        ms_pace_init(&r.pace, MS_PACE_RATE, cfg.rate);
    else
        ms_pace_init(&r.pace, MS_PACE_SPEED, cfg.speed_factor > 0 ? cfg.speed_factor : 1.0);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uint64_t read_errors = 0;
    r.t0_ns = r.last_progress_ns = ms_pace_now_ns();
    produce_all(&r, src, &read_errors);
    int64_t send_end = ms_pace_now_ns();
    if (ms_stop_signal)
        ms_info("%s: stopped reading; flushing %d queued messages",
                ms_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", rd_kafka_outq_len(p.rk));
    flush_all(&r);
    int64_t end = ms_pace_now_ns();

    uint64_t skipped = 0;
    for (int i = 0; i < NTABLES; i++)
        if (src[i].open)
            skipped += ms_trace_reader_skipped(&src[i].rd);
    for (int i = 0; i < NTABLES; i++) {
        if (!src[i].open || !ms_trace_reader_skipped(&src[i].rd))
            continue;
        ms_buf why = MS_BUF_INIT;
        for (int b = 1; b < MS_TRACE_NBAD; b++)
            if (src[i].rd.bad[b])
                ms_buf_printf(&why, " %s=%" PRIu64, ms_trace_bad_name(b), src[i].rd.bad[b]);
        ms_warn("%s: %" PRIu64 " rows skipped:%s", src[i].rd.dir,
                ms_trace_reader_skipped(&src[i].rd), why.data);
        ms_buf_free(&why);
    }
    for (int i = 0; i < MAX_ERR_KINDS && p.errs[i].n; i++)
        ms_error("undelivered: %" PRIu64 " messages: %s (%s)", p.errs[i].n,
                 rd_kafka_err2str(p.errs[i].err), rd_kafka_err2name(p.errs[i].err));
    uint64_t unaccounted = p.sent + p.produce_errors - p.delivered - p.failed;
    double elapsed = (double)(end - r.t0_ns) / 1e9;
    double send_s = (double)(send_end - r.t0_ns) / 1e9;
    double paced_s = r.pace.started ? (double)(r.paced_last_ns - r.pace.start_ns) / 1e9 : 0;
    double span_s = r.have_span ? (double)(r.t_max - r.t_min) / 1e6 : 0;
    fprintf(stderr,
            "summary sent=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64 " task_events=%" PRIu64
            " job_events=%" PRIu64 " skipped=%" PRIu64 " read_errors=%" PRIu64
            " elapsed_s=%.3f send_s=%.3f paced_s=%.3f rate=%.0f"
            " behind_max_ms=%.1f trace_span_s=%.0f passes=%d interrupted=%d\n",
            p.sent, p.delivered, p.failed, p.sent_by_table[TABLE_TASK], p.sent_by_table[TABLE_JOB],
            skipped, read_errors, elapsed, send_s, paced_s,
            elapsed > 0 ? (double)p.sent / elapsed : 0, (double)r.pace.behind_max_ns / 1e6, span_s,
            r.pass, ms_stop_signal ? 1 : 0);
    status = (p.failed == 0 && unaccounted == 0 && read_errors == 0 && !p.fatal) ? MS_EXIT_OK
                                                                                 : MS_EXIT_RUNTIME;
out:
    ms_buf_free(&r.line);
    kafka_close(&p);
    for (int i = 0; i < NTABLES; i++)
        if (src[i].open)
            ms_trace_reader_close(&src[i].rd);
    ms_opt_free(&producer_spec, &cfg);
    return status;
}
