/* Fuzz the inotify buffer walker: it must never read past the buffer (ASan
 * catches that) and every name it reports lies within the buffer. */
#include <string.h>

#include "fuzz.h"
#include "source/ms_inotify.h"

static void on_event(void *ud, int wd, uint32_t mask, const char *name, size_t nlen)
{
    (void)wd;
    (void)mask;
    size_t *total = ud;
    FUZZ_CHECK(strlen(name) == nlen && nlen < 256);
    *total += nlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The kernel hands out aligned buffers: copy to one. */
    _Alignas(8) uint8_t buf[1 << 16];
    if (size > sizeof(buf))
        size = sizeof(buf);
    memcpy(buf, data, size);
    size_t total = 0;
    int rc = ms_inotify_parse(buf, size, on_event, &total);
    FUZZ_CHECK(rc == 0 || rc < 0);
    FUZZ_CHECK(total <= size);
    return 0;
}
