"""Reading YAML files (yaml.safe_load only) and resolving `_BASE_` inheritance by deep merge.

Besides the data, each load returns *locations*: {"A.b.0.c": (file, line)} for every key and list item, so that
an error can say where the offending value was written. Lines come from yaml.compose (node positions, no object
construction); values come from yaml.safe_load.
"""
import copy
import os

import yaml

from ..errors import ConfigError
from .checks import key_path

BASE_KEY = "_BASE_"


def _node_lines(node, prefix, out, filename):
    """Record the line of every mapping key and sequence item under a composed YAML node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out[path] = (filename, key_node.start_mark.line + 1)
            _node_lines(value_node, path, out, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}.{index}" if prefix else str(index)
            out[path] = (filename, item.start_mark.line + 1)
            _node_lines(item, path, out, filename)


def read_yaml(path):
    """(mapping, locations) of one YAML file; a missing file, bad YAML or a non-mapping is a ConfigError."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (Global, Arch, ...)")
    locations = {}
    if root is not None:
        _node_lines(root, "", locations, path)
    return data, locations


def deep_merge(base, top):
    """`top` over `base`: mappings merge key by key (recursively); anything else in `top` replaces."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(top)


def _replaced_prefixes(top, prefix=""):
    """Key paths in `top` whose value replaces (rather than merges into) whatever the base had there."""
    for key, value in top.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from _replaced_prefixes(value, path)
        else:
            yield path


def merge_locations(base_locs, top_data, top_locs):
    """Locations after deep_merge(base, top): the base's entries under replaced values are dropped."""
    merged = dict(base_locs)
    for path in _replaced_prefixes(top_data):
        stale = path + "."
        for key in [k for k in merged if k.startswith(stale)]:
            del merged[key]
    merged.update(top_locs)
    return merged


def load_with_bases(path, _chain=()):
    """(mapping, locations) of `path` with its `_BASE_` files (relative to `path`, recursive) merged under it.

    `_BASE_` is a file name or a list of them, merged in order, then the including file on top. A file that
    (indirectly) includes itself is a ConfigError naming the chain.
    """
    real = os.path.realpath(path)
    if real in _chain:
        names = [os.path.basename(p) for p in _chain + (real,)]
        raise ConfigError(f"{BASE_KEY}: inheritance cycle: {' -> '.join(names)}")
    data, locations = read_yaml(path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data, locations
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise ConfigError(f"{BASE_KEY}: expected a file name or a list of file names ({path})")
    merged, merged_locs = {}, {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base_path):
            raise ConfigError(f"{BASE_KEY}: file not found: {base_path} (included from {path})")
        base_data, base_locs = load_with_bases(base_path, _chain + (real,))
        merged_locs = merge_locations(merged_locs, base_data, base_locs)
        merged = deep_merge(merged, base_data)
    locations = merge_locations(merged_locs, data, locations)
    return deep_merge(merged, data), locations


def locate(locations, path):
    """' (file:line)' of the deepest recorded key along `path`, or ''."""
    parts = [str(p) for p in path]
    while parts:
        where = locations.get(key_path(parts))
        if where is not None:
            filename, line = where
            return f" ({filename}:{line})" if line else f" ({filename})"
        parts.pop()
    return ""
