#!/usr/bin/env python3
"""A stand-in for Keystone's token API, for the rolling-upgrade test.

``backend PORT KEYFILE``: one Keystone process. ``POST .../v3/auth/tokens``
with a password identity answers 201 and an ``X-Subject-Token``; ``GET
.../v3/auth/tokens`` answers 200 when both ``X-Auth-Token`` and
``X-Subject-Token`` are tokens signed with the shared key (so any backend
validates any backend's token, as Fernet tokens do), else 404; ``GET
.../v3`` answers 200. It takes ``STARTUP`` seconds (env, default 0) before
listening, like a service starting.

``lb PORT BACKEND_PORT...``: a TCP load balancer without health checks,
each new connection going to the next backend in turn; a connection to a
backend that is down is closed at once, so the client sees an error.

Standard library only; the test starts, restarts and stops the processes.
"""

import hashlib
import hmac
import http.server
import json
import os
import secrets
import socket
import socketserver
import sys
import threading
import time


def backend(port, key_file):
    with open(key_file, "rb") as f:
        key = f.read()

    def sign(token_id):
        mac = hmac.new(key, token_id.encode(), hashlib.sha256).hexdigest()[:32]
        return "%s.%s" % (token_id, mac)

    def valid(token):
        token_id, _, _ = (token or "").partition(".")
        return bool(token_id) and hmac.compare_digest(sign(token_id), token)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                methods = body["auth"]["identity"]["methods"]
            except (ValueError, KeyError, TypeError):
                return self.reply(400, {"error": "bad request"})
            if not self.path.endswith("/v3/auth/tokens") or "password" not in methods:
                return self.reply(401, {"error": "unauthorized"})
            token = sign(secrets.token_hex(8))
            self.reply(201, {"token": {"methods": methods}},
                       [("X-Subject-Token", token)])

        def do_GET(self):
            if self.path.rstrip("/").endswith("/v3"):
                return self.reply(200, {"version": {"id": "v3.14"}})
            if not self.path.endswith("/v3/auth/tokens"):
                return self.reply(404, {"error": "not found"})
            if not valid(self.headers.get("X-Auth-Token")):
                return self.reply(401, {"error": "unauthorized"})
            if not valid(self.headers.get("X-Subject-Token")):
                return self.reply(404, {"error": "token not found"})
            self.reply(200, {"token": {"methods": ["password"]}})

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    time.sleep(float(os.environ.get("STARTUP", "0")))
    Server(("127.0.0.1", port), Handler).serve_forever()


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def lb(port, backends):
    turn = [0]
    lock = threading.Lock()

    def serve(client):
        with lock:
            target = backends[turn[0] % len(backends)]
            turn[0] += 1
        try:
            upstream = socket.create_connection(("127.0.0.1", target), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)
        client.close()
        upstream.close()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "backend":
        backend(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "lb":
        lb(int(sys.argv[2]), [int(p) for p in sys.argv[3:]])
    else:
        sys.exit("usage: keystone_standin.py backend PORT KEYFILE | lb PORT BACKEND...")
