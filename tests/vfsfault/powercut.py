#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""powercut.py - power cuts at random points through store writes, pulls and
pushes of the real `agent` binary (issue 13 item 3).

The test-only VFS shim (vfsfault.h, mode cut=K) drops every write not yet
fsynced at the K-th mutation and kills the agent with SIGKILL: what a power
cut does to an SD card. Deterministic from the seed. Each step is one agent
command (add, edit, status change, or a sync against the fake 121 with
office changes in between) with a random cut point K in [1, M] (M: the most
mutations that kind of command made in a clean run so far, plus 20 %).
After each cut: PRAGMA integrity_check, no outbox entry that was committed
before the command is lost. Every 50 cuts and at the end the link "heals":
syncs to quiescence, then the fake 121 must hold each device-made person
exactly once, every device edit and status change, and nothing pending.

Usage (from the repository root):
  python3 tests/vfsfault/powercut.py build/agent/agent --cuts 5000 --seed 1
  (suite: --cuts 150; prints "N cut points, 0 lost, 0 duplicated, ..." and
  exits 1 with the seed and step on the first broken invariant)
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "cli"))
import faultlib  # noqa: E402
from clitest import encrypt_args  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import storesql  # noqa: E402

PROGRAM_JSON = os.path.join(TESTS, "data", "program.json")
FSP = "programFspConfigurationName=Intersolve-voucher-paper"


class Broken(Exception):
    pass


class PowerCut:
    def __init__(self, agent, seed, workdir):
        self.rng = random.Random(seed)
        self.seed = seed
        self.dir = workdir
        self.db = os.path.join(workdir, "agent.db")
        self.conf = os.path.join(workdir, "agent.conf")
        self.fake = FakeServer("--seed-registrations", "20",
                               "--seed-payments", "0")
        env = {k: v for k, v in os.environ.items()
               if k not in ("AGENT_CONFIG",)}
        env["AGENT_121_PASSWORD"] = PASSWORD
        self.enc = encrypt_args(workdir)  # AGENT_TEST_ENCRYPT=1
        if self.enc:
            env["AGENT_STORE_KEY_FILE"] = self.enc[-1]
        self.r = faultlib.Runner(agent, self.conf, env)
        self.max_mut = {}
        self.cuts = 0
        self.steps = 0
        self.heals = 0
        self.mine = set()          # referenceIds made on the device
        self.names = {}            # referenceId -> last fullName set here
        self.n = 0

    def close(self):
        self.r.close()
        self.fake.stop()

    def clean(self, args, ok=(0,)):
        rc, out, err, _ = self.r.run(["-q"] + args)
        if rc not in ok:
            raise Broken("clean run of %r exit %d: %s" % (args, rc, err))
        return out

    def setup(self):
        self.clean(["init", "--server", self.fake.url, "--program", "3",
                    "--user", USER, "--store", self.db] + self.enc)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 3\n"
                    "backoff_base_ms = 20\nbackoff_cap_ms = 100\n"
                    "batch = 10\ncreate_batch = 4\n"
                    % (self.db, self.fake.url, USER))
        self.clean(["program", "import", PROGRAM_JSON])
        self.clean(["sync", "--now"])

    # -- the store seen from outside ------------------------------------

    def outbox(self):
        con = storesql.connect(self.db)
        try:
            return {r[0]: r[1] for r in con.execute(
                "SELECT op_id, reference_id FROM outbox")}
        finally:
            con.close()

    def validated(self):
        """referenceIds this device set to validated: those with a status
        entry in the outbox (the only status change it makes), whatever the
        local view shows while 121 applies it asynchronously."""
        con = storesql.connect(self.db)
        try:
            return {r[0] for r in con.execute(
                "SELECT reference_id FROM outbox WHERE kind = 'status'")}
        finally:
            con.close()

    def local_refs(self):
        con = storesql.connect(self.db)
        try:
            return {r[0] for r in con.execute(
                "SELECT reference_id FROM registrations")}
        finally:
            con.close()

    # -- steps --------------------------------------------------------------

    def pick(self):
        """(kind, args, on_success) of a random command."""
        x = self.rng.random()
        self.n += 1
        mine = sorted(self.mine & self.local_refs())
        if x < 0.35 or not mine:
            name = "Cut Person %d" % self.n
            return ("add", ["registrations", "add", "fullName=" + name,
                            "phoneNumber=3161%07d" % self.n, FSP],
                    lambda out: self.added(out, name))
        if x < 0.55:
            ref = self.rng.choice(mine)
            name = "Cut Edit %d" % self.n
            return ("edit", ["registrations", "edit", ref, "fullName=" + name,
                             "--reason", "visit %d" % (self.n % 3)],
                    lambda out: self.names.__setitem__(ref, name))
        if x < 0.65:
            done = self.validated()
            cands = [r for r in mine if r not in done]
            if cands:
                ref = self.rng.choice(cands)
                return ("status", ["registrations", "status", ref,
                                   "validated"],
                        None)
        if self.rng.random() < 0.3:
            self.fake.call("POST", "/_test/seed",
                           {"registrations": self.rng.randint(1, 15)})
        return ("sync", ["sync", "--now"], None)

    def added(self, out, name):
        ref = out.strip().splitlines()[-1]
        self.mine.add(ref)
        self.names[ref] = name

    def step(self):
        kind, args, on_success = self.pick()
        m = self.max_mut.get(kind)
        if m is None:
            spec = "count"
        else:
            spec = "cut=%d" % self.rng.randint(1, max(1, int(m * 1.2) + 1))
        before = self.outbox()
        rc, out, err, rep = self.r.run(["-q"] + args, spec=spec)
        self.steps += 1
        where = "seed %d step %d (%s under %s)" % (self.seed, self.steps,
                                                  " ".join(args), spec)
        if rep.get("fired"):
            if rc != -9:
                raise Broken("%s: cut fired but exit %d: %s" % (where, rc, err))
            self.cuts += 1
        else:
            if rc not in ((0, 4, 1) if kind == "sync" else (0,)):
                raise Broken("%s: exit %d: %s" % (where, rc, err))
            if spec == "count" and not rep.get("mutations"):
                raise Broken("%s: the VFS shim saw no write (is another "
                             "VFS bypassing the default?)" % where)
            self.max_mut[kind] = max(self.max_mut.get(kind, 0),
                                     rep.get("mutations", 0))
        ic = faultlib.integrity(self.db)
        if ic != ["ok"]:
            raise Broken("%s: integrity_check: %s" % (where, ic[:3]))
        after = self.outbox()
        lost = set(before) - set(after)
        if lost:
            raise Broken("%s: %d committed outbox entries lost" %
                         (where, len(lost)))
        if kind == "status":
            pass
        elif on_success:
            if rc == 0:
                on_success(out)
            elif kind == "add":
                # Cut after the commit: the person may be there; learn it
                # from the outbox (the only new create).
                for op, ref in after.items():
                    if op not in before:
                        self.mine.add(ref)
                        self.names[ref] = args[2].split("=", 1)[1]
            elif kind == "edit":
                # Committed or not: read what the store holds.
                self.learn(args[2])

    def learn(self, ref):
        doc = json.loads(self.clean(["--json", "registrations", "show", ref]))
        self.names[ref] = doc.get("fullName")

    def stuck(self):
        """What the store and the fake say about unsettled entries."""
        con = storesql.connect(self.db)
        try:
            rows = con.execute(
                "SELECT seq, kind, reference_id, state, attempts, "
                "updated_at FROM outbox WHERE state IN ('pending', "
                "'inflight')").fetchall()
            cps = con.execute("SELECT name, value FROM sync_checkpoints "
                              "WHERE name LIKE 'events.%'").fetchall()
        finally:
            con.close()
        out = []
        for seq, kind, ref, state, att, upd in rows:
            srv = self.fake.registration(ref)
            evs = [(e.get("id"), e.get("created"), e.get("fieldChanged"),
                    e.get("newValue"), e.get("username"))
                   for e in srv.get("events", [])]
            out.append({"seq": seq, "kind": kind, "state": state,
                        "attempts": att, "updated": upd,
                        "server_status": srv["registration"].get("status"),
                        "server_events": evs[-4:]})
        return json.dumps({"entries": out, "cursors": cps})

    def heal(self):
        """Sync to quiescence; the server holds each change once."""
        self.heals += 1
        for _ in range(4):
            self.clean(["sync", "--now"], ok=(0, 4))
            self.fake.flush()
        self.clean(["sync", "--now"])
        st = json.loads(self.clean(["--json", "status"]))
        if st["pending"] != 0:
            raise Broken("seed %d: %d entries still pending after healing: "
                         "%s" % (self.seed, st["pending"], self.stuck()))
        dump = self.fake.call("GET", "/_test/dump")["programs"]["3"]
        server = {}
        for r in dump["registrations"]:
            server.setdefault(r["referenceId"], []).append(r)
        dup = [ref for ref, rs in server.items() if len(rs) > 1]
        if dup:
            raise Broken("seed %d: duplicated on the server: %s" %
                         (self.seed, dup[:3]))
        validated = self.validated()
        mine = self.mine & self.local_refs()
        if mine != self.mine:
            raise Broken("seed %d: device-made people lost locally: %s" %
                         (self.seed, sorted(self.mine - mine)[:3]))
        for ref in sorted(self.mine):
            s = server.get(ref)
            if not s:
                raise Broken("seed %d: %s never reached the server" %
                             (self.seed, ref))
            s = s[0]
            if s.get("fullName") != self.names[ref]:
                raise Broken("seed %d: %s: server fullName is not the last "
                             "device edit" % (self.seed, ref))
            if (ref in validated) != (s.get("status") == "validated"):
                raise Broken("seed %d: %s: status %s on the server" %
                             (self.seed, ref, s.get("status")))
        return len(self.mine)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--cuts", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heal-every", type=int, default=50)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="agent-powercut-")
    t0 = time.monotonic()
    pc = PowerCut(a.agent, a.seed, work)
    try:
        pc.setup()
        next_heal = a.heal_every
        while pc.cuts < a.cuts:
            pc.step()
            if pc.cuts >= next_heal:
                pc.heal()
                next_heal += a.heal_every
                print("# %d cut points, %d steps, %.0f s" % (
                    pc.cuts, pc.steps, time.monotonic() - t0), flush=True)
        people = pc.heal()
    except Broken as e:
        print("FAIL: %s (work dir kept: %s)" % (e, work))
        pc.close()
        return 1
    pc.close()
    shutil.rmtree(work, ignore_errors=True)
    print("power cuts: seed %d: %d cut points in %d steps, %d heals, %d "
          "device-made people: 0 lost, 0 duplicated, 0 integrity failures, "
          "0 pending after healing; %.1f s" % (
              a.seed, pc.cuts, pc.steps, pc.heals, people,
              time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
