#!/usr/bin/env python3
"""Run Locust through an upgrade and record the upgrade's window.

Written by ``perfkit scaffold --with-locust --upgrade``; run by
``playbooks/perfkit/tasks/locust-through-upgrade.yaml`` in the background
while grenade upgrades the node. Standard library only.

1. Waits for the old release's openrc, reads the OS_* variables it exports
   (``source OPENRC USER PROJECT`` in bash; they are passed to Locust in its
   environment, never on a command line), then waits until OS_AUTH_URL
   answers.
2. Starts Locust (every argument after ``--``), without a run time.
3. Follows the upgrade's log (grenade's ``grenade.sh.log.summary``): the
   first line matching ``--start-marker`` opens the window, the first
   matching ``--end-marker`` after it closes it. A line's time is its own
   ``YYYY-MM-DD HH:MM:SS.mmm |`` prefix (UTC, as grenade's outfilter writes
   it), else the time it was read.
4. Stops Locust (SIGTERM: it writes its CSV and JSON files)
   ``--after`` seconds after the window closed, when ``--stop-file``
   appears (the upgrade is over, however it ended) or after
   ``--max-seconds``; then writes ``PREFIX_upgrade_window.json`` beside
   Locust's CSV files: ``{"start": s, "end": s, "end_seen": bool,
   "markers": [start, end]}`` (Unix seconds; ``end`` is when Locust stopped
   if the end marker never came).

Exit status: Locust's (0, or 3 when some requests failed), 2 when the
window never opened or something here went wrong.
"""

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) \|")


def log(message):
    print("locust-through-upgrade: %s" % message, file=sys.stderr, flush=True)


def parse_args(argv):
    if "--" not in argv:
        raise SystemExit("usage: locust-through-upgrade.py OPTIONS -- LOCUST ARGS")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="locust-through-upgrade.py")
    parser.add_argument("--openrc", required=True)
    parser.add_argument("--os-user", default="admin")
    parser.add_argument("--os-project", default="admin")
    parser.add_argument("--upgrade-log", required=True)
    parser.add_argument("--start-marker", required=True)
    parser.add_argument("--end-marker", required=True)
    parser.add_argument("--window-file", required=True)
    parser.add_argument("--after", type=float, default=60.0)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--max-seconds", type=float, default=7200.0)
    parser.add_argument("--ready-timeout", type=float, default=3600.0)
    opts = parser.parse_args(argv[:split])
    opts.locust = argv[split + 1:]
    if not opts.locust:
        parser.error("no Locust command after --")
    return opts


def openrc_environment(path, user, project, deadline):
    """The OS_* variables `source path user project` exports."""
    while not os.path.exists(path):
        if time.time() > deadline:
            raise RuntimeError("%s did not appear" % path)
        time.sleep(2)
    script = 'source "$1" "$2" "$3" > /dev/null 2>&1; env -0'
    out = subprocess.run(["bash", "-c", script, "openrc", path, user, project],
                         check=True, stdout=subprocess.PIPE).stdout
    env = {}
    for item in out.split(b"\0"):
        key, _, value = item.decode("utf-8", "replace").partition("=")
        if key.startswith("OS_"):
            env[key] = value
    if not env.get("OS_AUTH_URL"):
        raise RuntimeError("%s did not set OS_AUTH_URL" % path)
    return env


def wait_until_answering(url, deadline):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            raise RuntimeError("%s did not answer in time" % url)
        time.sleep(1)


def line_time(line):
    m = STAMP.match(line)
    if m:
        stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
        return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    return time.time()


class LogFollower:
    """New complete lines of a file that may not exist yet."""

    def __init__(self, path):
        self.path = path
        self.handle = None
        self.partial = ""

    def lines(self):
        if self.handle is None:
            try:
                self.handle = open(self.path, encoding="utf-8", errors="replace")
            except OSError:
                return []
        text = self.partial + self.handle.read()
        *complete, self.partial = text.split("\n")
        return complete


def main(argv):
    opts = parse_args(argv)
    start_re = re.compile(opts.start_marker)
    end_re = re.compile(opts.end_marker)
    begun = time.time()
    ready_deadline = begun + opts.ready_timeout
    env = dict(os.environ)
    env.update(openrc_environment(opts.openrc, opts.os_user, opts.os_project,
                                  ready_deadline))
    wait_until_answering(env["OS_AUTH_URL"], ready_deadline)
    log("%s answers: starting Locust" % env["OS_AUTH_URL"])
    locust = subprocess.Popen(opts.locust, env=env)
    follower = LogFollower(opts.upgrade_log)
    start = end = None
    markers = [None, None]
    stop_at = time.time() + opts.max_seconds
    stopped_by = "max-seconds"
    while True:
        for line in follower.lines():
            if start is None and start_re.search(line):
                start, markers[0] = line_time(line), line.strip()[:200]
                log("upgrade window opens")
            elif start is not None and end is None and end_re.search(line):
                end, markers[1] = line_time(line), line.strip()[:200]
                log("upgrade window closes; Locust runs %gs more" % opts.after)
                stop_at = min(stop_at, time.time() + opts.after)
        if locust.poll() is not None:
            stopped_by = "Locust exited"
            break
        if time.time() >= stop_at:
            stopped_by = "after the window" if end is not None else "max-seconds"
            break
        if os.path.exists(opts.stop_file) and end is None:
            stopped_by = "stop file"
            break
        time.sleep(0.2)
    stopped = time.time()
    if locust.poll() is None:
        locust.send_signal(signal.SIGTERM)
    try:
        code = locust.wait(timeout=120)
    except subprocess.TimeoutExpired:
        locust.kill()
        code = locust.wait()
    log("Locust stopped (%s), exit status %s" % (stopped_by, code))
    if start is None:
        log("the upgrade window never opened: no line of %s matched %r"
            % (opts.upgrade_log, opts.start_marker))
        return 2
    window = {"start": start, "end": end if end is not None else stopped,
              "end_seen": end is not None, "markers": markers}
    tmp = opts.window_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(window, out)
    os.replace(tmp, opts.window_file)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log(str(e))
        sys.exit(2)
