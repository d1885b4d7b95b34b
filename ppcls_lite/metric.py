"""Classification metrics and the `Metric:` config section (PaddleClas 2.6.0 semantics, own implementation).

YAML form (PaddleClas)::

    Metric:
      Eval:
        - TopkAcc:
            topk: [1, 5]

`METRICS` maps each YAML metric name to its class; the class's keyword arguments are exactly the YAML keys.

Averages over a data set must not be means of per-batch means (the last batch is usually smaller):
`MetricAccumulator` sums correct counts and sample counts, so its result is exact, and exposes the raw sums
for a distributed all-reduce. `confusion_matrix` / `per_class_accuracy` are plain numpy helpers.
"""
from typing import Sequence, Union

import numpy as np
import paddle

from .errors import ConfigError
from .registry import Registry

__all__ = ["TopkAcc", "DistillationTopkAcc", "HammingDistance", "AccuracyScore", "average_precision",
           "mean_average_precision", "CombinedMetric", "MetricAccumulator", "METRICS", "build_metric",
           "confusion_matrix", "per_class_accuracy"]


def _logits(x):
    """Logits [N, C] from a model output: a tensor, a dict with "logits", or a tuple of heads (averaged)."""
    if isinstance(x, dict):
        x = x["logits"]
    if isinstance(x, (list, tuple)):
        x = paddle.add_n([h.astype("float32") for h in x]) / len(x)
    return x


def _hard_labels(label, class_num):
    """Integer labels [N] from int [N] / [N, 1] labels or soft float [N, C] targets (argmax)."""
    if not isinstance(label, paddle.Tensor):
        label = paddle.to_tensor(label)
    if label.ndim == 2 and label.shape[-1] == class_num and class_num > 1 and label.dtype in (
            paddle.float32, paddle.float64, paddle.float16, paddle.bfloat16):
        label = paddle.argmax(label, axis=-1)
    return label.reshape([-1]).astype("int64")


class TopkAcc:
    """Top-k accuracy.

    Args:
        topk: an int or a list of ints. A k larger than the number of classes is clipped to it (so "top5" of a
            3-class problem is 1.0); the result keys stay "top{k}" as configured. (PaddleClas drops such keys.)

    __call__(x, label) -> {"top1": tensor, "top5": tensor, ...}: fractions of the batch, float32 scalars.
    counts(x, label) -> ({"top1": int, ...}, batch_size): exact correct counts, for accumulation.
    With soft targets [N, C] (Mixup/CutMix) the true class is the argmax of the target.
    """

    def __init__(self, topk: Union[int, Sequence[int]] = (1, 5)):
        if isinstance(topk, (int, np.integer)) and not isinstance(topk, bool):
            topk = [int(topk)]
        if not isinstance(topk, (list, tuple)) or not topk or not all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1 for k in topk):
            raise ValueError(f"topk must be a positive int or a list of them, got {topk!r}")
        self.topk = [int(k) for k in topk]

    def keys(self):
        return [f"top{k}" for k in self.topk]

    def _select(self, x):
        """The logits this metric scores, from a model output."""
        return _logits(x)

    def _correct(self, x, label):
        """bool [N, len(topk)]: whether the label is within each top-k."""
        x = self._select(x)
        class_num = x.shape[-1]
        label = _hard_labels(label, class_num)
        ks = [min(k, class_num) for k in self.topk]
        _, idx = paddle.topk(x, k=max(ks), axis=-1)
        hit = (idx == label.unsqueeze(-1)).astype("int32")
        cum = paddle.cumsum(hit, axis=-1)  # cum[:, j] > 0 <=> label among the first j+1 predictions
        return paddle.stack([cum[:, k - 1] > 0 for k in ks], axis=-1)

    def __call__(self, x, label):
        correct = self._correct(x, label).astype("float32").mean(axis=0)
        return {key: correct[i] for i, key in enumerate(self.keys())}

    def counts(self, x, label):
        correct = self._correct(x, label)
        sums = correct.astype("int64").sum(axis=0).numpy()
        return {key: int(sums[i]) for i, key in enumerate(self.keys())}, int(correct.shape[0])

    def per_sample(self, x, label):
        """{"top1": float64 [N] of 0/1, ...}: each sample's hit, so an evaluation over several devices can
        count every sample exactly once."""
        correct = self._correct(x, label).numpy().astype("float64")
        return {key: correct[:, i] for i, key in enumerate(self.keys())}

    def __repr__(self):
        return f"TopkAcc(topk={self.topk})"


class DistillationTopkAcc(TopkAcc):
    """TopkAcc of one model of a DistillationModel: `model_key` picks its logits from the {member: logits} of
    training; evaluation (which runs the infer_model_name model alone) passes logits, scored as they are.
    `feature_key`: the entry of a member output that is a dict."""

    def __init__(self, model_key, feature_key=None, topk: Union[int, Sequence[int]] = (1, 5)):
        super().__init__(topk)
        self.model_key = str(model_key)
        self.feature_key = feature_key

    def _select(self, x):
        if isinstance(x, dict) and self.model_key in x:
            x = x[self.model_key]
        elif isinstance(x, dict) and "logits" not in x:
            raise ValueError(f"model_key: no output of a model {self.model_key!r} (there are {', '.join(x)})")
        if self.feature_key is not None and isinstance(x, dict):
            x = x[self.feature_key]
        return _logits(x)

    def __repr__(self):
        return f"DistillationTopkAcc(model_key={self.model_key!r}, topk={self.topk})"


class _MultiLabelMetric:
    """A metric of 0/1 label vectors: an output is a label's when its sigmoid exceeds `threshold` (PaddleClas's
    binarize, 0.5); per sample, so an evaluation over several devices counts every sample once."""

    key = ""

    def __init__(self, threshold=0.5):
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold: a probability in (0, 1), got {threshold}")
        self.threshold = threshold

    def keys(self):
        return [self.key]

    def _binary(self, x, label):
        x = _logits(x)
        if not isinstance(label, paddle.Tensor):
            label = paddle.to_tensor(label)
        if label.ndim != 2 or label.shape[-1] != x.shape[-1]:
            raise ValueError(f"{self.key}: a multi-label metric needs 0/1 label vectors [N, {x.shape[-1]}] "
                             f"(Global.use_multilabel: true), got shape {list(label.shape)}")
        pred = (paddle.nn.functional.sigmoid(x.astype("float32")) > self.threshold).numpy()
        return pred, label.numpy() > 0.5

    def _per_sample(self, pred, truth):
        raise NotImplementedError

    def per_sample(self, x, label):
        return {self.key: self._per_sample(*self._binary(x, label)).astype("float64")}

    def __call__(self, x, label):
        return {self.key: float(self.per_sample(x, label)[self.key].mean())}


class HammingDistance(_MultiLabelMetric):
    """The fraction of labels predicted wrong (sklearn's hamming_loss; lower is better)."""

    key = "HammingDistance"
    lower_is_better = True

    def _per_sample(self, pred, truth):
        return (pred != truth).mean(axis=1)


class AccuracyScore(_MultiLabelMetric):
    """base 'label' (PaddleClas's default): (TP + TN) / all labels; base 'sample': the fraction of samples whose
    every label is right (sklearn's accuracy_score)."""

    key = "AccuracyScore"

    def __init__(self, base="label", threshold=0.5):
        super().__init__(threshold)
        if base not in ("label", "sample"):
            raise ValueError(f"base: 'label' or 'sample', got {base!r}")
        self.base = base

    def _per_sample(self, pred, truth):
        same = pred == truth
        return same.mean(axis=1) if self.base == "label" else same.all(axis=1).astype("float64")


METRICS = Registry("metric", {"TopkAcc": TopkAcc, "DistillationTopkAcc": DistillationTopkAcc,
                              "HammingDistance": HammingDistance, "AccuracyScore": AccuracyScore})


def average_precision(scores, truth):
    """Average precision of one label: sum over the distinct score thresholds, from the highest, of (recall step)
    x precision (sklearn's average_precision_score); NaN for a label without a positive sample."""
    scores = np.asarray(scores, "float64").reshape(-1)
    truth = np.asarray(truth).reshape(-1) > 0.5
    positives = int(truth.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    scores, truth = scores[order], truth[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]  # a threshold takes all its ties
    tp = np.cumsum(truth)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, truth):
    """(mAP over the labels that have a positive sample, [AP per label] with NaN for the others)."""
    scores, truth = np.asarray(scores), np.asarray(truth)
    per_label = [average_precision(scores[:, c], truth[:, c]) for c in range(scores.shape[1])]
    valid = [ap for ap in per_label if not np.isnan(ap)]
    return (float(np.mean(valid)) if valid else float("nan")), per_label


class CombinedMetric:
    """Several metrics as one: results are merged into one dict (later metrics win on equal keys)."""

    def __init__(self, metrics):
        self.metrics = list(metrics)

    def keys(self):
        return [k for m in self.metrics for k in (m.keys() if hasattr(m, "keys") else [])]

    def __call__(self, x, label):
        out = {}
        for m in self.metrics:
            out.update(m(x, label))
        return out

    def counts(self, x, label):
        out, n = {}, 0
        for m in self.metrics:
            c, n = m.counts(x, label)
            out.update(c)
        return out, n

    def per_sample(self, x, label):
        """{key: float64 [N]} whose mean is the metric: a metric without `per_sample` gives its batch value for
        every sample (exact on one device; under data parallelism it counts the sampler's padding too)."""
        n = int(label.shape[0])
        out = {}
        for m in self.metrics:
            if hasattr(m, "per_sample"):
                out.update(m.per_sample(x, label))
            else:
                out.update({k: np.full(n, float(v), "float64") for k, v in m(x, label).items()})
        return out

    def __repr__(self):
        return f"CombinedMetric({self.metrics})"


def build_metric(metric_list, key="Metric.Eval"):
    """`[{TopkAcc: {topk: [1, 5]}}, ...]` -> CombinedMetric (None -> None); errors raise ConfigError."""
    if metric_list is None:
        return None
    if isinstance(metric_list, dict):
        metric_list = [{k: v} for k, v in metric_list.items()]
    if not isinstance(metric_list, (list, tuple)):
        raise ConfigError(f"{key}: expected a list like [{{TopkAcc: {{topk: [1, 5]}}}}]")
    metrics = []
    for i, item in enumerate(metric_list):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{key}[{i}]: expected a one-key mapping like {{TopkAcc: {{topk: [1, 5]}}}}")
        name, params = next(iter(item.items()))
        metrics.append(METRICS.build(name, dict(params or {}), f"{key}[{i}]"))
    return CombinedMetric(metrics)


class MetricAccumulator:
    """Exact streaming averages of a count-based metric (TopkAcc / CombinedMetric) over many batches.

    update(x, label) adds one batch and returns that batch's fractions (python floats); result() returns
    sum(correct) / sum(samples) per key. `correct` (dict of ints) and `total` (int) are the raw sums: a
    distributed evaluator all-reduces them (or calls add() with gathered counts) before result().
    With num_classes, a top-1 confusion matrix (rows: true class, columns: predicted) is accumulated too.
    """

    def __init__(self, metric, num_classes=None):
        self.metric = metric
        self.num_classes = num_classes
        self.reset()

    def reset(self):
        self.correct = {k: 0 for k in self.metric.keys()}
        self.total = 0
        self.confusion = (np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
                          if self.num_classes else None)

    def add(self, counts, n, confusion=None):
        for k, v in counts.items():
            self.correct[k] = self.correct.get(k, 0) + int(v)
        self.total += int(n)
        if confusion is not None and self.confusion is not None:
            self.confusion += np.asarray(confusion, dtype=np.int64)

    def update(self, x, label):
        counts, n = self.metric.counts(x, label)
        confusion = None
        if self.confusion is not None:
            logits = _logits(x)
            preds = paddle.argmax(logits, axis=-1).numpy()
            labels = _hard_labels(label, logits.shape[-1]).numpy()
            confusion = confusion_matrix(preds, labels, self.num_classes)
        self.add(counts, n, confusion)
        return {k: v / n if n else 0.0 for k, v in counts.items()}

    def result(self):
        return {k: (v / self.total if self.total else 0.0) for k, v in self.correct.items()}

    def per_class_accuracy(self):
        if self.confusion is None:
            raise ValueError("MetricAccumulator was built without num_classes")
        return per_class_accuracy(self.confusion)


def confusion_matrix(preds, labels, num_classes):
    """int64 [num_classes, num_classes] counts; row = true class, column = predicted class.

    preds: class ids [N] or scores [N, C] (argmax taken); labels: class ids [N] or [N, 1]. Ids outside
    [0, num_classes) raise ValueError.
    """
    preds = np.asarray(preds)
    if preds.ndim == 2:
        preds = preds.argmax(axis=-1)
    preds = preds.reshape(-1).astype(np.int64)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {preds.shape[0]} vs {labels.shape[0]}")
    for what, a in (("preds", preds), ("labels", labels)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{what} hold class ids outside [0, {num_classes})")
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def per_class_accuracy(cm):
    """Per-class recall (accuracy on each true class) from a confusion matrix; NaN for classes never seen."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.where(support > 0, support, 1), np.nan)
