"""Multi-label losses by PaddleClas's names and semantics (own implementation): labels are 0/1 vectors [N, C]
and each output is an independent sigmoid.

  MultiLabelLoss            binary cross entropy with logits per label; `epsilon` smooths the targets to
                            (1 - eps) y + eps / C (as PaddleClas's label_smooth), `size_sum` sums over the labels
                            before the mean over the batch (else the mean over every label of every sample)
  MultiLabelAsymmetricLoss  ASL (Ben-Baruch et al. 2021): -log(p_t) (1 - p_t)^gamma, gamma_pos for positives and
                            gamma_neg for negatives, whose probability is shifted by `clip` first; summed
                            (reduction: sum, PaddleClas's default) or averaged over every label
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .ce import logits_float32

__all__ = ["MultiLabelLoss", "MultiLabelAsymmetricLoss", "LOSSES"]


def _targets(x, label):
    x = x["logits"] if isinstance(x, dict) else x
    if isinstance(x, (list, tuple)):  # a distilled DeiT's (head, head_dist) in training: their mean, as it scores
        x = paddle.add_n([logits_float32(h) for h in x]) / len(x)
    x = logits_float32(x)
    if label.ndim != 2 or label.shape[-1] != x.shape[-1]:
        raise ValueError(f"label: a multi-label loss needs 0/1 vectors [N, {x.shape[-1]}] (MultiLabelDataset with "
                         f"Global.use_multilabel: true), got shape {list(label.shape)}")
    return x, label.astype("float32")


class MultiLabelLoss(nn.Layer):
    """Binary cross entropy per label (see the module docstring)."""

    def __init__(self, epsilon=None, size_sum=False, weight_ratio=False, weight=1.0):
        super().__init__()
        if epsilon is not None and not 0 < float(epsilon) < 1:
            epsilon = None  # as PaddleClas: a value outside (0, 1) switches smoothing off
        if weight_ratio:
            raise ValueError("weight_ratio: the attribute weighting of PaddleClas's attribute datasets is not "
                             "supported; leave it false")
        self.epsilon = None if epsilon is None else float(epsilon)
        self.size_sum = bool(size_sum)
        self.weight = float(weight)

    def _cost(self, x, label):
        x, target = _targets(x, label)
        if self.epsilon is not None:
            target = (1 - self.epsilon) * target + self.epsilon / x.shape[-1]
        return F.binary_cross_entropy_with_logits(x, target, reduction="none")

    def forward(self, x, label):
        cost = self._cost(x, label)
        return cost.sum(axis=1).mean() if self.size_sum else cost.mean()

    def per_sample(self, x, label):
        """float64 [N]: each sample's loss (its mean over the batch is `forward`)."""
        cost = self._cost(x, label)
        return (cost.sum(axis=1) if self.size_sum else cost.mean(axis=1)).numpy().astype("float64")


class MultiLabelAsymmetricLoss(nn.Layer):
    """Asymmetric loss (see the module docstring)."""

    def __init__(self, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, epsilon=1e-8, disable_focal_loss_grad=True,
                 reduction="sum", weight=1.0):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction: sum or mean (a training loss is one number), got {reduction!r}")
        self.gamma_pos, self.gamma_neg = float(gamma_pos), float(gamma_neg)
        self.clip = None if clip is None else float(clip)
        self.epsilon = float(epsilon)
        self.disable_focal_loss_grad = bool(disable_focal_loss_grad)
        self.reduction = reduction
        self.weight = float(weight)

    def _terms(self, x, label):
        x, target = _targets(x, label)
        p = F.sigmoid(x)
        negative = (1 - p + self.clip).clip(max=1) if self.clip and self.clip > 0 else 1 - p
        pt = negative * (1 - target) + p * target
        focus = (1 - pt).pow(self.gamma_pos * target + self.gamma_neg * (1 - target))
        if self.disable_focal_loss_grad:  # PaddleClas computes the focusing weight without gradient
            focus = focus.detach()
        return -paddle.log(pt.clip(min=self.epsilon)) * focus

    def forward(self, x, label):
        terms = self._terms(x, label)
        return terms.sum() if self.reduction == "sum" else terms.mean()

    def per_sample(self, x, label):
        """float64 [N]: each sample's sum (reduction sum) or mean (reduction mean) over its labels."""
        terms = self._terms(x, label)
        return (terms.sum(axis=1) if self.reduction == "sum" else terms.mean(axis=1)).numpy().astype("float64")


LOSSES = {"MultiLabelLoss": MultiLabelLoss, "MultiLabelAsymmetricLoss": MultiLabelAsymmetricLoss}
