#!/usr/bin/env python3
"""Generates the Grafana dashboards in grafana/dashboards/ (Python 3 stdlib).

    python3 grafana/gen_dashboards.py            # rewrite the JSON files
    python3 grafana/gen_dashboards.py --check    # exit 1 if a file differs

The JSON files are committed (Grafana's provisioning reads them as they are,
and they import as they are into any Grafana: Dashboards > New > Import);
this script is their source, so panels stay uniform: every panel has a unit
and a description, and every data source reference is the `datasource`
template variable (type prometheus, the default Prometheus unless picked), so
no data source uid is hard-coded.  tests/dashboards/ runs --check, so a hand
edit of a JSON file without the script fails the suite.

Conventions of the expressions (tests/dashboards/test_dashboards.py runs every
one of them against a real Prometheus scraping real mstream processes):
  * $job, $instance and $query are multi-value template variables with "All";
    Grafana substitutes a regex alternation, so they are always matched with =~.
    The scrape job is never spelled out: it is whatever the user's Prometheus
    calls it ($job lists the jobs that have mstream_build_info).
  * rates use $__rate_interval (at least four scrape intervals).
  * result families are named mstream_<statement>_<alias> (src/http/ms_prom.c):
    mstream_wordcount_count_total{word}, mstream_task_events_by_class_events_total
    {scheduling_class,event_type}, the windowed mstream_task_events_hourly_events.
  * Kafka series (mstream_kafka_partition_*) exist only when mstream reads Kafka.
  * rate() only on counters (*_total, histogram buckets); a gauge that moves
    (mstream_kafka_partition_offset) goes through deriv().
  * time units: durations "s"/"ms", points in time (watermark, window start;
    mstream exports them in seconds since the epoch) "dateTimeAsIso" on the
    value * 1000 (Grafana's date units take milliseconds).
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")

INST = 'job=~"$job", instance=~"$instance"'
INSTQ = 'job=~"$job", instance=~"$instance", query=~"$query"'
RI = "[$__rate_interval]"


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w, h):
        if self.x + w > 24:
            self.newline()
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def newline(self):
        if self.x:
            self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def pid(self):
        i = self.next_id
        self.next_id += 1
        return i


def target(expr, legend="", ref="A", instant=False, fmt=None):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend,
         "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def _targets(exprs):
    out = []
    for i, e in enumerate(exprs):
        if isinstance(e, str):
            e = (e, "")
        out.append(target(e[0], e[1], ref=chr(ord("A") + i)))
    return out


def row(lay, title):
    lay.newline()
    p = {"id": lay.pid(), "type": "row", "title": title, "collapsed": False,
         "gridPos": lay.place(24, 1), "panels": []}
    lay.newline()
    return p


def timeseries(lay, title, desc, unit, exprs, w=12, h=8, stack=False, min0=True):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 25 if stack else 10,
              "showPoints": "never", "spanNulls": True,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults = {"unit": unit, "custom": custom}
    if min0:
        defaults["min"] = 0
    return {"id": lay.pid(), "type": "timeseries", "title": title, "description": desc,
            "datasource": DS, "gridPos": lay.place(w, h),
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "table" if stack else "list",
                                   "placement": "bottom", "calcs": ["lastNotNull"] if stack else []},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
            "targets": _targets(exprs)}


def stat(lay, title, desc, unit, expr, legend="", w=4, h=4, thresholds=None, mappings=None,
         decimals=None):
    defaults = {"unit": unit,
                "thresholds": {"mode": "absolute",
                               "steps": thresholds or [{"color": "green", "value": None}]},
                "mappings": mappings or []}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {"id": lay.pid(), "type": "stat", "title": title, "description": desc,
            "datasource": DS, "gridPos": lay.place(w, h),
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto",
                        "justifyMode": "auto", "orientation": "auto"},
            "targets": [target(expr, legend)]}


def table(lay, title, desc, unit, expr, w=12, h=9, value_name="Value", sort_by=None):
    return {"id": lay.pid(), "type": "table", "title": title, "description": desc,
            "datasource": DS, "gridPos": lay.place(w, h),
            "fieldConfig": {"defaults": {"unit": unit, "custom": {"align": "auto"}},
                            "overrides": []},
            "options": {"showHeader": True,
                        "sortBy": [{"displayName": sort_by or value_name, "desc": True}]},
            "transformations": [
                {"id": "organize", "options": {"excludeByName": {"Time": True},
                                               "renameByName": {"Value": value_name}}}],
            "targets": [target(expr, "", instant=True, fmt="table")]}


def bargauge(lay, title, desc, unit, expr, legend, w=12, h=12):
    return {"id": lay.pid(), "type": "bargauge", "title": title, "description": desc,
            "datasource": DS, "gridPos": lay.place(w, h),
            "fieldConfig": {"defaults": {"unit": unit, "min": 0,
                                         "color": {"mode": "continuous-BlYlRd"},
                                         "thresholds": {"mode": "absolute", "steps": [
                                             {"color": "green", "value": None}]}},
                            "overrides": []},
            "options": {"orientation": "horizontal", "displayMode": "gradient",
                        "showUnfilled": True,
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False}},
            "targets": [target(expr, legend, instant=True)]}


def var_query(name, label, query, desc, regex=""):
    return {"name": name, "label": label, "description": desc, "type": "query",
            "datasource": DS, "query": {"query": query, "refId": "StandardVariableQuery"},
            "definition": query, "refresh": 2, "regex": regex, "sort": 1, "multi": True,
            "includeAll": True, "current": {"selected": True, "text": ["All"],
                                             "value": ["$__all"]},
            "options": [], "hide": 0}


def var_custom(name, label, values, current, desc):
    return {"name": name, "label": label, "description": desc, "type": "custom",
            "query": ",".join(values), "multi": False, "includeAll": False,
            "current": {"selected": True, "text": current, "value": current},
            "options": [{"selected": v == current, "text": v, "value": v} for v in values],
            "hide": 0}


VAR_DATASOURCE = {"name": "datasource", "label": "data source", "type": "datasource",
                  "description": "The Prometheus that scrapes mstream (the default Prometheus "
                                 "data source unless another is picked).",
                  "query": "prometheus", "regex": "", "refresh": 1, "multi": False,
                  "includeAll": False, "current": {}, "options": [], "hide": 0}
VAR_JOB = var_query("job", "job", "label_values(mstream_build_info, job)",
                    "Prometheus scrape jobs of mstream processes (the jobs that have "
                    "mstream_build_info).")
VAR_INSTANCE = var_query("instance", "instance",
                         'label_values(mstream_build_info{job=~"$job"}, instance)',
                         "mstream processes (Prometheus targets, HOST:PORT).")
VAR_QUERY = var_query("query", "query",
                      'label_values(mstream_state_entries{job=~"$job", instance=~"$instance"}, '
                      'query)',
                      "Statements of the selected processes' queries (the query label).")


def dashboard(uid, title, desc, tags, panels, variables, refresh="5s", time_from="now-15m"):
    return {
        "uid": uid, "title": title, "description": desc, "tags": tags,
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "timezone": "", "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana",
                                                               "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "mstream", "type": "dashboards", "tags": ["mstream"],
                   "asDropdown": False, "includeVars": True, "keepTime": True}],
        "templating": {"list": variables},
        "panels": panels,
    }


def quantiles(metric, by="instance"):
    return [("histogram_quantile(%s, sum by (le, %s) (rate(%s_bucket{%s}%s)))"
             % (q, by, metric, INST, RI), "p%s {{%s}}" % (p, by))
            for q, p in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))]


# --------------------------------------------------------------------------
# Engine

def engine():
    L = Layout()
    P = []
    P.append(row(L, "Overview"))
    P.append(stat(L, "Up", "1 while Prometheus scrapes the process (up), per mstream target.",
                  "none", "up{%s}" % INST, "{{instance}}",
                  thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
                  mappings=[{"type": "value", "options": {
                      "0": {"text": "down", "color": "red"}, "1": {"text": "up",
                                                                  "color": "green"}}}]))
    P.append(stat(L, "Ready", "1 once recovery from the checkpoint is done (mstream_ready; "
                  "/readyz answers 200 then).", "none", "mstream_ready{%s}" % INST,
                  "{{instance}}",
                  thresholds=[{"color": "orange", "value": None}, {"color": "green", "value": 1}],
                  mappings=[{"type": "value", "options": {
                      "0": {"text": "recovering", "color": "orange"},
                      "1": {"text": "ready", "color": "green"}}}]))
    P.append(stat(L, "Last committed batch age",
                  "Seconds since the last batch was committed to the checkpoint "
                  "(time() - mstream_last_commit_timestamp_seconds). Grows while no input "
                  "arrives or when the engine is stuck.", "s",
                  "time() - (mstream_last_commit_timestamp_seconds{%s} > 0)" % INST,
                  "{{instance}}",
                  thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 60},
                              {"color": "red", "value": 300}], decimals=1))
    P.append(stat(L, "Last committed batch", "Id of the last committed batch "
                  "(mstream_last_committed_batch_id; -1 before the first).", "none",
                  "mstream_last_committed_batch_id{%s}" % INST, "{{instance}}"))
    P.append(stat(L, "Recovery time", "Time spent at start-up opening the checkpoint and "
                  "loading the state (mstream_recovery_seconds).", "s",
                  "mstream_recovery_seconds{%s}" % INST, "{{instance}}"))
    P.append(stat(L, "Batches replayed", "Batches re-run at start-up from a plan persisted "
                  "before a crash (mstream_batches_replayed_total): exactly-once recovery at "
                  "work.", "none", "mstream_batches_replayed_total{%s}" % INST, "{{instance}}"))
    P.append(stat(L, "Alerts firing", "mstream's alerting rules (prometheus/alerts.yml: down, no "
                  "batch committed while input waits, Kafka lag growing, malformed or late rows "
                  "rising, Kafka data loss) firing for the selected processes, from Prometheus's "
                  "ALERTS series; 0 when none fire (or when this Prometheus does not load the "
                  "rules). Prometheus lists them at /alerts; docs/operations.md says what each "
                  "means.", "none",
                  'count(ALERTS{alertstate="firing", alertname=~"Mstream.*", %s}) or vector(0)'
                  % INST, w=8,
                  thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]))
    P.append(table(L, "Versions", "Version of mstream and of the RocksDB and librdkafka it was "
                   "built with, per process (the labels of mstream_build_info).", "none",
                   "max by (instance, version, rocksdb, librdkafka) (mstream_build_info{%s})"
                   % INST, w=16, h=4, value_name="build_info"))

    P.append(row(L, "Batches"))
    P.append(timeseries(L, "Batch rate", "Micro-batches committed per second "
                        "(rate of mstream_batches_total).", "suffix: batches/s",
                        [("sum by (instance) (rate(mstream_batches_total{%s}%s))" % (INST, RI),
                          "{{instance}}")]))
    P.append(timeseries(L, "Batch duration percentiles", "Duration of a batch from planning "
                        "to publishing, 50th/90th/99th percentile over the rate window "
                        "(mstream_batch_duration_seconds histogram).", "s",
                        quantiles("mstream_batch_duration_seconds")))
    P.append(timeseries(L, "Input vs processed rows/s per source",
                        "Input rate (rows over the time since the previous batch started) and "
                        "processing rate (rows over the batch duration) of the last batch, per "
                        "source, as in Spark's StreamingQueryProgress; the dashed line is the "
                        "rate of mstream_input_rows_total over the rate window. Processing "
                        "above input means the engine keeps up.", "suffix: rows/s",
                        [("sum by (instance, source) (mstream_input_rows_per_second{%s})" % INST,
                          "input {{source}} {{instance}}"),
                         ("sum by (instance, source) (mstream_processed_rows_per_second{%s})"
                          % INST, "processed {{source}} {{instance}}"),
                         ("sum by (instance, source) (rate(mstream_input_rows_total{%s}%s))"
                          % (INST, RI), "read {{source}} {{instance}}")], w=16))
    P.append(timeseries(L, "Input bytes/s", "Bytes read per second per source "
                        "(rate of mstream_input_bytes_total).", "Bps",
                        [("sum by (instance, source) (rate(mstream_input_bytes_total{%s}%s))"
                          % (INST, RI), "{{source}} {{instance}}")], w=8))

    P.append(row(L, "Kafka"))
    P.append(timeseries(L, "Kafka lag per partition", "Messages between the offset the "
                        "engine has committed and the partition's high watermark "
                        "(mstream_kafka_partition_lag). Only when mstream reads Kafka.",
                        "short",
                        [("sum by (topic, partition) (mstream_kafka_partition_lag{%s})" % INST,
                          "{{topic}}/{{partition}}")]))
    P.append(timeseries(L, "Kafka messages/s per partition", "Rate at which the committed "
                        "offset of each partition advances: deriv() of the gauge "
                        "mstream_kafka_partition_offset (a gauge, not a counter: it moves back "
                        "when a topic is re-created). Only when mstream reads Kafka.",
                        "suffix: msg/s",
                        [("sum by (topic, partition) (clamp_min(deriv("
                          "mstream_kafka_partition_offset{%s}%s), 0))"
                          % (INST, RI), "{{topic}}/{{partition}}")]))

    P.append(row(L, "Group mode (several instances, one --application-id)"))
    P.append(timeseries(L, "Partitions owned per instance", "Input partitions (stage 1) and "
                        "repartition partitions, one task per query each (stage 2), that each "
                        "instance of a consumer group owns (mstream_group_partitions_owned); "
                        "stacked, the sum is every partition of the group. Only in group mode.",
                        "short",
                        [("sum by (instance, role) (mstream_group_partitions_owned{%s})" % INST,
                          "{{role}} {{instance}}")], w=8, stack=True))
    P.append(timeseries(L, "Rebalances/s by event", "Partitions assigned, revoked (the batch in "
                        "flight is committed first) and lost (taken away after the session "
                        "timed out: the batch is abandoned), summed over the instances (rate of "
                        "mstream_group_rebalances_total). Only in group mode.", "suffix: /s",
                        [("sum by (event) (rate(mstream_group_rebalances_total{%s}%s))"
                          % (INST, RI), "{{event}}")], w=8))
    P.append(timeseries(L, "Transactions/s by outcome", "Kafka transactions (one per "
                        "micro-batch) committed and aborted, summed over the instances, and "
                        "instances that found themselves fenced (a zombie whose transaction the "
                        "group refused) (rates of mstream_group_transactions_total, "
                        "mstream_group_fenced_total). Only in group mode.", "suffix: /s",
                        [("sum by (outcome) (rate(mstream_group_transactions_total{%s}%s))"
                          % (INST, RI), "{{outcome}}"),
                         ("sum(rate(mstream_group_fenced_total{%s}%s))" % (INST, RI),
                          "fenced")], w=8))
    P.append(timeseries(L, "Transaction commit latency percentiles", "Time to commit a "
                        "batch's transaction (flush its records, add the offsets, commit), "
                        "50th/90th/99th percentile over every instance of the group "
                        "(mstream_group_transaction_commit_seconds histogram). Only in group "
                        "mode.", "s",
                        [("histogram_quantile(%s, sum by (le) (rate("
                          "mstream_group_transaction_commit_seconds_bucket{%s}%s)))"
                          % (q, INST, RI), "p%s" % pc)
                         for q, pc in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))], w=8))
    P.append(timeseries(L, "Restore", "Changelog records replayed into the state by "
                        "restores per second, summed over the instances (rate of "
                        "mstream_group_restore_records_total), the rate of the latest finished "
                        "restore per instance (mstream_group_restore_records_per_second), and "
                        "the records restoring tasks have still to read "
                        "(mstream_group_restore_records_remaining). Only in group mode.",
                        "suffix: records/s",
                        [("sum(rate(mstream_group_restore_records_total{%s}%s))" % (INST, RI),
                          "replayed/s"),
                         ("max by (instance) (mstream_group_restore_records_per_second{%s})"
                          % INST, "last restore {{instance}}"),
                         ("sum(mstream_group_restore_records_remaining{%s})" % INST,
                          "remaining")], w=8))
    P.append(timeseries(L, "Internal topic bytes/s by role", "Bytes written to the "
                        "repartition, changelog and output topics, summed over the instances "
                        "(rate of mstream_group_produced_bytes_total); against the input bytes/s "
                        "this is the cost of group mode. Only in group mode.", "Bps",
                        [("sum by (role) (rate(mstream_group_produced_bytes_total{%s}%s))"
                          % (INST, RI), "{{role}}")], w=8))

    P.append(row(L, "Checkpoint"))
    P.append(timeseries(L, "Commit latency percentiles", "Duration of the one synced RocksDB "
                        "write batch that commits a batch, 50th/90th/99th percentile "
                        "(mstream_commit_duration_seconds histogram).", "s",
                        quantiles("mstream_commit_duration_seconds"), w=8))
    P.append(timeseries(L, "Commit bytes/s", "Bytes written to the checkpoint by commits "
                        "(rate of mstream_commit_bytes_total); follows the state that changes, "
                        "not the state size.", "Bps",
                        [("sum by (instance) (rate(mstream_commit_bytes_total{%s}%s))"
                          % (INST, RI), "{{instance}}")], w=8))
    P.append(timeseries(L, "Commit keys/s", "State entries and positions written or deleted "
                        "by commits per second (rate of mstream_commit_keys_total).",
                        "suffix: keys/s",
                        [("sum by (instance) (rate(mstream_commit_keys_total{%s}%s))"
                          % (INST, RI), "{{instance}}")], w=8))

    P.append(row(L, "State"))
    P.append(timeseries(L, "State entries", "Groups held in each statement's state "
                        "(mstream_state_entries).", "short",
                        [("sum by (instance, query) (mstream_state_entries{%s})" % INSTQ,
                          "{{query}} {{instance}}")], w=8))
    P.append(timeseries(L, "State bytes", "Memory held by each statement's state "
                        "(mstream_state_bytes).", "bytes",
                        [("sum by (instance, query) (mstream_state_bytes{%s})" % INSTQ,
                          "{{query}} {{instance}}")], w=8))
    P.append(timeseries(L, "Result series on /metrics", "Result rows exported on /metrics "
                        "per statement against the --top-k cap (mstream_results_exported_series, "
                        "mstream_results_topk_limit) and the groups of the full result table "
                        "(mstream_results_groups, all of them at /api/v1/results).", "short",
                        [("sum by (instance, query) (mstream_results_exported_series{%s})"
                          % INSTQ, "exported {{query}} {{instance}}"),
                         ("max by (instance, query) (mstream_results_topk_limit{%s})" % INSTQ,
                          "cap {{query}} {{instance}}"),
                         ("sum by (instance, query) (mstream_results_groups{%s})" % INSTQ,
                          "groups {{query}} {{instance}}")], w=8))
    P.append(timeseries(L, "Watermark (trace time)", "Event-time watermark of windowed "
                        "statements (mstream_watermark_seconds), in trace time since the "
                        "trace's origin. Absent for statements without a watermark.",
                        "dateTimeAsIso",
                        [("max by (instance, query) (mstream_watermark_seconds{%s}) * 1000" % INSTQ,
                          "{{query}} {{instance}}")], w=12, min0=False))
    P.append(timeseries(L, "Rows aggregated and filtered/s", "Rows each statement aggregated "
                        "(passed WHERE, not late; mstream_query_rows_total) and rows its WHERE "
                        "dropped (mstream_query_rows_filtered_total), per second.",
                        "suffix: rows/s",
                        [("sum by (instance, query) (rate(mstream_query_rows_total{%s}%s))"
                          % (INSTQ, RI), "aggregated {{query}} {{instance}}"),
                         ("sum by (instance, query) (rate(mstream_query_rows_filtered_total{%s}%s))"
                          % (INSTQ, RI), "filtered {{query}} {{instance}}")], w=12))

    P.append(row(L, "Dropped rows"))
    P.append(timeseries(L, "Late rows dropped/s", "Rows dropped because their event time was "
                        "behind the watermark (rate of mstream_late_rows_dropped_total).",
                        "suffix: rows/s",
                        [("sum by (instance, query) (rate(mstream_late_rows_dropped_total{%s}%s))"
                          % (INSTQ, RI), "{{query}} {{instance}}")], w=8))
    P.append(timeseries(L, "Malformed rows/s by reason", "Rows (or words) a statement's parser "
                        "rejected, by reason (rate of mstream_malformed_rows_total). Over a "
                        "directory that holds both trace tables, each cluster statement counts "
                        "the other table's lines as wrong_column_count.", "suffix: rows/s",
                        [("sum by (query, reason) (rate(mstream_malformed_rows_total{%s}%s))"
                          % (INSTQ, RI), "{{query}} {{reason}}")], w=8, stack=True))
    P.append(timeseries(L, "Files rejected/s by reason", "Input files (or planned ranges) the "
                        "directory source rejected: binary, unreadable, vanished (rate of "
                        "mstream_source_files_rejected_total).", "suffix: files/s",
                        [("sum by (instance, reason) "
                          "(rate(mstream_source_files_rejected_total{%s}%s))" % (INST, RI),
                          "{{reason}} {{instance}}")], w=8))

    P.append(row(L, "Process"))
    P.append(timeseries(L, "CPU", "CPU time used per second of wall time, user and system "
                        "(rate of process_cpu_seconds_total); 100% is one core.", "percentunit",
                        [("rate(process_cpu_seconds_total{%s}%s)" % (INST, RI),
                          "{{instance}}")], w=8))
    P.append(timeseries(L, "Resident memory", "Resident set size of the process "
                        "(process_resident_memory_bytes).", "bytes",
                        [("process_resident_memory_bytes{%s}" % INST,
                          "{{instance}}")], w=8))
    P.append(timeseries(L, "Open file descriptors", "Open file descriptors against the limit "
                        "(process_open_fds, process_max_fds).", "short",
                        [("process_open_fds{%s}" % INST, "open {{instance}}"),
                         ("process_max_fds{%s}" % INST, "limit {{instance}}")],
                        w=8))
    return dashboard("mstream-engine", "mstream / Engine",
                     "Health of mstream processes: batches, rates, Kafka lag, checkpoint "
                     "commits, state, dropped rows, CPU and memory.",
                     ["mstream"], P, [VAR_DATASOURCE, VAR_JOB, VAR_INSTANCE, VAR_QUERY])


# --------------------------------------------------------------------------
# Cluster events

def cluster_events():
    L = Layout()
    P = []
    P.append(row(L, "Events per second"))
    for table_, what in (("task", "Task"), ("job", "Job")):
        fam = "mstream_%s_events_by_class_events_total" % table_
        P.append(timeseries(L, "%s events/s by scheduling class" % what,
                            "%s events counted per second, stacked by scheduling class (0..3, "
                            "3 = most latency-sensitive); rate of %s." % (what, fam),
                            "suffix: events/s",
                            [("sum by (scheduling_class) (rate(%s{%s}%s))" % (fam, INST, RI),
                              "class {{scheduling_class}}")], stack=True))
        P.append(timeseries(L, "%s events/s by event type" % what,
                            "%s events counted per second, stacked by event type (SUBMIT, "
                            "SCHEDULE, EVICT, FAIL, FINISH, KILL, LOST, UPDATE_PENDING, "
                            "UPDATE_RUNNING); rate of %s." % (what, fam), "suffix: events/s",
                            [("sum by (event_type) (rate(%s{%s}%s))" % (fam, INST, RI),
                              "{{event_type}}")], stack=True))
    P.append(row(L, "Totals"))
    for table_, what in (("task", "Task"), ("job", "Job")):
        fam = "mstream_%s_events_by_class_events_total" % table_
        P.append(stat(L, "%s events counted" % what, "All %s events counted since the "
                      "checkpoint was created (sum of %s)." % (table_, fam), "short",
                      "sum(%s{%s})" % (fam, INST), w=12, h=4))
    for table_, what in (("task", "Task"), ("job", "Job")):
        fam = "mstream_%s_events_by_class_events_total" % table_
        P.append(table(L, "%s events by class and type" % what,
                       "Running totals per scheduling class and event type (%s; the top-K "
                       "groups, all of them at /api/v1/results?query=%s_events_by_class)."
                       % (fam, table_), "short",
                       "sum by (scheduling_class, event_type) (%s{%s})" % (fam, INST),
                       value_name="events", h=12))
    P.append(row(L, "Latest hourly window (windowed queries)"))
    P.append(stat(L, "Latest closed window start", "Start of the latest hourly window the "
                  "watermark closed (mstream_query_last_closed_window_start_seconds), as a date: "
                  "the cluster trace counts its microseconds from 1970-01-01, so trace day 3 "
                  "reads 1970-01-03. Only when a windowed query (task_events_hourly, "
                  "job_events_hourly) runs.", "dateTimeAsIso",
                  "max by (query) (mstream_query_last_closed_window_start_seconds{%s}) * 1000"
                  % INSTQ, "{{query}}", w=8))
    P.append(stat(L, "Watermark", "Event-time watermark of the windowed statements "
                  "(mstream_watermark_seconds): the latest event time minus the watermark "
                  "delay, as a date (trace time counts from 1970-01-01).",
                  "dateTimeAsIso", "max by (query) (mstream_watermark_seconds{%s}) * 1000" % INSTQ,
                  "{{query}}", w=8))
    P.append(stat(L, "Late rows dropped", "Rows behind the watermark, dropped and counted "
                  "(mstream_late_rows_dropped_total) by the windowed statements.", "short",
                  "sum by (query) (mstream_late_rows_dropped_total{%s} and on (job, instance, "
                  "query) mstream_watermark_seconds)" % INSTQ, "{{query}}", w=8))
    for table_, what in (("task", "Task"), ("job", "Job")):
        fam = "mstream_%s_events_hourly_events" % table_
        P.append(bargauge(L, "%s events in the latest closed hour" % what,
                          "Rows of the latest hourly window the watermark closed, by scheduling "
                          "class and event type (%s, from --query %s_events_hourly)."
                          % (fam, table_), "short",
                          "sum by (scheduling_class, event_type) (%s{%s})" % (fam, INST),
                          "class {{scheduling_class}} {{event_type}}"))
    return dashboard("mstream-cluster-events", "mstream / Cluster events",
                     "Google cluster-trace task and job events by scheduling class and event "
                     "type (queries cluster_events, *_by_class and *_hourly).",
                     ["mstream", "cluster-trace"], P,
                     [VAR_DATASOURCE, VAR_JOB, VAR_INSTANCE, VAR_QUERY])


# --------------------------------------------------------------------------
# Word count

def wordcount():
    L = Layout()
    P = []
    inst_var = var_query("instance", "instance",
                         'label_values(mstream_wordcount_count_total{job=~"$job"}, instance)',
                         "mstream processes running the word count (Prometheus targets).")
    q_var = var_query("query", "query",
                      'label_values(mstream_results_groups{job=~"$job", instance=~"$instance"}, '
                      'query)',
                      "Statements of the selected processes (wordcount).", regex="/word/")
    topn = var_custom("topn", "top N", ["10", "20", "50", "100"], "20",
                      "How many words the top-N panels show (at most --top-k, which caps the "
                      "series on /metrics).")
    P.append(stat(L, "Distinct words", "Groups (distinct words) in the full result table "
                  "(mstream_results_groups), not capped by --top-k.", "short",
                  "sum(mstream_results_groups{%s})" % INSTQ, w=6))
    P.append(stat(L, "Words counted", "Words counted since the checkpoint was created "
                  "(mstream_query_rows_total).", "short",
                  "sum(mstream_query_rows_total{%s})" % INSTQ, w=6))
    P.append(stat(L, "Words/s", "Words counted per second over the rate window "
                  "(rate of mstream_query_rows_total).", "suffix: words/s",
                  "sum(rate(mstream_query_rows_total{%s}%s))" % (INSTQ, RI), w=6, decimals=1))
    P.append(stat(L, "Words too long", "Words longer than --max-word-bytes, dropped and "
                  "counted (mstream_malformed_rows_total{reason=\"word_too_long\"}).", "short",
                  'sum(mstream_malformed_rows_total{%s, reason="word_too_long"})' % INSTQ, w=6))
    P.append(bargauge(L, "Top $topn words", "The $topn most frequent words and their counts "
                      "(topk of mstream_wordcount_count_total; /metrics carries the --top-k "
                      "largest, the full table is at /api/v1/results?query=wordcount).", "short",
                      "topk($topn, sum by (word) (mstream_wordcount_count_total{%s}))" % INST,
                      "{{word}}", w=12, h=16))
    P.append(timeseries(L, "Words/s (all and top $topn)", "Words counted per second: all of "
                        "them (rate of mstream_query_rows_total) and the $topn most frequent "
                        "ones (rate of mstream_wordcount_count_total).", "suffix: words/s",
                        [("sum(rate(mstream_query_rows_total{%s}%s))" % (INSTQ, RI), "all words"),
                         ("topk($topn, sum by (word) (rate(mstream_wordcount_count_total{%s}%s)))"
                          % (INST, RI), "{{word}}")], w=12, h=8))
    P.append(timeseries(L, "Distinct words over time", "Distinct words in the result table "
                        "(mstream_results_groups) against the series exported on /metrics "
                        "(mstream_results_exported_series, at most --top-k).", "short",
                        [("sum(mstream_results_groups{%s})" % INSTQ, "distinct words"),
                         ("sum(mstream_results_exported_series{%s})" % INSTQ,
                          "exported series")], w=12, h=8))
    L.newline()
    P.append(table(L, "Top $topn words (table)", "The $topn most frequent words "
                   "(topk of mstream_wordcount_count_total), sortable.", "short",
                   "topk($topn, sum by (word) (mstream_wordcount_count_total{%s}))" % INST,
                   w=12, h=12, value_name="count"))
    P.append(timeseries(L, "Input lines/s", "Lines read from the watched directory per second "
                        "(rate of mstream_input_rows_total).", "suffix: lines/s",
                        [("sum by (instance) (rate(mstream_input_rows_total{%s}%s))"
                          % (INST, RI), "{{instance}}")], w=12, h=12))
    return dashboard("mstream-wordcount", "mstream / Word count",
                     "The word-count query: top-N words, distinct words, words per second.",
                     ["mstream", "wordcount"], P, [VAR_DATASOURCE, VAR_JOB, inst_var, q_var, topn])


DASHBOARDS = {"engine.json": engine, "cluster-events.json": cluster_events,
              "wordcount.json": wordcount}


def render(fn):
    return json.dumps(fn(), indent=2, sort_keys=False) + "\n"


def main(argv):
    check = "--check" in argv
    bad = []
    os.makedirs(OUT, exist_ok=True)
    for name, fn in DASHBOARDS.items():
        path = os.path.join(OUT, name)
        text = render(fn)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    cur = f.read()
            except OSError:
                cur = None
            if cur != text:
                bad.append(path)
        else:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
            print("wrote", path)
    if bad:
        print("out of date (run python3 grafana/gen_dashboards.py): " + ", ".join(bad))
        return 1
    if check:
        print("dashboards up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
