#!/usr/bin/env python3
"""Owns the pathological-input benchmark's reports, runs and table (started by tests/bench/pathological).

Writes Rally v2 reports an attacker could leave in a CI job's results,
each about --size-mb (MB = 10^6 bytes), beside normal reports of the same
size (make_report.py: real Rally output scaled up, Rally's indent=4 layout
and the denser compact one), then ingests each --runs times with the
release binary, each run in a fresh process under measure.py with a fresh
archive, and prints one table: shape, what perfkit did (archived N sample
rows, or refused it at a limit), size, median wall time with the best and
worst beside it, CPU and peak RSS of the median run, and the median per MB
against the compact normal report's. Exits 1 when an input expected to
pass is refused or one expected to be refused passes.

Shapes (limits in ingest/src/limits.rs):
  distinct-10k      iterations of 10,000 distinct atomic actions (the limit)
  distinct-40k      the issue's case: iterations of 40,000 distinct actions (refused)
  new-names         10,000 new action names every iteration: 100,000 series (the limit), then refused
  deep-32           chains of actions nested 32 deep (the limit)
  deep-33           one level more (refused at the first)
  workloads-10k     10,000 workloads (the limit) of a few iterations
  huge-numbers      every number 300-700 digits long
  long-tracebacks   failed iterations with 1 MB error tracebacks
  long-names        actions with 1,024-byte names (the limit), 3 deep (3 KB paths)
  long-keys         unknown keys of 1 MB, skipped
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

HEAD = ('{"info": {"format_version": "1.2", "rally_version": "5.1.1"}, "tasks": [{"uuid": '
        '"00000000-0000-4000-8000-000000000000", "status": "finished", "subtasks": [{"title": '
        '"pathological", "workloads": [')
TAIL = "]}]}]}\n"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def workload_head(position):
    return ('{"scenario": {"Dummy.dummy": {"sleep": 0}}, "runner": {"constant": {"times": 1}}, '
            '"sla_results": {"sla": [{"criterion": "failure_rate", "success": true, "detail": ""}]}, '
            '"start_time": 1700000000.0, "load_duration": 1.0, "full_duration": 2.0, '
            '"position": %d, "data": [' % position)


def action(name, children="", start="1700000000.5", end="1700000000.75"):
    return ('{"name": %s, "started_at": %s, "finished_at": %s, "children": [%s]}'
            % (json.dumps(name), start, end, children))


def iteration(i, actions, error="[]", duration="0.5", extra=""):
    return ('{"duration": %s, "timestamp": %d.0, "idle_duration": 0.0, "error": %s, %s"atomic_actions": [%s]}'
            % (duration, 1700000000 + i, error, extra, actions))


class Report:
    """Writes a report as it is generated: workloads of iterations."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="ascii")
        self.f.write(HEAD)
        self.size = len(HEAD)
        self.workloads = 0
        self.in_workload = False
        self.iterations = 0

    def write(self, text):
        self.f.write(text)
        self.size += len(text)

    def start_workload(self, head=None):
        self.end_workload()
        self.write(("," if self.workloads else "") + (head or workload_head(self.workloads)))
        self.workloads += 1
        self.in_workload = True
        self.iterations = 0

    def add(self, text):
        self.write(("," if self.iterations else "") + text)
        self.iterations += 1

    def end_workload(self):
        if self.in_workload:
            self.write("]}")
            self.in_workload = False

    def close(self):
        self.end_workload()
        self.write(TAIL)
        self.f.close()
        return self.size


def names(prefix, n):
    return ",".join(action("%s%05d" % (prefix, i)) for i in range(n))


def gen_distinct(path, target, per_iteration):
    r = Report(path)
    r.start_workload()
    block = names("nova.action_", per_iteration)
    i = 0
    while r.size < target:
        r.add(iteration(i, block))
        i += 1
    return r.close()


def gen_new_names(path, target):
    """At least 11 iterations: the 11th passes 100,000 series."""
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target or i < 11:
        acts = ",".join(action("it%03d.action_%05d" % (i, k), start="1", end="2") for k in range(10000))
        r.add(iteration(i, acts))
        i += 1
    return r.close()


def gen_deep(path, target, depth):
    chain = ""
    for level in range(depth, 0, -1):
        chain = action("level%02d" % level, chain)
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target:
        r.add(iteration(i, chain))
        i += 1
    return r.close()


def gen_workloads(path, target, count):
    one = iteration(0, action("nova.boot_server", action("nova.wait_for_server")))
    per = max(1, round((target / count - len(workload_head(0)) - 2) / (len(one) + 1)))
    r = Report(path)
    for _ in range(count):
        r.start_workload()
        for i in range(per):
            r.add(iteration(i, action("nova.boot_server", action("nova.wait_for_server"))))
    return r.close()


def gen_huge_numbers(path, target):
    frac = "0." + "1234567890" * 70          # 702 characters, one value
    big = "1" + "0" * 299 + ".5"               # 10^299: finite, far beyond any epoch
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target:
        acts = ",".join(action("nova.action_%d" % k, start=big, end=big + "5" * 400) for k in range(3))
        r.add(iteration(i, acts, duration=frac))
        i += 1
    return r.close()


def gen_tracebacks(path, target):
    trace = "Traceback (most recent call last):\\n" + "  File \\\"x.py\\\", line 1, in f\\n" * 33000
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target:
        error = '["KeyError", "boom", "%s"]' % trace
        r.add(iteration(i, action("nova.boot_server"), error=error))
        i += 1
    return r.close()


def gen_long_names(path, target):
    def name(level, k):
        return ("level%d-%d-" % (level, k)).ljust(1024, "x")
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target:
        acts = action(name(1, i % 7), action(name(2, i % 5), action(name(3, i % 3))))
        r.add(iteration(i, acts))
        i += 1
    return r.close()


def gen_long_keys(path, target):
    r = Report(path)
    r.start_workload()
    i = 0
    while r.size < target:
        key = ("unknown-%d-" % i).ljust(1_000_000, "k")
        r.add(iteration(i, action("nova.boot_server"), extra='"%s": [1, {"a": null}], ' % key))
        i += 1
    return r.close()


# (name, generator, expected: "ok" or the limit text perfkit must refuse it with)
SHAPES = [
    ("distinct-10k", lambda p, t: gen_distinct(p, t, 10000), "ok"),
    ("distinct-40k", lambda p, t: gen_distinct(p, t, 40000), "distinct atomic actions in one iteration"),
    ("new-names", gen_new_names, "series (distinct workload and atomic action pairs)"),
    ("deep-32", lambda p, t: gen_deep(p, t, 32), "ok"),
    ("deep-33", lambda p, t: gen_deep(p, t, 33), "nested more than 32 levels deep"),
    ("workloads-10k", lambda p, t: gen_workloads(p, t, 10000), "ok"),
    ("huge-numbers", gen_huge_numbers, "ok"),
    ("long-tracebacks", gen_tracebacks, "ok"),
    ("long-names", gen_long_names, "ok"),
    ("long-keys", gen_long_keys, "ok"),
]


def generated(workdir, name, gen, size_mb):
    """The cached report of a shape, made again when this script changed."""
    stamp = "%s-%gmb-%d" % (name, size_mb, pathlib.Path(__file__).stat().st_mtime_ns)
    path = workdir / ("%s-%gmb.json" % (name, size_mb))
    mark = workdir / ("%s-%gmb.stamp" % (name, size_mb))
    if path.exists() and mark.exists() and mark.read_text() == stamp:
        return path
    log("generating %s ..." % path)
    gen(path, int(size_mb * 1e6))
    mark.write_text(stamp)
    return path


def normal(workdir, size_mb, compact):
    name = "normal-%gmb%s.json" % (size_mb, "-compact" if compact else "")
    path = workdir / name
    meta = workdir / (name + ".meta.json")
    if not (path.exists() and meta.exists()):
        log("generating %s ..." % path)
        subprocess.run([sys.executable, str(HERE / "make_report.py"), str(path), "--size-mb", str(size_mb),
                        "--iterations", "400"] + (["--compact"] if compact else []), check=True)
    return path


def run_once(perfkit, report, scratch, n):
    archive = tempfile.mkdtemp(prefix="pathological-", dir=scratch)
    try:
        out = subprocess.run([sys.executable, str(HERE / "measure.py"), "--", perfkit, "ingest", "--project",
                              "openstack/bench", "--archive", archive, "--build", "patho-%d-%d" % (os.getpid(), n),
                              str(report)], check=True, capture_output=True, text=True).stdout
        return json.loads(out)
    finally:
        shutil.rmtree(archive, ignore_errors=True)


def outcome(result):
    """`archived N rows`, `refused: <limit>`, or the error's first line."""
    err = result["stderr"]
    if result["rc"] == 0:
        return "ok", "archived"
    for line in err.splitlines():
        if line.startswith("error:"):
            text = line[len("error: "):]
            if "(perfkit's limit)" in text:
                # `cannot ingest `F`: <limit> at <path> (line…)`
                what = text.split("`: ", 1)[-1].split(" at $", 1)[0]
                return "refused", what.replace(" (perfkit's limit)", "")
            return "error", text[:120]
    return "error", err.strip().splitlines()[-1][:120] if err.strip() else "exit %d" % result["rc"]


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [str(c).ljust(widths[i]) if i in (0, 1) else str(c).rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=8.0, help="size of every report (MB = 10^6 bytes), default 8")
    p.add_argument("--runs", type=int, default=5, help="runs per report; the median counts")
    p.add_argument("--only", default="", help="comma-separated shapes to run (default: all)")
    p.add_argument("--perfkit", default=str(ROOT / "target" / "release" / "perfkit"))
    p.add_argument("--workdir", type=pathlib.Path, default=ROOT / "target" / "bench" / "pathological",
                   help="reports cache and scratch space")
    args = p.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = args.workdir / "scratch"
    scratch.mkdir(exist_ok=True)

    inputs = [("normal, indent=4", normal(args.workdir, args.size_mb, False), "ok"),
              ("normal, compact", normal(args.workdir, args.size_mb, True), "ok")]
    inputs += [(name, generated(args.workdir, name, gen, args.size_mb), want)
               for name, gen, want in SHAPES if not only or name in only]

    load_before = os.getloadavg()
    measured = []
    problems = []
    for name, path, want in inputs:
        results = [run_once(args.perfkit, path, str(scratch), n) for n in range(args.runs)]
        results.sort(key=lambda r: r["wall_s"])
        median = results[len(results) // 2]
        kinds = {outcome(r) for r in results}
        if len(kinds) != 1:
            problems.append("%s: runs disagree: %s" % (name, sorted(kinds)))
        kind, what = outcome(median)
        if want == "ok" and kind != "ok":
            problems.append("%s: expected to be archived, got %s: %s" % (name, kind, what))
        if want != "ok" and (kind != "refused" or want not in what):
            problems.append("%s: expected a refusal naming %r, got %s: %s" % (name, want, kind, what))
        size = path.stat().st_size
        log("%-18s %-8s %7.2f MB  median %6.3f s (%.3f-%.3f)  cpu %6.3f s  rss %7.1f MiB  %s"
            % (name, kind, size / 1e6, median["wall_s"], results[0]["wall_s"], results[-1]["wall_s"],
               median["cpu_s"], median["max_rss_kib"] / 1024, what))
        measured.append((name, kind, what, size, median, results))
    load_after = os.getloadavg()

    base = next(m for m in measured if m[0] == "normal, compact")
    base_per_mb = base[4]["wall_s"] / (base[3] / 1e6)
    header = ["input", "perfkit did", "MB", "median s", "best s", "worst s", "cpu s", "peak RSS MiB",
              "s/MB vs normal"]
    rows = [header]
    for name, kind, what, size, median, results in measured:
        did = "archived" if kind == "ok" else ("refused: " + what if kind == "refused" else "ERROR: " + what)
        per_mb = median["wall_s"] / (size / 1e6)
        rows.append([name, did if len(did) <= 80 else did[:79] + "…", "%.2f" % (size / 1e6),
                     "%.3f" % median["wall_s"], "%.3f" % results[0]["wall_s"], "%.3f" % results[-1]["wall_s"],
                     "%.3f" % median["cpu_s"], "%.1f" % (median["max_rss_kib"] / 1024),
                     "%.2fx" % (per_mb / base_per_mb)])
    print("perfkit pathological-input benchmark: %d runs per input, each a fresh process and archive; "
          "file in page cache" % args.runs)
    print("normal, compact: %.3f s median for %.2f MB (%.3f s/MB); the last column is each input's s/MB against it"
          % (base[4]["wall_s"], base[3] / 1e6, base_per_mb))
    print("machine: %d CPUs, load average %.2f %.2f %.2f before, %.2f %.2f %.2f after"
          % ((os.cpu_count() or 0,) + load_before + load_after))
    print()
    print(table(rows))
    for msg in problems:
        print("error: " + msg)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
