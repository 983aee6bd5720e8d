/*
 * The sources mstream has, and how the command line picks one: the
 * registry the engine opens its source from (Fluent Bit's plugin list).
 *
 *   --input-dir DIR   the directory source (ms_dirsrc.h), one partition
 *   --kafka BROKERS   the Kafka source (ms_kafkasrc.h), one partition per
 *                     topic-partition of --topics or of the query's TOPICs
 *
 * Preparing (ms_source_prepare) checks what the command line and the query
 * say about the input and yields the text the checkpoint is bound to
 * ("m:source", ms_program_bind_source): usage errors surface before the
 * checkpoint is touched.  Opening (ms_source_open) loads the committed
 * positions and starts the source's threads, if any (call it with signals
 * blocked).
 */
#ifndef MS_SOURCES_H
#define MS_SOURCES_H

#include "core/ms_config.h"
#include "source/ms_dirsrc.h"
#include "source/ms_kafkasrc.h"
#include "source/ms_source.h"
#include "sql/ms_sql.h"

typedef struct ms_source_spec {
    const ms_source_ops *ops;
    char *binding;       /* "dir:" + the input directory's canonical path, or "kafka:" + sorted
                          * topics */
    char *desc;          /* Spark's name: "DirectorySource[dir]", "KafkaSource[brokers: topics]" */
    const char **topics; /* Kafka: the topics read (strings of the config or the program) */
    size_t ntopics;
} ms_source_spec;

/* MS_EUSAGE with a sentence when the input the command line and the query
 * name is not usable (no such directory, a query without TOPIC and no
 * --topics, starting offsets for a topic not read, ...). */
int ms_source_prepare(const ms_config *cfg, const ms_sql_program *prog, ms_source_spec *spec,
                      char *errstr, size_t errstr_size);
void ms_source_spec_free(ms_source_spec *spec);

/* "kafka:" + topics sorted and joined by ',' (owned by the caller): what a
 * checkpoint of the Kafka source is bound to. */
char *ms_source_kafka_binding(const char *const *topics, size_t n);

/* Bindings recorded by an older mstream: 1 when the stored record (n
 * bytes) is an older form of binding, which a restart accepts and rewrites
 * — the bare "dir" of checkpoints made before the directory was recorded,
 * for any "dir:<path>". */
int ms_source_binding_upgrades(const char *stored, size_t n, const char *binding);

/* A binding in words for messages: "a directory (/data/in)", "Kafka topics
 * a,b". */
void ms_source_binding_describe(char *out, size_t outsz, const char *binding, size_t n);

/* Opens the source spec describes on the checkpoint ck. */
int ms_source_open(const ms_config *cfg, const ms_source_spec *spec, ms_ckpt *ck, ms_source *src,
                   char *errstr, size_t errstr_size);
/* 1: threads of the source were left running (see ms_source_ops.close). */
int ms_source_close(ms_source *src);

/* A source's counters, as its stats() fills them (one of the two). */
typedef struct ms_source_stats {
    int has_dir;
    ms_dirsrc_stats dir;
    int has_kafka;
    ms_kafkasrc_stats kafka; /* owned: ms_source_stats_free */
} ms_source_stats;

void ms_source_stats_free(ms_source_stats *st);

#endif
