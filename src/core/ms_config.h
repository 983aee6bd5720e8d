/*
 * Command-line configuration.
 *
 * One table (ms_config_options[] in ms_config.c) lists every option with its
 * kebab-case name, its camelCase alias, type, default, bounds, the field it
 * fills and its description; the shared parser (core/ms_opt.h) reads the
 * same table to parse argv, apply defaults and print --help (librdkafka's
 * rd_kafka_properties[] habit).
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ms_config {
    char *input_dir; /* the directory source, or NULL with --kafka */
    /* The directory source's file options, named as Spark's file source
     * names them (docs/files.md): a glob on file names, subdirectories,
     * newest first, the age limit relative to the newest file (seconds, 0:
     * none), and what becomes of a file once a commit consumed it
     * ("off", "archive" into source_archive_dir, or "delete"). */
    char *path_glob_filter;
    int recursive;
    int latest_first;
    double max_file_age;
    char *clean_source;
    char *source_archive_dir;
    /* The Kafka source (--kafka): bootstrap servers, topics (--topics split
     * on ','; none given: the TOPICs of the query's statements), -X
     * librdkafka properties ("key=value", in order), starting offsets
     * (NULL: latest), the data-loss rule and the per-trigger cap. */
    char *kafka;
    char *topics;
    char **topic_list;
    size_t ntopics;
    char **kafka_props;
    size_t nkafka_props;
    char *starting_offsets;
    int fail_on_data_loss;
    int64_t max_offsets_per_trigger; /* 0 = no cap */
    double kafka_timeout_sec;        /* one metadata / offsets request */
    /* Group mode (docs/design.md §9): several processes with one
     * application id share the input through a Kafka consumer group. */
    char *application_id;           /* NULL: one process, the local checkpoint */
    char *group_instance_id;        /* static membership; NULL: dynamic */
    int64_t internal_partitions;    /* partitions of the internal topics; 0: the input's */
    int64_t internal_replication;   /* their replication factor; -1: the broker's default */
    double session_timeout_sec;     /* a member silent this long leaves the group */
    double transaction_timeout_sec; /* an open transaction older than this is aborted */
    char *checkpoint_dir;
    char *query;      /* --query as given: a NAME or a PATH */
    char *query_path; /* the file it resolved to; NULL: the built-in wordcount */
    char *sink;       /* --sink: "json:DIR", "console", comma-separated; NULL: none */
    double trigger_sec;
    double watermark_idle_sec; /* 0: the larger of 5 s and 3 triggers */
    int available_now;
    int64_t max_files_per_trigger; /* 0 = no cap */
    int64_t max_bytes_per_trigger; /* 0 = no cap */
    char *metrics_addr;
    int64_t state_memory; /* bytes for state in memory (0 given: resolved to a quarter of RAM) */
    int64_t top_k;
    int64_t max_word_bytes;
    int64_t max_record_bytes;
    double rescan_sec;
    int64_t status_batches;
    double progress_sec; /* at most one INFO progress line per so many seconds; 0: every batch */
    char *log_level;
    int help;
    int version;
} ms_config;

/* Parses argv into cfg (defaults first).  Returns 0, or MS_EUSAGE with a
 * sentence in errstr.  Strings in cfg are owned by cfg: ms_config_free(). */
int ms_config_parse(ms_config *cfg, int argc, char **argv, char *errstr, size_t errstr_size);
void ms_config_free(ms_config *cfg);
void ms_config_usage(FILE *out);

/* Resolves a --query value (see ms_config.c): a value holding '/' or ending
 * in ".sql" is a path; a NAME is looked up as queries/NAME.sql in the
 * current directory, then <dir of the executable>/../queries/, then
 * <dir of the executable>/../share/mstream/queries/.  Sets *path (owned by
 * the caller), or NULL for "wordcount" found nowhere (the built-in copy).
 * MS_EUSAGE with a sentence listing the places searched otherwise. */
int ms_config_resolve_query(const char *query, char **path, char *errstr, size_t errstr_size);

/* Splits "HOST:PORT" / "[V6]:PORT"; host is written to host[hostsz]. */
int ms_config_split_addr(const char *addr, char *host, size_t hostsz, int *port);

#endif
