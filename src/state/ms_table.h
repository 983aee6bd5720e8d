/*
 * ms_table: the in-memory state of a keyed aggregate — a hash map from byte
 * string keys to 64-bit values that remembers which entries changed since
 * the last commit, so a commit writes O(changed) bytes (DESIGN §2).
 *
 *   slots[]  (open addressing, linear probing)      entries[] (dense, append-only)
 *   ┌──────────────────────────────┐                 ┌────────────────────────────┐
 *   │ hash_hi32 << 32 | index + 1  │───────────────▶ │ key ptr, len, hash, value, │
 *   └──────────────────────────────┘                 │ dirty epoch                │
 *                                                    └────────────────────────────┘
 *   keys live in an arena of large blocks: a key pointer stays valid for the
 *   table's lifetime, so published snapshots may point at keys.
 *
 * Thread-safety: the engine thread owns the table.  Snapshot readers only
 * read keys (immutable once inserted), never entries or slots.
 */
#ifndef MS_TABLE_H
#define MS_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms_entry {
    const uint8_t *key;
    uint32_t klen;
    uint32_t epoch; /* batch epoch that last changed the entry */
    uint64_t hash;
    int64_t value;
} ms_entry;

typedef struct ms_table {
    uint64_t *slots;
    size_t nslots; /* power of two */
    ms_entry *entries;
    size_t n, cap;
    uint32_t epoch;  /* current batch epoch, starts at 1 */
    uint32_t *dirty; /* indices of entries changed in the current epoch */
    size_t ndirty, dirty_cap;
    struct ms_arena_block *arena;
    size_t arena_bytes;
} ms_table;

void ms_table_init(ms_table *t);
void ms_table_free(ms_table *t);

uint64_t ms_hash(const void *p, size_t n);

/* Adds delta to the value of key (creating it at 0) and marks it changed. */
ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta);
/* Sets the value without marking it changed (used when loading state). */
ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value);
ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen);

/* Forgets which entries changed: called once the commit is durable. */
void ms_table_clear_dirty(ms_table *t);

/* Approximate bytes of memory held (entries, slots, keys). */
size_t ms_table_bytes(const ms_table *t);

#endif
