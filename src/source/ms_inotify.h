/*
 * Parsing of the buffers read from an inotify descriptor.  Kept apart from
 * the source so it can be fuzzed: a malformed buffer (an event whose header
 * or name runs past the end) stops the walk with MS_ECORRUPT, never a read
 * past the buffer.
 */
#ifndef MS_INOTIFY_H
#define MS_INOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* name is NUL-terminated (empty for events on the watched directory). */
typedef void (*ms_inotify_cb)(void *ud, int wd, uint32_t mask, const char *name, size_t nlen);

int ms_inotify_parse(const uint8_t *buf, size_t len, ms_inotify_cb cb, void *ud);

#endif
