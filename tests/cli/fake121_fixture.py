"""Start and stop tests/fake121/fake121.py for the CLI tests: 127.0.0.1,
a port chosen at run time (tests/fakes/launcher.py), and a small control
client for /_test/."""

import json
import os
import sys
import urllib.request

TESTS_DIR = os.environ.get(
    "AGENT_TESTS_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TESTS_DIR, "fakes"))
import launcher  # noqa: E402

FAKE = os.path.join(TESTS_DIR, "fake121", "fake121.py")
USER, PASSWORD = "sync-bot@example.org", "s3cret"


class FakeServer:
    def __init__(self, *args):
        self.fake = launcher.start_script(
            FAKE, "--throttle", "0", "--login-throttle", "0",
            "--async-delay", "0.05", *args, port_arg=True, prefix="fake121-")
        self.proc = self.fake.proc
        self.port = self.fake.port
        self.url = self.fake.url

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
        self.fake.stop()
