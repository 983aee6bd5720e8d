/*
 * ms_table: the in-memory state of a keyed aggregate — a hash map from byte
 * string keys to 64-bit values that remembers which entries changed since
 * the last commit, so a commit writes O(changed) bytes (docs/design.md §2).
 *
 * One flat array of 32-byte slots, open addressing with linear probing, so a
 * lookup of a short key touches one cache line:
 *
 *   ┌────────┬──────┬───────┬────────────────────────────┬───────┐
 *   │ hash32 │ klen │ epoch │ key: ≤12 bytes inline, or  │ value │
 *   │        │      │       │ pointer into the key arena │ int64 │
 *   └────────┴──────┴───────┴────────────────────────────┴───────┘
 *
 * Longer keys live in an arena of large blocks and never move.  `epoch`
 * says which batch last changed the entry; the dirty list holds the slots
 * changed in the current batch (rebuilt when the table grows).
 *
 * Thread-safety: engine thread only.  Entries move when the table grows:
 * never keep an ms_entry pointer across an insert.
 */
#ifndef MS_TABLE_H
#define MS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MS_TABLE_INLINE 12

typedef struct ms_entry {
    uint32_t hash;
    uint32_t klen; /* UINT32_MAX: empty slot */
    uint32_t epoch;
    uint8_t key[MS_TABLE_INLINE]; /* the key, or (klen > 12) a pointer to it */
    int64_t value;
} ms_entry;

typedef struct ms_table {
    ms_entry *slots;
    size_t nslots;   /* power of two */
    size_t n;        /* entries in use */
    uint32_t epoch;  /* current batch epoch, starts at 1 */
    uint32_t *dirty; /* slots changed in the current epoch */
    size_t ndirty, dirty_cap;
    struct ms_arena_block *arena;
    size_t arena_bytes;
} ms_table;

void ms_table_init(ms_table *t);
void ms_table_free(ms_table *t);

uint64_t ms_hash(const void *p, size_t n);

static inline const uint8_t *ms_entry_key(const ms_entry *e)
{
    if (e->klen <= MS_TABLE_INLINE)
        return e->key;
    const uint8_t *p;
    memcpy(&p, e->key, sizeof(p));
    return p;
}

static inline int ms_entry_used(const ms_entry *e)
{
    return e->klen != UINT32_MAX;
}

/* Adds delta to the value of key (creating it at 0) and marks it changed. */
ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta);
/* Sets the value without marking it changed (used when loading state). */
ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value);
ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen);

/* Forgets which entries changed: called once the commit is durable. */
void ms_table_clear_dirty(ms_table *t);

/* Approximate bytes of memory held (slots, keys, dirty list). */
size_t ms_table_bytes(const ms_table *t);

#endif
