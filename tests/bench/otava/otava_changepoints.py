#!/usr/bin/env python3
"""Runs Apache Otava 0.8.0's change-point analysis on prefixes of histories.

Run it with the otava venv's python (tests/run creates it in
target/venvs/otava from tests/tools/requirements-otava.txt):

    target/venvs/otava/bin/python tests/bench/otava/otava_changepoints.py IN.json [--jobs N] > OUT.json

--jobs N analyses the histories in N forked worker processes (default 1;
the output is the same and in the same order).

IN.json:
    {"window_len": 50, "max_pvalue": 0.001, "min_magnitude": 0.0,   (each optional)
     "histories": [{"id": "h1", "values": [1.0, 2.0, ...], "prefixes": [20, 21, ...]}]}

For every history and every k in its prefixes, Otava analyses values[:k]
(a fresh, full analysis each time, as `otava analyze` would on a history of
k points). Standard output, one JSON object:
    {"h1": {"20": [{"index": 12, "direction": "increase",
                    "pvalue": 1.2e-05, "magnitude": 0.5}], "21": [...]}}
index: the position of the first point after the change (Otava's change
point index, the first point of the right-hand segment; perfkit's
convention too). direction: "increase" when the mean after the change is
higher than the mean before it. pvalue: Otava's two-sided t-test p-value
between the segments either side of the change (its merge step's). magnitude:
Otava's `change_magnitude()`, max(|after/before - 1|, |before/after - 1|).
A p-value Otava cannot compute (NaN) is written as null. A value may be
null: Otava's own forward fill (`fill_missing`) replaces it, as in the CLI.
A one-line summary (histories, analyses, seconds) goes to standard error.

The analysis is the call `otava analyze` makes for each metric
(otava/series.py, AnalyzedSeries): `fill_missing(values)` then
`otava.analysis.compute_change_points(values, window_len=, max_pvalue=,
min_magnitude=)`, whose first result is the list of change points. The
values are passed as a Python list, as the CLI does: in 0.8.0 a numpy array
is not cut into windows (ChangePointDetector.get_change_points only slices a
series that is not already an ndarray), and the analysis breaks (a
ValueError on make_samples.py's step history).

Defaults: whatever `otava.series.AnalysisOptions()` holds, which is what
`otava analyze` uses when not told otherwise. In 0.8.0: window_len 50,
max_pvalue 0.001, min_magnitude 0.0; documented in `otava analyze --help`
(otava/main.py, setup_analysis_options_parser: `--window` default 50,
`-P, --p-value` default 0.001, `-M/--magnitude` default 0.0). The original
E-divisive (`--orig-edivisive`, permutation test, no windows) is not used.
"""

import argparse
import json
import math
import multiprocessing
import sys
import time

from otava.analysis import compute_change_points, fill_missing
from otava.series import AnalysisOptions


def settings(doc):
    """Otava's defaults, overridden by the input's window_len, max_pvalue, min_magnitude."""
    opts = AnalysisOptions()
    if doc.get("window_len") is not None:
        opts.window_len = int(doc["window_len"])
    if doc.get("max_pvalue") is not None:
        opts.max_pvalue = float(doc["max_pvalue"])
    if doc.get("min_magnitude") is not None:
        opts.min_magnitude = float(doc["min_magnitude"])
    if opts.window_len < 2:
        raise ValueError("window_len must be at least 2 (Otava asserts it)")
    return opts


def finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def analyse(values, opts):
    """Otava's change points of one series, as the output's dicts."""
    series = list(values)
    fill_missing(series)
    if any(v is None for v in series):
        return []  # nothing but nulls: nothing to analyse
    series = [float(v) for v in series]
    change_points, _weak = compute_change_points(
        series,
        window_len=opts.window_len,
        max_pvalue=opts.max_pvalue,
        min_magnitude=opts.min_magnitude,
    )
    out = []
    for cp in change_points:
        stats = cp.stats
        out.append(
            {
                "index": int(cp.index),
                "direction": "increase" if stats.mean_2 > stats.mean_1 else "decrease",
                "pvalue": finite_or_none(stats.pvalue),
                "magnitude": finite_or_none(stats.change_magnitude()),
            }
        )
    return out


def analyse_history(job):
    """(id, values, prefixes, opts) -> (id, {str(k): change points of values[:k]})."""
    hid, values, prefixes, opts = job
    per_prefix = {}
    for k in prefixes:
        per_prefix[str(k)] = analyse(values[:k], opts)
    return hid, per_prefix


def jobs_of(doc, opts):
    """Checks the histories and yields one job per history."""
    seen = set()
    for history in doc["histories"]:
        hid = str(history["id"])
        if hid in seen:
            raise ValueError(f"history id {hid!r} appears twice")
        seen.add(hid)
        values = history["values"]
        prefixes = history.get("prefixes")
        if prefixes is None:
            prefixes = [len(values)]
        prefixes = [int(k) for k in prefixes]
        for k in prefixes:
            if not 0 <= k <= len(values):
                raise ValueError(f"history {hid!r}: prefix {k} is outside 0..{len(values)}")
        yield hid, values, prefixes, opts


def main(argv):
    ap = argparse.ArgumentParser(
        prog="otava_changepoints.py",
        description="Apache Otava 0.8.0's change points on prefixes of histories (JSON in, JSON out).",
    )
    ap.add_argument("input", help="the histories, JSON (see the module's docstring)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    args = ap.parse_args(argv[1:])
    with open(args.input) as f:
        doc = json.load(f)
    opts = settings(doc)
    jobs = list(jobs_of(doc, opts))
    analyses = sum(len(j[2]) for j in jobs)
    started = time.perf_counter()
    if args.jobs > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.jobs) as pool:
            results = pool.map(analyse_history, jobs, chunksize=max(1, len(jobs) // (8 * args.jobs)))
    else:
        results = [analyse_history(j) for j in jobs]
    result = dict(results)
    elapsed = time.perf_counter() - started
    json.dump(result, sys.stdout, allow_nan=False, separators=(",", ":"))
    sys.stdout.write("\n")
    print(
        f"otava_changepoints: {len(result)} histories, {analyses} analyses in {elapsed:.1f} s "
        f"with {max(1, args.jobs)} process(es) "
        f"(window_len={opts.window_len}, max_pvalue={opts.max_pvalue}, "
        f"min_magnitude={opts.min_magnitude})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
