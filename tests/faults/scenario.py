"""One randomized fault run, fully decided by its seed.

A run: a fresh server state (reset through the fake's test API) and a fresh
store, a first clean sync, then a random sequence of steps: offline work
through the real CLI (adds, edits of the same and of other fields, status
changes, conflict resolutions), office changes on the fake, and syncs under
random faults (5xx and 429 bursts, connections dropped mid-body, expired
sessions, slow answers, a write landing between the agent's check and its
write, every n-th connection refused, kill -9 by an exact hook or by the wall
clock, the server restarting with its state, the device clock jumping).
Then the link heals, the agent syncs to quiescence and checks.py checks the
invariants.
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from fakeproc import PASSWORD, USER

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "cli"))
from clitest import encrypt_args  # noqa: E402
import storesql  # noqa: E402

FSP = "Intersolve-voucher-paper"
FIELDS = ("fullName", "phoneNumber", "householdSize", "district")
# The agent's transition table (agent/commands.c, `registrations status`).
TRANSITIONS = {
    "new": ("included", "validated", "declined", "deleted", "paused"),
    "validated": ("included", "declined", "deleted"),
    "included": ("paused", "declined", "deleted"),
    "completed": ("included", "declined", "deleted"),
    "paused": ("validated", "included", "declined", "deleted"),
    "declined": ("included", "deleted"),
}
OFFICE_STATUSES = ("included", "validated", "declined", "paused", "deleted")
CLOCK_JUMPS = ("+3600", "-3600", "+86400", "-600", "+30", "+7200", "-86400")
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
KILLED = -signal.SIGKILL
HEAL_SYNCS = 8


class HarnessError(Exception):
    """Something the harness itself could not do (not an agent failure)."""


class Run:
    def __init__(self, agent_bin, fake, workdir, seed, opts):
        self.bin = agent_bin
        self.fake = fake
        self.dir = workdir
        self.seed = seed
        self.opts = opts
        self.rng = random.Random(seed)
        self.db = os.path.join(workdir, "agent.db")
        self.conf = os.path.join(workdir, "agent.conf")
        # AGENT_TEST_ENCRYPT=1: key-file encrypted stores. The key file
        # sits beside the worker's template (the run directory is emptied
        # before each run).
        self.keyfile = None
        if encrypt_args(workdir):
            self.keyfile = opts.template + ".key"
        self.clock = None            # FAKETIME offset of the device, or None
        self.ops = []                # every CLI write we asked for
        self.n = 0                   # unique value counter
        self.log = []                # what happened, for -v and failures
        self.hung = []               # commands that did not end in time
        self.kills = 0
        self.kill_problems = []      # integrity right after a kill
        self.restarts = 0
        self.server_refs = []        # referenceIds the office may touch

    # -- plumbing -----------------------------------------------------------

    def note(self, text):
        self.log.append(text)

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("AGENT_") and k not in ("FAKETIME", "LD_PRELOAD")}
        e["AGENT_121_PASSWORD"] = PASSWORD
        if self.keyfile:
            e["AGENT_STORE_KEY_FILE"] = self.keyfile
        if self.clock is not None:
            e["LD_PRELOAD"] = LIBFAKETIME
            e["FAKETIME"] = self.clock
            e["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            e["FAKETIME_DONT_RESET"] = "1"
            # An ASan build wants its runtime first; libfaketime only
            # wraps time functions, so the order does not matter here.
            e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") +
                                 ":verify_asan_link_order=0").lstrip(":")
        if extra:
            e.update(extra)
        return e

    def agent(self, *args, hook=None, kill_after=None, timeout=None, during=None):
        """Run the agent; returns (rc, stdout, stderr). rc is -9 when it was
        killed (by a hook or by us)."""
        if self.opts.trace:
            args = ["-v"] + [a for a in args if a != "-q"]
        cmd = [self.bin, "--config", self.conf] + [str(a) for a in args]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env(hook))
        if during:
            during(p)
        if kill_after is not None:
            try:
                p.wait(kill_after)
            except subprocess.TimeoutExpired:
                p.kill()
        try:
            out, err = p.communicate(timeout=timeout or self.opts.cmd_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.hung.append(" ".join(str(a) for a in args))
            self.note("HUNG: %s" % " ".join(str(a) for a in args))
            return KILLED, "", ""
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        if self.opts.trace:
            with open(os.path.join(self.dir, "trace.log"), "a") as f:
                f.write("$ agent %s -> %s\n%s" % (" ".join(map(str, args)), p.returncode, err))
                if os.path.exists(self.db):
                    keys = FIELDS + ("status",)
                    for ref, sj, lj in self.store_rows(
                            "SELECT reference_id, server_json, local_json FROM registrations"):
                        sv = json.loads(sj) if sj else {}
                        lv = json.loads(lj) if lj else {}
                        f.write("  = %s server=%s local=%s\n" % (
                            ref, json.dumps([sv.get(k) for k in keys]),
                            json.dumps([lv.get(k) for k in keys])))
        if p.returncode == KILLED:
            self.kills += 1
            self.after_kill(args)
        return p.returncode, out, err

    def after_kill(self, args):
        """Right after a kill -9, before anything opens the store again:
        the file passes integrity_check and each registration made here
        has its create entry (the transaction was all or nothing)."""
        if not os.path.exists(self.db):
            return
        try:
            ic = [r[0] for r in self.store_rows("PRAGMA integrity_check")]
            orphans = self.store_rows(
                "SELECT count(*) FROM registrations r WHERE r.server_json IS NULL AND NOT "
                "EXISTS (SELECT 1 FROM outbox o WHERE o.reference_id = r.reference_id "
                "AND o.kind = 'create')")[0][0]
        except sqlite3.DatabaseError as e:
            ic, orphans = ["cannot read the store: %s" % e], 0
        if ic != ["ok"]:
            self.kill_problems.append("after kill -9 of `%s`: integrity_check: %s"
                                      % (" ".join(map(str, args)), "; ".join(ic[:3])))
        if orphans:
            self.kill_problems.append("after kill -9 of `%s`: %d registrations without "
                                      "their create entry" % (" ".join(map(str, args)), orphans))

    def store_rows(self, sql, args=()):
        con = storesql.connect_ro(self.db, keyfile=self.keyfile)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def local_regs(self):
        """{ref: (status, local view dict)} from the store."""
        out = {}
        for ref, status, lj in self.store_rows(
                "SELECT reference_id, status, local_json FROM registrations"):
            try:
                out[ref] = (status, json.loads(lj))
            except ValueError:
                out[ref] = (status, {})
        return out

    def value(self, field, current=None):
        self.n += 1
        if field == "fullName":
            return "P%d-%d" % (self.seed % 100000, self.n)
        if field == "phoneNumber":
            return "3162%07d" % ((self.seed * 97 + self.n) % 10000000)
        if field == "householdSize":
            v = str(self.rng.randint(1, 60))
            return v if v != str(current) else str(int(v) + 61)
        if field == "district":
            return "north" if current == "south" else "south"
        raise ValueError(field)

    # -- the run ------------------------------------------------------------

    def setup(self):
        # Server events of this run are created at or after this (the fake
        # stamps them with the real UTC clock, as here).
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
        nregs = self.rng.randint(2, 10)
        self.fake.reset(self.seed, nregs)
        self.server_refs = ["ref-%05d" % i for i in range(1, nregs + 1)]
        for name in os.listdir(self.dir):
            p = os.path.join(self.dir, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        policy = self.rng.choice(["manual"] * 4 + ["server-wins", "device-wins"])
        self.patch_max = self.rng.choice([1, 2, 20])
        self.write_config(policy)
        if os.path.exists(self.opts.template):
            # An empty store made by `agent init` once per worker.
            shutil.copyfile(self.opts.template, self.db)
            os.chmod(self.db, 0o600)
            if self.keyfile:
                shutil.copyfile(self.opts.template + ".keys", self.db + ".keys")
                os.chmod(self.db + ".keys", 0o600)
        else:
            enc = ["--encrypt", "--key-file", self.keyfile] if self.keyfile \
                else []
            rc, out, err = self.agent("-q", "init", "--server", self.fake.url,
                                      "--program", "3", "--user", USER,
                                      "--store", self.db, "--force", *enc)
            if rc != 0:
                raise HarnessError("init failed (%d): %s" % (rc, err.strip()))
            self.write_config(policy)   # init wrote its own
            shutil.copyfile(self.db, self.opts.template)
            if self.keyfile:
                shutil.copyfile(self.db + ".keys", self.opts.template + ".keys")
        # Distribution day in most runs: a paper-voucher payment for some
        # of the people (hand-outs), messages, templates, labels.
        self.payment, self.paper_refs = None, []
        if self.rng.random() < 0.6:
            r = self.fake.call("POST", "/_test/dist/paper-payment",
                               {"count": self.rng.randint(1, nregs)})
            if not r or "paymentId" not in r:
                raise HarnessError("paper payment failed: %s" % (r,))
            self.payment, self.paper_refs = r["paymentId"], r["referenceIds"]
        rc, out, err = self.agent("-q", "sync", "--now")
        if rc != 0:
            raise HarnessError("first sync failed (%d): %s" % (rc, err.strip()))
        self.note("setup: %d registrations, householdSize policy %s" % (nregs, policy))

    def write_config(self, policy):
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\nsynchronous = full\n"
                    "[121]\nurl = %s\nprogram_id = 3\nuser = %s\n"
                    "[sync]\nmax_attempts = 4\nbackoff_base_ms = 5\nbackoff_cap_ms = 40\n"
                    "connect_timeout_ms = 3000\nlow_speed_time_s = 10\ndeadline_s = 120\n"
                    "patch_max = %d\n"
                    "[conflicts]\ndefault = manual\nhouseholdSize = %s\n"
                    % (self.db, self.fake.url, USER, self.patch_max, policy))
        os.chmod(self.conf, 0o600)

    def play(self):
        steps = self.rng.randint(self.opts.min_steps, self.opts.max_steps)
        kinds = (["add"] * 3 + ["edit"] * 5 + ["status"] * 2 + ["resolve"] +
                 ["handout"] * 2 + ["message"] + ["template", "label"] +
                 ["office_edit"] * 3 + ["office_status"] + ["office_seed"] +
                 ["sync"] * 5 + ["clock"] + ["restart"] * (1 if self.opts.restarts else 0))
        for _ in range(steps):
            k = self.rng.choice(kinds)
            if k == "restart" and self.rng.random() < 0.7:
                k = "sync"   # restarts cost a Python start: keep them rarer
            getattr(self, "step_" + k)()

    def local_hook(self):
        """A kill hook for a local write, now and then."""
        r = self.rng.random()
        if r < 0.06:
            return {"AGENT_TEST_KILL_AT_COMMIT": "1"}
        if r < 0.12:
            return {"AGENT_TEST_KILL_AFTER_COMMIT": "1"}
        return None

    def record(self, kind, ref, data, rc, out, err):
        op = {"kind": kind, "ref": ref, "data": data, "rc": rc}
        self.ops.append(op)
        self.note("%s %s %s -> %d %s" % (kind, ref, json.dumps(data), rc,
                                          err.strip()[:200] if rc not in (0, KILLED) else ""))
        return op

    def step_add(self):
        data = {"fullName": self.value("fullName"), "phoneNumber": self.value("phoneNumber"),
                "programFspConfigurationName": FSP}
        if self.rng.random() < 0.5:
            data["householdSize"] = self.value("householdSize")
        if self.rng.random() < 0.5:
            data["district"] = self.rng.choice(["north", "south"])
        args = ["-q", "registrations", "add"] + ["%s=%s" % kv for kv in data.items()]
        rc, out, err = self.agent(*args, hook=self.local_hook())
        ref = out.strip() if rc == 0 else None
        self.record("add", ref, data, rc, out, err)

    def pick_local(self, live=True):
        regs = self.local_regs()
        refs = sorted(r for r, (st, _v) in regs.items()
                      if not live or st not in ("deleted", None))
        if not refs:
            return None, None
        ref = self.rng.choice(refs)
        return ref, regs[ref]

    def step_edit(self):
        ref, reg = self.pick_local()
        if ref is None:
            return
        view = reg[1]
        # Same field as an office edit, or another one: both happen.
        fields = self.rng.sample(FIELDS, self.rng.choice([1, 1, 2]))
        data = {f: self.value(f, view.get(f)) for f in fields}
        args = ["-q", "registrations", "edit", ref] + ["%s=%s" % kv for kv in data.items()]
        if self.rng.random() < 0.5:
            args += ["--reason", self.rng.choice(["field visit", "typo", "moved"])]
        rc, out, err = self.agent(*args, hook=self.local_hook())
        self.record("edit", ref, data, rc, out, err)

    def step_status(self):
        ref, reg = self.pick_local()
        if ref is None:
            return
        targets = TRANSITIONS.get(reg[0])
        if not targets:
            return
        target = self.rng.choice(targets)
        rc, out, err = self.agent("-q", "registrations", "status", ref, target,
                                  "--reason", "field check", hook=self.local_hook())
        self.record("status", ref, {"status": target}, rc, out, err)

    def step_resolve(self):
        rows = self.store_rows("SELECT id, reference_id, field FROM conflicts "
                               "WHERE state = 'open' ORDER BY id")
        if not rows:
            return self.step_edit()
        cid, ref, field = self.rng.choice(rows)
        take = self.rng.choice(["local", "server"])
        rc, out, err = self.agent("-q", "conflicts", "resolve", str(cid), "--take", take,
                                  hook=self.local_hook())
        self.record("resolve", ref, {"conflict": cid, "field": field, "take": take},
                    rc, out, err)

    def step_handout(self):
        """A voucher handed out (a second hand-out of one is refused)."""
        if not self.paper_refs:
            return self.step_edit()
        refs = self.rng.sample(self.paper_refs, min(len(self.paper_refs), self.rng.choice([1, 1, 2])))
        args = ["-q", "vouchers", "hand-out"] + refs + ["--payment", str(self.payment)]
        if self.rng.random() < 0.3:
            args += ["--by", "field-worker-%d" % self.rng.randint(1, 3)]
        rc, out, err = self.agent(*args, hook=self.local_hook())
        # Exit 1 when one of them was handed out already: the others are
        # marked (the output lists the refused ones).
        refused = {ln.split(":", 1)[0].strip() for ln in out.splitlines() if ": refused" in ln}
        for ref in refs:
            self.record("voucher", ref, {"paymentId": self.payment},
                        0 if rc == 1 and ref not in refused and refused else rc, out, err)

    def step_message(self):
        """A text message to one to three people (stored here, on the
        server or not yet)."""
        regs = self.local_regs()
        refs = sorted(r for r, (st, _v) in regs.items() if st not in ("deleted", None))
        if not refs:
            return
        refs = self.rng.sample(refs, min(len(refs), self.rng.randint(1, 3)))
        self.n += 1
        text = "M%d-%d" % (self.seed % 100000, self.n)
        rc, out, err = self.agent("-q", "messages", "send", "--text", text, "--ref",
                                  ",".join(refs), hook=self.local_hook())
        self.record("message", ",".join(refs), {"message": text, "refs": refs}, rc, out, err)

    def step_template(self):
        self.n += 1
        ttype = self.rng.choice(["included", "field-visit"])
        lang = self.rng.choice(["en", "nl"])
        text = "T%d-%d {{fullName}}" % (self.seed % 100000, self.n)
        rc, out, err = self.agent("-q", "templates", "set", ttype, lang, text,
                                  hook=self.local_hook())
        self.record("template", "%s/%s" % (ttype, lang), {"message": text}, rc, out, err)

    def step_label(self):
        self.n += 1
        attr = self.rng.choice(["district", "householdSize"])
        lang = self.rng.choice(["en", "nl"])
        text = "L%d-%d" % (self.seed % 100000, self.n)
        rc, out, err = self.agent("-q", "program", "label", attr, "--lang", lang, text,
                                  hook=self.local_hook())
        self.record("label", "%s/%s" % (attr, lang), {"text": text}, rc, out, err)

    def step_office_edit(self):
        if not self.server_refs:
            return
        ref = self.rng.choice(self.server_refs)
        fields = self.rng.sample(FIELDS, self.rng.choice([1, 1, 2]))
        data = {f: self.value(f) for f in fields}
        if "district" in data:
            data["district"] = self.rng.choice(["north", "south"])
        r = self.fake.call("POST", "/_test/edit", {"referenceId": ref, "data": data,
                                                   "reason": "office", "username": "office-user"})
        self.note("office edit %s %s -> %s" % (ref, json.dumps(data),
                                                "ok" if r and "changed" in r else r))

    def step_office_status(self):
        if not self.server_refs:
            return
        ref = self.rng.choice(self.server_refs)
        st = self.rng.choice(OFFICE_STATUSES)
        r = self.fake.call("POST", "/_test/status", {"referenceId": ref, "status": st,
                                                     "reason": "office", "username": "office-user"})
        self.note("office status %s %s -> %s" % (ref, st, r))

    def step_office_seed(self):
        r = self.fake.call("POST", "/_test/seed", {"registrations": self.rng.randint(1, 3)})
        if r and "firstId" in r:
            d = self.fake.dump()
            self.server_refs = [x["referenceId"] for x in d["programs"]["3"]["registrations"]]
        self.note("office seed -> %s" % (r,))

    def step_clock(self):
        self.clock = self.rng.choice(CLOCK_JUMPS + (None,)) if self.opts.faketime else None
        self.note("device clock %s" % (self.clock or "true"))

    def random_faults(self):
        rules = []
        for _ in range(self.rng.randint(0, 3)):
            path = self.rng.choice(["", "", "/registrations", "registration-events",
                                    "/users/login", "/registrations/status",
                                    "/programs/3", "excel-reconciliation",
                                    "registrations/message", "message-templates",
                                    "activities"])
            k = self.rng.choice(["5xx", "5xx", "429", "drop", "drop", "expire", "slow",
                                 "nth", "truncate", "lost_write", "office_race"])
            r = {"path_contains": path}
            if k == "5xx":
                r.update(fail_status=self.rng.choice([500, 502, 503, 504]),
                         fail_count=self.rng.randint(1, 5))
            elif k == "lost_write":
                r.update(path_contains=self.rng.choice(["/registrations", "/registrations/status",
                                                        "excel-reconciliation",
                                                        "registrations/message?dryRun=false",
                                                        "message-templates",
                                                        "registration-attributes"]),
                         fail_status=self.rng.choice([502, 504]), fail_after_apply=True,
                         fail_count=self.rng.randint(1, 2))
            elif k == "429":
                r.update(rate_limit_429=self.rng.randint(1, 4),
                         retry_after=1 if self.rng.random() < 0.05 else 0)
            elif k == "drop":
                r.update(drop_after_bytes=self.rng.randint(0, 400), count=self.rng.randint(1, 3))
            elif k == "truncate":
                r.update(truncate_json=True, count=1)
            elif k == "expire":
                r = {"expire_tokens": True, "latency_ms": 0}
            elif k == "slow":
                r.update(latency_ms=self.rng.randint(20, 300), latency_count=self.rng.randint(1, 3))
            elif k == "nth":
                r = {"drop_every_nth_connection": self.rng.randint(2, 4)}
            elif k == "office_race":
                # The office writes a field we are about to PATCH, between
                # our check and our write (mostly one of our pending edits).
                pend = self.store_rows("SELECT reference_id, payload FROM outbox WHERE "
                                       "kind = 'edit' AND state = 'pending' ORDER BY seq")
                pend = [(ref, f) for ref, pl in pend if ref in self.server_refs
                        for f in sorted((json.loads(pl).get("data") or {}))]
                if pend and self.rng.random() < 0.8:
                    ref, f = self.rng.choice(pend)
                else:
                    ref, reg = self.pick_local()
                    if ref is None or ref not in self.server_refs:
                        continue
                    f = self.rng.choice(FIELDS)
                if f not in FIELDS:
                    continue
                v = self.value(f)
                r = {"path_contains": "/registrations/" + ref,
                     "office_edit": {"data": {f: v}, "username": "office-user",
                                     "reason": "office race"}}
            rules.append(r)
        return rules

    def kill_plan(self):
        r = self.rng.random()
        if r < 0.12:
            return {"AGENT_TEST_KILL_AT_COMMIT": str(self.rng.randint(1, 8))}, None
        if r < 0.24:
            return {"AGENT_TEST_KILL_AFTER_COMMIT": str(self.rng.randint(1, 8))}, None
        if r < 0.36:
            return {"AGENT_TEST_KILL_AT_HTTP_BYTE": str(self.rng.randint(1, 30000))}, None
        if r < 0.46:
            return None, self.rng.uniform(0.005, 0.25)
        return None, None

    def step_sync(self):
        rules = self.random_faults()
        for r in rules:
            self.fake.fault(**r)
        hook, kill_after = self.kill_plan()
        args = ["-q", "sync", "--now"]
        if self.rng.random() < 0.15:
            args.append(self.rng.choice(["--push-only", "--pull-only", "--full"]))
        rc, out, err = self.agent(*args, hook=hook, kill_after=kill_after)
        self.note("sync %s faults=%s hook=%s kill_after=%s clock=%s -> %d %s" % (
            " ".join(args[3:]), json.dumps(rules), hook,
            "%.3f" % kill_after if kill_after else None, self.clock, rc,
            err.strip().splitlines()[-1][:200] if err.strip() else ""))
        self.fake.reset_faults()
        self.fake.flush()

    def step_restart(self):
        """The server restarts with its state, now or in the middle of a
        sync (connections refused while it is down)."""
        if self.rng.random() < 0.5:
            self.fake.restart()
            self.restarts += 1
            self.note("server restarted (between syncs)")
            return
        delay = self.rng.uniform(0.0, 0.15)

        def during(p):
            time.sleep(delay)
            self.fake.restart()

        rc, out, err = self.agent("-q", "sync", "--now", during=during)
        self.restarts += 1
        self.note("sync with server restart after %.3f s -> %d %s" % (
            delay, rc, err.strip().splitlines()[-1][:200] if err.strip() else ""))
        self.fake.flush()

    def heal(self):
        """The link heals: no faults, the server up; sync until a sync ends
        (exit 0, or 4: conflicts or rejections need a person) with nothing
        pending or in flight."""
        self.fake.reset_faults()
        self.heal_rcs = []
        for _ in range(HEAL_SYNCS):
            rc, out, err = self.agent("-q", "sync", "--now")
            self.heal_rcs.append(rc)
            self.note("heal sync -> %d %s" % (rc, err.strip().splitlines()[-1][:200]
                                              if err.strip() else ""))
            self.fake.flush()
            left = self.store_rows("SELECT count(*) FROM outbox WHERE state IN "
                                   "('pending', 'inflight')")[0][0]
            if left == 0 and rc in (0, 4):
                break
