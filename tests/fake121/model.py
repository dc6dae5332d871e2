"""Data model of the fake 121 server: time helpers, programs, registrations,
events, payments, transactions, and value validation (messages as in the
service's registrations-input-validator)."""

import bisect
import datetime
import hashlib
import re
import threading
import time

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)

STATUSES = ["new", "validated", "included", "paused", "declined", "completed", "deleted"]
# Order used by the real server in its class-validator isEnum message
# (recorded/121/err-status-invalid.json).
STATUS_ENUM_MESSAGE = "new, validated, included, deleted, completed, paused, declined"

# Contract section 3.9 (the brief asks for this table; some versions of the
# service differ slightly, e.g. new->paused).
TRANSITIONS = {
    "new": {"included", "validated", "declined", "deleted", "paused"},
    "validated": {"included", "declined", "deleted"},
    "included": {"completed", "paused", "declined", "deleted"},
    "completed": {"included", "declined", "deleted"},
    "paused": {"validated", "included", "declined", "deleted"},
    "declined": {"included", "deleted"},
    "deleted": set(),
}
API_STATUS_TARGETS = ("included", "paused", "validated", "declined")
REASON_REQUIRED = ("declined", "paused", "deleted")

ALL_PERMISSIONS = [
    "program.read", "program.update", "program:fsp-config.read", "program:fsp-config.create",
    "program:fsp-config.update", "program:fsp-config.delete", "program:metrics.read",
    "program:registration-attributes.create", "program:registration-attributes.update",
    "program:registration-attributes.delete", "program:kobo.read", "program:kobo.update",
    "payment.read", "payment.create", "payment.delete", "payment.update", "payment.retry",
    "payment.start", "payment:fsp-instruction.read", "payment:transaction.read",
    "payment:voucher-whatsapp.read", "payment:voucher-paper.read", "payment:voucher.export",
    "registration.read", "registration.create", "registration.delete",
    "registration:attribute.update", "registration:attribute:financial.update",
    "registration:fsp-config.update", "registration:notification.read",
    "registration:notification.create", "registration:personal.read",
    "registration:personal.export", "registration:personal.update",
    "registration:payment.export", "registration:status:markAsValidated.update",
    "registration:status:markAsDeclined.update", "registration:status:included.update",
    "registration:status:paused.update", "registration:import-template.read",
    "registration:duplication.delete", "registration:bulk.update",
    "aid-worker:program.read", "aid-worker:program.update",
]

FSP_SETTINGS = {
    # fspName -> (integrationType, required attributes)
    "Intersolve-voucher-paper": ("api", []),
    "Intersolve-voucher-whatsapp": ("api", [{"name": "whatsappPhoneNumber", "isRequired": True}]),
    "Excel": ("csv", []),
}


# --------------------------------------------------------------------------
# time helpers


_DAY_PREFIX = {}


def iso_ms(ms):
    """Milliseconds since the epoch -> '2025-03-04T10:11:12.123Z'."""
    day, rem = divmod(int(ms), 86_400_000)
    pre = _DAY_PREFIX.get(day)
    if pre is None:
        if len(_DAY_PREFIX) > 100_000:
            _DAY_PREFIX.clear()
        pre = _DAY_PREFIX[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    h, rem = divmod(rem, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, rem = divmod(rem, 1000)
    return "%s%02d:%02d:%02d.%03dZ" % (pre, h, m, s, rem)


def http_date(ms):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(ms) // 1000))


_ISO_RE = re.compile(r"^\d{4}-?\d{2}-?\d{2}([T ]\d{2}(:?\d{2}(:?\d{2}([.,]\d+)?)?)?)?"
                     r"(Z|z|[+-]\d{2}(:?\d{2})?)?$")


def parse_iso_us(text):
    """ISO-8601 text -> microseconds since the epoch (UTC). Raises ValueError.

    Naive values are taken as UTC (the service runs in UTC)."""
    if not isinstance(text, str) or not _ISO_RE.match(text.strip()):
        raise ValueError("not an ISO 8601 date")
    t = text.strip()
    if t[-1] in "Zz":
        t = t[:-1] + "+00:00"
    t = t.replace(",", ".")
    # Python's fromisoformat accepts at most 6 fractional digits.
    m = re.match(r"^(.*\.\d{6})\d+(.*)$", t)
    if m:
        t = m.group(1) + m.group(2)
    dt = datetime.datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // datetime.timedelta(microseconds=1)


class Clock:
    """Server clock in ms, monotonic non-decreasing, with a test offset."""

    def __init__(self):
        self.offset_ms = 0
        self.last = 0
        self._lock = threading.Lock()

    def now_ms(self):
        with self._lock:
            t = time.time_ns() // 1_000_000 + self.offset_ms
            if t < self.last:
                t = self.last
            self.last = t
            return t

    def advance(self, ms):
        with self._lock:
            self.offset_ms += int(ms)

    # Picklable (the state file of a restart, --state-file): the lock is
    # made anew.
    def __getstate__(self):
        d = dict(self.__dict__)
        del d["_lock"]
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()


# --------------------------------------------------------------------------
# model


class FspConfig:
    __slots__ = ("id", "program_id", "fsp_name", "name", "label", "created", "updated",
                 "properties", "state")

    def __init__(self, id, program_id, fsp_name, name, label, created, properties):
        self.id = id
        self.program_id = program_id
        self.fsp_name = fsp_name
        self.name = name
        self.label = label
        self.created = created
        self.updated = created
        self.properties = properties
        self.state = "configured"

    def raw(self):
        return {"id": self.id, "created": self.created, "updated": self.updated,
                "programId": self.program_id, "fspName": self.fsp_name, "name": self.name,
                "label": self.label, "state": self.state}

    def dto(self):
        itype, attrs = FSP_SETTINGS.get(self.fsp_name, ("api", []))
        props = []
        for name, value in sorted(self.properties.items()):
            if name in ("username", "password", "passwordOnafriq", "uniqueKeyOnafriq"):
                value = "[********]"
            props.append({"name": name, "value": value, "updated": self.updated})
        return {"programId": self.program_id, "fspName": self.fsp_name, "name": self.name,
                "label": self.label, "state": self.state,
                "fsp": {"name": self.fsp_name, "integrationType": itype,
                        "attributes": [dict(a) for a in attrs]},
                "properties": props}


class Attribute:
    __slots__ = ("id", "name", "label", "type", "is_required", "options", "placeholder",
                 "include_in_tx_export", "duplicate_check", "show_in_table", "editable",
                 "created", "program_id")

    def __init__(self, id, program_id, name, label, type, is_required=False, options=None,
                 placeholder=None, include_in_tx_export=False, duplicate_check=False,
                 show_in_table=False, editable=True, created=""):
        self.id = id
        self.program_id = program_id
        self.name = name
        self.label = label
        self.type = type
        self.is_required = is_required
        self.options = options
        self.placeholder = placeholder
        self.include_in_tx_export = include_in_tx_export
        self.duplicate_check = duplicate_check
        self.show_in_table = show_in_table
        self.editable = editable
        self.created = created

    def raw(self):
        return {"id": self.id, "created": self.created, "updated": self.created,
                "name": self.name, "label": self.label, "koboLabel": None, "type": self.type,
                "isRequired": self.is_required, "placeholder": self.placeholder,
                "options": self.options, "scoring": {}, "programId": self.program_id,
                "includeInTransactionExport": self.include_in_tx_export, "pattern": None,
                "duplicateCheck": self.duplicate_check,
                "showInPeopleAffectedTable": self.show_in_table,
                "editableInPortal": self.editable}


class Reg:
    __slots__ = ("id", "program", "reference_id", "rpid", "status", "created", "created_ms",
                 "preferred_language", "inclusion_score", "payment_amount_multiplier",
                 "max_payments", "payment_count", "fsp", "scope", "last_message_status",
                 "duplicate_status", "attrs")


class Payment:
    __slots__ = ("id", "program_id", "name", "created", "created_ms", "transactions")


class Tx:
    __slots__ = ("id", "payment", "reg", "transfer_value", "user_id", "created", "created_ms",
                 "updated", "updated_ms", "status", "error_message", "fsp")


# Event tuple layout (compact; 200k+ of them are kept in memory).
EV_ID, EV_MS, EV_CREATED, EV_REGID, EV_RPID, EV_TYPE, EV_FIELD, EV_OLD, EV_NEW, EV_REASON, EV_USER = range(11)


def event_view(e):
    # Key order as in recorded/121/registration-events.json.
    return {"id": e[EV_ID], "created": e[EV_CREATED], "registrationId": e[EV_REGID],
            "registrationProgramId": e[EV_RPID], "type": e[EV_TYPE],
            "fieldChanged": e[EV_FIELD], "oldValue": e[EV_OLD], "newValue": e[EV_NEW],
            "reason": e[EV_REASON], "username": e[EV_USER]}


def _ev_value(v):
    """Empty or falsy values are stored as null (contract section 4)."""
    if v is None or v == "" or v is False:
        return None
    return str(v)


class Program:
    def __init__(self, id, created_iso):
        self.id = id
        self.created = created_iso
        self.updated = created_iso
        self.base = {}
        self.languages = ["en", "nl"]
        self.naming = ["fullName"]
        self.enable_max_payments = True
        self.enable_scope = False
        self.fixed_transfer_value = 25
        self.multiplier_formula = None
        self.attributes = []
        self.attr_by_name = {}
        self.fsps = []
        self.fsp_by_name = {}
        self.templates = []
        self.regs = []      # all registrations of the program (incl. deleted), sorted by id
        self.reg_ids = []   # parallel list of ids, for bisect
        self.next_rpid = 1
        self.events = []    # event tuples, sorted by id (and so by created)
        self.ev_ms = []     # parallel list of created ms, for bisect
        self.payments = []  # sorted by id

    def add_attribute(self, attr):
        self.attributes.append(attr)
        self.attr_by_name[attr.name] = attr

    def add_fsp(self, fsp):
        self.fsps.append(fsp)
        self.fsp_by_name[fsp.name] = fsp

    # ---- views

    def entity(self):
        d = {"id": self.id, "created": self.created, "updated": self.updated}
        d.update(self.base)
        d.update({"fullnameNamingConvention": list(self.naming), "languages": list(self.languages),
                  "enableMaxPayments": self.enable_max_payments, "enableScope": self.enable_scope})
        d.update(self.base_tail)
        d["programFspConfigurations"] = [f.raw() for f in self.fsps]
        d["programRegistrationAttributes"] = [a.raw() for a in self.attributes]
        d["editableAttributes"] = [
            {"name": a.name, "type": a.type, "label": a.label, "isRequired": a.is_required}
            for a in self.attributes if a.editable]
        d["paTableAttributes"] = [
            {"name": a.name, "type": a.type, "label": a.label, "koboLabel": None,
             "isRequired": a.is_required} for a in self.attributes if a.show_in_table]
        num_ops = ["$eq", "$null", "$gt", "$lt", "$btw", "$not"]
        str_ops = ["$eq", "$in", "$ilike", "$null", "$not"]
        pa = [{"name": "personAffectedSequence", "allowedOperators": str_ops, "isInteger": False},
              {"name": "referenceId", "allowedOperators": str_ops, "isInteger": False}]
        pa += [{"name": "preferredLanguage", "allowedOperators": str_ops, "isInteger": False},
               {"name": "inclusionScore", "allowedOperators": num_ops, "isInteger": True},
               {"name": "paymentAmountMultiplier", "allowedOperators": num_ops, "isInteger": True},
               {"name": "programFspConfigurationName", "allowedOperators": str_ops, "isInteger": False}]
        pa += [{"name": a.name, "allowedOperators": str_ops, "isInteger": False}
               for a in self.attributes]
        d["filterableAttributes"] = [
            {"group": "payments", "filters": [
                {"name": n, "allowedOperators": num_ops, "isInteger": True}
                for n in ("paymentCount", "maxPayments", "paymentCountRemaining")]},
            {"group": "messages", "filters": [
                {"name": "lastMessageStatus", "allowedOperators": str_ops, "isInteger": False}]},
            {"group": "paAttributes", "filters": pa}]
        d["fspConfigurations"] = [f.dto() for f in self.fsps]
        return d

    def make_viewer(self):
        """Return a fast function Reg -> registration view dict (contract 3.1,
        key order as in recorded/121/registrations-limit2.json)."""
        attr_names = [a.name for a in self.attributes]
        naming = list(self.naming)
        pid = self.id

        def view(r):
            f = r.fsp
            mp = r.max_payments
            a = r.attrs
            d = {"id": r.id, "status": r.status, "programId": pid, "created": r.created,
                 "referenceId": r.reference_id, "preferredLanguage": r.preferred_language,
                 "inclusionScore": r.inclusion_score,
                 "paymentAmountMultiplier": r.payment_amount_multiplier,
                 "fspName": f.fsp_name, "programFspConfigurationId": f.id,
                 "programFspConfigurationName": f.name,
                 "programFspConfigurationLabel": f.label,
                 "registrationProgramId": r.rpid, "personAffectedSequence": "PA #%d" % r.rpid,
                 "maxPayments": mp, "lastMessageStatus": r.last_message_status,
                 "paymentCount": r.payment_count,
                 "paymentCountRemaining": (mp - r.payment_count) if mp is not None else None,
                 "scope": r.scope, "duplicateStatus": r.duplicate_status}
            for n in attr_names:
                d[n] = a.get(n)
            d["name"] = " ".join(a[n] for n in naming if a.get(n))
            return d

        return view


class ValidationFailed(Exception):
    """Carries an HTTP status and a JSON-able body."""

    def __init__(self, status, body):
        Exception.__init__(self, status, body)
        self.status = status
        self.body = body


# --------------------------------------------------------------------------
# value validation (messages from the service's registrations-input-validator)

_PHONE_STRIP = re.compile(r"[\s\-\.\(\)/]")


def normalise_phone(value):
    """Stand-in for the Twilio lookup: digits only, without '+'. None if invalid."""
    if value is None:
        return None
    s = _PHONE_STRIP.sub("", str(value))
    if s.startswith("+"):
        s = s[1:]
    elif s.startswith("00"):
        s = s[2:]
    if not s.isdigit() or not (6 <= len(s) <= 15):
        return None
    return s


def js_string(v):
    """String(v) as JavaScript would print it (for error messages and storage)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, dict)):
        import json
        return json.dumps(v, separators=(",", ":"))
    return str(v)


_JS_NUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[+-]?Infinity")


def is_js_number(v):
    """!isNaN(+v) for the value types JSON can carry."""
    if v is None or isinstance(v, (bool, int, float)):
        return True
    if isinstance(v, str):
        s = v.strip()
        return s == "" or _JS_NUM.fullmatch(s) is not None
    return False


def js_number(v):
    """+v for values accepted by is_js_number."""
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, (int, float)):
        return int(v) if isinstance(v, float) and v.is_integer() else v
    s = str(v).strip()
    if s == "":
        return 0
    if s[:2].lower() in ("0x", "0b", "0o"):
        return int(s, 0)
    if s.endswith("Infinity"):
        return float("-inf") if s.startswith("-") else float("inf")
    f = float(s)
    return int(f) if f.is_integer() else f


def _same(old, new):
    """String comparison of old and new values (contract 3.5)."""
    if old is None or new is None:
        return old is None and new is None
    return js_string(old) == js_string(new)


def status_applicable(reg, target):
    if reg.status == target:
        return False
    if target not in TRANSITIONS.get(reg.status, ()):
        return False
    if target == "included" and reg.max_payments is not None and reg.max_payments - reg.payment_count <= 0:
        return False
    return True


def validate_attr_value(att, v):
    """(ok, cleaned string value, error message)."""
    if att.type == "tel":
        s = normalise_phone(v)
        if s is None:
            return False, None, "This value is not a valid phonenumber according to Twilio lookup"
        return True, s, None
    if att.type == "dropdown":
        opts = [o["option"] for o in (att.options or [])]
        if js_string(v) in opts:
            return True, js_string(v), None
        return False, None, ("Value '%s' is not in the allowed options: '%s' for attribute '%s'"
                             % (js_string(v), ", ".join(opts) if opts else "No options available",
                                att.name))
    bad = ("The value '%s' given for the attribute '%s' does not have the correct format for type '%s'"
           % (js_string(v), att.name, att.type))
    if att.type in ("numeric", "numeric-nullable"):
        if isinstance(v, (dict, list)) or not is_js_number(v):
            return False, None, bad
        return True, js_string(v), None
    if att.type == "text":
        if not isinstance(v, str):
            return False, None, bad
        return True, v, None
    if att.type == "boolean":
        if isinstance(v, bool):
            return True, "true" if v else "false", None
        if isinstance(v, str) and v in ("true", "yes", "1", "false", "0", "no"):
            return True, v, None
        return False, None, bad
    if att.type == "date":
        if isinstance(v, str) and re.match(r"^(0?[1-9]|[12][0-9]|3[01])-(0?[1-9]|1[0-2])-(19[2-9][0-9]|20[0-1][0-9])$", v):
            return True, v, None
        return False, None, bad
    return True, js_string(v), None


def _uuid4(state):
    import uuid
    return str(uuid.uuid4())


def make_png(width, height, seed_text):
    """A small valid greyscale PNG with a barcode-like pattern derived from seed_text."""
    import struct
    import zlib
    digest = hashlib.sha256(seed_text.encode()).digest()
    bits = []
    for b in digest:
        for k in range(8):
            bits.append((b >> k) & 1)
    row = bytearray()
    for x in range(width):
        row.append(0 if bits[(x // 2) % len(bits)] else 255)
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        if y < 4 or y >= height - 4:
            raw.extend(b"\xff" * width)
        else:
            raw.extend(row)

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) +
            chunk(b"IEND", b""))
