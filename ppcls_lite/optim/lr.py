"""Learning-rate schedules of the `Optimizer.lr` config section, built on paddle.optimizer.lr.

YAML form (PaddleClas)::

    Optimizer:
      lr:
        name: Cosine
        learning_rate: 0.1
        warmup_epoch: 5

Each class in `LR_SCHEDULES` takes exactly the YAML keys as keyword arguments and `.build(epochs,
step_each_epoch)` returns a Paddle `LRScheduler`. As in PaddleClas (by_epoch: False, the default) every
schedule is stepped once PER ITERATION (call `sched.step()` after each optimizer step): epoch-valued keys are
turned into iterations, the warmup lasts round(warmup_epoch * step_each_epoch) iterations (a
`paddle.optimizer.lr.LinearWarmup` from warmup_start_lr to the base rate), and the decay schedule runs AFTER
the warmup, its own clock starting at 0 when the warmup ends — so Cosine spans the remaining
(epochs - warmup_epoch) epochs, and Piecewise/Step/MultiStepDecay boundaries are shifted by the warmup, exactly as
PaddleClas 2.6.0 does. With by_epoch: True the units stay epochs and the caller steps once per epoch; the
returned scheduler carries the flag as `sched.by_epoch`.

Everything is a stock Paddle scheduler (CosineAnnealingDecay, PiecewiseDecay, StepDecay, MultiStepDecay,
PolynomialDecay, LinearWarmup) or a trivial constant subclass, so `state_dict()`/`set_state_dict()` restore the
schedule exactly on resume (the optimizer's own state_dict includes it under "LR_Scheduler").
"""
import logging
import math
from typing import List, Optional

from paddle.optimizer import lr as plr

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["LR_SCHEDULES", "build_lr_scheduler", "ConstLR", "Constant", "Linear", "Cosine", "Step",
           "Piecewise", "MultiStepDecay", "ConstantLR"]

_log = logging.getLogger(__name__)


def as_float(value, key):
    """float(value) for numbers and numeric strings (PyYAML reads `1e-8` as a string); ConfigError otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    return out


def _as_int(value, key):
    f = as_float(value, key)
    if f != int(f):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    return int(f)


def _as_list(value, key, conv):
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return [conv(v, f"{key}[{i}]") for i, v in enumerate(value)]


class ConstantLR(plr.LRScheduler):
    """A Paddle LRScheduler whose rate never changes (state: last_epoch, last_lr)."""

    def get_lr(self):
        return self.base_lr


class _Schedule:
    """Shared YAML keys: warmup_epoch, warmup_start_lr, last_epoch, by_epoch; subclasses implement _decay()."""

    key = "Optimizer.lr"

    def _init_common(self, learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch):
        self.learning_rate = as_float(learning_rate, f"{self.key}.learning_rate")
        self.warmup_epoch = as_float(warmup_epoch, f"{self.key}.warmup_epoch")
        if self.warmup_epoch < 0:
            raise ConfigError(f"{self.key}.warmup_epoch: must be >= 0, got {warmup_epoch!r}")
        self.warmup_start_lr = as_float(warmup_start_lr, f"{self.key}.warmup_start_lr")
        self.last_epoch = _as_int(last_epoch, f"{self.key}.last_epoch")
        if not isinstance(by_epoch, bool):
            raise ConfigError(f"{self.key}.by_epoch: expected true or false, got {by_epoch!r}")
        self.by_epoch = by_epoch

    def _units(self, epochs, step_each_epoch):
        """(warmup length, decay length, iterations per epoch) in the schedule's stepping units."""
        warmup_epoch = self.warmup_epoch
        if warmup_epoch > epochs:
            _log.warning("%s.warmup_epoch (%s) exceeds Global.epochs (%s): warmup shortened to %s epochs",
                         self.key, warmup_epoch, epochs, epochs)
            warmup_epoch = epochs
        per_epoch = 1 if self.by_epoch else step_each_epoch
        if self.by_epoch and warmup_epoch != int(warmup_epoch):
            raise ConfigError(f"{self.key}.warmup_epoch: must be an integer with by_epoch: true")
        warmup = int(round(warmup_epoch * per_epoch))
        decay = int(round((epochs - warmup_epoch) * per_epoch))
        return warmup, decay, per_epoch

    def build(self, epochs, step_each_epoch):
        """The Paddle LRScheduler for `epochs` epochs of `step_each_epoch` iterations each."""
        epochs = _as_int(epochs, "Global.epochs")
        step_each_epoch = int(step_each_epoch)
        if epochs <= 0 or step_each_epoch <= 0:
            raise ConfigError(f"{self.key}: epochs ({epochs}) and iterations per epoch ({step_each_epoch}) "
                              "must be positive")
        warmup, decay, per_epoch = self._units(epochs, step_each_epoch)
        sched = self._decay(decay, per_epoch)
        if warmup > 0:
            if not self.learning_rate > self.warmup_start_lr:
                raise ConfigError(f"{self.key}.warmup_start_lr: must be below the base learning rate "
                                  f"({self.warmup_start_lr} >= {self.learning_rate})")
            sched = plr.LinearWarmup(sched, warmup_steps=warmup, start_lr=self.warmup_start_lr,
                                     end_lr=self.learning_rate, last_epoch=self.last_epoch)
        sched.by_epoch = self.by_epoch
        return sched

    def _decay(self, decay_steps, per_epoch):
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class ConstLR(_Schedule):
    """Constant rate (after an optional linear warmup)."""

    def __init__(self, learning_rate: float, warmup_epoch: float = 0, warmup_start_lr: float = 0.0,
                 last_epoch: int = -1, by_epoch: bool = False):
        self._init_common(learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)

    def _decay(self, decay_steps, per_epoch):
        return ConstantLR(self.learning_rate, last_epoch=self.last_epoch)


class Constant(ConstLR):
    """Constant rate, no warmup (PaddleClas's bare `Constant`)."""

    def __init__(self, learning_rate: float, last_epoch: int = -1):
        super().__init__(learning_rate, last_epoch=last_epoch)


class Linear(_Schedule):
    """Polynomial decay (power 1: linear) from learning_rate to end_lr over the post-warmup iterations."""

    def __init__(self, learning_rate: float, end_lr: float = 0.0, power: float = 1.0, cycle: bool = False,
                 warmup_epoch: float = 0, warmup_start_lr: float = 0.0, last_epoch: int = -1,
                 by_epoch: bool = False):
        self._init_common(learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)
        self.end_lr = as_float(end_lr, f"{self.key}.end_lr")
        self.power = as_float(power, f"{self.key}.power")
        self.cycle = bool(cycle)

    def _decay(self, decay_steps, per_epoch):
        if decay_steps <= 0:
            return ConstantLR(self.learning_rate, last_epoch=self.last_epoch)
        return plr.PolynomialDecay(self.learning_rate, decay_steps=decay_steps, end_lr=self.end_lr,
                                   power=self.power, cycle=self.cycle, last_epoch=self.last_epoch)


class Cosine(_Schedule):
    """Cosine annealing from learning_rate to eta_min over the post-warmup iterations:
    lr(t) = eta_min + (learning_rate - eta_min) * (1 + cos(pi * t / T)) / 2, T = (epochs - warmup_epoch) * iters.
    """

    def __init__(self, learning_rate: float, eta_min: float = 0.0, warmup_epoch: float = 0,
                 warmup_start_lr: float = 0.0, last_epoch: int = -1, by_epoch: bool = False):
        self._init_common(learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)
        self.eta_min = as_float(eta_min, f"{self.key}.eta_min")

    def _decay(self, decay_steps, per_epoch):
        if decay_steps <= 0:
            return ConstantLR(self.learning_rate, last_epoch=self.last_epoch)
        return plr.CosineAnnealingDecay(self.learning_rate, T_max=decay_steps, eta_min=self.eta_min,
                                        last_epoch=self.last_epoch)


class Step(_Schedule):
    """learning_rate * gamma ** floor(t / (step_size epochs)), t counted after the warmup."""

    def __init__(self, learning_rate: float, step_size: float, gamma: float, warmup_epoch: float = 0,
                 warmup_start_lr: float = 0.0, last_epoch: int = -1, by_epoch: bool = False):
        self._init_common(learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)
        self.step_size = as_float(step_size, f"{self.key}.step_size")
        if self.step_size <= 0:
            raise ConfigError(f"{self.key}.step_size: must be positive, got {step_size!r}")
        self.gamma = as_float(gamma, f"{self.key}.gamma")

    def _decay(self, decay_steps, per_epoch):
        step = int(self.step_size * per_epoch)
        if step <= 0:
            raise ConfigError(f"{self.key}.step_size: {self.step_size} epochs is less than one iteration")
        return plr.StepDecay(self.learning_rate, step_size=step, gamma=self.gamma, last_epoch=self.last_epoch)


class MultiStepDecay(_Schedule):
    """learning_rate * gamma ** (number of milestones, in epochs after the warmup, already passed)."""

    def __init__(self, learning_rate: float, milestones: List[int], gamma: float = 0.1,
                 warmup_epoch: float = 0, warmup_start_lr: float = 0.0, last_epoch: int = -1,
                 by_epoch: bool = False):
        self._init_common(learning_rate, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)
        self.milestones = _as_list(milestones, f"{self.key}.milestones", as_float)
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])):
            raise ConfigError(f"{self.key}.milestones: must be strictly increasing, got {milestones!r}")
        self.gamma = as_float(gamma, f"{self.key}.gamma")

    def _decay(self, decay_steps, per_epoch):
        return plr.MultiStepDecay(self.learning_rate, milestones=[int(m * per_epoch) for m in self.milestones],
                                  gamma=self.gamma, last_epoch=self.last_epoch)


class Piecewise(_Schedule):
    """values[i] while t < decay_epochs[i] epochs (t counted after the warmup); values[-1] afterwards.

    As in PaddleClas, setting `learning_rate` REPLACES decay_epochs/values by the classic rule "divide by 10
    every 30 epochs" (decay_epochs = 30, 60, ... < epochs; values = learning_rate * 0.1 ** i); a warning says so.
    """

    def __init__(self, decay_epochs: Optional[List[int]] = None, values: Optional[List[float]] = None,
                 warmup_epoch: float = 0, warmup_start_lr: float = 0.0, last_epoch: int = -1,
                 by_epoch: bool = False, learning_rate: Optional[float] = None):
        self.override_lr = None if learning_rate is None else as_float(learning_rate, f"{self.key}.learning_rate")
        if self.override_lr is None:
            if decay_epochs is None or values is None:
                raise ConfigError(f"{self.key}: Piecewise needs decay_epochs and values (or learning_rate)")
            self.decay_epochs = _as_list(decay_epochs, f"{self.key}.decay_epochs", as_float)
            self.values = _as_list(values, f"{self.key}.values", as_float)
            if len(self.values) != len(self.decay_epochs) + 1:
                raise ConfigError(f"{self.key}.values: needs len(decay_epochs) + 1 = {len(self.decay_epochs) + 1} "
                                  f"entries, got {len(self.values)}")
            if any(b <= a for a, b in zip(self.decay_epochs, self.decay_epochs[1:])):
                raise ConfigError(f"{self.key}.decay_epochs: must be strictly increasing, got {decay_epochs!r}")
            first = self.values[0]
        else:
            self.decay_epochs, self.values = decay_epochs, values
            first = self.override_lr
        self._given_epochs, self._given_values = decay_epochs, values
        self._init_common(first, warmup_epoch, warmup_start_lr, last_epoch, by_epoch)

    def build(self, epochs, step_each_epoch):
        if self.override_lr is not None:
            lr0 = self.override_lr
            bounds = list(range(0, int(epochs), 30))
            values = [lr0 * 0.1 ** i for i in range(len(bounds))]
            if len(bounds) == 1:
                bounds, values = [int(epochs)], [values[0], values[0]]
            else:
                bounds = bounds[1:]
            if not self._given_matches(bounds, values):
                _log.warning("%s.learning_rate is set, so Piecewise decays 10x every 30 epochs (as PaddleClas "
                             "does): decay_epochs=%s, values=%s", self.key, bounds, values)
            self.decay_epochs, self.values = [float(b) for b in bounds], values
        return super().build(epochs, step_each_epoch)

    def _given_matches(self, bounds, values):
        """Whether the configured decay_epochs/values already are what the learning_rate rule gives."""
        given_e, given_v = self._given_epochs, self._given_values
        try:
            return (len(given_e) == len(bounds) and len(given_v) == len(values)
                    and all(float(a) == b for a, b in zip(given_e, bounds))
                    and all(math.isclose(float(a), b, rel_tol=1e-9) for a, b in zip(given_v, values)))
        except (TypeError, ValueError):
            return False

    def _decay(self, decay_steps, per_epoch):
        return plr.PiecewiseDecay(boundaries=[int(round(e * per_epoch)) for e in self.decay_epochs],
                                  values=list(self.values), last_epoch=self.last_epoch)


LR_SCHEDULES = Registry("learning-rate schedule", {
    "Constant": Constant,
    "ConstLR": ConstLR,
    "Linear": Linear,
    "Cosine": Cosine,
    "Step": Step,
    "Piecewise": Piecewise,
    "MultiStepDecay": MultiStepDecay,
})


def build_lr_scheduler(lr_cfg, epochs, step_each_epoch, key="Optimizer.lr"):
    """`Optimizer.lr` mapping -> Paddle LRScheduler stepped per iteration (see the module docstring).

    A mapping without `name` is a constant rate (`{learning_rate: 0.1}`); a bare number is accepted too.
    """
    if isinstance(lr_cfg, (int, float, str)) and not isinstance(lr_cfg, bool):
        lr_cfg = {"learning_rate": lr_cfg}
    if not isinstance(lr_cfg, dict):
        raise ConfigError(f"{key}: expected a mapping like {{name: Cosine, learning_rate: 0.1}}")
    params = dict(lr_cfg)
    name = params.pop("name", "Constant")
    for k, real in (("epochs", epochs), ("step_each_epoch", step_each_epoch)):
        given = params.pop(k, None)  # some PaddleClas configs write them; its builder overwrites them too
        if given is not None and int(given) != int(real):
            _log.warning("%s.%s: %s in the config is replaced by this run's %s, as PaddleClas does", key, k, given,
                         real)
    spec = LR_SCHEDULES.build(name, params, key, name_in_path=False)
    return spec.build(epochs, step_each_epoch)
