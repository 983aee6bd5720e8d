/*
 * ms_table: the in-memory part of a keyed aggregate's state — a hash map
 * from byte-string keys to 64-bit values that remembers which entries
 * changed since the last commit (so a commit writes O(changed) bytes,
 * docs/design.md §2), and that may be a bounded cache of a larger state kept in
 * RocksDB (query/ms_exec.h).
 *
 * One flat array of 32-byte slots, open addressing with linear probing, so a
 * lookup of a short key touches one cache line:
 *
 *   ┌────────┬──────┬───────┬────────────────────────────┬───────┐
 *   │ hash32 │ klen │ epoch │ key: ≤12 bytes inline, or  │ value │
 *   │        │      │       │ pointer into the key arena │ int64 │
 *   └────────┴──────┴───────┴────────────────────────────┴───────┘
 *
 * klen UINT32_MAX is an empty slot, UINT32_MAX-1 a tombstone (a deleted or
 * evicted entry; probes pass over it, inserts reuse it, and tombstones are
 * purged in place when they and the entries fill 3/4 of the slots).  Longer
 * keys live in an arena of large blocks; evicted keys leave garbage that a
 * compaction reclaims.
 *
 * Epochs.  `epoch` is the batch that last changed the entry.  The current
 * batch's epoch is t->epoch; the dirty list holds one 8-byte record per
 * entry changed in it: its slot and flags (new key, stored value still to
 * be added, deleted since).  An entry is
 * *durable* when the commit of its epoch is on disk: epoch <= the durable
 * epoch (t->durable, a counter the committer thread advances, or, without
 * one, every epoch before the current).
 *
 * Bound (t->limit > 0).  The table may grow to max_slots; past that it
 * evicts.  Only durable entries are evicted — an entry changed by a batch
 * whose commit is not on disk yet would otherwise be read back stale from
 * RocksDB.  Victims are chosen by age (batches since the entry last
 * changed): a pass counts the durable entries per age, a second evicts the
 * oldest ages whole and the youngest age it needs partly, by a draw from
 * the entry's hash.  So eviction thins the table evenly: with linear
 * probing, a region left full while others empty (a hand sweeping the
 * slots did that) makes every probe through it a scan.  The two passes
 * cost O(slots) per round; a round frees an eighth of the table or more,
 * so O(1) per insert.  When nothing can be evicted (the batches not yet
 * durable changed more entries than the table holds), or the dirty list
 * outgrows its share, the table grows anyway and sets `over`: the owner
 * stops the engine (never swap).  Evicting an entry clears `complete` (the
 * table no longer holds every entry of the state).
 *
 *   insert ─▶ room? ─no─▶ grow (≤ max_slots) ─▶ purge tombstones ─▶ evict
 *                                                 durable, oldest first
 *
 * The per-access cost is one counter increment; everything else happens on
 * the insert path.
 *
 * Thread-safety: engine thread only (t->durable is read atomically).
 * Entries move when the table grows or is purged: never keep an ms_entry
 * pointer across an insert.
 */
#ifndef MS_TABLE_H
#define MS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MS_TABLE_INLINE  12
#define MS_TABLE_EMPTY   UINT32_MAX
#define MS_TABLE_TOMB    (UINT32_MAX - 1)
#define MS_TABLE_MAX_KEY (1u << 30)

typedef struct ms_entry {
    uint32_t hash;
    uint32_t klen; /* MS_TABLE_EMPTY, MS_TABLE_TOMB, or the key length */
    uint32_t epoch;
    uint8_t key[MS_TABLE_INLINE]; /* the key, or (klen > 12) a pointer to it */
    int64_t value;
} ms_entry;

/* Flags of a dirty record. */
#define MS_DIRTY_NEW 0x1u /* the key was not in the state before this batch */
#define MS_DIRTY_UNRESOLVED                                                                        \
    0x2u                   /* the key was not in memory and may be in RocksDB: value is            \
                            * this batch's delta until the executor resolves it */
#define MS_DIRTY_GONE 0x4u /* the entry was deleted after its change */

/* An entry changed in the current epoch: its slot and flags. */
typedef struct ms_dirty {
    uint32_t slot;
    uint32_t flags;
} ms_dirty;

typedef void (*ms_table_evict_fn)(void *ud, const ms_entry *e);
typedef void (*ms_table_event_fn)(void *ud);

typedef struct ms_table {
    ms_entry *slots;
    size_t nslots;   /* power of two */
    size_t n;        /* entries in use */
    size_t ntomb;    /* tombstones */
    uint32_t epoch;  /* current batch epoch, starts at 1 */
    ms_dirty *dirty; /* entries changed in the current epoch */
    size_t ndirty, dirty_cap;
    size_t dirty_key_bytes; /* sum of their key lengths */
    size_t nunresolved;     /* records flagged MS_DIRTY_UNRESOLVED */
    struct ms_arena_block *arena;
    size_t arena_bytes; /* allocated */
    size_t arena_live;  /* held by keys in use */
    /* Cache (see the top of this file). */
    size_t limit;                   /* bytes for slots, keys and extra_bytes; 0: unbounded */
    size_t dirty_limit;             /* bytes the dirty records may stand for (dirty_cost each) */
    size_t dirty_cost;              /* estimated bytes per changed entry until its commit */
    size_t max_slots;               /* the slot array stops growing here (when limited) */
    size_t extra_bytes;             /* the owner's memory per entry (accumulators) */
    const uint64_t *durable;        /* committed batches (committer thread); NULL: epoch-1 */
    uint64_t epoch_base;            /* batches before epoch 1 (after an epoch wrap) */
    ms_table_event_fn wait_durable; /* blocks until the commit in flight is done */
    void *wait_ud;
    ms_table_evict_fn on_evict; /* before an entry is evicted */
    void *evict_ud;
    ms_table_event_fn on_over; /* once, when `over` is set */
    void *over_ud;
    int complete;          /* every entry of the state is in the table */
    int over;              /* the bound was exceeded by entries that cannot be evicted */
    uint32_t evict_rounds; /* eviction rounds so far (each draws anew) */
    uint64_t lookups, inserts, evictions;
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
    return e->klen < MS_TABLE_TOMB;
}

/* Bounds the table: `bytes` for slots, keys and extra_bytes, `dirty_bytes`
 * for the changes of one batch at `dirty_cost` bytes each (0: unbounded). */
void ms_table_set_limit(ms_table *t, size_t bytes, size_t dirty_bytes, size_t dirty_cost);

/* Adds delta to the value of key, creating it at 0 (flagged NEW when the
 * table is complete, UNRESOLVED otherwise), and marks it changed. */
ms_entry *ms_table_add(ms_table *t, const uint8_t *key, size_t klen, int64_t delta);
/* The entry of key, or NULL.  ms_table_lookup counts the access. */
ms_entry *ms_table_find(const ms_table *t, const uint8_t *key, size_t klen);
ms_entry *ms_table_lookup(ms_table *t, const uint8_t *key, size_t klen);
/* Inserts an absent key with value, clean (epoch 0): may evict others. */
ms_entry *ms_table_insert(ms_table *t, const uint8_t *key, size_t klen, int64_t value);
/* Sets the value without marking it changed (inserting it if absent). */
ms_entry *ms_table_set_clean(ms_table *t, const uint8_t *key, size_t klen, int64_t value);
/* Marks e changed in the current epoch: the first time, pushes a dirty
 * record with flags and returns it (NULL when it was changed already). */
ms_dirty *ms_table_touch(ms_table *t, ms_entry *e, uint32_t flags);
/* Deletes e (a tombstone); its dirty record, if any, stays (flag it GONE). */
void ms_table_delete(ms_table *t, ms_entry *e);

/* 1 if e is changed in the current epoch. */
static inline int ms_table_is_dirty(const ms_table *t, const ms_entry *e)
{
    return e->epoch == t->epoch;
}

/* The dirty record of an entry changed in the current epoch, or NULL
 * (a linear search of the dirty list: tests and rare paths only). */
ms_dirty *ms_table_dirty_of(ms_table *t, const ms_entry *e);

/* Puts the dirty records in the order of their entries' keys (bytewise,
 * a shorter key before its extensions; records of deleted entries first):
 * a commit then writes its keys in RocksDB's order, which its skip-list
 * memtable inserts in O(1) each (ms_ckpt.h).  A radix sort on the first
 * eight bytes of the key, then the full keys where those are equal. */
void ms_table_sort_dirty(ms_table *t);

/* Forgets which entries changed: called once the batch's write batch is
 * built (the entries stay pinned until their epoch is durable). */
void ms_table_clear_dirty(ms_table *t);

/* Epochs up to this one are durable. */
uint64_t ms_table_durable(const ms_table *t);

/* Bytes of memory held (slots, keys, dirty list, extra_bytes). */
size_t ms_table_bytes(const ms_table *t);
/* Estimated bytes the current changes stand for until committed. */
size_t ms_table_dirty_bytes(const ms_table *t);

#endif
