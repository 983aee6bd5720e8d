/*
 * Typed values as text, the same way everywhere results leave mstream
 * (/api/v1/results, the json and console sinks, Prometheus labels):
 *
 *   BIGINT     decimal                        42
 *   DOUBLE     shortest text that reads back  0.1, 1e+300 (JSON: NaN/Inf as null)
 *   BOOLEAN    true / false
 *   TIMESTAMP  ISO-8601 UTC with microseconds "2011-05-01T19:00:00.000000Z"
 *              (the trace's microsecond times count from the Unix epoch here)
 *   STRING     the display form of ms_text.h (valid UTF-8, injective)
 *   NULL       JSON null; empty text elsewhere
 */
#ifndef MS_RENDER_H
#define MS_RENDER_H

#include <stdint.h>

#include "core/ms_buf.h"
#include "query/ms_value.h"

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" (no quotes). */
void ms_render_timestamp(ms_buf *b, int64_t us);
/* The same as a JSON string, or null for INT64_MIN (no time). */
void ms_render_json_timestamp(ms_buf *b, int64_t us);
/* A JSON value. */
void ms_render_json(ms_buf *b, const ms_value *v);
/* Plain text (display form for strings; nothing for NULL). */
void ms_render_text(ms_buf *b, const ms_value *v);
/* A Prometheus label value (without quotes). */
void ms_render_prom_label(ms_buf *b, const ms_value *v);

#endif
