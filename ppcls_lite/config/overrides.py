"""Command-line overrides: `-o Optimizer.lr.learning_rate=0.01`, `-o Metric.Eval.0.TopkAcc.topk=[1]`.

The value is parsed as one YAML literal with yaml.safe_load (numbers, booleans, null, [lists], {mappings},
anything else stays a string); it is never evaluated. Number components of the key index into lists. A mapping
given for a key that holds a mapping is merged into it (`-o 'Global={epochs: 3}'` changes epochs only); `={}`
empties it, and a mapping with another `name` (another component) replaces it.
"""
import copy
import re

import yaml

from ..errors import ConfigError
from .checks import config_error, key_path, type_name
from .loader import deep_merge

_COMPONENT = re.compile(r"^[A-Za-z0-9_\-]+$")


def parse_override(text):
    """'A.b.0.c=value' -> (('A', 'b', 0, 'c'), parsed value); bad syntax is a ConfigError."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"-o {text}: bad override syntax; expected KEY.PATH=VALUE (e.g. Global.epochs=10)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(_COMPONENT.match(p) for p in parts):
        raise ConfigError(
            f"-o {text}: bad override syntax; the key must be dot-separated names or list indices "
            f"(e.g. DataLoader.Train.sampler.batch_size=32)"
        )
    keys = tuple(int(p) if p.isdigit() else p for p in parts)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise config_error(keys, f"bad override value {raw!r}: {problem}") from None
    return keys, value


def _merges(old, new):
    """Whether mapping `new` is merged into mapping `old` rather than replacing it: not when it is empty (`={}`
    empties) or names another component (`Optimizer.lr={name: Piecewise, ...}` keeps nothing of Cosine's)."""
    if not (isinstance(old, dict) and isinstance(new, dict) and new):
        return False
    return "name" not in new or new["name"] == old.get("name")


def _set(config, keys, value):
    """Set config[keys...] = value in place; returns the first key path created (or None)."""
    node, created = config, None
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not isinstance(key, int):
                raise config_error(keys[: depth + 1], f"{key_path(keys[:depth]) or 'the config'} is a list; "
                                   f"use an index 0..{len(node) - 1}")
            if not 0 <= key < len(node):
                raise config_error(keys[: depth + 1], f"index out of range; {key_path(keys[:depth])} "
                                   f"has {len(node)} item{'s' if len(node) != 1 else ''}")
        elif isinstance(node, dict):
            if key not in node:
                key = str(key)
                if key not in node and created is None:
                    created = keys[: depth + 1]
            if not last and node.get(key) is None:
                node[key] = {}
        else:
            raise config_error(keys[:depth], f"holds a value of type {type_name(node)}, not a mapping or list, "
                               f"so {key_path(keys)} cannot be set")
        if last:
            if _merges(node.get(key) if isinstance(node, dict) else None, value):
                # `-o 'Global={epochs: 3}'` sets the keys given; the rest of the section stays
                node[key] = deep_merge(node[key], value)
            else:
                node[key] = value
        else:
            node = node[key]
    return created


def apply_overrides(config, overrides):
    """(new config, created key paths, applied) after applying `overrides` (strings) to a copy of `config`.

    `created` holds the key paths that did not exist before (validation decides whether they are legal);
    `applied` maps each overridden key path (dotted string) to its override text, for error locations.
    """
    config = copy.deepcopy(config)
    created, applied = set(), {}
    for text in overrides or ():
        keys, value = parse_override(text)
        try:
            new = _set(config, keys, value)
        except ConfigError as err:
            located = ConfigError(f"{err} (-o {text})")
            located.key_path = getattr(err, "key_path", ())
            raise located from None
        if new is not None:
            created.add(tuple(str(k) for k in new))
        applied[key_path(keys)] = text
    return config, created, applied
