"""ColorJitter and PCALighting (issue 12, item 1: PaddleClas's ResNet18_dbb recipe uses them): the same pixels
as paddle.vision's functional adjustments that PaddleClas's ColorJitter wraps, and PaddleClas's lighting formula,
with every draw from the sample's Generator."""
import numpy as np
import paddle.vision.transforms.functional as PF
import pytest
from PIL import Image

from ppcls_lite.config import ConfigError
from ppcls_lite.data.color_ops import ColorJitter, PCALighting
from ppcls_lite.data.transforms import build_transforms

IMG = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)


def _replay(seed, jitter):
    """The draws ColorJitter makes, in its order: prob, the permutation, one factor per step."""
    rng = np.random.default_rng(seed)
    rng.random()
    steps = [n for n in ("brightness", "contrast", "saturation", "hue") if getattr(jitter, n) is not None]
    order = [steps[int(i)] for i in rng.permutation(len(steps))]
    return [(name, float(rng.uniform(*getattr(jitter, name)))) for name in order]


@pytest.mark.parametrize("kwargs", [dict(brightness=0.4), dict(contrast=0.4), dict(saturation=0.4),
                                    dict(hue=0.4), dict(brightness=0.4, saturation=0.4, hue=0.4)])
def test_color_jitter_equals_paddle_vision_functional(kwargs):
    jitter = ColorJitter(**kwargs)
    functional = {"brightness": PF.adjust_brightness, "contrast": PF.adjust_contrast,
                  "saturation": PF.adjust_saturation, "hue": PF.adjust_hue}
    for seed in range(4):
        want = Image.fromarray(IMG)
        for name, factor in _replay(seed, jitter):
            want = functional[name](want, factor)
        got = jitter(IMG, np.random.default_rng(seed))
        assert got.dtype == np.uint8 and got.shape == IMG.shape
        np.testing.assert_array_equal(got, np.asarray(want), err_msg=f"{kwargs} seed {seed}")


def test_color_jitter_probability_and_ranges():
    assert ColorJitter(prob=0.0, brightness=0.4)(IMG, np.random.default_rng(0)) is IMG
    assert ColorJitter(brightness=1.5).brightness == (0.0, 2.5)  # factors never below 0
    with pytest.raises(ValueError, match="hue must be in"):
        ColorJitter(hue=0.6)
    with pytest.raises(ConfigError, match=r"^t\[2\].ColorJitter: works on uint8 images; put it before "
                                          r"NormalizeImage \(and PCALighting\)"):
        build_transforms([{"DecodeImage": None}, {"PCALighting": None}, {"ColorJitter": {"hue": 0.1}}], where="t")


def test_pca_lighting_is_paddleclas_s_formula():
    op = PCALighting()
    got = op(IMG, np.random.default_rng(5))
    alpha = np.random.default_rng(5).normal(0, 0.1, size=3).astype(np.float32)
    eigval = np.array([0.2175, 0.0188, 0.0045], np.float32)
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]],
                      np.float32)
    # PaddleClas: rgb = (eigvec * alpha * eigval broadcast over rows).sum(1), added per channel
    rgb = (eigvec * np.broadcast_to(alpha.reshape(1, 3), (3, 3)) * np.broadcast_to(eigval.reshape(1, 3), (3, 3)))
    want = (IMG.transpose(2, 0, 1) + rgb.sum(1).reshape(3, 1, 1)).transpose(1, 2, 0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert PCALighting(alphastd=0)(IMG, np.random.default_rng(0)) is IMG


def test_the_dbb_recipe_pipeline_runs_on_a_real_jpeg():
    import os

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "dataset", "cifar10_mini", "train", "cat")
    data = open(os.path.join(root, sorted(os.listdir(root))[0]), "rb").read()
    ops = build_transforms([
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"RandCropImage": {"size": 24}}, {"RandFlipImage": {"flip_code": 1}},
        {"ColorJitter": {"brightness": 0.4, "saturation": 0.4, "hue": 0.4}}, {"PCALighting": None},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                            "order": ""}}, {"ToCHWImage": None}])
    out = ops(data, np.random.default_rng(1))
    assert out.shape == (3, 24, 24) and out.dtype == np.float32 and np.isfinite(out).all()
