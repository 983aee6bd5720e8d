/*
 * Command-line configuration.
 *
 * One table (ms_config_options[] in ms_config.c) lists every option with its
 * kebab-case name, its camelCase alias, type, default, bounds, the field it
 * fills and its description; the same table parses argv, applies defaults
 * and prints --help (librdkafka's rd_kafka_properties[] habit).
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct ms_config {
    char *input_dir;
    char *checkpoint_dir;
    char *query;
    double trigger_sec;
    int available_now;
    int64_t max_files_per_trigger; /* 0 = no cap */
    int64_t max_bytes_per_trigger; /* 0 = no cap */
    char *metrics_addr;
    int64_t top_k;
    int64_t max_word_bytes;
    double rescan_sec;
    int64_t status_batches;
    char *log_level;
    int help;
    int version;
} ms_config;

/* Parses argv into cfg (defaults first).  Returns 0, or MS_EUSAGE with a
 * sentence in errstr.  Strings in cfg are owned by cfg: ms_config_free(). */
int ms_config_parse(ms_config *cfg, int argc, char **argv, char *errstr, size_t errstr_size);
void ms_config_free(ms_config *cfg);
void ms_config_usage(FILE *out);

/* Splits "HOST:PORT" / "[V6]:PORT"; host is written to host[hostsz]. */
int ms_config_split_addr(const char *addr, char *host, size_t hostsz, int *port);

#endif
