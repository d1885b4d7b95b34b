"""AdamWDL's layer-wise learning-rate decay (issue 13, item 2): PaddleClas's rule for ViT checked name by name,
the Swin / ConvNeXt numbering, and one real optimizer step against a hand computation of AdamW."""
import os

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
import yaml

from ppcls_lite.arch import build_from_config
from ppcls_lite.config import load_config
from ppcls_lite.errors import ConfigError
from ppcls_lite.optim import build_optimizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_VIT = dict(img_size=32, patch_size=8, embed_dim=16, depth=3, num_heads=2)


def _paddleclas_ratio(name, decay, n_layers):
    """PaddleClas 2.6.0's AdamWDL._layerwise_lr_decay, rewritten from its formula."""
    if "blocks" in name:
        layer = int(name[name.find("blocks."):].split(".")[1])
        return decay ** (n_layers - layer)
    if any(key in name for key in ("embed", "token", "conv1", "ln_pre")):
        return decay ** (n_layers + 1)
    return 1.0


@pytest.mark.parametrize("name", ["ViT_small_patch16_224", "DeiT_tiny_distilled_patch16_224"])
def test_vit_ratios_are_paddleclas_s_rule(name):
    model = build_from_config({"name": name, "class_num": 3, **TINY_VIT})
    ratios = model.layerwise_lr_ratios(0.65)
    assert set(ratios) == {n for n, _ in model.named_parameters()}
    for key, ratio in ratios.items():
        assert ratio == pytest.approx(_paddleclas_ratio(key, 0.65, 3), rel=1e-12), key
    assert ratios["pos_embed"] == pytest.approx(0.65 ** 4) and ratios["head.weight"] == 1.0


def test_swin_and_convnext_number_each_block():
    decay = 0.5
    swin = build_from_config({"name": "SwinTransformer_tiny_patch4_window7_224", "class_num": 3, "img_size": 32,
                              "embed_dim": 8, "depths": [1, 2], "num_heads": [1, 2], "window_size": 2})
    r = swin.layerwise_lr_ratios(decay)  # n = 3 blocks
    assert r["patch_embed.proj.weight"] == decay ** 4
    assert r["layers.0.blocks.0.attn.qkv.weight"] == decay ** 3
    assert r["layers.0.downsample.reduction.weight"] == decay ** 3  # the merging goes with the block before it
    assert r["layers.1.blocks.0.attn.qkv.weight"] == decay ** 2
    assert r["layers.1.blocks.1.mlp.fc2.weight"] == decay ** 1
    assert r["norm.weight"] == r["head.weight"] == 1.0
    convnext = build_from_config({"name": "ConvNeXt_tiny", "class_num": 3, "depths": [1, 2, 1, 1],
                                  "dims": [8, 8, 8, 8]})
    r = convnext.layerwise_lr_ratios(decay)  # n = 5 blocks
    assert r["downsample_layers.0.0.weight"] == decay ** 6
    assert r["stages.0.0.dwconv.weight"] == decay ** 5
    assert r["downsample_layers.1.0.weight"] == r["stages.1.0.pwconv1.weight"] == decay ** 4  # with the next
    assert r["stages.1.1.pwconv1.weight"] == decay ** 3
    assert r["stages.3.0.gamma"] == decay ** 1
    assert r["head.weight"] == 1.0


def _step(model, opt_cfg):
    optimizer, _ = build_optimizer(opt_cfg, 1, 1, model)
    before = {n: p.numpy().astype("float64") for n, p in model.named_parameters()}
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32"))
    model.train()
    out = model(x)
    out = out if not isinstance(out, (list, tuple)) else (out[0] + out[1]) / 2
    F.cross_entropy(out, paddle.to_tensor([0, 1])).backward()
    grads = {n: p.grad.numpy().astype("float64") for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return before, grads, {n: p.numpy().astype("float64") for n, p in model.named_parameters()}


def test_one_adamw_step_is_the_hand_computation():
    """First AdamW step: p * (1 - lr_l * wd) - lr_l * g / (|g| + eps), lr_l = lr * ratio * head multiplier;
    biases and 1-D parameters take no decay (filter_bias_and_bn)."""
    lr, wd, eps, decay = 0.01, 0.3, 1e-8, 0.5
    paddle.seed(0)
    model = build_from_config({"name": "ViT_small_patch16_224", "class_num": 2, "head_lr_mult": 3.0, **TINY_VIT})
    before, grads, after = _step(model, {
        "name": "AdamWDL", "beta1": 0.9, "beta2": 0.999, "epsilon": eps, "weight_decay": wd,
        "layerwise_decay": decay, "filter_bias_and_bn": True, "lr": {"name": "Constant", "learning_rate": lr}})
    checked = 0
    for key, ratio in {"pos_embed": decay ** 4, "patch_embed.proj.weight": decay ** 4,
                       "blocks.0.attn.qkv.weight": decay ** 3, "blocks.2.mlp.fc1.weight": decay,
                       "blocks.1.norm1.weight": decay ** 2, "blocks.2.mlp.fc1.bias": decay,
                       "norm.weight": 1.0, "head.weight": 3.0, "head.bias": 3.0}.items():
        p, g = before[key], grads[key]
        step_lr = lr * ratio
        decays = len(p.shape) > 1 and not key.endswith(".bias")
        expected = p * (1 - step_lr * wd if decays else 1.0) - step_lr * g / (np.abs(g) + eps)
        np.testing.assert_allclose(after[key], expected, rtol=2e-5, atol=2e-7, err_msg=key)
        assert np.abs(g).max() > 0, key
        checked += 1
    assert checked == 9


def test_frozen_parameters_stay_and_the_rest_decay():
    paddle.seed(0)
    model = build_from_config({"name": "ViT_small_patch16_224", "class_num": 2, "frozen_stages": 1, **TINY_VIT})
    before, _, after = _step(model, {"name": "AdamWDL", "layerwise_decay": 0.9,
                                     "lr": {"name": "Constant", "learning_rate": 0.01}})
    for key in ("pos_embed", "cls_token", "blocks.0.attn.qkv.weight"):
        np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(after["blocks.1.attn.qkv.weight"], before["blocks.1.attn.qkv.weight"])


def test_paddleclas_s_adamwdl_section_validates_and_mistakes_are_named(tmp_path):
    with open(os.path.join(ROOT, "configs", "vit_base_patch16_224.yaml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    # PaddleClas's CLIP_vit_base_patch16_224_finetune.yaml, key for key
    config["Optimizer"] = {"name": "AdamWDL", "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.05,
                           "layerwise_decay": 0.6, "filter_bias_and_bn": True,
                           "lr": {"name": "Cosine", "learning_rate": 0.0003, "eta_min": 1e-6, "warmup_epoch": 10,
                                  "warmup_start_lr": 1e-6}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert load_config(str(tmp_path / "c.yaml"), check_paths=False)["Optimizer"]["layerwise_decay"] == 0.6
    model = build_from_config({"name": "ViT_small_patch16_224", "class_num": 2, **TINY_VIT})
    for bad, message in [(1.5, r"^Optimizer.layerwise_decay: must be in \(0, 1\], got 1.5$"),
                         (0, r"^Optimizer.layerwise_decay: must be in \(0, 1\], got 0$")]:
        with pytest.raises(ConfigError, match=message):
            build_optimizer({"name": "AdamWDL", "layerwise_decay": bad,
                             "lr": {"name": "Constant", "learning_rate": 0.1}}, 1, 1, model)
    with pytest.raises(ConfigError, match=r"^Optimizer.layerwise_decay: Linear has no layer order"):
        build_optimizer({"name": "AdamWDL", "layerwise_decay": 0.5,
                         "lr": {"name": "Constant", "learning_rate": 0.1}}, 1, 1, paddle.nn.Linear(2, 2))
