/* The log path: one record = one line, in the display form, whatever the
 * arguments hold (forged records, ESC sequences, invalid UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ms_log.h"
#include "core/ms_text.h"

#define FORGED       "evil\n2024-01-01T00:00:00.000Z ERROR forged: checkpoint lost\n.txt"
#define FORGED_SHOWN "evil\\x0a2024-01-01T00:00:00.000Z ERROR forged: checkpoint lost\\x0a.txt"

static char *log_format(enum ms_log_level lvl, const char *s, size_t n)
{
    ms_buf b = MS_BUF_INIT;
    ms_log_format(&b, lvl, s, n);
    return ms_buf_steal(&b, NULL);
}

static char *say_format(const char *s, size_t n)
{
    ms_buf b = MS_BUF_INIT;
    ms_say_format(&b, s, n);
    return ms_buf_steal(&b, NULL);
}

#define CHECK(fn, in, want)                                                                        \
    do {                                                                                           \
        char *got_ = fn(in, sizeof(in) - 1);                                                       \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)
#define WARN_REC(in, n) log_format(MS_LOG_WARN, in, n)

static void test_record_is_display_form(void **state)
{
    (void)state;
    CHECK(WARN_REC, "rejected " FORGED ": binary", "WARN  rejected " FORGED_SHOWN ": binary\n");
    CHECK(WARN_REC, "esc\x1b[2J\x1b[31mred\r\b\x07",
          "WARN  esc\\x1b[2J\\x1b[31mred\\x0d\\x08\\x07\n");
    CHECK(WARN_REC, "bad\xff\xfe\xc3(utf8", "WARN  bad\\xff\\xfe\\xc3(utf8\n");
    CHECK(WARN_REC, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
          "WARN  caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n");
    CHECK(WARN_REC, "c1\xc2\x85", "WARN  c1\\xc2\\x85\n"); /* NEL, a C1 control */
    CHECK(WARN_REC, "tab\there\x7f", "WARN  tab\\x09here\\x7f\n");
    /* Injective: a name that spells an escape differs from the byte. */
    CHECK(WARN_REC, "a\\x0ab", "WARN  a\\\\x0ab\n");
    CHECK(WARN_REC, "a\nb", "WARN  a\\x0ab\n");
    char *e = log_format(MS_LOG_ERROR, "x", 1);
    assert_string_equal(e, "ERROR x\n");
    free(e);
}

static void test_say_keeps_layout_only(void **state)
{
    (void)state;
    /* A parse error: the line and a caret under it keep their layout. */
    CHECK(say_format, "q.sql:2:3: error: expected FROM\n  FORM words\n  ^~~~",
          "q.sql:2:3: error: expected FROM\n  FORM words\n  ^~~~\n");
    CHECK(say_format, "x:\n\tSELECT\n\t^", "x:\n\tSELECT\n\t^\n");
    /* A continuation that is not indented is: it can never pass for a
     * record ("2024-...Z ERROR", "mstream:", "summary") of its own. */
    CHECK(say_format, "mstream: bad " FORGED,
          "mstream: bad evil\n  2024-01-01T00:00:00.000Z ERROR forged: checkpoint lost\n  .txt\n");
    CHECK(say_format, "a\n\nb", "a\n  \n  b\n");
    CHECK(say_format, "mstream: \x1b]0;title\x07\xff", "mstream: \\x1b]0;title\\x07\\xff\n");
}

/* Runs fn with fd 2 on a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void), size_t *len)
{
    char path[] = "/tmp/ms_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    close(fd);
    *len = (size_t)n;
    return buf;
}

static char long_name[10000];

static void write_records(void)
{
    enum ms_log_level keep = ms_log_threshold;
    ms_log_threshold = MS_LOG_INFO;
    ms_warn("rejected %s: binary content", FORGED);
    ms_error("%s", "\x1b[2J\x1b[H\r\xff\xfe");
    ms_info("librdkafka %s: %s", "FAIL", "broker\r\n2024-01-01T00:00:00.000Z ERROR fake\n");
    ms_debug("not shown at level info %s", FORGED);
    ms_info("%s", long_name);
    ms_say("mstream: %s", FORGED);
    ms_log_threshold = keep;
}

/* Every byte on stderr: a timestamped record per call, one line each, valid
 * UTF-8 without control bytes; ms_say's lines are indented after the first. */
static void test_stderr_records_are_lines(void **state)
{
    (void)state;
    memset(long_name, 'n', sizeof(long_name) - 1);
    size_t len;
    char *out = capture_stderr(write_records, &len);
    for (size_t i = 0; i < len;) {
        size_t l = ms_text_utf8_seq((const uint8_t *)out + i, len - i);
        if (!l || (out[i] != '\n' && ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)))
            fail_msg("raw byte 0x%02x at %zu of stderr:\n%s", (unsigned char)out[i], i, out);
        i += l;
    }
    static const struct {
        int stamped; /* a record: timestamp, level, text */
        const char *start;
    } want[] = {
        {1, " WARN  rejected " FORGED_SHOWN ": binary content"},
        {1, " ERROR \\x1b[2J\\x1b[H\\x0d\\xff\\xfe"},
        {1, " INFO  librdkafka FAIL: broker\\x0d\\x0a2024-01-01T00:00:00.000Z ERROR fake\\x0a"},
        {1, " INFO  nnnnnnnnnn"},
        {0, "mstream: evil"},
        {0, "  2024-01-01T00:00:00.000Z ERROR forged: checkpoint lost"},
        {0, "  .txt"},
    };
    size_t nwant = sizeof(want) / sizeof(want[0]);
    char *save = NULL;
    size_t k = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
        if (k >= nwant)
            fail_msg("more lines than records: '%s'", line);
        if (want[k].stamped) {
            /* 2024-05-01T12:00:00.000Z: digits where the template has them */
            const char *tmpl = "0000-00-00T00:00:00.000Z";
            for (size_t c = 0; c < strlen(tmpl); c++)
                if (tmpl[c] == '0' ? !(line[c] >= '0' && line[c] <= '9') : line[c] != tmpl[c])
                    fail_msg("line %zu has no timestamp: '%s'", k, line);
            line += strlen(tmpl);
        }
        if (strncmp(line, want[k].start, strlen(want[k].start)) != 0)
            fail_msg("line %zu is '%s', expected it to start with '%s'", k, line, want[k].start);
        if (k == 3 && !strstr(line, "[5904 more bytes not shown]"))
            fail_msg("a long record is cut and says so: '...%s'", line + strlen(line) - 40);
    }
    assert_int_equal(k, nwant);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_is_display_form),
        cmocka_unit_test(test_say_keeps_layout_only),
        cmocka_unit_test(test_stderr_records_are_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
