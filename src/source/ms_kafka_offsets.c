/*
 * Starting offsets: "earliest", "latest" or Spark's JSON (ms_kafkasrc.h).
 * A parser of untrusted text: fuzzed by tests/fuzz/fuzz_codec_kafka.c.
 */
#include "source/ms_kafkasrc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_log.h"
#include "mstream/mstream.h"

/* --------------------------------------------------- starting offsets */

typedef struct jparse {
    const char *begin, *p, *end;
    char *err;
    size_t errsz;
} jparse;

static void jskip(jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jfail(jparse *j, const char *what)
{
    if (j->p < j->end)
        snprintf(j->err, j->errsz,
                 "starting offsets: %s at byte %zu (expected JSON like "
                 "{\"topic\":{\"0\":23,\"1\":-2}}, or earliest or latest)",
                 what, (size_t)(j->p - j->begin));
    else
        snprintf(j->err, j->errsz, "starting offsets: %s at the end of the text", what);
    return MS_EUSAGE;
}

static int jexpect(jparse *j, char c)
{
    jskip(j);
    if (j->p >= j->end || *j->p != c) {
        char what[32];
        snprintf(what, sizeof(what), "expected '%c'", c);
        return jfail(j, what);
    }
    j->p++;
    return 0;
}

static int jpeek(jparse *j, char c)
{
    jskip(j);
    return j->p < j->end && *j->p == c;
}

/* A string without escapes (topic names and partition numbers need none). */
static int jstring(jparse *j, const char **s, size_t *n)
{
    if (jexpect(j, '"'))
        return MS_EUSAGE;
    const char *start = j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\' || (unsigned char)*j->p < 0x20)
            return jfail(j, "escapes and control characters are not allowed in names");
        j->p++;
    }
    if (j->p >= j->end)
        return jfail(j, "unterminated string");
    *s = start;
    *n = (size_t)(j->p - start);
    j->p++;
    return 0;
}

static int jint(jparse *j, int64_t *out)
{
    jskip(j);
    int neg = j->p < j->end && *j->p == '-';
    if (neg)
        j->p++;
    const char *start = j->p;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return jfail(j, "offset out of range");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p == start)
        return jfail(j, "expected an offset");
    if (j->p - start > 1 && *start == '0')
        return jfail(j, "leading zero in an offset");
    if (neg && v != 1 && v != 2)
        return jfail(j, "a negative offset must be -1 (latest) or -2 (earliest)");
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static void starts_push(ms_kafka_start **v, size_t *n, size_t *cap, char *topic, int32_t part,
                        int64_t off)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = ms_xrealloc(*v, *cap * sizeof(ms_kafka_start));
    }
    (*v)[*n].topic = topic;
    (*v)[*n].partition = part;
    (*v)[*n].offset = off;
    (*n)++;
}

static int parse_json_offsets(jparse *j, ms_kafka_start **out, size_t *nout)
{
    ms_kafka_start *v = NULL;
    size_t n = 0, cap = 0;
    int rc = jexpect(j, '{');
    if (rc == 0 && jpeek(j, '}'))
        j->p++;
    else
        while (rc == 0) {
            const char *t;
            size_t tl;
            if ((rc = jstring(j, &t, &tl)) != 0)
                break;
            if (!ms_codec_kafka_topic_valid(t, tl)) {
                rc = jfail(j, "not a valid Kafka topic name");
                break;
            }
            if ((rc = jexpect(j, ':')) != 0 || (rc = jexpect(j, '{')) != 0)
                break;
            if (jpeek(j, '}')) {
                j->p++;
            } else {
                while (rc == 0) {
                    const char *ps;
                    size_t pl;
                    int64_t part = 0, off;
                    if ((rc = jstring(j, &ps, &pl)) != 0)
                        break;
                    if (pl == 0 || pl > 10 || (pl > 1 && ps[0] == '0')) {
                        rc = jfail(j, "a partition must be a number such as \"0\"");
                        break;
                    }
                    for (size_t i = 0; i < pl && rc == 0; i++) {
                        if (ps[i] < '0' || ps[i] > '9')
                            rc = jfail(j, "a partition must be a number such as \"0\"");
                        part = part * 10 + (ps[i] - '0');
                    }
                    if (rc == 0 && part > INT32_MAX)
                        rc = jfail(j, "partition number too large");
                    if (rc || (rc = jexpect(j, ':')) != 0 || (rc = jint(j, &off)) != 0)
                        break;
                    for (size_t i = 0; i < n; i++)
                        if (v[i].partition == part && strlen(v[i].topic) == tl &&
                            memcmp(v[i].topic, t, tl) == 0)
                            rc = jfail(j, "a partition is given twice");
                    if (rc)
                        break;
                    char *topic = ms_xmalloc(tl + 1);
                    memcpy(topic, t, tl);
                    topic[tl] = '\0';
                    starts_push(&v, &n, &cap, topic, (int32_t)part, off);
                    if (jpeek(j, ',')) {
                        j->p++;
                        continue;
                    }
                    rc = jexpect(j, '}');
                    break;
                }
            }
            if (rc)
                break;
            if (jpeek(j, ',')) {
                j->p++;
                continue;
            }
            rc = jexpect(j, '}');
            break;
        }
    if (rc == 0) {
        jskip(j);
        if (j->p != j->end)
            rc = jfail(j, "text after the JSON object");
    }
    if (rc) {
        ms_kafkasrc_starts_free(v, n);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

int ms_kafkasrc_parse_offsets(const char *spec, ms_kafka_start **out, size_t *n, char *errstr,
                              size_t errsz)
{
    *out = NULL;
    *n = 0;
    if (!spec || strcmp(spec, "latest") == 0 || strcmp(spec, "earliest") == 0) {
        ms_kafka_start *v = ms_xcalloc(1, sizeof(*v));
        v->partition = -1;
        v->offset = spec && spec[0] == 'e' ? MS_KAFKA_OFFSET_EARLIEST : MS_KAFKA_OFFSET_LATEST;
        *out = v;
        *n = 1;
        return 0;
    }
    jparse j = {spec, spec, spec + strlen(spec), errstr, errsz};
    jskip(&j);
    if (j.p == j.end || *j.p != '{') {
        snprintf(errstr, errsz,
                 "starting offsets must be earliest, latest or JSON like "
                 "{\"topic\":{\"0\":23,\"1\":-2}}, not \"%.64s\"",
                 spec);
        return MS_EUSAGE;
    }
    return parse_json_offsets(&j, out, n);
}

void ms_kafkasrc_starts_free(ms_kafka_start *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].topic);
    free(v);
}
