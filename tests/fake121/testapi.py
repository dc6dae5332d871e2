"""The /_test/ control API (not part of 121; no auth; never faulted, not counted
in the request statistics)."""

import json
import time
from urllib.parse import parse_qsl, unquote

from common import HttpError, Resp
from model import EV_REGID, STATUSES, event_view, iso_ms


def handle(h, app, method, path, query, body):
    q = dict(parse_qsl(query, keep_blank_values=True))
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except ValueError:
        h.send(Resp(400, {"error": "body must be JSON"}))
        return
    if not isinstance(data, dict):
        data = {"_": data}
    try:
        resp = route(app, method, path, q, data)
    except HttpError as e:
        resp = Resp(e.status, e.body)
    except (KeyError, TypeError, ValueError) as e:
        resp = Resp(400, {"error": "bad request: %r" % (e,)})
    h.send(resp, method=method)


def _program(app, data):
    pid = data.get("programId")
    if pid is None:
        return app.state.default_program
    p = app.state.programs.get(int(pid))
    if p is None:
        raise HttpError(404, {"error": "no program %s" % pid})
    return p


def _reg(app, ref):
    r = app.state.refs.get(ref)
    if r is None:
        raise HttpError(404, {"error": "unknown referenceId %s" % ref})
    return r


def route(app, method, path, q, data):
    state = app.state
    if path.startswith("/_test/dist"):
        import routes_dist
        return routes_dist.test_route(app, method, path, q, data)
    if method == "POST" and path == "/_test/faults":
        rule = app.faults.add(data)
        if data.get("expire_tokens"):
            app.expire_tokens()
        return Resp(200, {"ok": True, "rule": rule.describe(), "rules": app.faults.describe()})
    if method == "GET" and path == "/_test/faults":
        return Resp(200, {"rules": app.faults.describe()})
    if method == "POST" and path == "/_test/reset-faults":
        app.faults.reset()
        app.throttle.reset()
        return Resp(200, {"ok": True})
    if method == "POST" and path == "/_test/expire-tokens":
        app.expire_tokens()
        return Resp(200, {"ok": True})
    if method == "GET" and path == "/_test/state":
        return Resp(200, state_summary(app))
    if method == "POST" and path == "/_test/reset-stats":
        app.stats.reset()
        return Resp(200, {"ok": True})
    if method == "GET" and path == "/_test/requests":
        return Resp(200, {"requests": app.stats.recent(int(q.get("limit", "100")))})
    if method == "POST" and path == "/_test/seed":
        p = _program(app, data)
        n = int(data.get("registrations", 0))
        out = state.seed_registrations(n, program=p, payments=int(data.get("payments", 0)))
        return Resp(200, out)
    if method == "POST" and path == "/_test/edit":
        return t_edit(app, data)
    if method == "POST" and path == "/_test/status":
        return t_status(app, data)
    if method == "POST" and path == "/_test/payments":
        p = _program(app, data)
        ids = state.create_payments(int(data.get("count", 1)), program=p, amount=data.get("amount"),
                                    status=data.get("status", "success"),
                                    reference_ids=data.get("referenceIds"))
        with state.lock:
            ntx = sum(len(pay.transactions) for pay in p.payments if pay.id in ids)
        return Resp(200, {"paymentIds": ids, "transactions": ntx})
    if method == "POST" and path == "/_test/transactions":
        p = _program(app, data)
        pid = int(data["paymentId"])
        pay = next((x for x in p.payments if x.id == pid), None)
        if pay is None:
            raise HttpError(404, {"error": "no payment %d" % pid})
        n = state.update_transactions(pay, data.get("status", "success"), data.get("referenceIds"),
                                      data.get("errorMessage"), data.get("limit"))
        return Resp(200, {"updated": n})
    if method == "GET" and path.startswith("/_test/registration/"):
        ref = unquote(path[len("/_test/registration/"):])
        r = _reg(app, ref)
        with state.lock:
            view = r.program.make_viewer()(r)
            evs = [event_view(e) for e in r.program.events if e[EV_REGID] == r.id]
        return Resp(200, {"registration": view, "deleted": r.status == "deleted",
                          "attrs": dict(r.attrs), "events": evs})
    if path == "/_test/clock":
        if method == "POST":
            state.clock.advance(int(data.get("advance_ms", 0)))
        now = state.clock.now_ms()
        return Resp(200, {"now": iso_ms(now), "now_ms": now, "offset_ms": state.clock.offset_ms})
    if path == "/_test/config":
        if method == "POST":
            app.config.update(data)
        return Resp(200, app.config.as_dict())
    if method == "POST" and path == "/_test/flush":
        n = app.scheduler.pending()
        app.scheduler.flush()
        deadline = time.monotonic() + 30
        while app.scheduler.pending() and time.monotonic() < deadline:
            time.sleep(0.005)
        return Resp(200, {"flushed": n, "pending": app.scheduler.pending()})
    if method == "POST" and path == "/_test/reset":
        return t_reset(app, data)
    if method == "POST" and path == "/_test/save-state":
        app.save_state(data["path"])
        return Resp(200, {"ok": True})
    if method == "GET" and path == "/_test/dump":
        return Resp(200, dump_state(app))
    if method == "GET" and path == "/_test/health":
        return Resp(200, {"ok": True})
    raise HttpError(404, {"error": "unknown test endpoint %s %s" % (method, path)})


def t_reset(app, data):
    """A fresh state, as if the server had just started with --seed S
    --seed-registrations N --seed-payments K: pending jobs are run first
    (against the old state), then faults, throttle windows and statistics
    are cleared. Tokens stay valid (one server, same secret). For harnesses
    that run thousands of short scenarios against one process."""
    from state import State
    app.scheduler.flush()
    deadline = time.monotonic() + 30
    while app.scheduler.pending() and time.monotonic() < deadline:
        time.sleep(0.002)
    old = app.state
    st = State(program_id=old.default_program.id, seed=int(data.get("seed", old.seed)),
               username=old.username)
    n = int(data.get("registrations", 0))
    if n:
        st.seed_registrations(n, payments=int(data.get("payments", 0)))
    app.state = st
    app.reg_columns_cache = {}
    app.faults.reset()
    app.throttle.reset()
    app.stats.reset()
    for k in ("async_delay", "bulk_rate"):
        if k in data:
            app.config.update({k: data[k]})
    return Resp(200, {"ok": True, "registrations": n, "now": iso_ms(st.clock.now_ms())})


def t_edit(app, data):
    """Server-side edit as a portal user: same validation and events as PATCH."""
    state = app.state
    r = _reg(app, data["referenceId"])
    p = r.program
    username = data.get("username", "portal-user")
    with state.lock:
        if r.status == "deleted":
            raise HttpError(404, {"error": "registration is deleted"})
        changes, errors = state.validate_update(p, r, data.get("data") or {})
        if errors:
            raise HttpError(400, {"statusCode": 400,
                                  "message": ", ".join("%s: %s" % e for e in errors)})
        changed = state.apply_update(p, r, changes, data.get("reason"), username)
        return Resp(200, {"changed": changed, "registration": p.make_viewer()(r)})


def t_status(app, data):
    """Server-side status change, applied synchronously. `force` skips the
    transition table (e.g. to set 'completed' as the system would); status
    'deleted' soft-deletes (attributes erased)."""
    state = app.state
    status = data["status"]
    if status not in STATUSES:
        raise HttpError(400, {"error": "unknown status %s" % status})
    refs = data.get("referenceIds")
    if refs is None:
        refs = [data["referenceId"]]
    username = data.get("username", "portal-user")
    applied, skipped = [], []
    with state.lock:
        for ref in refs:
            r = _reg(app, ref)
            if state.set_status(r.program, r, status, data.get("reason"), username,
                                force=bool(data.get("force"))):
                applied.append(ref)
            else:
                skipped.append(ref)
    return Resp(200, {"applied": applied, "skipped": skipped})


def state_summary(app):
    import routes_programs
    state = app.state
    out = dict(app.stats.summary())
    with state.lock:
        progs = {}
        for pid, p in state.programs.items():
            by_status = {}
            for r in p.regs:
                by_status[r.status] = by_status.get(r.status, 0) + 1
            progs[str(pid)] = {
                "registrations": len(p.regs),
                "registrations_live": len(p.regs) - by_status.get("deleted", 0),
                "by_status": by_status,
                "max_id": p.reg_ids[-1] if p.reg_ids else None,
                "events": len(p.events),
                "last_event_id": p.events[-1][0] if p.events else None,
                "last_event_created": p.events[-1][2] if p.events else None,
                "payments": len(p.payments),
                "transactions": sum(len(pay.transactions) for pay in p.payments),
            }
            progs[str(pid)].update(routes_programs.program_summary(p))
    out.update({"programs": progs, "pending_jobs": app.scheduler.pending(),
                "connections": app.faults.connections, "faults": app.faults.describe(),
                "now": iso_ms(state.clock.now_ms())})
    return out


def dump_state(app):
    state = app.state
    with state.lock:
        progs = {}
        for pid, p in state.programs.items():
            view = p.make_viewer()
            progs[str(pid)] = {
                "registrations": [view(r) for r in p.regs],
                "events": [event_view(e) for e in p.events],
                "payments": [{"id": pay.id, "created": pay.created,
                              "transactions": [{"id": t.id, "referenceId": t.reg.reference_id,
                                                "status": t.status, "transferValue": t.transfer_value,
                                                "updated": t.updated} for t in pay.transactions]}
                             for pay in p.payments],
            }
    return {"programs": progs, "stats": app.stats.summary()}
