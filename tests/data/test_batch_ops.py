import numpy as np
import pytest

from ppcls_lite.data import BATCH_OPS, CutmixOperator, MixupOperator, OpSampler, build_batch_ops
from ppcls_lite.errors import ConfigError

C = 5


def batch(n=6, h=8, w=10, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=(n, 3, h, w)).astype(np.float32), r.integers(0, C, n).astype(np.int64)


def onehot(labels):
    return np.eye(C, dtype=np.float32)[labels]


def test_registry():
    assert set(BATCH_OPS) == {"MixupOperator", "CutmixOperator", "OpSampler"}


def test_mixup_targets_match_lam():
    x, y = batch()
    out, t = MixupOperator(C, alpha=0.4)(x, y, np.random.default_rng(7))
    ref = np.random.default_rng(7)  # same draws in the same order: permutation, then lam
    perm, lam = ref.permutation(len(y)), ref.beta(0.4, 0.4)
    assert out.dtype == np.float32 and out.shape == x.shape and t.dtype == np.float32 and t.shape == (6, C)
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t, lam * onehot(y) + (1 - lam) * onehot(y[perm]), atol=1e-6)
    np.testing.assert_allclose(out, lam * x + (1 - lam) * x[perm], atol=1e-5)


def test_cutmix_box_and_lam():
    x, y = batch()
    op = CutmixOperator(C, alpha=1.0)
    out, t = op(x, y, np.random.default_rng(3))
    ref = np.random.default_rng(3)
    perm = ref.permutation(len(y))
    a0, b0, a1, b1 = op.last_box
    lam = 1 - (a1 - a0) * (b1 - b0) / (8 * 10)
    assert op.last_lam == pytest.approx(lam)
    np.testing.assert_array_equal(out[:, :, a0:a1, b0:b1], x[perm, :, a0:a1, b0:b1])
    mask = np.ones((8, 10), bool)
    mask[a0:a1, b0:b1] = False
    np.testing.assert_array_equal(out[:, :, mask], x[:, :, mask])
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t, lam * onehot(y) + (1 - lam) * onehot(y[perm]), atol=1e-6)


def test_op_sampler_choices():
    x, y = batch()
    sampler = OpSampler(C, MixupOperator={"alpha": 0.8, "prob": 0.5}, CutmixOperator={"alpha": 1.0, "prob": 0.5})
    kinds = set()
    for s in range(20):
        out, t = sampler(x, y, np.random.default_rng(s))
        kinds.add(type(sampler.last_op).__name__)
        assert t.shape == (6, C) and np.allclose(t.sum(1), 1.0)
    assert kinds == {"MixupOperator", "CutmixOperator"}
    none = OpSampler(C, MixupOperator={"alpha": 0.8, "prob": 0.0})
    out, t = none(x, y, np.random.default_rng(0))
    assert out is x and np.array_equal(t, onehot(y))  # no op: one-hot soft targets


def test_build_batch_ops_config_errors():
    ops = build_batch_ops([{"MixupOperator": {"alpha": 0.2}}, {"CutmixOperator": {"alpha": 0.2}}], class_num=C)
    x, y = batch()
    out, t = ops(x, y, np.random.default_rng(0))  # chained: the second op mixes soft targets
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
    assert build_batch_ops(None, class_num=C) is None
    with pytest.raises(ConfigError, match=r"batch_transform_ops\[0\]\.MixupOperator: needs the number of classes"):
        build_batch_ops([{"MixupOperator": {"alpha": 0.2}}], class_num=None)
    with pytest.raises(ConfigError, match=r"batch_transform_ops\[0\]\.MixupOperator: alpha must be > 0"):
        build_batch_ops([{"MixupOperator": {"alpha": 0}}], class_num=C)
    with pytest.raises(ConfigError, match=r"OpSampler: the probs .* add up to 1\.2 > 1"):
        build_batch_ops([{"OpSampler": {"MixupOperator": {"alpha": 0.2, "prob": 0.6},
                                        "CutmixOperator": {"alpha": 0.2, "prob": 0.6}}}], class_num=C)
    with pytest.raises(ConfigError, match=r"batch_transform_ops\[0\]\.OpSampler: unknown op 'FmixOperator'"):
        build_batch_ops([{"OpSampler": {"FmixOperator": {"prob": 0.5}}}], class_num=C)
