"""Automatic mixed precision: decide what the `AMP:` section can mean on this device, build the GradScaler.

YAML form (PaddleClas 2.6.0, plus `dtype`)::

    AMP:
      use_amp: true                  # the section counts as off when absent or null
      scale_loss: 128.0
      use_dynamic_loss_scaling: true
      level: O1                      # O1: autocast per op; O2: half-precision weights (paddle.amp.decorate)
      dtype: fp16                    # fp16 | bf16 (float16 | bfloat16)
      use_fp16_test: false
      use_promote: false

`resolve_amp(amp_cfg, device)` returns an `AmpDecision`, a 4-tuple (enabled, level, dtype, message) with the
normalised options attached (`.options`) and `make_scaler()`. The requested dtype is used when Paddle really
autocasts to it on the device; otherwise the other half type when that works; otherwise AMP is off (float32)
and `message` says why in one line. Paddle 3.3.1's autocast does nothing on CPU (it only acts on CUDA/XPU/custom
devices), so on CPU the answer is float32 with a message, whatever the config says; this is detected by a tiny
probe, not assumed, so a Paddle that gains CPU autocast is used as soon as it has it.

Loss scaling: float16 gets a `paddle.amp.GradScaler(init_loss_scaling=scale_loss,
use_dynamic_loss_scaling=...)`; bfloat16 (float32's exponent range) and float32 need none: `make_scaler()`
returns None and the caller steps the optimizer directly.
"""
import warnings
from typing import NamedTuple

import paddle

from ..config import schema as S
from ..config.validate import check_fields

__all__ = ["AmpDecision", "amp_options", "resolve_amp", "make_grad_scaler"]

_DTYPES = {"fp16": "float16", "float16": "float16", "bf16": "bfloat16", "bfloat16": "bfloat16"}


def amp_options(use_amp: bool = True, scale_loss: float = 1.0, use_dynamic_loss_scaling: bool = False,
                level: str = "O1", dtype: str = "fp16", use_fp16_test: bool = False, use_promote: bool = False):
    """Normalised AMP options (level upper-case, dtype as Paddle names it); its keyword arguments are exactly the
    accepted keys of the AMP section, whose rules (config.schema.AMP) the values have already passed."""
    return {"use_amp": bool(use_amp), "scale_loss": float(scale_loss),
            "use_dynamic_loss_scaling": bool(use_dynamic_loss_scaling), "level": str(level).upper(),
            "dtype": _DTYPES[str(dtype).lower()], "use_fp16_test": bool(use_fp16_test),
            "use_promote": bool(use_promote)}


def make_grad_scaler(scale_loss=1.0, use_dynamic_loss_scaling=False):
    """paddle.amp.GradScaler from PaddleClas's two AMP keys."""
    return paddle.amp.GradScaler(init_loss_scaling=float(scale_loss),
                                 use_dynamic_loss_scaling=bool(use_dynamic_loss_scaling))


class _AmpFields(NamedTuple):
    enabled: bool
    level: str  # "O1" / "O2"; "O0" when disabled
    dtype: str  # "float16" / "bfloat16"; "float32" when disabled
    message: str  # one line for the log when the config was not honoured as written, else ""


class AmpDecision(_AmpFields):
    """(enabled, level, dtype, message) plus `.options` (amp_options' dict) and `make_scaler()`."""

    def __new__(cls, enabled, level, dtype, message, options=None):
        self = super().__new__(cls, enabled, level, dtype, message)
        self.options = dict(options or amp_options(use_amp=False))
        return self

    def make_scaler(self):
        """A GradScaler for float16 training; None when AMP is off or the dtype needs no loss scaling."""
        if not self.enabled or self.dtype != "float16":
            return None
        return make_grad_scaler(self.options["scale_loss"], self.options["use_dynamic_loss_scaling"])


def autocast_works(device, dtype):
    """True if paddle.amp.auto_cast really computes a matmul in `dtype` on `device` (the current device kind)."""
    kind = str(device).split(":")[0].lower()
    try:
        supported = (paddle.amp.is_float16_supported(kind) if dtype == "float16"
                     else paddle.amp.is_bfloat16_supported(kind))
    except Exception:  # unknown or absent device kind
        return False
    if not supported:
        return False
    current = paddle.get_device().split(":")[0].lower()
    if current != kind:  # the probe only tells about the current device; trust the capability query
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = paddle.ones([2, 2], dtype="float32")
        with paddle.amp.auto_cast(enable=True, level="O1", dtype=dtype):
            out = paddle.matmul(a, a)
    return out.dtype == (paddle.float16 if dtype == "float16" else paddle.bfloat16)


def resolve_amp(amp_cfg, device, supports=autocast_works):
    """What AMP will actually do on `device` ("cpu", "gpu", "gpu:0", ...); see the module docstring.

    `supports(device, dtype) -> bool` is the capability test (injectable for tests).
    """
    if amp_cfg is None:
        return AmpDecision(False, "O0", "float32", "")
    # the schema's rules and messages: a validated section passes as it is, one given by hand is checked alike
    opts = amp_options(**check_fields("AMP", amp_cfg, S.AMP))
    if not opts["use_amp"]:
        return AmpDecision(False, "O0", "float32", "", opts)
    level, wanted = opts["level"], opts["dtype"]
    other = "bfloat16" if wanted == "float16" else "float16"
    if supports(device, wanted):
        return AmpDecision(True, level, wanted, "", opts)
    if supports(device, other):
        msg = f"AMP: {wanted} autocast is not available on {device}; using {other} ({level}) instead"
        return AmpDecision(True, level, other, msg, opts)
    msg = (f"AMP: requested {level} {wanted}, but Paddle {paddle.__version__} has no working float16/bfloat16 "
           f"autocast on {device}; training in float32")
    return AmpDecision(False, "O0", "float32", msg, opts)
