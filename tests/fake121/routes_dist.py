"""Distribution-day routes of the fake 121 (agent issue 10), following
shared/contracts/121-api.md sections 2, 3.7, 3.8, 6 and 8:

  GET   /api/programs/{pid}/payments/excel-reconciliation/template
  POST  /api/programs/{pid}/payments/{payid}/excel-reconciliation
  POST  /api/programs/{pid}/registrations/message   (records each message)
  GET   /api/programs/{pid}/registrations/{id}/activities
  POST  /api/notifications/{pid}/message-templates
  PATCH /api/notifications/{pid}/message-templates/{type}/{language}
  PATCH /api/programs/{pid}/registration-attributes/{name}
  GET   /api/exchange-rates   (contract 9; POST /_test/dist/exchange-rates
        {"rates": [...], "admin": false} sets them or makes the route 403)

State the tests inspect: GET /_test/dist (see `dist_summary`). A paper
voucher payment for the tests: POST /_test/dist/paper-payment
{"count": N} or {"referenceIds": [...]} (the first N live registrations,
or those, become included with the Intersolve-voucher-paper FSP and get
one success transaction each).

Reconciliation is idempotent as in 121: a row sets a transaction's status;
a row that changes nothing (same status and message again) is counted in
`rows_received` but not in `applied`.
"""

import csv
import io
import re
import threading

from common import HttpError, Resp
from model import iso_ms

import routes121 as R

RECON_MAX_ROWS = 10000


class DistState:
    def __init__(self):
        self.lock = threading.Lock()
        self.recon = {}            # (payment, ref) -> {"status", "errorMessage", "applied", "rows_received"}
        self.recon_uploads = 0
        self.messages = []         # {"referenceId", "body", "templateKey", "created", "created_ms"}
        self.message_requests = 0
        self.template_writes = {}  # "type/lang" -> changes that reached the fake
        self.template_requests = 0
        self.label_writes = {}     # "attr/lang" -> changes
        self.label_requests = 0
        # GET /api/exchange-rates (contract 9): one row per stored day per
        # currency, not deduplicated; admin only (rates_admin False: 403)
        self.exchange_rates = [
            {"currency": "KES", "euroExchangeRate": 0.00744368, "closeTime": "2025-01-15T23:59:59Z"},
            {"currency": "KES", "euroExchangeRate": 0.00741152, "closeTime": "2025-01-16T23:59:59Z"},
            {"currency": "ETB", "euroExchangeRate": 0.0076, "closeTime": "2025-01-16T23:59:59Z"},
            {"currency": "KES", "euroExchangeRate": 0.00741152, "closeTime": "2025-01-16T23:59:59Z"}]
        self.rates_admin = True
        self.rate_requests = 0

    # The state is pickled across a server restart (app.save_state): a lock
    # cannot be, so it is left out and made anew.
    def __getstate__(self):
        d = self.__dict__.copy()
        d.pop("lock", None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.lock = threading.Lock()


def dist(state):
    d = getattr(state, "dist", None)
    if d is None:
        d = state.dist = DistState()
    return d


def _excel_fsps(p):
    return [f for f in p.fsps if f.fsp_name == "Excel"]


def r_recon_template(ctx):
    fsps = _excel_fsps(ctx.program)
    if not fsps:
        raise HttpError(404, {"errors": "No FSP configuration with integration type excel "
                              "found in program %d" % ctx.program.id})
    return Resp(200, [{"name": f.name, "template": [f.properties.get("columnToMatch", "phoneNumber"),
                                                    "status", "errorMessage"]} for f in fsps])


def _match_value(p, reg, col):
    if col == "referenceId":
        return reg.reference_id
    return reg.attrs.get(col)


def r_recon_post(ctx):
    p = ctx.program
    state = ctx.state
    pay = R._payment(ctx)
    fsps = _excel_fsps(p)
    if not fsps:
        raise HttpError(404, {"errors": "No FSP configuration with integration type excel "
                              "found in program %d" % p.id})
    parts = R.parse_multipart(ctx.body, ctx.header("Content-Type"))
    if parts is None or "file" not in parts or parts["file"][0] is None:
        raise HttpError(400, {"errors": "No file uploaded (multipart/form-data field 'file')"})
    filename, content = parts["file"]
    if not filename.lower().endswith(".csv"):
        raise HttpError(400, {"errors": "Wrong file extension. It should be .csv"})
    text = content.decode("utf-8-sig", "replace")
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=sep)
    rows = [dict(r) for r in reader]
    if len(rows) > RECON_MAX_ROWS:
        raise HttpError(400, ["Too many records. Maximum number of records is %d. "
                              "You have %d records." % (RECON_MAX_ROWS, len(rows))])
    cols = [f.properties.get("columnToMatch", "phoneNumber") for f in fsps]
    names = reader.fieldnames or []
    match = [c for c in names if c in cols]
    extra = [c for c in names if c not in cols and c not in ("status", "errorMessage")]
    if len(match) != 1 or "status" not in names or extra:
        raise HttpError(400, {"errors": "The file must have exactly one of the columns %s, "
                              "a status column and optionally errorMessage" % ", ".join(cols)})
    col = match[0]
    d = dist(state)
    out = []
    counts = {"countPaymentSuccess": 0, "countPaymentFailed": 0, "countNotFound": 0}
    with state.lock, d.lock:
        d.recon_uploads += 1
        by_value = {}
        for t in pay.transactions:
            v = _match_value(p, t.reg, col)
            if v is not None:
                by_value.setdefault(str(v), []).append(t)
        now_ms = state.clock.now_ms()
        for row in rows:
            v = (row.get(col) or "").strip()
            st = (row.get("status") or "").strip()
            if st not in ("success", "error"):
                raise HttpError(400, {"errors": "Status must be 'success' or 'error', "
                                      "found '%s'" % st})
            ts = by_value.get(v)
            if not ts:
                out.append({col: v, "status": st, "importStatus": "notFound"})
                counts["countNotFound"] += 1
                continue
            t = ts[-1]
            em = (row.get("errorMessage") or None) if st == "error" else None
            key = (pay.id, t.reg.reference_id)
            rec = d.recon.setdefault(key, {"status": None, "errorMessage": None,
                                           "applied": 0, "rows_received": 0})
            rec["rows_received"] += 1
            if rec["applied"] == 0 or rec["status"] != st or rec["errorMessage"] != em:
                rec["applied"] += 1
                rec["status"] = st
                rec["errorMessage"] = em
                t.status = st
                t.error_message = em
                # Never backwards: a seeded transaction's `updated` can lie
                # a little ahead of the clock.
                t.updated_ms = max(now_ms, t.updated_ms + 1)
                t.updated = iso_ms(t.updated_ms)
            item = {"referenceId": t.reg.reference_id, col: v, "status": st,
                    "importStatus": "paymentSuccess" if st == "success" else "paymentFailed"}
            if col != "phoneNumber":
                item["phoneNumber"] = t.reg.attrs.get("phoneNumber")
            out.append(item)
            counts["countPaymentSuccess" if st == "success" else "countPaymentFailed"] += 1
        state.version += 1
    return Resp(201, {"importResult": out, "aggregateImportResult": counts})


def r_message(ctx):
    """121's route, plus a record of each message queued (for the tests and
    for the activities)."""
    resp = R.r_message(ctx)
    if resp.status != 202:
        return resp
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    rows, _scanned, _pf = R.select_registrations(ctx, p, allow_search=True)
    d = dist(state)
    text = body.get("message")
    key = body.get("messageTemplateKey")
    with state.lock, d.lock:
        d.message_requests += 1
        ms = state.clock.now_ms()
        for r in rows:
            if r.status == "deleted":
                continue
            msg = text
            if key:
                tpl = next((t for t in p.templates if t["type"] == key
                            and t["language"] == (r.preferred_language or "en")), None) \
                    or next((t for t in p.templates if t["type"] == key), None)
                msg = tpl.get("message") if tpl else None
            d.messages.append({"referenceId": r.reference_id, "registrationId": r.id,
                               "body": msg, "templateKey": key, "created": iso_ms(ms),
                               "created_ms": ms})
    return resp


def r_activities(ctx):
    p = ctx.program
    state = ctx.state
    rid = R.int_param(ctx, "rid")
    d = dist(state)
    data = []
    with state.lock:
        r = state.regs_by_id.get(rid)
        if r is None or r.program is not p:
            return Resp(200, {"meta": {"availableTypes": [], "count": {}}, "data": []})
        for pay in p.payments:
            for t in pay.transactions:
                if t.reg is r:
                    data.append({"type": "transaction", "created": t.created, "user": {"id": 42},
                                 "attributes": {"transactionId": t.id, "paymentId": pay.id,
                                                "status": t.status, "amount": t.transfer_value,
                                                "paymentDate": pay.created,
                                                "updatedDate": t.updated,
                                                "fspName": t.fsp.fsp_name,
                                                "fspConfigurationName": t.fsp.name,
                                                "errorMessage": t.error_message}})
        for e in p.events:
            if e[3] == r.id:
                kind = "status-change" if e[6] == "status" else "data-change"
                attrs = {"oldValue": e[7], "newValue": e[8], "reason": e[9]}
                if kind == "data-change":
                    attrs["fieldName"] = e[6]
                data.append({"type": kind, "created": e[2], "user": {"username": e[10]},
                             "attributes": attrs})
    with d.lock:
        for m in d.messages:
            if m["registrationId"] == rid:
                data.append({"type": "message", "created": m["created"], "user": None,
                             "attributes": {"to": r.attrs.get("phoneNumber"), "body": m["body"],
                                            "status": "sent", "mediaUrl": None,
                                            "contentType": "text", "errorCode": None,
                                            "notificationType": "sms"}})
    data.sort(key=lambda a: a["created"], reverse=True)
    count = {}
    for i, a in enumerate(data):
        a["id"] = "%s%d" % (a["type"], count.get(a["type"], 0))
        count[a["type"]] = count.get(a["type"], 0) + 1
    data = [dict([("id", a.pop("id"))] + list(a.items())) for a in data]
    return Resp(200, {"meta": {"availableTypes": ["transaction", "message", "data-change",
                                                  "status-change", "fsp-change",
                                                  "ignored-duplicate", "note"],
                               "count": count}, "data": data})


LANG_RE = re.compile(r"[a-z]{2}([_-][A-Za-z]+)?")


def r_template_post(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    d = dist(state)
    t = body.get("type")
    lang = body.get("language")
    if not isinstance(t, str) or not 1 <= len(t) <= 255:
        raise HttpError(400, {"message": ["type must be shorter than or equal to 255 characters"],
                              "error": "Bad Request", "statusCode": 400})
    if not isinstance(lang, str) or not LANG_RE.fullmatch(lang):
        raise HttpError(400, {"message": ["language must be a valid ISO 639-1 code"],
                              "error": "Bad Request", "statusCode": 400})
    if not isinstance(body.get("isSendMessageTemplate"), bool):
        raise HttpError(400, {"message": ["isSendMessageTemplate must be a boolean value"],
                              "error": "Bad Request", "statusCode": 400})
    with state.lock, d.lock:
        d.template_requests += 1
        if any(x["type"] == t and x["language"] == lang for x in p.templates):
            raise HttpError(400, {"errors": "Message template with type '%s' and language '%s' "
                                  "already exists in program %d" % (t, lang, p.id)})
        now = iso_ms(state.clock.now_ms())
        p.templates.append({"id": 100 + len(p.templates), "created": now, "updated": now,
                            "type": t, "label": body.get("label"), "language": lang,
                            "message": body.get("message"), "contentSid": body.get("contentSid"),
                            "isSendMessageTemplate": body["isSendMessageTemplate"],
                            "programId": p.id})
        k = "%s/%s" % (t, lang)
        d.template_writes[k] = d.template_writes.get(k, 0) + 1
        state.version += 1
    return Resp(201, None)


def r_template_patch(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    d = dist(state)
    t = ctx.params["type"]
    lang = ctx.params["lang"]
    if not LANG_RE.fullmatch(lang):
        raise HttpError(400, {"message": ["language must be a valid ISO 639-1 code"],
                              "error": "Bad Request", "statusCode": 400})
    with state.lock, d.lock:
        d.template_requests += 1
        tpl = next((x for x in p.templates if x["type"] == t and x["language"] == lang), None)
        if tpl is None:
            raise HttpError(404, {"errors": "No message template found with type '%s' and "
                                  "language '%s' in program %d" % (t, lang, p.id)})
        changed = False
        for f in ("message", "contentSid", "isSendMessageTemplate", "label"):
            if f in body and tpl.get(f) != body[f]:
                tpl[f] = body[f]
                changed = True
        if changed:
            tpl["updated"] = iso_ms(state.clock.now_ms())
            k = "%s/%s" % (t, lang)
            d.template_writes[k] = d.template_writes.get(k, 0) + 1
            state.version += 1
        return Resp(200, dict(tpl))


def r_attribute_patch(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    d = dist(state)
    name = ctx.params["name"]
    with state.lock, d.lock:
        d.label_requests += 1
        a = p.attr_by_name.get(name)
        if a is None:
            raise HttpError(404, {"errors": "No programRegistrationAttribute found with name "
                                  "%s for program %d" % (name, p.id)})
        label = body.get("label")
        if isinstance(label, dict):
            old = dict(a.label or {})
            a.label = dict(label)
            for lang, text in label.items():
                if old.get(lang) != text:
                    k = "%s/%s" % (name, lang)
                    d.label_writes[k] = d.label_writes.get(k, 0) + 1
            state.version += 1
            p.updated = iso_ms(state.clock.now_ms())
        return Resp(200, a.raw())


P = r"/api/programs/(?P<pid>[^/]+)"

# Matched before the routes of routes121 (the template route would
# otherwise be taken for GET /payments/{payid}).
def r_exchange_rates(ctx):
    d = dist(ctx.state)
    with d.lock:
        d.rate_requests += 1
        if not d.rates_admin:
            raise HttpError(403, {"statusCode": 403, "message": "Forbidden"})
        return Resp(200, [dict(x) for x in d.exchange_rates])


TABLE = [
    ("GET", r"/api/exchange-rates", r_exchange_rates, "any"),
    ("GET", P + r"/payments/excel-reconciliation/template", r_recon_template, "perm"),
    ("POST", P + r"/payments/(?P<payid>[^/]+)/excel-reconciliation", r_recon_post, "perm"),
    ("POST", P + r"/registrations/message", r_message, "perm"),
    ("GET", P + r"/registrations/(?P<rid>[^/]+)/activities", r_activities, "perm"),
    ("POST", r"/api/notifications/(?P<pid>[^/]+)/message-templates", r_template_post, "perm"),
    ("PATCH", r"/api/notifications/(?P<pid>[^/]+)/message-templates/(?P<type>[^/]+)/(?P<lang>[^/]+)",
     r_template_patch, "perm"),
    ("PATCH", P + r"/registration-attributes/(?P<name>[^/]+)", r_attribute_patch, "perm"),
]


# ---------------------------------------------------------------- /_test/dist

def dist_summary(app):
    d = dist(app.state)
    p = app.state.default_program
    with app.state.lock:   # before d.lock, as the routes take them
        templates = {"%s/%s" % (t["type"], t["language"]): t.get("message")
                     for t in p.templates}
        labels = {a.name: dict(a.label or {}) for a in p.attr_by_name.values()}
    with d.lock:
        recon = {}
        for (pay, ref), rec in d.recon.items():
            recon.setdefault(str(pay), {})[ref] = dict(rec)
        per_ref = {}
        for m in d.messages:
            per_ref[m["referenceId"]] = per_ref.get(m["referenceId"], 0) + 1
        return {"reconciliation": recon, "recon_uploads": d.recon_uploads,
                "messages": per_ref, "message_count": len(d.messages),
                "message_requests": d.message_requests,
                "template_writes": dict(d.template_writes),
                "template_requests": d.template_requests,
                "label_writes": dict(d.label_writes), "label_requests": d.label_requests,
                # For the fault harness: what each person was sent, and the
                # templates and labels as they stand.
                "message_list": [[m["referenceId"], m["body"]] for m in d.messages],
                "templates": templates, "labels": labels,
                "rate_requests": d.rate_requests}


def paper_payment(app, data):
    state = app.state
    p = state.default_program
    n = int(data.get("count", 0))
    wanted = data.get("referenceIds")
    with state.lock:
        paper = p.fsp_by_name["Intersolve-voucher-paper"]
        chosen = []
        regs = [state.refs[x] for x in wanted] if wanted else p.regs
        n = len(regs) if wanted else n
        for r in regs:
            if len(chosen) >= n:
                break
            if r.status == "deleted":
                continue
            r.status = "included"
            r.fsp = paper
            if r.max_payments is not None:
                r.max_payments = None
            chosen.append(r.reference_id)
        state.version += 1
    ids = state.create_payments(1, program=p, status="success", reference_ids=chosen)
    return Resp(200, {"paymentId": ids[0], "referenceIds": chosen})


def test_route(app, method, path, q, data):
    if method == "GET" and path == "/_test/dist":
        return Resp(200, dist_summary(app))
    if method == "POST" and path == "/_test/dist/paper-payment":
        return paper_payment(app, data)
    if method == "POST" and path == "/_test/dist/exchange-rates":
        # {"rates": [...]} replaces them, {"admin": false} makes the route 403
        d = dist(app.state)
        with d.lock:
            if "rates" in data:
                d.exchange_rates = list(data["rates"])
            if "admin" in data:
                d.rates_admin = bool(data["admin"])
        return Resp(200, {"ok": True})
    raise HttpError(404, {"error": "no such test route"})
