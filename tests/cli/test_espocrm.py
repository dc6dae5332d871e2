#!/usr/bin/env python3
"""End-to-end: the real `agent` with [121] and [espocrm] against the fake
121 server and the fake EspoCRM (tests/fakeespo/fakeespo.py).

Covers `agent espocrm setup`/`status`, API key and HMAC, the first link,
edits both ways in one sync and a third sync that writes nothing (2,000
records), a field changed on both sides (conflict with both values) and
different fields (merged), 300 records in one modifiedAt second over two
pages pulled once, maxSize refusals, a 400 on one record, 401/403 (exit 5).
"""

import json
import os
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import launcher  # noqa: E402  (fake121_fixture put tests/fakes on the path)

TESTS_DIR = os.environ.get(
    "AGENT_TESTS_DIR",
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE_ESPO = os.path.join(TESTS_DIR, "fakeespo", "fakeespo.py")
KEY, SECRET = "espo-test-key", "espo-test-secret"
MAPPING = {
    "name": "fullName",
    "phoneNumber": "phoneNumber",
    "cDistrict": {"field": "district",
                  "values": {"north": "North", "south": "South"}},
    "cHouseholdSize": {"field": "householdSize", "type": "number"},
}
WRITES = ("PUT", "PATCH", "POST", "DELETE")


class Espo:
    def __init__(self, *args):
        self.fake = launcher.start_script(FAKE_ESPO, "--api-key", KEY,
                                          *args, port_arg=True,
                                          prefix="fakeespo-")
        self.url = self.fake.url

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def seed(self, records, modified=None):
        return self.call("POST", "/_test/records",
                         {"records": records, "modifiedAt": modified})

    def edit(self, rid, data, modified=None):
        return self.call("POST", "/_test/edit",
                         {"id": rid, "data": data, "modifiedAt": modified})

    def record(self, rid):
        return self.call("GET", "/_test/record/" + rid)

    def stats(self):
        return self.call("GET", "/_test/stats")

    def reset_stats(self):
        self.call("POST", "/_test/reset_stats", {})

    def faults(self, **kw):
        self.call("POST", "/_test/faults", kw)

    def stop(self):
        self.fake.stop()


def espo_record(reg):
    """The EspoCRM copy of a 121 registration (phone in another form)."""
    size = reg.get("householdSize")
    return {
        "name": reg.get("fullName"),
        "phoneNumber": "+" + reg["phoneNumber"] if reg.get("phoneNumber")
        else None,
        "cDistrict": {"north": "North", "south": "South"}.get(
            reg.get("district")),
        "cHouseholdSize": int(size) if size not in (None, "") else None,
        "cReferenceId": reg["referenceId"],
    }


class EspoTestCase(AgentTestCase):
    seed = 40
    espo_args = ("--occ",)

    def setUp(self):
        super().setUp()
        self.f121 = FakeServer("--seed-registrations", str(self.seed),
                               "--seed-payments", "0")
        self.addCleanup(self.f121.stop)
        self.espo = Espo(*self.espo_args)
        self.addCleanup(self.espo.stop)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.env["AGENT_ESPOCRM_API_KEY"] = KEY
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 2\n"
                    "backoff_base_ms = 20\nbackoff_cap_ms = 100\n"
                    % (self.db, self.f121.url, USER))
        os.chmod(self.conf, 0o600)
        self.mapping = os.path.join(self.dir, "mapping.json")
        with open(self.mapping, "w") as f:
            json.dump(MAPPING, f)

    def setup_espo(self, *extra):
        self.ok("espocrm", "setup", "--url", self.espo.url, "--entity",
                "Contact", "--reference-field", "cReferenceId", "--mapping",
                self.mapping, *extra)

    def sync(self, *args, code=0):
        rc, out, err = self.run_agent("--json", "sync", "--now", *args)
        self.assertEqual(rc, code, "sync exit %d (want %d): %s %s"
                         % (rc, code, out, err))
        return json.loads(out) if out.strip() else None

    def regs(self):
        return self.json("registrations", "list", "--limit", "100000")

    def link_all(self):
        """121 first, then EspoCRM seeded with the same people, linked."""
        self.setup_espo()
        self.sync("--source", "121")
        regs = [r for r in self.regs() if r.get("phoneNumber")]
        ids = self.espo.seed([espo_record(r) for r in regs])
        self.ids = dict(zip([r["referenceId"] for r in regs], ids))
        self.refs = [r["referenceId"] for r in regs]
        self.sync()
        return regs

    def writes_121(self):
        routes = self.f121.state()["by_route"]
        return sum(n for r, n in routes.items()
                   if r.split(" ")[0] in WRITES and "login" not in r)

    def writes_espo(self):
        s = self.espo.stats()
        return sum(s.get(m, 0) for m in WRITES)

    def status(self):
        return self.json("espocrm", "status")


class TestSetup(EspoTestCase):
    def test_setup_writes_the_section_and_status(self):
        self.setup_espo()
        rc, out, err = self.run_agent("config", "show")
        self.assertEqual(rc, 0, err)
        self.assertIn("espocrm.entity", out)
        self.assertNotIn(KEY, out)
        self.ok("config", "check")
        st = self.status()
        for k in ("linked", "pending_to_espocrm", "pending_to_121",
                  "conflicts", "cursor"):
            self.assertIn(k, st)
        self.assertEqual(st["linked"], 0)

    def test_bad_mapping_is_refused(self):
        with open(self.mapping, "w") as f:
            json.dump({"a": "status"}, f)
        rc, out, err = self.run_agent("espocrm", "setup", "--url",
                                      self.espo.url, "--entity", "Contact",
                                      "--reference-field", "cReferenceId",
                                      "--mapping", self.mapping)
        self.assertEqual(rc, 1)
        self.assertIn("status", err)

    def test_mapping_checked_against_the_program(self):
        with open(self.mapping, "w") as f:
            json.dump({"name": "fullName", "cX": "noSuchAttribute"}, f)
        self.setup_espo()
        self.sync("--source", "121")
        rc, out, err = self.run_agent("config", "check")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("noSuchAttribute", out + err)


class TestBothWays(EspoTestCase):
    seed = 2070     # about 3 % are deleted in 121: 2,000+ live ones

    def test_edits_both_ways_then_nothing(self):
        regs = self.link_all()
        st = self.status()
        self.assertEqual(st["linked"], len(regs))
        self.assertGreaterEqual(st["linked"], 2000)
        self.assertEqual(st["pending_to_espocrm"], 0)
        self.assertEqual(self.writes_espo(), 0, "first link wrote")
        by_ref = {r["referenceId"]: r for r in regs}
        editable = [r for r in self.refs
                    if by_ref[r]["status"] in ("new", "included")]
        espo_side, side_121 = editable[:40], editable[40:80]
        merge, conflict = editable[80], editable[81]
        for ref in espo_side:
            self.espo.edit(self.ids[ref], {"name": "Espo " + ref})
        for ref in side_121:
            self.f121.edit(ref, {"householdSize": "9"})
        # merge: a different field on each side
        self.espo.edit(self.ids[merge], {"name": "Merged " + merge})
        self.f121.edit(merge, {"householdSize": "7"})
        # conflict: the same field on both sides
        self.espo.edit(self.ids[conflict], {"name": "Espo side"})
        self.f121.edit(conflict, {"fullName": "121 side"})
        self.espo.reset_stats()
        self.f121.call("POST", "/_test/reset-stats", {})

        doc = self.sync(code=4)     # 4: the conflict needs a person
        w1_121, w1_espo = self.writes_121(), self.writes_espo()
        self.assertEqual(doc["open_conflicts"], 1, doc)
        self.f121.flush()   # 121 applies a bulk (CSV) update asynchronously
        for ref in espo_side:
            self.assertEqual(
                self.f121.registration(ref)["registration"]["fullName"],
                "Espo " + ref)
        for ref in side_121:
            self.assertEqual(self.espo.record(self.ids[ref])
                             ["cHouseholdSize"], 9)
        self.assertEqual(
            self.f121.registration(merge)["registration"]["fullName"],
            "Merged " + merge)
        self.assertEqual(self.espo.record(self.ids[merge])["cHouseholdSize"],
                         7)
        conflicts = self.json("conflicts", "list")
        self.assertEqual(len(conflicts), 1)
        c = conflicts[0]
        self.assertEqual(c["referenceId"], conflict)
        self.assertEqual(c["field"], "fullName")
        text = json.dumps(c)
        self.assertIn("Espo side", text)
        self.assertIn("121 side", text)
        self.assertEqual(self.status()["conflicts"], 1)

        self.sync(code=4)
        self.espo.reset_stats()
        self.f121.call("POST", "/_test/reset-stats", {})
        doc = self.sync(code=4)    # third sync: nothing to write
        self.assertEqual(self.writes_espo(), 0)
        self.assertEqual(self.writes_121(), 0)
        st = self.status()
        self.assertEqual(st["pending_to_espocrm"], 0)
        self.assertEqual(st["pending_to_121"], 1)   # the one in conflict
        print("\nmust-show: %d linked; sync 1: %d EspoCRM edits reached 121 "
              "(%d write requests to 121), %d 121 edits reached EspoCRM (%d "
              "write requests), 1 conflict; sync 3: 0 write requests (%d "
              "requests in all)" % (st["linked"], len(espo_side) + 1, w1_121,
                                   len(side_121) + 1, w1_espo,
                                   doc["requests"]), file=sys.stderr)

        # the conflict, settled with the 121 value, reaches EspoCRM
        self.ok("conflicts", "resolve", str(c["id"]), "--take", "server")
        self.sync()
        self.assertEqual(self.espo.record(self.ids[conflict])["name"],
                         "121 side")
        self.espo.reset_stats()
        self.sync()
        self.assertEqual(self.writes_espo(), 0)
        st = self.status()
        self.assertEqual((st["pending_to_121"], st["pending_to_espocrm"],
                          st["conflicts"]), (0, 0, 0))


class TestSameSecond(EspoTestCase):
    seed = 320

    def test_300_in_one_second_over_two_pages(self):
        regs = self.link_all()
        self.assertGreaterEqual(len(regs), 300)
        self.espo.reset_stats()
        when = "2030-01-01 00:00:00"
        for ref in self.refs[:300]:
            self.espo.edit(self.ids[ref], {"name": "Same second " + ref},
                           modified=when)
        doc = self.sync()
        names = {r["referenceId"]: r.get("fullName") for r in self.regs()}
        self.assertEqual(sum(1 for ref in self.refs[:300]
                             if names[ref] == "Same second " + ref), 300)
        s = self.espo.stats()
        self.assertLessEqual(s["list"], 4, s)
        st = self.status()
        self.assertEqual(st["cursor"], when)
        # pulled once: a second sync finds no change (121 now shows them)
        self.f121.flush()
        doc = self.sync()
        self.assertEqual(doc["pulled"], 0)
        self.assertEqual(self.status()["pending_to_121"], 0)


class TestErrors(EspoTestCase):
    seed = 30
    espo_args = ("--occ", "--max-size", "50")

    def test_max_size_lowered_and_one_record_refused(self):
        regs = self.link_all()
        st = self.status()
        self.assertEqual(st["linked"], len(regs))
        self.assertLessEqual(st["page_size"], 50)
        bad, good = self.refs[0], self.refs[1]
        self.espo.faults(reject_ids=[self.ids[bad]])
        self.f121.edit(bad, {"householdSize": "5"})
        self.f121.edit(good, {"householdSize": "6"})
        doc = self.sync()
        self.assertEqual(doc["rejected"], 1, doc)
        st = self.status()
        self.assertEqual(len(st["rejected"]), 1)
        self.assertIn("Validation failed: phoneNumber", st["rejected"][0])
        self.assertEqual(self.espo.record(self.ids[good])["cHouseholdSize"],
                         6)

    def test_503_is_retried(self):
        self.link_all()
        self.espo.faults(fail={"status": 503, "count": 1})
        self.f121.edit(self.refs[2], {"householdSize": "4"})
        self.sync()
        self.assertEqual(
            self.espo.record(self.ids[self.refs[2]])["cHouseholdSize"], 4)

    def test_409_modified_becomes_a_conflict(self):
        self.link_all()
        ref = self.refs[3]
        self.f121.edit(ref, {"fullName": "121 name"})
        # an EspoCRM change the poll cannot see (modifiedAt in the past)
        self.espo.edit(self.ids[ref], {"name": "Espo late"},
                       modified="2020-01-01 00:00:00")
        self.espo.reset_stats()
        self.sync(code=0)
        self.assertEqual(self.espo.record(self.ids[ref])["name"],
                         "Espo late")            # the 409 wrote nothing
        self.sync(code=4)
        conflicts = self.json("conflicts", "list")
        self.assertEqual(len(conflicts), 1)
        text = json.dumps(conflicts[0])
        self.assertIn("Espo late", text)
        self.assertIn("121 name", text)

    def test_deleted_record_is_reported_and_left_alone(self):
        self.link_all()
        ref = self.refs[4]
        self.espo.call("POST", "/_test/delete", {"id": self.ids[ref]})
        self.sync("--full")            # --full: the id-only walk now
        st = self.status()
        self.assertEqual(st["deleted_in_espocrm"], 1)
        self.f121.edit(ref, {"householdSize": "8"})
        self.espo.reset_stats()
        self.sync()
        self.assertEqual(self.writes_espo(), 0)
        self.assertEqual(self.status()["pending_to_espocrm"], 0)

    def test_deleted_status_queues_the_121_status_change(self):
        self.link_all()
        ref, other = self.refs[4], self.refs[5]
        self.ok("espocrm", "setup", "--url", self.espo.url, "--entity",
                "Contact", "--reference-field", "cReferenceId", "--mapping",
                self.mapping, "--deleted", "status")
        self.espo.call("POST", "/_test/delete", {"id": self.ids[ref]})
        self.sync("--full", "--source", "espocrm")  # the id-only walk
        self.assertEqual(self.status()["deleted_in_espocrm"], 1)
        ops = [(o["referenceId"], o["kind"]) for o in self.json("outbox")]
        self.assertEqual(ops, [(ref, "status")])
        self.sync()                       # 121 gets it (dry run first)
        self.f121.flush()
        self.sync()
        self.assertEqual(
            self.f121.registration(ref)["registration"]["status"], "deleted")
        self.assertNotEqual(
            self.f121.registration(other)["registration"]["status"],
            "deleted")
        # found once: a later walk queues nothing more
        self.sync("--full")
        self.assertEqual(self.json("outbox"), [])
        self.fails("espocrm", "setup", "--url", self.espo.url, "--entity",
                   "Contact", "--reference-field", "cReferenceId",
                   "--mapping", self.mapping, "--deleted", "maybe", code=2)

    def test_wrong_key_is_exit_5(self):
        self.setup_espo()
        self.env["AGENT_ESPOCRM_API_KEY"] = "wrong"
        rc, out, err = self.run_agent("sync", "--now", "--source", "espocrm")
        self.assertEqual(rc, 5, out + err)


class TestCreate(EspoTestCase):
    seed = 10

    def test_new_espo_record_becomes_a_registration(self):
        self.setup_espo("--new-records", "create", "--create-defaults",
                        json.dumps({"programFspConfigurationName":
                                    "Intersolve-voucher-paper",
                                    "preferredLanguage": "en"}))
        self.sync("--source", "121")
        rid = self.espo.seed([{"name": "New Person",
                               "phoneNumber": "+31699999999",
                               "cDistrict": "North",
                               "cHouseholdSize": 2}])[0]
        self.sync()
        ref = self.espo.record(rid).get("cReferenceId")
        self.assertTrue(ref)
        self.f121.flush()
        self.assertEqual(
            self.f121.registration(ref)["registration"]["fullName"],
            "New Person")
        self.sync()
        self.espo.reset_stats()
        self.sync()
        self.assertEqual(self.writes_espo(), 0)
        st = self.status()
        self.assertEqual((st["pending_to_121"], st["pending_to_espocrm"]),
                         (0, 0))


class TestCreateInEspo(EspoTestCase):
    seed = 6

    def test_new_121_registrations_become_records_duplicate_reported(self):
        self.setup_espo("--create-in-espocrm", "true")
        self.sync("--source", "121")
        regs = self.regs()
        # EspoCRM already holds somebody with the name of the first one,
        # without a referenceId: its create is a 409 "duplicate"
        dup = regs[0]
        dup_id = self.espo.seed([{"name": dup["fullName"]}])[0]
        doc = self.sync()
        espo = [s for s in doc["sources"] if s["source"] == "espocrm"][0]
        self.assertEqual(espo["rejected"], 1)
        self.assertEqual(self.espo.stats()["POST"], len(regs))
        st = self.status()
        self.assertEqual(st["linked"], len(regs) - 1)
        self.assertEqual(len(st["rejected"]), 1)
        self.assertIn(dup["referenceId"], st["rejected"][0])
        self.assertIn("HTTP 409: duplicate", st["rejected"][0])
        self.assertIn(dup_id, st["rejected"][0])
        self.assertNotIn(dup["fullName"], st["rejected"][0])
        for r in regs[1:]:                      # the referenceId written
            self.assertTrue(any(
                rec.get("cReferenceId") == r["referenceId"]
                for rec in self.espo.call("GET", "/_test/list")))
        # not sent again, and the agent's own creates are no echo
        self.espo.reset_stats()
        self.sync()
        self.sync()
        self.assertEqual(self.writes_espo(), 0)
        self.assertEqual(self.writes_121(), 0)


class TestForbidden(EspoTestCase):
    seed = 5
    espo_args = ("--forbid",)

    def test_403_is_exit_5_with_the_reason(self):
        self.setup_espo()
        rc, out, err = self.run_agent("sync", "--now", "--source", "espocrm")
        self.assertEqual(rc, 5, out + err)
        self.assertIn("No access to scope", out + err)


class TestHmac(EspoTestCase):
    seed = 20
    espo_args = ("--occ", "--secret", SECRET)

    def test_hmac_link_and_write(self):
        secret = os.path.join(self.dir, "espo.secret")
        with open(secret, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret, 0o600)
        self.setup_espo("--auth", "hmac", "--secret-file", secret)
        self.sync("--source", "121")
        regs = [r for r in self.regs() if r.get("phoneNumber")]
        ids = self.espo.seed([espo_record(r) for r in regs])
        self.sync()
        self.assertEqual(self.status()["linked"], len(regs))
        self.f121.edit(regs[0]["referenceId"], {"householdSize": "3"})
        self.sync()
        self.assertEqual(self.espo.record(ids[0])["cHouseholdSize"], 3)
        self.assertEqual(self.espo.stats()["auth_failed"], 0)


if __name__ == "__main__":
    main()
