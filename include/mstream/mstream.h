/*
 * mstream — micro-batch structured streaming in C.
 *
 * The few public types shared by every module: error codes, exit statuses
 * and the version.  Error convention (as libuv): 0 is success, a negative
 * MS_E* value is a failure.  Functions that can fail for reasons a user must
 * read also take `char *errstr, size_t errstr_size` and write a sentence
 * there (as librdkafka constructors do); foreign error conventions (RocksDB's
 * `char **errptr`, errno, libmicrohttpd's NULL returns) are converted at the
 * one file that talks to that library and never travel further.
 */
#ifndef MSTREAM_H
#define MSTREAM_H

#include <stddef.h>
#include <stdint.h>

/* MS_ECORRUPT: a record mstream decoded is malformed.  MS_EDAMAGED: the
 * storage under the checkpoint is (RocksDB reports "Corruption": a checksum
 * mismatch, a bad table or MANIFEST); the message names the file.
 * MS_EFENCED, MS_EABORT: group mode's Kafka transactions (a newer instance
 * took over; the transaction must be aborted), source/ms_kgroup.h. */
#define MS_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(IO, -2, "I/O error")                                                                         \
    X(CORRUPT, -3, "corrupt record")                                                               \
    X(BUSY, -4, "checkpoint is held by another process")                                           \
    X(INVAL, -5, "invalid argument")                                                               \
    X(MISMATCH, -6, "checkpoint was made for another query")                                       \
    X(NOTFOUND, -7, "not found")                                                                   \
    X(USAGE, -8, "usage error")                                                                    \
    X(DAMAGED, -9, "checkpoint files are damaged")                                                 \
    X(TIMEDOUT, -10, "timed out")                                                                  \
    X(FENCED, -11, "fenced by a newer instance")                                                   \
    X(ABORT, -12, "transaction must be aborted")

enum ms_err {
#define MS__ERR_ENUM(name, val, msg) MS_E##name = (val),
    MS_ERRNO_MAP(MS__ERR_ENUM)
#undef MS__ERR_ENUM
};

/* Short name ("MS_EIO") and message ("I/O error") of an error code. */
const char *ms_err_name(int err);
const char *ms_err_str(int err);

/* Process exit statuses (docs/design.md §1). */
enum ms_exit {
    MS_EXIT_OK = 0,
    MS_EXIT_RUNTIME = 1,
    MS_EXIT_USAGE = 2,
    MS_EXIT_BUSY = 3,
};

#ifndef MS_VERSION
#define MS_VERSION "0.0.0"
#endif

#endif /* MSTREAM_H */
