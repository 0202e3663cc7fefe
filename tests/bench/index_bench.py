#!/usr/bin/env python3
"""The index benchmark: what judging one patchset and listing a project
cost as the history grows, with the project index (`perfkit compare`, `perfkit
ls`) beside the method perfkit used before it (read every build of the
project: list its `builds` objects, GET each row and `series`), on the
same synthetic archives, in one run.

For each size (default 500, 4,000 and 10,000 builds of one project, 20
workloads x 10 actions = 200 series each, one build in 50 a check build of
its own change), made by site/examples/synth_archive.rs and cached under
target/bench/index/, then indexed once by `perfkit repair` (a backfill's
one-time cost, printed beside), each measured run a fresh process under
measure.py (wall, CPU, peak RSS):

- `compare_methods --method index` and `--method every-build` of the newest
  check patchset: both print the object store requests they made (LIST
  pages at 1,000 keys, as S3 and GCS page) and a digest of the verdict,
  which must be the same;
- `perfkit -v ls --json --project openstack/bench`: its requests from the
  `-v` log line.

Prints the input's shape and one markdown table per measure: median wall
(best - worst) of the runs, median CPU, peak RSS, requests. Goals (issue
"The upstream loop at OpenStack scale", item 1): compare time and RSS at
4,000 builds within 1.5x of 500; at most 100 requests per compare at every
size; `ls --json` of 10,000 builds within 1 s. `--check` exits 1 when one
is missed.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROJECT = "openstack/bench"
CHECK_EVERY = 50
REQUESTS = re.compile(r"(\d+) object store requests: (\d+) GET, (\d+) HEAD, (\d+) LIST pages \((\d+) keys\), (\d+) PUT, (\d+) DELETE")


def fail(message):
    print("index bench: " + message, file=sys.stderr)
    sys.exit(2)


def measured(cmd, stdout=None):
    wrapper = [sys.executable, str(HERE / "measure.py")]
    if stdout:
        wrapper += ["--stdout", str(stdout)]
    out = subprocess.run(wrapper + ["--"] + [str(c) for c in cmd], check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    if result["rc"] != 0:
        fail("command failed (exit %d): %s\n%s" % (result["rc"], " ".join(map(str, cmd)), result["stderr"]))
    return result


def archive_for(args, builds):
    """The cached synthetic archive of `builds` builds, indexed."""
    path = Path(args.work) / ("archive-%d-s%d" % (builds, args.seed))
    done = path / ".complete"
    repair = None
    if not done.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)
        print("generating %d builds into %s ..." % (builds, path), file=sys.stderr)
        synth = measured([args.synth, "--out", path, "--builds", builds, "--workloads", 20, "--actions", 10,
                          "--seed", args.seed, "--check-every", CHECK_EVERY])
        # As after a backfill with nothing else reading: the compact covers
        # every segment, which go at once (in steady state, `repair` from
        # cron deletes them an hour after the compact).
        repair = measured([args.perfkit, "-v", "repair", "--grace", 0, "--archive", path, "--project", PROJECT])
        repair["synth"] = synth
        done.write_text(json.dumps(repair))
    else:
        repair = json.loads(done.read_text())
    return path, repair


def disk(path):
    files = [p for p in Path(path).rglob("*.parquet")]
    return len(files), sum(p.stat().st_size for p in files)


def requests_of(text):
    m = REQUESTS.search(text)
    if not m:
        fail("no request count in: " + text[-500:])
    total, get, head, pages, keys, put, delete = map(int, m.groups())
    return {"total": total, "get": get, "head": head, "list_pages": pages, "listed_keys": keys,
            "put": put, "delete": delete}


def summary(runs):
    walls = sorted(r["wall_s"] for r in runs)
    return {
        "wall": statistics.median(walls), "best": walls[0], "worst": walls[-1],
        "cpu": statistics.median(r["cpu_s"] for r in runs),
        "rss_mib": max(r["max_rss_kib"] for r in runs) / 1024,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--perfkit", required=True)
    p.add_argument("--synth", required=True)
    p.add_argument("--methods", required=True, help="the compare_methods example binary")
    p.add_argument("--sizes", default="500,4000,10000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=str(ROOT / "target" / "bench" / "index"))
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    scratch = Path(args.work) / "scratch"
    scratch.mkdir(exist_ok=True)

    results = {}
    for n in sizes:
        path, repair = archive_for(args, n)
        last_check = (n // CHECK_EVERY) * CHECK_EVERY - 1
        if last_check < 0:
            fail("--sizes: at least %d builds, so that one is a check build" % CHECK_EVERY)
        change = 900000 + last_check
        objects, size = disk(path)
        runs = {"index": [], "every-build": [], "ls": []}
        digests = set()
        for _ in range(args.runs):
            for method in ("index", "every-build"):
                out = scratch / "methods.json"
                r = measured([args.methods, "--archive", path, "--project", PROJECT, "--change", change,
                              "--patchset", 1, "--method", method], stdout=out)
                line = json.loads(out.read_text())
                r["requests"] = dict(line["requests"], total=sum(line["requests"][k] for k in
                                     ("get", "head", "put", "delete", "list_pages")))
                r["baseline_builds"] = line["baseline_builds"]
                digests.add(line["verdict_sha256"])
                runs[method].append(r)
            r = measured([args.perfkit, "-v", "ls", "--json", "--project", PROJECT, "--archive", path],
                         stdout=scratch / "ls.json")
            rows = sum(1 for _ in open(scratch / "ls.json"))
            if rows != n:
                fail("ls --json listed %d builds of %d" % (rows, n))
            r["requests"] = requests_of(r["stderr"])
            runs["ls"].append(r)
        if len(digests) != 1:
            fail("the two methods reached different verdicts at %d builds" % n)
        results[n] = {"runs": runs, "objects": objects, "bytes": size, "repair": repair, "change": change}

    print("## Index benchmark\n")
    print("Input: one project, 20 workloads x 10 actions = 200 series per build, one build in %d a check"
          " build; %d run(s) per cell, each a fresh process; wall = median (best - worst)." % (CHECK_EVERY, args.runs))
    print()
    print("| builds | objects | MB on disk | backfill: `repair` (wall, CPU) | judged patchset | baseline builds |")
    print("|---:|---:|---:|---|---|---:|")
    for n, r in results.items():
        rep = r["repair"]
        print("| %d | %d | %.1f | %.1f s, %.1f s CPU | %d/1 | %d |" % (
            n, r["objects"], r["bytes"] / 1e6, rep["wall_s"], rep["cpu_s"], r["change"],
            r["runs"]["index"][0]["baseline_builds"]))
    print()
    print("| measure | builds | wall s | CPU s | peak RSS MiB | requests (GET / HEAD / LIST pages) |")
    print("|---|---:|---|---:|---:|---|")
    for label, key in (("compare, index (perfkit now)", "index"),
                       ("compare, every build (before the index)", "every-build"),
                       ("ls --json (perfkit now)", "ls")):
        for n, r in results.items():
            s = summary(r["runs"][key])
            q = r["runs"][key][0]["requests"]
            print("| %s | %d | %.2f (%.2f - %.2f) | %.2f | %.0f | %d (%d / %d / %d) |" % (
                label, n, s["wall"], s["best"], s["worst"], s["cpu"], s["rss_mib"], q["total"], q["get"],
                q["head"], q["list_pages"]))
    print()

    missed = []
    small, large = min(sizes), max(sizes)
    if 500 in results and 4000 in results:
        a, b = summary(results[500]["runs"]["index"]), summary(results[4000]["runs"]["index"])
        ratio_t, ratio_m = b["wall"] / a["wall"], b["rss_mib"] / a["rss_mib"]
        print("- compare time 4,000 vs 500 builds: %.2fx (goal <= 1.5x); peak RSS: %.2fx (goal <= 1.5x)"
              % (ratio_t, ratio_m))
        if ratio_t > 1.5 or ratio_m > 1.5:
            missed.append("compare 4,000 vs 500")
    worst = max(r["runs"]["index"][0]["requests"]["total"] for r in results.values())
    print("- requests per compare, most at any size: %d (goal <= 100)" % worst)
    if worst > 100:
        missed.append("requests per compare")
    if 10000 in results:
        ls = summary(results[10000]["runs"]["ls"])
        print("- ls --json of 10,000 builds: %.2f s median (goal <= 1 s)" % ls["wall"])
        if ls["wall"] > 1:
            missed.append("ls --json of 10,000 builds")
    print("- sizes %d..%d; the two compare methods reached the same verdict at every size" % (small, large))
    if args.check and missed:
        print("missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
