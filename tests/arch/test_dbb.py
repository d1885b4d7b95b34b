"""DiverseBranchBlock (issue 12, item 1: PaddleClas's ResNet18_dbb): PaddleClas's state-dict layout, the four
branches folded by re-parameterisation into one conv with the same outputs, and export of the folded model.
(benchmarks/check_dbb_parity.py compares against PaddleClas's own ResNet18_dbb.)"""
import numpy as np
import paddle
import pytest

import ppcls_lite
from ppcls_lite.arch.dbb import DiverseBranchBlock
from ppcls_lite.export import create_predictor, export_inference_model, run_predictor


def _random_bn_statistics(layer, seed=0):
    """Non-trivial BN statistics and affine parameters, so that folding them is exercised."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in layer.state_dict().items():
        shape = value.shape
        if key.endswith("_mean") or key.endswith("bias"):
            state[key] = rng.normal(0, 0.2, shape).astype("float32")
        elif key.endswith("_variance"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype("float32")
        elif key.endswith(".weight") and len(shape) == 1:
            state[key] = rng.uniform(0.5, 1.5, shape).astype("float32")
        else:
            state[key] = (rng.normal(0, 0.3, shape)).astype("float32")
    layer.set_state_dict(state)


@pytest.mark.parametrize("kernel, stride, groups, in_ch, out_ch", [
    (3, 1, 1, 8, 8),     # identity-based 1x1 -> 3x3 branch, 1x1 branch
    (3, 2, 1, 8, 16),    # strided, more channels out than in
    (3, 1, 2, 8, 8),     # grouped: the per-group merge
    (1, 2, 1, 8, 16),    # a 1x1 block (PaddleClas builds them too)
    (3, 1, 8, 8, 8),     # depthwise: no 1x1 branch, a 2x-wide 1x1 -> kxk branch
])
def test_re_parameterisation_keeps_the_outputs(kernel, stride, groups, in_ch, out_ch):
    paddle.seed(0)
    block = DiverseBranchBlock(in_ch, out_ch, kernel, stride=stride, groups=groups, act="relu")
    _random_bn_statistics(block)
    block.eval()
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((2, in_ch, 9, 9)).astype("float32"))
    before = block(x).numpy()
    block.re_parameterize()
    assert list(block.state_dict()) == ["dbb_reparam.weight", "dbb_reparam.bias"]
    after = block(x).numpy()
    assert before.shape == after.shape and np.abs(before).max() > 0.1
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    block.re_parameterize()  # a second call changes nothing
    np.testing.assert_array_equal(block(x).numpy(), after)


def test_resnet18_dbb_has_paddleclas_s_layout():
    model = ppcls_lite.build_model("ResNet18", layer_type="DiverseBranchBlock", use_first_short_conv=False)
    keys = list(model.state_dict())
    assert len(keys) == 486  # as PaddleClas's ResNet18(layer_type="DiverseBranchBlock", use_first_short_conv=False)
    assert keys[:5] == ["stem.0.conv.weight", "stem.0.bn.weight", "stem.0.bn.bias", "stem.0.bn._mean",
                        "stem.0.bn._variance"]  # the stem stays ConvBNLayer
    block0 = [k[len("blocks.0.conv0."):] for k in keys if k.startswith("blocks.0.conv0.")]
    assert block0 == [
        "dbb_origin.conv.weight", *[f"dbb_origin.bn.{s}" for s in ("weight", "bias", "_mean", "_variance")],
        "dbb_avg.conv.weight", *[f"dbb_avg.bn.bn.{s}" for s in ("weight", "bias", "_mean", "_variance")],
        *[f"dbb_avg.avgbn.{s}" for s in ("weight", "bias", "_mean", "_variance")],
        "dbb_1x1.conv.weight", *[f"dbb_1x1.bn.{s}" for s in ("weight", "bias", "_mean", "_variance")],
        "dbb_1x1_kxk.idconv1.weight", *[f"dbb_1x1_kxk.bn1.bn.{s}" for s in ("weight", "bias", "_mean", "_variance")],
        "dbb_1x1_kxk.conv2.weight", *[f"dbb_1x1_kxk.bn2.{s}" for s in ("weight", "bias", "_mean", "_variance")]]
    assert not any(k.startswith("blocks.0.short.") for k in keys)  # use_first_short_conv: False
    assert "blocks.2.short.conv.weight" in keys  # projections stay ConvBNLayer
    with pytest.raises(ValueError, match="^use_first_short_conv: False leaves the first block without a "
                                         "projection"):
        ppcls_lite.build_model("ResNet50", use_first_short_conv=False)
    with pytest.raises(ValueError, match="^layer_type: 'RepVGG' is not one of ConvBNLayer, DiverseBranchBlock"):
        ppcls_lite.build_model("ResNet18", layer_type="RepVGG")
    assert ppcls_lite.model_spec("ResNet18").weight_url("dbb").endswith("/legendary_models/ResNet18_dbb_"
                                                                         "pretrained.pdparams")


def test_export_folds_the_branches_with_the_same_logits(tmp_path):
    paddle.seed(0)
    model = ppcls_lite.build_model("ResNet18", layer_type="DiverseBranchBlock", use_first_short_conv=False,
                                   class_num=5, base_channels=8)
    _random_bn_statistics(model, seed=3)
    model.eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype("float32")
    before = model(paddle.to_tensor(x)).numpy()
    prefix = export_inference_model(model, str(tmp_path / "inference"), image_shape=(3, 32, 32))
    assert not any("dbb_origin" in k for k in model.state_dict())  # folded
    exported = run_predictor(create_predictor(prefix), x)
    np.testing.assert_allclose(exported, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
