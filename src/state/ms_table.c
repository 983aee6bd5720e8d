/*
 * The state table and its cache policy (see ms_table.h).
 */
#include "state/ms_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/ms_log.h"

#define ARENA_BLOCK (1u << 20)
#define MIN_SLOTS   1024u

_Static_assert(sizeof(ms_entry) == 32, "ms_entry must stay 32 bytes");

struct ms_arena_block {
    struct ms_arena_block *next;
    size_t used, cap;
    uint8_t data[];
};

uint64_t ms_hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

#define HUGE_PAGE (2u << 20)

static ms_entry *alloc_slots(size_t n)
{
    size_t bytes = n * sizeof(ms_entry);
    ms_entry *s;
    if (bytes >= HUGE_PAGE) {
        /* A lookup is one random slot access, so with millions of slots the
         * TLB miss costs as much as the cache miss.  Transparent huge pages
         * (when the kernel offers them on request) remove most of it. */
        s = aligned_alloc(HUGE_PAGE, bytes);
        if (s)
            (void)madvise(s, bytes, MADV_HUGEPAGE);
    } else {
        s = aligned_alloc(64, bytes);
    }
    if (!s)
        s = ms_xmalloc(bytes);
    for (size_t i = 0; i < n; i++)
        s[i].klen = MS_TABLE_EMPTY;
    return s;
}

void ms_table_init(ms_table *t)
{
    memset(t, 0, sizeof(*t));
    t->nslots = MIN_SLOTS;
    t->slots = alloc_slots(t->nslots);
    t->epoch = 1;
    t->complete = 1;
}

static void free_arena(struct ms_arena_block *b)
{
    while (b) {
        struct ms_arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void ms_table_free(ms_table *t)
{
    free_arena(t->arena);
    free(t->slots);
    free(t->dirty);
    memset(t, 0, sizeof(*t));
}

void ms_table_set_limit(ms_table *t, size_t bytes, size_t dirty_bytes, size_t dirty_cost)
{
    t->limit = bytes;
    t->dirty_limit = dirty_bytes;
    t->dirty_cost = dirty_cost;
    /* Growing to S slots holds S/2 + S slots for a moment. */
    size_t s = MIN_SLOTS;
    while (bytes && (s * 2) * sizeof(ms_entry) * 3 / 2 <= bytes)
        s *= 2;
    t->max_slots = bytes ? s : 0;
}

uint64_t ms_table_durable(const ms_table *t)
{
    if (!t->durable)
        return t->epoch - 1;
    uint64_t c = __atomic_load_n(t->durable, __ATOMIC_ACQUIRE);
    return c > t->epoch_base ? c - t->epoch_base : 0;
}

size_t ms_table_bytes(const ms_table *t)
{
    return t->nslots * sizeof(ms_entry) + t->arena_bytes + t->dirty_cap * sizeof(ms_dirty) +
           t->extra_bytes;
}

size_t ms_table_dirty_bytes(const ms_table *t)
{
    /* Each changed key is copied into the write batch (whose buffer may
     * be twice its size) and into the memtable. */
    return t->ndirty * t->dirty_cost + 4 * t->dirty_key_bytes;
}

static void set_over(ms_table *t)
{
    if (t->over)
        return;
    t->over = 1;
    if (t->on_over)
        t->on_over(t->over_ud);
}

/* ------------------------------------------------------------- keys */

static void compact_arena(ms_table *t);

static const uint8_t *arena_copy(ms_table *t, const uint8_t *key, size_t n)
{
    struct ms_arena_block *b = t->arena;
    if ((!b || b->cap - b->used < n) && t->arena_bytes > 2 * t->arena_live + ARENA_BLOCK) {
        /* a new block, while evicted keys' garbage is as big as the keys */
        compact_arena(t);
        b = t->arena;
    }
    t->arena_live += n;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        struct ms_arena_block *nb = ms_xmalloc(sizeof(*nb) + cap);
        nb->cap = cap;
        nb->used = 0;
        t->arena_bytes += cap;
        if (b && cap != ARENA_BLOCK) {
            /* A big key gets a block of its own; the current block keeps filling. */
            nb->next = b->next;
            b->next = nb;
            memcpy(nb->data, key, n);
            nb->used = n;
            return nb->data;
        }
        nb->next = b;
        t->arena = nb;
        b = nb;
    }
    uint8_t *dst = b->data + b->used;
    memcpy(dst, key, n);
    b->used += n;
    return dst;
}

/* Copies the keys still in use into fresh blocks: evicted and deleted
 * keys leave garbage behind. */
static void compact_arena(ms_table *t)
{
    struct ms_arena_block *old = t->arena;
    t->arena = NULL;
    t->arena_bytes = 0;
    t->arena_live = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->klen <= MS_TABLE_INLINE)
            continue;
        const uint8_t *p = arena_copy(t, ms_entry_key(e), e->klen);
        memcpy(e->key, &p, sizeof(p));
    }
    free_arena(old);
}

static inline int key_eq(const ms_entry *e, uint32_t h, const uint8_t *key, size_t klen)
{
    return e->hash == h && e->klen == klen && memcmp(ms_entry_key(e), key, klen) == 0;
}

/* The slot holding key (*found = 1), or where it would be inserted: the
 * first tombstone on its probe path, else the empty slot ending it. */
static inline size_t probe(const ms_table *t, const uint8_t *key, size_t klen, uint32_t h,
                           int *found)
{
    size_t mask = t->nslots - 1;
    size_t pos = h & mask, tomb = SIZE_MAX;
    for (;;) {
        const ms_entry *e = &t->slots[pos];
        if (e->klen == MS_TABLE_EMPTY) {
            *found = 0;
            return tomb != SIZE_MAX ? tomb : pos;
        }
        if (key_eq(e, h, key, klen)) {
            *found = 1;
            return pos;
        }
        if (e->klen == MS_TABLE_TOMB && tomb == SIZE_MAX)
            tomb = pos;
        pos = (pos + 1) & mask;
    }
}

/* ------------------------------------------------------- dirty records */

static void push_dirty(ms_table *t, size_t slot, uint32_t flags)
{
    if (t->ndirty == t->dirty_cap) {
        t->dirty_cap = t->dirty_cap ? t->dirty_cap * 2 : 1024;
        t->dirty = ms_xrealloc(t->dirty, t->dirty_cap * sizeof(ms_dirty));
    }
    ms_dirty *d = &t->dirty[t->ndirty++];
    d->slot = (uint32_t)slot;
    d->flags = flags;
}

ms_dirty *ms_table_touch(ms_table *t, ms_entry *e, uint32_t flags)
{
    if (e->epoch == t->epoch)
        return NULL;
    e->epoch = t->epoch;
    push_dirty(t, (size_t)(e - t->slots), flags);
    t->dirty_key_bytes += e->klen;
    if (t->dirty_limit && ms_table_dirty_bytes(t) > t->dirty_limit)
        set_over(t);
    return &t->dirty[t->ndirty - 1];
}

ms_dirty *ms_table_dirty_of(ms_table *t, const ms_entry *e)
{
    uint32_t slot = (uint32_t)(e - t->slots);
    for (size_t i = 0; i < t->ndirty; i++)
        if (t->dirty[i].slot == slot && !(t->dirty[i].flags & MS_DIRTY_GONE))
            return &t->dirty[i];
    return NULL;
}

/* Entries move (growth, purge): the dirty records follow them through a
 * map from old to new slot (4 bytes per slot, for the duration of the move;
 * NULL when nothing is dirty). */
static uint32_t *move_map(const ms_table *t)
{
    if (!t->ndirty)
        return NULL;
    uint32_t *map = ms_xmalloc(t->nslots * sizeof(uint32_t));
    for (size_t i = 0; i < t->nslots; i++)
        map[i] = (uint32_t)i;
    return map;
}

static void apply_map(ms_table *t, uint32_t *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < t->ndirty; i++)
        t->dirty[i].slot = map[t->dirty[i].slot];
    free(map);
}

/* ------------------------------------------------------- layout changes */

static void rehash(ms_table *t, size_t ns)
{
    uint32_t *map = move_map(t);
    ms_entry *slots = alloc_slots(ns);
    size_t mask = ns - 1;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e))
            continue;
        size_t pos = e->hash & mask;
        while (slots[pos].klen != MS_TABLE_EMPTY)
            pos = (pos + 1) & mask;
        slots[pos] = *e;
        if (map)
            map[i] = (uint32_t)pos;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    t->ntomb = 0;
    apply_map(t, map);
}

/* Removes the tombstones without a second slot array.  Starting just after
 * a slot that was empty before (so no probe path crosses the start), every
 * entry, in slot order, moves back to the first free slot of its probe
 * path; the entries before it on that path are already final, and later
 * moves only vacate later slots, so every path stays unbroken. */
static void purge(ms_table *t)
{
    if (!t->ntomb)
        return;
    size_t mask = t->nslots - 1, z = 0;
    while (t->slots[z].klen != MS_TABLE_EMPTY)
        z++;
    uint32_t *map = move_map(t);
    for (size_t i = 0; i < t->nslots; i++)
        if (t->slots[i].klen == MS_TABLE_TOMB)
            t->slots[i].klen = MS_TABLE_EMPTY;
    t->ntomb = 0;
    for (size_t k = 1; k < t->nslots; k++) {
        size_t p = (z + k) & mask;
        ms_entry *e = &t->slots[p];
        if (!ms_entry_used(e))
            continue;
        size_t q = e->hash & mask;
        while (q != p && t->slots[q].klen != MS_TABLE_EMPTY)
            q = (q + 1) & mask;
        if (q != p) {
            t->slots[q] = *e;
            e->klen = MS_TABLE_EMPTY;
            if (map)
                map[p] = (uint32_t)q;
        }
    }
    apply_map(t, map);
}

static void drop_entry(ms_table *t, ms_entry *e)
{
    if (e->klen > MS_TABLE_INLINE)
        t->arena_live -= e->klen;
    e->klen = MS_TABLE_TOMB;
    t->n--;
    t->ntomb++;
}

void ms_table_delete(ms_table *t, ms_entry *e)
{
    drop_entry(t, e);
}

static int over_memory(const ms_table *t)
{
    return t->limit && t->nslots * sizeof(ms_entry) + t->arena_live + t->extra_bytes > t->limit;
}

static int needs_slot(const ms_table *t)
{
    return (t->n + t->ntomb + 1) * 4 > t->nslots * 3;
}

/* Eviction by age, uniform over the slots (see ms_table.h).  An entry's
 * age is the number of batches since it last changed, capped. */
#define AGE_BUCKETS 64u

static unsigned entry_age(const ms_table *t, const ms_entry *e)
{
    uint32_t age = t->epoch - e->epoch;
    return age < AGE_BUCKETS ? age : AGE_BUCKETS - 1;
}

/* A draw in [0, 2^32) from the entry's hash and the round: every bit of
 * the hash counts (its low bits also picked the slot), and each round
 * draws anew (the entries a round left are not the low draws again). */
static uint32_t evict_draw(const ms_entry *e, uint32_t round)
{
    uint32_t h = e->hash ^ (round * 0x9E3779B9u); /* MurmurHash3's finalizer */
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* One round: evicts about `want` durable entries (epoch <= durable), the
 * oldest ages whole and the youngest age needed by draw.  Returns how
 * many it evicted. */
static size_t evict_round(ms_table *t, uint64_t durable, size_t want)
{
    size_t count[AGE_BUCKETS] = {0};
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (ms_entry_used(e) && e->epoch <= durable)
            count[entry_age(t, e)]++;
    }
    unsigned cut = 0; /* ages above cut go whole, age cut by draw */
    uint64_t frac = 0;
    size_t sum = 0;
    for (unsigned a = AGE_BUCKETS; a-- > 0;) {
        if (!count[a])
            continue;
        cut = a;
        if (sum + count[a] >= want) {
            /* 1/64 more than needed: a draw is a draw */
            frac = ((uint64_t)(want - sum) << 32) / count[a];
            frac += frac / 64 + 1;
            break;
        }
        sum += count[a];
        frac = UINT64_C(1) << 32;
    }
    size_t done = 0;
    t->evict_rounds++;
    for (size_t i = 0; i < t->nslots; i++) {
        ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e) || e->epoch > durable)
            continue;
        unsigned age = entry_age(t, e);
        if (age < cut || (age == cut && evict_draw(e, t->evict_rounds) >= frac))
            continue;
        if (t->on_evict)
            t->on_evict(t->evict_ud, e);
        drop_entry(t, e);
        t->evictions++;
        t->complete = 0;
        done++;
    }
    return done;
}

/* Evicts durable entries, oldest first (see ms_table.h), until at most
 * target entries remain and the memory is within the limit.  Returns 1
 * when that was reached. */
static int evict(ms_table *t, size_t target)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t durable = ms_table_durable(t);
        for (int round = 0; round < 8; round++) {
            if (t->n <= target && !over_memory(t))
                return 1;
            /* memory (long keys, accumulators) over with few entries: an
             * eighth at a time */
            size_t want = t->n > target ? t->n - target : t->n / 8 + 1;
            if (!evict_round(t, durable, want))
                break;
        }
        if (t->n <= target && !over_memory(t))
            return 1;
        /* Pinned by a commit still in flight: wait for it once. */
        if (attempt == 0 && t->wait_durable && ms_table_durable(t) + 1 < t->epoch)
            t->wait_durable(t->wait_ud);
        else
            break;
    }
    return t->n <= target && !over_memory(t);
}

/* Makes room for one more entry (insert path only). */
static void make_room(ms_table *t)
{
    if (needs_slot(t) && t->ntomb > t->nslots / 8)
        purge(t); /* deletions, not growth, filled the slots */
    if (needs_slot(t)) {
        if (!t->limit || t->nslots * 2 <= t->max_slots) {
            rehash(t, t->nslots * 2);
        } else {
            if (needs_slot(t)) {
                evict(t, t->nslots * 5 / 8);
                purge(t);
            }
            if (needs_slot(t)) {
                /* Everything left is pinned until its commit is durable:
                 * keep the row (never lose it), report the overflow. */
                set_over(t);
                rehash(t, t->nslots * 2);
            }
        }
    }
    if (over_memory(t)) {
        if (!evict(t, t->n - t->n / 8))
            set_over(t);
        purge(t);
    }
}

static ms_entry *insert_at(ms_table *t, size_t pos, const uint8_t *key, size_t klen, uint32_t h,
                           int64_t value)
{
    if (needs_slot(t) || over_memory(t)) {
        make_room(t);
        int found;
        pos = probe(t, key, klen, h, &found);
    }
    /* The key's copy first: a compaction of the arena walks the slots. */
    const uint8_t *p = klen > MS_TABLE_INLINE ? arena_copy(t, key, klen) : NULL;
    ms_entry *e = &t->slots[pos];
    if (e->klen == MS_TABLE_TOMB)
        t->ntomb--;
    e->hash = h;
    e->klen = (uint32_t)klen;
    e->epoch = 0;
    e->value = value;
    memset(e->key, 0, sizeof(e->key));
    if (p)
        memcpy(e->key, &p, sizeof(p));
    else if (klen)
        memcpy(e->key, key, klen);
    t->n++;
    t->inserts++;
    return e;
}

/* --------------------------------------------------------------- access */

ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    int found;
    size_t pos = probe(t, key, klen, h, &found);
    t->lookups++;
    ms_entry *e;
    if (!found) {
        e = insert_at(t, pos, key, klen, h, 0);
        ms_table_touch(t, e, t->complete ? MS_DIRTY_NEW : MS_DIRTY_UNRESOLVED);
        t->nunresolved += !t->complete;
    } else {
        e = &t->slots[pos];
        if (e->epoch != t->epoch)
            ms_table_touch(t, e, 0);
    }
    e->value += delta;
    return e;
}

ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    int found;
    size_t pos = probe(t, key, klen, h, &found);
    return found ? &t->slots[pos] : NULL;
}

ms_entry *ms_table_lookup(ms_table *t, const uint8_t *key, size_t klen)
{
    t->lookups++;
    return ms_table_find(t, key, klen);
}

ms_entry *ms_table_insert(ms_table *t, const uint8_t *key, size_t klen, int64_t value)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    int found;
    size_t pos = probe(t, key, klen, h, &found);
    if (found) {
        t->slots[pos].value = value;
        return &t->slots[pos];
    }
    return insert_at(t, pos, key, klen, h, value);
}

ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value)
{
    return ms_table_insert(t, key, klen, value);
}

/* ------------------------------------------------------ dirty, sorted */

typedef struct sort_rec {
    uint64_t pre; /* the key's first 8 bytes, big-endian, zero-padded */
    ms_dirty d;   /* the dirty record */
} sort_rec;

#define SORT_USED 0x80000000u /* in d.flags while sorting: a live entry */

static int sort_rec_cmp(const void *pa, const void *pb, void *ud)
{
    const ms_table *t = ud;
    const sort_rec *a = pa, *b = pb;
    if (a->pre != b->pre)
        return a->pre < b->pre ? -1 : 1;
    uint32_t ua = a->d.flags & SORT_USED, ub = b->d.flags & SORT_USED;
    if (ua != ub)
        return ua < ub ? -1 : 1;
    if (!ua)
        return 0;
    const ms_entry *x = &t->slots[a->d.slot], *y = &t->slots[b->d.slot];
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(ms_entry_key(x), ms_entry_key(y), n) : 0;
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* LSD radix sort on pre, a byte at a time, skipping bytes all share. */
static void radix_pre(sort_rec *a, sort_rec *tmp, size_t n)
{
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(a[i].pre >> shift) & 0xff]++;
        if (count[(a[0].pre >> shift) & 0xff] == n)
            continue;
        size_t sum = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i].pre >> shift) & 0xff]++] = a[i];
        memcpy(a, tmp, n * sizeof(*a));
    }
}

void ms_table_sort_dirty(ms_table *t)
{
    size_t n = t->ndirty;
    if (n < 2)
        return;
    sort_rec *a = ms_xmalloc(n * sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        if (i + 16 < n)
            __builtin_prefetch(&t->slots[t->dirty[i + 16].slot]);
        const ms_entry *e = &t->slots[t->dirty[i].slot];
        a[i].d = t->dirty[i];
        a[i].pre = 0;
        if (!(a[i].d.flags & MS_DIRTY_GONE) && ms_entry_used(e)) {
            a[i].d.flags |= SORT_USED;
            const uint8_t *k = ms_entry_key(e);
            size_t m = e->klen < 8 ? e->klen : 8;
            for (size_t j = 0; j < 8; j++)
                a[i].pre = a[i].pre << 8 | (j < m ? k[j] : 0);
        }
    }
    if (n < 64) {
        qsort_r(a, n, sizeof(*a), sort_rec_cmp, t);
    } else {
        sort_rec *tmp = ms_xmalloc(n * sizeof(*a));
        radix_pre(a, tmp, n);
        free(tmp);
        /* equal prefixes: by the whole key (runs are short) */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && a[j].pre == a[i].pre)
                j++;
            if (j - i > 1)
                qsort_r(&a[i], j - i, sizeof(*a), sort_rec_cmp, t);
            i = j;
        }
    }
    for (size_t i = 0; i < n; i++) {
        t->dirty[i] = a[i].d;
        t->dirty[i].flags &= ~SORT_USED;
    }
    free(a);
}

void ms_table_clear_dirty(ms_table *t)
{
    t->ndirty = 0;
    t->dirty_key_bytes = 0;
    t->nunresolved = 0;
    t->epoch++;
    if (t->epoch == 0) {
        /* Wrapped after 2^32 batches: every entry becomes epoch 0, which
         * must then mean durable. */
        if (t->wait_durable)
            t->wait_durable(t->wait_ud);
        for (size_t i = 0; i < t->nslots; i++)
            t->slots[i].epoch = 0;
        t->epoch_base += UINT32_MAX;
        t->epoch = 1;
    }
}
