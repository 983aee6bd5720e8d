/*
 * Group mode (docs/design.md §9): a member of the application's consumer
 * group runs both stages of every statement for the partitions it owns.
 *
 *   input topic p ─▶ stage 1 (owner of p): parse, filter, pre-aggregate the
 *        │           micro-batch (the runtime's executors are combiners)
 *        │              │ partial rows, keyed by group key ──┐ + the largest event
 *        │              ▼                                    │   time of p, to every q
 *        │   <app>-<stmt>-repartition q ─▶ stage 2: task (stmt, q) (ms_gtask.h)
 *        │                                    │ merge into the state of q's keys,
 *        │                                    │ watermark = min over upstream p,
 *        │                                    │ close and evict windows
 *        │                                    ├─▶ <app>-<stmt>-changelog q (compacted)
 *        │                                    └─▶ <app>-<stmt>-output (EMIT APPEND rows)
 *
 * One loop.  A batch is what the member polls between two triggers
 * (--trigger-sec; 0: until nothing more is waiting), fed to stage 1 and to
 * the tasks as it arrives.  At the batch's end, one Kafka transaction of
 * the process's one transactional producer holds: stage 1's partial rows
 * and watermarks, stage 2's changelog records (changed groups, tombstones
 * of evicted ones, the task's progress) and closed-window rows, and the
 * consumer offsets of every input and repartition partition read, sent
 * with the group's metadata — a member of an older generation (a zombie)
 * cannot commit (KIP-447).  Only after the commit does the local cache
 * (the checkpoint directory) take the changes, with the changelog offsets
 * they reach, and only then are the results published.
 *
 * Rebalances (ms_kgroup.h): partitions come and go inside ms_kmember_poll.
 * Before partitions are given up the batch in flight is finished and
 * committed (cooperative-sticky moves only the partitions that change
 * owner; the rest keep flowing); when the assignment was lost instead (the
 * session timed out: we are the zombie) the batch is abandoned — its
 * transaction aborted — and the process tears down its Kafka clients and
 * state and joins again.  A fenced producer does the same: it never
 * commits.
 *
 * Tasks restore before they run: a newly assigned repartition partition is
 * paused; its task waits until the group's committed offset of it is
 * stable (a transaction of the previous owner still open holds it back,
 * KIP-447), then brings the local cache up to the changelog's end — at
 * least to the offset the committed offset's metadata names ("cl=N") —
 * and loads it; then the partition resumes.  A process whose checkpoint
 * was deleted restores everything from the changelog.
 *
 * Results: every group key lives in one task, so each process serves the
 * keys of its tasks and `sum by (...)` over the instances is the total.
 *
 * Thread-safety: engine thread only (librdkafka's threads only log).
 */
#include "engine/ms_group.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ms_failpoint.h"
#include "core/ms_log.h"
#include "engine/ms_gstats.h"
#include "engine/ms_gtask.h"
#include "engine/ms_program.h"
#include "engine/ms_progress.h"
#include "engine/ms_rowset.h"
#include "engine/ms_runtime.h"
#include "http/ms_http.h"
#include "http/ms_procstat.h"
#include "http/ms_snapshot.h"
#include "mstream/mstream.h"
#include "sink/ms_sink.h"
#include "source/ms_kgroup.h"
#include "source/ms_sources.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec_group.h"
#include "state/ms_table.h"

#define POLL_MS           100  /* one poll of the member at most */
#define RESTORE_SLICE_SEC 0.5  /* a restore reads this long, then the loop serves the group */
#define IDLE_PUBLISH_SEC  1.0  /* while idle, the counters are republished this often */
#define BARRIER_WAIT_MS   1000 /* one wait for a previous owner's transaction */
#define MAX_REJOINS_QUIET 20   /* rejoins in a row without a commit: give up (exit 1) */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* An input partition this process owns (stage 1). */
typedef struct ipart {
    char *topic;
    int32_t partition;
    int64_t next; /* the offset after the last message of the batch; -1: none read */
    int touched;  /* read in the batch in flight */
    int at_end;   /* the last poll said it is read up to its end */
} ipart;

/* A statement: its internal topics and the tasks this process owns. */
typedef struct gstmt {
    const ms_sql_stmt *stmt;
    char *rep, *cl, *out; /* topic names (out: EMIT APPEND only, else NULL) */
    int32_t nq;           /* partitions of rep and cl */
    ms_gtask **tasks;     /* [nq]: NULL when not ours */
    int64_t *rep_next;    /* [nq]: offset after the last repartition record fed */
    int *rep_touched;     /* [nq]: read in the batch in flight */
    int *rep_at_end;      /* [nq] */
    int *cl_produced;     /* [nq]: changelog records in the transaction in flight */
    ms_part_info *up;     /* upstream partitions listed at the commit */
    size_t nup;
    double last_advance; /* the last commit of its tasks' watermarks */
} gstmt;

typedef struct ms_group {
    const ms_config *cfg;
    ms_sql_program *prog;
    char *prog_name;
    ms_runtime rt; /* stage 1: a parser and a combiner per statement */
    gstmt *gs;
    size_t ngs;
    ms_source_spec spec;
    int32_t *topic_parts; /* partitions of spec.topics[i] */
    ms_ckpt *ck;
    ms_kconf kc;
    ms_kmember *member; /* group <application-id>: the input topics (stage 1) */
    ms_kmember *tasks;  /* group <application-id>-tasks: the repartition topics (stage 2) */
    ms_ktxn *txn;
    ms_kreader *reader;
    char *txn_id;
    char *binding;
    ipart *ip;
    size_t nip, capip;
    const ipart *cur; /* the partition the runtime was last told of */
    /* The batch in flight. */
    uint64_t batch_msgs, batch_bytes;
    double batch_start;      /* monotonic: the batch's poll began */
    double batch_first_wall; /* wall clock: its first input message (0: none yet) */
    int reset;               /* tear down and join again (after the poll returns) */
    int rewind;              /* the batch was aborted: read it again (after the poll returns) */
    int fatal;               /* stop: exit 1 */
    ms_ckpt_batch *cache_wb;
    int64_t batch_id;
    uint64_t rejoins_quiet;
    /* Serving. */
    ms_published pub;
    ms_http *http;
    ms_stats st;
    ms_gstats gst;
    ms_progress_ring ring;
    double last_publish;
    int ready;
    ms_buf key, val, tmp, meta;
    double *txn_lat;
    size_t ntxn_lat, captxn_lat;
    char err[1024];
} ms_group;

/* --------------------------------------------------------------- lookups */

static void publish(ms_group *g);

/* One wait for the brokers (--kafka-timeout-sec). */
static int ms_kg_wait_ms(const ms_group *g)
{
    return g->kc.timeout_ms > 0 ? g->kc.timeout_ms : 5000;
}

static gstmt *rep_stmt(ms_group *g, const char *topic)
{
    for (size_t i = 0; i < g->ngs; i++)
        if (strcmp(g->gs[i].rep, topic) == 0)
            return &g->gs[i];
    return NULL;
}

static ipart *ipart_find(ms_group *g, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < g->nip; i++)
        if (g->ip[i].partition == partition && strcmp(g->ip[i].topic, topic) == 0)
            return &g->ip[i];
    return NULL;
}

static int is_input(const ms_group *g, const char *topic)
{
    for (size_t i = 0; i < g->spec.ntopics; i++)
        if (strcmp(g->spec.topics[i], topic) == 0)
            return 1;
    return 0;
}

/* -------------------------------------------------------- tasks, restore */

static void task_drop(gstmt *s, int32_t q)
{
    if (q < 0 || q >= s->nq || !s->tasks[q])
        return;
    ms_gtask_free(s->tasks[q]);
    free(s->tasks[q]);
    s->tasks[q] = NULL;
    s->rep_next[q] = -1;
    s->rep_touched[q] = 0;
    s->rep_at_end[q] = 0;
    s->cl_produced[q] = 0;
}

static void drop_all(ms_group *g)
{
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            task_drop(&g->gs[i], q);
    for (size_t i = 0; i < g->nip; i++)
        free(g->ip[i].topic);
    g->nip = 0;
    g->cur = NULL;
}

typedef struct restore_ctx {
    ms_gtask *t;
    ms_ckpt_batch *wb;
    uint64_t bad;
} restore_ctx;

static int restore_one(void *ud, const ms_kmsg *m)
{
    restore_ctx *c = ud;
    if (ms_gtask_restore_record(c->t, m->key, m->klen, m->value, m->vlen, c->wb) != 0)
        c->bad++;
    return 0;
}

/* One step of a task's restore (see the top of the file): the barrier,
 * then changelog reading in slices.  0, or MS_E* (fatal for the process). */
static int restore_step(ms_group *g, gstmt *s, ms_gtask *t)
{
    if (t->restore_target < 0) {
        /* The committed offset of the repartition partition, once no
         * transaction of a previous owner holds it. */
        ms_ktp rp = {s->rep, t->q, -1, NULL};
        int rc = ms_kmember_committed(g->tasks, &rp, 1, &g->meta, BARRIER_WAIT_MS, g->err,
                                      sizeof(g->err));
        if (rc == MS_ETIMEDOUT || rc == MS_EIO) {
            ms_debug("query %s partition %" PRId32 ": waiting for the group's committed offset "
                     "(%s)",
                     s->stmt->name, t->q, g->err);
            return 0; /* a transaction of the previous owner is still open: later */
        }
        int64_t meta_target = ms_gcodec_parse_meta(rp.metadata);
        ms_ktp ends[2] = {{s->cl, t->q, -1, NULL}, {s->cl, t->q, -1, NULL}};
        if (ms_kreader_offsets(g->reader, &ends[0], 1, 0, g->err, sizeof(g->err)) != 0 ||
            ms_kreader_offsets(g->reader, &ends[1], 1, 1, g->err, sizeof(g->err)) != 0) {
            ms_debug("query %s partition %" PRId32 ": %s (retrying)", s->stmt->name, t->q, g->err);
            return 0;
        }
        int64_t end = ends[0].offset, start = ends[1].offset, cached = 0;
        rc = ms_gtask_cache_offset(t, g->ck, &cached, g->err, sizeof(g->err));
        if (rc)
            return rc;
        if (cached > end || (cached > 0 && cached < start)) {
            ms_warn("query %s partition %" PRId32 ": the local cache reflects changelog offset "
                    "%" PRId64 ", but %s holds offsets %" PRId64 " to %" PRId64
                    " (a changelog made anew?): the cache is discarded and restored from the "
                    "changelog",
                    s->stmt->name, t->q, cached, s->cl, start, end);
            ms_ckpt_batch *wb = ms_ckpt_batch_new();
            rc = ms_gtask_cache_wipe(t, g->ck, wb, g->err, sizeof(g->err));
            if (rc == 0)
                rc = ms_ckpt_commit(g->ck, wb, g->err, sizeof(g->err));
            ms_ckpt_batch_free(wb);
            if (rc)
                return rc;
            cached = start;
        }
        if (cached < start)
            cached = start;
        t->cl_next = cached;
        t->restore_from = cached;
        t->restore_target = meta_target > end ? meta_target : end;
        t->restore_started = ms_now_mono();
        s->rep_next[t->q] = rp.offset;
        /* Read the partition from its committed offset (again, after an
         * aborted batch: ms_group's rewind). */
        ms_ktp from = {s->rep, t->q, rp.offset >= 0 ? rp.offset : -2 /* beginning */, NULL};
        if (ms_kmember_seek(g->tasks, &from, 1, g->err, sizeof(g->err)) != 0)
            ms_debug("query %s partition %" PRId32 ": %s", s->stmt->name, t->q, g->err);
        ms_info("query %s partition %" PRId32 ": restoring its state from %s offsets %" PRId64
                " to %" PRId64 " (%s)",
                s->stmt->name, t->q, s->cl, cached, t->restore_target,
                cached > 0 ? "the local cache holds the rest" : "nothing cached");
    }
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    restore_ctx c = {t, wb, 0};
    int64_t pos = t->cl_next;
    int rc = ms_kreader_read(g->reader, s->cl, t->q, &pos, t->restore_target, RESTORE_SLICE_SEC,
                             &stop_requested, restore_one, &c, g->err, sizeof(g->err));
    if (c.bad) {
        g->gst.corrupt_records += c.bad;
        ms_warn("query %s partition %" PRId32 ": %llu changelog records did not decode and were "
                "skipped",
                s->stmt->name, t->q, (unsigned long long)c.bad);
    }
    if (rc < 0) {
        ms_ckpt_batch_free(wb);
        ms_warn("query %s partition %" PRId32 ": reading %s: %s (retrying)", s->stmt->name, t->q,
                s->cl, g->err);
        return 0;
    }
    ms_gtask_cache_set_offset(t, pos, wb);
    int crc = ms_ckpt_commit(g->ck, wb, g->err, sizeof(g->err));
    ms_ckpt_batch_free(wb);
    if (crc)
        return crc;
    if (rc == 1)
        return 0; /* more to read: the next loop */
    crc = ms_gtask_load(t, g->ck, g->err, sizeof(g->err));
    if (crc)
        return crc;
    t->restoring = 0;
    t->restore_secs = ms_now_mono() - t->restore_started;
    g->gst.restore_records += t->restored;
    g->gst.restore_secs += t->restore_secs;
    if (t->restore_secs > 0 && t->restored)
        g->gst.restore_rate = (double)t->restored / t->restore_secs;
    ms_info("query %s partition %" PRId32 ": restored %llu changelog records in %.3fs (%zu "
            "groups); processing it",
            s->stmt->name, t->q, (unsigned long long)t->restored, t->restore_secs,
            (size_t)t->x.table.n);
    ms_ktp rp = {s->rep, t->q, -1, NULL};
    ms_kmember_pause(g->tasks, &rp, 1, 0);
    return 0;
}

/* Restores every task that still needs it, a slice each. */
static int restore_all(ms_group *g)
{
    for (size_t i = 0; i < g->ngs && !stop_requested && !g->reset; i++)
        for (int32_t q = 0; q < g->gs[i].nq && !stop_requested && !g->reset; q++) {
            ms_gtask *t = g->gs[i].tasks[q];
            if (t && t->restoring) {
                int rc = restore_step(g, &g->gs[i], t);
                if (rc)
                    return rc;
            }
        }
    return 0;
}

/* ------------------------------------------------------------ the batch */

typedef struct produce_ctx {
    ms_group *g;
    gstmt *s;
    int rc;
} produce_ctx;

static int ensure_txn(ms_group *g)
{
    if (ms_ktxn_open_txn(g->txn))
        return 0;
    return ms_ktxn_begin(g->txn, g->err, sizeof(g->err));
}

static int produce(ms_group *g, const char *topic, int32_t p, const void *k, size_t kl,
                   const void *v, size_t vl)
{
    int rc = ensure_txn(g);
    if (rc == 0)
        rc = ms_ktxn_produce(g->txn, topic, p, k, kl, v, vl, g->err, sizeof(g->err));
    return rc;
}

/* The input rows a partial stands for: its COUNT(*), else its largest
 * non-NULL count (late rows are counted with it). */
static uint64_t partial_rows(const ms_sql_stmt *st, const ms_exec_row *r)
{
    int64_t n = 0;
    for (size_t j = 0; j < st->naggs; j++) {
        if (st->aggs[j].kind == MS_SQL_AGG_COUNT_STAR)
            return r->accs[j].a > 0 ? (uint64_t)r->accs[j].a : 0;
        if (r->accs[j].n > n)
            n = r->accs[j].n;
    }
    return (uint64_t)n;
}

/* Stage 1: one partial row to the repartition partition of its key. */
static void emit_partial(void *ud, const ms_exec_row *r)
{
    produce_ctx *c = ud;
    ms_group *g = c->g;
    if (c->rc)
        return;
    ms_buf_reset(&g->tmp);
    ms_exec_encode_accs(&g->rt.st[c->s - g->gs].x, r->accs, &g->tmp);
    ms_buf_reset(&g->val);
    ms_gcodec_partial(&g->val, partial_rows(c->s->stmt, r), g->tmp.data, g->tmp.len);
    int32_t q = (int32_t)(ms_hash(r->key, r->klen) % (uint64_t)c->s->nq);
    c->rc = produce(g, c->s->rep, q, r->key, r->klen, g->val.data, g->val.len);
    g->gst.rep_records++;
    g->gst.rep_bytes += r->klen + g->val.len;
}

static void discard_row(void *ud, const ms_exec_row *r)
{
    (void)ud;
    (void)r;
}

/* Stage 2's hooks. */
static int cl_record(void *ud, ms_gtask *t, const void *k, size_t kl, const void *v, size_t vl)
{
    produce_ctx *c = ud;
    c->s->cl_produced[t->q] = 1;
    c->g->gst.cl_records++;
    c->g->gst.cl_bytes += kl + (v ? vl : 0);
    return produce(c->g, c->s->cl, t->q, k, kl, v, vl);
}

static int out_row(void *ud, ms_gtask *t, const ms_exec_row *r)
{
    produce_ctx *c = ud;
    ms_group *g = c->g;
    if (!c->s->out)
        return 0;
    ms_rowset one;
    ms_rowset_init(&one, &t->x);
    ms_rowset_add(&one, r);
    ms_buf_reset(&g->val);
    ms_sink_render_jsonl(c->s->stmt, &one, &g->val);
    ms_rowset_free(&one);
    size_t n = g->val.len && g->val.data[g->val.len - 1] == '\n' ? g->val.len - 1 : g->val.len;
    g->gst.out_records++;
    g->gst.out_bytes += r->klen + n;
    return produce(g, c->s->out, (int32_t)(ms_hash(r->key, r->klen) % (uint64_t)c->s->nq), r->key,
                   r->klen, g->val.data, n);
}

/* The upstream partitions of every statement with a watermark, with
 * whether input waits in them: the group's committed offset below the
 * partition's end, or records waiting in one of our repartition
 * partitions (they may carry that partition's rows). */
static void list_upstream(ms_group *g)
{
    int need = 0;
    for (size_t i = 0; i < g->ngs; i++)
        need |= g->gs[i].stmt->watermark.present;
    if (!need)
        return;
    size_t n = 0;
    for (size_t i = 0; i < g->spec.ntopics; i++)
        n += (size_t)g->topic_parts[i];
    ms_ktp *all = ms_xcalloc(n ? n : 1, sizeof(ms_ktp));
    ms_ktp *ends = ms_xcalloc(n ? n : 1, sizeof(ms_ktp));
    size_t k = 0;
    for (size_t i = 0; i < g->spec.ntopics; i++)
        for (int32_t p = 0; p < g->topic_parts[i]; p++) {
            all[k] = (ms_ktp){g->spec.topics[i], p, -1, NULL};
            ends[k] = all[k];
            k++;
        }
    int unknown = ms_kmember_committed(g->member, all, n, &g->meta, BARRIER_WAIT_MS, g->err,
                                       sizeof(g->err)) != 0 ||
                  ms_kreader_offsets(g->reader, ends, n, 0, g->err, sizeof(g->err)) != 0;
    /* Our repartition partitions read to their end? */
    int rep_waiting = 0;
    for (size_t i = 0; i < g->ngs && !unknown; i++) {
        gstmt *s = &g->gs[i];
        if (!s->stmt->watermark.present)
            continue;
        for (int32_t q = 0; q < s->nq; q++) {
            if (!s->tasks[q] || s->tasks[q]->restoring)
                continue;
            /* Read up to its end by the last poll (a transaction's commit
             * marker follows its records: the end offset alone says
             * nothing). */
            if (!s->rep_at_end[q])
                rep_waiting = 1;
        }
    }
    for (size_t i = 0; i < g->ngs; i++) {
        gstmt *s = &g->gs[i];
        if (!s->stmt->watermark.present)
            continue;
        s->up = ms_xrealloc(s->up, (n ? n : 1) * sizeof(ms_part_info));
        s->nup = 0;
        for (size_t j = 0; j < n; j++) {
            if (s->stmt->topic && strcmp(s->stmt->topic, all[j].topic) != 0)
                continue;
            ms_part_info *pi = &s->up[s->nup++];
            pi->part.topic = all[j].topic;
            pi->part.partition = all[j].partition;
            pi->backlog = unknown || rep_waiting || all[j].offset < 0 ||
                          (ends[j].offset >= 0 && ends[j].offset > all[j].offset);
            /* A partition without a committed offset and without messages
             * has nothing waiting. */
            if (!unknown && !rep_waiting && all[j].offset < 0 && ends[j].offset == 0)
                pi->backlog = 0;
        }
    }
    free(all);
    free(ends);
}

/* Abandons the batch in flight: its transaction is aborted, and since the
 * executors already took its input, the process must join again. */
static void abandon(ms_group *g, const char *why, int rewind)
{
    if (g->txn && ms_ktxn_open_txn(g->txn)) {
        char e2[512];
        if (ms_ktxn_abort(g->txn, e2, sizeof(e2)) != 0)
            ms_warn("aborting the transaction: %s", e2);
        g->gst.txn_aborted++;
    }
    if (g->cache_wb) {
        ms_ckpt_batch_free(g->cache_wb);
        g->cache_wb = NULL;
    }
    if (g->batch_msgs || why)
        ms_warn("group: batch abandoned (%s): nothing of it is committed; its input is read "
                "again by the partitions' owners",
                why ? why : "stopping");
    if (rewind)
        g->rewind = 1;
    else
        g->reset = 1;
}

/* A task of s for partition q, restoring (its partition paused). */
static void task_new(ms_group *g, gstmt *s, int32_t q)
{
    ms_gtask *t = ms_xcalloc(1, sizeof(*t));
    ms_gtask_init(t, s->stmt, q, g->rt.st[s - g->gs].x.wm.idle_sec);
    t->restoring = 1;
    s->tasks[q] = t;
    s->rep_next[q] = -1;
    s->rep_touched[q] = 0;
    s->rep_at_end[q] = 0;
    s->cl_produced[q] = 0;
    ms_ktp p = {s->rep, q, -1, NULL};
    ms_kmember_pause(g->tasks, &p, 1, 1);
}

/* After an aborted transaction, while this process is still a member of
 * both groups (a rebalance moved a generation under the batch, a record
 * could not be written): the input is read again from the committed
 * offsets, and every task reloads its state from the local cache, which
 * holds exactly what the last commit made durable.  Falls back to joining
 * anew (g->reset) when the committed offsets cannot be had. */
static void rewind_batch(ms_group *g)
{
    g->rewind = 0;
    for (size_t i = 0; i < g->rt.n; i++)
        ms_exec_take(&g->rt.st[i].x, discard_row, NULL);
    if (g->nip) {
        ms_ktp *l = ms_xcalloc(g->nip, sizeof(ms_ktp));
        for (size_t i = 0; i < g->nip; i++)
            l[i] = (ms_ktp){g->ip[i].topic, g->ip[i].partition, -1, NULL};
        int rc = ms_kmember_committed(g->member, l, g->nip, &g->meta, ms_kg_wait_ms(g), g->err,
                                      sizeof(g->err));
        int latest = g->cfg->starting_offsets && !strcmp(g->cfg->starting_offsets, "latest");
        for (size_t i = 0; rc == 0 && i < g->nip; i++) {
            if (l[i].offset < 0)
                l[i].offset = latest ? -1 /* end */ : -2 /* beginning */;
            l[i].metadata = NULL;
        }
        if (rc == 0)
            rc = ms_kmember_seek(g->member, l, g->nip, g->err, sizeof(g->err));
        free(l);
        if (rc) {
            ms_warn("group: rewinding the input failed (%s): joining the group again", g->err);
            g->reset = 1;
            return;
        }
        for (size_t i = 0; i < g->nip; i++) {
            g->ip[i].next = -1;
            g->ip[i].touched = 0;
            g->ip[i].at_end = 0;
        }
    }
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            if (g->gs[i].tasks[q]) {
                task_drop(&g->gs[i], q);
                task_new(g, &g->gs[i], q);
            }
    g->batch_msgs = g->batch_bytes = 0;
    g->batch_first_wall = 0;
    ms_info("group %s: the batch was rolled back: reading again from the committed offsets, "
            "tasks reloaded from the local cache",
            g->cfg->application_id);
    publish(g);
}

/* Whether task q of s takes part in the commit at now: it read or heard
 * something, or its watermark may move by time alone (idleness), which is
 * tried at most once a second. */
static int task_commits(const gstmt *s, int32_t q, double now)
{
    const ms_gtask *t = s->tasks[q];
    if (!t || t->restoring)
        return 0;
    return t->touched || s->rep_touched[q] ||
           (s->stmt->watermark.present && now - s->last_advance >= 1.0);
}

static void batch_done(ms_group *g)
{
    for (size_t i = 0; i < g->nip; i++)
        g->ip[i].touched = 0;
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++) {
            g->gs[i].rep_touched[q] = 0;
            g->gs[i].cl_produced[q] = 0;
        }
    if (g->cache_wb) {
        ms_ckpt_batch_free(g->cache_wb);
        g->cache_wb = NULL;
    }
}

/* The committed batch's progress record (/api/v1/status, the INFO line). */
static void batch_progress(ms_group *g, const ms_ktp *offs, size_t noff, double t0)
{
    ms_progress pr;
    memset(&pr, 0, sizeof(pr));
    pr.batch_id = g->batch_id;
    /* When the batch started to read: its first input message (Spark's
     * trigger start has no better equivalent when a batch is the time
     * between two triggers), else now. */
    pr.timestamp = g->batch_first_wall > 0 ? g->batch_first_wall : ms_now_wall();
    pr.rows = g->batch_msgs;
    pr.bytes = g->batch_bytes;
    double total = ms_now_mono() - g->batch_start;
    pr.ms_total = total * 1e3;
    pr.ms_commit = (ms_now_mono() - t0) * 1e3;
    pr.processed_rps = total > 0 ? (double)pr.rows / total : 0;
    pr.kafka = 1;
    for (size_t i = 0; i < noff && pr.nfiles_listed < MS_PROGRESS_FILES; i++) {
        size_t k = pr.nfiles_listed++;
        snprintf(pr.file[k].name, sizeof(pr.file[k].name), "%s", offs[i].topic);
        pr.file[k].partition = offs[i].partition;
        pr.file[k].end = (uint64_t)offs[i].offset;
    }
    pr.files = noff;
    for (size_t i = 0; i < g->ngs && i < MS_PROGRESS_STMTS; i++) {
        pr.stmt[i].name = g->gs[i].stmt->name;
        pr.stmt[i].watermark = INT64_MIN;
        pr.stmt[i].max_event = INT64_MIN;
        for (int32_t q = 0; q < g->gs[i].nq; q++) {
            const ms_gtask *t = g->gs[i].tasks[q];
            if (!t || t->restoring)
                continue;
            pr.stmt[i].total += t->x.table.n;
            pr.stmt[i].late += t->x.st.rows_late;
            pr.stmt[i].evicted += t->x.st.evicted;
            if (t->x.watermark != INT64_MIN &&
                (pr.stmt[i].watermark == INT64_MIN || t->x.watermark < pr.stmt[i].watermark))
                pr.stmt[i].watermark = t->x.watermark;
            if (t->x.max_event > pr.stmt[i].max_event)
                pr.stmt[i].max_event = t->x.max_event;
        }
        pr.nstmts_listed = i + 1;
    }
    g->st.batches++;
    g->st.last_batch_id = g->batch_id;
    g->st.last_commit_wall = ms_now_wall();
    g->st.input_rows += g->batch_msgs;
    g->st.input_bytes += g->batch_bytes;
    ms_hist_observe(&g->st.batch_dur, total);
    ms_hist_observe(&g->st.commit_dur, ms_now_mono() - t0);
    g->st.last_processed_rps = pr.processed_rps;
    ms_progress_push(&g->ring, &pr);
    ms_progress_log(&g->ring, &pr, g->cfg->progress_sec);
    g->batch_msgs = g->batch_bytes = 0;
    g->batch_first_wall = 0;
}

/* Stage 1 of the batch: the combiners' partial rows, and each input
 * partition's largest event time to every repartition partition. */
static int stage1(ms_group *g, double now)
{
    int rc = 0;
    for (size_t i = 0; i < g->ngs && rc == 0; i++) {
        gstmt *s = &g->gs[i];
        produce_ctx c = {g, s, 0};
        ms_exec *x = &g->rt.st[i].x;
        ms_exec_take(x, emit_partial, &c);
        rc = c.rc;
        if (!s->stmt->watermark.present)
            continue;
        for (size_t k = 0; k < g->nip && rc == 0; k++) {
            const ipart *p = &g->ip[k];
            if (!p->touched || (s->stmt->topic && strcmp(s->stmt->topic, p->topic) != 0))
                continue;
            ms_part part = {p->topic, p->partition};
            ms_wm_part *wp = ms_wm_part_of(&x->wm, &part, now);
            ms_buf_reset(&g->key);
            ms_part_key(&g->key, &part);
            ms_buf_reset(&g->val);
            ms_gcodec_watermark(&g->val, wp ? wp->max_event : INT64_MIN);
            for (int32_t q = 0; q < s->nq && rc == 0; q++) {
                rc = produce(g, s->rep, q, g->key.data, g->key.len, g->val.data, g->val.len);
                g->gst.rep_records++;
                g->gst.rep_bytes += g->key.len + g->val.len;
            }
        }
    }
    return rc;
}

/* Stage 2 of the batch: every task's changes. */
static int stage2(ms_group *g, double now)
{
    int rc = 0, any_wm = 0;
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            any_wm |= task_commits(&g->gs[i], q, now) && g->gs[i].stmt->watermark.present;
    if (any_wm)
        list_upstream(g);
    for (size_t i = 0; i < g->ngs && rc == 0; i++) {
        gstmt *s = &g->gs[i];
        produce_ctx c = {g, s, 0};
        ms_gtask_sink sink = {&c, cl_record, s->out ? out_row : NULL};
        int advanced = 0;
        for (int32_t q = 0; q < s->nq && rc == 0; q++) {
            if (!task_commits(s, q, now))
                continue;
            rc = ms_gtask_commit(s->tasks[q], s->up, s->nup, now, &sink, g->cache_wb);
            advanced = 1;
        }
        if (advanced && s->stmt->watermark.present)
            s->last_advance = now;
    }
    return rc;
}

/* Ends the batch in flight: produce, send offsets, commit (see the top of
 * the file).  0 when committed or nothing to commit; otherwise the batch
 * is abandoned (g->reset set) or the process must stop (g->fatal). */
static int end_batch(ms_group *g)
{
    if (g->reset || g->rewind)
        return -1;
    double now = ms_now_mono(), t0 = now;
    if (!g->cache_wb)
        g->cache_wb = ms_ckpt_batch_new();
    int rc = stage1(g, now);
    if (rc == 0)
        rc = stage2(g, now);

    /* The offsets of everything read, repartition partitions with the
     * changelog position their state reaches. */
    size_t cap = g->nip, noff = 0;
    for (size_t i = 0; i < g->ngs; i++)
        cap += (size_t)g->gs[i].nq;
    ms_ktp *offs = ms_xcalloc(cap ? cap : 1, sizeof(ms_ktp));
    char(*metas)[32] = ms_xcalloc(cap ? cap : 1, sizeof(*metas));
    for (size_t i = 0; rc == 0 && i < g->nip; i++)
        if (g->ip[i].touched && g->ip[i].next >= 0)
            offs[noff++] = (ms_ktp){g->ip[i].topic, g->ip[i].partition, g->ip[i].next, NULL};
    size_t ninput = noff; /* offs[0..ninput): the input group's; the rest the tasks group's */
    int reps = 0;
    for (size_t i = 0; rc == 0 && i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            reps |= g->gs[i].rep_touched[q] && g->gs[i].tasks[q];
    if (rc == 0 && !noff && !reps && !ms_ktxn_open_txn(g->txn)) {
        batch_done(g); /* nothing read, nothing produced: no transaction */
        free(offs);
        free(metas);
        return 0;
    }
    if (rc == 0)
        rc = ensure_txn(g);
    double t_flush = ms_now_mono();
    if (rc == 0)
        rc = ms_ktxn_flush(g->txn, g->err, sizeof(g->err));
    double t_offsets = ms_now_mono();
    for (size_t i = 0; rc == 0 && i < g->ngs; i++) {
        gstmt *s = &g->gs[i];
        for (int32_t q = 0; q < s->nq; q++) {
            ms_gtask *t = s->tasks[q];
            if (!t || t->restoring || (!s->rep_touched[q] && !s->cl_produced[q]) ||
                s->rep_next[q] < 0)
                continue;
            int64_t last = ms_ktxn_last_offset(g->txn, s->cl, q);
            ms_gcodec_meta(metas[noff], sizeof(metas[noff]), last >= 0 ? last + 1 : t->cl_next);
            offs[noff] = (ms_ktp){s->rep, q, s->rep_next[q], metas[noff]};
            noff++;
        }
    }
    /* Each group's offsets with its metadata: a member of an older
     * generation of either cannot commit. */
    if (rc == 0)
        rc = ms_ktxn_send_offsets(g->txn, g->member, offs, ninput, g->err, sizeof(g->err));
    if (rc == 0)
        rc = ms_ktxn_send_offsets(g->txn, g->tasks, offs + ninput, noff - ninput, g->err,
                                  sizeof(g->err));
    if (rc == 0 && ms_failpoint_hit("group_txn_open")) {
        /* A test stops the process here (SIGSTOP) while the transaction is
         * open; on SIGCONT it must be found fenced, never committed. */
        ms_warn("failpoint group_txn_open: holding the open transaction for 20 s");
        double until = ms_now_mono() + 20.0;
        while (ms_now_mono() < until && !stop_requested)
            usleep(100000);
    }
    double t_commit = ms_now_mono();
    if (rc == 0)
        rc = ms_ktxn_commit(g->txn, g->err, sizeof(g->err));
    double t_done = ms_now_mono();
    if (rc != 0) {
        free(offs);
        free(metas);
        if (rc == MS_EFENCED)
            g->gst.fenced++;
        ms_warn("group: the transaction of the batch failed: %s", g->err);
        abandon(g, rc == MS_EFENCED ? "fenced" : "the transaction failed", rc == MS_EABORT);
        return -1;
    }
    double secs = ms_now_mono() - t0;
    ms_hist_observe(&g->gst.txn_commit, secs);
    g->gst.txn_committed++;
    g->rejoins_quiet = 0;
    if (g->ntxn_lat == g->captxn_lat) {
        g->captxn_lat = g->captxn_lat ? g->captxn_lat * 2 : 1024;
        g->txn_lat = ms_xrealloc(g->txn_lat, g->captxn_lat * sizeof(double));
    }
    g->txn_lat[g->ntxn_lat++] = secs;
    g->batch_id++;
    if (ms_log_threshold >= MS_LOG_DEBUG) {
        ms_buf b = MS_BUF_INIT;
        for (size_t i = 0; i < noff; i++)
            ms_buf_printf(&b, "%s%s/%" PRId32 "@%" PRId64, i ? "," : "", offs[i].topic,
                          offs[i].partition, offs[i].offset);
        ms_debug("transaction committed: batch=%lld generation=%d tasks_generation=%d "
                 "offsets=%s flush_ms=%.1f offsets_ms=%.1f commit_ms=%.1f",
                 (long long)g->batch_id, (int)ms_kmember_generation(g->member),
                 (int)ms_kmember_generation(g->tasks), b.data ? b.data : "",
                 (t_offsets - t_flush) * 1e3, (t_commit - t_offsets) * 1e3,
                 (t_done - t_commit) * 1e3);
        ms_buf_free(&b);
    }
    /* The local cache takes the changes, with the changelog offsets they
     * reach. */
    for (size_t i = 0; i < g->ngs; i++) {
        gstmt *s = &g->gs[i];
        for (int32_t q = 0; q < s->nq; q++) {
            if (!s->cl_produced[q] || !s->tasks[q])
                continue;
            int64_t last = ms_ktxn_last_offset(g->txn, s->cl, q);
            if (last >= 0)
                ms_gtask_cache_set_offset(s->tasks[q], last + 1, g->cache_wb);
        }
    }
    int crc = ms_ckpt_commit(g->ck, g->cache_wb, g->err, sizeof(g->err));
    if (crc) {
        ms_error("writing the local cache failed: %s. Stopping: the transaction is committed, "
                 "and the cache is brought up to date from the changelog at the next start",
                 g->err);
        g->fatal = 1;
    } else {
        batch_progress(g, offs, noff, t0);
    }
    batch_done(g);
    free(offs);
    free(metas);
    return crc ? -1 : 0;
}

/* ---------------------------------------------------------- rebalances */

static void on_assigned(void *ud, const ms_ktp *parts, size_t n)
{
    ms_group *g = ud;
    g->gst.assigned++;
    ms_buf b = MS_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const ms_ktp *p = &parts[i];
        ms_buf_printf(&b, "%s%s/%" PRId32, i ? "," : "", p->topic, p->partition);
        gstmt *s = rep_stmt(g, p->topic);
        if (s) {
            if (p->partition < 0 || p->partition >= s->nq || s->tasks[p->partition])
                continue;
            task_new(g, s, p->partition);
            continue;
        }
        if (!is_input(g, p->topic) || ipart_find(g, p->topic, p->partition))
            continue;
        if (g->nip == g->capip) {
            g->capip = g->capip ? g->capip * 2 : 16;
            g->ip = ms_xrealloc(g->ip, g->capip * sizeof(ipart));
        }
        g->ip[g->nip++] = (ipart){ms_xstrdup(p->topic), p->partition, -1, 0, 0};
        g->cur = NULL; /* ip may have moved */
    }
    int stage2 = n && rep_stmt(g, parts[0].topic);
    ms_info("group %s%s: assigned %s (generation %d)", g->cfg->application_id,
            stage2 ? "-tasks" : "", b.data ? b.data : "",
            (int)ms_kmember_generation(stage2 ? g->tasks : g->member));
    ms_buf_free(&b);
}

static void on_revoked(void *ud, const ms_ktp *parts, size_t n, int lost)
{
    ms_group *g = ud;
    ms_buf b = MS_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        ms_buf_printf(&b, "%s%s/%" PRId32, i ? "," : "", parts[i].topic, parts[i].partition);
    if (lost) {
        g->gst.lost++;
        ms_warn("group %s: assignment lost (%s): this instance was out of the group; abandoning "
                "the batch in flight",
                g->cfg->application_id, b.data ? b.data : "");
        abandon(g, "assignment lost", 0);
    } else {
        g->gst.revoked++;
        ms_info("group %s: giving up %s: committing the batch in flight first",
                g->cfg->application_id, b.data ? b.data : "");
        if (!stop_requested)
            end_batch(g);
        else
            abandon(g, NULL, 0);
    }
    ms_buf_free(&b);
    for (size_t i = 0; i < n; i++) {
        gstmt *s = rep_stmt(g, parts[i].topic);
        if (s) {
            task_drop(s, parts[i].partition);
            continue;
        }
        ipart *p = ipart_find(g, parts[i].topic, parts[i].partition);
        if (p) {
            free(p->topic);
            *p = g->ip[--g->nip];
            g->cur = NULL;
        }
    }
    /* The keys given up are served by their next owner only: stop serving
     * them now. */
    publish(g);
}

/* ------------------------------------------------------------- reading */

static void feed_input(ms_group *g, const ms_kmsg *m)
{
    ipart *p = ipart_find(g, m->topic, m->partition);
    if (!p)
        return; /* not ours (any more) */
    const ms_input *in = ms_runtime_input(&g->rt);
    if (g->cur != p) {
        ms_part part = {p->topic, p->partition};
        in->ops->part(in->ud, &part, p->topic, (uint64_t)m->offset);
        g->cur = p;
    }
    ms_value meta[MS_META_NCOLS];
    meta[MS_META_TOPIC] = ms_value_str((const uint8_t *)p->topic, strlen(p->topic));
    meta[MS_META_PARTITION] = ms_value_int(m->partition);
    meta[MS_META_OFFSET] = ms_value_int(m->offset);
    if (m->ts_us != INT64_MIN)
        meta[MS_META_TIMESTAMP] = (ms_value){.type = MS_TYPE_TIMESTAMP, .i = m->ts_us};
    else
        meta[MS_META_TIMESTAMP] = ms_value_null();
    meta[MS_META_KEY] = m->key ? ms_value_str(m->key, m->klen) : ms_value_null();
    in->ops->record(in->ud, meta, m->value ? m->value : (const uint8_t *)"", m->vlen);
    p->next = m->offset + 1;
    p->touched = 1;
    p->at_end = 0;
    if (g->batch_msgs == 0)
        g->batch_first_wall = ms_now_wall();
    g->batch_msgs++;
    g->batch_bytes += m->vlen;
}

static void feed_rep(ms_group *g, gstmt *s, const ms_kmsg *m)
{
    int32_t q = m->partition;
    if (q < 0 || q >= s->nq || !s->tasks[q])
        return;
    ms_gtask *t = s->tasks[q];
    if (t->restoring) {
        /* Fetched before the pause took: read it again once restored. */
        ms_ktp p = {s->rep, q, m->offset, NULL};
        ms_kmember_seek(g->tasks, &p, 1, g->err, sizeof(g->err));
        return;
    }
    if (ms_gtask_feed(t, m->key, m->klen, m->value, m->vlen, ms_now_mono()) != 0) {
        g->gst.corrupt_records++;
        ms_warn("query %s: record %s/%" PRId32 "@%" PRId64 " is not a repartition record of "
                "mstream: skipped",
                s->stmt->name, s->rep, q, m->offset);
    }
    s->rep_next[q] = m->offset + 1;
    s->rep_touched[q] = 1;
    s->rep_at_end[q] = 0;
}

static void at_end(ms_group *g, const ms_kmsg *m)
{
    gstmt *s = rep_stmt(g, m->topic);
    if (s) {
        if (m->partition >= 0 && m->partition < s->nq)
            s->rep_at_end[m->partition] = 1;
        return;
    }
    ipart *p = ipart_find(g, m->topic, m->partition);
    if (p)
        p->at_end = 1;
}

static int all_at_end(const ms_group *g)
{
    for (size_t i = 0; i < g->nip; i++)
        if (!g->ip[i].at_end)
            return 0;
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            if (g->gs[i].tasks[q] && !g->gs[i].tasks[q]->restoring && !g->gs[i].rep_at_end[q])
                return 0;
    return 1;
}

/* ----------------------------------------------------------- publishing */

static void publish(ms_group *g)
{
    ms_snapshot *s = ms_snapshot_new(g->rt.n, (size_t)g->cfg->top_k);
    s->program = g->prog_name;
    uint64_t late = 0, entries = 0, bytes = 0;
    for (size_t i = 0; i < g->ngs; i++) {
        gstmt *gs = &g->gs[i];
        const ms_stmt_rt *r = &g->rt.st[i];
        const ms_exec **xs = ms_xcalloc((size_t)gs->nq + 1, sizeof(ms_exec *));
        size_t nx = 0;
        ms_exec_stats st = r->x.st; /* stage 1: this process's input */
        st.rows_late = st.evicted = st.windows_closed = 0;
        int64_t closed_start = INT64_MIN, closed_end = INT64_MIN;
        for (int32_t q = 0; q < gs->nq; q++) {
            const ms_gtask *t = gs->tasks[q];
            if (!t || t->restoring)
                continue;
            xs[nx++] = &t->x;
            st.rows_late += t->x.st.rows_late;
            st.evicted += t->x.st.evicted;
            st.windows_closed += t->x.st.windows_closed;
            if (t->closed_start > closed_start) {
                closed_start = t->closed_start;
                closed_end = t->closed_end;
            }
        }
        ms_exec layout;
        ms_exec_init(&layout, gs->stmt);
        ms_rowset closed;
        ms_rowset_init(&closed, &layout);
        for (int32_t q = 0; q < gs->nq && closed_start != INT64_MIN; q++) {
            const ms_gtask *t = gs->tasks[q];
            if (t && !t->restoring && t->closed_start == closed_start)
                for (size_t k = 0; k < t->closed.n; k++)
                    ms_rowset_add_from(&closed, &t->closed, k);
        }
        ms_snapshot_set_stmt_parts(s, i, gs->stmt, xs, nx, &st, &closed, closed_start, closed_end,
                                   r->parser->malformed, r->parser->lines + r->records);
        ms_rowset_free(&closed);
        ms_exec_free(&layout);
        free(xs);
        late += st.rows_late;
        entries += s->q[i].state_entries;
        bytes += s->q[i].state_bytes;
    }
    g->st.late_rows = late;
    g->st.state_entries = entries;
    g->st.state_bytes = bytes;
    g->st.agg_rows = 0;
    memset(g->st.malformed, 0, sizeof(g->st.malformed));
    for (size_t i = 0; i < s->nq; i++) {
        g->st.agg_rows += s->q[i].xs.rows_agg;
        for (int m = 0; m < MS_MALFORMED_MAX; m++)
            g->st.malformed[m] += s->q[i].malformed[m];
    }
    /* The Kafka series: the input partitions this instance owns. */
    s->has_kafka = 1;
    memset(&s->kafka, 0, sizeof(s->kafka));
    s->kafka.messages = g->st.input_rows;
    s->kafka.bytes = g->st.input_bytes;
    s->kafka.npart = g->nip;
    s->kafka.partitions_assigned = g->nip;
    s->kafka.parts = ms_xcalloc(g->nip ? g->nip : 1, sizeof(ms_kafka_part_stats));
    for (size_t i = 0; i < g->nip; i++) {
        ms_kafka_part_stats *ps = &s->kafka.parts[i];
        ps->topic = ms_xstrdup(g->ip[i].topic);
        ps->partition = g->ip[i].partition;
        ps->committed = g->ip[i].touched ? -1 : g->ip[i].next;
        ps->low = ps->high = -1;
    }
    /* Group mode's own. */
    g->gst.generation = g->member ? ms_kmember_generation(g->member) : -1;
    g->gst.tasks_generation = g->tasks ? ms_kmember_generation(g->tasks) : -1;
    free(g->gst.member_id);
    g->gst.member_id = NULL;
    if (g->member) {
        ms_buf id = MS_BUF_INIT;
        ms_kmember_id(g->member, &id);
        g->gst.member_id = ms_buf_steal(&id, NULL);
    }
    ms_gstats *gt = &g->gst;
    gt->ninputs = g->nip;
    gt->inputs = ms_xcalloc(g->nip ? g->nip : 1, sizeof(ms_gstats_part));
    for (size_t i = 0; i < g->nip; i++) {
        gt->inputs[i].topic = g->ip[i].topic; /* copied below */
        gt->inputs[i].partition = g->ip[i].partition;
    }
    size_t ntasks = 0;
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            ntasks += g->gs[i].tasks[q] != NULL;
    gt->ntasks = ntasks;
    gt->tasks = ms_xcalloc(ntasks ? ntasks : 1, sizeof(ms_gstats_task));
    size_t k = 0;
    for (size_t i = 0; i < g->ngs; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++) {
            const ms_gtask *t = g->gs[i].tasks[q];
            if (!t)
                continue;
            ms_gstats_task *ts = &gt->tasks[k++];
            ts->stmt = g->gs[i].stmt->name;
            ts->partition = q;
            ts->restoring = t->restoring;
            ts->restore_from = t->restore_from;
            ts->restore_target = t->restore_target;
            ts->position = t->cl_next;
            ts->restored = t->restored;
            ts->restore_secs = t->restoring && t->restore_started > 0
                                   ? ms_now_mono() - t->restore_started
                                   : t->restore_secs;
            ts->groups = t->restoring ? 0 : t->x.table.n;
        }
    s->has_group = 1;
    ms_gstats_copy(&s->group, gt);
    free(gt->inputs);
    free(gt->tasks);
    gt->inputs = NULL;
    gt->tasks = NULL;
    gt->ninputs = gt->ntasks = 0;

    /* Ready once joined and no task of this instance is restoring (Kafka
     * Streams' RUNNING): the results it serves are complete then. */
    s->ready = g->ready;
    for (size_t i = 0; i < g->ngs && s->ready; i++)
        for (int32_t q = 0; q < g->gs[i].nq; q++)
            if (g->gs[i].tasks && g->gs[i].tasks[q] && g->gs[i].tasks[q]->restoring)
                s->ready = 0;
    s->stats = g->st;
    ms_buf b = MS_BUF_INIT;
    ms_buf d = MS_BUF_INIT;
    ms_buf_printf(&d, "KafkaGroupSource[%s: ", g->cfg->kafka);
    for (size_t i = 0; i < g->spec.ntopics; i++)
        ms_buf_printf(&d, "%s%s", i ? "," : "", g->spec.topics[i]);
    ms_buf_printf(&d, " as %s]", g->cfg->application_id);
    ms_progress_render_status(&b, g->prog_name, NULL, d.data, g->cfg->checkpoint_dir, s->ready,
                              &g->st, s, &g->ring);
    ms_buf_free(&d);
    s->status_json = ms_buf_steal(&b, NULL);
    ms_snapshot_publish(&g->pub, s);
    g->last_publish = ms_now_mono();
}

/* -------------------------------------------------------------- set-up */

/* This instance's id in the checkpoint ("m:instance"): made once, so a
 * restart on the same checkpoint has the same transactional.id and fences
 * (and aborts the transaction of) the process it replaces. */
static int instance_id(ms_group *g, char *out, size_t outsz)
{
    ms_buf v = MS_BUF_INIT;
    int rc = ms_ckpt_get(g->ck, "m:instance", 10, &v, g->err, sizeof(g->err));
    if (rc == 0 && v.len >= 2 && v.len < outsz && v.data[0] == 0x01) {
        snprintf(out, outsz, "%.*s", (int)(v.len - 1), v.data + 1);
        ms_buf_free(&v);
        return 0;
    }
    ms_buf_free(&v);
    if (rc != 0 && rc != MS_ENOTFOUND)
        return rc;
    uint8_t rnd[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;
    if (fd >= 0)
        close(fd);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | rnd[i];
    if (got != (ssize_t)sizeof(rnd))
        x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(ms_now_wall() * 1e6);
    snprintf(out, outsz, "%016" PRIx64, x);
    ms_buf w = MS_BUF_INIT;
    ms_buf_putc(&w, 0x01);
    ms_buf_puts(&w, out);
    rc = ms_ckpt_put_sync(g->ck, "m:instance", 10, w.data, w.len, g->err, sizeof(g->err));
    ms_buf_free(&w);
    return rc;
}

/* Waits (until stop) for what the brokers must answer before anything
 * starts: the input's partition counts. */
static int input_partitions(ms_group *g)
{
    g->topic_parts = ms_xcalloc(g->spec.ntopics ? g->spec.ntopics : 1, sizeof(int32_t));
    int warned = 0;
    while (!stop_requested) {
        int rc = ms_kadmin_partitions(&g->kc, g->spec.topics, g->spec.ntopics, g->topic_parts,
                                      g->err, sizeof(g->err));
        size_t missing = 0;
        for (size_t i = 0; rc == 0 && i < g->spec.ntopics; i++)
            missing += g->topic_parts[i] == 0;
        if (rc == 0 && !missing)
            return 0;
        if (rc == MS_EUSAGE)
            return rc;
        if (!warned++)
            ms_warn("group: %s; waiting for the brokers and the input topics (group mode sizes its "
                    "internal topics by the input's partitions)",
                    rc ? g->err : "an input topic does not exist yet");
        for (int i = 0; i < 10 && !stop_requested; i++)
            usleep(100000);
    }
    return MS_EINVAL;
}

static int setup_topics(ms_group *g)
{
    const ms_config *cfg = g->cfg;
    ms_ktopic_spec *specs = ms_xcalloc(g->ngs * 3, sizeof(ms_ktopic_spec));
    size_t ns = 0;
    for (size_t i = 0; i < g->ngs; i++) {
        gstmt *s = &g->gs[i];
        int32_t nq = (int32_t)cfg->internal_partitions;
        if (nq <= 0)
            for (size_t k = 0; k < g->spec.ntopics; k++)
                if ((!s->stmt->topic || strcmp(s->stmt->topic, g->spec.topics[k]) == 0) &&
                    g->topic_parts[k] > nq)
                    nq = g->topic_parts[k];
        if (nq <= 0)
            nq = 1;
        s->nq = nq;
        ms_buf b = MS_BUF_INIT;
        ms_buf_printf(&b, "%s-%s-repartition", cfg->application_id, s->stmt->name);
        s->rep = ms_buf_steal(&b, NULL);
        ms_buf_printf(&b, "%s-%s-changelog", cfg->application_id, s->stmt->name);
        s->cl = ms_buf_steal(&b, NULL);
        if (s->stmt->emit == MS_SQL_EMIT_APPEND) {
            ms_buf_printf(&b, "%s-%s-output", cfg->application_id, s->stmt->name);
            s->out = ms_buf_steal(&b, NULL);
        }
        s->tasks = ms_xcalloc((size_t)nq, sizeof(ms_gtask *));
        s->rep_next = ms_xcalloc((size_t)nq, sizeof(int64_t));
        s->rep_touched = ms_xcalloc((size_t)nq, sizeof(int));
        s->rep_at_end = ms_xcalloc((size_t)nq, sizeof(int));
        s->cl_produced = ms_xcalloc((size_t)nq, sizeof(int));
        for (int32_t q = 0; q < nq; q++)
            s->rep_next[q] = -1;
        int rf = (int)cfg->internal_replication;
        specs[ns++] = (ms_ktopic_spec){s->rep, nq, rf, 0};
        specs[ns++] = (ms_ktopic_spec){s->cl, nq, rf, 1};
        if (s->out)
            specs[ns++] = (ms_ktopic_spec){s->out, nq, rf, 0};
        if (strlen(s->cl) > 249) {
            snprintf(g->err, sizeof(g->err),
                     "internal topic name %s is longer than Kafka's 249 characters: choose a "
                     "shorter --application-id or statement name",
                     s->cl);
            free(specs);
            return MS_EUSAGE;
        }
    }
    size_t created = 0;
    int rc;
    for (;;) {
        rc = ms_kadmin_ensure_topics(&g->kc, specs, ns, &created, g->err, sizeof(g->err));
        if (rc != MS_EIO || stop_requested)
            break;
        ms_warn("group: %s (retrying)", g->err);
        sleep(1);
    }
    free(specs);
    return rc;
}

static void free_stmts(ms_group *g)
{
    for (size_t i = 0; g->gs && i < g->ngs; i++) {
        gstmt *s = &g->gs[i];
        for (int32_t q = 0; q < s->nq; q++)
            task_drop(s, q);
        free(s->tasks);
        free(s->rep_next);
        free(s->rep_touched);
        free(s->rep_at_end);
        free(s->cl_produced);
        free(s->up);
        free(s->rep);
        free(s->cl);
        free(s->out);
    }
    free(g->gs);
}

/* The producer (init_transactions fences our older self) and the member;
 * retried while the brokers do not answer. */
static int join(ms_group *g)
{
    const ms_config *cfg = g->cfg;
    int warned = 0;
    while (!g->txn && !stop_requested) {
        int rc = ms_ktxn_open(&g->kc, g->txn_id, (int)(cfg->transaction_timeout_sec * 1000.0),
                              &g->txn, g->err, sizeof(g->err));
        if (rc == 0)
            break;
        if (rc == MS_EUSAGE)
            return rc;
        if (!warned++)
            ms_warn("group: %s (retrying)", g->err);
        sleep(1);
    }
    if (stop_requested)
        return 0;
    {
        const char **w = ms_xcalloc(3 * g->ngs + 1, sizeof(char *));
        size_t nw = 0;
        for (size_t i = 0; i < g->ngs; i++) {
            w[nw++] = g->gs[i].rep;
            w[nw++] = g->gs[i].cl;
            if (g->gs[i].out)
                w[nw++] = g->gs[i].out;
        }
        ms_ktxn_warm(g->txn, w, nw);
        free(w);
    }
    /* Two groups, so that each spreads its own partitions evenly over the
     * instances (the sticky assignor balances counts, not topics): the
     * input partitions (stage 1) and the repartition partitions (stage 2,
     * the tasks and the keys they own). */
    const char **reps = ms_xcalloc(g->ngs ? g->ngs : 1, sizeof(char *));
    for (size_t i = 0; i < g->ngs; i++)
        reps[i] = g->gs[i].rep;
    int latest = cfg->starting_offsets && strcmp(cfg->starting_offsets, "latest") == 0;
    ms_buf tg = MS_BUF_INIT, ti = MS_BUF_INIT;
    ms_buf_printf(&tg, "%s-tasks", cfg->application_id);
    if (cfg->group_instance_id)
        ms_buf_printf(&ti, "%s-tasks", cfg->group_instance_id);
    ms_kmember_conf mc = {.k = g->kc,
                          .group_id = cfg->application_id,
                          .instance_id = cfg->group_instance_id,
                          .topics = g->spec.topics,
                          .ntopics = g->spec.ntopics,
                          .latest_topics = latest ? g->spec.topics : NULL,
                          .nlatest = latest ? g->spec.ntopics : 0,
                          .session_timeout_ms = (int)(cfg->session_timeout_sec * 1000.0)};
    ms_kmember_hooks h = {g, on_assigned, on_revoked};
    int rc = ms_kmember_open(&mc, &h, &g->member, g->err, sizeof(g->err));
    if (rc == 0) {
        mc.group_id = tg.data;
        mc.instance_id = cfg->group_instance_id ? ti.data : NULL;
        mc.topics = reps;
        mc.ntopics = g->ngs;
        mc.latest_topics = NULL;
        mc.nlatest = 0;
        rc = ms_kmember_open(&mc, &h, &g->tasks, g->err, sizeof(g->err));
    }
    ms_buf_free(&tg);
    ms_buf_free(&ti);
    free(reps);
    return rc;
}

/* Tears the Kafka clients and the state down, and joins again. */
static int rejoin(ms_group *g)
{
    g->gst.rejoins++;
    if (++g->rejoins_quiet > MAX_REJOINS_QUIET) {
        ms_error("group: %llu rejoins in a row without a committed batch: giving up",
                 (unsigned long long)(g->rejoins_quiet - 1));
        return MS_EIO;
    }
    ms_warn("group %s: tearing down and joining the group again", g->cfg->application_id);
    if (g->txn && ms_ktxn_open_txn(g->txn)) {
        char e2[256];
        ms_ktxn_abort(g->txn, e2, sizeof(e2));
    }
    ms_kmember_close(g->member);
    ms_kmember_close(g->tasks);
    g->member = g->tasks = NULL;
    ms_ktxn_close(g->txn);
    g->txn = NULL;
    drop_all(g);
    for (size_t i = 0; i < g->rt.n; i++)
        ms_exec_take(&g->rt.st[i].x, discard_row, NULL);
    publish(g); /* the keys of the tasks dropped are no longer ours */
    if (g->cache_wb) {
        ms_ckpt_batch_free(g->cache_wb);
        g->cache_wb = NULL;
    }
    g->batch_msgs = g->batch_bytes = 0;
    g->batch_first_wall = 0;
    g->reset = 0;
    g->rewind = 0;
    /* librdkafka's new threads must not take our signals. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    int rc = join(g);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---------------------------------------------------------------- loop */

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i >= n ? n - 1 : i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void summary(ms_group *g, double elapsed)
{
    if (g->ntxn_lat)
        qsort(g->txn_lat, g->ntxn_lat, sizeof(double), cmp_double);
    ms_say_lines sl;
    FILE *out = ms_say_lines_open(&sl);
    for (size_t i = 0; i < g->rt.n; i++) {
        const ms_exec_stats *xs = &g->rt.st[i].x.st;
        fprintf(out,
                "summary query=%s rows_in=%llu rows_aggregated=%llu rows_filtered=%llu "
                "rows_no_event_time=%llu\n",
                g->rt.st[i].stmt->name, (unsigned long long)xs->rows_in,
                (unsigned long long)xs->rows_agg, (unsigned long long)xs->rows_filtered,
                (unsigned long long)xs->rows_no_time);
    }
    fprintf(out,
            "summary batches=%llu input_rows=%llu input_bytes=%llu elapsed_sec=%.3f "
            "txn_committed=%llu txn_aborted=%llu fenced=%llu rejoins=%llu rebalances=%llu "
            "restored_records=%llu txn_ms_p50=%.3f txn_ms_p95=%.3f txn_ms_p99=%.3f "
            "txn_ms_max=%.3f repartition_bytes=%llu changelog_bytes=%llu peak_rss_kb=%ld\n",
            (unsigned long long)g->st.batches, (unsigned long long)g->st.input_rows,
            (unsigned long long)g->st.input_bytes, elapsed,
            (unsigned long long)g->gst.txn_committed, (unsigned long long)g->gst.txn_aborted,
            (unsigned long long)g->gst.fenced, (unsigned long long)g->gst.rejoins,
            (unsigned long long)(g->gst.assigned + g->gst.revoked + g->gst.lost),
            (unsigned long long)g->gst.restore_records, pct(g->txn_lat, g->ntxn_lat, 0.5) * 1e3,
            pct(g->txn_lat, g->ntxn_lat, 0.95) * 1e3, pct(g->txn_lat, g->ntxn_lat, 0.99) * 1e3,
            pct(g->txn_lat, g->ntxn_lat, 1.0) * 1e3, (unsigned long long)g->gst.rep_bytes,
            (unsigned long long)g->gst.cl_bytes, ms_procstat_peak_rss_kb());
    ms_say_lines_close(&sl);
}

static int run_loop(ms_group *g)
{
    const ms_config *cfg = g->cfg;
    double next_trigger = ms_now_mono() + cfg->trigger_sec;
    g->batch_start = ms_now_mono();
    ms_kmsg m;
    while (!stop_requested && !g->fatal) {
        if (g->rewind && !g->reset)
            rewind_batch(g);
        if (g->reset) {
            int rc = rejoin(g);
            if (rc)
                return MS_EXIT_RUNTIME;
            continue;
        }
        int rc = restore_all(g);
        if (rc) {
            ms_error("group: %s", g->err);
            return MS_EXIT_RUNTIME;
        }
        /* Poll until the trigger (or, with --trigger-sec 0, until nothing
         * more is waiting). */
        int idle_polls = 0;
        for (;;) {
            double now = ms_now_mono();
            if (stop_requested || g->reset || g->rewind || g->fatal)
                break;
            if (cfg->trigger_sec > 0 && now >= next_trigger)
                break;
            if (cfg->max_offsets_per_trigger &&
                g->batch_msgs >= (uint64_t)cfg->max_offsets_per_trigger)
                break;
            int tmo = POLL_MS;
            if (cfg->trigger_sec > 0 && (next_trigger - now) * 1000.0 < tmo)
                tmo = (int)((next_trigger - now) * 1000.0) + 1;
            /* Both members: the input's, then the tasks' (which waits only
             * when the first had nothing). */
            int got = 0;
            for (int w = 0; w < 2 && rc >= 0; w++) {
                ms_kmember *mb = w == 0 ? g->member : g->tasks;
                int wait = w == 0 ? tmo / 2 : (got ? 0 : tmo / 2);
                for (int k = 0; k < 10000; k++) {
                    rc = ms_kmember_poll(mb, k ? 0 : wait, &m, g->err, sizeof(g->err));
                    if (rc <= 0 || g->reset || g->rewind)
                        break;
                    got = 1;
                    if (rc == 2) {
                        at_end(g, &m);
                        continue;
                    }
                    gstmt *s = rep_stmt(g, m.topic);
                    if (s)
                        feed_rep(g, s, &m);
                    else
                        feed_input(g, &m);
                    if (cfg->max_offsets_per_trigger &&
                        g->batch_msgs >= (uint64_t)cfg->max_offsets_per_trigger)
                        break;
                }
            }
            if (rc < 0) {
                if (rc == MS_EFENCED) {
                    g->gst.fenced++;
                    abandon(g, "fenced", 0);
                    break;
                }
                ms_error("group: %s", g->err);
                return MS_EXIT_RUNTIME;
            }
            if (got)
                idle_polls = 0;
            else
                idle_polls++;
            if (cfg->trigger_sec <= 0 && (idle_polls > 0 || all_at_end(g)) &&
                (g->batch_msgs || idle_polls > 0))
                break;
            if (ms_now_mono() - g->last_publish >= IDLE_PUBLISH_SEC)
                publish(g);
        }
        if (g->reset || g->rewind || stop_requested || g->fatal)
            continue;
        end_batch(g);
        if (g->fatal)
            return MS_EXIT_RUNTIME;
        publish(g);
        g->batch_start = ms_now_mono();
        if (cfg->trigger_sec > 0) {
            double now = ms_now_mono();
            double k = floor((now - next_trigger) / cfg->trigger_sec) + 1;
            next_trigger += (k < 1 ? 1 : k) * cfg->trigger_sec;
        }
    }
    return g->fatal ? MS_EXIT_RUNTIME : MS_EXIT_OK;
}

static char *program_name(const char *path)
{
    const char *p = path ? path : "wordcount";
    const char *slash = strrchr(p, '/');
    if (slash)
        p = slash + 1;
    size_t n = strlen(p);
    if (n > 4 && !strcmp(p + n - 4, ".sql"))
        n -= 4;
    char *name = ms_xmalloc(n + 1);
    memcpy(name, p, n);
    name[n] = '\0';
    return name;
}

int ms_group_run(const ms_config *cfg)
{
    double t_start = ms_now_mono();
    ms_group *g = ms_xcalloc(1, sizeof(*g));
    g->cfg = cfg;
    g->batch_id = -1;
    g->st.start_wall = ms_now_wall();
    g->st.trigger_sec = cfg->trigger_sec;
    g->st.last_batch_id = -1;
    g->st.batch_dur.bounds = ms_hist_batch_bounds;
    g->st.commit_dur.bounds = ms_hist_txn_bounds;
    g->gst.txn_commit.bounds = ms_hist_txn_bounds;
    g->gst.generation = -1;
    g->gst.application_id = ms_xstrdup(cfg->application_id);
    ms_published_init(&g->pub);
    ms_progress_ring_init(&g->ring, (size_t)cfg->status_batches);
    ms_failpoint_init();
    int status = MS_EXIT_RUNTIME;
    int left = 0;

    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = ms_program_load(cfg->query_path, &g->prog, g->err, sizeof(g->err));
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    g->prog_name = program_name(cfg->query_path);
    double idle = cfg->watermark_idle_sec;
    if (idle <= 0)
        idle = 3 * cfg->trigger_sec > MS_WM_IDLE_DEFAULT_SEC ? 3 * cfg->trigger_sec
                                                             : MS_WM_IDLE_DEFAULT_SEC;
    ms_runtime_opts ro = {.max_word_bytes = (size_t)cfg->max_word_bytes,
                          .max_record_bytes = (size_t)cfg->max_record_bytes,
                          .watermark_idle_sec = idle};
    if (ms_runtime_init(&g->rt, g->prog, &ro, g->err, sizeof(g->err)) != 0) {
        ms_say("mstream: %s", g->err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    g->ngs = g->prog->nstmts;
    g->gs = ms_xcalloc(g->ngs, sizeof(gstmt));
    for (size_t i = 0; i < g->ngs; i++)
        g->gs[i].stmt = &g->prog->stmts[i];
    if (cfg->sink) {
        ms_say("mstream: --sink cannot be used with --application-id: a batch of group mode is "
               "a Kafka transaction, and neither files nor the console are part of it; closed "
               "windows of EMIT APPEND queries go to the topic <application-id>-<query>-output "
               "instead, each once (docs/kafka.md, group mode)");
        status = MS_EXIT_USAGE;
        goto out;
    }
    rc = ms_source_prepare(cfg, g->prog, &g->spec, g->err, sizeof(g->err));
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    rc = ms_ckpt_open(cfg->checkpoint_dir, &g->ck, g->err, sizeof(g->err));
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = rc == MS_EBUSY ? MS_EXIT_BUSY : MS_EXIT_RUNTIME;
        goto out;
    }
    {
        ms_buf q = MS_BUF_INIT;
        rc = ms_ckpt_get(g->ck, "m:query", 7, &q, g->err, sizeof(g->err));
        ms_buf_free(&q);
        int fresh = rc == MS_ENOTFOUND;
        if (rc == 0 || fresh)
            rc = ms_program_bind_checkpoint(g->prog, g->ck, cfg->checkpoint_dir, g->err,
                                            sizeof(g->err));
        ms_buf b = MS_BUF_INIT;
        ms_buf_printf(&b, "kafka-group:%s:%s", cfg->application_id, g->spec.binding);
        g->binding = ms_buf_steal(&b, NULL);
        if (rc == 0)
            rc = ms_program_bind_source(g->ck, cfg->checkpoint_dir, g->binding, fresh, g->err,
                                        sizeof(g->err));
    }
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = rc == MS_EMISMATCH ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    char inst[128];
    if (cfg->group_instance_id)
        snprintf(inst, sizeof(inst), "%s", cfg->group_instance_id);
    else if ((rc = instance_id(g, inst, sizeof(inst))) != 0) {
        ms_say("mstream: %s", g->err);
        goto out;
    }
    {
        ms_buf b = MS_BUF_INIT;
        ms_buf_printf(&b, "%s-%s", cfg->application_id, inst);
        g->txn_id = ms_buf_steal(&b, NULL);
        g->gst.transactional_id = ms_xstrdup(g->txn_id);
    }
    publish(g);
    char bound[128];
    rc = ms_http_start(cfg->metrics_addr, &g->pub, &g->http, bound, sizeof(bound), g->err,
                       sizeof(g->err));
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    ms_say("mstream: serving http://%s/metrics", bound);

    g->kc = (ms_kconf){.brokers = cfg->kafka,
                       .props = (const char *const *)cfg->kafka_props,
                       .nprops = cfg->nkafka_props,
                       .timeout_ms = (int)(cfg->kafka_timeout_sec * 1000.0)};
    /* librdkafka's threads are created while our signals are blocked. */
    rc = input_partitions(g);
    if (rc == 0)
        rc = setup_topics(g);
    if (rc == 0 && !stop_requested)
        rc = ms_kreader_open(&g->kc, cfg->application_id, &g->reader, g->err, sizeof(g->err));
    if (rc == 0 && !stop_requested)
        rc = join(g);
    if (rc) {
        ms_say("mstream: %s", g->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g->st.recovery_sec = ms_now_mono() - t_start;
    g->ready = 1;
    ms_info("group %s: member of the consumer group as %s (%zu queries, internal topics of "
            "%" PRId32 " partitions)",
            cfg->application_id, g->txn_id, g->ngs, g->ngs ? g->gs[0].nq : 0);
    publish(g);
    status = stop_requested ? MS_EXIT_OK : run_loop(g);

out:
    if (g->txn && ms_ktxn_open_txn(g->txn))
        abandon(g, NULL, 0); /* nothing half-done is committed */
    if (g->http)
        ms_http_stop(g->http);
    if (status == MS_EXIT_OK || g->st.batches)
        summary(g, ms_now_mono() - t_start);
    if (stop_requested && status == MS_EXIT_OK)
        ms_info("stopped on signal; %llu transactions committed by this instance",
                (unsigned long long)g->gst.txn_committed);
    left |= ms_kmember_close(g->member);
    left |= ms_kmember_close(g->tasks);
    left |= ms_ktxn_close(g->txn);
    left |= ms_kreader_close(g->reader);
    drop_all(g);
    free_stmts(g);
    if (g->cache_wb)
        ms_ckpt_batch_free(g->cache_wb);
    ms_source_spec_free(&g->spec);
    ms_ckpt_close(g->ck);
    ms_published_destroy(&g->pub);
    ms_runtime_free(&g->rt);
    ms_sql_program_free(g->prog);
    free(g->prog_name);
    free(g->topic_parts);
    free(g->txn_id);
    free(g->binding);
    free(g->ip);
    free(g->txn_lat);
    ms_gstats_free(&g->gst);
    ms_progress_ring_free(&g->ring);
    ms_buf_free(&g->key);
    ms_buf_free(&g->val);
    ms_buf_free(&g->tmp);
    ms_buf_free(&g->meta);
    free(g);
    if (left) {
        /* librdkafka's threads would not stop (librdkafka #3007): exit now
         * rather than wait for them in exit(). */
        fflush(stdout);
        ms_log_flush();
        _exit(status);
    }
    return status;
}
