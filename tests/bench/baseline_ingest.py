#!/usr/bin/env python3
"""Owns the Python baseline of the ingest benchmark: what a user would write
instead of perfkit, with `json` + `pyarrow`.

It does the same normalization as `perfkit ingest` for a v2 Rally report
(`rally task report --json`) and writes the same three tables as zstd
Parquet files into an output directory:

* samples.parquet: one row per iteration (`action` "total", depth 0,
  duration + idle_duration, error type/message/traceback) and one per
  atomic action at every depth (path "a > b", depth, occurrence of the
  same path within the iteration, finished_at - started_at, failed flag);
* workloads.parquet: one row per workload with its identity (key and
  config hash as perfkit's schema defines them), config as JSON, counts
  recomputed from the raw data, SLA results, hook failures, context error
  and median/p90/p95/min/max/mean of the iteration durations (Rally's
  percentile interpolation);
* builds.parquet: one row for the file.

Written plainly and reasonably efficiently: `json.load` of the whole file,
loops appending to one Python list per column, then `pa.table(...)` with
the archive's schema and `pq.write_table(compression="zstd")`. The old
`rally task results` format is not handled (the benchmark only uses v2).

Usage:
    baseline_ingest.py FILE --out DIR [--project P] [--build ID] [--job J]
Prints one JSON line: {"workloads", "iterations", "failed_iterations", "sample_rows"}.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")

SAMPLES = pa.schema([
    ("build_id", pa.string()), ("workload_key", pa.string()), ("workload_index", pa.uint32()),
    ("iteration", pa.uint32()), ("action", pa.string()), ("depth", pa.uint8()),
    ("occurrence", pa.uint16()), ("duration_s", pa.float64()), ("idle_duration_s", pa.float64()),
    ("started_at", TS), ("failed", pa.bool_()), ("error_type", pa.string()),
    ("error_message", pa.string()), ("error_traceback", pa.string()),
])

WORKLOADS = pa.schema([
    ("build_id", pa.string()), ("workload_index", pa.uint32()), ("workload_key", pa.string()),
    ("config_hash", pa.string()), ("task_index", pa.uint32()), ("task_uuid", pa.string()),
    ("task_status", pa.string()), ("subtask_index", pa.uint32()), ("subtask_title", pa.string()),
    ("position", pa.uint32()), ("scenario", pa.string()), ("description", pa.string()),
    ("runner_type", pa.string()), ("runner_times", pa.uint64()), ("runner_concurrency", pa.uint64()),
    ("runner_json", pa.string()), ("args_json", pa.string()), ("contexts_json", pa.string()),
    ("sla_json", pa.string()), ("hooks_json", pa.string()), ("start_time", TS),
    ("load_duration_s", pa.float64()), ("full_duration_s", pa.float64()),
    ("iterations", pa.uint64()), ("failed_iterations", pa.uint64()), ("pass_sla", pa.bool_()),
    ("sla_results_json", pa.string()), ("sla_failed", pa.list_(pa.string())),
    ("context_error", pa.string()), ("hooks_failed", pa.uint32()),
    ("duration_min_s", pa.float64()), ("duration_median_s", pa.float64()),
    ("duration_p90_s", pa.float64()), ("duration_p95_s", pa.float64()),
    ("duration_max_s", pa.float64()), ("duration_mean_s", pa.float64()),
])

BUILDS = pa.schema([
    ("build_id", pa.string()), ("gerrit_project", pa.string()), ("gerrit_change", pa.uint64()),
    ("gerrit_patchset", pa.uint32()), ("ref", pa.string()), ("newrev", pa.string()),
    ("branch", pa.string()), ("tag", pa.string()), ("pipeline", pa.string()), ("job", pa.string()),
    ("zuul_build", pa.string()), ("buildset", pa.string()), ("tenant", pa.string()),
    ("change_url", pa.string()), ("log_url", pa.string()), ("node_provider", pa.string()),
    ("node_label", pa.string()), ("source_format", pa.string()),
    ("source_format_version", pa.string()), ("tool_version", pa.string()),
    ("source_file", pa.string()), ("source_sha256", pa.string()), ("source_bytes", pa.uint64()),
    ("task_count", pa.uint32()), ("task_statuses", pa.list_(pa.string())),
    ("workload_count", pa.uint32()), ("iteration_count", pa.uint64()),
    ("failed_iteration_count", pa.uint64()), ("pass_sla", pa.bool_()),
    ("started_at", TS), ("finished_at", TS), ("ingested_at", TS), ("perfkit_version", pa.string()),
])


def to_us(epoch):
    """Microseconds, rounding halves away from zero (as perfkit does)."""
    if epoch is None or epoch != epoch or epoch in (math.inf, -math.inf):
        return None
    us = epoch * 1_000_000
    whole = math.floor(us)
    if us - whole > 0.5 or (us - whole == 0.5 and us > 0):
        whole += 1
    return int(whole)


def percentile(values, fraction):
    k = (len(values) - 1) * fraction
    f = int(k)
    c = f if k == f else f + 1
    if f == c:
        return values[f]
    return values[f] * (c - k) + values[c] * (k - f)


def summary(durations):
    values = sorted(d for d in durations if d == d)
    if not values:
        return [None] * 6
    return [values[0], percentile(values, 0.5), percentile(values, 0.9),
            percentile(values, 0.95), values[-1], sum(values) / len(values)]


def finite(value):
    """Config with Python's non-finite floats as the strings perfkit stores."""
    if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def canonical(value):
    return json.dumps(finite(value), sort_keys=True, separators=(",", ":"))


def sha16(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest(path, out, project, build_id, job):
    size = os.path.getsize(path)
    sha = file_sha256(path)
    with open(path, encoding="utf-8") as f:
        report = json.load(f)  # Python's json reads Rally's bare Infinity/NaN
    if not isinstance(report, dict) or "tasks" not in report:
        raise SystemExit("baseline_ingest: %s: not a v2 Rally report" % path)

    s = {name: [] for name in SAMPLES.names if name != "build_id"}
    w = {name: [] for name in WORKLOADS.names}
    wl_index = 0
    task_statuses = []
    first_start = last_end = None

    for task_index, task in enumerate(report["tasks"]):
        task_statuses.append(task.get("status"))
        title_seen = {}
        for subtask_index, subtask in enumerate(task["subtasks"]):
            title = subtask.get("title", "")
            title_occurrence = title_seen.get(title, 0)
            title_seen[title] = title_occurrence + 1
            for wl in subtask["workloads"]:
                (scenario, args), = wl["scenario"].items()
                (runner_type, runner), = wl["runner"].items()
                position = wl.get("position", 0)
                key = sha16("%s\0%s\0%d\0%d\0%s" % (job, title, title_occurrence, position, scenario))
                hooks = [h["config"] for h in wl.get("hooks", [])]
                config = {"scenario": {scenario: args}, "runner": {runner_type: runner},
                          "contexts": wl.get("contexts", {}), "hooks": hooks, "sla": wl.get("sla", {})}

                durations = []
                failed_its = 0
                for iteration, it in enumerate(wl["data"]):
                    idle = it.get("idle_duration") or 0.0
                    total = it["duration"] + idle
                    error = it.get("error") or []
                    failed = bool(error)
                    failed_its += failed
                    durations.append(total)
                    start_us = to_us(it["timestamp"])
                    end_us = to_us(it["timestamp"] + total)
                    if first_start is None or start_us < first_start:
                        first_start = start_us
                    if last_end is None or end_us > last_end:
                        last_end = end_us
                    s["workload_key"].append(key)
                    s["workload_index"].append(wl_index)
                    s["iteration"].append(iteration)
                    s["action"].append("total")
                    s["depth"].append(0)
                    s["occurrence"].append(0)
                    s["duration_s"].append(total)
                    s["idle_duration_s"].append(idle)
                    s["started_at"].append(start_us)
                    s["failed"].append(failed)
                    s["error_type"].append(error[0] if len(error) > 0 else None)
                    s["error_message"].append(error[1] if len(error) > 1 else None)
                    s["error_traceback"].append(error[2] if len(error) > 2 else None)

                    # atomic actions, depth-first pre-order, path "a > b"
                    seen = {}
                    stack = [(a, "", 1) for a in reversed(it.get("atomic_actions") or [])]
                    while stack:
                        a, prefix, depth = stack.pop()
                        action_path = prefix + a["name"]
                        occurrence = seen.get(action_path, 0)
                        seen[action_path] = occurrence + 1
                        started = a.get("started_at")
                        finished = a.get("finished_at")
                        s["workload_key"].append(key)
                        s["workload_index"].append(wl_index)
                        s["iteration"].append(iteration)
                        s["action"].append(action_path)
                        s["depth"].append(depth)
                        s["occurrence"].append(occurrence)
                        s["duration_s"].append(
                            finished - started if started is not None and finished is not None else 0.0)
                        s["idle_duration_s"].append(None)
                        s["started_at"].append(to_us(started))
                        s["failed"].append(bool(a.get("failed")))
                        s["error_type"].append(None)
                        s["error_message"].append(None)
                        s["error_traceback"].append(None)
                        children = a.get("children") or []
                        if children:
                            child_prefix = action_path + " > "
                            stack.extend((c, child_prefix, depth + 1) for c in reversed(children))

                sla = (wl.get("sla_results") or {}).get("sla") or []
                context_error = None
                for ctx in wl.get("contexts_results") or []:
                    err = (ctx.get("setup") or {}).get("error")
                    if err and context_error is None:
                        context_error = "%s: %s" % (err[0], err[1])
                hooks_failed = sum(1 for h in wl.get("hooks", []) for r in h.get("results", [])
                                   if r.get("status") == "failed")
                start = wl.get("start_time")
                if start is None and wl["data"]:
                    start = min(it["timestamp"] for it in wl["data"])
                row = {
                    "build_id": build_id, "workload_index": wl_index, "workload_key": key,
                    "config_hash": sha16(canonical(config)), "task_index": task_index,
                    "task_uuid": task.get("uuid"), "task_status": task.get("status"),
                    "subtask_index": subtask_index, "subtask_title": title, "position": position,
                    "scenario": scenario, "description": wl.get("description", ""),
                    "runner_type": runner_type, "runner_times": runner.get("times"),
                    "runner_concurrency": runner.get("concurrency"),
                    "runner_json": canonical(runner), "args_json": canonical(args),
                    "contexts_json": canonical(wl.get("contexts", {})),
                    "sla_json": canonical(wl.get("sla", {})), "hooks_json": canonical(hooks),
                    "start_time": to_us(start), "load_duration_s": wl.get("load_duration"),
                    "full_duration_s": wl.get("full_duration"), "iterations": len(wl["data"]),
                    "failed_iterations": failed_its,
                    "pass_sla": all(r.get("success") for r in sla),
                    "sla_results_json": canonical(sla),
                    "sla_failed": [r["criterion"] for r in sla if not r.get("success")],
                    "context_error": context_error, "hooks_failed": hooks_failed,
                }
                stats = summary(durations)
                for name, value in zip(WORKLOADS.names[-6:], stats):
                    row[name] = value
                for name, value in row.items():
                    w[name].append(value)
                wl_index += 1

    rows = len(s["action"])
    s["build_id"] = [build_id] * rows
    samples = pa.table({name: s[name] for name in SAMPLES.names}, schema=SAMPLES)
    workloads = pa.table(w, schema=WORKLOADS)
    unknown = [None]  # Zuul metadata the benchmark does not give; --build is the Zuul build
    builds = pa.table({
        "ref": unknown, "newrev": unknown, "branch": unknown, "tag": unknown, "pipeline": unknown,
        "zuul_build": [build_id], "buildset": unknown, "tenant": unknown, "change_url": unknown,
        "log_url": unknown, "node_provider": unknown, "node_label": unknown,
        "perfkit_version": ["baseline"],
        "build_id": [build_id], "gerrit_project": [project], "gerrit_change": [None],
        "gerrit_patchset": [None], "job": [job or None], "source_format": ["rally-v2"],
        "source_format_version": [report.get("info", {}).get("format_version")],
        "tool_version": [report.get("info", {}).get("rally_version")],
        "source_file": [os.path.basename(path)], "source_sha256": [sha], "source_bytes": [size],
        "task_count": [len(report["tasks"])], "task_statuses": [task_statuses],
        "workload_count": [wl_index], "iteration_count": [sum(w["iterations"])],
        "failed_iteration_count": [sum(w["failed_iterations"])],
        # a crashed or aborted task fails the build even when Rally says pass_sla
        "pass_sla": [all(w["pass_sla"]) and all(st == "finished" for st in task_statuses)],
        "started_at": [first_start], "finished_at": [last_end],
        "ingested_at": [int(time.time() * 1_000_000)],
    }, schema=BUILDS)
    os.makedirs(out, exist_ok=True)
    for name, table in (("samples", samples), ("workloads", workloads), ("builds", builds)):
        pq.write_table(table, os.path.join(out, name + ".parquet"), compression="zstd")
    return {"workloads": wl_index, "iterations": sum(w["iterations"]),
            "failed_iterations": sum(w["failed_iterations"]), "sample_rows": rows}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("--out", required=True)
    p.add_argument("--project", default="openstack/bench")
    p.add_argument("--build", default="baseline")
    p.add_argument("--job", default="")
    args = p.parse_args(argv)
    print(json.dumps(ingest(args.file, args.out, args.project, args.build, args.job)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
