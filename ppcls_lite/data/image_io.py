"""Image bytes -> uint8 RGB HWC: EXIF-oriented, any common mode, optional JPEG draft.

Plain JPEGs go through libjpeg-turbo via simplejpeg, everything else through PIL."""
import io
import math
import re
import warnings

import numpy as np
import simplejpeg
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


def _has_exif(data):
    """Whether a JPEG's header segments (before the first scan) include an APP1 Exif block."""
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: no more header segments
            return False
        if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\0\0":
            return True
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return False


def _draft_scale(w, h, req):
    """PIL's JPEG draft rule: the largest of 8, 4, 2, 1 that keeps the image at least `req` (w', h')."""
    rw, rh = max(1, int(math.ceil(req[0]))), max(1, int(math.ceil(req[1])))
    if rw >= w and rh >= h:
        return 1
    fit = min(w // rw, h // rh)
    return next(s for s in (8, 4, 2, 1) if fit >= s)


def _decode_plain_jpeg(data, draft_request):
    """libjpeg-turbo through simplejpeg for the common case, a complete YCbCr or grayscale JPEG that no EXIF
    orientation rotates: the same pixels as PIL (and as PaddleClas's cv2.imdecode), in the same DCT-scaled size
    as PIL's draft, without PIL's header parsing and array copy or cv2's BGR->RGB pass (~0.5 ms less per
    500x375 photo). Returns None whenever PIL must decide (anything else, or anything libjpeg complains about)."""
    if data[:3] != b"\xff\xd8\xff" or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None  # not a JPEG, or one without its end marker (truncated: PIL reports it)
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray") or (_has_exif(data) and _exif_orientation(data) != 1):
            return None
        scale = 1
        if draft_request is not None:
            req = draft_request(w, h)
            scale = 1 if req is None else _draft_scale(w, h, req)
        if scale == 1:
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        return simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=-(-w // scale), min_height=-(-h // scale),
                                      min_factor=scale)
    except ValueError:  # strict libjpeg: any warning (corrupt data, ...) -> PIL's verdict
        return None


def _exif_orientation(data_or_img):
    """The EXIF orientation tag (1 = upright) of image bytes or an open PIL image; 1 when unreadable."""
    try:
        img = Image.open(io.BytesIO(data_or_img)) if isinstance(data_or_img, (bytes, bytearray)) else data_or_img
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # unreadable EXIF is not an unreadable image
        return 1


_BYTESIO = re.compile(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


def decode_image(data, draft_request=None):
    """Decode image bytes to a contiguous uint8 RGB HWC array.

    EXIF orientation is applied; grayscale, palette, CMYK, RGBA and 16-bit images become 8-bit RGB.
    `draft_request(w, h) -> (w', h') | None` (w, h in display orientation) lets a JPEG be decoded at a reduced
    DCT scale no smaller than (w', h'). Raises ImageDecodeError for anything that is not a readable image.
    """
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    arr = _decode_plain_jpeg(data, draft_request)
    if arr is not None:
        return arr
    try:
        img = Image.open(io.BytesIO(data))
        orientation = _exif_orientation(img)
        if draft_request is not None and img.format == "JPEG":
            w, h = img.size
            swapped = orientation in (5, 6, 7, 8)
            req = draft_request(h, w) if swapped else draft_request(w, h)
            if req is not None:
                rw, rh = (req[1], req[0]) if swapped else req
                if rw < w or rh < h:
                    img.draft("RGB", (max(1, int(math.ceil(rw))), max(1, int(math.ceil(rh)))))
        img.load()
        if orientation != 1:
            img = ImageOps.exif_transpose(img)
        arr = _to_rgb_uint8(img)
    except ImageDecodeError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...) on corrupt data
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = _BYTESIO.sub("", msg)  # PIL names the in-memory buffer; the caller names the file
        raise ImageDecodeError(f"cannot decode image ({type(exc).__name__}: {msg})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"decoded to an unexpected shape {arr.shape}")
    return np.ascontiguousarray(arr)
