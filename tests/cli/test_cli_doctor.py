"""`agent doctor` (issue 14): one line per check, exit 0/1, --json.

The three problems of the issue, each in its own scenario so that each is
reported exactly (a clock can only be compared with a server that answers):
a world-readable password file, a server clock 2 hours off (the fake's Date
header shifted), and the server down. A healthy setup reports no problem.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402


class Doctor(AgentTestCase):
    def start(self, *args):
        self.fake = FakeServer("--seed-registrations", "5",
                               "--seed-payments", "0", *args)
        self.addCleanup(self.fake.stop)
        self.pwfile = self.write("password", PASSWORD, 0o600)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\npassword_file = %s\n"
                    % (self.db, self.fake.url, USER, self.pwfile))
        os.chmod(self.conf, 0o600)

    def doctor(self, code):
        rc, out, err = self.run_agent("--json", "doctor")
        self.assertEqual(rc, code, out + err)
        import json
        rep = json.loads(out)
        problems = [c for c in rep["checks"]
                    if c["status"] in ("warning", "error")]
        self.assertEqual(rep["ok"], not problems)
        self.assertEqual(rep["problems"], len(problems))
        for c in problems:
            self.assertTrue(c["fix"], c)
        return rep, problems

    def test_healthy(self):
        self.start()
        rep, problems = self.doctor(0)
        self.assertEqual(problems, [])
        names = [c["check"] for c in rep["checks"]]
        for want in ("config", "secrets", "store", "schema", "disk", "daemon",
                     "outbox", "121 reachable", "121 tls", "121 clock"):
            self.assertIn(want, names)
        # Text: one line per check, exit 0.
        out = self.ok("doctor")
        self.assertIn("ok       121 clock", out)

    def test_world_readable_password_file(self):
        self.start()
        os.chmod(self.pwfile, 0o644)
        _, problems = self.doctor(1)
        self.assertEqual([(p["check"], p["status"]) for p in problems],
                         [("secrets", "error")])
        self.assertIn("chmod 600 " + self.pwfile, problems[0]["fix"])
        rc, out, _ = self.run_agent("doctor")
        self.assertEqual(rc, 1)
        self.assertIn("1 problem found", out)

    def test_clock_two_hours_off(self):
        self.start("--date-offset", "-7200")
        _, problems = self.doctor(1)
        self.assertEqual([(p["check"], p["status"]) for p in problems],
                         [("121 clock", "warning")])
        self.assertIn("120 min ahead of", problems[0]["message"])

    def test_server_down(self):
        self.start()
        self.fake.stop()
        rep, problems = self.doctor(1)
        self.assertEqual([(p["check"], p["status"]) for p in problems],
                         [("121 reachable", "error")])
        clock = [c for c in rep["checks"] if c["check"] == "121 clock"][0]
        self.assertEqual(clock["status"], "skipped")


if __name__ == "__main__":
    main()
