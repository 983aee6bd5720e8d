/*
 * Snapshots of the results (see ms_snapshot.h).
 */
#include "http/ms_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

void ms_published_init(ms_published *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->cur = NULL;
    p->nretained = 0;
}

void ms_published_destroy(ms_published *p)
{
    if (p->cur)
        ms_snapshot_release(p->cur);
    p->cur = NULL;
    for (size_t i = 0; i < p->nretained; i++)
        ms_snapshot_release(p->retained[i]);
    p->nretained = 0;
    pthread_mutex_destroy(&p->lock);
}

void ms_snapshot_publish(ms_published *p, ms_snapshot *s)
{
    s->refs = 1; /* the publisher's reference */
    double now = ms_now_mono();
    ms_snapshot *drop[MS_SNAPSHOT_RETAINED + 1];
    size_t ndrop = 0;
    pthread_mutex_lock(&p->lock);
    ms_snapshot *old = p->cur;
    p->cur = s;
    /* Retained snapshots whose pin ran out go; a pinned old one stays (the
     * least recently pinned makes room). */
    size_t k = 0;
    for (size_t i = 0; i < p->nretained; i++) {
        if (p->retained[i]->pinned_until > now)
            p->retained[k++] = p->retained[i];
        else
            drop[ndrop++] = p->retained[i];
    }
    p->nretained = k;
    if (old && old->pinned_until > now) {
        if (p->nretained == MS_SNAPSHOT_RETAINED) {
            size_t lru = 0;
            for (size_t i = 1; i < p->nretained; i++)
                if (p->retained[i]->pinned_until < p->retained[lru]->pinned_until)
                    lru = i;
            drop[ndrop++] = p->retained[lru];
            p->retained[lru] = p->retained[--p->nretained];
        }
        p->retained[p->nretained++] = old;
        old = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (old)
        ms_snapshot_release(old);
    for (size_t i = 0; i < ndrop; i++)
        ms_snapshot_release(drop[i]);
}

ms_snapshot *ms_snapshot_acquire(ms_published *p)
{
    pthread_mutex_lock(&p->lock);
    ms_snapshot *s = p->cur;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&p->lock);
    return s;
}

ms_snapshot *ms_snapshot_acquire_batch(ms_published *p, int64_t batch_id)
{
    pthread_mutex_lock(&p->lock);
    ms_snapshot *s = NULL;
    if (p->cur && (batch_id < 0 || p->cur->stats.last_batch_id == batch_id))
        s = p->cur;
    for (size_t i = 0; !s && i < p->nretained; i++)
        if (p->retained[i]->stats.last_batch_id == batch_id)
            s = p->retained[i];
    if (s) {
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
        s->pinned_until = ms_now_mono() + MS_SNAPSHOT_PIN_SEC;
    }
    pthread_mutex_unlock(&p->lock);
    return s;
}

void ms_snapshot_release(ms_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < s->nq; i++) {
        ms_rowset_free(&s->q[i].rows);
        ms_rowset_free(&s->q[i].top);
        free(s->q[i].topk);
        for (size_t k = 0; k < s->q[i].nparts; k++)
            free(s->q[i].parts[k].key);
        free(s->q[i].parts);
        ms_exec_hist_free(s->q[i].hist);
    }
    free(s->q);
    ms_ckpt_snapshot_release(s->csnap);
    free(s->status_json);
    if (s->has_kafka)
        ms_kafkasrc_stats_free(&s->kafka);
    if (s->has_group)
        ms_gstats_free(&s->group);
    pthread_mutex_destroy(&s->sort_lock);
    free(s);
}

ms_snapshot *ms_snapshot_new(size_t nq, size_t k)
{
    ms_snapshot *s = ms_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->sort_lock, NULL);
    s->top_k_limit = k;
    s->nq = nq;
    s->q = ms_xcalloc(nq ? nq : 1, sizeof(ms_stmt_snap));
    return s;
}

static int64_t win_end(const ms_sql_stmt *st, int64_t start)
{
    return start > INT64_MAX - st->window.size_us ? INT64_MAX : start + st->window.size_us;
}

/* The window a windowed statement whose windows stay in the state (no
 * watermark, or COMPLETE mode) exports: the newest whose end is at most
 * the watermark, or with no watermark the newest (still open).  INT64_MIN:
 * no such window (yet) -- and the largest start it may have otherwise. */
static int64_t max_window_start(const ms_stmt_snap *q)
{
    const ms_sql_stmt *st = q->stmt;
    if (!st->watermark.present)
        return INT64_MAX;
    if (q->watermark == INT64_MIN || q->watermark < INT64_MIN + st->window.size_us)
        return INT64_MIN;
    return q->watermark - st->window.size_us;
}

/* How choose_top treats the candidates. */
enum { TOP_KEEP_K, TOP_KEEP_ALL, TOP_SORTED };

/* Exports the top-K of q->top (already holding the candidates, in result
 * order once sorted; TOP_SORTED: in result order already). */
static void choose_top(ms_snapshot *s, ms_stmt_snap *q, int how)
{
    q->ncand = q->top.n;
    if (how == TOP_KEEP_ALL)
        ms_rowset_sort(&q->top);
    else if (how == TOP_KEEP_K)
        ms_rowset_keep_top(&q->top, s->top_k_limit);
    free(q->topk);
    size_t k = q->top.n < s->top_k_limit ? q->top.n : s->top_k_limit;
    q->topk = ms_xmalloc((k ? k : 1) * sizeof(size_t));
    for (size_t i = 0; i < k; i++)
        q->topk[i] = i;
    q->ntopk = k;
}

/* The watermark's upstream partitions, as executor x sees them. */
static void copy_parts(ms_stmt_snap *q, const ms_exec *x)
{
    q->nparts = x ? x->wm.n : 0;
    q->parts = ms_xcalloc(q->nparts ? q->nparts : 1, sizeof(*q->parts));
    for (size_t k = 0; k < q->nparts; k++) {
        q->parts[k].key = ms_xstrdup(x->wm.parts[k].key);
        q->parts[k].max_event = x->wm.parts[k].max_event;
        q->parts[k].idle = x->wm.parts[k].idle;
        q->parts[k].backlog = x->wm.parts[k].backlog;
    }
}

/* An APPEND statement's result: the rows of the latest window closed
 * (none yet: INT64_MIN). */
static void export_closed(ms_stmt_snap *q, const ms_rowset *closed, int64_t start, int64_t end)
{
    q->win_closed = 1;
    if (!closed || start == INT64_MIN)
        return;
    q->win_start = start;
    q->win_end = end;
    for (size_t r = 0; r < closed->n; r++)
        ms_rowset_add_from(&q->top, closed, r);
}

void ms_snapshot_set_stmt(ms_snapshot *s, size_t i, const ms_exec *x, const ms_rowset *closed,
                          int64_t closed_start, int64_t closed_end,
                          const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines)
{
    ms_stmt_snap *q = &s->q[i];
    const ms_sql_stmt *st = x->stmt;
    q->stmt = st;
    ms_exec_decoder(&q->dec, x);
    q->ck = x->ck;
    ms_rowset_init(&q->rows, x);
    ms_rowset_init(&q->top, x);
    q->xs = x->st;
    memcpy(q->malformed, malformed, sizeof(q->malformed));
    q->lines = lines;
    q->groups = ms_exec_groups(x);
    q->state_entries = q->groups;
    q->state_bytes = ms_exec_memory(x);
    q->cache_entries = x->table.n;
    q->cache_complete = x->table.complete;
    q->memory_limit = x->memory;
    q->watermark = x->watermark;
    q->max_event = x->max_event;
    copy_parts(q, x);
    q->win_start = q->win_end = INT64_MIN;
    if (!q->ck) /* memory only: every row, for the full table */
        ms_rowset_add_all(&q->rows, x, INT64_MIN);

    if (st->window.kind == MS_SQL_WINDOW_NONE) {
        if (q->ck) {
            /* the executor's top rows (at least --top-k), in result order:
             * also the first rows of /api/v1/results */
            ms_exec_foreach_top(x, ms_rowset_add_cb, &q->top);
            q->top_exact = 1;
            choose_top(s, q, TOP_SORTED);
            return;
        }
        for (size_t r = 0; r < q->rows.n; r++)
            ms_rowset_add_from(&q->top, &q->rows, r);
    } else if (st->watermark.present && st->emit != MS_SQL_EMIT_COMPLETE) {
        export_closed(q, closed, closed_start, closed_end);
    } else {
        q->win_closed = st->watermark.present;
        if (q->ck) {
            q->win_from_ckpt = 1; /* read when attached, once durable */
        } else {
            int64_t best = ms_exec_newest_window_mem(x, max_window_start(q));
            if (best != INT64_MIN && max_window_start(q) != INT64_MIN) {
                q->win_start = best;
                q->win_end = win_end(st, best);
                ms_exec_window_rows_mem(x, best, ms_rowset_add_cb, &q->top);
            }
        }
    }
    choose_top(s, q, TOP_KEEP_K);
}

void ms_snapshot_attach(ms_snapshot *s, ms_ckpt *ck)
{
    if (!ck || s->csnap)
        return;
    s->csnap = ms_ckpt_snapshot(ck);
    ms_ckpt_get_stats(ck, &s->ckstats);
    for (size_t i = 0; i < s->nq; i++) {
        ms_stmt_snap *q = &s->q[i];
        if (q->ck) {
            /* this statement's state and index records on disk */
            ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
            for (int k = 0; k < 2; k++) {
                ms_buf_reset(&lo);
                ms_buf_putc(&lo, k ? 'r' : 's');
                ms_buf_putc(&lo, ':');
                ms_buf_puts(&lo, q->stmt->name);
                ms_buf_putc(&lo, ':');
                ms_buf_reset(&hi);
                ms_buf_append(&hi, lo.data, lo.len);
                hi.data[hi.len - 1] = ':' + 1;
                q->disk_bytes += ms_ckpt_range_bytes(ck, lo.data, lo.len, hi.data, hi.len);
            }
            ms_buf_free(&lo);
            ms_buf_free(&hi);
        }
        if (!q->win_from_ckpt)
            continue;
        char err[2048];
        int64_t max = max_window_start(q), best = INT64_MIN;
        int rc = max == INT64_MIN
                     ? 0
                     : ms_exec_newest_window(&q->dec, ck, s->csnap, max, &best, err, sizeof(err));
        if (rc == 0 && best != INT64_MIN) {
            q->win_start = best;
            q->win_end = win_end(q->stmt, best);
            ms_rowset_clear(&q->top);
            rc = ms_exec_window_rows(&q->dec, ck, s->csnap, best, ms_rowset_add_cb, &q->top, err,
                                     sizeof(err));
            choose_top(s, q, TOP_KEEP_K);
        }
        if (rc)
            ms_warn("query %s: reading its newest window for /metrics failed: %s", q->stmt->name,
                    err);
    }
}

/* Memory-only rows in the order asked for (1 result, 2 key); under the
 * sort lock. */
static void sort_rows_locked(ms_stmt_snap *q, int order)
{
    if (q->sorted == order)
        return;
    if (order == 1)
        ms_rowset_sort(&q->rows);
    else
        ms_rowset_sort_key(&q->rows);
    q->sorted = order;
}

void ms_snapshot_set_stmt_parts(ms_snapshot *s, size_t i, const ms_sql_stmt *stmt,
                                const ms_exec *const *xs, size_t nx, const ms_exec_stats *st,
                                const ms_rowset *closed, int64_t closed_start, int64_t closed_end,
                                const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines)
{
    ms_stmt_snap *q = &s->q[i];
    q->stmt = stmt;
    ms_exec layout; /* only its statement and key layout: for the rowsets */
    ms_exec_init(&layout, stmt);
    ms_exec_decoder(&q->dec, &layout);
    q->ck = NULL; /* the tasks' state is in memory (and in the changelog) */
    ms_rowset_init(&q->rows, &layout);
    ms_rowset_init(&q->top, &layout);
    q->xs = *st;
    memcpy(q->malformed, malformed, sizeof(q->malformed));
    q->lines = lines;
    q->watermark = q->max_event = INT64_MIN;
    q->cache_complete = 1;
    int first = 1;
    for (size_t k = 0; k < nx; k++) {
        const ms_exec *x = xs[k];
        ms_rowset_add_all(&q->rows, x, INT64_MIN);
        q->groups += ms_exec_groups(x);
        q->state_bytes += ms_exec_memory(x);
        q->cache_entries += x->table.n;
        /* The watermark shown is the lowest of the tasks' (none while a
         * task has none). */
        if (first || (q->watermark != INT64_MIN && x->watermark < q->watermark))
            q->watermark = x->watermark;
        first = 0;
        if (x->max_event > q->max_event)
            q->max_event = x->max_event;
    }
    q->state_entries = q->groups;
    copy_parts(q, nx ? xs[0] : NULL); /* the upstream partitions as the first task sees them */
    q->win_start = q->win_end = INT64_MIN;
    if (stmt->window.kind == MS_SQL_WINDOW_NONE) {
        for (size_t r = 0; r < q->rows.n; r++)
            ms_rowset_add_from(&q->top, &q->rows, r);
    } else if (stmt->watermark.present && stmt->emit != MS_SQL_EMIT_COMPLETE) {
        export_closed(q, closed, closed_start, closed_end);
    } else {
        /* The newest window over all tasks, and its rows from each. */
        q->win_closed = stmt->watermark.present;
        int64_t max = max_window_start(q), best = INT64_MIN;
        for (size_t k = 0; k < nx && max != INT64_MIN; k++) {
            int64_t b = ms_exec_newest_window_mem(xs[k], max);
            if (b != INT64_MIN && (best == INT64_MIN || b > best))
                best = b;
        }
        if (best != INT64_MIN) {
            q->win_start = best;
            q->win_end = win_end(stmt, best);
            for (size_t k = 0; k < nx; k++)
                ms_exec_window_rows_mem(xs[k], best, ms_rowset_add_cb, &q->top);
        }
    }
    choose_top(s, q, TOP_KEEP_K);
    ms_exec_free(&layout);
}

void ms_snapshot_sort_rows(ms_snapshot *s, ms_stmt_snap *q)
{
    pthread_mutex_lock(&s->sort_lock);
    sort_rows_locked(q, 1);
    pthread_mutex_unlock(&s->sort_lock);
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (an > bn) - (an < bn);
}

int ms_snapshot_page(ms_snapshot *s, ms_stmt_snap *q, int by_key, const uint8_t *after,
                     size_t after_len, uint64_t offset, size_t limit, ms_rowset *out, char *errstr,
                     size_t errsz)
{
    if (q->ck && !s->csnap) {
        snprintf(errstr, errsz, "results of query %s are not available yet (recovering)",
                 q->stmt->name);
        return MS_EINVAL;
    }
    if (q->ck && by_key)
        return ms_exec_page_keys(&q->dec, q->ck, s->csnap, after, after_len, offset, limit,
                                 ms_rowset_add_cb, out, errstr, errsz);
    if (q->ck) {
        if (q->top_exact && (offset + limit <= q->top.n || q->top.n >= q->groups)) {
            for (uint64_t i = offset; i < q->top.n && i < offset + limit; i++)
                ms_rowset_add_from(out, &q->top, (size_t)i);
            return 0;
        }
        pthread_mutex_lock(&s->sort_lock); /* the histogram cache */
        int rc = ms_exec_page(&q->dec, q->ck, s->csnap, &q->hist, offset, limit, ms_rowset_add_cb,
                              out, errstr, errsz);
        pthread_mutex_unlock(&s->sort_lock);
        return rc;
    }
    /* memory only: every row is in the snapshot */
    pthread_mutex_lock(&s->sort_lock);
    sort_rows_locked(q, by_key ? 2 : 1);
    size_t i = 0;
    if (by_key && after) {
        while (i < q->rows.n) {
            ms_exec_row r;
            ms_rowset_row(&q->rows, i, &r);
            if (key_cmp(r.key, r.klen, after, after_len) > 0)
                break;
            i++;
        }
    }
    for (i += offset; i < q->rows.n && limit; i++, limit--)
        ms_rowset_add_from(out, &q->rows, i);
    pthread_mutex_unlock(&s->sort_lock);
    return 0;
}

ms_stmt_snap *ms_snapshot_find(ms_snapshot *s, const char *name)
{
    if (!s->nq)
        return NULL;
    if (!name)
        return &s->q[0];
    for (size_t i = 0; i < s->nq; i++)
        if (strcmp(s->q[i].stmt->name, name) == 0)
            return &s->q[i];
    return NULL;
}
