"""Small building blocks shared by every validator: key paths, suggestions, type specs, number coercion.

A *type spec* is a short string such as ``"int"``, ``"float|null"``, ``"list[int]"`` or ``"bool|str|null"``; the
same string appears in docs/config.md. ``check_type`` returns the (possibly coerced) value or raises a
one-line ``ConfigError`` that starts with the key path.
"""
import difflib
import re

from ..errors import ConfigError

# Numbers that YAML 1.1 (PyYAML) reads as strings but PaddleClas configs mean as floats: "1e-8", "5e-4".
_SCI_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+$")
# "1.0/255.0", "1./3.": PaddleClas evaluates these; we divide, nothing more.
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^\s*([+-]?{_NUMBER})\s*/\s*({_NUMBER})\s*$")


def key_path(path):
    """('Optimizer', 'lr', 'name') -> 'Optimizer.lr.name' (list indices as numbers), '' for the root."""
    return ".".join(str(p) for p in path)


def config_error(path, message):
    """A ConfigError 'A.b.c: message' that remembers its key path (as `.key_path`, a tuple)."""
    prefix = key_path(path)
    err = ConfigError(f"{prefix}: {message}" if prefix else message)
    err.key_path = tuple(path)
    return err


def short_repr(value, limit=60):
    """repr() on one line, cut to `limit` characters."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggest(word, candidates):
    """'; did you mean 'x'?' for the closest candidate, else '; valid: a, b, ...', else ''."""
    candidates = sorted(str(c) for c in candidates)
    close = difflib.get_close_matches(str(word), candidates, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not candidates:
        return ""
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return f"; valid: {shown}"


def unknown_key(path, key, candidates, what="key"):
    """The ConfigError for a key (or component name) that is not among `candidates`."""
    return config_error(tuple(path) + (key,), f"unknown {what}{suggest(key, candidates)}")


def parse_fraction(text):
    """'1.0/255.0' -> 0.0039..., or None when `text` is not a plain fraction of two numbers."""
    match = _FRACTION.match(text) if isinstance(text, str) else None
    if not match:
        return None
    denominator = float(match.group(2))
    if denominator == 0:
        return None
    return float(match.group(1)) / denominator


def coerce_scientific(node):
    """Turn strings such as '5e-4' (which YAML 1.1 leaves as text) into floats, everywhere in a tree."""
    if isinstance(node, dict):
        return {k: coerce_scientific(v) for k, v in node.items()}
    if isinstance(node, list):
        return [coerce_scientific(v) for v in node]
    if isinstance(node, str) and _SCI_NUMBER.match(node.strip()):
        return float(node)
    return node


def type_name(value):
    """YAML-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for cls, name in ((int, "int"), (float, "float"), (str, "str"), (dict, "mapping"), ((list, tuple), "list")):
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _match_one(value, kind):
    """(matched, coerced value) for one alternative of a type spec."""
    if kind == "any":
        return True, value
    if kind == "null":
        return value is None, value
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, value
        fraction = parse_fraction(value)
        return (fraction is not None), fraction
    if kind == "str":
        return isinstance(value, str), value
    if kind == "dict":
        return isinstance(value, dict), value
    if kind == "list":
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, tuple) else value
    if kind.startswith("list[") and kind.endswith("]"):
        if not isinstance(value, (list, tuple)):
            return False, value
        items = []
        for item in value:
            ok, item = _match_one(item, kind[5:-1])
            if not ok:
                return False, value
            items.append(item)
        return True, items
    raise ValueError(f"bad type spec {kind!r}")


def check_type(path, value, spec):
    """Return `value` (coerced: fractions -> float, tuples -> lists) if it matches `spec`, else raise."""
    for kind in spec.split("|"):
        ok, coerced = _match_one(value, kind)
        if ok:
            return coerced
    expected = spec.replace("|", " or ").replace("dict", "mapping")
    raise config_error(path, f"expected {expected}, got {type_name(value)} {short_repr(value)}")


def spec_from_default(default):
    """The type spec a component parameter's default implies (None / unusual defaults: anything)."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (list, tuple)):
        # PaddleClas ops take a number where they take a sequence (size: 224 or [224, 224], topk: 5 or [1, 5]).
        return "list|float"
    if isinstance(default, dict):
        return "dict"
    return "any"
