/*
 * The HTTP endpoint: /metrics, /api/v1/status, /api/v1/results, /healthz,
 * /readyz.  The only module that includes microhttpd.h.  Requests are
 * served on one server thread of this module, from the published snapshot
 * only; slow or idle clients are bounded by a connection budget and
 * absolute deadlines so that probes and scrapes always get through (see
 * the top of ms_http.c and docs/operations.md).
 */
#ifndef MS_HTTP_H
#define MS_HTTP_H

#include <stddef.h>

#include "http/ms_snapshot.h"

typedef struct ms_http ms_http;

/* Listens on addr ("HOST:PORT", port 0 = any free port).  On success the
 * bound address is in bound[boundsz] (e.g. "127.0.0.1:4040"). */
int ms_http_start(const char *addr, ms_published *pub, ms_http **out, char *bound, size_t boundsz,
                  char *errstr, size_t errstr_size);
void ms_http_stop(ms_http *h);

/* The query arguments a GET may carry (NULL: absent). */
typedef struct ms_http_args {
    const char *query, *offset, *limit;
    const char *order; /* /api/v1/results: "value" (default) or "key" */
    const char *after; /* order=key: the hex cursor of the next page */
    const char *batch; /* batchId: the batch whose results to page (ms_snapshot.h) */
} ms_http_args;

/* Renders the body of a GET (exposed for tests).  Returns the HTTP status
 * and sets *ctype. */
int ms_http_render_args(ms_published *pub, const char *path, const ms_http_args *a, ms_buf *body,
                        const char **ctype);
/* The same with query, offset and limit only. */
int ms_http_render(ms_published *pub, const char *path, const char *query_name, const char *offset,
                   const char *limit, ms_buf *body, const char **ctype);

#endif
