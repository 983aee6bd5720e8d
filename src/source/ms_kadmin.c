/*
 * Group mode's internal topics and partition counts (design in
 * ms_kgroup.h).
 *
 * A short-lived producer handle asks the brokers.  Existence is read from
 * a metadata answer about every topic (asking about one topic by name may
 * create it on a broker with auto.create.topics.enable, with the broker's
 * default partition count — the wrong one for an internal topic).
 */
#include "source/ms_kgroup_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

static rd_kafka_t *admin_handle(const ms_kconf *c, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *kc = ms_kg__conf(c, NULL, 0, "mstream-admin", errstr, errsz);
    if (!kc)
        return NULL;
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        snprintf(errstr, errsz, "cannot start a Kafka client: %s", why);
    }
    return rk;
}

/* counts[i] from a metadata answer about every topic (0: no such topic). */
static int all_counts(rd_kafka_t *rk, int timeout_ms, const char *const *topics, size_t n,
                      int32_t *counts, char *errstr, size_t errsz)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errsz, "kafka: no metadata from the brokers within %d ms: %s", timeout_ms,
                 rd_kafka_err2str(err));
        return MS_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        counts[i] = 0;
        for (int k = 0; k < md->topic_cnt; k++)
            if (strcmp(md->topics[k].topic, topics[i]) == 0 && !md->topics[k].err)
                counts[i] = md->topics[k].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

int ms_kadmin_partitions(const ms_kconf *c, const char *const *topics, size_t n, int32_t *counts,
                         char *errstr, size_t errsz)
{
    rd_kafka_t *rk = admin_handle(c, errstr, errsz);
    if (!rk)
        return MS_EUSAGE;
    int rc = all_counts(rk, ms_kg__timeout(c), topics, n, counts, errstr, errsz);
    ms_kg__destroy_bounded(rk, 0);
    return rc;
}

/* Creates specs[idx[0..m)], waiting for the answer. */
static int create(rd_kafka_t *rk, int timeout_ms, const ms_ktopic_spec *specs, const size_t *idx,
                  size_t m, size_t *created, char *errstr, size_t errsz)
{
    rd_kafka_NewTopic_t **nt = ms_xcalloc(m, sizeof(*nt));
    int rc = 0;
    for (size_t i = 0; i < m; i++) {
        const ms_ktopic_spec *s = &specs[idx[i]];
        char why[256];
        nt[i] = rd_kafka_NewTopic_new(s->name, s->partitions, s->replication, why, sizeof(why));
        if (!nt[i]) {
            snprintf(errstr, errsz, "internal topic %s: %s", s->name, why);
            rc = MS_EUSAGE;
            break;
        }
        if (s->compact)
            rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy", "compact");
    }
    if (rc == 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        char why[256];
        rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, why, sizeof(why));
        rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, why, sizeof(why));
        rd_kafka_CreateTopics(rk, nt, m, o, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
        if (!ev) {
            snprintf(errstr, errsz, "kafka: no answer to creating the internal topics within %d ms",
                     timeout_ms + 2000);
            rc = MS_EIO;
        } else if (rd_kafka_event_error(ev)) {
            snprintf(errstr, errsz, "kafka: creating the internal topics failed: %s",
                     rd_kafka_event_error_string(ev));
            rc = MS_EIO;
        } else {
            const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
            size_t nres = 0;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &nres);
            for (size_t i = 0; i < nres && rc == 0; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                const char *name = rd_kafka_topic_result_name(tr[i]);
                if (!e) {
                    (*created)++;
                    ms_info("kafka: created internal topic %s", name);
                    continue;
                }
                if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    continue; /* another instance made it: its partitions are checked */
                const char *msg = rd_kafka_topic_result_error_string(tr[i]);
                snprintf(errstr, errsz,
                         "the Kafka brokers refused to create internal topic %s: %s (%s). Create "
                         "it yourself with the partitions mstream needs (see docs/kafka.md, "
                         "group mode), or change --internal-replication-factor / the broker's "
                         "topic policy",
                         name, msg && *msg ? msg : rd_kafka_err2str(e), rd_kafka_err2name(e));
                rc = e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT ? MS_EIO : MS_EUSAGE;
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; i < m; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

int ms_kadmin_ensure_topics(const ms_kconf *c, const ms_ktopic_spec *specs, size_t n,
                            size_t *created, char *errstr, size_t errsz)
{
    *created = 0;
    rd_kafka_t *rk = admin_handle(c, errstr, errsz);
    if (!rk)
        return MS_EUSAGE;
    int tmo = ms_kg__timeout(c);
    const char **names = ms_xcalloc(n ? n : 1, sizeof(char *));
    int32_t *counts = ms_xcalloc(n ? n : 1, sizeof(int32_t));
    size_t *missing = ms_xcalloc(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        names[i] = specs[i].name;
    int rc = all_counts(rk, tmo, names, n, counts, errstr, errsz);
    size_t nm = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (counts[i] == 0)
            missing[nm++] = i;
    if (rc == 0 && nm)
        rc = create(rk, tmo, specs, missing, nm, created, errstr, errsz);
    /* The topics as the brokers see them now (bounded: a new topic's
     * metadata takes a moment to spread). */
    double deadline = ms_now_mono() + tmo / 1000.0;
    while (rc == 0) {
        rc = all_counts(rk, tmo, names, n, counts, errstr, errsz);
        size_t absent = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            absent += counts[i] == 0;
        if (rc || !absent)
            break;
        if (ms_now_mono() >= deadline) {
            snprintf(errstr, errsz,
                     "kafka: %zu internal topics are still not in the brokers' metadata %d ms "
                     "after they were created",
                     absent, tmo);
            rc = MS_EIO;
            break;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (counts[i] != specs[i].partitions) {
            snprintf(errstr, errsz,
                     "internal topic %s has %" PRId32 " partitions, but this query needs %" PRId32
                     " (the state is partitioned by that count): start every instance with "
                     "--internal-partitions %" PRId32 ", or delete the application's internal "
                     "topics to start it afresh",
                     specs[i].name, counts[i], specs[i].partitions, counts[i]);
            rc = MS_EUSAGE;
        }
    free(names);
    free(counts);
    free(missing);
    ms_kg__destroy_bounded(rk, 0);
    return rc;
}
