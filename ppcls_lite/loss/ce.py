"""Cross entropy with label smoothing and class weights (PaddleClas's CELoss, own implementation)."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

__all__ = ["CELoss", "logits_float32"]


_FLOAT_DTYPES = (paddle.float32, paddle.float64, paddle.float16, paddle.bfloat16)


def logits_float32(x):
    """x in float32 (a half-precision AMP output is cast)."""
    # Losses are computed in float32 even when the forward ran under AMP.
    return x.astype("float32") if x.dtype in (paddle.float16, paddle.bfloat16) else x


class CELoss(nn.Layer):
    """Cross entropy with optional label smoothing.

    Args:
        epsilon: label-smoothing factor in (0, 1); None (or a value outside (0, 1), as PaddleClas treats it)
            disables smoothing. The smoothed target is ``(1 - epsilon) * target + epsilon / class_num``.
        weight: this loss's weight inside `CombinedLoss` (the layer itself returns the unweighted loss).
        class_weights: class imbalance -- a weight per class, or 'balanced' (N / (C * n_c) from the training
            set's counts, set by `prepare`). Each sample weighs its class's weight (a soft target: the expected
            one) and the batch loss is sum(w_i * loss_i) / sum(w_i), as torch's weighted cross entropy.

    forward(x, label):
        x: logits [N, C]; a dict with "logits"; or a tuple/list of logits [N, C] from several heads (DeiT's
            distilled model returns (cls_logits, dist_logits) in training) -> the loss of their MEAN, as
            PaddleClas trains it (its distilled model returns (head + head_dist) / 2).
        label: hard labels, integer [N] or [N, 1]; or soft targets, float [N, C] (Mixup/CutMix), used as they
            are — never re-normalised or softmaxed (PaddleClas softmaxes them when epsilon is unset; we don't).
            With epsilon, smoothing is applied on top of the soft target, as PaddleClas does.
        Returns the batch-mean loss, a float32 scalar tensor.
    """

    def __init__(self, epsilon: float = None, weight: float = 1.0, class_weights=None):
        super().__init__()
        if epsilon is not None:
            epsilon = float(epsilon)
            if not 0.0 < epsilon < 1.0:
                epsilon = None
        self.epsilon = epsilon
        self.weight = float(weight)
        if isinstance(class_weights, (list, tuple)):
            class_weights = [float(w) for w in class_weights]
            if not class_weights or min(class_weights) < 0 or not sum(class_weights) > 0:
                raise ValueError("class_weights: non-negative weights, not all zero")
        elif class_weights not in (None, "balanced"):
            raise ValueError(f"class_weights: a list of per-class weights or 'balanced', got {class_weights!r}")
        self.class_weights = class_weights
        self._class_weights = None if class_weights in (None, "balanced") else paddle.to_tensor(
            class_weights, dtype="float32")

    def prepare(self, class_counts, class_num):
        """Before training: 'balanced' weights from the training set's per-class counts (N / (C * n_c), classes
        without images weigh 0), and a weight list checked against the model's class count."""
        if self.class_weights == "balanced":
            counts = np.zeros(class_num, "float64")
            counts[:len(class_counts)] = class_counts
            present = counts > 0
            weights = np.where(present, counts.sum() / (present.sum() * np.where(present, counts, 1)), 0.0)
            self._class_weights = paddle.to_tensor(weights.astype("float32"))
        elif self._class_weights is not None and len(self.class_weights) != class_num:
            raise ValueError(f"class_weights: {len(self.class_weights)} weights for a {class_num}-class model")

    def _single(self, x, label):
        x = logits_float32(x)
        class_num = x.shape[-1]
        soft = label.ndim == 2 and label.shape[-1] == class_num and label.dtype in _FLOAT_DTYPES
        if soft:
            target = label.astype("float32")
        else:
            target = label.reshape([-1]).astype("int64")
            if self.epsilon is None and self.class_weights is None:
                return F.cross_entropy(x, target, reduction="mean")
            target = F.one_hot(target, class_num)
        if self.class_weights == "balanced" and self._class_weights is None:
            raise ValueError("class_weights: balanced needs the training set's class counts (CELoss.prepare)")
        sample_weight = None if self._class_weights is None else paddle.sum(target * self._class_weights, axis=-1)
        if self.epsilon is not None:
            target = (1.0 - self.epsilon) * target + self.epsilon / class_num
        per_sample = paddle.sum(-F.log_softmax(x, axis=-1) * target, axis=-1)
        if sample_weight is None:
            return per_sample.mean()
        # each sample weighs what its (expected, for soft targets) class weighs; the mean is over those weights
        return paddle.sum(per_sample * sample_weight) / paddle.sum(sample_weight)

    def forward(self, x, label):
        if not isinstance(label, paddle.Tensor):
            label = paddle.to_tensor(label)
        if isinstance(x, dict):
            x = x["logits"]
        if isinstance(x, (list, tuple)):
            x = paddle.add_n(list(x)) / len(x)
        return self._single(x, label)

    def per_sample(self, x, label):
        """float64 [N]: each sample's loss (evaluation counts every sample once; the batch mean is `forward`)."""
        if self.class_weights is not None:
            raise ValueError("class_weights: weight the training loss; evaluation reports the plain cross "
                             "entropy (leave them out of Loss.Eval)")
        x = logits_float32(x)
        class_num = x.shape[-1]
        target = label.reshape([-1]).astype("int64")
        if self.epsilon is None:
            loss = F.cross_entropy(x, target, reduction="none")
        else:
            smooth = (1.0 - self.epsilon) * F.one_hot(target, class_num) + self.epsilon / class_num
            loss = paddle.sum(-F.log_softmax(x, axis=-1) * smooth, axis=-1)
        return loss.numpy().reshape(-1).astype("float64")

    def extra_repr(self):
        return f"epsilon={self.epsilon}, weight={self.weight}"
