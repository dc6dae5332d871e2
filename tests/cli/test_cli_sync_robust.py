#!/usr/bin/env python3
"""End-to-end: the real `agent` binary against the fake 121 server when the
device or the server misbehaves.

- a device clock an hour fast (libfaketime) must not hide an office edit
  that lands between the agent's check and its write: the post-write window
  check reads the events from the server's clock (exit 4, a conflict);
- a payments answer that is garbage must not hold back the uploads
  (payments are pulled after the push);
- a different --reason on every edit must not turn 300 edits into 300
  uploads (one bulk upload per column set, the reasons combined).
"""

import datetime
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402

FSP = "programFspConfigurationName=Intersolve-voucher-paper"
# libfaketime preloaded directly, not through the `faketime` wrapper: the
# wrapper makes a named semaphore per pid with O_EXCL, and one left behind
# by a killed process (the fault harness kills many) fails it when the pid
# comes round again ("sem_open: File exists").
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
FAKETIME = LIBFAKETIME if os.path.exists(LIBFAKETIME) else None


class RobustSyncCase(AgentTestCase):
    seed = 120

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(self.seed),
                               "--seed-payments", "1")
        self.addCleanup(self.fake.stop)
        text = ("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                "user = %s\n[sync]\nmax_attempts = 3\nbackoff_base_ms = 20\n"
                "backoff_cap_ms = 200\n" % (self.db, self.fake.url, USER))
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD

    def clock_env(self, clock):
        env = dict(self.env)
        if clock:
            env.update(LD_PRELOAD=LIBFAKETIME, FAKETIME=clock,
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
        # libfaketime is preloaded ahead of the sanitizer runtime.
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":verify_asan_link_order=0").lstrip(":")
        return env

    def assert_agent_clock(self, clock, hours):
        """The agent itself sees the faked clock (its log's timestamps), so
        a test with a wrong device clock cannot pass on a correct one."""
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "-v", "status"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.clock_env(clock), timeout=120)
        stamp = p.stderr.decode().split(" ", 1)[0]
        seen = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        seen = seen.replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertAlmostEqual(seen - time.time(), hours * 3600, delta=300)

    def sync(self, code=0, clock=None):
        cmd = [AGENT_BIN, "--config", self.conf, "--json", "sync", "--now"]
        env = self.clock_env(clock)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=300)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, code, "sync exit %d (want %d): %s %s" %
                         (p.returncode, code, out, err))
        return json.loads(out), err

    def refs(self, n):
        """n referenceIds of pulled, editable (new or included) people."""
        out = []
        for status in ("included", "new"):
            regs = self.json("registrations", "list", "--status", status,
                             "--limit", str(n))
            out += [r["referenceId"] for r in regs]
        self.assertGreaterEqual(len(out), n)
        return out[:n]


class TestDeviceClockAhead(RobustSyncCase):
    """An office edit of the same field between the check and the PATCH."""

    def office_edit_between_check_and_write(self, clock):
        self.sync()
        ref = self.refs(1)[0]
        self.ok("registrations", "edit", ref, "householdSize=13",
                "--reason", "visit")
        self.fake.fault(path_contains="/registrations/" + ref,
                        office_edit={"data": {"householdSize": "19"},
                                     "username": "office-user"})
        doc, err = self.sync(code=4, clock=clock)
        self.assertEqual(doc["open_conflicts"], 1, err)
        self.assertNotIn("cannot read the events", err)
        conflicts = self.json("conflicts", "list")
        self.assertEqual(len(conflicts), 1)
        c = conflicts[0]
        self.assertEqual(c["referenceId"], ref)
        self.assertEqual(c["field"], "householdSize")
        self.assertEqual(str(c["local"]), "13")
        self.assertEqual(str(c["server"]), "19")
        # The office edit did land first, then ours.
        events = [e for e in self.fake.registration(ref)["events"]
                  if e["fieldChanged"] == "householdSize"]
        self.assertEqual([e["newValue"] for e in events], ["19", "13"])

    @unittest.skipUnless(FAKETIME, "faketime is not installed (.ci/packages.txt)")
    def test_device_clock_an_hour_fast(self):
        self.assert_agent_clock("+1h", 1)
        self.office_edit_between_check_and_write("+1h")

    @unittest.skipUnless(FAKETIME, "faketime is not installed (.ci/packages.txt)")
    def test_device_clock_an_hour_slow(self):
        self.assert_agent_clock("-1h", -1)
        self.office_edit_between_check_and_write("-1h")

    def test_correct_clock(self):
        self.office_edit_between_check_and_write([])


class TestPaymentsDoNotBlockUploads(RobustSyncCase):
    def test_garbage_payments_answer_and_creates_still_go_out(self):
        self.sync()
        refs = [self.add("fullName=Field Person %d" % i,
                         "phoneNumber=3161111111%d" % i, FSP,
                         "preferredLanguage=en") for i in range(3)]
        self.assertEqual(self.json("status")["pending"], 3)
        self.fake.fault(path_contains="/payments", malformed_json=True,
                        count=100)
        for _ in range(2):
            doc, err = self.sync(code=1)
            self.assertIn("payment", doc.get("error", "") + err)
        # The creates went out although every payments answer was garbage.
        for ref in refs:
            self.assertEqual(self.fake.registration(ref)["registration"]
                             ["referenceId"], ref)
        self.assertEqual(self.json("status")["pending"], 0)
        self.assertEqual(
            self.fake.state()["by_route"].get(
                "POST /api/programs/{pid}/registrations"), 1)


class TestReasonsDoNotDefeatBatching(RobustSyncCase):
    seed = 400

    def test_distinct_reasons_bounded_requests(self):
        self.sync()
        refs = self.refs(150)
        for i, ref in enumerate(refs):
            self.ok("registrations", "edit", ref, "householdSize=%d" % (i + 100),
                    "--reason", "visit %d: size" % i)
            self.ok("registrations", "edit", ref,
                    "fullName=Edited Person %d" % i,
                    "--reason", "visit %d: name" % i)
        self.assertEqual(self.json("status")["pending"], 300)
        self.fake.call("POST", "/_test/reset-stats", {})
        doc, err = self.sync()
        requests = self.fake.state()["requests"]
        sys.stderr.write("\n300 edits with 300 reasons: %d requests\n" %
                         requests)
        self.assertLess(requests, 20, err)
        self.fake.flush()
        self.sync()
        self.assertEqual(self.json("status")["pending"], 0)
        reg = self.fake.registration(refs[7])
        self.assertEqual(str(reg["registration"]["householdSize"]), "107")
        self.assertEqual(reg["registration"]["fullName"], "Edited Person 7")
        reasons = {e["reason"] for e in reg["events"]
                   if e["fieldChanged"] in ("householdSize", "fullName")}
        self.assertEqual(len(reasons), 1)
        self.assertIn("300 reasons", reasons.pop())
        # Each entry keeps its own reason on the device.
        outbox = self.json("outbox", "--all")
        mine = [e for e in outbox if e.get("referenceId") == refs[7]]
        self.assertEqual(len(mine), 2, outbox[:3])
        self.assertIn("visit 7: size", json.dumps(mine))


if __name__ == "__main__":
    main()
