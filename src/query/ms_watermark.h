/*
 * ms_wm: a statement's event-time watermark over the partitions of its
 * input (docs/design.md §3a).
 *
 *   partition   largest event time seen    state
 *   ─────────   ───────────────────────    ─────
 *   t/0         12:07                      active
 *   t/1         11:58                      active  ◀── the minimum: holds
 *   t/2         09:00                      idle (nothing for --watermark-idle-sec)
 *   t/3         (none yet)                 active  ◀── holds everything back
 *
 *   candidate = min over active partitions of their largest event time
 *               (none while an active partition has delivered no event
 *               time yet; with every partition idle: the max over all)
 *   watermark = max(watermark, candidate - delay)      never moves back
 *
 * A partition is the Kafka topic-partition or the directory (ms_source.h).
 * It is idle when it delivered no row with an event time for idle_sec and
 * the source has nothing waiting in it beyond what was planned (a
 * partition with a backlog is never idle: it only has not been read yet).
 * A partition the source lists but that never sent anything is active for
 * idle_sec after it became known (a restart makes every partition known
 * anew), so a producer that starts a little later does not see its rows
 * turn late — the failure Spark's single global maximum has.
 *
 * Every partition's largest event time is persisted with the watermark in
 * the commit (ms_wm_encode); it only grows.  Partitions the source no
 * longer lists are forgotten once idle.
 *
 * Time: `now` is a monotonic clock in seconds handed in by the caller, so
 * tests inject it.  Thread-safety: engine thread only.
 */
#ifndef MS_WATERMARK_H
#define MS_WATERMARK_H

#include <stddef.h>
#include <stdint.h>

#include "core/ms_buf.h"
#include "source/ms_source.h"

/* --watermark-idle-sec when nothing else is said. */
#define MS_WM_IDLE_DEFAULT_SEC 5.0

typedef struct ms_wm_part {
    char *key;          /* ms_part_key(): "dir", "topic/partition" */
    int64_t max_event;  /* largest event time seen; INT64_MIN: none */
    double last_active; /* when it last delivered an event time (or became known) */
    int seen;           /* delivered an event time since the last advance */
    int listed;         /* the source listed it at the last advance */
    int backlog;        /* ... with input waiting beyond the plan */
    int idle;           /* as decided by the last advance */
} ms_wm_part;

typedef struct ms_wm {
    int64_t delay_us;
    double idle_sec;
    const char *topic; /* the statement's TOPIC: only partitions of it count; NULL: all */
    ms_wm_part *parts; /* sorted by key */
    size_t n, cap;
    int64_t watermark; /* INT64_MIN: none yet */
    ms_buf key;
} ms_wm;

void ms_wm_init(ms_wm *w, int64_t delay_us, double idle_sec, const char *topic);
void ms_wm_free(ms_wm *w);

/* The partition p (created, active from now, if new): rows of it update
 * its max_event and set seen.  NULL when p is not the statement's (another
 * topic).  The pointer is valid until the next ms_wm_part / ms_wm_advance. */
ms_wm_part *ms_wm_part_of(ms_wm *w, const ms_part *p, double now);

/* At the commit of a batch: the source's partitions (listed, with their
 * backlog), then the idleness rule and the new watermark.  Returns the
 * watermark (INT64_MIN: none). */
int64_t ms_wm_advance(ms_wm *w, const ms_part_info *parts, size_t n, double now);

/* Largest event time over every partition (INT64_MIN: none). */
int64_t ms_wm_max_event(const ms_wm *w);

/* The persisted form: varint n, per partition (in key order) varint key
 * length + key + zig-zag max_event.  Decoding replaces the partitions
 * (active from now); MS_ECORRUPT for bytes that are not such a list. */
void ms_wm_encode(const ms_wm *w, ms_buf *out);
int ms_wm_decode(ms_wm *w, const uint8_t **p, const uint8_t *end, double now);

#endif
