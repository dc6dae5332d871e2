"""The offline CLI end to end: help, init and config, registrations, the
outbox, program import and validation, status. No network is used."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import (AgentTestCase, PROGRAM_JSON, VALID, file_mode,  # noqa: E402
                     main, read_text)

COMMANDS = ["init", "config check", "config show", "config path",
            "registrations add", "registrations edit", "registrations status",
            "registrations show", "registrations list", "registrations search",
            "program import", "program show", "outbox", "conflicts list",
            "status"]


class HelpTest(AgentTestCase):
    def test_help_lists_every_command(self):
        out = self.ok("--help", config=False)
        for c in COMMANDS:
            self.assertIn("  " + c + " ", out)
        self.assertIn("Exit codes: 0 ok, 1 failure, 2 usage error", out)

    def test_command_help(self):
        for args in (["help", "registrations", "add"],
                     ["registrations", "add", "--help"],
                     ["-h", "registrations", "add"]):
            out = self.ok(*args, config=False)
            self.assertTrue(out.startswith(
                "Usage: agent registrations add"), out)
            self.assertIn("--file", out)

    def test_version(self):
        self.assertTrue(self.ok("--version", config=False).startswith("agent "))

    def test_no_command_is_usage_error(self):
        rc, out, err = self.run_agent(config=False)
        self.assertEqual(rc, 2)
        self.assertIn("Usage: agent", err)


class InitConfigTest(AgentTestCase):
    def test_init_wrote_private_config_and_store(self):
        self.assertEqual(file_mode(self.conf), 0o600)
        # The store holds personal data: owner only.
        self.assertEqual(file_mode(self.db), 0o600)
        text = read_text(self.conf)
        self.assertIn("url = http://127.0.0.1:9", text)
        self.assertIn("program_id = 3", text)
        self.assertNotIn("password =", text)

    def test_init_refuses_to_overwrite(self):
        line = self.fails("init", "--server", "http://x", "--program", "4",
                          "--user", "v", "--store", self.db)
        self.assertIn("--force", line)
        self.assertIn("program_id = 3", read_text(self.conf))

    def test_init_force_keeps_store(self):
        ref = self.add("fullName=Keep Me")
        out = self.json("init", "--server", "https://h.example", "--program",
                        "5", "--user", "v", "--store", self.db, "--force")
        self.assertEqual(out, {"config": self.conf, "store": self.db})
        self.assertIn("program_id = 5", read_text(self.conf))
        self.assertEqual(self.json("registrations", "show", ref)["fullName"],
                         "Keep Me")

    def test_init_creates_directories(self):
        conf = os.path.join(self.dir, "etc", "agent.conf")
        db = os.path.join(self.dir, "var", "lib", "agent.db")
        self.ok("--config", conf, "init", "--server", "http://127.0.0.1:9",
                "--program", "3", "--user", "u", "--store", db, config=False)
        self.assertTrue(os.path.exists(db))
        self.assertEqual(file_mode(os.path.dirname(db)), 0o700)

    def test_init_needs_its_options(self):
        conf = os.path.join(self.dir, "other.conf")
        self.fails("--config", conf, "init", "--server", "http://x",
                   "--user", "u", code=2, config=False)
        self.fails("--config", conf, "init", "--server", "ftp://x",
                   "--program", "3", "--user", "u", code=2, config=False)
        self.fails("--config", conf, "init", "--server", "http://x",
                   "--program", "3", "--user", "u", "secret", code=2,
                   config=False)
        self.assertFalse(os.path.exists(conf))

    def test_config_path_and_env(self):
        self.assertEqual(self.ok("config", "path").strip(), self.conf)
        env = dict(self.env, AGENT_CONFIG=self.conf)
        self.assertEqual(self.ok("config", "path", config=False,
                                 env=env).strip(), self.conf)
        # --config wins over AGENT_CONFIG.
        env = dict(self.env, AGENT_CONFIG="/nonexistent/agent.conf")
        self.assertEqual(self.ok("config", "path", env=env).strip(),
                         self.conf)
        self.ok("status", config=False, env=dict(self.env,
                                                 AGENT_CONFIG=self.conf))

    def test_config_show_never_prints_password(self):
        env = dict(self.env, AGENT_121_PASSWORD="hunter2-secret")
        out = self.ok("config", "show", env=env)
        self.assertNotIn("hunter2-secret", out)
        self.assertIn("121.url = http://127.0.0.1:9", out)
        self.assertNotIn("121.password ", out)
        self.assertIn("AGENT_121_PASSWORD", out)
        shown = json.loads(self.ok("--json", "config", "show", env=env))
        self.assertEqual(shown["121.program_id"], 3)
        self.assertEqual(shown["121.enabled"], "true")
        self.assertNotIn("121.password", shown)
        self.assertEqual(shown["store.synchronous"], "full")
        self.assertNotIn("hunter2-secret", json.dumps(shown))

    def test_config_check_ok(self):
        self.assertIn(": ok", self.ok("config", "check"))
        self.assertEqual(self.json("config", "check")["ok"], True)


class RegistrationsTest(AgentTestCase):
    def test_add_edit_status_outbox(self):
        out, err = self.ok_err("registrations", "add", "fullName=Jane Doe",
                               "phoneNumber=31600000001", "householdSize=4")
        ref = out.strip()
        self.assertIn("warning: no definition of program 3 is stored; "
                      "entry checked for form only", err)
        self.ok("registrations", "edit", ref, "fullName=Jane Q Doe",
                "--reason", "typo")
        self.ok("registrations", "status", ref, "included")

        outbox = self.json("outbox")
        self.assertEqual([e["kind"] for e in outbox],
                         ["create", "edit", "status"])
        self.assertEqual(sorted(e["seq"] for e in outbox),
                         [e["seq"] for e in outbox])
        for e in outbox:
            self.assertEqual(e["referenceId"], ref)
            self.assertEqual(e["state"], "pending")
            self.assertEqual(e["attempts"], 0)
            self.assertIsInstance(e["payload"], dict)
            self.assertTrue(e["op_id"])
            self.assertTrue(e["created_at"].endswith("Z"))
        create, edit, status = outbox
        self.assertEqual(create["payload"]["fullName"], "Jane Doe")
        self.assertEqual(edit["payload"]["data"], {"fullName": "Jane Q Doe"})
        self.assertEqual(edit["payload"]["reason"], "typo")
        self.assertEqual(edit["base"], {"fullName": "Jane Doe"})
        self.assertEqual(status["payload"]["status"], "included")
        self.assertEqual(status["base"], {"status": "new"})

        reg = self.json("registrations", "show", ref)
        self.assertEqual(reg["fullName"], "Jane Q Doe")
        self.assertEqual(reg["status"], "included")
        self.assertEqual(reg["householdSize"], "4")
        self.assertEqual(reg["_pending"], 3)

        text = self.ok("registrations", "show", ref)
        self.assertIn("Jane Q Doe", text)
        table = self.ok("outbox")
        self.assertIn("create", table)
        self.assertIn("fullName", table)

    def test_add_json_output_and_value_with_equals(self):
        out = self.json("registrations", "add", "fullName=a=b=c",
                        "note=x", "-q")
        ref = out["referenceId"]
        self.assertEqual(self.json("registrations", "show", ref)["fullName"],
                         "a=b=c")

    def test_edit_clear_and_no_change(self):
        ref = self.add("fullName=Jane", "householdSize=4")
        self.ok("-q", "registrations", "edit", ref, "householdSize=")
        self.assertIsNone(self.json("registrations", "show",
                                    ref)["householdSize"])
        out = self.ok("-q", "registrations", "edit", ref, "fullName=Jane")
        self.assertIn("no change", out)
        self.assertEqual(len(self.json("outbox")), 2)

    def test_globals_anywhere(self):
        self.add("fullName=A")
        a = self.ok("--json", "registrations", "list")
        b = self.ok("registrations", "list", "--json")
        c = self.ok("registrations", "--json", "list", "-q")
        self.assertEqual(json.loads(a), json.loads(b))
        self.assertEqual(json.loads(a), json.loads(c))

    def test_list_search_status_counts(self):
        refs = [self.add("fullName=Person %d" % i,
                         "phoneNumber=3160000000%d" % i) for i in range(3)]
        self.ok("registrations", "status", refs[1], "validated")
        regs = self.json("registrations", "list")
        self.assertEqual([r["referenceId"] for r in regs], refs)
        self.assertEqual(len(self.json("registrations", "list", "--status",
                                       "new")), 2)
        self.assertEqual(len(self.json("registrations", "list", "--limit",
                                       "2")), 2)
        page = self.json("registrations", "list", "--limit", "2", "--offset",
                         "2")
        self.assertEqual([r["referenceId"] for r in page], [refs[2]])
        where = self.json("registrations", "list", "--where",
                          "phoneNumber=31600000001")
        self.assertEqual([r["referenceId"] for r in where], [refs[1]])

        out, err = self.ok_err("registrations", "list", "--limit", "2")
        self.assertIn("showing 1-2 of 3", err)
        self.assertIn("Person 0", out)
        self.assertIn("referenceId", out.splitlines()[0])

        found = self.json("registrations", "search", "person 2")
        self.assertEqual([r["referenceId"] for r in found], [refs[2]])
        found = self.json("registrations", "search", "6000000")
        self.assertEqual(len(found), 3)
        self.assertIn("Person 1", self.ok("registrations", "search",
                                          "0000001"))

        st = self.json("status")
        self.assertEqual(st["registrations"], 3)
        self.assertEqual(st["pending"], 4)
        self.assertEqual(st["conflicts"], 0)
        self.assertEqual(st["rejected"], 0)
        self.assertIsNone(st["last_sync"]["121"])
        # Every compiled-in source is listed, from the connector registry.
        names = [s["name"] for s in st["sources"]]
        self.assertEqual(names[0], "121")
        self.assertEqual(sorted(names), sorted(st["last_sync"].keys()))
        src = st["sources"][0]
        self.assertEqual(src["enabled"], True)
        self.assertIsNone(src["last_sync"])
        self.assertIsNone(src["last_error"])
        self.assertEqual(src["pending"], 4)
        self.assertEqual(src["conflicts"], 0)
        for other in st["sources"][1:]:
            self.assertEqual(other["enabled"], False)
        self.assertEqual(st["store"], self.db)
        self.assertEqual(st["program_id"], 3)
        self.assertGreaterEqual(st["schema_version"], 1)
        text = self.ok("status")
        self.assertIn("never", text)
        self.assertIn(self.db, text)

    def test_json_file_object_and_array(self):
        one = self.write("one.json", json.dumps({"fullName": "F One"}))
        out = self.json("-q", "registrations", "add", "--file", one)
        self.assertEqual(list(out), ["referenceId"])
        arr = self.write("arr.json", json.dumps(
            [{"fullName": "F Two"}, {"fullName": "F Three",
                                     "householdSize": 3}]))
        out = self.json("-q", "registrations", "add", "--file", arr)
        self.assertEqual(len(out), 2)
        names = [self.json("registrations", "show", o["referenceId"])
                 ["fullName"] for o in out]
        self.assertEqual(names, ["F Two", "F Three"])

    def test_array_is_all_or_nothing(self):
        self.add("fullName=Existing", "referenceId=ref-existing-1")
        before = self.snapshot()
        arr = self.write("arr.json", json.dumps(
            [{"fullName": "New One", "referenceId": "ref-new-0001"},
             {"fullName": "Clash", "referenceId": "ref-existing-1"}]))
        line = self.fails("-q", "registrations", "add", "--file", arr)
        self.assertIn("item 2", line)
        self.assertEqual(self.snapshot(), before)

    def test_status_reason_and_conflicts(self):
        ref = self.add("fullName=Jane")
        self.ok("registrations", "status", ref, "declined", "--reason",
                "moved away")
        self.assertEqual(self.json("registrations", "show", ref)["status"],
                         "declined")
        self.assertEqual(self.json("outbox")[-1]["payload"]["reason"],
                         "moved away")
        self.assertEqual(self.json("conflicts", "list"), [])
        self.assertIn("referenceId", self.ok("conflicts", "list"))
        self.fails("conflicts", "show", "1")


class ProgramTest(AgentTestCase):
    def test_import_show_and_validate(self):
        out = self.ok("program", "import", PROGRAM_JSON)
        self.assertIn("program 3 stored", out)
        prog = self.json("program", "show")
        self.assertEqual(prog["id"], 3)
        self.assertIn("fullName", self.ok("program", "show", "3"))

        # Valid entry: no warning.
        out, err = self.ok_err("registrations", "add", *VALID)
        self.assertNotIn("warning", err)
        ref = out.strip()

        line = self.fails("registrations", "add", "fullName=No Phone",
                          "programFspConfigurationName=Intersolve-voucher-paper")
        self.assertIn("phoneNumber", line)
        line = self.fails("registrations", "add", *VALID, "favouriteColour=red")
        self.assertIn("favouriteColour", line)
        line = self.fails("registrations", "add", *VALID, "district=east")
        self.assertIn("district", line)
        self.assertNotIn("east", line.split("district", 1)[0])
        line = self.fails("registrations", "edit", ref, "householdSize=many")
        self.assertIn("householdSize", line)
        self.ok("registrations", "edit", ref, "district=north")
        self.assertEqual(len(self.json("registrations", "list")), 1)

    def test_import_fixture_shape(self):
        fixture = os.path.join(self.dir, "fixture.json")
        with open(fixture, "w") as f:
            json.dump({"_http": {"status": 200},
                       "body": json.loads(read_text(PROGRAM_JSON))}, f)
        self.assertEqual(self.json("program", "import", fixture),
                         {"programId": 3})
        self.assertEqual(self.json("status")["program_stored"], True)

    def test_show_without_program(self):
        line = self.fails("program", "show")
        self.assertIn("program import", line)


if __name__ == "__main__":
    main()
