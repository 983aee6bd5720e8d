/* The state table: counts, growth, dirty tracking, key stability, and the
 * cache: eviction of durable entries only, oldest first, the overflow
 * report, tombstone purges, arena compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/ms_table.h"

static void test_add_and_find(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    ms_table_add(&t, (const uint8_t *)"spark", 5, 1);
    ms_table_add(&t, (const uint8_t *)"spark", 5, 1);
    ms_table_add(&t, (const uint8_t *)"hello", 5, 1);
    assert_int_equal(t.n, 2);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"spark", 5)->value, 2);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"hello", 5)->value, 1);
    assert_null(ms_table_find(&t, (const uint8_t *)"spar", 4));
    assert_null(ms_table_find(&t, (const uint8_t *)"sparks", 6));
    ms_table_free(&t);
}

static void test_empty_and_binary_keys(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    ms_table_add(&t, (const uint8_t *)"", 0, 3);
    ms_table_add(&t, (const uint8_t *)"a\0b", 3, 1);
    ms_table_add(&t, (const uint8_t *)"a\0c", 3, 1);
    assert_int_equal(t.n, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"", 0)->value, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"a\0c", 3)->value, 1);
    ms_table_free(&t);
}

static void test_growth_keeps_everything(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    char k[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100000; i++) {
            int n = snprintf(k, sizeof(k), "w%d", i);
            ms_table_add(&t, (const uint8_t *)k, (size_t)n, i % 7 + 1);
        }
    }
    assert_int_equal(t.n, 100000);
    for (int i = 0; i < 100000; i += 997) {
        int n = snprintf(k, sizeof(k), "w%d", i);
        ms_entry *e = ms_table_find(&t, (const uint8_t *)k, (size_t)n);
        assert_non_null(e);
        assert_int_equal(e->value, 3 * (i % 7 + 1));
    }
    /* long keys (arena) and short keys (inline) both survive growth */
    const char *lk = "a-key-longer-than-twelve-bytes";
    ms_table_add(&t, (const uint8_t *)lk, strlen(lk), 5);
    for (int i = 100000; i < 300000; i++) {
        int n = snprintf(k, sizeof(k), "w%d", i);
        ms_table_add(&t, (const uint8_t *)k, (size_t)n, 1);
    }
    ms_entry *e = ms_table_find(&t, (const uint8_t *)lk, strlen(lk));
    assert_non_null(e);
    assert_int_equal(e->value, 5);
    assert_memory_equal(ms_entry_key(e), lk, strlen(lk));
    e = ms_table_find(&t, (const uint8_t *)"w0", 2);
    assert_memory_equal(ms_entry_key(e), "w0", 2);
    assert_int_equal(t.n, 300001);
    ms_table_free(&t);
}

static void test_dirty_tracking(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "k%d", i);
        ms_table_set_clean(&t, (const uint8_t *)k, (size_t)n, 5);
    }
    assert_int_equal(t.ndirty, 0); /* loading state changes nothing */
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    ms_table_add(&t, (const uint8_t *)"k2", 2, 1);
    ms_table_add(&t, (const uint8_t *)"new", 3, 1);
    assert_int_equal(t.ndirty, 3);
    assert_int_equal(ms_table_find(&t, (const uint8_t *)"k1", 2)->value, 7);
    ms_table_clear_dirty(&t);
    assert_int_equal(t.ndirty, 0);
    ms_table_add(&t, (const uint8_t *)"k1", 2, 1);
    assert_int_equal(t.ndirty, 1);
    assert_int_equal(t.slots[t.dirty[0].slot].value, 8);
    /* the dirty list follows entries when the table grows */
    for (int i = 0; i < 5000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "g%d", i);
        ms_table_add(&t, (const uint8_t *)k, (size_t)n, 1);
    }
    assert_int_equal(t.ndirty, 5001);
    int64_t sum = 0;
    for (size_t i = 0; i < t.ndirty; i++)
        sum += t.slots[t.dirty[i].slot].value;
    assert_int_equal(sum, 8 + 5000);
    ms_table_free(&t);
}

static ms_entry *get(ms_table *t, const char *k)
{
    return ms_table_find(t, (const uint8_t *)k, strlen(k));
}

/* Every dirty record points at its entry, whatever moved. */
static void assert_dirty_consistent(const ms_table *t)
{
    for (size_t i = 0; i < t->ndirty; i++) {
        const ms_entry *e = &t->slots[t->dirty[i].slot];
        assert_true(ms_entry_used(e));
        assert_int_equal(e->epoch, t->epoch);
    }
}

static void test_dirty_records_flags(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    ms_table_add(&t, (const uint8_t *)"a", 1, 3);
    assert_int_equal(t.ndirty, 1);
    assert_int_equal(t.dirty[0].flags, MS_DIRTY_NEW); /* complete: a miss is a new key */
    ms_table_clear_dirty(&t);
    ms_table_add(&t, (const uint8_t *)"a", 1, 2);
    ms_table_add(&t, (const uint8_t *)"a", 1, 2);
    assert_int_equal(t.ndirty, 1);
    assert_int_equal(t.dirty[0].flags, 0); /* an entry the table had */
    assert_int_equal(get(&t, "a")->value, 7);
    /* An incomplete table cannot know: the key may be stored elsewhere. */
    t.complete = 0;
    ms_table_add(&t, (const uint8_t *)"b", 1, 1);
    assert_int_equal(t.dirty[1].flags, MS_DIRTY_UNRESOLVED);
    assert_int_equal(t.nunresolved, 1);
    ms_table_clear_dirty(&t);
    assert_int_equal(t.nunresolved, 0);
    ms_table_free(&t);
}

/* The oracle's order: bytewise, a shorter key before its extensions. */
typedef struct key_rec {
    uint8_t k[24];
    size_t n;
    uint32_t flags;
} key_rec;

static int key_rec_cmp(const void *pa, const void *pb)
{
    const key_rec *a = pa, *b = pb;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->k, b->k, n) : 0;
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* Sorting the dirty records puts them in key order (qsort over the keys
 * is the oracle), keeps their flags, and puts deleted entries first:
 * keys with long shared prefixes, zero bytes, the empty key, both sizes of
 * the radix path. */
static void test_dirty_sorted_by_key(void **state)
{
    (void)state;
    static const size_t sizes[] = {5, 63, 64, 5000};
    uint64_t r = 88172645463325252ull;
    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        size_t n = sizes[z];
        ms_table t;
        ms_table_init(&t);
        key_rec *want = calloc(n, sizeof(*want));
        size_t nw = 0, gone = 0;
        for (size_t i = 0; i < n; i++) {
            key_rec k = {.n = 0};
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            switch (r % 4) {
            case 0: /* a shared 10-byte prefix */
                memcpy(k.k, "prefix-abc", 10);
                k.n = 10 + (size_t)(r >> 8) % 6;
                for (size_t j = 10; j < k.n; j++)
                    k.k[j] = (uint8_t)('a' + (r >> (j * 3)) % 3);
                break;
            case 1: /* zero bytes */
                k.n = (size_t)(r >> 8) % 9;
                for (size_t j = 0; j < k.n; j++)
                    k.k[j] = (uint8_t)((r >> (j * 5)) % 2);
                break;
            default: /* anything */
                k.n = (size_t)(r >> 8) % 20;
                for (size_t j = 0; j < k.n; j++)
                    k.k[j] = (uint8_t)(r >> (j * 2));
            }
            if (ms_table_find(&t, k.k, k.n))
                continue;
            ms_entry *e = ms_table_add(&t, k.k, k.n, 1);
            if (i % 7 == 3) { /* deleted after its change */
                ms_table_dirty_of(&t, e)->flags |= MS_DIRTY_GONE;
                ms_table_delete(&t, e);
                gone++;
                continue;
            }
            k.flags = MS_DIRTY_NEW;
            want[nw++] = k;
        }
        qsort(want, nw, sizeof(*want), key_rec_cmp);
        size_t nd = t.ndirty;
        ms_table_sort_dirty(&t);
        assert_int_equal(t.ndirty, nd);
        assert_int_equal(nd, nw + gone);
        for (size_t i = 0; i < gone; i++)
            assert_true(t.dirty[i].flags & MS_DIRTY_GONE);
        for (size_t i = 0; i < nw; i++) {
            const ms_dirty *d = &t.dirty[gone + i];
            const ms_entry *e = &t.slots[d->slot];
            assert_int_equal(d->flags, want[i].flags);
            assert_int_equal(e->klen, want[i].n);
            assert_memory_equal(ms_entry_key(e), want[i].k, want[i].n);
        }
        free(want);
        ms_table_free(&t);
    }
}

static int evicted;
static void count_evict(void *ud, const ms_entry *e)
{
    (void)ud;
    (void)e;
    evicted++;
}

static int overs;
static void count_over(void *ud)
{
    (void)ud;
    overs++;
}

/* With a bound, entries whose epoch is durable leave memory, least recently
 * changed first; entries changed since stay. */
static void test_bounded_table_evicts_durable_oldest_first(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    uint64_t durable = 0;
    t.durable = &durable;
    t.on_evict = count_evict;
    ms_table_set_limit(&t, 256 << 10, 64 << 20, 64); /* 4096 slots at most */
    assert_int_equal(t.max_slots, 4096);
    char k[32];
    /* batch 1: 2000 "old" keys; batch 2: 800 "hot" keys (durable too) */
    for (int i = 0; i < 2000; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "old%d", i), 1);
    ms_table_clear_dirty(&t);
    durable = 1;
    for (int i = 0; i < 800; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "hot%d", i), 1);
    ms_table_clear_dirty(&t);
    durable = 2;
    /* batch 3 (not durable): 1500 new keys need room */
    evicted = 0;
    for (int i = 0; i < 1500; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "new%d", i), 1);
    assert_int_equal(t.nslots, 4096);
    assert_true(evicted > 0);
    assert_int_equal((int)t.evictions, evicted);
    assert_false(t.complete);
    assert_false(t.over);
    for (int i = 0; i < 1500; i++) /* pinned: changed by a batch not yet durable */
        assert_non_null(get(&t, (snprintf(k, sizeof(k), "new%d", i), k)));
    for (int i = 0; i < 800; i++) /* younger than every old key: kept */
        assert_non_null(get(&t, (snprintf(k, sizeof(k), "hot%d", i), k)));
    int old_left = 0;
    for (int i = 0; i < 2000; i++)
        old_left += get(&t, (snprintf(k, sizeof(k), "old%d", i), k)) != NULL;
    assert_int_equal(old_left, 2000 - evicted);
    assert_int_equal(t.n, 2000 + 800 + 1500 - (size_t)evicted);
    assert_true(t.n * 4 <= t.nslots * 3);
    assert_dirty_consistent(&t);
    ms_table_free(&t);
}

/* The longest run of occupied slots (a probe for a missing key walks one). */
static size_t longest_cluster(const ms_table *t)
{
    size_t best = 0, run = 0, lead = 0, i = 0;
    while (i < t->nslots && t->slots[i].klen != MS_TABLE_EMPTY)
        i++, lead++;
    for (; i < t->nslots; i++) {
        if (t->slots[i].klen == MS_TABLE_EMPTY) {
            run = 0;
            continue;
        }
        if (++run > best)
            best = run;
    }
    return run + lead > best ? run + lead : best; /* the run that wraps around */
}

/* Eviction keeps the table's occupancy even across its slots.  With linear
 * probing a region left full while others empty turns every probe through
 * it into a scan: a sweep that evicted one region at a time left a cluster
 * of 8.5 M of 33.5 M slots after three rounds at 100 M keys (a hang).  Here
 * 60 batches of 3000 new keys each, every batch durable before the next,
 * through a table of 16384 slots: many eviction rounds. */
static void test_eviction_keeps_clusters_short(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    uint64_t durable = 0;
    t.durable = &durable;
    ms_table_set_limit(&t, 1 << 20, 64 << 20, 64);
    assert_int_equal(t.max_slots, 16384);
    char k[32];
    size_t worst = 0;
    for (int b = 0; b < 60; b++) {
        for (int i = 0; i < 3000; i++)
            ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "k%d.%d", b, i), 1);
        ms_table_clear_dirty(&t);
        durable = (uint64_t)b + 1;
        size_t c = longest_cluster(&t);
        worst = c > worst ? c : worst;
    }
    assert_true(t.evictions > 100000);
    assert_false(t.over);
    assert_int_equal(t.nslots, 16384);
    /* a uniform 3/4 load gives runs of a few hundred at most */
    if (worst > 1000)
        fail_msg("a run of %zu occupied slots of %zu", worst, t.nslots);
    ms_table_free(&t);
}

/* Nothing durable to evict: the table keeps every row (never loses one)
 * and reports the overflow once. */
static void test_bound_exceeded_by_pinned_entries_reports_over(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    uint64_t durable = 0;
    t.durable = &durable;
    t.on_over = count_over;
    overs = 0;
    ms_table_set_limit(&t, 128 << 10, 64 << 20, 64);
    char k[32];
    for (int i = 0; i < 10000; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "p%d", i), 1);
    assert_true(t.over);
    assert_int_equal(overs, 1);
    assert_int_equal(t.n, 10000);
    for (int i = 0; i < 10000; i++)
        assert_non_null(get(&t, (snprintf(k, sizeof(k), "p%d", i), k)));
    assert_dirty_consistent(&t);
    ms_table_free(&t);

    /* The same through the dirty share: each change stands for dirty_cost bytes. */
    ms_table_init(&t);
    overs = 0;
    t.on_over = count_over;
    /* 99 changes: 99 * 64 + 4 * 188 key bytes = 7088 <= 7200 */
    ms_table_set_limit(&t, 64 << 20, 7200, 64);
    for (int i = 0; i < 99; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "%d", i), 1);
    assert_false(t.over);
    for (int i = 99; i < 200; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "%d", i), 1);
    assert_true(t.over);
    assert_int_equal(overs, 1);
    ms_table_free(&t);
}

static uint64_t *hook_counter;
static int waits;
static void make_durable(void *ud)
{
    (void)ud;
    waits++;
    *hook_counter += 1;
}

/* Pinned only by the commit in flight: the table waits for it once. */
static void test_waits_for_the_commit_in_flight(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    uint64_t durable = 0;
    t.durable = &durable;
    hook_counter = &durable;
    waits = 0;
    t.wait_durable = make_durable;
    ms_table_set_limit(&t, 128 << 10, 64 << 20, 64);
    char k[32];
    /* 2048 slots at most: 1536 entries */
    for (int i = 0; i < 1000; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "a%d", i), 1);
    ms_table_clear_dirty(&t); /* batch 1 handed over, its commit in flight */
    for (int i = 0; i < 1000; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "b%d", i), 1);
    assert_int_equal(waits, 1);
    assert_int_equal(durable, 1);
    assert_false(t.over);
    assert_true(t.evictions > 0);
    ms_table_free(&t);
}

/* Deletes leave tombstones; a purge in place removes them, and every
 * entry and dirty record is found again. */
static void test_tombstones_purged_in_place(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    char k[32];
    for (int i = 0; i < 700; i++)
        ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "x%d", i), 1);
    size_t nslots = t.nslots;
    ms_table_clear_dirty(&t);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 700; i += 3) {
            ms_entry *e = get(&t, (snprintf(k, sizeof(k), "x%d", i), k));
            if (e)
                ms_table_delete(&t, e);
        }
        for (int i = 0; i < 700; i += 3)
            ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "x%d", i), 1);
        for (int i = 1; i < 700; i += 7) /* changed in this epoch too */
            ms_table_add(&t, (const uint8_t *)k, (size_t)snprintf(k, sizeof(k), "x%d", i), 1);
        assert_dirty_consistent(&t);
        ms_table_clear_dirty(&t);
    }
    assert_int_equal(t.n, 700);
    assert_true(t.n + t.ntomb < t.nslots); /* purged, not grown without end */
    assert_int_equal(t.nslots, nslots);
    for (int i = 0; i < 700; i++) {
        ms_entry *e = get(&t, (snprintf(k, sizeof(k), "x%d", i), k));
        assert_non_null(e);
        /* every third key is deleted and added again in each round */
        int64_t want = i % 3 == 0 ? 1 + (i % 7 == 1) : 1 + (i % 7 == 1 ? 20 : 0);
        assert_int_equal(e->value, want);
    }
    ms_table_free(&t);
}

/* Long keys of evicted entries are garbage in the arena until it is
 * compacted; the keys in use stay valid. */
static void test_arena_compacts_evicted_keys(void **state)
{
    (void)state;
    ms_table t;
    ms_table_init(&t);
    uint64_t durable = 0;
    t.durable = &durable;
    ms_table_set_limit(&t, 3 << 20, 64 << 20, 64); /* 32768 slots, 1 MiB */
    char k[128];
    for (int b = 0; b < 30; b++) {
        for (int i = 0; i < 2000; i++)
            ms_table_add(&t, (const uint8_t *)k,
                         (size_t)snprintf(k, sizeof(k), "a-long-key-%040d-%d", i, b), 1);
        ms_table_clear_dirty(&t);
        durable++;
    }
    assert_true(t.evictions > 0);
    assert_true(t.nslots * sizeof(ms_entry) + t.arena_live <= 3u << 20);
    assert_true(t.arena_bytes <= 2 * t.arena_live + 2 * (1u << 20));
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(k, sizeof(k), "a-long-key-%040d-%d", i, 29);
        ms_entry *e = ms_table_find(&t, (const uint8_t *)k, (size_t)n);
        assert_non_null(e);
        assert_memory_equal(ms_entry_key(e), k, (size_t)n);
    }
    ms_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_empty_and_binary_keys),
        cmocka_unit_test(test_growth_keeps_everything),
        cmocka_unit_test(test_dirty_tracking),
        cmocka_unit_test(test_dirty_records_flags),
        cmocka_unit_test(test_dirty_sorted_by_key),
        cmocka_unit_test(test_bounded_table_evicts_durable_oldest_first),
        cmocka_unit_test(test_eviction_keeps_clusters_short),
        cmocka_unit_test(test_bound_exceeded_by_pinned_entries_reports_over),
        cmocka_unit_test(test_waits_for_the_commit_in_flight),
        cmocka_unit_test(test_tombstones_purged_in_place),
        cmocka_unit_test(test_arena_compacts_evicted_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
