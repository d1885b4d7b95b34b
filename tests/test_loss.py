import inspect

import numpy as np
import paddle
import pytest

from ppcls_lite.errors import ConfigError
from ppcls_lite.loss import LOSSES, CELoss, build_loss


def _log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _ce(x, target):
    return float((-_log_softmax(x) * target).sum(axis=-1).mean())


def _onehot(y, c):
    return np.eye(c)[y]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5)).astype("float32") * 3
    y = np.array([0, 4, 2, 2, 1, 3])
    return x, y


def test_hard_labels_match_hand_computation(batch):
    x, y = batch
    want = _ce(x, _onehot(y, 5))
    loss = CELoss()
    assert float(loss(paddle.to_tensor(x), paddle.to_tensor(y))) == pytest.approx(want, rel=1e-5)
    assert float(loss(paddle.to_tensor(x), paddle.to_tensor(y.reshape(-1, 1)))) == pytest.approx(want, rel=1e-5)


def test_label_smoothing_hard_labels(batch):
    x, y = batch
    eps = 0.1
    target = (1 - eps) * _onehot(y, 5) + eps / 5
    got = CELoss(epsilon=eps)(paddle.to_tensor(x), paddle.to_tensor(y.reshape(-1, 1)))
    assert float(got) == pytest.approx(_ce(x, target), rel=1e-5)


def test_soft_targets_are_used_as_they_are(batch):
    x, y = batch
    lam = 0.7
    soft = (lam * _onehot(y, 5) + (1 - lam) * _onehot(y[::-1], 5)).astype("float32")
    got = float(CELoss()(paddle.to_tensor(x), paddle.to_tensor(soft)))
    assert got == pytest.approx(_ce(x, soft), rel=1e-5)
    softmaxed = np.exp(soft) / np.exp(soft).sum(-1, keepdims=True)
    assert abs(got - _ce(x, softmaxed)) > 1e-2  # not PaddleClas's softmax-of-target quirk


def test_soft_targets_with_smoothing(batch):
    x, y = batch
    eps = 0.2
    soft = (0.6 * _onehot(y, 5) + 0.4 * _onehot(y[::-1], 5)).astype("float32")
    got = CELoss(epsilon=eps)(paddle.to_tensor(x), paddle.to_tensor(soft))
    assert float(got) == pytest.approx(_ce(x, (1 - eps) * soft + eps / 5), rel=1e-5)


def test_gradient_is_softmax_minus_target(batch):
    x, y = batch
    eps = 0.1
    xt = paddle.to_tensor(x, stop_gradient=False)
    CELoss(epsilon=eps)(xt, paddle.to_tensor(y)).backward()
    target = (1 - eps) * _onehot(y, 5) + eps / 5
    want = (np.exp(_log_softmax(x)) - target) / len(y)
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-4, atol=1e-6)


def test_tuple_of_heads_is_ce_of_the_averaged_logits(batch):
    """Distilled DeiT's (cls, dist) heads: PaddleClas's model returns (head + head_dist) / 2 and trains CE on
    that, so the loss of the pair is the CE of their mean -- not the mean of two CEs."""
    x, y = batch
    x2 = x[:, ::-1].copy()
    got = CELoss(epsilon=0.1)((paddle.to_tensor(x), paddle.to_tensor(x2)), paddle.to_tensor(y))
    eps_t = 0.9 * _onehot(y, 5) + 0.02
    assert float(got) == pytest.approx(_ce((x + x2) / 2, eps_t), rel=1e-5)
    assert abs(float(got) - (_ce(x, eps_t) + _ce(x2, eps_t)) / 2) > 1e-3  # the two readings differ here
    # through the model: a distilled DeiT in training mode gives the pair; the loss is that of their mean
    import ppcls_lite

    paddle.seed(0)
    model = ppcls_lite.build_model("DeiT_tiny_distilled_patch16_224", img_size=32, embed_dim=24, depth=1,
                                   num_heads=2, class_num=5)
    model.train()
    images = paddle.to_tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype("float32"))
    cls_logits, dist_logits = model(images)
    loss = CELoss()((cls_logits, dist_logits), paddle.to_tensor(y[:4]))
    mean = ((cls_logits + dist_logits) / 2).numpy().astype("float64")
    assert float(loss) == pytest.approx(_ce(mean, _onehot(y[:4], 5)), rel=1e-5)
    as_dict = CELoss()({"logits": paddle.to_tensor(x)}, paddle.to_tensor(y))
    assert float(as_dict) == pytest.approx(_ce(x, _onehot(y, 5)), rel=1e-5)


def test_out_of_range_epsilon_disables_smoothing(batch):
    x, y = batch
    for eps in (0.0, 1.0, -0.1):
        assert CELoss(epsilon=eps).epsilon is None


def test_half_precision_logits_are_computed_in_float32(batch):
    x, y = batch
    got = CELoss(epsilon=0.1)(paddle.to_tensor(x).astype("float16"), paddle.to_tensor(y))
    assert got.dtype == paddle.float32
    assert float(got) == pytest.approx(_ce(x.astype("float16").astype("float32"), 0.9 * _onehot(y, 5) + 0.02),
                                       rel=1e-4)


def test_build_loss_weighted_total(batch):
    x, y = batch
    combined = build_loss([{"CELoss": {"weight": 0.5, "epsilon": 0.1}}, {"CELoss": {"weight": 2.0}}])
    out = combined(paddle.to_tensor(x), paddle.to_tensor(y))
    assert list(out) == ["loss", "CELoss", "CELoss_1"]
    a = _ce(x, 0.9 * _onehot(y, 5) + 0.02)
    b = _ce(x, _onehot(y, 5))
    assert float(out["CELoss"]) == pytest.approx(a, rel=1e-5)
    assert float(out["CELoss_1"]) == pytest.approx(b, rel=1e-5)
    assert float(out["loss"]) == pytest.approx(0.5 * a + 2.0 * b, rel=1e-5)
    single = build_loss([{"CELoss": {"weight": 1.0, "epsilon": 0.1}}])(paddle.to_tensor(x), paddle.to_tensor(y))
    assert float(single["loss"]) == float(single["CELoss"])
    assert build_loss(None) is None


@pytest.mark.parametrize("cfg, fragment", [
    ([{"CELos": {"weight": 1.0}}], "Loss.Train[0]: unknown loss 'CELos'; did you mean 'CELoss'?"),
    ([{"CELoss": {"weight": 1.0, "epsilom": 0.1}}], "Loss.Train[0].CELoss"),
    ([{"CELoss": {}, "Other": {}}], "Loss.Train[0]"),
    ("CELoss", "Loss.Train"),
])
def test_build_loss_errors_name_the_key(cfg, fragment):
    with pytest.raises(ConfigError, match=None) as e:
        build_loss(cfg)
    assert fragment in str(e.value)


def test_registry_signature_is_the_yaml_keys():
    assert set(LOSSES) == {"CELoss", "DistillationCELoss", "DistillationGTCELoss", "DistillationKLDivLoss",
                           "DistillationDMLLoss", "DistillationDKDLoss", "DistillationDISTLoss",
                           "DistillationSKDLoss", "DistillationWSLLoss", "DistillationDeiTHardLoss",
                           "MultiLabelLoss", "MultiLabelAsymmetricLoss"}
    params = inspect.signature(LOSSES["CELoss"]).parameters
    assert list(params) == ["epsilon", "weight", "class_weights"]
    assert params["epsilon"].default is None and params["weight"].default == 1.0
    assert params["class_weights"].default is None


def test_class_weights_weigh_each_sample_by_its_class(batch):
    """Issue 13, item 3: loss = sum_i w[y_i] * l_i / sum_i w[y_i] (torch's weighted CE), with smoothing too."""
    x, y = batch
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    for eps in (None, 0.1):
        target = _onehot(y, 5) if eps is None else (1 - eps) * _onehot(y, 5) + eps / 5
        per = -(_log_softmax(x) * target).sum(1)
        want = (w[y] * per).sum() / w[y].sum()
        got = CELoss(epsilon=eps, class_weights=list(w))(paddle.to_tensor(x), paddle.to_tensor(y))
        assert float(got) == pytest.approx(want, rel=1e-5)
    # a soft target weighs its expected class weight
    soft = np.random.default_rng(3).dirichlet(np.ones(5), size=len(y)).astype("float32")
    per = -(_log_softmax(x) * soft).sum(1)
    want = ((soft @ w) * per).sum() / (soft @ w).sum()
    got = CELoss(class_weights=list(w))(paddle.to_tensor(x), paddle.to_tensor(soft))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_balanced_class_weights_come_from_the_counts(batch):
    x, y = batch
    loss = CELoss(class_weights="balanced")
    with pytest.raises(ValueError, match="balanced needs the training set's class counts"):
        loss(paddle.to_tensor(x), paddle.to_tensor(y))
    loss.prepare([30, 10, 0, 20], 5)  # classes 2 and 4 have no image: weight 0
    want = np.array([60 / (3 * 30), 60 / (3 * 10), 0.0, 60 / (3 * 20), 0.0])
    np.testing.assert_allclose(loss._class_weights.numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match="class_weights: 2 weights for a 5-class model"):
        CELoss(class_weights=[1.0, 2.0]).prepare([1, 1, 1, 1, 1], 5)
    with pytest.raises(ValueError, match="class_weights: a list of per-class weights or 'balanced'"):
        CELoss(class_weights="inverse")
