"""Per-sample transform ops with PaddleClas 2.6.0 names, parameters and numerics.

Every op is called as `op(img, rng)`: `rng` is the numpy Generator of the sample (see `rng.py`); deterministic
ops ignore it. Images stay uint8 HWC RGB until NormalizeImage turns them into float32.

A pipeline is built from a PaddleClas `transform_ops` list with `build_transforms`; the resulting `Compose`
checks the data layout statically (bytes -> HWC -> CHW), so e.g. a NormalizeImage whose `order` does not match
the layout it receives is reported when the dataset is built, not half-way through the first epoch.
"""
import math

import cv2
import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..registry import Registry
from .autoaugment import AutoAugment, RandAugment
from .color_ops import ColorJitter, PCALighting
from .image_io import ImageDecodeError, decode_image
from .op_base import TransformOp, pair as _pair, parse_number
from .pixel_ops import NormalizeImage, RandomErasing, ToCHWImage, _NormalizeToCHW
from .timm_augment import TimmAutoAugment

__all__ = [
    "TRANSFORMS", "Compose", "build_transforms", "parse_number", "decode_image", "ImageDecodeError",
    "DecodeImage", "ResizeImage", "CropImage", "RandCropImage", "RandFlipImage", "NormalizeImage", "ToCHWImage",
    "RandomErasing", "AutoAugment", "RandAugment", "TimmAutoAugment",
]


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
            return _keep_channel_axis(cv2.resize(img, (w, h), interpolation=flag), img)
        single = img.ndim == 3 and img.shape[2] == 1
        out = np.array(Image.fromarray(img[:, :, 0] if single else img).resize((w, h), flag))
        return _keep_channel_axis(out, img)


def _keep_channel_axis(out, img):
    """cv2 and PIL hand a one-channel HxWx1 image back as HxW: give it its channel axis back."""
    return out[:, :, None] if img.ndim == 3 and out.ndim == 2 else out


# ---------------------------------------------------------------------------------------------------------------
# ops


def _luma(rgb):
    """uint8 HxWx1 luminance of a uint8 RGB image, as PIL's convert("L") computes it (ITU-R 601-2)."""
    r, g, b = (rgb[:, :, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, :, None]


class DecodeImage(TransformOp):
    """Bytes -> uint8 RGB (or BGR with to_rgb=False) HWC (CHW with channel_first) via PIL; channels=1: one
    grayscale channel (HxWx1) for single-channel models.

    draft: let a large JPEG be decoded at 1/2, 1/4 or 1/8 scale when the op right after is a resize or random
    crop and the decoded image stays at least twice the size that op needs (exact enough, much faster).
    An ndarray input is taken as already-decoded RGB HWC uint8.
    """

    def __init__(self, to_rgb=True, to_np=True, channel_first=False, draft=True, channels=3):
        self.to_rgb = bool(to_rgb)
        self.to_np = bool(to_np)  # accepted for PaddleClas configs; output is always numpy
        self.channel_first = bool(channel_first)
        self.draft = bool(draft)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        self.channels = channels
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
        if self.channels == 1:
            arr = _luma(arr)
        elif not self.to_rgb:
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


CROP_POSITIONS = ("center", "top_left", "top_right", "bottom_left", "bottom_right")


class CropImage(TransformOp):
    """Crop to `size` (int or [w, h]): the centre, offsets (W - w) // 2, (H - h) // 2, as PaddleClas; or a corner
    (`position`, what five-crop test-time augmentation takes)."""

    def __init__(self, size, position="center"):
        self.size = _pair(size, "size")
        if position not in CROP_POSITIONS:
            raise ValueError(f"position must be one of {', '.join(CROP_POSITIONS)}, got {position!r}")
        self.position = position

    def __call__(self, img, rng=None):
        w, h = self.size
        img_h, img_w = img.shape[:2]
        if img_w < w or img_h < h:
            raise ValueError(f"CropImage: image {img_w}x{img_h} is smaller than the crop {w}x{h}")
        x0 = {"left": 0, "right": img_w - w}.get(self.position.split("_")[-1], (img_w - w) // 2)
        y0 = {"top": 0, "bottom": img_h - h}.get(self.position.split("_")[0], (img_h - h) // 2)
        return img[y0:y0 + h, x0:x0 + w]


def five_crop_ops(ops, where="transform_ops"):
    """The five copies of a transform list whose CropImage takes the centre and each corner (five-crop TTA)."""
    ops = list(ops or [])
    at = [i for i, op in enumerate(ops) if isinstance(op, dict) and next(iter(op), None) == "CropImage"]
    if len(at) != 1:
        raise ConfigError(f"--tta five_crop: {where} needs one CropImage to move (it has {len(at)})")
    out = []
    for position in CROP_POSITIONS:
        copy = [dict(op) if isinstance(op, dict) else op for op in ops]
        copy[at[0]] = {"CropImage": dict(ops[at[0]]["CropImage"] or {}, position=position)}
        out.append(copy)
    return out


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
            if img.ndim == 3 and img.shape[2] <= 4:  # same pixels as the numpy flip below, ~30x faster
                return _keep_channel_axis(cv2.flip(img, self.flip_code), img)
            if self.flip_code == 1:
                img = img[:, ::-1]
            elif self.flip_code == 0:
                img = img[::-1]
            else:
                img = img[::-1, ::-1]
            img = np.ascontiguousarray(img)
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
                    raise ValueError("works on uint8 images; put it before NormalizeImage (and PCALighting)")
            except ValueError as exc:
                raise ConfigError(f"{where}[{i}].{type(op).__name__}: {exc}") from None
            normalized = normalized or isinstance(op, NormalizeImage) or getattr(op, "makes_float", False)
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
    "AutoAugment": AutoAugment,  # the PIL-policy augmenters: autoaugment.py and timm_augment.py
    "RandAugment": RandAugment,
    "TimmAutoAugment": TimmAutoAugment,
    "ColorJitter": ColorJitter,  # PaddleClas's colour ops: color_ops.py
    "PCALighting": PCALighting,
})
