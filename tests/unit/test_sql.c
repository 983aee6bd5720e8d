/*
 * The query language: parse + bind of every construct, WHERE evaluation in
 * three-valued logic, canonical text, error format.  The refused queries
 * are a data table of their own (test_sql_invalid.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ms_buf.h"
#include "mstream/mstream.h"
#include "sql/ms_sql.h"

static char err[4096];

/* Parses text that must be valid; one statement expected unless nstmts. */
static ms_sql_program *parse_ok(const char *text)
{
    ms_sql_program *p = NULL;
    int rc = ms_sql_parse(text, strlen(text), "t.sql", "t", &p, err, sizeof(err));
    if (rc != 0)
        fail_msg("query refused:\n%s\n%s", text, err);
    assert_non_null(p);
    return p;
}

static const ms_sql_stmt *one(ms_sql_program *p)
{
    assert_int_equal(p->nstmts, 1);
    return &p->stmts[0];
}

/* Parses text that must be refused; returns the message (in err). */
static const char *parse_err(const char *text)
{
    ms_sql_program *p = NULL;
    int rc = ms_sql_parse(text, strlen(text), "t.sql", "t", &p, err, sizeof(err));
    assert_int_equal(rc, MS_EINVAL);
    assert_null(p);
    return err;
}

static int col(const ms_sql_stmt *s, const char *name)
{
    int i = ms_schema_find(s->schema, name);
    assert_true(i >= 0);
    return i;
}

/* ------------------------------------------------------------------ */
/* The shipped queries                                                  */
/* ------------------------------------------------------------------ */

static void test_wordcount(void **state)
{
    (void)state;
    ms_sql_program *p =
        parse_ok("SELECT word, COUNT(*) AS count FROM words GROUP BY word EMIT COMPLETE;");
    const ms_sql_stmt *s = one(p);
    assert_string_equal(s->name, "t");
    assert_string_equal(s->schema->format, "words");
    assert_null(s->topic);
    assert_null(s->where);
    assert_int_equal(s->ngroup_cols, 1);
    assert_int_equal(s->group_cols[0], col(s, "word"));
    assert_int_equal(s->window.kind, MS_SQL_WINDOW_NONE);
    assert_int_equal(s->watermark.present, 0);
    assert_int_equal(s->naggs, 1);
    assert_int_equal(s->aggs[0].kind, MS_SQL_AGG_COUNT_STAR);
    assert_int_equal(s->aggs[0].arg, -1);
    assert_int_equal(s->aggs[0].type, MS_TYPE_INT);
    assert_int_equal(s->nouts, 2);
    assert_string_equal(s->outs[0].name, "word");
    assert_int_equal(s->outs[0].kind, MS_SQL_OUT_GROUP_COL);
    assert_int_equal(s->outs[0].index, 0);
    assert_int_equal(s->outs[0].type, MS_TYPE_STRING);
    assert_string_equal(s->outs[1].name, "count");
    assert_int_equal(s->outs[1].kind, MS_SQL_OUT_AGG);
    assert_int_equal(s->outs[1].index, 0);
    assert_int_equal(s->emit, MS_SQL_EMIT_COMPLETE);
    assert_int_equal(s->line, 1);
    ms_sql_program_free(p);
}

static void test_task_events_hourly(void **state)
{
    (void)state;
    ms_sql_program *p = parse_ok(
        "-- queries/task_events_hourly.sql\n"
        "SELECT window_start, window_end, scheduling_class, event_type, COUNT(*) AS events\n"
        "FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE\n"
        "GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type\n"
        "EMIT APPEND;\n");
    const ms_sql_stmt *s = one(p);
    assert_int_equal(s->line, 2);
    assert_string_equal(s->schema->format, "task_events");
    assert_int_equal(s->window.kind, MS_SQL_WINDOW_TUMBLE);
    assert_int_equal(s->window.col, col(s, "time"));
    assert_int_equal(s->window.size_us, 3600LL * 1000000);
    assert_int_equal(s->window.slide_us, 3600LL * 1000000);
    assert_int_equal(s->watermark.present, 1);
    assert_int_equal(s->watermark.col, col(s, "time"));
    assert_int_equal(s->watermark.delay_us, 600LL * 1000000);
    assert_int_equal(s->ngroup_cols, 2);
    assert_int_equal(s->group_cols[0], col(s, "scheduling_class"));
    assert_int_equal(s->group_cols[1], col(s, "event_type"));
    assert_int_equal(s->nouts, 5);
    assert_int_equal(s->outs[0].kind, MS_SQL_OUT_WINDOW_START);
    assert_int_equal(s->outs[0].type, MS_TYPE_TIMESTAMP);
    assert_string_equal(s->outs[0].name, "window_start");
    assert_int_equal(s->outs[1].kind, MS_SQL_OUT_WINDOW_END);
    assert_int_equal(s->outs[2].kind, MS_SQL_OUT_GROUP_COL);
    assert_int_equal(s->outs[2].index, 0);
    assert_int_equal(s->outs[2].type, MS_TYPE_INT);
    assert_int_equal(s->outs[3].index, 1);
    assert_int_equal(s->outs[3].type, MS_TYPE_STRING);
    assert_string_equal(s->outs[4].name, "events");
    assert_int_equal(s->emit, MS_SQL_EMIT_APPEND);
    ms_sql_program_free(p);
}

static void test_cluster_events_multi_statement(void **state)
{
    (void)state;
    ms_sql_program *p =
        parse_ok("-- queries/cluster_events.sql\n"
                 "CREATE QUERY task_events_by_class AS\n"
                 "  SELECT scheduling_class, event_type, COUNT(*) AS events\n"
                 "  FROM task_events TOPIC 'task-events' GROUP BY scheduling_class, event_type;\n"
                 "CREATE QUERY job_events_by_class AS\n"
                 "  SELECT scheduling_class, event_type, COUNT(*) AS events\n"
                 "  FROM job_events TOPIC 'job-events' GROUP BY scheduling_class, event_type;\n");
    assert_int_equal(p->nstmts, 2);
    assert_string_equal(p->stmts[0].name, "task_events_by_class");
    assert_string_equal(p->stmts[0].topic, "task-events");
    assert_string_equal(p->stmts[0].schema->format, "task_events");
    assert_int_equal(p->stmts[0].line, 2);
    assert_string_equal(p->stmts[1].name, "job_events_by_class");
    assert_string_equal(p->stmts[1].topic, "job-events");
    assert_string_equal(p->stmts[1].schema->format, "job_events");
    assert_int_equal(p->stmts[1].line, 5);
    /* scheduling_class is column 5 of job_events, 7 of task_events */
    assert_int_equal(p->stmts[1].group_cols[0], 5);
    assert_int_equal(p->stmts[0].group_cols[0], 7);
    assert_ptr_equal(ms_sql_program_find(p, "job_events_by_class"), &p->stmts[1]);
    assert_null(ms_sql_program_find(p, "nope"));
    ms_sql_program_free(p);
}

/* ------------------------------------------------------------------ */
/* Constructs                                                           */
/* ------------------------------------------------------------------ */

static void test_every_aggregate(void **state)
{
    (void)state;
    ms_sql_program *p = parse_ok("SELECT user, COUNT(*), COUNT(machine_id), SUM(priority), "
                                 "SUM(cpu_request), AVG(priority), MIN(time), MAX(cpu_request), "
                                 "min(priority) AS lowest FROM task_events GROUP BY user");
    const ms_sql_stmt *s = one(p);
    static const struct {
        enum ms_sql_agg_kind kind;
        const char *arg, *name;
        enum ms_type arg_type, type;
    } want[] = {
        {MS_SQL_AGG_COUNT_STAR, NULL, "count", MS_TYPE_NULL, MS_TYPE_INT},
        {MS_SQL_AGG_COUNT, "machine_id", "count_machine_id", MS_TYPE_INT, MS_TYPE_INT},
        {MS_SQL_AGG_SUM, "priority", "sum_priority", MS_TYPE_INT, MS_TYPE_INT},
        {MS_SQL_AGG_SUM, "cpu_request", "sum_cpu_request", MS_TYPE_DOUBLE, MS_TYPE_DOUBLE},
        {MS_SQL_AGG_AVG, "priority", "avg_priority", MS_TYPE_INT, MS_TYPE_DOUBLE},
        {MS_SQL_AGG_MIN, "time", "min_time", MS_TYPE_TIMESTAMP, MS_TYPE_TIMESTAMP},
        {MS_SQL_AGG_MAX, "cpu_request", "max_cpu_request", MS_TYPE_DOUBLE, MS_TYPE_DOUBLE},
        {MS_SQL_AGG_MIN, "priority", "lowest", MS_TYPE_INT, MS_TYPE_INT},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(s->naggs, n);
    assert_int_equal(s->nouts, n + 1);
    for (size_t j = 0; j < n; j++) {
        const ms_sql_agg *a = &s->aggs[j];
        assert_int_equal(a->kind, want[j].kind);
        assert_int_equal(a->arg, want[j].arg ? col(s, want[j].arg) : -1);
        assert_int_equal(a->arg_type, want[j].arg_type);
        assert_int_equal(a->type, want[j].type);
        const ms_sql_out *o = &s->outs[j + 1];
        assert_string_equal(o->name, want[j].name);
        assert_int_equal(o->kind, MS_SQL_OUT_AGG);
        assert_int_equal(o->index, j);
        assert_int_equal(o->type, want[j].type);
    }
    assert_string_equal(ms_sql_agg_name(MS_SQL_AGG_AVG), "AVG");
    ms_sql_program_free(p);
}

static void test_same_aggregate_computed_once(void **state)
{
    (void)state;
    ms_sql_program *p = parse_ok("SELECT COUNT(*) AS a, word, count(*) AS b, SUM(offset), "
                                 "SUM(offset) AS c FROM words GROUP BY word");
    const ms_sql_stmt *s = one(p);
    assert_int_equal(s->naggs, 2);
    assert_int_equal(s->nouts, 5);
    assert_int_equal(s->outs[0].index, 0);
    assert_int_equal(s->outs[2].index, 0);
    assert_int_equal(s->outs[3].index, 1);
    assert_int_equal(s->outs[4].index, 1);
    assert_string_equal(s->outs[3].name, "sum_offset");
    assert_int_equal(s->aggs[1].arg, (int)(s->schema->ncols + MS_META_OFFSET));
    ms_sql_program_free(p);
}

static void test_hop_window_and_units(void **state)
{
    (void)state;
    ms_sql_program *p =
        parse_ok("SELECT window_end AS until, COUNT(*) FROM job_events "
                 "WATERMARK FOR time AS time - interval '1500' milliseconds "
                 "GROUP BY hop(time, INTERVAL '5' MINUTES, INTERVAL '1' hour) EMIT UPDATE");
    const ms_sql_stmt *s = one(p);
    assert_int_equal(s->window.kind, MS_SQL_WINDOW_HOP);
    assert_int_equal(s->window.slide_us, 300LL * 1000000);
    assert_int_equal(s->window.size_us, 3600LL * 1000000);
    assert_int_equal(s->watermark.delay_us, 1500LL * 1000);
    assert_int_equal(s->emit, MS_SQL_EMIT_UPDATE);
    assert_int_equal(s->ngroup_cols, 0);
    assert_string_equal(s->outs[0].name, "until");
    assert_int_equal(s->outs[0].kind, MS_SQL_OUT_WINDOW_END);
    ms_sql_program_free(p);

    /* every unit, singular and plural */
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"MICROSECOND", 1},   {"MICROSECONDS", 1},    {"MILLISECOND", 1000},
                 {"SECOND", 1000000},  {"SECONDS", 1000000},   {"MINUTE", 60000000},
                 {"HOUR", 3600000000}, {"DAYS", 86400000000LL}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q),
                 "SELECT window_start, COUNT(*) FROM task_events GROUP BY TUMBLE(time, "
                 "INTERVAL '3' %s)",
                 units[i].unit);
        p = parse_ok(q);
        assert_int_equal(p->stmts[0].window.size_us, 3 * units[i].us);
        assert_int_equal(p->stmts[0].window.slide_us, 3 * units[i].us);
        ms_sql_program_free(p);
    }
    /* the largest interval that fits, and one past it */
    p = parse_ok("SELECT window_start, COUNT(*) FROM task_events GROUP BY TUMBLE(time, "
                 "INTERVAL '9223372036854775807' MICROSECOND)");
    assert_int_equal(p->stmts[0].window.size_us, INT64_MAX);
    ms_sql_program_free(p);
    parse_err("SELECT window_start, COUNT(*) FROM task_events GROUP BY TUMBLE(time, "
              "INTERVAL '106751992' DAY)");
    assert_non_null(strstr(err, "interval is too long"));
}

static void test_watermark_without_window(void **state)
{
    (void)state;
    ms_sql_program *p = parse_ok("SELECT user, COUNT(*) FROM task_events WATERMARK FOR "
                                 "timestamp AS timestamp - INTERVAL '1' SECOND GROUP BY user");
    const ms_sql_stmt *s = one(p);
    assert_int_equal(s->watermark.present, 1);
    assert_int_equal(s->watermark.col, (int)(s->schema->ncols + MS_META_TIMESTAMP));
    assert_int_equal(s->window.kind, MS_SQL_WINDOW_NONE);
    assert_int_equal(s->emit, MS_SQL_EMIT_COMPLETE);
    ms_sql_program_free(p);
}

static void test_csv_and_json_columns(void **state)
{
    (void)state;
    ms_sql_program *p = parse_ok("SELECT city, SUM(amount) AS total, MAX(at) FROM csv(city "
                                 "VARCHAR, amount DOUBLE, n INT, m INTEGER, big BIGINT, f FLOAT, "
                                 "ok BOOLEAN, at TIMESTAMP, s STRING) TOPIC 'sales' GROUP BY city");
    const ms_sql_stmt *s = one(p);
    assert_int_equal(s->schema->kind, MS_FORMAT_CSV);
    assert_true(s->schema->owned);
    static const enum ms_type types[] = {MS_TYPE_STRING, MS_TYPE_DOUBLE,    MS_TYPE_INT,
                                         MS_TYPE_INT,    MS_TYPE_INT,       MS_TYPE_DOUBLE,
                                         MS_TYPE_BOOL,   MS_TYPE_TIMESTAMP, MS_TYPE_STRING};
    assert_int_equal(s->schema->ncols, 9);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(s->schema->cols[i].type, types[i]);
    assert_string_equal(s->schema->cols[7].name, "at");
    assert_int_equal(s->aggs[1].type, MS_TYPE_TIMESTAMP);
    assert_string_equal(s->topic, "sales");
    /* metadata columns follow the declared ones */
    assert_int_equal(ms_schema_find(s->schema, "topic"), 9 + MS_META_TOPIC);
    ms_sql_program_free(p);

    p = parse_ok("SELECT \"user\", COUNT(*) FROM JSON(\"user\" STRING, \"key\" BIGINT) "
                 "WHERE key > 3 GROUP BY \"user\"");
    s = one(p);
    assert_int_equal(s->schema->kind, MS_FORMAT_JSON);
    assert_string_equal(s->schema->format, "json");
    /* a declared column shadows the metadata column of the same name */
    assert_int_equal(s->where->cmp.l->col, 1);
    assert_int_equal(s->where->cmp.l->type, MS_TYPE_INT);
    ms_sql_program_free(p);
}

static void test_keywords_case_comments_quotes(void **state)
{
    (void)state;
    ms_sql_program *p =
        parse_ok("/* block\n comment */ sElEcT \"word\" As \"COUNT\", Count ( * ) as count\n"
                 "-- a line comment; with a semicolon\n"
                 "FrOm WORDS where word <> 'it''s' -- trailing\n"
                 "GROUP by word emit update ; ");
    const ms_sql_stmt *s = one(p);
    assert_string_equal(s->outs[0].name, "COUNT");
    assert_string_equal(s->outs[1].name, "count");
    assert_int_equal(s->emit, MS_SQL_EMIT_UPDATE);
    const ms_sql_expr *w = s->where;
    assert_int_equal(w->kind, MS_SQL_EXPR_CMP);
    assert_int_equal(w->cmp.op, MS_SQL_CMP_NE);
    assert_int_equal(w->cmp.r->value.type, MS_TYPE_STRING);
    assert_int_equal(w->cmp.r->value.s.n, 4);
    assert_memory_equal(w->cmp.r->value.s.p, "it's", 4);
    ms_sql_program_free(p);

    /* non-reserved words as names: columns time/user/key..., alias count */
    p = parse_ok("SELECT user, \"time\" AS \"a \"\"quoted\"\" name\", COUNT(*) AS count, "
                 "MIN(offset) AS partition FROM task_events WHERE time > 0 AND key IS NULL "
                 "GROUP BY user, time");
    s = one(p);
    assert_string_equal(s->outs[1].name, "a \"quoted\" name");
    assert_string_equal(s->outs[3].name, "partition");
    ms_sql_program_free(p);

    /* a reserved word as a name needs quotes */
    p = parse_ok("SELECT \"from\", COUNT(*) AS \"select\" FROM csv(\"from\" STRING) "
                 "GROUP BY \"from\"");
    assert_string_equal(p->stmts[0].outs[1].name, "select");
    ms_sql_program_free(p);

    /* identifiers are case-sensitive */
    parse_err("SELECT Word, COUNT(*) FROM words GROUP BY Word");
    assert_non_null(strstr(err, "unknown column 'Word'"));
}

static void test_where_precedence(void **state)
{
    (void)state;
    /* a OR b AND NOT c  ==  a OR (b AND (NOT c)) */
    ms_sql_program *p = parse_ok("SELECT COUNT(*) FROM task_events WHERE priority = 1 OR "
                                 "priority = 2 AND NOT user = 'x'");
    const ms_sql_expr *w = p->stmts[0].where;
    assert_int_equal(w->kind, MS_SQL_EXPR_OR);
    assert_int_equal(w->bool_args.n, 2);
    assert_int_equal(w->bool_args.args[0]->kind, MS_SQL_EXPR_CMP);
    const ms_sql_expr *and = w->bool_args.args[1];
    assert_int_equal(and->kind, MS_SQL_EXPR_AND);
    assert_int_equal(and->bool_args.n, 2);
    assert_int_equal(and->bool_args.args[1]->kind, MS_SQL_EXPR_NOT);
    assert_int_equal(and->bool_args.args[1]->not_arg->kind, MS_SQL_EXPR_CMP);
    ms_sql_program_free(p);

    /* parentheses override; chains are n-ary */
    p = parse_ok("SELECT COUNT(*) FROM task_events WHERE (priority = 1 OR priority = 2) AND "
                 "user = 'x' AND job_id > 3 AND job_id < 9");
    w = p->stmts[0].where;
    assert_int_equal(w->kind, MS_SQL_EXPR_AND);
    assert_int_equal(w->bool_args.n, 4);
    assert_int_equal(w->bool_args.args[0]->kind, MS_SQL_EXPR_OR);
    ms_sql_program_free(p);

    /* IN, NOT IN, IS NULL, IS NOT NULL */
    p = parse_ok("SELECT COUNT(*) FROM task_events WHERE event_type IN ('SUBMIT', 'FAIL') AND "
                 "priority NOT IN (1, 2, 3) AND user IS NULL AND machine_id IS NOT NULL");
    w = p->stmts[0].where;
    assert_int_equal(w->bool_args.n, 4);
    const ms_sql_expr *in = w->bool_args.args[0];
    assert_int_equal(in->kind, MS_SQL_EXPR_IN);
    assert_int_equal(in->in.n, 2);
    assert_int_equal(in->in.negated, 0);
    assert_memory_equal(in->in.list[1].s.p, "FAIL", 4);
    assert_int_equal(w->bool_args.args[1]->in.negated, 1);
    assert_int_equal(w->bool_args.args[1]->in.list[2].i, 3);
    assert_int_equal(w->bool_args.args[2]->kind, MS_SQL_EXPR_IS_NULL);
    assert_int_equal(w->bool_args.args[2]->is_null.negated, 0);
    assert_int_equal(w->bool_args.args[3]->is_null.negated, 1);
    ms_sql_program_free(p);
}

static void test_literals(void **state)
{
    (void)state;
    ms_sql_program *p =
        parse_ok("SELECT COUNT(*) FROM task_events WHERE job_id = -9223372036854775808 OR "
                 "job_id = 9223372036854775807 OR cpu_request = 2.5e-1 OR cpu_request = -.5 OR "
                 "cpu_request = 3 OR time >= 600000000 OR time IN (1, -2) OR TRUE OR FALSE");
    const ms_sql_expr *w = p->stmts[0].where;
    assert_int_equal(w->bool_args.n, 9);
    assert_int_equal(w->bool_args.args[0]->cmp.r->value.i, INT64_MIN);
    assert_int_equal(w->bool_args.args[1]->cmp.r->value.i, INT64_MAX);
    assert_true(w->bool_args.args[2]->cmp.r->value.d == 0.25);
    assert_true(w->bool_args.args[3]->cmp.r->value.d == -0.5);
    /* an integer compared with a DOUBLE column is a DOUBLE literal */
    assert_int_equal(w->bool_args.args[4]->cmp.r->type, MS_TYPE_DOUBLE);
    assert_true(w->bool_args.args[4]->cmp.r->value.d == 3.0);
    /* an integer compared with a TIMESTAMP is microseconds */
    assert_int_equal(w->bool_args.args[5]->cmp.r->type, MS_TYPE_TIMESTAMP);
    assert_int_equal(w->bool_args.args[5]->cmp.r->value.i, 600000000);
    assert_int_equal(w->bool_args.args[6]->in.list[1].type, MS_TYPE_TIMESTAMP);
    assert_int_equal(w->bool_args.args[6]->in.list[1].i, -2);
    assert_int_equal(w->bool_args.args[7]->kind, MS_SQL_EXPR_CONST);
    assert_int_equal(w->bool_args.args[7]->value.i, 1);
    ms_sql_program_free(p);

    parse_err("SELECT COUNT(*) FROM task_events WHERE cpu_request > 1e999");
    assert_non_null(strstr(err, "out of range for DOUBLE"));
    parse_err("SELECT COUNT(*) FROM task_events WHERE job_id > -9223372036854775809");
    assert_non_null(strstr(err, "integer -9223372036854775809 is out of range"));
}

static void test_names(void **state)
{
    (void)state;
    ms_sql_program *p = NULL;
    const char *q = "SELECT COUNT(*) FROM lines";
    /* the caller's default name, or CREATE QUERY */
    assert_int_equal(ms_sql_parse(q, strlen(q), "x.sql", "daily_01", &p, err, sizeof(err)), 0);
    assert_string_equal(p->stmts[0].name, "daily_01");
    ms_sql_program_free(p);
    q = "CREATE QUERY \"2024_x\" AS SELECT COUNT(*) FROM lines";
    assert_int_equal(ms_sql_parse(q, strlen(q), "x.sql", NULL, &p, err, sizeof(err)), 0);
    assert_string_equal(p->stmts[0].name, "2024_x");
    ms_sql_program_free(p);
    /* no usable default */
    q = "SELECT COUNT(*) FROM lines";
    assert_int_equal(ms_sql_parse(q, strlen(q), "x.sql", "task-events", &p, err, sizeof(err)),
                     MS_EINVAL);
    assert_non_null(strstr(err, "x.sql:1:1: error: this statement would be named 'task-events'"));
    assert_int_equal(ms_sql_parse(q, strlen(q), NULL, NULL, &p, err, sizeof(err)), MS_EINVAL);
    assert_non_null(strstr(err, "<query>:1:1: error: this statement needs a name"));
    /* a lone named statement ignores the default; a trailing ';' is fine */
    q = "CREATE QUERY a AS SELECT COUNT(*) FROM lines;";
    assert_int_equal(ms_sql_parse(q, strlen(q), "x.sql", "b", &p, err, sizeof(err)), 0);
    assert_string_equal(p->stmts[0].name, "a");
    ms_sql_program_free(p);
}

static void test_parse_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ms_sql_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/top_users.sql", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("SELECT user, COUNT(*) AS n\nFROM task_events\nGROUP BY user\n", f);
    fclose(f);
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse_file(path, &p, err, sizeof(err)), 0);
    assert_string_equal(p->stmts[0].name, "top_users");
    ms_sql_program_free(p);

    f = fopen(path, "w");
    fputs("SELECT user, COUNT(*) AS n\nFROM task_event\n", f);
    fclose(f);
    assert_int_equal(ms_sql_parse_file(path, &p, err, sizeof(err)), MS_EINVAL);
    char want[512];
    snprintf(want, sizeof(want), "%s:2:6: error: expected a source format", path);
    assert_non_null(strstr(err, want));
    unlink(path);
    rmdir(dir);
    assert_int_equal(ms_sql_parse_file(path, &p, err, sizeof(err)), MS_EIO);
    assert_null(p);
    assert_non_null(strstr(err, "cannot open query file"));
    assert_non_null(strstr(err, "No such file"));
}

/* ------------------------------------------------------------------ */
/* Error format                                                         */
/* ------------------------------------------------------------------ */

static void test_error_format_exact(void **state)
{
    (void)state;
    ms_sql_program *p = NULL;
    const char *q = "SELECT scheduling_class, COUNT(*)\n  FORM task_events\n";
    assert_int_equal(ms_sql_parse(q, strlen(q), "queries/bad.sql", "bad", &p, err, sizeof(err)),
                     MS_EINVAL);
    assert_string_equal(err, "queries/bad.sql:2:3: error: expected ',', AS or FROM, found 'FORM'\n"
                             "    FORM task_events\n"
                             "    ^~~~");

    /* tabs are copied into the caret line; a tab counts as one column */
    q = "SELECT word, COUNT(*)\n\t\tFROM  words\tWHERE\tword =\t1";
    assert_int_equal(ms_sql_parse(q, strlen(q), "tab.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_string_equal(err, "tab.sql:2:26: error: cannot compare column 'word' (STRING) with 1 "
                             "(BIGINT)\n"
                             "  \t\tFROM  words\tWHERE\tword =\t1\n"
                             "  \t\t           \t     \t     ^");

    /* end of input: just past the last token, not after trailing comments */
    q = "SELECT word, COUNT(*) FROM words GROUP BY\n\n-- more to come\n";
    assert_int_equal(ms_sql_parse(q, strlen(q), "eof.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_string_equal(err, "eof.sql:1:42: error: expected a column, TUMBLE(...) or HOP(...), "
                             "found end of input\n"
                             "  SELECT word, COUNT(*) FROM words GROUP BY\n"
                             "                                           ^");

    /* CRLF line ends are not shown; UTF-8 counts one column per character */
    q = "SELECT word, COUNT(*)\r\nFROM words WHERE word = 'é' AND 1\r\n";
    assert_int_equal(ms_sql_parse(q, strlen(q), "crlf.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_string_equal(err, "crlf.sql:2:33: error: AND needs a BOOLEAN condition, found 1 "
                             "(BIGINT)\n"
                             "  FROM words WHERE word = 'é' AND 1\n"
                             "                                  ^");
}

static void test_error_long_line_and_small_buffer(void **state)
{
    (void)state;
    /* a 5000-character line shows a window around the error */
    char q[8192];
    int n = snprintf(q, sizeof(q), "SELECT word, COUNT(*) FROM words WHERE ");
    for (int i = 0; i < 280; i++)
        n += snprintf(q + n, sizeof(q) - (size_t)n, "word = 'w%04d' OR ", i);
    n += snprintf(q + n, sizeof(q) - (size_t)n, "word = 5");
    ms_sql_program *p = NULL;
    assert_int_equal(ms_sql_parse(q, (size_t)n, "long.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    char head[64];
    snprintf(head, sizeof(head), "long.sql:1:%d: error: cannot compare", n - 2);
    assert_non_null(strstr(err, head));
    const char *l2 = strchr(err, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_true(strncmp(l2, "  ...", 5) == 0);
    assert_true(l3 - l2 < 200);
    /* the caret is under the '=' in the shown window */
    const char *hat = strchr(l3, '^');
    assert_non_null(hat);
    assert_int_equal(l2[hat - l3], '=');
    assert_int_equal(hat[1], '\0');

    /* a tiny errstr is truncated, never overrun */
    char small[16];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(ms_sql_parse("SELEC", 5, "a.sql", "t", &p, small, 10), MS_EINVAL);
    assert_string_equal(small, "a.sql:1:1");
    assert_int_equal(small[10], 'Z');
    /* and a NULL one is allowed */
    assert_int_equal(ms_sql_parse("SELEC", 5, "a.sql", "t", &p, NULL, 0), MS_EINVAL);
}

static void test_nul_byte_and_size_limit(void **state)
{
    (void)state;
    ms_sql_program *p = NULL;
    static const char q[] = "SELECT COUNT(*) FROM lines WHERE value = 'a\0b'";
    assert_int_equal(ms_sql_parse(q, sizeof(q) - 1, "n.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_non_null(strstr(err, "n.sql:1:44: error: the query text contains a NUL byte"));
    size_t big = (1u << 20) + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    assert_int_equal(ms_sql_parse(text, big, "big.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_non_null(strstr(err, "big.sql: error: the query text is larger than"));
    free(text);
}

/* ------------------------------------------------------------------ */
/* WHERE evaluation                                                     */
/* ------------------------------------------------------------------ */

/* Columns of the evaluation schema. */
enum { C_P, C_Q, C_N, C_D, C_S, C_T, C_WIDTH = 6 + MS_META_NCOLS };

#define EVAL_FROM " FROM csv(p BOOLEAN, q BOOLEAN, n BIGINT, d DOUBLE, s STRING, t TIMESTAMP)"

static ms_sql_program *where_prog(const char *cond)
{
    char q[1024];
    snprintf(q, sizeof(q), "SELECT COUNT(*)" EVAL_FROM " WHERE %s", cond);
    return parse_ok(q);
}

static ms_value vbool(int b)
{
    ms_value v = {.type = MS_TYPE_BOOL, .i = b};
    return v;
}

static ms_value vdouble(double d)
{
    ms_value v = {.type = MS_TYPE_DOUBLE, .d = d};
    return v;
}

static ms_value vstr(const char *s)
{
    return ms_value_str((const uint8_t *)s, strlen(s));
}

static ms_value vts(int64_t t)
{
    ms_value v = {.type = MS_TYPE_TIMESTAMP, .i = t};
    return v;
}

static void null_row(ms_value *row)
{
    for (int i = 0; i < C_WIDTH; i++)
        row[i] = ms_value_null();
}

/* Evaluates cond over row; checks the three-valued result. */
static void expect_truth(const char *cond, const ms_value *row, enum ms_sql_truth want)
{
    ms_sql_program *p = where_prog(cond);
    enum ms_sql_truth got = ms_sql_eval(p->stmts[0].where, row);
    if (got != want)
        fail_msg("%s: got %d, expected %d", cond, got, want);
    assert_int_equal(ms_sql_eval_where(p->stmts[0].where, row), want == MS_SQL_TRUE);
    ms_sql_program_free(p);
}

static void test_eval_kleene_tables(void **state)
{
    (void)state;
    /* p, q in {FALSE, TRUE, NULL} */
    const enum ms_sql_truth F = MS_SQL_FALSE, T = MS_SQL_TRUE, U = MS_SQL_UNKNOWN;
    const enum ms_sql_truth vals[3] = {F, T, U};
    const enum ms_sql_truth and_tab[3][3] = {{F, F, F}, {F, T, U}, {F, U, U}};
    const enum ms_sql_truth or_tab[3][3] = {{F, T, U}, {T, T, T}, {U, T, U}};
    const enum ms_sql_truth not_tab[3] = {T, F, U};
    ms_value row[C_WIDTH];
    null_row(row);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            row[C_P] = vals[i] == U ? ms_value_null() : vbool(vals[i] == T);
            row[C_Q] = vals[j] == U ? ms_value_null() : vbool(vals[j] == T);
            expect_truth("p AND q", row, and_tab[i][j]);
            expect_truth("p OR q", row, or_tab[i][j]);
            expect_truth("NOT p", row, not_tab[i]);
            expect_truth("NOT (p AND q)", row, not_tab[and_tab[i][j]]);
            /* n-ary chains and IS NULL never unknown */
            expect_truth("p AND q AND TRUE", row, and_tab[i][j]);
            expect_truth("p OR q OR FALSE", row, or_tab[i][j]);
            expect_truth("p IS NULL", row, vals[i] == U ? T : F);
            expect_truth("p IS NOT NULL", row, vals[i] == U ? F : T);
            expect_truth("p = q", row, vals[i] == U || vals[j] == U ? U : vals[i] == vals[j]);
        }
    }
}

static void test_eval_comparisons(void **state)
{
    (void)state;
    const enum ms_sql_truth F = MS_SQL_FALSE, T = MS_SQL_TRUE, U = MS_SQL_UNKNOWN;
    ms_value row[C_WIDTH];
    null_row(row);
    row[C_N] = ms_value_int(5);
    row[C_D] = vdouble(2.5);
    row[C_S] = vstr("abc");
    row[C_T] = vts(1000);
    expect_truth("n = 5", row, T);
    expect_truth("n <> 5", row, F);
    expect_truth("n != 4", row, T);
    expect_truth("n < 6", row, T);
    expect_truth("n <= 5", row, T);
    expect_truth("n > 5", row, F);
    expect_truth("n >= 6", row, F);
    expect_truth("6 > n", row, T);
    expect_truth("n > d", row, T); /* BIGINT vs DOUBLE */
    expect_truth("d = 2.5", row, T);
    expect_truth("d < 3", row, T);
    expect_truth("n = 5.0", row, T);
    expect_truth("n = 5.5", row, F);
    expect_truth("t = 1000", row, T);
    expect_truth("t < 999", row, F);
    expect_truth("t > -1", row, T);
    expect_truth("t = timestamp", row, U); /* metadata timestamp is NULL */
    expect_truth("n > -9223372036854775808", row, T);
    /* strings: bytewise, then length */
    expect_truth("s = 'abc'", row, T);
    expect_truth("s < 'abd'", row, T);
    expect_truth("s > 'ab'", row, T);
    expect_truth("s < 'abcd'", row, T);
    expect_truth("s > 'ABC'", row, T);
    expect_truth("s < '\xc3\xa9'", row, T); /* bytes above 0x7f are larger */
    expect_truth("s = ''", row, F);
    /* booleans */
    row[C_P] = vbool(1);
    expect_truth("p = TRUE", row, T);
    expect_truth("p > FALSE", row, T);
    expect_truth("p", row, T);
    expect_truth("(n = 5) = p", row, T);
    expect_truth("(n = 4) = p", row, F);
    expect_truth("(q = TRUE) IS NULL", row, T); /* UNKNOWN as a value is NULL */
    /* NULL operands */
    row[C_N] = ms_value_null();
    expect_truth("n = 5", row, U);
    expect_truth("n <> 5", row, U);
    expect_truth("NOT n = 5", row, U);
    expect_truth("n = 5 OR s = 'abc'", row, T);
    expect_truth("n = 5 AND s = 'abc'", row, U);
    expect_truth("n = 5 AND s = 'x'", row, F);
    expect_truth("n IS NULL AND s IS NOT NULL", row, T);
    /* constants */
    expect_truth("1 = 1", row, T);
    expect_truth("'a' < 'b'", row, T);
    expect_truth("FALSE", row, F);
}

static void test_eval_in(void **state)
{
    (void)state;
    const enum ms_sql_truth F = MS_SQL_FALSE, T = MS_SQL_TRUE, U = MS_SQL_UNKNOWN;
    ms_value row[C_WIDTH];
    null_row(row);
    row[C_N] = ms_value_int(3);
    row[C_S] = vstr("FAIL");
    row[C_D] = vdouble(2.0);
    row[C_T] = vts(7);
    expect_truth("n IN (1, 2, 3)", row, T);
    expect_truth("n IN (1, 2)", row, F);
    expect_truth("n NOT IN (1, 2)", row, T);
    expect_truth("n NOT IN (3)", row, F);
    expect_truth("n IN (2.5, 3.0)", row, T);
    expect_truth("d IN (1, 2)", row, T);
    expect_truth("t IN (6, 7)", row, T);
    expect_truth("s IN ('SUBMIT', 'FAIL')", row, T);
    expect_truth("s IN ('FAI', 'FAILED')", row, F);
    expect_truth("NOT s IN ('FAIL')", row, F);
    row[C_N] = ms_value_null();
    expect_truth("n IN (1, 2, 3)", row, U);
    expect_truth("n NOT IN (1, 2, 3)", row, U);
}

static void test_eval_where_null_expr_and_bad_row(void **state)
{
    (void)state;
    ms_value row[C_WIDTH];
    null_row(row);
    /* no WHERE: every row passes */
    assert_int_equal(ms_sql_eval_where(NULL, row), 1);
    /* a value that breaks its schema compares as UNKNOWN, never misread */
    row[C_N] = vstr("5");
    row[C_P] = ms_value_int(1);
    expect_truth("n = 5", row, MS_SQL_UNKNOWN);
    expect_truth("n IN (5)", row, MS_SQL_UNKNOWN);
    expect_truth("p", row, MS_SQL_UNKNOWN);
    expect_truth("p = TRUE", row, MS_SQL_UNKNOWN);
    row[C_D] = vdouble(NAN);
    expect_truth("d = d", row, MS_SQL_UNKNOWN);
}

/* ------------------------------------------------------------------ */
/* Canonical text                                                       */
/* ------------------------------------------------------------------ */

static char *canon(const char *text)
{
    ms_sql_program *p = parse_ok(text);
    char *c = strdup(one(p)->canonical);
    ms_sql_program_free(p);
    /* a fixed point: the canonical text parses to itself */
    ms_sql_program *p2 = NULL;
    if (ms_sql_parse(c, strlen(c), "canon", NULL, &p2, err, sizeof(err)) != 0)
        fail_msg("canonical text does not parse:\n%s\n%s", c, err);
    assert_string_equal(one(p2)->canonical, c);
    ms_sql_program_free(p2);
    return c;
}

static void assert_same(const char *a, const char *b)
{
    char *ca = canon(a), *cb = canon(b);
    if (strcmp(ca, cb) != 0)
        fail_msg("should be the same query:\n  %s\n  %s\n->%s\n->%s", a, b, ca, cb);
    free(ca);
    free(cb);
}

static void assert_differ(const char *a, const char *b)
{
    char *ca = canon(a), *cb = canon(b);
    if (strcmp(ca, cb) == 0)
        fail_msg("should differ:\n  %s\n  %s\n->%s", a, b, ca);
    free(ca);
    free(cb);
}

#define HOURLY                                                                                     \
    "SELECT window_start, window_end, scheduling_class, event_type, COUNT(*) AS events "           \
    "FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE "                          \
    "GROUP BY TUMBLE(time, INTERVAL '1' HOUR), scheduling_class, event_type EMIT APPEND"

static void test_canonical_text(void **state)
{
    (void)state;
    char *c = canon("SELECT word, COUNT(*) AS count FROM words GROUP BY word EMIT COMPLETE;");
    assert_string_equal(c, "CREATE QUERY \"t\" AS SELECT \"word\", COUNT(*) FROM words GROUP BY "
                           "\"word\" EMIT COMPLETE");
    free(c);
    c = canon(HOURLY);
    assert_string_equal(c, "CREATE QUERY \"t\" AS SELECT \"scheduling_class\", \"event_type\", "
                           "window_start, COUNT(*) FROM task_events WATERMARK FOR \"time\" AS "
                           "\"time\" - INTERVAL '10' MINUTE GROUP BY TUMBLE(\"time\", INTERVAL "
                           "'1' HOUR), \"scheduling_class\", \"event_type\" EMIT APPEND");
    free(c);
    c = canon("SELECT COUNT(*) FROM task_events WHERE NOT (user = 'a' OR NOT priority >= 2) "
              "AND NOT event_type NOT IN ('b', 'a', 'b') AND 3 < job_id");
    assert_string_equal(c, "CREATE QUERY \"t\" AS SELECT COUNT(*) FROM task_events WHERE "
                           "\"event_type\" IN ('a', 'b') AND \"job_id\" > 3 AND \"priority\" "
                           ">= 2 AND \"user\" <> 'a' EMIT COMPLETE");
    free(c);
}

static void test_canonical_same(void **state)
{
    (void)state;
    /* aliases, layout, comments, keyword case, TOPIC, output order */
    assert_same(HOURLY, "select window_end as we, scheduling_class AS c, event_type,\n"
                        "  count(*) /* all */ from TASK_EVENTS topic 'te' -- x\n"
                        "  watermark for \"time\" as time - interval '600' seconds\n"
                        "  group by scheduling_class, tumble(time, interval '60' minutes),\n"
                        "  event_type emit append ;");
    /* (the window may sit anywhere in GROUP BY; the columns' order matters) */
    assert_same("SELECT word, COUNT(*) FROM words GROUP BY word",
                "SELECT COUNT(*) AS n, word AS w FROM words GROUP BY word EMIT COMPLETE");
    /* duplicate aggregates are one */
    assert_same("SELECT word, COUNT(*) FROM words GROUP BY word",
                "SELECT word, COUNT(*) AS a, COUNT(*) AS b FROM words GROUP BY word");
    /* WHERE normal form */
    const char *base = "SELECT user, COUNT(*) FROM task_events WHERE ";
    static const char *const pairs[][2] = {
        {"priority > 1 AND user = 'x'", "user = 'x' AND (priority > 1)"},
        {"priority > 1 AND user = 'x'", "NOT (NOT user = 'x' OR priority <= 1)"},
        {"priority > 1 OR (user = 'x' OR job_id = 2)",
         "(job_id = 2 OR priority > 1) OR user = 'x'"},
        {"priority > 1", "1 < priority"},
        {"priority > 1", "priority > 1 AND priority > 1"},
        {"priority <> 1", "priority != 1"},
        {"priority <> 1", "NOT priority = 1"},
        {"event_type IN ('A', 'B')", "event_type IN ('B', 'A', 'B')"},
        {"event_type NOT IN ('A')", "NOT event_type IN ('A')"},
        {"user IS NOT NULL", "NOT user IS NULL"},
        {"cpu_request > 1", "cpu_request > 1.0"},
        {"cpu_request > 0.5", "cpu_request > 5e-1"},
        {"time > 60", "NOT NOT time > 60"},
        {"user = 'it''s'", "'it''s' = user"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char a[512], b[512];
        snprintf(a, sizeof(a), "%s%s GROUP BY user", base, pairs[i][0]);
        snprintf(b, sizeof(b), "%s%s GROUP BY user", base, pairs[i][1]);
        assert_same(a, b);
    }
    /* a csv schema with type synonyms */
    assert_same("SELECT a, SUM(b) FROM csv(a VARCHAR, b INT) GROUP BY a",
                "SELECT a, SUM(b) AS total FROM CSV(a STRING, b BIGINT) TOPIC 't' GROUP BY a");
}

static void test_canonical_differ(void **state)
{
    (void)state;
    static const char *const variants[] = {
        /* group column order */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, INTERVAL '1' HOUR), "
        "event_type, scheduling_class EMIT APPEND",
        /* window size */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, INTERVAL '2' HOUR), "
        "scheduling_class, event_type EMIT APPEND",
        /* HOP instead of TUMBLE */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE GROUP BY HOP(time, INTERVAL '1' HOUR, INTERVAL "
        "'1' HOUR), scheduling_class, event_type EMIT APPEND",
        /* watermark delay */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '11' MINUTE GROUP BY TUMBLE(time, INTERVAL '1' HOUR), "
        "scheduling_class, event_type EMIT APPEND",
        /* emit mode */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, INTERVAL '1' HOUR), "
        "scheduling_class, event_type EMIT UPDATE",
        /* another aggregate */
        "SELECT window_start, scheduling_class, event_type, COUNT(job_id) FROM task_events "
        "WATERMARK FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, INTERVAL '1' "
        "HOUR), scheduling_class, event_type EMIT APPEND",
        /* a WHERE */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM task_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE WHERE priority > 0 GROUP BY TUMBLE(time, "
        "INTERVAL '1' HOUR), scheduling_class, event_type EMIT APPEND",
        /* the other table */
        "SELECT window_start, scheduling_class, event_type, COUNT(*) FROM job_events WATERMARK "
        "FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, INTERVAL '1' HOUR), "
        "scheduling_class, event_type EMIT APPEND",
        /* the statement name */
        "CREATE QUERY other AS SELECT window_start, scheduling_class, event_type, COUNT(*) FROM "
        "task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE GROUP BY TUMBLE(time, "
        "INTERVAL '1' HOUR), scheduling_class, event_type EMIT APPEND",
    };
    size_t n = sizeof(variants) / sizeof(variants[0]);
    for (size_t i = 0; i < n; i++) {
        assert_differ(HOURLY, variants[i]);
        for (size_t j = i + 1; j < n; j++)
            assert_differ(variants[i], variants[j]);
    }
    /* aggregate order changes the state layout */
    assert_differ("SELECT word, COUNT(*), MIN(offset) FROM words GROUP BY word",
                  "SELECT word, MIN(offset), COUNT(*) FROM words GROUP BY word");
    /* WHERE constants, operators, declared types */
    assert_differ("SELECT user, COUNT(*) FROM task_events WHERE priority > 1 GROUP BY user",
                  "SELECT user, COUNT(*) FROM task_events WHERE priority >= 1 GROUP BY user");
    assert_differ("SELECT user, COUNT(*) FROM task_events WHERE user = 'a' GROUP BY user",
                  "SELECT user, COUNT(*) FROM task_events WHERE user = 'A' GROUP BY user");
    assert_differ("SELECT a, COUNT(*) FROM csv(a STRING, b BIGINT) GROUP BY a",
                  "SELECT a, COUNT(*) FROM csv(a STRING, b DOUBLE) GROUP BY a");
    assert_differ("SELECT a, COUNT(*) FROM csv(a STRING) GROUP BY a",
                  "SELECT a, COUNT(*) FROM json(a STRING) GROUP BY a");
}

static void test_canonical_colliding_default_names(void **state)
{
    (void)state;
    /* a group column named like an aggregate's default name still gives
     * a canonical text that parses (the fixed point is checked by canon) */
    char *c = canon("SELECT count, sum_n, COUNT(*) AS c1, SUM(n) AS c2 FROM "
                    "csv(count STRING, sum_n STRING, n BIGINT) GROUP BY count, sum_n");
    assert_non_null(strstr(c, "COUNT(*) AS \"count_0\""));
    assert_non_null(strstr(c, "SUM(\"n\") AS \"sum_n_1\""));
    free(c);
}

/* ------------------------------------------------------------------ */
/* CSV options                                                          */
/* ------------------------------------------------------------------ */

static const ms_csv_dialect *dialect_of(ms_sql_program *p)
{
    return &one(p)->schema->csv;
}

static void test_csv_options(void **state)
{
    (void)state;
    /* the default, with no WITH */
    ms_sql_program *p = parse_ok("SELECT a, COUNT(*) FROM csv(a STRING) GROUP BY a");
    const ms_csv_dialect *d = dialect_of(p);
    assert_int_equal(d->delimiter, ',');
    assert_int_equal(d->quote, '"');
    assert_int_equal(d->header, 0);
    assert_int_equal(d->check_header, 0);
    ms_sql_program_free(p);

    /* every option; names and boolean values in any case; TOPIC and
     * WATERMARK still follow */
    p = parse_ok("SELECT a, COUNT(*) FROM csv(a STRING, t TIMESTAMP) WITH ('HEADER' = 'True', "
                 "'Delimiter' = ';', 'quote' = '''', 'check-header' = 'TRUE') TOPIC 'x' "
                 "WATERMARK FOR t AS t - INTERVAL '1' SECOND GROUP BY a");
    d = dialect_of(p);
    assert_int_equal(d->delimiter, ';');
    assert_int_equal(d->quote, '\'');
    assert_int_equal(d->header, 1);
    assert_int_equal(d->check_header, 1);
    assert_string_equal(one(p)->topic, "x");
    assert_int_equal(one(p)->watermark.present, 1);
    ms_sql_program_free(p);

    /* Spark's 'sep'; escapes for a tab and other control characters;
     * '' turns quoting off; 'false' is the default */
    static const struct {
        const char *with;
        int delimiter, quote, header;
    } cases[] = {
        {"('sep' = '\\t')", '\t', '"', 0},
        {"('delimiter' = '\t')", '\t', '"', 0}, /* a tab written as itself */
        {"('delimiter' = '\\x01', 'quote' = '')", 1, -1, 0},
        {"('delimiter' = '\\u007c')", '|', '"', 0},
        {"('delimiter' = '\\', 'header' = 'false')", '\\', '"', 0},
        {"('quote' = ',', 'delimiter' = ';')", ';', ',', 0},
        {"('header' = 'true')", ',', '"', 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q), "SELECT a, COUNT(*) FROM csv(a STRING) WITH %s GROUP BY a",
                 cases[i].with);
        p = parse_ok(q);
        d = dialect_of(p);
        assert_int_equal(d->delimiter, cases[i].delimiter);
        assert_int_equal(d->quote, cases[i].quote);
        assert_int_equal(d->header, cases[i].header);
        ms_sql_program_free(p);
    }

    /* refusals other than those of the invalid-query table */
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('quote' = '\\x00') GROUP BY a");
    assert_non_null(strstr(err, "the quote is one ASCII character"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '') GROUP BY a");
    assert_non_null(strstr(err, "a delimiter is one ASCII character"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '\\xC3') GROUP BY a");
    assert_non_null(strstr(err, "a delimiter is one ASCII character"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('quote' = ',') GROUP BY a");
    assert_non_null(strstr(err, "t.sql:1:55: error: the quote and the delimiter must differ"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('header' = 'true' 'quote' = '')");
    assert_non_null(strstr(err, "expected ',' or ')' after a csv option"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) WITH () GROUP BY a");
    assert_non_null(strstr(err, "expected a csv option's name in quotes"));
    parse_err("SELECT a, COUNT(*) FROM csv(a STRING) TOPIC 't' WITH ('header' = 'true')");
    assert_non_null(strstr(err, "found 'WITH'"));
}

static void test_csv_options_canonical(void **state)
{
    (void)state;
    /* options at their default are no options; check-header changes no state */
    assert_same("SELECT a, COUNT(*) FROM csv(a STRING) GROUP BY a",
                "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('header' = 'false', 'sep' = ',', "
                "'quote' = '\"') GROUP BY a");
    assert_same("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('header' = 'true') GROUP BY a",
                "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('check-header' = 'true', 'header' "
                "= 'TRUE') GROUP BY a");
    assert_same("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '\\t') GROUP BY a",
                "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('sep' = '\t') GROUP BY a");
    assert_same("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '|') GROUP BY a",
                "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '\\x7C') GROUP BY a");
    /* each option changes the state */
    static const char *const variants[] = {
        "SELECT a, COUNT(*) FROM csv(a STRING) GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('header' = 'true') GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = ';') GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('delimiter' = '\\t') GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('quote' = '') GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('quote' = '''') GROUP BY a",
        "SELECT a, COUNT(*) FROM csv(a STRING) WITH ('header' = 'true', 'delimiter' = ';') "
        "GROUP BY a",
    };
    size_t n = sizeof(variants) / sizeof(variants[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_differ(variants[i], variants[j]);
    /* the text, in a fixed order, every kind of character written back */
    char *c = canon("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('quote' = '''', 'sep' = '\\x1f', "
                    "'header' = 'true', 'check-header' = 'true') GROUP BY a");
    assert_string_equal(c, "CREATE QUERY \"t\" AS SELECT \"a\", COUNT(*) FROM csv(\"a\" STRING) "
                           "WITH ('header' = 'true', 'delimiter' = '\\x1F', 'quote' = '''') "
                           "GROUP BY \"a\" EMIT COMPLETE");
    free(c);
    c = canon("SELECT a, COUNT(*) FROM csv(a STRING) WITH ('sep' = '\\t', 'quote' = '') "
              "GROUP BY a");
    assert_non_null(strstr(c, "WITH ('delimiter' = '\\t', 'quote' = '')"));
    free(c);
}

/* ------------------------------------------------------------------ */
/* Limits                                                               */
/* ------------------------------------------------------------------ */

static void test_limit_windows_per_row(void **state)
{
    (void)state;
    /* the HOPs people use, and exactly the limit */
    static const char *const ok[] = {
        "HOP(time, INTERVAL '1' MINUTE, INTERVAL '1' HOUR)",              /* 60 */
        "HOP(time, INTERVAL '1' MINUTE, INTERVAL '1' DAY)",               /* 1440 */
        "HOP(time, INTERVAL '10' SECOND, INTERVAL '1' DAY)",              /* 8640 */
        "HOP(time, INTERVAL '1' SECOND, INTERVAL '10000' SECOND)",        /* 10000 */
        "TUMBLE(time, INTERVAL '1' MICROSECOND)",                         /* 1: fine per row */
        "HOP(time, INTERVAL '1' MICROSECOND, INTERVAL '10' MILLISECOND)", /* 10000 */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q), "SELECT window_start, COUNT(*) FROM task_events GROUP BY %s", ok[i]);
        ms_sql_program_free(parse_ok(q));
    }
    parse_err("SELECT window_start, COUNT(*) FROM task_events GROUP BY "
              "HOP(time, INTERVAL '1' SECOND, INTERVAL '10001' SECOND)");
    assert_non_null(strstr(err, "t.sql:1:67: error: this HOP window adds every row to 10001 "
                                "windows"));
    /* 10001 = 73 * 137: the shortest slide that divides it within the limit */
    assert_non_null(strstr(err, "the shortest slide for this size is INTERVAL '73' SECOND (137 "
                                "windows per row)"));
    /* the largest ratio there is */
    parse_err("SELECT window_start, COUNT(*) FROM task_events GROUP BY "
              "HOP(time, INTERVAL '1' MICROSECOND, INTERVAL '9223372036854775807' MICROSECOND)");
    assert_non_null(strstr(err, "adds every row to 9223372036854775807 windows"));

    /* summed over the statements of a file: 5000 + 5000 is the limit */
#define TWO_HOPS(last_size)                                                                        \
    "CREATE QUERY a AS SELECT window_start, COUNT(*) FROM task_events GROUP BY "                   \
    "HOP(time, INTERVAL '1' SECOND, INTERVAL '5000' SECOND);\n"                                    \
    "CREATE QUERY b AS SELECT window_start, COUNT(*) FROM job_events GROUP BY "                    \
    "HOP(time, INTERVAL '1' SECOND, INTERVAL '" last_size "' SECOND);\n"                           \
    "CREATE QUERY c AS SELECT value, COUNT(*) FROM lines GROUP BY value"
    ms_sql_program *p = parse_ok(TWO_HOPS("4999"));
    assert_int_equal(p->nstmts, 3);
    ms_sql_program_free(p);
    /* one statement without a window is one more group update per row */
    parse_err(TWO_HOPS("5000"));
    assert_non_null(strstr(err, "t.sql:3:1: error: the statements up to this one add every input "
                                "row to 10001 windows together (this one: 1)"));
#undef TWO_HOPS
}

static void test_limit_statements(void **state)
{
    (void)state;
    ms_buf b = MS_BUF_INIT;
    for (int i = 0; i < MS_SQL_MAX_STATEMENTS; i++)
        ms_buf_printf(&b, "CREATE QUERY q%d AS SELECT value, COUNT(*) FROM lines GROUP BY value;\n",
                      i);
    ms_sql_program *p = NULL;
    int rc = ms_sql_parse(b.data, b.len, "t.sql", "t", &p, err, sizeof(err));
    if (rc != 0)
        fail_msg("%d statements refused: %s", MS_SQL_MAX_STATEMENTS, err);
    assert_int_equal(p->nstmts, MS_SQL_MAX_STATEMENTS);
    ms_sql_program_free(p);
    ms_buf_puts(&b, "CREATE QUERY one_more AS SELECT value, COUNT(*) FROM lines GROUP BY value");
    assert_int_equal(ms_sql_parse(b.data, b.len, "t.sql", "t", &p, err, sizeof(err)), MS_EINVAL);
    assert_null(p);
    char want[128];
    snprintf(want, sizeof(want), "t.sql:%d:1: error: a query file holds at most %d statements",
             MS_SQL_MAX_STATEMENTS + 1, MS_SQL_MAX_STATEMENTS);
    assert_non_null(strstr(err, want));
    ms_buf_free(&b);
}

/* docs/sql.md: every ```sql block parses, and the canonical text shown
 * there is the real one (the examples cannot rot). */
static void test_docs_examples(void **state)
{
    (void)state;
    const char *f = __FILE__, *slash = strrchr(f, '/');
    char path[4096];
    snprintf(path, sizeof(path), "%.*s/../../docs/sql.md", slash ? (int)(slash - f) : 1,
             slash ? f : ".");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof(doc) - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    int blocks = 0;
    for (char *b = strstr(doc, "```sql\n"); b; b = strstr(b, "```sql\n")) {
        b += 7;
        char *end = strstr(b, "```");
        assert_non_null(end);
        ms_sql_program *p = NULL;
        if (ms_sql_parse(b, (size_t)(end - b), "docs/sql.md", "doc", &p, err, sizeof(err)) != 0)
            fail_msg("docs example refused:\n%.*s\n%s", (int)(end - b), b, err);
        ms_sql_program_free(p);
        blocks++;
        b = end + 3;
    }
    assert_true(blocks >= 5);

    /* the canonical text of the hourly example, shown wrapped */
    char *hourly = strstr(doc, "-- queries/task_events_hourly.sql\n");
    char *shown = strstr(doc, "CREATE QUERY \"task_events_hourly\"");
    assert_non_null(hourly);
    assert_non_null(shown);
    char want[1024];
    size_t k = 0;
    for (const char *c = shown; *c && strncmp(c, "\n```", 4) != 0 && k + 1 < sizeof(want); c++)
        want[k++] = *c == '\n' ? ' ' : *c;
    want[k] = '\0';
    ms_sql_program *p = NULL;
    size_t len = (size_t)(strstr(hourly, "```") - hourly);
    assert_int_equal(
        ms_sql_parse(hourly, len, "docs/sql.md", "task_events_hourly", &p, err, sizeof(err)), 0);
    assert_string_equal(p->stmts[0].canonical, want);
    ms_sql_program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordcount),
        cmocka_unit_test(test_task_events_hourly),
        cmocka_unit_test(test_cluster_events_multi_statement),
        cmocka_unit_test(test_every_aggregate),
        cmocka_unit_test(test_same_aggregate_computed_once),
        cmocka_unit_test(test_hop_window_and_units),
        cmocka_unit_test(test_watermark_without_window),
        cmocka_unit_test(test_csv_and_json_columns),
        cmocka_unit_test(test_keywords_case_comments_quotes),
        cmocka_unit_test(test_where_precedence),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_error_format_exact),
        cmocka_unit_test(test_error_long_line_and_small_buffer),
        cmocka_unit_test(test_nul_byte_and_size_limit),
        cmocka_unit_test(test_eval_kleene_tables),
        cmocka_unit_test(test_eval_comparisons),
        cmocka_unit_test(test_eval_in),
        cmocka_unit_test(test_eval_where_null_expr_and_bad_row),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_canonical_same),
        cmocka_unit_test(test_canonical_differ),
        cmocka_unit_test(test_canonical_colliding_default_names),
        cmocka_unit_test(test_csv_options),
        cmocka_unit_test(test_csv_options_canonical),
        cmocka_unit_test(test_limit_windows_per_row),
        cmocka_unit_test(test_limit_statements),
        cmocka_unit_test(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
