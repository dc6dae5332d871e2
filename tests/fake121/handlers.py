"""The HTTP request handler: keep-alive, bodies (gzip/chunked), auth, faults,
throttling, ETag/304, gzip responses, the cost-model sleep and statistics."""

import base64
import gzip
import hashlib
import re
import socket
import sys
import email.utils
import time
import zlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

import query as Q
from common import FORBIDDEN, MAX_BODY, UNAUTHORIZED, Ctx, HttpError, Resp, dumps
from faults import FAIL_BODIES
from routes121 import PERM, PUBLIC, route_name_for


# ---------------------------------------------------------------- the handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake121"
    sys_version = ""
    app = None  # set by the server

    def version_string(self):
        return "fake121"

    def date_time_string(self, timestamp=None):
        # --date-offset: a server whose clock is off (agent doctor's check).
        offset = self.app.config.date_offset if self.app is not None else 0.0
        if timestamp is None:
            timestamp = time.time()
        return email.utils.formatdate(timestamp + offset, usegmt=True)

    def log_message(self, fmt, *args):
        if self.app is not None and self.app.config.verbose:
            sys.stderr.write("fake121: %s - %s\n" % (self.address_string(), fmt % args))

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        # Head and body go out as separate writes; without TCP_NODELAY,
        # Nagle holds the body ~40 ms on every kept-alive request, which
        # no real server (Node sets noDelay) does.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle(self):
        if self.app.faults.new_connection():
            try:
                self.connection.settimeout(5)
                self.rfile.readline(65537)
            except OSError:
                pass
            self.close_connection = True
            return
        BaseHTTPRequestHandler.handle(self)

    def handle_one_request(self):
        try:
            self.connection.settimeout(self.app.config.keepalive_timeout)
        except OSError:
            pass
        BaseHTTPRequestHandler.handle_one_request(self)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    # -------------------------------------------------------- body

    def read_body(self):
        try:
            self.connection.settimeout(600)  # the real server socket times out after 10 min
        except OSError:
            pass
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                out += self.rfile.read(size)
                self.rfile.readline(65537)
                if len(out) > MAX_BODY:
                    raise HttpError(413, {"message": "request entity too large",
                                          "error": "Payload Too Large", "statusCode": 413})
            raw = bytes(out)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.close_connection = True
                raise HttpError(413, {"message": "request entity too large",
                                      "error": "Payload Too Large", "statusCode": 413})
            raw = self.rfile.read(n) if n else b""
        self._bytes_in = len(raw)
        enc = (self.headers.get("Content-Encoding") or "identity").lower().strip()
        if enc == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                raise HttpError(400, {"message": "incorrect header check", "error": "Bad Request",
                                      "statusCode": 400})
        elif enc == "deflate":
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                raise HttpError(400, {"message": "incorrect header check", "error": "Bad Request",
                                      "statusCode": 400})
        elif enc not in ("identity", ""):
            raise HttpError(415, {"message": 'unsupported content encoding "%s"' % enc,
                                  "error": "Unsupported Media Type", "statusCode": 415})
        if len(raw) > MAX_BODY:
            raise HttpError(413, {"message": "request entity too large",
                                  "error": "Payload Too Large", "statusCode": 413})
        return raw

    # -------------------------------------------------------- dispatch

    def dispatch(self, method):
        app = self.app
        started = time.monotonic()
        self._bytes_in = 0
        split = urlsplit(self.path)
        path = split.path
        if path.startswith("/_test/") or path == "/_test":
            import testapi
            try:
                body = self.read_body()
            except HttpError as e:
                self.send(Resp(e.status, e.body))
                return
            testapi.handle(self, app, method, path, split.query, body)
            return

        # Rules see the query too, so a test can fault only the real run of
        # a bulk action (path_contains "message?dryRun=false").
        plan = (app.faults.plan(path + ("?" + split.query if split.query else ""), method)
                if path.startswith("/api") else None)
        note = None
        ip = self.client_address[0]
        resp = None
        route = method + " " + route_name_for(path)
        try:
            body = self.read_body()
        except HttpError as e:
            resp = Resp(e.status, e.body)
            body = b""
        except (OSError, ValueError):
            self.close_connection = True
            return
        ctx = Ctx(self, app, method, path, split.query, body)
        if plan is not None and plan.latency:
            time.sleep(plan.latency)
            note = "latency"
        if resp is None and plan is not None and plan.r429:
            resp = Resp(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                        headers=[("Retry-After", str(plan.retry_after))])
            note = "rate_limit_429"
        if resp is None and plan is not None and plan.fail_status and not plan.fail_after_apply:
            resp = self.fail_resp(plan.fail_status)
            note = "fail_status"
        rl_headers = []
        if resp is None and path.startswith("/api"):
            ok, remaining, reset = app.throttle.hit("general", ip, app.config.throttle)
            lim = app.config.throttle or 3000
            rl_headers = [("X-RateLimit-Limit", str(lim)), ("X-RateLimit-Remaining", str(remaining)),
                          ("X-RateLimit-Reset", str(reset))]
            if not ok:
                resp = Resp(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                            headers=[("Retry-After", str(reset))])
        if resp is None and plan is not None and plan.office_edit is not None:
            self.office_edit(path, plan.office_edit)
            note = "office_edit"
        if resp is None:
            resp, route = self.route(ctx, method, path, route)
        if (plan is not None and (plan.extra_regs or plan.endless) and method == "GET"
                and resp.status == 200 and re.fullmatch(r"/api/programs/\d+/registrations", path)):
            resp = self.synthetic_registrations(ctx, plan)
            note = "endless_registrations" if plan.endless else "extra_registrations"
        if plan is not None and plan.fail_status and plan.fail_after_apply:
            resp = self.fail_resp(plan.fail_status)
            note = "fail_after_apply"
        # cost model: sleep the rest of the modelled time
        if ctx.cost:
            left = ctx.cost - (time.monotonic() - ctx.t0)
            if left > 0:
                time.sleep(left)
        resp.headers = rl_headers + resp.headers
        if plan is not None:
            if plan.truncate and resp.chunks:
                data = b"".join(resp.chunks)
                resp.chunks = [data[: max(1, len(data) // 2)]]
                note = "truncate_json"
            if plan.body_replace and resp.chunks and 200 <= resp.status < 300:
                data = b"".join(resp.chunks)
                old = str(plan.body_replace.get("old", "")).encode("utf-8")
                new = str(plan.body_replace.get("new", "")).encode("utf-8")
                if old:
                    resp.chunks = [data.replace(old, new)]
                note = "body_replace"
            if plan.html_page:
                resp = Resp(200, b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                                 b"<body><form>Wi-Fi login</form></body></html>\n",
                            ctype="text/html; charset=utf-8", etag=False)
                note = "html_page"
            if plan.malformed and resp.chunks:
                data = b"".join(resp.chunks)
                resp.chunks = [b'{"data":[{"id":1,,"status":]' + data[len(data) // 2:]]
                note = "malformed_json"
        token = app.stats.record(method, route, self.path, resp.status, self._bytes_in, 0,
                                 started, note)
        sent = self.send(resp, drop_after=plan.drop_after if plan is not None else None,
                         method=method, trickle_ms=plan.trickle_ms if plan is not None else 0)
        if plan is not None and plan.trickle_ms:
            note = "trickle"
        if plan is not None and plan.drop_after is not None:
            note = "drop_after_bytes"
        app.stats.sent(token, sent, note)

    def office_edit(self, path, spec):
        """Another user's edit of the registration the PATCH is for, applied
        before the PATCH (fault knob office_edit)."""
        import testapi
        ref = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        data = {"referenceId": spec.get("referenceId") or ref, "data": spec.get("data") or {},
                "reason": spec.get("reason", "office fix"),
                "username": spec.get("username", "office-user")}
        try:
            testapi.t_edit(self.app, data)
        except HttpError as e:
            sys.stderr.write("fake121: office_edit failed: %r\n" % (e.body,))

    def synthetic_registrations(self, ctx, plan):
        """`limit` (+ extra) valid rows above the filter.id=$gt: value, shaped
        like the program's first registration (fault knobs endless_registrations,
        extra_registrations)."""
        app = self.app
        pid = re.match(r"/api/programs/(\d+)/", ctx.path)
        p = (app.state.programs.get(int(pid.group(1))) if pid else None) or app.state.default_program
        q = ctx.q
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            limit = 20
        if limit < 0:
            limit = 1000
        gt = 0
        m = re.match(r"\$gt:(\d+)$", q.get("filter.id", ""))
        if m:
            gt = int(m.group(1))
        elif p.reg_ids:
            gt = p.reg_ids[-1]
        with app.state.lock:
            live = [r for r in p.regs if r.status != "deleted"]
            tmpl = p.make_viewer()(live[0]) if live else {"programId": p.id, "status": "new"}
        n = limit + (plan.extra_regs or 0)
        rows = []
        for i in range(1, n + 1):
            row = dict(tmpl)
            row["id"] = gt + i
            row["referenceId"] = "endless-%09d" % (gt + i)
            row["registrationProgramId"] = gt + i
            rows.append(row)
        body = {"data": rows, "meta": {"itemsPerPage": limit, "totalItems": gt + n + 1000000,
                                       "currentPage": 1, "totalPages": 1000000,
                                       "sortBy": [["id", "ASC"]]},
                "links": {"current": "?page=1&limit=%d" % limit}}
        return Resp(200, body)

    def fail_resp(self, status):
        body = FAIL_BODIES.get(status)
        if body is None:
            body = dumps({"statusCode": status, "message": "Injected failure"})
        ctype = "application/json; charset=utf-8" if body.startswith(b"{") else "text/html"
        return Resp(status, body, ctype=ctype, etag=False)

    def route(self, ctx, method, path, route):
        app = self.app
        matched = None
        for m, rx, fn, auth, name in app.routes:
            if m != method and not (m == "GET" and method == "HEAD"):
                continue
            mo = rx.fullmatch(path)
            if mo:
                matched = (mo, fn, auth, name)
                break
        if matched is None:
            return Resp(404, {"message": "Cannot %s %s" % (method, path), "error": "Not Found",
                              "statusCode": 404}), route
        mo, fn, auth, name = matched
        ctx.params = {k: unquote(v) for k, v in mo.groupdict().items()}
        try:
            if auth != PUBLIC:
                ctx.user = self.authenticate()
                if ctx.user is None:
                    raise HttpError(401, UNAUTHORIZED)
            if auth == PERM:
                pid = ctx.params.get("pid", "")
                p = app.state.programs.get(int(pid)) if re.fullmatch(r"\d+", pid) else None
                if p is None:
                    raise HttpError(403, FORBIDDEN)
                ctx.program = p
            resp = fn(ctx)
        except HttpError as e:
            resp = Resp(e.status, e.body, headers=e.headers)
        except Q.QueryError as e:
            resp = Resp(e.status, e.body)
        except Exception as e:  # a bug in the fake: answer like NestJS would
            import traceback
            traceback.print_exc()
            resp = Resp(500, {"statusCode": 500, "message": "Internal server error"})
        return resp, name

    def authenticate(self):
        cookie = self.headers.get("Cookie") or ""
        portal = (self.headers.get("x-121-interface") or "").lower() == "portal"
        want = "access_token_portal" if portal else "access_token_general"
        token = None
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == want:
                token = v.strip()
        if not token:
            return None
        return self.app.check_token(token)

    # -------------------------------------------------------- response

    def send(self, resp, drop_after=None, method="GET", trickle_ms=0):
        """Write a response; returns the number of bytes sent."""
        app = self.app
        chunks = resp.chunks
        headers = list(resp.headers)
        status = resp.status
        total = sum(len(c) for c in chunks)
        if chunks and resp.etag:
            h = hashlib.sha1()
            for c in chunks:
                h.update(c)
            etag = 'W/"%x-%s"' % (total, base64.b64encode(h.digest()).decode()[:27])
            inm = self.headers.get("If-None-Match")
            if (inm and method in ("GET", "HEAD") and (200 <= status < 300)
                    and etag in [x.strip() for x in inm.split(",")]):
                return self._write_head(304, [("ETag", etag)] + _cors(), None)
            headers.append(("ETag", etag))
        if (chunks and app.config.gzip and resp.ctype and "json" in resp.ctype
                and "gzip" in (self.headers.get("Accept-Encoding") or "").lower()):
            co = zlib.compressobj(app.config.gzip_level, zlib.DEFLATED, 31)
            out = [co.compress(c) for c in chunks]
            out.append(co.flush())
            chunks = [c for c in out if c]
            total = sum(len(c) for c in chunks)
            headers.append(("Content-Encoding", "gzip"))
            headers.append(("Vary", "Accept-Encoding"))
        if resp.ctype:
            headers.insert(0, ("Content-Type", resp.ctype))
        headers = _cors() + headers + [("Content-Length", str(total))]
        n = self._write_head(status, headers, total)
        if method == "HEAD":
            return n
        try:
            if trickle_ms:
                data = b"".join(chunks)
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    n += 1
                    time.sleep(trickle_ms / 1000.0)
                return n
            if drop_after is not None:
                left = max(0, int(drop_after))
                for c in chunks:
                    if left <= 0:
                        break
                    piece = c[:left]
                    self.wfile.write(piece)
                    n += len(piece)
                    left -= len(piece)
                try:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.close_connection = True
                return n
            for c in chunks:
                self.wfile.write(c)
                n += len(c)
        except OSError:
            self.close_connection = True
        return n

    def _write_head(self, status, headers, length):
        try:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            else:
                self.send_header("Connection", "keep-alive")
                self.send_header("Keep-Alive", "timeout=%d" % int(self.app.config.keepalive_timeout))
            head = b"".join(self._headers_buffer)
            self.end_headers()
            return len(head) + 2
        except OSError:
            self.close_connection = True
            return 0


def _cors():
    return [("Vary", "Origin"), ("Access-Control-Allow-Credentials", "true")]
