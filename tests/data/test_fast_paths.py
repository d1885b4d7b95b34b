"""The data pipeline's fast paths (simplejpeg decode, LUT normalisation, cv2 flip) keep the numbers of the plain
formulas and of PIL, bit for bit."""
import io

import numpy as np
import pytest
from PIL import Image

def test_lut_normalize_is_bit_identical():
    from ppcls_lite.data.transforms import NormalizeImage

    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    for order, img in (("", hwc), ("chw", np.ascontiguousarray(hwc.transpose(2, 0, 1)))):
        op = NormalizeImage(scale="1.0/255.0", mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], order=order)
        plain = (img.astype(np.float32) * op.scale - op.mean) / op.std
        out = op(img)
        assert out.dtype == np.float32 and np.array_equal(out, plain)
    # float input keeps the formula
    f = hwc.astype(np.float32) / 3
    op = NormalizeImage(order="")
    assert np.array_equal(op(f), (f * op.scale - op.mean) / op.std)


def test_cv2_flip_matches_numpy():
    from ppcls_lite.data.transforms import RandFlipImage

    img = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for code, ref in ((1, img[:, ::-1]), (0, img[::-1]), (-1, img[::-1, ::-1])):
        op = RandFlipImage(flip_code=code)
        outs = [op(img, np.random.default_rng(s)) for s in range(8)]
        assert any(np.array_equal(o, ref) for o in outs) and all(
            np.array_equal(o, ref) or np.array_equal(o, img) for o in outs)


def test_fast_jpeg_decode_matches_pil():
    from ppcls_lite.data import image_io

    rng = np.random.default_rng(3)
    for mode, shape in (("RGB", (21, 34, 3)), ("L", (21, 34))):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "JPEG", quality=85)
        data = buf.getvalue()
        assert image_io._decode_plain_jpeg(data, None) is not None  # the fast path ran
        pil = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
        assert np.array_equal(image_io.decode_image(data), pil)
    with pytest.raises(image_io.ImageDecodeError):  # truncated: still PIL's verdict
        image_io.decode_image(data[: len(data) // 2])


def test_fast_jpeg_decode_exif_and_draft_agree_with_pil():
    from ppcls_lite.data import image_io

    arr = np.random.default_rng(5).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    for orientation, fast in ((1, True), (6, False)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90, exif=exif.tobytes())
        data = buf.getvalue()
        assert image_io._has_exif(data)
        assert (image_io._decode_plain_jpeg(data, None) is not None) == fast  # a rotation is left to PIL
        pil = Image.open(io.BytesIO(data))
        pil = np.array((pil if orientation == 1 else pil.transpose(Image.Transpose.ROTATE_270)).convert("RGB"))
        assert np.array_equal(image_io.decode_image(data), pil)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    assert not image_io._has_exif(data)
    for req, size in (((100, 70), (105, 75)), ((200, 140), (210, 150)), ((50, 30), (53, 38)), ((400, 10), None)):
        drafted = Image.open(io.BytesIO(data))
        drafted.draft("RGB", req)
        fast = image_io._decode_plain_jpeg(data, lambda w, h: req)
        assert np.array_equal(fast, np.array(drafted.convert("RGB")))  # the same DCT scale and pixels as PIL
        assert fast.shape[:2][::-1] == (size or (420, 300))
