"""PIL policy augmenters of PaddleClas: AutoAugment (ImageNet policy) and RandAugment, with the PIL primitives
they and timm_augment.py (TimmAutoAugment) share.

The magnitudes, probabilities and op tables follow PaddleClas 2.6.0 (`autoaugment.py`, `randaugment.py`); every
random choice comes from the sample's numpy Generator. Both take and return uint8 RGB HWC arrays (PIL inside).
"""
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .op_base import TransformOp

__all__ = ["AutoAugment", "RandAugment", "PILOp", "POLICY_ORIGINAL", "POLICY_V0", "affine", "posterize", "solarize_add"]

# ---------------------------------------------------------------------------------------------------------------
# PIL primitives


def posterize(img, bits):
    """Keep the `bits` most significant bits of every channel; 0 bits gives a black image (TF semantics)."""
    bits = int(bits)
    if bits >= 8:
        return img
    mask = (0xFF << (8 - max(bits, 0))) & 0xFF
    return img.point([v & mask for v in range(256)] * len(img.getbands()))


def solarize_add(img, add, thresh=128):
    lut = [min(255, v + int(add)) if v < thresh else v for v in range(256)]
    if img.mode not in ("L", "RGB"):
        return img
    return img.point(lut * len(img.getbands()))


def _rotate_gray_fill(img, degrees):
    """Rotate (nearest) with the uncovered corners filled with gray 128, as PaddleClas' policies do."""
    rot = img.convert("RGBA").rotate(degrees)
    gray = Image.new("RGBA", rot.size, (128,) * 4)
    return Image.composite(rot, gray, rot).convert(img.mode)


def affine(img, coeffs, resample, fill):
    return img.transform(img.size, Image.AFFINE, coeffs, resample, fillcolor=fill)


def _sign(rng):
    return 1 if int(rng.integers(0, 2)) == 1 else -1


def _to_pil(img):
    if img.dtype != np.uint8:
        raise ValueError("expects a uint8 image (put it before NormalizeImage)")
    return Image.fromarray(np.ascontiguousarray(img))


class PILOp(TransformOp):
    random = True
    needs_uint8 = True

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError(f"{type(self).__name__} needs a random generator")
        return np.array(self._apply(_to_pil(img), rng))


# ---------------------------------------------------------------------------------------------------------------
# PaddleClas AutoAugment (ImageNetPolicy) and RandAugment


def _pc_op(img, name, m, rng, fill):
    """One op of PaddleClas' own AutoAugment / RandAugment with magnitude value `m`."""
    if name == "shearX":
        return affine(img, (1, m * _sign(rng), 0, 0, 1, 0), Image.BICUBIC, fill)
    if name == "shearY":
        return affine(img, (1, 0, 0, m * _sign(rng), 1, 0), Image.BICUBIC, fill)
    if name == "translateX":
        return affine(img, (1, 0, m * img.size[0] * _sign(rng), 0, 1, 0), Image.NEAREST, fill)
    if name == "translateY":
        return affine(img, (1, 0, 0, 0, 1, m * img.size[1] * _sign(rng)), Image.NEAREST, fill)
    if name == "rotate":
        return _rotate_gray_fill(img, m)
    if name in ("color", "contrast", "sharpness", "brightness"):
        enhancer = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
                    "sharpness": ImageEnhance.Sharpness, "brightness": ImageEnhance.Brightness}[name]
        return enhancer(img).enhance(1 + m * _sign(rng))
    if name == "posterize":
        return posterize(img, m)
    if name == "solarize":
        return ImageOps.solarize(img, m)
    if name == "autocontrast":
        return ImageOps.autocontrast(img)
    if name == "equalize":
        return ImageOps.equalize(img)
    if name == "invert":
        return ImageOps.invert(img)
    raise KeyError(name)


def _magnitude_table():
    lin = lambda a, b: np.linspace(a, b, 10)  # noqa: E731
    return {
        "shearX": lin(0, 0.3), "shearY": lin(0, 0.3),
        "translateX": lin(0, 150 / 331), "translateY": lin(0, 150 / 331),
        "rotate": lin(0, 30),
        "color": lin(0.0, 0.9), "contrast": lin(0.0, 0.9), "sharpness": lin(0.0, 0.9), "brightness": lin(0.0, 0.9),
        "posterize": np.round(lin(8, 4), 0).astype(int),
        "solarize": lin(256, 0),
        "autocontrast": [0] * 10, "equalize": [0] * 10, "invert": [0] * 10,
    }


def _parse_policy(text):
    """'Op:prob:level Op:prob:level' per line -> [[(op, prob, level), ...], ...]."""
    policy = []
    for line in text.strip().splitlines():
        sub = []
        for item in line.split():
            name, prob, level = item.split(":")
            sub.append((name, float(prob), int(level)))
        policy.append(sub)
    return policy


# The ImageNet policy of the AutoAugment paper (Cubuk et al., 2018): 25 sub-policies of two ops each.
POLICY_ORIGINAL = _parse_policy("""
PosterizeOriginal:0.4:8 Rotate:0.6:9
Solarize:0.6:5 AutoContrast:0.6:5
Equalize:0.8:8 Equalize:0.6:3
PosterizeOriginal:0.6:7 PosterizeOriginal:0.6:6
Equalize:0.4:7 Solarize:0.2:4
Equalize:0.4:4 Rotate:0.8:8
Solarize:0.6:3 Equalize:0.6:7
PosterizeOriginal:0.8:5 Equalize:1.0:2
Rotate:0.2:3 Solarize:0.6:8
Equalize:0.6:8 PosterizeOriginal:0.4:6
Rotate:0.8:8 Color:0.4:0
Rotate:0.4:9 Equalize:0.6:2
Equalize:0.0:7 Equalize:0.8:8
Invert:0.6:4 Equalize:1.0:8
Color:0.6:4 Contrast:1.0:8
Rotate:0.8:8 Color:1.0:2
Color:0.8:8 Solarize:0.8:7
Sharpness:0.4:7 Invert:0.6:8
ShearX:0.6:5 Equalize:1.0:9
Color:0.4:0 Equalize:0.6:3
Equalize:0.4:7 Solarize:0.2:4
Solarize:0.6:5 AutoContrast:0.6:5
Invert:0.6:4 Equalize:1.0:8
Color:0.6:4 Contrast:1.0:8
Equalize:0.8:8 Equalize:0.6:3
""")

# The "v0" ImageNet policy of the TPU EfficientNet implementation (timm's default AutoAugment policy).
POLICY_V0 = _parse_policy("""
Equalize:0.8:1 ShearY:0.8:4
Color:0.4:9 Equalize:0.6:3
Color:0.4:1 Rotate:0.6:8
Solarize:0.8:3 Equalize:0.4:7
Solarize:0.4:2 Solarize:0.6:2
Color:0.2:0 Equalize:0.8:8
Equalize:0.4:8 SolarizeAdd:0.8:3
ShearX:0.2:9 Rotate:0.6:8
Color:0.6:1 Equalize:1.0:2
Invert:0.4:9 Rotate:0.6:0
Equalize:1.0:9 ShearY:0.6:3
Color:0.4:7 Equalize:0.6:0
Posterize:0.4:6 AutoContrast:0.4:7
Solarize:0.6:8 Color:0.6:9
Solarize:0.2:4 Rotate:0.8:9
Rotate:1.0:7 TranslateYRel:0.8:9
ShearX:0.0:0 Solarize:0.8:4
ShearY:0.8:0 Color:0.6:4
Color:1.0:0 Rotate:0.6:2
Equalize:0.8:4 Equalize:0.0:8
Equalize:1.0:4 AutoContrast:0.6:2
ShearY:0.4:7 SolarizeAdd:0.6:7
Posterize:0.8:2 Solarize:0.6:10
Solarize:0.6:8 Equalize:0.6:1
Color:0.8:6 Rotate:0.4:5
""")

_PC_NAME = {"PosterizeOriginal": "posterize", "Rotate": "rotate", "Solarize": "solarize",
            "AutoContrast": "autocontrast", "Equalize": "equalize", "Color": "color", "Contrast": "contrast",
            "Invert": "invert", "Sharpness": "sharpness", "ShearX": "shearX"}


class AutoAugment(PILOp):
    """PaddleClas AutoAugment: one of the 25 ImageNet sub-policies, each op applied with its probability."""

    def __init__(self, fillcolor=(128, 128, 128)):
        self.fillcolor = tuple(int(v) for v in fillcolor)
        table = _magnitude_table()
        self._policy = [[(p, _PC_NAME[n], table[_PC_NAME[n]][lvl]) for n, p, lvl in sub] for sub in POLICY_ORIGINAL]

    def _apply(self, img, rng):
        sub = self._policy[int(rng.integers(0, len(self._policy)))]
        for prob, name, m in sub:
            if rng.random() < prob:
                img = _pc_op(img, name, m, rng, self.fillcolor)
        return img


class RandAugment(PILOp):
    """PaddleClas RandAugment: `num_layers` ops drawn uniformly (with replacement) from 14, at `magnitude`/10."""

    def __init__(self, num_layers=2, magnitude=5, fillcolor=(128, 128, 128)):
        self.num_layers = int(num_layers)
        self.magnitude = magnitude
        self.fillcolor = tuple(int(v) for v in fillcolor)
        level = float(magnitude) / 10
        self._levels = {
            "shearX": 0.3 * level, "shearY": 0.3 * level,
            "translateX": 150.0 / 331 * level, "translateY": 150.0 / 331 * level,
            "rotate": 30 * level, "color": 0.9 * level,
            "posterize": int(4.0 * level), "solarize": 256.0 * level,
            "contrast": 0.9 * level, "sharpness": 0.9 * level, "brightness": 0.9 * level,
            "autocontrast": 0, "equalize": 0, "invert": 0,
        }
        self._names = list(self._levels)

    def _apply(self, img, rng):
        for _ in range(self.num_layers):
            name = self._names[int(rng.integers(0, len(self._names)))]
            img = _pc_op(img, name, self._levels[name], rng, self.fillcolor)
        return img
