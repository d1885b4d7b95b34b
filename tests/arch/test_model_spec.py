"""Per-variant model specs (issue 11, item 2): each variant's input size, eval preprocessing and published weight
URLs, declared once in its family's table, and read by quick-mode eval, infer and export."""
import csv
import os
import re

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.arch.registry import list_models, model_spec
from ppcls_lite.data.constants import IMAGENET_MEAN, IMAGENET_STD
from ppcls_lite.data.transforms import build_transforms
from ppcls_lite.engine.trained_model import describe_weights, image_shape_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIGURES = os.path.join(ROOT, "tests", "fixtures", "model_figures.csv")  # PaddleClas 2.6.0 facts
HOST = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
JPEG = os.path.join(ROOT, "dataset", "cifar10_mini", "val")

# Variants PaddleClas 2.6 does not have (its MODEL_URLS and configs name none of them).
NOT_IN_PADDLECLAS = {"ViT_huge_patch14_224", "ViT_base_patch16_224_in21k", "ViT_base_patch32_224_in21k",
                     "ViT_large_patch16_224_in21k", "ViT_huge_patch14_224_in21k", "ViT_hybrid_base_r50_224",
                     "ViT_hybrid_base_r50_384"}
# PaddleClas's model zoo lists SSLD weights for these six of our variants only.
SSLD = {"ResNet34_vd", "ResNet50_vd", "ResNet101_vd", "Res2Net50_vd_26w_4s", "Res2Net101_vd_26w_4s",
        "Res2Net200_vd_26w_4s"}


def test_input_size_agrees_with_the_reference_figures():
    rows = list(csv.DictReader(open(FIGURES)))
    assert len(rows) == 51
    for row in rows:
        assert model_spec(row["model"]).input_size == int(row["input_size"]), row["model"]


def test_every_url_is_paddleclas_s_file_of_that_variant():
    for name in list_models():
        spec = model_spec(name)
        if name in NOT_IN_PADDLECLAS:
            assert spec.weights == {}, name
            with pytest.raises(ValueError, match="no standard weights are published for this variant "
                                                 r"\(published: none\)"):
                spec.weight_url()
            continue
        folder = "legendary_models/" if name.startswith(("ResNet", "SwinTransformer")) \
            and not name.startswith("ResNeXt") else ""
        for kind, url in spec.weights.items():
            suffix = {"standard": "", "ssld": "_ssld", "22kto1k": "_22kto1k", "dbb": "_dbb"}[kind]
            assert url == f"{HOST}{folder}{name}{suffix}_pretrained.pdparams", (name, kind)
        assert ("ssld" in spec.weights) == (name in SSLD), name
        assert ("dbb" in spec.weights) == (name == "ResNet18"), name  # ResNet18_dbb: layer_type DiverseBranchBlock
        assert spec.weight_url() == spec.weights[spec.default_weights]


def test_paddleclas_config_facts_per_family():
    """The numbers of PaddleClas 2.6's ppcls/configs/ImageNet/<Family>/<variant>.yaml (DataLoader.Eval)."""
    half = (0.5, 0.5, 0.5)
    expected = {
        "ResNet50_vd": (224, 256, None, "cv2", IMAGENET_MEAN),
        "ResNeXt101_32x48d_wsl": (224, 256, None, "cv2", IMAGENET_MEAN),
        "Res2Net200_vd_26w_4s": (224, 256, None, "cv2", IMAGENET_MEAN),
        "ViT_base_patch16_224": (224, 256, None, "cv2", half),
        "ViT_large_patch32_384": (384, 384, None, "cv2", half),
        "DeiT_tiny_patch16_224": (224, 256, "bicubic", "pil", IMAGENET_MEAN),
        "DeiT_base_distilled_patch16_384": (384, 438, "bicubic", "pil", IMAGENET_MEAN),
        "SwinTransformer_tiny_patch4_window7_224": (224, 256, "bicubic", "pil", IMAGENET_MEAN),
        "SwinTransformer_large_patch4_window12_384": (384, 438, "bicubic", "pil", IMAGENET_MEAN),
        "ConvNeXt_tiny": (224, 256, "bicubic", "pil", IMAGENET_MEAN),
        "ConvNeXt_large_384": (384, 384, "bicubic", "pil", IMAGENET_MEAN),
    }
    for name, (size, short, interpolation, backend, mean) in expected.items():
        spec = model_spec(name)
        got = (spec.input_size, spec.resize_short, spec.interpolation, spec.backend, tuple(spec.mean))
        assert got == (size, short, interpolation, backend, mean), name
        assert tuple(spec.std) == (half if mean == half else IMAGENET_STD), name
    # the ops are PaddleClas's Eval transform_ops, written as its config writes them
    assert model_spec("DeiT_base_patch16_384").eval_transform_ops() == [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": 438, "interpolation": "bicubic", "backend": "pil"}},
        {"CropImage": {"size": 384}},
        {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                            "order": ""}},
        {"ToCHWImage": None},
    ]


def test_weights_where_paddleclas_publishes_other_kinds():
    large = model_spec("SwinTransformer_large_patch4_window7_224")
    # PaddleClas's Swin-large factories load the ImageNet-22k->1k file by default; it publishes no other
    assert set(large.weights) == {"22kto1k"} and large.default_weights == "22kto1k"
    assert large.weight_url().endswith("/legendary_models/SwinTransformer_large_patch4_window7_224_22kto1k_"
                                       "pretrained.pdparams")
    base = model_spec("SwinTransformer_base_patch4_window12_384")
    assert set(base.weights) == {"standard", "22kto1k"} and base.default_weights == "standard"
    with pytest.raises(ValueError, match=r"no ssld weights .* \(published: 22kto1k, standard\)"):
        base.weight_url("ssld")
    assert model_spec("ResNet50_vd").weight_url("ssld") == \
        HOST + "legendary_models/ResNet50_vd_ssld_pretrained.pdparams"
    # PaddleClas's MODEL_URLS misnames this one file ("..._32x16_wsl"); the spec uses the model zoo's link
    assert model_spec("ResNeXt101_32x16d_wsl").weight_url() == HOST + "ResNeXt101_32x16d_wsl_pretrained.pdparams"


def test_eval_ops_decode_a_real_image_to_the_variant_s_input():
    path = os.path.join(JPEG, sorted(os.listdir(JPEG))[0])
    path = os.path.join(path, sorted(os.listdir(path))[0]) if os.path.isdir(path) else path
    data = open(path, "rb").read()
    for name, size in (("DeiT_base_patch16_384", 384), ("ResNet18", 224)):
        out = build_transforms(model_spec(name).eval_transform_ops())(data)
        assert out.shape == (3, size, size) and out.dtype == np.float32
    small = model_spec("DeiT_base_patch16_384").at_size(96)
    assert (small.input_size, small.resize_short, small.interpolation) == (96, 110, "bicubic")
    assert build_transforms(small.eval_transform_ops())(data).shape == (3, 96, 96)


def test_quick_mode_without_checkpoint_info_uses_the_variant_s_spec(tmp_path):
    model = ppcls_lite.build_model("DeiT_tiny_patch16_224", class_num=7)
    weights = str(tmp_path / "deit.pdparams")
    paddle.save(model.state_dict(), weights)
    trained = describe_weights(weights, "DeiT_tiny_patch16_224")
    assert trained.eval_transforms == model_spec("DeiT_tiny_patch16_224").eval_transform_ops()
    assert trained.class_num == 7
    assert re.search(r"DeiT_tiny_patch16_224's \(no checkpoint info\): resize 256 / crop 224, bicubic \(pil\)",
                     trained.preprocessing), trained.preprocessing
    sized = describe_weights(weights, "DeiT_tiny_patch16_224", img_size=112)
    assert sized.eval_transforms[1] == {"ResizeImage": {"resize_short": 128, "interpolation": "bicubic",
                                                        "backend": "pil"}}
    assert sized.eval_transforms[2] == {"CropImage": {"size": 112}}


def test_export_and_infer_sizes_default_to_the_spec(tmp_path):
    assert image_shape_of({"Global": {}, "Arch": {"name": "ViT_base_patch16_384"}}) == [3, 384, 384]
    assert image_shape_of({"Global": {"image_shape": None}, "Arch": {"name": "ResNet18", "in_channels": 1}}) \
        == [1, 224, 224]
    assert image_shape_of({"Global": {"image_shape": [3, 32, 32]}, "Arch": {"name": "ConvNeXt_base_384"}}) \
        == [3, 32, 32]
    # infer from a config without Infer.transforms: ViT's mean/std 0.5 at the config's size
    tiny = dict(embed_dim=32, depth=1, num_heads=2, img_size=32, class_num=3)
    model = ppcls_lite.build_model("ViT_base_patch16_384", **tiny)
    weights = str(tmp_path / "vit.pdparams")
    paddle.save(model.state_dict(), weights)
    images = tmp_path / "images"
    images.mkdir()
    first = sorted(os.listdir(JPEG))[0]
    src = os.path.join(JPEG, first)
    src = os.path.join(src, sorted(os.listdir(src))[0]) if os.path.isdir(src) else src
    (images / "a.jpg").write_bytes(open(src, "rb").read())
    cfg = {"Global": {"pretrained_model": weights, "device": "cpu", "image_shape": [3, 32, 32]},
           "Arch": {"name": "ViT_base_patch16_384", **tiny}, "Infer": {"infer_imgs": str(images)}}
    path = tmp_path / "infer.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = ppcls_lite.predict_config(str(path))
    assert run.preprocessing == ("ViT_base_patch16_384's at 32: resize 32 / crop 32, bilinear (cv2), "
                                 "mean [0.5, 0.5, 0.5] std [0.5, 0.5, 0.5]")
    records = list(run)
    assert len(records) == 1 and len(records[0]["class_ids"]) == 3
