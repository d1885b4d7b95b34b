"""Arch.frozen_stages / frozen_params (issue 13, item 1): frozen parameters and BatchNorm statistics stay bitwise
as loaded through training, resume and EMA; they get no optimizer state; the rest trains."""

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
import yaml

import ppcls_lite
from ppcls_lite.errors import ConfigError
from ppcls_lite.optim import build_optimizer
from ppcls_lite.serialization import safe_load
from tests.engine.conftest import tiny_config

# narrow test-only widths of each family, and what frozen_stages=1 freezes by name
FAMILIES = {
    "ResNet50": (dict(base_channels=8), ("stem.", "blocks.0.", "blocks.1.", "blocks.2.")),
    "ResNeXt50_32x4d": (dict(base_channels=8, cardinality=2), ("conv.", "bb_0_")),
    "Res2Net50_26w_4s": (dict(base_channels=8, width=2), ("conv1.", "bb_0_")),
    "SwinTransformer_tiny_patch4_window7_224": (dict(img_size=32, embed_dim=8, depths=[1, 1, 1, 1],
                                                     num_heads=[1, 1, 1, 1], window_size=1),
                                                ("patch_embed.", "layers.0.")),
    "DeiT_tiny_distilled_patch16_224": (dict(img_size=32, embed_dim=16, depth=2, num_heads=2),
                                        ("patch_embed.", "pos_embed", "cls_token", "dist_token", "blocks.0.")),
    "ConvNeXt_tiny": (dict(dims=[8, 8, 8, 8], depths=[1, 1, 1, 1]),
                      ("downsample_layers.0.", "stages.0.")),
}


def _state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_frozen_stem_and_first_stage_do_not_move(name):
    kwargs, prefixes = FAMILIES[name]
    paddle.seed(0)
    model = ppcls_lite.build_model(name, class_num=4, **kwargs)
    frozen = model.freeze(stages=1)
    assert frozen and all(n.startswith(prefixes) for n in frozen)
    assert {n for n, p in model.named_parameters() if n.startswith(prefixes)} <= set(frozen)
    optimizer, _ = build_optimizer({"name": "Momentum", "momentum": 0.9, "lr": {"name": "Constant",
                                    "learning_rate": 0.1}, "weight_decay": 1e-4}, 1, 1, model)
    trainable = [p for p in model.parameters() if not p.stop_gradient]
    assert len(optimizer._parameter_list) == len(trainable)  # no optimizer state for a frozen parameter
    before = _state(model)
    model.train()
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = paddle.to_tensor(rng.standard_normal((4, 3, 32, 32)).astype("float32") * 3 + 1)
        out = model(x)
        out = out if not isinstance(out, (list, tuple)) else (out[0] + out[1]) / 2
        F.cross_entropy(out, paddle.to_tensor([0, 1, 2, 3])).backward()
        optimizer.step()
        optimizer.clear_grad()
    after = _state(model)
    for key in before:
        if key.startswith(prefixes):  # parameters and the BatchNorm statistics under them, bit for bit
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    moved = [k for k in before if not k.startswith(prefixes) and not np.array_equal(before[k], after[k])]
    assert moved  # the rest trains


def test_frozen_stages_through_the_trainer_with_ema_and_resume(tmp_path):
    paddle.seed(1)
    init = ppcls_lite.build_model("ResNet18", class_num=10)
    weights = str(tmp_path / "init.pdparams")
    paddle.save(init.state_dict(), weights)
    cfg = yaml.safe_load(open(tiny_config(tmp_path, epochs=2, ema=True)))
    cfg["Arch"]["frozen_stages"] = 2
    cfg["Arch"]["frozen_params"] = ["blocks.4.conv0.*"]  # and one conv of stage 3, by name
    cfg["Global"]["pretrained_model"] = weights
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(cfg))
    ppcls_lite.train(str(path), ["Global.epochs=1"])
    trainer = ppcls_lite.train(str(path), [f"Global.checkpoints={tmp_path / 'output' / 'latest'}"])
    assert trainer.resumed_from and trainer.state["epoch"] == 3
    start = safe_load(weights)
    end = safe_load(str(tmp_path / "output" / "latest.pdparams"))
    frozen = ("stem.", "blocks.0.", "blocks.1.", "blocks.2.", "blocks.3.", "blocks.4.conv0.")
    for key, value in start.items():
        if key.startswith(frozen):
            np.testing.assert_array_equal(end[key], value, err_msg=key)  # weights and BN statistics
    assert not np.array_equal(end["fc.weight"], start["fc.weight"])
    assert not np.array_equal(end["blocks.4.conv1.conv.weight"], start["blocks.4.conv1.conv.weight"])
    ema = safe_load(str(tmp_path / "output" / "latest.pdstates"))["ema"]["shadow"]
    np.testing.assert_array_equal(ema["stem.0.conv.weight"], start["stem.0.conv.weight"])


@pytest.mark.parametrize("arch, expected", [
    ({"frozen_stages": 5}, "Arch.frozen_stages: 5, but ResNet has 4 stages"),
    ({"frozen_params": ["backbone.*"]}, "Arch.frozen_params: 'backbone.*' matches no parameter of ResNet"),
])
def test_freezing_mistakes_name_the_key(arch, expected):
    from ppcls_lite.arch import build_from_config

    with pytest.raises(ConfigError, match="^" + expected.replace("(", r"\(").replace(".", r"\.").replace("*", r"\*")):
        build_from_config({"name": "ResNet18", "class_num": 3, **arch})
