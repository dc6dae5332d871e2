"""Shared helpers for the CLI tests: run the real `agent` binary on a fresh
temporary store, check exit codes and one-line errors.

The binary comes from $AGENT_BIN and the tests directory from
$AGENT_TESTS_DIR (ctest sets both). Nothing here needs a network: the
configured server is http://127.0.0.1:9 (discard port) and no command under
test contacts it.
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

AGENT_BIN = os.environ.get("AGENT_BIN", "agent")
TESTS_DIR = os.environ.get(
    "AGENT_TESTS_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM_JSON = os.path.join(TESTS_DIR, "data", "program.json")

# How much slower than native this machine runs the agent: 1 natively,
# ~10 under qemu-user (tests/cross/arm64.sh sets AGENT_TEST_SLOWDOWN). Only
# waits and time bounds scale with it (slow(s)); what a test checks and the
# agent's own limits stay the same, so a native run checks exactly what it
# checked before.
try:
    SLOWDOWN = max(1.0, float(os.environ.get("AGENT_TEST_SLOWDOWN") or 1))
except ValueError:
    raise SystemExit("AGENT_TEST_SLOWDOWN is not a number: %r"
                     % os.environ["AGENT_TEST_SLOWDOWN"])


def slow(seconds):
    """A time bound or wait of `seconds` on a native machine, scaled."""
    return seconds * SLOWDOWN


# Fields that satisfy the program in tests/data/program.json.
VALID = ["fullName=Test Person A", "phoneNumber=31600000001",
         "programFspConfigurationName=Intersolve-voucher-paper"]


def encrypt_args(directory):
    """AGENT_TEST_ENCRYPT=1: the stores tests make are encrypted (with a
    key file, so no test needs a passphrase), and the whole suite runs on
    encrypted stores."""
    if os.environ.get("AGENT_TEST_ENCRYPT") == "1":
        return ["--encrypt", "--key-file", os.path.join(directory,
                                                        "store.key")]
    return []


def _arg(a):
    # Bytes pass through untouched, so tests can send invalid UTF-8.
    return a if isinstance(a, bytes) else str(a)


class AgentTestCase(unittest.TestCase):
    """Each test gets its own directory, config and initialised store."""

    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="agent-cli-")
        # Registered first so the directory goes even when init below
        # fails (unittest skips tearDown after a failed setUp).
        self.addCleanup(self.remove_dir)
        self.conf = os.path.join(self.dir, "agent.conf")
        self.db = os.path.join(self.dir, "agent.db")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("AGENT_CONFIG", "AGENT_121_PASSWORD")}
        if encrypt_args(self.dir):
            # Also for the configs tests write themselves.
            self.env["AGENT_STORE_KEY_FILE"] = encrypt_args(self.dir)[-1]
        self.ok("init", "--server", "http://127.0.0.1:9", "--program", "3",
                "--user", "u", "--store", self.db, *encrypt_args(self.dir))

    def remove_dir(self):
        # Undo any chmod a test made so the directory can be removed.
        for root, dirs, files in os.walk(self.dir):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
        os.chmod(self.dir, 0o700)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- running the binary -------------------------------------------------

    def run_agent(self, *args, config=True, env=None, timeout=120):
        timeout = slow(timeout) if timeout else timeout
        cmd = [AGENT_BIN]
        if config:
            cmd += ["--config", self.conf]
        cmd += [_arg(a) for a in args]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env if env is not None else self.env,
                           timeout=timeout)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def ok(self, *args, **kw):
        rc, out, err = self.run_agent(*args, **kw)
        self.assertEqual(rc, 0, "agent %s failed (%d): %s" % (
            " ".join(map(repr, args)), rc, err))
        return out

    def ok_err(self, *args, **kw):
        rc, out, err = self.run_agent(*args, **kw)
        self.assertEqual(rc, 0, "agent %r failed (%d): %s" % (args, rc, err))
        return out, err

    def json(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw))

    def fails(self, *args, code=1, **kw):
        """Run a command that must fail with `code` and one error line
        ("agent: ..."; a usage error adds "Try 'agent --help'.")."""
        rc, out, err = self.run_agent(*args, **kw)
        self.assertEqual(rc, code, "agent %r: expected exit %d, got %d: %s"
                         % (args, code, rc, err))
        lines = err.splitlines()
        self.assertTrue(lines, "no error message")
        self.assertTrue(lines[0].startswith("agent: "), err)
        if code == 2:
            self.assertEqual(lines[1:], ["Try 'agent --help'."], err)
        else:
            self.assertEqual(len(lines), 1, "more than one line: %r" % err)
        return lines[0]

    # -- store helpers ------------------------------------------------------

    def add(self, *fields):
        out = self.ok("-q", "registrations", "add", *fields)
        return out.strip()

    def import_program(self):
        self.ok("program", "import", PROGRAM_JSON)

    def snapshot(self):
        """Everything the store shows: registrations and the whole outbox."""
        regs = self.json("registrations", "list", "--limit", "1000000")
        outbox = self.json("outbox", "--all")
        return regs, outbox

    def write(self, name, data, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(path, mode)
        return path

    def write_config(self, name, store_path, extra=""):
        text = ("[store]\npath = %s\n[121]\nurl = http://127.0.0.1:9\n"
                "program_id = 3\nuser = u\n%s" % (store_path, extra))
        return self.write(name, text, 0o600)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def main():
    unittest.main(verbosity=2)
