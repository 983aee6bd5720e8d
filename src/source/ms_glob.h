/*
 * File-name globs for --path-glob-filter, as Spark's pathGlobFilter (Hadoop's
 * GlobFilter) reads them: matched against a file's name, never its
 * directory.
 *
 *   *        any run of characters        ?       one character
 *   [abc]    one of a, b, c               [a-z]   a range
 *   [!a] [^a] anything but a              \c      c itself
 *   {a,b}    a or b (may nest: {x,y{1,2}}; a ',' outside braces is itself)
 *
 * Compiling expands the braces into plain fnmatch(3) patterns, at most
 * MS_GLOB_MAX_ALTERNATIVES of them, so matching a name costs a few fnmatch
 * calls and no allocation.  A pattern that cannot match a name (a '/'), an
 * unbalanced brace, an empty pattern or one that expands too far is refused
 * with a sentence (MS_EUSAGE).
 *
 * Thread-safety: a compiled glob is immutable; match from any thread.
 */
#ifndef MS_GLOB_H
#define MS_GLOB_H

#include <stddef.h>

#define MS_GLOB_MAX_ALTERNATIVES 256
#define MS_GLOB_MAX_LEN          4096

typedef struct ms_glob ms_glob;

/* 0 and *out (free with ms_glob_free), or MS_EUSAGE with a sentence. */
int ms_glob_compile(const char *pattern, ms_glob **out, char *errstr, size_t errstr_size);
/* 1 when name (a file name, no '/') matches. */
int ms_glob_match(const ms_glob *g, const char *name);
/* The number of plain patterns the braces expanded into (for tests). */
size_t ms_glob_alternatives(const ms_glob *g);
void ms_glob_free(ms_glob *g);

#endif
