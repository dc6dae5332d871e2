#!/usr/bin/env python3
"""Many `agent sync --now` at once against one daemon: none may be told
"server unreachable" because the daemon had no free client slot (68 of 100
were, with 32 slots and a silent close); each gets the sync's result or a
clear "busy, try again" (exit 6) within bounded time. Also: a daemon whose
sync fails for want of a password reports the reason (it was empty)."""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, main  # noqa: E402
from test_daemon import DaemonTestCase  # noqa: E402

SLOTS = 128  # AGENT_CTL_MAX_CLIENTS


class BusyDaemonTest(DaemonTestCase):
    def start(self):
        fake = self.start_fake("--seed-registrations", "20")
        self.configure(fake.url)
        p = self.start_daemon()
        self.wait_synced(p)
        return fake, p

    def test_hundred_concurrent_sync_now(self):
        fake, p = self.start()
        # A slow login keeps the sync running while the requests arrive.
        fake.fault(path_contains="/users/login", latency_ms=2000,
                   latency_count=1)
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        t0 = time.time()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=self.env)
                 for _ in range(100)]
        results = []
        for q in procs:
            out, err = q.communicate(timeout=120)
            results.append((q.returncode, out.decode(), err.decode()))
        took = time.time() - t0
        self.assertLess(took, 100)
        codes = {}
        for rc, out, err in results:
            codes[rc] = codes.get(rc, 0) + 1
            self.assertNotIn("unreachable", err)
            self.assertIn(rc, (0, 6), err)
            doc = json.loads(out)
            if rc == 0:
                self.assertEqual(doc["result"], "ok")
                self.assertEqual(doc["daemon_pid"], p.pid)
            else:
                self.assertEqual(doc["result"], "busy")
                self.assertIn("busy", doc["error"])
                self.assertIn("try again", err)
        # With 128 slots, 100 callers all get the result.
        self.assertEqual(codes, {0: 100}, codes)
        self.assertIsNone(p.poll())

    def test_full_slots_say_busy_and_the_client_retries(self):
        fake, p = self.start()
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        for _ in range(SLOTS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock)
            held.append(s)
        time.sleep(0.5)  # the daemon has accepted them all
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.settimeout(10)
        extra.connect(self.sock)
        answer = extra.recv(4096).decode()
        extra.close()
        self.assertEqual(json.loads(answer.splitlines()[0])["event"], "busy")
        # A caller retries while the slots are taken and gets the result
        # once they free up.
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        q = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        time.sleep(1.5)
        self.assertIsNone(q.poll(), "sync --now gave up at once")
        for s in held:
            s.close()
        held.clear()
        out, err = q.communicate(timeout=60)
        self.assertEqual(q.returncode, 0, err)
        self.assertEqual(json.loads(out)["daemon_pid"], p.pid)


class DaemonNoPasswordTest(DaemonTestCase):
    def test_sync_now_without_password_says_why(self):
        fake = self.start_fake("--seed-registrations", "5")
        self.configure(fake.url)
        del self.env["AGENT_121_PASSWORD"]
        p = self.start_daemon()
        rc, out, err = self.run_agent("--json", "sync", "--now")
        self.assertEqual(rc, 5, err)
        doc = json.loads(out)
        self.assertEqual(doc["daemon_pid"], p.pid)
        self.assertIsInstance(doc["error"], str)
        self.assertIn("AGENT_121_PASSWORD", doc["error"])
        self.assertIn("AGENT_121_PASSWORD", err)


if __name__ == "__main__":
    main()
