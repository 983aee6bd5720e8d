/*
 * Text encodings of arbitrary input bytes for the outside world.
 *
 * Input files may hold any bytes.  Everything mstream shows (Prometheus
 * labels, JSON, logs) goes through one *display form* that is
 *   - valid UTF-8 without control characters, and
 *   - injective: two different byte strings never display the same, so two
 *     state keys can never collapse into one Prometheus series.
 * The display form keeps printable valid UTF-8 as is, writes a backslash as
 * `\\` and any control byte (< 0x20, 0x7f) or byte that is not part of a
 * valid UTF-8 sequence as `\xNN` (lower-case hex).
 */
#ifndef MS_TEXT_H
#define MS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"

/* Appends the display form of s[0..n). */
void ms_text_display(ms_buf *out, const uint8_t *s, size_t n);
/* The same, but a backslash stays one backslash: for messages to the
 * person at the terminal (a query's source line under a parse error must
 * read as written), where no control byte or invalid UTF-8 may pass but
 * injectivity does not matter. */
void ms_text_terminal(ms_buf *out, const uint8_t *s, size_t n);

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if the bytes
 * at s do not start a valid, shortest-form, non-surrogate sequence. */
size_t ms_text_utf8_seq(const uint8_t *s, size_t n);

/* Appends a JSON string literal (with quotes) holding the display form. */
void ms_text_json_bytes(ms_buf *out, const uint8_t *s, size_t n);
/* Appends a JSON string literal of a C string (same rules). */
void ms_text_json_str(ms_buf *out, const char *s);

/* Appends a Prometheus label value (without quotes) holding the display
 * form, escaped per the text exposition format 0.0.4. */
void ms_text_prom_label(ms_buf *out, const uint8_t *s, size_t n);

#endif
