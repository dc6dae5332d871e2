#!/usr/bin/env python3
"""The search index of a first pull is built once, at its end
(storage/include/store_search.h): a marker in agent_state says it is due.

Killed (SIGKILL, the fault harness's kill points) right after each commit
of a first pull in turn - so also between the last batch and the rebuild,
and inside the rebuild's own commit - the store must pass its integrity
check, `registrations search` must find every stored row matching (scanning,
with a note, while the marker is set), and the next `sync --now` must leave
a whole index (FTS5's own integrity check against the table) and no marker.
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

    def kill_sweep(self, var):
        """Kill a first sync at its 1st, 2nd, ... commit until the index
        is built (or the sync ends by itself); check each stopped store,
        then let a sync finish it.
        Returns how often the kill left the pull complete and the index
        still to build."""
        between = 0
        for k in range(1, 200):
            self.fresh_store()
            rc, err = self.sync(dict(self.env, **{var: str(k)}))
            if rc == 0:
                break  # k is past the sync's last commit
            self.assertEqual(rc, -9, "sync exit %d: %s" % (rc, err))
            marker, complete, named = self.look()
            if marker and complete:
                between += 1  # after the last batch, before the rebuild
            built = complete and not marker
            found, note = self.search("ERSON 00")
            self.assertEqual(found, named, "%s=%d" % (var, k))
            self.assertEqual(NOTE in note, bool(marker), note)
            rc, err = self.sync()
            self.assertEqual(rc, 0, err)
            marker, complete, named = self.look()
            self.assertEqual((marker, complete), (0, 1), "%s=%d" % (var, k))
            self.assertEqual(self.index_rows(), named)
            found, note = self.search("erson 00")
            self.assertEqual(found, named)
            self.assertNotIn(NOTE, note)
            if built:
                break  # the rest of the sync's commits are not the pull's
        self.assertGreater(k, 5, "the first sync never ended")
        self.assertGreater(named, SEED // 2)
        return between

    def test_killed_after_every_commit(self):
        """After each commit: before the pull is complete the marker is
        set and searches scan; once a sync ends the index is whole."""
        self.kill_sweep("AGENT_TEST_KILL_AFTER_COMMIT")

    def test_killed_inside_every_commit(self):
        """Inside each commit (lost): once inside the rebuild's, which
        leaves the last batch and the completed pull committed and the
        rebuild to do - the next sync does it."""
        self.assertEqual(self.kill_sweep("AGENT_TEST_KILL_AT_COMMIT"), 1)


if __name__ == "__main__":
    main()
