/*
 * Text forms of typed values (see ms_render.h).
 */
#include "engine/ms_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/ms_text.h"

void ms_render_timestamp(ms_buf *b, int64_t us)
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        ms_buf_printf(b, "%lld", (long long)us);
        return;
    }
    ms_buf_printf(b, "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", (long long)tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

void ms_render_json_timestamp(ms_buf *b, int64_t us)
{
    if (us == INT64_MIN) {
        ms_buf_puts(b, "null");
        return;
    }
    ms_buf_putc(b, '"');
    ms_render_timestamp(b, us);
    ms_buf_putc(b, '"');
}

static void put_double(ms_buf *b, double d)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    ms_buf_puts(b, tmp);
}

void ms_render_json(ms_buf *b, const ms_value *v)
{
    switch (v->type) {
    case MS_TYPE_NULL:
        ms_buf_puts(b, "null");
        return;
    case MS_TYPE_BOOL:
        ms_buf_puts(b, v->i ? "true" : "false");
        return;
    case MS_TYPE_INT:
        ms_buf_printf(b, "%lld", (long long)v->i);
        return;
    case MS_TYPE_DOUBLE:
        if (!isfinite(v->d))
            ms_buf_puts(b, "null");
        else
            put_double(b, v->d);
        return;
    case MS_TYPE_STRING:
        ms_text_json_bytes(b, v->s.p, v->s.n);
        return;
    case MS_TYPE_TIMESTAMP:
        ms_buf_putc(b, '"');
        ms_render_timestamp(b, v->i);
        ms_buf_putc(b, '"');
        return;
    default:
        ms_buf_puts(b, "null");
        return;
    }
}

void ms_render_text(ms_buf *b, const ms_value *v)
{
    switch (v->type) {
    case MS_TYPE_NULL:
        return;
    case MS_TYPE_STRING:
        ms_text_display(b, v->s.p, v->s.n);
        return;
    case MS_TYPE_TIMESTAMP:
        ms_render_timestamp(b, v->i);
        return;
    case MS_TYPE_DOUBLE:
        if (isnan(v->d))
            ms_buf_puts(b, "NaN");
        else if (isinf(v->d))
            ms_buf_puts(b, v->d > 0 ? "+Inf" : "-Inf");
        else
            put_double(b, v->d);
        return;
    default:
        ms_render_json(b, v);
        return;
    }
}

void ms_render_prom_label(ms_buf *b, const ms_value *v)
{
    if (v->type == MS_TYPE_STRING) {
        ms_text_prom_label(b, v->s.p, v->s.n);
        return;
    }
    ms_render_text(b, v); /* digits, letters, '.', '-', ':', '+': nothing to escape */
}
