"""Ops on pixel values and layout: NormalizeImage (with its fused normalize+CHW step), ToCHWImage and
RandomErasing, with PaddleClas 2.6.0 names, parameters and numerics."""
import math

import cv2
import numpy as np

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .op_base import TransformOp, parse_number

__all__ = ["NormalizeImage", "ToCHWImage", "RandomErasing"]


class NormalizeImage(TransformOp):
    """(img * scale - mean) / std in float32 (float16 with output_fp16); channel_num=4 appends a zero channel.
    One mean and one std normalise a one-channel image (DecodeImage channels: 1).

    order: '' or 'hwc' for an HWC image (what PaddleClas configs use), 'chw' for a CHW one.
    """

    def __init__(self, scale=None, mean=None, std=None, order="chw", output_fp16=False, channel_num=3):
        if channel_num not in (3, 4):
            raise ValueError(f"channel_num must be 3 or 4, got {channel_num!r}")
        order = (order or "").lower()
        if order not in ("", "hwc", "chw"):
            raise ValueError(f"order must be '', 'hwc' or 'chw', got {order!r}")
        self.scale = np.float32(parse_number(scale, "scale") if scale is not None else 1.0 / 255.0)
        mean = list(IMAGENET_MEAN) if mean is None else [parse_number(m, "mean") for m in mean]
        std = list(IMAGENET_STD) if std is None else [parse_number(s, "std") for s in std]
        if len(mean) != len(std) or len(mean) not in (1, 3):
            raise ValueError("mean and std must have 3 values (1 each for one-channel images)")
        if any(s == 0 for s in std):
            raise ValueError("std must not contain 0")
        self.order = order
        self.channel_num = channel_num
        self.output_fp16 = bool(output_fp16)
        shape = (len(mean), 1, 1) if order == "chw" else (1, 1, len(mean))
        self.mean = np.array(mean, dtype=np.float32).reshape(shape)
        self.std = np.array(std, dtype=np.float32).reshape(shape)
        self._axis = 0 if order == "chw" else 2
        self._lut = None
        self._planes_lut = None

    def out_layout(self, layout):
        want = "chw" if self.order == "chw" else "hwc"
        if layout == "bytes":
            raise ValueError("needs a decoded image: DecodeImage must come first")
        if layout != want:
            hint = "set order: '' (as PaddleClas configs do)" if want == "chw" else "set order: 'chw'"
            raise ValueError(f"order {self.order!r} expects a {want.upper()} image but it is "
                             f"{layout.upper()} here; {hint}")
        return layout

    def _table(self):
        """The formula applied to every uint8 value of each channel: 1 x 256 x 3 float32 (cv2.LUT's layout)."""
        if self._lut is None:
            values = np.arange(256, dtype=np.uint8).astype(np.float32).reshape(256, 1)
            mean, std = self.mean.reshape(1, 3), self.std.reshape(1, 3)
            self._lut = np.ascontiguousarray(((values * self.scale - mean) / std).reshape(1, 256, 3))
        return self._lut

    def __call__(self, img, rng=None):
        channels = img.shape[self._axis] if img.ndim == 3 else 1
        if channels != self.mean.size:
            raise ValueError(f"NormalizeImage has {self.mean.size} mean/std values for a {channels}-channel image")
        if img.dtype == np.uint8 and img.ndim == 3 and channels == 3:
            # A uint8 image can take only 256 values per channel: look the float32 results up (same numbers
            # as the formula, bit for bit, in one pass instead of four).
            if self.order == "chw":
                out = self._lut_planes([np.ascontiguousarray(img[c]) for c in range(3)])
            else:
                out = cv2.LUT(np.ascontiguousarray(img), self._table())
        else:
            out = (img.astype(np.float32) * self.scale - self.mean) / self.std
        if self.channel_num == 4:
            pad_shape = list(out.shape)
            pad_shape[self._axis] = 1
            out = np.concatenate([out, np.zeros(pad_shape, np.float32)], axis=self._axis)
        return out.astype(np.float16) if self.output_fp16 else out

    def to_chw(self, img):
        """This op followed by ToCHWImage in one pass for a uint8 HWC image (same numbers); None otherwise."""
        if self.order == "chw" or self.channel_num != 3 or self.output_fp16 or img.dtype != np.uint8 \
                or img.ndim != 3 or img.shape[2] != 3:
            return None
        return self._lut_planes(cv2.split(img))

    def _lut_planes(self, planes):
        """Three contiguous uint8 planes through their channel's table, written straight into a CHW array."""
        if self._planes_lut is None:
            table = self._table()
            self._planes_lut = [np.ascontiguousarray(table[:, :, c]) for c in range(3)]
        out = np.empty((3,) + planes[0].shape, np.float32)
        for c, plane in enumerate(planes):
            cv2.LUT(plane, self._planes_lut[c], dst=out[c])
        return out


class _NormalizeToCHW:
    """NormalizeImage + ToCHWImage as one step (Compose fuses the pair); the two ops' output, ~2x faster."""

    def __init__(self, normalize, to_chw):
        self.normalize, self.to_chw = normalize, to_chw

    def __call__(self, img, rng=None):
        out = self.normalize.to_chw(img)
        return out if out is not None else self.to_chw(self.normalize(img, rng), rng)


class ToCHWImage(TransformOp):
    """HWC -> CHW."""

    def out_layout(self, layout):
        super().out_layout(layout)
        return "chw"

    def __call__(self, img, rng=None):
        return np.ascontiguousarray(img.transpose(2, 0, 1))


class RandomErasing(TransformOp):
    """Random erasing (Zhong et al.) as in PaddleClas: with probability EPSILON erase one rectangle.

    Up to `attempt` tries: area fraction U(sl, sh), aspect U(r1, 1/r1) (log-uniform with use_log_aspect);
    h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)); fill with `mean` (mode 'const'), one normal
    colour (mode 'rand') or per-pixel normal noise (mode 'pixel'). Works on HWC (PaddleClas) or CHW images.
    """

    random = True

    def __init__(self, EPSILON=0.5, sl=0.02, sh=0.4, r1=0.3, mean=(0.0, 0.0, 0.0), attempt=100,
                 use_log_aspect=False, mode="const"):
        self.EPSILON = parse_number(EPSILON, "EPSILON")
        self.sl = parse_number(sl, "sl")
        self.sh = parse_number(sh, "sh")
        r1 = parse_number(r1, "r1")
        if r1 <= 0:
            raise ValueError(f"r1 must be > 0, got {r1}")
        self.use_log_aspect = bool(use_log_aspect)
        self.r1 = (math.log(r1), math.log(1.0 / r1)) if self.use_log_aspect else (r1, 1.0 / r1)
        self.mean = [parse_number(m, "mean") for m in mean]
        self.attempt = int(attempt)
        if mode not in ("const", "rand", "pixel"):
            raise ValueError(f"mode must be 'const', 'rand' or 'pixel', got {mode!r}")
        self.mode = mode
        self._chw = False

    def out_layout(self, layout):
        if layout not in ("hwc", "chw"):
            raise ValueError("needs a decoded image: DecodeImage must come first")
        self._chw = layout == "chw"
        return layout

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError("RandomErasing needs a random generator")
        if rng.random() > self.EPSILON:
            return img
        if self._chw:
            c, img_h, img_w = img.shape
        else:
            img_h, img_w, c = img.shape
        area = img_h * img_w
        for _ in range(self.attempt):
            target = rng.uniform(self.sl, self.sh) * area
            aspect = rng.uniform(*self.r1)
            if self.use_log_aspect:
                aspect = math.exp(aspect)
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if w < img_w and h < img_h:
                if self.mode == "rand":
                    pixels = rng.normal(size=(1, 1, 3))
                elif self.mode == "pixel":
                    pixels = rng.normal(size=(h, w, c))
                else:
                    pixels = np.asarray(self.mean, dtype=np.float64).reshape(1, 1, -1)
                y = int(rng.integers(0, img_h - h, endpoint=True))
                x = int(rng.integers(0, img_w - w, endpoint=True))
                if not img.flags.writeable:
                    img = img.copy()
                if c == 3:
                    if self._chw:
                        img[:, y:y + h, x:x + w] = np.transpose(pixels, (2, 0, 1))
                    else:
                        img[y:y + h, x:x + w, :] = pixels
                else:  # PaddleClas: only the first channel, with the first fill value
                    first = pixels[..., 0]
                    if self._chw:
                        img[0, y:y + h, x:x + w] = first
                    else:
                        img[y:y + h, x:x + w, 0] = first
                return img
        return img
