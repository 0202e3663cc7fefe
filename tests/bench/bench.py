#!/usr/bin/env python3
"""Owns the ingest benchmark's runs and its table (started by tests/bench/ingest).

Generates (or reuses) a large synthetic Rally v2 report with make_report.py,
then runs, each in a fresh process under measure.py, N times in turn:
  * `perfkit ingest --project openstack/bench --archive <fresh dir> --build <fresh id> FILE`
  * the Python baseline (baseline_ingest.py: json + pyarrow) on the same file
  * a plain `json.load` of the file (reference: the floor of any json-based tool)
and prints one table side by side: best wall time of the N runs, CPU time
of that run, MB/s of input (MB = 10^6 bytes), sample rows/s (rows counted in
the Parquet each tool wrote), the highest peak RSS of the N runs, the memory
budget (1.5 x input + 64 MiB) and the speed ratio against the baseline
(goal: at least 10x). Exits 1 when a run fails or the tools disagree on the
row count; with --check also when perfkit misses a goal.
"""

import argparse
import glob
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MiB = 1024 * 1024
SPEED_GOAL = 10.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def report_for(args, workdir):
    """The cached report for (size, seed, iterations), generated if missing or stale."""
    reports = workdir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    name = "rally-v2-%gmb-seed%d-it%d%s.report.json" % (
        args.size_mb, args.seed, args.iterations, "-compact" if args.compact else "")
    path = reports / name
    meta_path = reports / (name + ".meta.json")
    sha = hashlib.sha256((HERE / "make_report.py").read_bytes()).hexdigest()
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator_sha256") == sha and meta.get("bytes") == path.stat().st_size:
            log("using cached %s" % path)
            return path, meta
    log("generating %s (%g MB, seed %d) ..." % (path, args.size_mb, args.seed))
    subprocess.run([sys.executable, str(HERE / "make_report.py"), str(path), "--size-mb", str(args.size_mb),
                    "--seed", str(args.seed), "--iterations", str(args.iterations)]
                   + (["--compact"] if args.compact else []), check=True)
    return path, json.loads(meta_path.read_text())


def parquet_rows(files):
    import pyarrow.parquet as pq

    if not files:
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def measured(cmd, stdout=None):
    wrapper = [sys.executable, str(HERE / "measure.py")]
    if stdout:
        wrapper += ["--stdout", stdout]
    out = subprocess.run(wrapper + ["--"] + cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    if result["rc"] != 0:
        log("command failed (exit %d): %s\n%s" % (result["rc"], " ".join(cmd), result["stderr"]))
        sys.exit(1)
    return result


def run_perfkit(args, report, scratch, run, keep):
    archive = tempfile.mkdtemp(prefix="perfkit-archive-", dir=scratch)
    build = "bench-%d-%d" % (os.getpid(), run)
    try:
        r = measured([args.perfkit, "ingest", "--project", "openstack/bench", "--archive", archive,
                      "--build", build, str(report)])
        tables = {t: glob.glob(os.path.join(archive, "v1", t, "**", "*.parquet"), recursive=True)
                  for t in ("samples", "workloads", "builds")}
        r["rows"] = parquet_rows(tables["samples"])
        if keep:
            r["tables"], r["dir"] = tables, archive
    finally:
        if not keep:
            shutil.rmtree(archive, ignore_errors=True)
    return r


def run_baseline(args, report, scratch, run, keep):
    out = tempfile.mkdtemp(prefix="baseline-", dir=scratch)
    try:
        # the same build id as perfkit's run, so that the tables can be compared cell by cell
        r = measured([args.python, str(HERE / "baseline_ingest.py"), str(report), "--out", out,
                      "--build", "bench-%d-%d" % (os.getpid(), run)])
        tables = {t: [os.path.join(out, t + ".parquet")] for t in ("samples", "workloads", "builds")}
        r["rows"] = parquet_rows(tables["samples"])
        if keep:
            r["tables"], r["dir"] = tables, out
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    return r


# Columns that differ by design: when and by what the row was written.
NOT_COMPARED = {"ingested_at", "perfkit_version"}


def compare_outputs(perfkit, baseline):
    """Problems found comparing perfkit's tables with the baseline's, cell by cell."""
    import pyarrow.parquet as pq

    problems, notes = [], []
    for table in ("samples", "workloads", "builds"):
        if len(perfkit[table]) != 1 or len(baseline[table]) != 1:
            problems.append("%s: expected one file from each tool" % table)
            continue
        a, b = pq.read_table(perfkit[table][0]), pq.read_table(baseline[table][0])
        if a.num_rows != b.num_rows:
            problems.append("%s: perfkit %d rows, baseline %d" % (table, a.num_rows, b.num_rows))
            continue
        extra = [c for c in a.column_names if c not in b.column_names]
        if extra:
            notes.append("%s columns only perfkit writes: %s" % (table, ", ".join(extra)))
        for c in a.column_names:
            if c in NOT_COMPARED or c in extra:
                continue
            try:
                same = a.column(c).cast(b.schema.field(c).type).equals(b.column(c))
            except Exception as e:  # pyarrow raises several types for impossible casts
                problems.append("%s.%s: perfkit %s, baseline %s (%s)"
                                % (table, c, a.schema.field(c).type, b.schema.field(c).type, e))
                continue
            if not same:
                x, y = a.column(c).to_pylist(), b.column(c).to_pylist()
                bad = [i for i in range(len(x)) if x[i] != y[i]]
                problems.append("%s.%s differs in %d rows (first: row %d perfkit %r, baseline %r)"
                                % (table, c, len(bad), bad[0], x[bad[0]], y[bad[0]]))
    return problems, notes


def run_json_load(args, report, scratch, run, keep):
    code = "import json, sys\nwith open(sys.argv[1], encoding='utf-8') as f: json.load(f)"
    r = measured([args.python, "-c", code, str(report)])
    r["rows"] = None
    return r


TOOLS = [
    ("perfkit ingest", run_perfkit),
    ("python json+pyarrow", run_baseline),
    ("python json.load only", run_json_load),
]


def fmt_int(n):
    return "{:,}".format(int(n))


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=220.0, help="report size (MB = 10^6 bytes), default 220")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--iterations", type=int, default=4000, help="mean iterations per workload")
    p.add_argument("--compact", action="store_true",
                   help="unindented JSON (Rally itself writes indent=4, ~70%% whitespace)")
    p.add_argument("--runs", type=int, default=3, help="runs per tool; the best wall time counts")
    p.add_argument("--perfkit", default=str(ROOT / "target" / "release" / "perfkit"))
    p.add_argument("--python", default=sys.executable, help="interpreter with pyarrow for the baseline")
    p.add_argument("--workdir", type=pathlib.Path, default=ROOT / "target" / "bench",
                   help="reports cache and scratch space")
    p.add_argument("--no-json-load", action="store_true", help="skip the json.load reference line")
    p.add_argument("--check", action="store_true", help="exit 1 when perfkit misses a goal")
    args = p.parse_args(argv)

    report, meta = report_for(args, args.workdir)
    size = report.stat().st_size
    scratch = args.workdir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    tools = [t for t in TOOLS if not (args.no_json_load and t[1] is run_json_load)]

    load_before = os.getloadavg()
    results = {name: [] for name, _ in tools}
    for run in range(args.runs):
        for name, fn in tools:
            r = fn(args, report, str(scratch), run, keep=run == 0)
            log("run %d/%d %-22s wall %7.2f s  cpu %7.2f s  peak RSS %8.1f MiB  rows %s"
                % (run + 1, args.runs, name, r["wall_s"], r["cpu_s"], r["max_rss_kib"] / 1024,
                   r["rows"] if r["rows"] is not None else "-"))
            results[name].append(r)
    load_after = os.getloadavg()
    first = {name: rs[0] for name, rs in results.items()}
    diffs, notes = compare_outputs(first["perfkit ingest"]["tables"], first["python json+pyarrow"]["tables"])
    problems = list(diffs)
    for r in first.values():
        if "dir" in r:
            shutil.rmtree(r["dir"], ignore_errors=True)

    budget_mib = (1.5 * size + 64 * MiB) / MiB
    best = {name: min(rs, key=lambda r: r["wall_s"]) for name, rs in results.items()}
    peak = {name: max(r["max_rss_kib"] for r in rs) / 1024 for name, rs in results.items()}
    base_mbps = size / 1e6 / best["python json+pyarrow"]["wall_s"]
    header = ["tool", "input MB", "wall s", "cpu s", "MB/s", "rows/s", "peak RSS MiB",
              "RSS budget MiB", "RSS", "speed vs baseline"]
    rows = [header]
    for name, _ in tools:
        b = best[name]
        mbps = size / 1e6 / b["wall_s"]
        row_count = b["rows"]
        is_ingest = name != "python json.load only"
        ratio = mbps / base_mbps
        if name == "perfkit ingest":
            speed = "%.1fx (goal >=%gx: %s)" % (ratio, SPEED_GOAL, "pass" if ratio >= SPEED_GOAL else "FAIL")
        else:
            speed = "%.2fx" % ratio
        rows.append([
            name,
            "%.1f" % (size / 1e6),
            "%.2f" % b["wall_s"],
            "%.2f" % b["cpu_s"],
            "%.1f" % mbps,
            fmt_int(row_count / b["wall_s"]) if row_count is not None else "-",
            "%.1f" % peak[name],
            "%.1f" % budget_mib if is_ingest else "-",
            ("pass" if peak[name] <= budget_mib else "FAIL") if is_ingest else "-",
            speed,
        ])
        for r in results[name]:
            if is_ingest and r["rows"] != meta["sample_rows"]:
                problems.append("%s wrote %s sample rows, the report has %d"
                                % (name, r["rows"], meta["sample_rows"]))

    print("perfkit ingest benchmark: %s" % report.name)
    print("input: %s bytes (%.1f MB, %s), %d workloads, %s iterations (%s failed), %s sample rows (generator's count)"
          % (fmt_int(size), size / 1e6, "compact JSON" if args.compact else "indent=4 like Rally's exporter",
             meta["workloads"], fmt_int(meta["total_iterations"]),
             fmt_int(meta["failed_iterations"]), fmt_int(meta["sample_rows"])))
    print("best wall time of %d runs per tool (cpu s of that run), highest peak RSS of the runs; "
          "file in page cache; budget = 1.5 x input + 64 MiB" % args.runs)
    print("outputs: perfkit's samples, workloads and builds tables %s the baseline's, cell by cell%s"
          % ("equal" if not diffs else "DIFFER from",
             " (except %s)" % ", ".join(sorted(NOT_COMPARED)) if not diffs else ""))
    for note in notes:
        print("  note: " + note)
    print("machine: %d CPUs, load average %.2f %.2f %.2f before, %.2f %.2f %.2f after"
          % ((os.cpu_count() or 0,) + load_before + load_after))
    print()
    print(table(rows))
    print()
    pk = best["perfkit ingest"]
    ratio = (size / 1e6 / pk["wall_s"]) / base_mbps
    speed_ok = ratio >= SPEED_GOAL
    mem_ok = peak["perfkit ingest"] <= budget_mib
    print("goal throughput >= %gx baseline: %.1fx -> %s" % (SPEED_GOAL, ratio, "met" if speed_ok else "MISSED"))
    print("goal peak RSS <= %.1f MiB: %.1f MiB -> %s"
          % (budget_mib, peak["perfkit ingest"], "met" if mem_ok else "MISSED"))
    for msg in problems:
        print("error: " + msg)
    if problems:
        return 1
    if args.check and not (speed_ok and mem_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
