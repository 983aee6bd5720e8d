/* The json and console sinks on real executors and a real directory. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mstream/mstream.h"
#include "query/ms_exec.h"
#include "sink/ms_sink.h"

static const char *text =
    "CREATE QUERY sales AS SELECT city, COUNT(*) AS orders, AVG(amount) AS avg_amount,\n"
    "  MAX(at) AS last FROM csv(city STRING, amount DOUBLE, at TIMESTAMP) GROUP BY city;\n"
    "CREATE QUERY words AS SELECT word, COUNT(*) AS count FROM words GROUP BY word;\n";

typedef struct fx {
    char root[64];
    ms_sql_program *p;
    ms_exec x[2];
    ms_rowset rs[2];
    ms_rowset *rows[2];
} fx;

static void sale(fx *f, const char *city, double amount, int64_t at)
{
    ms_value r[8];
    for (int i = 0; i < 8; i++)
        r[i] = ms_value_null();
    r[0] = ms_value_str((const uint8_t *)city, strlen(city));
    r[1].type = MS_TYPE_DOUBLE;
    r[1].d = amount;
    r[2].type = MS_TYPE_TIMESTAMP;
    r[2].i = at;
    ms_row row = {r, 8};
    ms_exec_emit(&f->x[0], &row);
}

static void word(fx *f, const char *w, int times)
{
    ms_value c = ms_value_str((const uint8_t *)w, strlen(w));
    ms_row row = {&c, 1};
    for (int i = 0; i < times; i++)
        ms_exec_emit(&f->x[1], &row);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    strcpy(f->root, "/tmp/ms_sink_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    char err[512];
    assert_int_equal(ms_sql_parse(text, strlen(text), "t.sql", "t", &f->p, err, sizeof(err)), 0);
    for (int i = 0; i < 2; i++) {
        ms_exec_init(&f->x[i], &f->p->stmts[i]);
        ms_rowset_init(&f->rs[i], &f->x[i]);
        f->rows[i] = &f->rs[i];
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 2; i++) {
        ms_rowset_free(&f->rs[i]);
        ms_exec_free(&f->x[i]);
    }
    ms_sql_program_free(f->p);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_json_files(void **state)
{
    fx *f = *state;
    sale(f, "oslo", 2.5, 1000000);
    sale(f, "paris", 1, 0);
    sale(f, "paris", 2, 5);
    word(f, "b", 1);
    word(f, "a", 2);
    for (int i = 0; i < 2; i++)
        ms_rowset_add_all(&f->rs[i], &f->x[i], INT64_MIN);
    char spec[128], err[512];
    snprintf(spec, sizeof(spec), "json:%s/out/deeper", f->root);
    ms_sink *s;
    assert_int_equal(ms_sink_open(spec, f->p, &s, err, sizeof(err)), 0);
    assert_true(ms_sink_has_json(s) && !ms_sink_has_console(s));
    assert_int_equal(ms_sink_write_json(s, 7, f->rows, err, sizeof(err)), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/out/deeper/sales/batch-00000000000000000007.json", f->root);
    char *got = slurp(path);
    assert_non_null(got);
    /* key order, typed values */
    assert_string_equal(got, "{\"city\":\"oslo\",\"orders\":1,\"avg_amount\":2.5,"
                             "\"last\":\"1970-01-01T00:00:01.000000Z\"}\n"
                             "{\"city\":\"paris\",\"orders\":2,\"avg_amount\":1.5,"
                             "\"last\":\"1970-01-01T00:00:00.000005Z\"}\n");
    free(got);
    snprintf(path, sizeof(path), "%s/out/deeper/words/batch-00000000000000000007.json", f->root);
    got = slurp(path);
    assert_string_equal(got, "{\"word\":\"a\",\"count\":2}\n{\"word\":\"b\",\"count\":1}\n");
    free(got);
    /* Writing the same batch id again gives the same file, no temporary left. */
    assert_int_equal(ms_sink_write_json(s, 7, f->rows, err, sizeof(err)), 0);
    got = slurp(path);
    assert_string_equal(got, "{\"word\":\"a\",\"count\":2}\n{\"word\":\"b\",\"count\":1}\n");
    free(got);
    snprintf(path, sizeof(path), "%s/out/deeper/words", f->root);
    DIR *d = opendir(path);
    int files = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
            files++;
    closedir(d);
    assert_int_equal(files, 1);
    ms_sink_close(s);
}

static void test_console_table(void **state)
{
    fx *f = *state;
    word(f, "spark", 3);
    word(f, "caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9", 2); /* 19 characters, 23 bytes */
    word(f, "a-word-longer-than-twenty-characters", 1);
    word(f, "\xff", 1);
    ms_rowset_add_all(&f->rs[1], &f->x[1], INT64_MIN);
    char err[256];
    ms_sink *s;
    assert_int_equal(ms_sink_open("console", f->p, &s, err, sizeof(err)), 0);
    ms_buf out = MS_BUF_INIT;
    ms_sink_render_console(s, 12, f->rows, &out);
    const char *want = "-------------------------------------------\n"
                       "Batch: 12, query: words\n"
                       "-------------------------------------------\n"
                       "+--------------------+-----+\n"
                       "|                word|count|\n"
                       "+--------------------+-----+\n"
                       "|               spark|    3|\n"
                       "| caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9|    2|\n"
                       "|a-word-longer-tha...|    1|\n"
                       "|                \\xff|    1|\n"
                       "+--------------------+-----+\n"
                       "\n";
    assert_non_null(strstr(out.data, want));
    /* the first statement (no rows) still gets its header and empty table */
    assert_non_null(strstr(out.data, "Batch: 12, query: sales\n"));
    assert_non_null(strstr(out.data, "|city|orders|avg_amount|last|\n"));
    ms_buf_free(&out);
    ms_sink_close(s);
}

static void test_bad_specs(void **state)
{
    fx *f = *state;
    char err[256];
    ms_sink *s = NULL;
    assert_int_equal(ms_sink_open("kafka:x", f->p, &s, err, sizeof(err)), MS_EUSAGE);
    assert_non_null(strstr(err, "kafka:x"));
    assert_int_equal(ms_sink_open("json:", f->p, &s, err, sizeof(err)), MS_EUSAGE);
    assert_int_equal(ms_sink_open("json:/a,json:/b", f->p, &s, err, sizeof(err)), MS_EUSAGE);
    assert_int_equal(ms_sink_open("json:/etc/hostname/x", f->p, &s, err, sizeof(err)), MS_EIO);
    assert_non_null(strstr(err, "/etc/hostname"));
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
