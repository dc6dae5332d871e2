#!/usr/bin/env python3
"""Numeric attributes get the same check (c121_validate_fields) on every
CLI path that writes a value: `registrations add` (arguments and --file),
`registrations edit` and `conflicts resolve --value` (which skipped it and
stored 1e308 for the next sync to send). Each refusal is one line naming
the attribute, and nothing is stored."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, VALID, main  # noqa: E402
from test_cli_sync import SyncTestCase  # noqa: E402

HUGE = ["1e308", "-1e308", "9007199254740993", "1e400"]


class OfflineNumbersTest(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.import_program()
        self.ref = self.add(*VALID)
        self.before = self.snapshot()

    def test_file_edit_and_args_refuse_huge_numbers(self):
        for huge in HUGE:
            base = {"fullName": "A", "phoneNumber": "31600000002",
                    "programFspConfigurationName": "Intersolve-voucher-paper"}
            for value in (huge, json.loads(huge) if huge != "1e400"
                          else None):
                if value is None:
                    continue
                one = dict(base, householdSize=value)
                path = self.write("one.json", json.dumps(one))
                line = self.fails("registrations", "add", "--file", path)
                self.assertIn("householdSize", line)
                path = self.write("many.json", json.dumps(
                    [dict(base, householdSize=2), one]))
                line = self.fails("registrations", "add", "--file", path)
                self.assertIn("householdSize", line)
            # The raw text too (1e400 is not a double).
            path = self.write("raw.json", '{"fullName": "A", "phoneNumber": '
                              '"31600000002", "programFspConfigurationName":'
                              ' "Intersolve-voucher-paper", "householdSize":'
                              ' %s}' % huge)
            line = self.fails("registrations", "add", "--file", path)
            self.assertIn("householdSize", line)
            line = self.fails("registrations", "add", *VALID,
                              "householdSize=" + huge)
            self.assertIn("householdSize", line)
            line = self.fails("registrations", "edit", self.ref,
                              "householdSize=" + huge)
            self.assertIn("householdSize", line)
        self.assertEqual(self.snapshot(), self.before)


class ConflictValueTest(SyncTestCase):
    seed = 20

    def test_resolve_value_is_validated(self):
        self.sync()
        ref = self.pulled_ref()
        self.ok("registrations", "edit", ref, "householdSize=13")
        self.fake.edit(ref, {"householdSize": "19"})
        self.sync(code=4)
        cid = str(self.json("conflicts", "list")[0]["id"])
        before = (self.json("conflicts", "list"),
                  self.json("outbox", "--all"))
        for bad in HUGE + ["many"]:
            line = self.fails("conflicts", "resolve", cid, "--value", bad)
            self.assertIn("householdSize", line)
            self.assertIn(ref, line)
        self.assertEqual((self.json("conflicts", "list"),
                          self.json("outbox", "--all")), before)
        self.ok("conflicts", "resolve", cid, "--value", "15")
        self.sync()
        self.assertEqual(self.server_value(ref, "householdSize"), "15")


if __name__ == "__main__":
    main()
