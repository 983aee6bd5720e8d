/*
 * ms_kafka_baseline — the Kafka benchmark's baseline: a bare librdkafka
 * consumer, and the topic set-up the benchmark needs.
 *
 *   ms_kafka_baseline create BROKERS TOPIC PARTITIONS
 *       creates TOPIC (replication factor 1) and waits for the answer.
 *   ms_kafka_baseline consume BROKERS TOPIC [--mode poll|batch] [-X KEY=VALUE]...
 *       reads every message of every partition of TOPIC, from the low to the
 *       high watermark taken at start, and prints one line:
 *       "messages=N value_bytes=B key_bytes=K partitions=P seconds=S checksum=C
 *        peak_rss_kb=R"
 *
 * What "bare" means: no parsing, no state, no checkpoint; the consumer only
 * counts.  It uses what a librdkafka user writes first: a group.id (needed by
 * librdkafka even without a group subscription), auto-commit off, manual
 * assign() from the beginning, and then either
 *   poll   rd_kafka_consumer_poll(), one message per call (kcat's loop), or
 *   batch  rd_kafka_consume_batch_queue() on the consumer queue, what the
 *          engine's source does (what is queued without waiting, else one
 *          poll), so the ratio is not flattered by a slow loop.
 * Every other property is librdkafka's default unless given with -X (the bench
 * gives both sides the same ones).  The checksum (sum over messages of the
 * first and last value byte and the length) makes every message's memory be
 * touched, as the engine touches it.
 *
 * Exit status: 0 done, 1 Kafka error or timeout (60 s without progress), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define STALL_SEC 60.0
#define BATCH     1024

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: ms_kafka_baseline create BROKERS TOPIC PARTITIONS\n"
                    "       ms_kafka_baseline consume BROKERS TOPIC [--mode poll|batch] "
                    "[-X KEY=VALUE]...\n");
    return 2;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ms_kafka_baseline: %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

static int create_topic(const char *brokers, const char *topic, int partitions)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers)) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ms_kafka_baseline: %s\n", err);
        return 1;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    if (!nt) {
        fprintf(stderr, "ms_kafka_baseline: %s\n", err);
        rd_kafka_destroy(rk);
        return 2;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err, sizeof(err));
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "ms_kafka_baseline: no answer to CreateTopics within 60 s\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "ms_kafka_baseline: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n == 1 && rd_kafka_topic_result_error(res[0]) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = 0;
        else if (n == 1)
            fprintf(stderr, "ms_kafka_baseline: create %s: %s\n", topic,
                    rd_kafka_topic_result_error_string(res[0]));
        else
            fprintf(stderr, "ms_kafka_baseline: CreateTopics returned %zu results\n", n);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* VmHWM of this process image (ru_maxrss would include the forking parent's
 * pages from before exec). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

typedef struct part {
    int64_t next, end; /* next offset wanted, high watermark at start */
} part;

typedef struct totals {
    uint64_t messages, value_bytes, key_bytes, checksum;
} totals;

/* Counts one message; returns 1 when its partition just reached its end. */
static int take(rd_kafka_message_t *m, part *parts, int np, totals *t, int *failed)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 0;
    if (m->err) {
        fprintf(stderr, "ms_kafka_baseline: %s\n", rd_kafka_message_errstr(m));
        *failed = 1;
        return 0;
    }
    if (m->partition < 0 || m->partition >= np)
        return 0;
    part *p = &parts[m->partition];
    if (m->offset < p->next || p->next >= p->end)
        return 0;
    t->messages++;
    t->value_bytes += m->len;
    t->key_bytes += m->key_len;
    if (m->len) {
        const unsigned char *v = m->payload;
        t->checksum += (uint64_t)v[0] + v[m->len - 1] + m->len;
    }
    p->next = m->offset + 1;
    return p->next >= p->end;
}

static int consume(const char *brokers, const char *topic, int batch, char **props, int nprops)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers) || set(conf, "group.id", "ms-kafka-baseline") ||
        set(conf, "enable.auto.commit", "false") || set(conf, "enable.partition.eof", "true")) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    for (int i = 0; i < nprops; i++) {
        char *eq = strchr(props[i], '=');
        if (!eq) {
            fprintf(stderr, "ms_kafka_baseline: -X %s: expected KEY=VALUE\n", props[i]);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
        *eq = '\0';
        int bad = set(conf, props[i], eq + 1);
        *eq = '=';
        if (bad) {
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    }
    double t0 = now_mono();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ms_kafka_baseline: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    int rc = 1;
    part *parts = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 30000);
    if (!e && md->topic_cnt == 1 && md->topics[0].err)
        e = md->topics[0].err;
    if (e || md->topic_cnt != 1 || md->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "ms_kafka_baseline: metadata of %s: %s\n", topic,
                e ? rd_kafka_err2str(e) : "no partitions");
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    parts = calloc((size_t)np, sizeof(*parts));
    l = rd_kafka_topic_partition_list_new(np);
    int open = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 30000);
        if (e) {
            fprintf(stderr, "ms_kafka_baseline: watermarks of %s [%d]: %s\n", topic, p,
                    rd_kafka_err2str(e));
            goto out;
        }
        parts[p] = (part){.next = lo, .end = hi};
        open += lo < hi;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo;
    }
    if ((e = rd_kafka_assign(rk, l))) {
        fprintf(stderr, "ms_kafka_baseline: assign: %s\n", rd_kafka_err2str(e));
        goto out;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[BATCH];
    totals t = {0};
    int failed = 0;
    double last = now_mono();
    while (open > 0 && !failed) {
        ssize_t got;
        /* batch: what is queued, without waiting (with a timeout the call
         * waits for a full batch, which the end of a topic never brings) */
        got = batch ? rd_kafka_consume_batch_queue(q, 0, msgs, BATCH) : 0;
        if (got <= 0) {
            msgs[0] = rd_kafka_consumer_poll(rk, 100);
            got = msgs[0] != NULL;
        }
        for (ssize_t i = 0; i < got; i++) {
            open -= take(msgs[i], parts, np, &t, &failed);
            rd_kafka_message_destroy(msgs[i]);
        }
        double tn = now_mono();
        if (got > 0)
            last = tn;
        else if (tn - last > STALL_SEC) {
            fprintf(stderr, "ms_kafka_baseline: no message for %.0f s; %d partitions unfinished\n",
                    STALL_SEC, open);
            failed = 1;
        }
    }
    rd_kafka_queue_destroy(q);
    if (!failed) {
        printf("messages=%llu value_bytes=%llu key_bytes=%llu partitions=%d seconds=%.6f "
               "checksum=%llu peak_rss_kb=%ld\n",
               (unsigned long long)t.messages, (unsigned long long)t.value_bytes,
               (unsigned long long)t.key_bytes, np, now_mono() - t0, (unsigned long long)t.checksum,
               peak_rss_kb());
        rc = 0;
    }
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    free(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "create")) {
        int n = atoi(argv[4]);
        if (n <= 0)
            return usage();
        return create_topic(argv[2], argv[3], n);
    }
    if (argc < 4 || strcmp(argv[1], "consume"))
        return usage();
    int batch = 1, nprops = 0;
    char **props = calloc((size_t)argc, sizeof(char *));
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "poll") && strcmp(m, "batch")) {
                free(props);
                return usage();
            }
            batch = !strcmp(m, "batch");
        } else if (!strcmp(argv[i], "-X") && i + 1 < argc) {
            props[nprops++] = argv[++i];
        } else {
            free(props);
            return usage();
        }
    }
    int rc = consume(argv[2], argv[3], batch, props, nprops);
    free(props);
    return rc;
}
