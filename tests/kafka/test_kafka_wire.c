/*
 * The engine's Kafka wiring without a broker (cmocka): the command-line
 * flags of the Kafka source, the checkpoint's source record (m:source, on
 * a real RocksDB checkpoint in a temp dir), and the Kafka series of
 * /metrics rendered from a snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ms_buf.h"
#include "core/ms_config.h"
#include "core/ms_log.h"
#include "engine/ms_program.h"
#include "http/ms_prom.h"
#include "http/ms_snapshot.h"
#include "mstream/mstream.h"
#include "source/ms_sources.h"
#include "state/ms_ckpt.h"

/* ------------------------------------------------------------ config */

static int parse(ms_config *c, char *err, int argc, char **argv)
{
    return ms_config_parse(c, argc, argv, err, 256);
}

static void test_kafka_flags(void **state)
{
    (void)state;
    char *argv[] = {"mstream",
                    "--kafka",
                    "127.0.0.1:9092,127.0.0.1:9093",
                    "--topics",
                    "task-events,job-events",
                    "-X",
                    "fetch.max.bytes=1048576",
                    "-Xclient.id=me",
                    "--starting-offsets",
                    "{\"task-events\":{\"0\":5}}",
                    "--fail-on-data-loss",
                    "false",
                    "--max-offsets-per-trigger",
                    "1000",
                    "--kafka-timeout-sec=0.5",
                    "--checkpointDir",
                    "chk"};
    ms_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, err, (int)(sizeof(argv) / sizeof(argv[0])), argv), 0);
    assert_null(c.input_dir);
    assert_string_equal(c.kafka, "127.0.0.1:9092,127.0.0.1:9093");
    assert_int_equal(c.ntopics, 2);
    assert_string_equal(c.topic_list[0], "task-events");
    assert_string_equal(c.topic_list[1], "job-events");
    assert_int_equal(c.nkafka_props, 2);
    assert_string_equal(c.kafka_props[0], "fetch.max.bytes=1048576");
    assert_string_equal(c.kafka_props[1], "client.id=me");
    assert_string_equal(c.starting_offsets, "{\"task-events\":{\"0\":5}}");
    assert_int_equal(c.fail_on_data_loss, 0);
    assert_int_equal(c.max_offsets_per_trigger, 1000);
    assert_true(c.kafka_timeout_sec == 0.5);
    ms_config_free(&c);

    /* Defaults, and Spark's camelCase spellings. */
    char *a2[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c"};
    assert_int_equal(parse(&c, err, 5, a2), 0);
    assert_int_equal(c.fail_on_data_loss, 1);
    assert_int_equal(c.ntopics, 0);
    assert_null(c.starting_offsets);
    assert_int_equal(c.max_offsets_per_trigger, 0);
    ms_config_free(&c);
    char *a3[] = {"mstream",
                  "--kafka",
                  "b:1",
                  "--checkpoint-dir",
                  "c",
                  "--failOnDataLoss=false",
                  "--maxOffsetsPerTrigger",
                  "7",
                  "--startingOffsets",
                  "earliest",
                  "--available-now",
                  "true"};
    assert_int_equal(parse(&c, err, 12, a3), 0);
    assert_int_equal(c.fail_on_data_loss, 0);
    assert_int_equal(c.max_offsets_per_trigger, 7);
    assert_string_equal(c.starting_offsets, "earliest");
    assert_int_equal(c.available_now, 1);
    ms_config_free(&c);
}

static void expect_usage(int argc, char **argv, const char *needle)
{
    ms_config c;
    char err[256] = "";
    assert_int_equal(parse(&c, err, argc, argv), MS_EUSAGE);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    ms_config_free(&c);
}

static void test_kafka_usage_errors(void **state)
{
    (void)state;
    char *a1[] = {"mstream", "--checkpoint-dir", "c"};
    expect_usage(3, a1, "--kafka BROKERS");
    char *a2[] = {"mstream", "--kafka", "b:1", "--input-dir", "in", "--checkpoint-dir", "c"};
    expect_usage(7, a2, "cannot be used together");
    char *a3[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "-X"};
    expect_usage(6, a3, "-X needs a value");
    char *a4[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "-X", "=v"};
    expect_usage(7, a4, "-X takes key=value");
    char *a5[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--topics", "a,,b"};
    expect_usage(7, a5, "empty topic name");
    char *a6[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--topics", "a,b,a"};
    expect_usage(7, a6, "names topic 'a' twice");
    char *a7[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "-X", "a=b"};
    expect_usage(7, a7, "-X applies to the Kafka source only");
    char *a8[] = {"mstream", "--input-dir", "in", "--checkpoint-dir", "c", "--topics", "a"};
    expect_usage(7, a8, "--topics applies to the Kafka source only");
    char *a9[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--max-bytes-per-trigger",
                  "1M"};
    expect_usage(7, a9, "--max-offsets-per-trigger");
    char *a10[] = {"mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--fail-on-data-loss",
                   "maybe"};
    expect_usage(7, a10, "unexpected argument 'maybe'");
    char *a11[] = {
        "mstream", "--kafka", "b:1", "--checkpoint-dir", "c", "--max-offsets-per-trigger", "-1"};
    expect_usage(7, a11, "--max-offsets-per-trigger must be");
}

/* ------------------------------------------------------ source record */

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/ms_kwire_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *path = malloc(strlen(d) + 8);
    sprintf(path, "%s/chk", d);
    return path;
}

static void rmtmp(char *path)
{
    char cmd[512];
    *strrchr(path, '/') = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
    free(path);
}

static void test_source_text_sorted(void **state)
{
    (void)state;
    const char *t[] = {"job-events", "a.b", "task-events"};
    char *s = ms_source_kafka_binding(t, 3);
    assert_string_equal(s, "kafka:a.b,job-events,task-events");
    free(s);
    s = ms_source_kafka_binding(t, 0);
    assert_string_equal(s, "kafka:");
    free(s);
}

static void test_bind_source(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char err[2048];
    ms_ckpt *c;
    assert_int_equal(ms_ckpt_open(dir, &c, err, sizeof(err)), 0);
    /* Fresh: the Kafka source is recorded; the same again is accepted. */
    assert_int_equal(ms_program_bind_source(c, dir, "kafka:a,b", 1, err, sizeof(err)), 0);
    assert_int_equal(ms_program_bind_source(c, dir, "kafka:a,b", 0, err, sizeof(err)), 0);
    /* Other topics, or a directory: refused with both named. */
    assert_int_equal(ms_program_bind_source(c, dir, "kafka:a", 0, err, sizeof(err)), MS_EMISMATCH);
    assert_non_null(strstr(err, "Kafka topics a,b"));
    assert_non_null(strstr(err, "this run reads Kafka topics a."));
    assert_non_null(strstr(err, dir));
    assert_int_equal(ms_program_bind_source(c, dir, "dir", 0, err, sizeof(err)), MS_EMISMATCH);
    assert_non_null(strstr(err, "this run reads a directory"));
    ms_buf v = MS_BUF_INIT;
    assert_int_equal(ms_ckpt_get(c, "m:source", 8, &v, err, sizeof(err)), 0);
    assert_int_equal(v.len, 9);
    assert_memory_equal(v.data, "kafka:a,b", 9);
    ms_ckpt_close(c);

    /* A checkpoint from before the record: directory positions. */
    char *dir2 = tmpdir();
    assert_int_equal(ms_ckpt_open(dir2, &c, err, sizeof(err)), 0);
    assert_int_equal(ms_program_bind_source(c, dir2, "kafka:a", 0, err, sizeof(err)), MS_EMISMATCH);
    assert_non_null(strstr(err, "a directory"));
    assert_int_equal(ms_ckpt_get(c, "m:source", 8, &v, err, sizeof(err)), MS_ENOTFOUND);
    assert_int_equal(ms_program_bind_source(c, dir2, "dir", 0, err, sizeof(err)), 0);
    assert_int_equal(ms_ckpt_get(c, "m:source", 8, &v, err, sizeof(err)), 0);
    assert_int_equal(v.len, 3);
    assert_int_equal(ms_program_bind_source(c, dir2, "kafka:a", 0, err, sizeof(err)), MS_EMISMATCH);
    ms_ckpt_close(c);
    /* Survives reopening. */
    assert_int_equal(ms_ckpt_open(dir2, &c, err, sizeof(err)), 0);
    assert_int_equal(ms_program_bind_source(c, dir2, "dir", 0, err, sizeof(err)), 0);
    ms_ckpt_close(c);
    ms_buf_free(&v);
    rmtmp(dir);
    rmtmp(dir2);
}

/* ------------------------------------------------------------ /metrics */

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void test_prom_kafka_series(void **state)
{
    (void)state;
    ms_snapshot *s = ms_snapshot_new(0, 10);
    s->stats.batch_dur.bounds = ms_hist_batch_bounds;
    s->stats.commit_dur.bounds = ms_hist_commit_bounds;
    s->stats.input_rows = 42;
    s->stats.input_bytes = 4200;
    s->has_kafka = 1;
    s->kafka.transient_errors = 3;
    s->kafka.data_loss_events = 1;
    s->kafka.offsets_lost = 17;
    s->kafka.npart = 2;
    s->kafka.parts = ms_xcalloc(2, sizeof(ms_kafka_part_stats));
    s->kafka.parts[0] = (ms_kafka_part_stats){ms_xstrdup("task-events"), 0, 10, 2, 15, 5};
    s->kafka.parts[1] = (ms_kafka_part_stats){ms_xstrdup("task-events"), 3, -1, -1, -1, 0};
    ms_buf o = MS_BUF_INIT;
    ms_procstat ps;
    memset(&ps, 0, sizeof(ps));
    ms_prom_render(&o, s, &ps);
    ms_buf_putc(&o, '\0');
    const char *t = o.data;
    assert_true(
        has_line(t, "mstream_kafka_partition_lag{topic=\"task-events\",partition=\"0\"} 5"));
    assert_true(
        has_line(t, "mstream_kafka_partition_lag{topic=\"task-events\",partition=\"3\"} 0"));
    assert_true(
        has_line(t, "mstream_kafka_partition_offset{topic=\"task-events\",partition=\"0\"} 10"));
    assert_true(has_line(
        t, "mstream_kafka_partition_high_watermark{topic=\"task-events\",partition=\"0\"} 15"));
    assert_true(has_line(
        t, "mstream_kafka_partition_low_watermark{topic=\"task-events\",partition=\"0\"} 2"));
    /* Unknown positions and watermarks export no sample. */
    assert_null(strstr(t, "mstream_kafka_partition_offset{topic=\"task-events\",partition=\"3\"}"));
    assert_null(
        strstr(t, "mstream_kafka_partition_high_watermark{topic=\"task-events\",partition=\"3\"}"));
    assert_true(has_line(t, "mstream_kafka_transient_errors_total{source=\"kafka\"} 3"));
    assert_true(has_line(t, "mstream_kafka_data_loss_events_total{source=\"kafka\"} 1"));
    assert_true(has_line(t, "mstream_kafka_offsets_lost_total{source=\"kafka\"} 17"));
    assert_true(has_line(t, "mstream_kafka_partitions{source=\"kafka\"} 2"));
    assert_true(has_line(t, "mstream_input_rows_total{source=\"kafka\"} 42"));
    assert_true(has_line(t, "mstream_input_bytes_total{source=\"kafka\"} 4200"));
    /* The directory source's series are not there. */
    assert_null(strstr(t, "source=\"dir\""));
    assert_null(strstr(t, "mstream_source_files"));
    ms_buf_free(&o);
    ms_snapshot_release(s); /* refs 0 -> frees the Kafka stats too (ASan checks) */
}

int main(void)
{
    ms_log_threshold = MS_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_flags),        cmocka_unit_test(test_kafka_usage_errors),
        cmocka_unit_test(test_source_text_sorted), cmocka_unit_test(test_bind_source),
        cmocka_unit_test(test_prom_kafka_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
