/*
 * `mstream checkpoint ...` (see ms_ckpt_tool.h).
 *
 *   argv ──parse_args──▶ open read-only ──▶ describe | batches | state ──▶ stdout
 *                                            (codecs)   (codecs)  (executor)
 *
 * Output is built in an ms_buf and written to stdout in chunks; messages
 * go through ms_say (to standard error).  Every error path ends in one
 * sentence and exit 1; nothing is retried but the open
 * (ms_ckpt_open_readonly).
 */
#include "tools/ms_ckpt_tool.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ms_buf.h"
#include "core/ms_log.h"
#include "core/ms_text.h"
#include "engine/ms_program.h"
#include "engine/ms_render.h"
#include "mstream/mstream.h"
#include "query/ms_exec.h"
#include "state/ms_ckpt.h"
#include "state/ms_codec.h"
#include "state/ms_codec_kafka.h"

#define DEFAULT_BATCHES 20
#define FLUSH_AT        (64u << 10)

static const char usage_text[] =
    "usage: mstream checkpoint COMMAND DIR [options]\n"
    "\n"
    "Read-only views of a checkpoint directory, safe while an engine runs on it\n"
    "(they see the checkpoint as of their start; nothing is written or created).\n"
    "\n"
    "commands:\n"
    "  describe DIR [--json]      query, source, format, last batch, pending plans,\n"
    "                             per query: watermark, largest event time, latest\n"
    "                             closed window, groups, state size; positions\n"
    "  batches DIR [--limit N] [--json]\n"
    "                             the recent batch records, newest first (N: 20)\n"
    "  state DIR [--query NAME] [--format csv|json]\n"
    "                             a query's state as rows in group-key order (the\n"
    "                             first query by default; csv by default)\n"
    "\n"
    "exit status: 0 ok, 1 the checkpoint cannot be read, 2 usage error\n";

typedef struct tool {
    const char *cmd, *dir;
    const char *query;  /* --query */
    const char *format; /* --format */
    int json;
    uint64_t limit;
    ms_ckpt *ck;
    ms_sql_program *prog;
    ms_buf out;
    int write_failed;
    char err[1024];
} tool;

/* ------------------------------------------------------------- output */

static void out_flush(tool *t)
{
    if (t->out.len && !t->write_failed && fwrite(t->out.data, 1, t->out.len, stdout) != t->out.len)
        t->write_failed = 1;
    ms_buf_reset(&t->out);
}

static void out_maybe_flush(tool *t)
{
    if (t->out.len >= FLUSH_AT)
        out_flush(t);
}

static void put_ts(ms_buf *b, int64_t us)
{
    if (us == INT64_MIN)
        ms_buf_puts(b, "none");
    else
        ms_render_timestamp(b, us);
}

/* Display form of bytes from the checkpoint (never raw to a terminal). */
static void put_text(ms_buf *b, const void *s, size_t n)
{
    ms_text_display(b, s, n);
}

/* ------------------------------------------------------------- records */

/* Reads key; 0, MS_ENOTFOUND, or an error with t->err. */
static int get_rec(tool *t, const char *key, size_t klen, ms_buf *v)
{
    return ms_ckpt_get(t->ck, key, klen, v, t->err, sizeof(t->err));
}

static int corrupt(tool *t, const char *what)
{
    snprintf(t->err, sizeof(t->err), "checkpoint %s: %s is corrupt", t->dir, what);
    return MS_ECORRUPT;
}

/* The program the checkpoint was made for. */
static int load_program(tool *t, ms_buf *query_text)
{
    int rc = get_rec(t, "m:query", 7, query_text);
    if (rc == MS_ENOTFOUND) {
        snprintf(t->err, sizeof(t->err),
                 "%s is not an mstream checkpoint: it holds no query record (m:query)", t->dir);
        return rc;
    }
    if (rc)
        return rc;
    /* A newer format may lay records out otherwise: refuse to guess. */
    ms_buf f = MS_BUF_INIT;
    rc = get_rec(t, "m:format", 8, &f);
    if (rc == 0 && (f.len != 1 || (uint8_t)f.data[0] > MS_CKPT_FORMAT)) {
        if (f.len != 1) {
            rc = corrupt(t, "the format record (m:format)");
        } else {
            snprintf(t->err, sizeof(t->err),
                     "checkpoint %s was written by a newer mstream (format %d; this one reads "
                     "format %d and older)",
                     t->dir, (uint8_t)f.data[0], MS_CKPT_FORMAT);
            rc = MS_EMISMATCH;
        }
    } else if (rc == MS_ENOTFOUND) {
        rc = 0;
    }
    ms_buf_free(&f);
    if (rc)
        return rc;
    char perr[900];
    rc = ms_program_from_checkpoint(query_text->data ? query_text->data : "", query_text->len,
                                    &t->prog, perr, sizeof(perr));
    if (rc)
        snprintf(t->err, sizeof(t->err), "checkpoint %s: %s", t->dir, perr);
    return rc;
}

/* ------------------------------------------------------------ describe */

typedef struct batch_info {
    int have;
    ms_batch_rec rec;
} batch_info;

static int read_last(tool *t, batch_info *bi)
{
    ms_buf v = MS_BUF_INIT;
    int rc = get_rec(t, "m:last", 6, &v);
    bi->have = 0;
    if (rc == 0) {
        if (ms_codec_decode_batch((const uint8_t *)v.data, v.len, &bi->rec) != 0)
            rc = corrupt(t, "the last batch record (m:last)");
        else
            bi->have = 1;
    } else if (rc == MS_ENOTFOUND) {
        rc = 0;
    }
    ms_buf_free(&v);
    return rc;
}

typedef struct scan_ctx {
    tool *t;
    size_t n;
    uint64_t limit;
} scan_ctx;

static int plan_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    scan_ctx *c = ud;
    tool *t = c->t;
    (void)k;
    (void)kl;
    uint64_t id, items, span;
    const char *kind;
    if (vl && (v[0] == MS_KAFKA_PLAN_VERSION || v[0] == MS_KAFKA_PLAN_VERSION2)) {
        ms_kafka_plan p;
        if (ms_codec_decode_kafka_plan(v, vl, &p) != 0)
            return corrupt(t, "a pending plan record (m:plan)");
        id = p.batch_id;
        items = p.n;
        span = 0;
        for (size_t i = 0; i < p.n; i++)
            span += (uint64_t)(p.items[i].end - p.items[i].start);
        ms_kafka_plan_free(&p);
        kind = "offsets";
    } else {
        ms_plan p;
        if (ms_codec_decode_plan(v, vl, &p) != 0)
            return corrupt(t, "a pending plan record (m:plan)");
        id = p.batch_id;
        items = p.n;
        span = 0;
        for (size_t i = 0; i < p.n; i++)
            span += p.items[i].end - p.items[i].pos.offset;
        ms_plan_free(&p);
        kind = "bytes";
    }
    ms_buf *o = &t->out;
    if (t->json) {
        ms_buf_printf(o, "%s{\"batchId\":%" PRIu64 ",\"ranges\":%" PRIu64 ",\"%s\":%" PRIu64 "}",
                      c->n ? "," : "", id, items, kind, span);
    } else {
        ms_buf_printf(o, "  batch %" PRIu64 ": %" PRIu64 " %s, %" PRIu64 " %s\n", id, items,
                      !strcmp(kind, "bytes") ? "file ranges" : "partition ranges", span, kind);
    }
    c->n++;
    return 0;
}

static int describe_plans(tool *t)
{
    scan_ctx c = {.t = t};
    ms_buf *o = &t->out;
    if (t->json)
        ms_buf_puts(o, ",\"pendingPlans\":[");
    else
        ms_buf_puts(o, "pending plans:\n");
    int rc = ms_ckpt_scan(t->ck, "m:plan", 6, plan_cb, &c, t->err, sizeof(t->err));
    if (rc)
        return rc;
    if (t->json)
        ms_buf_putc(o, ']');
    else if (!c.n)
        ms_buf_puts(o, "  none\n");
    return 0;
}

static int totals_row_ignore(void *ud, const uint8_t *key, size_t klen, const uint8_t *val,
                             size_t vlen)
{
    (void)ud;
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    return 0;
}

/* Groups in the state: "n:" (newer), else the totals record's. -1: unknown. */
static int stmt_groups(tool *t, const ms_sql_stmt *st, int64_t *groups)
{
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    *groups = -1;
    ms_codec_key_groups(&k, st->name);
    int rc = get_rec(t, k.data, k.len, &v);
    uint64_t g = 0;
    if (rc == 0) {
        if (ms_codec_decode_groups((const uint8_t *)v.data, v.len, &g) != 0)
            rc = corrupt(t, "a group count record (n:)");
        else
            *groups = (int64_t)g;
    } else if (rc == MS_ENOTFOUND) {
        ms_buf_reset(&k);
        ms_codec_key_totals(&k, st->name);
        rc = get_rec(t, k.data, k.len, &v);
        if (rc == 0) {
            if (ms_codec_decode_totals((const uint8_t *)v.data, v.len, &g, totals_row_ignore,
                                       NULL) != 0)
                rc = corrupt(t, "a totals record (t:)");
            else
                *groups = (int64_t)g;
        } else if (rc == MS_ENOTFOUND) {
            rc = 0;
        }
    }
    ms_buf_free(&k);
    ms_buf_free(&v);
    return rc;
}

static int describe_stmt(tool *t, const ms_sql_stmt *st, size_t idx)
{
    ms_exec x;
    ms_exec_init(&x, st);
    ms_buf k = MS_BUF_INIT, v = MS_BUF_INIT;
    ms_buf_puts(&k, "w:");
    ms_buf_puts(&k, st->name);
    int rc = get_rec(t, k.data, k.len, &v);
    int have_wm = rc == 0;
    if (rc == 0 && ms_exec_decode_progress(&x, (const uint8_t *)v.data, v.len, 0) != 0)
        rc = corrupt(t, "a watermark record (w:)");
    else if (rc == MS_ENOTFOUND)
        rc = 0;
    int64_t groups = -1;
    if (rc == 0)
        rc = stmt_groups(t, st, &groups);
    if (rc) {
        ms_buf_free(&k);
        ms_buf_free(&v);
        ms_exec_free(&x);
        return rc;
    }
    ms_buf lo = MS_BUF_INIT, hi = MS_BUF_INIT;
    ms_codec_key_state(&lo, st->name, NULL, 0);
    ms_buf_append(&hi, lo.data, lo.len);
    hi.data[hi.len - 1] = ':' + 1;
    /* Table files only (RocksDB estimates no key range of a memtable): the
     * log replayed at the open is in the memtables, counted over all. */
    uint64_t bytes = ms_ckpt_range_bytes(t->ck, lo.data, lo.len, hi.data, hi.len);
    ms_ckpt_stats cs;
    ms_ckpt_get_stats(t->ck, &cs);
    ms_buf_free(&lo);
    ms_buf_free(&hi);

    int windowed = st->window.kind != MS_SQL_WINDOW_NONE;
    ms_buf *o = &t->out;
    if (t->json) {
        ms_buf_puts(o, idx ? ",{\"name\":" : "{\"name\":");
        ms_text_json_str(o, st->name);
        ms_buf_printf(o, ",\"emit\":\"%s\",\"windowed\":%s,\"groups\":", ms_sql_emit_name(st->emit),
                      windowed ? "true" : "false");
        if (groups < 0)
            ms_buf_puts(o, "null");
        else
            ms_buf_printf(o, "%" PRId64, groups);
        ms_buf_printf(o, ",\"stateBytes\":%" PRIu64 ",\"memtableBytes\":%" PRIu64 ",\"watermark\":",
                      bytes, cs.memtable_bytes);
        ms_render_json_timestamp(o, x.watermark);
        ms_buf_puts(o, ",\"maxEventTime\":");
        ms_render_json_timestamp(o, x.max_event);
        ms_buf_puts(o, ",\"lastClosedWindow\":");
        if (x.last_closed_start == INT64_MIN) {
            ms_buf_puts(o, "null");
        } else {
            ms_buf_puts(o, "{\"start\":");
            ms_render_json_timestamp(o, x.last_closed_start);
            ms_buf_puts(o, ",\"end\":");
            ms_render_json_timestamp(o, x.last_closed_end);
            ms_buf_putc(o, '}');
        }
        ms_buf_puts(o, ",\"partitions\":[");
        for (size_t i = 0; i < x.wm.n; i++) {
            ms_buf_puts(o, i ? ",{\"partition\":" : "{\"partition\":");
            ms_text_json_str(o, x.wm.parts[i].key);
            ms_buf_puts(o, ",\"maxEventTime\":");
            ms_render_json_timestamp(o, x.wm.parts[i].max_event);
            ms_buf_putc(o, '}');
        }
        ms_buf_puts(o, "]}");
    } else {
        ms_buf_puts(o, "query ");
        put_text(o, st->name, strlen(st->name));
        ms_buf_printf(o, " (emit %s%s):\n", ms_sql_emit_name(st->emit),
                      windowed ? ", windowed" : "");
        if (groups < 0)
            ms_buf_puts(o, "  groups             unknown (no count recorded)\n");
        else
            ms_buf_printf(o, "  groups             %" PRId64 "\n", groups);
        ms_buf_printf(o,
                      "  state size         ~%" PRIu64 " bytes in table files (+ %" PRIu64
                      " bytes in memtables, all queries)\n",
                      bytes, cs.memtable_bytes);
        if (st->watermark.present || windowed || have_wm) {
            ms_buf_puts(o, "  watermark          ");
            put_ts(o, x.watermark);
            ms_buf_puts(o, "\n  max event time     ");
            put_ts(o, x.max_event);
            ms_buf_puts(o, "\n  last closed window ");
            if (x.last_closed_start == INT64_MIN) {
                ms_buf_puts(o, "none");
            } else {
                put_ts(o, x.last_closed_start);
                ms_buf_puts(o, " .. ");
                put_ts(o, x.last_closed_end);
            }
            ms_buf_putc(o, '\n');
            for (size_t i = 0; i < x.wm.n; i++) {
                ms_buf_puts(o, "  partition ");
                put_text(o, x.wm.parts[i].key, strlen(x.wm.parts[i].key));
                ms_buf_puts(o, ": max event time ");
                put_ts(o, x.wm.parts[i].max_event);
                ms_buf_putc(o, '\n');
            }
        }
    }
    ms_buf_free(&k);
    ms_buf_free(&v);
    ms_exec_free(&x);
    return 0;
}

static int filepos_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    scan_ctx *c = ud;
    tool *t = c->t;
    ms_filepos fp;
    if (ms_codec_decode_filepos(k, kl, v, vl, &fp) != 0)
        return corrupt(t, "a file position record (p:dir:)");
    ms_buf *o = &t->out;
    const char *name = fp.name ? fp.name : "";
    if (t->json) {
        ms_buf_puts(o, c->n ? ",{\"name\":" : "{\"name\":");
        ms_text_json_str(o, name);
        ms_buf_printf(o,
                      ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"offset\":%" PRIu64
                      ",\"rejected\":%s,\"gzip\":%s}",
                      fp.dev, fp.ino, fp.offset, fp.flags & MS_FPOS_REJECTED ? "true" : "false",
                      fp.flags & MS_FPOS_GZIP ? "true" : "false");
    } else {
        ms_buf_printf(o, "  %14" PRIu64 "  ", fp.offset);
        put_text(o, name, strlen(name));
        ms_buf_printf(o, " (dev %" PRIu64 ", inode %" PRIu64 "%s%s)\n", fp.dev, fp.ino,
                      fp.flags & MS_FPOS_GZIP ? ", gzip: compressed bytes" : "",
                      fp.flags & MS_FPOS_REJECTED ? ", rejected" : "");
    }
    c->n++;
    ms_filepos_free(&fp);
    out_maybe_flush(t);
    return 0;
}

static int kafkapos_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    scan_ctx *c = ud;
    tool *t = c->t;
    ms_kafka_pos p;
    if (ms_codec_decode_kafka_pos(k, kl, v, vl, &p) != 0)
        return corrupt(t, "a Kafka position record (p:kafka:)");
    ms_buf *o = &t->out;
    if (t->json) {
        ms_buf_puts(o, c->n ? ",{\"topic\":" : "{\"topic\":");
        ms_text_json_str(o, p.topic);
        ms_buf_printf(o, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}", p.partition,
                      p.offset);
    } else {
        ms_buf_printf(o, "  %14" PRId64 "  ", p.offset);
        put_text(o, p.topic, strlen(p.topic));
        ms_buf_printf(o, " [%" PRId32 "]\n", p.partition);
    }
    c->n++;
    ms_kafka_pos_free(&p);
    out_maybe_flush(t);
    return 0;
}

static int describe_positions(tool *t)
{
    ms_buf *o = &t->out;
    scan_ctx c = {.t = t};
    ms_buf_puts(o, t->json ? ",\"files\":[" : "file positions (next byte to read, name):\n");
    int rc = ms_ckpt_scan(t->ck, "p:dir:", 6, filepos_cb, &c, t->err, sizeof(t->err));
    if (rc)
        return rc;
    if (t->json)
        ms_buf_putc(o, ']');
    else if (!c.n)
        ms_buf_puts(o, "  none\n");
    scan_ctx ck = {.t = t};
    ms_buf_puts(o,
                t->json ? ",\"kafka\":[" : "Kafka positions (next offset, topic [partition]):\n");
    rc = ms_ckpt_scan(t->ck, MS_KAFKA_POS_PREFIX, MS_KAFKA_POS_PREFIX_LEN, kafkapos_cb, &ck, t->err,
                      sizeof(t->err));
    if (rc)
        return rc;
    if (t->json)
        ms_buf_putc(o, ']');
    else if (!ck.n)
        ms_buf_puts(o, "  none\n");
    return 0;
}

static void put_batch_json(ms_buf *o, const ms_batch_rec *r)
{
    ms_buf_printf(o, "{\"id\":%" PRIu64 ",\"commitTime\":\"", r->batch_id);
    ms_render_timestamp(o, (int64_t)(r->commit_ms * 1000));
    ms_buf_printf(o,
                  "\",\"commitMs\":%" PRIu64 ",\"rows\":%" PRIu64 ",\"bytes\":%" PRIu64
                  ",\"files\":%" PRIu64 "}",
                  r->commit_ms, r->rows, r->bytes, r->files);
}

static void put_batch_text(ms_buf *o, const ms_batch_rec *r)
{
    ms_buf_printf(o, "%10" PRIu64 "  ", r->batch_id);
    ms_render_timestamp(o, (int64_t)(r->commit_ms * 1000));
    ms_buf_printf(o, "  %12" PRIu64 "  %14" PRIu64 "  %8" PRIu64 "\n", r->rows, r->bytes, r->files);
}

static int cmd_describe(tool *t)
{
    ms_buf q = MS_BUF_INIT, v = MS_BUF_INIT;
    int rc = load_program(t, &q);
    int fmt = -1;
    if (rc == 0) {
        rc = get_rec(t, "m:format", 8, &v);
        if (rc == 0 && v.len != 1)
            rc = corrupt(t, "the format record (m:format)");
        else if (rc == 0)
            fmt = (uint8_t)v.data[0];
        else if (rc == MS_ENOTFOUND)
            rc = 0;
    }
    ms_buf src = MS_BUF_INIT;
    int have_src = 0;
    if (rc == 0) {
        rc = get_rec(t, "m:source", 8, &src);
        have_src = rc == 0;
        if (rc == MS_ENOTFOUND)
            rc = 0;
    }
    batch_info last;
    if (rc == 0)
        rc = read_last(t, &last);
    if (rc)
        goto out;

    ms_buf *o = &t->out;
    if (t->json) {
        ms_buf_puts(o, "{\"checkpoint\":");
        ms_text_json_str(o, t->dir);
        if (fmt < 0)
            ms_buf_puts(o, ",\"format\":null");
        else
            ms_buf_printf(o, ",\"format\":%d", fmt);
        ms_buf_puts(o, ",\"source\":");
        if (have_src)
            ms_text_json_bytes(o, (const uint8_t *)src.data, src.len);
        else
            ms_buf_puts(o, "null");
        ms_buf_puts(o, ",\"query\":");
        ms_text_json_bytes(o, (const uint8_t *)q.data, q.len);
        ms_buf_puts(o, ",\"lastBatch\":");
        if (last.have)
            put_batch_json(o, &last.rec);
        else
            ms_buf_puts(o, "null");
    } else {
        ms_buf_puts(o, "checkpoint  ");
        put_text(o, t->dir, strlen(t->dir));
        if (fmt < 0)
            ms_buf_puts(o, "\nformat      unknown (no format record)\nsource      ");
        else
            ms_buf_printf(o, "\nformat      %d\nsource      ", fmt);
        if (have_src)
            put_text(o, src.data, src.len);
        else
            ms_buf_puts(o, "dir (recorded before sources were named)");
        ms_buf_puts(o, "\nlast batch  ");
        if (last.have) {
            ms_buf_printf(o, "%" PRIu64 ", committed ", last.rec.batch_id);
            ms_render_timestamp(o, (int64_t)(last.rec.commit_ms * 1000));
            ms_buf_printf(o, " (%" PRIu64 " rows, %" PRIu64 " bytes, %" PRIu64 " files)",
                          last.rec.rows, last.rec.bytes, last.rec.files);
        } else {
            ms_buf_puts(o, "none (no batch committed yet)");
        }
        ms_buf_puts(o, "\nquery text  ");
        /* the canonical text, one statement per line */
        for (size_t i = 0; i < t->prog->nstmts; i++) {
            if (i)
                ms_buf_puts(o, "\n            ");
            const char *c = t->prog->stmts[i].canonical;
            put_text(o, c, strlen(c));
        }
        ms_buf_putc(o, '\n');
    }
    rc = describe_plans(t);
    if (rc)
        goto out;
    ms_buf_puts(o, t->json ? ",\"statements\":[" : "");
    for (size_t i = 0; i < t->prog->nstmts && rc == 0; i++)
        rc = describe_stmt(t, &t->prog->stmts[i], i);
    if (rc)
        goto out;
    if (t->json)
        ms_buf_putc(o, ']');
    rc = describe_positions(t);
    if (rc)
        goto out;
    if (t->json)
        ms_buf_puts(o, "}\n");
out:
    ms_buf_free(&q);
    ms_buf_free(&v);
    ms_buf_free(&src);
    return rc;
}

/* ------------------------------------------------------------- batches */

static int batch_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    scan_ctx *c = ud;
    tool *t = c->t;
    if (c->n >= c->limit)
        return 1;
    ms_batch_rec r;
    uint64_t kid = 0;
    if (kl != 10)
        return corrupt(t, "a batch record key (b:)");
    for (int i = 0; i < 8; i++)
        kid = kid << 8 | k[2 + i];
    if (ms_codec_decode_batch(v, vl, &r) != 0 || r.batch_id != kid) {
        snprintf(t->err, sizeof(t->err),
                 "checkpoint %s: the record of batch %" PRIu64 " is corrupt", t->dir, kid);
        return MS_ECORRUPT;
    }
    if (t->json) {
        put_batch_json(&t->out, &r);
        ms_buf_putc(&t->out, '\n');
    } else {
        put_batch_text(&t->out, &r);
    }
    c->n++;
    out_maybe_flush(t);
    return 0;
}

static int cmd_batches(tool *t)
{
    ms_buf q = MS_BUF_INIT;
    int rc = load_program(t, &q); /* an mstream checkpoint? */
    ms_buf_free(&q);
    if (rc)
        return rc;
    if (!t->json)
        ms_buf_printf(&t->out, "%10s  %-27s  %12s  %14s  %8s\n", "batch", "committed", "rows",
                      "bytes", "files");
    scan_ctx c = {.t = t, .limit = t->limit};
    rc = ms_ckpt_scan_range(t->ck, NULL, "b:", 2, "b;", 2, 1, batch_cb, &c, t->err, sizeof(t->err));
    return rc == 1 ? 0 : rc;
}

/* --------------------------------------------------------------- state */

typedef struct state_ctx {
    tool *t;
    const ms_exec *dec;
    int csv;
    ms_buf cell;
} state_ctx;

/* RFC 4180: a field holding a comma, a quote, CR or LF is quoted, quotes
 * doubled. */
static void put_csv_field(ms_buf *o, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        ms_buf_append(o, s, n);
        return;
    }
    ms_buf_putc(o, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            ms_buf_putc(o, '"');
        ms_buf_putc(o, s[i]);
    }
    ms_buf_putc(o, '"');
}

static void state_row(void *ud, const ms_exec_row *r)
{
    state_ctx *c = ud;
    const ms_sql_stmt *st = c->dec->stmt;
    ms_buf *o = &c->t->out;
    if (!c->csv)
        ms_buf_putc(o, '{');
    for (size_t i = 0; i < st->nouts; i++) {
        ms_value v;
        ms_exec_value(c->dec, r, i, &v);
        if (c->csv) {
            if (i)
                ms_buf_putc(o, ',');
            ms_buf_reset(&c->cell);
            ms_render_text(&c->cell, &v);
            put_csv_field(o, c->cell.data ? c->cell.data : "", c->cell.len);
        } else {
            if (i)
                ms_buf_putc(o, ',');
            ms_text_json_str(o, st->outs[i].name);
            ms_buf_putc(o, ':');
            ms_render_json(o, &v);
        }
    }
    ms_buf_puts(o, c->csv ? "\n" : "}\n");
    out_maybe_flush(c->t);
}

static int cmd_state(tool *t)
{
    ms_buf q = MS_BUF_INIT;
    int rc = load_program(t, &q);
    ms_buf_free(&q);
    if (rc)
        return rc;
    const ms_sql_stmt *st = t->query ? ms_sql_program_find(t->prog, t->query) : &t->prog->stmts[0];
    if (!st) {
        ms_buf names = MS_BUF_INIT;
        for (size_t i = 0; i < t->prog->nstmts; i++) {
            if (i)
                ms_buf_puts(&names, ", ");
            ms_buf_puts(&names, t->prog->stmts[i].name);
        }
        snprintf(t->err, sizeof(t->err), "checkpoint %s has no query named %s (it has: %s)", t->dir,
                 t->query, names.data);
        ms_buf_free(&names);
        return MS_EUSAGE;
    }
    ms_exec x, dec;
    ms_exec_init(&x, st);
    ms_exec_decoder(&dec, &x);
    state_ctx c = {.t = t, .dec = &dec, .csv = strcmp(t->format, "json") != 0};
    if (c.csv) {
        for (size_t i = 0; i < st->nouts; i++) {
            if (i)
                ms_buf_putc(&t->out, ',');
            put_csv_field(&t->out, st->outs[i].name, strlen(st->outs[i].name));
        }
        ms_buf_putc(&t->out, '\n');
    }
    rc = ms_exec_page_keys(&dec, t->ck, NULL, NULL, 0, 0, SIZE_MAX, state_row, &c, t->err,
                           sizeof(t->err));
    ms_buf_free(&c.cell);
    ms_exec_free(&x);
    return rc;
}

/* ---------------------------------------------------------------- main */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ms_say("mstream checkpoint: %s", msg);
    ms_say("usage: mstream checkpoint describe|batches|state DIR [options]; see mstream "
           "checkpoint --help");
    return MS_EXIT_USAGE;
}

/* --name VALUE or --name=VALUE; *i advanced.  1 if argv[*i] is that option. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val, int *bad)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *bad = 1;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

int ms_ckpt_tool_main(int argc, char **argv)
{
    tool t = {.limit = DEFAULT_BATCHES, .format = "csv"};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        if (argc < 2)
            return usage_error("%s", "a command is missing");
        fputs(usage_text, stdout);
        return MS_EXIT_OK;
    }
    t.cmd = argv[1];
    if (strcmp(t.cmd, "describe") && strcmp(t.cmd, "batches") && strcmp(t.cmd, "state"))
        return usage_error("unknown command %s (describe, batches or state)", t.cmd);
    const char *limit = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--json") && strcmp(t.cmd, "state")) {
            t.json = 1;
        } else if (!strcmp(t.cmd, "batches") && opt_value(argc, argv, &i, "--limit", &val, &bad)) {
            if (bad)
                return usage_error("%s needs a value", a);
            limit = val;
        } else if (!strcmp(t.cmd, "state") && opt_value(argc, argv, &i, "--query", &val, &bad)) {
            if (bad)
                return usage_error("%s needs a value", a);
            t.query = val;
        } else if (!strcmp(t.cmd, "state") && opt_value(argc, argv, &i, "--format", &val, &bad)) {
            if (bad)
                return usage_error("%s needs a value", a);
            if (strcmp(val, "csv") && strcmp(val, "json"))
                return usage_error("--format must be csv or json, not %s", val);
            t.format = val;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option %s for this command", a);
        } else if (t.dir) {
            return usage_error("one checkpoint directory only (%s is one too many)", a);
        } else {
            t.dir = a;
        }
    }
    if (!t.dir)
        return usage_error("%s: the checkpoint directory is missing", t.cmd);
    if (limit) {
        char *end;
        unsigned long long n = strtoull(limit, &end, 10);
        if (!*limit || *end || limit[0] == '-' || n == 0 || n > 100000000ULL)
            return usage_error("--limit must be a number from 1 to 100000000, not %s", limit);
        t.limit = n;
    }

    int rc = ms_ckpt_open_readonly(t.dir, &t.ck, t.err, sizeof(t.err));
    if (rc == 0) {
        if (!strcmp(t.cmd, "describe"))
            rc = cmd_describe(&t);
        else if (!strcmp(t.cmd, "batches"))
            rc = cmd_batches(&t);
        else
            rc = cmd_state(&t);
    }
    out_flush(&t);
    if (fflush(stdout) != 0 || ferror(stdout))
        t.write_failed = 1;
    int status = MS_EXIT_OK;
    if (rc) {
        ms_say("mstream checkpoint %s: %s", t.cmd, t.err);
        status = rc == MS_EUSAGE ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    } else if (t.write_failed) {
        ms_say("mstream checkpoint %s: writing the output failed", t.cmd);
        status = MS_EXIT_RUNTIME;
    }
    ms_buf_free(&t.out);
    if (t.prog)
        ms_sql_program_free(t.prog);
    ms_ckpt_close(t.ck);
    return status;
}
