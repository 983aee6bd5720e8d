/*
 * ms_delete_records BROKERS TOPIC PARTITION OFFSET — test helper: deletes
 * the records of one partition below OFFSET (Kafka's DeleteRecords, what
 * retention does), so the data-loss tests can stage "offsets that no longer
 * exist in the broker" deterministically.  Prints the new low watermark.
 * Exit 0 ok, 1 the broker refused or did not answer, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ms_delete_records BROKERS TOPIC PARTITION OFFSET\n");
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ms_delete_records: %s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ms_delete_records: %s\n", err);
        return 1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, argv[2], atoi(argv[3]))->offset = atoll(argv[4]);
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err, sizeof(err));
    rd_kafka_DeleteRecords(rk, &dr, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "ms_delete_records: no answer within 60 s\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "ms_delete_records: %s\n", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_topic_partition_list_t *res =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        if (res && res->cnt == 1 && !res->elems[0].err) {
            printf("low_watermark=%lld\n", (long long)res->elems[0].offset);
            rc = 0;
        } else {
            fprintf(stderr, "ms_delete_records: %s\n",
                    res && res->cnt ? rd_kafka_err2str(res->elems[0].err) : "no result");
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
