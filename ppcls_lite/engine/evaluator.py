"""Evaluation: the configured metrics and losses (Metric.Eval / Loss.Eval), top-1/top-5, per-class accuracy and
the confusion matrix, each sample counted once under data parallelism."""
import contextlib
import csv
import functools
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import paddle

from ..errors import ConfigError
from ..loss import build_loss
from ..metric import build_metric
from .distributed import all_gather_numpy, world_info
from .model_input import model_input


class Scorer:
    """What an evaluation computes: the Metric.Eval metrics, the Loss.Eval losses (each per sample, so data
    parallelism counts every sample once) and the autocast of AMP.use_fp16_test.

    metric: a CombinedMetric or None (no metric); loss: a CombinedLoss or None (no loss); autocast: a
    callable returning the context the forward runs in.
    """

    def __init__(self, metric, loss, autocast=contextlib.nullcontext, multilabel=False):
        self.metric, self.loss, self.autocast = metric, loss, autocast
        self.multilabel = bool(multilabel)  # Global.use_multilabel: engine/multilabel evaluates, mAP always

    @classmethod
    def default(cls, multilabel=False):
        """What quick mode (no config) evaluates: top-1/top-5 and cross entropy, or for a multi-label model
        HammingDistance, AccuracyScore and the binary cross entropy (and mAP)."""
        if multilabel:
            return cls(build_metric(DEFAULT_MULTILABEL_METRIC), build_loss(DEFAULT_MULTILABEL_LOSS, "Loss.Eval"),
                       multilabel=True)
        return cls(build_metric(DEFAULT_EVAL_METRIC), build_loss(DEFAULT_EVAL_LOSS, "Loss.Eval"))

    @classmethod
    def from_config(cls, config, amp=None):
        """From Metric.Eval and Loss.Eval (absent, null or []: none, as in PaddleClas) and an AmpDecision."""
        metric_cfg = (config.get("Metric") or {}).get("Eval")
        loss_cfg = (config.get("Loss") or {}).get("Eval")
        metric = build_metric(metric_cfg, "Metric.Eval") if metric_cfg else None
        loss = build_loss(loss_cfg, "Loss.Eval") if loss_cfg else None
        for i, fn in enumerate(loss.loss_funcs if loss is not None else []):
            if getattr(fn, "class_weights", None) is not None:
                raise ConfigError(f"Loss.Eval.{i}.{type(fn).__name__}.class_weights: weight the training loss; "
                                  "evaluation reports the plain cross entropy (leave them out of Loss.Eval)")
        autocast = contextlib.nullcontext
        # O2 keeps half-precision weights: PaddleClas then always evaluates under autocast, as here
        if amp is not None and amp.enabled and (amp.options.get("use_fp16_test") or amp.level == "O2"):
            autocast = functools.partial(paddle.amp.auto_cast, level=amp.level, dtype=amp.dtype,
                                         use_promote=amp.options.get("use_promote", False))
        return cls(metric, loss, autocast, multilabel=(config.get("Global") or {}).get("use_multilabel", False))

    def per_sample(self, logits, labels):
        """{key: float64 [N]}: the metrics' keys, then the losses' names (and "loss", their weighted sum, when
        there are several)."""
        out = dict(self.metric.per_sample(logits, labels)) if self.metric is not None else {}
        if self.loss is not None:
            losses = self.loss.per_sample(logits, labels)
            if len(losses) == 2:  # one loss: its value is the total
                losses.pop("loss")
            out.update(losses)
        return out

    @property
    def main_key(self):
        """Name of the first metric (what best_model is chosen by; multi-label: mAP), for messages."""
        if self.multilabel:
            return "mAP"
        keys = self.metric.keys() if self.metric is not None else []
        return keys[0] if keys else "metric"

    @property
    def metric_keys(self):
        """The keys of the configured metrics (and a multi-label evaluation's mAP) and losses (what the eval
        scalars are named)."""
        keys = list(self.metric.keys()) if self.metric is not None else []
        keys += ["mAP"] if self.multilabel else []
        return keys + (list(self.loss.names) if self.loss is not None else [])

    def loss_keys(self, keys):
        """Which of the result keys are losses."""
        names = set(self.loss.names) | {"loss"} if self.loss is not None else set()
        return [k for k in keys if k in names]


DEFAULT_EVAL_METRIC = [{"TopkAcc": {"topk": [1, 5]}}]
DEFAULT_EVAL_LOSS = [{"CELoss": {"weight": 1.0}}]
DEFAULT_MULTILABEL_METRIC = [{"HammingDistance": None}, {"AccuracyScore": None}]
DEFAULT_MULTILABEL_LOSS = [{"MultiLabelLoss": {"weight": 1.0}}]


class Figures:
    """What every evaluation result says the same way: `metrics`, `losses`, `loss` (the total) and
    `num_samples`, as VisualDL scalars and as the one log line."""

    def scalars(self):
        """{name: value} of every configured metric and loss, and "loss" (the total), for VisualDL."""
        return {**self.metrics, **self.losses, **({"loss": self.loss} if self.loss is not None else {})}

    def summary(self):
        """One-line 'top1: ..., top5: ..., CELoss: ..., samples: N' text of the configured figures."""
        figures = [f"{k}: {v:.5f}" for k, v in {**self.metrics, **self.losses}.items()]
        return ", ".join(figures + [f"samples: {self.num_samples}"])


@dataclass
class EvalResult(Figures):
    """Figures of one evaluation pass over every sample exactly once: `metrics` and `losses` as configured
    (Metric.Eval / Loss.Eval), plus top-1/top-5, per-class accuracy and the top-1 confusion matrix."""

    top1: float
    top5: float
    loss: float  # the (weighted total) evaluation loss; None without Loss.Eval
    num_samples: int
    per_class_acc: list = field(default_factory=list)
    confusion: np.ndarray = None
    class_names: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    losses: dict = field(default_factory=dict)
    # per sample, in sample-index order, the same on every rank: index, label, prediction (top-1) and
    # confidence (its softmax probability), and the logits when evaluate(keep_logits=True)
    samples: dict = field(default_factory=dict)
    report: dict = None  # engine/report.build_report's, where the evaluation workflow made one

    @property
    def main_metric(self):
        """The first configured metric (what best_model is chosen by, as in PaddleClas), or None."""
        return next(iter(self.metrics.values()), None)

    def write(self, directory, stem="eval"):
        """Write <stem>_confusion.csv, <stem>_per_class.csv and <stem>_metrics.json; returns their paths."""
        os.makedirs(directory, exist_ok=True)
        names = self.class_names or [str(i) for i in range(len(self.per_class_acc))]
        conf_path = os.path.join(directory, f"{stem}_confusion.csv")
        with open(conf_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["true\\pred"] + names)
            for name, row in zip(names, self.confusion):
                w.writerow([name] + [int(v) for v in row])
        per_class_path = os.path.join(directory, f"{stem}_per_class.csv")
        with open(per_class_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["class_id", "class_name", "samples", "accuracy"])
            for i, (name, acc) in enumerate(zip(names, self.per_class_acc)):
                w.writerow([i, name, int(self.confusion[i].sum()), "" if acc is None else f"{acc:.6f}"])
        json_path = os.path.join(directory, f"{stem}_metrics.json")
        with open(json_path, "w") as f:
            json.dump(
                {
                    "top1": self.top1,
                    "top5": self.top5,
                    "loss": self.loss,
                    "num_samples": self.num_samples,
                    "metrics": self.metrics,
                    "losses": self.losses,
                    "class_names": names,
                    "per_class_accuracy": self.per_class_acc,
                    "confusion_matrix": self.confusion.tolist(),
                },
                f,
                indent=1,
            )
        return conf_path, per_class_path, json_path


def _progress(done, total, start, stream):
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.time() - start, 1e-9)
    stream.write(f"\reval [{'#' * filled}{'.' * (width - filled)}] {done}/{total} batches, {rate:.1f} it/s")
    if done == total:
        stream.write("\n")
    stream.flush()


class MultiViewLoader:
    """Batches of several views of the same samples, one loader per view in the same (unshuffled) order:
    (list of view batches, labels, sample indices) -- five-crop test-time augmentation."""

    def __init__(self, loaders):
        self.loaders, self.dataset = list(loaders), loaders[0].dataset

    def __len__(self):
        return len(self.loaders[0])

    def __iter__(self):
        for batches in zip(*self.loaders):
            if any(not np.array_equal(np.asarray(b[2]), np.asarray(batches[0][2])) for b in batches):
                raise RuntimeError("the views' loaders disagree on the sample order")
            yield [b[0] for b in batches], batches[0][1], batches[0][2]


def _logits(model, images):
    """float32 logits of a batch (a DeiT's two heads averaged)."""
    logits = model(model_input(images, model))
    if isinstance(logits, (list, tuple)):
        logits = paddle.stack([h.astype("float32") for h in logits]).mean(0)
    return logits.astype("float32")


def _forward(model, images, tta):
    if isinstance(images, list):  # several views (five_crop): the mean of their logits
        return paddle.stack([_logits(model, view) for view in images]).mean(0)
    logits = _logits(model, images)
    if tta == "flip":  # the mean of the logits of the image and of its mirror image
        logits = (logits + _logits(model, paddle.flip(images, axis=[3]))) / 2
    return logits


def evaluate(model, loader, num_classes, class_names=None, progress=False, scorer=None, keep_logits=False,
             keep_probs=0, tta=None):
    """Run `model` over `loader` (batches: images, labels, sample indices) and compute EvalResult.

    `scorer` (default: Scorer.default(), top-1/top-5 and CE) says what to compute. Each rank keeps every
    sample's figures and index; they are gathered and de-duplicated by sample index, so the padding
    DistributedBatchSampler adds never counts and every rank reports the same. `keep_logits` also keeps every
    sample's logits in `samples` (what temperature scaling is fitted on); `keep_probs=K` the softmax
    probabilities of the first K classes (the dashboard's PR / ROC curves). `tta="flip"`: test-time
    augmentation, each image scored by the mean logits of it and its horizontal mirror; a MultiViewLoader
    (five_crop) gives several views of each image, whose logits are averaged.
    """
    if tta not in (None, "flip", "five_crop"):
        raise ConfigError(f"--tta: flip or five_crop, got {tta!r}")
    scorer = scorer or Scorer.default()
    was_training = model.training
    model.eval()
    k = min(5, num_classes)
    topk_ids, labels_all, indices, figures, confidence, kept_logits, kept_probs = [], [], [], {}, [], [], []
    keep_probs = min(int(keep_probs), num_classes)
    total = len(loader)
    start = time.time()
    show = progress and world_info()[1] == 0
    with paddle.no_grad():
        for i, batch in enumerate(loader):
            images, labels, idx = batch[0], batch[1], batch[2]
            with scorer.autocast():
                logits = _forward(model, images, tta)
            labels = labels.reshape([-1]).astype("int64")
            for key, values in scorer.per_sample(logits, labels).items():
                figures.setdefault(key, []).append(np.asarray(values, "float64").reshape(-1))
            topk_ids.append(paddle.topk(logits, k=k, axis=1)[1].numpy())
            probs = paddle.nn.functional.softmax(logits, axis=1)
            confidence.append(probs.max(axis=1).numpy())
            if keep_probs:
                kept_probs.append(probs[:, :keep_probs].numpy())
            if keep_logits:
                kept_logits.append(logits.numpy())
            labels_all.append(labels.numpy())
            indices.append(np.asarray(idx).reshape(-1))
            if show:
                _progress(i + 1, total, start, sys.stdout)
    if was_training:
        model.train()
    cat = lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape, "int64")  # noqa: E731
    topk_ids = all_gather_numpy(cat(topk_ids, (0, k)).astype("int64"))
    labels_all = all_gather_numpy(cat(labels_all, (0,)).astype("int64"))
    indices = all_gather_numpy(cat(indices, (0,)).astype("int64"))
    _, first = np.unique(indices, return_index=True)
    topk_ids, labels_all = topk_ids[first], labels_all[first]
    samples = {"index": indices[first], "label": labels_all, "prediction": topk_ids[:, 0],
               "confidence": all_gather_numpy(cat(confidence, (0,)).astype("float64"))[first]}
    for key, kept, width in (("logits", kept_logits if keep_logits else None, num_classes),
                             ("probs", kept_probs if keep_probs else None, keep_probs)):
        if kept is not None:
            samples[key] = all_gather_numpy(np.concatenate(kept).astype("float32") if kept
                                            else np.zeros((0, width), "float32"))[first]
    means = {}
    for key in list(figures):  # as the first batch gave them (every rank has one at least: the sampler pads)
        values = all_gather_numpy(cat(figures.get(key, []), (0,)).astype("float64"))[first]
        means[key] = float(values.mean()) if len(values) else 0.0
    loss_keys = scorer.loss_keys(means)
    n = len(labels_all)
    correct = topk_ids == labels_all[:, None]
    confusion = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(confusion, (labels_all, topk_ids[:, 0]), 1)
    support = confusion.sum(1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else None for c in range(num_classes)]
    losses = {key: means[key] for key in loss_keys}
    return EvalResult(
        top1=float(correct[:, 0].mean()) if n else 0.0,
        top5=float(correct.any(1).mean()) if n else 0.0,
        loss=losses.get("loss", next(iter(losses.values()), None)),
        num_samples=n,
        per_class_acc=per_class,
        confusion=confusion,
        class_names=list(class_names or []),
        metrics={key: v for key, v in means.items() if key not in losses},
        losses=losses,
        samples=samples,
    )
