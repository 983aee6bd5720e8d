/*
 * Group mode's Kafka machinery (src/source/ms_kgroup.h) against the real
 * broker of the ctest fixture `kafka` ($MS_KAFKA_STATE names it): the
 * internal topics (created compacted or not, an existing one with other
 * partitions refused, a creation the broker refuses explained), the
 * transactional producer (a committed transaction is read, an aborted one
 * never; the older of two producers with one transactional.id is fenced),
 * consumer-group members (cooperative rebalance with the revocation hook
 * run before the partitions go, offsets and their metadata committed in a
 * transaction) and the offsets of a transaction that is still open (held
 * back from the next owner until it is resolved: KIP-447).
 *
 * Every topic and group name carries this run's pid and time, so runs
 * never see each other's records.  Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "source/ms_kgroup.h"

static char bootstrap[512];
static char run_id[64];

static int read_state(void)
{
    const char *path = getenv("MS_KAFKA_STATE");
    if (!path)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "bootstrap=", 10)) {
            snprintf(bootstrap, sizeof(bootstrap), "%s", line + 10);
            bootstrap[strcspn(bootstrap, "\r\n")] = '\0';
        }
    fclose(f);
    return bootstrap[0] ? 0 : -1;
}

static ms_kconf kconf(void)
{
    ms_kconf c = {.brokers = bootstrap, .props = NULL, .nprops = 0, .timeout_ms = 10000};
    return c;
}

static const char *name(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "kg-%s-%s", run_id, what);
    return buf;
}

/* ------------------------------------------------------------ topics */

static void test_internal_topics(void **state)
{
    (void)state;
    ms_kconf c = kconf();
    char rep[128], cl[128], err[1024] = "";
    ms_ktopic_spec specs[] = {
        {name(rep, sizeof(rep), "repartition"), 3, -1, 0},
        {name(cl, sizeof(cl), "changelog"), 3, -1, 1},
    };
    size_t created = 0;
    assert_int_equal(ms_kadmin_ensure_topics(&c, specs, 2, &created, err, sizeof(err)), 0);
    assert_int_equal(created, 2);
    /* Idempotent: a second instance starting finds them made. */
    assert_int_equal(ms_kadmin_ensure_topics(&c, specs, 2, &created, err, sizeof(err)), 0);
    assert_int_equal(created, 0);
    const char *names[] = {rep, cl, "kg-no-such-topic-anywhere"};
    int32_t counts[3] = {-1, -1, -1};
    assert_int_equal(ms_kadmin_partitions(&c, names, 3, counts, err, sizeof(err)), 0);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 3);
    assert_int_equal(counts[2], 0);

    /* Another partition count than the topic has: refused, naming both. */
    ms_ktopic_spec other = {rep, 5, -1, 0};
    assert_int_equal(ms_kadmin_ensure_topics(&c, &other, 1, &created, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "has 3 partitions, but this query needs 5"));
    assert_non_null(strstr(err, "--internal-partitions 3"));

    /* A creation the broker refuses (one broker, replication factor 3). */
    char bad[128];
    ms_ktopic_spec rf = {name(bad, sizeof(bad), "rf3"), 2, 3, 1};
    err[0] = '\0';
    assert_int_equal(ms_kadmin_ensure_topics(&c, &rf, 1, &created, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "refused to create internal topic"));
    assert_non_null(strstr(err, "INVALID_REPLICATION_FACTOR"));
    const char *bn[] = {bad};
    assert_int_equal(ms_kadmin_partitions(&c, bn, 1, counts, err, sizeof(err)), 0);
    assert_int_equal(counts[0], 0);
}

/* ------------------------------------------------------- transactions */

typedef struct collected {
    int n;
    char vals[64][32];
    int tombstones;
} collected;

static int collect(void *ud, const ms_kmsg *m)
{
    collected *c = ud;
    if (!m->value) {
        c->tombstones++;
        return 0;
    }
    if (c->n < 64)
        snprintf(c->vals[c->n++], 32, "%.*s", (int)m->vlen, (const char *)m->value);
    return 0;
}

static void read_all(ms_kreader *r, const char *topic, collected *out)
{
    memset(out, 0, sizeof(*out));
    int64_t pos = 0;
    char err[512];
    ms_ktp end = {topic, 0, -1, NULL};
    assert_int_equal(ms_kreader_offsets(r, &end, 1, 0, err, sizeof(err)), 0);
    int rc =
        ms_kreader_read(r, topic, 0, &pos, end.offset, 30.0, NULL, collect, out, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_true(pos >= end.offset);
}

static void test_transactions(void **state)
{
    (void)state;
    ms_kconf c = kconf();
    char topic[128], txid[128], err[1024] = "";
    ms_ktopic_spec spec = {name(topic, sizeof(topic), "txn"), 1, -1, 1};
    size_t created;
    assert_int_equal(ms_kadmin_ensure_topics(&c, &spec, 1, &created, err, sizeof(err)), 0);

    ms_ktxn *t = NULL;
    assert_int_equal(
        ms_ktxn_open(&c, name(txid, sizeof(txid), "producer"), 10000, &t, err, sizeof(err)), 0);
    /* A committed transaction: both records, their last offset known. */
    assert_int_equal(ms_ktxn_begin(t, err, sizeof(err)), 0);
    assert_true(ms_ktxn_open_txn(t));
    assert_int_equal(ms_ktxn_produce(t, topic, 0, "k1", 2, "one", 3, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_produce(t, topic, 0, "k2", 2, "two", 3, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_flush(t, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_last_offset(t, topic, 0), 1);
    assert_int_equal(ms_ktxn_commit(t, err, sizeof(err)), 0);
    assert_false(ms_ktxn_open_txn(t));
    /* An aborted one: never read (read_committed). */
    assert_int_equal(ms_ktxn_begin(t, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_produce(t, topic, 0, "k3", 2, "aborted", 7, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_flush(t, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_abort(t, err, sizeof(err)), 0);
    /* A tombstone, committed. */
    assert_int_equal(ms_ktxn_begin(t, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_produce(t, topic, 0, "k1", 2, NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_commit(t, err, sizeof(err)), 0);
    uint64_t recs, bytes;
    ms_ktxn_counts(t, &recs, &bytes);
    assert_int_equal(recs, 4);

    ms_kreader *r = NULL;
    assert_int_equal(ms_kreader_open(&c, "kg-reader", &r, err, sizeof(err)), 0);
    collected got;
    read_all(r, topic, &got);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.vals[0], "one");
    assert_string_equal(got.vals[1], "two");
    assert_int_equal(got.tombstones, 1);

    /* An open transaction holds the end (last stable offset) back. */
    assert_int_equal(ms_ktxn_begin(t, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_produce(t, topic, 0, "k4", 2, "open", 4, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_flush(t, err, sizeof(err)), 0);
    int64_t open_at = ms_ktxn_last_offset(t, topic, 0);
    ms_ktp end = {topic, 0, -1, NULL};
    assert_int_equal(ms_kreader_offsets(r, &end, 1, 0, err, sizeof(err)), 0);
    assert_true(end.offset <= open_at);

    /* A second producer with the same transactional.id fences the first:
     * its open transaction is aborted, it can never commit. */
    ms_ktxn *t2 = NULL;
    assert_int_equal(ms_ktxn_open(&c, txid, 10000, &t2, err, sizeof(err)), 0);
    err[0] = '\0';
    int rc = ms_ktxn_commit(t, err, sizeof(err));
    assert_int_equal(rc, MS_EFENCED);
    assert_non_null(strstr(err, "fenced"));
    assert_int_equal(ms_ktxn_begin(t2, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_produce(t2, topic, 0, "k5", 2, "five", 4, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_commit(t2, err, sizeof(err)), 0);
    read_all(r, topic, &got);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.vals[2], "five"); /* "open" was aborted with the fenced producer */

    ms_ktxn_close(t);
    ms_ktxn_close(t2);
    ms_kreader_close(r);
}

/* ------------------------------------------------------------- groups */

typedef struct member_log {
    int assigned, revoked, lost;
    int owned[8];                /* partition -> 1 while assigned */
    int revoked_before_unassign; /* the hook ran while the partition was still assigned */
    ms_kmember *self;
} member_log;

static void on_assigned(void *ud, const ms_ktp *parts, size_t n)
{
    member_log *l = ud;
    l->assigned++;
    for (size_t i = 0; i < n; i++)
        if (parts[i].partition < 8)
            l->owned[parts[i].partition] = 1;
}

static void on_revoked(void *ud, const ms_ktp *parts, size_t n, int lost)
{
    member_log *l = ud;
    l->revoked++;
    l->lost += lost;
    for (size_t i = 0; i < n; i++) {
        /* Still ours: its position can be read (the batch can be committed). */
        ms_ktp p = parts[i];
        ms_kmember_positions(l->self, &p, 1);
        l->revoked_before_unassign += 1;
        if (parts[i].partition < 8)
            l->owned[parts[i].partition] = 0;
    }
}

static int owned_count(const member_log *l)
{
    int n = 0;
    for (int i = 0; i < 8; i++)
        n += l->owned[i];
    return n;
}

/* Polls both members until cond holds or the deadline passes. */
static int poll_until(ms_kmember *a, ms_kmember *b, int (*cond)(void *), void *ud, double sec)
{
    double end = ms_now_mono() + sec;
    char err[512];
    ms_kmsg m;
    while (ms_now_mono() < end) {
        if (a)
            ms_kmember_poll(a, 50, &m, err, sizeof(err));
        if (b)
            ms_kmember_poll(b, 50, &m, err, sizeof(err));
        if (cond(ud))
            return 1;
    }
    return 0;
}

typedef struct two {
    member_log *a, *b;
    int want_a, want_b;
} two;

static int split_is(void *ud)
{
    two *t = ud;
    return owned_count(t->a) == t->want_a && (!t->b || owned_count(t->b) == t->want_b);
}

static void test_group_members(void **state)
{
    (void)state;
    ms_kconf c = kconf();
    char topic[128], group[128], txid[128], err[1024] = "";
    ms_ktopic_spec spec = {name(topic, sizeof(topic), "input"), 4, -1, 0};
    size_t created;
    assert_int_equal(ms_kadmin_ensure_topics(&c, &spec, 1, &created, err, sizeof(err)), 0);
    name(group, sizeof(group), "group");
    const char *topics[] = {topic};
    ms_kmember_conf mc = {
        .k = c, .group_id = group, .topics = topics, .ntopics = 1, .session_timeout_ms = 6000};
    member_log la = {0}, lb = {0};
    ms_kmember_hooks ha = {&la, on_assigned, on_revoked};
    ms_kmember_hooks hb = {&lb, on_assigned, on_revoked};
    ms_kmember *a = NULL, *b = NULL;
    assert_int_equal(ms_kmember_open(&mc, &ha, &a, err, sizeof(err)), 0);
    la.self = a;
    two t = {&la, NULL, 4, 0};
    assert_true(poll_until(a, NULL, split_is, &t, 30));
    int32_t gen1 = ms_kmember_generation(a);
    assert_true(gen1 >= 1);

    /* Offsets with metadata, committed in a transaction of this member. */
    ms_ktxn *tx = NULL;
    assert_int_equal(
        ms_ktxn_open(&c, name(txid, sizeof(txid), "gtx"), 10000, &tx, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_begin(tx, err, sizeof(err)), 0);
    ms_ktp offs[] = {{topic, 0, 5, "cl=17"}, {topic, 1, 7, NULL}};
    assert_int_equal(ms_ktxn_send_offsets(tx, a, offs, 2, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_commit(tx, err, sizeof(err)), 0);
    ms_buf meta = MS_BUF_INIT;
    ms_ktp got[] = {{topic, 0, -1, NULL}, {topic, 1, -1, NULL}, {topic, 2, -1, NULL}};
    assert_int_equal(ms_kmember_committed(a, got, 3, &meta, 10000, err, sizeof(err)), 0);
    assert_int_equal(got[0].offset, 5);
    assert_non_null(got[0].metadata);
    assert_string_equal(got[0].metadata, "cl=17");
    assert_int_equal(got[1].offset, 7);
    assert_int_equal(got[2].offset, -1);

    /* A second member: cooperative-sticky moves two partitions, and the
     * revocation hook runs before they are given up. */
    assert_int_equal(ms_kmember_open(&mc, &hb, &b, err, sizeof(err)), 0);
    lb.self = b;
    t = (two){&la, &lb, 2, 2};
    assert_true(poll_until(a, b, split_is, &t, 60));
    assert_true(la.revoked >= 1);
    assert_int_equal(la.revoked_before_unassign, 2);
    assert_int_equal(la.lost, 0);
    for (int p = 0; p < 4; p++)
        assert_int_equal(la.owned[p] + lb.owned[p], 1); /* no partition twice */
    assert_true(ms_kmember_generation(b) > gen1);

    /* The first member leaves: the second gets everything. */
    assert_int_equal(ms_kmember_close(a), 0);
    t = (two){&lb, NULL, 4, 0};
    assert_true(poll_until(b, NULL, split_is, &t, 60));
    assert_int_equal(ms_kmember_close(b), 0);
    ms_ktxn_close(tx);
    ms_buf_free(&meta);
}

/* Offsets of a transaction still open are held back from the group: a
 * committed() that must be stable waits, and once the transaction is
 * committed it returns them (KIP-447's require_stable). */
static void test_pending_offsets_held(void **state)
{
    (void)state;
    ms_kconf c = kconf();
    char topic[128], group[128], txid[128], err[1024] = "";
    ms_ktopic_spec spec = {name(topic, sizeof(topic), "pending"), 1, -1, 0};
    size_t created;
    assert_int_equal(ms_kadmin_ensure_topics(&c, &spec, 1, &created, err, sizeof(err)), 0);
    name(group, sizeof(group), "pgroup");
    const char *topics[] = {topic};
    ms_kmember_conf mc = {.k = c, .group_id = group, .topics = topics, .ntopics = 1};
    member_log la = {0};
    ms_kmember_hooks ha = {&la, on_assigned, on_revoked};
    ms_kmember *a = NULL;
    assert_int_equal(ms_kmember_open(&mc, &ha, &a, err, sizeof(err)), 0);
    la.self = a;
    two t = {&la, NULL, 1, 0};
    assert_true(poll_until(a, NULL, split_is, &t, 30));
    ms_ktxn *tx = NULL;
    assert_int_equal(
        ms_ktxn_open(&c, name(txid, sizeof(txid), "ptx"), 20000, &tx, err, sizeof(err)), 0);
    /* Committed: offset 10. */
    assert_int_equal(ms_ktxn_begin(tx, err, sizeof(err)), 0);
    ms_ktp first = {topic, 0, 10, "cl=3"};
    assert_int_equal(ms_ktxn_send_offsets(tx, a, &first, 1, err, sizeof(err)), 0);
    assert_int_equal(ms_ktxn_commit(tx, err, sizeof(err)), 0);
    /* Pending: offset 42, in a transaction still open. */
    assert_int_equal(ms_ktxn_begin(tx, err, sizeof(err)), 0);
    ms_ktp off = {topic, 0, 42, "cl=9"};
    assert_int_equal(ms_ktxn_send_offsets(tx, a, &off, 1, err, sizeof(err)), 0);
    ms_buf meta = MS_BUF_INIT;
    ms_ktp got = {topic, 0, -1, NULL};
    int rc = ms_kmember_committed(a, &got, 1, &meta, 2000, err, sizeof(err));
    /* Neither the pending 42 nor the stale 10: the answer waits for the
     * transaction (the next owner must not start from 10 while 42 may
     * still be committed). */
    assert_int_equal(rc, MS_ETIMEDOUT);
    assert_int_equal(ms_ktxn_commit(tx, err, sizeof(err)), 0);
    assert_int_equal(ms_kmember_committed(a, &got, 1, &meta, 10000, err, sizeof(err)), 0);
    assert_int_equal(got.offset, 42);
    assert_string_equal(got.metadata, "cl=9");
    ms_kmember_close(a);
    ms_ktxn_close(tx);
    ms_buf_free(&meta);
}

int main(void)
{
    if (read_state() != 0) {
        fprintf(stderr, "test_kgroup: MS_KAFKA_STATE does not name a running broker (run "
                        "through ctest: fixture 'kafka')\n");
        return 1;
    }
    snprintf(run_id, sizeof(run_id), "%d-%ld", (int)getpid(), (long)time(NULL));
    ms_log_threshold = MS_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_internal_topics),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_group_members),
        cmocka_unit_test(test_pending_offsets_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
