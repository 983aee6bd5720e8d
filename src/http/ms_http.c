/*
 * HTTP endpoint on libmicrohttpd (see ms_http.h).
 *
 * We create and bind the listening socket ourselves so bind errors reach the
 * user as errno sentences and port 0 can be reported, then hand it to
 * libmicrohttpd (MHD_OPTION_LISTEN_SOCKET).  GET / is the status page
 * (src/http/ms_ui.html, built in by CMake), which reads /api/v1/status and
 * /api/v1/results from the browser.
 *
 * Slow clients (slowloris).  /healthz is a liveness probe and /metrics a
 * scrape: both must answer within a second whatever other clients do.
 * libmicrohttpd alone cannot promise that: its idle timeout restarts with
 * every byte, so a client that sends one byte every few seconds keeps its
 * connection forever, and a few dozen of them fill its connection limit,
 * after which every new connection (the probe's) is refused.  So:
 *
 *   - A fixed budget of MS_HTTP_MAX_CONNS connections.  A new connection
 *     beyond it is accepted and closes the oldest one instead: the oldest
 *     that has not sent a complete request (or is idle after its response),
 *     else the oldest of all.  A probe sends its request at once and is
 *     answered in microseconds, so it is never the oldest: however many
 *     slow connections an attacker opens, they only push each other out.
 *   - Absolute deadlines: a request must be complete MS_HTTP_REQUEST_SEC
 *     after the connection opened or its previous response was sent, and a
 *     response must be sent within MS_HTTP_EXCHANGE_SEC.  A byte now and then
 *     does not extend them (libmicrohttpd's idle timeout stays as a second
 *     line for connections that send nothing).
 *   - Closing = shutdown(2) of the socket on the server thread; libmicrohttpd
 *     reads the end of stream and closes it in its next round.
 *   - Visible: mstream_http_connections, ..._max and
 *     mstream_http_connections_closed_total{reason="evicted"|"timeout"} on
 *     /metrics, and one WARN line per minute at most while it happens
 *     (libmicrohttpd's own messages are DEBUG: one per closed connection
 *     would flood the log during an attack).
 *
 *        accept ──> [budget full? shut down the oldest idle/incomplete one]
 *          │
 *          ▼   since = now
 *     waiting for a complete request ──(> REQUEST_SEC)──> shut down
 *          │ request in: handle() renders from the snapshot
 *          ▼
 *     sending the response ──(> EXCHANGE_SEC)──> shut down
 *          │ sent (keep-alive)
 *          └──> since = now, waiting again
 *
 * Threads: one server thread of ours runs libmicrohttpd in external mode
 * (MHD_run_wait, epoll, at most 100 ms per round, so the deadlines are
 * checked at least ten times a second and ms_http_stop() returns promptly)
 * and every callback; the connection list and the counters are touched
 * only there, so they need no lock.  The thread reads only the published
 * snapshot (ms_snapshot_acquire), never live engine state.
 */
#include "http/ms_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/ms_config.h"
#include "core/ms_log.h"
#include "core/ms_text.h"
#include "engine/ms_render.h"
#include "http/ms_procstat.h"
#include "http/ms_prom.h"
#include "mstream/mstream.h"
#include "ms_ui_html.h"

#define MS_HTTP_MAX_CONNS    256 /* connection budget (see the top) */
#define MS_HTTP_CLOSING      64  /* shut down, not yet closed by libmicrohttpd */
#define MS_HTTP_REQUEST_SEC  10.0
#define MS_HTTP_EXCHANGE_SEC 60.0
#define MS_HTTP_IDLE_SEC     10u /* libmicrohttpd's idle timeout */
#define MS_HTTP_ROUND_MS     100
#define MS_HTTP_WARN_SEC     60.0

/* One accepted connection: libmicrohttpd's socket_context. */
typedef struct http_conn {
    struct http_conn *prev, *next; /* h->head..tail, oldest `since` first */
    MHD_socket fd;
    double since; /* opened, or its last response sent */
    int busy;     /* between a complete request and its response sent */
    int closing;  /* shut down by us; libmicrohttpd closes it next */
} http_conn;

enum { CLOSED_EVICTED, CLOSED_TIMEOUT, CLOSED_REASONS };
static const char *const closed_reason[CLOSED_REASONS] = {"evicted", "timeout"};

struct ms_http {
    struct MHD_Daemon *d;
    ms_published *pub;
    int fd;
    pthread_t thread;
    atomic_int stop;
    /* Server thread only: */
    http_conn *head, *tail;
    size_t open;                     /* in the list and not closing */
    uint64_t closed[CLOSED_REASONS]; /* since start */
    uint64_t warned[CLOSED_REASONS]; /* as of the last WARN line */
    double last_warn;
};

#define RESULTS_MAX_LIMIT 10000

static int parse_u64(const char *s, unsigned long long def, unsigned long long *out)
{
    if (!s || !*s) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* The rows of one rowset as JSON arrays of typed values. */
static void render_rows(ms_buf *b, const ms_sql_stmt *st, const ms_rowset *rs, size_t from,
                        size_t n)
{
    ms_buf_putc(b, '[');
    for (size_t i = from; i < from + n && i < rs->n; i++) {
        if (i > from)
            ms_buf_putc(b, ',');
        ms_buf_putc(b, '[');
        for (size_t c = 0; c < st->nouts; c++) {
            if (c)
                ms_buf_putc(b, ',');
            ms_value v;
            ms_rowset_value(rs, i, c, &v);
            ms_render_json(b, &v);
        }
        ms_buf_putc(b, ']');
    }
    ms_buf_putc(b, ']');
}

/* A windowed statement whose windows leave the state when the watermark
 * closes them (APPEND, UPDATE): the rows of the latest closed window the
 * snapshot keeps (the best max(--top-k, 1000), result order), beside the
 * open windows of "rows".  null until a window closed. */
static void render_closed(ms_buf *b, const ms_stmt_snap *q, unsigned long long lim)
{
    const ms_sql_stmt *st = q->stmt;
    ms_buf_puts(b, ",\"closedWindow\":");
    if (q->win_start == INT64_MIN) {
        ms_buf_puts(b, "null");
        return;
    }
    ms_rowset rows;
    ms_rowset_copy(&rows, &q->top);
    ms_rowset_sort(&rows);
    ms_buf_puts(b, "{\"windowStart\":\"");
    ms_render_timestamp(b, q->win_start);
    ms_buf_puts(b, "\",\"windowEnd\":\"");
    ms_render_timestamp(b, q->win_end);
    ms_buf_printf(b, "\",\"closed\":true,\"total\":%zu,\"rows\":", rows.n);
    render_rows(b, st, &rows, 0, (size_t)lim);
    ms_buf_putc(b, '}');
    ms_rowset_free(&rows);
}

/* Every output column of a statement, typed (ms_render.h): numbers as JSON
 * numbers, timestamps as ISO-8601 UTC strings with microseconds.  The page
 * is read from the snapshot's view of the checkpoint (ms_snapshot_page):
 * its cost follows offset + limit, not the state. */
static int render_results(ms_snapshot *s, ms_stmt_snap *q, int by_key, const uint8_t *after,
                          size_t after_len, unsigned long long off, unsigned long long lim,
                          ms_buf *b)
{
    const ms_sql_stmt *st = q->stmt;
    ms_rowset page;
    ms_rowset_init(&page, &q->dec);
    char err[512];
    if (ms_snapshot_page(s, q, by_key, after, after_len, off, (size_t)lim, &page, err,
                         sizeof(err)) != 0) {
        ms_rowset_free(&page);
        ms_buf_puts(b, "{\"error\":");
        ms_text_json_str(b, err);
        ms_buf_puts(b, "}\n");
        return 503;
    }
    ms_buf_puts(b, "{\"query\":");
    ms_text_json_str(b, st->name);
    ms_buf_printf(b, ",\"batchId\":%lld,\"total\":%llu,\"offset\":%llu,\"limit\":%llu,",
                  (long long)s->stats.last_batch_id, (unsigned long long)q->groups, off, lim);
    ms_buf_printf(b, "\"order\":\"%s\",", by_key ? "key" : "value");
    ms_buf_puts(b, "\"emit\":");
    ms_text_json_str(b, ms_sql_emit_name(st->emit));
    ms_buf_puts(b, ",\"columns\":[");
    for (size_t c = 0; c < st->nouts; c++) {
        if (c)
            ms_buf_putc(b, ',');
        ms_text_json_str(b, st->outs[c].name);
    }
    ms_buf_puts(b, "],\"types\":[");
    for (size_t c = 0; c < st->nouts; c++) {
        if (c)
            ms_buf_putc(b, ',');
        ms_text_json_str(b, ms_type_name(st->outs[c].type));
    }
    ms_buf_puts(b, "],\"rows\":");
    render_rows(b, st, &page, 0, page.n);
    /* the first page also carries the latest closed window */
    if (q->win_closed && st->window.kind != MS_SQL_WINDOW_NONE && st->watermark.present &&
        st->emit != MS_SQL_EMIT_COMPLETE && off == 0 && !after)
        render_closed(b, q, lim);
    if (by_key) {
        /* the cursor of the next page: the last row's group key */
        ms_buf_puts(b, ",\"next\":");
        if (page.n && page.n == lim) {
            ms_exec_row r;
            ms_rowset_row(&page, page.n - 1, &r);
            ms_buf_putc(b, '"');
            for (size_t i = 0; i < r.klen; i++)
                ms_buf_printf(b, "%02x", r.key[i]);
            ms_buf_putc(b, '"');
        } else {
            ms_buf_puts(b, "null");
        }
    }
    ms_buf_puts(b, "}\n");
    ms_rowset_free(&page);
    return 200;
}

/* A cursor: hex digits, at most MS_TABLE_MAX_KEY bytes once decoded. */
static int parse_hex(const char *s, uint8_t **out, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2 || len / 2 > (1u << 20))
        return -1;
    uint8_t *b = ms_xmalloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
            sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(b);
            return -1;
        }
        b[i] = (uint8_t)v;
    }
    *out = b;
    *n = len / 2;
    return 0;
}

int ms_http_render(ms_published *pub, const char *path, const char *query_name, const char *offset,
                   const char *limit, ms_buf *b, const char **ctype)
{
    ms_http_args a = {.query = query_name, .offset = offset, .limit = limit};
    return ms_http_render_args(pub, path, &a, b, ctype);
}

int ms_http_render_args(ms_published *pub, const char *path, const ms_http_args *a, ms_buf *b,
                        const char **ctype)
{
    const char *query_name = a->query, *offset = a->offset, *limit = a->limit;
    *ctype = "application/json";
    if (!strcmp(path, "/healthz")) {
        *ctype = "text/plain; charset=utf-8";
        ms_buf_puts(b, "ok\n");
        return 200;
    }
    if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
        *ctype = "text/html; charset=utf-8";
        ms_buf_append(b, ms_ui_html, sizeof(ms_ui_html));
        return 200;
    }
    ms_snapshot *s = ms_snapshot_acquire(pub);
    int status = 200;
    if (!strcmp(path, "/readyz")) {
        *ctype = "text/plain; charset=utf-8";
        int ready = s && s->ready;
        ms_buf_puts(b, ready ? "ready\n" : "recovering\n");
        status = ready ? 200 : 503;
    } else if (!s) {
        ms_buf_puts(b, "{\"error\":\"starting\"}\n");
        status = 503;
    } else if (!strcmp(path, "/metrics")) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        ms_procstat ps;
        ms_procstat_read(&ps);
        ms_prom_render(b, s, &ps);
    } else if (!strcmp(path, "/api/v1/status")) {
        ms_buf_puts(b, s->status_json ? s->status_json : "{}");
    } else if (!strcmp(path, "/api/v1/results")) {
        unsigned long long off, lim, bid = 0;
        int by_key = a->order && !strcmp(a->order, "key");
        uint8_t *after = NULL;
        size_t after_len = 0;
        ms_stmt_snap *q = ms_snapshot_find(s, query_name && *query_name ? query_name : NULL);
        if (!q) {
            ms_buf_puts(b, "{\"error\":\"unknown query\",\"query\":");
            ms_text_json_str(b, query_name ? query_name : "");
            ms_buf_puts(b, ",\"queries\":[");
            for (size_t i = 0; i < s->nq; i++) {
                if (i)
                    ms_buf_putc(b, ',');
                ms_text_json_str(b, s->q[i].stmt->name);
            }
            ms_buf_puts(b, "]}\n");
            status = 404;
        } else if (parse_u64(offset, 0, &off) || parse_u64(limit, 1000, &lim) || lim == 0 ||
                   lim > RESULTS_MAX_LIMIT) {
            ms_buf_printf(b, "{\"error\":\"offset must be >= 0 and limit 1..%d\"}\n",
                          RESULTS_MAX_LIMIT);
            status = 400;
        } else if ((a->order && !by_key && strcmp(a->order, "value") != 0) ||
                   (a->after && (!by_key || parse_hex(a->after, &after, &after_len) != 0))) {
            ms_buf_puts(b, "{\"error\":\"order must be value or key; after (order=key only) "
                           "is the hex cursor a page returned as next\"}\n");
            status = 400;
        } else if (a->batch && parse_u64(a->batch, 0, &bid)) {
            ms_buf_puts(b, "{\"error\":\"batchId must be the batchId a page returned\"}\n");
            status = 400;
        } else {
            /* Every page of one batch: the first page pins the current
             * snapshot, the next ones name its batchId (ms_snapshot.h). */
            ms_snapshot *ps =
                ms_snapshot_acquire_batch(pub, a->batch && bid <= INT64_MAX ? (int64_t)bid : -1);
            ms_stmt_snap *pq = ps ? ms_snapshot_find(ps, q->stmt->name) : NULL;
            if (!pq) {
                ms_buf_printf(b,
                              "{\"error\":\"the results of batch %s are no longer kept (a "
                              "batch's results stay %.0f s after its last page was read, "
                              "while newer batches are published); start again from the "
                              "first page\"}\n",
                              a->batch ? a->batch : "?", MS_SNAPSHOT_PIN_SEC);
                status = 410;
            } else {
                status = render_results(ps, pq, by_key, after, after_len, off, lim, b);
            }
            ms_snapshot_release(ps);
        }
        free(after);
    } else {
        ms_buf_puts(
            b,
            "{\"error\":\"not found\",\"endpoints\":[\"/\",\"/metrics\",\"/api/v1/status\","
            "\"/api/v1/results?query=NAME&offset=N&limit=N[&order=key&after=CURSOR][&batchId=N]\","
            "\"/healthz\","
            "\"/readyz\"]}\n");
        status = 404;
    }
    ms_snapshot_release(s);
    return status;
}

/* ------------------------------------------------ connections (server thread) */

static void conn_unlink(ms_http *h, http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        h->tail = c->prev;
    c->prev = c->next = NULL;
}

static void conn_append(ms_http *h, http_conn *c)
{
    c->prev = h->tail;
    c->next = NULL;
    if (h->tail)
        h->tail->next = c;
    else
        h->head = c;
    h->tail = c;
}

/* Ends a connection: libmicrohttpd reads the end of stream in its next
 * round, closes the socket and reports MHD_CONNECTION_NOTIFY_CLOSED. */
static void conn_close(ms_http *h, http_conn *c, int reason)
{
    shutdown(c->fd, SHUT_RDWR);
    c->closing = 1;
    h->open--;
    h->closed[reason]++;
}

/* The connection to give up for a new one: the oldest waiting for (the
 * rest of) a request, else the oldest being answered. */
static http_conn *conn_victim(ms_http *h)
{
    http_conn *busy = NULL;
    for (http_conn *c = h->head; c; c = c->next) {
        if (c->closing)
            continue;
        if (!c->busy)
            return c;
        if (!busy)
            busy = c;
    }
    return busy;
}

static void warn_closed(ms_http *h, double now)
{
    if (now - h->last_warn < MS_HTTP_WARN_SEC)
        return;
    uint64_t ev = h->closed[CLOSED_EVICTED] - h->warned[CLOSED_EVICTED];
    uint64_t to = h->closed[CLOSED_TIMEOUT] - h->warned[CLOSED_TIMEOUT];
    if (!ev && !to)
        return;
    ms_warn("http: closed %llu connections for newer ones (all %d in use) and %llu that did not "
            "send a request within %.0fs or read their response within %.0fs (slow or stalled "
            "clients; see mstream_http_connections_closed_total)",
            (unsigned long long)ev, MS_HTTP_MAX_CONNS, (unsigned long long)to, MS_HTTP_REQUEST_SEC,
            MS_HTTP_EXCHANGE_SEC);
    memcpy(h->warned, h->closed, sizeof(h->warned));
    h->last_warn = now;
}

/* Enforces the absolute deadlines (see the top). */
static void conn_sweep(ms_http *h, double now)
{
    for (http_conn *c = h->head; c; c = c->next) {
        if (c->closing)
            continue;
        if (now - c->since > (c->busy ? MS_HTTP_EXCHANGE_SEC : MS_HTTP_REQUEST_SEC))
            conn_close(h, c, CLOSED_TIMEOUT);
        else if (!c->busy)
            break; /* in `since` order: the rest are younger */
    }
    warn_closed(h, now);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    ms_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_conn *c = ms_xcalloc(1, sizeof(*c));
        c->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        c->since = ms_now_mono();
        conn_append(h, c);
        h->open++;
        *socket_context = c;
        while (h->open > MS_HTTP_MAX_CONNS) {
            http_conn *v = conn_victim(h);
            if (!v)
                break;
            conn_close(h, v, CLOSED_EVICTED);
        }
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conn *c = *socket_context;
        if (!c)
            return;
        if (!c->closing)
            h->open--;
        conn_unlink(h, c);
        free(c);
        *socket_context = NULL;
    }
}

static http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A response was sent (or the request ended otherwise): the connection
 * waits for its next request from now on. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con_cls;
    (void)toe;
    ms_http *h = cls;
    http_conn *c = conn_of(conn);
    if (!c || c->closing)
        return;
    c->busy = 0;
    c->since = ms_now_mono();
    conn_unlink(h, c);
    conn_append(h, c);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (ms_log_threshold < MS_LOG_DEBUG)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    ms_debug("http (libmicrohttpd): %s", msg);
}

/* The HTTP server's own series, after the engine's on /metrics. */
static void render_http_metrics(ms_http *h, ms_buf *b)
{
    ms_buf_printf(b,
                  "# HELP mstream_http_connections Open HTTP connections.\n"
                  "# TYPE mstream_http_connections gauge\n"
                  "mstream_http_connections %zu\n"
                  "# HELP mstream_http_connections_max HTTP connection budget: a new connection "
                  "beyond it closes the oldest idle or incomplete one.\n"
                  "# TYPE mstream_http_connections_max gauge\n"
                  "mstream_http_connections_max %d\n"
                  "# HELP mstream_http_connections_closed_total HTTP connections closed by "
                  "mstream: evicted for a newer one, or timeout (request or response not done "
                  "in time).\n"
                  "# TYPE mstream_http_connections_closed_total counter\n",
                  h->open, MS_HTTP_MAX_CONNS);
    for (int r = 0; r < CLOSED_REASONS; r++)
        ms_buf_printf(b, "mstream_http_connections_closed_total{reason=\"%s\"} %llu\n",
                      closed_reason[r], (unsigned long long)h->closed[r]);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    ms_http *h = cls;
    http_conn *c = conn_of(conn);
    if (c)
        c->busy = 1;
    ms_buf body = MS_BUF_INIT;
    const char *ctype = "text/plain; charset=utf-8";
    int status;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        ms_buf_puts(&body, "only GET and HEAD\n");
        status = 405;
        *upload_data_size = 0;
    } else {
        ms_http_args a = {
            .query = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "query"),
            .offset = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "offset"),
            .limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"),
            .order = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "order"),
            .after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after"),
            .batch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "batchId")};
        status = ms_http_render_args(h->pub, url, &a, &body, &ctype);
        if (status == 200 && !strcmp(url, "/metrics"))
            render_http_metrics(h, &body);
    }
    size_t len;
    char *data = ms_buf_steal(&body, &len);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The server thread: libmicrohttpd's rounds, then the deadlines. */
static void *serve(void *arg)
{
    ms_http *h = arg;
    while (!atomic_load(&h->stop)) {
        if (MHD_run_wait(h->d, MS_HTTP_ROUND_MS) != MHD_YES) {
            ms_error("http: the server loop failed; /metrics and /healthz stop answering");
            break;
        }
        conn_sweep(h, ms_now_mono());
    }
    return NULL;
}

int ms_http_start(const char *addr, ms_published *pub, ms_http **out, char *bound, size_t boundsz,
                  char *errstr, size_t errsz)
{
    *out = NULL;
    char host[256];
    int port;
    if (ms_config_split_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(errstr, errsz, "--metrics-addr must be HOST:PORT, not '%s'", addr);
        return MS_EUSAGE;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errsz, "cannot resolve --metrics-addr host '%s': %s", host,
                 gai_strerror(gai));
        return MS_EUSAGE;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(errstr, errsz,
                 "cannot listen on %s: %s (choose another --metrics-addr; port 0 picks a free one)",
                 addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return MS_EIO;
    }
    int family = ai->ai_family;
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char ip[INET6_ADDRSTRLEN] = "?";
    int bport = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        bport = ntohs(sin->sin_port);
        snprintf(bound, boundsz, "%s:%d", ip, bport);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        bport = ntohs(sin6->sin6_port);
        snprintf(bound, boundsz, "[%s]:%d", ip, bport);
    }

    ms_http *h = ms_xcalloc(1, sizeof(*h));
    h->pub = pub;
    h->fd = fd;
    h->last_warn = -MS_HTTP_WARN_SEC;
    /* External mode: our thread runs the rounds (see the top). */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger first, or libmicrohttpd warns on stderr that it is not. */
    h->d = MHD_start_daemon(
        flags, (uint16_t)bport, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, MS_HTTP_IDLE_SEC,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(MS_HTTP_MAX_CONNS + MS_HTTP_CLOSING),
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        h, MHD_OPTION_END);
    if (!h->d) {
        snprintf(errstr, errsz, "cannot start the HTTP server on %s", addr);
        close(fd);
        free(h);
        return MS_EIO;
    }
    int err = pthread_create(&h->thread, NULL, serve, h);
    if (err) {
        snprintf(errstr, errsz, "cannot start the HTTP server thread: %s", strerror(err));
        MHD_stop_daemon(h->d);
        free(h);
        return MS_EIO;
    }
    *out = h;
    return 0;
}

void ms_http_stop(ms_http *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, 1);
    pthread_join(h->thread, NULL); /* within one round */
    MHD_stop_daemon(h->d);         /* closes the listen socket it was given, and
                                      every connection (NOTIFY_CLOSED frees them) */
    while (h->head) {
        http_conn *c = h->head;
        conn_unlink(h, c);
        free(c);
    }
    free(h);
}
