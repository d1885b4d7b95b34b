"""Classification losses and the `Loss:` config section (PaddleClas 2.6.0 semantics, own implementation).

YAML form (PaddleClas)::

    Loss:
      Train:
        - CELoss:
            weight: 1.0
            epsilon: 0.1

`build_loss(cfg["Loss"]["Train"])` returns a `CombinedLoss`; calling it with `(logits, label)` returns
``{"loss": sum_i weight_i * loss_i, "CELoss": loss_1, ...}`` where the per-loss entries are UNWEIGHTED (the
total is what to back-propagate). A distillation loss (loss/distillation.py) returns one entry per model or
pair ('CELoss_Student', 'loss_dkd_Student_Teacher'); those are logged in its place and summed for its term. PaddleClas ignores `weight` when a single loss is configured; here the weight
always applies (identical for the usual `weight: 1.0`).

`LOSSES` maps each YAML loss name to its class; the class's keyword arguments are exactly the YAML keys.
"""
import numpy as np
import paddle
import paddle.nn as nn

from ..errors import ConfigError
from ..registry import Registry
from . import distillation, multilabel
from .ce import CELoss

__all__ = ["CELoss", "CombinedLoss", "LOSSES", "build_loss"]

LOSSES = Registry("loss", {"CELoss": CELoss, **distillation.LOSSES, **multilabel.LOSSES})


class CombinedLoss(nn.Layer):
    """Weighted sum of several losses; see the module docstring for the returned dict."""

    def __init__(self, losses, names):
        super().__init__()
        self.loss_funcs = nn.LayerList(losses)
        self.names = list(names)

    def forward(self, x, label):
        out = {}
        total = None
        for name, fn in zip(self.names, self.loss_funcs):
            value = fn(x, label)
            if isinstance(value, dict):  # a distillation loss: one entry per model or pair, logged as such
                out.update(value)
                value = paddle.add_n(list(value.values()))
            else:
                out[name] = value
            weighted = value * fn.weight if fn.weight != 1.0 else value
            total = weighted if total is None else total + weighted
        return {"loss": total, **out}

    def prepare(self, class_counts, class_num):
        """Hand the training set's per-class counts and the class count to the losses that need them."""
        for fn in self.loss_funcs:
            if hasattr(fn, "prepare"):
                fn.prepare(class_counts, class_num)

    def per_sample(self, x, label):
        """{"loss": weighted total, name: loss, ...} as float64 [N] per sample (hard labels, logits [N, C]); a
        loss without `per_sample` gives its batch value for every sample."""
        n = int(label.shape[0])
        out, total = {}, np.zeros(n, "float64")
        for name, fn in zip(self.names, self.loss_funcs):
            value = fn.per_sample(x, label) if hasattr(fn, "per_sample") else np.full(n, float(fn(x, label)))
            out[name] = value
            total = total + value * fn.weight
        return {"loss": total, **out}


def build_loss(loss_list, key="Loss.Train"):
    """`[{Name: {weight: w, ...}}, ...]` -> CombinedLoss; wrong shapes, names or keys raise ConfigError."""
    if loss_list is None:
        return None
    if isinstance(loss_list, dict):
        loss_list = [{k: v} for k, v in loss_list.items()]
    if not isinstance(loss_list, (list, tuple)) or not loss_list:
        raise ConfigError(f"{key}: expected a non-empty list like [{{CELoss: {{weight: 1.0}}}}]")
    losses, names, seen = [], [], {}
    for i, item in enumerate(loss_list):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{key}[{i}]: expected a one-key mapping like {{CELoss: {{weight: 1.0}}}}")
        name, params = next(iter(item.items()))
        losses.append(LOSSES.build(name, dict(params or {}), f"{key}[{i}]"))
        n = seen.get(name, 0)
        seen[name] = n + 1
        names.append(name if n == 0 else f"{name}_{n}")
    return CombinedLoss(losses, names)
