#!/usr/bin/env python3
"""Owns the self-check of the benchmark's generator and baseline.

Generates a small report with make_report.py and checks it against
independent references, then checks the baseline's row counts:

1. the file is exactly what `json.dumps(report, indent=4)` (the layout of
   Rally's JSON exporter) writes for its own content (with --compact:
   `separators=(",", ":")`), has a bare `Infinity`, info.format_version
   "1.2", and the same seed gives the same bytes;
2. tests/tools/rally_counts.py (the independent oracle) counts the same
   workloads, iterations, failures and sample rows as the generator's meta
   file, and its cross-check against Rally's aggregates inside the file
   (total/failed_iteration_count, statistics' atomic call counts) is clean;
3. with $PERFKIT_RALLY_PYTHON (rally 5.1.1): Rally's own MainStatsTable and
   SLAChecker recompute every workload's `statistics` and `sla_results`
   from its `data` identically;
4. with $PERFKIT_TOOLS_BIN (jsonschema, pyarrow): every task passes Rally's
   import schema (rally-result-schemas.json) except the known Rally 5.1.1
   bug for failed hooks (tests/fixtures/rally/README.md), and
   baseline_ingest.py writes as many sample rows as the oracle counts, for
   the generated report and every v2 fixture;
5. with $PERFKIT_BIN too (a built perfkit): perfkit ingest and the
   baseline write equal tables, cell by cell, for each of those files.

A missing tool is skipped with a printed reason unless PERFKIT_REQUIRE_TOOLS=1.
Usage: check.py [--size-mb 4] [--keep DIR]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "rally"
sys.path.insert(0, str(ROOT / "tests" / "tools"))
import rally_counts  # noqa: E402

RALLY_CHECK = r"""
import json, sys
import rally.plugins
rally.plugins.load()
from rally.task import sla
from rally.task.processing import charts
report = json.load(open(sys.argv[1]))
bad = n = 0
for task in report["tasks"]:
    for sub in task["subtasks"]:
        for wl in sub["workloads"]:
            n += 1
            table = charts.MainStatsTable(wl)
            checker = sla.SLAChecker({"sla": wl["sla"]})
            for it in wl["data"]:
                table.add_iteration(it)
                checker.add_iteration(it)
            if table.to_dict() != wl["statistics"]["durations"]:
                bad += 1
                print("statistics differ: %s %s" % (sub["title"], list(wl["scenario"])[0]))
            if checker.results() != wl["sla_results"]["sla"]:
                bad += 1
                print("sla_results differ: %s %s" % (sub["title"], list(wl["scenario"])[0]))
print("%d workloads checked with Rally's code, %d differences" % (n, bad))
sys.exit(1 if bad else 0)
"""

SCHEMA_CHECK = r"""
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))["v2_report_task"]
report = json.load(open(sys.argv[2]))
validator = jsonschema.Draft7Validator(schema)
known = other = 0
for task in report["tasks"]:
    for e in validator.iter_errors(task):
        path = list(e.absolute_path)
        # Rally 5.1.1 writes a failed hook's error as an object; its schema wants a list.
        if "hooks" in path and path[-1] == "error" and isinstance(e.instance, dict):
            known += 1
        else:
            other += 1
            print("schema: %s: %s" % (path, e.message[:200]))
print("schema: %d known failed-hook errors, %d other errors" % (known, other))
sys.exit(1 if other else 0)
"""

ROWS = "import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)"


class Checks:
    def __init__(self):
        self.failures = 0
        self.require = os.environ.get("PERFKIT_REQUIRE_TOOLS") == "1"

    def ok(self, cond, what):
        print("%s %s" % ("ok  " if cond else "FAIL", what))
        self.failures += not cond

    def skip(self, what):
        if self.require:
            self.ok(False, what + " (PERFKIT_REQUIRE_TOOLS=1)")
        else:
            print("skip " + what)


def indented(text):
    return "     " + text.strip().replace("\n", "\n     ")


def generate(path, size_mb, *extra):
    subprocess.run([sys.executable, str(HERE / "make_report.py"), str(path), "--size-mb", str(size_mb),
                    "--iterations", "300", "--seed", "7", *extra], check=True)


def has_nested(doc):
    return any(a["children"] for t in doc["tasks"] for s in t["subtasks"] for w in s["workloads"]
               for it in w["data"] for a in it["atomic_actions"])


def check_report(c, out_dir, size_mb):
    report = out_dir / "check.report.json"
    generate(report, size_mb)
    meta = json.loads((out_dir / "check.report.json.meta.json").read_text())
    text = report.read_text(encoding="utf-8")
    doc = json.loads(text)
    c.ok(len(text) >= size_mb * 1e6, "size %d bytes >= %g MB" % (len(text), size_mb))
    c.ok(json.dumps(doc, indent=4) == text, "file == json.dumps(its content, indent=4), Rally's layout")
    c.ok('"end": Infinity' in text, "has a bare Infinity (periodic hook trigger)")
    c.ok(doc["info"]["format_version"] == "1.2", "info.format_version is 1.2")
    c.ok(has_nested(doc), "has nested atomic actions")
    again = out_dir / "again.report.json"
    generate(again, size_mb)
    c.ok(again.read_bytes() == report.read_bytes(), "same seed, same bytes")
    again.unlink()
    compact = out_dir / "compact.report.json"
    generate(compact, size_mb / 4, "--compact")
    ctext = compact.read_text(encoding="utf-8")
    cdoc = json.loads(ctext)
    cmeta = json.loads((out_dir / "compact.report.json.meta.json").read_text())
    c.ok(json.dumps(cdoc, separators=(",", ":")) == ctext and "\n" not in ctext,
         "--compact: file == json.dumps(its content, separators=(',', ':'))")
    c.ok(rally_counts.counts(cdoc)["sample_rows"] == cmeta["sample_rows"], "--compact: oracle sample_rows == generator's")
    compact.unlink()

    counts = rally_counts.counts(doc)
    for ours, theirs in (("workloads", "workloads"), ("total_iterations", "iterations"),
                         ("failed_iterations", "failed_iterations"), ("sample_rows", "sample_rows")):
        c.ok(meta[ours] == counts[theirs], "oracle %s %d == generator's %d" % (theirs, counts[theirs], meta[ours]))
    c.ok(counts["workloads"] >= 10 and counts["iterations"] >= 1000,
         "many workloads x many iterations (%d workloads, %d iterations)" % (counts["workloads"], counts["iterations"]))
    problems = []
    rally_counts.cross_check_v2("generated", doc, problems)
    if problems:
        print(indented("\n".join(problems)))
    c.ok(not problems, "oracle cross-check against Rally's aggregates in the file")
    return report


def check_with_rally(c, report):
    rally_py = os.environ.get("PERFKIT_RALLY_PYTHON")
    if not rally_py:
        c.skip("Rally's statistics/SLA check: PERFKIT_RALLY_PYTHON is unset")
        return
    r = subprocess.run([rally_py, "-c", RALLY_CHECK, str(report)], capture_output=True, text=True)
    print(indented(r.stdout or r.stderr[-500:]))
    c.ok(r.returncode == 0, "statistics and sla_results equal Rally 5.1.1's own computation")


def check_with_tools(c, report, out_dir):
    tools = os.environ.get("PERFKIT_TOOLS_BIN")
    if not tools:
        c.skip("schema and baseline checks: PERFKIT_TOOLS_BIN is unset")
        return
    py = os.path.join(tools, "python")
    r = subprocess.run([py, "-c", SCHEMA_CHECK, str(FIXTURES / "rally-result-schemas.json"), str(report)],
                       capture_output=True, text=True)
    print(indented(r.stdout or r.stderr[-500:]))
    c.ok(r.returncode == 0, "Rally's import schema (except the known failed-hook bug)")
    if not os.environ.get("PERFKIT_BIN"):
        c.skip("perfkit vs baseline comparison: PERFKIT_BIN is unset")
    out = out_dir / "baseline"
    files = [report] + sorted(FIXTURES.glob("*.report.json")) + sorted(FIXTURES.glob("history/*.report.json"))
    for f in files:
        r = subprocess.run([py, str(HERE / "baseline_ingest.py"), str(f), "--out", str(out)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            c.ok(False, "baseline on %s: %s" % (f.name, r.stderr.strip()[-300:]))
            continue
        got = json.loads(r.stdout)
        want = rally_counts.counts(rally_counts.load(f))
        rows = int(subprocess.run([py, "-c", ROWS, str(out / "samples.parquet")],
                                  capture_output=True, text=True, check=True).stdout)
        same = (rows, got["iterations"], got["failed_iterations"], got["workloads"]) == (
            want["sample_rows"], want["iterations"], want["failed_iterations"], want["workloads"])
        c.ok(same, "baseline on %s: %d sample rows written, oracle counts %d" % (f.name, rows, want["sample_rows"]))
        compare_with_perfkit(c, py, f, out_dir)


COMPARE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import bench
print(json.dumps(bench.compare_outputs(json.loads(sys.argv[2]), json.loads(sys.argv[3]))))
"""


def compare_with_perfkit(c, py, report, out_dir):
    """perfkit's tables equal the baseline's cell by cell ($PERFKIT_BIN)."""
    perfkit = os.environ.get("PERFKIT_BIN")
    if not perfkit:
        return
    archive = out_dir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    subprocess.run([py, str(HERE / "baseline_ingest.py"), str(report), "--out", str(out_dir / "baseline"),
                    "--build", "check"], check=True, capture_output=True)
    r = subprocess.run([perfkit, "ingest", "--project", "openstack/bench", "--archive", str(archive),
                        "--build", "check", str(report)], capture_output=True, text=True)
    if r.returncode != 0:
        c.ok(False, "perfkit ingest %s: %s" % (report.name, r.stderr.strip()[-300:]))
        return
    tables = ("samples", "workloads", "builds")
    ours = {t: [str(p) for p in archive.glob("v1/%s/**/*.parquet" % t)] for t in tables}
    theirs = {t: [str(out_dir / "baseline" / (t + ".parquet"))] for t in tables}
    r = subprocess.run([py, "-c", COMPARE, str(HERE), json.dumps(ours), json.dumps(theirs)],
                       capture_output=True, text=True, check=True)
    problems, _ = json.loads(r.stdout)
    if problems:
        print(indented("\n".join(problems)))
    c.ok(not problems, "perfkit's tables for %s equal the baseline's cell by cell" % report.name)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=4.0)
    p.add_argument("--keep", type=pathlib.Path, help="directory to keep the generated report in")
    args = p.parse_args(argv)
    c = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or pathlib.Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = check_report(c, out_dir, args.size_mb)
        check_with_rally(c, report)
        check_with_tools(c, report, out_dir)
    print("check: %s" % ("FAILED (%d)" % c.failures if c.failures else "ok"))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
