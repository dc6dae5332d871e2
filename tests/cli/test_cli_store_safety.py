"""The agent on a hostile machine: a damaged page in the middle of the
store, symbolic links planted at the store and lock paths, and a store
directory other users can write.

A damaged store: `status`, `registrations add` and `sync` exit 1 with ONE
line that names the store once and says how to recover, and the file is
left byte for byte; lookups (`registrations list`) still work, after one
warning line.
"""

import hashlib
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
import storesql  # noqa: E402


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DamagedStoreTest(AgentTestCase):
    def smash_middle_page(self):
        con = storesql.connect(self.db)
        try:
            page_size = con.execute("PRAGMA page_size").fetchone()[0]
            try:
                pages = [r[0] for r in con.execute(
                    "SELECT pageno FROM dbstat WHERE name = 'registrations'"
                    " AND pagetype = 'leaf' ORDER BY pageno")]
            except sqlite3.Error:
                pages = []
            if not pages:
                pages = [con.execute(
                    "SELECT rootpage FROM sqlite_schema WHERE name ="
                    " 'registrations'").fetchone()[0]]
        finally:
            con.close()
        page = pages[len(pages) // 2]
        self.assertGreater(page, 1)
        with open(self.db, "r+b") as f:  # dd conv=notrunc
            f.seek((page - 1) * page_size)
            f.write(b"\xa5" * page_size)

    def check_line(self, line):
        self.assertIn("is damaged", line)
        self.assertIn("restore a backup", line)
        self.assertIn("keep it", line)
        self.assertIn("`agent init`", line)
        self.assertIn("`agent sync --now`", line)
        self.assertEqual(line.count(self.db), 1, line)
        self.assertEqual(line.count("damaged"), 1, line)
        self.assertNotIn(": ...", line)

    def test_damaged_page_refused(self):
        self.ok("-q", "registrations", "add", "--repeat", "400",
                "fullName=Damage Test Person With A Longer Name",
                "phoneNumber=31600000042")
        self.smash_middle_page()
        digest = sha256(self.db)
        for args in (["status"],
                     ["registrations", "add", "fullName=X"],
                     ["sync", "--now"]):
            line = self.fails(*args)
            self.check_line(line)
        self.assertEqual(sha256(self.db), digest)

        # Lookups still work, read-only, after one warning line.
        rc, out, err = self.run_agent("registrations", "list", "--limit", "1")
        self.assertEqual(rc, 0, err)
        lines = [x for x in err.splitlines() if x.startswith("agent:")]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("agent: warning: "), err)
        self.check_line(lines[0])
        self.assertEqual(sha256(self.db), digest)


class PlantedLinkTest(AgentTestCase):
    def precious(self):
        path = self.write("precious", "root's file\n", 0o644)
        return path, sha256(path)

    def test_init_refuses_store_symlink(self):
        target, digest = self.precious()
        link = os.path.join(self.dir, "linked.db")
        os.symlink(target, link)
        line = self.fails("init", "--server", "http://127.0.0.1:9",
                          "--program", "3", "--user", "u", "--store", link,
                          "--force")
        self.assertIn("symbolic link", line)
        self.assertEqual(sha256(target), digest)
        # A dangling link: nothing is created where it points.
        os.unlink(link)
        gone = os.path.join(self.dir, "created-through-link")
        os.symlink(gone, link)
        self.fails("init", "--server", "http://127.0.0.1:9", "--program",
                   "3", "--user", "u", "--store", link, "--force")
        self.assertFalse(os.path.exists(gone))

    def test_lock_symlink_refused(self):
        target, digest = self.precious()
        lock = self.db + ".lock"
        if os.path.exists(lock):
            os.unlink(lock)
        os.symlink(target, lock)
        line = self.fails("registrations", "add", "fullName=X")
        self.assertIn("symbolic link", line)
        self.assertIn(lock, line)
        self.assertEqual(sha256(target), digest)

    def test_store_dir_writable_by_others(self):
        os.chmod(self.dir, 0o777)
        line = self.fails("registrations", "add", "fullName=X")
        self.assertIn("writable by other users", line)
        self.fails("status")
        os.chmod(self.dir, 0o1777)
        self.fails("status")
        # Group-writable: a warning, and the command works.
        os.chmod(self.dir, 0o770)
        out, err = self.ok_err("registrations", "add", "fullName=X")
        self.assertIn("writable by its group", err)
        os.chmod(self.dir, 0o700)


if __name__ == "__main__":
    main()
