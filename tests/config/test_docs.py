"""docs/config.md documents every key of the fixed schema with the type and default the code uses."""
import json
import os

import pytest

from ppcls_lite.config import schema
from tests.config.conftest import ROOT

TABLES = ["GLOBAL", "ARCH", "DISTILLATION_ARCH", "AMP", "EMA", "OPTIMIZER", "REGULARIZER", "LR", "DATALOADER_SPLIT", "DATASET", "SAMPLER",
          "LOADER", "INFER", "POSTPROCESS", "SPLITS"]


def _default(field):
    if field.required:
        return "required"
    value = field.default
    text = {None: "null", True: "true", False: "false"}.get(value) if isinstance(value, (bool, type(None))) else None
    if text is None:
        text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


@pytest.mark.parametrize("table", TABLES)
def test_every_key_documented(table):
    with open(os.path.join(ROOT, "docs", "config.md"), encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| `")]
    for key, field in getattr(schema, table).items():
        prefix = f"| `{key}` | {field.spec.replace('|', ' or ')} | "
        matches = [row for row in rows if row.startswith(prefix)]
        assert matches, f"{table}.{key}: no row starting {prefix!r} in docs/config.md"
        if table != "DATASET":  # dataset defaults are the dataset classes' own; none is filled in
            assert any(row[len(prefix):].startswith(_default(field) + " |") for row in matches), (
                f"{table}.{key}: default {_default(field)} not documented")
