"""Knowledge-distillation losses by PaddleClas's names, keys and semantics (own implementation).

Each reads the outputs of a DistillationModel, {member name: logits}, and returns {entry name: loss}, one entry
per member (`model_names`) or per pair (`model_name_pairs`, [student, teacher] each), named as PaddleClas names
them ('CELoss_Student', 'loss_dkd_Student_Teacher', ...). `CombinedLoss` sums the entries and weighs them by the
loss's `weight`. `key`: take `output[key]` from members whose outputs are dicts.

Formulas, with s and t the two models' logits [N, C], p = softmax, T the temperature, y the labels:
  DistillationCELoss     CE(s, p(t)): cross entropy against the other model's probabilities
  DistillationGTCELoss   CE(s, y), the plain CELoss (label smoothing, Mixup targets) of each member
  DistillationKLDivLoss  KL(p(t/T) || p(s/T)) * T^2, summed over classes, mean over the batch
  DistillationDMLLoss    (KL(p_t || p_s) + KL(p_s || p_t)) / 2 summed over classes, mean over the batch
                         (PaddleClas's mean over classes of C times each term); sum_across_class_dim: C times that
  DistillationDKDLoss    alpha * TCKD + beta * NCKD (Zhao et al. 2022): KL of the binary target / non-target
                         split, plus KL over the non-target classes alone, each * T^2 / N
  DistillationDISTLoss   beta * (1 - mean Pearson(p_s, p_t) per sample) + gamma * (1 - ... per class)
  DistillationSKDLoss    alpha * T^2 * CE(LN(s) m / T, p(LN(t) m / T)) + (1 - alpha) * CE(LN(s) m, y), LN a
                         layer norm over the classes, m the multiplier
  DistillationWSLLoss    T^2 * mean(w * CE(s/T, p(t/T))), w = 1 - exp(-max(CE_s / CE_t, 0)) per sample
  DistillationDeiTHardLoss  DeiT's hard distillation: CE(head, y) / 2 + CE(head_dist, argmax t) / 2
Where a loss needs labels and y is a Mixup/CutMix target [N, C], its argmax is the label.

Differences from PaddleClas 2.6.0, on purpose: DistillationCELoss with `epsilon` smooths the teacher's
probabilities (PaddleClas smooths its raw logits, which is not a distribution); DMLLoss's `weight_ratio` (a
multi-label attribute weighting fed by PaddleClas's attribute datasets) is refused.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .ce import CELoss, logits_float32

__all__ = ["LOSSES", "DistillationCELoss", "DistillationGTCELoss", "DistillationKLDivLoss", "DistillationDMLLoss",
           "DistillationDKDLoss", "DistillationDISTLoss", "DistillationSKDLoss", "DistillationWSLLoss",
           "DistillationDeiTHardLoss", "kl_divergence"]


def kl_divergence(log_q, p):
    """sum over classes of p * (log p - log q), per sample [N]; terms where p is 0 count 0 (as Paddle's kl_div)."""
    positive = p > 0
    safe_log_p = paddle.log(paddle.where(positive, p, paddle.ones_like(p)))
    safe_log_q = paddle.where(positive, log_q, paddle.zeros_like(log_q))  # no 0 * -inf where p and q are 0
    return paddle.sum(paddle.where(positive, p * (safe_log_p - safe_log_q), paddle.zeros_like(p)), axis=-1)


def _target(t, label, use_teacher=False):
    """The class each sample is pushed towards: its label (a Mixup target's argmax), or the teacher's argmax
    without labels or with use_target_as_gt."""
    return paddle.argmax(t, axis=-1) if label is None or use_teacher else _hard_labels(label, t.shape[-1])


def _hard_labels(label, class_num):
    """Integer labels [N] from [N] / [N, 1] labels or [N, C] soft targets (their argmax)."""
    if label.ndim == 2 and label.shape[-1] == class_num and class_num > 1 and paddle.is_floating_point(label):
        return paddle.argmax(label, axis=-1)
    return label.reshape([-1]).astype("int64")


def _check_key(key):
    # PaddleClas's `key` picks an entry of a model's dict output; ppcls_lite's models return their logits
    if key not in (None, "logits"):
        raise ValueError(f"key: {key!r}, but the models return their logits (a tensor), not a dict; leave it null")
    return key


def member_output(predicts, member, key=None, where="model_names"):
    """The output of `member` in a DistillationModel's {member: output} (its `key` entry where given)."""
    if not isinstance(predicts, dict) or member not in predicts:
        have = f"there are {', '.join(predicts)}" if isinstance(predicts, dict) else "there is one model's output"
        raise ValueError(f"{where}: no output of a model {member!r} ({have}); distillation losses need Arch.name: "
                         "DistillationModel with that member")
    out = predicts[member]
    return out[key] if key is not None and isinstance(out, dict) else out


def _merged(x):
    """One logits tensor from a member output: a DeiT distilled model's (head, head_dist) pair is averaged, as
    its evaluation scores."""
    if isinstance(x, (list, tuple)):
        x = paddle.add_n([logits_float32(h) for h in x]) / len(x)
    return logits_float32(x)


class _PairLoss(nn.Layer):
    """A loss between two members' logits, for each [a, b] of `model_name_pairs`; `name` prefixes the keys."""


    def __init__(self, model_name_pairs, key=None, name="loss", weight=1.0):
        super().__init__()
        if not isinstance(model_name_pairs, (list, tuple)) or not model_name_pairs or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 for p in model_name_pairs):
            raise ValueError(f"model_name_pairs: a list of [model, model] pairs like [[Student, Teacher]], got "
                             f"{model_name_pairs!r}")
        self.model_name_pairs = [[str(a), str(b)] for a, b in model_name_pairs]
        self.key = _check_key(key)
        self.name = name
        self.weight = float(weight)

    def _output(self, predicts, member):
        return _merged(member_output(predicts, member, self.key, "model_name_pairs"))

    def pair(self, s, t, label):
        raise NotImplementedError

    def forward(self, predicts, label):
        out = {}
        for a, b in self.model_name_pairs:
            s, t = self._output(predicts, a), self._output(predicts, b)
            out[f"{self.name}_{a}_{b}"] = self.pair(s, t, label)
        return out


class DistillationCELoss(_PairLoss):
    """Cross entropy of the first model against the second's probabilities (see the module docstring)."""

    def __init__(self, model_name_pairs=(), epsilon=None, key=None, name="CELoss", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.ce = CELoss(epsilon=epsilon)

    def pair(self, s, t, label):
        return self.ce(s, F.softmax(t, axis=-1))


class DistillationGTCELoss(nn.Layer):
    """CELoss against the labels for each member in `model_names`; keys 'CELoss_<member>'."""

    def __init__(self, model_names=(), epsilon=None, key=None, name="CELoss", weight=1.0):
        super().__init__()
        if not isinstance(model_names, (list, tuple)) or not model_names:
            raise ValueError(f"model_names: a list of models like [Student], got {model_names!r}")
        self.model_names = [str(n) for n in model_names]
        self.key = _check_key(key)
        self.name = name
        self.weight = float(weight)
        self.ce = CELoss(epsilon=epsilon)

    def forward(self, predicts, label):
        # CELoss itself averages a DeiT distilled student's two heads, as that model scores
        return {f"{self.name}_{m}": self.ce(member_output(predicts, m, self.key), label) for m in self.model_names}


class DistillationKLDivLoss(_PairLoss):
    """Hinton's soft-target loss, T^2 * KL(p(t/T) || p(s/T)), mean over the batch."""

    def __init__(self, model_name_pairs=(), temperature=4.0, key=None, name="loss_kldiv", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.temperature = float(temperature)

    def pair(self, s, t, label):
        T = self.temperature
        return kl_divergence(F.log_softmax(s / T, axis=-1), F.softmax(t / T, axis=-1)).mean() * T * T


class DistillationDMLLoss(_PairLoss):
    """Deep mutual learning: the symmetric KL of the two models' probabilities (act: softmax, sigmoid or
    None for outputs that already are probabilities)."""

    def __init__(self, model_name_pairs=(), act="softmax", weight_ratio=False, sum_across_class_dim=False,
                 key=None, name="DMLLoss", weight=1.0, eps=1e-12):
        super().__init__(model_name_pairs, key, name, weight)
        if act not in (None, "softmax", "sigmoid"):
            raise ValueError(f"act: softmax, sigmoid or null, got {act!r}")
        if weight_ratio:
            raise ValueError("weight_ratio: the multi-label attribute weighting of PaddleClas's attribute datasets "
                             "is not supported; leave it false")
        self.act = act
        self.sum_across_class_dim = bool(sum_across_class_dim)
        self.eps = float(eps)

    def _kl_terms(self, x, target):
        # PaddleClas's form: target * log((target + eps) / (x + eps)) per class, times the class count
        return target * paddle.log((target + self.eps) / (x + self.eps)) * x.shape[-1]

    def pair(self, s, t, label):
        if self.act == "softmax":
            s, t = F.softmax(s, axis=-1), F.softmax(t, axis=-1)
        elif self.act == "sigmoid":
            s, t = F.sigmoid(s), F.sigmoid(t)
        loss = (self._kl_terms(s, t) + self._kl_terms(t, s)) / 2
        return loss.sum(axis=1).mean() if self.sum_across_class_dim else loss.mean()

    def forward(self, predicts, label):
        # PaddleClas numbers DML entries by pair: 'DMLLoss_Student_Teacher_0'
        return {f"{k}_{i}": v for i, (k, v) in enumerate(super().forward(predicts, label).items())}


class DistillationDKDLoss(_PairLoss):
    """Decoupled knowledge distillation (target-class and non-target-class parts)."""


    def __init__(self, model_name_pairs=(), key=None, temperature=1.0, alpha=1.0, beta=1.0,
                 use_target_as_gt=False, name="loss_dkd", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.use_target_as_gt = bool(use_target_as_gt)

    def pair(self, s, t, label):
        T, n = self.temperature, s.shape[0]
        target = _target(t, label, self.use_target_as_gt)
        gt = F.one_hot(target, s.shape[-1])
        p_s, p_t = F.softmax(s / T, axis=-1), F.softmax(t / T, axis=-1)
        binary_s = paddle.stack([(p_s * gt).sum(-1), (p_s * (1 - gt)).sum(-1)], axis=-1)
        binary_t = paddle.stack([(p_t * gt).sum(-1), (p_t * (1 - gt)).sum(-1)], axis=-1)
        tckd = kl_divergence(paddle.log(binary_s.clip(min=1e-30)), binary_t).sum() * T * T / n
        # the non-target distribution: the target class pushed out of the softmax, as PaddleClas does
        nckd = kl_divergence(F.log_softmax(s / T - 1000.0 * gt, axis=-1),
                             F.softmax(t / T - 1000.0 * gt, axis=-1)).sum() * T * T / n
        return self.alpha * tckd + self.beta * nckd


class DistillationDISTLoss(_PairLoss):
    """DIST (Huang et al. 2022): Pearson correlation of the probabilities across classes and across the batch."""

    def __init__(self, model_name_pairs=(), key=None, beta=1.0, gamma=1.0, name="loss_dist", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.beta = float(beta)
        self.gamma = float(gamma)

    @staticmethod
    def _relation(a, b, eps=1e-8):
        a = a - a.mean(axis=1, keepdim=True)
        b = b - b.mean(axis=1, keepdim=True)
        pearson = (a * b).sum(axis=1) / (paddle.linalg.norm(a, axis=1) * paddle.linalg.norm(b, axis=1) + eps)
        return 1 - pearson.mean()

    def pair(self, s, t, label):
        y_s, y_t = F.softmax(s, axis=-1), F.softmax(t, axis=-1)
        inter = self._relation(y_s, y_t)
        intra = self._relation(y_s.transpose([1, 0]), y_t.transpose([1, 0]))
        return self.beta * inter + self.gamma * intra


class DistillationSKDLoss(_PairLoss):
    """Spherical knowledge distillation: both logits layer-normalised and scaled by `multiplier`."""


    def __init__(self, model_name_pairs=(), key=None, temperature=1.0, multiplier=2.0, alpha=0.9,
                 use_target_as_gt=False, name="skd_loss", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.temperature = float(temperature)
        self.multiplier = float(multiplier)
        self.alpha = float(alpha)
        self.use_target_as_gt = bool(use_target_as_gt)

    def pair(self, s, t, label):
        T = self.temperature
        target = _target(t, label, self.use_target_as_gt)
        s = F.layer_norm(s, s.shape[1:], epsilon=1e-7) * self.multiplier
        t = F.layer_norm(t, t.shape[1:], epsilon=1e-7) * self.multiplier
        kd = -paddle.sum(F.softmax(t / T, axis=-1) * F.log_softmax(s / T, axis=-1), axis=-1).mean() * T * T
        ce = F.cross_entropy(s, target, reduction="mean")
        return kd * self.alpha + ce * (1 - self.alpha)


class DistillationWSLLoss(_PairLoss):
    """Weighted soft labels (Zhou et al. 2021): the soft-target loss of each sample weighted by how much worse
    the student does on its label than the teacher."""


    def __init__(self, model_name_pairs=(), key=None, temperature=2.0, name="wsl_loss", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.temperature = float(temperature)

    def pair(self, s, t, label):
        T = self.temperature
        target = _target(t, label)
        ce_s = F.cross_entropy(s.detach(), target, reduction="none").reshape([-1])
        ce_t = F.cross_entropy(t.detach(), target, reduction="none").reshape([-1])
        ratio = paddle.maximum(ce_s / (ce_t + 1e-7), paddle.zeros_like(ce_s))
        kd = -paddle.sum(F.softmax(t / T, axis=-1) * F.log_softmax(s / T, axis=-1), axis=-1)
        return T * T * paddle.mean(kd * (1 - paddle.exp(-ratio)))


class DistillationDeiTHardLoss(_PairLoss):
    """DeiT's hard-label distillation (Touvron et al. 2021) for a distilled DeiT student: its class head learns
    the labels, its distillation head the teacher's argmax, each half of the loss. `epsilon` smooths the label
    part only, as DeiT trains it."""


    def __init__(self, model_name_pairs=(), epsilon=None, key=None, name="loss_deit_hard", weight=1.0):
        super().__init__(model_name_pairs, key, name, weight)
        self.label_ce = CELoss(epsilon=epsilon)

    def check_model(self, model):
        """Before training: the first model of each pair is a distilled DeiT (one with head_dist)."""
        for a, _ in self.model_name_pairs:
            member = model.member(a) if hasattr(model, "member") else None
            if member is not None and not getattr(member, "distilled", False):
                raise ValueError(f"model_name_pairs: {a} is a {type(member).__name__} without a distillation head; "
                                 "this loss trains a distilled DeiT's head_dist (e.g. DeiT_small_distilled_patch16_224)")

    def forward(self, predicts, label):
        out = {}
        for a, b in self.model_name_pairs:
            heads = member_output(predicts, a, self.key, "model_name_pairs")
            if not isinstance(heads, (list, tuple)) or len(heads) != 2:
                raise ValueError(f"model_name_pairs: {a} must be a distilled DeiT (its training output is the "
                                 "pair (head, head_dist))")
            teacher = self._output(predicts, b)
            cls_logits, dist_logits = logits_float32(heads[0]), logits_float32(heads[1])
            hard = paddle.argmax(teacher, axis=-1)
            out[f"{self.name}_{a}_{b}"] = (self.label_ce(cls_logits, label)
                                           + F.cross_entropy(dist_logits, hard, reduction="mean")) / 2
        return out


LOSSES = {cls.__name__: cls for cls in (
    DistillationCELoss, DistillationGTCELoss, DistillationKLDivLoss, DistillationDMLLoss, DistillationDKDLoss,
    DistillationDISTLoss, DistillationSKDLoss, DistillationWSLLoss, DistillationDeiTHardLoss)}
