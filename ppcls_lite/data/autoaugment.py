"""PIL policy augmenters: AutoAugment (ImageNet policy), RandAugment and TimmAutoAugment.

The magnitudes, probabilities and op tables follow PaddleClas 2.6.0 (`autoaugment.py`, `randaugment.py`,
`timm_autoaugment.py`); every random choice comes from the sample's numpy Generator. All three take and return
uint8 RGB HWC arrays (PIL is used internally).
"""
import re

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .constants import IMAGENET_MEAN
from .op_base import TransformOp

__all__ = ["AutoAugment", "RandAugment", "TimmAutoAugment", "posterize", "AUGMENT_OPS"]

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


def _affine(img, coeffs, resample, fill):
    return img.transform(img.size, Image.AFFINE, coeffs, resample, fillcolor=fill)


def _sign(rng):
    return 1 if int(rng.integers(0, 2)) == 1 else -1


def _to_pil(img):
    if img.dtype != np.uint8:
        raise ValueError("expects a uint8 image (put it before NormalizeImage)")
    return Image.fromarray(np.ascontiguousarray(img))


class _PILOp(TransformOp):
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
        return _affine(img, (1, m * _sign(rng), 0, 0, 1, 0), Image.BICUBIC, fill)
    if name == "shearY":
        return _affine(img, (1, 0, 0, m * _sign(rng), 1, 0), Image.BICUBIC, fill)
    if name == "translateX":
        return _affine(img, (1, 0, m * img.size[0] * _sign(rng), 0, 1, 0), Image.NEAREST, fill)
    if name == "translateY":
        return _affine(img, (1, 0, 0, 0, 1, m * img.size[1] * _sign(rng)), Image.NEAREST, fill)
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
_POLICY_ORIGINAL = _parse_policy("""
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
_POLICY_V0 = _parse_policy("""
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


class AutoAugment(_PILOp):
    """PaddleClas AutoAugment: one of the 25 ImageNet sub-policies, each op applied with its probability."""

    def __init__(self, fillcolor=(128, 128, 128)):
        self.fillcolor = tuple(int(v) for v in fillcolor)
        table = _magnitude_table()
        self._policy = [[(p, _PC_NAME[n], table[_PC_NAME[n]][lvl]) for n, p, lvl in sub] for sub in _POLICY_ORIGINAL]

    def _apply(self, img, rng):
        sub = self._policy[int(rng.integers(0, len(self._policy)))]
        for prob, name, m in sub:
            if rng.random() < prob:
                img = _pc_op(img, name, m, rng, self.fillcolor)
        return img


class RandAugment(_PILOp):
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


# ---------------------------------------------------------------------------------------------------------------
# timm-style augmentation (TimmAutoAugment)

_MAX_LEVEL = 10.0
_GEOMETRIC = {"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY", "TranslateXRel", "TranslateYRel"}


def _negate(v, rng):
    return -v if rng.random() > 0.5 else v


def _level_args(name, m, hparams, rng):
    """The argument of op `name` at magnitude m in [0, 10]."""
    f = m / _MAX_LEVEL
    if name in ("AutoContrast", "Equalize", "Invert"):
        return None
    if name == "Rotate":
        return _negate(f * 30.0, rng)
    if name == "Posterize":
        return int(f * 4)
    if name == "PosterizeIncreasing":
        return 4 - int(f * 4)
    if name == "PosterizeOriginal":
        return int(f * 4) + 4
    if name == "Solarize":
        return int(f * 256)
    if name == "SolarizeIncreasing":
        return 256 - int(f * 256)
    if name == "SolarizeAdd":
        return int(f * 110)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return f * 1.8 + 0.1
    if name.endswith("Increasing"):  # Color/Contrast/Brightness/SharpnessIncreasing
        return 1.0 + _negate(f * 0.9, rng)
    if name in ("ShearX", "ShearY"):
        return _negate(f * 0.3, rng)
    if name in ("TranslateX", "TranslateY"):
        return _negate(f * float(hparams["translate_const"]), rng)
    if name in ("TranslateXRel", "TranslateYRel"):
        return _negate(f * hparams.get("translate_pct", 0.45), rng)
    raise KeyError(name)


_ENHANCERS = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast,
              "Brightness": ImageEnhance.Brightness, "Sharpness": ImageEnhance.Sharpness}


def _timm_op(img, name, arg, fill, resample):
    base = name[:-len("Increasing")] if name.endswith("Increasing") else name
    if base == "AutoContrast":
        return ImageOps.autocontrast(img)
    if base == "Equalize":
        return ImageOps.equalize(img)
    if base == "Invert":
        return ImageOps.invert(img)
    if base == "Rotate":
        return img.rotate(arg, resample=resample, fillcolor=fill)
    if base in ("Posterize", "PosterizeOriginal"):
        return posterize(img, arg)
    if base == "Solarize":
        return ImageOps.solarize(img, arg)
    if base == "SolarizeAdd":
        return solarize_add(img, arg)
    if base in _ENHANCERS:
        return _ENHANCERS[base](img).enhance(arg)
    if base == "ShearX":
        return _affine(img, (1, arg, 0, 0, 1, 0), resample, fill)
    if base == "ShearY":
        return _affine(img, (1, 0, 0, arg, 1, 0), resample, fill)
    if base in ("TranslateX", "TranslateXRel"):
        px = arg * img.size[0] if base.endswith("Rel") else arg
        return _affine(img, (1, 0, px, 0, 1, 0), resample, fill)
    if base in ("TranslateY", "TranslateYRel"):
        px = arg * img.size[1] if base.endswith("Rel") else arg
        return _affine(img, (1, 0, 0, 0, 1, px), resample, fill)
    raise KeyError(name)


class _AugmentOp:
    """One timm op with its probability and magnitude (optionally jittered by N(0, magnitude_std))."""

    def __init__(self, name, prob, magnitude, hparams):
        _level_args(name, 0.0, {"translate_const": 1}, np.random.default_rng(0))  # unknown name -> KeyError
        self.name, self.prob, self.magnitude = name, float(prob), float(magnitude)
        self.hparams = dict(hparams)
        self.fill = tuple(self.hparams.get("img_mean", (128, 128, 128)))
        self.resample = self.hparams.get("interpolation", (Image.BILINEAR, Image.BICUBIC))
        self.magnitude_std = float(self.hparams.get("magnitude_std", 0) or 0)

    def __call__(self, img, rng):
        if self.prob < 1.0 and rng.random() > self.prob:
            return img
        m = self.magnitude
        if self.magnitude_std > 0:
            m = rng.normal(m, self.magnitude_std)
        m = min(_MAX_LEVEL, max(0.0, m))
        arg = _level_args(self.name, m, self.hparams, rng)
        resample = self.resample
        if self.name in _GEOMETRIC and isinstance(resample, (tuple, list)):
            resample = resample[int(rng.integers(0, len(resample)))]
        return _timm_op(img, self.name, arg, self.fill, resample)


_RAND_TRANSFORMS = ["AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
                    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
                    "TranslateYRel"]
_RAND_INCREASING = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                    "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                    "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]
_RAND_WEIGHTS_0 = {"Rotate": 0.3, "ShearX": 0.2, "ShearY": 0.2, "TranslateXRel": 0.1, "TranslateYRel": 0.1,
                   "Color": 0.025, "Sharpness": 0.025, "AutoContrast": 0.025, "Solarize": 0.005,
                   "SolarizeAdd": 0.005, "Contrast": 0.005, "Brightness": 0.005, "Equalize": 0.005,
                   "Posterize": 0.0, "Invert": 0.0}
_AUGMIX_TRANSFORMS = ["AutoContrast", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                      "SharpnessIncreasing", "Equalize", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                      "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


def _sections(config_str, allowed):
    """'rand-m9-mstd0.5' -> {'m': '9', 'mstd': '0.5'} (keys checked against `allowed`)."""
    out = {}
    for part in config_str.split("-")[1:]:
        pieces = re.split(r"(\d.*)", part)
        if len(pieces) < 2:
            continue
        key, val = pieces[0], pieces[1]
        if key not in allowed:
            raise ValueError(f"config_str {config_str!r}: unknown section {part!r} (known: {', '.join(allowed)})")
        out[key] = val
    return out


class _TimmRand:
    def __init__(self, config_str, hparams):
        sec = _sections(config_str, ("m", "n", "w", "mstd", "inc"))
        if "mstd" in sec:
            hparams.setdefault("magnitude_std", float(sec["mstd"]))
        magnitude = int(sec.get("m", _MAX_LEVEL))
        self.num_layers = int(sec.get("n", 2))
        names = _RAND_INCREASING if int(float(sec.get("inc", 0))) else _RAND_TRANSFORMS
        self.ops = [_AugmentOp(n, 0.5, magnitude, hparams) for n in names]
        self.weights = None
        if "w" in sec:
            if int(sec["w"]) != 0:
                raise ValueError(f"config_str {config_str!r}: only weight set w0 exists")
            w = np.array([_RAND_WEIGHTS_0.get(n, 0.0) for n in _RAND_TRANSFORMS])
            self.weights = w / w.sum()

    def __call__(self, img, rng):
        picks = rng.choice(len(self.ops), self.num_layers, replace=self.weights is None, p=self.weights)
        for i in picks:
            img = self.ops[int(i)](img, rng)
        return img


class _TimmAuto:
    def __init__(self, config_str, hparams):
        parts = config_str.split("-")
        policy_name = parts[0]
        if policy_name == "auto":  # also accept 'auto-<policy>-...'
            policy_name = parts[1] if len(parts) > 1 else "v0"
            config_str = "-".join(parts[1:])
        sec = _sections(config_str, ("mstd",))
        if "mstd" in sec:
            hparams.setdefault("magnitude_std", float(sec["mstd"]))
        tables = {"v0": (_POLICY_V0, {}), "v0r": (_POLICY_V0, {"Posterize": "PosterizeIncreasing"}),
                  "original": (_POLICY_ORIGINAL, {}),
                  "originalr": (_POLICY_ORIGINAL, {"PosterizeOriginal": "PosterizeIncreasing"})}
        if policy_name not in tables:
            raise ValueError(f"unknown AutoAugment policy {policy_name!r} (known: {', '.join(tables)})")
        table, rename = tables[policy_name]
        self.policy = [[_AugmentOp(rename.get(n, n), p, lvl, hparams) for n, p, lvl in sub] for sub in table]

    def __call__(self, img, rng):
        for op in self.policy[int(rng.integers(0, len(self.policy)))]:
            img = op(img, rng)
        return img


class _TimmAugMix:
    def __init__(self, config_str, hparams):
        sec = _sections(config_str, ("m", "w", "d", "a", "b", "mstd"))
        if "mstd" in sec:
            hparams.setdefault("magnitude_std", float(sec["mstd"]))
        magnitude = int(sec.get("m", 3))
        self.width = int(sec.get("w", 3))
        self.depth = int(sec.get("d", -1))
        self.alpha = float(sec.get("a", 1.0))
        self.blended = bool(int(float(sec.get("b", 0))))
        self.ops = [_AugmentOp(n, 1.0, magnitude, hparams) for n in _AUGMIX_TRANSFORMS]

    def _chain(self, img, rng):
        depth = self.depth if self.depth > 0 else int(rng.integers(1, 4))
        for i in rng.choice(len(self.ops), depth, replace=True):
            img = self.ops[int(i)](img, rng)
        return img

    def __call__(self, img, rng):
        ws = np.float32(rng.dirichlet([self.alpha] * self.width))
        m = np.float32(rng.beta(self.alpha, self.alpha))
        if self.blended:
            ws = ws * m
            cump, alphas = 1.0, []
            for w in ws[::-1]:
                a = w / cump
                cump *= 1 - a
                alphas.append(a)
            out = img
            for a in alphas[::-1]:
                out = Image.blend(out, self._chain(img, rng), float(a))
            return out
        mixed = np.zeros((img.size[1], img.size[0], len(img.getbands())), np.float32)
        for w in ws:
            mixed += w * np.asarray(self._chain(img, rng), dtype=np.float32)
        np.clip(mixed, 0, 255.0, out=mixed)
        return Image.blend(img, Image.fromarray(mixed.astype(np.uint8)), float(m))


def _pil_interp(name):
    return {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "hamming": Image.HAMMING}.get(name, Image.BILINEAR)


class TimmAutoAugment(_PILOp):
    """timm's augmentation family from a config string, as PaddleClas' TimmAutoAugment.

    config_str: 'rand-m9-mstd0.5-inc1' (RandAugment: m magnitude, n layers, w weight set, mstd magnitude noise,
    inc increasing ops), 'augmix-m3-w3-d-1' (AugMix), or an AutoAugment policy 'v0' / 'v0r' / 'original' /
    'originalr' (optionally prefixed 'auto-') with '-mstd<x>'. interpolation: 'bicubic', 'bilinear', ...; 'random'
    picks bilinear or bicubic per op. img_size sets the absolute translate range (0.45 * min size); mean sets the
    fill colour. prob: probability of applying the whole augmentation.
    """

    def __init__(self, config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic", img_size=224,
                 mean=IMAGENET_MEAN, prob=1.0):
        self.config_str = config_str
        self.interpolation = interpolation
        self.img_size = img_size
        self.mean = tuple(float(m) for m in mean)
        self.prob = float(prob)
        size_min = min(img_size) if isinstance(img_size, (list, tuple)) else img_size
        hparams = {"translate_const": int(size_min * 0.45),
                   "img_mean": tuple(min(255, int(round(255 * m))) for m in self.mean)}
        if interpolation and interpolation != "random":
            hparams["interpolation"] = _pil_interp(interpolation)
        if not isinstance(config_str, str):
            raise ValueError(f"config_str must be a string, got {config_str!r}")
        if config_str.startswith("rand"):
            self._aug = _TimmRand(config_str, hparams)
        elif config_str.startswith("augmix"):
            hparams["translate_pct"] = 0.3
            self._aug = _TimmAugMix(config_str, hparams)
        elif config_str.split("-")[0] in ("auto", "v0", "v0r", "original", "originalr"):
            self._aug = _TimmAuto(config_str, hparams)
        else:
            raise ValueError(f"config_str {config_str!r} must start with 'rand', 'augmix' or an AutoAugment "
                             "policy ('v0', 'v0r', 'original', 'originalr')")

    def _apply(self, img, rng):
        if self.prob < 1.0 and rng.random() >= self.prob:
            return img
        return self._aug(img, rng)


AUGMENT_OPS = {"AutoAugment": AutoAugment, "RandAugment": RandAugment, "TimmAutoAugment": TimmAutoAugment}
