#!/usr/bin/env python3
"""I/O errors injected into the store (SQLite's own method: a VFS shim,
tests/vfsfault/vfsfault.h) for every CLI write command, a pull and a push:
the K-th read, write, sync or lock fails (and every later one: a dying
disk), for K = 1, 1+step, ... until the command runs without reaching K.

Each faulted run must exit 0 (the change committed before the fault) or 1
with one line "agent: ..."; a failed run changes nothing; a successful one
loses no committed outbox entry; integrity_check passes; and the same
command then works without the fault. At the end the fake 121 has each
create once and the local edits.

Default: about 3 points per operation for a local command, 2 for a sync
(bounded time in the suite; AGENT_VFSFAULT_POINTS=N changes it).
Exhaustive (every K, transient faults and SQLITE_FULL too; ~20 min):
  AGENT_VFSFAULT_EXHAUSTIVE=1 AGENT_BIN=build/agent/agent \\
      python3 tests/cli/test_cli_io_faults.py -v

A full disk end to end (a 2 MiB tmpfs made by the test as root, else the
shim's full=BYTES): "the disk is full", store intact, sync resumes once
space is back.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "vfsfault"))
from clitest import (AGENT_BIN, PROGRAM_JSON, VALID, AgentTestCase,  # noqa: E402
                     is_root, main)
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import faultlib  # noqa: E402

EXHAUSTIVE = os.environ.get("AGENT_VFSFAULT_EXHAUSTIVE") == "1"
POINTS = int(os.environ.get("AGENT_VFSFAULT_POINTS", "3"))
OPS = ("read", "write", "sync", "lock")
SPECS = ["fail=%s:%%d" % op for op in OPS]
if EXHAUSTIVE:
    SPECS += ["fail=write:%d:full", "fail=any:%d:once", "fail=sync:%d:full"]
FSP = "programFspConfigurationName=Intersolve-voucher-paper"

STATS = {"runs": 0, "failed": 0, "committed": 0}


class FaultLoop:
    """The loop over K for one command; `case` is the TestCase."""

    def __init__(self, case, runner, points=None):
        self.case = case
        self.r = runner
        self.points = points or POINTS

    def steps(self, spec_tpl, args, prepare=None):
        """Count the clean run's operations, then fault at K."""
        if prepare:
            prepare()
        rc, out, err, rep = self.r.run(args, spec="count")
        self.case.assertEqual(rc, 0, "clean run of %r: %s" % (args, err))
        # The shim must be in the I/O path (a VFS registered later that
        # wraps "unix" by name instead of the default would bypass it, and
        # every loop below would pass without a fault).
        self.case.assertGreater(rep.get("writes", 0) + rep.get("reads", 0),
                                0, "the VFS shim saw no I/O")
        op = spec_tpl.split("=")[1].split(":")[0]
        n = rep["reads"] + rep["writes"] + rep["syncs"] + rep["locks"] \
            if op == "any" else rep[op + "s"]
        step = 1 if EXHAUSTIVE else max(1, n // self.points)
        k = 1
        while True:
            if prepare:
                prepare()
            fired = self.one(spec_tpl % k, args)
            if not fired:
                break
            k += step
        return k

    def one(self, spec, args):
        c = self.case
        before = faultlib.snapshot(c.db)
        rc, out, err, rep = self.r.run(args, spec=spec)
        STATS["runs"] += 1
        what = "agent %s under %s" % (" ".join(args), spec)
        c.assertEqual(faultlib.integrity(c.db), ["ok"], what)
        after = faultlib.snapshot(c.db)
        c.assertEqual(faultlib.lost_entries(before, after), [], what)
        if rc != 0:
            STATS["failed"] += 1
            c.assertIn(rc, c.allowed_rc, "%s: exit %d: %s" % (what, rc, err))
            lines = [ln for ln in err.splitlines()
                     if not ln.startswith("warning: ")]
            c.assertEqual(len(lines), 1, "%s: not one line: %r" % (what, err))
            c.assertTrue(lines[0].startswith("agent: "), err)
            c.assertNotIn("vfsfault", err)
            if c.all_or_nothing:
                # Nothing shown for a change that is not stored (add
                # printed referenceIds before its commit).
                c.assertEqual(out, "", "%s failed but printed %r" % (what, out))
                c.assertEqual(after, before,
                              "%s failed but changed the store" % what)
        else:
            STATS["committed"] += 1
        # The next run works (the fault is gone).
        rc2, out2, err2, _ = self.r.run(args)
        c.assertIn(rc2, c.clean_rc, "%s: the next run failed: %s" % (what, err2))
        return rep.get("fired", 0) == 1


class LocalWritesTest(AgentTestCase):
    """Every CLI write command that needs no server."""

    allowed_rc = (1,)
    clean_rc = (0,)
    all_or_nothing = True

    def setUp(self):
        super().setUp()
        self.r = faultlib.Runner(AGENT_BIN, self.conf, self.env)
        self.addCleanup(self.r.close)
        self.loop = FaultLoop(self, self.r)
        self.import_program()
        self.ref = self.add(*VALID)

    def run_loops(self, args, prepare=None):
        for spec in SPECS:
            self.loop.steps(spec, args, prepare)

    def test_add(self):
        self.run_loops(["registrations", "add"] + VALID)

    def test_add_file(self):
        people = [{"fullName": "File Person %d" % i,
                   "phoneNumber": "3160000100%d" % i,
                   "programFspConfigurationName": "Intersolve-voucher-paper"}
                  for i in range(3)]
        path = self.write("people.json", json.dumps(people))
        self.run_loops(["registrations", "add", "--file", path])

    def test_edit(self):
        n = [0]

        def args():
            n[0] += 1
            return ["registrations", "edit", self.ref,
                    "fullName=Edited %d" % n[0], "--reason", "visit"]
        # Each run a new value, so a clean run always writes.
        for spec in SPECS:
            k, step = 1, None
            while True:
                a = args()
                if step is None:
                    rc, _, err, rep = self.r.run(a, spec="count")
                    self.assertEqual(rc, 0, err)
                    op = spec.split("=")[1].split(":")[0]
                    total = (sum(rep[x + "s"] for x in OPS) if op == "any"
                             else rep[op + "s"])
                    step = 1 if EXHAUSTIVE else max(1, total // POINTS)
                    continue
                if not self.loop.one(spec % k, a):
                    break
                k += step

    def test_status(self):
        refs = []

        def prepare():
            refs.append(self.add(*VALID))
        for spec in SPECS:
            k, step = 1, None
            while True:
                prepare()
                a = ["registrations", "status", refs[-1], "validated"]
                if step is None:
                    rc, _, err, rep = self.r.run(a, spec="count")
                    self.assertEqual(rc, 0, err)
                    op = spec.split("=")[1].split(":")[0]
                    total = (sum(rep[x + "s"] for x in OPS) if op == "any"
                             else rep[op + "s"])
                    step = 1 if EXHAUSTIVE else max(1, total // POINTS)
                    continue
                # The clean re-run inside one() needs a fresh person.
                before = faultlib.snapshot(self.db)
                rc, out, err, rep = self.r.run(a, spec=spec % k)
                STATS["runs"] += 1
                self.assertEqual(faultlib.integrity(self.db), ["ok"])
                after = faultlib.snapshot(self.db)
                self.assertEqual(faultlib.lost_entries(before, after), [])
                if rc != 0:
                    STATS["failed"] += 1
                    self.assertEqual(rc, 1, err)
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertEqual(after, before)
                    self.ok(*a)
                else:
                    STATS["committed"] += 1
                if not rep.get("fired"):
                    break
                k += step

    def test_program_import(self):
        self.run_loops(["program", "import", PROGRAM_JSON])


class SyncFaultsTest(AgentTestCase):
    """A pull (batches of 10 registrations with their checkpoint) and a
    push (creates, an edit, a status change) with the store failing at K."""

    allowed_rc = (1,)
    clean_rc = (0, 4)
    all_or_nothing = False

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", "40",
                               "--seed-payments", "0")
        self.addCleanup(self.fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 3\nbackoff_base_ms = "
                    "20\nbackoff_cap_ms = 100\nbatch = 10\n"
                    % (self.db, self.fake.url, USER))
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.r = faultlib.Runner(AGENT_BIN, self.conf, self.env)
        self.addCleanup(self.r.close)
        self.loop = FaultLoop(self, self.r, 2)

    def settle(self):
        """Sync to quiescence (no fault) and check the server has each
        local create once and every pending entry went."""
        for _ in range(3):
            rc, out, err, _ = self.r.run(["--json", "sync", "--now"])
            self.assertIn(rc, (0, 4), err)
            self.fake.flush()
        rc, out, err, _ = self.r.run(["--json", "sync", "--now"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.json("status")["pending"], 0)
        dump = self.fake.call("GET", "/_test/dump")["programs"]["3"]
        server = [r["referenceId"] for r in dump["registrations"]
                  if r.get("status") != "deleted"]
        self.assertEqual(len(server), len(set(server)), "duplicates")
        local = self.json("registrations", "list", "--limit", "100000")
        self.assertEqual(sorted(server),
                         sorted(r["referenceId"] for r in local))
        return {r["referenceId"]: r for r in dump["registrations"]}

    def test_pull_batches(self):
        def prepare():
            # 25 new people on the server each time: 3 pull batches.
            self.fake.call("POST", "/_test/seed", {"registrations": 25})
        for spec in SPECS:
            self.loop.steps(spec, ["-q", "sync", "--now", "--pull-only"], prepare)
        self.settle()

    def test_push(self):
        self.r.run(["sync", "--now"])
        n = [0]

        def prepare():
            n[0] += 1
            ref = self.add("fullName=Pushed %d" % n[0],
                           "phoneNumber=316000020%02d" % (n[0] % 100), FSP)
            self.ok("registrations", "edit", ref, "householdSize=%d" % n[0])
            self.ok("registrations", "status", ref, "validated")
        for spec in SPECS:
            self.loop.steps(spec, ["-q", "sync", "--now", "--push-only"], prepare)
        server = self.settle()
        for r in self.json("registrations", "list", "--limit", "100000"):
            if r.get("fullName", "").startswith("Pushed "):
                i = int(r["fullName"].split()[1])
                s = server[r["referenceId"]]
                self.assertEqual(str(s.get("householdSize")), str(i))
                self.assertEqual(s.get("status"), "validated")


class DiskFullTest(AgentTestCase):
    """A full disk end to end."""

    def setUp(self):
        # The store goes on a 2 MiB tmpfs (as root), made before init.
        self.mnt = None
        if is_root() and shutil.which("mount"):
            d = tempfile.mkdtemp(prefix="agent-tmpfs-")
            p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                                "size=2m,mode=0700", "tmpfs", d],
                               stderr=subprocess.PIPE)
            if p.returncode == 0:
                self.mnt = d
            else:
                os.rmdir(d)
        super().setUp()
        if self.mnt:
            self.addCleanup(self.unmount)

    def unmount(self):
        subprocess.run(["umount", self.mnt])
        os.rmdir(self.mnt)

    def test_tmpfs_full_then_space_returns(self):
        if not self.mnt:
            self.skipTest("not root or no tmpfs mount: the VFS test below "
                          "covers a full disk")
        fake = FakeServer("--seed-registrations", "0", "--seed-payments", "0")
        self.addCleanup(fake.stop)
        db = os.path.join(self.mnt, "agent.db")
        self.write_config("full.conf", db, "[sync]\nmax_attempts = 2\n"
                          "backoff_base_ms = 20\n")
        conf = os.path.join(self.dir, "full.conf")
        with open(conf) as f:
            text = f.read().replace("http://127.0.0.1:9", fake.url)
            text = text.replace("user = u", "user = " + USER)
        with open(conf, "w") as f:
            f.write(text)
        env = dict(self.env, AGENT_121_PASSWORD=PASSWORD)
        self.ok("--config", conf, "init", "--force", "--server", fake.url,
                "--program", "3", "--user", USER, "--store", db,
                config=False, env=env)
        self.ok("--config", conf, "program", "import", PROGRAM_JSON,
                config=False, env=env)
        # Fill the disk with registrations (one file of 1,000 each).
        people = [{"fullName": "Full Disk %d" % i,
                   "phoneNumber": "316%08d" % i,
                   "programFspConfigurationName": "Intersolve-voucher-paper"}
                  for i in range(1000)]
        path = self.write("people.json", json.dumps(people))
        stored = 0
        for _ in range(100):
            rc, out, err = self.run_agent("--config", conf, "-q",
                                          "registrations", "add", "--file",
                                          path, config=False, env=env)
            if rc != 0:
                break
            stored += 1000
        self.assertEqual(rc, 1, "the disk never filled")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("the disk is full", err)
        self.assertNotIn("I/O error", err)
        self.assertGreater(stored, 0)
        self.assertEqual(faultlib.integrity(db), ["ok"])
        st = json.loads(self.ok("--json", "--config", conf, "status",
                                config=False, env=env))
        self.assertEqual(st["registrations"], stored)
        # A sync on the full disk: a clear error, nothing lost.
        rc, out, err = self.run_agent("--config", conf, "sync", "--now",
                                      config=False, env=env)
        self.assertEqual(rc, 1, err)
        self.assertIn("the disk is full", err.splitlines()[-1])
        self.assertEqual(faultlib.integrity(db), ["ok"])
        print("# tmpfs 2 MiB: %d registrations stored before full; sync on "
              "the full disk: exit %d: %s" % (stored, rc, err.splitlines()[-1]))
        # Space returns: the sync drains the outbox.
        subprocess.run(["mount", "-o", "remount,size=64m", self.mnt],
                       check=True)
        rc, out, err = self.run_agent("--config", conf, "sync", "--now",
                                      config=False, env=env)
        self.assertEqual(rc, 0, err)
        st = json.loads(self.ok("--json", "--config", conf, "status",
                                config=False, env=env))
        self.assertEqual(st["pending"], 0)
        self.assertEqual(fake.state()["programs"]["3"]["registrations_live"],
                         stored)

    def test_vfs_full(self):
        r = faultlib.Runner(AGENT_BIN, self.conf, self.env)
        self.addCleanup(r.close)
        self.import_program()
        for budget in (0, 4096, 20000):
            before = faultlib.snapshot(self.db)
            rc, out, err, rep = r.run(
                ["registrations", "add"] + VALID[1:] + ["fullName=" + "x" * 8000],
                spec="full=%d" % budget)
            self.assertEqual(rc, 1, err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("the disk is full", err)
            self.assertEqual(faultlib.integrity(self.db), ["ok"])
            self.assertEqual(faultlib.snapshot(self.db), before)
        self.ok("registrations", "add", *VALID)


class PowerCutModelTest(AgentTestCase):
    """The power-cut mode of the shim drops what was not fsynced: with
    `synchronous = normal` (commits not fsynced, as the README warns) a cut
    loses registrations the agent had already reported, with `full` never.
    This is what makes tests/vfsfault/powercut.py able to fail."""

    def adds_under_cut(self, k):
        """Run `add --repeat 30` with a cut at mutation k; the referenceIds
        it printed (a pty: line-buffered, so each line is out before the
        next add) and those in the store after."""
        import pty
        r = faultlib.Runner(AGENT_BIN, self.conf, self.env)
        self.addCleanup(r.close)
        env = faultlib.fault_env(self.env, r.lib, "cut=%d" % k, r.report)
        master, slave = pty.openpty()
        p = subprocess.Popen(
            [AGENT_BIN, "--config", self.conf, "-q", "registrations", "add",
             "--repeat", "30"] + VALID, stdout=slave,
            stderr=subprocess.DEVNULL, env=env)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        p.wait()
        printed = {ln.strip() for ln in data.decode().splitlines()
                   if ln.strip()}
        self.assertEqual(faultlib.integrity(self.db), ["ok"])
        stored = set(faultlib.snapshot(self.db)["regs"])
        return p.returncode, printed, stored

    def set_sync(self, mode):
        with open(self.conf) as f:
            text = f.read().replace("synchronous = normal\n",
                                    "synchronous = full\n")
        text = text.replace("synchronous = full\n",
                            "synchronous = %s\n" % mode, 1)
        with open(self.conf, "w") as f:
            f.write(text)

    def test_normal_loses_full_keeps(self):
        self.set_sync("normal")
        lost = 0
        for k in (60, 90, 120):
            rc, printed, stored = self.adds_under_cut(k)
            self.assertEqual(rc, -9)
            lost += len(printed - stored)
        self.assertGreater(lost, 0, "a cut lost nothing unsynced: the "
                           "shim does not model a power cut")
        self.set_sync("full")
        for k in (60, 90, 120):
            rc, printed, stored = self.adds_under_cut(k)
            self.assertEqual(rc, -9)
            self.assertGreater(len(printed), 0)
            self.assertEqual(printed - stored, set())


def tearDownModule():
    print("# I/O fault runs: %(runs)d (failed cleanly: %(failed)d, "
          "committed before the fault: %(committed)d)" % STATS)


if __name__ == "__main__":
    main()
