"""A key the schema accepts is a key something reads (issue 12, item 2): every key of every schema table is named
by code outside ppcls_lite/config/ -- as a string (`g["start_eval_epoch"]`) or as the parameter a section is
passed to (`amp_options(use_fp16_test=...)`) -- unless its only accepted value is the one behaviour."""
import ast
import os

from ppcls_lite.config import schema as S
from ppcls_lite.config.schema import Field

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "ppcls_lite")


def _names_used_outside_config():
    names = set()
    for dirpath, _, files in os.walk(PACKAGE):
        if os.path.basename(dirpath) == "config":
            continue
        for name in files:
            if name.endswith(".py"):
                for node in ast.walk(ast.parse(open(os.path.join(dirpath, name)).read())):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str):
                        names.add(node.value)
                    elif isinstance(node, ast.arg):
                        names.add(node.arg)
    return names


def test_no_schema_key_is_read_by_nothing():
    tables = {name: table for name, table in vars(S).items()
              if isinstance(table, dict) and table and all(isinstance(f, Field) for f in table.values())}
    assert {"GLOBAL", "ARCH", "AMP", "EMA", "OPTIMIZER", "SAMPLER", "LOADER", "INFER", "SPLITS"} <= set(tables)
    used = _names_used_outside_config()
    unread = [f"{table}.{key}" for table, fields in tables.items() for key, field in fields.items()
              if key not in used and len(field.choices) != 1]
    assert unread == []
