"""Image decoding with PIL: bytes -> uint8 RGB HWC, EXIF-oriented, any common mode, optional JPEG draft."""
import io
import math
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError

__all__ = ["decode_image", "ImageDecodeError"]


class ImageDecodeError(DataError):
    """The bytes of one image cannot be decoded (the dataset adds the file name)."""


_EXIF_ORIENTATION = 0x0112

# PIL reports damaged metadata ("Possibly corrupt EXIF data", "Tag data larger than file", ...) and large images
# (DecompressionBombWarning) as warnings and decodes on; real failures raise. Silenced by filters installed once
# here, narrowly (UserWarnings raised inside PIL's Image / format-plugin modules, and PIL's own
# DecompressionBombWarning), not by warnings.catch_warnings() per decode: entering and leaving catch_warnings
# invalidates every module's warning registry, so once-only warnings from elsewhere (Paddle's BatchNorm one, ...)
# were printed again at every step with num_workers=0.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.(Image|ImageFile|\w+ImagePlugin)$")
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _to_rgb_uint8(img):
    mode = img.mode
    if mode == "RGB":
        return np.array(img)
    if mode.startswith("I;16") or mode == "I":
        arr = np.array(img).astype(np.float64)
        if mode == "I" and arr.size and arr.max() <= 255 and arr.min() >= 0:
            gray = arr
        else:  # 16-bit range -> 8 bits (0..65535 onto 0..255)
            gray = np.clip(arr, 0, 65535) / 257.0
        gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        with np.errstate(invalid="ignore"):  # NaN pixels: numpy's cast warning, not the warnings registry
            gray = np.clip(np.rint(np.array(img)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("P", "PA") and "transparency" in img.info:
        img = img.convert("RGBA")  # avoids PIL's palette-transparency warning; alpha is dropped below
    # RGBA/LA/PA keep their colour channels and drop alpha, as cv2.imdecode(IMREAD_COLOR) does in PaddleClas.
    return np.array(img.convert("RGB"))


def _decode_plain_jpeg(data, img):
    """cv2.imdecode for the common case, a complete RGB or grayscale JPEG with no EXIF rotation and
    no draft: the same libjpeg pixels as PIL's path, about twice as fast (PIL's array hand-over costs a copy).
    Returns None whenever PIL must decide (anything else, or an image cv2 cannot read)."""
    if img.format != "JPEG" or img.mode not in ("RGB", "L") or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None  # a JPEG without its end marker is truncated: PIL reports it, cv2 would pad it with grey
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.shape != (img.size[1], img.size[0], 3):
        return None
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def decode_image(data, draft_request=None):
    """Decode image bytes to a contiguous uint8 RGB HWC array.

    EXIF orientation is applied; grayscale, palette, CMYK, RGBA and 16-bit images become 8-bit RGB.
    `draft_request(w, h) -> (w', h') | None` (w, h in display orientation) lets a JPEG be decoded at a reduced
    DCT scale no smaller than (w', h'). Raises ImageDecodeError for anything that is not a readable image.
    """
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
        orientation = 1
        try:
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        except Exception:  # unreadable EXIF is not an unreadable image
            orientation = 1
        drafted = False
        if draft_request is not None and img.format == "JPEG":
            w, h = img.size
            swapped = orientation in (5, 6, 7, 8)
            req = draft_request(h, w) if swapped else draft_request(w, h)
            if req is not None:
                rw, rh = (req[1], req[0]) if swapped else req
                if rw < w or rh < h:
                    img.draft("RGB", (max(1, int(math.ceil(rw))), max(1, int(math.ceil(rh)))))
                    drafted = img.size != (w, h)
        if orientation == 1 and not drafted:
            arr = _decode_plain_jpeg(data, img)
            if arr is not None:
                return arr
        img.load()
        if orientation != 1:
            img = ImageOps.exif_transpose(img)
        arr = _to_rgb_uint8(img)
    except ImageDecodeError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...) on corrupt data
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(f"cannot decode image ({type(exc).__name__}: {msg})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"decoded to an unexpected shape {arr.shape}")
    return np.ascontiguousarray(arr)
