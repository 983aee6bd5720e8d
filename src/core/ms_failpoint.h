/*
 * Failpoints for crash tests: MSTREAM_FAILPOINT=NAME[:N] makes the process
 * kill itself with SIGKILL the Nth time (default: first) execution reaches
 * ms_failpoint("NAME").  Names used by the engine:
 *   after_plan    the plan of batch N is synced, no input read yet
 *   after_read    input read and aggregated in memory, nothing committed
 *   after_commit  the commit is synced, results not yet published
 * and by group mode (ms_group.c), with ms_failpoint_hit (the caller acts):
 *   group_txn_open  a batch's transaction holds its records and offsets,
 *                   not committed yet: the process holds it open 20 s
 * Read once at start-up; costs one pointer compare when unset.
 */
#ifndef MS_FAILPOINT_H
#define MS_FAILPOINT_H

void ms_failpoint_init(void);
void ms_failpoint(const char *name);
/* 1 the Nth time execution reaches NAME (as ms_failpoint, without the
 * kill): the caller stages the fault itself. */
int ms_failpoint_hit(const char *name);

#endif
