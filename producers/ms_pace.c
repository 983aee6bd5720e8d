/*
 * Absolute-deadline pacing.  See ms_pace.h.
 *
 * Invariant: deadlines are a pure function of (start, t_first or n, factor)
 * and never of when earlier events were actually sent; lag is measured, not
 * compensated by shortening later waits.
 */
#include "ms_pace.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "ms_trace.h"

/* Far enough in the future to mean "never", without overflowing start + x. */
#define MS_PACE_FAR_NS (INT64_MAX / 4)

void ms_pace_init(ms_pace *p, enum ms_pace_mode mode, double factor_or_rate)
{
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->factor = factor_or_rate;
}

static int64_t offset_ns(double seconds_times_1e9)
{
    if (!(seconds_times_1e9 < (double)MS_PACE_FAR_NS))
        return MS_PACE_FAR_NS;
    if (seconds_times_1e9 < 0)
        return 0;
    return (int64_t)llround(seconds_times_1e9);
}

int ms_pace_deadline(ms_pace *p, int64_t t, int64_t now_ns, int64_t *deadline_ns)
{
    switch (p->mode) {
    case MS_PACE_NONE:
        return 0;
    case MS_PACE_SPEED:
        if (t <= 0 || t == MS_TRACE_TIME_MAX)
            return 0;
        if (!p->started) {
            p->started = 1;
            p->start_ns = now_ns;
            p->t_first = t;
        }
        /* (t - t_first) us / F -> wall us; * 1000 -> ns.  Doubles hold the
         * 2.5e15 ns of a month of trace exactly enough (53-bit mantissa). */
        *deadline_ns = p->start_ns + offset_ns((double)(t - p->t_first) * 1000.0 / p->factor);
        p->pending = 1;
        p->pending_ns = *deadline_ns;
        return 1;
    case MS_PACE_RATE:
        if (!p->started) {
            p->started = 1;
            p->start_ns = now_ns;
        }
        *deadline_ns = p->start_ns + offset_ns((double)p->n * 1e9 / p->factor);
        p->n++;
        p->pending = 1;
        p->pending_ns = *deadline_ns;
        return 1;
    }
    return 0;
}

void ms_pace_sent(ms_pace *p, int64_t deadline_ns, int64_t now_ns)
{
    int64_t lag = now_ns - deadline_ns;
    p->behind_ns = lag > 0 ? lag : 0;
    if (p->behind_ns > p->behind_max_ns)
        p->behind_max_ns = p->behind_ns;
    p->last_deadline_ns = deadline_ns;
    p->pending = 0;
}

int64_t ms_pace_behind(const ms_pace *p, int64_t now_ns)
{
    if (p->pending) /* waiting for its deadline (on time), or blocked past it */
        return now_ns > p->pending_ns ? now_ns - p->pending_ns : 0;
    return p->behind_ns;
}

int ms_pace_warn_check(ms_pace_warn *w, int64_t behind_ns, int64_t now_ns)
{
    if (w->threshold_ns <= 0)
        return MS_PACE_WARN_NONE;
    if (w->warned && behind_ns > w->worst_ns)
        w->worst_ns = behind_ns;
    if (behind_ns > w->threshold_ns) {
        if (!w->warned) {
            w->warned = 1;
            w->worst_ns = behind_ns;
            w->last_warn_ns = now_ns;
            return MS_PACE_WARN_BEHIND;
        }
        if (now_ns - w->last_warn_ns >= w->every_ns) {
            w->last_warn_ns = now_ns;
            return MS_PACE_WARN_BEHIND;
        }
        return MS_PACE_WARN_NONE;
    }
    if (w->warned && behind_ns < w->threshold_ns / 2) {
        w->warned = 0;
        return MS_PACE_WARN_CAUGHT_UP;
    }
    return MS_PACE_WARN_NONE;
}

int64_t ms_pace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ms_pace_sleep_until(int64_t deadline_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000);
    ts.tv_nsec = (long)(deadline_ns % 1000000000);
    int rc;
    rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    return rc == EINTR ? EINTR : 0;
}
