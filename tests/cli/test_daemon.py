#!/usr/bin/env python3
"""`agent daemon` end to end: the real binary, the fake 121 server, small
intervals (1-2 s) so the whole file runs in about a minute.

Covers: syncing by itself once the server appears after being down (within
one probe interval), the retry backoff growing and resetting, `sync --now`
handed to the daemon (exit codes 0/3/4/5, the daemon's pid in the summary,
no lock wait), two `sync --now` at once (one sync on the server, both get
its result), SIGTERM during a large pull (exit 0 within seconds, the restart
resumes from the checkpoint), SIGKILL during a push (no loss, no duplicate),
SIGHUP (config reload, invalid config kept out, log reopen), the control
socket (mode 0600, stale file replaced, removed on exit, one daemon per
store), the health fields of `agent status --json`, and the sync process
(the daemon never maps libcurl; a sync process that crashes is a failed
sync; SIGTERM reaches it).

Under an emulator (AGENT_TEST_SLOWDOWN=S, set by tests/cross/arm64.sh) every
wait and time bound here is S times longer (clitest.slow), and so are the
delays a test puts in the server's way to hold a sync open while it acts,
and the retry backoff where a check must come before the next retry; what
is checked stays the same, and natively so does every value.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import (AGENT_BIN, AgentTestCase, file_mode, main,  # noqa: E402
                     slow)
import storesql  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402

FSP = "programFspConfigurationName=Intersolve-voucher-paper"
PERSON = ["fullName=Daemon Test", "phoneNumber=31600000007", FSP]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout, step=0.1):
    """Call fn until it returns something true; fail after timeout s
    (native; slow(timeout) under an emulator)."""
    timeout = slow(timeout)
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(step)


class DaemonTestCase(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.sock = self.db + ".sock"
        self.log = os.path.join(self.dir, "daemon.log")
        self.daemons = []
        self.addCleanup(self.stop_daemons)

    # -- config, server, daemon ---------------------------------------------

    def configure(self, url, **over):
        """Write the config: quick retries, 1 s probes, long interval;
        keyword "section_key=value" pairs override or add keys."""
        sections = {
            "store": {"path": self.db},
            "121": {"url": url, "program_id": "3", "user": USER},
            "log": {"level": "info", "file": self.log},
            "sync": {"max_attempts": "1", "backoff_base_ms": "20",
                     "backoff_cap_ms": "200"},
            "daemon": {"interval_s": "3600", "probe_interval_s": "1",
                       "backoff_base_s": "1", "backoff_cap_s": "4"},
        }
        for k, v in over.items():
            sec, key = k.split("_", 1)
            sections[sec][key] = str(v)
        text = "".join("[%s]\n%s" % (sec, "".join(
            "%s = %s\n" % kv for kv in keys.items()))
            for sec, keys in sections.items())
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o600)

    def start_fake(self, *args):
        fake = FakeServer(*args)
        self.addCleanup(self.stop_fake, fake)
        return fake

    def stop_fake(self, fake):
        if not getattr(fake, "stopped", False):
            fake.stopped = True
            fake.stop()

    def start_daemon(self, *args, wait=True):
        p = subprocess.Popen([AGENT_BIN, "--config", self.conf, "daemon"]
                             + list(args), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=self.env)
        self.daemons.append(p)
        if wait:
            wait_for("the daemon's socket", lambda: self.daemon_status(p),
                     20)
        return p

    def stop_daemons(self):
        for p in self.daemons:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stderr.close()

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        """Signal the daemon; returns (exit code, seconds it took)."""
        t0 = time.time()
        p.send_signal(sig)
        rc = p.wait(slow(timeout))
        return rc, time.time() - t0

    def status(self):
        return self.json("status")

    def daemon_status(self, p=None):
        """The daemon object of `agent status --json` (None: no daemon),
        checking it is daemon `p` when given."""
        if p is not None and p.poll() is not None:
            raise AssertionError("the daemon exited (%d): %s" % (
                p.returncode, p.stderr.read().decode("utf-8", "replace")))
        d = self.status()["daemon"]
        if d is not None and p is not None:
            self.assertEqual(d["pid"], p.pid)
        return d

    def wait_synced(self, p, after=0, timeout=30):
        """Wait until the daemon has finished sync number > after and is
        idle; returns its status."""
        def done():
            d = self.daemon_status(p)
            return d if d and d["syncs"] > after and d["state"] == "idle" \
                else None
        return wait_for("a daemon sync", done, timeout)

    def sync_now(self, code=0):
        t0 = time.time()
        rc, out, err = self.run_agent("--json", "sync", "--now")
        self.assertEqual(rc, code, "sync --now: %d (want %d): %s %s"
                         % (rc, code, out, err))
        return json.loads(out), time.time() - t0

    def read_log(self):
        with open(self.log, encoding="utf-8") as f:
            return f.read()

    def db_value(self, sql, *args):
        con = storesql.connect(self.db, timeout=10)
        try:
            row = con.execute(sql, args).fetchone()
        finally:
            con.close()
        return row[0] if row else None

    def checkpoint(self):
        v = self.db_value("SELECT value FROM sync_checkpoints WHERE source ="
                          " '121' AND name = 'pull.last_id'")
        return int(v) if v is not None else 0


class TestOfflineThenOnline(DaemonTestCase):
    def wait_ok(self, p, timeout):
        def ok():
            d = self.daemon_status(p)
            return d if d["last_sync"] and \
                d["last_sync"]["result"] == "ok" else None
        return wait_for("a good sync", ok, timeout, step=0.05)

    def test_backoff_grows_and_resets(self):
        port = free_port()
        self.configure("http://127.0.0.1:%d" % port)
        p = self.start_daemon()

        # Nothing listens: each failed sync widens the retry window
        # (1, 2, 4 s, then capped at 4) and the next attempt lies in it.
        seen = {}

        def failures():
            d = self.daemon_status(p)
            if d["state"] == "offline" and d["consecutive_failures"] > 0:
                f = d["consecutive_failures"]
                seen[f] = d["backoff_s"]
                if d["next_attempt_in_s"] is not None:
                    self.assertLessEqual(d["next_attempt_in_s"],
                                         d["backoff_s"] + 0.5)
            return len(seen) >= 3 and max(seen) >= 3
        wait_for("three failed syncs", failures, 30, step=0.05)
        for f, window in seen.items():
            self.assertEqual(window, min(4, 2 ** (f - 1)), seen)
        d = self.daemon_status(p)
        self.assertIsNotNone(d["offline_since"])
        self.assertIn("unreachable", d["last_error"])
        st = self.status()
        self.assertGreaterEqual(st["consecutive_failures"], 3)
        self.assertFalse(st["stuck"])

        # Back online: the count and the window reset.
        fake = self.start_fake("--port", str(port),
                               "--seed-registrations", "60")
        d = self.wait_ok(p, 10)
        self.assertEqual(d["state"], "idle")
        self.assertEqual(d["consecutive_failures"], 0)
        self.assertEqual(d["backoff_s"], 0)
        self.assertIsNone(d["offline_since"])
        self.assertIsNone(d["last_error"])
        self.assertIsNone(d["next_probe"])
        self.assertGreater(d["next_attempt_in_s"], 3000)
        st = self.status()
        self.assertEqual(st["consecutive_failures"], 0)
        self.assertIsNotNone(st["last_reachable"])
        live = fake.state()["programs"]["3"]["registrations_live"]
        self.assertEqual(st["registrations"], live)
        rc, took = self.stop(p)
        self.assertEqual(rc, 0)

    def test_syncs_within_a_probe_interval_when_the_server_appears(self):
        port = free_port()
        # A long backoff: the retry deadline is far, only the probe (every
        # second) can notice the server.
        backoff = int(slow(600))
        self.configure("http://127.0.0.1:%d" % port,
                       daemon_backoff_base_s=backoff,
                       daemon_backoff_cap_s=backoff)
        p = self.start_daemon()
        d = wait_for("two probes", lambda: (lambda s: s if s["state"] ==
                     "offline" and s["probes"] >= 2 else None)(
                         self.daemon_status(p)), 10, step=0.05)
        retry_in, syncs = d["next_attempt_in_s"], d["syncs"]

        fake = self.start_fake("--port", str(port),
                               "--seed-registrations", "60")
        t0 = time.time()
        d = self.wait_ok(p, 60)
        took = time.time() - t0
        # Far sooner than the 600 s backoff: the probe found the server
        # (generous bound: a sanitizer build on a loaded machine is slow).
        self.assertLess(took, slow(60))
        if retry_in > took + 1:
            self.assertIn("121 answers again: syncing now", self.read_log())
        self.assertGreaterEqual(d["syncs"], syncs + 1)
        live = fake.state()["programs"]["3"]["registrations_live"]
        self.assertEqual(self.status()["registrations"], live)
        self.assertEqual(self.stop(p)[0], 0)


class TestSyncNow(DaemonTestCase):
    def test_sync_now_is_run_by_the_daemon(self):
        fake = self.start_fake("--seed-registrations", "80")
        self.configure(fake.url)
        p = self.start_daemon()
        self.wait_synced(p)

        # A write command works while the daemon holds the store lock.
        ref = self.add(*PERSON)
        doc, took = self.sync_now()
        self.assertEqual(doc["daemon_pid"], p.pid)
        self.assertEqual(doc["result"], "ok")
        self.assertEqual(doc["pushed"], 1)
        # The daemon ran it (daemon_pid above), so nothing waited for the
        # store lock.
        self.assertEqual(fake.registration(ref)["registration"]["referenceId"],
                         ref)
        out = self.ok("sync", "--now")
        self.assertIn("sync: pulled", out)

        # 4: a conflict needs a person.
        regs = self.json("registrations", "list", "--status", "included",
                         "--limit", "1")
        other = regs[0]["referenceId"]
        self.ok("registrations", "edit", other, "householdSize=13")
        fake.edit(other, {"householdSize": "19"})
        doc, _ = self.sync_now(code=4)
        self.assertEqual(doc["open_conflicts"], 1)

        # 3: the server is gone, nothing lost.
        self.stop_fake(fake)
        doc, _ = self.sync_now(code=3)
        self.assertEqual(doc["result"], "offline")
        self.assertEqual(doc["daemon_pid"], p.pid)
        self.assertEqual(self.stop(p)[0], 0)

    def test_auth_failure_exit_5(self):
        fake = self.start_fake("--seed-registrations", "10")
        # The status below must come before the retry (1 s natively).
        self.configure(fake.url, daemon_backoff_base_s=int(slow(1)),
                       daemon_backoff_cap_s=int(slow(4)))
        self.env["AGENT_121_PASSWORD"] = "wrong"
        p = self.start_daemon()
        self.env["AGENT_121_PASSWORD"] = PASSWORD  # the daemon's counts
        doc, _ = self.sync_now(code=5)
        self.assertEqual(doc["result"], "auth")
        self.assertEqual(doc["daemon_pid"], p.pid)
        d = self.daemon_status(p)
        self.assertEqual(d["state"], "idle")  # reachable, not offline
        self.assertGreaterEqual(d["consecutive_failures"], 1)

    def test_two_requests_share_one_sync(self):
        fake = self.start_fake("--seed-registrations", "40")
        self.configure(fake.url)
        p = self.start_daemon()
        before = self.wait_synced(p)["syncs"]
        fake.call("POST", "/_test/reset-stats", {})
        # Every sync logs in first; a slow login keeps the first sync
        # running while the second request arrives.
        fake.fault(path_contains="/users/login",
                   latency_ms=int(slow(1.5) * 1000), latency_count=1)
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        a = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        time.sleep(slow(0.5))
        b = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        out_a, err_a = a.communicate(timeout=slow(60))
        out_b, err_b = b.communicate(timeout=slow(60))
        self.assertEqual(a.returncode, 0, err_a)
        self.assertEqual(b.returncode, 0, err_b)
        doc_a, doc_b = json.loads(out_a), json.loads(out_b)
        self.assertEqual(doc_a, doc_b)
        self.assertEqual(fake.state()["by_route"].get("POST /api/users/login"),
                         1)
        self.assertEqual(self.daemon_status(p)["syncs"], before + 1)


class TestSignals(DaemonTestCase):
    def test_sigterm_during_a_large_pull_then_resume(self):
        fake = self.start_fake("--seed-registrations", "20000",
                               "--cost-model", "--cost-scale", "0.3")
        self.configure(fake.url, sync_window=1000, sync_batch=250)
        # Slow windows, so that the signal lands in the middle of the pull.
        fake.fault(path_contains="/registrations?", latency_ms=300)
        p = self.start_daemon()
        wait_for("a pull checkpoint", lambda: self.checkpoint() > 0, 60,
                 step=0.05)
        rc, took = self.stop(p)
        self.assertEqual(rc, 0)
        # Stopped mid-pull, not after the whole pull of 20,000 (minutes at
        # this latency); generous for a loaded sanitizer build.
        self.assertLess(took, slow(30))
        first = self.checkpoint()
        self.assertGreater(first, 0)
        pulled = self.status()["registrations"]
        live = fake.state()["programs"]["3"]["registrations_live"]
        self.assertLess(pulled, live)
        self.assertFalse(os.path.exists(self.sock))
        self.assertIn("finishing the current batch", self.read_log())
        # A cancelled sync is not a failure.
        self.assertEqual(self.status()["consecutive_failures"], 0)

        fake.call("POST", "/_test/reset-faults", {})
        fake.call("POST", "/_test/reset-stats", {})
        p = self.start_daemon()
        self.wait_synced(p, timeout=60)
        self.assertEqual(self.status()["registrations"], live)
        self.assertGreaterEqual(self.checkpoint(), first)
        # The resumed pull started above the checkpoint: no request asked
        # for the rows below it again.
        reqs = fake.call("GET", "/_test/requests?limit=1000")["requests"]
        pulls = [r["path"] for r in reqs
                 if "/registrations?" in r["path"]]
        self.assertTrue(pulls)
        self.assertTrue(all("%24gt%3A" in u or "$gt:" in u for u in pulls),
                        pulls[:3])
        self.assertEqual(self.stop(p)[0], 0)

    def test_sigkill_during_push_loses_nothing(self):
        fake = self.start_fake("--seed-registrations", "20")
        self.configure(fake.url, sync_create_batch=10)
        p = self.start_daemon()
        self.wait_synced(p)
        self.assertEqual(self.stop(p)[0], 0)
        n = 150
        self.ok("-q", "registrations", "add", "--repeat", str(n), *PERSON)
        base = fake.state()["programs"]["3"]["registrations"]

        fake.fault(path_contains="/programs/3/registrations",
                   latency_ms=250)
        p = self.start_daemon()
        wait_for("part of the push", lambda: fake.state()["programs"]["3"]
                 ["registrations"] >= base + 30, 60, step=0.05)
        p.kill()
        p.wait()
        self.assertLess(fake.state()["programs"]["3"]["registrations"],
                        base + n)
        # The socket file stays behind; the next daemon replaces it.
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode))
        self.assertEqual(self.db_value("PRAGMA integrity_check"), "ok")

        fake.call("POST", "/_test/reset-faults", {})
        p = self.start_daemon()
        self.wait_synced(p, timeout=60)
        for _ in range(3):
            if self.status()["pending"] == 0:
                break
            self.sync_now()
        st = self.status()
        self.assertEqual(st["pending"], 0)
        self.assertEqual(st["rejected"], 0)
        self.assertEqual(fake.state()["programs"]["3"]["registrations"],
                         base + n)
        self.assertEqual(self.db_value(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'create' AND state = "
            "'done'"), n)
        self.assertEqual(self.stop(p)[0], 0)

    def test_sighup_reloads_config_and_reopens_log(self):
        fake = self.start_fake("--seed-registrations", "10")
        self.configure(fake.url)
        p = self.start_daemon()
        d = self.wait_synced(p)
        self.assertEqual(d["interval_s"], 3600)
        self.assertEqual(d["log_level"], "info")

        self.configure(fake.url, daemon_interval_s=120, log_level="debug")
        os.rename(self.log, self.log + ".1")
        p.send_signal(signal.SIGHUP)
        d = wait_for("the reload", lambda: (lambda s: s if s["interval_s"]
                     == 120 else None)(self.daemon_status(p)), 10)
        self.assertEqual(d["log_level"], "debug")
        self.assertLessEqual(d["next_attempt_in_s"], 121)
        # Log rotation: a new file, and the reload is logged in it.
        wait_for("the new log file", lambda: os.path.exists(self.log), 5)
        self.assertIn("config reloaded", self.read_log())

        # A broken config is refused and the running one is kept (the
        # CLI reads a good copy meanwhile).
        good = self.conf + ".good"
        with open(self.conf) as f, open(good, "w") as g:
            g.write(f.read())
        os.chmod(good, 0o600)
        with open(self.conf, "a") as f:
            f.write("[daemon]\ninterval_s = 0\n")
        p.send_signal(signal.SIGHUP)
        wait_for("the refusal in the log",
                 lambda: "config reload failed" in self.read_log(), 10)
        self.conf = good
        d = self.daemon_status(p)
        self.assertEqual(d["interval_s"], 120)
        self.assertEqual(d["log_level"], "debug")
        self.assertEqual(self.stop(p)[0], 0)


class TestSocket(DaemonTestCase):
    def test_socket_mode_stale_file_and_single_instance(self):
        self.configure("http://127.0.0.1:9")
        # A socket file left by a daemon that died: replaced at start.
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(self.sock)
        stale.close()
        self.assertIsNone(self.status()["daemon"])
        p = self.start_daemon()
        st = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(file_mode(self.sock), 0o600)

        # One daemon per store: the second cannot take the lock.
        rc, out, err = self.run_agent("daemon", timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn("cannot start the daemon", err)
        self.assertIn(str(p.pid), err)
        self.assertEqual(self.daemon_status(p)["pid"], p.pid)

        rc, took = self.stop(p, signal.SIGINT)
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(self.sock))
        self.assertIsNone(self.status()["daemon"])

    def test_protocol_errors(self):
        self.configure("http://127.0.0.1:9")
        p = self.start_daemon()

        def ask(line):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(slow(5))
            s.connect(self.sock)
            s.sendall(line)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            return [json.loads(x) for x in data.decode().splitlines()]

        self.assertEqual(ask(b'{"cmd":"ping"}\n'),
                         [{"event": "pong", "pid": p.pid}])
        self.assertEqual(ask(b'{"cmd":"nope"}\n')[0]["event"], "error")
        self.assertEqual(ask(b'not json\n')[0]["event"], "error")
        self.assertEqual(ask(b'{"cmd":"sync","direction":"up"}\n')[0]
                         ["event"], "error")
        self.assertEqual(ask(b'x' * 5000)[0]["event"], "error")
        self.assertEqual(self.daemon_status(p)["pid"], p.pid)
        self.assertEqual(self.stop(p)[0], 0)


class TestSystemd(DaemonTestCase):
    def notify_run(self, name, bind_name):
        """Start a daemon with NOTIFY_SOCKET=name and a 1 s watchdog; stop
        it; return the datagrams it sent."""
        self.configure("http://127.0.0.1:9")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(bind_name)
        s.settimeout(0.2)
        self.env["NOTIFY_SOCKET"] = name
        self.env["WATCHDOG_USEC"] = "1000000"
        p = self.start_daemon()
        got = []
        deadline = time.time() + slow(1.6)
        while time.time() < deadline:
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                pass
        self.assertEqual(self.stop(p)[0], 0)
        try:
            while True:
                got.append(s.recv(4096).decode())
        except socket.timeout:
            pass
        s.close()
        return got

    def test_sd_notify_path(self):
        path = os.path.join(self.dir, "notify")
        got = self.notify_run(path, path)
        self.assertTrue(got[0].startswith("READY=1\nSTATUS="), got)
        # WatchdogSec=1 s: a ping every half second.
        self.assertGreaterEqual(got.count("WATCHDOG=1"), 2, got)
        self.assertIn("STOPPING=1", got)
        self.assertTrue(any(m.startswith("STATUS=offline since") for m in got),
                        got)

    def test_sd_notify_abstract(self):
        name = "@agent-test-%d" % os.getpid()
        got = self.notify_run(name, "\0" + name[1:])
        self.assertTrue(got[0].startswith("READY=1"), got)
        self.assertIn("STOPPING=1", got)

    def test_detach(self):
        self.configure("http://127.0.0.1:9")
        out = self.ok("daemon", "--detach")
        pid = int(out.strip())

        def gone():
            # A zombie waiting for a reaper (not us: it was reparented)
            # has exited too.
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except (FileNotFoundError, ProcessLookupError):
                return True

        def kill():
            if not gone():
                os.kill(pid, signal.SIGKILL)
        self.addCleanup(kill)
        # Ready when the parent returns: the socket answers at once.
        d = self.status()["daemon"]
        self.assertEqual(d["pid"], pid)
        os.kill(pid, signal.SIGTERM)
        wait_for("the detached daemon to exit", gone, 10)
        self.assertFalse(os.path.exists(self.sock))
        self.assertIn("daemon stopped", self.read_log())


class TestHealth(DaemonTestCase):
    def test_standalone_health_fields(self):
        fake = self.start_fake("--seed-registrations", "10")
        self.configure(fake.url, daemon_stuck_after_s=1)
        st = self.status()
        self.assertEqual(st["outbox"], {"pending": 0, "inflight": 0})
        self.assertIsNone(st["oldest_pending_age_s"])
        self.assertEqual(st["consecutive_failures"], 0)
        self.assertFalse(st["stuck"])
        self.assertIsNone(st["daemon"])

        self.add(*PERSON)
        time.sleep(1.2)
        st = self.status()
        self.assertGreaterEqual(st["oldest_pending_age_s"], 1)
        self.assertEqual(st["outbox"]["pending"], 1)
        self.assertFalse(st["stuck"])  # never reached the server yet
        # The server was reachable but the change did not go: stuck.
        rc, out, err = self.run_agent("sync", "--now", "--pull-only")
        self.assertEqual(rc, 0, err)
        st = self.status()
        self.assertTrue(st["stuck"])
        self.assertIsNotNone(st["last_reachable"])
        # Failed syncs count, standalone too; a good one resets.
        self.stop_fake(fake)
        self.run_agent("sync", "--now")
        self.run_agent("sync", "--now")
        self.assertEqual(self.status()["consecutive_failures"], 2)
        fake2 = self.start_fake("--seed-registrations", "10")
        self.configure(fake2.url, daemon_stuck_after_s=1)
        rc, out, err = self.run_agent("sync", "--now")
        self.assertEqual(rc, 0, err)
        st = self.status()
        self.assertEqual(st["consecutive_failures"], 0)
        self.assertFalse(st["stuck"])
        self.assertIsNotNone(st["last_drained"])
        text = self.ok("status")
        self.assertIn("sync health", text)
        self.assertIn("not running", text)


def children_of(pid):
    """The pids whose parent is `pid` (from /proc/*/stat)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return out


def maps_text(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def under_qemu_user(pid):
    """True when process `pid` is an emulated agent (qemu-user: the cross
    build's tests). qemu-user runs a host thread of its own (RCU) that the
    guest sees in /proc/self/task, so the daemon there is never one thread
    and takes its documented fallback: the job on a thread of the daemon,
    no sync process (daemon_job.h). Natively this is never true, so no
    native check is skipped."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return False
    return os.path.basename(exe).startswith("qemu-")


class TestSyncProcess(DaemonTestCase):
    """Each sync and probe runs in a child process; the daemon itself
    never loads libcurl (daemon_job.h). Under qemu-user the job runs on a
    thread instead (under_qemu_user): what does not depend on the process
    is still checked, the rest is reported as skipped."""

    def skip_if_emulated(self, p):
        if under_qemu_user(p.pid):
            self.skipTest("qemu-user's own thread makes the daemon "
                          "multi-threaded: its job runs on a thread, there "
                          "is no sync process (checked natively)")

    def sync_process(self, p):
        """The sync process's pid once the daemon runs a sync (native);
        None under qemu-user, where the sync runs on a thread."""
        if under_qemu_user(p.pid):
            wait_for("the daemon's sync", lambda: self.daemon_status(p)
                     ["state"] == "syncing", 20, step=0.05)
            return None
        kids = wait_for("the sync process", lambda: children_of(p.pid), 20,
                        step=0.05)
        self.assertEqual(len(kids), 1)
        return kids[0]

    def test_daemon_never_maps_curl(self):
        fake = self.start_fake("--seed-registrations", "30")
        self.configure(fake.url)
        p = self.start_daemon()
        self.wait_synced(p)
        ref = self.add(*PERSON)
        doc, _ = self.sync_now()
        self.assertEqual(doc["pushed"], 1)
        self.assertEqual(fake.registration(ref)["registration"]["referenceId"],
                         ref)
        self.skip_if_emulated(p)
        # Two syncs (and their HTTP) done, yet no libcurl in the daemon.
        curl = [line.split()[-1] for line in maps_text(p.pid).splitlines()
                if "libcurl" in line]
        self.assertEqual(curl, [], "libcurl mapped in the daemon")
        self.assertEqual(children_of(p.pid), [])
        self.assertEqual(self.stop(p)[0], 0)

    def test_a_crashed_sync_process_is_a_failed_sync(self):
        fake = self.start_fake("--seed-registrations", "30")
        self.configure(fake.url)
        p = self.start_daemon()
        self.wait_synced(p)
        self.skip_if_emulated(p)
        # A slow login holds the next sync in its child long enough to
        # find and kill it.
        fake.fault(path_contains="/users/login", latency_ms=30000,
                   latency_count=1)
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        c = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        os.kill(self.sync_process(p), signal.SIGKILL)
        out, err = c.communicate(timeout=slow(60))
        doc = json.loads(out)
        self.assertNotIn(c.returncode, (0, 3, 4, 5), err)
        self.assertEqual(doc["exit_code"], c.returncode)
        self.assertEqual(doc["daemon_pid"], p.pid)
        self.assertIn("ended by signal 9", doc["error"])
        # The daemon goes on: the next sync works.
        fake.call("POST", "/_test/reset-faults", {})
        doc, _ = self.sync_now()
        self.assertEqual(doc["result"], "ok")
        self.assertEqual(self.stop(p)[0], 0)

    def test_sigterm_stops_the_sync_process(self):
        fake = self.start_fake("--seed-registrations", "30")
        self.configure(fake.url)
        p = self.start_daemon()
        self.wait_synced(p)
        fake.fault(path_contains="/users/login", latency_ms=30000,
                   latency_count=1)
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        c = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        kid = self.sync_process(p)
        rc, _ = self.stop(p, timeout=30)
        self.assertEqual(rc, 0)
        if kid is not None:
            self.assertFalse(os.path.exists("/proc/%d" % kid))
        out, err = c.communicate(timeout=slow(60))
        # Cancelled mid-request: nothing lost, try again (exit 3).
        self.assertEqual(c.returncode, 3, out + err)
        self.assertEqual(self.status()["consecutive_failures"], 0)


if __name__ == "__main__":
    main()
