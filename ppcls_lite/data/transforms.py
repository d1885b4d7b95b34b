"""Per-sample transform ops with PaddleClas 2.6.0 names, parameters and numerics.

Every op is called as `op(img, rng)`: `rng` is the numpy Generator of the sample (see `rng.py`); deterministic
ops ignore it. Images stay uint8 HWC RGB until NormalizeImage turns them into float32.

A pipeline is built from a PaddleClas `transform_ops` list with `build_transforms`; the resulting `Compose`
checks the data layout statically (bytes -> HWC -> CHW), so e.g. a NormalizeImage whose `order` does not match
the layout it receives is reported when the dataset is built, not half-way through the first epoch.
"""
import math
import re

import cv2
import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..registry import Registry
from .autoaugment import AutoAugment, RandAugment, TimmAutoAugment
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .image_io import ImageDecodeError, decode_image
from .op_base import TransformOp

__all__ = [
    "TRANSFORMS", "Compose", "build_transforms", "parse_number", "decode_image", "ImageDecodeError",
    "DecodeImage", "ResizeImage", "CropImage", "RandCropImage", "RandFlipImage", "NormalizeImage", "ToCHWImage",
    "RandomErasing", "AutoAugment", "RandAugment", "TimmAutoAugment",
]


# ---------------------------------------------------------------------------------------------------------------
# helpers

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


def _pair(size, name="size"):
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


_CV2_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA,
               "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
_PIL_INTERP = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "box": Image.BOX,
               "lanczos": Image.LANCZOS, "hamming": Image.HAMMING}


class _Resizer:
    """PaddleClas UnifiedResize: cv2 (default, INTER_LINEAR) or PIL backend; 'random' = bilinear or bicubic."""

    def __init__(self, interpolation=None, backend="cv2"):
        backend = str(backend).lower()
        if backend not in ("cv2", "pil"):
            raise ValueError(f"backend must be 'cv2' or 'pil', got {backend!r}")
        table = _CV2_INTERP if backend == "cv2" else _PIL_INTERP
        self.backend = backend
        self.random = False
        if interpolation is None:
            flag = cv2.INTER_LINEAR if backend == "cv2" else Image.BICUBIC  # each library's default
        elif isinstance(interpolation, str):
            key = interpolation.lower()
            if key == "random":
                self.random = True
                flag = (table["bilinear"], table["bicubic"])
            elif key in table:
                flag = table[key]
            else:
                raise ValueError(f"interpolation {interpolation!r} is not one of {sorted(table) + ['random']}"
                                 f" for backend {backend!r}")
        elif isinstance(interpolation, (int, np.integer)) and not isinstance(interpolation, bool):
            flag = cv2.INTER_LINEAR if interpolation < 0 and backend == "cv2" else int(interpolation)
        else:
            raise ValueError(f"interpolation must be a name or an int, got {interpolation!r}")
        self.flag = flag

    def __call__(self, img, size, rng=None):
        flag = self.flag
        if self.random:
            if rng is None:
                raise ValueError("interpolation 'random' needs a random generator")
            flag = flag[int(rng.integers(0, 2))]
        w, h = int(size[0]), int(size[1])
        if self.backend == "cv2":
            return cv2.resize(img, (w, h), interpolation=flag)
        return np.array(Image.fromarray(img).resize((w, h), flag))


# ---------------------------------------------------------------------------------------------------------------
# ops


class DecodeImage(TransformOp):
    """Bytes -> uint8 RGB (or BGR with to_rgb=False) HWC (CHW with channel_first) via PIL.

    draft: let a large JPEG be decoded at 1/2, 1/4 or 1/8 scale when the op right after is a resize or random
    crop and the decoded image stays at least twice the size that op needs (exact enough, much faster).
    An ndarray input is taken as already-decoded RGB HWC uint8.
    """

    def __init__(self, to_rgb=True, to_np=True, channel_first=False, draft=True):
        self.to_rgb = bool(to_rgb)
        self.to_np = bool(to_np)  # accepted for PaddleClas configs; output is always numpy
        self.channel_first = bool(channel_first)
        self.draft = bool(draft)
        self._draft_request = None

    def out_layout(self, layout):
        if layout != "bytes":
            raise ValueError("DecodeImage must be the first op (it decodes the file bytes)")
        return "chw" if self.channel_first else "hwc"

    def __call__(self, img, rng=None):
        if isinstance(img, np.ndarray):
            arr = img
        else:
            arr = decode_image(img, self._draft_request if self.draft else None)
        if not self.to_rgb:
            arr = np.ascontiguousarray(arr[:, :, ::-1])
        if self.channel_first:
            arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
        return arr


class ResizeImage(TransformOp):
    """Resize to `size` (int or [w, h]) or so that the short side equals `resize_short` (rounded like PaddleClas)."""

    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2", return_numpy=True):
        if resize_short is not None and resize_short > 0:
            self.resize_short = int(resize_short)
            self.size = None
        elif size is not None:
            self.resize_short = None
            self.size = _pair(size, "size")
        else:
            raise ValueError("one of 'size' or 'resize_short' must be set")
        self.interpolation = interpolation
        self.backend = backend
        self.return_numpy = return_numpy  # accepted for PaddleClas configs; output is always numpy
        self._resize = _Resizer(interpolation, backend)
        self.random = self._resize.random
        self.needs_uint8 = self._resize.backend == "pil"

    def target_size(self, w, h):
        if self.resize_short is not None:
            percent = float(self.resize_short) / min(w, h)
            return int(round(w * percent)), int(round(h * percent))
        return self.size

    def draft_request(self, w, h):
        tw, th = self.target_size(w, h)
        return 2 * tw, 2 * th

    def __call__(self, img, rng=None):
        h, w = img.shape[:2]
        return self._resize(img, self.target_size(w, h), rng)


class CropImage(TransformOp):
    """Center crop to `size` (int or [w, h]); offsets (W - w) // 2, (H - h) // 2."""

    def __init__(self, size):
        self.size = _pair(size, "size")

    def __call__(self, img, rng=None):
        w, h = self.size
        img_h, img_w = img.shape[:2]
        if img_w < w or img_h < h:
            raise ValueError(f"CropImage: image {img_w}x{img_h} is smaller than the crop {w}x{h}")
        x0 = (img_w - w) // 2
        y0 = (img_h - h) // 2
        return img[y0:y0 + h, x0:x0 + w]


class RandCropImage(TransformOp):
    """Random-resized crop (area fraction in `scale`, aspect ratio in `ratio`) resized to `size`.

    Same sampling as PaddleClas: a = sqrt(U(ratio)); the area fraction is drawn from `scale` clipped so that the
    crop fits; crop w = int(sqrt(area) * a), h = int(sqrt(area) / a); top-left corner uniform (inclusive).
    """

    random = True

    def __init__(self, size, scale=None, ratio=None, interpolation=None, backend="cv2"):
        self.size = _pair(size, "size")
        self.scale = [0.08, 1.0] if scale is None else [parse_number(s, "scale") for s in scale]
        self.ratio = [3.0 / 4.0, 4.0 / 3.0] if ratio is None else [parse_number(r, "ratio") for r in ratio]
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be [min, max] with 0 < min <= max, got {scale!r}")
        if len(self.ratio) != 2 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio must be [min, max] with 0 < min <= max, got {ratio!r}")
        self.interpolation = interpolation
        self.backend = backend
        self._resize = _Resizer(interpolation, backend)
        self.needs_uint8 = self._resize.backend == "pil"

    def crop_box(self, img_w, img_h, rng):
        """(x, y, w, h) of the crop, drawn from rng."""
        aspect = math.sqrt(rng.uniform(self.ratio[0], self.ratio[1]))
        fw, fh = aspect, 1.0 / aspect
        bound = min((float(img_w) / img_h) / (fw ** 2), (float(img_h) / img_w) / (fh ** 2))
        scale_max = min(self.scale[1], bound)
        scale_min = min(self.scale[0], bound)
        target = math.sqrt(img_w * img_h * rng.uniform(scale_min, scale_max))
        w = min(max(int(target * fw), 1), img_w)
        h = min(max(int(target * fh), 1), img_h)
        x = int(rng.integers(0, img_w - w, endpoint=True))
        y = int(rng.integers(0, img_h - h, endpoint=True))
        return x, y, w, h

    def draft_request(self, w, h):
        # The smallest crop this op can take must still be >= 2x the output size after drafting.
        tw, th = self.size
        smallest = self.scale[0] * w * h
        min_cw = math.sqrt(smallest * self.ratio[0])
        min_ch = math.sqrt(smallest / self.ratio[1])
        k = min(min_cw / (2.0 * tw), min_ch / (2.0 * th))
        if k <= 1.0:
            return None
        return w / k, h / k

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError("RandCropImage needs a random generator")
        img_h, img_w = img.shape[:2]
        x, y, w, h = self.crop_box(img_w, img_h, rng)
        return self._resize(img[y:y + h, x:x + w], self.size, rng)


class RandFlipImage(TransformOp):
    """With probability 1/2 flip: flip_code 1 horizontal, 0 vertical, -1 both (cv2.flip codes)."""

    random = True

    def __init__(self, flip_code=1):
        if flip_code not in (-1, 0, 1):
            raise ValueError(f"flip_code must be -1, 0 or 1, got {flip_code!r}")
        self.flip_code = flip_code

    def __call__(self, img, rng=None):
        if rng is None:
            raise ValueError("RandFlipImage needs a random generator")
        if int(rng.integers(0, 2)) == 1:
            if img.ndim == 3 and img.shape[2] <= 4:
                return cv2.flip(img, self.flip_code)  # same pixels as the numpy flip below, ~30x faster
            if self.flip_code == 1:
                img = img[:, ::-1]
            elif self.flip_code == 0:
                img = img[::-1]
            else:
                img = img[::-1, ::-1]
            img = np.ascontiguousarray(img)
        return img


class NormalizeImage(TransformOp):
    """(img * scale - mean) / std in float32 (float16 with output_fp16); channel_num=4 appends a zero channel.

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
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std must have 3 values")
        if any(s == 0 for s in std):
            raise ValueError("std must not contain 0")
        self.order = order
        self.channel_num = channel_num
        self.output_fp16 = bool(output_fp16)
        shape = (3, 1, 1) if order == "chw" else (1, 1, 3)
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
        if img.dtype == np.uint8 and img.ndim == 3 and img.shape[self._axis] == 3:
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


# ---------------------------------------------------------------------------------------------------------------
# pipeline


class Compose:
    """An ordered op list checked for layout at construction; call as `compose(data, rng)`."""

    def __init__(self, ops, where="transform_ops"):
        self.ops = list(ops)
        layout, normalized = "bytes", False
        for i, op in enumerate(self.ops):
            try:
                layout = op.out_layout(layout)
                if normalized and getattr(op, "needs_uint8", False):
                    raise ValueError("works on uint8 images; put it before NormalizeImage")
            except ValueError as exc:
                raise ConfigError(f"{where}[{i}].{type(op).__name__}: {exc}") from None
            normalized = normalized or isinstance(op, NormalizeImage)
        if layout == "bytes":
            raise ConfigError(f"{where}: the pipeline must start with DecodeImage")
        self.out_layout = layout
        self.random = any(getattr(op, "random", False) for op in self.ops)
        if len(self.ops) > 1 and isinstance(self.ops[0], DecodeImage) and hasattr(self.ops[1], "draft_request"):
            self.ops[0]._draft_request = self.ops[1].draft_request
        self._steps = _fuse(self.ops)

    def __call__(self, data, rng=None):
        for step in self._steps:
            data = step(data, rng)
        return data

    def __repr__(self):
        return "Compose([" + ", ".join(repr(op) for op in self.ops) + "])"


def _fuse(ops):
    """The ops to run, with each NormalizeImage directly followed by ToCHWImage replaced by one fused step."""
    steps, i = [], 0
    while i < len(ops):
        if i + 1 < len(ops) and type(ops[i]) is NormalizeImage and type(ops[i + 1]) is ToCHWImage:
            steps.append(_NormalizeToCHW(ops[i], ops[i + 1]))
            i += 2
        else:
            steps.append(ops[i])
            i += 1
    return steps


def iter_op_specs(spec_list, where):
    """Yield (index, name, params) from a PaddleClas op list [{Name: {params}}, ...]."""
    if spec_list is None:
        return
    if not isinstance(spec_list, (list, tuple)):
        raise ConfigError(f"{where}: must be a list of {{OpName: {{params}}}} entries")
    for i, entry in enumerate(spec_list):
        if isinstance(entry, str):
            entry = {entry: None}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where}[{i}]: each entry must be a single {{OpName: {{params}}}} mapping, "
                              f"got {entry!r}")
        (name, params), = entry.items()
        yield i, name, params


def build_transforms(spec_list, where="transform_ops"):
    """Compose from a PaddleClas `transform_ops` list; None or [] means [DecodeImage]."""
    ops = [TRANSFORMS.build(name, params, f"{where}[{i}]") for i, name, params in iter_op_specs(spec_list, where)]
    if not ops:
        ops = [DecodeImage()]
    return Compose(ops, where)


TRANSFORMS = Registry("op", {
    "DecodeImage": DecodeImage,
    "ResizeImage": ResizeImage,
    "CropImage": CropImage,
    "RandCropImage": RandCropImage,
    "RandFlipImage": RandFlipImage,
    "NormalizeImage": NormalizeImage,
    "ToCHWImage": ToCHWImage,
    "RandomErasing": RandomErasing,
    "AutoAugment": AutoAugment,  # the PIL-policy augmenters live in autoaugment.py
    "RandAugment": RandAugment,
    "TimmAutoAugment": TimmAutoAugment,
})
