"""Bad input: every case fails with one line on stderr that names the
problem and the right exit code, and the store keeps every row it had."""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import (AGENT_BIN, AgentTestCase, VALID, is_root,  # noqa: E402
                     main)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class BadInputTest(AgentTestCase):
    def setUp(self):
        super().setUp()
        # Some rows to lose: a registration with an edit and a status.
        self.ref = self.add("fullName=Jane Doe", "phoneNumber=31600000001")
        self.ok("registrations", "edit", self.ref, "fullName=Jane Q Doe")
        self.ok("registrations", "status", self.ref, "validated")
        self.before = self.snapshot()

    def assert_unchanged(self):
        self.assertEqual(self.snapshot(), self.before)

    # -- JSON files ---------------------------------------------------------

    def test_malformed_json_file(self):
        path = self.write("bad.json", '{"fullName": "A", ')
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("bad.json", line)
        self.assertIn("malformed JSON", line)
        self.assert_unchanged()

    def test_json_file_wrong_type(self):
        path = self.write("obj.json", json.dumps(
            {"fullName": {"first": "A", "last": "B"}}))
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("fullName", line)
        self.assertNotIn("first", line)
        path = self.write("num.json", "42")
        self.assertIn("object", self.fails("registrations", "add", "--file",
                                           path))
        path = self.write("arr.json", json.dumps([{"fullName": "ok"}, [1]]))
        self.assertIn("item 2", self.fails("registrations", "add", "--file",
                                           path))
        self.assert_unchanged()

    def test_missing_json_file(self):
        line = self.fails("registrations", "add", "--file",
                          os.path.join(self.dir, "nope.json"))
        self.assertIn("nope.json", line)
        self.assert_unchanged()

    def test_unknown_field_with_program(self):
        self.import_program()
        self.before = self.snapshot()
        line = self.fails("registrations", "add", *VALID, "shoeSize=44")
        self.assertIn("shoeSize", line)
        self.assertNotIn("44", line)
        line = self.fails("registrations", "edit", self.ref, "shoeSize=44")
        self.assertIn("shoeSize", line)
        self.assert_unchanged()

    # -- status -------------------------------------------------------------

    def test_invalid_transition(self):
        ref = self.add("fullName=New Person")
        self.before = self.snapshot()
        line = self.fails("registrations", "status", ref, "completed")
        self.assertIn("'new'", line)
        self.assertIn("'completed'", line)
        line = self.fails("registrations", "status", self.ref, "new")
        self.assertIn("validated", line)
        self.assertIn("new", line)
        line = self.fails("registrations", "status", self.ref, "happy")
        self.assertIn("happy", line)
        self.assert_unchanged()

    def test_missing_reason(self):
        # validated -> declined and deleted are allowed but need a reason.
        for status in ("declined", "deleted"):
            line = self.fails("registrations", "status", self.ref, status)
            self.assertIn("reason", line)
            self.assertIn(status, line)
        self.assert_unchanged()

    def test_unknown_reference(self):
        line = self.fails("registrations", "status", "ref-does-not-exist",
                          "included")
        self.assertIn("ref-does-not-exist", line)
        self.fails("registrations", "edit", "ref-does-not-exist", "a=b")
        self.fails("registrations", "show", "ref-does-not-exist")
        self.assert_unchanged()

    # -- UTF-8 and sizes ----------------------------------------------------

    def test_invalid_utf8_argument(self):
        line = self.fails("registrations", "add", b"fullName=Jo\xff\xfe")
        self.assertIn("fullName", line)
        self.assertIn("UTF-8", line)
        line = self.fails("registrations", "add", b"full\xc3Name=x")
        self.assertIn("UTF-8", line)
        line = self.fails("registrations", "edit", self.ref,
                          b"fullName=\xed\xa0\x80")  # a surrogate
        self.assertIn("UTF-8", line)
        self.assert_unchanged()

    def test_invalid_utf8_json_file(self):
        path = self.write("bad.json", b'{"fullName": "Jo\xc0\xaf"}')
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("UTF-8", line)
        self.assertIn("bad.json", line)
        self.assert_unchanged()

    def test_nul_in_json_file(self):
        # cJSON would end the string at the NUL and store "Jo" unseen.
        path = self.write("nul.json", '{"fullName": "Jo\\u0000hn"}')
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("nul.json", line)
        self.assertIn("NUL", line)
        self.assertNotIn("Jo", line)
        self.assert_unchanged()

    def test_number_out_of_range(self):
        self.import_program()
        self.before = self.snapshot()
        path = self.write("big.json", '{"fullName": "A", '
                          '"phoneNumber": "31600000002", '
                          '"programFspConfigurationName": '
                          '"Intersolve-voucher-paper", '
                          '"householdSize": 1e308}')
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("householdSize", line)
        self.assertIn("out of range", line)
        self.assert_unchanged()

    def test_huge_value(self):
        path = self.write("big.json", json.dumps({"fullName": "x" * 1048576}))
        line = self.fails("registrations", "add", "--file", path)
        self.assertIn("fullName", line)
        self.assertLess(len(line), 300)
        # Arguments are capped by the OS at 128 KiB; 100 KB fits.
        line = self.fails("registrations", "edit", self.ref,
                          "fullName=" + "y" * 100000)
        self.assertIn("fullName", line)
        self.assertLess(len(line), 300)
        self.assert_unchanged()

    # -- the store on disk --------------------------------------------------

    def run_unprivileged(self, *args):
        """Run the agent as a user that the permission bits apply to: the
        current one, or `nobody` when the tests run as root (root writes
        through any mode bits)."""
        if not is_root():
            return self.run_agent(*args)
        conf = self.write_config("ro.conf", self.db)
        os.chmod(conf, 0o644)
        os.chmod(self.dir, 0o755)
        # An encrypted store (AGENT_TEST_ENCRYPT=1): that user needs its
        # key ring and key file (0600, so theirs), not the store's modes.
        for secret in (self.db + ".keys", self.env.get("AGENT_STORE_KEY_FILE")):
            if secret and os.path.exists(secret):
                os.chown(secret, 65534, 65534)

        def drop():
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run([AGENT_BIN, "--config", conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env, timeout=120, preexec_fn=drop)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def assert_one_line_failure(self, result, *needles):
        rc, out, err = result
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("agent: "), err)
        self.assertTrue(any(n in err for n in needles), err)

    def test_read_only_store_file(self):
        # The directory stays writable (the lock file can be made); the
        # store file itself is read-only.
        lock = self.db + ".lock"
        if os.path.exists(lock):
            os.chmod(lock, 0o666)
        os.chmod(self.db, 0o444)
        try:
            self.assert_one_line_failure(self.run_unprivileged(
                "registrations", "add", "fullName=X"), "read-only")
            self.assert_one_line_failure(self.run_unprivileged(
                "registrations", "edit", self.ref, "fullName=Y"), "read-only")
        finally:
            os.chmod(self.db, 0o644)
        self.assert_unchanged()

    def test_read_only_store_directory(self):
        os.chmod(self.db, 0o444)
        os.chmod(self.dir, 0o555)
        try:
            # Refused at the lock file (when it cannot be opened) or at the
            # store itself.
            self.assert_one_line_failure(self.run_unprivileged(
                "registrations", "add", "fullName=X"), "lock", "read-only")
        finally:
            os.chmod(self.dir, 0o700)
            os.chmod(self.db, 0o644)
        self.assert_unchanged()

    def test_missing_store_directory(self):
        conf = self.write_config("missing.conf",
                                 os.path.join(self.dir, "gone", "agent.db"))
        for args in (["status"], ["registrations", "add", "fullName=X"],
                     ["registrations", "list"]):
            line = self.fails("--config", conf, *args, config=False)
            self.assertIn("no store at", line)
            self.assertIn("agent init", line)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "gone")))
        self.assert_unchanged()

    def test_store_path_is_a_directory(self):
        d = os.path.join(self.dir, "adir")
        os.mkdir(d)
        conf = self.write_config("dir.conf", d)
        self.fails("--config", conf, "status", config=False)
        self.fails("--config", conf, "registrations", "add", "fullName=X",
                   config=False)
        self.assertEqual(os.listdir(d), [])

    def test_corrupted_store(self):
        bad = os.path.join(self.dir, "bad.db")
        shutil.copyfile(self.db, bad)
        with open(bad, "r+b") as f:
            f.write(b"this is not an sqlite file!" * 4)
        digest = sha256(bad)
        conf = self.write_config("bad.conf", bad)
        for args in (["status"], ["registrations", "list"],
                     ["registrations", "add", "fullName=X"]):
            line = self.fails("--config", conf, *args, config=False)
            self.assertIn("damaged or not an agent store", line)
            self.assertIn(bad, line)
        self.assertEqual(sha256(bad), digest)
        self.assert_unchanged()

    def test_store_locked_by_another_writer(self):
        with open(self.db + ".lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            start = time.monotonic()
            line = self.fails("registrations", "add", "fullName=X")
            self.assertGreater(time.monotonic() - start, 4)
            # Reads do not need the lock.
            self.assertEqual(len(self.json("registrations", "list")), 1)
        self.assertIn("in use", line)
        self.assert_unchanged()

    # -- config -------------------------------------------------------------

    def test_old_server_section_still_loads(self):
        """A config written before connectors ([server]) loads, with one
        warning line naming the section to rename; its transport keys are
        read as [sync] keys."""
        conf = self.write("old.conf",
                          "[store]\npath = %s\n[server]\n"
                          "url = http://127.0.0.1:9\nprogram_id = 3\n"
                          "user = u\nproxy = http://127.0.0.1:9\n" % self.db,
                          0o600)
        rc, out, err = self.run_agent("--config", conf, "--json", "config",
                                      "show", config=False)
        self.assertEqual(rc, 0, err)
        shown = json.loads(out)
        self.assertEqual(shown["121.url"], "http://127.0.0.1:9")
        self.assertEqual(shown["121.program_id"], 3)
        self.assertEqual(shown["121.enabled"], "true")
        self.assertEqual(shown["sync.proxy"], "http://127.0.0.1:9")
        warnings = [l for l in err.splitlines() if "[server]" in l]
        self.assertEqual(len(warnings), 1, err)
        self.assertIn("old.conf: section [server] is now [121]; rename it",
                      warnings[0])
        rc, out, err = self.run_agent("--config", conf, "config", "check",
                                      config=False)
        self.assertEqual(rc, 0, err)
        self.assert_unchanged()

    def test_bad_config(self):
        conf = self.write_config("bad.conf", self.db,
                                 "colour = blue\n[log]\nlevel = loud\n")
        line = self.fails("--config", conf, "status", config=False)
        self.assertIn("bad.conf:7", line)
        self.assertIn("121.colour", line)
        # The valid keys of the connector's section are listed.
        self.assertIn("valid keys in [121]: enabled, url, program_id, user, "
                      "password_file", line)
        rc, out, err = self.run_agent("--config", conf, "config", "check",
                                      config=False)
        self.assertEqual(rc, 1)
        self.assertIn("bad.conf:7: unknown key '121.colour'", err)
        self.assertIn("bad.conf:9", err)
        self.assertIn("log.level", err)
        checked = json.loads(self.run_agent("--config", conf, "--json",
                                            "config", "check",
                                            config=False)[1])
        self.assertEqual(checked["ok"], False)
        self.assertEqual(len(checked["errors"]), 2)
        self.assert_unchanged()

    def test_missing_config(self):
        conf = os.path.join(self.dir, "none.conf")
        line = self.fails("--config", conf, "registrations", "list",
                          config=False)
        self.assertEqual(line, "agent: no config at %s (run `agent init`)"
                         % conf)

    def test_password_file_readable_by_others(self):
        pw = self.write("pw", "secret-pw\n", 0o644)
        conf = self.write_config("pw.conf", self.db,
                                 "password_file = %s\n" % pw)
        rc, out, err = self.run_agent("--config", conf, "config", "check",
                                      config=False)
        self.assertEqual(rc, 1)
        self.assertIn("0644", err)
        self.assertNotIn("secret-pw", err + out)

    # -- command line -------------------------------------------------------

    def test_bad_command_lines(self):
        cases = [
            (["bogus"], "bogus"),
            (["registrations"], "subcommand"),
            (["registrations", "frobnicate"], "frobnicate"),
            (["registrations", "list", "--colour", "red"], "--colour"),
            (["registrations", "list", "--limit"], "--limit"),
            (["registrations", "list", "--limit", "ten"], "ten"),
            (["registrations", "list", "--limit", "0"], "--limit"),
            (["registrations", "list", "--offset", "-3"], "--offset"),
            (["registrations", "list", "--status", "sad"], "sad"),
            (["registrations", "list", "extra"], "no arguments"),
            (["registrations", "add"], "no fields"),
            (["registrations", "add", "Jane Doe"], "key=value"),
            (["registrations", "add", "=x"], "key"),
            (["registrations", "add", "a=1", "a=2"], "twice"),
            (["registrations", "edit", self.ref], "KEY=VALUE"),
            (["registrations", "status", self.ref], "NEWSTATUS"),
            (["registrations", "show"], "REF"),
            (["outbox", "--state", "lost"], "lost"),
            (["--config"], "--config"),
            (["--frobnicate", "status"], "--frobnicate"),
            (["help", "nothing"], "nothing"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                line = self.fails(*args, code=2)
                self.assertIn(needle, line)
        self.assert_unchanged()


if __name__ == "__main__":
    main()
