"""tools/benchmark.py at tiny sizes (a smoke test of every mode), the alternating timer, and the numerics of the
data pipeline's fast paths (simplejpeg decode, LUT normalisation, cv2 flip) against their plain formulas."""
import csv
import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

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


# -- the fast paths the data benchmark relies on keep the plain formulas' numbers -----------------------------


def test_lut_normalize_is_bit_identical():
    from ppcls_lite.data.transforms import NormalizeImage

    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    for order, img in (("", hwc), ("chw", np.ascontiguousarray(hwc.transpose(2, 0, 1)))):
        op = NormalizeImage(scale="1.0/255.0", mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], order=order)
        plain = (img.astype(np.float32) * op.scale - op.mean) / op.std
        out = op(img)
        assert out.dtype == np.float32 and np.array_equal(out, plain)
    # float input keeps the formula
    f = hwc.astype(np.float32) / 3
    op = NormalizeImage(order="")
    assert np.array_equal(op(f), (f * op.scale - op.mean) / op.std)


def test_cv2_flip_matches_numpy():
    from ppcls_lite.data.transforms import RandFlipImage

    img = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for code, ref in ((1, img[:, ::-1]), (0, img[::-1]), (-1, img[::-1, ::-1])):
        op = RandFlipImage(flip_code=code)
        outs = [op(img, np.random.default_rng(s)) for s in range(8)]
        assert any(np.array_equal(o, ref) for o in outs) and all(
            np.array_equal(o, ref) or np.array_equal(o, img) for o in outs)


def test_fast_jpeg_decode_matches_pil():
    from ppcls_lite.data import image_io

    rng = np.random.default_rng(3)
    for mode, shape in (("RGB", (21, 34, 3)), ("L", (21, 34))):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "JPEG", quality=85)
        data = buf.getvalue()
        assert image_io._decode_plain_jpeg(data, None) is not None  # the fast path ran
        pil = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
        assert np.array_equal(image_io.decode_image(data), pil)
    with pytest.raises(image_io.ImageDecodeError):  # truncated: still PIL's verdict
        image_io.decode_image(data[: len(data) // 2])


def test_fast_jpeg_decode_exif_and_draft_agree_with_pil():
    from ppcls_lite.data import image_io

    arr = np.random.default_rng(5).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    for orientation, fast in ((1, True), (6, False)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90, exif=exif.tobytes())
        data = buf.getvalue()
        assert image_io._has_exif(data)
        assert (image_io._decode_plain_jpeg(data, None) is not None) == fast  # a rotation is left to PIL
        pil = Image.open(io.BytesIO(data))
        pil = np.array((pil if orientation == 1 else pil.transpose(Image.Transpose.ROTATE_270)).convert("RGB"))
        assert np.array_equal(image_io.decode_image(data), pil)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    assert not image_io._has_exif(data)
    for req, size in (((100, 70), (105, 75)), ((200, 140), (210, 150)), ((50, 30), (53, 38)), ((400, 10), None)):
        drafted = Image.open(io.BytesIO(data))
        drafted.draft("RGB", req)
        fast = image_io._decode_plain_jpeg(data, lambda w, h: req)
        assert np.array_equal(fast, np.array(drafted.convert("RGB")))  # the same DCT scale and pixels as PIL
        assert fast.shape[:2][::-1] == (size or (420, 300))
