/*
 * The option table and its loader.  See ms_config.h.
 */
#include "core/ms_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

enum ms_opt_type { MS_OPT_STR, MS_OPT_SECONDS, MS_OPT_INT, MS_OPT_BYTES, MS_OPT_FLAG };

struct ms_opt {
    const char *name;  /* kebab-case, without "--" */
    const char *alias; /* camelCase alias or NULL */
    enum ms_opt_type type;
    size_t offset;
    const char *def; /* default as text, NULL = none */
    double min, max;
    const char *metavar;
    const char *desc;
};

#define OFF(f) offsetof(ms_config, f)

static const struct ms_opt ms_config_options[] = {
    {"input-dir", "inputDir", MS_OPT_STR, OFF(input_dir), NULL, 0, 0, "DIR",
     "directory to watch for text files (this or --kafka is required)"},
    {"kafka", NULL, MS_OPT_STR, OFF(kafka), NULL, 0, 0, "BROKERS",
     "read Kafka topics from these bootstrap servers (HOST:PORT, comma-separated) instead of a "
     "directory; offsets live in the checkpoint, never in a consumer group"},
    {"topics", NULL, MS_OPT_STR, OFF(topics), NULL, 0, 0, "T1,T2",
     "Kafka topics to read [default: the TOPICs named by the query's statements]"},
    {"starting-offsets", "startingOffsets", MS_OPT_STR, OFF(starting_offsets), NULL, 0, 0, "WHERE",
     "where a fresh checkpoint starts reading Kafka: earliest, latest, or JSON "
     "{\"topic\":{\"0\":23,\"1\":-2}} (-2 earliest, -1 latest) [default: latest]"},
    {"fail-on-data-loss", "failOnDataLoss", MS_OPT_FLAG, OFF(fail_on_data_loss), "true", 0, 1,
     "true|false",
     "stop when Kafka offsets not yet read were deleted (retention) or vanished; "
     "false: log, count and continue at the oldest offset left"},
    {"max-offsets-per-trigger", "maxOffsetsPerTrigger", MS_OPT_INT, OFF(max_offsets_per_trigger),
     "0", 0, 9e18, "N",
     "at most N Kafka messages per batch, split over the partitions by backlog (0 = no cap)"},
    {"kafka-timeout-sec", NULL, MS_OPT_SECONDS, OFF(kafka_timeout_sec), "5", 0.1, 3600, "SECONDS",
     "how long one Kafka metadata or offsets request may take before the batch plan goes on "
     "with what it knows"},
    {"checkpoint-dir", "checkpointDir", MS_OPT_STR, OFF(checkpoint_dir), NULL, 0, 0, "DIR",
     "RocksDB checkpoint directory, created if missing; one process at a time (required)"},
    {"query", NULL, MS_OPT_STR, OFF(query), "wordcount", 0, 0, "NAME|PATH",
     "SQL query file to run: a path, or NAME for queries/NAME.sql (docs/sql.md)"},
    {"sink", NULL, MS_OPT_STR, OFF(sink), NULL, 0, 0, "SINK",
     "also hand each batch's results to json:DIR (a file per batch and query) or console; "
     "comma-separated for several"},
    {"trigger-sec", "triggerSec", MS_OPT_SECONDS, OFF(trigger_sec), "0", 0, 86400, "SECONDS",
     "start a batch every SECONDS (fractions allowed); 0 = as soon as new data arrives"},
    {"available-now", "availableNow", MS_OPT_FLAG, OFF(available_now), "false", 0, 1, NULL,
     "process everything available at start, commit, and exit 0"},
    {"max-files-per-trigger", "maxFilesPerTrigger", MS_OPT_INT, OFF(max_files_per_trigger), "0", 0,
     1e9, "N", "at most N files per batch (0 = no cap)"},
    {"max-bytes-per-trigger", "maxBytesPerTrigger", MS_OPT_BYTES, OFF(max_bytes_per_trigger), "0",
     0, 1e15, "BYTES", "at most BYTES (K/M/G suffixes) per batch, at least one line (0 = no cap)"},
    {"metrics-addr", "metricsAddr", MS_OPT_STR, OFF(metrics_addr), "127.0.0.1:4040", 0, 0,
     "HOST:PORT", "HTTP listen address for /metrics and the API; port 0 picks a free port"},
    {"top-k", "topK", MS_OPT_INT, OFF(top_k), "100", 0, 1e7, "N",
     "result series per query on /metrics (the largest N; all rows stay in /api/v1/results)"},
    {"max-word-bytes", "maxWordBytes", MS_OPT_INT, OFF(max_word_bytes), "1024", 1, 1 << 20, "N",
     "longer words are dropped and counted as malformed (reason word_too_long)"},
    {"max-record-bytes", "maxRecordBytes", MS_OPT_BYTES, OFF(max_record_bytes), "1M", 1, 1 << 30,
     "BYTES", "longer lines (csv, json, lines formats) are dropped as malformed (line_too_long)"},
    {"rescan-sec", "rescanSec", MS_OPT_SECONDS, OFF(rescan_sec), "10", 0.05, 86400, "SECONDS",
     "full directory rescan period, the safety net under inotify"},
    {"status-batches", NULL, MS_OPT_INT, OFF(status_batches), "20", 1, 10000, "N",
     "batches kept in /api/v1/status recentProgress"},
    {"log-level", "logLevel", MS_OPT_STR, OFF(log_level), "info", 0, 0, "LEVEL",
     "error, warn, info or debug"},
    {"help", NULL, MS_OPT_FLAG, OFF(help), "false", 0, 1, NULL, "print this help and exit"},
    {"version", NULL, MS_OPT_FLAG, OFF(version), "false", 0, 1, NULL, "print the version and exit"},
};

#define N_OPTS (sizeof(ms_config_options) / sizeof(ms_config_options[0]))

static int fail(char *errstr, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errstr, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errsz, fmt, ap);
    va_end(ap);
    return MS_EUSAGE;
}

static int parse_bytes(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0, end++;
        break;
    case 'm':
    case 'M':
        mul = 1024.0 * 1024, end++;
        break;
    case 'g':
    case 'G':
        mul = 1024.0 * 1024 * 1024, end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    *out = floor(v * mul);
    return 0;
}

static int set_value(ms_config *cfg, const struct ms_opt *o, const char *val, char *errstr,
                     size_t errsz)
{
    char *field = (char *)cfg + o->offset;
    double v = 0;
    char *end;
    switch (o->type) {
    case MS_OPT_STR: {
        char **sp = (char **)(void *)field;
        if (!*val)
            return fail(errstr, errsz, "--%s needs a non-empty value", o->name);
        free(*sp);
        *sp = ms_xstrdup(val);
        return 0;
    }
    case MS_OPT_FLAG: {
        int *ip = (int *)(void *)field;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *ip = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *ip = 0;
        else
            return fail(errstr, errsz, "--%s takes true or false, not '%s'", o->name, val);
        return 0;
    }
    case MS_OPT_SECONDS:
    case MS_OPT_INT:
        errno = 0;
        v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v))
            return fail(errstr, errsz, "--%s needs a number, not '%s'", o->name, val);
        if (o->type == MS_OPT_INT && v != floor(v))
            return fail(errstr, errsz, "--%s needs a whole number, not '%s'", o->name, val);
        break;
    case MS_OPT_BYTES:
        if (parse_bytes(val, &v) != 0)
            return fail(errstr, errsz, "--%s needs a size such as 64M, not '%s'", o->name, val);
        break;
    }
    if (v < o->min || v > o->max) {
        char range[96];
        snprintf(range, sizeof(range), "between %g and %g", o->min, o->max);
        return fail(errstr, errsz, "--%s must be %s", o->name, range);
    }
    if (o->type == MS_OPT_SECONDS)
        *(double *)(void *)field = v;
    else
        *(int64_t *)(void *)field = (int64_t)v;
    return 0;
}

static const struct ms_opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct ms_opt *o = &ms_config_options[i];
        if (strlen(o->name) == n && !strncmp(o->name, name, n))
            return o;
        if (o->alias && strlen(o->alias) == n && !strncmp(o->alias, name, n))
            return o;
    }
    return NULL;
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
            return fail(errstr, errsz, "%s applies to the Kafka source only (give --kafka BROKERS)",
                        k);
        return 0;
    }
    if (cfg->max_files_per_trigger || cfg->max_bytes_per_trigger)
        return fail(errstr, errsz,
                    "%s applies to the directory source only; with --kafka, cap batches with "
                    "--max-offsets-per-trigger",
                    cfg->max_files_per_trigger ? "--max-files-per-trigger"
                                               : "--max-bytes-per-trigger");
    if (!cfg->topics)
        return 0;
    for (const char *p = cfg->topics;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 0)
            return fail(errstr, errsz, "--topics '%s' has an empty topic name", cfg->topics);
        for (size_t i = 0; i < cfg->ntopics; i++)
            if (strlen(cfg->topic_list[i]) == n && !strncmp(cfg->topic_list[i], p, n))
                return fail(errstr, errsz, "--topics names topic '%s' twice", cfg->topic_list[i]);
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

int ms_config_parse(ms_config *cfg, int argc, char **argv, char *errstr, size_t errsz)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct ms_opt *o = &ms_config_options[i];
        if (o->def && set_value(cfg, o, o->def, errstr, errsz) != 0)
            return MS_EUSAGE; /* a broken default is a programming error */
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h"))
            arg = "--help";
        else if (!strcmp(arg, "-V"))
            arg = "--version";
        if (!strncmp(arg, "-X", 2)) {
            /* -X key=value (or -Xkey=value), repeatable: to librdkafka as is */
            const char *kv = arg[2] ? arg + 2 : NULL;
            if (!kv) {
                if (i + 1 >= argc)
                    return fail(errstr, errsz,
                                "-X needs a value: -X key=value (a librdkafka "
                                "property)");
                kv = argv[++i];
            }
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv)
                return fail(errstr, errsz,
                            "-X takes key=value (a librdkafka property such as "
                            "-X security.protocol=ssl), not '%s'",
                            kv);
            cfg->kafka_props =
                ms_xrealloc(cfg->kafka_props, (cfg->nkafka_props + 1) * sizeof(char *));
            cfg->kafka_props[cfg->nkafka_props++] = ms_xstrdup(kv);
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return fail(errstr, errsz, "unexpected argument '%s' (options start with --)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct ms_opt *o = find_opt(name, nlen);
        if (!o)
            return fail(errstr, errsz, "unknown option '%s' (see --help)", arg);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (o->type == MS_OPT_FLAG) {
            /* "--fail-on-data-loss false" as well as "--available-now" */
            val = "true";
            if (i + 1 < argc && (!strcmp(argv[i + 1], "true") || !strcmp(argv[i + 1], "false")))
                val = argv[++i];
        } else {
            if (i + 1 >= argc)
                return fail(errstr, errsz, "--%s needs a value", o->name);
            val = argv[++i];
        }
        int rc = set_value(cfg, o, val, errstr, errsz);
        if (rc)
            return rc;
    }
    if (cfg->help || cfg->version)
        return 0;
    enum ms_log_level lvl;
    if (ms_log_level_parse(cfg->log_level, &lvl) != 0)
        return fail(errstr, errsz, "--log-level must be error, warn, info or debug, not '%s'",
                    cfg->log_level);
    if (!cfg->input_dir && !cfg->kafka)
        return fail(errstr, errsz,
                    "--input-dir is required (the directory to watch), or --kafka BROKERS to "
                    "read Kafka topics");
    if (cfg->input_dir && cfg->kafka)
        return fail(errstr, errsz,
                    "--input-dir and --kafka cannot be used together: a query reads one source");
    int rc = check_source_options(cfg, errstr, errsz);
    if (rc)
        return rc;
    if (!cfg->checkpoint_dir)
        return fail(errstr, errsz, "--checkpoint-dir is required (where state is committed)");
    rc = ms_config_resolve_query(cfg->query, &cfg->query_path, errstr, errsz);
    if (rc)
        return rc;
    char host[256];
    int port;
    if (ms_config_split_addr(cfg->metrics_addr, host, sizeof(host), &port) != 0)
        return fail(errstr, errsz,
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
            return fail(errstr, errsz, "query file %s: %s", query, strerror(errno));
        *path = ms_xstrdup(query);
        return 0;
    }
    for (const char *c = query; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return fail(errstr, errsz,
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
    return fail(errstr, errsz, "unknown query '%s': no file %s", query, tried);
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
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct ms_opt *o = &ms_config_options[i];
        if (o->type == MS_OPT_STR) {
            char **sp = (char **)(void *)((char *)cfg + o->offset);
            free(*sp);
            *sp = NULL;
        }
    }
    free(cfg->query_path);
    cfg->query_path = NULL;
    for (size_t i = 0; i < cfg->ntopics; i++)
        free(cfg->topic_list[i]);
    free(cfg->topic_list);
    cfg->topic_list = NULL;
    cfg->ntopics = 0;
    for (size_t i = 0; i < cfg->nkafka_props; i++)
        free(cfg->kafka_props[i]);
    free(cfg->kafka_props);
    cfg->kafka_props = NULL;
    cfg->nkafka_props = 0;
}

void ms_config_usage(FILE *out)
{
    fprintf(out, "usage: mstream --input-dir DIR --checkpoint-dir DIR [options]\n"
                 "       mstream --kafka BROKERS [--topics T1,T2] --query NAME|PATH "
                 "--checkpoint-dir DIR [options]\n\n"
                 "Micro-batch structured streaming: runs a SQL query (by default the word count)\n"
                 "over the text files that arrive in DIR or the messages of Kafka topics, commits\n"
                 "source positions and state atomically to a RocksDB checkpoint, and serves\n"
                 "results on http://HOST:PORT/metrics and /api/v1/*.\n\n"
                 "options:\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct ms_opt *o = &ms_config_options[i];
        char left[96];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(out, "  %-34s %s", left, o->desc);
        if (o->def && o->type != MS_OPT_FLAG)
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
        if (o->alias)
            fprintf(out, "  %-34s   (alias --%s)\n", "", o->alias);
    }
    fprintf(out, "  %-34s %s\n", "-X KEY=VALUE",
            "librdkafka property for the Kafka source (repeatable, as kcat's -X)");
    fprintf(out, "\nexit status: 0 ok, 1 runtime failure, 2 usage error, 3 checkpoint held by "
                 "another process\n"
                 "SIGTERM/SIGINT abandon the batch in progress (nothing half-done is committed) "
                 "and exit 0.\n");
}
