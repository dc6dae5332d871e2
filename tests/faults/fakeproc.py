"""One worker's fake 121 server: started once, reset through its test API
between runs, restarted (same port, same state) when the fault is a
restart. Python 3 standard library only; 127.0.0.1 only."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
FAKE = os.path.join(TESTS_DIR, "fake121", "fake121.py")
USER, PASSWORD = "sync-bot@example.org", "s3cret"


class FakeProc:
    def __init__(self, workdir):
        self.dir = workdir
        self.port_file = os.path.join(workdir, "fake.port")
        self.state_file = os.path.join(workdir, "fake.state")
        self.log = os.path.join(workdir, "fake.log")
        self.proc = None
        self.port = 0
        self.restarts = 0
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        for p in (self.port_file,):
            if os.path.exists(p):
                os.unlink(p)
        argv = [sys.executable, FAKE, "--port", str(self.port),
                "--port-file", self.port_file, "--throttle", "0",
                "--login-throttle", "0", "--async-delay", "0",
                "--keepalive-timeout", "5", "--state-file", self.state_file]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text.split()[0])
                    return
            if self.proc.poll() is not None:
                # The old port may be held a moment longer (TIME_WAIT is
                # fine with SO_REUSEADDR; a slow exit is not): try again.
                if time.monotonic() > deadline:
                    raise RuntimeError("fake121 did not start (see %s)" % self.log)
                time.sleep(0.05)
                with open(self.log, "ab") as log:
                    self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=log)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError("fake121 did not announce its port (see %s)" % self.log)
            time.sleep(0.01)

    def saved_mark(self):
        try:
            st = os.stat(self.state_file)
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None

    def stop_saving(self):
        """SIGTERM: the fake saves its state (holding its lock, so nothing
        changes after the save) and exits. It is never killed before its
        save is done (under heavy load that can take long: a kill after 30 s
        once made the next start load an older state, seed 1190), and a
        fake that exits without a new state file is an error of the
        harness, never a restart with an old state."""
        if not self.proc or self.proc.poll() is not None:
            raise RuntimeError("fake121 stopped by itself before a restart (see %s)" % self.log)
        before = self.saved_mark()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(600)
        except subprocess.TimeoutExpired:
            # Its threads' stacks go to its log (faulthandler), then it goes.
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise RuntimeError("fake121 did not save its state in 600 s (stacks in %s)"
                               % self.log)
        after = self.saved_mark()
        if rc != 0 or after is None or after == before:
            raise RuntimeError("fake121 exited %s without saving its state (see %s)"
                               % (rc, self.log))

    def restart(self):
        self.stop_saving()
        self.restarts += 1
        self.start()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in (self.state_file,):
            if os.path.exists(p):
                os.unlink(p)

    # -- the /_test/ API ----------------------------------------------------

    def call(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(20):
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    raw = r.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as e:
                raw = e.read()
                return {"_status": e.code, "_body": raw.decode("utf-8", "replace")}
            except (ConnectionError, urllib.error.URLError):
                # drop_every_nth_connection closes /_test connections too,
                # right after the request line (nothing was processed).
                if attempt == 19:
                    raise
                time.sleep(0.01)

    def reset(self, seed, registrations):
        # A state file of an earlier run must never come back.
        if os.path.exists(self.state_file):
            os.unlink(self.state_file)
        return self.call("POST", "/_test/reset",
                         {"seed": seed, "registrations": registrations, "payments": 0})

    def fault(self, **knobs):
        return self.call("POST", "/_test/faults", knobs)

    def reset_faults(self):
        return self.call("POST", "/_test/reset-faults", {})

    def flush(self):
        return self.call("POST", "/_test/flush", {})

    def registration(self, ref):
        return self.call("GET", "/_test/registration/" + ref)

    def dump(self):
        return self.call("GET", "/_test/dump")
