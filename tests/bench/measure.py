#!/usr/bin/env python3
"""Owns one measured run of the ingest benchmark: runs a command as this
process's only child and prints one JSON line with its wall time, CPU time
and peak RSS (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, KiB on Linux: the
largest resident set of any waited-for descendant, i.e. of that command,
not of this wrapper). One wrapper process per run, so one run's peak can
not hide another's.

Usage: measure.py [--stdout FILE] -- COMMAND [ARG...]
"""

import json
import resource
import subprocess
import sys
import time


def main(argv):
    stdout_path = None
    if argv[:1] == ["--stdout"]:
        stdout_path, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "rc": proc.returncode,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kib": usage.ru_maxrss,
        "stderr": proc.stderr.decode("utf-8", "replace")[-2000:],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
