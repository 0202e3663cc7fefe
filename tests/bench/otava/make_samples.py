#!/usr/bin/env python3
"""Writes synthetic histories for otava_changepoints.py (standard library only).

    make_samples.py                 the sanity set, JSON on standard output
    make_samples.py --bench 2000    2,000 histories of 80 points with 20 prefixes
                                    each (for timing), mixed like the sanity set

The sanity set (80 points each, seed 1; prefixes 20, 23, ..., 80):
  clean     100 with 5 % Gaussian noise, no change
  step50    100 with 1 % noise, +50 % from index 30 on (index 30 is the change)
  outlier   100 with 1 % noise, one point at 300 (index 40)
  drop20    100 with 2 % noise, -20 % from index 50 on
"""

import argparse
import json
import random
import sys

LENGTH = 80


def noisy(rng, level, sd, n=LENGTH):
    return [level * (1.0 + rng.gauss(0.0, sd)) for _ in range(n)]


def sanity(rng):
    clean = noisy(rng, 100.0, 0.05)
    step = noisy(rng, 100.0, 0.01)
    step[30:] = [v * 1.5 for v in step[30:]]
    outlier = noisy(rng, 100.0, 0.01)
    outlier[40] = 300.0
    drop = noisy(rng, 100.0, 0.02)
    drop[50:] = [v * 0.8 for v in drop[50:]]
    return [("clean", clean), ("step50", step), ("outlier", outlier), ("drop20", drop)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=int, metavar="N", help="N histories for timing")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window-len", type=int, help="written as window_len (else Otava's default)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    prefixes = list(range(20, LENGTH + 1, 3))  # 20, 23, ..., 80
    histories = []
    if args.bench:
        while len(histories) < args.bench:
            for name, values in sanity(rng):
                histories.append({"id": f"{name}-{len(histories)}", "values": values,
                                  "prefixes": prefixes[:20]})
        histories = histories[: args.bench]
    else:
        histories = [{"id": n, "values": v, "prefixes": prefixes} for n, v in sanity(rng)]
    doc = {"histories": histories}
    if args.window_len is not None:
        doc["window_len"] = args.window_len
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
