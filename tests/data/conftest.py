import io
import os

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CIFAR = os.path.join(ROOT, "dataset", "cifar10_mini")
IMAGENET_SAMPLE = os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenet_sample_100")
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

EVAL_OPS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"ResizeImage": {"resize_short": 36}},
    {"CropImage": {"size": 32}},
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                        "order": ""}},
]


def jpeg_bytes(arr, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def gradient(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(np.uint8)


@pytest.fixture
def cifar():
    return CIFAR


@pytest.fixture
def imagenet_sample():
    if not os.path.isdir(IMAGENET_SAMPLE):
        pytest.skip("optional shared folder ../shared/data/imagenet_sample_100 is absent")
    return IMAGENET_SAMPLE


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture
def small_tree(tmp_path):
    """tmp ImageFolder tree: 2 classes x 3 good 24x32 JPEGs; returns its root."""
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(3):
            write(str(tmp_path / "tree" / c / f"{i}.jpg"), jpeg_bytes(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)))
    return str(tmp_path / "tree")
