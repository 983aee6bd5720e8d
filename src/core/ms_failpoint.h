/*
 * Failpoints for crash tests: MSTREAM_FAILPOINT=NAME[:N] makes the process
 * kill itself with SIGKILL the Nth time (default: first) execution reaches
 * ms_failpoint("NAME").  Names used by the engine:
 *   after_plan    the plan of batch N is synced, no input read yet
 *   after_read    input read and aggregated in memory, nothing committed
 *   after_commit  the commit is synced, results not yet published
 * Read once at start-up; costs one pointer compare when unset.
 */
#ifndef MS_FAILPOINT_H
#define MS_FAILPOINT_H

void ms_failpoint_init(void);
void ms_failpoint(const char *name);

#endif
