/*
 * Snapshots of the results (see ms_snapshot.h).
 */
#include "http/ms_snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"

void ms_published_init(ms_published *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->cur = NULL;
}

void ms_published_destroy(ms_published *p)
{
    if (p->cur)
        ms_snapshot_release(p->cur);
    p->cur = NULL;
    pthread_mutex_destroy(&p->lock);
}

void ms_snapshot_publish(ms_published *p, ms_snapshot *s)
{
    s->refs = 1; /* the publisher's reference */
    pthread_mutex_lock(&p->lock);
    ms_snapshot *old = p->cur;
    p->cur = s;
    pthread_mutex_unlock(&p->lock);
    if (old)
        ms_snapshot_release(old);
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

void ms_snapshot_release(ms_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < s->nq; i++) {
        ms_rowset_free(&s->q[i].rows);
        ms_rowset_free(&s->q[i].win);
        free(s->q[i].topk);
        for (size_t k = 0; k < s->q[i].nparts; k++)
            free(s->q[i].parts[k].key);
        free(s->q[i].parts);
    }
    free(s->q);
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

/* Windowed statements whose closed windows stay in the state (no
 * watermark, or COMPLETE mode): the newest window whose end is at most the
 * watermark, or with no watermark the newest window (still open). */
static void pick_window_from_state(ms_stmt_snap *q)
{
    const ms_sql_stmt *st = q->stmt;
    int64_t best = INT64_MIN;
    for (size_t i = 0; i < q->rows.n; i++) {
        int64_t start = ms_rowset_window_start(&q->rows, i);
        if (start == INT64_MIN)
            continue;
        if (st->watermark.present &&
            (q->watermark == INT64_MIN || win_end(st, start) > q->watermark))
            continue;
        if (start > best)
            best = start;
    }
    q->win_closed = st->watermark.present;
    if (best == INT64_MIN)
        return;
    q->win_start = best;
    q->win_end = win_end(st, best);
    for (size_t i = 0; i < q->rows.n; i++)
        if (ms_rowset_window_start(&q->rows, i) == best)
            ms_rowset_add_from(&q->win, &q->rows, i);
}

void ms_snapshot_set_stmt(ms_snapshot *s, size_t i, const ms_exec *x, const ms_rowset *closed,
                          int64_t closed_start, int64_t closed_end,
                          const uint64_t malformed[MS_MALFORMED_MAX], uint64_t lines)
{
    ms_stmt_snap *q = &s->q[i];
    const ms_sql_stmt *st = x->stmt;
    q->stmt = st;
    ms_rowset_init(&q->rows, x);
    ms_rowset_add_all(&q->rows, x, INT64_MIN);
    q->xs = x->st;
    memcpy(q->malformed, malformed, sizeof(q->malformed));
    q->lines = lines;
    q->state_entries = x->table.n;
    q->state_bytes = ms_table_bytes(&x->table) + x->accs_cap * sizeof(ms_acc);
    q->watermark = x->watermark;
    q->max_event = x->max_event;
    q->nparts = x->wm.n;
    q->parts = ms_xcalloc(x->wm.n ? x->wm.n : 1, sizeof(*q->parts));
    for (size_t k = 0; k < x->wm.n; k++) {
        q->parts[k].key = ms_xstrdup(x->wm.parts[k].key);
        q->parts[k].max_event = x->wm.parts[k].max_event;
        q->parts[k].idle = x->wm.parts[k].idle;
        q->parts[k].backlog = x->wm.parts[k].backlog;
    }
    q->win_start = q->win_end = INT64_MIN;

    const ms_rowset *cand = &q->rows;
    if (st->window.kind != MS_SQL_WINDOW_NONE) {
        ms_rowset_init(&q->win, x);
        int evicts = st->watermark.present && st->emit != MS_SQL_EMIT_COMPLETE;
        if (evicts) {
            q->win_closed = 1;
            if (closed && closed_start != INT64_MIN) {
                q->win_start = closed_start;
                q->win_end = closed_end;
                for (size_t r = 0; r < closed->n; r++)
                    ms_rowset_add_from(&q->win, closed, r);
            }
        } else {
            pick_window_from_state(q);
        }
        cand = &q->win;
    }
    q->ncand = cand->n;
    size_t k = s->top_k_limit < cand->n ? s->top_k_limit : cand->n;
    q->topk = ms_xmalloc((k ? k : 1) * sizeof(size_t));
    q->ntopk = ms_rowset_topk(cand, k, q->topk);
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
    ms_rowset_init(&q->rows, &layout);
    q->xs = *st;
    memcpy(q->malformed, malformed, sizeof(q->malformed));
    q->lines = lines;
    q->watermark = q->max_event = INT64_MIN;
    int first = 1;
    for (size_t k = 0; k < nx; k++) {
        const ms_exec *x = xs[k];
        ms_rowset_add_all(&q->rows, x, INT64_MIN);
        q->state_entries += x->table.n;
        q->state_bytes += ms_table_bytes(&x->table) + x->accs_cap * sizeof(ms_acc);
        /* The watermark shown is the lowest of the tasks' (none while a
         * task has none). */
        if (first || (q->watermark != INT64_MIN && x->watermark < q->watermark))
            q->watermark = x->watermark;
        first = 0;
        if (x->max_event > q->max_event)
            q->max_event = x->max_event;
    }
    /* The upstream partitions as the first task sees them. */
    const ms_exec *x0 = nx ? xs[0] : NULL;
    q->nparts = x0 ? x0->wm.n : 0;
    q->parts = ms_xcalloc(q->nparts ? q->nparts : 1, sizeof(*q->parts));
    for (size_t k = 0; k < q->nparts; k++) {
        q->parts[k].key = ms_xstrdup(x0->wm.parts[k].key);
        q->parts[k].max_event = x0->wm.parts[k].max_event;
        q->parts[k].idle = x0->wm.parts[k].idle;
        q->parts[k].backlog = x0->wm.parts[k].backlog;
    }
    q->win_start = q->win_end = INT64_MIN;
    const ms_rowset *cand = &q->rows;
    if (stmt->window.kind != MS_SQL_WINDOW_NONE) {
        ms_rowset_init(&q->win, &layout);
        if (stmt->watermark.present && stmt->emit != MS_SQL_EMIT_COMPLETE) {
            q->win_closed = 1;
            if (closed && closed_start != INT64_MIN) {
                q->win_start = closed_start;
                q->win_end = closed_end;
                for (size_t r = 0; r < closed->n; r++)
                    ms_rowset_add_from(&q->win, closed, r);
            }
        } else {
            pick_window_from_state(q);
        }
        cand = &q->win;
    }
    q->ncand = cand->n;
    size_t k = s->top_k_limit < cand->n ? s->top_k_limit : cand->n;
    q->topk = ms_xmalloc((k ? k : 1) * sizeof(size_t));
    q->ntopk = ms_rowset_topk(cand, k, q->topk);
    ms_exec_free(&layout);
}

void ms_snapshot_sort_rows(ms_snapshot *s, ms_stmt_snap *q)
{
    pthread_mutex_lock(&s->sort_lock);
    if (!q->sorted) {
        ms_rowset_sort(&q->rows);
        /* Unwindowed statements export the top-K of rows: the first ntopk
         * in the same order. */
        if (q->stmt->window.kind == MS_SQL_WINDOW_NONE)
            for (size_t i = 0; i < q->ntopk; i++)
                q->topk[i] = i;
        q->sorted = 1;
    }
    pthread_mutex_unlock(&s->sort_lock);
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
