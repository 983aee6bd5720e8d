/*
 * The source registry (ms_sources.h) and what every source shares
 * (ms_source.h).
 */
#include "source/ms_sources.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "state/ms_codec_kafka.h"

void ms_part_key(ms_buf *b, const ms_part *p)
{
    if (!p->topic) {
        ms_buf_puts(b, "dir");
        return;
    }
    ms_buf_printf(b, "%s/%" PRId32, p->topic, p->partition);
}

void ms_source_stats_free(ms_source_stats *st)
{
    if (st->has_kafka)
        ms_kafkasrc_stats_free(&st->kafka);
    memset(st, 0, sizeof(*st));
}

/* ---------------------------------------------------------------- prepare */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *ms_source_kafka_binding(const char *const *topics, size_t n)
{
    const char **v = ms_xmalloc((n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[i] = topics[i];
    qsort(v, n, sizeof(char *), cmp_strp);
    ms_buf b = MS_BUF_INIT;
    ms_buf_puts(&b, "kafka:");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ms_buf_putc(&b, ',');
        ms_buf_puts(&b, v[i]);
    }
    free(v);
    return ms_buf_steal(&b, NULL);
}

static int prepare_dir(const ms_config *cfg, ms_source_spec *spec, char *errstr, size_t errsz)
{
    struct stat st;
    if (stat(cfg->input_dir, &st) != 0) {
        snprintf(errstr, errsz, "input directory %s: %s (create it, or check --input-dir)",
                 cfg->input_dir, strerror(errno));
        return MS_EUSAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errstr, errsz, "input directory %s is not a directory (check --input-dir)",
                 cfg->input_dir);
        return MS_EUSAGE;
    }
    spec->ops = &ms_dirsrc_ops;
    spec->binding = ms_xstrdup("dir");
    ms_buf d = MS_BUF_INIT;
    ms_buf_printf(&d, "DirectorySource[%s]", cfg->input_dir);
    spec->desc = ms_buf_steal(&d, NULL);
    return 0;
}

/* what: "--topics", or "query NAME: TOPIC". */
static int topic_ok(const char *t, const char *what, char *errstr, size_t errsz)
{
    if (ms_codec_kafka_topic_valid(t, strlen(t)))
        return 0;
    snprintf(errstr, errsz, "%s '%s' is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)",
             what, t);
    return MS_EUSAGE;
}

static int has_topic(const ms_source_spec *spec, const char *t)
{
    for (size_t j = 0; j < spec->ntopics; j++)
        if (strcmp(spec->topics[j], t) == 0)
            return 1;
    return 0;
}

/* The topics to read (--topics, or the TOPICs of the statements), and a
 * check that every statement has one to read. */
static int prepare_kafka(const ms_config *cfg, const ms_sql_program *p, ms_source_spec *spec,
                         char *errstr, size_t errsz)
{
    spec->ops = &ms_kafkasrc_ops;
    spec->topics = ms_xcalloc(cfg->ntopics + p->nstmts + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->ntopics; i++) {
        if (topic_ok(cfg->topic_list[i], "--topics:", errstr, errsz))
            return MS_EUSAGE;
        spec->topics[spec->ntopics++] = cfg->topic_list[i];
    }
    for (size_t k = 0; k < p->nstmts; k++) {
        const char *t = p->stmts[k].topic;
        if (p->stmts[k].schema->csv.header) {
            snprintf(errstr, errsz,
                     "query %s: 'header' = 'true' skips the first line of every file, but a "
                     "Kafka message is a record of its own with no header line: remove the "
                     "option to read this query from Kafka (docs/sql.md, CSV options)",
                     p->stmts[k].name);
            return MS_EUSAGE;
        }
        if (!t) {
            if (!cfg->ntopics) {
                snprintf(errstr, errsz,
                         "query %s has no TOPIC: name the Kafka topics to read with --topics "
                         "(or add TOPIC 'name' to its FROM clause)",
                         p->stmts[k].name);
                return MS_EUSAGE;
            }
            continue;
        }
        if (has_topic(spec, t))
            continue;
        if (cfg->ntopics) {
            snprintf(errstr, errsz,
                     "query %s reads topic '%s', which --topics does not name: it would see no "
                     "message (add it to --topics, or leave --topics out to read the topics the "
                     "query names)",
                     p->stmts[k].name, t);
            return MS_EUSAGE;
        }
        char what[160];
        snprintf(what, sizeof(what), "query %s: TOPIC", p->stmts[k].name);
        if (topic_ok(t, what, errstr, errsz))
            return MS_EUSAGE;
        spec->topics[spec->ntopics++] = t;
    }
    /* Offsets named for other topics are a typo the user wants to hear of. */
    if (cfg->starting_offsets) {
        ms_kafka_start *st = NULL;
        size_t n = 0;
        int rc = ms_kafkasrc_parse_offsets(cfg->starting_offsets, &st, &n, errstr, errsz);
        if (rc)
            return MS_EUSAGE;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!st[i].topic || has_topic(spec, st[i].topic))
                continue;
            snprintf(errstr, errsz,
                     "--starting-offsets names topic '%s', which is not read (topics: %s%s)",
                     st[i].topic, spec->ntopics ? spec->topics[0] : "",
                     spec->ntopics > 1 ? ", ..." : "");
            rc = MS_EUSAGE;
        }
        ms_kafkasrc_starts_free(st, n);
        if (rc)
            return rc;
    }
    spec->binding = ms_source_kafka_binding(spec->topics, spec->ntopics);
    ms_buf d = MS_BUF_INIT;
    ms_buf_printf(&d, "KafkaSource[%s: ", cfg->kafka);
    for (size_t i = 0; i < spec->ntopics; i++)
        ms_buf_printf(&d, "%s%s", i ? "," : "", spec->topics[i]);
    ms_buf_putc(&d, ']');
    spec->desc = ms_buf_steal(&d, NULL);
    return 0;
}

int ms_source_prepare(const ms_config *cfg, const ms_sql_program *prog, ms_source_spec *spec,
                      char *errstr, size_t errsz)
{
    memset(spec, 0, sizeof(*spec));
    return cfg->kafka ? prepare_kafka(cfg, prog, spec, errstr, errsz)
                      : prepare_dir(cfg, spec, errstr, errsz);
}

void ms_source_spec_free(ms_source_spec *spec)
{
    free(spec->binding);
    free(spec->desc);
    free(spec->topics);
    memset(spec, 0, sizeof(*spec));
}

/* ------------------------------------------------------------------- open */

int ms_source_open(const ms_config *cfg, const ms_source_spec *spec, ms_ckpt *ck, ms_source *src,
                   char *errstr, size_t errsz)
{
    memset(src, 0, sizeof(*src));
    if (spec->ops == &ms_dirsrc_ops) {
        ms_dirsrc *d = NULL;
        int rc = ms_dirsrc_open(cfg->input_dir, ck, cfg->available_now, cfg->rescan_sec, &d, errstr,
                                errsz);
        if (rc)
            return rc;
        src->ops = &ms_dirsrc_ops;
        src->self = d;
        return 0;
    }
    ms_kafkasrc_conf kc = {
        .brokers = cfg->kafka,
        .topics = spec->topics,
        .ntopics = spec->ntopics,
        .props = (const char *const *)cfg->kafka_props,
        .nprops = cfg->nkafka_props,
        .starting_offsets = cfg->starting_offsets,
        .fail_on_data_loss = cfg->fail_on_data_loss,
        .max_offsets_per_trigger = (uint64_t)cfg->max_offsets_per_trigger,
        .available_now = cfg->available_now,
        .ckpt_dir = cfg->checkpoint_dir,
        .timeout_ms = (int)(cfg->kafka_timeout_sec * 1000.0),
        .metadata_interval_sec = 1.0,
    };
    ms_kafkasrc *k = NULL;
    int rc = ms_kafkasrc_open(&kc, ck, &k, errstr, errsz);
    if (rc)
        return rc;
    src->ops = &ms_kafkasrc_ops;
    src->self = k;
    return 0;
}

int ms_source_close(ms_source *src)
{
    int left = 0;
    if (src->ops && src->self)
        left = src->ops->close(src->self);
    memset(src, 0, sizeof(*src));
    return left;
}
