"""Shared HTTP helpers: responses, NestJS-shaped errors, the request context."""

import json
import time
from urllib.parse import parse_qsl

MAX_BODY = 25 * 1024 * 1024
TOKEN_TTL_S = 33 * 3600


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        Exception.__init__(self, status, body)
        self.status = status
        self.body = body
        self.headers = headers or []


def shape_d(target, prop, value, constraints, present=True):
    """NestJS class-validator 400 (contract shape D)."""
    item = {"target": target}
    if present:
        item["value"] = value
    item.update({"property": prop, "children": [], "constraints": constraints})
    return {"message": [item], "error": "Bad Request", "statusCode": 400}


def shape_e():
    return HttpError(400, {"message": "Validation failed (numeric string is expected)",
                           "error": "Bad Request", "statusCode": 400})


FORBIDDEN = {"statusCode": 403, "message": "Forbidden"}
UNAUTHORIZED = {"message": "Unauthorized", "statusCode": 401}


class Resp:
    __slots__ = ("status", "chunks", "ctype", "headers", "etag")

    def __init__(self, status, body=None, ctype="application/json; charset=utf-8", headers=None,
                 etag=True):
        self.status = status
        if body is None:
            self.chunks = []
        elif isinstance(body, list) and body and all(isinstance(c, bytes) for c in body):
            self.chunks = body  # pre-serialised chunks (see serialize_envelope)
        elif isinstance(body, (bytes, bytearray)):
            self.chunks = [bytes(body)]
        else:
            self.chunks = [dumps(body)]
        self.ctype = ctype if self.chunks else None
        self.headers = headers or []
        self.etag = etag

    def length(self):
        return sum(len(c) for c in self.chunks)


# ---------------------------------------------------------------- request context

class Ctx:
    def __init__(self, handler, app, method, path, query_string, body):
        self.h = handler
        self.app = app
        self.state = app.state
        self.method = method
        self.path = path
        self.pairs = parse_qsl(query_string, keep_blank_values=True)
        self.q = {}
        for k, v in self.pairs:
            self.q.setdefault(k, v)
        self.body = body
        self.params = {}
        self.user = None
        self.program = None
        self.cost = 0.0
        self.t0 = time.monotonic()

    def header(self, name, default=None):
        return self.h.headers.get(name, default)

    def json(self, default=None):
        if not self.body:
            return default
        ctype = (self.header("Content-Type") or "").lower()
        if "json" not in ctype and ctype:
            return default
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            pos = getattr(e, "pos", 0)
            raise HttpError(400, {"message": "Unexpected token in JSON at position %d" % (pos or 0),
                                  "error": "Bad Request", "statusCode": 400})

    def json_obj(self):
        v = self.json({})
        return v if isinstance(v, dict) else {}

    def base_url(self):
        return "http://%s%s" % (self.header("Host") or "127.0.0.1", self.path)


