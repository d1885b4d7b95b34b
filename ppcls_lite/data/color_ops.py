"""Colour augmentations of PaddleClas 2.6.0's operators.py: ColorJitter and PCALighting (AlexNet-style lighting
noise, used by its DiverseBranchBlock recipe). Random draws come from the sample's numpy Generator."""
import numpy as np
from PIL import Image, ImageEnhance

from .op_base import TransformOp, parse_number

# AlexNet's ImageNet RGB principal components, as PaddleClas's PCALighting writes them
_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32)
_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                    [-0.5808, -0.0045, -0.8140],
                    [-0.5836, -0.6948, 0.4203]], np.float32)


def _factor_range(value, name, center=1.0, bound=None):
    value = parse_number(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    low, high = center - value, center + value
    if bound is not None:
        if value > bound:
            raise ValueError(f"{name} must be in [0, {bound}], got {value}")
    else:
        low = max(low, 0.0)
    return (low, high) if value > 0 else None


def adjust_hue(img, shift):
    """Rotate the hue of a PIL RGB image by `shift` of a turn (in [-0.5, 0.5]), on PIL's uint8 HSV hue."""
    h, s, v = img.convert("HSV").split()
    hue = np.asarray(h, np.uint8)
    with np.errstate(over="ignore"):
        hue = hue + np.uint8(np.int64(shift * 255) % 256)
    return Image.merge("HSV", (Image.fromarray(hue, "L"), s, v)).convert("RGB")


class ColorJitter(TransformOp):
    """With probability `prob` (PaddleClas's default 2: always), jitter brightness, contrast and saturation by
    factors U(max(0, 1 - x), 1 + x) and hue by U(-h, h) of a turn, in a random order (paddle.vision's
    ColorJitter, which PaddleClas wraps). HWC uint8 RGB in and out."""

    random = True
    needs_uint8 = True

    def __init__(self, prob=2.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        self.prob = parse_number(prob, "prob")
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")
        self.hue = _factor_range(hue, "hue", center=0.0, bound=0.5)

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError("ColorJitter needs a random generator")
        if rng.random() >= self.prob:
            return img
        pil = Image.fromarray(np.ascontiguousarray(img))
        steps = [(name, rng_range) for name, rng_range in (("brightness", self.brightness),
                 ("contrast", self.contrast), ("saturation", self.saturation), ("hue", self.hue))
                 if rng_range is not None]
        for i in rng.permutation(len(steps)):
            name, (low, high) = steps[int(i)]
            factor = float(rng.uniform(low, high))
            if name == "hue":
                pil = adjust_hue(pil, factor)
            else:
                enhancer = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast,
                            "saturation": ImageEnhance.Color}[name]
                pil = enhancer(pil).enhance(factor)
        return np.asarray(pil)


class PCALighting(TransformOp):
    """AlexNet-style lighting noise, as PaddleClas: alpha ~ N(0, alphastd) per principal component, and
    eigvec @ (alpha * eigval) added to every pixel's RGB. HWC in, float32 HWC out (on the 0..255 scale it is
    given, as PaddleClas applies it before NormalizeImage)."""

    random = True
    makes_float = True

    def __init__(self, alphastd=0.1):
        self.alphastd = parse_number(alphastd, "alphastd")

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError("PCALighting needs a random generator")
        if self.alphastd == 0:
            return img
        alpha = rng.normal(0.0, self.alphastd, size=3).astype(np.float32)
        rgb = (_EIGVEC * (alpha * _EIGVAL)[None, :]).sum(axis=1)
        return img.astype(np.float32) + rgb.reshape(1, 1, 3)
