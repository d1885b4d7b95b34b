import inspect

import numpy as np
import paddle
import pytest

from ppcls_lite.errors import ConfigError
from ppcls_lite.metric import (METRICS, MetricAccumulator, TopkAcc, build_metric, confusion_matrix,
                               per_class_accuracy)


def _hand_topk(x, y, k):
    order = np.argsort(-x, axis=-1, kind="stable")[:, :k]
    return float(np.mean([y[i] in order[i] for i in range(len(y))]))


@pytest.fixture
def batch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 7)).astype("float32")
    y = rng.integers(0, 7, size=40)
    return x, y


def test_topk_matches_hand_computation(batch):
    x, y = batch
    m = TopkAcc(topk=[1, 2, 5])
    for labels in (y, y.reshape(-1, 1)):
        out = m(paddle.to_tensor(x), paddle.to_tensor(labels))
        assert list(out) == ["top1", "top2", "top5"]
        for k in (1, 2, 5):
            assert float(out[f"top{k}"]) == pytest.approx(_hand_topk(x, y, k))
    counts, n = m.counts(paddle.to_tensor(x), paddle.to_tensor(y))
    assert n == 40 and counts["top1"] == round(_hand_topk(x, y, 1) * 40)


def test_soft_labels_use_argmax(batch):
    x, y = batch
    soft = np.full((40, 7), 0.05, dtype="float32")
    soft[np.arange(40), y] = 0.7
    out = TopkAcc(topk=(1, 5))(paddle.to_tensor(x), paddle.to_tensor(soft))
    assert float(out["top1"]) == pytest.approx(_hand_topk(x, y, 1))
    assert float(out["top5"]) == pytest.approx(_hand_topk(x, y, 5))


def test_topk_clipped_to_class_num():
    x = paddle.to_tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])
    out = TopkAcc(topk=(1, 5))(x, paddle.to_tensor([2, 0]))
    assert float(out["top1"]) == 0.5 and float(out["top5"]) == 1.0
    assert TopkAcc(topk=3).topk == [3]
    with pytest.raises(ValueError):
        TopkAcc(topk=[0])


def test_tuple_of_heads_is_averaged():
    a = paddle.to_tensor([[2.0, 0.0], [0.0, 1.0]])
    b = paddle.to_tensor([[0.0, 1.0], [0.0, 3.0]])
    out = TopkAcc(topk=1)((a, b), paddle.to_tensor([0, 1]))  # mean logits: [[1, .5], [0, 2]]
    assert float(out["top1"]) == 1.0


def test_accumulator_is_exact_over_uneven_batches(batch):
    x, y = batch
    acc = MetricAccumulator(build_metric([{"TopkAcc": {"topk": [1, 5]}}]), num_classes=7)
    per_batch = []
    for lo, hi in ((0, 32), (32, 37), (37, 40)):
        r = acc.update(paddle.to_tensor(x[lo:hi]), paddle.to_tensor(y[lo:hi]))
        per_batch.append(r["top1"])
    res = acc.result()
    assert acc.total == 40
    assert res["top1"] == pytest.approx(_hand_topk(x, y, 1))
    assert res["top5"] == pytest.approx(_hand_topk(x, y, 5))
    cm = confusion_matrix(x.argmax(-1), y, 7)
    np.testing.assert_array_equal(acc.confusion, cm)
    np.testing.assert_allclose(acc.per_class_accuracy(), per_class_accuracy(cm))
    acc.reset()
    assert acc.total == 0 and acc.result() == {"top1": 0.0, "top5": 0.0}
    acc.add({"top1": 3, "top5": 4}, 4)  # counts gathered elsewhere (distributed)
    assert acc.result() == {"top1": 0.75, "top5": 1.0}


def test_confusion_matrix_and_per_class_accuracy():
    labels = np.array([0, 0, 1, 1, 1, 3])
    preds = np.array([0, 1, 1, 1, 0, 3])
    cm = confusion_matrix(preds, labels, 4)
    want = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(labels, preds):
        want[t, p] += 1
    np.testing.assert_array_equal(cm, want)
    assert cm.dtype == np.int64
    scores = np.eye(4)[preds] * 5.0
    np.testing.assert_array_equal(confusion_matrix(scores, labels.reshape(-1, 1), 4), want)
    pca = per_class_accuracy(cm)
    np.testing.assert_allclose(pca[[0, 1, 3]], [0.5, 2 / 3, 1.0])
    assert np.isnan(pca[2])  # class 2 never seen
    with pytest.raises(ValueError):
        confusion_matrix([0, 4], [0, 1], 4)


@pytest.mark.parametrize("cfg, fragment", [
    ([{"TopKAcc": {"topk": [1]}}], "unknown metric 'TopKAcc'; did you mean 'TopkAcc'?"),
    ([{"TopkAcc": {"top_k": [1]}}], "Metric.Eval[0].TopkAcc"),
    ([{"TopkAcc": {"topk": [0]}}], "Metric.Eval[0].TopkAcc"),
    ([["TopkAcc"]], "Metric.Eval[0]"),
])
def test_build_metric_errors_name_the_key(cfg, fragment):
    with pytest.raises(ConfigError) as e:
        build_metric(cfg)
    assert fragment in str(e.value)


def test_registry_signature_is_the_yaml_keys():
    assert set(METRICS) == {"TopkAcc", "DistillationTopkAcc", "HammingDistance", "AccuracyScore"}
    params = inspect.signature(METRICS["TopkAcc"]).parameters
    assert list(params) == ["topk"] and tuple(params["topk"].default) == (1, 5)
    assert build_metric(None) is None
    m = build_metric([{"TopkAcc": None}])
    assert m.keys() == ["top1", "top5"]
