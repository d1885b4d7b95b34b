"""Multi-label evaluation (Global.use_multilabel): sigmoid scores of every label, the configured metrics
(HammingDistance, AccuracyScore) and losses per sample, mean average precision (`mAP`, always), and per label its
precision, recall, F1 and AP at the metrics' threshold -- each sample counted once under data parallelism.

best_model follows mAP: it needs no threshold, and HammingDistance, which PaddleClas configs also list, is a
figure where lower is better.
"""
import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import paddle

from ..metric import mean_average_precision
from .distributed import all_gather_numpy, world_info
from .evaluator import Figures, _forward, _progress

__all__ = ["MultiLabelResult", "evaluate_multilabel", "metric_threshold", "per_label_figures"]


def metric_threshold(scorer, default=0.5):
    """The threshold of the configured multi-label metrics (they must agree), else `default`."""
    values = {float(m.threshold) for m in (scorer.metric.metrics if scorer.metric is not None else [])
              if hasattr(m, "threshold")}
    if len(values) > 1:
        from ..errors import ConfigError

        raise ConfigError(f"Metric.Eval: the multi-label metrics use thresholds {sorted(values)}; give them one")
    return values.pop() if values else default


def per_label_figures(scores, truth, threshold, names, aps=None):
    """[{label_id, label_name, precision, recall, f1, ap, support, predicted}] at `threshold` (score >
    threshold is a positive, as the metrics binarize); precision / recall of a label never predicted / never
    present are 0. `aps`: the labels' average precisions where the caller has them already."""
    pred = scores > threshold
    truth = truth > 0.5
    if aps is None:
        _, aps = mean_average_precision(scores, truth)
    rows = []
    for c in range(scores.shape[1]):
        tp = int((pred[:, c] & truth[:, c]).sum())
        predicted, support = int(pred[:, c].sum()), int(truth[:, c].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"label_id": c, "label_name": names[c] if c < len(names) else str(c), "precision": precision,
                     "recall": recall, "f1": f1, "ap": None if np.isnan(aps[c]) else aps[c], "support": support,
                     "predicted": predicted})
    return rows


@dataclass
class MultiLabelResult(Figures):
    """One multi-label evaluation: `metrics` (the configured ones, then mAP), `losses`, per-label figures."""

    metrics: dict
    losses: dict
    loss: float
    num_samples: int
    threshold: float
    class_names: list = field(default_factory=list)
    per_label: list = field(default_factory=list)
    samples: dict = field(default_factory=dict)  # index, label [N, C], scores [N, C] (sigmoid), in index order
    report: dict = None

    @property
    def main_metric(self):
        """mAP: what best_model is chosen by in multi-label training."""
        return self.metrics.get("mAP")

    def write(self, directory, stem="eval"):
        """<stem>_metrics.json and <stem>_per_label.csv; their paths."""
        os.makedirs(directory, exist_ok=True)
        json_path = os.path.join(directory, f"{stem}_metrics.json")
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"task": "multilabel", "metrics": self.metrics, "losses": self.losses, "loss": self.loss,
                       "num_samples": self.num_samples, "threshold": self.threshold, "label_names": self.class_names,
                       "per_label": self.per_label}, f, indent=1, ensure_ascii=False)
        csv_path = os.path.join(directory, f"{stem}_per_label.csv")
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["label_id", "label_name", "precision", "recall", "f1", "ap", "support", "predicted"])
            for r in self.per_label:
                w.writerow([r["label_id"], r["label_name"], f"{r['precision']:.6f}", f"{r['recall']:.6f}",
                            f"{r['f1']:.6f}", "" if r["ap"] is None else f"{r['ap']:.6f}", r["support"],
                            r["predicted"]])
        return json_path, csv_path

    def markdown(self):
        """The per-label table as markdown (eval_report.md of a multi-label evaluation)."""
        lines = [f"# Multi-label evaluation: {self.num_samples} samples, threshold {self.threshold:g}", "",
                 ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items()), "",
                 "| label | precision | recall | F1 | AP | support | predicted |", "|---|---|---|---|---|---|---|"]
        for r in self.per_label:
            ap = "-" if r["ap"] is None else f"{r['ap']:.4f}"
            lines.append(f"| {r['label_name']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {ap} "
                         f"| {r['support']} | {r['predicted']} |")
        return "\n".join(lines) + "\n"


def evaluate_multilabel(model, loader, num_classes, class_names=None, progress=False, scorer=None, tta=None):
    """Run `model` over `loader` (labels: 0/1 vectors) -> MultiLabelResult; see the module docstring."""
    from .evaluator import Scorer

    scorer = scorer or Scorer.default(multilabel=True)
    threshold = metric_threshold(scorer)
    was_training = model.training
    model.eval()
    scores, labels_all, indices, figures = [], [], [], {}
    total, start = len(loader), time.time()
    show = progress and world_info()[1] == 0
    with paddle.no_grad():
        for i, batch in enumerate(loader):
            images, labels, idx = batch[0], batch[1], batch[2]
            with scorer.autocast():
                logits = _forward(model, images, tta)
            labels = labels.astype("float32")
            for key, values in scorer.per_sample(logits, labels).items():
                figures.setdefault(key, []).append(np.asarray(values, "float64").reshape(-1))
            scores.append(paddle.nn.functional.sigmoid(logits).numpy())
            labels_all.append(labels.numpy())
            indices.append(np.asarray(idx).reshape(-1))
            if show:
                _progress(i + 1, total, start, sys.stdout)
    if was_training:
        model.train()

    def gathered(parts, shape, dtype):
        return all_gather_numpy(np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype))

    indices = gathered(indices, (0,), "int64")
    _, first = np.unique(indices, return_index=True)
    scores = gathered(scores, (0, num_classes), "float32")[first]
    labels_all = gathered(labels_all, (0, num_classes), "float32")[first]
    means = {key: float(v.mean()) if len(v) else 0.0
             for key, v in ((k, gathered(figures[k], (0,), "float64")[first]) for k in list(figures))}
    loss_keys = scorer.loss_keys(means)
    losses = {k: means[k] for k in loss_keys}
    metrics = {k: v for k, v in means.items() if k not in losses}
    metrics["mAP"], aps = mean_average_precision(scores, labels_all) if len(scores) else (0.0, [])
    names = list(class_names or [str(i) for i in range(num_classes)])
    return MultiLabelResult(
        metrics=metrics, losses=losses, loss=losses.get("loss", next(iter(losses.values()), None)),
        num_samples=len(scores), threshold=threshold, class_names=names,
        per_label=per_label_figures(scores, labels_all, threshold, names, aps) if len(scores) else [],
        samples={"index": indices[first], "label": labels_all, "scores": scores})
