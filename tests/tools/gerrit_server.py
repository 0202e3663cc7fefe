#!/usr/bin/env python3
"""A test Gerrit for `perfkit review`: the part of Gerrit's REST API that
perfkit speaks, following Gerrit's documentation (see
tests/fixtures/gerrit/README.md for the pages and what is simplified), and
a record of every request it received.

    python3 gerrit_server.py --state STATE.json --log LOG.json [--control CONTROL.json] [--dump DUMP.json]

Prints the port it listens on (127.0.0.1, a free port) on the first line of
stdout, then serves until killed. Python 3 standard library only.

STATE.json, read once at start:

    {
      "accounts": {"perfkit-bot": {"password": "…", "labels": {"Verified": [-1, 1]},
                                   "can_review": true, "id": 1000001}},
                                   # id: _account_id, default 1000001 for the
                                   # first account, 1000002 for the next…;
                                   # the changes' owner is 1000000
      "changes": [{"project": "perfkit/demo", "number": 900001, "patch_sets": 1,
                   "status": "NEW", "branch": "master", "messages": [ChangeMessageInfo…]}],
      "labels": ["Verified", "Code-Review"],     # labels configured on the server
      "message_limit": 16384                     # change.commentSizeLimit
    }

CONTROL.json, re-read whenever its content changes (knobs for a running
server):

    {"status": {"perfkit/demo~900001": "MERGED"},           # set a change's status
     "fail_next": {"count": 2, "status": 503,               # fail the next K requests
                   "method": "POST", "retry_after": 1,      # (optional filters)
                   "after_apply": false,                    # apply the request, then fail
                   "drop": false,                           # …or close the connection
                                                            # without any answer
                   "text": "…"}}                            # the error's text/plain body

LOG.json is rewritten after every request, before the response is sent: a
list of {"method", "path" (raw, still percent-encoded), "query", "headers"
(names in lower case, the Authorization value replaced by a note of its
scheme), "user" (the account named, never the password), "body", "status" (null
for a dropped connection)}. DUMP.json, rewritten at the same time, holds
the changes as the server has them: {"<project>~<number>": {"status",
"messages"}}.
"""

import argparse
import base64
import datetime
import hashlib
import http
import http.server
import json
import os
import sys
import threading
import urllib.parse

XSSI = ")]}'\n"
CLOSED = ("MERGED", "ABANDONED")


def gerrit_timestamp(now=None):
    """Gerrit's timestamp format: UTC, space separator, nanoseconds."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond * 1000:09d}"


class Failure(Exception):
    """An error answer: Gerrit sends these as text/plain."""

    def __init__(self, status, text, headers=None):
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}


class Dropped(Exception):
    """The connection is closed without an answer (the `drop` knob)."""


class Gerrit:
    def __init__(self, state, log_path, control_path, dump_path=None):
        self.lock = threading.Lock()
        self.accounts = state.get("accounts", {})
        self.labels = state.get("labels", ["Verified", "Code-Review"])
        self.limit = state.get("message_limit", 16384)
        self.changes = {}
        for c in state.get("changes", []):
            change = {
                "project": c["project"],
                "number": int(c["number"]),
                "branch": c.get("branch", "master"),
                "status": c.get("status", "NEW"),
                "patch_sets": int(c.get("patch_sets", 1)),
                "messages": list(c.get("messages", [])),
                "created": gerrit_timestamp(),
            }
            change["updated"] = change["created"]
            self.changes[(change["project"], change["number"])] = change
        self.log_path = log_path
        self.dump_path = dump_path
        self.log = []
        self.control_path = control_path
        self.control_seen = None
        self.fail = None
        self.message_seq = 0

    # -- knobs ------------------------------------------------------------

    def read_control(self):
        if not self.control_path or not os.path.exists(self.control_path):
            return
        with open(self.control_path, "rb") as f:
            raw = f.read()
        if raw == self.control_seen:
            return
        self.control_seen = raw
        control = json.loads(raw or b"{}")
        for change_id, status in control.get("status", {}).items():
            self.find_change_by_id(change_id)["status"] = status
        if "fail_next" in control:
            self.fail = dict(control["fail_next"])

    def injected_failure(self, method):
        """The status to fail this request with, if a knob says so."""
        f = self.fail
        if not f or f.get("count", 0) <= 0:
            return None
        if f.get("method") and f["method"] != method:
            return None
        f["count"] -= 1
        return f

    # -- resources --------------------------------------------------------

    def account_id(self, user):
        """An account's `_account_id`: its `id` in the state, else 1000001,
        1000002, … in the order the state lists the accounts."""
        return self.accounts[user].get("id", 1000000 + list(self.accounts).index(user) + 1)

    def account_info(self, user):
        """AccountInfo as Get Account answers it (rest-api-accounts.html#account-info)."""
        return {
            "_account_id": self.account_id(user),
            "name": user,
            "email": f"{user}@example.org",
            "username": user,
        }

    def find_account(self, raw_id, user):
        """An account by its id in the URL: `self` (the caller), a numeric
        id or a username (rest-api-accounts.html#account-id)."""
        account_id = urllib.parse.unquote(raw_id)
        if account_id == "self":
            if user is None:
                raise Failure(403, "Authentication required")
            return user
        for name in self.accounts:
            if account_id in (name, str(self.account_id(name))):
                return name
        raise Failure(404, f"Account '{account_id}' not found")

    def find_change(self, raw_id):
        """A change by its id as it appears in the URL: `<project>~<number>`
        with the project URL-encoded, or a bare change number."""
        return self.find_change_by_id(urllib.parse.unquote(raw_id))

    def find_change_by_id(self, change_id):
        if "~" in change_id:
            project, _, number = change_id.rpartition("~")
        else:
            project, number = None, change_id
        if not number.isdigit():
            raise Failure(404, f"Not found: {change_id}")
        for (p, n), change in self.changes.items():
            if n == int(number) and (project is None or p == project):
                return change
        raise Failure(404, f"Not found: {change_id}")

    def change_info(self, change, options):
        number = change["number"]
        revisions = {}
        for ps in range(1, change["patch_sets"] + 1):
            sha = hashlib.sha1(f"{number}/{ps}".encode()).hexdigest()
            revisions[sha] = {
                "kind": "REWORK",
                "_number": ps,
                "created": change["created"],
                "ref": f"refs/changes/{number % 100:02d}/{number}/{ps}",
            }
        current = next(s for s, r in revisions.items() if r["_number"] == change["patch_sets"])
        info = {
            "id": f"{urllib.parse.quote(change['project'], safe='')}~{number}",
            "triplet_id": f"{urllib.parse.quote(change['project'], safe='')}~{change['branch']}~I{hashlib.sha1(str(number).encode()).hexdigest()}",
            "project": change["project"],
            "branch": change["branch"],
            "change_id": f"I{hashlib.sha1(str(number).encode()).hexdigest()}",
            "subject": "A change under test",
            "status": change["status"],
            "created": change["created"],
            "updated": change["updated"],
            "insertions": 1,
            "deletions": 0,
            "_number": number,
            "current_revision_number": change["patch_sets"],
            "owner": {"_account_id": 1000000},
        }
        if "CURRENT_REVISION" in options:
            info["current_revision"] = current
            info["revisions"] = {current: revisions[current]}
        if "ALL_REVISIONS" in options:
            info["current_revision"] = current
            info["revisions"] = revisions
        if "MESSAGES" in options:
            info["messages"] = change["messages"]
        return info

    def post_review(self, change, revision, user, headers, body):
        content_type = headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/json"):
            raise Failure(400, "Expected Content-Type: application/json")
        try:
            review = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Failure(400, f"Invalid JSON: {e}")
        if not isinstance(review, dict):
            raise Failure(400, "Expected a ReviewInput object")
        if revision in ("edit", "0"):
            raise Failure(409, "cannot post review on a change edit")
        ps = self.revision_number(change, revision)
        # Gerrit takes messages on a merged change (post-submit comments);
        # votes there are out of scope for this server, as are abandoned changes.
        if change["status"] in CLOSED and (
            change["status"] != "MERGED" or review.get("labels")
        ):
            raise Failure(409, f"change is {change['status'].lower()}")
        account = self.accounts[user]
        if not account.get("can_review", True):
            raise Failure(403, "not permitted: comment on change")
        message = review.get("message") or ""
        if len(message.encode("utf-8")) > self.limit:
            raise Failure(
                400,
                f"Message size exceeds limit ({len(message.encode('utf-8'))} > {self.limit} bytes)",
            )
        notify = review.get("notify", "ALL")
        if notify not in ("NONE", "OWNER", "OWNER_REVIEWERS", "ALL"):
            raise Failure(400, f"Invalid notify value: {notify}")
        labels = review.get("labels") or {}
        for label, value in labels.items():
            if label not in self.labels:
                raise Failure(400, f'label "{label}" is not a configured label')
            allowed = account.get("labels", {}).get(label)
            if not allowed or not (min(allowed) <= int(value) <= max(allowed)):
                raise Failure(403, f'Applying label "{label}": {int(value):+d} is restricted')
        # As Gerrit summarises votes: `Verified+1`, `Code-Review-2`, `-Verified` (removed).
        votes = " ".join(
            f"{label}{int(value):+d}" if int(value) else f"-{label}"
            for label, value in labels.items()
        )
        stored = f"Patch Set {ps}:" + (f" {votes}" if votes else "")
        if message:
            stored += "\n\n" + message
        self.message_seq += 1
        entry = {
            "id": base64.urlsafe_b64encode(
                hashlib.sha1(f"{change['number']}/{self.message_seq}".encode()).digest()[:6]
            ).decode(),
            "author": {
                "_account_id": self.account_id(user),
                "name": user,
                "username": user,
            },
            "date": gerrit_timestamp(),
            "message": stored,
            "_revision_number": ps,
        }
        if review.get("tag"):
            entry["tag"] = review["tag"]
        change["messages"].append(entry)
        change["updated"] = entry["date"]
        return {"labels": {label: int(value) for label, value in labels.items()}}

    def revision_number(self, change, revision):
        if revision == "current":
            return change["patch_sets"]
        if revision.isdigit() and 1 <= int(revision) <= change["patch_sets"]:
            return int(revision)
        info = self.change_info(change, {"ALL_REVISIONS"})
        for sha, rev in info["revisions"].items():
            if len(revision) >= 4 and sha.startswith(revision):
                return rev["_number"]
        raise Failure(404, f"Not found: {revision}")

    # -- dispatch ---------------------------------------------------------

    def authenticate(self, headers):
        """The account of a valid `Authorization: Basic`, else a 401."""
        auth = headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = None, None
            account = self.accounts.get(user)
            if account and account.get("password") == password:
                return user
        raise Failure(
            401,
            "Unauthorized",
            {"WWW-Authenticate": 'Basic realm="Gerrit Code Review"'},
        )

    def handle(self, method, path, query, headers, body):
        """(status, content type, text, extra headers) for one request."""
        self.read_control()
        fail = self.injected_failure(method)
        if fail and not fail.get("after_apply"):
            if fail.get("drop"):
                raise Dropped()
            return self.failure(fail)
        authenticated = path.startswith("/a/")
        user = self.authenticate(headers) if authenticated else None
        parts = path[3:].split("/") if authenticated else path.lstrip("/").split("/")
        if method == "GET" and len(parts) == 2 and parts[0] == "accounts" and parts[1]:
            result = self.account_info(self.find_account(parts[1], user))
        else:
            result = self.change_resource(method, parts, query, user, headers, body)
        if fail and fail.get("drop"):
            raise Dropped()
        if fail:
            return self.failure(fail)
        return 200, "application/json; charset=UTF-8", self.json(result, headers, query), {}

    def change_resource(self, method, parts, query, user, headers, body):
        """The answer of a request under `/changes/`."""
        if len(parts) < 2 or parts[0] != "changes" or not parts[1]:
            raise Failure(404, "Not Found")
        change = self.find_change(parts[1])
        rest = parts[2:]
        options = set(query.get("o", []))
        if method == "GET" and rest == []:
            return self.change_info(change, options)
        if method == "GET" and rest == ["messages"]:
            return change["messages"]
        if method == "POST" and len(rest) == 3 and rest[0] == "revisions" and rest[2] == "review":
            if user is None:
                raise Failure(403, "Authentication required")
            return self.post_review(change, rest[1], user, headers, body)
        raise Failure(404, "Not Found")

    @staticmethod
    def failure(fail):
        extra = {}
        if fail.get("retry_after") is not None:
            extra["Retry-After"] = str(fail["retry_after"])
        status = int(fail.get("status", 503))
        text = fail.get("text") or http.HTTPStatus(status).phrase
        return status, "text/plain; charset=UTF-8", text, extra

    @staticmethod
    def json(value, headers, query):
        # Pretty by default; compact when the client accepts application/json
        # or passes pp=0 (rest-api.html, "Output Format").
        compact = "application/json" in headers.get("Accept", "") or query.get("pp") == ["0"]
        text = json.dumps(value, separators=(",", ":")) if compact else json.dumps(value, indent=2)
        return XSSI + text + "\n"

    def record(self, entry):
        self.log.append(entry)
        write_json(self.log_path, self.log)
        if self.dump_path:
            write_json(
                self.dump_path,
                {
                    f"{c['project']}~{c['number']}": {
                        "status": c["status"],
                        "messages": c["messages"],
                    }
                    for c in self.changes.values()
                },
            )


def write_json(path, value):
    """Whole or not at all: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GerritCodeReview/test"

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")

    def do_PUT(self):
        self.answer("PUT")

    def do_DELETE(self):
        self.answer("DELETE")

    def answer(self, method):
        gerrit = self.server.gerrit
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        headers = self.headers  # case-insensitive, as HTTP header names are
        with gerrit.lock:
            user = None
            try:
                status, ctype, text, extra = gerrit.handle(method, raw_path, query, headers, body)
            except Failure as f:
                status, ctype, text, extra = f.status, "text/plain; charset=UTF-8", f.text, f.headers
            except Dropped:
                status, ctype, text, extra = None, None, None, {}
            auth = headers.get("Authorization")
            if auth:
                scheme, _, value = auth.partition(" ")
                try:
                    user = base64.b64decode(value).decode().partition(":")[0]
                except (ValueError, UnicodeDecodeError):
                    user = None
            # Names in lower case; the credentials themselves are not kept.
            logged = {
                k.lower(): (
                    f"<{v.partition(' ')[0]} credentials present>"
                    if k.lower() == "authorization"
                    else v
                )
                for k, v in headers.items()
            }
            gerrit.record(
                {
                    "method": method,
                    "path": raw_path,
                    "query": raw_query,
                    "headers": logged,
                    "user": user,
                    "body": body.decode("utf-8", "replace"),
                    "status": status,
                }
            )
        if status is None:
            # Applied, but the client never hears back (a lost answer).
            self.close_connection = True
            return
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if ctype.startswith("application/json"):
            self.send_header("Content-Disposition", "attachment")
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--control")
    parser.add_argument("--dump")
    args = parser.parse_args()
    with open(args.state, encoding="utf-8") as f:
        state = json.load(f)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.gerrit = Gerrit(state, args.log, args.control, args.dump)
    write_json(args.log, [])
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
