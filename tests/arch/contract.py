"""Checks every family's tests run: manifest, forward, gradients, determinism, jit, pretrained loading."""
import csv
import os

import numpy as np
import paddle

import ppcls_lite
from ppcls_lite.serialization import atomic_save

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
# model_figures.csv counts BatchNorm running statistics (Paddle lists them in parameters()) for the legacy
# families and for these ResNets, but not for ResNet50/101(_vd) — measured against PaddleClas 2.6.0 itself:
# its ResNet50 has 25,610,152 parameters with the statistics, the CSV gives 25,557,032 (without).
_FAMILIES_COUNTING_BN_STATS = {"ResNeXt", "Res2Net"}
_MODELS_COUNTING_BN_STATS = {"ResNet18", "ResNet18_vd", "ResNet34", "ResNet34_vd", "ResNet152", "ResNet152_vd",
                             "ResNet200_vd"}


def reference_figures():
    """model_figures.csv rows by model name."""
    with open(os.path.join(FIXTURES, "model_figures.csv")) as f:
        return {row["model"]: row for row in csv.DictReader(f)}


def reference_manifest(name):
    """[(key, shape, dtype)] of PaddleClas 2.6.0's state_dict for `name`."""
    rows = []
    with open(os.path.join(FIXTURES, "paddleclas_keys", f"{name}.tsv")) as f:
        next(f)
        for line in f:
            key, shape, dtype = line.rstrip("\n").split("\t")
            rows.append((key, [int(s) for s in shape.strip("[]").split(",") if s.strip()], dtype))
    return rows


def check_manifest(name):
    """state_dict keys/shapes/dtypes equal the reference, in order; parameter count equals the CSV figure."""
    with paddle.LazyGuard():
        model = ppcls_lite.build_model(name)
    ours = [(k, list(v.shape), str(v.dtype).replace("paddle.", "")) for k, v in model.state_dict().items()]
    ref = reference_manifest(name)
    assert [r[0] for r in ours] == [r[0] for r in ref], f"{name}: key lists differ"
    assert ours == ref, f"{name}: shapes/dtypes differ: {[(a, b) for a, b in zip(ours, ref) if a != b][:3]}"
    fig = reference_figures()[name]
    count = 0
    for pname, p in model.named_parameters():
        is_bn_stat = pname.endswith(("._mean", "._variance"))
        counts_stats = fig["family"] in _FAMILIES_COUNTING_BN_STATS or name in _MODELS_COUNTING_BN_STATS
        if is_bn_stat and not counts_stats:
            continue
        count += int(np.prod(p.shape))
    assert count == int(fig["parameters_numel"]), f"{name}: {count} parameters, reference {fig['parameters_numel']}"


def check_forward_shape(model, x, class_num):
    """Logits have shape [N, class_num] and are finite."""
    model.eval()
    out = model(x)
    assert list(out.shape) == [x.shape[0], class_num]
    assert np.isfinite(out.numpy()).all()
    return out


def check_gradients_reach_all(model, x):
    """One backward pass gives every trainable parameter a finite, not-all-zero gradient."""
    model.train()
    out = model(x)
    (out * paddle.randn(out.shape)).sum().backward()
    dead = []
    for name, p in model.named_parameters():
        if p.stop_gradient:
            continue
        g = p.grad
        if g is None or not np.isfinite(g.numpy()).all() or not np.any(g.numpy()):
            dead.append(name)
    model.clear_gradients()
    assert not dead, f"no gradient reaches: {dead[:10]}"


def check_eval_determinism(model, x):
    """Two eval forwards give identical logits."""
    model.eval()
    a = model(x).numpy()
    b = model(x).numpy()
    np.testing.assert_array_equal(a, b)


def check_jit_roundtrip(model, x, tmp_path):
    """paddle.jit.to_static + save + load gives the dygraph logits."""
    model.eval()
    expected = model(x).numpy()
    spec = [paddle.static.InputSpec([None] + list(x.shape[1:]), "float32", "x")]
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    prefix = os.path.join(str(tmp_path), "inference")
    paddle.jit.save(static, prefix)
    loaded = paddle.jit.load(prefix)
    loaded.eval()
    got = loaded(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def check_pretrained_other_class_num(name, kwargs, x, tmp_path, caplog):
    """Weights saved with class_num=7 load into class_num=5: the head is skipped and named, the body equal."""
    src = ppcls_lite.build_model(name, class_num=7, **kwargs)
    path = os.path.join(str(tmp_path), "w.pdparams")
    atomic_save(src.state_dict(), path)
    with caplog.at_level("WARNING", logger="ppcls_lite"):
        dst = ppcls_lite.build_model(name, class_num=5, pretrained=path, **kwargs)
    assert "skipped head keys" in caplog.text
    src.eval()
    dst.eval()
    np.testing.assert_allclose(
        dst.forward_features(x).numpy(), src.forward_features(x).numpy(), rtol=1e-5, atol=1e-5
    )
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    skipped = [k for k in dst_sd if list(dst_sd[k].shape) != list(src_sd[k].shape)]
    assert skipped and all(k in caplog.text for k in skipped)
    return dst


def check_shape_mismatch_is_error(name, kwargs_a, kwargs_b, tmp_path):
    """A body key whose shape differs is a WeightsError naming the key and both shapes."""
    import pytest

    src = ppcls_lite.build_model(name, **kwargs_a)
    path = os.path.join(str(tmp_path), "bad.pdparams")
    atomic_save(src.state_dict(), path)
    with pytest.raises(ppcls_lite.WeightsError, match=r"key '.*' has shape \[.*\] in the file but \[.*\]"):
        ppcls_lite.build_model(name, pretrained=path, **kwargs_b)
