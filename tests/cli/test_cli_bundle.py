"""Bundles for sites that never get a link (issue 12 item 4): `agent
bundle keygen|export|import`. A bundle made on one store and imported into
another reaches the fake 121 once when the second one syncs; importing
twice changes nothing; bundles of one device apply in order only; a
changed byte, another signer or the wrong key file is refused before
anything is applied; kill -9 during an import leaves all or nothing."""

import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, PROGRAM_JSON, encrypt_args, \
    main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402

FSP = "programFspConfigurationName=Intersolve-voucher-paper"


class BundleTest(AgentTestCase):
    """The inherited store is the site (no link); `office` is a second
    store, with its own config, that may talk to the fake 121."""

    def setUp(self):
        super().setUp()
        d = self.dir
        self.key = os.path.join(d, "bundle.key")
        self.site_sign = os.path.join(d, "site-sign.pem")
        self.office_sign = os.path.join(d, "office-sign.pem")
        self.ok("-q", "bundle", "keygen", self.site_sign, "--key-file",
                self.key)
        self.ok("-q", "bundle", "keygen", self.office_sign)
        with open(self.conf, "a") as f:
            f.write("[bundle]\nkey_file = %s\nsigning_key = %s\n"
                    "trusted_keys = %s.pub\n"
                    % (self.key, self.site_sign, self.office_sign))
        self.odb = os.path.join(d, "office.db")
        self.oconf = os.path.join(d, "office.conf")
        self.ok("-q", "--config", self.oconf, "init", "--server",
                "http://127.0.0.1:9", "--program", "3", "--user", "u",
                "--store", self.odb, *encrypt_args(d), config=False)
        self.office_config("http://127.0.0.1:9", "u")
        self.import_program()

    def office_config(self, url, user, extra=""):
        text = ("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                "user = %s\n[sync]\nmax_attempts = 4\nbackoff_base_ms = 20\n"
                "backoff_cap_ms = 200\n[bundle]\nkey_file = %s\n"
                "signing_key = %s\ntrusted_keys = %s.pub\n%s"
                % (self.odb, url, user, self.key, self.office_sign,
                   self.site_sign, extra))
        with open(self.oconf, "w") as f:
            f.write(text)
        os.chmod(self.oconf, 0o600)

    def office(self, *args, **kw):
        return self.run_agent("--config", self.oconf, *args, config=False,
                              **kw)

    def office_ok(self, *args):
        rc, out, err = self.office(*args)
        self.assertEqual(rc, 0, "office %r failed (%d): %s" % (args, rc, err))
        return out

    def office_fails(self, *args, code=1):
        rc, out, err = self.office(*args)
        self.assertEqual(rc, code, "office %r: exit %d: %s" % (args, rc, err))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("agent: "), err)
        return lines[0]

    def office_snapshot(self):
        regs = json.loads(self.office_ok("--json", "registrations", "list",
                                         "--limit", "1000000"))
        outbox = json.loads(self.office_ok("--json", "outbox", "--all"))
        return regs, outbox

    def export(self, name, *args):
        path = os.path.join(self.dir, name)
        return path, self.json("bundle", "export", path, *args)

    def site_work(self):
        """Two people made at the site, one edited, one status change."""
        a = self.add("fullName=Site Person A", "phoneNumber=31622222201", FSP)
        b = self.add("fullName=Site Person B", "phoneNumber=31622222202", FSP)
        self.ok("registrations", "edit", a, "householdSize=4")
        self.ok("registrations", "status", b, "validated")
        return a, b


class TestExportImport(BundleTest):
    def test_import_twice_changes_nothing(self):
        a, b = self.site_work()
        path, info = self.export("b1.bundle")
        self.assertEqual((info["seq"], info["since"], info["entries"]),
                         (1, 0, 4))
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path, "rb") as f:
            data = f.read()
        self.assertNotIn(b"Site Person", data)
        self.assertNotIn(b"3162222220", data)

        first = json.loads(self.office_ok("--json", "bundle", "import",
                                          path))
        self.assertEqual(first["applied"], 4)
        self.assertFalse(first["repeat"])
        regs, outbox = self.office_snapshot()
        self.assertEqual(sorted(r["referenceId"] for r in regs),
                         sorted([a, b]))
        site_outbox = self.json("outbox", "--all")
        self.assertEqual([e["op_id"] for e in outbox],
                         [e["op_id"] for e in site_outbox])
        shown = json.loads(self.office_ok("--json", "registrations", "show",
                                          a))
        self.assertEqual(shown["householdSize"], "4")
        shown = json.loads(self.office_ok("--json", "registrations", "show",
                                          b))
        self.assertEqual(shown["status"], "validated")

        before = self.office_snapshot()
        again = json.loads(self.office_ok("--json", "bundle", "import",
                                          path))
        self.assertTrue(again["repeat"])
        self.assertEqual(again["applied"], 0)
        self.assertEqual(self.office_snapshot(), before)
        out = self.office_ok("bundle", "import", path)
        self.assertIn("imported already", out)

        # The same entries again in a later bundle (--since 0): skipped.
        path2, info2 = self.export("b2.bundle", "--since", "0")
        self.assertEqual((info2["seq"], info2["since"]), (2, 0))
        doc = json.loads(self.office_ok("--json", "bundle", "import", path2))
        self.assertEqual((doc["applied"], doc["skipped"]), (0, 4))
        self.assertEqual(self.office_snapshot(), before)

    def test_out_of_order_refused(self):
        self.site_work()
        b1, _ = self.export("b1.bundle")
        self.add("fullName=Site Person C", "phoneNumber=31622222203", FSP)
        b2, info = self.export("b2.bundle")
        self.assertEqual((info["seq"], info["since"], info["entries"]),
                         (2, 1, 1))
        before = self.office_snapshot()
        msg = self.office_fails("bundle", "import", b2)
        self.assertIn("bundle 2", msg)
        self.assertIn("import bundle 1 first", msg)
        self.assertEqual(self.office_snapshot(), before)
        self.office_ok("bundle", "import", b1)
        self.office_ok("bundle", "import", b2)
        after = self.office_snapshot()
        self.assertEqual(len(after[1]), 5)
        msg = self.office_fails("bundle", "import", b1)
        self.assertIn("older than the last one imported", msg)
        self.assertEqual(self.office_snapshot(), after)
        # A lost stick: export again since the last bundle the office has.
        self.add("fullName=Site Person D", "phoneNumber=31622222204", FSP)
        self.export("b3-lost.bundle")
        b4, info = self.export("b4.bundle", "--since", "2")
        self.assertEqual((info["seq"], info["since"], info["entries"]),
                         (4, 2, 1))
        self.office_ok("bundle", "import", b4)
        self.assertEqual(len(self.office_snapshot()[1]), 6)
        msg = self.fails("bundle", "export", os.path.join(self.dir, "x"),
                         "--since", "9")
        self.assertIn("--since 9", msg)
        # A bundle is never applied to the store that made it.
        msg = self.fails("bundle", "import", b4, "--trusted-keys",
                         self.site_sign + ".pub")
        self.assertIn("made by this store", msg)

    def test_changed_bytes_refused(self):
        self.site_work()
        path, _ = self.export("b1.bundle")
        with open(path, "rb") as f:
            good = f.read()
        before = self.office_snapshot()
        bad = os.path.join(self.dir, "bad.bundle")
        # Every byte is covered by test_store_bundle; here one in the
        # header, the body, the signer's fingerprint and the signature.
        outbox = json.loads(self.office_ok("--json", "outbox", "--all"))
        for pos in (9, len(good) // 2, len(good) - 100, len(good) - 1):
            data = bytearray(good)
            data[pos] ^= 0x01
            with open(bad, "wb") as f:
                f.write(bytes(data))
            rc, out, err = self.office("bundle", "import", bad)
            self.assertIn(rc, (1, 5), "byte %d: %s" % (pos, err))
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertEqual(json.loads(self.office_ok(
                "--json", "outbox", "--all")), outbox, pos)
        with open(bad, "wb") as f:
            f.write(good[:len(good) - 200])
        msg = self.office_fails("bundle", "import", bad)
        self.assertEqual(self.office_snapshot(), before)
        # A byte of the body (not the signature trailer) says what it is.
        data = bytearray(good)
        data[len(good) // 2] ^= 0x80
        with open(bad, "wb") as f:
            f.write(bytes(data))
        msg = self.office_fails("bundle", "import", bad)
        self.assertIn("does not match its signature", msg)
        self.office_ok("bundle", "import", path)

    def test_other_signer_and_wrong_key_refused(self):
        self.site_work()
        other = os.path.join(self.dir, "other-sign.pem")
        self.ok("-q", "bundle", "keygen", other)
        path, _ = self.export("b1.bundle", "--signing-key", other)
        before = self.office_snapshot()
        msg = self.office_fails("bundle", "import", path, code=5)
        self.assertIn("not pinned", msg)
        self.assertEqual(self.office_snapshot(), before)
        # Signed right, encrypted with another key file.
        wrong = os.path.join(self.dir, "wrong.key")
        self.ok("-q", "bundle", "keygen", os.path.join(self.dir, "x.pem"),
                "--key-file", wrong)
        path2, _ = self.export("b2.bundle", "--since", "0", "--key-file",
                               wrong)
        msg = self.office_fails("bundle", "import", path2, code=5)
        self.assertIn("does not open with this key", msg)
        self.assertEqual(self.office_snapshot(), before)
        # Both pinned: the office trusts the other key too.
        self.office_ok("bundle", "import", path, "--trusted-keys",
                       "%s.pub; %s.pub" % (self.office_sign, other))

    def test_keys_and_config(self):
        self.assertEqual(os.stat(self.site_sign).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        msg = self.fails("bundle", "keygen", self.site_sign)
        self.assertIn("exists already", msg)
        self.ok("config", "check")
        os.chmod(self.site_sign, 0o644)
        msg = self.fails("bundle", "export", os.path.join(self.dir, "x"))
        self.assertIn("chmod 600", msg)
        rc, out, err = self.run_agent("config", "check")
        self.assertNotEqual(rc, 0)
        self.assertIn("bundle.signing_key", err)
        os.chmod(self.site_sign, 0o600)
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:  # a key file is not a PEM key
            f.write(text.replace("trusted_keys = %s.pub" % self.office_sign,
                                 "trusted_keys = %s" % self.key))
        rc, out, err = self.run_agent("config", "check")
        self.assertNotEqual(rc, 0)
        self.assertIn("bundle.trusted_keys", err)
        msg = self.fails("bundle", "import", os.path.join(self.dir, "none"),
                         "--key-file", self.key, "--trusted-keys",
                         self.office_sign + ".pub")
        self.assertIn("none", msg)
        # An empty option falls back to the config's value.
        out = self.office_ok("bundle", "export",
                             os.path.join(self.dir, "o.bundle"),
                             "--key-file", "")
        self.assertIn("bundle 1", out)


class TestKill(BundleTest):
    def test_kill9_during_import_is_all_or_nothing(self):
        people = [{"fullName": "Bulk Person %d" % i,
                   "phoneNumber": "3163%07d" % i,
                   "programFspConfigurationName": "Intersolve-voucher-paper"}
                  for i in range(150)]
        self.ok("-q", "registrations", "add", "--file",
                self.write("people.json", json.dumps(people)))
        path, info = self.export("big.bundle")
        self.assertEqual(info["entries"], 150)
        counts = set()
        for var in ("AGENT_TEST_KILL_AT_COMMIT", "AGENT_TEST_KILL_AFTER_COMMIT"):
            for k in (1, 2):
                env = dict(self.env, **{var: str(k)})
                rc, out, err = self.office("bundle", "import", path, env=env)
                regs, outbox = self.office_snapshot()
                self.assertIn(len(outbox), (0, 150), (var, k, rc, err))
                self.assertIn(len(regs), (0, 150))
                self.assertEqual(len(regs), len(outbox))
                counts.add(len(outbox))
        # Killed by the clock, anywhere in the run.
        for delay in (0.05, 0.2):
            p = subprocess.Popen([AGENT_BIN, "--config", self.oconf, "bundle",
                                  "import", path], env=self.env,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
            regs, outbox = self.office_snapshot()
            self.assertIn(len(outbox), (0, 150))
            self.assertEqual(len(regs), len(outbox))
        self.office_ok("bundle", "import", path)
        regs, outbox = self.office_snapshot()
        self.assertEqual((len(regs), len(outbox)), (150, 150))
        self.assertIn(0, counts)  # a kill inside the commit kept nothing


class TestReachesTheServerOnce(BundleTest):
    def test_bundle_reaches_the_server_once(self):
        fake = FakeServer("--seed-registrations", "20", "--seed-payments",
                          "1")
        self.addCleanup(fake.stop)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.office_config(fake.url, USER)
        self.office_ok("--json", "sync", "--now")
        seeded = fake.state()["programs"]["3"]["registrations"]

        a, b = self.site_work()
        path, _ = self.export("b1.bundle")
        self.office_ok("bundle", "import", path)
        self.office_ok("bundle", "import", path)  # twice: a no-op
        self.office_ok("--json", "sync", "--now")
        fake.flush()
        self.office_ok("--json", "sync", "--now")
        st = json.loads(self.office_ok("--json", "status"))
        self.assertEqual(st["pending"], 0)
        self.assertEqual(fake.state()["programs"]["3"]["registrations"],
                         seeded + 2)
        ra = fake.registration(a)["registration"]
        rb = fake.registration(b)["registration"]
        self.assertEqual(ra["householdSize"], "4")
        self.assertEqual(rb["status"], "validated")

        # The same entries once more (a later bundle since 0) after the
        # sync: nothing new is queued, the server still has them once.
        path2, _ = self.export("b2.bundle", "--since", "0")
        doc = json.loads(self.office_ok("--json", "bundle", "import", path2))
        self.assertEqual((doc["applied"], doc["skipped"]), (0, 4))
        self.office_ok("--json", "sync", "--now")
        self.assertEqual(fake.state()["programs"]["3"]["registrations"],
                         seeded + 2)

        # Back to the site: the office's server copies (--server).
        back = os.path.join(self.dir, "office-1.bundle")
        info = json.loads(self.office_ok("--json", "bundle", "export", back,
                                         "--server"))
        office_regs = json.loads(self.office_ok("--json", "status"))[
            "registrations"]
        self.assertGreaterEqual(info["registrations"], 2)
        self.assertGreaterEqual(info["programs"], 1)
        self.assertEqual(info["done"], 4)
        self.assertEqual(self.json("status")["pending"], 4)
        doc = self.json("bundle", "import", back)
        self.assertEqual(doc["registrations_stored"], info["registrations"])
        # The site's own entries, which the server took: done there too.
        self.assertEqual(doc["marked_done"], 4)
        # What a distribution needs: the payment and its transactions.
        self.assertEqual(info["payments"], 1)
        self.assertEqual(doc["payments_stored"], 1)
        here = json.loads(self.office_ok("--json", "lookup", "ref-00002"))
        there = self.json("lookup", "ref-00002")
        self.assertTrue(here and here[0]["payments"], here)
        self.assertEqual(there[0]["payments"], here[0]["payments"])
        self.assertEqual(self.json("status")["pending"], 0)
        for ref in (a, b):
            self.assertIsNotNone(self.json("registrations", "show",
                                           ref)["_serverId"])
        self.assertEqual(self.json("status")["registrations"], office_regs)


if __name__ == "__main__":
    main()
