/*
 * The Kafka source's waits for unreachable brokers end when the stop flag
 * is set (SIGTERM/SIGINT in the engine), however long --kafka-timeout-sec
 * is, against librdkafka's mock cluster (3 brokers over loopback sockets,
 * every one set down for the faults) and a real RocksDB checkpoint.
 *
 * The timeout is KTIMEOUT_MS (120 s): a wait that ignored the stop flag
 * would take at least that long, so "returned at all, in less than
 * PROMPT_SEC" is the check, never a tight duration.  Each interrupted call
 * must return MS_EINVAL "interrupted" with no plan and no position moved:
 * after the brokers come back, every message is read exactly once from
 * where the last commit left it (the collector checks consecutive offsets
 * and each message's value "<topic>:<partition>:<offset>").  The plain
 * timeout path (no stop) is checked too: it still waits for the deadline
 * and counts the failure, as before the waits were sliced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "source/ms_kafkasrc.h"
#include "state/ms_ckpt.h"

#include "kafka_mock.h"

#define NBROKERS    3
#define NPART       2
#define KTIMEOUT_MS 120000 /* --kafka-timeout-sec 120 */
#define PROMPT_SEC  60.0   /* far below the timeout: "did not wait for it" */
#define STALL_WAIT  12.0   /* past the source's 10 s no-progress check */

/* ---------------------------------------------------------------- fixture */

typedef struct fixture {
    kmock k;
    int64_t produced[NPART];
    int64_t next[NPART]; /* next offset the collector must see */
    uint64_t got;
    char bad[256]; /* first wrong message */
    ms_kafkasrc *src;
    ms_kafkasrc_conf conf;
    const char *topics[1];
    const char *props[2];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    kmock_open(&f->k, "/tmp/ms_kstop_XXXXXX", NBROKERS, NULL, NULL);
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, "t1", NPART, NBROKERS), 0);

    f->topics[0] = "t1";
    f->props[0] = "reconnect.backoff.max.ms=200";
    f->props[1] = "log_level=2"; /* the brokers go down on purpose */
    f->conf.brokers = f->k.boot;
    f->conf.topics = f->topics;
    f->conf.ntopics = 1;
    f->conf.props = f->props;
    f->conf.nprops = 2;
    f->conf.starting_offsets = "earliest";
    f->conf.fail_on_data_loss = 1;
    f->conf.timeout_ms = KTIMEOUT_MS;
    f->conf.ckpt_dir = f->k.chk;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ms_kafkasrc_close(f->src);
    kmock_close(&f->k);
    free(f);
    return 0;
}

static void open_src(fixture *f)
{
    char err[512] = "";
    if (ms_kafkasrc_open(&f->conf, f->k.ck, &f->src, err, sizeof(err)) != 0)
        fail_msg("open: %s", err);
}

/* n messages to each partition, value "t1:<partition>:<offset>". */
static void produce(fixture *f, int n)
{
    char val[64];
    for (int32_t p = 0; p < NPART; p++)
        for (int i = 0; i < n; i++) {
            int64_t off = f->produced[p]++;
            int vl = snprintf(val, sizeof(val), "t1:%d:%lld", (int)p, (long long)off);
            assert_int_equal(
                rd_kafka_producev(f->k.prod, RD_KAFKA_V_TOPIC("t1"), RD_KAFKA_V_PARTITION(p),
                                  RD_KAFKA_V_VALUE(val, (size_t)vl),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                0);
        }
    assert_int_equal(rd_kafka_flush(f->k.prod, 10000), 0);
}

static void brokers(fixture *f, int up)
{
    for (int b = 1; b <= NBROKERS; b++) {
        if (up)
            rd_kafka_mock_broker_set_up(f->k.mc, b);
        else
            rd_kafka_mock_broker_set_down(f->k.mc, b);
    }
}

/* Every message must be the next offset of its partition. */
static void on_msg(void *ud, const ms_value meta[MS_META_NCOLS], const uint8_t *value, size_t len)
{
    fixture *f = ud;
    int32_t p = (int32_t)meta[MS_META_PARTITION].i;
    int64_t off = meta[MS_META_OFFSET].i;
    f->got++;
    char want[64];
    int wl = snprintf(want, sizeof(want), "t1:%d:%lld", (int)p, (long long)off);
    if (f->bad[0])
        return;
    if (p < 0 || p >= NPART || off != f->next[p])
        snprintf(f->bad, sizeof(f->bad), "partition %d: offset %lld arrived, %lld expected", (int)p,
                 (long long)off, p >= 0 && p < NPART ? (long long)f->next[p] : -1LL);
    else if (len != (size_t)wl || memcmp(value, want, len) != 0)
        snprintf(f->bad, sizeof(f->bad), "message at %s has value \"%.*s\"", want,
                 (int)(len < 60 ? len : 60), value);
    else
        f->next[p] = off + 1;
}

static void commit_plan(fixture *f, const ms_kafka_plan *plan)
{
    char err[512];
    ms_ckpt_batch *wb = ms_ckpt_batch_new();
    ms_kafkasrc_commit(f->src, plan, wb);
    assert_int_equal(ms_ckpt_commit(f->k.ck, wb, err, sizeof(err)), 0);
    ms_ckpt_batch_free(wb);
    ms_kafkasrc_committed(f->src, plan);
}

/* Plans and reads until a plan is empty (brokers up, nothing stops it);
 * returns the messages read.  Bounded by a stopper so it cannot hang. */
static uint64_t drain(fixture *f)
{
    uint64_t before = f->got;
    for (int i = 0; i < 20; i++) {
        ms_kafka_plan plan;
        char err[512] = "";
        int rc = ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err));
        if (rc)
            fail_msg("plan: %s", err);
        if (ms_kafkasrc_plan_messages(&plan) == 0) {
            ms_kafka_plan_free(&plan);
            if (f->bad[0])
                fail_msg("%s", f->bad);
            return f->got - before;
        }
        stopper st;
        kmock_input kin;
        stopper_start(&st, PROMPT_SEC);
        rc = ms_kafkasrc_read(f->src, &plan, kmock_input_init(&kin, on_msg, f), &st.flag, err,
                              sizeof(err));
        stopper_join(&st);
        if (rc)
            fail_msg("read: %s", err);
        commit_plan(f, &plan);
        ms_kafka_plan_free(&plan);
    }
    fail_msg("still reading after 20 batches");
    return 0;
}

/* Everything produced so far was read, each message once. */
static void assert_all_read(fixture *f)
{
    if (f->bad[0])
        fail_msg("%s", f->bad);
    for (int p = 0; p < NPART; p++)
        assert_int_equal(f->next[p], f->produced[p]);
}

/* One plan with the brokers down, the stop flag set after `delay` seconds
 * (0: before the call).  It must be interrupted. */
static void plan_interrupted(fixture *f, double delay)
{
    ms_kafka_plan plan;
    char err[256] = "";
    stopper st;
    double t0 = ms_now_mono();
    if (delay > 0) {
        stopper_start(&st, delay);
    } else {
        memset(&st, 0, sizeof(st));
        st.flag = 1;
    }
    int rc = ms_kafkasrc_plan(f->src, &plan, &st.flag, err, sizeof(err));
    double took = ms_now_mono() - t0;
    if (delay > 0)
        stopper_join(&st);
    print_message("plan with the brokers down, stop after %.1fs: returned after %.2fs (%s)\n",
                  delay, took, err);
    assert_int_equal(rc, MS_EINVAL);
    assert_string_equal(err, "interrupted");
    assert_int_equal(plan.n, 0);
    assert_int_equal(ms_kafkasrc_plan_messages(&plan), 0);
    assert_true(took >= delay - 0.01); /* it waited for the flag ... */
    assert_true(took < PROMPT_SEC);    /* ... not for the 120 s timeout */
    ms_kafka_plan_free(&plan);
}

/* ------------------------------------------------------------------ plan */

/* The source never reached the brokers: the wait is rd_kafka_metadata's. */
static void test_plan_stop_while_listing_partitions(void **state)
{
    fixture *f = *state;
    produce(f, 15);
    brokers(f, 0);
    open_src(f);
    plan_interrupted(f, 0); /* a stop before the call */
    plan_interrupted(f, 0.5);
    ms_kafkasrc_stats st;
    ms_kafkasrc_get_stats(f->src, &st);
    assert_int_equal(st.metadata_refreshes, 0);
    assert_int_equal(st.npart, 0); /* nothing learnt, nothing planned */
    ms_kafkasrc_stats_free(&st);

    brokers(f, 1);
    assert_int_equal(drain(f), 2 * 15);
    assert_all_read(f);
}

/* The partitions are known and discovery is not due: the wait is the end
 * offset query's (rd_kafka_offsets_for_times). */
static void test_plan_stop_while_querying_offsets(void **state)
{
    fixture *f = *state;
    f->conf.metadata_interval_sec = 3600;
    produce(f, 20);
    open_src(f);
    assert_int_equal(drain(f), 2 * 20);
    produce(f, 7);
    ms_kafkasrc_stats st0, st1;
    ms_kafkasrc_get_stats(f->src, &st0);
    assert_int_equal(st0.metadata_refreshes, 1);

    brokers(f, 0);
    plan_interrupted(f, 0.5);
    plan_interrupted(f, 1.5); /* past the first slices: still noticed */
    ms_kafkasrc_get_stats(f->src, &st1);
    assert_int_equal(st1.metadata_refreshes, 1); /* the wait was for offsets */
    /* an interruption is not a broker failure */
    assert_int_equal(st1.watermark_failures, st0.watermark_failures);
    for (int p = 0; p < NPART; p++)
        assert_int_equal(st1.parts[p].committed, 20); /* no position moved */
    ms_kafkasrc_stats_free(&st0);
    ms_kafkasrc_stats_free(&st1);

    brokers(f, 1);
    assert_int_equal(drain(f), 2 * 7);
    assert_all_read(f);
}

/* Without a stop, brokers that stay down cost the whole timeout, and the
 * failure is counted and survived, as before the waits were sliced. */
static void test_plan_timeout_unchanged(void **state)
{
    fixture *f = *state;
    f->conf.timeout_ms = 1500;
    produce(f, 5);
    open_src(f);
    assert_int_equal(drain(f), 2 * 5);
    produce(f, 3);
    brokers(f, 0);

    ms_kafkasrc_stats st0, st1;
    ms_kafkasrc_get_stats(f->src, &st0);
    volatile sig_atomic_t never = 0;
    ms_kafka_plan plan;
    char err[256] = "";
    double t0 = ms_now_mono();
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, &never, err, sizeof(err)), 0);
    double took = ms_now_mono() - t0;
    print_message("plan with the brokers down, no stop: %.2fs\n", took);
    assert_int_equal(plan.n, 0);
    ms_kafka_plan_free(&plan);
    /* one slice is 0.2 s: it kept asking until the 1.5 s deadline */
    assert_true(took >= 1.4);
    assert_true(took < 3 * 1.5 + 5);
    ms_kafkasrc_get_stats(f->src, &st1);
    assert_true(st1.transient_errors > st0.transient_errors);
    ms_kafkasrc_stats_free(&st0);
    ms_kafkasrc_stats_free(&st1);

    brokers(f, 1);
    assert_int_equal(drain(f), 2 * 3);
    assert_all_read(f);
}

/* ------------------------------------------------------------------ read */

/* A read that makes no progress checks after 10 s that its offsets still
 * exist (an offset query): that wait ends on the stop flag too.  The
 * abandoned batch, run again with the brokers back, reads each planned
 * message once. */
static void test_read_stop_while_checking_offsets(void **state)
{
    fixture *f = *state;
    f->conf.metadata_interval_sec = 3600;
    produce(f, 4);
    open_src(f);
    assert_int_equal(drain(f), 2 * 4);
    produce(f, 6);
    ms_kafka_plan plan;
    char err[256] = "";
    assert_int_equal(ms_kafkasrc_plan(f->src, &plan, NULL, err, sizeof(err)), 0);
    assert_int_equal(ms_kafkasrc_plan_messages(&plan), 2 * 6);

    brokers(f, 0);
    stopper st;
    kmock_input kin;
    double t0 = ms_now_mono();
    stopper_start(&st, STALL_WAIT);
    int rc = ms_kafkasrc_read(f->src, &plan, kmock_input_init(&kin, on_msg, f), &st.flag, err,
                              sizeof(err));
    double took = ms_now_mono() - t0;
    stopper_join(&st);
    print_message("read with the brokers down, stop after %.0fs: returned after %.2fs\n",
                  STALL_WAIT, took);
    assert_int_equal(rc, MS_EINVAL);
    assert_string_equal(err, "interrupted");
    assert_true(took >= STALL_WAIT - 0.01);
    assert_true(took < PROMPT_SEC);
    assert_int_equal(f->got, 2 * 4); /* nothing of the batch was delivered */

    brokers(f, 1);
    stopper_start(&st, PROMPT_SEC);
    rc = ms_kafkasrc_read(f->src, &plan, kmock_input_init(&kin, on_msg, f), &st.flag, err,
                          sizeof(err));
    stopper_join(&st);
    if (rc)
        fail_msg("read again: %s", err);
    commit_plan(f, &plan);
    ms_kafka_plan_free(&plan);
    assert_all_read(f);
    assert_int_equal(drain(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_stop_while_listing_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_stop_while_querying_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_timeout_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_stop_while_checking_offsets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
