"""A small JSON Schema validator (standard library only) for the subset
docs/json/*.schema.json use: type (a name or a list), properties, required,
additionalProperties (true/false/schema), items, enum, minimum."""

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(value, schema, path="$"):
    """A list of "path: problem" strings; empty when `value` fits."""
    out = []
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(TYPES[n](value) for n in names):
            return ["%s: expected %s, got %s" % (path, "|".join(names),
                                                 type(value).__name__)]
    if "enum" in schema and value not in schema["enum"]:
        out.append("%s: %r not one of %r" % (path, value, schema["enum"]))
    if "minimum" in schema and TYPES["number"](value) and \
            value < schema["minimum"]:
        out.append("%s: %r below %r" % (path, value, schema["minimum"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                out.append("%s: missing %r" % (path, k))
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], "%s.%s" % (path, k))
            elif extra is False:
                out.append("%s: unexpected key %r" % (path, k))
            elif isinstance(extra, dict):
                out += errors(v, extra, "%s.%s" % (path, k))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += errors(v, schema["items"], "%s[%d]" % (path, i))
    return out
