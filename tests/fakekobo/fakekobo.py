#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fakekobo.py - a fake KoboToolbox (kpi API v2) server for the tests of
the kobo connector. Python 3 standard library only; listens on 127.0.0.1
on a port chosen at run time (--port 0 --port-file F: tests/fakes/
launcher.py).

What it serves (contract: ../shared/contracts/kobo-api.md):
  GET /api/v2/assets/{uid}/             the form (asset.json beside this file)
  GET /api/v2/assets/{uid}/data/        submissions: limit (default 100,
        clamped to --max-limit, 1000), start, query (Mongo-style: $gt $gte
        $lt $lte $in $ne $exists $and $or, dotted paths), sort ({"_id": 1}),
        fields (projection); answer {count, next (absolute URL), previous,
        results}
  GET /api/v2/assets/{uid}/data/{id}/   one submission (404 when deleted)
  /api/v2/assets/{uid}/files/ and /deployment/: media.py
  GET /api/v2/assets/{uid}/data/{id}/attachments/{att}/   a file (token
        auth; with /_test/attachments {"redirect": true} a 302 to the
        storage listener instead)
  GET /media/original?media_file=PATH   a file by its old kc URL (token)
Storage listener (a second port: "another host"): GET /storage/{att}?sig=..
  serves the file without auth and logs the Authorization header it got.
Auth: "Authorization: Token <t>": none or wrong -> 401, a --forbidden
token -> 403, an unknown asset -> 404.

Test control (no auth, not counted):
  POST /_test/add       {"count": n, "legacy": false, "data": {...}}
  POST /_test/edit      {"id": n, "data": {...}}  new _uuid/instanceID,
                        deprecatedID = the previous one, rootUuid kept
  POST /_test/bulk_edit {"ids": [...], "data": {...}}  _uuid kept (kpi #3940)
  POST /_test/delete    {"id": n}
  POST /_test/faults    {"fail": n (500s), "rate_limit": n (429s),
                         "slow_ms": ms, "drop": n (connections closed)}
  GET  /_test/stats     {"requests", "serving_s", "data_requests",
                         "submissions_served"}
  POST /_test/reset-stats
  GET  /_test/submission/{id}
  POST /_test/add ... "files": {"<question>": {"name": "p.jpg", "size": n,
                        "mimetype": "image/jpeg", "late": false,
                        "old": false}}  media answers with their files:
                        late -> not listed in _attachments until
                        POST /_test/attach {"id": n}; old -> the old shape
                        (numeric id, no uid, kc media download_url)
  POST /_test/attachments {"redirect": bool}
  GET  /_test/storage_log  [{"path", "authorization"}] seen by the storage
                        listener; GET /_test/files  bytes served per file
Seeding: --seed N submissions (deterministic: --rng-seed), every
--legacy-every K-th without meta/rootUuid, --bad-every K-th with a bad
household size ("many") and an unknown district.
"""
import argparse
import copy
import json
import os
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import media  # form media files and deployment (agent issue 8)

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST = ["Amina", "Jonas", "Sara", "Omar", "Lena", "Yusuf", "Maria", "Ali"]
LAST = ["Test", "Example", "Sample", "Demo", "Fake", "Mock"]


class State:
    def __init__(self, args, host="", storage_host=""):
        with open(args.asset_file) as f:
            self.asset = json.load(f)
        self.uid = args.asset or self.asset["uid"]
        self.asset["uid"] = self.uid
        self.rng = random.Random(args.rng_seed)
        self.lock = threading.Lock()
        self.subs = []          # sorted by _id
        self.by_id = {}
        self.next_id = 1000
        self.args = args
        self.faults = {"fail": 0, "rate_limit": 0, "slow_ms": 0, "drop": 0}
        self.files = {}             # att uid -> bytes
        self.by_name = {}           # storage file name -> att uid
        self.late = {}              # _id -> [attachment, ...] not listed
        self.redirect = False
        self.storage_log = []
        self.file_hits = {}
        self.next_att = 1
        self.host = host
        self.storage_host = storage_host
        self.reset_stats()
        for i in range(args.seed):
            n = i + 1
            legacy = bool(args.legacy_every and n % args.legacy_every == 0)
            bad = bool(args.bad_every and n % args.bad_every == 0)
            self.add(legacy=legacy, bad=bad)

    def reset_stats(self):
        self.stats = {"requests": 0, "serving_s": 0.0, "data_requests": 0,
                      "submissions_served": 0}

    def uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add_file(self, sub, q, spec):
        sid = sub["_id"]
        name = spec.get("name", "file_%d.jpg" % sid)
        att = "att%020d" % self.next_att
        self.next_att += 1
        size = int(spec.get("size", 1000))
        self.files[att] = (att.encode() * (size // len(att) + 1))[:size]
        path = "enumerator1/attachments/%s/%s/%s" % (
            sub["formhub/uuid"], sub["_uuid"], name)
        self.by_name[path] = att
        sub[q] = name
        if spec.get("old"):
            a = {"download_url": self.host + "/media/original?media_file=" +
                 quote(path, safe=""),
                 "mimetype": spec.get("mimetype", "image/jpeg"),
                 "filename": path, "instance": sid, "xform": 1,
                 "id": self.next_att}
            self.files[str(self.next_att)] = self.files[att]
        else:
            url = "%s/api/v2/assets/%s/data/%d/attachments/%s/" % (
                self.host, self.uid, sid, att)
            a = {"download_url": url, "download_large_url": url + "large/",
                 "download_medium_url": url + "medium/",
                 "download_small_url": url + "small/",
                 "mimetype": spec.get("mimetype", "image/jpeg"),
                 "filename": path, "uid": att, "question_xpath": q}
        if spec.get("late"):
            self.late.setdefault(sid, []).append(a)
        else:
            sub["_attachments"].append(a)

    def add(self, legacy=False, bad=False, data=None, files=None):
        self.next_id += self.rng.choice((1, 1, 1, 2, 3))   # gaps, as on a
        sid = self.next_id                                 # shared server
        u = self.uuid()
        n = len(self.subs)
        sub = {
            "_id": sid,
            "formhub/uuid": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "start": "2026-03-02T09:14:05.120+02:00",
            "end": "2026-03-02T09:18:44.907+02:00",
            "hh/full_name": "%s %s %d" % (FIRST[n % len(FIRST)],
                                          LAST[n % len(LAST)], sid),
            "hh/phone": "3161%07d" % (sid % 10000000),
            "hh/household_size": "many" if bad else str(1 + n % 7),
            "needs": "water food",
            "district": "east" if bad else ("north" if n % 2 else "south"),
            "__version__": "vSynthVersion0002",
            "meta/instanceID": "uuid:" + u,
            "_xform_id_string": self.uid,
            "_uuid": u,
            "_attachments": [],
            "_status": "submitted_via_web",
            "_geolocation": [None, None],
            "_submission_time": "2026-03-02T07:18:50",
            "_tags": [], "_notes": [],
            "_validation_status": {},
            "_submitted_by": "enumerator1",
        }
        if not legacy:
            sub["meta/rootUuid"] = "uuid:" + u
        if data:
            sub.update(data)
        for q, spec in (files or {}).items():
            self.add_file(sub, q, spec)
        self.subs.append(sub)
        self.by_id[sid] = sub
        return sub

    def edit(self, sid, data, keep_uuid=False):
        sub = self.by_id[sid]
        sub.update(data)
        if not keep_uuid:
            u = self.uuid()
            sub["meta/deprecatedID"] = sub["meta/instanceID"]
            sub["meta/instanceID"] = "uuid:" + u
            sub["_uuid"] = u
        return sub

    def delete(self, sid):
        sub = self.by_id.pop(sid)
        self.subs.remove(sub)


def lookup(doc, key):
    if key in doc:
        return True, doc[key]
    cur = doc
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def match(doc, q):
    for k, v in q.items():
        if k == "$and":
            if not all(match(doc, x) for x in v):
                return False
            continue
        if k == "$or":
            if not any(match(doc, x) for x in v):
                return False
            continue
        present, val = lookup(doc, k)
        if isinstance(v, dict) and any(x.startswith("$") for x in v):
            for op, arg in v.items():
                if op == "$exists":
                    if bool(arg) != present:
                        return False
                elif op == "$in":
                    if not present or val not in arg:
                        return False
                elif op == "$ne":
                    if present and val == arg:
                        return False
                elif op in ("$gt", "$gte", "$lt", "$lte"):
                    if not present or val is None:
                        return False
                    try:
                        ok = {"$gt": val > arg, "$gte": val >= arg,
                              "$lt": val < arg, "$lte": val <= arg}[op]
                    except TypeError:
                        return False
                    if not ok:
                        return False
                else:
                    raise ValueError("operator %s not allowed" % op)
        elif not present or val != v:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeKobo/1"

    def log_message(self, fmt, *a):  # quiet
        pass

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, att):
        st = self.server.state
        with st.lock:
            body = st.files[att]
            st.file_hits[att] = st.file_hits.get(att, 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    # ---- control -----------------------------------------------------------
    def control(self, method, path):
        st = self.server.state
        if path == "/_test/media":
            return media.control(self, method, path)
        with st.lock:
            if method == "GET" and path == "/_test/stats":
                return self.send_json(200, st.stats)
            if method == "POST" and path == "/_test/reset-stats":
                st.reset_stats()
                return self.send_json(200, {})
            if method == "GET" and path.startswith("/_test/submission/"):
                sid = int(path.rsplit("/", 1)[1])
                if sid not in st.by_id:
                    return self.send_json(404, {"detail": "Not found."})
                return self.send_json(200, st.by_id[sid])
            if method == "GET" and path == "/_test/ids":
                return self.send_json(200, [s["_id"] for s in st.subs])
            data = self.read_body() if method == "POST" else {}
            if path == "/_test/add":
                subs = [st.add(legacy=bool(data.get("legacy")),
                               bad=bool(data.get("bad")),
                               data=data.get("data"),
                               files=data.get("files"))
                        for _ in range(int(data.get("count", 1)))]
                return self.send_json(200, [s["_id"] for s in subs])
            if path == "/_test/edit":
                return self.send_json(200, st.edit(int(data["id"]),
                                                   data.get("data", {})))
            if path == "/_test/bulk_edit":
                for sid in data["ids"]:
                    st.edit(int(sid), data.get("data", {}), keep_uuid=True)
                return self.send_json(200, {})
            if path == "/_test/attach":
                sid = int(data["id"])
                st.by_id[sid]["_attachments"].extend(st.late.pop(sid, []))
                return self.send_json(200, st.by_id[sid]["_attachments"])
            if path == "/_test/attachments":
                st.redirect = bool(data.get("redirect"))
                return self.send_json(200, {})
            if path == "/_test/storage_log":
                return self.send_json(200, st.storage_log)
            if path == "/_test/storage_host":
                return self.send_json(200, st.storage_host)
            if path == "/_test/files":
                return self.send_json(200, st.file_hits)
            if path == "/_test/delete":
                st.delete(int(data["id"]))
                return self.send_json(200, {})
            if path == "/_test/faults":
                st.faults.update(data)
                return self.send_json(200, st.faults)
        return self.send_json(404, {"detail": "no such control"})

    # ---- the API -----------------------------------------------------------
    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        parts = urlsplit(self.path)
        if parts.path.startswith("/_test/"):
            return self.control(method, parts.path)
        t0 = time.perf_counter()
        st = self.server.state
        with st.lock:
            st.stats["requests"] += 1
            f = st.faults
            slow = f.get("slow_ms", 0)
            if f.get("drop", 0) > 0:
                f["drop"] -= 1
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if f.get("rate_limit", 0) > 0:
                f["rate_limit"] -= 1
                return self.send_json(429, {"detail": "Request was throttled."},
                                      {"Retry-After": "0"})
            if f.get("fail", 0) > 0:
                f["fail"] -= 1
                return self.send_json(500, {"detail": "Server Error"})
        if slow:
            time.sleep(slow / 1000.0)
        try:
            self.api(method, parts)
        finally:
            with st.lock:
                st.stats["serving_s"] += time.perf_counter() - t0

    def api(self, method, parts):
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Token ") or \
                auth[6:] not in (st.args.token, st.args.forbidden):
            return self.send_json(401, {"detail": "Invalid token."})
        segs = [s for s in parts.path.split("/") if s]
        # form media files and deployment (media.py)
        if segs[:3] == ["api", "v2", "assets"] and len(segs) >= 5 and \
                segs[4] in ("files", "deployment"):
            return media.handle(self, method, segs, parts)
        if method == "GET" and segs == ["media", "original"]:
            name = parse_qs(parts.query).get("media_file", [""])[-1]
            with st.lock:
                att = st.by_name.get(name)
            if not att:
                return self.send_json(404, {"detail": "Not found."})
            return self.send_file(att)
        if method != "GET" or segs[:3] != ["api", "v2", "assets"]:
            return self.send_json(405 if segs[:3] == ["api", "v2", "assets"]
                                  else 404, {"detail": "Not found."})
        if len(segs) == 3:
            return self.send_json(200, {"count": 1, "next": None,
                                        "previous": None,
                                        "results": [{"uid": st.uid}]})
        if segs[3] != st.uid:
            return self.send_json(404, {"detail": "Not found."})
        if auth[6:] == st.args.forbidden:
            return self.send_json(403, {"detail": "You do not have permission "
                                        "to perform this action."})
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if len(segs) == 4:
            with st.lock:
                a = copy.deepcopy(st.asset)
                a["deployment__submission_count"] = len(st.subs)
            return self.send_json(200, a)
        if segs[4] != "data":
            return self.send_json(404, {"detail": "Not found."})
        if len(segs) >= 8 and segs[6] == "attachments":
            att = segs[7]
            with st.lock:
                known = att in st.files
                redirect = st.redirect
            if not known:
                return self.send_json(404, {"detail": "Not found."})
            if redirect:
                self.send_response(302)
                self.send_header("Location", "%s/storage/%s?sig=s3cr3t-sig"
                                 % (st.storage_host, att))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.send_file(att)
        if len(segs) == 6:
            try:
                sid = int(segs[5])
            except ValueError:
                return self.send_json(404, {"detail": "Not found."})
            with st.lock:
                sub = st.by_id.get(sid)
                sub = copy.deepcopy(sub) if sub else None
            if not sub:
                return self.send_json(404, {"detail": "Not found."})
            return self.send_json(200, sub)
        return self.data(q, parts)

    def data(self, q, parts):
        st = self.server.state
        try:
            query = json.loads(q.get("query", "{}"))
            sort = json.loads(q.get("sort", "{}"))
            fields = json.loads(q["fields"]) if "fields" in q else None
            limit = int(q.get("limit", st.args.default_limit))
            start = int(q.get("start", 0))
            if limit < 1 or start < 0:
                raise ValueError("bad limit/start")
        except (ValueError, TypeError) as e:
            return self.send_json(400, {"detail": "bad query: %s" % e})
        limit = min(limit, st.args.max_limit)
        with st.lock:
            try:
                rows = [s for s in st.subs if match(s, query)]
            except ValueError as e:
                return self.send_json(400, {"detail": str(e)})
            for key, direction in reversed(list(sort.items())):
                rows.sort(key=lambda s, k=key: (lookup(s, k)[1] is None,
                                                lookup(s, k)[1]),
                          reverse=direction == -1)
            total = len(rows)
            page = rows[start:start + limit]
            if fields is not None:
                page = [{k: s[k] for k in fields if k in s} for s in page]
            body = {"count": total, "next": None, "previous": None,
                    "results": page}
            st.stats["data_requests"] += 1
            st.stats["submissions_served"] += len(page)
            host = "http://%s:%d" % self.server.server_address[:2]
            base = host + parts.path + "?"
            if start + limit < total:
                nq = dict(q, start=start + limit, limit=limit)
                body["next"] = base + urlencode(nq)
            if start > 0:
                pq = dict(q, start=max(0, start - limit), limit=limit)
                body["previous"] = base + urlencode(pq)
            text = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


class StorageHandler(BaseHTTPRequestHandler):
    """Object storage on "another host": files by signed URL, no auth; it
    logs whether an Authorization header came (it must not)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet
        pass

    def do_GET(self):
        st = self.server.state
        parts = urlsplit(self.path)
        segs = [s for s in parts.path.split("/") if s]
        with st.lock:
            st.storage_log.append({"path": parts.path, "authorization":
                                   self.headers.get("Authorization")})
            body = st.files.get(segs[1]) if len(segs) == 2 and \
                segs[0] == "storage" else None
        if body is None:
            body, status = b'{"detail":"Not found."}', 404
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--token", default="kobo-test-token-0123456789abcdef")
    ap.add_argument("--forbidden", default="kobo-forbidden-token")
    ap.add_argument("--asset", default=None)
    ap.add_argument("--asset-file", default=os.path.join(HERE, "asset.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rng-seed", type=int, default=1)
    ap.add_argument("--legacy-every", type=int, default=0)
    ap.add_argument("--bad-every", type=int, default=0)
    ap.add_argument("--max-limit", type=int, default=1000)
    ap.add_argument("--default-limit", type=int, default=100)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    storage = ThreadingHTTPServer(("127.0.0.1", 0), StorageHandler)
    storage.daemon_threads = True
    state = State(args, "http://127.0.0.1:%d" % srv.server_address[1],
                  "http://127.0.0.1:%d" % storage.server_address[1])
    srv.state = storage.state = state
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    main()
