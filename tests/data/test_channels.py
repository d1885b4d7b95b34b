"""Any input channel count through the pipeline (issue 12, item 1): one grayscale channel (DecodeImage
channels: 1) and PaddleClas's 4 (NormalizeImage channel_num: 4), trained, evaluated and exported end to end."""
import io
import os

import numpy as np
import pytest
import yaml
from PIL import Image

import ppcls_lite
from ppcls_lite.data.transforms import build_transforms
from ppcls_lite.errors import DataError
from tests.engine.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAT = os.path.join(ROOT, "dataset", "cifar10_mini", "train", "cat")
JPEG = open(os.path.join(CAT, sorted(os.listdir(CAT))[0]), "rb").read()
GRAY_NORM = {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5], "std": [0.25], "order": ""}}


def test_one_channel_decode_is_pil_luminance_and_every_op_keeps_the_axis():
    gray = build_transforms([{"DecodeImage": {"channels": 1}}])(JPEG)
    assert gray.shape == (32, 32, 1) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray[:, :, 0], np.array(Image.open(io.BytesIO(JPEG)).convert("L")))
    for backend in ("cv2", "pil"):
        ops = build_transforms([{"DecodeImage": {"channels": 1}}, {"RandCropImage": {"size": 24, "backend": backend}},
                                {"RandFlipImage": {"flip_code": 1}}, {"ResizeImage": {"size": 20, "backend": backend}},
                                {"CropImage": {"size": 16}}, GRAY_NORM, {"ToCHWImage": None}])
        out = ops(JPEG, np.random.default_rng(0))
        assert out.shape == (1, 16, 16) and out.dtype == np.float32, backend
    # the arithmetic: (v / 255 - 0.5) / 0.25 of the luminance
    out = build_transforms([{"DecodeImage": {"channels": 1}}, GRAY_NORM])(JPEG)
    np.testing.assert_allclose(out, (gray.astype(np.float64) / 255 - 0.5) / 0.25, rtol=0, atol=1e-6)


def test_mean_and_std_must_fit_the_channels():
    ops = build_transforms([{"DecodeImage": {"channels": 1}}, {"NormalizeImage": {"order": ""}}])
    with pytest.raises(ValueError, match="NormalizeImage has 3 mean/std values for a 1-channel image"):
        ops(JPEG)
    four = build_transforms([{"DecodeImage": None}, {"NormalizeImage": {"order": "", "channel_num": 4}}])(JPEG)
    assert four.shape == (32, 32, 4) and not four[:, :, 3].any()  # PaddleClas's zero fourth channel


@pytest.mark.parametrize("channels", [1, 4])
def test_train_evaluate_export_with_other_channel_counts(tmp_path, channels):
    cfg = yaml.safe_load(open(tiny_config(tmp_path, epochs=1)))
    cfg["Global"]["image_shape"] = [channels, 32, 32]
    cfg["Global"]["image_channel"] = channels
    cfg["Arch"]["input_image_channel"] = channels  # PaddleClas's key
    for split in ("Train", "Eval"):
        ops = cfg["DataLoader"][split]["dataset"]["transform_ops"]
        if channels == 1:
            ops[0] = {"DecodeImage": {"channels": 1}}
            ops[-2] = GRAY_NORM
        else:
            ops[-2]["NormalizeImage"]["channel_num"] = 4
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(cfg))
    trainer = ppcls_lite.train(str(path))
    assert trainer.model.stem[0].conv.weight.shape[1] == channels and trainer.result is not None
    prefix = ppcls_lite.export_config(str(path), [f"Global.pretrained_model={tmp_path / 'output' / 'latest'}"])
    from ppcls_lite.export import create_predictor, run_predictor

    x = np.random.default_rng(0).standard_normal((2, channels, 32, 32)).astype("float32")
    assert run_predictor(create_predictor(prefix), x).shape == (2, 10)
    # three-value normalisation on one-channel images: a one-line error naming the file, before training
    if channels == 1:
        cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][-2] = {"NormalizeImage": {"order": ""}}
        path.write_text(yaml.safe_dump(cfg))
        with pytest.raises(DataError, match=r"\.jpg: transform failed \(ValueError: NormalizeImage has 3 mean/std "
                                            r"values for a 1-channel image\)"):
            ppcls_lite.train(str(path), [f"Global.output_dir={tmp_path / 'bad'}"])
