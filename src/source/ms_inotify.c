#include "source/ms_inotify.h"

#include <string.h>
#include <sys/inotify.h>

#include "mstream/mstream.h"

int ms_inotify_parse(const uint8_t *buf, size_t len, ms_inotify_cb cb, void *ud)
{
    size_t off = 0;
    while (off < len) {
        struct inotify_event ev;
        if (len - off < sizeof(ev))
            return MS_ECORRUPT;
        memcpy(&ev, buf + off, sizeof(ev));
        off += sizeof(ev);
        if (ev.len > len - off)
            return MS_ECORRUPT;
        char name[256];
        size_t nlen = 0;
        if (ev.len) {
            const char *np = (const char *)buf + off;
            nlen = strnlen(np, ev.len);
            if (nlen >= sizeof(name))
                return MS_ECORRUPT; /* longer than NAME_MAX: not from the kernel */
            memcpy(name, np, nlen);
        }
        name[nlen] = '\0';
        off += ev.len;
        cb(ud, ev.wd, ev.mask, name, nlen);
    }
    return 0;
}
