import cv2
import numpy as np
import pytest
from PIL import Image

from ppcls_lite.data import TRANSFORMS, build_transforms, decode_image, parse_number
from ppcls_lite.data.autoaugment import posterize
from ppcls_lite.data.transforms import (CropImage, DecodeImage, NormalizeImage, RandCropImage, RandFlipImage,
                                        RandomErasing, ResizeImage, ToCHWImage)
from ppcls_lite.errors import ConfigError

from .conftest import gradient, jpeg_bytes

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def rng(seed=0):
    return np.random.default_rng(seed)


def test_parse_number_without_eval():
    assert parse_number("1.0/255.0") == 1.0 / 255.0
    assert parse_number(" 1 / 255 ") == 1.0 / 255.0
    assert parse_number("0.25") == 0.25 and parse_number(3) == 3.0 and parse_number("1e-3") == 1e-3
    for bad in ("__import__('os')", "1/0", "abc", "1/2/3", True, None):
        with pytest.raises(ValueError):
            parse_number(bad)


def test_registry_names():
    assert set(TRANSFORMS) == {"DecodeImage", "ResizeImage", "CropImage", "RandCropImage", "RandFlipImage",
                               "NormalizeImage", "ToCHWImage", "AutoAugment", "RandAugment", "TimmAutoAugment",
                               "RandomErasing", "ColorJitter", "PCALighting"}


def test_normalize_matches_hand_computation():
    img = gradient(6, 5)
    out = NormalizeImage(scale="1.0/255.0", mean=MEAN, std=STD, order="")(img)
    assert out.shape == (6, 5, 3) and out.dtype == np.float32
    for c in range(3):
        expect = (img[:, :, c].astype(np.float32) * np.float32(1 / 255.0) - np.float32(MEAN[c])) / np.float32(STD[c])
        np.testing.assert_allclose(out[:, :, c], expect, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[2, 3], (img[2, 3] / 255.0 - np.array(MEAN)) / np.array(STD), atol=1e-5)
    chw = NormalizeImage(scale="1.0/255.0", mean=MEAN, std=STD, order="chw")(img.transpose(2, 0, 1))
    np.testing.assert_array_equal(chw, out.transpose(2, 0, 1))
    four = NormalizeImage(order="", channel_num=4, output_fp16=True)(img)
    assert four.shape == (6, 5, 4) and four.dtype == np.float16 and not four[:, :, 3].any()


def test_normalize_then_chw_fused_gives_the_two_ops_output():
    img = rng(4).integers(0, 256, (19, 23, 3), dtype=np.uint8)
    for kw in ({}, {"output_fp16": True}, {"channel_num": 4}, {"scale": 1 / 127.5, "mean": [1, 1, 1], "std": [1, 1, 1]}):
        norm = NormalizeImage(order="", **kw)
        expected = ToCHWImage()(norm(img))
        pipeline = build_transforms([{"DecodeImage": None}, {"NormalizeImage": dict(order="", **kw)},
                                     {"ToCHWImage": None}])
        for arr in (img, img.astype(np.float32)):  # uint8 takes the fused path, float32 the two ops
            out = pipeline(arr)
            assert out.dtype == expected.dtype and out.flags.c_contiguous
            np.testing.assert_array_equal(out, expected if arr.dtype == np.uint8 else ToCHWImage()(norm(arr)))
    assert NormalizeImage(order="").to_chw(img).shape == (3, 19, 23)
    assert NormalizeImage(order="", output_fp16=True).to_chw(img) is None


def test_normalize_order_checked_against_layout():
    with pytest.raises(ConfigError, match=r"transform_ops\[1\]\.NormalizeImage: order 'chw' expects a CHW image"):
        build_transforms([{"DecodeImage": None}, {"NormalizeImage": None}])
    pipe = build_transforms([{"DecodeImage": None}, {"ToCHWImage": None}, {"NormalizeImage": {"order": "chw"}}])
    assert pipe.out_layout == "chw"


def test_crop_image_center():
    img = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)
    np.testing.assert_array_equal(CropImage(4)(img), img[2:6, 3:7])
    np.testing.assert_array_equal(CropImage([5, 3])(img), img[2:5, 2:7])  # [w, h] as PaddleClas
    with pytest.raises(ValueError, match="smaller than the crop"):
        CropImage(12)(img)


def test_resize_short_matches_hand_computation():
    img = gradient(333, 500)
    out = ResizeImage(resize_short=256)(img)
    # percent = 256 / 333; w = round(500 * percent) = 384, h = round(333 * percent) = 256
    assert out.shape == (256, 384, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, cv2.resize(img, (384, 256), interpolation=cv2.INTER_LINEAR))
    pil = ResizeImage(resize_short=256, interpolation="bicubic", backend="pil")(img)
    np.testing.assert_array_equal(pil, np.array(Image.fromarray(img).resize((384, 256), Image.BICUBIC)))
    assert ResizeImage(size=[20, 10])(img).shape == (10, 20, 3)
    with pytest.raises(ConfigError, match=r"ResizeImage: interpolation 'cubic' is not one of"):
        build_transforms([{"DecodeImage": None}, {"ResizeImage": {"resize_short": 8, "interpolation": "cubic"}}])


def test_rand_crop_is_deterministic_per_generator():
    img = gradient(60, 80)
    op = RandCropImage(size=32)
    a, b = op(img, rng(5)), op(img, rng(5))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, op(img, rng(s))) for s in range(6, 10))
    for s in range(200):  # crop always inside the image, area fraction within scale (up to int truncation)
        x, y, w, h = op.crop_box(80, 60, rng(s))
        assert 0 <= x <= 80 - w and 0 <= y <= 60 - h
        assert 0.08 * 0.8 <= w * h / 4800 <= 1.0
    with pytest.raises(ValueError):
        op(img)  # random ops need an explicit generator


def test_rand_flip_and_chw():
    img = gradient(4, 6)
    outs = [RandFlipImage(1)(img, rng(s)) for s in range(20)]
    flips = [np.array_equal(o, img[:, ::-1]) for o in outs]
    assert all(f or np.array_equal(o, img) for f, o in zip(flips, outs)) and 0 < sum(flips) < 20
    assert np.array_equal(RandFlipImage(-1)(img, _always_one()), img[::-1, ::-1])
    assert ToCHWImage()(img).shape == (3, 4, 6)


class _always_one:
    def integers(self, *a, **k):
        return 1


def test_decode_options():
    data = jpeg_bytes(gradient())
    rgb = DecodeImage()(data)
    np.testing.assert_array_equal(DecodeImage(to_rgb=False)(data), rgb[:, :, ::-1])
    assert DecodeImage(channel_first=True)(data).shape == (3, 24, 32)


def test_draft_decoding_is_close_and_only_when_large_enough():
    big = cv2.resize(gradient(150, 200), (2000, 1500), interpolation=cv2.INTER_CUBIC)
    data = jpeg_bytes(big)
    seen = []
    decode_image(data, draft_request=lambda w, h: seen.append((w, h)) or (w / 4, h / 4))
    assert seen == [(2000, 1500)]
    assert decode_image(data, draft_request=lambda w, h: (w / 4, h / 4)).shape == (375, 500, 3)
    fast = build_transforms([{"DecodeImage": None}, {"ResizeImage": {"resize_short": 256}}])(data)
    exact = build_transforms([{"DecodeImage": {"draft": False}}, {"ResizeImage": {"resize_short": 256}}])(data)
    assert fast.shape == exact.shape == (256, 341, 3)
    assert np.abs(fast.astype(int) - exact).mean() < 1.5
    # target 800 -> would need >= 1600 px: no draft, identical output
    a = build_transforms([{"DecodeImage": None}, {"ResizeImage": {"resize_short": 800}}])(data)
    b = build_transforms([{"DecodeImage": {"draft": False}}, {"ResizeImage": {"resize_short": 800}}])(data)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", [
    {"AutoAugment": None},
    {"RandAugment": {"num_layers": 2, "magnitude": 5}},
    {"RandAugment": {"num_layers": 3, "magnitude": 1}},  # posterize with 0 bits must not crash
    {"TimmAutoAugment": {"config_str": "rand-m9-mstd0.5-inc1", "interpolation": "bicubic", "img_size": 32}},
    {"TimmAutoAugment": {"config_str": "rand-m10-n3-w0-mstd1", "interpolation": "random", "img_size": 32}},
    {"TimmAutoAugment": {"config_str": "augmix-m3-w3", "img_size": 32}},
    {"TimmAutoAugment": {"config_str": "augmix-m3-w2-b1", "img_size": 32}},
    {"TimmAutoAugment": {"config_str": "original-mstd0.5", "img_size": 32}},
    {"TimmAutoAugment": {"config_str": "v0r", "img_size": 32}},
])
def test_policy_augmenters(spec):
    op = build_transforms([{"DecodeImage": None}, spec]).ops[1]
    img = gradient(32, 32)
    outs = [op(img, rng(s)) for s in range(12)]
    assert all(o.shape == (32, 32, 3) and o.dtype == np.uint8 for o in outs)
    np.testing.assert_array_equal(op(img, rng(3)), outs[3])
    assert any(not np.array_equal(o, img) for o in outs)


def test_augmenter_config_errors():
    with pytest.raises(ConfigError, match=r"TimmAutoAugment: config_str 'rand-q9'.*unknown section"):
        build_transforms([{"DecodeImage": None}, {"TimmAutoAugment": {"config_str": "rand-q9"}}])
    with pytest.raises(ConfigError, match="must be before NormalizeImage|put it before NormalizeImage"):
        build_transforms([{"DecodeImage": None}, {"NormalizeImage": {"order": ""}}, {"AutoAugment": None}])


def test_posterize_zero_bits_is_black():
    img = Image.fromarray(gradient())
    assert not np.asarray(posterize(img, 0)).any()
    np.testing.assert_array_equal(np.asarray(posterize(img, 3)), np.asarray(img) & 0xE0)


def test_random_erasing():
    img = np.ones((20, 30, 3), np.float32)
    np.testing.assert_array_equal(RandomErasing(EPSILON=0.0)(img.copy(), rng()), img)
    out = RandomErasing(EPSILON=1.0, mean=[0.0, 0.0, 0.0])(img.copy(), rng(1))
    ys, xs = np.nonzero(out[:, :, 0] == 0)
    assert len(ys) and len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # one rectangle
    area = len(ys) / 600
    assert 0.01 < area < 0.45
    op = build_transforms([{"DecodeImage": None}, {"ToCHWImage": None},
                           {"RandomErasing": {"EPSILON": 1.0, "sh": "1.0/3.0", "mode": "pixel"}}]).ops[2]
    chw = op(np.ones((3, 20, 30), np.float32), rng(2))
    assert chw.shape == (3, 20, 30) and (chw != 1).any()


def test_build_errors_name_the_op():
    with pytest.raises(ConfigError, match=r"transform_ops\[1\]: unknown op 'Blur'"):
        build_transforms([{"DecodeImage": None}, {"Blur": None}])
    with pytest.raises(ConfigError, match=r"transform_ops\[1\]\.CropImage\.sise: unknown key; did you mean 'size'\?"):
        build_transforms([{"DecodeImage": None}, {"CropImage": {"sise": 3}}])
    with pytest.raises(ConfigError, match=r"transform_ops\[1\]\.CropImage\.size: required parameter of CropImage missing"):
        build_transforms([{"DecodeImage": None}, {"CropImage": None}])
    with pytest.raises(ConfigError, match=r"transform_ops\[0\]\.CropImage: needs a decoded image: DecodeImage must come first"):
        build_transforms([{"CropImage": {"size": 3}}])
    assert len(build_transforms(None).ops) == 1
