"""Helpers for the `agent serve` tests: start the server on a port chosen
at run time (127.0.0.1, --listen 127.0.0.1:0: the port is read from its
first output line), talk HTTP to it and to the fake 121, and compare JSON
answers the way the seed tools would see them."""

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import time

from clitest import AGENT_BIN

LOCAL_PASSWORD = "local-pass-123"


class Served:
    """An `agent serve` process."""

    def __init__(self, env, conf, listen="127.0.0.1:0", extra=()):
        self.proc = subprocess.Popen(
            [AGENT_BIN, "--config", conf, "serve", "--listen", listen] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"\(port (\d+)\)", line)
        if not m:
            err = self.proc.stderr.read().decode()
            self.proc.wait(10)
            raise RuntimeError("agent serve did not start: %r %s" % (line, err))
        self.port = int(m.group(1))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stderr.close()
        return self.proc.returncode, err


def request(port, method, path, body=None, cookie=None, raw=None,
            headers=None, tls=False, timeout=60):
    """-> (status, headers dict (lower-case), body bytes)."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Host": "127.0.0.1:%d" % port}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if cookie:
        h["Cookie"] = "access_token_general=" + cookie
    h.update(headers or {})
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def login(port, user, password, tls=False):
    st, h, b = request(port, "POST", "/api/users/login",
                       {"username": user, "password": password}, tls=tls)
    if st != 201:
        raise AssertionError("login failed: %d %r" % (st, b))
    m = re.search(r"access_token_general=([^;]+)", h.get("set-cookie", ""))
    return m.group(1)


def normalise(v):
    """Links carry the host of the request: compare their path and query."""
    if isinstance(v, dict):
        return {k: (re.sub(r"^https?://[^/]+", "", x) if k in
                    ("first", "previous", "current", "next", "last") and isinstance(x, str)
                    else normalise(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [normalise(x) for x in v]
    return v


def unordered(v):
    """A list where 121 gives no order, as a comparable sorted list."""
    return sorted(json.dumps(x, sort_keys=True) for x in v)


def wait_for(pred, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def build_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(AGENT_BIN)))
