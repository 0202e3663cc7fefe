#!/usr/bin/env python3
"""A stand-in for Zuul's web API and a log server, for `perfkit collect` tests.

Python 3 standard library only. Serves, on 127.0.0.1 (port 0 unless --port):

* ``GET /api/tenant/<tenant>/builds`` in the shape of Zuul 14.3.0
  (``zuul/web/__init__.py``: ``builds()`` -> ``BuildConverter.toDict(b,
  b.buildset, skip_refs=True)``; ``driver/sql/sqlconnection.py``:
  ``getBuilds()``): a JSON list ordered by build id, newest first, filtered
  by the query parameters Zuul knows (``job_name``, ``project``,
  ``pipeline``, ``branch``, ``change``, ``patchset``, ``ref``, ``newrev``,
  ``uuid``, ``result``, ``exclude_result``, ``voting``, ``final``, ``held``,
  ``complete``, ``idx_min``, ``idx_max``, ``skip``, ``limit`` (default 50));
  a repeated parameter matches any of its values and ``*`` is a wildcard in
  ``job_name``, ``project``, ``pipeline`` and ``branch``, as in Zuul. An
  unknown tenant answers 404.
* ``GET /api/tenant/<tenant>/buildset/<uuid>`` in the shape of Zuul
  14.3.0's ``buildset()`` (``BuildsetConverter.toDict``): the buildset of
  the builds that name it, its ``result`` from the description's
  ``"buildset": {"uuid": ..., "result": ...}`` (default: the first such
  build's result; ``null`` while the item is still running); 404 "Buildset
  not found" for any other uuid. The builds list shows only its ``uuid``.
* ``GET /logs/<log_path><file>``: each build's log tree.
* ``POST /_control`` (JSON): knobs for the next requests, see ``Knobs``.

The builds come from a JSON description (``--builds FILE``)::

    {"builds": [
      {"tenant": "openstack", "uuid": "...", "job_name": "nova-rally-task",
       "result": "SUCCESS" | "NODE_FAILURE" | null (still running) | ...,
       "start_time": "2026-01-02T03:04:05", "end_time": "...",
       "pipeline": "check", "buildset": {"uuid": "..."},
       "ref": {"project": "openstack/nova", "branch": "master", "change": 900001,
               "patchset": "1", "ref": "refs/changes/01/900001/1", "oldrev": null,
               "newrev": null, "ref_url": "https://review.example.org/900001"},
       "log_path": "01/900001/1/check/nova-rally-task/abc1234/" | null,
       "artifacts": [{"name": "Rally JSON report", "url": "perfkit/report.json",
                      "metadata": {"type": "rally_report_json"}}],
       "files": {"perfkit/report.json": {"path": "/abs/report.json"}
                                      | {"text": "..."}
                                      | {"path": "...", "gzip": true}
                                      | {"path": "...", "gzfile": true}
                                      | {"zeros": N, "gzip": true}
                                      | {"status": 410}
                                      | {"redirect": "URL", "status": 302}}},
      ...]}

listed oldest first: ``_id`` is the position in the list (from 1) unless
given. A ``log_url`` given as such is kept (a job that set its own: its
files are another server's). The server turns ``log_path`` into ``log_url``
(``http://127.0.0.1:PORT/logs/<log_path>``) and joins relative artifact
URLs to it, as Zuul does when it stores artifacts
(``zuul/lib/result_data.py``). Fields Zuul always sends and the
description leaves out get Zuul's defaults. A build without ``log_path``
has ``log_url: null`` (it never ran, e.g. NODE_FAILURE). A file that is not
in ``files`` answers 404; ``{"text": ...}`` serves any bytes (e.g. corrupt
JSON); ``"gzip": true`` serves the file gzip-compressed with
``Content-Encoding: gzip`` whatever the client asked (as OpenDev's Swift
log storage serves files it keeps compressed); ``"gzfile": true`` serves
the gzip-compressed bytes *without* ``Content-Encoding`` (a ``*.gz`` file
on a plain web server); ``{"zeros": N}`` is N zero bytes (with ``"gzip"``,
a zip bomb: a small body that decompresses to N bytes); ``{"status":
410}`` answers that status (e.g. logs deleted: 404 or 410);
``{"redirect": URL}`` answers ``status`` (302 unless given) with
``Location: URL`` (as given: relative or absolute).

Every request is appended to ``--request-log`` as one JSON object per line:
``{"method", "path", "query": {name: [values]}, "status"}``.

On start the server prints its base URL (``http://127.0.0.1:PORT/``) on
one line of stdout.
"""

import argparse
import datetime
import fnmatch
import gzip
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Fields of one build as BuildConverter.toDict(build, buildset, skip_refs=True)
# returns them, in Zuul's order, with the value used when the description
# leaves one out.
BUILD_FIELDS = [
    ("_id", None),
    ("uuid", None),
    ("job_name", None),
    ("result", None),
    ("held", False),
    ("execute_time", None),
    ("start_time", None),
    ("end_time", None),
    ("duration", None),
    ("voting", True),
    ("log_url", None),
    ("nodeset", "ubuntu-noble"),
    ("error_detail", None),
    ("final", True),
    ("artifacts", []),
    ("provides", []),
    ("ref", None),
    ("pipeline", None),
    ("event_id", None),
    ("event_timestamp", None),
    ("queue_item_uuid", None),
    ("buildset", None),
]
REF_FIELDS = ["project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url"]
# Query parameters matched with `*` wildcards (Zuul's listFilterFuzzy).
FUZZY = {"job_name", "pipeline", "project", "branch"}


class Knobs:
    """What the next requests get, changed with ``POST /_control``:

    * ``fail_next`` K, ``fail_status`` (503), ``retry_after`` (seconds or
      null), ``fail_prefix`` (""): the next K requests whose path starts
      with the prefix (never /_control) answer that status;
    * ``delay_ms`` and ``delay_prefix`` (""): requests whose path starts with
      the prefix wait that long before answering (0 = no delay);
    * ``ignore_skip`` (false): the builds API answers as if ``skip`` were 0
      (a broken server or proxy: every page is the first one);
    * ``drip_ms`` and ``drip_prefix`` (""): log files whose path starts with
      the prefix are sent 16 bytes at a time, that long apart (a slow-drip
      server that never lets a read timeout fire);
    * ``released`` (null): only the first N builds of the description are
      listed by the builds API, the later ones have not finished yet (builds
      that arrive while a collector runs cycle after cycle); null lists all.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.fail_next = 0
        self.fail_status = 503
        self.retry_after = None
        self.fail_prefix = ""
        self.delay_ms = 0
        self.delay_prefix = ""
        self.ignore_skip = False
        self.drip_ms = 0
        self.drip_prefix = ""
        self.released = None

    def update(self, values):
        with self.lock:
            for name in ("fail_next", "fail_status", "retry_after", "fail_prefix", "delay_ms",
                         "delay_prefix", "ignore_skip", "drip_ms", "drip_prefix", "released"):
                if name in values:
                    setattr(self, name, values[name])

    def take_failure(self, path):
        """The status to fail this request with, or None."""
        with self.lock:
            if self.fail_next > 0 and path.startswith(self.fail_prefix):
                self.fail_next -= 1
                return self.fail_status, self.retry_after
        return None

    def drip_for(self, path):
        with self.lock:
            if self.drip_ms and path.startswith(self.drip_prefix):
                return self.drip_ms / 1000.0
        return 0.0

    def delay_for(self, path):
        with self.lock:
            if self.delay_ms and path.startswith(self.delay_prefix):
                return self.delay_ms / 1000.0
        return 0.0


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S") if text else None


class Catalog:
    """The builds and log files of the description, with the base URL filled in."""

    def __init__(self, description, base_url):
        self.builds = []  # (tenant, api dict, position in the description), any order
        self.files = {}  # "/logs/<log_path><file>" -> spec
        self.buildsets = {}  # (tenant, uuid) -> buildset dict
        for position, spec in enumerate(description["builds"], start=1):
            self.add(spec, position, base_url)
        self.tenants = {tenant for tenant, _, _ in self.builds}

    def add(self, spec, position, base_url):
        spec = dict(spec)
        tenant = spec.pop("tenant", "openstack")
        log_path = spec.pop("log_path", None)
        files = spec.pop("files", {})
        # A job may set its own log URL (zuul_return): served elsewhere.
        log_url = spec.pop("log_url", None)
        if log_url is None and log_path is not None:
            log_url = urllib.parse.urljoin(base_url, "logs/" + log_path)
            for name, file_spec in files.items():
                self.files[urllib.parse.urlsplit(log_url + name).path] = file_spec
        build = {}
        for name, default in BUILD_FIELDS:
            build[name] = spec.get(name, json.loads(json.dumps(default)))
        build["_id"] = spec.get("_id", position)
        if isinstance(build["buildset"], dict) and build["buildset"].get("uuid"):
            buildset = dict(build["buildset"])
            build["buildset"] = {"uuid": buildset["uuid"]}
            known = self.buildsets.setdefault((tenant, buildset["uuid"]), {
                "_id": len(self.buildsets) + 1,
                "uuid": buildset["uuid"],
                "result": buildset.get("result", build["result"]),
                "message": None,
                "pipeline": build["pipeline"],
                "event_id": None,
                "event_timestamp": build["start_time"],
                "queue_item_uuid": None,
                "first_build_start_time": build["start_time"],
                "last_build_end_time": build["end_time"],
                "user_id": None,
                "parameters": None,
                "refs": [],
                "builds": [],
                "events": [],
            })
            known["refs"] = [{name: (spec.get("ref") or {}).get(name) for name in REF_FIELDS}]
            known["builds"].append(build)
        build["log_url"] = log_url
        ref = spec.get("ref") or {}
        build["ref"] = {name: ref.get(name) for name in REF_FIELDS}
        start, end = parse_time(build["start_time"]), parse_time(build["end_time"])
        if build["duration"] is None and start and end:
            build["duration"] = (end - start).total_seconds()
        if build["execute_time"] is None:
            build["execute_time"] = build["start_time"]
        # Zuul stores artifact URLs joined to the log URL (result_data.py).
        artifacts = []
        for artifact in build["artifacts"]:
            artifact = dict(artifact)
            if log_url:
                artifact["url"] = urllib.parse.urljoin(log_url, artifact["url"])
            artifacts.append(artifact)
        build["artifacts"] = artifacts
        self.builds.append((tenant, build, position))

    def query(self, tenant, params, released=None):
        """Zuul's getBuilds(): filter, order by id descending, offset, limit;
        only the first ``released`` builds of the description (None: all)."""

        def values(name):
            return params.get(name)

        def matches(name, actual):
            wanted = values(name)
            if wanted is None:
                return True
            actual = "" if actual is None else str(actual)
            if name in FUZZY:
                return any(fnmatch.fnmatchcase(actual, w) if "*" in w else actual == w for w in wanted)
            return actual in wanted

        def flag(name):
            wanted = values(name)
            return None if wanted is None else wanted[-1].lower() == "true"

        found = []
        for build_tenant, build, position in self.builds:
            if build_tenant != tenant or (released is not None and position > released):
                continue
            ref = build["ref"]
            checks = [
                ("job_name", build["job_name"]),
                ("pipeline", build["pipeline"]),
                ("project", ref["project"]),
                ("branch", ref["branch"]),
                ("change", ref["change"]),
                ("patchset", ref["patchset"]),
                ("ref", ref["ref"]),
                ("newrev", ref["newrev"]),
                ("uuid", build["uuid"]),
                ("result", build["result"]),
            ]
            if not all(matches(name, actual) for name, actual in checks):
                continue
            if values("exclude_result") and build["result"] in values("exclude_result"):
                continue
            for name in ("voting", "final", "held"):
                wanted = flag(name)
                if wanted is not None and bool(build[name]) != wanted:
                    break
            else:
                complete = flag("complete")
                if complete is True and build["result"] is None:
                    continue
                if complete is False and build["result"] is not None:
                    continue
                if values("idx_min") and build["_id"] < int(values("idx_min")[-1]):
                    continue
                if values("idx_max") and build["_id"] > int(values("idx_max")[-1]):
                    continue
                found.append(build)
        found.sort(key=lambda b: b["_id"], reverse=True)
        skip = int(values("skip")[-1]) if values("skip") else 0
        limit = int(values("limit")[-1]) if values("limit") else 50
        return found[skip:skip + limit]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zuul-test-server"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def record(self, status, parts):
        entry = {
            "method": self.command,
            "path": parts.path,
            "query": urllib.parse.parse_qs(parts.query),
            "status": status,
            "accept_encoding": self.headers.get("Accept-Encoding"),
        }
        with self.server.log_lock:
            if self.server.request_log:
                with open(self.server.request_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")

    def send(self, status, body, content_type="text/plain; charset=utf-8", headers=(), drip=0.0):
        parts = urllib.parse.urlsplit(self.path)
        self.record(status, parts)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if not drip:
                self.wfile.write(body)
                return
            for start in range(0, len(body), 16):
                self.wfile.write(body[start:start + 16])
                self.wfile.flush()
                time.sleep(drip)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout)

    def do_POST(self):
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        if parts.path != "/_control":
            self.send(405, b"method not allowed\n")
            return
        self.server.knobs.update(json.loads(body or b"{}"))
        self.send(200, b"{}", "application/json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        delay = self.server.knobs.delay_for(parts.path)
        if delay:
            time.sleep(delay)
        failure = self.server.knobs.take_failure(parts.path)
        if failure:
            status, retry_after = failure
            headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
            self.send(status, b"injected failure\n", headers=headers)
            return
        segments = parts.path.split("/")
        # /api/tenant/<tenant>/builds
        if len(segments) == 5 and segments[1:3] == ["api", "tenant"] and segments[4] == "builds":
            tenant = urllib.parse.unquote(segments[3])
            if tenant not in self.server.catalog.tenants:
                self.send(404, json.dumps({"message": f"Tenant {tenant} does not exist."}).encode(),
                          "application/json")
                return
            params = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            with self.server.knobs.lock:
                if self.server.knobs.ignore_skip:
                    params.pop("skip", None)
                released = self.server.knobs.released
            builds = self.server.catalog.query(tenant, params, released)
            self.send(200, json.dumps(builds).encode(), "application/json; charset=utf-8")
            return
        # /api/tenant/<tenant>/buildset/<uuid>
        if len(segments) == 6 and segments[1:3] == ["api", "tenant"] and segments[4] == "buildset":
            key = (urllib.parse.unquote(segments[3]), urllib.parse.unquote(segments[5]))
            buildset = self.server.catalog.buildsets.get(key)
            if buildset is None:
                self.send(404, json.dumps({"message": "Buildset not found"}).encode(),
                          "application/json")
                return
            body = json.dumps(buildset, default=str).encode()
            self.send(200, body, "application/json; charset=utf-8")
            return
        spec = self.server.catalog.files.get(urllib.parse.unquote(parts.path))
        if spec is None:
            self.send(404, b"not found\n")
            return
        if "redirect" in spec:
            self.send(spec.get("status", 302), b"", headers=[("Location", spec["redirect"])])
            return
        if "status" in spec:
            self.send(spec["status"], b"gone\n")
            return
        if "text" in spec:
            body = spec["text"].encode()
        elif "zeros" in spec:
            body = bytes(spec["zeros"])
        else:
            with open(spec["path"], "rb") as f:
                body = f.read()
        headers = []
        content_type = "application/json"
        if spec.get("gzip"):
            # Stored compressed, served so whatever Accept-Encoding says.
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        elif spec.get("gzfile"):
            body = gzip.compress(body)
            content_type = "application/gzip"
        drip = self.server.knobs.drip_for(parts.path)
        self.send(200, body, content_type, headers, drip)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", required=True, help="JSON description of builds and logs")
    parser.add_argument("--request-log", help="append one JSON line per request here")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-next", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    with open(args.builds, encoding="utf-8") as f:
        description = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    server.catalog = Catalog(description, base_url)
    server.knobs = Knobs()
    server.knobs.update({"fail_next": args.fail_next, "fail_status": args.fail_status,
                         "delay_ms": args.delay_ms})
    server.request_log = args.request_log
    server.log_lock = threading.Lock()
    print(base_url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
