/*
 * HTTP endpoint on libmicrohttpd (see ms_http.h).
 *
 * We create and bind the listening socket ourselves so bind errors reach the
 * user as errno sentences and port 0 can be reported, then hand it to
 * libmicrohttpd (MHD_OPTION_LISTEN_SOCKET), which runs one internal thread.
 * GET / is the status page (src/http/ms_ui.html, built in by CMake), which
 * reads /api/v1/status and /api/v1/results from the browser.
 */
#include "http/ms_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
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

struct ms_http {
    struct MHD_Daemon *d;
    ms_published *pub;
    int fd;
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
    ms_buf_puts(b, "],\"rows\":[");
    for (size_t i = 0; i < page.n; i++) {
        if (i)
            ms_buf_putc(b, ',');
        ms_buf_putc(b, '[');
        for (size_t c = 0; c < st->nouts; c++) {
            if (c)
                ms_buf_putc(b, ',');
            ms_value v;
            ms_rowset_value(&page, i, c, &v);
            ms_render_json(b, &v);
        }
        ms_buf_putc(b, ']');
    }
    ms_buf_putc(b, ']');
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
        unsigned long long off, lim;
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
        } else {
            status = render_results(s, q, by_key, after, after_len, off, lim, b);
        }
        free(after);
    } else {
        ms_buf_puts(b,
                    "{\"error\":\"not found\",\"endpoints\":[\"/\",\"/metrics\",\"/api/v1/status\","
                    "\"/api/v1/results?query=NAME&offset=N&limit=N[&order=key&after=CURSOR]\","
                    "\"/healthz\","
                    "\"/readyz\"]}\n");
        status = 404;
    }
    ms_snapshot_release(s);
    return status;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    ms_http *h = cls;
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
            .after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after")};
        status = ms_http_render_args(h->pub, url, &a, &body, &ctype);
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
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)bport, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET,
                            fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!h->d) {
        snprintf(errstr, errsz, "cannot start the HTTP server on %s", addr);
        close(fd);
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
    MHD_stop_daemon(h->d); /* closes the listen socket it was given */
    free(h);
}
