#!/usr/bin/env python3
"""The search index of a first pull is built once, by the sync after it
(storage/include/store_search.h): a marker in agent_state says it is due,
and searches scan until then.

Killed (SIGKILL, the fault harness's kill points) right after each commit
of a first pull in turn, and then of the sync that builds the index (so
also inside the rebuild's own commit), the store must pass its integrity
check, `registrations search` must find every stored row matching (scanning,
with a note, while the marker is set), and the syncs after it must leave a
whole index (FTS5's own integrity check against the table) and no marker.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, encrypt_args, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import storesql  # noqa: E402

SEED = 200
MARKER = "search.rebuild_pending"
NOTE = "the search index is being built"


class SearchIndexTest(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(SEED))
        self.addCleanup(self.fake.stop)
        self.env["AGENT_121_PASSWORD"] = PASSWORD

    def fresh_store(self):
        for suffix in ("", "-wal", "-shm", ".lock", ".sealed", ".keys"):
            if os.path.exists(self.db + suffix):
                os.remove(self.db + suffix)
        self.ok("init", "--server", self.fake.url, "--program", "3", "--user",
                USER, "--store", self.db, "--force", *encrypt_args(self.dir))
        # Small batches: several commits of rows before the rebuild.
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nbatch = 60\nmax_attempts = 2\n"
                    "backoff_base_ms = 10\nbackoff_cap_ms = 50\n"
                    % (self.db, self.fake.url, USER))

    def sync(self, env=None):
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "sync", "--now"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env or self.env, timeout=300)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def look(self):
        """(marker set, first pull complete, rows named like 'Person')."""
        con = storesql.connect(self.db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(),
                             [("ok",)])
            marker = con.execute("SELECT count(*) FROM agent_state WHERE "
                                 "key = ?", (MARKER,)).fetchone()[0]
            complete = con.execute(
                "SELECT count(*) FROM sync_checkpoints WHERE source = '121' "
                "AND name = 'pull.complete' AND value = '1'").fetchone()[0]
            named = con.execute("SELECT count(*) FROM registrations WHERE "
                                "name LIKE '%erson 00%'").fetchone()[0]
        finally:
            con.close()
        return marker, complete, named

    def search(self, text):
        rc, out, err = self.run_agent("--json", "registrations", "search",
                                      text, "--limit", "100000")
        self.assertEqual(rc, 0, err)
        return len(json.loads(out)), err

    def index_rows(self):
        con = storesql.connect(self.db)
        try:
            con.execute("INSERT INTO registrations_search(registrations_search,"
                        " rank) VALUES ('integrity-check', 1)")
            n = con.execute("SELECT count(*) FROM registrations_search WHERE "
                            "registrations_search MATCH '\"erson 00\"'"
                            ).fetchone()[0]
        finally:
            con.close()
        return n

    def check_stopped(self, var, k):
        """A killed sync's store: whole, and every row found."""
        marker, complete, named = self.look()
        found, note = self.search("ERSON 00")
        self.assertEqual(found, named, "%s=%d" % (var, k))
        self.assertEqual(NOTE in note, bool(marker), note)
        return marker, complete, named

    def check_built(self):
        """The index is whole, with no marker; searches use it."""
        marker, complete, named = self.look()
        self.assertEqual((marker, complete), (0, 1))
        self.assertEqual(self.index_rows(), named)
        found, note = self.search("erson 00")
        self.assertEqual(found, named)
        self.assertNotIn(NOTE, note)
        return named

    def sync_ok(self):
        rc, err = self.sync()
        self.assertEqual(rc, 0, err)

    def first_pull_sweep(self, var):
        """Kill a first sync at its 1st, 2nd, ... commit until it ends by
        itself; after each, a sync completes the pull (the index still to
        build, searches scanning) and the next one builds the index (one
        sync does both if the killed one had completed the pull)."""
        for k in range(1, 200):
            self.fresh_store()
            rc, err = self.sync(dict(self.env, **{var: str(k)}))
            if rc == 0:
                break  # k is past the sync's last commit
            self.assertEqual(rc, -9, "sync exit %d: %s" % (rc, err))
            _, was_complete, _ = self.check_stopped(var, k)
            self.sync_ok()
            if not was_complete:
                # This sync finished the first pull: the index is still
                # to build.
                marker, complete, _ = self.check_stopped(var, k)
                self.assertEqual((marker, complete), (1, 1))
                self.sync_ok()
            self.check_built()
        self.assertGreater(k, 5, "the first sync never ended")
        marker, complete, named = self.look()
        self.assertEqual((marker, complete), (1, 1))
        self.assertGreater(named, SEED // 2)

    def rebuild_sweep(self, var):
        """After a whole first pull, kill the sync that builds the index
        at its 1st, 2nd, ... commit. Returns how many kills left the
        index to build (the marker set)."""
        left = 0
        for k in range(1, 50):
            self.fresh_store()
            self.sync_ok()
            rc, err = self.sync(dict(self.env, **{var: str(k)}))
            if rc == 0:
                break
            self.assertEqual(rc, -9, "sync exit %d: %s" % (rc, err))
            marker, complete, _ = self.check_stopped(var, k)
            self.assertEqual(complete, 1)
            left += marker
            self.sync_ok()
            self.check_built()
        self.assertGreater(k, 1, "no kill landed in the rebuilding sync")
        self.assertGreater(self.check_built(), SEED // 2)
        return left

    def test_killed_after_every_commit(self):
        """After each commit: before the pull is complete the marker is
        set and searches scan; once the next sync ends the index is
        whole. After the rebuild's own commit the marker is gone."""
        self.first_pull_sweep("AGENT_TEST_KILL_AFTER_COMMIT")
        self.assertEqual(self.rebuild_sweep("AGENT_TEST_KILL_AFTER_COMMIT"),
                         0)

    def test_killed_inside_every_commit(self):
        """Inside each commit (lost): once inside the rebuild's, which
        leaves the index to build - the next sync does it."""
        self.first_pull_sweep("AGENT_TEST_KILL_AT_COMMIT")
        self.assertGreaterEqual(
            self.rebuild_sweep("AGENT_TEST_KILL_AT_COMMIT"), 1)


if __name__ == "__main__":
    main()
