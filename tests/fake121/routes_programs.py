"""Program creation routes of the fake 121 (agent issue 8, `agent kobo
program --create`), following shared/contracts/121-api.md sections 0.2, 2
and 7:

  POST /api/programs                              [org-admin]
  POST /api/programs/{pid}/fsp-configurations     [perm]

POST /api/programs needs an organization admin: the fake's user is one
only with --org-admin (or POST /_test/config {"org_admin": true});
otherwise 403. Validation as class-validator would give it (a raw array of
errors, contract section 2): titlePortal (an object), currency (ISO 4217),
each programRegistrationAttributes item's name and type (only numeric,
dropdown, tel, text and date can be created), dropdown options. 201 with
the saved program entity. Program ids continue the instance's one serial
sequence.

POST .../fsp-configurations: name, label (with "en") and fspName (a 121
FSP) required, property names from the enum (400 otherwise); a name the
program has already: 409 "Program FSP-configuration with name X already
exists" (shape A). 201 with the DTO. The attributes the FSP requires are
added to the program when missing (contract 7, side effect).
"""

import re

from common import HttpError, Resp
from model import Attribute, FSP_SETTINGS, FspConfig, Program, iso_ms

FSP_NAMES = ("Intersolve-voucher-whatsapp", "Intersolve-voucher-paper", "Intersolve-visa",
             "Safaricom", "Airtel", "Cooperative-bank-of-oromia", "Commercial-bank-ethiopia",
             "Excel", "Nedbank", "Onafriq", "MTN")
PROPERTY_NAMES = ("username", "password", "passwordOnafriq", "uniqueKeyOnafriq",
                  "columnToMatch", "columnsToExport", "brandCode", "coverLetterCode",
                  "fundingTokenCode", "paymentReferencePrefix", "cardDistributionByMail",
                  "maxToSpendPerMonthInCents", "corporateId")
ATTR_TYPES = ("numeric", "dropdown", "tel", "text", "date")
BASE_FIELDS = ("location", "titlePortal", "ngo", "startDate", "endDate", "currency",
               "distributionFrequency", "distributionDuration", "fixedTransferValue",
               "paymentAmountMultiplierFormula", "targetNrRegistrations", "description",
               "validation")
# ISO 4217 codes the fake knows (a real server checks the whole list).
CURRENCIES = ("EUR", "USD", "KES", "ETB", "UGX", "ZMW", "MWK", "NGN", "XOF", "XAF", "PHP",
              "GBP", "CHF", "SDG", "SSP", "SOS", "MZN", "ZAR", "LBP", "SYP", "UAH", "PLN")


def _err(target, prop, value, constraints):
    return {"target": target, "value": value, "property": prop, "children": [],
            "constraints": constraints}


def r_create_program(ctx):
    if not getattr(ctx.app.config, "org_admin", False):
        raise HttpError(403, {"statusCode": 403, "message": "Forbidden resource"})
    body = ctx.json_obj()
    errs = []
    title = body.get("titlePortal")
    if not isinstance(title, dict) or not title:
        errs.append(_err(body, "titlePortal", title,
                         {"isNotEmpty": "titlePortal should not be empty",
                          "isObject": "titlePortal must be an object"}))
    cur = body.get("currency")
    if not isinstance(cur, str) or cur not in CURRENCIES:
        errs.append(_err(body, "currency", cur,
                         {"isISO4217CurrencyCode": "currency must be a valid ISO4217 currency code"}))
    attrs = body.get("programRegistrationAttributes") or []
    if not isinstance(attrs, list):
        errs.append(_err(body, "programRegistrationAttributes", attrs,
                         {"isArray": "programRegistrationAttributes must be an array"}))
        attrs = []
    names = set()
    for i, a in enumerate(attrs):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"]:
            errs.append(_err(body, "programRegistrationAttributes.%d.name" % i, None,
                             {"isNotEmpty": "name should not be empty"}))
            continue
        if a["name"] in names:
            errs.append(_err(body, "programRegistrationAttributes.%d.name" % i, a["name"],
                             {"isUnique": "name must be unique"}))
        names.add(a["name"])
        if a.get("type") not in ATTR_TYPES:
            errs.append(_err(body, "programRegistrationAttributes.%d.type" % i, a.get("type"),
                             {"isIn": "type must be one of the following values: "
                              + ", ".join(ATTR_TYPES)}))
        if a.get("type") == "dropdown" and not isinstance(a.get("options"), list):
            errs.append(_err(body, "programRegistrationAttributes.%d.options" % i,
                             a.get("options"), {"isArray": "options must be an array"}))
    if errs:
        raise HttpError(400, errs)
    st = ctx.state
    with st.lock:
        pid = max(st.programs) + 1 if st.programs else 1
        now = iso_ms(st.clock.now_ms())
        p = Program(pid, now)
        p.base = {k: body.get(k) for k in BASE_FIELDS}
        p.base["description"] = body.get("description") or {}
        p.base["validation"] = bool(body.get("validation", False))
        p.base_tail = {"budget": body.get("budget"),
                       "monitoringDashboardUrl": body.get("monitoringDashboardUrl")}
        p.languages = list(body.get("languages") or ["en"])
        p.enable_max_payments = bool(body.get("enableMaxPayments", False))
        p.enable_scope = bool(body.get("enableScope", False))
        p.fixed_transfer_value = body.get("fixedTransferValue")
        p.naming = list(body.get("fullnameNamingConvention") or [])
        next_attr = 1 + max([a.id for q in st.programs.values() for a in q.attributes] or [0])
        for a in attrs:
            p.add_attribute(Attribute(
                next_attr, pid, a["name"], a.get("label") or {"en": a["name"]}, a["type"],
                is_required=bool(a.get("isRequired")), options=a.get("options"),
                placeholder=a.get("placeholder"),
                include_in_tx_export=bool(a.get("includeInTransactionExport")),
                duplicate_check=bool(a.get("duplicateCheck")),
                show_in_table=bool(a.get("showInPeopleAffectedTable")),
                editable=a.get("editableInPortal", True) is not False, created=now))
            next_attr += 1
        st.programs[pid] = p
        st.version += 1
        return Resp(201, p.entity())


def r_create_fsp_config(ctx):
    p = ctx.program
    body = ctx.json_obj()
    errs = []
    name = body.get("name")
    label = body.get("label")
    fsp = body.get("fspName")
    if not isinstance(name, str) or not name:
        errs.append(_err(body, "name", name, {"isNotEmpty": "name should not be empty"}))
    if not isinstance(label, dict) or not isinstance(label.get("en"), str):
        errs.append(_err(body, "label", label, {"isNotEmpty": "label.en should not be empty"}))
    if fsp not in FSP_NAMES:
        errs.append(_err(body, "fspName", fsp,
                         {"isEnum": "fspName must be one of the following values: "
                          + ", ".join(FSP_NAMES)}))
    props = body.get("properties") or []
    if not isinstance(props, list):
        props = [None]
    for i, pr in enumerate(props):
        if not isinstance(pr, dict) or pr.get("name") not in PROPERTY_NAMES:
            errs.append(_err(body, "properties.%d.name" % i,
                             pr.get("name") if isinstance(pr, dict) else pr,
                             {"isEnum": "name must be a valid property name"}))
    if errs:
        raise HttpError(400, {"message": errs, "error": "Bad Request", "statusCode": 400})
    st = ctx.state
    with st.lock:
        if name in p.fsp_by_name:
            raise HttpError(409, {"statusCode": 409, "message":
                                  "Program FSP-configuration with name %s already exists" % name})
        now = iso_ms(st.clock.now_ms())
        next_id = 1 + max([f.id for q in st.programs.values() for f in q.fsps] or [0])
        f = FspConfig(next_id, p.id, fsp, name, label, now,
                      {pr["name"]: pr.get("value") for pr in props})
        p.add_fsp(f)
        # side effect: the attributes the FSP requires
        next_attr = 1 + max([a.id for q in st.programs.values() for a in q.attributes] or [0])
        for req in FSP_SETTINGS.get(fsp, ("api", []))[1]:
            if req["name"] not in p.attr_by_name:
                p.add_attribute(Attribute(next_attr, p.id, req["name"], {"en": req["name"]},
                                          "tel" if "Phone" in req["name"] else "text",
                                          created=now))
                next_attr += 1
        st.version += 1
        return Resp(201, f.dto())


P = r"/api/programs/(?P<pid>[^/]+)"
TABLE = [
    ("POST", r"/api/programs", r_create_program, "any"),
    ("POST", P + r"/fsp-configurations", r_create_fsp_config, "perm"),
]


def program_summary(p):
    """What the tests check of a program (GET /_test/state)."""
    return {"title": (p.base.get("titlePortal") or {}).get("en"),
            "fsp_configurations": [f.name for f in p.fsps],
            "attributes": [a.name for a in p.attributes]}


__all__ = ["TABLE", "program_summary", "re"]
