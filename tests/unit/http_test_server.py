#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scriptable HTTP server for test_http (Python 3 standard library only).

Listens on 127.0.0.1, port 0 (and optionally a TLS port), writes
"<http_port> <tls_port>" to --port-file, and serves:

  POST /_control      JSON: {"reset": true, "script": [step...],
                      "login_script": [step...], "auth": true|false,
                      "login_mode": "body"|"cookie"|"body_only",
                      "expire": true}
  GET  /_control/log  {"requests": [summary...], "logins": n}
  POST /api/users/login  built-in 121 login (user u@example.org, password
                      s3cret): 201 with access_token_general in the body
                      (unless login_mode is "cookie") and in Set-Cookie
                      (unless login_mode is "body_only");
                      401 otherwise. A login_script step replaces it.
  anything else       the next script step, or (none left) an echo: 200 with
                      the request summary as JSON. With "auth" on, a request
                      without the current token gets 401 first (no step used).

A step: {"status": 200, "headers": {..}, "body": "text" | "echo": true |
"body_size": n (bytes "abc...z" repeated), "gzip": true, "chunked": true,
"close_after": k (announce the full length, send k body bytes, close),
"gzip_truncate": true (a gzip body cut in half, with a matching length),
"slow": [bytes, seconds] (send the body in pieces with pauses),
"delay": seconds, "repeat": n}.

The server exits when its parent process goes away.
"""
import argparse
import email.parser
import gzip
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER = "u@example.org"
PASSWORD = "s3cret"

lock = threading.Lock()
state = {}


def reset():
    state.clear()
    state.update(script=[], login_script=[], auth=False, login_mode="body",
                 token_n=0, token=None, log=[], logins=0)


reset()


def pattern(n):
    unit = b"abcdefghijklmnopqrstuvwxyz"
    return (unit * (n // len(unit) + 1))[:n]


def take(queue_name):
    with lock:
        q = state[queue_name]
        if not q:
            return None
        step = q[0]
        rep = step.get("repeat", 1)
        if rep <= 1:
            q.pop(0)
        else:
            step["repeat"] = rep - 1
        return dict(step)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake121/0"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- helpers ---------------------------------------------------------
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        body = raw
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(raw)
        return raw, body

    def summary(self, raw, body):
        u = urllib.parse.urlsplit(self.path)
        s = {
            "method": self.command,
            "path": self.path,
            "path_only": u.path,
            "query": urllib.parse.parse_qs(u.query, keep_blank_values=True),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_wire_len": len(raw),
            "body_len": len(body),
            "client_port": self.client_address[1],
        }
        try:
            if len(body) < 200000:
                s["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        ct = self.headers.get("Content-Type") or ""
        if ct.startswith("multipart/form-data"):
            msg = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + ct.encode() + b"\r\n\r\n" + body)
            parts = {}
            for part in msg.get_payload():
                name = part.get_param("name", header="content-disposition")
                parts[name] = {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "content": part.get_payload(decode=True).decode("utf-8"),
                }
            s["multipart"] = parts
        return s

    def send(self, status, body=b"", headers=None, step=None):
        step = step or {}
        headers = dict(headers or {})
        if step.get("gzip") or step.get("gzip_truncate"):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
            if step.get("gzip_truncate"):
                body = body[: len(body) // 2]
        if step.get("delay"):
            time.sleep(step["delay"])
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Type" not in headers and body:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        chunked = step.get("chunked")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        close_after = step.get("close_after")
        if close_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            if close_after is not None:
                self.wfile.write(body[:close_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if step.get("slow"):
                size, pause = step["slow"]
                for i in range(0, len(body), size):
                    self.wfile.write(body[i:i + size])
                    self.wfile.flush()
                    time.sleep(pause)
                return
            if chunked:
                for i in range(0, len(body), 4096):
                    piece = body[i:i + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def json_reply(self, status, obj, headers=None, step=None):
        self.send(status, json.dumps(obj).encode(), headers, step)

    def step_reply(self, step, summary):
        status = step.get("status", 200)
        headers = step.get("headers", {})
        if step.get("echo"):
            body = json.dumps(summary).encode()
        elif "body_size" in step:
            body = pattern(step["body_size"])
            headers = dict(headers)
            headers.setdefault("Content-Type", "application/octet-stream")
        else:
            body = step.get("body", "").encode()
        self.send(status, body, headers, step)

    # -- routes ----------------------------------------------------------
    def control(self, raw, body):
        if self.command == "GET":
            with lock:
                self.json_reply(200, {"requests": state["log"],
                                      "logins": state["logins"]})
            return
        cmd = json.loads(body or b"{}")
        with lock:
            if cmd.get("reset"):
                reset()
            for k in ("script", "login_script"):
                if k in cmd:
                    state[k] = list(cmd[k])
            for k in ("auth", "login_mode"):
                if k in cmd:
                    state[k] = cmd[k]
            if cmd.get("expire"):
                state["token"] = None
        self.json_reply(200, {"ok": True})

    def login(self, raw, body, summary):
        with lock:
            state["logins"] += 1
        step = take("login_script")
        if step:
            self.step_reply(step, summary)
            return
        try:
            creds = json.loads(body)
        except ValueError:
            creds = {}
        if creds.get("username") != USER or creds.get("password") != PASSWORD:
            self.json_reply(401, {"statusCode": 401, "message": "Unauthorized"})
            return
        with lock:
            state["token_n"] += 1
            tok = "tok-%d" % state["token_n"]
            state["token"] = tok
            mode = state["login_mode"]
        reply = {"username": USER, "permissions": {"3": ["program.read"]},
                 "expires": "2026-01-01T09:00:00.000Z", "isAdmin": False}
        if mode in ("body", "body_only"):
            reply["access_token_general"] = tok
        headers = {}
        if mode != "body_only":
            headers["Set-Cookie"] = ("access_token_general=%s; Path=/; "
                                     "HttpOnly; Secure; SameSite=None" % tok)
        self.json_reply(201, reply, headers)

    def handle_any(self):
        raw, body = self.read_body()
        summary = self.summary(raw, body)
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_control"):
            self.control(raw, body)
            return
        with lock:
            state["log"].append(summary)
        if path == "/api/users/login":
            self.login(raw, body, summary)
            return
        with lock:
            need_auth = state["auth"]
            token = state["token"]
        if need_auth:
            cookie = self.headers.get("Cookie") or ""
            if not token or cookie != "access_token_general=" + token:
                self.json_reply(401, {"message": "Unauthorized",
                                      "statusCode": 401})
                return
        step = take("script")
        if step is None:
            step = {"echo": True}
        self.step_reply(step, summary)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # e.g. a client that refused our certificate: expected


def watchdog(parent):
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    httpd = Server(("127.0.0.1", 0), Handler)
    servers = [httpd]
    tls_port = 0
    if args.tls_cert:
        tlsd = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tlsd.socket = ctx.wrap_socket(tlsd.socket, server_side=True)
        tls_port = tlsd.server_address[1]
        servers.append(tlsd)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    threading.Thread(target=watchdog, args=(os.getppid(),),
                     daemon=True).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (httpd.server_address[1], tls_port))
    os.rename(tmp, args.port_file)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
