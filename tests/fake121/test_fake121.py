#!/usr/bin/env python3
"""Self-test of the fake 121 server: starts it as a subprocess on port 0 and
checks the contract behaviours the agent's sync engine relies on.

Run: python3 tests/fake121/test_fake121.py  (standard library only)
"""

import gzip
import http.client
import json
import os
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake121.py")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fakes"))
import launcher  # noqa: E402
USER, PASSWORD = "sync-bot@example.org", "s3cret"


class FakeServer:
    def __init__(self, *args):
        # The state dump goes to the launcher's directory (kept after stop
        # for tearDownClass to read).
        self.fake = launcher.Fake([sys.executable, FAKE] + list(args),
                                  port_arg=True, capture_stderr=True,
                                  keep_dir=True, prefix="fake121-test-",
                                  start=False)
        self.tmp = self.fake.dir
        self.dump = self.fake.path("dump.json")
        self.fake.argv += ["--state-dump", self.dump]
        self.fake.start()
        self.proc = self.fake.proc
        self.port = self.fake.port

    def stderr(self):
        return self.fake.stderr_text()

    def stop(self):
        """Stop with SIGTERM; returns the server's stderr."""
        return self.fake.stop(timeout=15)


class Client:
    """Keep-alive client on one http.client connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = None

    def close(self):
        self.conn.close()

    def _reconnect(self):
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method, path, body=None, headers=None, auth=True, raw=False):
        h = dict(headers or {})
        if auth and self.token:
            h["Cookie"] = "access_token_general=%s" % self.token
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server closed an idle keep-alive connection: reconnect once
                self._reconnect()
                if attempt:
                    raise
            except Exception:
                self._reconnect()
                raise
        if raw:
            return resp.status, resp, payload
        parsed = None
        if payload and (resp.getheader("Content-Type") or "").startswith("application/json"):
            text = payload
            if resp.getheader("Content-Encoding") == "gzip":
                text = gzip.decompress(payload)
            parsed = json.loads(text)
        return resp.status, resp, parsed

    def login(self):
        st, resp, body = self.request("POST", "/api/users/login",
                                      {"username": USER, "password": PASSWORD}, auth=False)
        assert st == 201, (st, body)
        self.token = body["access_token_general"]
        return resp, body

    def test_api(self, method, path, body=None):
        st, _resp, out = self.request(method, path, body, auth=False)
        assert st == 200, (st, out)
        return out


def new_ref(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def wait_for(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


class Fake121Test(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = FakeServer("--seed-registrations", "300", "--gzip", "--async-delay", "0.3",
                                "--login-throttle", "0")
        cls.c = Client(cls.server.port)
        cls.c.login()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        log = cls.server.stop()
        # the server must not have crashed in a handler, and must dump its state on SIGTERM
        assert "Traceback" not in log, log
        assert "fake121: stopped" in log, log
        with open(cls.server.dump) as f:
            dump = json.load(f)
        assert dump["programs"]["3"]["registrations"], "empty state dump"

    def tearDown(self):
        self.c.test_api("POST", "/_test/reset-faults")

    # ------------------------------------------------------------ helpers

    def create(self, n=1, **extra):
        rows = []
        for _ in range(n):
            row = {"referenceId": new_ref(), "programFspConfigurationName": "Intersolve-voucher-paper",
                   "preferredLanguage": "nl", "phoneNumber": "+31 6 1234 5678",
                   "fullName": "Test Person", "householdSize": 3}
            row.update(extra)
            rows.append(row)
        st, _r, body = self.c.request("POST", "/api/programs/3/registrations", rows)
        self.assertEqual(st, 201, body)
        self.assertEqual(body, {"aggregateImportResult": {"countImported": n}})
        return [r["referenceId"] for r in rows]

    def get_reg(self, ref):
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.referenceId=$eq:%s" % ref)
        self.assertEqual(st, 200)
        return body["data"][0] if body["data"] else None

    def all_ids(self):
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?limit=-1&select=id")
        self.assertEqual(st, 200)
        return [d["id"] for d in body["data"]]

    # ------------------------------------------------------------ auth

    def test_login_cookie_and_body(self):
        c = Client(self.server.port)
        resp, body = c.login()
        c.close()
        cookie = resp.getheader("Set-Cookie")
        self.assertTrue(cookie.startswith("access_token_general=%s;" % body["access_token_general"]))
        self.assertIn("Path=/", cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertNotIn("Secure", cookie)
        self.assertEqual(set(body), {"username", "permissions", "access_token_general", "expires",
                                     "isAdmin", "isEntraUser", "isOrganizationAdmin"})
        self.assertIn("registration.read", body["permissions"]["3"])
        self.assertTrue(body["expires"].endswith("Z"))

    def test_login_errors(self):
        st, resp, payload = self.c.request("POST", "/api/users/login",
                                           {"username": USER, "password": "wrong"}, auth=False, raw=True)
        self.assertEqual(st, 401)
        self.assertEqual(payload, b'{"statusCode":401,"message":"Unauthorized"}')
        st, _r, body = self.c.request("POST", "/api/users/login", {"username": "", "password": "x"}, auth=False)
        self.assertEqual(st, 400)
        self.assertEqual(body["message"][0]["property"], "username")
        self.assertEqual(body["message"][0]["target"], {"username": "", "password": "x"})
        self.assertEqual(body["statusCode"], 400)

    def test_unauthorized_without_cookie(self):
        st, resp, payload = self.c.request("GET", "/api/programs/3", auth=False, raw=True)
        self.assertEqual(st, 401)
        self.assertEqual(payload, b'{"message":"Unauthorized","statusCode":401}')
        self.assertEqual(resp.getheader("Content-Length"), "43")
        st, _r, _b = self.c.request("GET", "/api/programs/3", auth=False,
                                    headers={"Authorization": "Bearer %s" % self.c.token})
        self.assertEqual(st, 401)
        st, _r, _b = self.c.request("GET", "/api/programs/3", auth=False,
                                    headers={"Cookie": "access_token_general=forged.token.x"})
        self.assertEqual(st, 401)

    def test_expire_tokens_knob(self):
        c = Client(self.server.port)
        c.login()
        self.assertEqual(c.request("GET", "/api/programs/3")[0], 200)
        self.c.test_api("POST", "/_test/faults", {"expire_tokens": True})
        self.assertEqual(c.request("GET", "/api/programs/3")[0], 401)
        c.login()
        self.assertEqual(c.request("GET", "/api/programs/3")[0], 200)
        self.c.login()  # the shared client's token was expired too
        c.close()

    # ------------------------------------------------------------ program

    def test_program_etag_304_and_404(self):
        st, resp, body = self.c.request("GET", "/api/programs/3")
        self.assertEqual(st, 200)
        self.assertEqual([a["name"] for a in body["programRegistrationAttributes"]],
                         ["fullName", "phoneNumber", "householdSize", "district"])
        self.assertEqual(body["languages"], ["en", "nl"])
        self.assertIn("Intersolve-voucher-paper", [f["name"] for f in body["fspConfigurations"]])
        etag = resp.getheader("ETag")
        self.assertTrue(etag.startswith('W/"'))
        st, resp, payload = self.c.request("GET", "/api/programs/3", headers={"If-None-Match": etag}, raw=True)
        self.assertEqual(st, 304)
        self.assertEqual(payload, b"")
        st, _r, body = self.c.request("GET", "/api/programs/9")
        self.assertEqual((st, body), (404, {"errors": "No program found with id 9"}))
        st, _r, body = self.c.request("GET", "/api/programs/3/fsp-configurations")
        self.assertEqual(st, 200)
        st, resp, body = self.c.request("GET", "/api/notifications/3/message-templates")
        self.assertEqual(st, 200)
        st, _r, _p = self.c.request("GET", "/api/notifications/3/message-templates",
                                    headers={"If-None-Match": resp.getheader("ETag")}, raw=True)
        self.assertEqual(st, 304)

    # ------------------------------------------------------------ reading registrations

    def test_paging_and_meta(self):
        st, resp, body = self.c.request("GET", "/api/programs/3/registrations?limit=2")
        self.assertEqual(st, 200)
        total = body["meta"]["totalItems"]
        self.assertEqual(len(body["data"]), 2)
        self.assertEqual(body["meta"]["itemsPerPage"], 2)
        self.assertEqual(body["meta"]["currentPage"], 1)
        self.assertEqual(body["meta"]["totalPages"], (total + 1) // 2)
        self.assertEqual(body["meta"]["sortBy"], [["id", "ASC"]])
        self.assertNotIn("filter", body["meta"])
        self.assertIn("next", body["links"])
        self.assertNotIn("previous", body["links"])
        self.assertEqual(list(body["data"][0])[:5], ["id", "status", "programId", "created", "referenceId"])
        for d in body["data"]:
            self.assertIsInstance(d["phoneNumber"], str)
            self.assertNotEqual(d["status"], "deleted")
        first_two = [d["id"] for d in body["data"]]
        st, _r, body2 = self.c.request("GET", "/api/programs/3/registrations?limit=2&page=2")
        self.assertEqual(body2["meta"]["currentPage"], 2)
        self.assertIn("previous", body2["links"])
        self.assertGreater(body2["data"][0]["id"], first_two[1])
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations")
        self.assertEqual(len(body["data"]), 20)  # default limit
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?limit=0")
        self.assertEqual(body["data"], [])
        self.assertEqual(body["meta"]["totalItems"], total)
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?limit=-1")
        self.assertEqual(len(body["data"]), total)
        self.assertEqual(body["meta"]["totalPages"], 1)

    def test_keyset_walk_and_sort(self):
        ids = self.all_ids()
        self.assertEqual(ids, sorted(ids))
        walked, last = [], 0
        while True:
            st, _r, body = self.c.request(
                "GET", "/api/programs/3/registrations?filter.id=$gt:%d&sortBy=id:ASC&limit=97&select=id" % last)
            self.assertEqual(st, 200)
            if not body["data"]:
                break
            walked += [d["id"] for d in body["data"]]
            last = walked[-1]
        self.assertEqual(walked, ids)
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?sortBy=id:DESC&limit=1")
        self.assertEqual(body["data"][0]["id"], ids[-1])
        self.assertEqual(body["meta"]["sortBy"], [["id", "DESC"]])
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.id=$gt:%d" % ids[-1])
        self.assertEqual(body["data"], [])
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.id=$eq:%d" % ids[3])
        self.assertEqual([d["id"] for d in body["data"]], [ids[3]])
        # unknown sort column is ignored (default id:ASC)
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?sortBy=nope:ASC&limit=1")
        self.assertEqual(body["meta"]["sortBy"], [["id", "ASC"]])
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?sortBy=fullName:DESC&limit=3")
        names = [d["fullName"] for d in body["data"]]
        self.assertEqual(names, sorted(names, reverse=True))

    def test_filter_id_in_is_ignored(self):
        ids = self.all_ids()
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.id=$in:%d,%d&limit=-1"
                                      % (ids[0], ids[1]))
        self.assertEqual(st, 200)
        self.assertEqual(body["meta"]["totalItems"], len(ids))
        self.assertEqual(body["meta"]["filter"], {"id": "$in:%d,%d" % (ids[0], ids[1])})
        # disallowed operator and unknown column: silently dropped as well
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.id=$gte:%d&limit=0" % ids[-1])
        self.assertEqual(body["meta"]["totalItems"], len(ids))
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.updated=$gt:2099-01-01T00:00:00Z&limit=0")
        self.assertEqual(body["meta"]["totalItems"], len(ids))

    def test_filter_reference_in_and_others(self):
        st, _r, body = self.c.request(
            "GET", "/api/programs/3/registrations?filter.referenceId=$in:ref-00001,ref-00002,nope-1&limit=-1")
        self.assertEqual(st, 200)
        self.assertEqual(sorted(d["referenceId"] for d in body["data"]),
                         sorted(r for r in ("ref-00001", "ref-00002")
                                if self.c.test_api("GET", "/_test/registration/" + r)["deleted"] is False))
        self.assertEqual(body["meta"]["filter"], {"referenceId": "$in:ref-00001,ref-00002,nope-1"})
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.status=$eq:included&limit=-1")
        self.assertTrue(body["data"])
        self.assertTrue(all(d["status"] == "included" for d in body["data"]))
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations?filter.fullName=$ilike:person%200000&limit=-1")
        self.assertTrue(all("person 0000" in d["fullName"].lower() for d in body["data"]))
        st, _r, body = self.c.request(
            "GET", "/api/programs/3/registrations?filter.referenceId=ref-00003&select=referenceId,status")
        for d in body["data"]:
            self.assertEqual(list(d), ["referenceId", "status"])

    # ------------------------------------------------------------ writing registrations

    def test_post_duplicate_gives_one_entry_per_existing_row(self):
        a, b = self.create(2)
        fresh = new_ref()
        rows = [{"referenceId": r, "programFspConfigurationName": "Intersolve-voucher-paper",
                 "phoneNumber": "+31600000001", "fullName": "X"} for r in (a, fresh, b)]
        st, _r, body = self.c.request("POST", "/api/programs/3/registrations", rows)
        self.assertEqual(st, 400)
        self.assertEqual(body, [
            {"column": "referenceId", "value": a, "error": "referenceId already exists in database",
             "referenceId": a, "lineNumber": 1},
            {"column": "referenceId", "value": b, "error": "referenceId already exists in database",
             "referenceId": b, "lineNumber": 3}])
        self.assertIsNone(self.get_reg(fresh))  # all-or-nothing
        rows = [rows[1], dict(rows[1])]
        st, _r, body = self.c.request("POST", "/api/programs/3/registrations", rows)
        self.assertEqual((st, body), (400, {"statusCode": 400, "message": "Duplicate referenceIds in import set"}))
        st, _r, body = self.c.request("POST", "/api/programs/3/registrations", [
            {"referenceId": new_ref(), "programFspConfigurationName": "nope", "phoneNumber": "abc",
             "fullName": "X"}])
        self.assertEqual(st, 400)
        self.assertEqual([e["column"] for e in body], ["programFspConfigurationName", "phoneNumber"])

    def test_created_registration_shape(self):
        (ref,) = self.create(1, district="north")
        reg = self.get_reg(ref)
        self.assertEqual(reg["status"], "new")
        self.assertEqual(reg["phoneNumber"], "31612345678")
        self.assertEqual(reg["householdSize"], "3")
        self.assertEqual(reg["district"], "north")
        self.assertEqual(reg["name"], "Test Person")
        self.assertEqual(reg["personAffectedSequence"], "PA #%d" % reg["registrationProgramId"])
        st, _r, one = self.c.request("GET", "/api/programs/3/registrations/%d" % reg["id"])
        self.assertEqual((st, one), (200, reg))
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % ref)
        self.assertEqual(st, 200)
        self.assertEqual([(e["oldValue"], e["newValue"]) for e in ev["data"]], [(None, "new")])
        self.assertEqual(ev["data"][0]["registrationId"], reg["id"])
        st, _r, body = self.c.request("GET", "/api/programs/3/registrations/abc")
        self.assertEqual(st, 400)

    def test_patch_no_change_gives_empty_body(self):
        (ref,) = self.create(1)
        path = "/api/programs/3/registrations/%s" % ref
        st, resp, payload = self.c.request("PATCH", path, {"data": {"householdSize": 3, "fullName": "Test Person"},
                                                           "reason": "same"}, raw=True)
        self.assertEqual((st, payload, resp.getheader("Content-Length")), (200, b"", "0"))
        st, resp, body = self.c.request("PATCH", path, {"data": {"householdSize": "4", "phoneNumber": "+31 6 0000 0099",
                                                                 "status": "included", "bogus": 1},
                                                        "reason": "CRM sync"})
        self.assertEqual(st, 200)
        self.assertEqual((body["householdSize"], body["phoneNumber"], body["status"]), ("4", "31600000099", "new"))
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % ref)
        changes = [(e["type"], e["fieldChanged"], e["oldValue"], e["newValue"], e["reason"]) for e in ev["data"][1:]]
        self.assertEqual(changes, [("registrationDataChange", "householdSize", "3", "4", "CRM sync"),
                                   ("registrationDataChange", "phoneNumber", "31612345678", "31600000099", "CRM sync")])
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/does-not-exist", {"data": {"fullName": "a"}})
        self.assertEqual((st, body), (404, {"statusCode": 404, "message":
                                            "The following referenceIds were not found in the database: does-not-exist"}))
        st, _r, body = self.c.request("PATCH", path, {"data": {"phoneNumber": "abc"}})
        self.assertEqual(st, 400)
        self.assertIn("phoneNumber: This value is not a valid phonenumber", body["message"])

    def test_portal_edit_generates_events(self):
        (ref,) = self.create(1)
        out = self.c.test_api("POST", "/_test/edit", {"referenceId": ref, "data": {"fullName": "Edited"},
                                                      "reason": "portal"})
        self.assertEqual(out["changed"], ["fullName"])
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % ref)
        last = ev["data"][-1]
        self.assertEqual((last["username"], last["newValue"], last["reason"]), ("portal-user", "Edited", "portal"))

    def test_status_dry_run_then_async_apply(self):
        a, b = self.create(2)
        self.c.test_api("POST", "/_test/status", {"referenceIds": [b], "status": "declined", "reason": "r"})
        q = "filter.referenceId=$in:%s,%s" % (a, b)
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?dryRun=true&" + q,
                                      {"status": "validated"})
        self.assertEqual((st, body), (200, {"totalFilterCount": 2, "applicableCount": 1, "nonApplicableCount": 1}))
        self.assertEqual(self.get_reg(a)["status"], "new")
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?dryRun=false&" + q,
                                      {"status": "validated", "reason": "checked"})
        self.assertEqual((st, body), (202, {"totalFilterCount": 2, "applicableCount": 1, "nonApplicableCount": 1}))
        self.assertEqual(self.get_reg(a)["status"], "new")  # applied asynchronously
        self.assertTrue(wait_for(lambda: self.get_reg(a)["status"] == "validated"))
        self.assertEqual(self.get_reg(b)["status"], "declined")
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?dryRun=false&" + q,
                                      {"status": "validated", "reason": "again"})
        self.assertEqual(body, {"totalFilterCount": 2, "applicableCount": 0, "nonApplicableCount": 2})
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % a)
        self.assertEqual([(e["oldValue"], e["newValue"], e["reason"]) for e in ev["data"]],
                         [(None, "new", None), ("new", "validated", "checked")])
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?" + q, {"status": "bogus"})
        self.assertEqual(st, 400)
        self.assertIn("isEnum", body["message"][0]["constraints"])
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?" + q, {"status": "completed"})
        self.assertEqual((st, body), (400, {"errors": "The status completed is unknown or cannot be changed to via API"}))
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?" + q, {"status": "paused"})
        self.assertEqual(st, 400)  # reason required
        # no filter: the whole program
        st, _r, body = self.c.request("PATCH", "/api/programs/3/registrations/status?dryRun=true",
                                      {"status": "paused", "reason": "x"})
        st2, _r, count = self.c.request("GET", "/api/programs/3/registrations?limit=0")
        self.assertEqual(body["totalFilterCount"], count["meta"]["totalItems"])

    def test_delete_is_soft_and_reference_stays_taken(self):
        (ref,) = self.create(1)
        st, _r, body = self.c.request("DELETE", "/api/programs/3/registrations?filter.referenceId=$in:%s" % ref,
                                      {"reason": "duplicate"})
        self.assertEqual((st, body["applicableCount"]), (202, 1))
        self.assertTrue(wait_for(lambda: self.get_reg(ref) is None))
        raw = self.c.test_api("GET", "/_test/registration/%s" % ref)
        self.assertTrue(raw["deleted"])
        self.assertIsNone(raw["registration"]["fullName"])
        self.assertEqual(raw["events"][-1]["newValue"], "deleted")
        st, _r, body = self.c.request("POST", "/api/programs/3/registrations", [
            {"referenceId": ref, "programFspConfigurationName": "Intersolve-voucher-paper",
             "phoneNumber": "+31600000001", "fullName": "X"}])
        self.assertEqual(st, 400)
        self.assertEqual(body[0]["error"], "referenceId already exists in database")

    def test_bulk_csv_update_applied_async(self):
        a, b = self.create(2)
        csv_text = "referenceId;householdSize;district\n%s;7;north\n%s;8;south\n" % (a, b)
        boundary = "fake121boundary"
        parts = ("--%s\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\nbulk fix\r\n"
                 "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.csv\"\r\n"
                 "Content-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n" % (boundary, boundary, csv_text, boundary))
        st, resp, payload = self.c.request("PATCH", "/api/programs/3/registrations", parts.encode(),
                                           headers={"Content-Type": "multipart/form-data; boundary=" + boundary},
                                           raw=True)
        self.assertEqual((st, payload), (200, b""))
        self.assertTrue(wait_for(lambda: self.get_reg(b)["householdSize"] == "8"))
        self.assertEqual((self.get_reg(a)["householdSize"], self.get_reg(a)["district"]), ("7", "north"))
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % b)
        self.assertEqual([e["reason"] for e in ev["data"][1:]], ["bulk fix", "bulk fix"])

    # ------------------------------------------------------------ events

    def test_events_404_window_inclusive_and_bad_date(self):
        st, _r, body = self.c.request("GET", "/api/programs/3/registration-events?fromDate=2099-01-01T00:00:00.000Z")
        self.assertEqual((st, body), (404, {"errors": "There is currently no data to export"}))
        (ref,) = self.create(1)
        st, _r, ev = self.c.request("GET", "/api/programs/3/registration-events?referenceId=%s" % ref)
        created = ev["data"][0]["created"]
        st, _r, body = self.c.request("GET", "/api/programs/3/registration-events?fromDate=%s&toDate=%s"
                                      % (created, created))
        self.assertEqual(st, 200)
        self.assertIn(ev["data"][0]["id"], [e["id"] for e in body["data"]])
        self.assertTrue(all(e["created"] == created for e in body["data"]))
        self.assertEqual(list(body["data"][0]), ["id", "created", "registrationId", "registrationProgramId",
                                                 "type", "fieldChanged", "oldValue", "newValue", "reason",
                                                 "username"])
        self.assertEqual(body["meta"]["itemsPerPage"], 500000)
        ids = [e["id"] for e in body["data"]]
        self.assertEqual(ids, sorted(ids))
        st, _r, body = self.c.request("GET", "/api/programs/3/registration-events?fromDate=notadate")
        self.assertEqual(st, 400)
        self.assertEqual(body["message"][0]["constraints"],
                         {"isIso8601": "fromDate must be a valid ISO 8601 date string"})

    # ------------------------------------------------------------ payments

    def test_payments_transactions_and_voucher(self):
        st, _r, pays = self.c.request("GET", "/api/programs/3/payments")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(len(pays), 2)
        self.assertEqual([p["paymentId"] for p in pays], sorted((p["paymentId"] for p in pays), reverse=True))
        pid = pays[-1]["paymentId"]
        st, _r, tx = self.c.request("GET", "/api/programs/3/payments/%d/transactions?limit=5" % pid)
        self.assertEqual(st, 200)
        self.assertEqual(len(tx["data"]), 5)
        ref = tx["data"][0]["registrationReferenceId"]
        before = self.c.test_api("GET", "/_test/clock")["now"]
        time.sleep(0.01)
        self.c.test_api("POST", "/_test/transactions", {"paymentId": pid, "referenceIds": [ref], "status": "error",
                                                        "errorMessage": "boom"})
        st, _r, tx = self.c.request("GET", "/api/programs/3/payments/%d/transactions?filter.updated=$gt:%s&limit=-1"
                                    % (pid, before))
        self.assertEqual([(t["registrationReferenceId"], t["status"]) for t in tx["data"]], [(ref, "error")])
        newest = pays[0]["paymentId"]
        st, resp, png = self.c.request("GET", "/api/programs/3/fsps/intersolve-voucher/voucher/image-paper"
                                       "?referenceId=%s&paymentId=%d" % (self._paper_ref(newest), newest),
                                       raw=True)
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Type"), "image/png")
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        st, _r, body = self.c.request("GET", "/api/programs/3/fsps/intersolve-voucher/voucher/image-paper"
                                      "?referenceId=nope-00001&paymentId=1")
        self.assertEqual(body["message"], "PA with this referenceId not found (within your scope)")

    def _paper_ref(self, pid):
        st, _r, tx = self.c.request("GET", "/api/programs/3/payments/%d/transactions?limit=1"
                                    "&filter.status=$eq:success&filter.fspName=$eq:Intersolve-voucher-paper" % pid)
        return tx["data"][0]["registrationReferenceId"]

    # ------------------------------------------------------------ faults, gzip

    def test_fault_503_once(self):
        self.c.test_api("POST", "/_test/faults", {"fail_status": 503, "fail_count": 1,
                                                  "path_contains": "registrations"})
        self.assertEqual(self.c.request("GET", "/api/programs/3")[0], 200)  # path does not match
        st, resp, payload = self.c.request("GET", "/api/programs/3/registrations?limit=1", raw=True)
        self.assertEqual(st, 503)
        self.assertEqual(self.c.request("GET", "/api/programs/3/registrations?limit=1")[0], 200)

    def test_fault_429_and_lost_response(self):
        self.c.test_api("POST", "/_test/faults", {"rate_limit_429": 1, "retry_after": 7})
        st, resp, _p = self.c.request("GET", "/api/programs/3", raw=True)
        self.assertEqual((st, resp.getheader("Retry-After")), (429, "7"))
        # fail_after_apply: the POST is applied, but the client sees a 502
        ref = new_ref()
        self.c.test_api("POST", "/_test/faults", {"fail_status": 502, "fail_after_apply": True,
                                                  "path_contains": "/registrations"})
        st, _r, _b = self.c.request("POST", "/api/programs/3/registrations", [
            {"referenceId": ref, "programFspConfigurationName": "Intersolve-voucher-paper",
             "phoneNumber": "+31600000001", "fullName": "X"}], raw=True)
        self.assertEqual(st, 502)
        self.assertIsNotNone(self.get_reg(ref))

    def test_fault_truncate_malformed_drop(self):
        self.c.test_api("POST", "/_test/faults", {"truncate_json": True, "path_contains": "registrations"})
        st, _r, payload = self.c.request("GET", "/api/programs/3/registrations?limit=5", raw=True)
        self.assertEqual(st, 200)
        self.assertRaises(ValueError, json.loads, payload)
        self.c.test_api("POST", "/_test/faults", {"malformed_json": True})
        st, _r, payload = self.c.request("GET", "/api/programs/3", raw=True)
        self.assertRaises(ValueError, json.loads, payload)
        self.c.test_api("POST", "/_test/faults", {"drop_after_bytes": 100})
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("GET", "/api/programs/3/registrations?limit=50",
                     headers={"Cookie": "access_token_general=%s" % self.c.token})
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        self.assertEqual(self.c.request("GET", "/api/programs/3")[0], 200)

    def test_latency_knob(self):
        self.c.test_api("POST", "/_test/faults", {"latency_ms": 1500, "latency_count": 1})
        t = time.monotonic()
        self.assertEqual(self.c.request("GET", "/api/programs/3")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 1.45)
        t = time.monotonic()
        self.c.request("GET", "/api/programs/3")
        # Only the first request waits (generous bound: CI is loaded).
        self.assertLess(time.monotonic() - t, 1.4)

    def test_gzip_response_and_request(self):
        st, resp, payload = self.c.request("GET", "/api/programs/3/registrations?limit=50",
                                           headers={"Accept-Encoding": "gzip"}, raw=True)
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Encoding"), "gzip")
        self.assertEqual(int(resp.getheader("Content-Length")), len(payload))
        body = json.loads(gzip.decompress(payload))
        self.assertEqual(len(body["data"]), 50)
        st, resp, payload = self.c.request("GET", "/api/programs/3/registrations?limit=50", raw=True)
        self.assertIsNone(resp.getheader("Content-Encoding"))
        self.assertEqual(json.loads(payload), body)
        (ref,) = self.create(1)
        data = gzip.compress(json.dumps({"data": {"fullName": "Gzipped"}, "reason": "gz"}).encode())
        st, _r, out = self.c.request("PATCH", "/api/programs/3/registrations/%s" % ref, data,
                                     headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertEqual((st, out["fullName"]), (200, "Gzipped"))

    def test_state_endpoint_counts_requests(self):
        before = self.c.test_api("GET", "/_test/state")
        self.c.request("GET", "/api/programs/3/registrations?limit=1")
        after = self.c.test_api("GET", "/_test/state")
        self.assertEqual(after["requests"], before["requests"] + 1)
        self.assertGreater(after["bytes_out"], before["bytes_out"])
        self.assertGreaterEqual(after["by_route"]["GET /api/programs/{pid}/registrations"], 1)
        self.assertIn("3", after["programs"])

    # ------------------------------------------------------------ distribution day

    def test_dist_templates_labels(self):
        c = self.c
        st, _r, body = c.request("POST", "/api/notifications/3/message-templates",
                                 {"type": "new", "language": "en", "message": "x",
                                  "isSendMessageTemplate": False})
        self.assertEqual(st, 400)
        self.assertIn("already exists", body["errors"])
        st, _r, body = c.request("POST", "/api/notifications/3/message-templates",
                                 {"type": "pickup", "language": "en", "message": "At 10",
                                  "isSendMessageTemplate": False})
        self.assertEqual((st, body), (201, None))
        st, _r, body = c.request("PATCH", "/api/notifications/3/message-templates/pickup/en",
                                 {"message": "At 11"})
        self.assertEqual((st, body["message"]), (200, "At 11"))
        st, _r, body = c.request("PATCH", "/api/notifications/3/message-templates/nope/en",
                                 {"message": "x"})
        self.assertEqual(st, 404)
        st, _r, body = c.request("PATCH", "/api/programs/3/registration-attributes/district",
                                 {"label": {"en": "District", "nl": "Wijk"}})
        self.assertEqual((st, body["label"]["nl"]), (200, "Wijk"))
        st, _r, body = c.request("PATCH", "/api/programs/3/registration-attributes/nope",
                                 {"label": {"en": "x"}})
        self.assertEqual(st, 404)
        self.assertIn("No programRegistrationAttribute", body["errors"])
        d = c.test_api("GET", "/_test/dist")
        self.assertEqual(d["template_writes"]["pickup/en"], 2)
        self.assertEqual(d["label_writes"], {"district/nl": 1})

    def test_dist_reconciliation(self):
        c = self.c
        # Its own people: the class's other tests count the seeded ones.
        mine = [self.create(1, phoneNumber="3161770000%d" % i)[0] for i in range(3)]
        out = c.test_api("POST", "/_test/dist/paper-payment", {"referenceIds": mine})
        pay, refs = out["paymentId"], out["referenceIds"]
        st, _r, tpl = c.request("GET", "/api/programs/3/payments/excel-reconciliation/template")
        self.assertEqual((st, tpl), (200, [{"name": "bank-transfer",
                                            "template": ["phoneNumber", "status", "errorMessage"]}]))
        phone = c.test_api("GET", "/_test/registration/" + refs[0])["attrs"]["phoneNumber"]
        boundary = "distboundary"

        def upload(text):
            data = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\n"
                    "Content-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n" % (boundary, text, boundary))
            return c.request("POST", "/api/programs/3/payments/%d/excel-reconciliation" % pay,
                             data.encode(),
                             headers={"Content-Type": "multipart/form-data; boundary=" + boundary})

        st, _r, body = upload("referenceId,status\n%s,success\n" % refs[0])
        self.assertEqual(st, 400)
        csv_text = "phoneNumber,status,errorMessage\n%s,error,lost\n999,success,\n" % phone
        for _ in range(2):  # the same file twice: applied once
            st, _r, body = upload(csv_text)
            self.assertEqual(st, 201, body)
        self.assertEqual(body["aggregateImportResult"],
                         {"countPaymentSuccess": 0, "countPaymentFailed": 1, "countNotFound": 1})
        self.assertEqual(body["importResult"][0]["importStatus"], "paymentFailed")
        d = c.test_api("GET", "/_test/dist")
        rec = d["reconciliation"][str(pay)][refs[0]]
        self.assertEqual((rec["status"], rec["applied"], rec["rows_received"]), ("error", 1, 2))
        st, _r, tx = c.request("GET", "/api/programs/3/payments/%d/transactions"
                                      "?filter.registrationReferenceId=%s" % (pay, refs[0]))
        self.assertEqual(tx["data"][0]["status"], "error")
        rid = tx["data"][0]["registrationId"]
        st, _r, acts = c.request("GET", "/api/programs/3/registrations/%d/activities" % rid)
        self.assertEqual(st, 200)
        self.assertIn("transaction", [a["type"] for a in acts["data"]])

    def test_dist_exchange_rates_and_unused_vouchers(self):
        c = self.c
        st, _r, rates = c.request("GET", "/api/exchange-rates")
        self.assertEqual(st, 200)
        self.assertEqual(set(rates[0]), {"currency", "euroExchangeRate", "closeTime"})
        self.assertEqual(len(rates), len({json.dumps(r) for r in rates}) + 1)  # not deduplicated
        c.test_api("POST", "/_test/dist/exchange-rates", {"admin": False})
        st, _r, body = c.request("GET", "/api/exchange-rates")
        self.assertEqual((st, body), (403, {"statusCode": 403, "message": "Forbidden"}))
        c.test_api("POST", "/_test/dist/exchange-rates", {"admin": True})
        mine = [self.create(1)[0] for _ in range(2)]
        out = c.test_api("POST", "/_test/dist/paper-payment", {"referenceIds": mine})
        st, _r, body = c.request("GET", "/api/programs/3/metrics/export-list/unused-vouchers")
        self.assertEqual((st, body["fileName"]), (200, "unused-vouchers"))
        rows = [r for r in body["data"] if r["paymentId"] == out["paymentId"]]
        self.assertEqual(sorted(r["referenceId"] for r in rows), sorted(mine))
        self.assertEqual(list(rows[0]), ["referenceId", "paymentId", "issueDate",
                                         "whatsappPhoneNumber", "lastExternalUpdate"])
        # the distribution-day state (it holds a lock) survives a restart:
        # save-state pickles it (a failure here lost the whole state)
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            c.test_api("POST", "/_test/save-state", {"path": os.path.join(d, "state")})
            self.assertGreater(os.path.getsize(os.path.join(d, "state")), 0)


class Fake121PerfAndCostTest(unittest.TestCase):
    def test_large_pull_is_fast_without_cost_model(self):
        srv = FakeServer("--seed-registrations", "40000", "--seed-payments", "0")
        try:
            c = Client(srv.port)
            c.login()
            t = time.monotonic()
            st, resp, payload = c.request("GET", "/api/programs/3/registrations?limit=-1", raw=True)
            elapsed = time.monotonic() - t
            self.assertEqual(st, 200)
            body = json.loads(payload)
            live = c.test_api("GET", "/_test/state")["programs"]["3"]["registrations_live"]
            self.assertEqual(len(body["data"]), live)
            self.assertGreater(len(payload), 20_000_000)
            print("# 40,000 rows served in %.2f s" % elapsed)
            c.close()
        finally:
            srv.stop()

    def test_cost_model_scaled(self):
        srv = FakeServer("--seed-registrations", "200", "--cost-model", "--cost-scale", "0.1")
        try:
            c = Client(srv.port)
            c.login()
            st, _r, body = c.request("GET", "/api/programs/3/registrations?limit=1")
            ref = body["data"][0]["referenceId"]
            t = time.monotonic()
            st, _r, _b = c.request("PATCH", "/api/programs/3/registrations/%s" % ref,
                                   {"data": {"fullName": "Slow"}, "reason": "cost"})
            self.assertEqual(st, 200)
            self.assertGreaterEqual(time.monotonic() - t, 0.24)  # 2.5 s * 0.1
            t = time.monotonic()
            c.request("GET", "/api/programs/3/registrations?filter.id=$gt:999999")
            # An empty answer costs nothing in the model (bound generous:
            # the suite runs on a loaded machine).
            self.assertLess(time.monotonic() - t, 0.24 * 5)
            c.close()
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
