#!/usr/bin/env python3
"""fakeespo.py - a stateful fake of the EspoCRM REST API for the agent's
tests (shared/contracts/espocrm-api.md). Python 3 standard library only,
127.0.0.1 only, state in memory. Start it through tests/fakes/launcher.py:

    launcher.start_script(FAKE, "--api-key", "k", port_arg=True)

What it does:
  * auth: X-Api-Key, or X-Hmac-Authorization (base64 of "key:" + HMAC-SHA256
    of "METHOD /path" in lower-case hex, or the legacy raw digest); 401 else
  * GET /api/v1/<Entity>: maxSize (over --max-size: 403 with X-Status-Reason),
    offset, orderBy, order, select, where[] in bracket encoding or
    searchParams (JSON), X-No-Total (total -1 / -2), ties in modifiedAt kept
    in insertion order
  * GET/PUT/PATCH/DELETE /api/v1/<Entity>/<id>; POST /api/v1/<Entity>
    (duplicate check on name -> 409 "duplicate" unless
    X-Skip-Duplicate-Check); soft delete
  * optimistic concurrency (--occ): versionNumber; a PUT with an older
    X-Version-Number touching an attribute changed since -> 409 "modified"
    {"values": {...}, "versionNumber": n}
  * test control under /_test/ (no auth): records (seed, with a fixed
    modifiedAt), edit, record, list, stats, reset_stats, faults, clock
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class State:
    def __init__(self, args):
        self.args = args
        self.records = {}        # id -> record (dict), in insertion order
        self.deleted = set()
        self.changed_at = {}     # id -> {attr: versionNumber when changed}
        self.clock = None        # fixed "YYYY-MM-DD HH:MM:SS", or None
        self.next_id = 1
        self.stats = {"GET": 0, "PUT": 0, "PATCH": 0, "POST": 0, "DELETE": 0,
                      "serve_s": 0.0, "requests": 0, "list": 0,
                      "refused_max": 0, "auth_failed": 0}
        self.faults = {}

    def now(self):
        if self.clock:
            return self.clock
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return "%017x" % (0x6650f1c2a0000000 + i)

    def put(self, rec, modified=None):
        rec = dict(rec)
        rid = rec.get("id") or self.new_id()
        rec["id"] = rid
        now = modified or self.now()
        old = self.records.get(rid)
        rec.setdefault("createdAt", old["createdAt"] if old else now)
        rec["modifiedAt"] = now
        if self.args.occ:
            rec["versionNumber"] = (old.get("versionNumber", 0) + 1) if old \
                else rec.get("versionNumber", 1)
        if old:
            merged = dict(old)
            merged.update(rec)
            rec = merged
        ver = rec.get("versionNumber", 0)
        ch = self.changed_at.setdefault(rid, {})
        for k, v in rec.items():
            if old is None or old.get(k) != v:
                ch[k] = ver
        self.records[rid] = rec
        self.deleted.discard(rid)
        return rec


def sign_ok(header, key, secret, method, path):
    try:
        raw = base64.b64decode(header)
    except Exception:
        return False
    want_key = key.encode() + b":"
    if not raw.startswith(want_key):
        return False
    digest = raw[len(want_key):]
    msg = ("%s %s" % (method, path)).encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha256)
    return hmac.compare_digest(digest, mac.hexdigest().encode()) or \
        hmac.compare_digest(digest, mac.digest())


def parse_where(qs):
    """where[] bracket encoding or searchParams -> (params dict)."""
    params = {}
    if "searchParams" in qs:
        params = json.loads(qs["searchParams"][0])
        return params
    where = {}
    for k, v in qs.items():
        if k.startswith("where[") or k.startswith("whereGroup["):
            parts = k[k.index("["):].strip("[]").split("][")
            idx = int(parts[0])
            where.setdefault(idx, {})[parts[1]] = v[0]
        else:
            params[k] = v[0]
    if where:
        params["where"] = [where[i] for i in sorted(where)]
    return params


def match(rec, item):
    t, a, v = item.get("type"), item.get("attribute"), item.get("value")
    x = rec.get(a)
    if t == "greaterThanOrEquals":
        return x is not None and str(x) >= str(v)
    if t == "greaterThan" or t == "after":
        return x is not None and str(x) > str(v)
    if t == "lessThan" or t == "before":
        return x is not None and str(x) < str(v)
    if t == "lessThanOrEquals":
        return x is not None and str(x) <= str(v)
    if t == "equals":
        return x == v
    if t == "isNull":
        return x in (None, "")
    if t == "isNotNull":
        return x not in (None, "")
    raise ValueError("unknown where type %s" % t)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeespo/1"

    def log_message(self, fmt, *a):
        if self.server.state.args.verbose:
            sys.stderr.write("fakeespo: " + (fmt % a) + "\n")

    def send(self, status, body=None, reason=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if reason:
            self.send_header("X-Status-Reason", reason)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip
            raw = gzip.decompress(raw)
        return json.loads(raw) if raw else None

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_PATCH(self):
        self.route("PATCH")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        t0 = time.monotonic()
        st = self.server.state
        try:
            u = urllib.parse.urlsplit(self.path)
            if u.path.startswith("/_test/"):
                return self.control(method, u)
            body = self.body() if method in ("PUT", "PATCH", "POST") else None
            with LOCK:
                st.stats["requests"] += 1
                st.stats[method] = st.stats.get(method, 0) + 1
                delay = st.faults.get("delay", 0)
                fail = st.faults.get("fail")
                if fail and fail.get("count", 0) > 0 and \
                        fail.get("method", method) == method:
                    fail["count"] -= 1
                    return self.send(fail.get("status", 503), None,
                                     fail.get("reason"))
            if delay:
                time.sleep(delay)
            if not self.auth_ok(method, u.path):
                with LOCK:
                    st.stats["auth_failed"] += 1
                return self.send(401, None)
            with LOCK:
                return self.api(method, u, body)
        finally:
            with LOCK:
                st.stats["serve_s"] += time.monotonic() - t0

    def auth_ok(self, method, path):
        a = self.server.state.args
        if a.forbid:
            return True
        key = self.headers.get("X-Api-Key")
        if key is not None:
            return not a.secret and key == a.api_key
        h = self.headers.get("X-Hmac-Authorization")
        if h is not None and a.secret:
            base = "/api/v1"
            return path.startswith(base) and sign_ok(
                h, a.api_key, a.secret, method, path[len(base):] or "/")
        return False

    def api(self, method, u, body):
        st = self.server.state
        a = st.args
        if a.forbid:
            return self.send(403, None, "No access to scope")
        parts = [p for p in u.path.split("/") if p]
        if len(parts) < 3 or parts[:2] != ["api", "v1"] or \
                parts[2] != a.entity:
            return self.send(404, None, "Not found")
        rid = parts[3] if len(parts) > 3 else None
        if method == "GET" and rid is None:
            return self.list(urllib.parse.parse_qs(u.query))
        if method == "POST" and rid is None:
            return self.create(body)
        if rid is None or rid not in st.records or rid in st.deleted:
            return self.send(404, None)
        rec = st.records[rid]
        if method == "GET":
            return self.send(200, rec)
        if method == "DELETE":
            st.deleted.add(rid)
            return self.send(200, True)
        if method not in ("PUT", "PATCH") or not isinstance(body, dict):
            return self.send(400, None, "Bad request")
        if rid in st.faults.get("reject_ids", []):
            return self.send(400, None, "Validation failed: phoneNumber")
        vh = self.headers.get("X-Version-Number")
        if a.occ and vh is not None and int(vh) != rec.get("versionNumber"):
            ch = st.changed_at.get(rid, {})
            bad = {k: rec.get(k) for k in body
                   if ch.get(k, 0) > int(vh) and rec.get(k) != body[k]}
            if bad:
                return self.send(409, {"values": bad,
                                       "versionNumber": rec["versionNumber"]},
                                 "modified")
        upd = {k: v for k, v in body.items()
               if k not in ("id", "modifiedAt", "createdAt", "versionNumber")}
        upd["id"] = rid
        return self.send(200, st.put(upd))

    def create(self, body):
        st = self.server.state
        if not isinstance(body, dict):
            return self.send(400, None, "Bad request")
        if self.headers.get("X-Skip-Duplicate-Check") != "true":
            dups = [r for i, r in st.records.items()
                    if i not in st.deleted and body.get("name") and
                    r.get("name") == body.get("name")]
            if dups:
                return self.send(409, dups, "duplicate")
        body = dict(body)
        body.pop("id", None)
        return self.send(200, st.put(body))

    def list(self, qs):
        st = self.server.state
        a = st.args
        st.stats["list"] += 1
        try:
            p = parse_where(qs)
            size = int(p.get("maxSize", 20))
            off = int(p.get("offset", 0))
        except (ValueError, KeyError) as e:
            return self.send(400, None, "Bad params: %s" % e)
        if size > a.max_size:
            st.stats["refused_max"] += 1
            return self.send(403, None, "Max size should not exceed %d"
                             % a.max_size)
        rows = [r for i, r in st.records.items() if i not in st.deleted]
        try:
            for w in p.get("where") or []:
                rows = [r for r in rows if match(r, w)]
        except ValueError as e:
            return self.send(400, None, str(e))
        ob = p.get("orderBy")
        if ob:
            rows.sort(key=lambda r: str(r.get(ob) or ""),
                      reverse=p.get("order") == "desc")
        page = rows[off:off + size]
        sel = p.get("select") or p.get("attributeSelect")
        if sel:
            keep = set(sel.split(",")) | {"id"}
            page = [{k: v for k, v in r.items() if k in keep} for r in page]
        if self.headers.get("X-No-Total") == "true":
            total = -1 if off + size < len(rows) else -2
        else:
            total = len(rows)
        return self.send(200, {"list": page, "total": total})

    def control(self, method, u):
        st = self.server.state
        body = self.body() if method == "POST" else None
        name = u.path[len("/_test/"):]
        with LOCK:
            if name == "records" and method == "POST":
                out = [st.put(r, body.get("modifiedAt"))
                       for r in body["records"]]
                return self.send(200, [r["id"] for r in out])
            if name == "edit":
                rec = st.records[body["id"]]
                upd = dict(body["data"])
                upd["id"] = rec["id"]
                return self.send(200, st.put(upd, body.get("modifiedAt")))
            if name == "delete":
                st.deleted.add(body["id"])
                return self.send(200, True)
            if name.startswith("record/"):
                rid = name[len("record/"):]
                return self.send(200, st.records.get(rid))
            if name == "list":
                return self.send(200, [r for i, r in st.records.items()
                                       if i not in st.deleted])
            if name == "stats":
                return self.send(200, st.stats)
            if name == "reset_stats":
                for k in st.stats:
                    st.stats[k] = 0
                return self.send(200, True)
            if name == "faults":
                st.faults = body or {}
                return self.send(200, True)
            if name == "clock":
                st.clock = (body or {}).get("now")
                return self.send(200, True)
        return self.send(404, None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--entity", default="Contact")
    ap.add_argument("--api-key", default="test-api-key")
    ap.add_argument("--secret", default=None,
                    help="HMAC secret: the API user uses HMAC")
    ap.add_argument("--max-size", type=int, default=200)
    ap.add_argument("--occ", action="store_true",
                    help="optimistic concurrency (versionNumber)")
    ap.add_argument("--forbid", action="store_true",
                    help="answer 403 to every API call")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever()


if __name__ == "__main__":
    main()
