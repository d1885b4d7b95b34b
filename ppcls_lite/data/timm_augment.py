"""timm's augmentation family (RandAugment / AutoAugment policies / AugMix from a config string), as PaddleClas
2.6.0's `timm_autoaugment.py`: TimmAutoAugment. Every random choice comes from the sample's numpy Generator; it
takes and returns uint8 RGB HWC arrays (PIL inside), like the PaddleClas policies in autoaugment.py.
"""
import re

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .autoaugment import POLICY_ORIGINAL, POLICY_V0, PILOp, affine, posterize, solarize_add
from .constants import IMAGENET_MEAN

__all__ = ["TimmAutoAugment"]

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
        return affine(img, (1, arg, 0, 0, 1, 0), resample, fill)
    if base == "ShearY":
        return affine(img, (1, 0, 0, arg, 1, 0), resample, fill)
    if base in ("TranslateX", "TranslateXRel"):
        px = arg * img.size[0] if base.endswith("Rel") else arg
        return affine(img, (1, 0, px, 0, 1, 0), resample, fill)
    if base in ("TranslateY", "TranslateYRel"):
        px = arg * img.size[1] if base.endswith("Rel") else arg
        return affine(img, (1, 0, 0, 0, 1, px), resample, fill)
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
        tables = {"v0": (POLICY_V0, {}), "v0r": (POLICY_V0, {"Posterize": "PosterizeIncreasing"}),
                  "original": (POLICY_ORIGINAL, {}),
                  "originalr": (POLICY_ORIGINAL, {"PosterizeOriginal": "PosterizeIncreasing"})}
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


class TimmAutoAugment(PILOp):
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
