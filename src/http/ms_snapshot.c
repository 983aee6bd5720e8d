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
    free(s->rows);
    free(s->keys);
    free(s->topk);
    free(s->status_json);
    pthread_mutex_destroy(&s->sort_lock);
    free(s);
}

int ms_result_cmp(const ms_result_row *a, const ms_result_row *b)
{
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = n ? memcmp(a->key, b->key, n) : 0;
    if (c)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static int cmp_rows(const void *a, const void *b)
{
    return ms_result_cmp(a, b);
}

/* Min-heap on the "worst" row at the root, for top-k selection. */
static void heap_sift_down(ms_result_row *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ms_result_cmp(&h[l], &h[w]) > 0)
            w = l;
        if (r < n && ms_result_cmp(&h[r], &h[w]) > 0)
            w = r;
        if (w == i)
            return;
        ms_result_row t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

ms_snapshot *ms_snapshot_build(const ms_agg *agg, size_t k)
{
    ms_snapshot *s = ms_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->sort_lock, NULL);
    s->query = agg->def;
    s->top_k_limit = k;
    const ms_table *t = &agg->table;
    s->nrows = t->n;
    s->rows = ms_xmalloc((t->n ? t->n : 1) * sizeof(ms_result_row));
    /* Short keys live inside the table's slots, which move: copy them all. */
    size_t keybytes = 0;
    for (size_t i = 0; i < t->nslots; i++)
        if (ms_entry_used(&t->slots[i]))
            keybytes += t->slots[i].klen;
    s->keys = ms_xmalloc(keybytes ? keybytes : 1);
    size_t r = 0, off = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e))
            continue;
        if (e->klen)
            memcpy(s->keys + off, ms_entry_key(e), e->klen);
        s->rows[r].key = s->keys + off;
        s->rows[r].klen = e->klen;
        s->rows[r].value = e->value;
        off += e->klen;
        r++;
    }
    size_t kk = k < t->n ? k : t->n;
    s->topk = ms_xmalloc((kk ? kk : 1) * sizeof(ms_result_row));
    if (kk) {
        /* Heap of the kk best so far, worst at the root. */
        memcpy(s->topk, s->rows, kk * sizeof(ms_result_row));
        for (size_t i = kk / 2; i-- > 0;)
            heap_sift_down(s->topk, kk, i);
        for (size_t i = kk; i < t->n; i++) {
            if (ms_result_cmp(&s->rows[i], &s->topk[0]) < 0) {
                s->topk[0] = s->rows[i];
                heap_sift_down(s->topk, kk, 0);
            }
        }
        qsort(s->topk, kk, sizeof(ms_result_row), cmp_rows);
    }
    s->ntopk = kk;
    return s;
}

void ms_snapshot_sort_rows(ms_snapshot *s)
{
    pthread_mutex_lock(&s->sort_lock);
    if (!s->sorted) {
        qsort(s->rows, s->nrows, sizeof(ms_result_row), cmp_rows);
        s->sorted = 1;
    }
    pthread_mutex_unlock(&s->sort_lock);
}
