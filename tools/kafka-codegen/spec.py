"""The model of Kafka's JSON message specs that kafka_codegen.py generates
Rust from: version ranges, fields, nested structs, and the names they get."""

import json
import re
import sys

MAXV = 32767

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
}
# Names the generated functions use for their own variables.
RESERVED_LOCALS = {"buf", "version", "flexible", "tag", "tagged_value", "tagged_size", "tagged_count", "item"}

PRIMITIVES = {
    # spec type: (rust type, classic min bytes, compact min bytes, getter, putter)
    "int8": ("i8", 1, 1, "get_i8", "put_i8"),
    "int16": ("i16", 2, 2, "get_i16", "put_i16"),
    "uint16": ("u16", 2, 2, "get_u16", "put_u16"),
    "int32": ("i32", 4, 4, "get_i32", "put_i32"),
    "uint32": ("u32", 4, 4, "get_u32", "put_u32"),
    "int64": ("i64", 8, 8, "get_i64", "put_i64"),
    "float64": ("f64", 8, 8, "get_f64", "put_f64"),
    "bool": ("bool", 1, 1, "get_bool", "put_bool"),
    "uuid": ("Uuid", 16, 16, "get_uuid", "put_uuid"),
}


def fail(msg):
    sys.exit(f"kafka-codegen: {msg}")


def strip_comments(text):
    """Removes // comments outside of JSON strings."""
    out = []
    i, n, in_str = 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def parse_range(s):
    """'3+', '1-4', '7' or 'none' as (lo, hi), or None."""
    if s is None or s == "none":
        return None
    s = s.strip()
    if s.endswith("+"):
        return (int(s[:-1]), MAXV)
    if "-" in s:
        lo, hi = s.split("-")
        return (int(lo), int(hi))
    return (int(s), int(s))


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def cond(r, ctx):
    """Rust condition that `version` is in r, given it is in ctx; None if never."""
    r = intersect(r, ctx)
    if r is None:
        return None
    lower, upper = r[0] > ctx[0], r[1] < ctx[1]
    if lower and upper:
        return f"version == {r[0]}" if r[0] == r[1] else f"({r[0]}..={r[1]}).contains(&version)"
    if lower:
        return f"version >= {r[0]}"
    if upper:
        return f"version <= {r[1]}"
    return "true"


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    if s in RESERVED_LOCALS:
        fail(f"field name {name} collides with a generated local")
    return f"r#{s}" if s in RUST_KEYWORDS else s


def int_literal(v):
    if isinstance(v, bool):
        fail(f"bad integer default {v}")
    if isinstance(v, int):
        return v
    v = v.strip()
    return int(v, 16) if v.lower().startswith(("0x", "-0x")) else int(v)


class Field:
    pass


class Struct:
    pass


class Message:
    pass


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        return json.loads(strip_comments(f.read()))


def build_message(spec, adv_lo, adv_hi):
    m = Message()
    m.name = spec["name"]
    m.api_key = spec["apiKey"]
    m.kind = spec["type"]
    valid = parse_range(spec["validVersions"])
    m.range = intersect(valid, (adv_lo, adv_hi))
    if m.range is None:
        fail(f"{m.name}: no version in common with the advertised range")
    m.flex = parse_range(spec["flexibleVersions"])
    m.structs = []
    m.top = build_struct(m, m.name, spec["fields"], m.range, f"{m.name} ({m.kind} of api key {m.api_key})")
    return m


def build_struct(m, name, fields_spec, ctx, doc):
    s = Struct()
    s.name = name
    s.spec_name = name
    s.range = ctx
    s.doc = doc
    s.fields = []
    s.message = m
    m.structs.append(s)
    for fs in fields_spec:
        vr = intersect(parse_range(fs["versions"]), ctx)
        if vr is None:
            continue  # never present in a generated version
        f = Field()
        f.spec = fs
        f.name = fs["name"]
        f.rust = snake(fs["name"])
        f.range = vr
        f.about = fs.get("about", "")
        f.nullable = intersect(parse_range(fs.get("nullableVersions")), vr)
        f.tagged = parse_range(fs.get("taggedVersions"))
        f.tag = fs.get("tag")
        if f.tagged is not None:
            if intersect(f.tagged, vr) != vr:
                fail(f"{name}.{f.name}: tagged in only some versions")
            if m.flex is None or intersect(m.flex, vr) != vr:
                fail(f"{name}.{f.name}: tagged outside flexible versions")
        t = fs["type"]
        f.array = t.startswith("[]")
        base = t[2:] if f.array else t
        f.base = base
        f.struct = None
        if base not in PRIMITIVES and base not in ("string", "bytes", "records"):
            if "fields" not in fs:
                fail(f"{name}.{f.name}: common struct {base} not supported")
            if not f.array and f.nullable is not None:
                fail(f"{name}.{f.name}: nullable struct not supported")
            f.struct = build_struct(m, base, fs["fields"], vr, f.about)
        f.default = fs.get("default")
        s.fields.append(f)
    return s


def is_flexible_cond(m, ctx):
    return cond(m.flex, ctx) if m.flex else None



def rename_collisions(messages):
    """Nested struct names shared by messages get the message name as prefix."""
    owners = {}
    for m in messages:
        seen = set()
        for s in m.structs[1:]:
            if s.name in seen:
                fail(f"{m.name}: struct {s.name} defined twice")
            seen.add(s.name)
            owners.setdefault(s.name, set()).add(m.name)
    top = {m.name for m in messages}
    for m in messages:
        for s in m.structs[1:]:
            if len(owners[s.name]) > 1 or s.name in top:
                s.name = f"{m.name}{s.spec_name}"
