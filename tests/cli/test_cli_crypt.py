"""Encryption at rest from the command line: `agent init --encrypt`,
`agent encrypt` / `decrypt`, `agent key add|remove`; the passphrase comes
from AGENT_STORE_PASSPHRASE or a 0600 file (never argv), the daemon's way
is a key file; a wrong key is one line and exit 5 with nothing touched;
`strings` on the store and its WAL finds no name or phone number."""

import json
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, main  # noqa: E402

NAMES = ["Wilhelmina Quarterfield", "Bartholomew Ngozi-Smith"]
PHONES = ["31687654321", "254799123456"]
PASS = "correct horse battery staple"


def file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


class CryptTest(AgentTestCase):
    def setUp(self):
        super().setUp()
        # A store of our own, encrypted from the start (the inherited
        # one is plain, or key-file encrypted under AGENT_TEST_ENCRYPT).
        self.edir = os.path.join(self.dir, "enc")
        os.mkdir(self.edir, 0o700)
        self.econf = os.path.join(self.edir, "agent.conf")
        self.edb = os.path.join(self.edir, "agent.db")
        self.penv = dict(self.env, AGENT_STORE_PASSPHRASE=PASS)

    def eagent(self, *args, env=None):
        return self.run_agent("--config", self.econf, *args, config=False,
                              env=env if env is not None else self.penv)

    def eok(self, *args, env=None):
        rc, out, err = self.eagent(*args, env=env)
        self.assertEqual(rc, 0, "agent %r failed (%d): %s" % (args, rc, err))
        return out

    def efails(self, code, *args, env=None):
        rc, out, err = self.eagent(*args, env=env)
        self.assertEqual(rc, code, "agent %r: exit %d: %s" % (args, rc, err))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("agent: "), err)
        return lines[0]

    def init_encrypted(self, *extra, env=None):
        self.eok("-q", "init", "--server", "http://127.0.0.1:9", "--program",
                 "3", "--user", "u", "--store", self.edb, "--encrypt",
                 *extra, env=env)

    def add_people(self, env=None):
        refs = []
        for name, phone in zip(NAMES, PHONES):
            refs.append(self.eok("-q", "registrations", "add",
                                 "fullName=" + name, "phoneNumber=" + phone,
                                 env=env).strip())
        return refs

    def assert_no_personal_data(self, *paths):
        for path in paths:
            data = file_bytes(path)
            for secret in NAMES + PHONES:
                self.assertNotIn(secret.encode(), data, path)
                self.assertNotIn(secret.split()[0].encode(), data, path)

    def test_passphrase_store(self):
        self.init_encrypted()
        ring = self.edb + ".keys"
        self.assertEqual(os.stat(ring).st_mode & 0o777, 0o600)
        self.assertNotIn(PASS, open(ring).read())
        refs = self.add_people()
        out = self.eok("registrations", "search", "quarterfield")
        self.assertIn(refs[0], out)
        self.assertIn(NAMES[0], out)
        self.assert_no_personal_data(self.edb, self.edb + "-wal")

        before = file_bytes(self.edb)
        line = self.efails(5, "registrations", "list",
                           env=dict(self.env, AGENT_STORE_PASSPHRASE="nope"))
        self.assertIn("wrong passphrase", line)
        self.assertNotIn("nope", line)
        line = self.efails(5, "registrations", "list", env=self.env)
        self.assertIn("AGENT_STORE_PASSPHRASE", line)
        self.assertEqual(file_bytes(self.edb), before)
        self.assertFalse(os.path.exists(self.edb + "-wal"))

        # A 0600 passphrase file instead of the environment.
        pfile = self.write("pass.txt", PASS + "\n", 0o600)
        with open(self.econf, "a") as f:
            f.write("[store]\npassphrase_file = %s\n" % pfile)
        out = self.eok("registrations", "show", refs[1], env=self.env)
        self.assertIn(NAMES[1], out)
        os.chmod(pfile, 0o644)
        line = self.efails(1, "registrations", "show", refs[1], env=self.env)
        self.assertIn("chmod 600", line)

    def test_key_file_store(self):
        key = os.path.join(self.edir, "store.key")
        self.init_encrypted("--key-file", key, env=self.env)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.add_people(env=self.env)
        self.eok("registrations", "search", "ngozi", env=self.env)
        self.assert_no_personal_data(self.edb, self.edb + "-wal", key)
        # Readable by others: refused. Another key file: exit 5.
        os.chmod(key, 0o640)
        line = self.efails(1, "registrations", "list", env=self.env)
        self.assertIn("chmod 600", line)
        os.chmod(key, 0o600)
        good = file_bytes(key)
        with open(key, "w") as f:
            f.write("ab" * 32 + "\n")
        line = self.efails(5, "registrations", "list", env=self.env)
        self.assertIn("not the key of this store", line)
        with open(key, "wb") as f:
            f.write(good)
        # A passphrase as a second way in; then the key file goes.
        self.eok("key", "add", "--passphrase",
                 env=dict(self.env, AGENT_STORE_NEW_PASSPHRASE=PASS))
        self.eok("key", "remove", "--key-file", env=self.env)
        self.efails(5, "registrations", "list", env=self.env)
        out = self.eok("registrations", "list")
        self.assertIn(NAMES[0], out)
        line = self.efails(1, "key", "remove", "--passphrase")
        self.assertIn("only key", line)

    def test_encrypt_then_decrypt_keeps_everything(self):
        self.eok("-q", "init", "--server", "http://127.0.0.1:9", "--program",
                 "3", "--user", "u", "--store", self.edb, env=self.env)
        refs = self.add_people(env=self.env)
        self.eok("registrations", "edit", refs[0], "district=north",
                 env=self.env)
        snap = (self.eok("--json", "registrations", "list", env=self.env),
                self.eok("--json", "outbox", "--all", env=self.env))
        self.assertIn(NAMES[0].encode(), file_bytes(self.edb) +
                      file_bytes(self.edb + "-wal"))
        self.eok("encrypt")
        self.assert_no_personal_data(self.edb, self.edb + "-wal")
        self.assertFalse(os.path.exists(self.edb + ".old"))
        self.assertFalse(os.path.exists(self.edb + ".encrypting"))
        self.assertEqual((self.eok("--json", "registrations", "list"),
                          self.eok("--json", "outbox", "--all")), snap)
        line = self.efails(1, "encrypt")
        self.assertIn("encrypted already", line)
        # Work goes on, then back to plain for support.
        self.eok("registrations", "status", refs[1], "validated")
        self.eok("decrypt")
        self.assertFalse(os.path.exists(self.edb + ".keys"))
        self.assertIn(NAMES[1].encode(), file_bytes(self.edb))
        out = self.eok("--json", "outbox", "--all", env=self.env)
        self.assertIn('"status"', out)

    def test_backup_and_restore(self):
        self.init_encrypted()
        refs = self.add_people()
        bak = os.path.join(self.edir, "store.bak")
        self.eok("backup", bak)
        self.assertEqual(os.stat(bak).st_mode & 0o777, 0o600)
        self.assert_no_personal_data(bak)
        snap = self.eok("--json", "outbox", "--all")
        self.eok("registrations", "edit", refs[0], "district=after")
        before = file_bytes(self.edb)

        # Damaged, cut short, or the wrong key: refused, nothing replaced.
        data = file_bytes(bak)
        for name, bad in (("flip.bak", data[:200] + bytes([data[200] ^ 1])
                           + data[201:]),
                          ("cut.bak", data[:len(data) - 30]),
                          ("long.bak", data + b"x")):
            path = self.write(name, bad, 0o600)
            line = self.efails(1, "restore", path)
            self.assertIn("damaged", line)
        self.efails(5, "restore", bak,
                    env=dict(self.env, AGENT_STORE_PASSPHRASE="nope"))
        self.assertEqual(file_bytes(self.edb), before)

        self.eok("restore", bak)
        self.assertEqual(self.eok("--json", "outbox", "--all"), snap)
        self.assert_no_personal_data(self.edb, self.edb + "-wal")
        out = self.eok("registrations", "search", "quarterfield")
        self.assertIn(refs[0], out)

        # A recipient key for the office; a plain store needs one.
        key = os.path.join(self.edir, "office.key")
        bak2 = os.path.join(self.edir, "office.bak")
        self.eok("backup", bak2, "--key-file", key)
        self.assert_no_personal_data(bak2)
        rc, out, err = self.eagent("restore", bak2)
        self.assertEqual(rc, 2, err)
        self.assertIn("--key-file", err)
        self.eok("restore", bak2, "--key-file", key)
        if os.environ.get("AGENT_TEST_ENCRYPT") != "1":
            # The inherited store is plain: its backup needs a key file.
            rc, out, err = self.run_agent("backup", bak)
            self.assertEqual(rc, 2, err)

    def test_key_rotate(self):
        key = os.path.join(self.edir, "store.key")
        self.init_encrypted("--key-file", key, "--passphrase")
        refs = self.add_people()
        ring = file_bytes(self.edb + ".keys")
        store = file_bytes(self.edb)
        self.eok("key", "rotate")
        self.assertNotEqual(file_bytes(self.edb + ".keys"), ring)
        self.assertFalse(os.path.exists(self.edb + ".keys.next"))
        # Both ways in still work, the data is all there and still secret.
        self.assertIn(NAMES[0], self.eok("registrations", "show", refs[0],
                                         env=self.env))
        self.assertIn(NAMES[1], self.eok("registrations", "show", refs[1],
                                         env=dict(self.penv)))
        self.assert_no_personal_data(self.edb, self.edb + "-wal")
        # The old ring does not open the new store.
        with open(self.edb + ".keys", "wb") as f:
            f.write(ring)
        self.assertNotEqual(file_bytes(self.edb)[:4096], store[:4096])
        self.efails(5, "registrations", "list", env=self.env)

    def test_passphrase_never_on_the_command_line(self):
        rc, out, err = self.eagent("init", "--server", "http://x",
                                   "--program", "3", "--user", "u",
                                   "--store", self.edb, "--encrypt",
                                   "--passphrase", PASS)
        self.assertEqual(rc, 2, err)
        self.assertFalse(os.path.exists(self.edb))

    def test_kill9_while_adding(self):
        """kill -9 in a stream of adds to an encrypted store: every add it
        reported is there, and the store checks clean."""
        self.init_encrypted()
        p = subprocess.Popen(
            [AGENT_BIN, "--config", self.econf, "-q", "registrations", "add",
             "--repeat", "1000000", "fullName=" + NAMES[0],
             "phoneNumber=" + PHONES[0]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.penv)
        seen = [0]
        enough = threading.Event()

        def drain():
            for _ in p.stdout:
                seen[0] += 1
                if seen[0] >= 100:
                    enough.set()
            enough.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            enough.wait(120)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
            reader.join(10)
            p.stdout.close()
            p.stderr.close()
        self.assertGreaterEqual(seen[0], 100)
        self.assert_no_personal_data(self.edb, self.edb + "-wal")
        status = self.eok("--json", "status")
        self.assertIn('"registrations"', status)
        out = self.eok("--json", "registrations", "list", "--limit",
                       "1000000")
        self.assertGreaterEqual(len(json.loads(out)), seen[0])

    def test_doctor_and_serve_open_an_encrypted_store(self):
        """Commands that open the store their own way (doctor's read-only
        check, the server's pool of connections) use the store's key too:
        both once opened it without one ("is encrypted and no key was
        given", a login answered 500)."""
        from servetest import LOCAL_PASSWORD, Served, login, request
        key = os.path.join(self.edir, "store.key")
        self.init_encrypted("--key-file", key, env=self.env)
        self.add_people(env=self.env)
        rc, out, err = self.eagent("--json", "doctor", env=self.env)
        checks = {c["check"]: c for c in json.loads(out)["checks"]}
        self.assertEqual(checks["store"]["status"], "ok", checks["store"])
        self.assertEqual(checks["schema"]["status"], "ok", checks["schema"])

        p = subprocess.run([AGENT_BIN, "--config", self.econf, "serve",
                            "passwd"], input=(LOCAL_PASSWORD + "\n").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        srv = Served(self.env, self.econf)
        try:
            tok = login(srv.port, "u", LOCAL_PASSWORD)
            st, _h, b = request(srv.port, "GET", "/api/users/current",
                                cookie=tok)
            self.assertEqual(st, 200, b)
        finally:
            rc, err = srv.stop()
        self.assertEqual(rc, 0, err)
        self.assert_no_personal_data(self.edb)


if __name__ == "__main__":
    main()
