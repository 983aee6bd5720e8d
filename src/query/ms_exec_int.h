/*
 * ms_exec internals shared by its files (ms_exec.c, ms_exec_page.c): the
 * double underscore says not for other modules (libuv's habit).
 */
#ifndef MS_EXEC_INT_H
#define MS_EXEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "query/ms_exec.h"

/* Decodes a state value (the layout of ms_exec.h) into naggs accumulators:
 * 0 or MS_ECORRUPT. */
int ms_exec__decode_accs(const ms_exec *x, const uint8_t *v, size_t vl, ms_acc *acc);

/* Result order of two rows: sort key, then key bytes, shorter first. */
int ms_exec__row_cmp(const uint8_t *ska, const uint8_t *ka, size_t kla, const uint8_t *skb,
                     const uint8_t *kb, size_t klb);

#endif
