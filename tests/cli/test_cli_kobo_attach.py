#!/usr/bin/env python3
"""End-to-end: attachments of Kobo submissions (issue 8, item 5).

The real `agent` between the fake KoboToolbox (tests/fakekobo, which serves
files with token auth, late attachments and a redirect to a second
listener: "another host") and the fake 121 server:
  - a media answer's file is downloaded with the token, stored in the store
    and shown by `agent registrations show` (name, size, type; --json), and
    `agent kobo attachment REF QUESTION --out F` writes the same bytes;
  - the 121 attribute mapped to the media question gets the attachment URL
    (what kobo-connect sends);
  - a late attachment (answered, not listed yet) is fetched on a later
    sync, and the attribute then gets its URL;
  - the old URL shape (kc /media/original, numeric id) works;
  - a file over [kobo] attachment_max_bytes is listed, not stored;
  - a redirect to another host is not followed (the other listener gets
    no request) unless that host is in [kobo] attachment_hosts, and then
    without the token (the other listener sees no Authorization header).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import main  # noqa: E402
from test_cli_kobo import ASSET, KoboTestCase, MAPPING  # noqa: E402
import jsonschema_mini  # noqa: E402

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "docs", "json",
    "registrations-show.schema.json")

PHOTO = {"id_photo": {"name": "photo 1.jpg", "size": 3000,
                      "mimetype": "image/jpeg"}}


class AttachCase(KoboTestCase):
    seed = 2

    def setUp(self):
        super().setUp()
        m = dict(MAPPING, id_photo="photo")
        self.write("map.json", json.dumps(m))

    def set_kobo(self, key, value):
        with open(self.conf) as f:
            text = f.read()
        head, kobo = text.split("[kobo]\n", 1)
        kobo = "\n".join(ln for ln in kobo.split("\n")
                         if not ln.startswith(key + " ="))
        with open(self.conf, "w") as f:
            f.write(head + "[kobo]\n%s = %s\n" % (key, value) + kobo)

    def add(self, files, **kw):
        body = {"count": 1, "files": files}
        body.update(kw)
        sid = self.kobo.call("POST", "/_test/add", body)[0]
        return sid, self.ref_of(sid)

    def atts(self, ref):
        return self.json("registrations", "show", ref).get("_attachments", [])


class TestAttachments(AttachCase):
    def test_download_show_and_write_out(self):
        sid, ref = self.add(PHOTO)
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual(len(a), 1, a)
        self.assertEqual((a[0]["question"], a[0]["name"], a[0]["type"],
                          a[0]["size"], a[0]["state"]),
                         ("id_photo", "photo 1.jpg", "image/jpeg", 3000,
                          "stored"))
        sub = self.kobo.call("GET", "/_test/submission/%d" % sid)
        url = sub["_attachments"][0]["download_url"]
        # the 121 attribute gets the URL, as kobo-connect sends it
        reg = self.json("registrations", "show", ref)
        with open(SCHEMA) as f:
            self.assertEqual(jsonschema_mini.errors(reg, json.load(f)), [])
        self.assertEqual(reg["photo"], url)
        out = self.ok("registrations", "show", ref)
        self.assertIn("attachments:", out)
        self.assertIn("photo 1.jpg", out)
        self.assertIn("3000 bytes", out)
        dest = os.path.join(self.dir, "photo.jpg")
        doc = self.json("kobo", "attachment", ref, "id_photo", "--out", dest)
        self.assertEqual(doc["size"], 3000)
        att = sub["_attachments"][0]["uid"]
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), (att.encode() * 200)[:3000])
        # downloaded once: a second sync fetches nothing again
        hits = self.kobo.call("GET", "/_test/files")
        self.sync("--source", "kobo")
        self.assertEqual(self.kobo.call("GET", "/_test/files"), hits)
        self.assertEqual(hits, {att: 1})
        # a question without a file, and a registration without any
        self.fails("kobo", "attachment", ref, "no_such", "--out", dest)
        other = self.ref_of(self.kobo.call("GET", "/_test/ids")[0])
        self.assertNotIn("_attachments",
                         self.json("registrations", "show", other))

    def test_encrypted_store_covers_the_bytes(self):
        if os.environ.get("AGENT_TEST_ENCRYPT"):
            self.skipTest("the store is encrypted already in this run")
        sid, ref = self.add(PHOTO)
        self.sync("--source", "kobo")
        att = self.kobo.call("GET", "/_test/submission/%d" % sid)[
            "_attachments"][0]["uid"]
        body = (att.encode() * 200)[:3000]

        def on_disk():
            data = b""
            for name in os.listdir(os.path.dirname(self.db)):
                p = os.path.join(os.path.dirname(self.db), name)
                if os.path.isfile(p):
                    with open(p, "rb") as f:
                        data += f.read()
            return data
        self.assertIn(body[:200], on_disk())      # plain store: there
        self.env["AGENT_STORE_PASSPHRASE"] = "correct horse battery"
        self.ok("encrypt")
        self.assertNotIn(body[:64], on_disk())     # nowhere beside it
        dest = os.path.join(self.dir, "out.bin")
        self.ok("kobo", "attachment", ref, "id_photo", "--out", dest)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), body)
        os.unlink(dest)

    def test_old_url_shape(self):
        old = {"id_photo": dict(PHOTO["id_photo"], old=True, size=500)}
        sid, ref = self.add(old)
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual([(x["state"], x["size"]) for x in a],
                         [("stored", 500)])
        self.assertIn("/media/original?media_file=", a[0]["url"])

    def test_size_cap(self):
        self.set_kobo("attachment_max_bytes", "1000")
        sid, ref = self.add(PHOTO)
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual((a[0]["state"], a[0]["size"]), ("toolarge", None))
        self.assertIn("attachment_max_bytes", a[0]["error"])
        self.assertNotIn("photo", a[0]["error"])

    def test_redirect_to_another_host(self):
        self.kobo.call("POST", "/_test/attachments", {"redirect": True})
        sid, ref = self.add(PHOTO)
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual(a[0]["state"], "failed")
        self.assertIn("not in [kobo] attachment_hosts", a[0]["error"])
        self.assertNotIn("s3cr3t", a[0]["error"])
        self.assertEqual(self.kobo.call("GET", "/_test/storage_log"), [])
        # allowed: fetched there, without the token
        port = None
        for ln in self.kobo.call("GET", "/_test/submission/%d" % sid)[
                "_attachments"][0]["download_url"].split("/"):
            if ln.startswith("127.0.0.1:"):
                port = ln
        self.assertTrue(port)
        storage = self.kobo.call("GET", "/_test/storage_host")
        self.set_kobo("attachment_hosts", storage.split("//", 1)[1])
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual((a[0]["state"], a[0]["size"]), ("stored", 3000))
        log = self.kobo.call("GET", "/_test/storage_log")
        self.assertEqual(len(log), 1, log)
        self.assertIsNone(log[0]["authorization"])
        self.assertTrue(log[0]["path"].startswith("/storage/att"))



class TestLate(AttachCase):
    seed = 0

    def test_late_attachment_is_fetched_later(self):
        # the fake 121 program keeps only its own attributes: the photo
        # goes to a text attribute it has
        m = dict(MAPPING, id_photo="fullName")
        del m["full_name"]
        self.write("map.json", json.dumps(m))
        late = {"id_photo": dict(PHOTO["id_photo"], late=True)}
        sid, ref = self.add(late)
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual([x["state"] for x in a], ["missing"])
        self.assertEqual(self.json("registrations", "show", ref)["fullName"],
                         "photo 1.jpg")
        self.sync("--source", "kobo")          # still not there
        self.assertEqual([x["state"] for x in self.atts(ref)], ["missing"])
        listed = self.kobo.call("POST", "/_test/attach", {"id": sid})
        self.sync("--source", "kobo")
        a = self.atts(ref)
        self.assertEqual([(x["state"], x["size"]) for x in a],
                         [("stored", 3000)])
        # the attribute now carries the URL (a 121 edit with the file
        # name as its base)
        self.assertEqual(self.json("registrations", "show", ref)["fullName"],
                         listed[0]["download_url"])
        self.sync()
        reg = self.f121.registration(ref)["registration"]
        self.assertEqual(reg["fullName"], listed[0]["download_url"])

if __name__ == "__main__":
    main()
