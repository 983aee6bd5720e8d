/*
 * ms_pace: absolute-deadline pacing of the producer (docs/design.md §5).
 *
 *   --speed-factor F   event of trace time t is due at
 *                        start + (t - t_first) / 1e6 / F   seconds
 *                      (t in microseconds; F = 432000 replays 5 days in 1 s);
 *                      rows at time 0 ("before the trace") and 2^63-1 ("after
 *                      it") are not paced: they go out at once, first and last.
 *   --rate R           the n-th event (n from 0) is due at start + n / R seconds.
 *   --no-pacing        nothing waits.
 *
 * `start` is the monotonic time of the first paced event.  Deadlines are
 * absolute, never accumulated sleeps, so a slow send (or a slow machine) does
 * not shift the schedule: the producer catches up as fast as it can, and the
 * lag (now - deadline when an event is handed over) is what it reports as
 * "behind schedule".  Times are int64 nanoseconds on CLOCK_MONOTONIC; the
 * math takes `now` as an argument so tests can drive it without a clock.
 *
 * Behind schedule, while it runs: ms_pace_behind() is the lag of the event
 * waiting to be handed over (0 while its deadline is ahead; it grows while
 * the producer is blocked past it, for example on a full queue in front of a
 * slow broker), else that of the last event handed over.  ms_pace_warn_check()
 * turns it into rate-limited warnings:
 *
 *   behind > threshold ──> WARN now, then at most every `every` while behind
 *   behind < threshold/2 after a WARN ──> "back on schedule" (once)
 */
#ifndef MS_PACE_H
#define MS_PACE_H

#include <stdint.h>

enum ms_pace_mode { MS_PACE_NONE = 0, MS_PACE_SPEED, MS_PACE_RATE };

typedef struct ms_pace {
    enum ms_pace_mode mode;
    double factor; /* speed factor, or events per second */
    int started;
    int64_t start_ns;
    int64_t t_first;   /* trace time of the first paced event (speed mode) */
    uint64_t n;        /* events scheduled so far (rate mode) */
    int64_t behind_ns; /* lag of the last paced event, >= 0 */
    int64_t behind_max_ns;
    int64_t last_deadline_ns;
    int pending;        /* a paced event got its deadline, not handed over yet */
    int64_t pending_ns; /* ... and that deadline */
} ms_pace;

void ms_pace_init(ms_pace *p, enum ms_pace_mode mode, double factor_or_rate);

/* The absolute deadline of the next event of trace time t.  Returns 1 and sets
 * *deadline_ns when the event is paced (the first paced event fixes start =
 * now_ns and is due at once), 0 when it goes out immediately. */
int ms_pace_deadline(ms_pace *p, int64_t t, int64_t now_ns, int64_t *deadline_ns);

/* Records that a paced event due at deadline_ns was handed over at now_ns. */
void ms_pace_sent(ms_pace *p, int64_t deadline_ns, int64_t now_ns);

/* How far behind schedule the producer is at now_ns (>= 0; see above). */
int64_t ms_pace_behind(const ms_pace *p, int64_t now_ns);

typedef struct ms_pace_warn {
    int64_t threshold_ns; /* 0: never warn */
    int64_t every_ns;     /* at most one WARN per so long while behind */
    int warned;           /* a WARN was given and the producer has not caught up */
    int64_t last_warn_ns;
    int64_t worst_ns; /* largest lag seen since the first WARN of this episode */
} ms_pace_warn;

enum { MS_PACE_WARN_NONE = 0, MS_PACE_WARN_BEHIND = 1, MS_PACE_WARN_CAUGHT_UP = 2 };

/* Given the current lag, says whether to log now: MS_PACE_WARN_BEHIND (lag
 * above the threshold, first time or `every` after the last), or
 * MS_PACE_WARN_CAUGHT_UP (below half the threshold after a WARN; w->worst_ns
 * then holds the episode's worst lag until the next call), else
 * MS_PACE_WARN_NONE. */
int ms_pace_warn_check(ms_pace_warn *w, int64_t behind_ns, int64_t now_ns);

int64_t ms_pace_now_ns(void);

/* Sleeps on CLOCK_MONOTONIC until the absolute time deadline_ns (TIMER_ABSTIME).
 * Returns 0 when reached, EINTR when a signal arrived first. */
int ms_pace_sleep_until(int64_t deadline_ns);

#endif
