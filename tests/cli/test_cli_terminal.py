"""The CLI on a person's terminal (issue 14), driven through tmux: `agent
sync --now` against the fake 121 with 40,000 registrations on an 80-column
terminal. The screen is captured while the sync runs and at the end:

- the status line shows a total and a percent during the registrations pull;
- no row holds both the status line and a log line (log lines are printed
  above the status line, which is cleared and drawn again);
- log lines on the terminal carry no ISO timestamp.

The fake holds back the first registrations answers (latency) and cuts the
large one once (a "resuming" log line while the status line is shown), so
the screen has something to show whatever the machine's load; nothing here
depends on timing beyond "the sync ends within its timeout".
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402

SEED = 40000
BAR = re.compile(r"^121 [a-z-]+  ")            # the status line's start
BAR_ANYWHERE = re.compile(r"121 [a-z-]+  (\d[\d,]*(/[\d,]+)?  |\d+(\.\d)? [kM]?B)")
TOTAL = re.compile(r"^121 registrations  [\d,]+/([\d,]+) +(\d+)%")
LOG = re.compile(r"121: |warning: |error: ")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
class TerminalSync(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(SEED),
                               "--seed-payments", "0")
        self.addCleanup(self.fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 4\n"
                    "backoff_base_ms = 20\nbackoff_cap_ms = 200\n"
                    % (self.db, self.fake.url, USER))
        os.chmod(self.conf, 0o600)
        self.sock = "agent-test-%d" % os.getpid()
        self.addCleanup(self.tmux_quiet, "kill-server")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=30, check=True).stdout.decode(
                                  "utf-8", "replace")

    def tmux_quiet(self, *args):
        subprocess.run(["tmux", "-L", self.sock] + list(args),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)

    def test_status_line_and_log_lines(self):
        # The count and the first window wait 1.5 s each: the status line
        # with its total stays on screen at least that long. The window is
        # cut after 3 MB: "resuming" is logged while the line is shown.
        self.fake.fault(latency_ms=1500, latency_count=2,
                        path_contains="/registrations")
        self.fake.fault(drop_after_bytes=3000000, count=2,
                        path_contains="/registrations")
        done = os.path.join(self.dir, "done")
        script = os.path.join(self.dir, "run.sh")
        with open(script, "w") as f:
            # The key file of an encrypted store (AGENT_TEST_ENCRYPT=1):
            # tmux's server has the environment of whoever started it.
            key = self.env.get("AGENT_STORE_KEY_FILE", "")
            f.write("#!/bin/sh\nAGENT_STORE_KEY_FILE='%s' AGENT_121_PASSWORD='%s'"
                    " '%s' --config '%s' sync --now\necho \"EXIT=$?\"\n"
                    "touch '%s'\nexec sleep 600\n"
                    % (key, PASSWORD, os.path.abspath(AGENT_BIN), self.conf,
                       done))
        os.chmod(script, 0o700)
        env_unset = ["-u", "NO_COLOR"]
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x",
                  "80", "-y", "24", "env", *env_unset, "TERM=xterm", script)
        screens = []
        deadline = time.monotonic() + 500
        while not os.path.exists(done) and time.monotonic() < deadline:
            screens.append(self.tmux("capture-pane", "-p", "-t", "t"))
            time.sleep(0.1)
        self.assertTrue(os.path.exists(done), "the sync did not end")
        final = self.tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-")
        screens.append(final)
        self.assertIn("EXIT=0", final)
        self.assertIn("sync: pulled", final)

        # A total and a percent during the registrations pull.
        totals = [m for s in screens for line in s.splitlines()
                  for m in [TOTAL.match(line)] if m]
        self.assertTrue(totals, "no status line with a total and a percent "
                        "was seen in %d screens" % len(screens))
        seen_total = int(totals[-1].group(1).replace(",", ""))
        self.assertGreater(seen_total, SEED * 0.9)
        self.assertLessEqual(seen_total, SEED)

        # No row where the status line and a log line share the row.
        for s in screens:
            for line in s.splitlines():
                if BAR.match(line):
                    self.assertIsNone(LOG.search(line),
                                      "status line and log share a row: %r"
                                      % line)
                elif LOG.search(line):
                    self.assertIsNone(BAR_ANYWHERE.search(line),
                                      "log line and status line share a "
                                      "row: %r" % line)
        # The cut answer was logged (above the status line), as a person
        # reads it: no ISO timestamp, no level column.
        logs = [line for line in final.splitlines() if LOG.match(line)]
        self.assertTrue(any("resuming" in line for line in logs), final)
        for line in logs:
            self.assertIsNone(ISO.search(line), line)
        # The status line is gone at the end: the last rows are the summary.
        self.assertFalse(any(BAR.match(line) for line in
                             final.splitlines()), final)


class NotATerminal(AgentTestCase):
    """stdout not a terminal: nothing but the summary; -q: one line."""

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", "50",
                               "--seed-payments", "0")
        self.addCleanup(self.fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n" % (self.db, self.fake.url, USER))
        self.env["AGENT_121_PASSWORD"] = PASSWORD

    def test_quiet_is_one_line(self):
        rc, out, err = self.run_agent("-q", "sync", "--now")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertEqual(len(lines), 1, out)
        self.assertTrue(lines[0].startswith("sync ok: pulled "), out)

    def test_pipe_gets_no_status_line(self):
        rc, out, err = self.run_agent("sync", "--now")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\r", out + err)
        self.assertNotIn("\033", out + err)
        self.assertTrue(out.startswith("sync: pulled "), out)
        # Logs that are not for a terminal keep their ISO timestamps.
        for line in err.splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT")


if __name__ == "__main__":
    main()
