#include "state/ms_table.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/ms_log.h"

#define ARENA_BLOCK (1u << 20)

struct ms_arena_block {
    struct ms_arena_block *next;
    size_t used, cap;
    uint8_t data[];
};

uint64_t ms_hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

void ms_table_init(ms_table *t)
{
    memset(t, 0, sizeof(*t));
    t->nslots = 1024;
    t->slots = ms_xcalloc(t->nslots, sizeof(uint64_t));
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
    free(t->entries);
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
        if (b && cap != ARENA_BLOCK) {
            /* Big key: keep the current block first so it keeps filling. */
            nb->next = b->next;
            b->next = nb;
            t->arena_bytes += cap;
            memcpy(nb->data, key, n);
            nb->used = n;
            return nb->data;
        }
        nb->next = b;
        t->arena = nb;
        t->arena_bytes += cap;
        b = nb;
    }
    uint8_t *dst = b->data + b->used;
    if (n)
        memcpy(dst, key, n);
    b->used += n;
    return dst;
}

static void grow_slots(ms_table *t)
{
    size_t ns = t->nslots * 2;
    uint64_t *slots = ms_xcalloc(ns, sizeof(uint64_t));
    size_t mask = ns - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t pos = (size_t)t->entries[i].hash & mask;
        while (slots[pos])
            pos = (pos + 1) & mask;
        slots[pos] = (t->entries[i].hash >> 32) << 32 | (uint64_t)(i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
}

static ms_entry *lookup(const ms_table *t, const uint8_t *key, size_t klen, uint64_t h,
                        size_t *slot_out)
{
    size_t mask = t->nslots - 1;
    size_t pos = (size_t)h & mask;
    uint64_t tag = h >> 32;
    for (;;) {
        uint64_t s = t->slots[pos];
        if (!s) {
            *slot_out = pos;
            return NULL;
        }
        if ((s >> 32) == tag) {
            ms_entry *e = &t->entries[(uint32_t)s - 1];
            if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
                return e;
        }
        pos = (pos + 1) & mask;
    }
}

static ms_entry *insert(ms_table *t, const uint8_t *key, size_t klen, uint64_t h, size_t slot)
{
    if ((t->n + 1) * 4 > t->nslots * 3) {
        grow_slots(t);
        size_t mask = t->nslots - 1;
        slot = (size_t)h & mask;
        while (t->slots[slot])
            slot = (slot + 1) & mask;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->entries = ms_xrealloc(t->entries, t->cap * sizeof(ms_entry));
    }
    ms_entry *e = &t->entries[t->n];
    e->key = arena_copy(t, key, klen);
    e->klen = (uint32_t)klen;
    e->hash = h;
    e->value = 0;
    e->epoch = 0;
    t->slots[slot] = (h >> 32) << 32 | (uint64_t)(t->n + 1);
    t->n++;
    return e;
}

static void mark_dirty(ms_table *t, ms_entry *e)
{
    if (e->epoch == t->epoch)
        return;
    e->epoch = t->epoch;
    if (t->ndirty == t->dirty_cap) {
        t->dirty_cap = t->dirty_cap ? t->dirty_cap * 2 : 1024;
        t->dirty = ms_xrealloc(t->dirty, t->dirty_cap * sizeof(uint32_t));
    }
    t->dirty[t->ndirty++] = (uint32_t)(e - t->entries);
}

ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta)
{
    uint64_t h = ms_hash(key, klen);
    size_t slot;
    ms_entry *e = lookup(t, key, klen, h, &slot);
    if (!e)
        e = insert(t, key, klen, h, slot);
    e->value += delta;
    mark_dirty(t, e);
    return e;
}

ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value)
{
    uint64_t h = ms_hash(key, klen);
    size_t slot;
    ms_entry *e = lookup(t, key, klen, h, &slot);
    if (!e)
        e = insert(t, key, klen, h, slot);
    e->value = value;
    return e;
}

ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen)
{
    size_t slot;
    return lookup(t, key, klen, ms_hash(key, klen), &slot);
}

void ms_table_clear_dirty(ms_table *t)
{
    t->ndirty = 0;
    t->epoch++;
    if (t->epoch == 0) {
        /* Wrapped after 2^32 batches: reset every entry's epoch. */
        for (size_t i = 0; i < t->n; i++)
            t->entries[i].epoch = 0;
        t->epoch = 1;
    }
}

size_t ms_table_bytes(const ms_table *t)
{
    return t->arena_bytes + t->cap * sizeof(ms_entry) + t->nslots * sizeof(uint64_t) +
           t->dirty_cap * sizeof(uint32_t);
}
