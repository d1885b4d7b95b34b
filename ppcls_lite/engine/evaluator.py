"""Evaluation: top-1/top-5, loss, per-class accuracy and confusion matrix, exact under data parallelism."""
import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import paddle
import paddle.nn.functional as F

from .distributed import all_gather_numpy, world_info


@dataclass
class EvalResult:
    """Figures of one evaluation pass over every sample exactly once."""

    top1: float
    top5: float
    loss: float
    num_samples: int
    per_class_acc: list = field(default_factory=list)
    confusion: np.ndarray = None
    class_names: list = field(default_factory=list)

    def summary(self):
        """One-line 'top1: ..., top5: ..., loss: ...' text."""
        return f"top1: {self.top1:.5f}, top5: {self.top5:.5f}, CELoss: {self.loss:.5f}, samples: {self.num_samples}"

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


def evaluate(model, loader, num_classes, class_names=None, progress=False):
    """Run `model` over `loader` (batches: images, labels, sample indices) and compute EvalResult.

    Each rank keeps top-5 ids, labels, per-sample CE and sample indices; they are gathered and de-duplicated by
    sample index, so the padding DistributedBatchSampler adds never counts and every rank reports the same.
    """
    was_training = model.training
    model.eval()
    k = min(5, num_classes)
    topk_ids, labels_all, losses, indices = [], [], [], []
    total = len(loader)
    start = time.time()
    show = progress and world_info()[1] == 0
    with paddle.no_grad():
        for i, batch in enumerate(loader):
            images, labels, idx = batch[0], batch[1], batch[2]
            logits = model(images)
            if isinstance(logits, (list, tuple)):
                logits = paddle.stack(list(logits)).mean(0)
            logits = logits.astype("float32")
            labels = labels.reshape([-1]).astype("int64")
            losses.append(F.cross_entropy(logits, labels, reduction="none").numpy().reshape(-1))
            topk_ids.append(paddle.topk(logits, k=k, axis=1)[1].numpy())
            labels_all.append(labels.numpy())
            indices.append(np.asarray(idx).reshape(-1))
            if show:
                _progress(i + 1, total, start, sys.stdout)
    if was_training:
        model.train()
    cat = lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape, "int64")  # noqa: E731
    topk_ids = all_gather_numpy(cat(topk_ids, (0, k)).astype("int64"))
    labels_all = all_gather_numpy(cat(labels_all, (0,)).astype("int64"))
    losses = all_gather_numpy(cat(losses, (0,)).astype("float64"))
    indices = all_gather_numpy(cat(indices, (0,)).astype("int64"))
    _, first = np.unique(indices, return_index=True)
    topk_ids, labels_all, losses = topk_ids[first], labels_all[first], losses[first]
    n = len(labels_all)
    correct = topk_ids == labels_all[:, None]
    confusion = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(confusion, (labels_all, topk_ids[:, 0]), 1)
    support = confusion.sum(1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else None for c in range(num_classes)]
    return EvalResult(
        top1=float(correct[:, 0].mean()) if n else 0.0,
        top5=float(correct.any(1).mean()) if n else 0.0,
        loss=float(losses.mean()) if n else 0.0,
        num_samples=n,
        per_class_acc=per_class,
        confusion=confusion,
        class_names=list(class_names or []),
    )
