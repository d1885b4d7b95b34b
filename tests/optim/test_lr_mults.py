"""Per-layer learning rates (issue 13, item 2): PaddleClas's lr_mult_list (stem and four stages of the
ResNet-like families) and a head multiplier for any family, checked against a hand computation of one SGD step."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppcls_lite.arch import build_from_config
from ppcls_lite.errors import ConfigError
from ppcls_lite.optim import build_optimizer

SGD = {"name": "Momentum", "momentum": 0.0, "lr": {"name": "Constant", "learning_rate": 0.1}}


def _one_step(model):
    optimizer, _ = build_optimizer(SGD, 1, 1, model)
    before = {n: p.numpy().copy() for n, p in model.named_parameters() if not p.stop_gradient}
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32"))
    model.train()
    out = model(x)
    out = out if not isinstance(out, (list, tuple)) else (out[0] + out[1]) / 2
    F.cross_entropy(out, paddle.to_tensor([0, 1])).backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    after = {n: p.numpy() for n, p in model.named_parameters()}
    return before, grads, after


@pytest.mark.parametrize("name, stem, stage3, extra", [
    ("ResNet18", "stem.0.conv.weight", "blocks.4.conv0.conv.weight", dict(base_channels=8)),
    ("ResNeXt50_32x4d", "conv._conv.weight", "bb_2_0.conv0._conv.weight",
     dict(base_channels=8, cardinality=2)),
    ("Res2Net50_26w_4s", "conv1._conv.weight", "bb_2_0.conv0._conv.weight", dict(base_channels=8, width=2)),
])
def test_lr_mult_list_and_head_mult_are_paddleclas_s_formula(name, stem, stage3, extra):
    mults = [0.1, 0.2, 0.3, 0.4, 0.5]
    paddle.seed(0)
    model = build_from_config({"name": name, "class_num": 3, "lr_mult_list": mults, "head_lr_mult": 10.0, **extra})
    before, grads, after = _one_step(model)
    head = [n for n in before if n.startswith(tuple(model.head_prefixes))]
    for key, mult in [(stem, 0.1), (stage3, 0.4)] + [(h, 10.0) for h in head]:
        np.testing.assert_allclose(after[key], before[key] - 0.1 * mult * grads[key], rtol=1e-5, atol=1e-7,
                                   err_msg=key)
        assert np.abs(grads[key]).max() > 0, key


def test_head_mult_for_a_transformer_and_the_mistakes():
    paddle.seed(0)
    model = build_from_config({"name": "DeiT_tiny_distilled_patch16_224", "class_num": 2, "head_lr_mult": 0.0,
                               "img_size": 32, "embed_dim": 16, "depth": 1, "num_heads": 2})
    before, grads, after = _one_step(model)
    for key in ("head.weight", "head_dist.weight"):  # multiplier 0: the heads stay put, the rest moves
        np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(after["blocks.0.attn.qkv.weight"], before["blocks.0.attn.qkv.weight"])
    with pytest.raises(ConfigError, match=r"^Arch.lr_mult_list: 5 values \(the stem and 4 stages\) for ResNet, "
                                          r"got 3"):
        build_from_config({"name": "ResNet18", "lr_mult_list": [1.0, 1.0, 1.0]})
