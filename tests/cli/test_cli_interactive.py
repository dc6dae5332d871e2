"""Guided registration through a pseudo-terminal (issue 14): `agent
registrations add` with no fields on a terminal asks for each attribute of
the stored program, dropdowns as numbered lists; a wrong phone number is
asked again and never stored; Ctrl-C / end of input / "no" at the summary
leave nothing written; `edit REF --interactive` shows the current values as
defaults.

The program is tests/data/program.json: fullName *, phoneNumber * (tel),
householdSize (numeric), district (dropdown north/south/...), then the
languages and the FSP configurations.
"""

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, PROGRAM_JSON, main  # noqa: E402

WAIT_S = 60  # how long a prompt may take to appear (a loaded machine)


def _controlling_tty():
    # A session of its own with the pty as its terminal, so that Ctrl-C
    # typed on it sends SIGINT to the agent as on a real terminal.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Pty:
    """The agent on the slave side of a pseudo-terminal."""

    def __init__(self, args, env):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave,
                                     stderr=slave, env=env, close_fds=True,
                                     preexec_fn=_controlling_tty)
        os.close(slave)
        self.seen = b""

    def expect(self, text):
        """Read until `text` appears after what was already consumed."""
        want = text.encode()
        deadline = time.monotonic() + WAIT_S
        while want not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r in output: %r" % (text, self.seen))
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError("ended before %r: %r" % (text, self.seen))
            self.seen += chunk
        before, _, self.seen = self.seen.partition(want)
        return before.decode("utf-8", "replace")

    def send(self, line):
        os.write(self.master, line.encode() + b"\n")

    def rest(self):
        """Everything until the process ends; its exit code."""
        out = self.seen
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        rc = self.proc.wait(timeout=WAIT_S)
        os.close(self.master)
        return rc, out.decode("utf-8", "replace")


class Interactive(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.import_program()

    def spawn(self, *args):
        t = Pty([AGENT_BIN, "--config", self.conf] + list(args), self.env)
        self.addCleanup(lambda: t.proc.poll() is None and t.proc.kill())
        return t

    def count(self):
        return len(self.json("registrations", "list"))

    def test_add_with_dropdown_by_number_and_phone_asked_again(self):
        t = self.spawn("registrations", "add")   # no fields: it asks
        t.expect("Full name *")
        t.expect(": ")
        t.send("Ann Example")
        t.expect("Phone number *")
        t.expect(": ")
        t.send("call me maybe")                   # wrong: asked again
        msg = t.expect("try again").split("\n")[-1]
        self.assertIn("field phoneNumber: not a phone number", msg)
        self.assertNotIn("call me", msg)         # the message names no value
        t.expect(": ")
        t.send("+31 6 1234 5678")
        t.expect("Household size")
        t.expect(": ")
        t.send("4")
        listing = t.expect("choose a number")
        self.assertIn("District", listing)
        self.assertIn("1) North", listing)
        self.assertIn("2) South", listing)
        t.expect(": ")
        t.send("9")                               # not in the list
        t.expect("choose a number from 1 to")
        t.expect(": ")
        t.send("2")                               # South
        t.expect("Preferred language")
        t.expect(": ")
        t.send("1")
        t.expect("Payment method")
        t.expect(": ")
        t.send("1")
        summary = t.expect("Save? [y/N]: ")
        self.assertIn("South", summary)
        t.send("y")
        rc, out = t.rest()
        self.assertEqual(rc, 0, out)
        ref = out.strip().splitlines()[-1].strip()
        reg = self.json("registrations", "show", ref)
        self.assertEqual(reg["district"], "south")
        self.assertEqual(reg["phoneNumber"], "+31 6 1234 5678")
        self.assertEqual(reg["fullName"], "Ann Example")
        # The wrong phone number went nowhere: one create in the outbox
        # whose payload holds the good one.
        outbox = json.dumps(self.json("outbox", "--all"))
        self.assertNotIn("call me maybe", outbox)
        self.assertEqual(self.count(), 1)

    def test_labels_in_the_chosen_language(self):
        with open(PROGRAM_JSON) as f:
            prog = json.load(f)
        prog["programRegistrationAttributes"][0]["label"]["nl"] = "Volledige naam"
        path = self.write("prog-nl.json", json.dumps(prog))
        self.ok("program", "import", path)
        t = self.spawn("registrations", "add", "--interactive", "--lang",
                       "nl")
        t.expect("Volledige naam *")
        t.proc.send_signal(signal.SIGINT)
        rc, _ = t.rest()
        self.assertNotEqual(rc, 0)

    def test_ctrl_c_and_no_leave_nothing(self):
        t = self.spawn("registrations", "add")
        t.expect("Full name *")
        t.expect(": ")
        t.send("Bob")
        t.expect("Phone number *")
        os.write(t.master, b"\x03")               # Ctrl-C on the terminal
        rc, _ = t.rest()
        self.assertNotEqual(rc, 0)
        self.assertEqual(self.count(), 0)
        # "no" at the summary
        t = self.spawn("registrations", "add", "--interactive")
        for answer in ("Bob", "31600000009", "", "", "", "1"):
            t.expect(": ")
            t.send(answer)
        t.expect("Save? [y/N]: ")
        t.send("n")
        rc, out = t.rest()
        self.assertEqual(rc, 1, out)
        self.assertIn("cancelled: nothing was stored", out)
        self.assertEqual(self.count(), 0)
        self.assertEqual(self.json("outbox", "--all"), [])

    def test_edit_shows_current_values(self):
        ref = self.add("fullName=Cara", "phoneNumber=31600000002",
                       "district=north",
                       "programFspConfigurationName=Intersolve-voucher-paper")
        t = self.spawn("registrations", "edit", ref, "--interactive")
        t.expect("> [Cara]: ")
        t.send("")                                # keep
        t.expect("> [31600000002]: ")
        t.send("")
        t.expect("Household size")
        t.expect(": ")
        t.send("")                                # keep (none)
        t.expect("choose a number [North]: ")
        t.send("2")
        t.expect("Preferred language")
        t.expect(": ")
        t.send("")
        t.expect("Payment method")
        t.expect(": ")
        t.send("")
        summary = t.expect("Save? [y/N]: ")
        self.assertIn("South", summary)
        self.assertNotIn("Cara", summary)         # only what changed
        t.send("y")
        rc, out = t.rest()
        self.assertEqual(rc, 0, out)
        self.assertIn("1 field changed", out)
        self.assertEqual(self.json("registrations", "show", ref)["district"],
                         "south")

    def test_no_terminal_keeps_the_usage_error(self):
        # Not a terminal: no fields is still a usage error, nothing asked.
        self.fails("registrations", "add", code=2)


class LogLinesOnATerminal(AgentTestCase):
    """Log lines for a person: "warning: ..." without a timestamp, coloured
    on a terminal unless NO_COLOR is set; ISO lines when piped."""

    def old_config(self):
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[server]\nurl = http://127.0.0.1:9"
                    "\nprogram_id = 3\nuser = u\n" % self.db)

    def test_colour_unless_no_color(self):
        self.old_config()
        env = dict(self.env, TERM="xterm")
        env.pop("NO_COLOR", None)
        t = Pty([AGENT_BIN, "--config", self.conf, "config", "show"], env)
        rc, out = t.rest()
        self.assertEqual(rc, 0, out)
        self.assertIn("\033[1;33mwarning:\033[0m %s: section [server]"
                      % self.conf, out)
        self.assertNotRegex(out, r"\d{4}-\d\d-\d\dT\d\d:")
        env["NO_COLOR"] = "1"
        t = Pty([AGENT_BIN, "--config", self.conf, "config", "show"], env)
        rc, out = t.rest()
        self.assertIn("warning: %s: section [server]" % self.conf, out)
        self.assertNotIn("\033", out)
        rc, out, err = self.run_agent("config", "show")
        self.assertRegex(err, r"^\d{4}-\d\d-\d\dT[\d:.]+Z warn  .*: section "
                              r"\[server\]")


class StatusTimes(AgentTestCase):
    """`agent status` on a terminal: "N minutes ago" beside the ISO time;
    piped or --json: ISO only."""

    def test_ago_on_a_terminal_only(self):
        from fake121_fixture import FakeServer, PASSWORD, USER
        fake = FakeServer("--seed-registrations", "3", "--seed-payments", "0")
        self.addCleanup(fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n" % (self.db, fake.url, USER))
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.ok("-q", "sync", "--now")
        t = Pty([AGENT_BIN, "--config", self.conf, "status"], self.env)
        rc, out = t.rest()
        self.assertEqual(rc, 0, out)
        # "just now" under 45 s; a loaded (sanitizer) machine may be slower
        self.assertRegex(out, r"last sync \d{4}-\d\d-\d\dT[\d:.]+Z "
                              r"\((just now|\d+ minutes? ago)\)")
        piped = self.ok("status")
        self.assertRegex(piped, r"last sync \d{4}-\d\d-\d\dT[\d:.]+Z;")
        self.assertNotIn("ago", piped + json.dumps(self.json("status")))
        self.assertNotIn("just now", piped)


if __name__ == "__main__":
    main()
