/*
 * The micro-batch loop and the commit protocol (docs/design.md §2).
 *
 *      ┌────────── wait for the trigger (poll: inotify, signals, timer) ◀──────────┐
 *      ▼                                                                           │
 *   PLAN   source chooses byte/offset ranges, capped; "m:plan:<id>" synced         │
 *      │   ── failpoint after_plan                                                 │
 *   RUN    read exactly the planned ranges → every statement's parser → its        │
 *      │   executor (ms_runtime.h: one fan-out feeds all statements)               │
 *      │   ── failpoint after_read                                                 │
 *   SINK   json sink files of the batch, written atomically (ms_sink.h)            │
 *      │   ── failpoint after_sink                                                 │
 *   COMMIT ONE RocksDB write batch, sync=true: every statement's changed and       │
 *      │   evicted state entries and watermark, new file positions,                │
 *      │   "b:<id>" + "m:last" batch record, delete "m:plan:<id>";                 │
 *      │   written by the committer thread while this thread reads batch id+1      │
 *      │   ── failpoint after_commit                                               │
 *   PUBLISH swap the snapshot the HTTP thread serves ──────────────────────────────┘
 *
 * Pipelining (ms_committer.h): once batch N's write batch is built, its
 * changes are captured, so the in-memory positions and dirty marks move on
 * and the results snapshot of N is taken; the committer thread makes N
 * durable while this thread plans and reads N+1.  Once N+1 is read, this
 * thread waits for N and publishes N's snapshot (with a RocksDB snapshot
 * taken then: the durable state of N, which /api/v1/results pages), and
 * only then builds N+1's write batch: the state is RocksDB with a cache
 * over it (query/ms_exec.h), so the commit of N+1 reads what N left.  At
 * most one commit is in flight, commits happen in batch order, and a
 * failed commit stops the engine before anything later is committed.
 *
 * The program: --query names a query file (ms_program.h) of one or more
 * statements; it is parsed before anything else (a parse error exits 2)
 * and its canonical text is bound to the checkpoint ("m:query"), so a
 * restart with a query that would read the state differently is refused.
 *
 * Beside each statement's state ("s:<stmt>:..." and "w:<stmt>", ms_exec.h)
 * the commit that closes windows records the top-K rows of the latest
 * closed window ("c:<stmt>"), which /metrics shows and which left the state.
 *
 * State memory: --state-memory is split a quarter for RocksDB (ms_ckpt.h)
 * and the rest between the statements' caches (ms_exec_limits).  A batch
 * whose changes outgrow its statement's share makes the executor fail and
 * raise `stop_requested`: the read ends, the batch is not committed, and
 * the engine exits 1 with the executor's sentence.
 *
 * Recovery: positions, watermarks and each statement's totals (group count
 * and top-K) are loaded from the checkpoint, not the state, so a restart
 * costs what changed, not the state's size; a plan whose
 * batch id is last+1 was persisted but never committed, and is re-run as is,
 * so the batch reads exactly the same input and nothing is counted twice.
 * A plan for last+2 (written while commit last+1 was in flight) was never
 * committed or published either; it is dropped and planned afresh.
 *
 * Sources (ms_source.h): the engine drives its one source through an ops
 * table and knows nothing of files or Kafka: the plan is opaque beyond its
 * batch id, the source persists its own positions in the commit, and one
 * loop waits on what the source says (a descriptor to poll, a time to try
 * again).  The checkpoint records which source its positions belong to
 * ("m:source", ms_program_bind_source); another source or other topics
 * are refused (exit 2).  Read errors: interrupted (stop) abandons the
 * batch; data loss the user asked to fail on, corrupt records and
 * permanent source errors exit 1.
 *
 * Signals: SIGINT/SIGTERM set `stop`; a batch being planned or read is
 * abandoned (nothing of it is committed; a Kafka plan or read waiting for
 * unreachable brokers notices `stop` too) and the process exits 0.  Signals are blocked
 * in every thread but this one (RocksDB's and libmicrohttpd's threads are
 * created while they are blocked).
 */
#include "engine/ms_engine.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ms_failpoint.h"
#include "core/ms_log.h"
#include "engine/ms_committer.h"
#include "engine/ms_group.h"
#include "engine/ms_progress.h"
#include "http/ms_http.h"
#include "http/ms_procstat.h"
#include "http/ms_snapshot.h"
#include "mstream/mstream.h"
#include "engine/ms_program.h"
#include "engine/ms_rowset.h"
#include "engine/ms_runtime.h"
#include "sink/ms_sink.h"
#include "source/ms_sources.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec.h"

#define BATCH_HISTORY    100 /* batch records kept in the checkpoint */
#define IDLE_PUBLISH_SEC 1.0 /* while idle, the counters are republished this often */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

const double ms_hist_commit_bounds[MS_HIST_BUCKETS] = {0.0005, 0.001, 0.002, 0.004, 0.008,
                                                       0.016,  0.032, 0.064, 0.128, 0.256,
                                                       0.512,  1.024, 2.048, 4.096, 8.192};
const double ms_hist_batch_bounds[MS_HIST_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

void ms_hist_observe(ms_hist *h, double v)
{
    for (int i = 0; i < MS_HIST_BUCKETS; i++) {
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

/* Per statement: what outlives one commit of its executor. */
typedef struct stmt_out {
    ms_rowset closed; /* rows of the latest window the watermark closed (for /metrics) */
    int64_t closed_start, closed_end;
    ms_rowset batch; /* sink output of the batch being run */
} stmt_out;

typedef struct ms_engine {
    const ms_config *cfg;
    ms_sql_program *prog;
    char *prog_name; /* the query file's stem */
    ms_runtime rt;
    stmt_out *out;          /* rt.n */
    ms_rowset **batch_rows; /* &out[i].batch, for the sinks */
    ms_sink *sink;
    ms_ckpt *ck;
    ms_source_spec spec; /* which source, its checkpoint binding and description */
    ms_source src;
    double last_publish;
    ms_published pub;
    ms_http *http;
    ms_stats st;
    ms_progress_ring ring;
    ms_committer committer;
    struct pending_batch {
        int active;        /* submitted to the committer, not yet waited for */
        ms_progress pr;    /* progress record, completed when durable */
        ms_batch_rec rec;  /* the batch record it commits */
        ms_snapshot *snap; /* results as of this batch, published when durable */
        ms_buf console;    /* console sink output, printed when published */
        size_t wb_bytes, wb_keys;
        double t_start, t_built;
    } pend;
    int ready;
    int healthy_published; /* the source's health as the last snapshot showed it */
    double last_trigger_wall;
    double *commit_lat; /* seconds, for the exit summary percentiles */
    size_t ncommit, capcommit;
    ms_buf key, val;
    char err[2048]; /* a damaged checkpoint's sentence names two paths */
} ms_engine;

/* ---------------------------------------------------------------- publish */

static uint64_t state_entries(const ms_engine *e)
{
    uint64_t n = 0;
    for (size_t i = 0; i < e->rt.n; i++)
        n += ms_exec_groups(&e->rt.st[i].x);
    return n;
}

/* The results of every statement as they are now. */
static ms_snapshot *build_snapshot(ms_engine *e)
{
    ms_snapshot *s = ms_snapshot_new(e->rt.n, (size_t)e->cfg->top_k);
    s->program = e->prog_name;
    for (size_t i = 0; i < e->rt.n; i++) {
        const ms_stmt_rt *r = &e->rt.st[i];
        const stmt_out *o = &e->out[i];
        uint64_t malformed[MS_MALFORMED_MAX];
        ms_exec_malformed(&r->x, malformed);
        ms_snapshot_set_stmt(s, i, &r->x, &o->closed, o->closed_start, o->closed_end, malformed,
                             r->parser->lines + r->records);
    }
    return s;
}

/* Whether the source can read (the watched directory exists, ...). */
static int source_healthy(ms_engine *e)
{
    return !e->src.ops || !e->src.ops->healthy || e->src.ops->healthy(e->src.self);
}

/* Fills a snapshot's counters and status from the engine's current view and
 * swaps it in.  s holds the results as of the last durable batch. */
static void publish_snapshot(ms_engine *e, ms_snapshot *s)
{
    e->st.state_entries = 0;
    e->st.state_bytes = 0;
    e->st.agg_rows = 0;
    e->st.late_rows = 0;
    memset(e->st.malformed, 0, sizeof(e->st.malformed));
    for (size_t i = 0; i < s->nq; i++) {
        const ms_stmt_snap *q = &s->q[i];
        e->st.state_entries += q->state_entries;
        e->st.state_bytes += q->state_bytes;
        e->st.agg_rows += q->xs.rows_agg;
        e->st.late_rows += q->xs.rows_late;
        for (int r = 0; r < MS_MALFORMED_MAX; r++)
            e->st.malformed[r] += q->malformed[r];
    }
    if (e->src.ops) {
        ms_source_stats ss;
        e->src.ops->stats(e->src.self, &ss);
        if (ss.has_dir)
            e->st.src = ss.dir;
        if (ss.has_kafka) {
            s->has_kafka = 1;
            s->kafka = ss.kafka; /* the snapshot owns it now */
        }
    }
    /* The batch is durable now: the snapshot reads the checkpoint as of it. */
    ms_snapshot_attach(s, e->ck);
    e->last_publish = ms_now_mono();
    e->healthy_published = source_healthy(e);
    s->ready = e->ready && e->healthy_published;
    s->stats = e->st;
    ms_buf b = MS_BUF_INIT;
    ms_progress_render_status(&b, e->prog_name, e->cfg->input_dir, e->spec.desc,
                              e->cfg->checkpoint_dir, s->ready, &e->st, s, &e->ring);
    s->status_json = ms_buf_steal(&b, NULL);
    ms_snapshot_publish(&e->pub, s);
}

/* ms_exec_limits.wait_durable: a statement's cache is full of entries the
 * commit in flight still pins. */
static void wait_commit(void *ud)
{
    ms_engine *e = ud;
    ms_committer_wait_idle(&e->committer);
}

/* Publishes the current state; only when no commit is in flight (the
 * tables then hold exactly the durable results). */
static void publish(ms_engine *e)
{
    publish_snapshot(e, build_snapshot(e));
}

/* ---------------------------------------------------- latest closed window */

/* The rows of the latest window a statement closed (its best
 * max(--top-k, MS_EXEC_RESULTS_TOP)) are what /metrics shows for it and
 * /api/v1/results' "closedWindow"; they left the state, so they are kept in the checkpoint beside
 * it
 * ("c:<statement>", written in the commit that closed the window) and come
 * back at restart.  Value: version 1, zig-zag start and end, varint row
 * count, per row varint key length + key + per aggregate zig-zag a and n. */
static void closed_key(ms_buf *k, const char *stmt)
{
    ms_buf_reset(k);
    ms_buf_append(k, "c:", 2);
    ms_buf_puts(k, stmt);
}

static void put_zz(ms_buf *b, int64_t v)
{
    ms_codec_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int get_zz(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t z;
    if (ms_codec_get_varint(p, end, &z))
        return -1;
    *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

static void put_closed(ms_engine *e, ms_ckpt_batch *wb, const ms_exec *x, const stmt_out *o)
{
    ms_buf_reset(&e->val);
    ms_buf_putc(&e->val, 1);
    put_zz(&e->val, o->closed_start);
    put_zz(&e->val, o->closed_end);
    ms_codec_put_varint(&e->val, o->closed.n);
    for (size_t r = 0; r < o->closed.n; r++) {
        ms_exec_row row;
        ms_rowset_row(&o->closed, r, &row);
        ms_codec_put_varint(&e->val, row.klen);
        ms_buf_append(&e->val, row.key, row.klen);
        for (size_t j = 0; j < x->stmt->naggs; j++) {
            put_zz(&e->val, row.accs[j].a);
            put_zz(&e->val, row.accs[j].n);
        }
    }
    closed_key(&e->key, x->stmt->name);
    ms_ckpt_batch_put(wb, e->key.data, e->key.len, e->val.data, e->val.len);
}

static int load_closed(ms_engine *e, const ms_exec *x, stmt_out *o)
{
    ms_buf v = MS_BUF_INIT;
    closed_key(&e->key, x->stmt->name);
    int rc = ms_ckpt_get(e->ck, e->key.data, e->key.len, &v, e->err, sizeof(e->err));
    if (rc == MS_ENOTFOUND) {
        ms_buf_free(&v);
        return 0;
    }
    if (rc) {
        ms_buf_free(&v);
        return rc;
    }
    const uint8_t *p = (const uint8_t *)v.data, *end = p + v.len;
    size_t na = x->stmt->naggs;
    ms_acc *accs = ms_xcalloc(na ? na : 1, sizeof(ms_acc));
    uint64_t n = 0;
    int64_t start = 0, wend = 0;
    rc = p < end && *p++ == 1 && !get_zz(&p, end, &start) && !get_zz(&p, end, &wend) &&
                 !ms_codec_get_varint(&p, end, &n)
             ? 0
             : MS_ECORRUPT;
    for (uint64_t r = 0; rc == 0 && r < n; r++) {
        uint64_t kl;
        if (ms_codec_get_varint(&p, end, &kl) || kl > (uint64_t)(end - p)) {
            rc = MS_ECORRUPT;
            break;
        }
        const uint8_t *key = p;
        p += kl;
        for (size_t j = 0; j < na && rc == 0; j++)
            if (get_zz(&p, end, &accs[j].a) || get_zz(&p, end, &accs[j].n))
                rc = MS_ECORRUPT;
        if (rc)
            break;
        ms_exec_row row = {.key = key, .klen = (size_t)kl, .accs = accs};
        row.count_only = accs[0];
        ms_rowset_add(&o->closed, &row);
    }
    if (rc == 0 && p != end)
        rc = MS_ECORRUPT;
    if (rc == 0) {
        o->closed_start = start;
        o->closed_end = wend;
    } else {
        ms_rowset_clear(&o->closed);
        snprintf(e->err, sizeof(e->err),
                 "checkpoint %s holds a corrupt record of query %s's latest closed window",
                 e->cfg->checkpoint_dir, x->stmt->name);
    }
    free(accs);
    ms_buf_free(&v);
    return rc;
}

/* ------------------------------------------------------------------ batch */

enum { BATCH_OK = 0, BATCH_ABANDONED = 1, BATCH_FATAL = -1 };

/* Waits for the commit in flight, if any, then completes its bookkeeping
 * and publishes its snapshot.  BATCH_FATAL if the commit failed. */
static int finish_commit(ms_engine *e)
{
    struct pending_batch *pb = &e->pend;
    if (!pb->active)
        return BATCH_OK;
    double commit_s = 0;
    int rc = ms_committer_wait(&e->committer, &commit_s, e->err, sizeof(e->err));
    pb->active = 0;
    if (rc != 0) {
        ms_error("commit of batch %llu failed: %s. Stopping: the batch is either wholly durable "
                 "(RocksDB may have logged it before the sync failed) or not at all; a restart "
                 "resumes from the last durable commit (batch %lld or %llu), so nothing is "
                 "lost or counted twice",
                 (unsigned long long)pb->rec.batch_id, e->err, (long long)e->st.last_batch_id,
                 (unsigned long long)pb->rec.batch_id);
        ms_snapshot_release(pb->snap);
        pb->snap = NULL;
        return BATCH_FATAL;
    }
    ms_failpoint("after_commit");
    double now = ms_now_mono();
    ms_progress *pr = &pb->pr;
    pr->ms_commit = (now - pb->t_built) * 1e3;

    e->st.batches++;
    e->st.replayed += pr->replayed != 0;
    e->st.last_batch_id = (int64_t)pb->rec.batch_id;
    e->st.last_commit_wall = (double)pb->rec.commit_ms / 1000.0;
    e->st.input_rows += pr->rows;
    e->st.input_bytes += pr->bytes;
    e->st.input_files += pr->files;
    e->st.commit_bytes_total += pb->wb_bytes;
    e->st.commit_keys_total += pb->wb_keys;
    ms_hist_observe(&e->st.commit_dur, commit_s);
    if (e->ncommit == e->capcommit && e->capcommit < (1u << 22)) {
        e->capcommit = e->capcommit ? e->capcommit * 2 : 256;
        e->commit_lat = ms_xrealloc(e->commit_lat, e->capcommit * sizeof(double));
    }
    if (e->ncommit < e->capcommit)
        e->commit_lat[e->ncommit++] = commit_s;

    double since_last = e->last_trigger_wall > 0 ? pr->timestamp - e->last_trigger_wall : 0;
    e->last_trigger_wall = pr->timestamp;
    double total = now - pb->t_start;
    pr->input_rps = since_last > 0 ? (double)pr->rows / since_last : 0;
    pr->processed_rps = total > 0 ? (double)pr->rows / total : 0;
    e->st.last_input_rps = pr->input_rps;
    e->st.last_processed_rps = pr->processed_rps;
    pr->ms_total = total * 1e3;
    ms_hist_observe(&e->st.batch_dur, total);
    ms_progress_push(&e->ring, pr);
    ms_progress_log(&e->ring, pr, e->cfg->progress_sec);
    ms_snapshot *s = pb->snap;
    pb->snap = NULL;
    publish_snapshot(e, s);
    if (pb->console.len) {
        fwrite(pb->console.data, 1, pb->console.len, stdout);
        fflush(stdout);
        ms_buf_reset(&pb->console);
    }
    ms_debug("batch %lld: %llu rows, %llu bytes, %llu files, %zu groups updated, commit %zu "
             "bytes in %.3f ms",
             (long long)pr->batch_id, (unsigned long long)pr->rows, (unsigned long long)pr->bytes,
             (unsigned long long)pr->files, pr->state_updated, pb->wb_bytes, commit_s * 1e3);
    return BATCH_OK;
}

/* The plan of one batch: the source's (opaque) plan and its batch id. */
typedef struct batch_plan {
    uint64_t id;
    void *p; /* the source's; NULL: none */
} batch_plan;

static void bp_free(ms_engine *e, batch_plan *bp)
{
    if (bp->p)
        e->src.ops->plan_free(bp->p);
    bp->p = NULL;
}

static size_t bp_n(const ms_engine *e, const batch_plan *bp)
{
    return bp->p ? e->src.ops->plan_ranges(bp->p) : 0;
}

/* Reads exactly the planned input into the statements.  BATCH_OK,
 * BATCH_ABANDONED (stop requested) or BATCH_FATAL (logged). */
static int read_planned(ms_engine *e, const batch_plan *bp, uint64_t *rows, uint64_t *bytes)
{
    uint64_t rows0 = ms_runtime_rows(&e->rt);
    ms_read_stats rs = {0, 0};
    int rc = e->src.ops->read(e->src.self, bp->p, ms_runtime_input(&e->rt), &stop_requested, &rs,
                              e->err, sizeof(e->err));
    if (rc == MS_EINVAL && stop_requested)
        return BATCH_ABANDONED;
    if (rc != 0) {
        ms_error("batch %llu failed: %s", (unsigned long long)bp->id, e->err);
        return BATCH_FATAL;
    }
    *rows = ms_runtime_rows(&e->rt) - rows0;
    *bytes = rs.bytes;
    return BATCH_OK;
}

/* A statement's executor failed during the batch (its memory bound, a
 * state read): the batch is not committed; say why. */
static int state_failed(ms_engine *e, uint64_t batch_id)
{
    for (size_t i = 0; i < e->rt.n; i++) {
        if (ms_exec_failed(&e->rt.st[i].x, e->err, sizeof(e->err))) {
            ms_error("batch %llu not committed: %s", (unsigned long long)batch_id, e->err);
            return 1;
        }
    }
    return 0;
}

static int run_batch(ms_engine *e, batch_plan *bp, int replayed, double t_start, double plan_ms)
{
    ms_progress pr;
    memset(&pr, 0, sizeof(pr));
    pr.timestamp = ms_now_wall();
    pr.replayed = replayed;
    pr.ms_plan = plan_ms;
    double t = ms_now_mono();

    if (!replayed) {
        /* Batch ids follow the last commit, including one still in flight. */
        int64_t last = e->pend.active ? (int64_t)e->pend.rec.batch_id : e->st.last_batch_id;
        bp->id = (uint64_t)(last + 1);
        ms_buf_reset(&e->val);
        e->src.ops->plan_encode(bp->p, bp->id, pr.timestamp, &e->val);
        ms_buf_reset(&e->key);
        ms_codec_key_plan(&e->key, bp->id);
        if (ms_ckpt_put_sync(e->ck, e->key.data, e->key.len, e->val.data, e->val.len, e->err,
                             sizeof(e->err)) != 0) {
            ms_error("persisting the plan of batch %llu failed: %s", (unsigned long long)bp->id,
                     e->err);
            return BATCH_FATAL;
        }
        ms_failpoint("after_plan");
    }
    const uint64_t batch_id = bp->id;
    pr.batch_id = (int64_t)batch_id;
    double t2 = ms_now_mono();
    pr.ms_plan_sync = (t2 - t) * 1e3;

    /* Run: read exactly the planned ranges. */
    uint64_t rows = 0, bytes = 0;
    int rrc = read_planned(e, bp, &rows, &bytes);
    if (state_failed(e, batch_id))
        return BATCH_FATAL; /* the state's memory bound, or a state read (it stopped the read) */
    if (rrc == BATCH_ABANDONED)
        ms_info("batch %llu abandoned on request: nothing of it is committed; it is re-run "
                "at the next start",
                (unsigned long long)batch_id);
    if (rrc != BATCH_OK)
        return rrc;
    ms_failpoint("after_read");
    double t3 = ms_now_mono();
    pr.ms_read = (t3 - t2) * 1e3;
    pr.rows = rows;
    pr.bytes = bytes;

    /* The previous batch's commit completes first: this batch's changes
     * are resolved against, and its closed windows read from, the state
     * RocksDB holds, which must be that batch's (query/ms_exec.h). */
    if (finish_commit(e) != BATCH_OK)
        return BATCH_FATAL;
    for (size_t i = 0; i < e->rt.n; i++)
        (void)ms_exec_prepare(&e->rt.st[i].x, NULL, 0);
    if (state_failed(e, batch_id))
        return BATCH_FATAL;

    /* Commit: one synced write batch for every statement. */
    int sinks = e->sink != NULL;
    if (sinks)
        for (size_t i = 0; i < e->rt.n; i++) {
            ms_rowset_clear(&e->out[i].batch);
            if (e->rt.st[i].stmt->emit == MS_SQL_EMIT_UPDATE)
                ms_rowset_add_changed(&e->out[i].batch, &e->rt.st[i].x);
        }
    ms_ckpt_batch *wb = ms_ckpt_batch_for(e->ck);
    size_t updated = 0;
    const ms_part_info *parts = NULL;
    size_t nparts = e->src.ops->partitions(e->src.self, &parts);
    double now = ms_now_mono();
    for (size_t i = 0; i < e->rt.n; i++)
        ms_exec_set_sources(&e->rt.st[i].x, parts, nparts, now);
    int sink_failed = 0;
    for (size_t i = 0; i < e->rt.n; i++) {
        ms_exec *x = &e->rt.st[i].x;
        stmt_out *o = &e->out[i];
        size_t u = ms_exec_commit(x, wb);
        updated += u;
        if (i < MS_PROGRESS_STMTS)
            pr.stmt[i].updated = u;
        if (x->nclosed) {
            /* The latest closed window's rows stay on /metrics until the
             * next window closes. */
            ms_rowset all;
            ms_rowset_init(&all, x);
            ms_exec_foreach_closed(x, ms_rowset_add_cb, &all);
            ms_rowset_clear(&o->closed);
            for (size_t r = 0; r < all.n; r++)
                if (ms_rowset_window_start(&all, r) == x->last_closed_start)
                    ms_rowset_add_from(&o->closed, &all, r);
            /* /metrics shows the top-K of them, /api/v1/results' first
             * page up to MS_EXEC_RESULTS_TOP: memory stays bounded. */
            size_t keep = (size_t)e->cfg->top_k > MS_EXEC_RESULTS_TOP ? (size_t)e->cfg->top_k
                                                                      : MS_EXEC_RESULTS_TOP;
            ms_rowset_keep_top(&o->closed, keep);
            o->closed_start = x->last_closed_start;
            o->closed_end = x->last_closed_end;
            put_closed(e, wb, x, o);
            if (sinks && x->stmt->emit == MS_SQL_EMIT_APPEND)
                for (size_t r = 0; r < all.n; r++)
                    ms_rowset_add_from(&o->batch, &all, r);
            ms_rowset_free(&all);
        }
        if (sinks && x->stmt->emit == MS_SQL_EMIT_COMPLETE &&
            ms_rowset_add_all(&o->batch, x, INT64_MIN) != 0)
            sink_failed = 1; /* logged: a sink file would lack rows */
    }
    if (state_failed(e, batch_id) || sink_failed) {
        ms_ckpt_batch_free(wb);
        return BATCH_FATAL;
    }
    size_t nfiles = e->src.ops->commit(e->src.self, bp->p, wb); /* files or partitions read */
    ms_batch_rec rec = {.batch_id = batch_id,
                        .commit_ms = (uint64_t)(ms_now_wall() * 1000.0),
                        .rows = pr.rows,
                        .bytes = bytes,
                        .files = nfiles};
    ms_buf_reset(&e->val);
    ms_codec_encode_batch(&e->val, &rec);
    ms_buf_reset(&e->key);
    ms_codec_key_batch(&e->key, batch_id);
    ms_ckpt_batch_put(wb, e->key.data, e->key.len, e->val.data, e->val.len);
    ms_ckpt_batch_put(wb, "m:last", 6, e->val.data, e->val.len);
    if (batch_id >= BATCH_HISTORY) {
        ms_buf_reset(&e->key);
        ms_codec_key_batch(&e->key, batch_id - BATCH_HISTORY);
        ms_ckpt_batch_delete(wb, e->key.data, e->key.len);
    }
    ms_buf_reset(&e->key);
    ms_codec_key_plan(&e->key, batch_id);
    ms_ckpt_batch_delete(wb, e->key.data, e->key.len);

    /* Console output is rendered now (the rows change with the next
     * batch) and printed once this batch is published. */
    ms_buf console = MS_BUF_INIT;
    if (sinks)
        ms_sink_render_console(e->sink, batch_id, e->batch_rows, &console);

    /* One commit in flight at a time, in batch order (the previous one
     * completed above). */

    /* Sink files once the previous batch is durable, before this one is
     * committed (ms_sink.h: idempotent per batch id). */
    if (ms_sink_has_json(e->sink)) {
        int rc = ms_sink_write_json(e->sink, batch_id, e->batch_rows, e->err, sizeof(e->err));
        if (rc != 0) {
            ms_error("batch %llu not committed: %s", (unsigned long long)batch_id, e->err);
            ms_ckpt_batch_free(wb);
            ms_buf_free(&console);
            return BATCH_FATAL;
        }
        ms_failpoint("after_sink");
    }

    /* The write batch holds this batch's changes: positions and dirty marks
     * move on (the next plan starts where this one ends), and the results
     * as of this batch are captured for publishing once it is durable. */
    e->src.ops->committed(e->src.self, bp->p);
    for (size_t i = 0; i < e->rt.n; i++)
        ms_exec_committed(&e->rt.st[i].x);
    pr.files = nfiles;
    pr.state_updated = updated;
    pr.state_total = state_entries(e);
    pr.state_bytes = 0;
    for (size_t i = 0; i < e->rt.n; i++) {
        const ms_exec *x = &e->rt.st[i].x;
        size_t b = ms_exec_memory(x);
        pr.state_bytes += b;
        if (i < MS_PROGRESS_STMTS) {
            pr.stmt[i].name = x->stmt->name;
            pr.stmt[i].total = ms_exec_groups(x);
            pr.stmt[i].bytes = b;
            pr.stmt[i].late = x->st.rows_late;
            pr.stmt[i].evicted = x->st.evicted;
            pr.stmt[i].watermark = x->watermark;
            pr.stmt[i].max_event = x->max_event;
            pr.nstmts_listed = i + 1;
        }
    }
    pr.commit_bytes = ms_ckpt_batch_bytes(wb);
    for (size_t i = 0; i < bp_n(e, bp) && pr.nfiles_listed < MS_PROGRESS_FILES; i++) {
        size_t k = pr.nfiles_listed++;
        ms_plan_range r;
        e->src.ops->plan_range(bp->p, i, &r);
        snprintf(pr.file[k].name, sizeof(pr.file[k].name), "%s", r.name ? r.name : "");
        pr.file[k].partition = r.partition;
        pr.file[k].start = r.start;
        pr.file[k].end = r.end;
        pr.kafka |= r.partition >= 0;
    }
    struct pending_batch *pb = &e->pend;
    pb->pr = pr;
    pb->rec = rec;
    pb->wb_bytes = ms_ckpt_batch_bytes(wb);
    pb->wb_keys = ms_ckpt_batch_count(wb);
    pb->t_start = t_start;
    pb->snap = build_snapshot(e);
    ms_buf_free(&pb->console);
    pb->console = console;
    pb->t_built = ms_now_mono();
    pb->active = 1;
    ms_committer_submit(&e->committer, wb);
    return BATCH_OK;
}

/* --------------------------------------------------------------- recovery */

struct plan_scan {
    ms_engine *e;
    uint64_t want; /* last committed + 1 */
    batch_plan *plan;
    int found;
    ms_buf stale; /* keys of plans to delete, each varint length + bytes */
};

static int scan_plan(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct plan_scan *ps = ud;
    /* A plan of another source is refused as corrupt (its version byte
     * differs), never misread. */
    batch_plan p = {0, NULL};
    const ms_source_ops *ops = ps->e->src.ops;
    if (ops->plan_decode(v, vl, &p.p, &p.id) != 0)
        return MS_ECORRUPT;
    if (!ps->found && p.id == ps->want) {
        *ps->plan = p;
        ps->found = 1;
        return 0;
    }
    bp_free(ps->e, &p);
    ms_codec_put_varint(&ps->stale, kl);
    ms_buf_append(&ps->stale, k, kl);
    return 0;
}

/* Loads m:last and the pending plans; returns 1 and fills *plan if a batch
 * must be re-run. */
static int recover_batches(ms_engine *e, batch_plan *plan)
{
    ms_buf v = MS_BUF_INIT;
    e->st.last_batch_id = -1;
    int rc = ms_ckpt_get(e->ck, "m:last", 6, &v, e->err, sizeof(e->err));
    if (rc == 0) {
        ms_batch_rec rec;
        if (ms_codec_decode_batch((const uint8_t *)v.data, v.len, &rec) != 0) {
            snprintf(e->err, sizeof(e->err), "checkpoint %s: the last batch record is corrupt",
                     e->cfg->checkpoint_dir);
            ms_buf_free(&v);
            return MS_ECORRUPT;
        }
        e->st.last_batch_id = (int64_t)rec.batch_id;
        e->st.last_commit_wall = (double)rec.commit_ms / 1000.0;
    } else if (rc != MS_ENOTFOUND) {
        ms_buf_free(&v);
        return rc;
    }
    ms_buf_free(&v);

    /* Plans: "m:plan:<id>" (and "m:plan" from older checkpoints). */
    struct plan_scan ps = {.e = e, .want = (uint64_t)(e->st.last_batch_id + 1), .plan = plan};
    rc = ms_ckpt_scan(e->ck, "m:plan", 6, scan_plan, &ps, e->err, sizeof(e->err));
    if (rc == MS_ECORRUPT)
        snprintf(e->err, sizeof(e->err), "checkpoint %s: a pending plan record is corrupt",
                 e->cfg->checkpoint_dir);
    if (rc == 0 && ps.stale.len) {
        /* Plans that will not be re-run (see the top of this file). */
        ms_ckpt_batch *wb = ms_ckpt_batch_new();
        const uint8_t *p = (const uint8_t *)ps.stale.data, *end = p + ps.stale.len;
        uint64_t kl;
        while (p < end && ms_codec_get_varint(&p, end, &kl) == 0 && kl <= (uint64_t)(end - p)) {
            ms_ckpt_batch_delete(wb, p, (size_t)kl);
            p += kl;
        }
        rc = ms_ckpt_commit(e->ck, wb, e->err, sizeof(e->err));
        ms_ckpt_batch_free(wb);
    }
    ms_buf_free(&ps.stale);
    if (rc != 0) {
        if (ps.found)
            bp_free(e, plan);
        return rc;
    }
    return ps.found;
}

/* ------------------------------------------------------------------- loop */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)ceil(p * (double)n) - 1;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static void print_summary(ms_engine *e, double elapsed)
{
    if (e->ncommit)
        qsort(e->commit_lat, e->ncommit, sizeof(double), cmp_double);
    /* One line per statement (what a batch/ETL run did with the rows), then
     * the engine's line, last (scripts read the last 'summary' line).
     * Written to `out`, then through ms_say(), as everything on stderr. */
    ms_say_lines sl;
    FILE *out = ms_say_lines_open(&sl);
    for (size_t i = 0; i < e->rt.n; i++) {
        const ms_stmt_rt *r = &e->rt.st[i];
        const ms_exec_stats *xs = &r->x.st;
        fprintf(out,
                "summary query=%s rows_in=%llu rows_aggregated=%llu rows_filtered=%llu "
                "rows_late=%llu rows_no_event_time=%llu windows_closed=%llu evicted=%llu "
                "state_entries=%zu state_in_memory=%zu state_memory_bytes=%zu cache_lookups=%llu "
                "cache_misses=%llu state_reads=%llu cache_evictions=%llu",
                r->stmt->name, (unsigned long long)xs->rows_in, (unsigned long long)xs->rows_agg,
                (unsigned long long)xs->rows_filtered, (unsigned long long)xs->rows_late,
                (unsigned long long)xs->rows_no_time, (unsigned long long)xs->windows_closed,
                (unsigned long long)xs->evicted, (size_t)ms_exec_groups(&r->x), r->x.table.n,
                ms_exec_memory(&r->x), (unsigned long long)r->x.table.lookups,
                (unsigned long long)r->x.table.inserts, (unsigned long long)xs->state_reads,
                (unsigned long long)r->x.table.evictions);
        uint64_t malformed[MS_MALFORMED_MAX];
        ms_exec_malformed(&r->x, malformed);
        for (int m = 0; m < MS_MALFORMED_MAX; m++)
            if (malformed[m])
                fprintf(out, " malformed_%s=%llu", ms_malformed_name((enum ms_malformed)m),
                        (unsigned long long)malformed[m]);
        fputc('\n', out);
    }
    fprintf(out,
            "summary batches=%llu input_rows=%llu input_bytes=%llu elapsed_sec=%.3f "
            "commit_ms_p50=%.3f commit_ms_p95=%.3f commit_ms_p99=%.3f commit_ms_max=%.3f "
            "peak_rss_kb=%ld state_entries=%llu",
            (unsigned long long)e->st.batches, (unsigned long long)e->st.input_rows,
            (unsigned long long)e->st.input_bytes, elapsed,
            pct(e->commit_lat, e->ncommit, 0.50) * 1e3, pct(e->commit_lat, e->ncommit, 0.95) * 1e3,
            pct(e->commit_lat, e->ncommit, 0.99) * 1e3, pct(e->commit_lat, e->ncommit, 1.0) * 1e3,
            ms_procstat_peak_rss_kb(), (unsigned long long)state_entries(e));
    ms_source_stats ss;
    memset(&ss, 0, sizeof(ss));
    if (e->src.ops)
        e->src.ops->stats(e->src.self, &ss);
    if (ss.has_kafka) {
        const ms_kafkasrc_stats k = ss.kafka;
        uint64_t lag = 0;
        for (size_t i = 0; i < k.npart; i++)
            lag += (uint64_t)k.parts[i].lag;
        fprintf(out,
                " kafka_messages=%llu kafka_partitions=%zu kafka_lag=%llu "
                "kafka_transient_errors=%llu kafka_data_loss_events=%llu kafka_offsets_lost=%llu",
                (unsigned long long)k.messages, k.npart, (unsigned long long)lag,
                (unsigned long long)k.transient_errors, (unsigned long long)k.data_loss_events,
                (unsigned long long)k.offsets_lost);
    }
    ms_source_stats_free(&ss);
    fputc('\n', out);
    ms_say_lines_close(&sl);
}

/* Waits until the monotonic deadline, a stop request, or (when wake_early)
 * the source's descriptor says input may have arrived and the source
 * agrees.  The batch in flight is made durable and visible first: nothing
 * else is to be done meanwhile.  While idle the counters are republished
 * now and then.  BATCH_FATAL if the commit in flight failed. */
static int wait_for(ms_engine *e, double deadline, int wake_early)
{
    const ms_source_ops *ops = e->src.ops;
    for (;;) {
        double now = ms_now_mono();
        if (stop_requested)
            return BATCH_OK;
        if (now >= deadline)
            return BATCH_OK;
        if (finish_commit(e) != BATCH_OK)
            return BATCH_FATAL;
        double until = deadline;
        double pub = e->last_publish + IDLE_PUBLISH_SEC;
        if (pub < until)
            until = pub > now ? pub : now;
        int timeout = (int)ceil((until - now) * 1000.0);
        if (timeout > 1000)
            timeout = 1000;
        struct pollfd pfd = {.fd = ops->wait_fd(e->src.self), .events = POLLIN};
        int n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, timeout);
        if (n < 0 && errno != EINTR) {
            ms_error("poll: %s", strerror(errno));
            return BATCH_FATAL;
        }
        if (n > 0)
            ops->wake(e->src.self);
        /* Source gauges (pending bytes, lag, rejections) stay fresh, and a
         * source that stops or starts being able to read shows at once. */
        if (ms_now_mono() - e->last_publish >= IDLE_PUBLISH_SEC ||
            source_healthy(e) != e->healthy_published)
            publish(e);
        if (wake_early && n > 0 && ops->has_new(e->src.self))
            return BATCH_OK;
    }
}

/* The micro-batch loop (see the top of the file).  When to plan:
 *   --available-now   at once, until the source is drained (a plan with
 *                     nothing in it waits for the source's next check: a
 *                     broker not reached yet is asked again);
 *   --trigger-sec T   on the interval grid (a late batch starts the next
 *                     at once);
 *   --trigger-sec 0   at once after a batch; after a plan that found
 *                     nothing, when the source says input may have arrived
 *                     (inotify) or at its next check (a directory rescan,
 *                     a broker poll). */
static int run_loop(ms_engine *e)
{
    const ms_config *cfg = e->cfg;
    const ms_source_ops *ops = e->src.ops;
    ms_source_limits lim = {(uint64_t)cfg->max_files_per_trigger,
                            (uint64_t)cfg->max_bytes_per_trigger,
                            (uint64_t)cfg->max_offsets_per_trigger};
    double next_trigger = ms_now_mono();
    int again = 1; /* plan at once after start-up and after a batch */
    while (!stop_requested) {
        int w = BATCH_OK;
        if (cfg->available_now) {
            if (ops->drained(e->src.self))
                break;
            if (!again)
                w = wait_for(e, ops->next_check(e->src.self), 0);
        } else if (cfg->trigger_sec > 0) {
            w = wait_for(e, next_trigger, 0);
            double k = floor((ms_now_mono() - next_trigger) / cfg->trigger_sec) + 1;
            next_trigger += (k < 1 ? 1 : k) * cfg->trigger_sec;
        } else if (!again) {
            w = wait_for(e, ops->next_check(e->src.self), 1);
            if (w == BATCH_OK && !stop_requested && !ops->has_new(e->src.self))
                continue;
        }
        if (w != BATCH_OK)
            return MS_EXIT_RUNTIME;
        if (stop_requested)
            break;
        double t0 = ms_now_mono();
        batch_plan plan = {0, NULL};
        int rc = ops->plan(e->src.self, &lim, &plan.p, &stop_requested, e->err, sizeof(e->err));
        if (rc == MS_EINVAL && stop_requested)
            break; /* interrupted: nothing was persisted for it */
        if (rc != 0) {
            ms_error("planning failed: %s", e->err);
            return MS_EXIT_RUNTIME;
        }
        double plan_ms = (ms_now_mono() - t0) * 1e3;
        if (bp_n(e, &plan) == 0) {
            bp_free(e, &plan);
            again = 0;
            if (source_healthy(e) != e->healthy_published && finish_commit(e) == BATCH_OK)
                publish(e);
            continue;
        }
        rc = run_batch(e, &plan, 0, t0, plan_ms);
        bp_free(e, &plan);
        if (rc == BATCH_FATAL)
            return MS_EXIT_RUNTIME;
        if (rc == BATCH_ABANDONED)
            break;
        again = 1;
    }
    if (finish_commit(e) != BATCH_OK)
        return MS_EXIT_RUNTIME;
    if (cfg->available_now && !stop_requested) {
        if (e->st.src.pending_bytes)
            ms_warn("available-now: %llu bytes after the last newline of some files were not "
                    "consumed (a line is complete only once its newline is written)",
                    (unsigned long long)e->st.src.pending_bytes);
        ms_info("available-now: all available input processed, last batch %lld",
                (long long)e->st.last_batch_id);
    }
    return MS_EXIT_OK;
}

/* The program's name for the status document: the query file's stem. */
static char *program_name(const char *path, const char *query)
{
    const char *p = path ? path : query;
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

int ms_engine_run(const ms_config *cfg)
{
    if (cfg->application_id)
        return ms_group_run(cfg); /* several processes: docs/design.md §9 */
    double t_start = ms_now_mono();
    ms_engine *e = ms_xcalloc(1, sizeof(*e));
    e->cfg = cfg;
    e->st.start_wall = ms_now_wall();
    e->st.trigger_sec = cfg->trigger_sec;
    e->st.last_batch_id = -1;
    e->st.batch_dur.bounds = ms_hist_batch_bounds;
    e->st.commit_dur.bounds = ms_hist_commit_bounds;
    ms_published_init(&e->pub);
    ms_progress_ring_init(&e->ring, (size_t)cfg->status_batches);
    ms_failpoint_init();
    int status = MS_EXIT_RUNTIME;
    batch_plan replay_plan = {0, NULL};

    /* Threads created from here on (RocksDB, libmicrohttpd) never take our signals. */
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

    /* The query first: one that does not parse is refused before anything
     * else is touched. */
    int rc = ms_program_load(cfg->query_path, &e->prog, e->err, sizeof(e->err));
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = MS_EXIT_USAGE; /* does not parse, or cannot be read */
        goto out;
    }
    e->prog_name = program_name(cfg->query_path, cfg->query);
    double idle = cfg->watermark_idle_sec;
    if (idle <= 0)
        idle = 3 * cfg->trigger_sec > MS_WM_IDLE_DEFAULT_SEC ? 3 * cfg->trigger_sec
                                                             : MS_WM_IDLE_DEFAULT_SEC;
    ms_runtime_opts ro = {.max_word_bytes = (size_t)cfg->max_word_bytes,
                          .max_record_bytes = (size_t)cfg->max_record_bytes,
                          .watermark_idle_sec = idle};
    if (ms_runtime_init(&e->rt, e->prog, &ro, e->err, sizeof(e->err)) != 0) {
        ms_say("mstream: %s", e->err);
        status = MS_EXIT_USAGE;
        goto out;
    }
    e->out = ms_xcalloc(e->rt.n, sizeof(stmt_out));
    e->batch_rows = ms_xcalloc(e->rt.n, sizeof(ms_rowset *));
    for (size_t i = 0; i < e->rt.n; i++) {
        ms_rowset_init(&e->out[i].closed, &e->rt.st[i].x);
        ms_rowset_init(&e->out[i].batch, &e->rt.st[i].x);
        e->out[i].closed_start = e->out[i].closed_end = INT64_MIN;
        e->batch_rows[i] = &e->out[i].batch;
    }
    if (cfg->sink) {
        rc = ms_sink_open(cfg->sink, e->prog, &e->sink, e->err, sizeof(e->err));
        if (rc) {
            ms_say("mstream: %s", e->err);
            status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            goto out;
        }
    }

    /* What the source will read, checked before the checkpoint is touched. */
    rc = ms_source_prepare(cfg, e->prog, &e->spec, e->err, sizeof(e->err));
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = MS_EXIT_USAGE;
        goto out;
    }

    /* --state-memory: a quarter for RocksDB, the rest split between the
     * statements' caches (query/ms_exec.h). */
    rc = ms_ckpt_open_mem(cfg->checkpoint_dir, (uint64_t)cfg->state_memory / 4, &e->ck, e->err,
                          sizeof(e->err));
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EBUSY ? MS_EXIT_BUSY : MS_EXIT_RUNTIME;
        goto out;
    }
    if (ms_committer_start(&e->committer, e->ck) != 0) {
        ms_say("mstream: cannot start the committer thread");
        goto out;
    }
    {
        ms_buf q = MS_BUF_INIT;
        rc = ms_ckpt_get(e->ck, "m:query", 7, &q, e->err, sizeof(e->err));
        ms_buf_free(&q);
        int fresh = rc == MS_ENOTFOUND;
        if (rc == 0 || fresh)
            rc = ms_program_bind_checkpoint(e->prog, e->ck, cfg->checkpoint_dir, e->err,
                                            sizeof(e->err));
        if (rc == 0)
            rc = ms_program_bind_source(e->ck, cfg->checkpoint_dir, e->spec.binding, fresh, e->err,
                                        sizeof(e->err));
    }
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EMISMATCH ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    publish(e); /* not ready yet: /readyz answers 503 during recovery */
    char bound[128];
    rc = ms_http_start(cfg->metrics_addr, &e->pub, &e->http, bound, sizeof(bound), e->err,
                       sizeof(e->err));
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    ms_say("mstream: serving http://%s/metrics", bound);

    /* The source's positions; its threads (librdkafka's) are created here,
     * while signals are blocked. */
    rc = ms_source_open(cfg, &e->spec, e->ck, &e->src, e->err, sizeof(e->err));
    if (rc) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    /* Recovery: state, positions, the last batch, a plan left uncommitted. */
    for (size_t i = 0; i < e->rt.n; i++) {
        ms_exec_limits lim = {
            .memory = ((uint64_t)cfg->state_memory - (uint64_t)cfg->state_memory / 4) / e->rt.n,
            .stop = &stop_requested,
            .durable = &e->committer.ndurable,
            .wait_durable = wait_commit,
            .wait_ud = e,
            /* the top rows kept also serve the first page of /api/v1/results */
            .top_k = cfg->top_k > MS_EXEC_RESULTS_TOP ? (size_t)cfg->top_k : MS_EXEC_RESULTS_TOP};
        ms_exec_set_limits(&e->rt.st[i].x, &lim);
    }
    for (size_t i = 0; i < e->rt.n && rc == 0; i++) {
        rc = ms_exec_load(&e->rt.st[i].x, e->ck, e->err, sizeof(e->err));
        if (rc == 0)
            rc = load_closed(e, &e->rt.st[i].x, &e->out[i]);
    }
    if (rc != 0) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    int replay = recover_batches(e, &replay_plan);
    if (replay < 0) {
        ms_say("mstream: %s", e->err);
        goto out;
    }
    if (replay &&
        (rc = e->src.ops->replan(e->src.self, replay_plan.p, e->err, sizeof(e->err))) != 0) {
        ms_say("mstream: %s", e->err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto out;
    }
    e->st.recovery_sec = ms_now_mono() - t_start;
    e->ready = 1;
    ms_info("recovered from %s in %.3fs: last committed batch %lld, %zu groups of state%s",
            cfg->checkpoint_dir, e->st.recovery_sec, (long long)e->st.last_batch_id,
            (size_t)state_entries(e), replay ? "; re-running the uncommitted batch" : "");
    publish(e);

    if (replay) {
        ms_info("re-running batch %llu exactly as planned (%zu ranges of the %s source)",
                (unsigned long long)replay_plan.id, bp_n(e, &replay_plan), e->src.ops->name);
        double t0 = ms_now_mono();
        rc = run_batch(e, &replay_plan, 1, t0, 0);
        if (rc == BATCH_FATAL)
            goto out;
        if (rc == BATCH_ABANDONED) {
            status = MS_EXIT_OK;
            goto out;
        }
        /* Published before new input is planned, so that it is visible
         * on its own. */
        if (finish_commit(e) != BATCH_OK)
            goto out;
    }
    status = run_loop(e);

out:
    /* A commit in flight completes (or fails) before anything is torn down. */
    if (e->pend.active && finish_commit(e) != BATCH_OK)
        status = MS_EXIT_RUNTIME;
    ms_committer_stop(&e->committer);
    if (e->pend.snap)
        ms_snapshot_release(e->pend.snap);
    if (e->http)
        ms_http_stop(e->http);
    if (status == MS_EXIT_OK || e->st.batches)
        print_summary(e, ms_now_mono() - t_start);
    if (stop_requested && status == MS_EXIT_OK)
        ms_info("stopped on signal; last committed batch %lld", (long long)e->st.last_batch_id);
    if (replay_plan.p)
        bp_free(e, &replay_plan);
    int left = ms_source_close(&e->src);
    ms_source_spec_free(&e->spec);
    ms_published_destroy(&e->pub); /* releases its checkpoint snapshot */
    ms_ckpt_close(e->ck);
    ms_buf_free(&e->pend.console);
    for (size_t i = 0; e->out && i < e->rt.n; i++) {
        ms_rowset_free(&e->out[i].closed);
        ms_rowset_free(&e->out[i].batch);
    }
    free(e->out);
    free(e->batch_rows);
    ms_sink_close(e->sink);
    ms_runtime_free(&e->rt);
    ms_sql_program_free(e->prog);
    free(e->prog_name);
    ms_progress_ring_free(&e->ring);
    ms_buf_free(&e->key);
    ms_buf_free(&e->val);
    free(e->commit_lat);
    free(e);
    if (left) {
        /* A source's threads would not stop (librdkafka #3007): exit now
         * rather than wait for them in exit(). */
        ms_log_flush();
        _exit(status);
    }
    return status;
}
