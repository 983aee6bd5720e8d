/* Fuzz the --path-glob-filter compiler and matcher: the input is a pattern,
 * a NUL, and names separated by NUL.  Any pattern is either compiled into
 * at most MS_GLOB_MAX_ALTERNATIVES plain patterns or refused with a
 * sentence; matching never fails; a pattern without special characters
 * matches exactly itself. */
#include <string.h>

#include "fuzz.h"
#include "mstream/mstream.h"
#include "source/ms_glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[8192];
    char *argv[16];
    int argc = fuzz_argv(data, size, buf, sizeof(buf), argv, 16, "glob");
    if (argc < 2)
        return 0;
    const char *pat = argv[1];
    ms_glob *g = NULL;
    char err[512] = "";
    int rc = ms_glob_compile(pat, &g, err, sizeof(err));
    if (rc) {
        FUZZ_CHECK(rc == MS_EUSAGE && err[0] != '\0' && g == NULL);
        return 0;
    }
    FUZZ_CHECK(g && ms_glob_alternatives(g) >= 1 &&
               ms_glob_alternatives(g) <= MS_GLOB_MAX_ALTERNATIVES);
    for (int i = 2; i < argc; i++)
        (void)ms_glob_match(g, argv[i]);
    if (strcspn(pat, "*?[]{}\\,") == strlen(pat)) {
        FUZZ_CHECK(ms_glob_match(g, pat));
        FUZZ_CHECK(ms_glob_alternatives(g) == 1);
    }
    ms_glob_free(g);
    return 0;
}
