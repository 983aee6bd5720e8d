/*
 * mstream's option table and the checks that are mstream's own.  See
 * ms_config.h.
 *
 * The table is read by the shared parser (core/ms_opt.h), which applies the
 * defaults, parses argv and prints --help; mstream's spec asks it for the
 * Spark-style "--flag true|false" and hooks check_value() in for -X.  What
 * stays here runs after parsing: the log level, exactly one source and no
 * option of the other source, --topics split, the query resolved to a file,
 * --metrics-addr split.
 */
#include "core/ms_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ms_log.h"
#include "core/ms_opt.h"
#include "mstream/mstream.h"

#define OFF(f) offsetof(ms_config, f)

static const ms_opt ms_config_options[] = {
    {"input-dir", "inputDir", 0, MS_OPT_STR, OFF(input_dir), NULL, 0, 0, "DIR",
     "directory to watch for text files, .gz ones read as their text (this or --kafka is "
     "required)"},
    {"path-glob-filter", "pathGlobFilter", 0, MS_OPT_STR, OFF(path_glob_filter), NULL, 0, 0, "GLOB",
     "read only files whose name matches GLOB (* ? [a-z] {csv,csv.gz}), also files renamed "
     "into the directory"},
    {"recursive", "recursiveFileLookup", 0, MS_OPT_FLAG, OFF(recursive), "false", 0, 1, NULL,
     "also read files in subdirectories, including ones created while running"},
    {"latest-first", "latestFirst", 0, MS_OPT_FLAG, OFF(latest_first), "false", 0, 1, NULL,
     "read the newest files first when there is a backlog (older rows may then be late)"},
    {"max-file-age", "maxFileAge", 0, MS_OPT_DURATION, OFF(max_file_age), "0", 0, 1e10, "DURATION",
     "ignore files not read yet whose mtime is more than DURATION (90s, 12h, 7d) older than the "
     "newest file's (0 = no limit)"},
    {"clean-source", "cleanSource", 0, MS_OPT_STR, OFF(clean_source), "off", 0, 0,
     "off|archive|delete",
     "once a commit has consumed a file to its end, move it to --source-archive-dir or "
     "delete it"},
    {"source-archive-dir", "sourceArchiveDir", 0, MS_OPT_STR, OFF(source_archive_dir), NULL, 0, 0,
     "DIR",
     "where --clean-source archive moves files (keeping their path below --input-dir); must "
     "exist, outside the input directory"},
    {"kafka", NULL, 0, MS_OPT_STR, OFF(kafka), NULL, 0, 0, "BROKERS",
     "read Kafka topics from these bootstrap servers (HOST:PORT, comma-separated) instead of a "
     "directory; offsets live in the checkpoint, never in a consumer group"},
    {"topics", NULL, 0, MS_OPT_STR, OFF(topics), NULL, 0, 0, "T1,T2",
     "Kafka topics to read [default: the TOPICs named by the query's statements]"},
    {"starting-offsets", "startingOffsets", 0, MS_OPT_STR, OFF(starting_offsets), NULL, 0, 0,
     "WHERE",
     "where a fresh checkpoint starts reading Kafka: earliest, latest, or JSON "
     "{\"topic\":{\"0\":23,\"1\":-2}} (-2 earliest, -1 latest) [default: latest]"},
    {"fail-on-data-loss", "failOnDataLoss", 0, MS_OPT_FLAG, OFF(fail_on_data_loss), "true", 0, 1,
     "true|false",
     "stop when Kafka offsets not yet read were deleted (retention) or vanished; "
     "false: log, count and continue at the oldest offset left"},
    {"max-offsets-per-trigger", "maxOffsetsPerTrigger", 0, MS_OPT_INT, OFF(max_offsets_per_trigger),
     "0", 0, 9e18, "N",
     "at most N Kafka messages per batch, split over the partitions by backlog (0 = no cap)"},
    {"kafka-timeout-sec", NULL, 0, MS_OPT_DOUBLE, OFF(kafka_timeout_sec), "5", 0.1, 3600, "SECONDS",
     "how long one Kafka metadata or offsets request may take before the batch plan goes on "
     "with what it knows"},
    {"application-id", "applicationId", 0, MS_OPT_STR, OFF(application_id), NULL, 0, 0, "ID",
     "group mode: every mstream started with this id and query shares the Kafka input through "
     "a consumer group, with state in changelog topics and one Kafka transaction per batch "
     "(docs/kafka.md); the checkpoint becomes a cache"},
    {"group-instance-id", "groupInstanceId", 0, MS_OPT_STR, OFF(group_instance_id), NULL, 0, 0,
     "ID",
     "group mode: static membership (Kafka's group.instance.id): a restart within the session "
     "timeout gets its partitions back without a rebalance"},
    {"internal-partitions", "internalPartitions", 0, MS_OPT_INT, OFF(internal_partitions), "0", 0,
     10000, "N",
     "group mode: partitions of the repartition and changelog topics (0 = those of the input "
     "topic); fixed once the topics exist"},
    {"internal-replication-factor", "internalReplicationFactor", 0, MS_OPT_INT,
     OFF(internal_replication), "-1", -1, 32767, "N",
     "group mode: replication factor of the internal topics (-1 = the broker's default)"},
    {"session-timeout-sec", "sessionTimeoutSec", 0, MS_OPT_DOUBLE, OFF(session_timeout_sec), "10",
     1, 3600, "SECONDS",
     "group mode: an instance not heard from this long loses its partitions to the others"},
    {"transaction-timeout-sec", "transactionTimeoutSec", 0, MS_OPT_DOUBLE,
     OFF(transaction_timeout_sec), "10", 1, 900, "SECONDS",
     "group mode: a transaction open this long is aborted by the broker (a stalled instance "
     "holds its partitions' input at most this long)"},
    {"checkpoint-dir", "checkpointDir", 0, MS_OPT_STR, OFF(checkpoint_dir), NULL, 0, 0, "DIR",
     "RocksDB checkpoint directory, created if missing; one process at a time (required)"},
    {"query", NULL, 0, MS_OPT_STR, OFF(query), "wordcount", 0, 0, "NAME|PATH",
     "SQL query file to run: a path, or NAME for queries/NAME.sql (docs/sql.md)"},
    {"sink", NULL, 0, MS_OPT_STR, OFF(sink), NULL, 0, 0, "SINK",
     "also hand each batch's results to json:DIR (a file per batch and query) or console; "
     "comma-separated for several"},
    {"trigger-sec", "triggerSec", 0, MS_OPT_DOUBLE, OFF(trigger_sec), "0", 0, 86400, "SECONDS",
     "start a batch every SECONDS (fractions allowed); 0 = as soon as new data arrives"},
    {"watermark-idle-sec", "watermarkIdleSec", 0, MS_OPT_DOUBLE, OFF(watermark_idle_sec), "0", 0,
     86400, "SECONDS",
     "an input partition that sent nothing this long stops holding the watermark back until it "
     "sends again (Flink's idleness); 0 = the larger of 5 s and 3 triggers"},
    {"available-now", "availableNow", 0, MS_OPT_FLAG, OFF(available_now), "false", 0, 1, NULL,
     "process everything available at start, commit, and exit 0"},
    {"max-files-per-trigger", "maxFilesPerTrigger", 0, MS_OPT_INT, OFF(max_files_per_trigger), "0",
     0, 1e9, "N", "at most N files per batch (0 = no cap)"},
    {"max-bytes-per-trigger", "maxBytesPerTrigger", 0, MS_OPT_BYTES, OFF(max_bytes_per_trigger),
     "0", 0, 1e15, "BYTES",
     "at most BYTES (K/M/G suffixes) per batch, at least one line (0 = no cap)"},
    {"state-memory", "stateMemory", 0, MS_OPT_BYTES, OFF(state_memory), "0", 0, 1e15, "BYTES",
     "memory for the queries' state (K/M/G; at least 1M): a cache of the state, which lives in "
     "the checkpoint, plus RocksDB's buffers; a batch whose changes do not fit stops mstream "
     "with exit 1 [default 0: a quarter of the machine's memory]"},
    {"metrics-addr", "metricsAddr", 0, MS_OPT_STR, OFF(metrics_addr), "127.0.0.1:4040", 0, 0,
     "HOST:PORT", "HTTP listen address for /metrics and the API; port 0 picks a free port"},
    {"top-k", "topK", 0, MS_OPT_INT, OFF(top_k), "100", 0, 1e7, "N",
     "result series per query on /metrics (the largest N; all rows stay in /api/v1/results)"},
    {"max-word-bytes", "maxWordBytes", 0, MS_OPT_INT, OFF(max_word_bytes), "1024", 1, 1 << 20, "N",
     "longer words are dropped and counted as malformed (reason word_too_long)"},
    {"max-record-bytes", "maxRecordBytes", 0, MS_OPT_BYTES, OFF(max_record_bytes), "1M", 1, 1 << 30,
     "BYTES", "longer lines (csv, json, lines formats) are dropped as malformed (line_too_long)"},
    {"rescan-sec", "rescanSec", 0, MS_OPT_DOUBLE, OFF(rescan_sec), "10", 0.05, 86400, "SECONDS",
     "full directory rescan period, the safety net under inotify"},
    {"status-batches", NULL, 0, MS_OPT_INT, OFF(status_batches), "20", 1, 10000, "N",
     "batches kept in /api/v1/status recentProgress"},
    {"progress-sec", "progressSec", 0, MS_OPT_DOUBLE, OFF(progress_sec), "5", 0, 86400, "SECONDS",
     "at most one INFO progress line per SECONDS (batch, rows, rows/s, duration, watermark; "
     "the batches in between are counted in it); 0 = a line per batch"},
    {"log-level", "logLevel", 0, MS_OPT_STR, OFF(log_level), "info", 0, 0, "LEVEL",
     "error, warn, info or debug"},
    MS_OPT_HELP_VERSION(OFF(help), OFF(version), 0, 0),
    /* -X key=value (or -Xkey=value), repeatable: to librdkafka as is */
    {NULL, NULL, 'X', MS_OPT_LIST, OFF(kafka_props), NULL, 0, 0, "KEY=VALUE",
     "librdkafka property for the Kafka source (repeatable, as kcat's -X)"},
};

/* A librdkafka property must be key=value; librdkafka itself checks the rest
 * when the Kafka source starts. */
static int check_value(const ms_opt *o, const char *val, char *errstr, size_t errsz)
{
    if (o->short_name != 'X')
        return 0;
    if (!val)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "-X needs a value: -X key=value (a librdkafka property)");
    const char *eq = strchr(val, '=');
    if (!eq || eq == val)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "-X takes key=value (a librdkafka property such as "
                           "-X security.protocol=ssl), not '%s'",
                           val);
    return 0;
}

static const ms_opt_spec ms_config_spec = {
    .synopsis = "usage: mstream --input-dir DIR --checkpoint-dir DIR [options]\n"
                "       mstream --kafka BROKERS [--topics T1,T2] --query NAME|PATH "
                "--checkpoint-dir DIR [options]\n"
                "       mstream checkpoint describe|batches|state DIR [options] (read-only; see "
                "mstream checkpoint --help)",
    .about = "Micro-batch structured streaming: runs a SQL query (by default the word count)\n"
             "over the text files that arrive in DIR or the messages of Kafka topics, commits\n"
             "source positions and state atomically to a RocksDB checkpoint, and serves\n"
             "results on http://HOST:PORT/metrics and /api/v1/*.",
    MS_OPT_TABLE(ms_config_options),
    .epilog = "exit status: 0 ok, 1 runtime failure, 2 usage error, 3 checkpoint held by "
              "another process\n"
              "SIGTERM/SIGINT abandon the batch in progress (nothing half-done is committed) "
              "and exit 0.",
    .usage_width = 34,
    .flag_word = 1, /* "--fail-on-data-loss false" as well as "--available-now" */
    .check = check_value,
};

/* -X fills kafka_props and its count as an ms_opt_list. */
_Static_assert(offsetof(ms_config, nkafka_props) ==
                   offsetof(ms_config, kafka_props) + offsetof(ms_opt_list, n),
               "kafka_props and nkafka_props must be laid out as an ms_opt_list");

/* --clean-source off|archive|delete, and --source-archive-dir with
 * archive only.  Whether the archive directory exists and lies outside the
 * input directory is checked when the source is prepared (ms_sources.h). */
static int check_clean_source(const ms_config *cfg, char *errstr, size_t errsz)
{
    const char *c = cfg->clean_source;
    if (strcmp(c, "off") && strcmp(c, "archive") && strcmp(c, "delete"))
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--clean-source takes off, archive or delete, not '%s'", c);
    if (!strcmp(c, "archive") && !cfg->source_archive_dir)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--clean-source archive needs --source-archive-dir DIR (where the "
                           "files read are moved)");
    if (strcmp(c, "archive") && cfg->source_archive_dir)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--source-archive-dir is used by --clean-source archive only (this "
                           "run has --clean-source %s)",
                           c);
    return 0;
}

/* Options of one source given with the other; --topics split. */
static int check_source_options(ms_config *cfg, char *errstr, size_t errsz)
{
    if (!cfg->kafka) {
        const char *k = cfg->topics                    ? "--topics"
                        : cfg->nkafka_props            ? "-X"
                        : cfg->starting_offsets        ? "--starting-offsets"
                        : cfg->max_offsets_per_trigger ? "--max-offsets-per-trigger"
                                                       : NULL;
        if (k)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                               "%s applies to the Kafka source only (give --kafka BROKERS)", k);
        return check_clean_source(cfg, errstr, errsz);
    }
    if (cfg->max_files_per_trigger || cfg->max_bytes_per_trigger)
        return ms_opt_errf(
            MS_EUSAGE, errstr, errsz,
            "%s applies to the directory source only; with --kafka, cap batches with "
            "--max-offsets-per-trigger",
            cfg->max_files_per_trigger ? "--max-files-per-trigger" : "--max-bytes-per-trigger");
    const char *d = cfg->path_glob_filter              ? "--path-glob-filter"
                    : cfg->recursive                   ? "--recursive"
                    : cfg->latest_first                ? "--latest-first"
                    : cfg->max_file_age > 0            ? "--max-file-age"
                    : strcmp(cfg->clean_source, "off") ? "--clean-source"
                    : cfg->source_archive_dir          ? "--source-archive-dir"
                                                       : NULL;
    if (d)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "%s applies to the directory source only (--input-dir), not to "
                           "--kafka",
                           d);
    if (!cfg->topics)
        return 0;
    for (const char *p = cfg->topics;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 0)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "--topics '%s' has an empty topic name",
                               cfg->topics);
        for (size_t i = 0; i < cfg->ntopics; i++)
            if (strlen(cfg->topic_list[i]) == n && !strncmp(cfg->topic_list[i], p, n))
                return ms_opt_errf(MS_EUSAGE, errstr, errsz, "--topics names topic '%s' twice",
                                   cfg->topic_list[i]);
        cfg->topic_list = ms_xrealloc(cfg->topic_list, (cfg->ntopics + 1) * sizeof(char *));
        char *t = ms_xmalloc(n + 1);
        memcpy(t, p, n);
        t[n] = '\0';
        cfg->topic_list[cfg->ntopics++] = t;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

/* Group mode's options: only with --application-id, which needs Kafka
 * and names topics ("<id>-<statement>-changelog"). */
static int check_group_options(const ms_config *cfg, char *errstr, size_t errsz)
{
    if (!cfg->application_id) {
        const char *k = cfg->group_instance_id            ? "--group-instance-id"
                        : cfg->internal_partitions        ? "--internal-partitions"
                        : cfg->internal_replication != -1 ? "--internal-replication-factor"
                                                          : NULL;
        if (k)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                               "%s applies to group mode only (give --application-id ID)", k);
        return 0;
    }
    const char *id = cfg->application_id;
    size_t n = strlen(id);
    if (n == 0 || n > 200)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--application-id must be 1 to 200 characters, not %zu", n);
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                               "--application-id '%s' may only hold a-z A-Z 0-9 . _ - (it names "
                               "Kafka topics and the consumer group)",
                               id);
    if (!cfg->kafka)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--application-id needs --kafka BROKERS: group mode shares Kafka "
                           "topics between processes (a directory is read by one process)");
    if (cfg->available_now)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--available-now cannot be used with --application-id: in group mode "
                           "every instance runs until it is stopped");
    if (cfg->starting_offsets && strcmp(cfg->starting_offsets, "earliest") != 0 &&
        strcmp(cfg->starting_offsets, "latest") != 0)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--starting-offsets in group mode is earliest or latest (where a "
                           "partition the group has no offset for starts), not '%s'",
                           cfg->starting_offsets);
    if (cfg->group_instance_id &&
        (!cfg->group_instance_id[0] || strlen(cfg->group_instance_id) > 200))
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--group-instance-id must be 1 to 200 characters");
    return 0;
}

int ms_config_parse(ms_config *cfg, int argc, char **argv, char *errstr, size_t errsz)
{
    memset(cfg, 0, sizeof(*cfg));
    int rc = ms_opt_parse(&ms_config_spec, cfg, NULL, argc, argv, errstr, errsz);
    if (rc)
        return rc;
    if (cfg->help || cfg->version)
        return 0;
    enum ms_log_level lvl;
    if (ms_log_level_parse(cfg->log_level, &lvl) != 0)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--log-level must be error, warn, info or debug, not '%s'",
                           cfg->log_level);
    if (!cfg->input_dir && !cfg->kafka)
        return ms_opt_errf(
            MS_EUSAGE, errstr, errsz,
            "--input-dir is required (the directory to watch), or --kafka BROKERS to "
            "read Kafka topics");
    if (cfg->input_dir && cfg->kafka)
        return ms_opt_errf(
            MS_EUSAGE, errstr, errsz,
            "--input-dir and --kafka cannot be used together: a query reads one source");
    rc = check_source_options(cfg, errstr, errsz);
    if (rc)
        return rc;
    rc = check_group_options(cfg, errstr, errsz);
    if (rc)
        return rc;
    if (!cfg->checkpoint_dir)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--checkpoint-dir is required (where state is committed)");
    if (cfg->state_memory && cfg->state_memory < (1 << 20))
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--state-memory must be at least 1M (or 0 for a quarter of the "
                           "machine's memory), not %lld bytes",
                           (long long)cfg->state_memory);
    if (!cfg->state_memory) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        int64_t quarter = pages > 0 && page > 0 ? (int64_t)pages * page / 4 : 0;
        cfg->state_memory = quarter > (256 << 20) ? quarter : (256 << 20);
    }
    rc = ms_config_resolve_query(cfg->query, &cfg->query_path, errstr, errsz);
    if (rc)
        return rc;
    char host[256];
    int port;
    if (ms_config_split_addr(cfg->metrics_addr, host, sizeof(host), &port) != 0)
        return ms_opt_errf(MS_EUSAGE, errstr, errsz,
                           "--metrics-addr must be HOST:PORT (e.g. 127.0.0.1:4040), not '%s'",
                           cfg->metrics_addr);
    return 0;
}

/* Directory of the running executable (from /proc/self/exe), or "" . */
static void exe_dir(char *out, size_t outsz)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(out, outsz, "%s", buf);
}

static int is_query_path(const char *q)
{
    size_t n = strlen(q);
    return strchr(q, '/') != NULL || (n > 4 && strcmp(q + n - 4, ".sql") == 0);
}

int ms_config_resolve_query(const char *query, char **path, char *errstr, size_t errsz)
{
    *path = NULL;
    if (is_query_path(query)) {
        if (access(query, R_OK) != 0)
            return ms_opt_errf(MS_EUSAGE, errstr, errsz, "query file %s: %s", query,
                               strerror(errno));
        *path = ms_xstrdup(query);
        return 0;
    }
    for (const char *c = query; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return ms_opt_errf(
                MS_EUSAGE, errstr, errsz,
                "unknown query '%s': a query NAME is letters, digits, '_' and '-' (or "
                "give a path to a .sql file)",
                query);
    char dir[4096];
    exe_dir(dir, sizeof(dir));
    char cand[3][4400];
    int nc = 0;
    snprintf(cand[nc++], sizeof(cand[0]), "queries/%s.sql", query);
    if (dir[0]) {
        snprintf(cand[nc++], sizeof(cand[0]), "%s/../queries/%s.sql", dir, query);
        snprintf(cand[nc++], sizeof(cand[0]), "%s/../share/mstream/queries/%s.sql", dir, query);
    }
    for (int i = 0; i < nc; i++) {
        if (access(cand[i], R_OK) == 0) {
            *path = ms_xstrdup(cand[i]);
            return 0;
        }
    }
    if (strcmp(query, "wordcount") == 0)
        return 0; /* the built-in copy of queries/wordcount.sql */
    char tried[1024] = "";
    size_t off = 0;
    for (int i = 0; i < nc && off < sizeof(tried); i++)
        off += (size_t)snprintf(tried + off, sizeof(tried) - off, "%s%s", i ? ", " : "", cand[i]);
    return ms_opt_errf(MS_EUSAGE, errstr, errsz, "unknown query '%s': no file %s", query, tried);
}

int ms_config_split_addr(const char *addr, char *host, size_t hostsz, int *port)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            return MS_EINVAL;
        h = addr + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return MS_EINVAL;
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= hostsz)
        return MS_EINVAL;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || errno || p < 0 || p > 65535)
        return MS_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

void ms_config_free(ms_config *cfg)
{
    ms_opt_free(&ms_config_spec, cfg);
    free(cfg->query_path);
    cfg->query_path = NULL;
    for (size_t i = 0; i < cfg->ntopics; i++)
        free(cfg->topic_list[i]);
    free(cfg->topic_list);
    cfg->topic_list = NULL;
    cfg->ntopics = 0;
}

void ms_config_usage(FILE *out)
{
    ms_opt_usage(&ms_config_spec, out);
}
