#!/usr/bin/env python3
"""Owns the site benchmark's runs and its table (started by tests/bench/site).

On a synthetic archive of one project (default 10,000 builds x 200 series,
every 50th a check build of a change of its own, made by
site/examples/synth_archive.rs and cached under target/bench/site/),
measures, each run in a fresh process under measure.py:
  * a full `perfkit site` into a fresh directory and state directory
    (wall time, CPU time, peak RSS);
  * an incremental `perfkit site` into the same directories after each of
    four updates of the archive, in turn: a new branch build (later than
    all), a new check patchset, a recheck of it, and a backfilled branch
    build (between two old ones); each to a hard-linked copy of the
    archive, so the cached one stays;
  * the overview page's size with what it loads (gzip -9 and raw), the
    largest data file and the largest file of the site;
  * first contentful paint of the overview in headless Chromium (browse.py);
and, on 50 real Rally reports, `rally task trends` against `perfkit site`.
Prints one markdown table: measure | goal | perfkit | rally task trends |
met?; times are the median of the runs with the best and worst beside it. Exits 1 when a run fails; with --check also when a goal is missed.
Sizes: KB = 1000 bytes, MB = 10^6 bytes.
"""

import argparse
import gzip
import hashlib
import html.parser
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROJECT = "openstack/bench"
PROJECT_DIR = "openstack~bench"
KB, MB, MiB = 1000, 1000 * 1000, 1024 * 1024

GOAL_FULL_S = 30.0
GOAL_INCREMENTAL_S = 2.0
GOAL_RSS_MIB = 1024
GOAL_OVERVIEW_KB = 300.0
GOAL_DATA_FILE_MB = 1.0
GOAL_PAINT_MS = 1000.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(msg):
    log("error: " + msg)
    sys.exit(1)


def measured(cmd, env=None, stdout=None):
    """One run of cmd under measure.py: wall_s, cpu_s, max_rss_kib (exits on failure)."""
    wrapper = [sys.executable, str(HERE / "measure.py")]
    if stdout:
        wrapper += ["--stdout", str(stdout)]
    out = subprocess.run(wrapper + ["--"] + [str(c) for c in cmd], check=True, capture_output=True,
                         text=True, env=env).stdout
    result = json.loads(out)
    if result["rc"] != 0:
        fail("command failed (exit %d): %s\n%s" % (result["rc"], " ".join(map(str, cmd)), result["stderr"]))
    return result


def run(cmd, env=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        fail("command failed (exit %d): %s\n%s%s" % (proc.returncode, " ".join(map(str, cmd)),
                                                     proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc.stdout


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path


def link_copy(src, dst):
    """A copy of a directory tree whose files are hard links: cheap, and safe
    because the archive replaces objects by rename, never edits them in place."""
    fresh(dst)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)
    return dst


def files_under(path):
    out = []
    for d, _, names in os.walk(path):
        out.extend(pathlib.Path(d) / n for n in names)
    return out


# ---------------------------------------------------------------- the archive

def synthetic_archive(args):
    """The cached archive for (builds, workloads, actions, seed), generated if missing or stale."""
    base = args.workdir / "site"
    base.mkdir(parents=True, exist_ok=True)
    name = "archive-b%d-w%d-a%d-c%d-s%d" % (args.builds, args.workloads, args.actions, args.check_every, args.seed)
    path = base / name
    meta_path = base / (name + ".meta.json")
    sha = hashlib.sha256((ROOT / "site" / "examples" / "synth_archive.rs").read_bytes()).hexdigest()
    if path.is_dir() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator_sha256") == sha:
            log("using cached %s" % path)
            return path, meta
    log("generating %s ..." % path)
    fresh(path)
    meta_path.unlink(missing_ok=True)
    started = time.perf_counter()
    synth(args, path, 0, args.builds)
    meta = {"generator_sha256": sha, "generate_s": time.perf_counter() - started,
            "files": len(files_under(path)), "bytes": sum(f.stat().st_size for f in files_under(path))}
    meta_path.write_text(json.dumps(meta))
    return path, meta


def synth(args, out, start, builds, variant="plain"):
    run([args.synth, "--out", out, "--builds", builds, "--start-build", start, "--workloads", args.workloads,
         "--actions", args.actions, "--seed", args.seed, "--check-every", args.check_every, "--variant", variant])


def updates(args):
    """The four archive updates an incremental build follows, in order: (name, start build, variant)."""
    return [
        ("new branch build", args.builds, "plain"),
        ("new check patchset", args.builds + 1, "check"),
        ("recheck of that patchset", args.builds + 1, "recheck"),
        ("backfilled branch build", args.builds // 2, "backfill"),
    ]


# ---------------------------------------------------------------- the site

class Resources(html.parser.HTMLParser):
    """What a page loads by itself: stylesheets, scripts, images."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.urls.append(a["href"])
        elif tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])


def page_weight(page):
    """(gzip -9 bytes, raw bytes, files) of a page and the local files it loads."""
    parser = Resources()
    parser.feed(page.read_text(encoding="utf-8"))
    files = [page]
    for url in parser.urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or parts.netloc:
            continue  # not local: a site must not need the network
        target = (page.parent / urllib.parse.unquote(parts.path)).resolve()
        if target.is_file() and target not in files:
            files.append(target)
    raw = sum(f.stat().st_size for f in files)
    packed = sum(len(gzip.compress(f.read_bytes(), compresslevel=9)) for f in files)
    return packed, raw, files


def largest(files):
    return max(files, key=lambda f: f.stat().st_size) if files else None


def site_figures(out, state):
    overview = out / PROJECT_DIR / "index.html"
    packed, raw, loads = page_weight(overview)
    # perfkit's working state is kept beside the site, not in it.
    site_files = files_under(out)
    kept = files_under(state)
    data_files = files_under(out / PROJECT_DIR / "data")
    big_data, big_any = largest(data_files), largest(site_files)
    return {
        "overview_gz": packed,
        "overview_raw": raw,
        "overview_loads": [str(f.relative_to(out.resolve())) for f in loads[1:]],
        "data_file": big_data,
        "data_bytes": big_data.stat().st_size if big_data else 0,
        "data_gz": len(gzip.compress(big_data.read_bytes(), compresslevel=9)) if big_data else 0,
        "site_file": big_any,
        "site_file_bytes": big_any.stat().st_size,
        "site_files": len(site_files),
        "site_bytes": sum(f.stat().st_size for f in site_files),
        "kept_files": len(kept),
        "kept_bytes": sum(f.stat().st_size for f in kept),
        "out": out,
    }


def first_paint(args, url, runs=3, timeout_ms=15000):
    """Median first contentful paint (ms) of `url` over `runs` Chromium starts, or (None, why)."""
    if not args.browse_python:
        return None, "no Python with Playwright (set PERFKIT_TOOLS_BIN)"
    values = []
    for _ in range(runs):
        proc = subprocess.run([args.browse_python, str(ROOT / "tests" / "tools" / "browse.py"),
                               "--chromium", args.chromium, "--timeout-ms", str(timeout_ms), url],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return None, "browse.py exit %d: %s" % (proc.returncode, proc.stderr.strip()[-300:])
        page = json.loads(proc.stdout)["pages"][0]
        if page["error"]:
            return None, page["error"]
        fcp = (page.get("paint") or {}).get("first_contentful_paint_ms")
        if fcp is None:
            return None, "no first-contentful-paint entry"
        values.append(fcp)
    return statistics.median(values), None


def site_runs(args, archive):
    """Per run: full build into fresh dirs, then each update and the incremental build after it."""
    scratch = args.workdir / "site" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    full, incremental, figures, paint, notes = [], {}, None, (None, "not measured"), []
    archive_files = len(files_under(archive))
    for i in range(args.runs):
        copy = link_copy(archive, scratch / "archive")
        out = fresh(scratch / ("out-%d" % i))
        state = fresh(scratch / ("out-%d.perfkit-state" % i))
        site = [args.perfkit, "-v", "site", "--archive", copy, "--out", out, "--state-dir", state]
        r = measured(site, stdout=scratch / "full.txt")
        r["stdout"] = (scratch / "full.txt").read_text()
        full.append(r)
        log("run %d/%d full build         wall %7.2f s  cpu %7.2f s  peak RSS %8.1f MiB"
            % (i + 1, args.runs, r["wall_s"], r["cpu_s"], r["max_rss_kib"] / 1024))
        written = len(files_under(copy)) - archive_files
        if written and i == 0:
            notes.append("perfkit site added %d files to the archive" % written)
        if i == 0:
            figures = site_figures(out, state)
            paint = first_paint(args, (out / PROJECT_DIR / "index.html").resolve().as_uri())
            log("overview %.1f KB gz, largest data file %s %.1f KB, first contentful paint %s ms"
                % (figures["overview_gz"] / KB, figures["data_file"].name, figures["data_bytes"] / KB, paint[0]))
        for name, start, variant in updates(args):
            synth(args, copy, start, 1, variant)
            r = measured(site, stdout=scratch / "incr.txt")
            r["stdout"] = (scratch / "incr.txt").read_text()
            r["log"] = work_line(r["stderr"])
            incremental.setdefault(name, []).append(r)
            log("run %d/%d after %-24s wall %7.2f s  cpu %7.2f s  peak RSS %8.1f MiB  %s; %s"
                % (i + 1, args.runs, name, r["wall_s"], r["cpu_s"], r["max_rss_kib"] / 1024,
                   written_line(r["stdout"]), r["log"]))
        if i > 0:
            fresh(out)
            fresh(state)
    fresh(scratch / "archive")
    return full, incremental, figures, paint, notes


def work_line(stderr):
    """What the build redid, from its log (`-v`): the trend work and change pages judged."""
    m = re.search(r"openstack/bench: ((branch history|\d+ new branch|every branch)[^\n]*)", stderr)
    return m.group(1) if m else ""


def written_line(stdout):
    m = re.search(r"site: .*", stdout)
    return m.group(0) if m else ""


# ---------------------------------------------------------------- Rally

def rally_reports(count):
    fixtures = ROOT / "tests" / "fixtures" / "rally"
    pool = sorted((fixtures / "history").glob("*.report.json"))
    pool += sorted((fixtures / "noise").glob("*.json")) if (fixtures / "noise").is_dir() else []
    if not pool:
        fail("no Rally reports under %s" % fixtures)
    return [pool[i % len(pool)] for i in range(count)]


def rally_env(home):
    env = dict(os.environ, HOME=str(home))
    env.pop("RALLY_ENV", None)
    return env


def rally_db(args, reports):
    """A Rally database with `reports` imported (cached): (config file, env, task uuids)."""
    names = "\n".join(str(p.relative_to(ROOT)) for p in reports)
    digest = hashlib.sha256(names.encode() + b"".join(p.read_bytes() for p in sorted(set(reports)))).hexdigest()
    base = args.workdir / "site" / ("rally-%d" % len(reports))
    conf, uuids_path = base / "rally.conf", base / "uuids.json"
    env = rally_env(base / "home")
    if uuids_path.exists():
        cached = json.loads(uuids_path.read_text())
        if cached.get("digest") == digest:
            log("using cached Rally database %s" % base)
            return conf, env, cached["uuids"]
    log("importing %d Rally reports into %s (about 1.5 s each) ..." % (len(reports), base))
    fresh(base)
    (base / "home").mkdir(parents=True)
    conf.write_text("[database]\nconnection = sqlite:///%s/rally.sqlite\n" % base)
    rally = [args.rally, "--config-file", conf]
    run(rally + ["db", "create"], env)
    run(rally + ["env", "create", "--name", "perfkit-bench"], env)
    uuids = []
    for p in reports:
        out = run(rally + ["task", "import", "--file", p, "--env", "perfkit-bench"], env)
        m = re.search(r"Task UUID: ([0-9a-f-]{36})", out)
        if not m:
            fail("rally task import %s printed no task UUID:\n%s" % (p, out[-1000:]))
        uuids.append(m.group(1))
    uuids_path.write_text(json.dumps({"digest": digest, "uuids": uuids}))
    return conf, env, uuids


def rally_runs(args):
    """`rally task trends` and `perfkit site` on the same real reports."""
    reports = rally_reports(args.rally_tasks)
    conf, env, uuids = rally_db(args, reports)
    scratch = args.workdir / "site" / "scratch-rally"
    fresh(scratch)
    scratch.mkdir(parents=True)
    trends = []
    for i in range(args.runs):
        out = scratch / "trends.html"
        r = measured([args.rally, "--config-file", conf, "task", "trends"] + uuids + ["--out", out], env=env)
        r["bytes"] = out.stat().st_size
        trends.append(r)
        log("run %d/%d rally task trends  wall %7.2f s  cpu %7.2f s  peak RSS %8.1f MiB  %d bytes"
            % (i + 1, args.runs, r["wall_s"], r["cpu_s"], r["max_rss_kib"] / 1024, r["bytes"]))
    static = scratch / "trends-static.html"
    run([args.rally, "--config-file", conf, "task", "trends", "--html-static"] + uuids + ["--out", static], env)
    # trends.html loads its libraries from CDNs; --html-static inlines them, so
    # only that one can render here (and on any offline machine).
    trends_paint = first_paint(args, static.resolve().as_uri(), timeout_ms=3000)

    archive = scratch / "archive"
    for i, p in enumerate(reports):
        run([args.perfkit, "ingest", "--archive", archive, "--project", PROJECT, "--pipeline", "periodic",
             "--branch", "master", "--job", "bench-rally", "--build", "rally-%02d" % i, p])
    sites = []
    for i in range(args.runs):
        out = fresh(scratch / "site")
        state = fresh(scratch / "site.perfkit-state")
        r = measured([args.perfkit, "site", "--archive", archive, "--out", out, "--state-dir", state])
        sites.append(r)
        log("run %d/%d perfkit site (50)  wall %7.2f s  cpu %7.2f s  peak RSS %8.1f MiB"
            % (i + 1, args.runs, r["wall_s"], r["cpu_s"], r["max_rss_kib"] / 1024))
    figures = site_figures(scratch / "site", scratch / "site.perfkit-state")
    paint = first_paint(args, (scratch / "site" / PROJECT_DIR / "index.html").resolve().as_uri())
    return {
        "reports": reports,
        "trends": trends,
        "trends_static_bytes": static.stat().st_size,
        "trends_gz": len(gzip.compress((scratch / "trends.html").read_bytes(), compresslevel=9)),
        "trends_static_gz": len(gzip.compress(static.read_bytes(), compresslevel=9)),
        "trends_paint": trends_paint,
        "sites": sites,
        "figures": figures,
        "paint": paint,
    }


# ---------------------------------------------------------------- the table

def median_run(runs):
    """The run of median wall time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def spread(runs):
    """'median s (best-worst s; cpu median s)'."""
    m = median_run(runs)
    walls = [r["wall_s"] for r in runs]
    return "%.2f s (%.2f-%.2f s; cpu %.2f s)" % (m["wall_s"], min(walls), max(walls), m["cpu_s"])


def peak_mib(runs):
    return max(r["max_rss_kib"] for r in runs) / 1024


def kb(n):
    return "%.1f KB" % (n / KB)


def verdict(value, goal, strict=False):
    """'yes' or 'NO (x% over)'."""
    ok = value < goal if strict else value <= goal
    if ok:
        return "yes"
    return "**NO** (%+.0f%%)" % (100.0 * (value - goal) / goal)


def paint_cell(paint):
    value, why = paint
    return "%.0f ms" % value if value is not None else "not measured: %s" % why


def markdown(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows[1:]])


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--builds", type=int, default=10000)
    p.add_argument("--workloads", type=int, default=20)
    p.add_argument("--actions", type=int, default=10, help="per workload, `total` included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check-every", type=int, default=50, help="every Nth build is a check build of its own change")
    p.add_argument("--runs", type=int, default=3, help="runs per measurement; the median wall time counts")
    p.add_argument("--perfkit", required=True)
    p.add_argument("--synth", required=True, help="the synth_archive example binary")
    p.add_argument("--browse-python", help="Python with Playwright for tests/tools/browse.py")
    p.add_argument("--chromium", default=os.environ.get("PERFKIT_CHROMIUM") or "/usr/bin/chromium")
    p.add_argument("--rally", help="the rally executable (5.1.1); without it no Rally column")
    p.add_argument("--rally-tasks", type=int, default=50)
    p.add_argument("--workdir", type=pathlib.Path, default=ROOT / "target" / "bench")
    p.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    args.workdir = args.workdir.resolve()

    load_before = os.getloadavg()
    archive, meta = synthetic_archive(args)
    full, incr, fig, paint, notes = site_runs(args, archive)
    rally = rally_runs(args) if args.rally else None
    load_after = os.getloadavg()

    series = args.workloads * args.actions
    f = median_run(full)
    rows = [["measure", "goal", "perfkit", "rally task trends", "met?"]]
    rows.append(["full site build, %s builds x %d series (median of %d; best-worst)"
                 % ("{:,}".format(args.builds), series, args.runs),
                 "<= %g s" % GOAL_FULL_S, spread(full), "-", verdict(f["wall_s"], GOAL_FULL_S)])
    rows.append(["peak RSS of the full build (highest of the runs)", "<= %d MiB" % GOAL_RSS_MIB,
                 "%.0f MiB" % peak_mib(full), "-", verdict(peak_mib(full), GOAL_RSS_MIB)])
    for name, runs in incr.items():
        m = median_run(runs)
        rows.append(["incremental build after a %s (median of %d; best-worst)" % (name, args.runs),
                     "<= %g s" % GOAL_INCREMENTAL_S, spread(runs), "-", verdict(m["wall_s"], GOAL_INCREMENTAL_S)])
        rows.append(["  its peak RSS (highest); what it redid", "<= %d MiB" % GOAL_RSS_MIB,
                     "%.0f MiB; %s; %s" % (peak_mib(runs), m["log"], written_line(m["stdout"])), "-",
                     verdict(peak_mib(runs), GOAL_RSS_MIB)])
    rows.append(["overview page + what it loads, gzip -9 (raw)", "<= %g KB" % GOAL_OVERVIEW_KB,
                 "%s (%s)" % (kb(fig["overview_gz"]), kb(fig["overview_raw"])), "-",
                 verdict(fig["overview_gz"] / KB, GOAL_OVERVIEW_KB)])
    rows.append(["largest data file (gzip -9)", "<= %g MB" % GOAL_DATA_FILE_MB,
                 "%.3f MB (%s) %s" % (fig["data_bytes"] / MB, kb(fig["data_gz"]), fig["data_file"].name), "-",
                 verdict(fig["data_bytes"] / MB, GOAL_DATA_FILE_MB)])
    rows.append(["largest file of the site", "-", "%.3f MB %s" % (fig["site_file_bytes"] / MB,
                 fig["site_file"].relative_to(fig["out"])), "-", "-"])
    rows.append(["whole site (+ perfkit's state, kept beside it)", "-",
                 "%s files, %.1f MB (+ %s files, %.1f MB)"
                 % ("{:,}".format(fig["site_files"]), fig["site_bytes"] / MB, "{:,}".format(fig["kept_files"]),
                    fig["kept_bytes"] / MB), "-", "-"])
    rows.append(["first contentful paint of the overview, headless Chromium, file:// (median of 3)",
                 "< %g s" % (GOAL_PAINT_MS / 1000), paint_cell(paint), "-",
                 verdict(paint[0], GOAL_PAINT_MS, strict=True) if paint[0] is not None else "?"])
    if rally:
        n = len(rally["reports"])
        rf = rally["figures"]
        t = median_run(rally["trends"])
        rows.append(["%d real Rally reports: build the report (median of %d; best-worst)" % (n, args.runs), "-",
                     spread(rally["sites"]), spread(rally["trends"]), "-"])
        rows.append(["%d real Rally reports: peak RSS" % n, "-", "%.0f MiB" % peak_mib(rally["sites"]),
                     "%.0f MiB" % peak_mib(rally["trends"]), "-"])
        rows.append(["%d real Rally reports: what the first page loads, gzip -9 (raw)" % n, "-",
                     "overview %s (%s)" % (kb(rf["overview_gz"]), kb(rf["overview_raw"])),
                     "trends.html %s (%s) + CDN libraries; --html-static %s (%s)"
                     % (kb(rally["trends_gz"]), kb(t["bytes"]), kb(rally["trends_static_gz"]),
                        kb(rally["trends_static_bytes"])), "-"])
        rows.append(["%d real Rally reports: output" % n, "-",
                     "%d files, %.2f MB" % (rf["site_files"], rf["site_bytes"] / MB), "1 file", "-"])
        rows.append(["%d real Rally reports: first contentful paint (median of 3)" % n, "-",
                     paint_cell(rally["paint"]), paint_cell(rally["trends_paint"]) + " (--html-static)", "-"])

    version = run([args.perfkit, "--version"]).strip()
    print("perfkit site benchmark: %s" % version)
    print("archive: %s builds of %s (one a day; every %dth a check build of its own change, the rest periodic), "
          "%d workloads x %d actions = %d series, seed %d; %s files, %.0f MB (cached: %s; generated in %.1f s)"
          % ("{:,}".format(args.builds), PROJECT, args.check_every, args.workloads, args.actions, series, args.seed,
             "{:,}".format(meta["files"]), meta["bytes"] / MB, archive, meta["generate_s"]))
    print("full build: %s" % " / ".join(l for l in f["stdout"].splitlines() if not l.startswith("open:")))
    print("overview loads: %s" % ", ".join(fig["overview_loads"]))
    if rally:
        print("rally: %d tasks imported from %d distinct reports (tests/fixtures/rally/history, noise), "
              "`rally task trends UUID... --out trends.html`; perfkit: the same files ingested as periodic builds"
              % (len(rally["reports"]), len(set(rally["reports"]))))
    else:
        print("rally: not measured (no --rally; set PERFKIT_RALLY_PYTHON)")
    for note in notes:
        print("note: " + note)
    print("archive and site in the page cache; KB = 1000 bytes, MB = 10^6 bytes; median wall time of the runs "
          "(best-worst beside it), CPU time of the median run, highest peak RSS")
    print("machine: %d CPUs, load average %.2f %.2f %.2f before, %.2f %.2f %.2f after"
          % ((os.cpu_count() or 0,) + load_before + load_after))
    print()
    print(markdown(rows))
    missed = [r[0] for r in rows if r[4].startswith("**NO")]
    unknown = [r[0] for r in rows if r[4] == "?"]
    print()
    print("goals: %s%s" % ("all met" if not missed else "MISSED: " + "; ".join(missed),
                           "; NOT MEASURED: " + "; ".join(unknown) if unknown else ""))
    return 1 if args.check and (missed or unknown) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
