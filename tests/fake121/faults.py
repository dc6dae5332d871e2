"""Fault injection, request statistics and throttling for the fake 121 server.

Fault rules are added with POST /_test/faults (each call adds one rule; POST
/_test/reset-faults removes them all). A rule applies to the requests whose
path contains `path_contains` (default: every /api request; /_test requests are
never faulted). Knobs of one rule:

  latency_ms            sleep N ms before answering (every matching request,
                        or only the next `latency_count` ones)
  fail_status           answer 500/502/503/504 (NestJS/proxy-shaped body) to the
  fail_count            next N matching requests (default 1); the request is NOT
                        processed, unless
  fail_after_apply      true: process the request, then answer the failure
                        (a lost response: the write happened)
  rate_limit_429        answer 429 ThrottlerException to the next N requests,
  retry_after           with Retry-After: S (default 1)
  drop_after_bytes      send the headers (with the full Content-Length) and only
                        N bytes of the body, then close the connection
  truncate_json         the body is cut in half (Content-Length matches the cut
                        body, so the framing is valid but the JSON is not)
  malformed_json        the body is replaced by syntactically broken JSON
  count                 how many responses drop_after_bytes / truncate_json /
                        malformed_json affect (default 1)
  expire_tokens         all tokens issued so far become invalid (401) at once
  drop_every_nth_connection  every Nth new TCP connection is closed right after
                        its first request line is read (no response); stays on
                        until reset
  trickle_ms            send the body of the next `count` matching answers one
                        byte every N ms (headers at once, full Content-Length)
  extra_registrations   GET .../registrations answers with `limit` + N valid
                        synthetic rows (ids above the filter.id=$gt: value, or
                        above the largest id); stays on until reset
  endless_registrations true: GET .../registrations answers with exactly
                        `limit` valid synthetic rows above the filter.id=$gt:
                        value, so an id walk never ends; stays on until reset
  body_replace          {"old": "...", "new": "..."}: in the next `count`
                        matching 2xx answers, every occurrence of the text
                        `old` in the body becomes `new` (e.g. a value with
                        \\u0000, or "id":1e308)
  html_page             the next `count` matching answers are a 200 HTML page
                        (text/html), as a captive portal or proxy sends
  method                only requests with this method (e.g. "POST")
  office_edit           {"data": {...}, "username": "office-user", "reason"}:
                        on the next matching PATCH (e.g. path_contains
                        "/registrations/ref-00001"), first apply this edit of
                        the registration as another user (same validation and
                        events as /_test/edit), then the PATCH itself: a
                        write landing between the client's check and its write
"""

import threading
import time


class Rule:
    def __init__(self, spec):
        self.spec = dict(spec)
        self.path_contains = spec.get("path_contains") or ""
        self.method = (spec.get("method") or "").upper()
        self.latency_ms = int(spec.get("latency_ms") or 0)
        lc = spec.get("latency_count")
        self.latency_left = int(lc) if lc is not None else None
        self.fail_status = int(spec["fail_status"]) if spec.get("fail_status") else None
        self.fail_left = int(spec.get("fail_count", 1)) if self.fail_status else 0
        self.fail_after_apply = bool(spec.get("fail_after_apply"))
        self.r429_left = int(spec.get("rate_limit_429") or 0)
        self.retry_after = spec.get("retry_after", 1)
        count = int(spec.get("count", 1))
        self.drop_after = spec.get("drop_after_bytes")
        self.drop_left = count if self.drop_after is not None else 0
        self.truncate_left = count if spec.get("truncate_json") else 0
        self.malformed_left = count if spec.get("malformed_json") else 0
        self.nth_conn = int(spec.get("drop_every_nth_connection") or 0)
        self.trickle_ms = int(spec.get("trickle_ms") or 0)
        self.trickle_left = count if self.trickle_ms else 0
        self.extra_regs = int(spec.get("extra_registrations") or 0)
        self.endless = bool(spec.get("endless_registrations"))
        self.office_edit = spec.get("office_edit") or None
        self.office_left = 1 if self.office_edit else 0
        self.body_replace = spec.get("body_replace") or None
        self.replace_left = count if self.body_replace else 0
        self.html_left = count if spec.get("html_page") else 0

    def matches(self, path):
        return self.path_contains in path

    def exhausted(self):
        return (self.latency_ms == 0 or self.latency_left == 0) and self.fail_left <= 0 \
            and self.r429_left <= 0 and self.drop_left <= 0 and self.truncate_left <= 0 \
            and self.malformed_left <= 0 and self.nth_conn == 0 \
            and self.trickle_left <= 0 and not self.extra_regs and not self.endless \
            and self.office_left <= 0 and self.replace_left <= 0 and self.html_left <= 0

    def describe(self):
        d = dict(self.spec)
        d["remaining"] = {"latency": self.latency_left, "fail": self.fail_left,
                          "rate_limit_429": self.r429_left, "drop_after_bytes": self.drop_left,
                          "truncate_json": self.truncate_left, "malformed_json": self.malformed_left}
        return d


class Plan:
    """What the faults decided for one request."""
    __slots__ = ("latency", "fail_status", "fail_after_apply", "r429", "retry_after",
                 "drop_after", "truncate", "malformed", "trickle_ms", "extra_regs",
                 "endless", "office_edit", "body_replace", "html_page")

    def __init__(self):
        self.latency = 0.0
        self.fail_status = None
        self.fail_after_apply = False
        self.r429 = False
        self.retry_after = 1
        self.drop_after = None
        self.truncate = False
        self.malformed = False
        self.trickle_ms = 0
        self.extra_regs = 0
        self.endless = False
        self.office_edit = None
        self.body_replace = None
        self.html_page = False


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.connections = 0

    def add(self, spec):
        with self.lock:
            r = Rule(spec)
            self.rules.append(r)
            return r

    def reset(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [r.describe() for r in self.rules]

    def new_connection(self):
        """True if this new connection must be dropped."""
        with self.lock:
            self.connections += 1
            for r in self.rules:
                if r.nth_conn and self.connections % r.nth_conn == 0:
                    return True
            return False

    def plan(self, path, method="GET"):
        p = Plan()
        with self.lock:
            for r in self.rules:
                if not r.matches(path) or (r.method and r.method != method):
                    continue
                if r.latency_ms and (r.latency_left is None or r.latency_left > 0):
                    p.latency += r.latency_ms / 1000.0
                    if r.latency_left is not None:
                        r.latency_left -= 1
                if not p.r429 and p.fail_status is None and r.r429_left > 0:
                    r.r429_left -= 1
                    p.r429 = True
                    p.retry_after = r.retry_after
                    continue
                if not p.r429 and p.fail_status is None and r.fail_left > 0:
                    r.fail_left -= 1
                    p.fail_status = r.fail_status
                    p.fail_after_apply = r.fail_after_apply
                    continue
                if p.drop_after is None and r.drop_left > 0:
                    r.drop_left -= 1
                    p.drop_after = int(r.drop_after)
                if not p.truncate and r.truncate_left > 0:
                    r.truncate_left -= 1
                    p.truncate = True
                if not p.malformed and r.malformed_left > 0:
                    r.malformed_left -= 1
                    p.malformed = True
                if not p.trickle_ms and r.trickle_left > 0:
                    r.trickle_left -= 1
                    p.trickle_ms = r.trickle_ms
                if r.extra_regs:
                    p.extra_regs = r.extra_regs
                if r.endless:
                    p.endless = True
                if p.body_replace is None and r.replace_left > 0:
                    r.replace_left -= 1
                    p.body_replace = r.body_replace
                if not p.html_page and r.html_left > 0:
                    r.html_left -= 1
                    p.html_page = True
                if p.office_edit is None and r.office_left > 0 and method == "PATCH":
                    r.office_left -= 1
                    p.office_edit = r.office_edit
            self.rules = [r for r in self.rules if not r.exhausted()]
        return p


FAIL_BODIES = {
    500: b'{"statusCode":500,"message":"Internal server error"}',
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    503: b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
}


class Stats:
    """Request log summary for GET /_test/state and GET /_test/requests."""

    def __init__(self, keep=500):
        self.lock = threading.Lock()
        self.keep = keep
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.requests = 0
            self.by_route = {}
            self.by_status = {}
            self.bytes_out = 0
            self.bytes_in = 0
            self.log = []
            self.generation = getattr(self, "generation", 0) + 1

    def record(self, method, route, path, status, bytes_in, bytes_out, started, note=None):
        """Count a request. Called BEFORE its answer is sent, so that a
        test that has its answer and then reads or resets the stats never
        races with the handler thread; the bytes sent are added afterwards
        with sent(). Returns a token for sent()."""
        with self.lock:
            self.requests += 1
            self.by_route[route] = self.by_route.get(route, 0) + 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            self.bytes_out += bytes_out
            self.bytes_in += bytes_in
            entry = {"method": method, "path": path, "route": route, "status": status,
                     "bytes_in": bytes_in, "bytes_out": bytes_out,
                     "ms": round((time.monotonic() - started) * 1000, 1)}
            if note:
                entry["fault"] = note
            self.log.append(entry)
            if len(self.log) > self.keep:
                del self.log[: len(self.log) - self.keep]
            return (self.generation, entry)

    def sent(self, token, bytes_out, note=None):
        """Add the bytes of an answer counted by record() (unless the stats
        were reset in between)."""
        generation, entry = token
        with self.lock:
            if generation != self.generation:
                return
            self.bytes_out += bytes_out
            entry["bytes_out"] = bytes_out
            if note:
                entry["fault"] = note

    def summary(self):
        with self.lock:
            return {"requests": self.requests, "by_route": dict(self.by_route),
                    "by_status": dict(self.by_status), "bytes_out": self.bytes_out,
                    "bytes_in": self.bytes_in}

    def recent(self, n):
        with self.lock:
            return list(self.log[-n:]) if n > 0 else []


class Throttle:
    """Fixed-window counters per (bucket, ip), like @nestjs/throttler's limits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.windows = {}

    def hit(self, bucket, ip, limit, ttl_s=60):
        """-> (allowed, remaining, reset_seconds)."""
        now = time.monotonic()
        with self.lock:
            key = (bucket, ip)
            start, n = self.windows.get(key, (now, 0))
            if now - start >= ttl_s:
                start, n = now, 0
            n += 1
            self.windows[key] = (start, n)
            reset = max(1, int(round(ttl_s - (now - start))))
            if limit and n > limit:
                return False, 0, reset
            return True, max(0, (limit or 0) - n), reset

    def reset(self):
        with self.lock:
            self.windows = {}
