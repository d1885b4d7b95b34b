"""Multi-label losses and metrics equal hand computations in numpy (mAP included, with ties)."""
import numpy as np
import paddle
import pytest

from ppcls_lite.engine.multilabel import per_label_figures
from ppcls_lite.loss import LOSSES
from ppcls_lite.metric import METRICS, average_precision, mean_average_precision

RNG = np.random.default_rng(11)
N, C = 8, 4
X = RNG.normal(0, 2, (N, C)).astype("float32")
Y = (RNG.random((N, C)) < 0.4).astype("float32")
Y[:, 3] = 0  # a label without a positive sample


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bce(x, y):
    p = sigmoid(x)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def loss(name, **kwargs):
    fn = LOSSES[name](**kwargs)
    return float(fn(paddle.to_tensor(X), paddle.to_tensor(Y))), fn.per_sample(paddle.to_tensor(X), paddle.to_tensor(Y))


def test_multilabel_loss_is_binary_cross_entropy_per_label():
    value, per_sample = loss("MultiLabelLoss")
    assert value == pytest.approx(bce(X, Y).mean(), rel=1e-5)
    np.testing.assert_allclose(per_sample, bce(X, Y).mean(1), rtol=1e-5)
    value, _ = loss("MultiLabelLoss", epsilon=0.1, size_sum=True)
    smooth = 0.9 * Y + 0.1 / C
    assert value == pytest.approx(bce(X, smooth).sum(1).mean(), rel=1e-5)


@pytest.mark.parametrize("clip, reduction", [(0.05, "sum"), (0.0, "mean")])
def test_asymmetric_loss_follows_ben_baruch(clip, reduction):
    p = sigmoid(X)
    neg = np.minimum(1 - p + clip, 1) if clip else 1 - p
    pt = neg * (1 - Y) + p * Y
    gamma = 1.0 * Y + 4.0 * (1 - Y)
    terms = -np.log(np.maximum(pt, 1e-8)) * (1 - pt) ** gamma
    value, per_sample = loss("MultiLabelAsymmetricLoss", clip=clip, reduction=reduction)
    assert value == pytest.approx(terms.sum() if reduction == "sum" else terms.mean(), rel=1e-5)
    np.testing.assert_allclose(per_sample, terms.sum(1) if reduction == "sum" else terms.mean(1), rtol=1e-5)


def test_hamming_distance_and_accuracy_score():
    pred = sigmoid(X) > 0.5
    truth = Y > 0.5
    h = METRICS["HammingDistance"]()(paddle.to_tensor(X), paddle.to_tensor(Y))["HammingDistance"]
    assert h == pytest.approx((pred != truth).mean())
    a = METRICS["AccuracyScore"]()(paddle.to_tensor(X), paddle.to_tensor(Y))["AccuracyScore"]
    tp, tn = (pred & truth).sum(), (~pred & ~truth).sum()
    assert a == pytest.approx((tp + tn) / (N * C))  # PaddleClas's base 'label'
    exact = METRICS["AccuracyScore"](base="sample")(paddle.to_tensor(X), paddle.to_tensor(Y))["AccuracyScore"]
    assert exact == pytest.approx((pred == truth).all(1).mean())
    strict = METRICS["HammingDistance"](threshold=0.9)(paddle.to_tensor(X), paddle.to_tensor(Y))["HammingDistance"]
    assert strict == pytest.approx(((sigmoid(X) > 0.9) != truth).mean())


def test_average_precision_by_hand_with_ties():
    # scores 0.9 (+), 0.8 (-), 0.8 (+), 0.3 (-), 0.1 (+): thresholds 0.9 -> P 1, R 1/3; 0.8 (both tied
    # samples) -> P 2/3, R 2/3; 0.3 -> P 2/4; 0.1 -> P 3/5, R 1
    ap = average_precision([0.9, 0.8, 0.8, 0.3, 0.1], [1, 0, 1, 0, 1])
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 5)
    assert average_precision([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0]) == pytest.approx(0.25)  # constant: prevalence
    assert np.isnan(average_precision([0.2, 0.7], [0, 0]))
    m, per_label = mean_average_precision(sigmoid(X), Y)
    assert np.isnan(per_label[3]) and m == pytest.approx(np.mean(per_label[:3]))


def test_per_label_precision_and_recall_by_hand():
    scores = np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8], [0.7, 0.1]])
    truth = np.array([[1, 0], [0, 1], [1, 1], [1, 0]])
    rows = per_label_figures(scores, truth, 0.5, ["a", "b"])
    # label a: predicted rows 0, 1, 3 (2 right), present in rows 0, 2, 3
    assert rows[0]["precision"] == pytest.approx(2 / 3) and rows[0]["recall"] == pytest.approx(2 / 3)
    assert rows[0]["support"] == 3 and rows[0]["predicted"] == 3
    assert rows[1]["precision"] == pytest.approx(1.0) and rows[1]["recall"] == pytest.approx(1.0)
    assert rows[1]["f1"] == pytest.approx(1.0) and rows[1]["ap"] == pytest.approx(1.0)


def test_a_distilled_deits_two_heads_are_scored_by_their_mean():
    heads = (paddle.to_tensor(X), paddle.to_tensor(X + 1.0))
    value = float(LOSSES["MultiLabelLoss"]()(heads, paddle.to_tensor(Y)))
    assert value == pytest.approx(bce(X + 0.5, Y).mean(), rel=1e-5)
