"""Exponential moving average of a model's weights (the `EMA: {decay: 0.9999}` config section).

Design: `ModelEMA` keeps a float32 SHADOW copy of every entry of `model.state_dict()` — parameters AND buffers
(BatchNorm running mean/variance) — keyed by the structured names, not a second deep-copied module. After
each optimizer step `update(model)` sets, for every floating entry,

    shadow = decay * shadow + (1 - decay) * current

and copies non-floating entries (integer counters) as they are. This is PaddleClas's
ExponentialMovingAverage (fixed decay, every state_dict entry averaged).

To evaluate with the averaged weights, swap them into the live model and back:

    with ema.applied(model):        # = ema.apply_to(model) ... ema.restore(model), also on exceptions
        evaluate(model, loader)

`state_dict()` / `set_state_dict()` carry the shadow and the update count for checkpoints (tensors become numpy
arrays in ppcls_lite checkpoints; both are accepted back). `averaged_state_dict(model)` is the shadow cast to
the model's dtypes, loadable with `model.set_state_dict` (e.g. to export the EMA weights).
"""
from contextlib import contextmanager

import numpy as np
import paddle

from ..errors import WeightsError

__all__ = ["ModelEMA"]

_FLOATS = (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)


def _unwrap(model):
    return model._layers if isinstance(model, paddle.DataParallel) else model


class ModelEMA:
    """Shadow weights averaged over training steps; see the module docstring."""

    def __init__(self, model, decay=0.9999):
        decay = float(decay)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1], got {decay}")
        self.decay = decay
        self.num_updates = 0
        self._backup = None
        with paddle.no_grad():
            self.shadow = {k: self._copy(v) for k, v in _unwrap(model).state_dict().items()}

    @staticmethod
    def _copy(v):
        v = v.detach()
        return (v.astype("float32") if v.dtype in _FLOATS else v).clone()

    def _live(self, model):
        state = _unwrap(model).state_dict()
        if state.keys() != self.shadow.keys():
            missing = sorted(set(self.shadow) ^ set(state))
            raise ValueError(f"model does not match the EMA shadow (first differing key: '{missing[0]}')")
        return state

    @paddle.no_grad()
    def update(self, model):
        """Blend the model's current weights into the shadow (call after each optimizer step)."""
        d = self.decay
        frozen = getattr(_unwrap(model), "frozen_names", ())  # Arch.frozen_stages: never changes, so its average
        for k, v in self._live(model).items():                # is itself (blending would only add rounding)
            s = self.shadow[k]
            if k in frozen:
                paddle.assign(v.astype("float32"), output=s)
            elif v.dtype in _FLOATS:
                paddle.assign(s * d + v.astype("float32") * (1.0 - d), output=s)
            else:
                paddle.assign(v, output=s)
        self.num_updates += 1

    @paddle.no_grad()
    def apply_to(self, model):
        """Copy the averaged weights into `model`, keeping its own weights aside for `restore`."""
        if self._backup is not None:
            raise RuntimeError("EMA weights are already applied; call restore() first")
        live = self._live(model)
        self._backup = {k: v.detach().clone() for k, v in live.items()}
        for k, v in live.items():
            paddle.assign(self.shadow[k].astype(v.dtype), output=v)

    @paddle.no_grad()
    def restore(self, model):
        """Put back the weights `apply_to` set aside."""
        if self._backup is None:
            raise RuntimeError("restore() without a preceding apply_to()")
        for k, v in self._live(model).items():
            paddle.assign(self._backup[k], output=v)
        self._backup = None

    @contextmanager
    def applied(self, model):
        """Context manager: the model holds the EMA weights inside the block, its own ones afterwards."""
        self.apply_to(model)
        try:
            yield model
        finally:
            self.restore(model)

    def averaged_state_dict(self, model):
        """The shadow as a state dict in the model's dtypes (for `model.set_state_dict` / export)."""
        return {k: self.shadow[k].astype(v.dtype) for k, v in self._live(model).items()}

    def state_dict(self):
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": dict(self.shadow)}

    @paddle.no_grad()
    def set_state_dict(self, state):
        """Restore the shadow and update count (the decay stays the configured one)."""
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            diff = sorted(set(shadow) ^ set(self.shadow))
            raise WeightsError(f"EMA state does not fit the model (first differing key: '{diff[0]}')")
        for k, s in self.shadow.items():
            value = shadow[k]
            arr = value.numpy() if isinstance(value, paddle.Tensor) else np.asarray(value)
            if tuple(arr.shape) != tuple(s.shape):
                raise WeightsError(f"EMA state '{k}': shape {list(arr.shape)} does not fit {list(s.shape)}")
            paddle.assign(paddle.to_tensor(arr).astype(s.dtype), output=s)
        self.num_updates = int(state.get("num_updates", 0))
