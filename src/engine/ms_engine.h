/*
 * The engine: recovery, the micro-batch loop, the commit protocol.
 */
#ifndef MS_ENGINE_H
#define MS_ENGINE_H

#include "core/ms_config.h"

/* Runs the query described by cfg until it is stopped (or, with
 * --available-now, until the available input is committed).  Returns the
 * process exit status (enum ms_exit). */
int ms_engine_run(const ms_config *cfg);

#endif
