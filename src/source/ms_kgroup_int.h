/*
 * What the group-mode Kafka files share (ms_kgroup.h has the design):
 *
 *   ms_kgroup.c   the member (consumer group) and the reader
 *   ms_ktxn.c     the transactional producer
 *   ms_kadmin.c   internal topics, partition counts
 *
 * Functions shared between them carry a double prefix (ms_kg__*);
 * nothing here is for the rest of mstream.
 */
#ifndef MS_KGROUP_INT_H
#define MS_KGROUP_INT_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "source/ms_kgroup.h"

#define MS_KG_DEFAULT_TIMEOUT_MS 5000
#define MS_KG_CLOSE_WAIT_SEC     5.0 /* librdkafka's shutdown may take this long, then is left */

/* A property mstream sets itself: {name, value}; a -X of the same name is
 * ignored with a warning (value NULL: set elsewhere, only refused). */
typedef struct ms_kg_prop {
    const char *name;
    const char *value;
} ms_kg_prop;

/* A configuration: bootstrap.servers, the -X properties, then the owned
 * ones (which win).  NULL and MS_EUSAGE's sentence in errstr when
 * librdkafka refuses a property. */
rd_kafka_conf_t *ms_kg__conf(const ms_kconf *c, const ms_kg_prop *owned, size_t nowned,
                             const char *role, char *errstr, size_t errsz);
int ms_kg__set(rd_kafka_conf_t *kc, const char *k, const char *v, char *errstr, size_t errsz);

/* librdkafka's log lines, through ms_log (any thread). */
void ms_kg__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* rd_kafka_destroy (after rd_kafka_consumer_close when close_consumer) on
 * a thread of its own, waited for MS_KG_CLOSE_WAIT_SEC: 1 when it did not
 * finish (its threads are left running). */
int ms_kg__destroy_bounded(rd_kafka_t *rk, int close_consumer);

/* The timeout of one request. */
static inline int ms_kg__timeout(const ms_kconf *c)
{
    return c->timeout_ms > 0 ? c->timeout_ms : MS_KG_DEFAULT_TIMEOUT_MS;
}

#endif
