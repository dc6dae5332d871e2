#!/usr/bin/env python3
"""End-to-end: the real `agent` binary against the fake 121 server.

Covers the first sync of a program, offline changes then sync, the same
field changed on both sides (conflict and each resolution), different
fields (merge), a create whose answer was lost (no duplicate), an
unreachable server (exit 3, nothing lost), a wrong password (exit 5),
malformed JSON from the server (store unchanged), and two devices editing
the same people.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402

FSP = "programFspConfigurationName=Intersolve-voucher-paper"


class SyncTestCase(AgentTestCase):
    seed = 120

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(self.seed),
                               "--seed-payments", "1")
        self.addCleanup(self.fake.stop)
        self.use_server(self.conf, self.db)
        self.env["AGENT_121_PASSWORD"] = PASSWORD

    def use_server(self, conf, db, extra=""):
        """Point a config at the fake, with quick retries for tests."""
        text = ("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                "user = %s\n[sync]\nmax_attempts = 4\nbackoff_base_ms = 20\n"
                "backoff_cap_ms = 200\n%s" % (db, self.fake.url, USER, extra))
        with open(conf, "w") as f:
            f.write(text)
        os.chmod(conf, 0o600)

    def sync(self, *args, code=0, conf=None):
        cmd = ["--json"] + (["--config", conf] if conf else []) + \
            ["sync", "--now"] + list(args)
        rc, out, err = self.run_agent(*cmd, config=conf is None)
        self.assertEqual(rc, code, "sync exit %d (want %d): %s %s" %
                         (rc, code, out, err))
        return json.loads(out)

    def server_value(self, ref, field):
        return self.fake.registration(ref)["registration"].get(field)

    def local(self, ref, conf=None):
        args = ["--json"] + (["--config", conf] if conf else []) + \
            ["registrations", "show", ref]
        rc, out, err = self.run_agent(*args, config=conf is None)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def pulled_ref(self):
        """A referenceId of a pulled, editable (new or included) person."""
        for status in ("new", "included"):
            regs = self.json("registrations", "list", "--status", status,
                             "--limit", "5")
            if regs:
                return regs[0]["referenceId"]
        self.fail("no registration pulled")


class TestFirstSync(SyncTestCase):
    def test_first_sync_pulls_the_program(self):
        doc = self.sync()
        self.assertEqual(doc["result"], "ok")
        live = self.fake.state()["programs"]["3"]["registrations_live"]
        regs = self.json("registrations", "list", "--limit", "100000")
        self.assertEqual(len(regs), live)
        self.assertEqual(doc["pulled"], live)
        status = self.json("status")
        self.assertIsNotNone(status["last_sync"]["121"])
        self.assertEqual(status["pending"], 0)
        # A second sync downloads almost nothing.
        again = self.sync()
        self.assertEqual(again["pulled"], 0)
        self.assertLess(again["bytes_wire"], 20000)


class TestOfflineThenSync(SyncTestCase):
    def test_create_edit_status_reach_the_server(self):
        self.sync()
        new_ref = self.add("fullName=Field Person", "phoneNumber=31611111111",
                           FSP, "preferredLanguage=en")
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=17",
                "--reason", "visit")
        self.ok("registrations", "status", new_ref, "validated")
        self.assertEqual(self.json("status")["pending"], 3)

        self.sync()
        self.fake.flush()
        self.sync()  # confirms the asynchronous status change
        self.assertEqual(self.json("status")["pending"], 0)
        self.assertEqual(self.server_value(new_ref, "status"), "validated")
        self.assertEqual(self.server_value(ref, "householdSize"), "17")
        self.assertEqual(self.local(ref)["householdSize"], "17")
        self.assertEqual(self.local(new_ref)["status"], "validated")


    def test_server_clock_comes_with_the_login(self):
        """The push's check window starts at the login on the server's
        clock, read from the login answer: no GET /api/users/current (a
        round trip, 0.6 s on 2G) in a sync."""
        self.sync()
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=16")
        self.fake.call("POST", "/_test/reset-stats", {})
        doc = self.sync()
        self.assertEqual(doc["result"], "ok")
        reqs = self.fake.call("GET", "/_test/requests?limit=1000")["requests"]
        paths = [r["method"] + " " + r["path"].split("?")[0] for r in reqs]
        self.assertIn("POST /api/users/login", paths)
        self.assertIn("PATCH /api/programs/3/registrations/" + ref, paths)
        self.assertNotIn("GET /api/users/current", paths)
        self.assertEqual(doc["requests"], len(reqs))
        self.assertEqual(self.server_value(ref, "householdSize"), "16")

class TestConflicts(SyncTestCase):
    def conflict(self):
        self.sync()
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=13")
        self.fake.edit(ref, {"householdSize": "19"})
        doc = self.sync(code=4)
        self.assertEqual(doc["open_conflicts"], 1)
        conflicts = self.json("conflicts", "list")
        self.assertEqual(len(conflicts), 1)
        c = conflicts[0]
        self.assertEqual(c["referenceId"], ref)
        self.assertEqual(c["field"], "householdSize")
        self.assertEqual(str(c["local"]), "13")
        self.assertEqual(str(c["server"]), "19")
        return ref, c["id"]

    def test_take_local(self):
        ref, cid = self.conflict()
        self.ok("conflicts", "resolve", str(cid), "--take", "local")
        self.sync()
        self.assertEqual(self.local(ref)["householdSize"], "13")
        self.assertEqual(self.json("conflicts", "list"), [])
        self.assertEqual(self.server_value(ref, "householdSize"), "13")

    def test_take_server(self):
        ref, cid = self.conflict()
        self.ok("conflicts", "resolve", str(cid), "--take", "server")
        doc = self.sync()
        self.assertEqual(self.local(ref)["householdSize"], "19")
        self.assertEqual(self.server_value(ref, "householdSize"), "19")
        self.assertEqual(doc["open_conflicts"], 0)

    def test_new_value(self):
        ref, cid = self.conflict()
        self.ok("conflicts", "resolve", str(cid), "--value", "15")
        self.sync()
        self.assertEqual(self.local(ref)["householdSize"], "15")
        self.assertEqual(self.server_value(ref, "householdSize"), "15")

    def test_different_fields_merge(self):
        self.sync()
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=14")
        self.fake.edit(ref, {"district": "south"})
        self.sync()
        view = self.local(ref)
        self.assertEqual(view["householdSize"], "14")
        self.assertEqual(view["district"], "south")
        self.assertEqual(self.server_value(ref, "householdSize"), "14")
        self.assertEqual(self.server_value(ref, "district"), "south")
        self.assertEqual(self.json("conflicts", "list"), [])


class TestFailures(SyncTestCase):
    def test_unreachable_server_exits_3_and_keeps_everything(self):
        self.add("fullName=Offline Person", "phoneNumber=31622222222", FSP)
        before = self.snapshot()
        self.use_server(self.conf, self.db)
        text = open(self.conf).read().replace(self.fake.url,
                                              "http://127.0.0.1:9")
        with open(self.conf, "w") as f:
            f.write(text)
        doc = self.sync(code=3)
        self.assertEqual(doc["result"], "offline")
        self.assertEqual(self.snapshot(), before)

    def test_wrong_password_exits_5(self):
        self.env["AGENT_121_PASSWORD"] = "wrong"
        doc = self.sync(code=5)
        self.assertEqual(doc["result"], "auth")

    def test_malformed_json_leaves_the_store_unchanged(self):
        self.add("fullName=Kept Person", "phoneNumber=31633333333", FSP)
        before = self.snapshot()
        self.fake.fault(malformed_json=True, path_contains="registrations",
                        count=100)
        rc, out, err = self.run_agent("--json", "sync", "--now",
                                      "--pull-only")
        self.assertEqual(rc, 1, err)
        self.assertIn("malformed", json.loads(out)["error"])
        self.assertEqual(self.snapshot(), before)

    def test_create_whose_answer_was_lost_is_not_duplicated(self):
        self.sync()
        ref = self.add("fullName=Retry Person", "phoneNumber=31644444444",
                       FSP)
        self.fake.fault(fail_status=502, fail_after_apply=True,
                        path_contains="/registrations", fail_count=1)
        self.sync()
        self.assertEqual(self.json("status")["pending"], 0)
        created = [e for e in self.fake.registration(ref)["events"]
                   if e["fieldChanged"] == "status" and
                   e["newValue"] == "new"]
        self.assertEqual(len(created), 1)
        # The POST really was answered with a failure once.
        self.assertIn("502", json.dumps(self.fake.state()["by_status"]))


class TestSources(SyncTestCase):
    def test_report_has_one_entry_per_source(self):
        doc = self.sync("--source", "121")
        self.assertEqual(doc["result"], "ok")
        self.assertEqual([s["source"] for s in doc["sources"]], ["121"])
        one = doc["sources"][0]
        self.assertEqual(one["result"], "ok")
        self.assertEqual(one["pulled"], doc["pulled"])
        self.assertEqual(one["requests"], doc["requests"])
        self.assertIsNone(one["error"])
        # The text report: the total, then a line per source.
        rc, out, err = self.run_agent("sync", "--now")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("sync: pulled "), out)
        self.assertRegex(out, r"\n  121 +ok: pulled \d+")
        status = self.json("status")
        src = [x for x in status["sources"] if x["name"] == "121"][0]
        self.assertIsNotNone(src["last_sync"])
        self.assertIn("source 121", self.ok("status"))

    def test_unknown_source_is_a_usage_error(self):
        rc, out, err = self.run_agent("sync", "--now", "--source", "nope")
        self.assertEqual(rc, 2, err)
        self.assertIn("'nope'", err)
        self.assertIn("121", err)       # lists the compiled-in sources

    def test_disabled_source_names_its_section(self):
        rc, out, err = self.run_agent("sync", "--now", "--source", "file")
        self.assertEqual(rc, 1, err)
        self.assertIn("[file]", err)
        self.assertIn("disabled", err)


class TestTwoDevices(SyncTestCase):
    def test_both_converge_and_the_loser_sees_the_conflict(self):
        conf2 = os.path.join(self.dir, "agent2.conf")
        db2 = os.path.join(self.dir, "agent2.db")
        self.ok("--config", conf2, "init", "--server", self.fake.url,
                "--program", "3", "--user", USER, "--store", db2,
                config=False)
        self.use_server(conf2, db2)
        self.sync()
        self.sync(conf=conf2)
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=12")
        self.ok("--config", conf2, "registrations", "edit", ref,
                "householdSize=18", config=False)
        self.sync()                       # device 1 wins the race
        doc = self.sync(conf=conf2, code=4)  # device 2 sees the conflict
        self.assertEqual(doc["open_conflicts"], 1)
        rc, out, err = self.run_agent("--json", "--config", conf2,
                                      "conflicts", "list", config=False)
        c = json.loads(out)[0]
        self.assertEqual(str(c["server"]), "12")
        self.assertEqual(str(c["local"]), "18")
        self.ok("--config", conf2, "conflicts", "resolve", str(c["id"]),
                "--take", "server", config=False)
        self.sync(conf=conf2)
        self.sync()
        self.assertEqual(self.local(ref)["householdSize"], "12")
        self.assertEqual(self.local(ref, conf=conf2)["householdSize"], "12")


if __name__ == "__main__":
    main()
