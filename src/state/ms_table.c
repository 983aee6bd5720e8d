#include "state/ms_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/ms_log.h"

#define ARENA_BLOCK (1u << 20)

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
        s[i].klen = UINT32_MAX;
    return s;
}

void ms_table_init(ms_table *t)
{
    memset(t, 0, sizeof(*t));
    t->nslots = 1024;
    t->slots = alloc_slots(t->nslots);
    t->epoch = 1;
}

void ms_table_free(ms_table *t)
{
    struct ms_arena_block *b = t->arena;
    while (b) {
        struct ms_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(t->slots);
    free(t->dirty);
    memset(t, 0, sizeof(*t));
}

static const uint8_t *arena_copy(ms_table *t, const uint8_t *key, size_t n)
{
    struct ms_arena_block *b = t->arena;
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

static void push_dirty(ms_table *t, size_t slot)
{
    if (t->ndirty == t->dirty_cap) {
        t->dirty_cap = t->dirty_cap ? t->dirty_cap * 2 : 1024;
        t->dirty = ms_xrealloc(t->dirty, t->dirty_cap * sizeof(uint32_t));
    }
    t->dirty[t->ndirty++] = (uint32_t)slot;
}

static void grow(ms_table *t)
{
    size_t ns = t->nslots * 2;
    ms_entry *slots = alloc_slots(ns);
    size_t mask = ns - 1;
    t->ndirty = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        const ms_entry *e = &t->slots[i];
        if (!ms_entry_used(e))
            continue;
        size_t pos = e->hash & mask;
        while (ms_entry_used(&slots[pos]))
            pos = (pos + 1) & mask;
        slots[pos] = *e;
        if (e->epoch == t->epoch)
            push_dirty(t, pos);
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
}

static inline int key_eq(const ms_entry *e, uint32_t h, const uint8_t *key, size_t klen)
{
    if (e->hash != h || e->klen != klen)
        return 0;
    return memcmp(ms_entry_key(e), key, klen) == 0;
}

/* The slot holding key, or the empty slot where it would go. */
static inline size_t probe(const ms_table *t, const uint8_t *key, size_t klen, uint32_t h)
{
    size_t mask = t->nslots - 1;
    size_t pos = h & mask;
    for (;;) {
        const ms_entry *e = &t->slots[pos];
        if (!ms_entry_used(e) || key_eq(e, h, key, klen))
            return pos;
        pos = (pos + 1) & mask;
    }
}

static size_t insert_at(ms_table *t, size_t pos, const uint8_t *key, size_t klen, uint32_t h)
{
    if ((t->n + 1) * 4 > t->nslots * 3) {
        grow(t);
        pos = probe(t, key, klen, h);
    }
    ms_entry *e = &t->slots[pos];
    e->hash = h;
    e->klen = (uint32_t)klen;
    e->epoch = 0;
    e->value = 0;
    memset(e->key, 0, sizeof(e->key));
    if (klen <= MS_TABLE_INLINE) {
        if (klen)
            memcpy(e->key, key, klen);
    } else {
        const uint8_t *p = arena_copy(t, key, klen);
        memcpy(e->key, &p, sizeof(p));
    }
    t->n++;
    return pos;
}

ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    size_t pos = probe(t, key, klen, h);
    if (!ms_entry_used(&t->slots[pos]))
        pos = insert_at(t, pos, key, klen, h);
    ms_entry *e = &t->slots[pos];
    e->value += delta;
    if (e->epoch != t->epoch) {
        e->epoch = t->epoch;
        push_dirty(t, pos);
    }
    return e;
}

ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    size_t pos = probe(t, key, klen, h);
    if (!ms_entry_used(&t->slots[pos]))
        pos = insert_at(t, pos, key, klen, h);
    t->slots[pos].value = value;
    return &t->slots[pos];
}

ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen)
{
    uint32_t h = (uint32_t)ms_hash(key, klen);
    ms_entry *e = &t->slots[probe(t, key, klen, h)];
    return ms_entry_used(e) ? e : NULL;
}

void ms_table_clear_dirty(ms_table *t)
{
    t->ndirty = 0;
    t->epoch++;
    if (t->epoch == 0) {
        /* Wrapped after 2^32 batches: reset every entry's epoch. */
        for (size_t i = 0; i < t->nslots; i++)
            t->slots[i].epoch = 0;
        t->epoch = 1;
    }
}

size_t ms_table_bytes(const ms_table *t)
{
    return t->arena_bytes + t->nslots * sizeof(ms_entry) + t->dirty_cap * sizeof(uint32_t);
}
