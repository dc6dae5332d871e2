"""nestjs-paginate semantics (v13.5, as configured by the 121 service).

- filter tokens `[$or:][$not:]$op:value` parsed like nestjs-paginate's
  parseFilterToken; a filter on an unknown column, or whose operator is not in
  the column's allowed list, is SILENTLY DROPPED (`$eq` is always allowed);
- AND/OR combine like the generated SQL (`a AND b OR c` = `(a AND b) OR c`),
  with SQL NULL semantics (`$not:$eq:x` does not match NULL values);
- page/limit/meta/links exactly as nestjs-paginate builds them (limit=-1: no
  paging, itemsPerPage = rows, links use limit=20; limit=0: counter only).
"""

import math
import re

from model import parse_iso_us

OPERATORS = {"$eq", "$gt", "$gte", "$in", "$null", "$lt", "$lte", "$btw", "$ilike", "$sw",
             "$contains"}
SUFFIXES = {"$not"}
COMPARATORS = {"$and", "$or"}

STRING_OPS = ("$eq", "$in", "$ilike", "$null", "$not")
NUMBER_OPS = ("$eq", "$null", "$gt", "$lt", "$btw", "$not")


class QueryError(Exception):
    def __init__(self, status, body):
        Exception.__init__(self, status, body)
        self.status = status
        self.body = body


def internal_error():
    return QueryError(500, {"statusCode": 500, "message": "Internal server error"})


def parse_token(raw):
    """-> (comparator, suffix, operator, value) like nestjs-paginate."""
    comparator, suffix, operator, value = "$and", None, "$eq", raw
    used = []
    for part in raw.split(":")[:4]:
        if part in COMPARATORS:
            comparator = part
        elif part in SUFFIXES:
            suffix = part
        elif part in OPERATORS:
            operator = part
        else:
            break
        used.append(part)
    if used:
        value = None if operator == "$null" else raw.replace(":".join(used) + ":", "", 1)
    return comparator, suffix, operator, value


def _like_regex(v):
    out = []
    for ch in v:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.I | re.S)


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise internal_error()  # Postgres: invalid input syntax for type integer
    return f


def _date_us(v):
    try:
        return parse_iso_us(v)
    except (TypeError, ValueError):
        raise internal_error()  # Postgres: invalid input syntax for type timestamp


def make_predicate(kind, getter, suffix, operator, value):
    """Predicate returning True/False/None (SQL three-valued logic)."""
    if operator == "$null":
        def base(r):
            return getter(r) is None
    elif kind == "string":
        if operator == "$eq":
            v = value

            def base(r):
                x = getter(r)
                return None if x is None else x == v
        elif operator == "$in":
            vals = {s.strip() for s in value.split(",")}

            def base(r):
                x = getter(r)
                return None if x is None else x in vals
        elif operator == "$ilike":
            rx = _like_regex(value)

            def base(r):
                x = getter(r)
                return None if x is None else rx.search(x) is not None
        elif operator == "$sw":
            low = value.lower()

            def base(r):
                x = getter(r)
                return None if x is None else x.lower().startswith(low)
        else:  # $gt/$lt/$btw on strings would be allowed nowhere in 121
            return None
    else:
        conv = _date_us if kind == "date" else _num
        if operator == "$btw":
            parts = value.split(",")
            if len(parts) != 2:
                raise internal_error()
            a, b = conv(parts[0]), conv(parts[1])

            def base(r):
                x = getter(r)
                return None if x is None else a <= x <= b
        elif operator in ("$eq", "$gt", "$lt", "$gte", "$lte"):
            v = conv(value)
            if operator == "$eq":
                def base(r):
                    x = getter(r)
                    return None if x is None else x == v
            elif operator == "$gt":
                def base(r):
                    x = getter(r)
                    return None if x is None else x > v
            elif operator == "$lt":
                def base(r):
                    x = getter(r)
                    return None if x is None else x < v
            elif operator == "$gte":
                def base(r):
                    x = getter(r)
                    return None if x is None else x >= v
            else:
                def base(r):
                    x = getter(r)
                    return None if x is None else x <= v
        else:
            return None
    if suffix == "$not":
        def pred(r, _b=base):
            b = _b(r)
            return None if b is None else not b
        return pred
    return base


class ParsedFilter:
    def __init__(self):
        self.entries = []        # [(comparator, column, suffix, operator, value, predicate)]
        self.raw = {}            # column -> str | [str] as given (for meta.filter and links)

    @property
    def has_or(self):
        return any(e[0] == "$or" for e in self.entries[1:])

    def matches(self, r):
        """SQL precedence: `a AND b OR c AND d` = `(a AND b) OR (c AND d)`;
        NULL (None) is not true."""
        cur = True
        first = True
        for comp, _c, _s, _o, _v, pred in self.entries:
            if comp == "$or" and not first:
                if cur:
                    return True
                cur = True
            first = False
            if cur and pred(r) is not True:
                cur = False
        return cur

    def id_bounds(self, column="id"):
        """Bounds on `column` usable to narrow the scan (AND-only, no $not)."""
        if self.has_or:
            return None, None
        lo, hi = None, None
        for _comp, col, suffix, op, value, _p in self.entries:
            if col != column or suffix:
                continue
            try:
                if op == "$gt":
                    v = math.floor(float(value)) + 1
                    lo = v if lo is None else max(lo, v)
                elif op == "$lt":
                    v = math.ceil(float(value)) - 1
                    hi = v if hi is None else min(hi, v)
                elif op == "$eq":
                    v = float(value)
                    if not v.is_integer():
                        return 1, 0
                    lo = int(v) if lo is None else max(lo, int(v))
                    hi = int(v) if hi is None else min(hi, int(v))
                elif op == "$btw":
                    a, b = value.split(",")
                    a, b = math.ceil(float(a)), math.floor(float(b))
                    lo = a if lo is None else max(lo, a)
                    hi = b if hi is None else min(hi, b)
            except (ValueError, TypeError):
                pass
        return lo, hi

    def eq_in_values(self, column):
        """Exact values of an AND-ed $eq/$in filter on a string column, or None."""
        if self.has_or:
            return None
        vals = None
        for _comp, col, suffix, op, value, _p in self.entries:
            if col != column or suffix:
                continue
            if op == "$eq":
                s = {value}
            elif op == "$in":
                s = {x.strip() for x in value.split(",")}
            else:
                continue
            vals = s if vals is None else (vals & s)
        return vals


def parse_filters(pairs, columns):
    """pairs: [(key, value)] from the query string, in order.
    columns: name -> (kind, getter, allowed_ops)."""
    pf = ParsedFilter()
    per_col = {}
    for k, v in pairs:
        if not k.startswith("filter."):
            continue
        col = k[len("filter."):]
        per_col.setdefault(col, []).append(v)
        prev = pf.raw.get(col)
        if prev is None:
            pf.raw[col] = v
        elif isinstance(prev, list):
            prev.append(v)
        else:
            pf.raw[col] = [prev, v]
    for col, raws in per_col.items():
        spec = columns.get(col)
        if spec is None:
            continue  # unknown column: silently dropped
        kind, getter, allowed = spec
        for raw in raws:
            comp, suffix, op, value = parse_token(raw)
            if op != "$eq" and op not in allowed:
                continue  # disallowed operator: silently dropped
            if suffix and suffix not in allowed:
                continue
            if value is None and op != "$null":
                continue
            pred = make_predicate(kind, getter, suffix, op, value)
            if pred is None:
                continue
            pf.entries.append((comp, col, suffix, op, value, pred))
    return pf


def parse_paging(q_first, default_limit=20):
    """-> (page, limit_query) where limit_query is the requested limit."""
    page = 1
    try:
        page = int(q_first.get("page", "1"))
    except ValueError:
        page = 1
    if page < 1:
        page = 1
    limit = default_limit
    if "limit" in q_first:
        try:
            limit = int(q_first["limit"])
        except ValueError:
            limit = default_limit
        if limit < -1:
            limit = default_limit
    return page, limit


def parse_sort(values, sortable, default=("id", "ASC")):
    """values: list of sortBy params. Unknown column or bad direction: ignored."""
    out = []
    for raw in values:
        for part in raw.split(","):
            if ":" not in part:
                continue
            col, direction = part.split(":", 1)
            direction = direction.upper()
            if col in sortable and direction in ("ASC", "DESC"):
                out.append([col, direction])
    if not out:
        out = [list(default)]
    return out


def sort_rows(rows, sort_by, getters):
    """Stable sort; NULLs last for ASC and first for DESC (Postgres default)."""
    for col, direction in reversed(sort_by):
        if col == "id" and direction == "ASC":
            rows.sort(key=lambda r: r.id)
            continue
        g = getters[col]
        if direction == "ASC":
            rows.sort(key=lambda r: (1, 0) if g(r) is None else (0, g(r)))
        else:
            rows.sort(key=lambda r: (1, 0) if g(r) is None else (0, g(r)), reverse=True)
    return rows


def paginate_meta(total, n_items, page, limit_q, sort_by, pf, search, base_path, extra_meta=None):
    """Build (slice_start, slice_len or None, meta, links) like nestjs-paginate.

    limit_q: requested limit (-1 all, 0 counter only, >0 page size)."""
    counter_only = limit_q == 0
    paginated = not (limit_q in (0, -1))
    limit = 0 if counter_only else (limit_q if paginated else 20)
    if counter_only:
        items_per_page = total
        total_items = total
    elif paginated:
        items_per_page = limit
        total_items = total
    else:
        items_per_page = n_items
        total_items = n_items
    total_pages = math.ceil(total / limit) if paginated else 1
    meta = {"itemsPerPage": items_per_page, "totalItems": total_items, "currentPage": page,
            "totalPages": total_pages, "sortBy": sort_by}
    if search:
        meta["search"] = search
    if extra_meta:
        meta.update(extra_meta)
    if pf is not None and pf.raw:
        meta["filter"] = pf.raw
    options = "&limit=%d" % limit + "".join("&sortBy=%s:%s" % (c, d) for c, d in sort_by)
    if search:
        options += "&search=%s" % search
    if pf is not None and pf.raw:
        parts = []
        for col, v in pf.raw.items():
            for x in (v if isinstance(v, list) else [v]):
                parts.append("filter.%s=%s" % (col, x))
        options += "&" + "&".join(parts)

    def link(pg):
        return "%s?page=%d%s" % (base_path, pg, options)

    links = {}
    if page != 1:
        links["first"] = link(1)
    if page - 1 >= 1:
        links["previous"] = link(page - 1)
    links["current"] = link(page)
    if page + 1 <= total_pages:
        links["next"] = link(page + 1)
    if page != total_pages and total:
        links["last"] = link(total_pages)
    return meta, links


def page_slice(total, page, limit_q):
    """(start, stop) of the rows to return."""
    if limit_q == 0:
        return 0, 0
    if limit_q == -1:
        return 0, total
    start = (page - 1) * limit_q
    return min(start, total), min(start + limit_q, total)
