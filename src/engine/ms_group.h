/*
 * Group mode: several mstream processes started with one --application-id
 * share the Kafka input of one query (docs/design.md §9).  ms_engine_run()
 * hands over to it when --application-id is given; without it nothing of
 * this runs.
 */
#ifndef MS_GROUP_H
#define MS_GROUP_H

#include "core/ms_config.h"

/* Runs the query as a member of the application's consumer group until it
 * is stopped.  Returns the process exit status (enum ms_exit). */
int ms_group_run(const ms_config *cfg);

#endif
