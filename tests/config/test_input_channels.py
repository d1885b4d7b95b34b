"""PaddleClas's channel keys (issue 12, item 1): Global.image_channel and Arch.input_image_channel (its ultra
configs train 4-channel NHWC ResNet50s) are read, agree with each other, and reach the model."""
import pytest

from ppcls_lite.config.validate import validate_config
from ppcls_lite.engine.trained_model import image_shape_of
from ppcls_lite.errors import ConfigError


def _validate(arch=None, **global_cfg):
    return validate_config({"Global": global_cfg, "Arch": {"name": "ResNet50", **(arch or {})}})


def test_input_image_channel_is_in_channels():
    cfg = _validate({"input_image_channel": 4})
    assert cfg["Arch"]["in_channels"] == 4 and "input_image_channel" not in cfg["Arch"]
    with pytest.raises(ConfigError, match=r"^Arch.input_image_channel: 4, but Arch.in_channels is 3; keep one"):
        _validate({"input_image_channel": 4, "in_channels": 3})
    # ViT's keyword is in_chans: there the PaddleClas ResNet key is refused by name
    with pytest.raises(ConfigError, match=r"^Arch.input_image_channel: unknown key"):
        validate_config({"Global": {}, "Arch": {"name": "ViT_base_patch16_224", "input_image_channel": 4}})


def test_image_channel_agrees_with_image_shape():
    assert image_shape_of(_validate(image_channel=4, image_shape=[4, 224, 224])) == [4, 224, 224]
    with pytest.raises(ConfigError, match=r"^Global.image_channel: 4, but Global.image_shape starts with 3"):
        _validate(image_channel=4, image_shape=[3, 224, 224])
    assert image_shape_of(_validate(image_channel=1)) == [1, 224, 224]
    assert image_shape_of(_validate({"input_image_channel": 4})) == [4, 224, 224]
