#!/usr/bin/env python3
"""Regressions for defects a hostile tester found: each test fails on the
code before its fix. No network: the configured server is 127.0.0.1:9."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402


class MissingPasswordTest(AgentTestCase):
    """`sync` with no password: exit 5 and a reason that says how to give
    one, in text and in --json (it was an empty message and "error": null,
    from plat_err_set(..., "%s", plat_err_msg()) formatting the message
    buffer into itself)."""

    def test_text_names_how_to_give_the_password(self):
        line = self.fails("sync", "--now", code=5)
        self.assertIn("AGENT_121_PASSWORD", line)
        self.assertIn("password_file", line)

    def test_json_carries_the_error(self):
        rc, out, err = self.run_agent("--json", "sync", "--now")
        self.assertEqual(rc, 5, err)
        doc = json.loads(out)
        self.assertEqual(doc["result"], "auth")
        self.assertIsInstance(doc["error"], str)
        self.assertIn("AGENT_121_PASSWORD", doc["error"])
        self.assertIn("AGENT_121_PASSWORD", err)


if __name__ == "__main__":
    main()
