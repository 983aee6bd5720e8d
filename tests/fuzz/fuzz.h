/* Shared by the fuzz targets: the libFuzzer entry point, and a check that
 * aborts (so both libFuzzer and the replay driver report it). */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Splits the input into an argument vector at NUL bytes, as argv: copies
 * at most bufsz - 1 bytes into buf, argv[0] = prog, at most maxargs - 1
 * entries, NULL-terminated.  Returns argc. */
static inline int fuzz_argv(const uint8_t *data, size_t size, char *buf, size_t bufsz, char **argv,
                            int maxargs, char *prog)
{
    if (size >= bufsz)
        size = bufsz - 1;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int argc = 0;
    argv[argc++] = prog;
    for (size_t i = 0; i < size && argc < maxargs - 1;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    return argc;
}

#endif
