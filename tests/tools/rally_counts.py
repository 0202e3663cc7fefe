#!/usr/bin/env python3
"""Independent oracle: counts what is in one Rally result file.

Owns the reference numbers that perfkit's ingest is checked against (tests
compare perfkit's Parquet row counts with this output via DuckDB). It shares
no code with perfkit and uses the Python standard library only.

Usage:
    rally_counts.py FILE          print the counts of FILE as JSON
    rally_counts.py --self-test   check the counts of the checked-in fixtures
                                  against the numbers in
                                  tests/fixtures/rally/README.md and against
                                  Rally's own aggregates inside each file

Output:
    {"format": "rally-v2" | "rally-results", "tasks": n, "workloads": n,
     "iterations": n, "failed_iterations": n, "sample_rows": n,
     "workloads_detail": [{"scenario", "iterations", "failed", "pass_sla"}]}

Counting rules:
* format is detected from content: a JSON object with "tasks" is a v2 report
  (`rally task report --json`), a JSON list is the old format
  (`rally task results`), which always describes exactly one task.
* iterations are the entries of a workload's raw data ("data" in v2,
  "result" in the old format); an iteration failed when its "error" is
  non-empty.
* sample_rows = one row per iteration + one row per atomic action. In v2
  every action at every nesting depth counts (its "children", recursively).
  The old format only has the flat top-level {name: seconds} dict: one row
  per key whose value is not null; a null value carries no duration (older
  Rally wrote null for an action that never finished), so it yields no row.
* pass_sla is the workload's "pass_sla" in v2; in the old format it is true
  when every entry of the workload's "sla" list has "success" true.

Python's json accepts the Infinity/NaN tokens Rally writes (e.g. a periodic
hook trigger's "end": Infinity), so files are read as they are.
"""

import json
import pathlib
import sys


def count_atomics_v2(actions):
    """Number of atomic actions in a v2 list, nested children included."""
    return sum(1 + count_atomics_v2(a.get("children") or []) for a in actions)


def count_atomics_old(actions):
    """Number of non-null entries of an old-format atomic_actions dict."""
    return sum(1 for v in actions.values() if v is not None)


def failed(iteration):
    return bool(iteration.get("error"))


def workload_counts(scenario, iterations, atomic_rows, pass_sla):
    return {
        "scenario": scenario,
        "iterations": len(iterations),
        "failed": sum(1 for it in iterations if failed(it)),
        "pass_sla": pass_sla,
        "_rows": len(iterations) + atomic_rows,
    }


def counts_v2(report):
    details = []
    for task in report["tasks"]:
        for subtask in task["subtasks"]:
            for wl in subtask["workloads"]:
                (scenario,) = wl["scenario"].keys()
                data = wl["data"]
                rows = sum(count_atomics_v2(it["atomic_actions"]) for it in data)
                details.append(workload_counts(scenario, data, rows, wl["pass_sla"]))
    return "rally-v2", len(report["tasks"]), details


def counts_old(results):
    details = []
    for wl in results:
        data = wl["result"]
        rows = sum(count_atomics_old(it.get("atomic_actions") or {}) for it in data)
        pass_sla = all(s["success"] for s in wl["sla"])
        details.append(workload_counts(wl["key"]["name"], data, rows, pass_sla))
    return "rally-results", 1, details


def counts(doc):
    """Counts of a parsed Rally result document (see module doc)."""
    if isinstance(doc, dict) and "tasks" in doc:
        fmt, tasks, details = counts_v2(doc)
    elif isinstance(doc, list):
        fmt, tasks, details = counts_old(doc)
    else:
        raise ValueError("neither a v2 report (object with 'tasks') nor an old results list")
    rows = sum(d.pop("_rows") for d in details)
    return {
        "format": fmt,
        "tasks": tasks,
        "workloads": len(details),
        "iterations": sum(d["iterations"] for d in details),
        "failed_iterations": sum(d["failed"] for d in details),
        "sample_rows": rows,
        "workloads_detail": details,
    }


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- self-test

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rally"

# Numbers stated in tests/fixtures/rally/README.md (and history/README.md).
# They belong to the checked-in run: after fixtures/rally/generate.sh, update
# the timing-dependent ones (dev-abort-on-sla: iterations before the abort).
# Each: file -> (format, tasks, [(scenario, iterations, failed, pass_sla)]).
EXPECTED = {
    "dev-success.report.json": ("rally-v2", 1, [("Dummy.dummy", 10, 0, True)]),
    "dev-success.results.json": ("rally-results", 1, [("Dummy.dummy", 10, 0, True)]),
    "dev-success-x2.report.json": (
        "rally-v2",
        2,
        [("Dummy.dummy", 10, 0, True), ("Dummy.dummy", 10, 0, True)],
    ),
    "dev-failures.report.json": (
        "rally-v2",
        1,
        [
            ("Dummy.dummy_random_fail_in_atomic", 20, 5, False),
            ("Dummy.dummy_exception", 3, 3, False),
            ("Dummy.failure", 8, 3, True),
        ],
    ),
    "dev-failures.results.json": (
        "rally-results",
        1,
        [
            ("Dummy.dummy_random_fail_in_atomic", 20, 5, False),
            ("Dummy.dummy_exception", 3, 3, False),
            ("Dummy.failure", 8, 3, True),
        ],
    ),
    "dev-sla-v1.report.json": (
        "rally-v2",
        1,
        [
            ("Dummy.dummy_timed_atomic_actions", 12, 0, False),
            ("Dummy.dummy_random_action", 10, 0, False),
        ],
    ),
    "dev-context-fail.report.json": (
        "rally-v2",
        1,
        [("Dummy.dummy", 0, 0, False), ("Dummy.dummy", 5, 0, True)],
    ),
    "dev-context-fail.results.json": (
        "rally-results",
        1,
        [("Dummy.dummy", 0, 0, False), ("Dummy.dummy", 5, 0, True)],
    ),
    "dev-abort-on-sla.report.json": ("rally-v2", 1, [("Dummy.failure", 8, 6, False)]),
    "dev-abort-on-sla.results.json": ("rally-results", 1, [("Dummy.failure", 8, 6, False)]),
    "dev-crashed.report.json": ("rally-v2", 1, []),
}
# history/: 20 builds and 2 changes, all runs of the same task file.
HISTORY_RUNS = ["history/build-%02d.report.json" % b for b in range(1, 21)] + [
    "history/change-%d.report.json" % c for c in (900001, 900002)
]
EXPECTED.update(
    {
        name: (
            "rally-v2",
            1,
            [("HttpRequests.check_request", 20, 0, True), ("Dummy.dummy", 15, 0, True)],
        )
        for name in HISTORY_RUNS
    }
)

CROSS_CHECK_ONLY = ["dev-output-hooks.report.json"]

# sample_rows worked out by hand from the README's description of the scenarios:
# Dummy.dummy has foo > bar (2 actions per iteration in v2, only foo in the old
# format); HttpRequests.check_request has one action requests.check_request.
EXPECTED_ROWS = {
    "dev-success.report.json": 10 * (1 + 2),
    "dev-success.results.json": 10 * (1 + 1),
    "dev-success-x2.report.json": 2 * 10 * (1 + 2),
    "dev-context-fail.report.json": 5 * (1 + 2),
    "dev-context-fail.results.json": 5 * (1 + 1),
    "dev-crashed.report.json": 0,
}
EXPECTED_ROWS.update({name: 20 * (1 + 1) + 15 * (1 + 2) for name in HISTORY_RUNS})


def stats_atomic_calls(rows):
    """Atomic calls according to Rally's own pre-aggregated statistics.

    Rally merges equal names per iteration (count_per_iteration) and keeps
    3 levels; "<no-name-action>" is synthetic (an error outside any action).
    """
    total = 0
    for row in rows:
        if row["name"] == "<no-name-action>":
            continue
        total += row["count_per_iteration"] * row["data"]["iteration_count"]
        total += stats_atomic_calls(row["children"])
    return total


def depth(actions):
    return max((1 + depth(a.get("children") or []) for a in actions), default=0)


def cross_check_v2(name, report, problems):
    """Compare the raw-data counts with Rally's aggregates in the same file."""
    for task in report["tasks"]:
        for subtask in task["subtasks"]:
            for wl in subtask["workloads"]:
                data = wl["data"]
                where = "%s: %s" % (name, list(wl["scenario"])[0])
                if len(data) != wl["total_iteration_count"]:
                    problems.append("%s: total_iteration_count differs" % where)
                if sum(1 for it in data if failed(it)) != wl["failed_iteration_count"]:
                    problems.append("%s: failed_iteration_count differs" % where)
                if max((depth(it["atomic_actions"]) for it in data), default=0) <= 3:
                    mine = sum(count_atomics_v2(it["atomic_actions"]) for it in data)
                    rally = stats_atomic_calls(wl["statistics"]["durations"]["atomics"])
                    if mine != rally:
                        problems.append("%s: %d atomic actions, statistics say %d" % (where, mine, rally))


def elastic_atomic_docs(path):
    """Atomic-action documents of an elastic bulk export, synthetic ones excluded.

    Rally's elastic exporter writes one document per atomic action (depth <= 3)
    and adds a "no-name-action" document for an error outside any action.
    """
    lines = [ln for ln in pathlib.Path(path).read_text(encoding="utf-8").splitlines() if ln]
    n = 0
    for header, doc in zip(lines[0::2], lines[1::2]):
        if json.loads(header)["index"]["_index"].startswith("rally_atomic_action_data"):
            n += json.loads(doc)["action_name"] != "no-name-action"
    return n


def self_test():
    problems = []
    # No numbers for these in the README (constant_for_duration decides the
    # iteration count); they are only cross-checked against Rally's aggregates
    # and, where there is one, the elastic export of the same run.
    for name in CROSS_CHECK_ONLY:
        doc = load(FIXTURES / name)
        cross_check_v2(name, doc, problems)
        got = counts(doc)
        elastic = FIXTURES / name.replace(".report.json", ".elastic.ndjson")
        if elastic.exists():
            docs = elastic_atomic_docs(elastic)
            if got["sample_rows"] - got["iterations"] != docs:
                problems.append("%s: %d atomic actions, elastic export has %d"
                                % (name, got["sample_rows"] - got["iterations"], docs))
        print("%-36s %s" % (name, json.dumps({k: got[k] for k in got if k != "workloads_detail"})))
    for name, (fmt, tasks, workloads) in sorted(EXPECTED.items()):
        path = FIXTURES / name
        if not path.exists():
            problems.append("%s: missing" % name)
            continue
        doc = load(path)
        got = counts(doc)
        want_detail = [
            {"scenario": s, "iterations": i, "failed": f, "pass_sla": p} for s, i, f, p in workloads
        ]
        want = {
            "format": fmt,
            "tasks": tasks,
            "workloads": len(workloads),
            "iterations": sum(w[1] for w in workloads),
            "failed_iterations": sum(w[2] for w in workloads),
            "workloads_detail": want_detail,
        }
        for key, value in want.items():
            if got[key] != value:
                problems.append("%s: %s is %r, expected %r" % (name, key, got[key], value))
        if name in EXPECTED_ROWS and got["sample_rows"] != EXPECTED_ROWS[name]:
            problems.append(
                "%s: sample_rows is %d, expected %d" % (name, got["sample_rows"], EXPECTED_ROWS[name])
            )
        if fmt == "rally-v2":
            cross_check_v2(name, doc, problems)
        print("%-36s %s" % (name, json.dumps({k: got[k] for k in got if k != "workloads_detail"})))

    # The old format of a run must agree with its v2 report: same iterations
    # and failures, and one row per top-level action (children are dropped).
    for stem in ("dev-success", "dev-failures", "dev-context-fail", "dev-abort-on-sla"):
        v2, old = load(FIXTURES / (stem + ".report.json")), load(FIXTURES / (stem + ".results.json"))
        top = sum(len(it["atomic_actions"]) for t in v2["tasks"] for s in t["subtasks"]
                  for w in s["workloads"] for it in w["data"])
        a, b = counts(v2), counts(old)
        if (a["iterations"], a["failed_iterations"]) != (b["iterations"], b["failed_iterations"]):
            problems.append("%s: v2 and old format disagree on iterations" % stem)
        if b["sample_rows"] != b["iterations"] + top:
            problems.append("%s: old-format rows %d != iterations + top-level actions %d"
                            % (stem, b["sample_rows"], b["iterations"] + top))

    for p in problems:
        print("FAIL " + p, file=sys.stderr)
    print("self-test: %s" % ("FAILED (%d)" % len(problems) if problems else "ok"))
    return 1 if problems else 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) != 1 or argv[0].startswith("-"):
        usage = next(p for p in __doc__.split("\n\n") if p.startswith("Usage:"))
        print(usage, file=sys.stderr)
        return 2
    try:
        result = counts(load(argv[0]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("rally_counts: %s: %s" % (argv[0], e), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
