"""In-memory state of the fake 121 server: programs, registrations, events,
payments, transactions, plus the mutations the API and the /_test API share.

Everything here is guarded by State.lock (an RLock). Handlers take the lock for
short critical sections only; big responses are serialised in batches so that
other requests can interleave.
"""

import bisect
import random
import threading

from model import (FSP_SETTINGS, TRANSITIONS, EV_REGID, Clock, FspConfig, Attribute, Reg, Payment,
                   Program, Tx, ValidationFailed, _ev_value, _same, _uuid4, iso_ms, is_js_number,
                   js_number, js_string, status_applicable, validate_attr_value)


class State:
    def __init__(self, program_id=3, seed=121, username="sync-bot@example.org"):
        self.lock = threading.RLock()
        self.clock = Clock()
        self.seed = seed
        self.username = username
        self.programs = {}
        self.refs = {}             # referenceId -> Reg (instance-wide, incl. deleted)
        self.regs_by_id = {}       # id -> Reg
        self.next_reg_id = 1
        self.next_event_id = 1
        self.next_payment_id = 1
        self.next_tx_id = 1
        self.seeded = 0            # synthetic registrations created so far
        self.start_ms = self.clock.now_ms()
        self.voucher_cache = {}
        self.version = 0           # bumped on every change (for the program ETag etc.)
        self._build_program(program_id)

    # Picklable (the state file of a restart, fake121.py --state-file):
    # the lock is made anew.
    def __getstate__(self):
        d = dict(self.__dict__)
        del d["lock"]
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ setup

    def _build_program(self, pid):
        created = "2025-01-10T09:00:00.000Z"
        p = Program(pid, created)
        p.updated = "2025-02-01T12:00:00.000Z"
        p.base = {"location": "Testland", "titlePortal": {"en": "Cash pilot (synthetic)"},
                  "ngo": "Example NGO", "startDate": "2025-01-01T00:00:00.000Z",
                  "endDate": "2025-12-31T00:00:00.000Z", "currency": "EUR",
                  "distributionFrequency": "month", "distributionDuration": 6,
                  "fixedTransferValue": 25, "paymentAmountMultiplierFormula": None,
                  "targetNrRegistrations": 250, "description": {"en": "Synthetic test program"},
                  "validation": False}
        p.base_tail = {"budget": 100000,
                       "monitoringDashboardUrl": "https://dashboard.example.org/%d" % pid}
        p.add_attribute(Attribute(31, pid, "fullName", {"en": "Full name"}, "text",
                                  is_required=True, include_in_tx_export=True,
                                  show_in_table=True, created=created))
        p.add_attribute(Attribute(32, pid, "phoneNumber", {"en": "Phone number"}, "tel",
                                  is_required=True, placeholder={"en": "+31 6 00 00 00 00"},
                                  include_in_tx_export=True, duplicate_check=True,
                                  show_in_table=True, created=created))
        p.add_attribute(Attribute(33, pid, "householdSize", {"en": "Household size"}, "numeric",
                                  created=created))
        p.add_attribute(Attribute(34, pid, "district", {"en": "District"}, "dropdown",
                                  options=[{"option": "north", "label": {"en": "North"}},
                                           {"option": "south", "label": {"en": "South"}}],
                                  show_in_table=True, created=created))
        p.add_fsp(FspConfig(2, pid, "Intersolve-voucher-paper", "Intersolve-voucher-paper",
                            {"en": "Albert Heijn voucher paper"}, created,
                            {"username": "u", "password": "p"}))
        p.add_fsp(FspConfig(3, pid, "Excel", "bank-transfer", {"en": "Bank transfer (Excel)"},
                            created, {"columnToMatch": "phoneNumber"}))
        p.templates = [
            {"id": 11, "created": created, "updated": created, "type": "new",
             "label": {"en": "Registered"}, "language": "en",
             "message": "Hello {{fullName}}, you are registered.", "contentSid": None,
             "isSendMessageTemplate": False, "programId": pid},
            {"id": 12, "created": created, "updated": "2025-02-05T10:00:00.000Z",
             "type": "included", "label": {"en": "Included"}, "language": "nl",
             "message": "Hallo {{fullName}}, je bent opgenomen in het programma.",
             "contentSid": None, "isSendMessageTemplate": False, "programId": pid},
            {"id": 13, "created": created, "updated": created, "type": "voucher-ready",
             "label": {"en": "Voucher ready"}, "language": "en",
             "message": "Your voucher is ready at the pickup point.", "contentSid": None,
             "isSendMessageTemplate": True, "programId": pid},
        ]
        self.programs[pid] = p
        self.default_program = p

    # ------------------------------------------------------------------ events

    def _add_event(self, p, ms, created, reg, etype, field, old, new, reason, username):
        e = (self.next_event_id, ms, created, reg.id, reg.rpid, etype, field,
             _ev_value(old), _ev_value(new), reason if reason else None, username)
        self.next_event_id += 1
        p.events.append(e)
        p.ev_ms.append(ms)
        return e

    def events_window(self, p, from_us, to_us, reference_id=None):
        """Events with from <= created <= to (inclusive, contract section 4)."""
        lo_ms = -(-from_us // 1000)       # ceil
        hi_ms = to_us // 1000             # floor
        i = bisect.bisect_left(p.ev_ms, lo_ms)
        j = bisect.bisect_right(p.ev_ms, hi_ms)
        evs = p.events[i:j]
        if reference_id is not None:
            r = self.refs.get(reference_id)
            if r is None or r.program is not p:
                return []
            rid = r.id
            evs = [e for e in evs if e[EV_REGID] == rid]
        return evs

    # ------------------------------------------------------------------ seeding

    def seed_registrations(self, n, program=None, spread_ms=None, payments=0):
        """Create n synthetic registrations (deterministic), with their events.

        Seeded rows get `created` timestamps spread over the 30 days before the
        server started (or just before now for later seeds), ids with small gaps
        (ids are global in 121, so real programs have gaps)."""
        p = program or self.default_program
        with self.lock:
            now = self.clock.now_ms()
            if spread_ms is None:
                spread_ms = 30 * 86400 * 1000 if self.seeded == 0 else max(1000, n)
            t0 = now - spread_ms - 60_000
            step = spread_ms / max(1, n)
            rnd = random.Random("%d:%d" % (self.seed, self.seeded))
            paper = p.fsp_by_name["Intersolve-voucher-paper"]
            bank = p.fsp_by_name.get("bank-transfer", paper)
            pending = []  # (ms, order, reg, etype, field, old, new, reason, user)
            user = self.username
            status_pick = (["included"] * 50 + ["new"] * 25 + ["validated"] * 8 +
                           ["paused"] * 5 + ["declined"] * 5 + ["completed"] * 4 +
                           ["deleted"] * 3)
            width = max(5, len(str(self.seeded + n)))
            refs = self.refs
            by_id = self.regs_by_id
            regs = p.regs
            reg_ids = p.reg_ids
            districts = ("north", "south", None)
            langs = p.languages
            first_id = None
            order = 0
            for k in range(n):
                i = self.seeded + k + 1
                rid = self.next_reg_id
                if rnd.random() < 0.1:
                    rid += 1  # a gap, as with other programs' rows interleaved
                self.next_reg_id = rid + 1
                if first_id is None:
                    first_id = rid
                ms = int(t0 + k * step)
                r = Reg()
                r.id = rid
                r.program = p
                ref = "ref-%0*d" % (width, i)
                while ref in refs:
                    ref = ref + "x"
                r.reference_id = ref
                r.rpid = p.next_rpid
                p.next_rpid += 1
                r.created_ms = ms
                r.created = iso_ms(ms)
                r.preferred_language = langs[i % len(langs)]
                r.inclusion_score = 0
                r.payment_amount_multiplier = 1 + (i % 3 == 0) + (i % 7 == 0)
                r.max_payments = None
                r.payment_count = 0
                r.fsp = bank if i % 10 == 0 else paper
                r.scope = ""
                r.last_message_status = "sms: delivered" if i % 4 else "no messages yet"
                r.duplicate_status = "unique"
                hh = 1 + int(rnd.random() * 8)
                r.attrs = {"fullName": "Person %0*d" % (width, i),
                           "phoneNumber": "316%08d" % i,
                           "householdSize": str(hh) if i % 5 else None,
                           "district": districts[i % 3]}
                st = status_pick[int(rnd.random() * len(status_pick))]
                r.status = st
                regs.append(r)
                reg_ids.append(rid)
                refs[ref] = r
                by_id[rid] = r
                pending.append((ms, order, r, "registrationStatusChange", "status", None, "new", None, user))
                order += 1
                later = ms + 1000 + int(rnd.random() * 3_600_000)
                later = min(later, now - 30_000)
                if st == "new":
                    pass
                elif st in ("validated", "included", "declined"):
                    pending.append((later, order, r, "registrationStatusChange", "status", "new", st, None, user))
                elif st == "paused":
                    pending.append((later, order, r, "registrationStatusChange", "status", "new", "included", None, user))
                    pending.append((later + 1, order + 1, r, "registrationStatusChange", "status", "included", "paused", "Seeded pause", user))
                elif st == "completed":
                    pending.append((later, order, r, "registrationStatusChange", "status", "new", "included", None, user))
                    pending.append((later + 1, order + 1, r, "registrationStatusChange", "status", "included", "completed", None, None))
                elif st == "deleted":
                    pending.append((later, order, r, "registrationStatusChange", "status", "new", "deleted", "Seeded deletion", user))
                    r.attrs = {}
                order += 2
            pending.sort(key=lambda x: (x[0], x[1]))
            last_ms = p.ev_ms[-1] if p.ev_ms else 0
            eid = self.next_event_id
            events = p.events
            ev_ms = p.ev_ms
            for (ms, _o, r, etype, field, old, new, reason, u) in pending:
                if ms < last_ms:
                    ms = last_ms  # keep created non-decreasing in id order
                last_ms = ms
                created = r.created if ms == r.created_ms else iso_ms(ms)
                events.append((eid, ms, created, r.id, r.rpid, etype, field, old, new, reason, u))
                ev_ms.append(ms)
                eid += 1
            self.next_event_id = eid
            self.seeded += n
            self.version += 1
            if payments:
                # older payments fully successful, the newest one still has
                # waiting and failed transactions
                self.create_payments(payments, program=p, seeded=True,
                                     statuses=["success"] * (payments - 1) + ["mixed"])
            return {"created": n, "firstId": first_id,
                    "lastId": (self.next_reg_id - 1) if n else None}

    # ------------------------------------------------------------------ queries

    def live_regs(self, p):
        return [r for r in p.regs if r.status != "deleted"]

    def id_range(self, p, lo=None, hi=None):
        """Index range [i, j) of p.regs with lo <= id <= hi."""
        i = 0 if lo is None else bisect.bisect_left(p.reg_ids, lo)
        j = len(p.reg_ids) if hi is None else bisect.bisect_right(p.reg_ids, hi)
        return i, j

    # ------------------------------------------------------------------ writes

    def _new_reg(self, p, row, fsp, ms, created, username):
        r = Reg()
        r.id = self.next_reg_id
        self.next_reg_id += 1
        r.program = p
        r.reference_id = row["referenceId"]
        r.rpid = p.next_rpid
        p.next_rpid += 1
        r.created_ms = ms
        r.created = created
        r.preferred_language = row.get("preferredLanguage") or "en"
        r.inclusion_score = 0
        r.payment_amount_multiplier = row.get("paymentAmountMultiplier") or 1
        r.max_payments = row.get("maxPayments")
        r.payment_count = 0
        r.fsp = fsp
        r.scope = row.get("scope") or ""
        r.last_message_status = "no messages yet"
        r.duplicate_status = "unique"
        r.attrs = dict(row["data"])
        r.status = "new"
        p.regs.append(r)
        p.reg_ids.append(r.id)
        self.refs[r.reference_id] = r
        self.regs_by_id[r.id] = r
        self._add_event(p, ms, created, r, "registrationStatusChange", "status", None, "new",
                        None, username)
        return r

    def validate_import(self, p, rows):
        """Validate a POST /registrations body. Returns cleaned rows or raises
        ValidationFailed (all-or-nothing, contract 3.2)."""
        if not isinstance(rows, list):
            raise ValidationFailed(400, {"message": "Validation failed (parsable array expected)",
                                         "error": "Bad Request", "statusCode": 400})
        seen = [r.get("referenceId") for r in rows if isinstance(r, dict) and r.get("referenceId")]
        if len(set(map(js_string, seen))) < len(seen):
            raise ValidationFailed(400, {"statusCode": 400,
                                         "message": "Duplicate referenceIds in import set"})
        errors = []
        cleaned = []
        lang_map = {"english": "en", "dutch": "nl", "arabic": "ar", "turkish": "tr",
                    "french": "fr", "spanish": "es"}
        prog_langs = p.languages
        allowed_lang = {k: v for k, v in lang_map.items() if v in prog_langs}
        for i, row in enumerate(rows):
            line = i + 1
            if not isinstance(row, dict):
                errors.append({"lineNumber": line, "column": "row", "value": js_string(row),
                               "error": "Each row must be an object"})
                continue
            ref = row.get("referenceId")
            out = {"data": {}}
            errs_row = []

            def err(column, value, message, value_first=False, _e=errs_row):
                e = {}
                if value_first:
                    if value is not None:
                        e["value"] = value
                    e["column"] = column
                else:
                    e["column"] = column
                    if value is not None:
                        e["value"] = value
                e["error"] = message
                _e.append(e)

            # paymentAmountMultiplier
            pam = row.get("paymentAmountMultiplier")
            if pam is not None:
                if not is_js_number(pam) or js_number(pam) <= 0:
                    err("paymentAmountMultiplier", pam, "this field must be a positive number")
                else:
                    out["paymentAmountMultiplier"] = js_number(pam)
            mp = row.get("maxPayments")
            if p.enable_max_payments and mp is not None and mp != "":
                if not is_js_number(mp) or js_number(mp) <= 0:
                    err("maxPayments", mp, "MaxPayments must be a positive number or left empty")
                else:
                    out["maxPayments"] = int(js_number(mp))
            if row.get("scope") is not None and p.enable_scope:
                out["scope"] = js_string(row.get("scope"))
            # preferredLanguage
            pl = row.get("preferredLanguage")
            if pl is None or pl == "":
                out["preferredLanguage"] = "en"
            else:
                c = js_string(pl).strip().lower()
                if c in prog_langs:
                    out["preferredLanguage"] = c
                elif c in allowed_lang:
                    out["preferredLanguage"] = allowed_lang[c]
                else:
                    err("preferredLanguage", pl,
                        "Language error: Allowed values of this program for preferredLanguage: %s, %s"
                        % (", ".join(prog_langs),
                           ", ".join(k for k, v in lang_map.items() if v in prog_langs)))
            # referenceId
            if ref:
                if not isinstance(ref, str):
                    err("referenceId", ref, "referenceId must be a string")
                elif "$" in ref:
                    err("referenceId", ref, "referenceId contains a $ character")
                elif len(ref) < 5 or len(ref) > 200:
                    err("referenceId", ref, "referenceId must be between 5 and 200 characters")
                elif ref == "status":
                    err("referenceId", ref, "referenceId cannot be 'status'")
                elif ref in self.refs:
                    err("referenceId", ref, "referenceId already exists in database")
                else:
                    out["referenceId"] = ref
            else:
                out["referenceId"] = _uuid4(self)
                out["_generated"] = True
            # phoneNumber presence (service: validatePhoneNumberEmpty on create)
            if "phoneNumber" in p.attr_by_name and not row.get("phoneNumber"):
                err("phoneNumber", None,
                    "PhoneNumber is required when creating a new registration for this program. "
                    "Set allowEmptyPhoneNumber to true in the program settings to allow empty phone numbers")
            # FSP configuration
            fname = row.get("programFspConfigurationName")
            if not fname or fname not in p.fsp_by_name:
                err("programFspConfigurationName", fname,
                    "Fsp %s not found in program. Allowed values: %s"
                    % ("undefined" if fname is None else js_string(fname),
                       ", ".join(f.name for f in p.fsps)), value_first=True)
            else:
                out["fsp"] = p.fsp_by_name[fname]
                _itype, fattrs = FSP_SETTINGS.get(out["fsp"].fsp_name, ("api", []))
                for fa in fattrs:
                    if fa.get("isRequired") and not row.get(fa["name"]):
                        err(fa["name"], None, "Cannot update '%s' is required for the FSP: '%s'"
                            % (fa["name"], fname))
            # program attributes
            for att in p.attributes:
                present = att.name in row
                v = row.get(att.name)
                if not att.is_required:
                    if not present:
                        continue
                    if v is None or v == "":
                        out["data"][att.name] = None
                        continue
                elif v is None or v == "":
                    if att.type == "tel":
                        continue  # reported by the phoneNumber check above
                    # Contract 3.2: required attributes must be present.
                    err(att.name, v, "The value '%s' given for the attribute '%s' does not have the "
                        "correct format for type '%s'" % ("undefined" if not present else js_string(v),
                                                          att.name, att.type))
                    continue
                ok, cleaned_v, message = validate_attr_value(att, v)
                if ok:
                    out["data"][att.name] = cleaned_v
                else:
                    err(att.name if att.type != "tel" else "phoneNumber", v, message)
            for e in errs_row:
                e["referenceId"] = ref if ref is not None else None
                if e["referenceId"] is None:
                    del e["referenceId"]
                e["lineNumber"] = line
            errors.extend(errs_row)
            if len(errors) >= 5000:
                break
            cleaned.append(out)
        if errors:
            raise ValidationFailed(400, errors[:5000])
        return cleaned

    def import_rows(self, p, cleaned, username):
        with self.lock:
            ms = self.clock.now_ms()
            created = iso_ms(ms)
            n = 0
            for row in cleaned:
                if row["referenceId"] in self.refs:
                    # lost a race with a concurrent POST: the unique index fires
                    raise ValidationFailed(500, {"statusCode": 500, "message": "Internal server error"})
                self._new_reg(p, row, row["fsp"], ms, created, username)
                n += 1
            self.version += 1
            return n

    def validate_update(self, p, reg, data, bulk=False):
        """Validate the `data` of a PATCH (or one bulk CSV row).

        Returns (changes, errors): changes is a list of (field, kind, new_value)
        where kind is 'attr', 'fsp' or 'prop'; errors is a list of (column, message)."""
        errors = []
        changes = []
        for key, v in data.items():
            if key in ("status", "referenceId"):
                continue
            if key in p.attr_by_name:
                att = p.attr_by_name[key]
                if att.type == "tel" and bulk:
                    errors.append((key, "Attribute %s is of type tel (telephone number) and cannot "
                                   "be updated in bulk" % key))
                    continue
                if v is None or v == "":
                    if att.type == "tel" and v == "":
                        errors.append((key, "PhoneNumber is not allowed to be updated to an empty value. "
                                       "Set allowEmptyPhoneNumber to true in the program settings to allow "
                                       "empty phone numbers"))
                        continue
                    if att.is_required and not (bulk and att.type == "text"):
                        errors.append((key, "The value '%s' given for the attribute '%s' does not have "
                                       "the correct format for type '%s'" % (js_string(v), key, att.type)))
                        continue
                    changes.append((key, "attr", "" if (bulk and v == "") else None))
                    continue
                ok, cleaned_v, message = validate_attr_value(att, v)
                if ok:
                    changes.append((key, "attr", cleaned_v))
                else:
                    errors.append((key, message))
            elif key == "preferredLanguage":
                c = js_string(v).strip().lower() if v not in (None, "") else None
                if c is None or c not in p.languages:
                    errors.append((key, "Language error: Allowed values of this program for "
                                   "preferredLanguage: %s" % ", ".join(p.languages)))
                else:
                    changes.append((key, "prop", c))
            elif key == "paymentAmountMultiplier":
                if v is None or v == "":
                    changes.append((key, "prop", 1))
                elif not is_js_number(v) or js_number(v) <= 0:
                    errors.append((key, "this field must be a positive number"))
                else:
                    changes.append((key, "prop", js_number(v)))
            elif key == "maxPayments":
                if v is None or v == "":
                    changes.append((key, "prop", None))
                elif not is_js_number(v) or js_number(v) <= 0:
                    errors.append((key, "MaxPayments must be a positive number or left empty"))
                elif js_number(v) < reg.payment_count:
                    errors.append((key, "MaxPayments cannot be lower than the current paymentCount (%d)"
                                   % reg.payment_count))
                else:
                    changes.append((key, "prop", int(js_number(v))))
            elif key == "scope":
                if p.enable_scope:
                    changes.append((key, "prop", "" if v is None else js_string(v)))
            elif key == "programFspConfigurationName":
                if v in (None, ""):
                    continue
                if v not in p.fsp_by_name:
                    errors.append((key, "Fsp %s not found in program. Allowed values: %s"
                                   % (js_string(v), ", ".join(f.name for f in p.fsps))))
                else:
                    changes.append((key, "fsp", v))
            # any other key: ignored silently
        return changes, errors

    def apply_update(self, p, reg, changes, reason, username, ms=None):
        """Apply validated changes; string comparison decides what changed.
        Returns the list of fields that changed (one event each)."""
        with self.lock:
            if reg.status == "deleted":
                return []
            if ms is None:
                ms = self.clock.now_ms()
            created = iso_ms(ms)
            changed = []
            for key, kind, new in changes:
                if kind == "attr":
                    old = reg.attrs.get(key)
                    if _same(old, new):
                        continue
                    if new is None:
                        reg.attrs.pop(key, None)
                    else:
                        reg.attrs[key] = new
                    self._add_event(p, ms, created, reg, "registrationDataChange", key, old, new,
                                    reason, username)
                    changed.append(key)
                elif kind == "fsp":
                    old = reg.fsp.name
                    if old == new:
                        continue
                    reg.fsp = p.fsp_by_name[new]
                    self._add_event(p, ms, created, reg, "fspChange", "programFspConfigurationName",
                                    old, new, reason, username)
                    changed.append(key)
                else:
                    attr = {"preferredLanguage": "preferred_language",
                            "paymentAmountMultiplier": "payment_amount_multiplier",
                            "maxPayments": "max_payments", "scope": "scope"}[key]
                    old = getattr(reg, attr)
                    if _same(old, new):
                        continue
                    setattr(reg, attr, new)
                    self._add_event(p, ms, created, reg, "registrationDataChange", key, old, new,
                                    reason, username)
                    changed.append(key)
            if ("maxPayments" in changed and reg.max_payments is not None
                    and reg.max_payments == reg.payment_count and reg.status != "completed"
                    and "completed" in TRANSITIONS.get(reg.status, ())):
                old = reg.status
                reg.status = "completed"
                self._add_event(p, ms, created, reg, "registrationStatusChange", "status", old,
                                "completed", None, None)
            if changed:
                self.version += 1
            return changed

    def set_status(self, p, reg, target, reason, username, force=False, ms=None):
        """One status change with its event. Returns True if applied."""
        with self.lock:
            if not force:
                if not status_applicable(reg, target):
                    return False
            elif reg.status == target:
                return False
            if ms is None:
                ms = self.clock.now_ms()
            old = reg.status
            reg.status = target
            if target == "deleted":
                reg.attrs = {}  # soft delete erases the attribute data
            self._add_event(p, ms, iso_ms(ms), reg, "registrationStatusChange", "status", old,
                            target, reason, username)
            self.version += 1
            return True

    # ------------------------------------------------------------------ payments

    def create_payments(self, count, program=None, amount=None, status="success",
                        seeded=False, reference_ids=None, statuses=None):
        p = program or self.default_program
        created_ids = []
        with self.lock:
            for _ in range(int(count)):
                pay = Payment()
                pay.id = self.next_payment_id
                self.next_payment_id += 1
                pay.program_id = p.id
                pay.name = "Payment %d" % pay.id
                ms = self.clock.now_ms()
                if seeded:
                    ms = ms - 3_600_000 * (count - len(created_ids))
                pay.created_ms = ms
                pay.created = iso_ms(ms)
                pay.transactions = []
                upd_ms = ms + 2000
                upd = iso_ms(upd_ms)
                if reference_ids is not None:
                    targets = [self.refs[x] for x in reference_ids if x in self.refs
                               and self.refs[x].program is p and self.refs[x].status == "included"]
                elif seeded:
                    targets = [r for r in p.regs if r.status in ("included", "completed", "paused")]
                else:
                    targets = [r for r in p.regs if r.status == "included"]
                k = 0
                pay_status = statuses[len(created_ids)] if statuses else status
                for r in targets:
                    t = Tx()
                    t.id = self.next_tx_id
                    self.next_tx_id += 1
                    t.payment = pay
                    t.reg = r
                    base = amount if amount is not None else p.fixed_transfer_value
                    t.transfer_value = base * r.payment_amount_multiplier
                    t.user_id = 42
                    t.created = pay.created
                    t.created_ms = ms
                    st = pay_status
                    if pay_status == "mixed":
                        st = ("success", "success", "success", "waiting", "error")[k % 5]
                    t.status = st
                    t.error_message = "Synthetic FSP error" if st == "error" else None
                    t.updated = upd if st != "waiting" else pay.created
                    t.updated_ms = upd_ms if st != "waiting" else ms
                    t.fsp = r.fsp
                    pay.transactions.append(t)
                    k += 1
                    if not seeded and st in ("success", "waiting"):
                        r.payment_count += 1
                        if (r.max_payments is not None and r.payment_count >= r.max_payments
                                and r.status == "included"):
                            r.status = "completed"
                            self._add_event(p, ms, pay.created, r, "registrationStatusChange",
                                            "status", "included", "completed", None, None)
                    elif seeded:
                        r.payment_count += 1
                if seeded:
                    for r in targets:
                        if r.status == "completed":
                            r.max_payments = r.payment_count if r.payment_count else None
                p.payments.append(pay)
                created_ids.append(pay.id)
            self.version += 1
        return created_ids

    def payment_aggregate(self, pay):
        agg = {"success": [0, 0], "waiting": [0, 0], "failed": [0, 0],
               "pendingApproval": [0, 0], "approved": [0, 0]}
        for t in pay.transactions:
            key = "failed" if t.status == "error" else t.status
            a = agg.get(key)
            if a is not None:
                a[0] += 1
                a[1] += t.transfer_value
        return {k: {"count": v[0], "transferValue": v[1]} for k, v in agg.items()}

    def update_transactions(self, pay, status, reference_ids=None, error_message=None, limit=None):
        with self.lock:
            ms = self.clock.now_ms()
            created = iso_ms(ms)
            n = 0
            wanted = set(reference_ids) if reference_ids is not None else None
            for t in pay.transactions:
                if wanted is not None and t.reg.reference_id not in wanted:
                    continue
                if limit is not None and n >= limit:
                    break
                t.status = status
                t.error_message = error_message if status == "error" else None
                t.updated = created
                t.updated_ms = ms
                n += 1
            self.version += 1
            return n


