"""Test-time augmentation (issue 15, item 1): five-crop takes the eval crop at the centre and the four corners
and averages the logits; flip averages an image with its mirror image."""
import copy

import numpy as np
import paddle
import pytest

import ppcls_lite
from ppcls_lite.data import build_dataloader
from ppcls_lite.data.transforms import CropImage, five_crop_ops
from ppcls_lite.engine.evaluator import MultiViewLoader, evaluate
from ppcls_lite.errors import ConfigError
from tests.engine.conftest import DATA, _subset_list


def test_crop_positions_by_hand():
    img = np.arange(6 * 8).reshape(6, 8)
    assert np.array_equal(CropImage(4)(img), img[1:5, 2:6])
    assert np.array_equal(CropImage(4, "top_left")(img), img[0:4, 0:4])
    assert np.array_equal(CropImage(4, "top_right")(img), img[0:4, 4:8])
    assert np.array_equal(CropImage(4, "bottom_left")(img), img[2:6, 0:4])
    assert np.array_equal(CropImage(4, "bottom_right")(img), img[2:6, 4:8])
    with pytest.raises(ValueError, match="position must be one of center"):
        CropImage(4, "middle")
    with pytest.raises(ConfigError, match=r"^--tta five_crop: x needs one CropImage to move \(it has 0\)"):
        five_crop_ops([{"ResizeImage": {"size": 32}}], "x")


def test_five_crop_is_the_mean_of_the_five_crops_logits(tmp_path):
    paddle.seed(0)
    model = ppcls_lite.build_model("ResNet18", class_num=10, base_channels=8)
    norm = {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5] * 3, "std": [0.25] * 3, "order": ""}}
    section = {"dataset": {"name": "ImageNetDataset", "image_root": DATA,
                           "cls_label_path": _subset_list(str(tmp_path / "val.txt"), "val", 2),
                           "transform_ops": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                             {"ResizeImage": {"resize_short": 40}}, {"CropImage": {"size": 32}},
                                             norm, {"ToCHWImage": None}]},
               "sampler": {"name": "DistributedBatchSampler", "batch_size": 6, "drop_last": False, "shuffle": False},
               "loader": {"num_workers": 0, "use_shared_memory": False}}
    loaders = []
    for ops in five_crop_ops(section["dataset"]["transform_ops"]):
        view = copy.deepcopy(section)
        view["dataset"]["transform_ops"] = ops
        loaders.append(build_dataloader(view, "Eval", seed=0, num_replicas=1, rank=0, lockstep=False))
    single = [evaluate(model, loader, 10, keep_logits=True).samples["logits"] for loader in loaders]
    assert all(np.abs(single[0] - other).max() > 1e-4 for other in single[1:])  # the crops differ
    combined = evaluate(model, MultiViewLoader(loaders), 10, keep_logits=True, tta="five_crop")
    np.testing.assert_allclose(combined.samples["logits"], np.mean(single, axis=0), rtol=1e-5, atol=1e-5)
    assert combined.num_samples == 20
