"""ONNX (issue 14, item 3): for every family, the paddle2onnx conversion of the export run in onnxruntime gives
Paddle Inference's logits (relative difference <= 1e-4), on test-only widths."""
import numpy as np
import paddle
import pytest

import ppcls_lite
from ppcls_lite.deploy.backends import make_backend
from ppcls_lite.deploy.onnx_export import to_onnx
from ppcls_lite.export import export_inference_model

FAMILIES = {
    "ResNet50_vd": dict(base_channels=8),
    "ResNeXt50_32x4d": dict(base_channels=8, cardinality=2),
    "Res2Net50_26w_4s": dict(base_channels=8, width=2),
    "SwinTransformer_tiny_patch4_window7_224": dict(img_size=64, embed_dim=8, depths=[1, 2], num_heads=[1, 2],
                                                    window_size=4),
    "ViT_base_patch16_224": dict(img_size=64, patch_size=16, embed_dim=16, depth=2, num_heads=2),
    "DeiT_tiny_distilled_patch16_224": dict(img_size=64, patch_size=16, embed_dim=16, depth=2, num_heads=2),
    "ConvNeXt_tiny": dict(depths=[1, 1, 1, 1], dims=[8, 8, 16, 16]),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_onnxruntime_gives_paddle_inference_s_logits(name, tmp_path):
    paddle.seed(3)
    model = ppcls_lite.build_model(name, class_num=7, **FAMILIES[name])
    rng = np.random.default_rng(0)
    for p in model.parameters():  # weights under which every block matters (BatchNorm statistics kept)
        if not p.stop_gradient:
            p.set_value((rng.standard_normal(p.shape) * 0.2).astype("float32"))
    prefix = export_inference_model(model, str(tmp_path / "inference"), (3, 64, 64))
    to_onnx(prefix)
    x = rng.standard_normal((3, 3, 64, 64)).astype("float32")
    paddle_logits = make_backend(prefix, "paddle")(x)
    onnx_logits = make_backend(prefix, "onnxruntime")(x)
    assert onnx_logits.shape == paddle_logits.shape == (3, 7)
    scale = np.abs(paddle_logits).max()
    assert scale > 0.1
    assert np.abs(onnx_logits - paddle_logits).max() <= 1e-4 * scale, np.abs(onnx_logits - paddle_logits).max()
