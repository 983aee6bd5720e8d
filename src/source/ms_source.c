/*
 * The source registry (ms_sources.h) and what every source shares
 * (ms_source.h).
 */
#include "source/ms_sources.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"
#include "source/ms_glob.h"
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

#define DIR_BINDING     "dir:"
#define DIR_BINDING_LEN 4

int ms_source_binding_upgrades(const char *stored, size_t n, const char *binding)
{
    return n == 3 && !memcmp(stored, "dir", 3) && !strncmp(binding, DIR_BINDING, DIR_BINDING_LEN);
}

void ms_source_binding_describe(char *out, size_t outsz, const char *b, size_t n)
{
    if (!b)
        b = "", n = 0;
    if (n == 3 && !memcmp(b, "dir", 3))
        snprintf(out, outsz, "a directory (--input-dir; which one was not recorded)");
    else if (n > DIR_BINDING_LEN && !memcmp(b, DIR_BINDING, DIR_BINDING_LEN))
        snprintf(out, outsz, "a directory (%.*s)", (int)(n - 4 > 1000 ? 1000 : n - 4), b + 4);
    else if (n > 6 && !memcmp(b, "kafka:", 6))
        snprintf(out, outsz, "Kafka topics %.*s", (int)(n - 6 > 1000 ? 1000 : n - 6), b + 6);
    else
        snprintf(out, outsz, "an unknown source '%.*s'", (int)(n > 200 ? 200 : n), b);
}

/* --source-archive-dir: an existing directory, neither the input directory
 * nor inside it (unless below a name the source ignores, such as
 * "_archive", which is never listed), nor around it (files archived with
 * their relative path could land in the input directory again).  in_real
 * and ar_real are canonical paths. */
static int check_archive_dir(const ms_config *cfg, const char *in_real, char *errstr, size_t errsz)
{
    const char *ad = cfg->source_archive_dir;
    char ar_real[PATH_MAX];
    struct stat st;
    if (stat(ad, &st) != 0 || !realpath(ad, ar_real)) {
        snprintf(errstr, errsz,
                 "--source-archive-dir %s: %s (create it first; --clean-source archive moves "
                 "every file read into it)",
                 ad, strerror(errno));
        return MS_EUSAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errstr, errsz, "--source-archive-dir %s is not a directory", ad);
        return MS_EUSAGE;
    }
    size_t il = strlen(in_real), al = strlen(ar_real);
    int inside = al > il && !strncmp(ar_real, in_real, il) && (il == 1 || ar_real[il] == '/');
    int around = il > al && !strncmp(in_real, ar_real, al) && (al == 1 || in_real[al] == '/');
    if (al == il && !strcmp(ar_real, in_real)) {
        snprintf(errstr, errsz,
                 "--source-archive-dir %s is the input directory itself: archived files would "
                 "be read again (choose a directory outside %s)",
                 ad, in_real);
        return MS_EUSAGE;
    }
    if (inside) {
        /* The first name below the input directory must be one the source
         * never reads ('.' or '_' first, or ".tmp" last). */
        const char *rel = ar_real + il + (il == 1 ? 0 : 1);
        size_t n = strcspn(rel, "/");
        char first[256];
        snprintf(first, sizeof(first), "%.*s", (int)(n < 255 ? n : 255), rel);
        if (!ms_dirsrc_ignored_name(first)) {
            snprintf(errstr, errsz,
                     "--source-archive-dir %s lies inside the input directory %s, where archived "
                     "files would be read again: choose a directory outside it, or one whose "
                     "name there starts with '_' or '.' (such as %s/_archive), which is never "
                     "read",
                     ad, in_real, in_real);
            return MS_EUSAGE;
        }
    }
    if (around) {
        snprintf(errstr, errsz,
                 "--source-archive-dir %s contains the input directory %s: files archived with "
                 "their path could land in the input directory again (choose a directory "
                 "beside it)",
                 ad, in_real);
        return MS_EUSAGE;
    }
    return 0;
}

static int prepare_dir(const ms_config *cfg, ms_source_spec *spec, char *errstr, size_t errsz)
{
    struct stat st;
    char real[PATH_MAX];
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
    if (!realpath(cfg->input_dir, real)) {
        snprintf(errstr, errsz, "input directory %s: %s (check --input-dir)", cfg->input_dir,
                 strerror(errno));
        return MS_EUSAGE;
    }
    if (cfg->path_glob_filter) {
        ms_glob *g = NULL;
        int rc = ms_glob_compile(cfg->path_glob_filter, &g, errstr, errsz);
        ms_glob_free(g);
        if (rc)
            return rc;
    }
    if (cfg->source_archive_dir) {
        int rc = check_archive_dir(cfg, real, errstr, errsz);
        if (rc)
            return rc;
    }
    spec->ops = &ms_dirsrc_ops;
    ms_buf bd = MS_BUF_INIT;
    ms_buf_printf(&bd, DIR_BINDING "%s", real);
    spec->binding = ms_buf_steal(&bd, NULL);
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
        ms_dirsrc_conf dc = {
            .dir = cfg->input_dir,
            .available_now = cfg->available_now,
            .rescan_sec = cfg->rescan_sec,
            .glob = cfg->path_glob_filter,
            .recursive = cfg->recursive,
            .latest_first = cfg->latest_first,
            .max_file_age = cfg->max_file_age,
            .clean = !strcmp(cfg->clean_source, "archive")  ? MS_CLEAN_ARCHIVE
                     : !strcmp(cfg->clean_source, "delete") ? MS_CLEAN_DELETE
                                                            : MS_CLEAN_OFF,
            .archive_dir = cfg->source_archive_dir,
        };
        ms_dirsrc *d = NULL;
        int rc = ms_dirsrc_open_conf(&dc, ck, &d, errstr, errsz);
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
