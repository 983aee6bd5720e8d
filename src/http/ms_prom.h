/*
 * Prometheus text exposition (format 0.0.4) of a snapshot.  Label values go
 * through the display form of ms_text.h, so the output is valid UTF-8 and
 * two groups never share a series, whatever bytes the input held.
 */
#ifndef MS_PROM_H
#define MS_PROM_H

#include "core/ms_buf.h"
#include "http/ms_procstat.h"
#include "http/ms_snapshot.h"

void ms_prom_render(ms_buf *out, ms_snapshot *s, const ms_procstat *ps);

#endif
