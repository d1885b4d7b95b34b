"""The base class of every per-image transform op, and the parameter parsing ops share (its own module, so op
families can live in files of their own without importing each other)."""
import re

import numpy as np


class TransformOp:
    """Base: `__call__(img, rng)`; `out_layout(layout)` says what the op accepts and produces."""

    random = False  # True when the op draws from rng

    def out_layout(self, layout):
        if layout == "bytes":
            raise ValueError("needs a decoded image: DecodeImage must come first")
        if layout != "hwc":
            raise ValueError(f"expects an HWC image, but the image is {layout.upper()} here")
        return layout

    def __call__(self, img, rng=None):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"\s*({_NUMBER})\s*(?:/\s*({_NUMBER})\s*)?")


def parse_number(value, name="value"):
    """A float from a number or a string 'a' / 'a/b' (PaddleClas writes `scale: 1.0/255.0`); no eval."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        m = _FRACTION.fullmatch(value)
        if m:
            num = float(m.group(1))
            if m.group(2) is None:
                return num
            den = float(m.group(2))
            if den != 0:
                return num / den
        raise ValueError(f"{name} must be a number or a fraction like '1.0/255.0', got {value!r}")
    raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def pair(size, name="size"):
    """int -> (s, s); [a, b] -> (a, b) (PaddleClas reads lists as (w, h))."""
    if isinstance(size, bool):
        raise ValueError(f"{name} must be an int or a pair of ints, got {size!r}")
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    elif isinstance(size, (list, tuple)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        size = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {size!r}")
    if min(size) <= 0:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return size
