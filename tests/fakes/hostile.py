#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hostile.py - a hostile server in front of a well-behaved one (Python 3
stdlib, 127.0.0.1 only, ports chosen at run time).

Two listeners: the main one (first port in the port file) forwards every
request to --upstream (e.g. the fake 121) unless a rule matches; the second
("the other host", second port) answers 404 to everything and records what
it received, so a test can check that no credential or cookie followed a
redirect there.

Control API (never forwarded, never hostile):
  POST /_hostile/rule  {"match": REGEX on "METHOD /path?query",
                        "mode": MODE, "count": N (default -1: always),
                        "interval": s (slowloris), "size": bytes}
  POST /_hostile/reset  remove every rule, clear the other host's log
  GET  /_hostile/other  {"requests": [{"method", "path", "headers", "body"}]}
  GET  /_hostile/stats  {"hostile": answers sent by a rule,
                         "bytes": body bytes they sent}

Modes:
  endless      200 JSON that never ends: '{"id":3,"name":"aaaa...' (no
               Content-Length; stops when the client goes away)
  endless_records  200 '{"data":[' then valid registration records forever
  giant_string 200 JSON with one string of `size` bytes (default 256 MiB)
  deep         200 JSON nested 1,000,000 arrays deep
  wrong_types  200 JSON of the right shape with every value the wrong type
  html         200 text/html login page
  gzip_bomb    200 Content-Encoding: gzip: ~1 MiB that inflates to 1 GiB
               ('{"data":[' then spaces)
  redirect     307 to the same path on the other host (a POST keeps its
               body), with a Set-Cookie
  redirect_port 302 to the same path on 127.0.0.1:<a closed port>
  slowloris    200 with Content-Length 4096, then one byte every
               `interval` seconds (default 3)

Usage: hostile.py --upstream URL --port-file PATH
"""

import argparse
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RULES = []
OTHER_LOG = []
STATS = {"hostile": 0, "bytes": 0}
BOMB = []
UPSTREAM = None
OTHER_PORT = [0]
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
       "proxy-connection", "te", "trailer", "upgrade"}


def gzip_bomb():
    """~1 MiB of gzip inflating to 1 GiB: '{"data":[' + spaces. Built in
    well under a second: after a full flush the compressor forgets its
    history, so every 1 MiB block of spaces compresses to the same bytes;
    the trailer (CRC-32, size) is computed for the whole."""
    with LOCK:
        if BOMB:
            return BOMB[0]
        block = b" " * (1 << 20)
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        head = c.compress(b'{"data":[') + c.flush(zlib.Z_FULL_FLUSH)
        c.compress(block)
        c.flush(zlib.Z_FULL_FLUSH)
        blk = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
        tail = c.flush(zlib.Z_FINISH)[:-8]
        crc = zlib.crc32(b'{"data":[')
        for _ in range(1024):
            crc = zlib.crc32(block, crc)
        size = (9 + 1024 * len(block)) & 0xffffffff
        BOMB.append(head + blk * 1024 + tail + struct.pack("<II", crc, size))
        return BOMB[0]


def record(i):
    return ('{"id":%d,"referenceId":"hostile-%d","programId":3,'
            '"status":"new","fullName":"Hostile %d","phoneNumber":"31600000000",'
            '"preferredLanguage":"en","programFspConfigurationName":'
            '"Intersolve-voucher-paper","registrationProgramId":%d,'
            '"created":"2026-01-01T00:00:00.000Z",'
            '"updated":"2026-01-01T00:00:00.000Z"}' % (
                10000000 + i, i, i, 10000000 + i)).encode()


class Main(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        body = self.body()
        if self.path.startswith("/_hostile/"):
            return self.control(body)
        key = "%s %s" % (self.command, self.path)
        rule = None
        with LOCK:
            for r in RULES:
                if r["count"] != 0 and re.search(r["match"], key):
                    if r["count"] > 0:
                        r["count"] -= 1
                    rule = r
                    STATS["hostile"] += 1
                    break
        if rule:
            self.close_connection = True
            try:
                self.hostile(rule)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            return
        self.forward(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def control(self, body):
        data = json.loads(body) if body.strip() else {}
        if self.path == "/_hostile/rule":
            data.setdefault("count", -1)
            with LOCK:
                RULES.append(data)
            return self.reply_json(200, {"ok": True})
        if self.path == "/_hostile/reset":
            with LOCK:
                RULES.clear()
                OTHER_LOG.clear()
                STATS.update(hostile=0, bytes=0)
            return self.reply_json(200, {"ok": True})
        if self.path == "/_hostile/other":
            with LOCK:
                return self.reply_json(200, {"requests": list(OTHER_LOG)})
        if self.path == "/_hostile/stats":
            with LOCK:
                return self.reply_json(200, dict(STATS))
        return self.reply_json(404, {"error": "unknown control path"})

    def forward(self, body):
        u = urllib.parse.urlsplit(UPSTREAM)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP and k.lower() != "host"}
        headers["Host"] = u.netloc
        conn.request(self.command, self.path, body=body or None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    def send(self, data):
        self.wfile.write(data)
        with LOCK:
            STATS["bytes"] += len(data)

    def head(self, code=200, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Connection", "close")

    def hostile(self, rule):
        mode = rule["mode"]
        t_end = time.monotonic() + float(rule.get("max_s", 120))
        if mode in ("endless", "giant_string"):
            self.head()
            self.end_headers()
            self.send(b'{"id":3,"name":"')
            chunk = b"a" * 65536
            left = int(rule.get("size", 256 << 20)) if mode == "giant_string" \
                else None
            while time.monotonic() < t_end and (left is None or left > 0):
                self.send(chunk)
                if left is not None:
                    left -= len(chunk)
            if left is not None:
                self.send(b'"}')
        elif mode == "endless_records":
            self.head()
            self.end_headers()
            self.send(b'{"data":[')
            i = 0
            while time.monotonic() < t_end:
                buf = b",".join(record(i + j) for j in range(200)) + b","
                i += 200
                self.send(buf)
        elif mode == "deep":
            self.head()
            self.end_headers()
            self.send(b'{"data":' + b"[" * 1000000 + b"]" * 1000000 + b"}")
        elif mode == "wrong_types":
            if "/registrations" in self.path or "events" in self.path:
                obj = {"data": [{"id": "x", "referenceId": 7, "status": [],
                                 "registrationId": {}, "attributes": 5,
                                 "programId": 1e308, "created": 1}],
                       "meta": {"totalItems": "many"}, "links": 3}
            else:
                obj = {"id": "three", "programRegistrationAttributes": "x",
                       "languages": 7, "programFspConfigurations": {"a": 1},
                       "name": ["x"]}
            data = json.dumps(obj).encode()
            self.head(extra=[("Content-Length", str(len(data)))])
            self.end_headers()
            self.send(data)
        elif mode == "html":
            data = (b"<!doctype html><html><head><title>Sign in</title>"
                    b"</head><body><form>Wi-Fi login</form></body></html>")
            self.head(ctype="text/html",
                      extra=[("Content-Length", str(len(data)))])
            self.end_headers()
            self.send(data)
        elif mode == "gzip_bomb":
            data = gzip_bomb()
            self.head(extra=[("Content-Encoding", "gzip"),
                             ("Content-Length", str(len(data)))])
            self.end_headers()
            self.send(data)
        elif mode in ("redirect", "redirect_port"):
            port = OTHER_PORT[0] if mode == "redirect" else closed_port()
            self.send_response(307 if mode == "redirect" else 302)
            self.send_header("Location", "http://127.0.0.1:%d%s" %
                             (port, self.path))
            self.send_header("Set-Cookie", "hostile=1; Path=/")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        elif mode == "slowloris":
            interval = float(rule.get("interval", 3))
            self.head(extra=[("Content-Length", "4096")])
            self.end_headers()
            self.wfile.flush()
            self.send(b"{")
            while time.monotonic() < t_end:
                time.sleep(interval)
                self.send(b" ")
                self.wfile.flush()
        else:
            self.reply_json(500, {"error": "unknown hostile mode %s" % mode})


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Other(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with LOCK:
            OTHER_LOG.append({"method": self.command, "path": self.path,
                              "headers": dict(self.headers.items()),
                              "body": body.decode("utf-8", "replace")})
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    UPSTREAM = a.upstream
    main_srv = ThreadingHTTPServer(("127.0.0.1", 0), Main)
    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    main_srv.daemon_threads = other.daemon_threads = True
    OTHER_PORT[0] = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (main_srv.server_address[1], OTHER_PORT[0]))
    os.replace(tmp, a.port_file)
    try:
        main_srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
