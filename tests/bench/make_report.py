#!/usr/bin/env python3
"""Owns the synthetic Rally reports of the ingest benchmark.

Scales REAL Rally 5.1.1 output up to a large v2 JSON report
(`rally task report --json`, info.format_version "1.2"): the workloads of
tests/fixtures/rally/dev-success, dev-failures and dev-output-hooks (nested
atomic actions `foo > bar`, repeated action names, failed iterations with
tracebacks, scenario output charts, SLA results, hooks with a periodic
trigger whose config holds a bare `"end": Infinity`, a context) are
replicated round after round, each round one set of subtasks, each workload
with thousands of iterations cloned from the real ones: durations and the
offsets of atomic actions are scaled by a per-iteration jitter, iterations
are scheduled on the workload's concurrency slots, so timestamps stay
consistent. Everything Rally derives from the raw data (min/max_duration,
start_time, load_duration, statistics, failed/total counts, SLA results,
hook summaries, pass_sla) is recomputed the way Rally 5.1.1 computes it, so
the file is what Rally would have written for such a run.

Stdlib only, deterministic for a seed, written as it is generated (one
subtask in memory at a time), indented with 4 spaces like Rally's exporter.

Usage:
    make_report.py OUT.json [--size-mb 220] [--seed 1] [--iterations 4000] [--compact]

Writes OUT.json and OUT.json.meta.json (the generator's own counts: tasks,
workloads, iterations, failed_iterations, sample_rows; see
tests/tools/rally_counts.py for the counting rules, which are the same).
"""

import argparse
import datetime
import hashlib
import heapq
import json
import os
import pathlib
import random
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "rally"

# (subtask title, [(fixture, subtask index, workload index, iteration share)]).
# The share scales --iterations; Dummy.dummy_output iterations carry ~30 KB
# of output charts each, so only a few of them run per round.
ROUND = [
    ("dummy-nested-atomics", [("dev-success.report.json", 0, 0, 1.0)]),
    (
        "failures",
        [
            ("dev-failures.report.json", 0, 0, 1.0),
            ("dev-failures.report.json", 0, 1, 0.25),
            ("dev-failures.report.json", 0, 2, 1.0),
        ],
    ),
    ("dummy-output", [("dev-output-hooks.report.json", 0, 0, 0.01)]),
    ("hooks-and-context", [("dev-output-hooks.report.json", 1, 0, 1.0)]),
]

# Epoch fields that move with the workload's clock.
EPOCH_KEYS = ("started_at", "finished_at", "timestamp")
PLACEHOLDER_TIME = "0000-00-00T00:00:00"


def load_fixture(name):
    with open(FIXTURES / name, encoding="utf-8") as f:
        return json.load(f)


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def new_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ------------------------------------------------------------ iterations


def clone_actions(actions, t0, start, factor):
    """Atomic actions of a template iteration moved to `start`, stretched."""
    out = []
    for a in actions:
        b = {}
        for k, v in a.items():
            if k == "children":
                b[k] = clone_actions(v, t0, start, factor)
            elif k in ("started_at", "finished_at") and isinstance(v, float):
                b[k] = start + (v - t0) * factor
            else:
                b[k] = v
        out.append(b)
    return out


def clone_iteration(tpl, start, factor):
    it = {}
    for k, v in tpl.items():
        if k == "duration":
            it[k] = v * factor
        elif k == "timestamp":
            it[k] = start
        elif k == "idle_duration":
            it[k] = v * factor
        elif k == "atomic_actions":
            it[k] = clone_actions(v, tpl["timestamp"], start, factor)
        else:
            it[k] = v  # error and output are shared, never mutated
    return it


def schedule(rng, templates, count, concurrency, t_start, drift):
    """`count` iterations on `concurrency` slots, ordered by start time."""
    slots = [t_start + rng.uniform(0, 0.002) for _ in range(concurrency)]
    heapq.heapify(slots)
    data = []
    for _ in range(count):
        tpl = rng.choice(templates)
        factor = drift * rng.lognormvariate(0.0, 0.12)
        start = heapq.heappop(slots) + rng.uniform(0.00005, 0.0015)
        it = clone_iteration(tpl, start, factor)
        data.append(it)
        heapq.heappush(slots, start + it["duration"] + it["idle_duration"])
    return data


# ------------------------------------------------------------ Rally's statistics


def percentile(sorted_values, fraction):
    """rally.common.utils.percentile (linear interpolation)."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * fraction
    f, c = int(k // 1), int(-(-k // 1))
    if f == c:
        return sorted_values[f]
    return sorted_values[f] * (c - k) + sorted_values[c] * (k - f)


def merge_atomics(actions, root, depth=0):
    """rally.task.atomic.merge_atomic_actions (depth_of_processing 2)."""
    for a in actions:
        node = root.get(a["name"])
        if node is None:
            node = root[a["name"]] = {"duration": 0, "count": 0, "children": {}}
        started = a.get("started_at")
        node["duration"] += a["finished_at"] - started if started is not None else 0.0
        node["count"] += 1
        if a.get("failed"):
            node["failed"] = True
        if a["children"] and depth < 2:
            merge_atomics(a["children"], node["children"], depth + 1)
    return root


class StatsTable:
    """rally.task.processing.charts.MainStatsTable, to_dict() shape."""

    def __init__(self):
        self.rows = {}

    def _add(self, merged, rows):
        for name, m in merged.items():
            display = name if m["count"] <= 1 else "%s (x%s)" % (name, m["count"])
            row = rows.get(display)
            if row is None:
                row = rows[display] = {
                    "points": [], "ok": 0, "name": name, "per_it": m["count"], "children": {}
                }
            row["points"].append(m["duration"])
            row["ok"] += 0 if m.get("failed", False) else 1
            if m["children"]:
                self._add(m["children"], row["children"])

    def add_iteration(self, it):
        merged = merge_atomics(it["atomic_actions"], {})
        failed = bool(it["error"])
        if merged:
            last = merged[next(reversed(merged))]
            if failed and not last.get("failed", False):
                merged["<no-name-action>"] = {"duration": 0, "count": 1, "failed": True, "children": {}}
        merged["total"] = {
            "duration": it["duration"] + it["idle_duration"],
            "count": 1,
            "failed": failed,
            "children": {
                "duration": {"duration": it["duration"], "count": 1, "failed": failed, "children": {}},
                "idle_duration": {"duration": it["idle_duration"], "count": 1, "failed": failed, "children": {}},
            },
        }
        self._add(merged, self.rows)

    @staticmethod
    def _row(display, row):
        points = sorted(row["points"])
        n = len(points)

        def r(v):
            return round(v, 3) if n else "n/a"

        return {
            "data": {
                "iteration_count": n,
                "min": r(points[0]) if n else "n/a",
                "median": r(percentile(points, 0.5)) if n else "n/a",
                "90%ile": r(percentile(points, 0.9)) if n else "n/a",
                "95%ile": r(percentile(points, 0.95)) if n else "n/a",
                "max": r(points[-1]) if n else "n/a",
                "avg": r(sum(points) / n) if n else "n/a",
                "success": "%.1f%%" % (row["ok"] * 100.0 / n) if n else "n/a",
            },
            "count_per_iteration": row["per_it"],
            "name": row["name"],
            "display_name": display,
            "children": [StatsTable._row(d, c) for d, c in row["children"].items()],
        }

    def to_dict(self):
        rows = dict(self.rows)
        total = rows.pop("total", {"points": [], "ok": 0, "name": "total", "per_it": 1, "children": {}})
        return {
            "durations": {
                "total": self._row("total", total),
                "atomics": [self._row(d, r) for d, r in rows.items()],
            }
        }


# ------------------------------------------------------------ SLA and hooks


def sla_results(sla_config, data, template_results):
    """Rally 5.1.1's failure_rate / max_avg_duration / max_seconds_per_iteration."""
    out = []
    n = len(data)
    errors = sum(1 for it in data if it["error"])
    for criterion, cfg in sla_config.items():
        if criterion == "failure_rate":
            lo, hi = cfg.get("min", 0), cfg.get("max", 100)
            rate = errors * 100.0 / n if n else 0.0
            ok = lo <= rate <= hi
            detail = "Failure rate criteria %.2f%% <= %.2f%% <= %.2f%%" % (lo, rate, hi)
        elif criterion == "max_avg_duration":
            good = [it["duration"] for it in data if not it["error"]]
            avg = sum(good) / len(good) if good else 0.0
            ok = avg <= cfg
            detail = "Average duration of one iteration %.2fs <= %.2fs" % (avg, cfg)
        elif criterion == "max_seconds_per_iteration":
            worst = max((it["duration"] for it in data), default=0.0)
            ok = worst <= cfg
            detail = "Maximum seconds per iteration %.2fs <= %.2fs" % (worst, cfg)
        else:  # not used by the templates; keep Rally's own verdict
            out.extend(r for r in template_results if r["criterion"] == criterion)
            continue
        out.append({"criterion": criterion, "success": ok,
                    "detail": "%s - %s" % (detail, "Passed" if ok else "Failed")})
    return out


def hook_results(hook, data, shift):
    """One result per trigger that fires within `data`, cloned from the real ones."""
    trig_type, trig = next(iter(hook["config"]["trigger"].items()))
    real = hook["results"]
    if not real:
        return []
    if trig["unit"] == "time":
        return [shift_epochs(r, shift) for r in real]
    if trig_type == "event":
        at = [i for i in trig["at"] if i <= len(data)]
    else:  # periodic
        end = trig.get("end", float("inf"))
        at = list(range(trig.get("start", 1), min(len(data), end) + 1, trig["step"]))
    out = []
    for k, i in enumerate(at):
        tpl = real[k % len(real)]
        # the hook ran right after iteration i started (1-based)
        move = data[i - 1]["timestamp"] + 0.0004 - tpl["started_at"]
        r = shift_epochs(tpl, move)
        r["triggered_by"] = {"event_type": "iteration", "value": i}
        out.append(r)
    return out


def shift_epochs(obj, delta):
    if isinstance(obj, dict):
        return {k: (v + delta if k in EPOCH_KEYS and isinstance(v, float) else shift_epochs(v, delta))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [shift_epochs(v, delta) for v in obj]
    return obj


# ------------------------------------------------------------ workloads


class Counts:
    def __init__(self):
        self.workloads = self.iterations = self.failed = self.rows = 0
        self.pass_sla = True

    def atomics(self, actions):
        return sum(1 + self.atomics(a["children"]) for a in actions)

    def add(self, wl):
        self.workloads += 1
        self.iterations += len(wl["data"])
        self.failed += wl["failed_iteration_count"]
        self.rows += sum(1 + self.atomics(it["atomic_actions"]) for it in wl["data"])
        self.pass_sla = self.pass_sla and wl["pass_sla"]


def make_workload(rng, tpl, count, position, t_start, drift):
    """A copy of workload `tpl` with `count` iterations starting at `t_start`."""
    (runner_type, runner_cfg), = tpl["runner"].items()
    concurrency = runner_cfg.get("concurrency", 1)
    # contexts are set up before the load starts (templates all ran iterations)
    load_start = t_start + 0.3 * tpl["full_duration"]
    data = schedule(rng, tpl["data"], count, concurrency, load_start, drift)
    end = max(it["timestamp"] + it["duration"] + it["idle_duration"] for it in data)
    load = end - data[0]["timestamp"]
    overhead = max(tpl["full_duration"] - tpl["load_duration"], 0.01)
    shift = load_start - tpl["start_time"]

    stats = StatsTable()
    for it in data:
        stats.add_iteration(it)
    durations = [it["duration"] for it in data]
    failed = sum(1 for it in data if it["error"])
    results = sla_results(tpl["sla"], data, tpl["sla_results"]["sla"])
    runner_cfg = dict(runner_cfg)
    if "times" in runner_cfg:
        runner_cfg["times"] = count
    elif "duration" in runner_cfg:
        runner_cfg["duration"] = float(round(load))
    hooks = []
    for h in tpl["hooks"]:
        res = hook_results(h, data, shift)
        summary = {}
        for r in res:
            summary[r["status"]] = summary.get(r["status"], 0) + 1
        hooks.append({"config": h["config"], "results": res, "summary": summary})

    wl = {}
    for k, v in tpl.items():
        if k == "uuid":
            wl[k] = new_uuid(rng)
        elif k == "runner":
            wl[k] = {runner_type: runner_cfg}
        elif k == "hooks":
            wl[k] = hooks
        elif k == "min_duration":
            wl[k] = min(durations)
        elif k == "max_duration":
            wl[k] = max(durations)
        elif k == "start_time":
            wl[k] = data[0]["timestamp"]
        elif k == "load_duration":
            wl[k] = load
        elif k == "full_duration":
            wl[k] = load + overhead
        elif k == "statistics":
            wl[k] = stats.to_dict()
        elif k == "data":
            wl[k] = data
        elif k == "failed_iteration_count":
            wl[k] = failed
        elif k == "total_iteration_count":
            wl[k] = count
        elif k == "created_at":
            wl[k] = iso(t_start)
        elif k == "updated_at":
            wl[k] = iso(end + overhead)
        elif k == "contexts_results":
            wl[k] = shift_epochs(v, shift)
        elif k == "position":
            wl[k] = position
        elif k == "pass_sla":
            wl[k] = all(r["success"] for r in results)
        elif k == "sla_results":
            wl[k] = {"sla": results}
        else:
            wl[k] = v
    return wl, end + overhead


# ------------------------------------------------------------ streaming writer


class Layout:
    """Rally's exporter layout (`json.dumps(indent=4)`) or compact JSON."""

    def __init__(self, compact):
        self.compact = compact

    def nl(self, level):
        return "" if self.compact else "\n" + "    " * level

    def dump(self, obj, level):
        """The text of obj as it appears at nesting `level` of the whole document."""
        if self.compact:
            return json.dumps(obj, separators=(",", ":"))
        return json.dumps(obj, indent=4).replace("\n", self.nl(level))

    def split_open(self, obj, list_key, level):
        """Text before and after the (empty) list `list_key`, the last key of obj."""
        text = self.dump(dict(obj, **{list_key: []}), level)
        cut = text.rindex("[]") + 1
        return text[:cut], text[cut:]

    def value_at(self, text, key):
        """Offset of the value of `key` (first occurrence) in `text`."""
        return text.index('"%s":' % key) + len(key) + 3 + (0 if self.compact else 1)

    def items(self, writer, texts, level, first):
        for text in texts:
            writer.write(("" if first else ",") + self.nl(level) + text)
            first = False
        return first


class Writer:
    def __init__(self, f):
        self.f = f
        self.pos = 0

    def write(self, text):
        data = text.encode("ascii")
        self.f.write(data)
        self.pos += len(data)

    def patch(self, offset, text):
        here = self.f.tell()
        self.f.seek(offset)
        self.f.write(text.encode("ascii"))
        self.f.seek(here)


def generate(out, size_mb, seed, iterations, compact=False):
    rng = random.Random(seed)
    lay = Layout(compact)
    fixtures = {name: load_fixture(name) for _, wls in ROUND for name, *_ in wls}
    base = fixtures["dev-success.report.json"]
    real_task = base["tasks"][0]
    t = real_task["subtasks"][0]["workloads"][0]["start_time"] - 10.0
    target = int(size_mb * 1_000_000)
    counts = Counts()
    subtasks = 0

    task = {k: v for k, v in real_task.items() if k != "subtasks"}
    task.update(uuid=new_uuid(rng), tags=["perfkit-bench"], created_at=iso(t),
                updated_at=PLACEHOLDER_TIME, pass_sla=False, subtasks=[])
    doc = {"info": dict(base["info"], generated_at=PLACEHOLDER_TIME), "tasks": [task]}
    doc_head, doc_tail = lay.split_open(doc, "tasks", 0)
    task_head, task_tail = lay.split_open(task, "subtasks", 2)

    with open(out, "wb") as f:
        w = Writer(f)
        w.write(doc_head)
        generated_at = doc_head.index(PLACEHOLDER_TIME)
        w.write(lay.nl(2))
        updated_at = w.pos + lay.value_at(task_head, "updated_at") + 1
        pass_sla = w.pos + lay.value_at(task_head, "pass_sla")
        w.write(task_head)
        first_subtask = True
        rnd = 0
        while w.pos < target:
            drift = rng.lognormvariate(0.0, 0.05)  # this round's machine speed
            for title, sources in ROUND:
                sub_t = t
                texts = []
                for position, (name, si, wi, share) in enumerate(sources):
                    tpl = fixtures[name]["tasks"][0]["subtasks"][si]["workloads"][wi]
                    mean = max(3, int(iterations * share))
                    count = rng.randint(max(1, mean // 2), mean * 3 // 2)
                    wl, t = make_workload(rng, tpl, count, position, t + 1.5, drift)
                    counts.add(wl)
                    texts.append(lay.dump(wl, 6))
                    del wl
                real_sub = fixtures[sources[0][0]]["tasks"][0]["subtasks"][sources[0][1]]
                sub = {k: v for k, v in real_sub.items() if k != "workloads"}
                sub.update(uuid=new_uuid(rng), title="%s-%03d" % (title, rnd),
                           created_at=iso(sub_t), updated_at=iso(t + 0.5), workloads=[])
                sub_head, sub_tail = lay.split_open(sub, "workloads", 4)
                first_subtask = lay.items(w, [sub_head], 4, first_subtask)
                lay.items(w, texts, 6, True)
                w.write(lay.nl(5) + sub_tail)
                subtasks += 1
                t += 1.0
                if w.pos >= target:
                    break
            rnd += 1
        w.write(lay.nl(3) + task_tail + lay.nl(1) + doc_tail)
        # Values known only now; same width as what was written.
        w.patch(generated_at, iso(t + 2.0))
        w.patch(updated_at, iso(t + 1.0))
        # "false" was written; a passing run (never with these templates) gets "true ".
        w.patch(pass_sla, "false" if not counts.pass_sla else "true ")
        size = w.pos
    return {
        "generator": "tests/bench/make_report.py",
        "generator_sha256": hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest(),
        "seed": seed,
        "size_mb": size_mb,
        "iterations": iterations,
        "compact": compact,
        "bytes": size,
        "format": "rally-v2",
        "tasks": 1,
        "subtasks": subtasks,
        "workloads": counts.workloads,
        "total_iterations": counts.iterations,
        "failed_iterations": counts.failed,
        "sample_rows": counts.rows,
        "pass_sla": counts.pass_sla,
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--size-mb", type=float, default=220.0, help="target size in MB (10^6 bytes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--iterations", type=int, default=4000,
                   help="mean iterations per workload (each varies from 1/2 to 3/2 of it)")
    p.add_argument("--compact", action="store_true",
                   help="no indentation (Rally writes indent=4; ~70%% of that file is whitespace)")
    args = p.parse_args(argv)
    started = time.monotonic()
    tmp = args.out.with_name(args.out.name + ".part")
    meta = generate(tmp, args.size_mb, args.seed, args.iterations, args.compact)
    os.replace(tmp, args.out)
    meta_path = args.out.with_name(args.out.name + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print("%s: %.1f MB, %d workloads, %d iterations (%d failed), %d sample rows, %.0f s"
          % (args.out, meta["bytes"] / 1e6, meta["workloads"], meta["total_iterations"],
             meta["failed_iterations"], meta["sample_rows"], time.monotonic() - started),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
