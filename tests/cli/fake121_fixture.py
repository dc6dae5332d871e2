"""Start and stop tests/fake121/fake121.py for the CLI tests: 127.0.0.1,
a port chosen at run time, and a small control client for /_test/."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

TESTS_DIR = os.environ.get(
    "AGENT_TESTS_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(TESTS_DIR, "fake121", "fake121.py")
USER, PASSWORD = "sync-bot@example.org", "s3cret"


class FakeServer:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="fake121-")
        portfile = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--port", "0", "--port-file", portfile,
             "--throttle", "0", "--login-throttle", "0",
             "--async-delay", "0.05"] + list(args),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not os.path.exists(portfile):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("fake121 did not start")
            time.sleep(0.02)
        with open(portfile) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def registration(self, ref):
        return self.call("GET", "/_test/registration/" + ref)

    def edit(self, ref, data, reason="office"):
        return self.call("POST", "/_test/edit",
                         {"referenceId": ref, "data": data, "reason": reason})

    def fault(self, **knobs):
        return self.call("POST", "/_test/faults", knobs)

    def flush(self):
        """Apply the accepted asynchronous jobs (status changes, CSV)."""
        return self.call("POST", "/_test/flush", {})

    def state(self):
        return self.call("GET", "/_test/state")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)
