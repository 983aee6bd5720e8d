/*
 * Typed values: what a row is made of once a format has parsed it.
 *
 * A value is a small tagged union.  Strings are borrowed byte slices (any
 * bytes, not necessarily UTF-8), valid only during the emit call that
 * carries the row; an operator that keeps one copies it.  Timestamps are
 * int64 microseconds (the cluster trace's unit; epoch-based for JSON/CSV
 * input).  NULL is a value of its own: a missing CSV field, an absent JSON
 * member, a Kafka message without a key.
 */
#ifndef MS_VALUE_H
#define MS_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms_slice {
    const uint8_t *p;
    size_t n;
} ms_slice;

/* X(enum, SQL name) */
#define MS_TYPE_MAP(X)                                                                             \
    X(NULL, "NULL")                                                                                \
    X(BOOL, "BOOLEAN")                                                                             \
    X(INT, "BIGINT")                                                                               \
    X(DOUBLE, "DOUBLE")                                                                            \
    X(STRING, "STRING")                                                                            \
    X(TIMESTAMP, "TIMESTAMP")

enum ms_type {
#define MS__TYPE_ENUM(e, s) MS_TYPE_##e,
    MS_TYPE_MAP(MS__TYPE_ENUM)
#undef MS__TYPE_ENUM
        MS_TYPE_MAX
};

typedef struct ms_value {
    enum ms_type type;
    union {
        int64_t i;  /* BOOL (0/1), INT, TIMESTAMP (microseconds) */
        double d;   /* DOUBLE */
        ms_slice s; /* STRING */
    };
} ms_value;

/* "BIGINT", "STRING", ... */
const char *ms_type_name(enum ms_type t);

static inline ms_value ms_value_null(void)
{
    ms_value v = {.type = MS_TYPE_NULL};
    return v;
}
static inline ms_value ms_value_int(int64_t i)
{
    ms_value v = {.type = MS_TYPE_INT, .i = i};
    return v;
}
static inline ms_value ms_value_str(const uint8_t *p, size_t n)
{
    ms_value v = {.type = MS_TYPE_STRING, .s = {p, n}};
    return v;
}

#endif
