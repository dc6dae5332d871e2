#!/usr/bin/env python3
"""End-to-end: the real `agent` binary with the kobo connector between the
fake KoboToolbox (tests/fakekobo/fakekobo.py) and the fake 121 server.

Must-show of the Kobo issue:
  - 5,000 submissions pulled and synced: exactly 5,000 registrations on the
    121 fake; a second sync creates 0; `kill -9` at random points during
    import and push, then sync again: still exactly 5,000, none lost;
  - an edited submission updates the same registration; the same field
    edited in 121 and in Kobo becomes a conflict (`agent conflicts list`);
  - a bad answer rejects that submission alone with a one-line reason
    naming question and attribute; fixing the mapping and `agent kobo
    retry` imports it.
Also: legacy submissions without rootUuid, bulk edits (invisible), the
server's page clamp, 401/403/404, 429 and 500 answers.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import launcher  # noqa: E402  (fake121_fixture put tests/fakes on the path)

TESTS_DIR = os.environ.get(
    "AGENT_TESTS_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKEKOBO = os.path.join(TESTS_DIR, "fakekobo", "fakekobo.py")
TOKEN = "kobo-test-token-0123456789abcdef"
ASSET = "aSynthAsset0000000000001"
FSP = "Intersolve-voucher-paper"
MAPPING = {"full_name": "fullName", "phone": "phoneNumber",
           "household_size": "householdSize", "district": "district"}


class FakeKobo:
    def __init__(self, *args):
        self.fake = launcher.start_script(FAKEKOBO, *args, port_arg=True,
                                          prefix="fakekobo-")
        self.url = self.fake.url

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def stop(self):
        self.fake.stop()


class KoboTestCase(AgentTestCase):
    seed = 20
    kobo_args = ()

    def setUp(self):
        super().setUp()
        self.f121 = FakeServer("--seed-registrations", "0")
        self.addCleanup(self.f121.stop)
        self.kobo = FakeKobo("--seed", str(self.seed), *self.kobo_args)
        self.addCleanup(self.kobo.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 4\nbackoff_base_ms = 20\n"
                    "backoff_cap_ms = 200\n" % (self.db, self.f121.url, USER))
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.env["AGENT_KOBO_TOKEN"] = TOKEN
        self.mapping = self.write("map.json", json.dumps(MAPPING, indent=1))
        self.ok("kobo", "setup", "--url", self.kobo.url, "--asset", ASSET,
                "--mapping", self.mapping, "--fsp", FSP)
        # the 121 program first: the Kobo answers are checked against it
        self.sync("--source", "121")

    def sync(self, *args, code=0):
        rc, out, err = self.run_agent("--json", "sync", "--now", *args,
                                      timeout=600)
        self.assertEqual(rc, code, "sync %r exit %d (want %d): %s %s" %
                         (args, rc, code, out, err))
        return json.loads(out) if out.strip() else None

    def count_121(self):
        return self.f121.state()["programs"]["3"]["registrations"]

    def ref_of(self, sid):
        """The referenceId of Kobo submission _id `sid` (rootUuid)."""
        sub = self.kobo.call("GET", "/_test/submission/%d" % sid)
        root = sub.get("meta/rootUuid")
        return root[5:] if root else "kobo-%s-%d" % (ASSET, sid)

    def status(self):
        return self.json("kobo", "status")["forms"][0]


class TestFiveThousand(KoboTestCase):
    seed = 5000

    def start_sync(self, *args):
        return subprocess.Popen(
            [AGENT_BIN, "--config", self.conf, "-q", "sync", "--now"] +
            list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.env)

    def kill_randomly(self, args, times, lo, hi, rng):
        """Start a sync and SIGKILL it after a random delay, `times` times;
        returns how many kills hit a running process."""
        hits = 0
        for _ in range(times):
            p = self.start_sync(*args)
            time.sleep(rng.uniform(lo, hi))
            if p.poll() is None:
                hits += 1
                p.send_signal(signal.SIGKILL)
            p.wait()
        return hits

    def test_exactly_5000_with_kill9(self):
        rng = random.Random(int(os.environ.get("KOBO_KILL_SEED", "8")))
        # a slower Kobo and smaller pages, so that kills land mid-import
        self.kobo.call("POST", "/_test/faults", {"slow_ms": 40})
        with open(self.conf) as f:
            text = f.read().replace("page_size = 1000", "page_size = 250")
        with open(self.conf, "w") as f:
            f.write(text)
        hits_import = self.kill_randomly(["--source", "kobo"], 6, 0.1, 0.8,
                                         rng)
        self.kobo.call("POST", "/_test/faults", {"slow_ms": 0})
        self.sync("--source", "kobo")
        st = self.status()
        self.assertEqual(st["imported"], 5000)
        self.assertEqual(st["rejected"], 0)
        outbox = self.json("outbox")
        self.assertEqual(len(outbox), 5000)
        self.assertEqual(len({o["referenceId"] for o in outbox}), 5000)
        hits_push = self.kill_randomly(["--source", "121"], 6, 0.05, 1.0, rng)
        rc, out, err = self.run_agent("--json", "sync", "--now", timeout=600)
        self.assertIn(rc, (0, 4), err)
        self.sync()
        self.assertEqual(self.count_121(), 5000)
        refs = {self.ref_of(s) for s in
                self.kobo.call("GET", "/_test/ids")[:50]}
        for ref in refs:
            self.assertEqual(
                self.f121.registration(ref)["registration"]["referenceId"], ref)
        regs = self.json("registrations", "list", "--limit", "100000")
        self.assertEqual(len(regs), 5000)
        self.assertEqual(self.json("outbox"), [])
        # a second sync creates nothing
        doc = self.sync()
        self.assertEqual(self.count_121(), 5000)
        kobo = [p for p in doc["sources"] if p["source"] == "kobo"][0]
        self.assertEqual(kobo["pulled"], 0)
        sys.stderr.write("\n  5000: kills during import %d/6, during push "
                         "%d/6; 121 holds %d\n" % (hits_import, hits_push,
                                                   self.count_121()))


class TestEdits(KoboTestCase):
    def first_sync(self):
        self.sync("--source", "kobo")
        self.sync()
        self.assertEqual(self.count_121(), self.seed)

    def test_edit_updates_the_same_registration(self):
        self.first_sync()
        sid = self.kobo.call("GET", "/_test/ids")[3]
        ref = self.ref_of(sid)
        self.kobo.call("POST", "/_test/edit",
                       {"id": sid, "data": {"hh/household_size": "9"}})
        self.sync("--source", "kobo")
        self.assertEqual(self.status()["edits"], 1)
        outbox = self.json("outbox")
        self.assertEqual([(o["kind"], o["referenceId"]) for o in outbox],
                         [("edit", ref)])
        self.sync()
        self.assertEqual(self.count_121(), self.seed)
        reg = self.f121.registration(ref)["registration"]
        self.assertEqual(str(reg["householdSize"]), "9")
        # the edited submission's _uuid changed, its referenceId did not
        sub = self.kobo.call("GET", "/_test/submission/%d" % sid)
        self.assertNotEqual(sub["_uuid"], ref)
        # a sync with nothing new changes nothing
        self.sync()
        self.assertEqual(self.json("outbox"), [])

    def test_same_field_in_121_and_kobo_is_a_conflict(self):
        self.first_sync()
        sid = self.kobo.call("GET", "/_test/ids")[5]
        ref = self.ref_of(sid)
        self.f121.edit(ref, {"householdSize": 7})
        self.kobo.call("POST", "/_test/edit",
                       {"id": sid, "data": {"hh/household_size": "8"}})
        self.sync("--source", "121")       # 121's change arrives first
        self.sync("--source", "kobo")
        self.sync(code=4)
        conflicts = self.json("conflicts", "list")
        self.assertEqual(len(conflicts), 1, conflicts)
        c = conflicts[0]
        self.assertEqual((c["referenceId"], c["field"]), (ref, "householdSize"))
        self.assertEqual(str(c["local"]), "8")
        self.assertEqual(str(c["server"]), "7")
        self.assertEqual(str(self.f121.registration(ref)["registration"]
                             ["householdSize"]), "7")

    def test_bulk_edit_is_invisible_and_legacy_gets_its_id(self):
        self.first_sync()
        ids = self.kobo.call("GET", "/_test/ids")
        self.kobo.call("POST", "/_test/bulk_edit",
                       {"ids": ids[:2], "data": {"hh/household_size": "5"}})
        new = self.kobo.call("POST", "/_test/add", {"count": 1,
                                                     "legacy": True})
        self.sync("--source", "kobo")
        st = self.status()
        self.assertEqual((st["imported"], st["edits"]), (self.seed + 1, 0))
        self.sync()
        ref = "kobo-%s-%d" % (ASSET, new[0])
        self.assertEqual(self.f121.registration(ref)["registration"]
                         ["referenceId"], ref)
        self.kobo.call("POST", "/_test/edit",
                       {"id": new[0], "data": {"hh/full_name": "Renamed"}})
        self.sync("--source", "kobo")
        self.sync()
        self.assertEqual(self.f121.registration(ref)["registration"]
                         ["fullName"], "Renamed")
        self.assertEqual(self.count_121(), self.seed + 1)


class TestValidation(KoboTestCase):
    seed = 5

    def test_validation_form_edits_and_validates(self):
        self.sync("--source", "kobo")
        self.sync()
        ids = self.kobo.call("GET", "/_test/ids")
        ref1, ref2 = self.ref_of(ids[0]), self.ref_of(ids[1])
        # the same form becomes a validation form (kobo-connect's
        # /kobo-update-121): a question answers the referenceId
        self.write("map.json", json.dumps({
            "referenceid": "referenceId", "phone": "phoneNumber",
            "household_size": "householdSize"}))
        new = self.kobo.call("POST", "/_test/add", {"count": 1, "data": {
            "referenceid": ref1, "hh/phone": "31600000001"}})
        new += self.kobo.call("POST", "/_test/add", {"count": 1, "data": {
            "referenceid": ref2, "skipvalidation": "1",
            "hh/household_size": "6"}})
        new += self.kobo.call("POST", "/_test/add", {"count": 1, "data": {
            "referenceid": "no-such-reference"}})
        self.sync("--source", "kobo", code=4)   # one rejected submission
        st = self.status()
        self.assertEqual((st["imported"], st["validated"], st["rejected"]),
                         (5, 2, 1))
        rej = self.json("kobo", "rejected")
        self.assertEqual(rej[0]["id"], new[2])
        self.assertEqual(rej[0]["reason"], "attribute referenceId: no "
                         "registration with the answered referenceId")
        ops = sorted((o["referenceId"], o["kind"])
                     for o in self.json("outbox"))
        want = sorted([(ref1, "edit"), (ref1, "status")] +
                      ([(ref2, "edit")]))
        self.assertEqual(ops, want)
        self.sync(code=4)
        self.f121.flush()
        self.sync(code=4)
        r1 = self.f121.registration(ref1)["registration"]
        r2 = self.f121.registration(ref2)["registration"]
        self.assertEqual(r1["phoneNumber"], "31600000001")
        self.assertEqual(r1["status"], "validated")
        self.assertEqual(str(r2["householdSize"]), "6")
        self.assertNotEqual(r2["status"], "validated")
        self.assertEqual(self.count_121(), 5)


    def test_program_from_the_form(self):
        self.fails("kobo", "program", ASSET)          # not stored yet
        self.sync("--source", "kobo")
        prog = json.loads(self.ok("kobo", "program", ASSET))
        attrs = {a["name"]: a for a in prog["programRegistrationAttributes"]}
        self.assertEqual(sorted(attrs), ["district", "full_name",
                                         "household_size", "needs", "phone"])
        self.assertEqual(attrs["district"]["type"], "dropdown")
        self.assertEqual([o["option"] for o in attrs["district"]["options"]],
                         ["north", "south"])
        self.assertTrue(attrs["district"]["duplicateCheck"])


    def test_validation_csv(self):
        self.sync("--source", "kobo")
        out = os.path.join(self.dir, "ValidationDataFrom121.csv")
        doc = self.json("kobo", "validation-csv", ASSET, "--out", out)
        self.assertEqual((doc["rows"], doc["file"]), (5, out))
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "referenceId,fullName,phoneNumber,"
                         "householdSize,district")
        ref = self.ref_of(self.kobo.call("GET", "/_test/ids")[0])
        row = [ln for ln in lines if ln.startswith(ref + ",")]
        self.assertEqual(len(row), 1)
        self.assertIn(row[0].split(",")[4], ("north", "south"))
        self.fails("kobo", "validation-csv", "aNotConfigured", code=2)


class TestRejected(KoboTestCase):
    seed = 10
    kobo_args = ("--bad-every", "5")

    def test_bad_answer_rejects_alone_then_retry(self):
        # a sync that leaves rejected submissions exits 4 and says so
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 4, out + err)
        self.assertIn("2 kobo submissions rejected (see `agent kobo "
                      "rejected`", out)
        rc, out, err = self.run_agent("-q", "sync", "--now", "--source",
                                      "kobo")
        self.assertEqual(rc, 4, out + err)
        self.assertIn("kobo rejected 2", out)
        doc = self.sync("--source", "kobo", code=4)
        self.assertEqual((doc["kobo_rejected"], doc["result"]),
                         (2, "attention"))
        rej = self.json("kobo", "rejected")
        self.assertEqual(len(rej), 2)
        for e in rej:
            self.assertEqual(e["reason"], "question household_size, "
                             "attribute householdSize: not a number")
            self.assertNotIn("many", e["reason"])
        st = self.status()
        self.assertEqual((st["imported"], st["rejected"]), (8, 2))
        out = self.ok("kobo", "rejected")
        self.assertIn("household_size", out)
        # fix the answer's mapping: household size no longer mapped ...
        m = dict(MAPPING)
        del m["household_size"]
        self.write("map.json", json.dumps(m))
        rc, out, err = self.run_agent("kobo", "retry", "--all")
        # ... the district is still unknown to the dropdown
        rej = self.json("kobo", "rejected")
        self.assertEqual([e["reason"] for e in rej],
                         ["question district, attribute district: not an "
                          "option of the dropdown"] * 2)
        del m["district"]
        self.write("map.json", json.dumps(m))
        # the retry's sync leaves one rejected: exit 4
        rc, out, err = self.run_agent("kobo", "retry", str(rej[0]["id"]))
        self.assertEqual(rc, 4, err)
        self.assertEqual(len(self.json("kobo", "rejected")), 1)
        self.ok("kobo", "retry", "%s:%d" % (ASSET, rej[1]["id"]))
        self.assertEqual(self.json("kobo", "rejected"), [])
        self.assertEqual(self.status()["imported"], 10)
        doc = self.sync()           # nothing rejected any more: exit 0
        self.assertEqual(doc["kobo_rejected"], 0)
        self.assertEqual(self.count_121(), 10)

    def test_rejected_submission_fixed_in_kobo_is_imported(self):
        self.sync("--source", "kobo", code=4)
        rej = self.json("kobo", "rejected")
        self.assertEqual(len(rej), 2)
        self.kobo.call("POST", "/_test/edit", {"id": rej[0]["id"], "data": {
            "hh/household_size": "3", "district": "north"}})
        self.sync("--source", "kobo", code=4)
        self.assertEqual([e["id"] for e in self.json("kobo", "rejected")],
                         [rej[1]["id"]])
        st = self.status()
        self.assertEqual((st["imported"], st["edits"]), (9, 0))

    def test_config_check_names_file_line_and_key(self):
        self.sync("--source", "kobo", code=4)
        self.write("map.json", '{\n"full_name": "fullName",\n'
                   '"needs": "householdSize",\n"nosuch": "phoneNumber",\n'
                   '"district": "colour"\n}\n')
        rc, out, err = self.run_agent("--json", "config", "check")
        self.assertEqual(rc, 1)
        errors = json.loads(out)["errors"]
        path = self.mapping
        self.assertEqual(errors, [
            "%s:3: key 'needs': wrong type for attribute householdSize: a "
            "numeric attribute needs an integer or decimal question" % path,
            "%s:4: key 'nosuch': unknown question (not in the form)" % path,
            "%s:5: key 'district': unknown attribute colour (not in the 121 "
            "program)" % path])


class TestDeleted(KoboTestCase):
    seed = 6

    def set_deleted(self, mode):
        with open(self.conf) as f:
            text = f.read()
        head, kobo = text.split("[kobo]\n", 1)   # setup wrote the default
        kobo = re.sub(r"(?m)^deleted = \w+$", "deleted = " + mode, kobo, 1)
        with open(self.conf, "w") as f:
            f.write(head + "[kobo]\n" + kobo)

    def test_deleted_submissions_are_reported_once(self):
        self.sync("--source", "kobo")
        ids = self.kobo.call("GET", "/_test/ids")
        gone = [ids[1], ids[4]]
        refs = sorted(self.ref_of(i) for i in gone)
        names = [self.kobo.call("GET", "/_test/submission/%d" % i)
                 .get("full_name") for i in gone]
        for i in gone:
            self.kobo.call("POST", "/_test/delete", {"id": i})
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 0, err)
        for ref in refs:                       # logged by referenceId ...
            self.assertIn(ref, err)
        for name in names:                     # ... never by value
            if name:
                self.assertNotIn(name, err)
        doc = self.json("kobo", "status")
        self.assertEqual(doc["forms"][0]["deleted"], 2)
        self.assertEqual(sorted(d["referenceId"] for d in doc["deleted"]),
                         refs)
        self.assertEqual(sorted(d["id"] for d in doc["deleted"]),
                         sorted(gone))
        self.assertIn(" 2  ", self.ok("kobo", "status"))
        # reported once: a later scan neither logs nor counts them again
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 0, err)
        self.assertNotIn(refs[0], err)
        self.assertEqual(self.status()["deleted"], 2)
        # the registrations stay (nothing is deleted in 121 or the store)
        self.assertEqual(self.status()["imported"], 6)

    def test_deleted_ignore(self):
        self.set_deleted("ignore")
        self.sync("--source", "kobo")
        ids = self.kobo.call("GET", "/_test/ids")
        self.kobo.call("POST", "/_test/delete", {"id": ids[0]})
        self.sync("--source", "kobo")
        doc = self.json("kobo", "status")
        self.assertEqual((doc["forms"][0]["deleted"], doc["deleted"]),
                         (0, []))
        self.set_deleted("sometimes")
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 1, err)
        self.assertIn("[kobo] deleted must be ignore or report", err)


class TestNoProgram(KoboTestCase):
    seed = 3

    def setUp(self):
        super().setUp()
        os.unlink(self.db)
        self.ok("init", "--server", self.f121.url, "--program", "3", "--user",
                USER, "--store", self.db, "--force")
        self.ok("kobo", "setup", "--url", self.kobo.url, "--asset", ASSET,
                "--mapping", self.mapping, "--fsp", FSP)

    def test_kobo_waits_for_the_program(self):
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 3, err)
        self.assertIn("program 3 of form %s is not in the store" % ASSET, err)
        self.sync()                        # 121 runs first, then kobo
        self.assertEqual(self.status()["imported"], 3)
        self.sync()
        self.assertEqual(self.count_121(), 3)


class TestServer(KoboTestCase):
    seed = 250
    kobo_args = ("--max-limit", "100")

    def test_clamped_pages_429_and_500(self):
        self.kobo.call("POST", "/_test/faults", {"rate_limit": 2})
        self.sync("--source", "kobo")
        st = self.status()
        self.assertEqual((st["imported"], st["cursor"]),
                         (250, self.kobo.call("GET", "/_test/ids")[-1]))
        self.kobo.call("POST", "/_test/add", {"count": 3})
        self.kobo.call("POST", "/_test/faults", {"fail": 1})
        self.sync("--source", "kobo", code=3)
        self.sync("--source", "kobo")
        self.assertEqual(self.status()["imported"], 253)

    def test_auth_errors(self):
        env = dict(self.env, AGENT_KOBO_TOKEN="wrong")
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo",
                                      env=env)
        self.assertEqual(rc, 5, err)
        self.assertIn("401", err)
        self.assertNotIn("wrong", err)
        env = dict(self.env, AGENT_KOBO_TOKEN="kobo-forbidden-token")
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo",
                                      env=env)
        self.assertEqual(rc, 5, err)
        self.assertIn("403", err)
        self.ok("kobo", "setup", "--url", self.kobo.url, "--asset", "aNoSuch",
                "--mapping", self.mapping)
        rc, out, err = self.run_agent("sync", "--now", "--source", "kobo")
        self.assertEqual(rc, 1, err)
        self.assertIn("form aNoSuch not found", err)


if __name__ == "__main__":
    main()
