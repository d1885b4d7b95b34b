"""Batch transforms (PaddleClas `batch_transform_ops`): Mixup, Cutmix and OpSampler.

Each op is called as `op(images, labels, rng)` on a collated batch (images float NCHW, labels int64 [N] or
soft float32 [N, C]) and returns (images, soft targets float32 [N, class_num]). The generator comes from
rng.batch_rng(seed, epoch, batch, rank), so a batch mixes the same way whatever the worker count or resume point.
"""
import numpy as np

from ..errors import ConfigError
from ..registry import Registry
from .transforms import iter_op_specs, parse_number

__all__ = ["BATCH_OPS", "soft_targets", "MixupOperator", "CutmixOperator", "OpSampler", "BatchCompose", "build_batch_ops"]


def _check_class_num(class_num, name):
    if isinstance(class_num, bool) or not isinstance(class_num, (int, np.integer)) or class_num <= 0:
        raise ValueError(f"{name} needs class_num (set Arch.class_num), got {class_num!r}")
    return int(class_num)


def soft_targets(labels, class_num):
    """Soft targets float32 [N, C] from int labels [N] (or [N, 1]) or already-soft labels [N, C]."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == class_num and labels.dtype.kind == "f":
        return labels.astype(np.float32)
    labels = labels.reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= class_num):
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise ValueError(f"label {bad} out of range for class_num {class_num}")
    return np.eye(class_num, dtype=np.float32)[labels]


class BatchOperator:
    def __init__(self, class_num):
        self.class_num = _check_class_num(class_num, type(self).__name__)

    def mix_targets(self, labels, perm, lam):
        t = soft_targets(labels, self.class_num)
        lam = np.float32(lam)
        return t * lam + t[perm] * (np.float32(1.0) - lam)

    def __call__(self, images, labels, rng):  # pragma: no cover - interface
        raise NotImplementedError


class MixupOperator(BatchOperator):
    """images = lam * x + (1 - lam) * x[perm], lam ~ Beta(alpha, alpha); targets mixed with the same lam."""

    def __init__(self, class_num=0, alpha=1.0):
        super().__init__(class_num)
        self.alpha = parse_number(alpha, "alpha")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        self.last_lam = None

    def __call__(self, images, labels, rng):
        n = images.shape[0]
        perm = rng.permutation(n)
        lam = float(rng.beta(self.alpha, self.alpha))
        self.last_lam = lam
        dtype = images.dtype
        mixed = images * dtype.type(lam) + images[perm] * dtype.type(1.0 - lam)
        return mixed.astype(dtype, copy=False), self.mix_targets(labels, perm, lam)


class CutmixOperator(BatchOperator):
    """Paste a box of x[perm] into x; lam ~ Beta(alpha, alpha) sets the box, then lam = 1 - box area / image area.

    Box as PaddleClas: side ratio sqrt(1 - lam) of axes 2 and 3, centre uniform, clipped to the image.
    """

    def __init__(self, class_num=0, alpha=0.2):
        super().__init__(class_num)
        self.alpha = parse_number(alpha, "alpha")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        self.last_lam = None
        self.last_box = None

    def _box(self, size2, size3, lam, rng):
        cut = np.sqrt(1.0 - lam)
        cut2, cut3 = int(size2 * cut), int(size3 * cut)
        c2 = int(rng.integers(size2))
        c3 = int(rng.integers(size3))
        a0 = int(np.clip(c2 - cut2 // 2, 0, size2))
        b0 = int(np.clip(c3 - cut3 // 2, 0, size3))
        a1 = int(np.clip(c2 + cut2 // 2, 0, size2))
        b1 = int(np.clip(c3 + cut3 // 2, 0, size3))
        return a0, b0, a1, b1

    def __call__(self, images, labels, rng):
        n = images.shape[0]
        perm = rng.permutation(n)
        lam = float(rng.beta(self.alpha, self.alpha))
        a0, b0, a1, b1 = self._box(images.shape[2], images.shape[3], lam, rng)
        out = images.copy()
        out[:, :, a0:a1, b0:b1] = images[perm, :, a0:a1, b0:b1]
        lam = 1.0 - float(a1 - a0) * (b1 - b0) / (images.shape[-2] * images.shape[-1])
        self.last_lam, self.last_box = lam, (a0, b0, a1, b1)
        return out, self.mix_targets(labels, perm, lam)


class OpSampler:
    """Pick one batch op per batch: {OpName: {prob: p, ...params}}; with probability 1 - sum(p) no op
    (targets still become one-hot float32 so the label type does not change from batch to batch)."""

    def __init__(self, class_num=0, **op_dict):
        self.class_num = _check_class_num(class_num, "OpSampler")
        self.ops, probs = [], []
        for name, params in op_dict.items():
            params = dict(params or {})
            if "prob" not in params:
                raise ValueError(f"{name}: 'prob' must be set for an op inside OpSampler")
            prob = parse_number(params.pop("prob"), f"{name}.prob")
            if prob < 0:
                raise ValueError(f"{name}.prob must be >= 0, got {prob}")
            params.setdefault("class_num", self.class_num)
            self.ops.append(_SAMPLED_OPS.build(name, params, ""))
            probs.append(prob)
        total = float(sum(probs))
        if total > 1.0 + 1e-9:
            raise ValueError(f"the probs of the ops in OpSampler add up to {total:g} > 1")
        self.probs = np.array(probs + [max(0.0, 1.0 - total)], dtype=np.float64)
        self.probs /= self.probs.sum()
        self.last_op = None

    def __call__(self, images, labels, rng):
        k = int(rng.choice(len(self.probs), p=self.probs))
        if k == len(self.ops):
            self.last_op = None
            return images, soft_targets(labels, self.class_num)
        self.last_op = self.ops[k]
        return self.ops[k](images, labels, rng)


class BatchCompose:
    """Apply batch ops in order (one generator for the whole batch)."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, images, labels, rng):
        for op in self.ops:
            images, labels = op(images, labels, rng)
        return images, labels


_SAMPLED_OPS = Registry("op", {"MixupOperator": MixupOperator, "CutmixOperator": CutmixOperator})
BATCH_OPS = Registry("op", {"MixupOperator": MixupOperator, "CutmixOperator": CutmixOperator, "OpSampler": OpSampler})


def build_batch_ops(spec_list, class_num, where="batch_transform_ops"):
    """BatchCompose from a PaddleClas `batch_transform_ops` list, or None when the list is empty."""
    ops = []
    for i, name, params in iter_op_specs(spec_list, where):
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"{where}[{i}].{name}: parameters must be a mapping")
        params = dict(params or {})
        if class_num is None and "class_num" not in params:
            raise ConfigError(f"{where}[{i}].{name}: needs the number of classes (set Arch.class_num)")
        params.setdefault("class_num", class_num)
        ops.append(BATCH_OPS.build(name, params, f"{where}[{i}]"))
    return BatchCompose(ops) if ops else None
