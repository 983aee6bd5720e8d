/* producers/ms_trace: time/key parsing, the line splitter, part listing and
 * the reader over real .csv and .csv.gz files in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "ms_trace.h"
#include "mstream/mstream.h"

static int parse(const char *s, ms_trace_row *row)
{
    return ms_trace_row_parse(s, strlen(s), row);
}

static void test_time_and_key(void **state)
{
    (void)state;
    ms_trace_row r;
    assert_int_equal(parse("600000000,,6251812952,0,,0,u", &r), MS_TRACE_OK);
    assert_int_equal(r.t, 600000000);
    assert_int_equal(r.keylen, 10);
    assert_memory_equal(r.key, "6251812952", 10);
    assert_int_equal(parse("0,,7", &r), MS_TRACE_OK);
    assert_int_equal(r.t, 0);
    assert_int_equal(r.keylen, 1);
    assert_int_equal(parse("9223372036854775807,,7,4", &r), MS_TRACE_OK);
    assert_true(r.t == MS_TRACE_TIME_MAX);
    assert_int_equal(parse("9223372036854775808,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("99999999999999999999,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("", &r), MS_TRACE_EMPTY);
    assert_int_equal(parse("abc,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("-1,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("+1,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse(" 1,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("1.5,,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse(",,7", &r), MS_TRACE_BAD_TIME);
    assert_int_equal(parse("12", &r), MS_TRACE_NO_KEY);
    assert_int_equal(parse("12,", &r), MS_TRACE_NO_KEY);
    assert_int_equal(parse("12,,", &r), MS_TRACE_NO_KEY);
    assert_int_equal(parse("12,,,", &r), MS_TRACE_NO_KEY);
    assert_int_equal(parse("12,x,key", &r), MS_TRACE_OK);
    assert_int_equal(r.keylen, 3);
    assert_string_equal(ms_trace_bad_name(MS_TRACE_BAD_TIME), "bad_time");
    assert_string_equal(ms_trace_bad_name(MS_TRACE_NO_KEY), "no_job_id");
    assert_string_equal(ms_trace_bad_name(99), "unknown");
}

typedef struct mem {
    const char *p;
    size_t n, off, chunk;
    int fail_at_end;
} mem;

static long mem_read(void *ud, void *buf, size_t n)
{
    mem *m = ud;
    size_t left = m->n - m->off;
    if (left == 0 && m->fail_at_end)
        return -1;
    if (n > m->chunk)
        n = m->chunk;
    if (n > left)
        n = left;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long)n;
}

/* All results of the splitter as text: "line|" per line, "#|" per skip, "E" on error. */
static char *split(const char *s, size_t chunk, size_t cap, int fail)
{
    mem m = {s, strlen(s), 0, chunk, fail};
    ms_trace_lines l;
    ms_trace_lines_init(&l, mem_read, &m, cap);
    static char out[4096];
    out[0] = '\0';
    for (int i = 0; i < 100; i++) {
        const char *line;
        size_t len;
        int rc = ms_trace_lines_next(&l, &line, &len);
        if (rc == 0)
            break;
        if (rc == MS_EIO) {
            strcat(out, "E");
            break;
        }
        if (rc == MS_ECORRUPT) {
            strcat(out, "#|");
            continue;
        }
        assert_int_equal(rc, 1);
        strncat(out, line, len);
        strcat(out, "|");
    }
    ms_trace_lines_free(&l);
    return out;
}

static void test_lines_any_chunking(void **state)
{
    (void)state;
    const char *in = "a,1\r\nbb\n\nlonglonglong\nc\nlast";
    for (size_t chunk = 1; chunk < 40; chunk++) {
        assert_string_equal(split(in, chunk, 8, 0), "a,1|bb||#|c|last|");
        assert_string_equal(split(in, chunk, 100, 0), "a,1|bb||longlonglong|c|last|");
    }
    /* An over-long last line without '\n' is skipped whole too. */
    assert_string_equal(split("ok\nxxxxxxxxxxxx", 3, 5, 0), "ok|#|");
    assert_string_equal(split("", 4, 5, 0), "");
    assert_string_equal(split("\n", 4, 5, 0), "|");
    /* A read error: the partial last line is reported, not returned. */
    assert_string_equal(split("one\ntw", 2, 10, 1), "one|E");
}

static char tmpdir[256];

static void write_file(const char *name, const char *content, int gz)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (*content)
            assert_int_equal(gzwrite(f, content, (unsigned)strlen(content)), (int)strlen(content));
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
    }
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_producer_trace.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_reader_parts_in_order(void **state)
{
    (void)state;
    write_file("part-00001-of-00003.csv", "30,,c\n40,,d\nbad,,x\n", 0);
    write_file("part-00000-of-00003.csv.gz", "10,,a\r\n20,,b", 1);
    write_file("part-00002-of-00003.csv.gz", "", 1);
    write_file("notes.txt", "99,,z\n", 0);
    write_file("part-1-of-2.csv.bz2", "99,,z\n", 0);
    write_file(".part-00003-of-00003.csv.tmp", "99,,z\n", 0);
    char **names;
    size_t n;
    char err[256];
    assert_int_equal(ms_trace_list_parts(tmpdir, &names, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "part-00000-of-00003.csv.gz");
    assert_string_equal(names[1], "part-00001-of-00003.csv");
    assert_string_equal(names[2], "part-00002-of-00003.csv.gz");
    ms_trace_free_names(names, n);

    ms_trace_reader r;
    assert_int_equal(ms_trace_reader_open(&r, tmpdir, err, sizeof(err)), 0);
    const char *want[] = {"a", "b", "c", "d"};
    int64_t wt[] = {10, 20, 30, 40};
    ms_trace_row row;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ms_trace_reader_next(&r, &row, err, sizeof(err)), 1);
        assert_int_equal(row.t, wt[i]);
        assert_int_equal(row.keylen, 1);
        assert_memory_equal(row.key, want[i], 1);
        assert_int_equal(row.len, 5); /* no '\r' */
    }
    assert_int_equal(ms_trace_reader_next(&r, &row, err, sizeof(err)), 0);
    assert_int_equal(r.rows, 4);
    assert_int_equal(r.bad[MS_TRACE_BAD_TIME], 1);
    assert_int_equal(ms_trace_reader_skipped(&r), 1);
    assert_int_equal(r.read_errors, 0);
    ms_trace_reader_close(&r);

    /* The same part as .csv and .csv.gz would be sent twice: refused. */
    write_file("part-00001-of-00003.csv.gz", "30,,c\n", 1);
    assert_int_equal(ms_trace_list_parts(tmpdir, &names, &n, err, sizeof(err)), MS_EINVAL);
    assert_non_null(strstr(err, "holds both"));
}

static void test_reader_truncated_gz_and_errors(void **state)
{
    (void)state;
    char err[512];
    ms_trace_reader r;
    assert_int_equal(ms_trace_reader_open(&r, tmpdir, err, sizeof(err)), MS_ENOTFOUND);
    assert_non_null(strstr(err, "no trace files"));
    assert_int_equal(ms_trace_reader_open(&r, "/nonexistent/dir", err, sizeof(err)), MS_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir"));

    /* A .gz cut in the middle: the rows before the cut, then an error that
     * names the file, then the next file still gets read. */
    char big[20000];
    size_t off = 0;
    for (int i = 0; i < 1000; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off, "%d,,k%d\n", 1000 + i, i);
    write_file("part-00000-of-00002.csv.gz", big, 1);
    write_file("part-00001-of-00002.csv", "5000,,z\n", 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/part-00000-of-00002.csv.gz", tmpdir);
    FILE *f = fopen(path, "rb");
    char gz[20000];
    size_t gzn = fread(gz, 1, sizeof(gz), f);
    fclose(f);
    f = fopen(path, "wb");
    fwrite(gz, 1, gzn / 2, f);
    fclose(f);
    assert_int_equal(ms_trace_reader_open(&r, tmpdir, err, sizeof(err)), 0);
    ms_trace_row row;
    int rows = 0, errors = 0, rc;
    int64_t last = 0;
    while ((rc = ms_trace_reader_next(&r, &row, err, sizeof(err))) != 0) {
        if (rc == MS_EIO) {
            errors++;
            assert_non_null(strstr(err, "part-00000-of-00002.csv.gz"));
            continue;
        }
        assert_int_equal(rc, 1);
        assert_true(row.t > last); /* no half row in between */
        last = row.t;
        rows++;
    }
    assert_int_equal(errors, 1);
    assert_int_equal(r.read_errors, 1);
    assert_true(rows > 1 && rows < 1001);
    assert_int_equal(last, 5000);
    ms_trace_reader_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_and_key),
        cmocka_unit_test(test_lines_any_chunking),
        cmocka_unit_test_setup_teardown(test_reader_parts_in_order, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_reader_truncated_gz_and_errors, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
