/*
 * ms_topic_admin — test helper: creates or deletes a topic and waits until
 * the brokers' metadata agree, so the topic-lifecycle tests can delete a
 * topic and create it again (with another partition count) under or
 * between mstream runs.
 *
 *   ms_topic_admin create BROKERS TOPIC PARTITIONS
 *   ms_topic_admin delete BROKERS TOPIC
 *
 * A create right after a delete may be refused while the deletion is still
 * in progress (TOPIC_ALREADY_EXISTS): it is retried, bounded in time.
 * Exit 0 ok, 1 the broker refused or did not answer in time, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define DEADLINE_SEC 60

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The topic's partition count in the metadata, 0 if it does not exist,
 * -1 if the brokers did not answer. */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    int n = -1;
    if (!err && md->topic_cnt == 1)
        n = md->topics[0].err ? 0 : md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* One admin request; 0, or the error code of the topic's result. */
static rd_kafka_resp_err_t request(rd_kafka_t *rk, const char *what, const char *topic,
                                   int partitions, char *msg, size_t msgsz)
{
    char err[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err, sizeof(err));
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_DeleteTopic_t *dt = NULL;
    if (!strcmp(what, "create")) {
        nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
        if (!nt) {
            snprintf(msg, msgsz, "%s", err);
            rd_kafka_AdminOptions_destroy(opt);
            rd_kafka_queue_destroy(q);
            return RD_KAFKA_RESP_ERR__INVALID_ARG;
        }
        rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    } else {
        dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, opt, q);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    snprintf(msg, msgsz, "no answer within 60 s");
    if (ev && rd_kafka_event_error(ev)) {
        rc = rd_kafka_event_error(ev);
        snprintf(msg, msgsz, "%s", rd_kafka_event_error_string(ev));
    } else if (ev) {
        const rd_kafka_topic_result_t **res;
        size_t n = 0;
        if (nt)
            res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        else
            res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rc = n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
        snprintf(msg, msgsz, "%s",
                 n == 1 && rd_kafka_topic_result_error_string(res[0])
                     ? rd_kafka_topic_result_error_string(res[0])
                     : rd_kafka_err2str(rc));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int main(int argc, char **argv)
{
    int create = argc == 5 && !strcmp(argv[1], "create");
    if (!create && !(argc == 4 && !strcmp(argv[1], "delete"))) {
        fprintf(stderr, "usage: ms_topic_admin create BROKERS TOPIC PARTITIONS\n"
                        "       ms_topic_admin delete BROKERS TOPIC\n");
        return 2;
    }
    const char *topic = argv[3];
    int parts = create ? atoi(argv[4]) : 0;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[2], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ms_topic_admin: %s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ms_topic_admin: %s\n", err);
        return 1;
    }
    double deadline = now_sec() + DEADLINE_SEC;
    int rc = 1;
    for (;;) {
        char msg[256];
        rd_kafka_resp_err_t e = request(rk, argv[1], topic, parts, msg, sizeof(msg));
        int settled = 0;
        if (!e || (!create && e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)) {
            /* Done: wait until the metadata say so too. */
            while (now_sec() < deadline) {
                int n = partitions_of(rk, topic);
                if ((create && n == parts) || (!create && n == 0)) {
                    settled = 1;
                    break;
                }
                usleep(100000);
            }
            if (settled) {
                rc = 0;
                break;
            }
            fprintf(stderr, "ms_topic_admin: %s %s: the metadata did not agree within %d s\n",
                    argv[1], topic, DEADLINE_SEC);
            break;
        }
        if (!(create && e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) || now_sec() >= deadline) {
            fprintf(stderr, "ms_topic_admin: %s %s: %s\n", argv[1], topic, msg);
            break;
        }
        usleep(200000); /* a deletion still in progress */
    }
    rd_kafka_destroy(rk);
    return rc;
}
