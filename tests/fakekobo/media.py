# SPDX-License-Identifier: MIT
"""media.py - the fake Kobo's form media files and deployment (agent
issue 8: `agent kobo validation-csv --upload`), kpi API v2 shapes:

  GET    /api/v2/assets/{uid}/files/[?file_type=form_media]
         {count, next, previous, results: [{uid, url, asset, user,
         user__username, file_type, description, date_created, content,
         metadata: {filename, hash, mimetype}}]}
  POST   /api/v2/assets/{uid}/files/   multipart/form-data: content (the
         file), file_type (form_media), description, metadata (JSON with
         filename) -> 201 the file; 400 {"field": ["..."]} when one is
         missing or bad
  DELETE /api/v2/assets/{uid}/files/{file_uid}/  -> 204; 404 unknown
  GET    /api/v2/assets/{uid}/deployment/  {backend, active, version_id,
         asset}
  PATCH  /api/v2/assets/{uid}/deployment/  JSON {active, version_id}:
         version_id must be the asset's current version (400 otherwise);
         counts a redeploy -> 200 as GET
Token auth as the rest of the fake (the caller checked the token): the
--forbidden token gets 403, another asset 404.

Test control: POST /_test/media {"filename", "description", "text"} adds
a file; GET /_test/media -> {files: [...with size and text],
uploads, deletes, redeploys}; POST /_test/faults {"lose_upload": n}: the
next n uploads are applied, then the connection is closed without an
answer (a lost answer).
"""
import email.parser
import email.policy
import hashlib
import json
import uuid


def _media(st):
    if not hasattr(st, "media"):
        st.media = {"files": [], "uploads": 0, "deletes": 0, "redeploys": 0}
    return st.media


def control(h, method, path):
    st = h.server.state
    if method == "POST":  # /_test/media: add a file as the office would
        n = int(h.headers.get("Content-Length") or 0)
        data = json.loads(h.rfile.read(n) or b"{}")
        fuid = "af" + uuid.uuid4().hex[:20]
        raw = data.get("text", "").encode()
        doc = {"uid": fuid, "file_type": "form_media",
               "description": data.get("description", "uploaded by hand"),
               "metadata": {"filename": data["filename"],
                            "hash": "md5:" + hashlib.md5(raw).hexdigest(),
                            "mimetype": "text/csv"}}
        with st.lock:
            _media(st)["files"].append({"doc": doc, "data": raw})
        return h.send_json(200, doc)
    with st.lock:
        m = _media(st)
        out = dict(m)
        out["files"] = [dict(f["doc"], size=len(f["data"]),
                             text=f["data"].decode("utf-8", "replace"))
                        for f in m["files"]]
    return h.send_json(200, out)


def _parse_multipart(h, body):
    ctype = h.headers.get("Content-Type", "")
    if not ctype.startswith("multipart/form-data"):
        return None
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return parts


def handle(h, method, segs, parts):
    """segs: ["api","v2","assets",uid,"files"|"deployment",...]"""
    st = h.server.state
    auth = h.headers.get("Authorization", "")
    if segs[3] != st.uid:
        return h.send_json(404, {"detail": "Not found."})
    if auth[6:] == st.args.forbidden:
        return h.send_json(403, {"detail": "You do not have permission to "
                                 "perform this action."})
    n = int(h.headers.get("Content-Length") or 0)
    body = h.rfile.read(n) if n else b""
    host = "http://%s:%d" % h.server.server_address[:2]
    if segs[4] == "deployment" and len(segs) == 5:
        with st.lock:
            a = st.asset
            if method == "PATCH":
                try:
                    data = json.loads(body or b"{}")
                except ValueError:
                    return h.send_json(400, {"detail": "JSON parse error"})
                if data.get("version_id") != a.get("version_id"):
                    return h.send_json(400, {"version_id": [
                        "The version_id must be the current version of the asset"]})
                a["deployed_version_id"] = a["version_id"]
                a["deployment__active"] = bool(data.get("active", True))
                _media(st)["redeploys"] += 1
            elif method != "GET":
                return h.send_json(405, {"detail": "Method not allowed."})
            return h.send_json(200, {"backend": "mock", "active": a.get("deployment__active", True),
                                     "version_id": a.get("deployed_version_id"),
                                     "asset": {"uid": st.uid, "version_id": a.get("version_id")}})
    if segs[4] != "files":
        return h.send_json(404, {"detail": "Not found."})
    if method == "GET" and len(segs) == 5:
        with st.lock:
            rows = [f["doc"] for f in _media(st)["files"]]
        return h.send_json(200, {"count": len(rows), "next": None, "previous": None,
                                 "results": rows})
    if method == "DELETE" and len(segs) == 6:
        with st.lock:
            m = _media(st)
            keep = [f for f in m["files"] if f["doc"]["uid"] != segs[5]]
            if len(keep) == len(m["files"]):
                return h.send_json(404, {"detail": "Not found."})
            m["files"] = keep
            m["deletes"] += 1
        h.send_response(204)
        h.send_header("Content-Length", "0")
        h.end_headers()
        return None
    if method == "POST" and len(segs) == 5:
        form = _parse_multipart(h, body)
        if form is None:
            return h.send_json(400, {"detail": "Unsupported media type: multipart/form-data "
                                     "expected"})
        errs = {}
        if "content" not in form or not form["content"][0]:
            errs["content"] = ["No file was submitted."]
        if form.get("file_type", (None, b""))[1].decode() != "form_media":
            errs["file_type"] = ["\"%s\" is not a valid choice." %
                                 form.get("file_type", (None, b""))[1].decode()]
        if not form.get("description", (None, b""))[1]:
            errs["description"] = ["This field is required."]
        try:
            meta = json.loads(form.get("metadata", (None, b"{}"))[1] or b"{}")
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or not meta.get("filename"):
            errs["metadata"] = ["`filename` is required."]
        if errs:
            return h.send_json(400, errs)
        data = form["content"][1]
        fuid = "af" + uuid.uuid4().hex[:20]
        doc = {"uid": fuid, "url": "%s/api/v2/assets/%s/files/%s/" % (host, st.uid, fuid),
               "asset": "%s/api/v2/assets/%s/" % (host, st.uid), "user": host + "/api/v2/users/x/",
               "user__username": "x", "file_type": "form_media",
               "description": form["description"][1].decode("utf-8", "replace"),
               "date_created": "2026-12-05T00:00:00Z",
               "content": "%s/api/v2/assets/%s/files/%s/content/" % (host, st.uid, fuid),
               "metadata": {"filename": meta["filename"],
                            "hash": "md5:" + hashlib.md5(data).hexdigest(),
                            "mimetype": "text/csv"}}
        with st.lock:
            m = _media(st)
            m["files"].append({"doc": doc, "data": data})
            m["uploads"] += 1
            lose = st.faults.get("lose_upload", 0) > 0
            if lose:
                st.faults["lose_upload"] -= 1
        if lose:  # applied, but the answer never arrives
            h.close_connection = True
            h.connection.shutdown(2)
            return None
        return h.send_json(201, doc)
    return h.send_json(405, {"detail": "Method not allowed."})
