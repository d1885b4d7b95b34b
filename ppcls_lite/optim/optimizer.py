"""Optimizers of the `Optimizer` config section, built on paddle.optimizer.

YAML form (PaddleClas)::

    Optimizer:
      name: Momentum            # or AdamW, AdamWDL (layer-wise LR decay)
      momentum: 0.9
      lr: {name: Cosine, learning_rate: 0.1, warmup_epoch: 5}
      regularizer: {name: L2, coeff: 0.0001}

`name` and `lr` are structural (`lr` is validated against `LR_SCHEDULES`); every other key is a keyword argument
of the class in `OPTIMIZERS`.

Weight-decay exclusion. `no_weight_decay_name` is a space-separated list of name fragments (a YAML list works
too): a parameter whose STRUCTURED name (from `model.named_parameters()`, e.g. "blocks.0.norm1.weight")
contains any fragment gets no weight decay; `one_dim_param_no_weight_decay: true` also exempts every 1-D
parameter (biases, norm scales). Paddle identifies parameters by their auto-generated `param.name`
("linear_3.w_0"), so the selection is mapped onto those names at build time:
  * AdamW: through `apply_decay_param_fun` (decoupled decay skipped for the selected names);
  * Momentum: by setting `param.regularizer = L2Decay(0.0)` on the selected parameters, which Paddle's momentum
    kernel honours per parameter (a parameter's own regularizer overrides the optimizer's). Parameter groups
    are not used because Paddle clips gradients per group, which would break global-norm clipping.

Gradient clipping: `clip_norm` (PaddleClas's key; `clip_grad_norm` is an alias) clips by the GLOBAL norm of all
gradients (paddle.nn.ClipGradByGlobalNorm). Note: PaddleClas 2.6.0 maps `clip_norm` to ClipGradByNorm, which
clips each gradient tensor separately; here it is the global norm over all of them.
"""
import logging
from typing import List, Optional, Union

import paddle
from paddle.regularizer import L1Decay, L2Decay

from ..config import schema as S
from ..config.validate import check_fields
from ..errors import ConfigError
from ..registry import Registry
from .lr import as_float, build_lr_scheduler

__all__ = ["OPTIMIZERS", "OPTIMIZER_STRUCTURAL_KEYS", "Momentum", "AdamW", "AdamWDL", "build_optimizer",
           "named_parameters_of", "no_weight_decay_names"]

_log = logging.getLogger(__name__)

#: keys of the Optimizer section that are not keyword arguments of the OPTIMIZERS classes
OPTIMIZER_STRUCTURAL_KEYS = ("name", "lr")


def named_parameters_of(model):
    """[(structured_name, param)] of the trainable parameters of a Layer (or of a list of Layers, names prefixed
    by their index): frozen ones (stop_gradient, Arch.frozen_stages) get no optimizer state."""
    if isinstance(model, (list, tuple)):
        if len(model) == 1:
            return named_parameters_of(model[0])
        named = [(f"{i}.{n}", p) for i, m in enumerate(model) for n, p in m.named_parameters()]
    else:
        named = list(model.named_parameters())
    return [(n, p) for n, p in named if not p.stop_gradient]


def no_weight_decay_names(named_params, name_fragments=(), one_dim=False):
    """Structured names of the parameters exempt from weight decay (see the module docstring)."""
    return [n for n, p in named_params
            if any(f in n for f in name_fragments) or (one_dim and len(p.shape) == 1)]


class _DecayFilter:
    """`apply_decay_param_fun` for Paddle's AdamW: decay unless the generated name was excluded."""

    def __init__(self, excluded_param_names):
        self.excluded = frozenset(excluded_param_names)

    def __call__(self, param_name):
        return param_name not in self.excluded


class _OptimizerSpec:
    key = "Optimizer"

    def _init_common(self, no_weight_decay_name, one_dim_param_no_weight_decay, clip_norm, clip_grad_norm,
                     multi_precision):
        if isinstance(no_weight_decay_name, str):
            fragments = no_weight_decay_name.split()
        elif isinstance(no_weight_decay_name, (list, tuple)) and all(isinstance(f, str) for f in no_weight_decay_name):
            fragments = [f for f in no_weight_decay_name if f]
        elif no_weight_decay_name is None:
            fragments = []
        else:
            raise ConfigError(f"{self.key}.no_weight_decay_name: expected space-separated name fragments, "
                              f"got {no_weight_decay_name!r}")
        self.no_weight_decay_name = fragments
        if not isinstance(one_dim_param_no_weight_decay, bool):
            raise ConfigError(f"{self.key}.one_dim_param_no_weight_decay: expected true or false")
        self.one_dim_param_no_weight_decay = one_dim_param_no_weight_decay
        if clip_norm is not None and clip_grad_norm is not None:
            raise ConfigError(f"{self.key}.clip_grad_norm: set only one of clip_norm and clip_grad_norm")
        clip = clip_norm if clip_norm is not None else clip_grad_norm
        name = "clip_norm" if clip_norm is not None else "clip_grad_norm"
        self.clip_norm = None if clip is None else as_float(clip, f"{self.key}.{name}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise ConfigError(f"{self.key}.{name}: must be positive, got {clip!r}")
        self.multi_precision = bool(multi_precision)

    def _grad_clip(self):
        return None if self.clip_norm is None else paddle.nn.ClipGradByGlobalNorm(clip_norm=self.clip_norm)

    def _excluded(self, named_params):
        names = no_weight_decay_names(named_params, self.no_weight_decay_name, self.one_dim_param_no_weight_decay)
        if self.no_weight_decay_name or self.one_dim_param_no_weight_decay:
            _log.info("%s: %d of %d parameters exempt from weight decay", self.key, len(names), len(named_params))
        return set(names)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Momentum(_OptimizerSpec):
    """SGD with (Nesterov) momentum; weight decay via `regularizer: {name: L2|L1, coeff}` (or a plain
    `weight_decay: coeff`, L2). `multi_precision` keeps float32 master weights for float16/bfloat16 params."""

    def __init__(self, momentum: float = 0.9, use_nesterov: bool = False, regularizer: Optional[dict] = None,
                 weight_decay: Optional[float] = None, no_weight_decay_name: Union[str, List[str]] = "",
                 one_dim_param_no_weight_decay: bool = False, clip_norm: Optional[float] = None,
                 clip_grad_norm: Optional[float] = None, multi_precision: bool = True):
        self.momentum = as_float(momentum, f"{self.key}.momentum")
        self.use_nesterov = bool(use_nesterov)
        if regularizer is not None and weight_decay is not None:
            raise ConfigError(f"{self.key}.weight_decay: set only one of regularizer and weight_decay")
        self.regularizer = None
        if regularizer is not None:
            # the schema's rules and messages (a validated config passes as it is)
            reg = check_fields(f"{self.key}.regularizer", regularizer, S.REGULARIZER)
            self.regularizer = (reg["name"], reg["coeff"])
        elif weight_decay is not None:
            self.regularizer = ("L2", as_float(weight_decay, f"{self.key}.weight_decay"))
        self._init_common(no_weight_decay_name, one_dim_param_no_weight_decay, clip_norm, clip_grad_norm,
                          multi_precision)

    def build(self, model, learning_rate):
        named = named_parameters_of(model)
        reg = None
        if self.regularizer is not None:
            kind, coeff = self.regularizer
            reg = L2Decay(coeff) if kind == "L2" else L1Decay(coeff)
        if reg is not None:
            excluded = self._excluded(named)
            for n, p in named:
                if n in excluded:
                    p.regularizer = L2Decay(0.0)  # per-parameter override: the momentum kernel skips decay
        return paddle.optimizer.Momentum(
            learning_rate=learning_rate, momentum=self.momentum, parameters=[p for _, p in named],
            use_nesterov=self.use_nesterov, weight_decay=reg, grad_clip=self._grad_clip(),
            multi_precision=self.multi_precision,
        )


class AdamW(_OptimizerSpec):
    """Adam with decoupled weight decay `weight_decay` (a coefficient), as Paddle's AdamW implements it."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.05,
                 no_weight_decay_name: Union[str, List[str]] = "", one_dim_param_no_weight_decay: bool = False,
                 clip_norm: Optional[float] = None, clip_grad_norm: Optional[float] = None, amsgrad: bool = False,
                 multi_precision: bool = False):
        self.beta1 = as_float(beta1, f"{self.key}.beta1")
        self.beta2 = as_float(beta2, f"{self.key}.beta2")
        self.epsilon = as_float(epsilon, f"{self.key}.epsilon")
        self.weight_decay = as_float(weight_decay, f"{self.key}.weight_decay")
        self.amsgrad = bool(amsgrad)
        self._init_common(no_weight_decay_name, one_dim_param_no_weight_decay, clip_norm, clip_grad_norm,
                          multi_precision)

    def build(self, model, learning_rate):
        named = named_parameters_of(model)
        excluded = self._excluded(named)
        decay_fn = _DecayFilter(p.name for n, p in named if n in excluded) if excluded else None
        return paddle.optimizer.AdamW(
            learning_rate=learning_rate, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
            parameters=[p for _, p in named], weight_decay=self.weight_decay, apply_decay_param_fun=decay_fn,
            grad_clip=self._grad_clip(), multi_precision=self.multi_precision, amsgrad=self.amsgrad,
        )


class AdamWDL(AdamW):
    """PaddleClas's AdamWDL: AdamW whose learning rate decays layer by layer from the head down,
    `layerwise_decay ** (n + 1 - layer)` over the model's layer_groups() (for ViT exactly PaddleClas's rule:
    blocks.i at decay ** (n - i), embeddings and tokens at decay ** (n + 1), the final norm and head at 1).
    `filter_bias_and_bn` exempts 1-D parameters and biases from weight decay, as PaddleClas's does.

    Two differences from PaddleClas 2.6.0, both on purpose (docs/finetune.md): the decoupled decay is applied
    once, at the layer's own rate (PaddleClas applies it a second time at the undecayed rate), and `clip_norm`
    clips (PaddleClas's AdamWDL drops the grad_clip it is given)."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.05,
                 layerwise_decay: Optional[float] = None, filter_bias_and_bn: bool = True,
                 no_weight_decay_name: Union[str, List[str]] = "", one_dim_param_no_weight_decay: bool = False,
                 clip_norm: Optional[float] = None, clip_grad_norm: Optional[float] = None, amsgrad: bool = False,
                 multi_precision: bool = False):
        super().__init__(beta1, beta2, epsilon, weight_decay, no_weight_decay_name, one_dim_param_no_weight_decay,
                         clip_norm, clip_grad_norm, amsgrad, multi_precision)
        decay = None if layerwise_decay is None else as_float(layerwise_decay, f"{self.key}.layerwise_decay")
        if decay is not None and not 0 < decay <= 1:
            raise ConfigError(f"{self.key}.layerwise_decay: must be in (0, 1], got {layerwise_decay!r}")
        self.layerwise_decay = decay
        if not isinstance(filter_bias_and_bn, bool):
            raise ConfigError(f"{self.key}.filter_bias_and_bn: expected true or false")
        self.filter_bias_and_bn = filter_bias_and_bn

    def _excluded(self, named_params):
        excluded = super()._excluded(named_params)
        if self.filter_bias_and_bn:
            excluded |= {n for n, p in named_params if len(p.shape) == 1 or n.endswith(".bias")}
        return excluded

    def build(self, model, learning_rate):
        if self.layerwise_decay is not None and self.layerwise_decay < 1:
            layered = model[0] if isinstance(model, (list, tuple)) and len(model) == 1 else model
            if not hasattr(layered, "layerwise_lr_ratios"):
                raise ConfigError(f"{self.key}.layerwise_decay: {type(layered).__name__} has no layer order "
                                  "(a ppcls_lite backbone has)")
            ratios = layered.layerwise_lr_ratios(self.layerwise_decay)
            # a multiplier on top of the model's own (Arch.head_lr_mult, lr_mult_list); Paddle's AdamW kernel
            # scales the step and the decoupled decay of each parameter by it
            for name, param in named_parameters_of(layered):
                param.optimize_attr["learning_rate"] *= ratios[name]
        return super().build(model, learning_rate)


OPTIMIZERS = Registry("optimizer", {"Momentum": Momentum, "AdamW": AdamW, "AdamWDL": AdamWDL})


def build_optimizer(opt_cfg, epochs, step_each_epoch, model):
    """PaddleClas `Optimizer:` section -> (paddle optimizer, LR scheduler stepped once per iteration).

    Call `sched.step()` after every optimizer step (see optim/lr.py). The optimizer's `state_dict()` includes
    the scheduler's state, so restoring the optimizer restores the schedule too.
    Only the single-optimizer form is supported (not PaddleClas's list of per-scope optimizers).
    """
    key = _OptimizerSpec.key
    if isinstance(opt_cfg, (list, tuple)):
        raise ConfigError(f"{key}: the list form (one optimizer per scope) is not supported; use one mapping")
    if not isinstance(opt_cfg, dict):
        raise ConfigError(f"{key}: expected a mapping like {{name: Momentum, lr: {{...}}}}")
    params = dict(opt_cfg)
    name = params.pop("name", None)
    if name is None:
        raise ConfigError(f"{key}.name: required (one of {', '.join(sorted(OPTIMIZERS))})")
    if "lr" not in params:
        raise ConfigError(f"{key}.lr: required, e.g. {{name: Cosine, learning_rate: 0.1}}")
    lr_cfg = params.pop("lr")
    spec = OPTIMIZERS.build(name, params, key, name_in_path=False)
    sched = build_lr_scheduler(lr_cfg, epochs, step_each_epoch, key=f"{key}.lr")
    return spec.build(model, sched), sched
