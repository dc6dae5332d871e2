#!/usr/bin/env python3
"""End-to-end: `agent kobo program ASSET --create` and `agent kobo
validation-csv ASSET --upload` (issue 8, items 6 and 7) between the fake
KoboToolbox (tests/fakekobo/, media.py) and the fake 121 server
(routes_programs.py).

  - the program is created exactly once although the answer to its POST is
    lost (the fake applies it, then answers 502), with its FSP
    configurations; the new id is shown with how to point the form at it;
  - a form 121 would refuse is refused offline with one line, nothing
    queued;
  - the media file is replaced (the old one deleted) and the form
    redeployed exactly once although the answer to the upload is lost;
    offline the upload stays queued and the next kobo sync does it.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import launcher  # noqa: E402,F401  (fake121_fixture put tests/fakes on the path)
from test_cli_kobo import FakeKobo, TOKEN, ASSET, FSP, MAPPING, TESTS_DIR  # noqa: E402

PROGRAM_FORM = os.path.join(TESTS_DIR, "fakekobo", "asset_program.json")
PASSET = "aSynthProgram000000000001"


class JobsCase(AgentTestCase):
    f121_args = ("--seed-registrations", "0")
    kobo_args = ("--seed", "0")
    asset = ASSET

    def setUp(self):
        super().setUp()
        self.f121 = FakeServer(*self.f121_args)
        self.addCleanup(self.f121.stop)
        self.kobo = FakeKobo(*self.kobo_args)
        self.addCleanup(self.kobo.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 2\nbackoff_base_ms = 20\n"
                    "backoff_cap_ms = 100\n" % (self.db, self.f121.url, USER))
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.env["AGENT_KOBO_TOKEN"] = TOKEN
        self.mapping = self.write("map.json", json.dumps(MAPPING))
        self.ok("kobo", "setup", "--url", self.kobo.url, "--asset", self.asset,
                "--mapping", self.mapping, "--fsp", FSP)
        self.sync("--source", "121")
        self.sync("--source", "kobo")       # stores the form

    def sync(self, *args, code=0):
        rc, out, err = self.run_agent("--json", "sync", "--now", *args,
                                      timeout=300)
        if code is not None:
            self.assertEqual(rc, code, "sync %r exit %d: %s %s" %
                             (args, rc, out, err))
        return rc, err

    def jobs(self):
        return self.json("kobo", "status")["jobs"]

    def programs(self):
        return self.f121.call("GET", "/_test/state")["programs"]


class TestProgramCreate(JobsCase):
    f121_args = ("--seed-registrations", "0", "--org-admin")
    kobo_args = ("--seed", "0", "--asset-file", PROGRAM_FORM, "--asset",
                 PASSET)
    asset = PASSET

    def test_created_once_through_a_lost_answer(self):
        doc = self.json("kobo", "program", PASSET, "--create")
        plan = doc["plan"]
        self.assertEqual(plan["program"]["currency"], "KES")
        self.assertEqual([f["name"] for f in plan["fspConfigurations"]],
                         ["Intersolve-voucher-paper", "Excel"])
        names = [a["name"] for a in
                 plan["program"]["programRegistrationAttributes"]]
        self.assertNotIn("fsp", names)
        # shown as waiting by status and outbox; a second request refused
        self.assertEqual(self.json("status")["jobs"], 1)
        self.assertIn("create a 121 program from Kobo form " + PASSET,
                      self.ok("outbox"))
        self.assertIn("queued already", self.fails(
            "kobo", "program", PASSET, "--create"))
        # the fake creates the program, then the answer is lost (502)
        self.f121.fault(path_contains="/api/programs", method="POST",
                        fail_status=502, fail_after_apply=True)
        rc, err = self.sync("--source", "121", code=None)
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(sorted(self.programs()), ["3", "4"])
        self.assertEqual(self.jobs()[0]["state"], "inflight")
        # the next sync finds it by its request key instead of posting again
        self.sync("--source", "121")
        progs = self.programs()
        self.assertEqual(sorted(progs), ["3", "4"])
        self.assertEqual(progs["4"]["title"], "Cash pilot from Kobo")
        self.assertEqual(progs["4"]["fsp_configurations"],
                         ["Intersolve-voucher-paper", "Excel"])
        self.assertIn("household_size", progs["4"]["attributes"])
        job = self.jobs()[0]
        self.assertEqual((job["state"], job["result"]["program_id"]),
                         ("done", 4))
        self.assertIn("--program 4", self.ok("kobo", "status"))
        self.assertEqual(self.json("status")["jobs"], 0)
        self.sync("--source", "121")
        self.assertEqual(sorted(self.programs()), ["3", "4"])
        self.assertIn("program 4 was created", self.fails(
            "kobo", "program", PASSET, "--create"))

    def test_refused_without_org_admin(self):
        self.f121.call("POST", "/_test/config", {"org_admin": False})
        self.ok("kobo", "program", PASSET, "--create")
        rc, out, err = self.run_agent("--json", "sync", "--now", "--source",
                                      "121")
        self.assertEqual((rc, json.loads(out)["rejected"]), (0, 1), err)
        job = self.jobs()[0]
        self.assertEqual(job["state"], "rejected")
        self.assertIn("organization admin", job["message"])
        self.assertEqual(sorted(self.programs()), ["3"])


class TestBadForm(JobsCase):
    def test_refused_offline_with_one_line(self):
        # the synthetic form has neither a currency nor an FSP question
        self.f121.stop()
        self.kobo.stop()
        line = self.fails("kobo", "program", ASSET, "--create")
        self.assertIn("form %s" % ASSET, line)
        self.assertIn("currency", line)
        self.assertEqual(self.jobs(), [])
        self.fails("kobo", "program", "aNotStored", "--create")


class TestMediaUpload(JobsCase):
    kobo_args = ("--seed", "4")

    def media(self):
        return self.kobo.call("GET", "/_test/media")

    def test_replaced_and_redeployed_once_through_a_lost_answer(self):
        self.kobo.call("POST", "/_test/media",
                       {"filename": "ValidationDataFrom121.csv",
                        "text": "referenceId\nold\n"})
        self.kobo.call("POST", "/_test/faults", {"lose_upload": 1})
        out = os.path.join(self.dir, "v.csv")
        rc, _, err = self.run_agent("kobo", "validation-csv", ASSET,
                                    "--upload", "--out", out)
        self.assertNotEqual(rc, 0, err)
        self.assertIn("stays queued", err)
        m = self.media()
        self.assertEqual((len(m["files"]), m["uploads"], m["deletes"],
                          m["redeploys"]), (1, 1, 1, 0))
        self.sync("--source", "kobo")
        m = self.media()
        self.assertEqual((len(m["files"]), m["uploads"], m["redeploys"]),
                         (1, 1, 1))
        with open(out) as f:
            self.assertEqual(m["files"][0]["text"], f.read())
        self.assertEqual(len(m["files"][0]["text"].splitlines()), 5)
        self.assertEqual(self.jobs()[0]["state"], "done")
        self.sync("--source", "kobo")
        self.assertEqual(self.media()["redeploys"], 1)

    def test_offline_upload_waits_for_the_next_sync(self):
        self.kobo.call("POST", "/_test/faults", {"drop": 1000})
        rc, _, err = self.run_agent("kobo", "validation-csv", ASSET,
                                    "--upload", "--out",
                                    os.path.join(self.dir, "v.csv"))
        self.assertNotEqual(rc, 0, err)
        self.assertIn("stays queued", err)
        self.assertEqual(self.json("status")["jobs"], 1)
        self.assertIn("upload ValidationDataFrom121.csv to Kobo form",
                      self.ok("outbox"))
        # a second upload replaces the first one not sent yet
        doc = self.json("kobo", "validation-csv", ASSET, "--upload",
                        "--no-sync", "--out", os.path.join(self.dir, "w.csv"))
        self.assertEqual(doc["state"], "pending")
        self.kobo.call("POST", "/_test/faults", {"drop": 0})
        self.sync("--source", "kobo")
        m = self.media()
        self.assertEqual((len(m["files"]), m["uploads"], m["redeploys"]),
                         (1, 1, 1))
        states = sorted(j["state"] for j in self.jobs())
        self.assertEqual(states, ["done", "rejected"])


if __name__ == "__main__":
    main()
