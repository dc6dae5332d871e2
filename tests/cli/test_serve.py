#!/usr/bin/env python3
"""`agent serve`: the 121 API answered from the store.

After a sync from the fake 121, the link to 121 is cut (the fake answers
503 to everything and counts what it receives) and the seed tools'
requests are replayed against `agent serve`: each read answer must equal
the fake's answer to the same request (same JSON, links compared without
their host, lists 121 does not order compared as sets); kobo-connect's
writes (POST registration, PATCH registration, PATCH status) are answered
as 121 answers them, and reach the fake exactly once with the next sync.
Bad requests get 121-style errors and the server stays up.
"""

import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, TESTS_DIR, main  # noqa: E402
import storesql  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
from servetest import (LOCAL_PASSWORD, Served, login, normalise,  # noqa: E402
                       request, unordered, wait_for)

P = "/api/programs/3"

# The reads of the seed tools (kobo-connect, the Default Dashboard, the
# Invoicing Tool, Calculate Indicators), and the filters they use.
READS = [
    P,
    P + "/fsp-configurations",
    P + "/registrations",
    P + "/registrations?limit=2",
    P + "/registrations?limit=2&page=2",
    P + "/registrations?limit=40000",
    P + "/registrations?limit=-1",
    P + "/registrations?limit=0",
    P + "/registrations?filter.referenceId=$in:ref-00001,ref-00003,ref-00002",
    P + "/registrations?filter.referenceId=$eq:ref-00004",
    P + "/registrations?filter.referenceId=ref-00005",
    P + "/registrations?filter.status=$in:included,paused&limit=-1",
    P + "/registrations?filter.status=$not:$eq:included&limit=-1",
    P + "/registrations?filter.created=$gt:2026-01-01T00:00:00Z"
        "&filter.created=$lt:2030-01-01T00:00:00Z&limit=-1",
    P + "/registrations?filter.district=$eq:north&limit=-1",
    P + "/registrations?filter.fullName=$ilike:person%200001&limit=-1",
    P + "/registrations?filter.updated=$gt:2026-01-01T00:00:00Z&limit=3",
    P + "/registrations?limit=5&select=referenceId,status,fullName,phoneNumber",
    P + "/registrations?limit=5&sortBy=registrationProgramId:DESC",
    P + "/registrations?filter.id=$gt:10&sortBy=id:ASC&limit=5",
    P + "/registrations?filter.paymentCount=$gt:0&limit=-1",
    P + "/registrations/3",
    P + "/registrations/999999",
    P + "/registrations/abc",
    P + "/payments",
    P + "/payments/1",
    P + "/payments/9",
    P + "/payments/1/transactions",
    P + "/payments/1/transactions?limit=-1",
    P + "/payments/1/transactions?limit=1000&filter.status=$ilike:success"
        "&filter.fspName=$ilike:paper",
    P + "/payments/1/transactions?limit=10&page=2",
    P + "/metrics/export-list/registrations",
    P + "/metrics/export-list/registrations?filter.status=$in:included",
    P + "/metrics/export-list/registrations?filter.referenceId=$in:nobody-1",
    P + "/fsps/intersolve-voucher/voucher/image-paper?referenceId=nobody-1"
        "&paymentId=1",
    P + "/metrics/export-list/unused-vouchers",
    "/api/exchange-rates",
    "/api/programs/99",
]
# Lists 121 returns in no particular order.
UNORDERED = ["/api/notifications/3/message-templates"]


class ServeTestCase(AgentTestCase):
    seed = 60

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(self.seed),
                               "--seed-payments", "1")
        self.addCleanup(self.fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n[sync]\nmax_attempts = 2\nbackoff_base_ms = 20\n"
                    "backoff_cap_ms = 100\n" % (self.db, self.fake.url, USER))
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.before_first_sync()
        self.sync()
        rc, out, err = self.run_passwd(LOCAL_PASSWORD)
        self.assertEqual(rc, 0, err)
        self.srv = Served(self.env, self.conf)
        self.addCleanup(self.stop_server)
        self.port = self.srv.port
        self.tok = login(self.port, USER, LOCAL_PASSWORD)

    def before_first_sync(self):
        """Set the fake up before setUp's first sync (subclasses)."""

    def stop_server(self):
        rc, err = self.srv.stop()
        self.assertEqual(rc, 0, err)
        # personal data never reaches the log
        self.assertNotIn("Person 0", err)
        self.assertNotIn("31600", err)

    def run_passwd(self, pw):
        import subprocess
        from clitest import AGENT_BIN
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "serve", "passwd"],
                           input=(pw + "\n").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def sync(self, code=0):
        rc, out, err = self.run_agent("--json", "sync", "--now")
        self.assertEqual(rc, code, "sync: %s %s" % (out, err))
        return json.loads(out)

    def get(self, path, **kw):
        return request(self.port, "GET", path, cookie=self.tok, **kw)

    def fake_login(self):
        st, h, b = request(self.fake.port, "POST", "/api/users/login",
                           {"username": USER, "password": PASSWORD})
        self.assertEqual(st, 201)
        return json.loads(b)["access_token_general"]

    def cut_link(self):
        """From now on the fake answers 503 to every /api request and
        counts them: `agent serve` must not need any."""
        self.fake.call("POST", "/_test/reset-stats", {})
        self.fake.fault(fail_status=503, fail_count=1000000)

    def fake_requests(self):
        return self.fake.state()["requests"]

    def restore_link(self):
        self.fake.call("POST", "/_test/reset-faults", {})


class TestReadsMatchThe121Service(ServeTestCase):
    def test_reads_equal_the_fake_answers_offline(self):
        ftok = self.fake_login()
        want = {}
        for path in READS + UNORDERED:
            want[path] = request(self.fake.port, "GET", path, cookie=ftok)
        self.cut_link()
        for path in READS + UNORDERED:
            fst, _fh, fb = want[path]
            st, h, b = self.get(path)
            self.assertEqual(st, fst, "%s: %d, the fake %d: %r" % (path, st, fst, b[:300]))
            self.assertIn("x-agent-last-sync", h)
            self.assertEqual(h.get("x-agent-source"), "device-copy")
            if h.get("content-type", "").startswith("image/"):
                continue
            got, exp = json.loads(b), json.loads(fb)
            if path.endswith("/payments/1"):
                # approvals are not pulled to the device
                for k in ("approvalStatus", "approversForCurrentApprovalStep"):
                    exp.pop(k, None)
            if "/export-list/registrations" in path and "data" in exp:
                # People deleted before the device's first sync were never
                # shown to it (GET /registrations leaves them out).
                exp["data"] = [r for r in exp["data"] if r["status"] != "deleted"]
            if path in UNORDERED:
                self.assertEqual(unordered(got), unordered(exp), path)
            else:
                self.assertEqual(normalise(got), normalise(exp), path)
        self.assertEqual(self.fake_requests(), 0,
                         "agent serve contacted 121 while answering")

    def test_registration_events_pulled_since_then(self):
        since = self.fake.state()["now"]
        regs = json.loads(self.get(P + "/registrations?filter.status=$eq:included"
                                   "&limit=2")[2])["data"]
        for r in regs:
            self.fake.edit(r["referenceId"], {"householdSize": "9"}, reason="office")
        self.sync()
        ftok = self.fake_login()
        ref = regs[0]["referenceId"]
        paths = [P + "/registration-events?fromDate=" + since,
                 P + "/registration-events?fromDate=%s&referenceId=%s" % (since, ref),
                 P + "/registration-events?fromDate=2099-01-01T00:00:00Z",
                 P + "/registration-events?fromDate=notadate"]
        for path in paths:
            fst, _h, fb = request(self.fake.port, "GET", path, cookie=ftok)
            st, _h, b = self.get(path)
            self.assertEqual((st, json.loads(b)), (fst, json.loads(fb)), path)
        doc = json.loads(self.get(paths[0])[2])
        self.assertEqual(len(doc["data"]), 2)
        acts = json.loads(self.get(P + "/registrations/%d/activities" % regs[0]["id"])[2])
        changes = [a for a in acts["data"] if a["type"] == "data-change"]
        self.assertEqual(changes[0]["attributes"]["fieldName"], "householdSize")
        self.assertEqual(changes[0]["attributes"]["newValue"], "9")

    def test_limit_40000_returns_every_registration(self):
        st, _h, b = self.get(P + "/registrations?limit=40000")
        doc = json.loads(b)
        live = self.fake.state()["programs"]["3"]["registrations_live"]
        self.assertEqual(st, 200)
        self.assertEqual(len(doc["data"]), live)
        self.assertEqual(doc["meta"]["totalItems"], live)

    def test_program_dto_and_summary(self):
        st, _h, b = self.get(P + "?formatProgramReturnDto=true")
        dto = json.loads(b)
        self.assertEqual(st, 200)
        for k in ("id", "created", "updated", "programFspConfigurations"):
            self.assertNotIn(k, dto)
        self.assertIn("fspConfigurations", dto)
        self.assertTrue(all("id" not in a for a in dto["programRegistrationAttributes"]))
        st, _h, b = self.get(P + "?formatProgramReturnDto=maybe")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(b)["statusCode"], 400)
        st, _h, b = self.get(P + "/metrics/program-stats-summary")
        s = json.loads(b)
        regs = json.loads(self.get(P + "/registrations?limit=-1")[2])["data"]
        self.assertEqual(s["includedPeople"],
                         sum(1 for r in regs if r["status"] == "included"))
        self.assertEqual(s["newPeople"], sum(1 for r in regs if r["status"] == "new"))
        tx = json.loads(self.get(P + "/payments/1/transactions?limit=-1")[2])["data"]
        self.assertAlmostEqual(s["cashDisbursed"], sum(
            t["transferValue"] for t in tx if t["status"] in ("success", "waiting")))

    def test_transactions_export_and_activities(self):
        ftok = self.fake_login()
        fst, _fh, fb = request(self.fake.port, "GET", P + "/transactions", cookie=ftok)
        st, _h, b = self.get(P + "/transactions")
        self.assertEqual((st, fst), (200, 200))
        got, exp = json.loads(b), json.loads(fb)
        self.assertEqual(got["fileName"], exp["fileName"])
        self.assertEqual(unordered(got["data"]), unordered(exp["data"]))
        st, _h, b = self.get(P + "/transactions?fromDate=notadate")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(b)["message"][0]["property"], "fromDate")
        t = exp["data"][0]
        st, _h, b = self.get(P + "/registrations/%d/activities" % t["registrationId"])
        acts = json.loads(b)
        self.assertEqual(st, 200)
        self.assertIn(t["id"], [a["attributes"]["transactionId"] for a in acts["data"]])


class TestKoboConnectOffline(ServeTestCase):
    """kobo-connect's calls (contract kobo-connect-behaviour.md): login,
    program, export-list, POST registration, PATCH registration, PATCH
    status; then one sync delivers them, exactly once."""

    def test_kobo_connect_sequence_offline_then_sync(self):
        # `agent sync --now` with agent serve running (they share the store):
        # serve answers with what that sync pulled, at once
        port = self.port
        office = json.loads(self.get(P + "/registrations?limit=1")[2])["data"][0]
        self.fake.edit(office["referenceId"], {"householdSize": "11"}, reason="office")
        self.sync()
        self.assertTrue(self.srv.alive())
        st, _h, b = self.get(P + "/registrations?filter.referenceId=$eq:" +
                             office["referenceId"])
        self.assertEqual(str(json.loads(b)["data"][0]["householdSize"]), "11")

        self.cut_link()
        tok = login(port, USER.upper(), LOCAL_PASSWORD)  # 121 lowercases
        st, _h, b = request(port, "GET", P, cookie=tok)
        self.assertEqual(st, 200)
        prog = json.loads(b)
        self.assertEqual(prog["id"], 3)
        st, _h, b = request(port, "GET", P + "/metrics/export-list/registrations",
                            cookie=tok)
        self.assertEqual(st, 200)
        rows = json.loads(b)["data"]
        target = next(r for r in rows if r["status"] == "new")
        ref = target["referenceId"]
        new = {"referenceId": "kobo-uuid-0001", "programFspConfigurationName":
               "Intersolve-voucher-paper", "fullName": "Kobo Person",
               "phoneNumber": "31612345678", "preferredLanguage": "en",
               "householdSize": 3, "_junk": "dropped like 121 does"}
        st, _h, b = request(port, "POST", P + "/registrations", [new], cookie=tok)
        self.assertEqual((st, json.loads(b)), (201, {"aggregateImportResult":
                                                     {"countImported": 1}}))
        # the same again: 121's duplicate answer (recording)
        st, _h, b = request(port, "POST", P + "/registrations", [new], cookie=tok)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(b), [{
            "column": "referenceId", "value": "kobo-uuid-0001",
            "error": "referenceId already exists in database",
            "referenceId": "kobo-uuid-0001", "lineNumber": 1}])
        # kobo-update-121: one PATCH per field, then PATCH status validated
        st, _h, b = request(port, "PATCH", P + "/registrations/" + ref,
                            {"data": {"householdSize": 7},
                             "reason": "Validated during field validation"},
                            cookie=tok)
        self.assertEqual(st, 200)
        reg = json.loads(b)
        self.assertEqual((reg["referenceId"], str(reg["householdSize"])), (ref, "7"))
        st, _h, b = request(port, "PATCH", P + "/registrations/" + ref,
                            {"data": {"householdSize": 7}}, cookie=tok)
        self.assertEqual((st, b), (200, b""))  # nothing changed: empty 200
        for r in (ref, "kobo-uuid-0001"):
            q = "/registrations/status?dryRun=true&filter.referenceId=$in:" + r
            st, _h, b = request(port, "PATCH", P + q, {"status": "validated"}, cookie=tok)
            self.assertEqual((st, json.loads(b)), (200, {
                "totalFilterCount": 1, "applicableCount": 1, "nonApplicableCount": 0}))
            q = q.replace("dryRun=true", "dryRun=false")
            st, _h, b = request(port, "PATCH", P + q, {"status": "validated"}, cookie=tok)
            self.assertEqual((st, json.loads(b)), (202, {
                "totalFilterCount": 1, "applicableCount": 1, "nonApplicableCount": 0}))
        # the device copy shows them at once
        st, _h, b = request(port, "GET", P + "/registrations?filter.referenceId="
                            "$in:kobo-uuid-0001," + ref, cookie=tok)
        got = {r["referenceId"]: r for r in json.loads(b)["data"]}
        self.assertEqual(got["kobo-uuid-0001"]["status"], "validated")
        self.assertEqual(got[ref]["status"], "validated")
        self.assertEqual(self.fake_requests(), 0)

        self.restore_link()
        self.fake.call("POST", "/_test/reset-stats", {})
        self.sync()  # agent serve still running
        self.assertTrue(self.srv.alive())
        self.fake.flush()
        routes = self.fake.state()["by_route"]
        self.assertEqual(routes.get("POST /api/programs/{pid}/registrations"), 1, routes)
        srv_new = self.fake.registration("kobo-uuid-0001")["registration"]
        self.assertEqual(srv_new["fullName"], "Kobo Person")
        self.assertEqual(srv_new["status"], "validated")
        srv_old = self.fake.registration(ref)["registration"]
        self.assertEqual(str(srv_old["householdSize"]), "7")
        self.assertEqual(srv_old["status"], "validated")
        # a second sync sends nothing again
        self.fake.call("POST", "/_test/reset-stats", {})
        self.sync()
        routes = self.fake.state()["by_route"]
        for r in routes:
            if r != "POST /api/users/login":
                self.assertFalse(r.startswith("POST") or r.startswith("PATCH"), routes)
        # and the server that kept running answers what 121 now holds
        path = P + "/registrations?filter.referenceId=$in:kobo-uuid-0001," + ref
        fst, _h, fb = request(self.fake.port, "GET", path, cookie=self.fake_login())
        st, _h, b = self.get(path)
        self.assertEqual((st, normalise(json.loads(b))), (fst, normalise(json.loads(fb))))


class TestBadRequests(ServeTestCase):
    seed = 20

    def test_auth(self):
        st, _h, b = request(self.port, "GET", P)
        self.assertEqual((st, json.loads(b)), (401, {"statusCode": 401,
                                                     "message": "Unauthorized"}))
        st, _h, b = request(self.port, "GET", P, cookie="0" * 64)
        self.assertEqual(st, 401)
        st, _h, b = request(self.port, "GET", P,
                            headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(st, 401)
        st, _h, b = request(self.port, "POST", "/api/users/login",
                            {"username": USER, "password": PASSWORD})  # the 121 one
        self.assertEqual((st, json.loads(b)), (401, {"statusCode": 401,
                                                     "message": "Unauthorized"}))
        st, _h, b = request(self.port, "POST", "/api/users/login",
                            {"username": USER, "password": ""})
        doc = json.loads(b)
        self.assertEqual((st, doc["statusCode"], doc["message"][0]["property"]),
                         (400, 400, "password"))
        st, _h, b = self.get("/api/users/current")
        self.assertEqual((st, json.loads(b)["user"]["username"]), (200, USER))
        st, h, b = request(self.port, "POST", "/api/users/logout", cookie=self.tok)
        self.assertEqual(st, 201)
        # logout ends the session itself, not only the browser's cookie
        self.assertEqual(self.get("/api/users/current")[0], 401)

    def test_sessions_last_33_hours_and_survive_a_restart(self):
        import hashlib
        from email.utils import parsedate_to_datetime
        st, h, b = request(self.port, "POST", "/api/users/login",
                           {"username": USER, "password": LOCAL_PASSWORD})
        self.assertEqual(st, 201)
        tok = json.loads(b)["access_token_general"]
        # 121's cookie (recorded/121/login.headers): Expires 33 h after login
        cookie = h["set-cookie"]
        self.assertIn("access_token_general=%s; Path=/; Expires=" % tok, cookie)
        self.assertIn("HttpOnly; SameSite=Lax", cookie)
        exp = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
        self.assertAlmostEqual(exp.timestamp() - time.time(), 33 * 3600, delta=600)
        # the store keeps the token's SHA-256 and its expiry, never the token
        db = storesql.connect(self.db)
        rows = dict(db.execute("SELECT key, value FROM agent_state"
                               " WHERE key LIKE 'serve.session.%'").fetchall())
        db.close()
        key = "serve.session." + hashlib.sha256(tok.encode()).hexdigest()
        self.assertIn(key, rows)
        self.assertAlmostEqual(int(rows[key]) / 1000, exp.timestamp(), delta=2)
        with open(self.db, "rb") as f:
            self.assertNotIn(tok.encode(), f.read())
        wal = self.db + "-wal"
        if os.path.exists(wal):
            with open(wal, "rb") as f:
                self.assertNotIn(tok.encode(), f.read())
        # a restart of agent serve logs nobody out
        rc, err = self.srv.stop()
        self.assertEqual(rc, 0, err)
        self.srv = Served(self.env, self.conf)
        self.port = self.srv.port
        st, _h, b = request(self.port, "GET", "/api/users/current", cookie=tok)
        self.assertEqual(st, 200, b)
        # an expired session is refused: its expiry moved into the past
        db = storesql.connect(self.db)
        db.execute("UPDATE agent_state SET value = '1000' WHERE key = ?", (key,))
        db.commit()
        db.close()
        st, _h, b = request(self.port, "GET", "/api/users/current", cookie=tok)
        self.assertEqual((st, json.loads(b)), (401, {"statusCode": 401,
                                                     "message": "Unauthorized"}))

    def test_bad_input_gets_121_errors(self):
        port, tok = self.port, self.tok
        st, _h, b = request(port, "POST", P + "/registrations", raw=b"[{not json",
                            cookie=tok, headers={"Content-Type": "application/json"})
        self.assertEqual((st, json.loads(b)["statusCode"]), (400, 400))
        st, _h, b = request(port, "PATCH", P + "/registrations/ref-00001",
                            {"data": {}}, cookie=tok)
        self.assertEqual((st, json.loads(b)["message"][0]["property"]), (400, "data"))
        st, _h, b = request(port, "PATCH", P + "/registrations/does-not-exist",
                            {"data": {"fullName": "x"}}, cookie=tok)
        self.assertEqual((st, json.loads(b)), (404, {
            "statusCode": 404, "message": "The following referenceIds were not "
            "found in the database: does-not-exist"}))
        st, _h, b = request(port, "PATCH", P + "/registrations/status?dryRun=true"
                            "&filter.referenceId=$in:ref-00001", {"status": "bogus"},
                            cookie=tok)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(b)["message"][0]["constraints"]["isEnum"],
                         "status must be one of the following values: new, validated, "
                         "included, deleted, completed, paused, declined")
        st, _h, b = request(port, "PATCH", P + "/registrations/status?dryRun=true"
                            "&filter.referenceId=$in:ref-00001", {"status": "paused"},
                            cookie=tok)
        self.assertEqual((st, json.loads(b)["message"][0]["property"]), (400, "reason"))
        st, _h, b = request(port, "PATCH", P + "/registrations/status?dryRun=true"
                            "&filter.nosuchcolumn=$eq:x", {"status": "included"},
                            cookie=tok)
        self.assertEqual((st, json.loads(b)["statusCode"]), (400, 400))
        st, _h, b = request(port, "POST", P + "/registrations",
                            [{"referenceId": "bad-ref-01", "fullName": "x",
                              "phoneNumber": "31600000009",
                              "programFspConfigurationName": "does-not-exist"}],
                            cookie=tok)
        doc = json.loads(b)
        self.assertEqual((st, doc[0]["lineNumber"], doc[0]["referenceId"]),
                         (400, 1, "bad-ref-01"))
        self.assertIn("programFspConfigurationName", doc[0]["error"])
        st, _h, b = request(port, "GET", "/api/nothing/here", cookie=tok)
        self.assertEqual((st, json.loads(b)["statusCode"]), (404, 404))
        # 10 MB body: refused (413) as soon as its length is known
        st, b = self.big_body(10 * 1024 * 1024, chunked=False)
        self.assertEqual((st, json.loads(b)["statusCode"]), (413, 413))
        st, b = self.big_body(10 * 1024 * 1024, chunked=True)
        self.assertEqual((st, json.loads(b)["statusCode"]), (413, 413))
        # nothing was queued by any of these
        self.assertEqual(self.json("outbox"), [])
        self.assertTrue(self.srv.alive())

    def big_body(self, size, chunked):
        """Send a body of `size` bytes (as much as the server reads) and
        return its answer (status, body)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        head = ("POST %s/registrations HTTP/1.1\r\nHost: x\r\nCookie: "
                "access_token_general=%s\r\nContent-Type: application/json\r\n"
                % (P, self.tok))
        head += ("Transfer-Encoding: chunked\r\n\r\n" if chunked else
                 "Content-Length: %d\r\n\r\n" % size)
        try:
            s.sendall(head.encode())
            chunk = b" " * 65536
            sent = 0
            while sent < size:
                s.sendall(b"10000\r\n" + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed early
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
                if b"\r\n\r\n" in data:
                    hdr, _, rest = data.partition(b"\r\n\r\n")
                    n = int(dict(l.split(b": ", 1) for l in hdr.split(b"\r\n")[1:]
                                 if b": " in l).get(b"Content-Length", b"0"))
                    if len(rest) >= n:
                        break
        except OSError:
            pass
        s.close()
        hdr, _, rest = data.partition(b"\r\n\r\n")
        return int(hdr.split(b" ")[1]), rest

    def test_slow_client_and_many_connections(self):
        # A client that sends half a request and stalls holds one
        # connection, not the server.
        slow = socket.create_connection(("127.0.0.1", self.port))
        slow.sendall(b"POST " + P.encode() + b"/registrations HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1000\r\n\r\n[{")
        st, _h, _b = self.get(P)
        self.assertEqual(st, 200)
        # 500 connections at once: each gets an answer or is refused; the
        # server stays up and answers afterwards.
        results = []
        lock = threading.Lock()

        def one():
            try:
                s = request(self.port, "GET", "/api/users/current", cookie=self.tok,
                            timeout=60)[0]
            except OSError as e:
                s = "refused: %s" % type(e).__name__
            with lock:
                results.append(s)

        threads = [threading.Thread(target=one) for _ in range(500)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), 500)
        self.assertTrue(all(r == 200 or str(r).startswith("refused") for r in results),
                        set(map(str, results)))
        self.assertGreater(results.count(200), 100)
        slow.close()
        self.assertTrue(self.srv.alive())
        st, _h, _b = self.get(P)
        self.assertEqual(st, 200)

    def test_listen_needs_tls_off_loopback(self):
        rc, out, err = self.run_agent("serve", "--listen", "0.0.0.0:0")
        self.assertEqual(rc, 1)
        self.assertIn("without TLS", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        rc, out, err = self.run_agent("serve", "--listen", "nonsense")
        self.assertEqual(rc, 1)
        self.assertIn("listen address", err)

    def test_tls(self):
        cert = os.path.join(TESTS_DIR, "data", "http", "tls-cert.pem")
        key = os.path.join(TESTS_DIR, "data", "http", "tls-key.pem")
        with open(self.conf, "a") as f:
            f.write("[serve]\ntls_cert = %s\ntls_key = %s\n" % (cert, key))
        srv = Served(self.env, self.conf, listen="0.0.0.0:0")
        try:
            tok = login(srv.port, USER, LOCAL_PASSWORD, tls=True)
            st, h, _b = request(srv.port, "GET", P, cookie=tok, tls=True)
            self.assertEqual(st, 200)
            # plain HTTP on the TLS port gets no answer
            with self.assertRaises(Exception):
                request(srv.port, "GET", P, cookie=tok, timeout=5)
        finally:
            rc, err = srv.stop()
            self.assertEqual(rc, 0, err)


def multipart(filename, content, field="file"):
    """A multipart/form-data body with one file part, as a browser sends."""
    bnd = "----servetest7d3a"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
            "filename=\"%s\"\r\nContent-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n"
            % (bnd, field, filename, content, bnd)).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=" + bnd}


class TestDistributionWritesOffline(ServeTestCase):
    """The distribution-day writes (messages, labels, templates, FSP
    reconciliation) answered offline as 121 answers them, then sent by one
    sync exactly once; bad bodies get 121-style 400s and queue nothing."""
    seed = 20

    def setUp(self):
        super().setUp()
        out = self.fake.call("POST", "/_test/dist/paper-payment", {"count": 3})
        self.payment = out["paymentId"]
        self.paper_refs = out["referenceIds"]
        # the payment is pulled with the server running: sync and serve
        # share the store (WAL), and serve answers from what the sync wrote
        self.sync()
        self.assertTrue(self.srv.alive())

    def call(self, method, path, body=None, **kw):
        return request(self.port, method, path, body, cookie=self.tok, **kw)

    def test_unused_vouchers_like_121_and_the_cli(self):
        path = P + "/metrics/export-list/unused-vouchers"
        fst, _h, fb = request(self.fake.port, "GET", path, cookie=self.fake_login())
        st, _h, b = self.get(path)
        self.assertEqual((st, fst), (200, 200), b[:300])
        got, exp = json.loads(b), json.loads(fb)
        self.assertEqual(got["fileName"], exp["fileName"])
        self.assertEqual(unordered(got["data"]), unordered(exp["data"]))
        mine = [r for r in got["data"] if r["paymentId"] == self.payment]
        self.assertEqual(sorted(r["referenceId"] for r in mine), sorted(self.paper_refs))
        self.assertEqual(list(mine[0]), ["referenceId", "paymentId", "issueDate",
                                         "whatsappPhoneNumber", "lastExternalUpdate"])
        # the same rows as `agent export unused-vouchers` (one function)
        rc, out, err = self.run_agent("--json", "export", "unused-vouchers",
                                      "--payment", str(self.payment))
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["data"], mine)

    def test_writes_queued_offline_reach_121_once(self):
        refs = self.paper_refs
        st, _h, b = self.get(P + "/registrations?filter.referenceId=$in:" +
                             ",".join(refs))
        phones = {r["referenceId"]: r["phoneNumber"] for r in json.loads(b)["data"]}
        st, _h, b = self.get("/api/notifications/3/message-templates")
        existing = next(t for t in json.loads(b) if t.get("message"))
        self.cut_link()

        # messages (3.7): dry run counts, the real one queues
        q = P + "/registrations/message?filter.referenceId=$in:%s,%s" % (refs[0], refs[1])
        st, _h, b = self.call("POST", q + "&dryRun=true", {"message": "Hello"})
        self.assertEqual((st, json.loads(b)), (200, {
            "totalFilterCount": 2, "applicableCount": 2, "nonApplicableCount": 0}))
        st, _h, b = self.call("POST", q, {"message": "Your voucher is ready"})
        self.assertEqual((st, json.loads(b)), (202, {
            "totalFilterCount": 2, "applicableCount": 2, "nonApplicableCount": 0}))
        st, _h, b = self.call("POST", q, {"message": "x", "messageTemplateKey": "included"})
        self.assertEqual((st, json.loads(b)["message"][0]["property"]), (400, "message"))
        st, _h, b = self.call("POST", q, {})
        self.assertEqual((st, json.loads(b)["statusCode"]), (400, 400))
        st, _h, b = self.call("POST", P + "/registrations/message?filter.nosuch=$eq:x",
                              {"message": "Hello"})
        self.assertEqual((st, json.loads(b)["statusCode"]), (400, 400))

        # label (2)
        st, _h, b = self.call("PATCH", P + "/registration-attributes/district",
                              {"label": {"nl": "Wijk"}})
        self.assertEqual(st, 200, b)
        attr = json.loads(b)
        self.assertEqual((attr["name"], attr["label"]["nl"]), ("district", "Wijk"))
        st, _h, b = self.call("PATCH", P + "/registration-attributes/noSuchAttr",
                              {"label": {"nl": "X"}})
        self.assertEqual((st, json.loads(b)), (404, {
            "errors": "No programRegistrationAttribute found with name noSuchAttr "
                      "for program 3"}))
        st, _h, b = self.call("PATCH", P + "/registration-attributes/district",
                              {"label": "Wijk"})
        self.assertEqual((st, json.loads(b)["message"][0]["property"]), (400, "label"))

        # message templates (8)
        T = "/api/notifications/3/message-templates"
        new = {"type": "servetest", "language": "nl", "message": "Klaar: {{fullName}}",
               "isSendMessageTemplate": True, "label": {"en": "Servetest"}}
        st, _h, b = self.call("POST", T, new)
        self.assertEqual((st, b), (201, b""))
        st, _h, b = self.call("POST", T, new)
        self.assertEqual((st, json.loads(b)), (400, {
            "errors": "Message template with type 'servetest' and language 'nl' "
                      "already exists in program 3"}))
        st, _h, b = self.call("POST", T, dict(new, type="other",
                                              isSendMessageTemplate="yes"))
        self.assertEqual((st, json.loads(b)["message"][0]["property"]),
                         (400, "isSendMessageTemplate"))
        path = "%s/%s/%s" % (T, existing["type"], existing["language"])
        st, _h, b = self.call("PATCH", path, {"message": "Changed on the device"})
        self.assertEqual((st, json.loads(b)["message"]), (200, "Changed on the device"))
        st, _h, b = self.call("PATCH", T + "/nosuchtype/en", {"message": "x"})
        self.assertEqual((st, list(json.loads(b))), (404, ["errors"]))
        st, _h, b = self.call("PATCH", T + "/%s/x" % existing["type"], {"message": "x"})
        self.assertEqual((st, json.loads(b)["statusCode"]), (400, 400))
        st, _h, b = self.get(T)
        mine = [t for t in json.loads(b) if t["type"] == "servetest"]
        self.assertEqual([t["message"] for t in mine], ["Klaar: {{fullName}}"])

        # reconciliation (6): unknown rows are notFound, the rest queued
        up = P + "/payments/%d/excel-reconciliation" % self.payment
        csv = ("phoneNumber,status,errorMessage\n%s,success,\n%s,error,voucher lost\n"
               "31699999999,success,\n" % (phones[refs[0]], phones[refs[1]]))
        raw, hdr = multipart("bad.txt", csv)
        st, _h, b = self.call("POST", up, raw=raw, headers=hdr)
        self.assertEqual((st, json.loads(b)), (400, {
            "errors": "Wrong file extension. It should be .csv"}))
        raw, hdr = multipart("bad.csv", csv.replace("error,voucher", "paid,voucher"))
        st, _h, b = self.call("POST", up, raw=raw, headers=hdr)
        self.assertEqual((st, json.loads(b)), (400, {
            "errors": "Status must be 'success' or 'error', found 'paid'"}))
        raw, hdr = multipart("bad.csv", "nosuchcol,status\nx,success\n")
        st, _h, b = self.call("POST", up, raw=raw, headers=hdr)
        self.assertEqual((st, list(json.loads(b))), (400, ["errors"]))
        raw, hdr = multipart("fsp.csv", csv)
        st, _h, b = self.call("POST", up, raw=raw, headers=hdr)
        self.assertEqual(st, 201, b)
        doc = json.loads(b)
        self.assertEqual(doc["aggregateImportResult"], {
            "countPaymentSuccess": 1, "countPaymentFailed": 1, "countNotFound": 1})
        self.assertEqual([(r.get("referenceId"), r["importStatus"])
                          for r in doc["importResult"]],
                         [(refs[0], "paymentSuccess"), (refs[1], "paymentFailed"),
                          (None, "notFound")])
        self.assertEqual(self.fake_requests(), 0)

        # one sync sends each write once
        self.restore_link()
        self.sync()
        self.fake.flush()
        d = self.fake.call("GET", "/_test/dist")
        self.assertEqual(d["messages"], {refs[0]: 1, refs[1]: 1})
        self.assertEqual(d["label_writes"], {"district/nl": 1})
        self.assertEqual(d["template_writes"], {
            "servetest/nl": 1, "%s/%s" % (existing["type"], existing["language"]): 1})
        recon = d["reconciliation"][str(self.payment)]
        self.assertEqual({k: (v["status"], v["errorMessage"], v["applied"])
                          for k, v in recon.items()},
                         {refs[0]: ("success", None, 1),
                          refs[1]: ("error", "voucher lost", 1)})
        self.assertEqual(d["recon_uploads"], 1)
        # a second sync sends none of it again
        self.sync()
        self.assertEqual(self.fake.call("GET", "/_test/dist"), d)


class TestExchangeRatesNotAdmin(ServeTestCase):
    """GET /api/exchange-rates is for 121 admins: a sync user who is not
    one gets 403; the sync goes on, and agent serve answers 403 too. The
    answer that was allowed is pulled with the first sync
    (TestReadsMatchThe121Service compares it) and asked for at most every
    12 h."""
    seed = 5

    def before_first_sync(self):
        self.fake.call("POST", "/_test/dist/exchange-rates", {"admin": False})

    def test_sync_goes_on_and_serve_answers_like_121(self):
        # setUp's sync ended with code 0 although the route was refused
        self.assertEqual(self.fake.call("GET", "/_test/dist")["rate_requests"], 1)
        fst, _h, fb = request(self.fake.port, "GET", "/api/exchange-rates",
                              cookie=self.fake_login())
        st, _h, b = self.get("/api/exchange-rates")
        self.assertEqual((st, json.loads(b)), (fst, json.loads(fb)))
        self.assertEqual(st, 403)
        # not asked again by the next sync (12 h), even when allowed now
        self.fake.call("POST", "/_test/dist/exchange-rates", {"admin": True})
        asked = self.fake.call("GET", "/_test/dist")["rate_requests"]
        self.sync()
        self.assertEqual(self.fake.call("GET", "/_test/dist")["rate_requests"], asked)
        self.assertEqual(self.get("/api/exchange-rates")[0], 403)

    def test_rates_pulled_once_allowed(self):
        self.fake.call("POST", "/_test/dist/exchange-rates", {
            "admin": True, "rates": [{"currency": "UGX", "euroExchangeRate": 0.00025,
                                      "closeTime": "2025-02-01T23:59:59Z"}]})
        # the mark of the last ask is moved back 13 h (as if time passed)
        db = storesql.connect(self.db)
        db.execute("UPDATE agent_state SET value = CAST(value AS INTEGER) - 46800000"
                   " WHERE key = '121.exchange-rates.at'")
        db.commit()
        db.close()
        self.sync()
        st, _h, b = self.get("/api/exchange-rates")
        self.assertEqual((st, json.loads(b)), (200, [{
            "currency": "UGX", "euroExchangeRate": 0.00025,
            "closeTime": "2025-02-01T23:59:59Z"}]))


class TestDaemonServe(ServeTestCase):
    seed = 20

    def test_daemon_serves_beside_the_sync(self):
        import re
        import signal
        import subprocess
        from clitest import AGENT_BIN
        d = subprocess.Popen([AGENT_BIN, "--config", self.conf, "daemon", "--serve",
                              "--listen", "127.0.0.1:0", "--interval", "3600"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            port = None
            while port is None:
                line = d.stderr.readline().decode()
                self.assertTrue(line, "daemon ended before serving")
                m = re.search(r"serve: listening .*\(port (\d+)\)", line)
                if m:
                    port = int(m.group(1))
            tok = login(port, USER, LOCAL_PASSWORD)
            st, _h, b = request(port, "GET", P + "/registrations?limit=1", cookie=tok)
            self.assertEqual(st, 200)
            self.assertEqual(len(json.loads(b)["data"]), 1)
        finally:
            d.send_signal(signal.SIGTERM)
            rc = d.wait(30)
            d.stdout.close()
            d.stderr.close()
        self.assertEqual(rc, 0)


class TestPasswd(AgentTestCase):
    def test_passwd_stores_a_salted_hash(self):
        import subprocess
        from clitest import AGENT_BIN
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "serve", "passwd"],
                           input=b"short\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"at least 8", p.stderr)
        for _ in range(2):
            p = subprocess.run([AGENT_BIN, "--config", self.conf, "serve", "passwd"],
                               input=b"a-long-password\n", stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=self.env)
            self.assertEqual(p.returncode, 0, p.stderr)
        db = storesql.connect(self.db)
        v = db.execute("SELECT value FROM agent_state WHERE key = 'serve.password'"
                       ).fetchone()[0]
        db.close()
        self.assertTrue(v.startswith("pbkdf2-sha256$"), v)
        self.assertNotIn("a-long-password", v)


if __name__ == "__main__":
    main()
