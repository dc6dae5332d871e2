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


PIN = "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE="


class ConfigCheckTest(AgentTestCase):
    """`config check` refused nothing of this (hostile tester, item 3)."""

    def set_key(self, key, value):
        text = read(self.conf)
        lines = [ln for ln in text.splitlines()
                 if not ln.lstrip("# ").startswith(key + " =")]
        out, section = [], None
        for ln in lines:
            out.append(ln)
            if ln.strip() == {"url": "[121]",
                              "pinned_public_key": "[sync]"}[key]:
                out.append("%s = %s" % (key, value))
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")

    def test_garbage_pin_is_refused(self):
        self.set_key("pinned_public_key", "garbage")
        rc, out, err = self.run_agent("config", "check")
        self.assertEqual(rc, 1, err)
        self.assertIn("pinned_public_key", err)
        self.assertIn("sha256//", err)
        self.fails("status")
        self.set_key("pinned_public_key", PIN + ";" + PIN)
        self.ok("config", "check")

    def test_world_writable_config_is_refused(self):
        os.chmod(self.conf, 0o666)
        rc, out, err = self.run_agent("config", "check")
        self.assertEqual(rc, 1, err)
        self.assertIn("other users", err)
        line = self.fails("registrations", "list")
        self.assertIn("chmod 600", line)
        os.chmod(self.conf, 0o620)
        out, err = self.ok_err("config", "check")
        self.assertIn("group", err)
        os.chmod(self.conf, 0o600)

    def test_http_url_warns_except_loopback(self):
        self.set_key("url", "http://121.example.org")
        doc = self.json("config", "check")
        self.assertTrue(doc["ok"])
        self.assertEqual(len(doc["warnings"]), 1, doc)
        self.assertIn("http://", doc["warnings"][0])
        self.assertIn("clear", doc["warnings"][0])
        out, err = self.ok_err("config", "check")
        self.assertIn("warning", err)
        for url in ("http://127.0.0.1:8080", "http://localhost",
                    "http://[::1]:3000", "https://121.example.org"):
            self.set_key("url", url)
            self.assertEqual(self.json("config", "check")["warnings"], [],
                             url)

    def test_credentials_in_url_are_masked_and_warned(self):
        self.set_key("url", "https://bob:hunter2@121.example.org/x")
        out, err = self.ok_err("config", "check")
        self.assertIn("credentials", err)
        self.assertIn("password_file", err)
        self.assertNotIn("hunter2", out + err)
        out = self.ok("config", "show")
        self.assertIn("https://***@121.example.org/x", out)
        self.assertNotIn("hunter2", out)
        self.assertNotIn("bob", out)
        out = self.ok("--json", "config", "show")
        self.assertNotIn("hunter2", out)
        # Nothing listens on port 9: the sync fails fast, its logs show
        # no credentials.
        self.set_key("url", "http://bob:hunter2@127.0.0.1:9")
        rc, out, err = self.run_agent("-v", "sync", "--now",
                                      env=dict(self.env,
                                               AGENT_121_PASSWORD="x"))
        self.assertNotIn("hunter2", out + err)


class ReasonLimitTest(AgentTestCase):
    """--reason had no limit (121 keeps it on an event): at most 500 bytes
    of UTF-8, one line; every command that takes it refuses more with one
    line naming --reason and stores nothing."""

    def setUp(self):
        super().setUp()
        self.ref = self.add("fullName=Reason Test", "phoneNumber=31600000009")

    def snapshot(self):
        return self.json("outbox", "--all"), self.json(
            "registrations", "show", self.ref)

    def test_edit_and_status_refuse_long_or_multiline_reasons(self):
        before = self.snapshot()
        bad = ["x" * 501, "\u00e9" * 251, "two\nlines", "tab\there",
               "esc\x1b[31m", "c1\u0085", b"bad \xff utf8", "x" * 100000]
        for reason in bad:
            for cmd in (["registrations", "edit", self.ref,
                         "fullName=Other Name"],
                        ["registrations", "status", self.ref, "declined"]):
                line = self.fails(*cmd, "--reason", reason)
                self.assertIn("--reason", line)
                self.assertLess(len(line), 200)
        self.assertEqual(self.snapshot(), before)
        # 500 bytes, multi-byte characters included, is fine.
        self.ok("registrations", "edit", self.ref, "fullName=Other Name",
                "--reason", "\u00e9" * 250)
        self.ok("registrations", "status", self.ref, "declined",
                "--reason", "y" * 500)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


if __name__ == "__main__":
    main()
