"""benchmarks/benchmark.py at tiny sizes (a smoke test of every mode), the alternating timer and the model
resolution of the harness (the data numerics the data benchmark relies on: tests/data/test_fast_paths.py)."""
import csv
import os
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))  # the measuring scripts are not a package

import benchmark  # noqa: E402
import harness  # noqa: E402


def _jpegs(folder, n=4, size=(40, 30)):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"c{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(img).save(sub / f"{i}.jpg", quality=90)
    return folder


def test_alternate_orders_and_counts():
    calls = []
    times = harness.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeat=3)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # warmup ab, then ba ab ba
    assert [len(v) for v in times.values()] == [3, 3]


def test_resolve_model():
    assert harness.resolve_model("resnet50") == ("resnet50", "ResNet50")
    assert harness.resolve_model("ResNet18") == ("ResNet18", "ResNet18")
    assert harness.resolve_model("resnet18")[1] == "ResNet18"
    with pytest.raises(ValueError):
        harness.resolve_model("no_such_net")


def test_tool_all_modes_tiny(tmp_path):
    """Every column of a tiny ResNet18 run (16 px, batch 2) and the data table; CSV and markdown written."""
    data = _jpegs(tmp_path / "imgs")
    out = tmp_path / "out"
    rc = benchmark.main(["--models", "ResNet18", "--img-size", "16", "--batch-size", "2", "--repeat", "1",
                         "--warmup", "0", "--mode", "all", "--data", str(data), "--workers", "0",
                         "--engine-steps", "2", "--class-num", "10", "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "benchmark.csv")))
    assert len(rows) == 1
    row = rows[0]
    for key in ("params_m", "gmacs", "infer_dygraph_ips", "infer_static_ips", "infer_exported_ips", "train_ips",
                "loop_ips", "bare_ips", "engine_overhead_pct", "real_loop_ips", "peak_rss_train_mb"):
        assert row[key] not in ("", None), key
        float(row[key])
    assert float(row["infer_max_abs_diff"]) < 1e-3  # dygraph, to_static and exported agree
    data_rows = list(csv.DictReader(open(out / "data.csv")))
    assert [r["pipeline"].split()[0] for r in data_rows] == ["train", "eval"]
    assert all(float(r["ips"]) > 0 for r in data_rows)
    assert "| model |" in (out / "benchmark.md").read_text()


def test_tool_rejects_unknown_model(tmp_path, capsys):
    assert benchmark.main(["--models", "nope", "--mode", "infer", "--out", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_default_size_is_the_model_spec_s():
    from ppcls_lite import model_spec

    for name in ("DeiT_base_distilled_patch16_384", "ConvNeXt_large_384", "ResNet50", "ViT_hybrid_base_r50_384"):
        assert benchmark.default_size(name) == model_spec(name).input_size
    assert benchmark.default_size("SwinTransformer_base_patch4_window12_384") == 384
