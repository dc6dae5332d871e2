"""The 121 API routes (contract: shared/contracts/121-api.md; recordings in
shared/contracts/recorded/121/ win where they differ)."""

import csv
import io
import json
import math
import re
import time

import costs
import query as Q
from common import HttpError, Resp, dumps, shape_d, shape_e
from model import (ALL_PERMISSIONS, API_STATUS_TARGETS, REASON_REQUIRED, STATUS_ENUM_MESSAGE,
                   STATUSES, ValidationFailed, event_view, http_date, iso_ms, make_png,
                   parse_iso_us, status_applicable)

BATCH = 2000


# ---------------------------------------------------------------- columns

def registration_columns(p):
    """Filterable/sortable columns of GET /registrations (contract 3.3)."""
    S, N = Q.STRING_OPS, Q.NUMBER_OPS
    cols = {
        "referenceId": ("string", lambda r: r.reference_id, S),
        "status": ("string", lambda r: r.status, S),
        "preferredLanguage": ("string", lambda r: r.preferred_language, S),
        "fspName": ("string", lambda r: r.fsp.fsp_name, S),
        "programFspConfigurationName": ("string", lambda r: r.fsp.name, S),
        "programFspConfigurationLabel": ("string", lambda r: (r.fsp.label or {}).get("en"), S),
        "personAffectedSequence": ("string", lambda r: "PA #%d" % r.rpid, S),
        "lastMessageStatus": ("string", lambda r: r.last_message_status, S),
        "duplicateStatus": ("string", lambda r: r.duplicate_status, S),
        "id": ("number", lambda r: r.id, N),
        "created": ("date", lambda r: r.created_ms * 1000, N),
        "inclusionScore": ("number", lambda r: r.inclusion_score, N),
        "paymentAmountMultiplier": ("number", lambda r: r.payment_amount_multiplier, N),
        "registrationProgramId": ("number", lambda r: r.rpid, N),
        "maxPayments": ("number", lambda r: r.max_payments, N),
        "paymentCount": ("number", lambda r: r.payment_count, N),
        "paymentCountRemaining": ("number", lambda r: (r.max_payments - r.payment_count)
                                  if r.max_payments is not None else None, N),
    }
    for a in p.attributes:
        cols[a.name] = ("string", (lambda n: lambda r: r.attrs.get(n))(a.name), S)
    return cols


def transaction_columns():
    S, N = Q.STRING_OPS, Q.NUMBER_OPS
    return {
        "id": ("number", lambda t: t.id, N),
        "transferValue": ("number", lambda t: t.transfer_value, N),
        "userId": ("number", lambda t: t.user_id, N),
        "created": ("date", lambda t: t.created_ms * 1000, N),
        "updated": ("date", lambda t: t.updated_ms * 1000, N),
        "paymentId": ("number", lambda t: t.payment.id, N),
        "registrationId": ("number", lambda t: t.reg.id, N),
        "programFspConfigurationId": ("number", lambda t: t.fsp.id, N),
        "registrationProgramId": ("number", lambda t: t.reg.rpid, N),
        "status": ("string", lambda t: t.status, S),
        "programFspConfigurationLabel": ("string", lambda t: (t.fsp.label or {}).get("en"), S),
        "programFspConfigurationName": ("string", lambda t: t.fsp.name, S),
        "fspName": ("string", lambda t: t.fsp.fsp_name, S),
        "errorMessage": ("string", lambda t: t.error_message, S),
        "registrationStatus": ("string", lambda t: t.reg.status, S),
        "registrationReferenceId": ("string", lambda t: t.reg.reference_id, S),
        "registrationScope": ("string", lambda t: t.reg.scope, S),
    }


TX_COLUMNS = transaction_columns()


def tx_view(t):
    r = t.reg
    f = t.fsp
    return {"id": t.id, "transferValue": t.transfer_value, "userId": t.user_id,
            "created": t.created, "updated": t.updated, "status": t.status,
            "paymentId": t.payment.id, "registrationId": r.id, "errorMessage": t.error_message,
            "programFspConfigurationId": f.id, "programFspConfigurationLabel": f.label,
            "programFspConfigurationName": f.name, "fspName": f.fsp_name,
            "registrationStatus": r.status, "registrationProgramId": r.rpid,
            "registrationReferenceId": r.reference_id, "registrationScope": r.scope}


# ---------------------------------------------------------------- route helpers

def int_param(ctx, name):
    v = ctx.params[name]
    if not re.fullmatch(r"-?\d+", v or ""):
        raise shape_e()
    return int(v)


def select_registrations(ctx, p, allow_search=True):
    """Rows of program p matching the query's filters (+search), deleted
    rows excluded, in id order. Returns (rows, scanned, parsed_filter)."""
    app, state = ctx.app, ctx.state
    cols = app.reg_columns(p)
    pf = Q.parse_filters(ctx.pairs, cols)
    search = ctx.q.get("search") if allow_search else None
    if search:
        low = search.lower()
        anames = [a.name for a in p.attributes]

        def search_ok(r):
            a = r.attrs
            for n in anames:
                v = a.get(n)
                if v is not None and low in v.lower():
                    return True
            return False
    else:
        search_ok = None
    with state.lock:
        lo, hi = pf.id_bounds()
        i, j = state.id_range(p, lo, hi)
        scanned = max(0, j - i)
        refs = pf.eq_in_values("referenceId")
        if refs is not None:
            cand = []
            for ref in refs:
                r = state.refs.get(ref)
                if r is not None and r.program is p and (lo is None or r.id >= lo) and (hi is None or r.id <= hi):
                    cand.append(r)
            cand.sort(key=lambda r: r.id)
        else:
            cand = p.regs[i:j]
        entries = pf.entries
        out = []
        append = out.append
        for r in cand:
            if r.status == "deleted":
                continue
            if entries and not pf.matches(r):
                continue
            if search_ok is not None and not search_ok(r):
                continue
            append(r)
    return out, scanned, pf


def serialize_envelope(state, rows, to_dict, meta, links, select=None, lock=True):
    """Envelope as a list of byte chunks; rows serialised in batches (the
    state lock is taken per batch only)."""
    chunks = [b'{"data":[']
    first = True
    for k in range(0, len(rows), BATCH):
        batch = rows[k:k + BATCH]
        if lock:
            with state.lock:
                ds = [to_dict(r) for r in batch]
        else:
            ds = [to_dict(r) for r in batch]
        if select is not None:
            ds = [{c: d[c] for c in select if c in d} for d in ds]
        s = json.dumps(ds, ensure_ascii=False, separators=(",", ":"))[1:-1].encode("utf-8")
        if s:
            chunks.append(s if first else b"," + s)
            first = False
    chunks.append(b'],"meta":' + dumps(meta) + b',"links":' + dumps(links) + b"}")
    return chunks


def schedule_after(ctx, fn, delay=None):
    d = ctx.app.config.async_delay if delay is None else delay
    ctx.app.scheduler.at(time.monotonic() + d, fn)


# ---------------------------------------------------------------- users

def r_login(ctx):
    app = ctx.app
    cfg = app.config
    ip = ctx.h.client_address[0]
    ok, remaining, reset = app.throttle.hit("login", ip, cfg.login_throttle)
    if not ok:
        raise HttpError(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                        headers=[("Retry-After", str(reset))])
    body = ctx.json_obj()
    errors = []
    for f in ("username", "password"):
        v = body.get(f)
        if v is None or v == "" or not isinstance(v, str):
            item = {"target": body}
            if f in body:
                item["value"] = v
            item.update({"property": f, "children": [],
                         "constraints": {"isNotEmpty": "%s should not be empty" % f}})
            errors.append(item)
    if errors:
        raise HttpError(400, {"message": errors, "error": "Bad Request", "statusCode": 400})
    ctx.cost = app.cost(costs.LOGIN_S)
    username = body["username"].lower()
    if username != cfg.user or body["password"] != cfg.password:
        raise HttpError(401, {"statusCode": 401, "message": "Unauthorized"})
    token, exp_ms = app.make_token(username)
    out = {"username": username, "permissions": {str(pid): list(ALL_PERMISSIONS)
                                                 for pid in ctx.state.programs},
           "access_token_general": token, "expires": iso_ms(exp_ms), "isAdmin": False,
           "isEntraUser": False,
           "isOrganizationAdmin": bool(getattr(cfg, "org_admin", False))}
    # With `x-121-interface: portal` the real service names the cookie
    # access_token_portal (contract 0.1); the agent must never send that header.
    name = ("access_token_portal" if (ctx.header("x-121-interface") or "").lower() == "portal"
            else "access_token_general")
    cookie = ("%s=%s; Path=/; Expires=%s; HttpOnly; SameSite=Lax"
              % (name, token, http_date(exp_ms)))
    return Resp(201, out, headers=[("Set-Cookie", cookie)])


def r_logout(ctx):
    return Resp(201, None, headers=[("Set-Cookie", "access_token_general=; Path=/; "
                                     "Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax")])


def r_current(ctx):
    u = ctx.user
    return Resp(200, {"user": {"id": 42, "username": u["username"],
                               "permissions": {str(pid): list(ALL_PERMISSIONS)
                                               for pid in ctx.state.programs},
                               "isAdmin": False, "isEntraUser": False,
                               "lastLogin": iso_ms(u["iat"] * 1000), "displayName": "sync-bot",
                               "isOrganizationAdmin": False, "expires": iso_ms(u["exp"] * 1000)}})


# ---------------------------------------------------------------- programs

def r_program(ctx):
    v = ctx.params["pid"]
    if not re.fullmatch(r"-?\d+", v):
        raise shape_e()
    p = ctx.state.programs.get(int(v))
    if p is None:
        raise HttpError(404, {"errors": "No program found with id %s" % int(v)})
    with ctx.state.lock:
        return Resp(200, p.entity())


def r_fsp_configs(ctx):
    return Resp(200, [f.dto() for f in ctx.program.fsps])


def r_templates(ctx):
    return Resp(200, ctx.program.templates)


# ---------------------------------------------------------------- registrations

def r_get_registrations(ctx):
    p = ctx.program
    app = ctx.app
    sort_values = [v for k, v in ctx.pairs if k == "sortBy"]
    if len(sort_values) > 1:
        raise HttpError(400, {"statusCode": 400,
                              "message": "Sorting by more than one column is not supported"})
    cols = app.reg_columns(p)
    sort_by = Q.parse_sort(sort_values, cols)
    page, limit_q = Q.parse_paging(ctx.q)
    rows, scanned, pf = select_registrations(ctx, p)
    if sort_by != [["id", "ASC"]]:
        getters = {k: v[1] for k, v in cols.items()}
        Q.sort_rows(rows, sort_by, getters)
    total = len(rows)
    start, stop = Q.page_slice(total, page, limit_q)
    page_rows = rows[start:stop]
    select = None
    if ctx.q.get("select"):
        select = [s.strip() for s in ctx.q["select"].split(",") if s.strip()]
    meta, links = Q.paginate_meta(total, len(page_rows), page, limit_q, sort_by, pf,
                                  ctx.q.get("search"), ctx.base_url())
    chunks = serialize_envelope(ctx.state, page_rows, p.make_viewer(), meta, links, select)
    ctx.cost = app.cost(costs.registrations_cost(scanned, len(page_rows)))
    return Resp(200, chunks)


def r_get_registration(ctx):
    rid = int_param(ctx, "rid")
    r = ctx.state.regs_by_id.get(rid)
    if r is None or r.program is not ctx.program:
        raise HttpError(404, {"statusCode": 404, "message": "No registration found for id %d" % rid})
    with ctx.state.lock:
        return Resp(200, ctx.program.make_viewer()(r))


def r_post_registrations(ctx):
    p = ctx.program
    rows = ctx.json(None)
    n = len(rows) if isinstance(rows, list) else 0
    ctx.cost = ctx.app.cost(costs.POST_REG_BASE_S + costs.POST_REG_PER_ROW_S * n)
    try:
        cleaned = ctx.state.validate_import(p, rows)
        count = ctx.state.import_rows(p, cleaned, ctx.user["username"])
    except ValidationFailed as e:
        raise HttpError(e.status, e.body)
    return Resp(201, {"aggregateImportResult": {"countImported": count}})


def r_patch_registration(ctx):
    p = ctx.program
    state = ctx.state
    ref = ctx.params["ref"]
    body = ctx.json_obj()
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        raise HttpError(400, shape_d(body, "data", data, {"isNotEmptyObject": "data must be a non-empty object"},
                                     present="data" in body))
    reason = body.get("reason")
    ctx.cost = ctx.app.cost(costs.PATCH_ONE_S)
    with state.lock:
        r = state.refs.get(ref)
        if r is None or r.program is not p or r.status == "deleted":
            raise HttpError(404, {"statusCode": 404,
                                  "message": "The following referenceIds were not found in the database: %s" % ref})
        changes, errors = state.validate_update(p, r, data)
        if errors:
            raise HttpError(400, {"statusCode": 400,
                                  "message": ", ".join("%s: %s" % (c, m) for c, m in errors)})
        changed = state.apply_update(p, r, changes, reason if isinstance(reason, str) else None,
                                     ctx.user["username"])
        if not changed:
            return Resp(200, None, etag=False)
        return Resp(200, p.make_viewer()(r))


def _bulk_counts(rows, applicable):
    return {"totalFilterCount": len(rows), "applicableCount": len(applicable),
            "nonApplicableCount": len(rows) - len(applicable)}


def r_patch_status(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    status = body.get("status")
    if status not in STATUSES:
        raise HttpError(400, shape_d(body, "status", status, {
            "isEnum": "status must be one of the following values: %s" % STATUS_ENUM_MESSAGE},
            present="status" in body))
    if body.get("message") and body.get("messageTemplateKey"):
        raise HttpError(400, shape_d(body, "message", body.get("message"), {
            "isNotBothPresent": "message and messageTemplateKey cannot be used together"}))
    if status not in API_STATUS_TARGETS:
        raise HttpError(400, {"errors": "The status %s is unknown or cannot be changed to via API" % status})
    reason = body.get("reason")
    if status in REASON_REQUIRED and not reason:
        raise HttpError(400, shape_d(body, "reason", reason, {
            "isNotEmpty": "reason should not be empty"}, present="reason" in body))
    dry = ctx.q.get("dryRun") == "true"
    rows, _scanned, _pf = select_registrations(ctx, p, allow_search=True)
    with state.lock:
        applicable = [r for r in rows if status_applicable(r, status)]
    ctx.cost = ctx.app.cost(costs.BULK_ACTION_S)
    counts = _bulk_counts(rows, applicable)
    if dry:
        return Resp(200, counts)
    username = ctx.user["username"]

    def job():
        for r in applicable:
            state.set_status(p, r, status, reason, username)
            if status in ("included", "paused") and body.get("message"):
                r.last_message_status = "sms: sent"

    schedule_after(ctx, job)
    return Resp(202, counts)


def r_delete_registrations(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    reason = body.get("reason")
    dry = ctx.q.get("dryRun") == "true"
    rows, _scanned, _pf = select_registrations(ctx, p, allow_search=True)
    with state.lock:
        applicable = [r for r in rows if status_applicable(r, "deleted")]
    ctx.cost = ctx.app.cost(costs.BULK_ACTION_S)
    counts = _bulk_counts(rows, applicable)
    if dry:
        return Resp(200, counts)
    username = ctx.user["username"]

    def job():
        for r in applicable:
            state.set_status(p, r, "deleted", reason, username)

    schedule_after(ctx, job)
    return Resp(202, counts)


def r_message(ctx):
    p = ctx.program
    state = ctx.state
    body = ctx.json_obj()
    has_msg = bool(body.get("message"))
    has_key = bool(body.get("messageTemplateKey"))
    if has_msg == has_key:
        raise HttpError(400, shape_d(body, "message", body.get("message"), {
            "isNotBothPresent": "Exactly one of message and messageTemplateKey must be given"},
            present="message" in body))
    if body.get("skipMessageValidation") and ctx.q.get("dryRun") != "true":
        raise HttpError(400, {"errors": "skipMessageValidation is only allowed with dryRun=true"})
    if has_key and not any(t["type"] == body["messageTemplateKey"] for t in p.templates):
        raise HttpError(400, {"errors": "Message template with key %s not found" % body["messageTemplateKey"]})
    dry = ctx.q.get("dryRun") == "true"
    rows, _scanned, _pf = select_registrations(ctx, p, allow_search=True)
    counts = _bulk_counts(rows, rows)
    ctx.cost = ctx.app.cost(costs.BULK_ACTION_S)
    if dry:
        return Resp(200, counts)

    def job():
        with state.lock:
            for r in rows:
                if r.status != "deleted":
                    r.last_message_status = "sms: sent"

    schedule_after(ctx, job)
    return Resp(202, counts)


def parse_multipart(body, ctype):
    m = re.search(r'boundary="?([^";]+)"?', ctype or "")
    if not m or "multipart/form-data" not in (ctype or "").lower():
        return None
    boundary = b"--" + m.group(1).encode()
    parts = {}
    for seg in body.split(boundary)[1:]:
        if seg.startswith(b"--"):
            break
        seg = seg[2:] if seg.startswith(b"\r\n") else seg.lstrip(b"\n")
        head, _, content = seg.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disp = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disp = line
        nm = re.search(r'\bname="([^"]*)"', disp)
        fn = re.search(r'\bfilename="([^"]*)"', disp)
        if nm:
            parts[nm.group(1)] = (fn.group(1) if fn else None, content)
    return parts


def r_bulk_patch(ctx):
    p = ctx.program
    state = ctx.state
    parts = parse_multipart(ctx.body, ctx.header("Content-Type"))
    if parts is None or "file" not in parts or parts["file"][0] is None:
        raise HttpError(400, {"statusCode": 400, "message": "No file uploaded (multipart/form-data field 'file')"})
    filename, content = parts["file"]
    if not filename.lower().endswith(".csv"):
        raise HttpError(400, {"errors": "Wrong file extension. It should be .csv"})
    reason = parts.get("reason", (None, b""))[1].decode("utf-8", "replace") or None
    text = content.decode("utf-8-sig", "replace")
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=sep)
    rows = [dict(r) for r in reader]
    if len(rows) > 100_000:
        raise HttpError(400, ["Too many records. Maximum number of records is 100000. "
                              "You have %d records." % len(rows)])
    if not reader.fieldnames or "referenceId" not in reader.fieldnames:
        raise HttpError(400, [{"lineNumber": 1, "column": "referenceId", "value": None,
                               "error": "referenceId column is required"}])
    ctx.cost = ctx.app.cost(costs.BULK_UPLOAD_BASE_S + costs.BULK_UPLOAD_PER_ROW_S * len(rows))
    planned = []
    with state.lock:
        missing = []
        for row in rows:
            r = state.refs.get(row.get("referenceId"))
            if r is None or r.program is not p or r.status == "deleted":
                missing.append(row.get("referenceId") or "")
        if missing:
            raise HttpError(404, {"statusCode": 404, "message":
                                  "The following referenceIds were not found in the database: %s"
                                  % ", ".join(missing)})
        errors = []
        for i, row in enumerate(rows):
            ref = row.pop("referenceId")
            row = {k: v for k, v in row.items() if k is not None}
            r = state.refs[ref]
            changes, errs = state.validate_update(p, r, row, bulk=True)
            for col, msg in errs:
                errors.append({"lineNumber": i + 1, "column": col, "value": row.get(col),
                               "error": msg, "referenceId": ref})
            planned.append((r, changes))
        if errors:
            raise HttpError(400, errors[:5000])
    username = ctx.user["username"]

    def job(r, changes):
        return lambda: state.apply_update(p, r, changes, reason, username)

    ctx.app.scheduler.bulk(ctx.app.config.bulk_row_seconds(),
                           [job(r, changes) for r, changes in planned])
    return Resp(200, None, etag=False)


# ---------------------------------------------------------------- events

def r_events(ctx):
    p = ctx.program
    state = ctx.state
    errors = []
    bounds = {}
    for f in ("fromDate", "toDate"):
        if f in ctx.q:
            try:
                bounds[f] = parse_iso_us(ctx.q[f])
            except ValueError:
                errors.append({"target": dict(ctx.q), "value": ctx.q[f], "property": f,
                               "children": [], "constraints": {
                                   "isIso8601": "%s must be a valid ISO 8601 date string" % f}})
    fmt = ctx.q.get("format")
    if fmt is not None and fmt not in ("json", "xlsx"):
        errors.append({"target": dict(ctx.q), "value": fmt, "property": "format", "children": [],
                       "constraints": {"isEnum": "format must be one of the following values: json, xlsx"}})
    if errors:
        raise HttpError(400, {"message": errors, "error": "Bad Request", "statusCode": 400})
    from_us = bounds.get("fromDate", parse_iso_us("2000-02-01T00:00:00Z"))
    to_us = bounds.get("toDate", state.clock.now_ms() * 1000)
    ctx.cost = ctx.app.cost(costs.EVENTS_S)
    with state.lock:
        evs = state.events_window(p, from_us, to_us, ctx.q.get("referenceId"))
    if not evs:
        raise HttpError(404, {"errors": "There is currently no data to export"})
    limit = 500_000
    meta = {"itemsPerPage": limit, "totalItems": len(evs), "currentPage": 1,
            "totalPages": math.ceil(len(evs) / limit), "sortBy": [["id", "ASC"]]}
    links = {"current": "?page=1&limit=%d&sortBy=id:ASC" % limit}
    if len(evs) > limit:
        links["next"] = "?page=2&limit=%d&sortBy=id:ASC" % limit
        links["last"] = "?page=%d&limit=%d&sortBy=id:ASC" % (meta["totalPages"], limit)
    return Resp(200, serialize_envelope(state, evs[:limit], event_view, meta, links, lock=False))


# ---------------------------------------------------------------- payments

def _payment(ctx):
    pid = int_param(ctx, "payid")
    for pay in ctx.program.payments:
        if pay.id == pid:
            return pay
    raise HttpError(404, {"statusCode": 404,
                          "message": "Payment with ID %d not found in program %d" % (pid, ctx.program.id)})


def _payment_summary(state, pay):
    return {"paymentId": pay.id, "name": pay.name, "paymentDate": pay.created,
            "isPaymentApproved": True, "approvalsRequired": 1, "approvalsGiven": 1,
            "aggregationsPerStatus": state.payment_aggregate(pay)}


def r_payments(ctx):
    with ctx.state.lock:
        out = [_payment_summary(ctx.state, pay) for pay in reversed(ctx.program.payments)]
    return Resp(200, out)


def r_payment(ctx):
    pay = _payment(ctx)
    with ctx.state.lock:
        d = _payment_summary(ctx.state, pay)
        fsps = []
        for f in ctx.program.fsps:
            if any(t.fsp is f for t in pay.transactions):
                fsps.append({"programFspConfigurationName": f.name, "programFspConfigurationLabel": f.label})
    d.update({"hasBeenStarted": True, "fsps": fsps,
              "approvalStatus": [{"id": pay.id, "approved": True, "approvers": [ctx.state.username],
                                  "rank": 1, "approvedBy": ctx.state.username}],
              "approversForCurrentApprovalStep": []})
    return Resp(200, d)


def r_transactions(ctx):
    pay = _payment(ctx)
    state = ctx.state
    sort_values = [v for k, v in ctx.pairs if k == "sortBy"]
    sort_by = Q.parse_sort(sort_values, TX_COLUMNS)
    page, limit_q = Q.parse_paging(ctx.q)
    pf = Q.parse_filters(ctx.pairs, TX_COLUMNS)
    search = ctx.q.get("search")
    with state.lock:
        rows = [t for t in pay.transactions if not pf.entries or pf.matches(t)]
        if search:
            low = search.lower()
            sget = [v[1] for v in TX_COLUMNS.values() if v[0] == "string"]
            rows = [t for t in rows if any((g(t) or "").lower().find(low) >= 0 for g in sget)]
    if sort_by != [["id", "ASC"]]:
        Q.sort_rows(rows, sort_by, {k: v[1] for k, v in TX_COLUMNS.items()})
    total = len(rows)
    start, stop = Q.page_slice(total, page, limit_q)
    page_rows = rows[start:stop]
    meta, links = Q.paginate_meta(total, len(page_rows), page, limit_q, sort_by, pf, search,
                                  ctx.base_url())
    ctx.cost = ctx.app.cost(costs.OTHER_S + costs.REG_PER_ROW_S * len(page_rows))
    return Resp(200, serialize_envelope(state, page_rows, tx_view, meta, links))


def r_transactions_export(ctx):
    p = ctx.program
    state = ctx.state
    errors = []
    bounds = {}
    for f in ("fromDate", "toDate"):
        if f in ctx.q:
            try:
                bounds[f] = parse_iso_us(ctx.q[f])
            except ValueError:
                errors.append({"target": dict(ctx.q), "value": ctx.q[f], "property": f, "children": [],
                               "constraints": {"isIso8601": "%s must be a valid ISO 8601 date string" % f}})
    if "paymentId" in ctx.q and not re.fullmatch(r"\d+", ctx.q["paymentId"]):
        errors.append({"target": dict(ctx.q), "value": ctx.q["paymentId"], "property": "paymentId",
                       "children": [], "constraints": {"isNumberString": "paymentId must be a number string"}})
    if errors:
        raise HttpError(400, {"message": errors, "error": "Bad Request", "statusCode": 400})
    out = []
    anames = [a.name for a in p.attributes]
    with state.lock:
        for pay in p.payments:
            pus = pay.created_ms * 1000
            if "fromDate" in bounds and pus < bounds["fromDate"]:
                continue
            if "toDate" in bounds and pus > bounds["toDate"]:
                continue
            if "paymentId" in ctx.q and pay.id != int(ctx.q["paymentId"]):
                continue
            for t in pay.transactions:
                r = t.reg
                d = {"paymentId": pay.id, "paymentDate": pay.created, "id": t.id,
                     "created": t.created, "updated": t.updated, "registrationProgramId": r.rpid,
                     "registrationReferenceId": r.reference_id, "registrationId": r.id,
                     "registrationStatus": r.status, "status": t.status, "amount": t.transfer_value,
                     "errorMessage": t.error_message, "programFspConfigurationName": t.fsp.name}
                if r.status != "deleted":
                    d.update({"registrationName": " ".join(r.attrs[n] for n in p.naming if r.attrs.get(n)),
                              "preferredLanguage": r.preferred_language,
                              "paymentAmountMultiplier": r.payment_amount_multiplier,
                              "programFspConfigurationLabel": t.fsp.label,
                              "paymentCount": r.payment_count, "maxPayments": r.max_payments})
                    for n in anames:
                        att = p.attr_by_name[n]
                        v = r.attrs.get(n)
                        if att.type == "dropdown" and v is not None:
                            for o in att.options or []:
                                if o["option"] == v:
                                    v = o["label"].get("en", v)
                        d[n] = v
                out.append(d)

    def stamp(f):
        if f not in ctx.q:
            return ""
        return iso_ms(bounds[f] // 1000)[:19].replace(":", "-")

    name = "transactions_%d_%s_%s" % (p.id, stamp("fromDate"), stamp("toDate"))
    ctx.cost = ctx.app.cost(costs.OTHER_S)
    return Resp(200, {"fileName": name, "data": out})


def r_voucher_image(ctx):
    p = ctx.program
    state = ctx.state
    ref = ctx.q.get("referenceId")
    pay_id = ctx.q.get("paymentId")
    with state.lock:
        r = state.refs.get(ref) if ref else None
        if r is None or r.program is not p or r.status == "deleted":
            raise HttpError(404, {"statusCode": 404,
                                  "message": "PA with this referenceId not found (within your scope)"})
        found = False
        if pay_id and re.fullmatch(r"\d+", pay_id):
            for pay in p.payments:
                if pay.id == int(pay_id):
                    for t in pay.transactions:
                        if (t.reg is r and t.fsp.fsp_name.startswith("Intersolve-voucher")
                                and t.status in ("success", "waiting")):
                            found = True
                            break
        if not found:
            raise HttpError(404, {"statusCode": 404, "message":
                                  "Voucher not found. Maybe this payment was not (yet) made to this PA."})
        key = (ref, int(pay_id))
        png = state.voucher_cache.get(key)
        if png is None:
            png = state.voucher_cache[key] = make_png(160, 64, "%s:%s" % key)
    ctx.cost = ctx.app.cost(costs.OTHER_S)
    return Resp(200, png, ctype="image/png")


# ---------------------------------------------------------------- metrics

def r_export_list(ctx):
    """GET .../metrics/export-list/registrations (contract 5; recording
    export-registrations.json): every registration, deleted included, id =
    registrationProgramId, dropdowns and the FSP label in English."""
    p = ctx.program
    if ctx.params["etype"] == "unused-vouchers":
        return _unused_vouchers(ctx)
    if ctx.params["etype"] != "registrations":
        raise HttpError(400, {"statusCode": 400, "message": "Unknown export type"})
    cols = ctx.app.reg_columns(p)
    pf = Q.parse_filters(ctx.pairs, cols)
    view = p.make_viewer()
    out = []
    with ctx.state.lock:
        for r in p.regs:
            if pf.entries and not pf.matches(r):
                continue
            v = view(r)
            d = {"referenceId": v["referenceId"], "id": v["registrationProgramId"]}
            for k in ("status", "phoneNumber", "preferredLanguage", "paymentAmountMultiplier",
                      "paymentCount", "programId", "created", "inclusionScore", "fspName",
                      "programFspConfigurationId", "programFspConfigurationName"):
                d[k] = v.get(k)
            d["programFspConfigurationLabel"] = (v["programFspConfigurationLabel"] or {}).get("en")
            for k in ("personAffectedSequence", "maxPayments", "lastMessageStatus",
                      "paymentCountRemaining", "scope", "duplicateStatus"):
                d[k] = v.get(k)
            for a in p.attributes:
                val = v.get(a.name)
                if a.type == "dropdown" and val is not None:
                    for o in a.options or []:
                        if o["option"] == val:
                            val = o["label"].get("en", val)
                d[a.name] = val
            d["name"] = v["name"]
            out.append(d)
    if not out:
        raise HttpError(404, {"errors": "There is currently no data to export"})
    if ctx.q.get("select"):
        sel = [c.strip() for c in ctx.q["select"].split(",") if c.strip()]
        out = [{c: d[c] for c in sel if c in d} for d in out]
    ctx.cost = ctx.app.cost(costs.OTHER_S)
    return Resp(200, {"fileName": "registrations", "data": out})


def _unused_vouchers(ctx):
    """GET .../metrics/export-list/unused-vouchers (contract 5): the
    vouchers issued (a voucher FSP's transaction in status success or
    waiting) whose balance is unused. The fake keeps no balances: every
    issued voucher counts as unused. Rows in 121's columns, by payment and
    transaction id; none: 404."""
    p = ctx.program
    view = p.make_viewer()
    out = []
    with ctx.state.lock:
        for pay in p.payments:
            for t in pay.transactions:
                if "voucher" not in (t.fsp.fsp_name or "") or t.status not in ("success", "waiting"):
                    continue
                out.append({"referenceId": t.reg.reference_id, "paymentId": pay.id,
                            "issueDate": t.created,
                            "whatsappPhoneNumber": view(t.reg).get("whatsappPhoneNumber"),
                            "lastExternalUpdate": t.updated})
    if not out:
        raise HttpError(404, {"errors": "There is currently no data to export"})
    ctx.cost = ctx.app.cost(costs.OTHER_S)
    return Resp(200, {"fileName": "unused-vouchers", "data": out})


# ---------------------------------------------------------------- route table

PUBLIC, ANY, PERM = "public", "any", "perm"


def build_routes():
    P = r"/api/programs/(?P<pid>[^/]+)"
    table = [
        ("POST", r"/api/users/login", r_login, PUBLIC),
        ("POST", r"/api/users/logout", r_logout, ANY),
        ("GET", r"/api/users/current", r_current, ANY),
        ("GET", P, r_program, ANY),
        ("GET", P + r"/fsp-configurations", r_fsp_configs, PERM),
        ("GET", r"/api/notifications/(?P<pid>[^/]+)/message-templates", r_templates, PERM),
        ("GET", P + r"/registrations", r_get_registrations, PERM),
        ("POST", P + r"/registrations", r_post_registrations, PERM),
        ("PATCH", P + r"/registrations", r_bulk_patch, PERM),
        ("DELETE", P + r"/registrations", r_delete_registrations, PERM),
        ("PATCH", P + r"/registrations/status", r_patch_status, PERM),
        ("POST", P + r"/registrations/message", r_message, PERM),
        ("GET", P + r"/registrations/(?P<rid>[^/]+)", r_get_registration, PERM),
        ("PATCH", P + r"/registrations/(?P<ref>[^/]+)", r_patch_registration, PERM),
        ("GET", P + r"/registration-events", r_events, PERM),
        ("GET", P + r"/payments", r_payments, PERM),
        ("GET", P + r"/payments/(?P<payid>[^/]+)", r_payment, PERM),
        ("GET", P + r"/payments/(?P<payid>[^/]+)/transactions", r_transactions, PERM),
        ("GET", P + r"/transactions", r_transactions_export, PERM),
        ("GET", P + r"/fsps/intersolve-voucher/voucher/image-paper", r_voucher_image, PERM),
        ("GET", P + r"/metrics/export-list/(?P<etype>[^/]+)", r_export_list, PERM),
    ]
    import routes_dist  # distribution-day routes (issue 10), matched first
    table = routes_dist.TABLE + table
    import routes_programs  # program creation (issue 8: kobo program --create)
    table = routes_programs.TABLE + table
    out = []
    for method, pattern, fn, auth in table:
        route = method + " " + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        out.append((method, re.compile(pattern), fn, auth, route))
    return out


def route_name_for(path):
    """Template of a path, for the request statistics."""
    return re.sub(r"/(\d+)(?=/|$)", "/{id}", path)


