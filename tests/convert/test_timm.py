"""timm weights (issue 13, item 4): converted checkpoints give timm's own logits, on fixtures that timm itself
wrote (tests/fixtures/timm, made by benchmarks/check_timm_parity.py --tiny; timm is not needed here)."""
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import paddle
import pytest

from ppcls_lite.arch import build_from_config
from ppcls_lite.convert import (convert_timm, read_safetensors, read_timm_state, read_torch_file,
                                timm_eval_spec)
from ppcls_lite.errors import ConfigError, WeightsError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "timm")
with open(os.path.join(FIXTURES, "manifest.json"), encoding="utf-8") as _f:
    MANIFEST = {row["tag"]: row for row in json.load(_f)}
IMAGES = os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenet_sample_100")


def _logits(model, x):
    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(x)).numpy()


def _converted(tag, **arch):
    row = MANIFEST[tag]
    state = read_timm_state(os.path.join(FIXTURES, row["file"]))
    return convert_timm(state, dict(name=row["variant"], **row["arch"], **arch))


@pytest.mark.parametrize("tag", sorted(MANIFEST))
def test_converted_weights_give_timm_s_logits(tag):
    ref = np.load(os.path.join(FIXTURES, f"{tag}.npz"))
    model, arch = _converted(tag)
    out = _logits(model, ref["x"])
    assert out.shape == ref["logits"].shape and arch["class_num"] == 5
    np.testing.assert_allclose(out, ref["logits"], rtol=0, atol=1e-4)
    assert np.abs(ref["logits"]).max() > 0.1  # logits of scrambled weights, not of a near-zero head


def test_families_differ_from_timm_where_the_conversion_says_so():
    """Res2Net's timm split style and ResNet-18's missing first shortcut are needed: without them, the same
    weights give other logits (Res2Net) or do not fit (ResNet-18)."""
    ref = np.load(os.path.join(FIXTURES, "res2net_d.npz"))
    model, arch = _converted("res2net_d")
    assert arch["split_style"] == "timm"
    paddleclas_style = build_from_config(dict(arch, split_style="paddleclas"))
    paddleclas_style.set_state_dict(model.state_dict())
    assert np.abs(_logits(paddleclas_style, ref["x"]) - ref["logits"]).max() > 1e-3
    _, arch = _converted("resnet18_d")
    assert arch["use_first_short_conv"] is False


def test_swin_shifts_no_window_that_covers_the_whole_map():
    paddle.seed(0)
    arch = dict(name="SwinTransformer_tiny_patch4_window7_224", class_num=3, img_size=16, embed_dim=8,
                depths=[2], num_heads=[2], window_size=4)  # 4 x 4 tokens: one window
    timm_like = build_from_config(dict(arch, shift_full_window=False))
    rng = np.random.default_rng(1)
    for param in timm_like.parameters():  # weights that make every token matter
        param.set_value(rng.standard_normal(param.shape).astype("float32") * 0.5)
    paddleclas = build_from_config(arch)
    paddleclas.set_state_dict(timm_like.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype("float32")
    unshifted = build_from_config(arch)
    unshifted.set_state_dict(timm_like.state_dict())
    unshifted.layers[0].blocks[1].shift_size = 0
    np.testing.assert_allclose(_logits(timm_like, x), _logits(unshifted, x), atol=1e-6)
    assert np.abs(_logits(timm_like, x) - _logits(paddleclas, x)).max() > 1e-4


def test_a_checkpoint_of_another_variant_names_its_keys():
    with pytest.raises(WeightsError, match=r"timm key\(s\) have no place in ViT_base_patch16_224: .*layers\.0\."):
        convert_timm(read_timm_state(os.path.join(FIXTURES, "swin.safetensors")),
                     dict(name="ViT_base_patch16_224", **MANIFEST["vit"]["arch"]))
    with pytest.raises(WeightsError, match=r"ResNet50.*stem\.0\.conv\.weight|no place in ResNet50"):
        convert_timm(read_timm_state(os.path.join(FIXTURES, "resnet_d.pth")), dict(name="ResNet50", base_channels=4))
    with pytest.raises(WeightsError, match=r"shapes differ from ConvNeXt_tiny's: head\.fc\.weight \[16, 5\] -> "
                                           r"head\.weight \[768, 5\], .* \(\+62 more\)"):
        convert_timm(read_timm_state(os.path.join(FIXTURES, "convnext.safetensors")), dict(name="ConvNeXt_tiny"))
    with pytest.raises(ConfigError, match=r"^Arch.class_num: 10, but the timm checkpoint's head has 5 classes"):
        _converted("vit", class_num=10)


def _write_safetensors(path, tensors, raw=None):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps({"__metadata__": {"format": "pt"}, **header}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + (raw if raw is not None else b"".join(blobs)))


def test_safetensors_are_read_with_numpy_in_every_float_width(tmp_path):
    values = np.array([[1.5, -2.25, 3.0], [0.0, 65280.0, -0.125]], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()  # these values are exact in bfloat16
    path = str(tmp_path / "w.safetensors")
    _write_safetensors(path, {"f32": ("F32", [2, 3], values.astype("<f4").tobytes()),
                              "f16": ("F16", [2, 3], values.astype("<f2").tobytes()),
                              "bf16": ("BF16", [2, 3], bf16),
                              "i64": ("I64", [3], np.arange(3, dtype="<i8").tobytes())})
    tensors, metadata = read_safetensors(path)
    for key in ("f32", "f16", "bf16"):
        assert tensors[key].dtype == np.float32
        np.testing.assert_array_equal(tensors[key], values, err_msg=key)
    np.testing.assert_array_equal(tensors["i64"], [0, 1, 2])
    assert metadata == {"format": "pt"}
    _write_safetensors(path, {"w": ("F32", [4], b"\0" * 16)}, raw=b"\0" * 8)
    with pytest.raises(WeightsError, match=r"w\.safetensors: tensor 'w' lies outside the file \(truncated\?\)"):
        read_safetensors(path)
    with open(path, "wb") as f:
        f.write(b"\xff" * 64)
    with pytest.raises(WeightsError, match=r"w\.safetensors: not a safetensors file"):
        read_safetensors(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pth_that_would_run_code_is_refused(tmp_path):
    state = read_torch_file(os.path.join(FIXTURES, "resnet_d.pth"))
    assert state["fc.weight"].shape == (5, 128) and state["fc.weight"].dtype == np.float32
    marker, path = tmp_path / "ran", str(tmp_path / "evil.pth")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"fc.weight": _Payload(marker)}, protocol=2))
    with pytest.raises(WeightsError, match=r"evil\.pth: cannot read it safely: refusing to load global "
                                           r"'(posix|os)\.system'"):
        read_timm_state(path)
    assert not marker.exists()


def test_timm_s_pretrained_cfg_becomes_the_eval_spec():
    spec = timm_eval_spec("ConvNeXt_tiny", {"input_size": [3, 288, 288], "crop_pct": 0.95, "interpolation": "bicubic",
                                            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]})
    assert (spec.input_size, spec.resize_short, spec.interpolation, spec.backend) == (288, 303, "bicubic", "pil")
    assert spec.mean == (0.5, 0.5, 0.5)
    with pytest.raises(ConfigError, match=r"crop_mode 'squash'"):
        timm_eval_spec("ConvNeXt_tiny", {"crop_mode": "squash"})


def _tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_weights.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not os.path.isdir(IMAGES), reason="needs ../shared/data/imagenet_sample_100")
def test_convert_then_infer_with_timm_s_preprocessing(tmp_path):
    src = tmp_path / "hub" / "model.safetensors"
    src.parent.mkdir()
    src.write_bytes(open(os.path.join(FIXTURES, "convnext.safetensors"), "rb").read())
    cfg = {"architecture": "convnext_tiny", "pretrained_cfg": {"input_size": [3, 64, 64], "crop_pct": 0.8,
                                                               "interpolation": "bicubic",
                                                               "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
           "label_names": ["a", "b", "c", "d", "e"]}
    (src.parent / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "converted" / "cnx.pdparams"
    proc = _tool("--from", "timm", "--model", "ConvNeXt_tiny", "--src", str(src), "--out", str(out),
                 "-o", "Arch.depths=[1, 1, 2, 1]", "-o", "Arch.dims=[8, 8, 16, 16]")
    assert proc.returncode == 0, proc.stderr
    assert "into ConvNeXt_tiny (5 classes)" in proc.stdout
    assert "resize 80 / crop 64, bicubic (pil), mean [0.5, 0.5, 0.5] std [0.25, 0.25, 0.25]: timm's" in proc.stderr
    images = os.path.join(IMAGES, "val", sorted(os.listdir(os.path.join(IMAGES, "val")))[0])
    infer = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "infer.py"), "--weights",
                            str(out.with_suffix("")), "--images", images, "--topk", "2"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert infer.returncode == 0, infer.stderr
    records = [json.loads(line) for line in infer.stdout.splitlines()]
    assert records and all(set(r["label_names"]) <= set("abcde") for r in records)
    assert "preprocessing: timm's preprocessing (from" in infer.stderr
    # the same weights, converted again, give the same file contents
    again = _tool("--from", "timm", "--model", "ConvNeXt_tiny", "--src", str(src), "--out", str(tmp_path / "b"),
                  "-o", "Arch.depths=[1, 1, 2, 1]", "-o", "Arch.dims=[8, 8, 16, 16]")
    assert again.returncode == 0
    first = paddle.load(str(out))
    second = paddle.load(str(tmp_path / "b.pdparams"))
    assert sorted(first) == sorted(second) and all(np.array_equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("args, message", [
    (["--model", "ConvNeXt_tinyy"], r"^error: --model: Arch.name: unknown model 'ConvNeXt_tinyy'; did you mean"),
    (["--model", "ConvNeXt_tiny", "--src", "missing.safetensors"], r"^error: --src: no such file: missing"),
    (["--model", "ResNet50"], r"^error: \d+ timm key\(s\) have no place in ResNet50: "),
    (["--model", "ConvNeXt_tiny", "-o", "Global.epochs=3"], r"^error: -o Global.epochs=3: only Arch.<key>=VALUE"),
])
def test_mistakes_are_one_line_exit_2(tmp_path, args, message):
    base = {"--src": os.path.join(FIXTURES, "convnext.safetensors"), "--out": str(tmp_path / "x")}
    for i in range(0, len(args) - 1, 2):
        base.pop(args[i], None)
    argv = ["--from", "timm", *args] + [v for kv in base.items() for v in kv]
    proc = _tool(*argv)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "x.pdparams")


def test_crafted_or_damaged_files_are_refused_by_name(tmp_path):
    # a hand-written pickle: a tensor of 20 floats at offset -10 of a 4-float storage, which must not read
    # memory outside the storage
    path = str(tmp_path / "crafted.pth")
    payload = (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02("
               b"(X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00"
               b"cpuq\x06K\x04tq\x07QJ\xf6\xff\xff\xffK\x14\x85q\x08K\x01\x85q\tI00\n"
               b"ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs.")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/data/0", np.zeros(4, "<f4").tobytes())
    with pytest.raises(WeightsError, match=r"crafted\.pth: cannot read it safely: a tensor has a negative offset"):
        read_torch_file(path)
    damaged = tmp_path / "damaged.pth"
    raw = bytearray(open(os.path.join(FIXTURES, "resnet_d.pth"), "rb").read())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(64)  # inside a stored tensor: its CRC no longer matches
    damaged.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match=r"damaged\.pth: cannot read it"):
        read_torch_file(str(damaged))
    bad = str(tmp_path / "odd.safetensors")
    _write_safetensors(bad, {"w": ("F32", [2], b"\0" * 6)})
    with pytest.raises(WeightsError, match=r"odd\.safetensors: tensor 'w' holds 6 bytes for shape \[2\] of F32"):
        read_safetensors(bad)
