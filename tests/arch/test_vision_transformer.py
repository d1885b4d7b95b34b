"""Vision Transformer family: PaddleClas manifests, extras (Huge, 21k, DeiT, hybrid), contract on tiny widths."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

import ppcls_lite
from arch import contract
from ppcls_lite.arch.vision_transformer import VARIANTS, HybridEmbed, VisionTransformer

PADDLECLAS_VARIANTS = [
    "ViT_small_patch16_224", "ViT_base_patch16_224", "ViT_base_patch16_384", "ViT_base_patch32_384",
    "ViT_large_patch16_224", "ViT_large_patch16_384", "ViT_large_patch32_384",
]
# Test-only widths: 4x4 patch grid of 8-px patches on 32-px inputs.
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
TINY_HYBRID = dict(img_size=32, embed_dim=32, depth=2, num_heads=2, hybrid_backbone=(1, 1), hybrid_width=8)
NAME = "ViT_base_patch16_224"
DEIT = "DeiT_base_distilled_patch16_224"
HYBRID = "ViT_hybrid_base_r50_224"


def _x(n=2, size=32):
    return paddle.to_tensor(np.random.default_rng(0).standard_normal((n, 3, size, size)).astype("float32"))


def _count(name, **kwargs):
    with paddle.LazyGuard():
        model = ppcls_lite.build_model(name, **kwargs)
    return sum(int(np.prod(p.shape)) for k, p in model.named_parameters() if not k.endswith(("_mean", "_variance")))


@pytest.mark.parametrize("name", PADDLECLAS_VARIANTS)
def test_manifest(name):
    contract.check_manifest(name)


@pytest.mark.parametrize("name,published", [
    ("ViT_huge_patch14_224", 632.0e6),  # ViT paper, Table 1
    ("DeiT_base_distilled_patch16_224", 87.34e6),  # DeiT / timm
    ("DeiT_small_distilled_patch16_224", 22.44e6),
    ("DeiT_tiny_distilled_patch16_224", 5.91e6),
    ("DeiT_tiny_patch16_224", 5.72e6),
    ("ViT_hybrid_base_r50_384", 98.95e6),  # timm vit_base_r50_s16_384 (GN there, BN here: same affine count)
])
def test_extra_param_counts(name, published):
    assert abs(_count(name) - published) / published < 1e-3


def test_in21k_adds_pre_logits_and_21k_head():
    dim, classes = 768, 21843
    extra = (dim * dim + dim) + (dim * classes + classes) - (dim * 1000 + 1000)
    assert _count("ViT_base_patch16_224_in21k") == _count(NAME) + extra


def test_registered_extras_build_lazily():
    names = ppcls_lite.list_models("VisionTransformer")
    assert set(VARIANTS) == set(names) and set(PADDLECLAS_VARIANTS) < set(names)
    for name in names:
        _count(name)


@pytest.mark.parametrize("name,kwargs", [
    (NAME, TINY), ("ViT_small_patch16_224", TINY), (NAME, dict(TINY, pool="mean")),
    ("ViT_base_patch16_224_in21k", dict(TINY, representation_size=24)), (DEIT, TINY), (HYBRID, TINY_HYBRID),
])
def test_forward_gradients_determinism(name, kwargs):
    model = ppcls_lite.build_model(name, class_num=10, **kwargs)
    x = _x()
    contract.check_forward_shape(model, x, 10)
    contract.check_eval_determinism(model, x)
    if model.distilled:
        model.train()
        cls_logits, dist_logits = model(x)  # DeiT training interface: both heads
        (cls_logits.sum() + 2 * dist_logits.sum()).backward()
        dead = [k for k, p in model.named_parameters() if p.grad is None or not np.any(p.grad.numpy())]
        assert not dead, dead
    else:
        contract.check_gradients_reach_all(model, x)


def test_train_mode_with_dropouts_runs():
    model = ppcls_lite.build_model(NAME, class_num=10, drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.2,
                                   use_fused_attn=True, **TINY)
    model.train()
    assert np.isfinite(model(_x()).numpy()).all()


@pytest.mark.parametrize("name,kwargs", [(NAME, TINY), (DEIT, TINY)])
def test_jit_roundtrip(name, kwargs, tmp_path):
    contract.check_jit_roundtrip(ppcls_lite.build_model(name, class_num=10, **kwargs), _x(), tmp_path)


@pytest.mark.parametrize("name,kwargs", [(NAME, TINY), (DEIT, TINY)])
def test_pretrained_other_class_num(name, kwargs, tmp_path, caplog):
    contract.check_pretrained_other_class_num(name, kwargs, _x(), tmp_path, caplog)
    if name == DEIT:
        assert "head_dist.weight" in caplog.text


def test_body_shape_mismatch_is_error(tmp_path):
    contract.check_shape_mismatch_is_error(NAME, dict(TINY, mlp_ratio=4), dict(TINY, mlp_ratio=2), tmp_path)


def test_other_resolution(tmp_path):
    from ppcls_lite.serialization import atomic_save

    small = ppcls_lite.build_model(NAME, class_num=10, **TINY)
    small.eval()
    # Same grid: the parameter itself, and adapt_state_dict leaves the weights untouched.
    assert small._pos_embed_for(small.grid_size) is small.pos_embed
    state = {k: v.numpy() for k, v in small.state_dict().items()}
    assert small.adapt_state_dict(dict(state))["pos_embed"] is state["pos_embed"]
    # 32-px weights into a 48-px model: pos_embed resized, cls entry kept; equals running the 32-px model on 48 px.
    path = str(tmp_path / "w.pdparams")
    atomic_save(small.state_dict(), path)
    big = ppcls_lite.build_model(NAME, class_num=10, pretrained=path, **dict(TINY, img_size=48))
    big.eval()
    assert list(big.pos_embed.shape) == [1, 37, 32]
    np.testing.assert_array_equal(big.pos_embed.numpy()[:, :1], state["pos_embed"][:, :1])
    x48 = _x(2, 48)
    np.testing.assert_allclose(big(x48).numpy(), small(x48).numpy(), rtol=1e-5, atol=1e-5)
    assert list(small(_x(1, 40)).shape) == [1, 10]  # non-square grids too


def test_distilled_pos_embed_adaptation_keeps_both_tokens():
    model = ppcls_lite.build_model(DEIT, class_num=10, **dict(TINY, img_size=48))
    old = np.random.default_rng(0).standard_normal((1, 2 + 16, 32)).astype("float32")
    new = model.adapt_state_dict({"pos_embed": old})["pos_embed"]
    assert new.shape == (1, 2 + 36, 32)
    np.testing.assert_array_equal(new[:, :2], old[:, :2])


def test_pool_cls_and_mean_differ():
    a = ppcls_lite.build_model(NAME, class_num=10, **TINY)
    b = ppcls_lite.build_model(NAME, class_num=10, pool="mean", **TINY)
    b.set_state_dict(a.state_dict())
    a.eval()
    b.eval()
    assert np.abs(a(_x()).numpy() - b(_x()).numpy()).max() > 1e-4
    with pytest.raises(ValueError, match="^pool: 'max' is not one of 'cls', 'mean'"):
        VisionTransformer(pool="max", **TINY)


def test_representation_size_adds_pre_logits():
    model = ppcls_lite.build_model(NAME, class_num=10, representation_size=24, **TINY)
    sd = model.state_dict()
    assert list(sd["pre_logits.fc.weight"].shape) == [32, 24] and list(sd["head.weight"].shape) == [24, 10]
    assert list(sd)[-4:] == ["pre_logits.fc.weight", "pre_logits.fc.bias", "head.weight", "head.bias"]
    assert isinstance(model.pre_logits.act, nn.Tanh) and model.num_features == 24
    model.eval()
    feats = model.forward_features(_x()).numpy()
    assert feats.shape == (2, 24) and np.abs(feats).max() < 1
    assert not any(k.startswith("pre_logits") for k in ppcls_lite.build_model(NAME, **TINY).state_dict())


def test_distilled_heads():
    model = ppcls_lite.build_model(DEIT, class_num=10, **TINY)
    assert model.head_prefixes == ("head.", "head_dist.")
    model.eval()
    feats = model.forward_features(_x())
    assert list(feats.shape) == [2, 64] == [2, model.num_features]
    mean = (model.head(feats[:, :32]) + model.head_dist(feats[:, 32:])) / 2
    np.testing.assert_allclose(model(_x()).numpy(), mean.numpy(), rtol=1e-6, atol=1e-6)
    model.reset_classifier(5)
    assert list(model(_x()).shape) == [2, 5] and list(model.head_dist.weight.shape) == [32, 5]
    model.reset_classifier(0)
    assert list(model(_x()).shape) == [2, 32]  # identity heads: mean of cls and dist features


def test_reset_classifier():
    model = ppcls_lite.build_model(NAME, class_num=10, **TINY)
    model.eval()
    model.reset_classifier(0)
    np.testing.assert_array_equal(model(_x()).numpy(), model.forward_features(_x()).numpy())
    model.reset_classifier(3)
    assert list(model(_x()).shape) == [2, 3] and model.class_num == 3


@pytest.mark.parametrize("name", ["ViT_small_patch16_224", DEIT])  # custom qk_scale, no qkv bias / dist token
def test_fused_attention_matches_plain(name):
    plain = ppcls_lite.build_model(name, class_num=10, **TINY)
    fused = ppcls_lite.build_model(name, class_num=10, use_fused_attn=True, **TINY)
    assert fused.blocks[0].attn.use_fused_attn and not plain.blocks[0].attn.use_fused_attn
    if name != DEIT:
        assert plain.blocks[0].attn.scale == 768 ** -0.5
    fused.set_state_dict(plain.state_dict())
    plain.eval()
    fused.eval()
    np.testing.assert_allclose(fused(_x()).numpy(), plain(_x()).numpy(), rtol=1e-5, atol=1e-5)


def test_forward_stages():
    model = ppcls_lite.build_model(NAME, class_num=10, out_indices=(0, -1), **TINY)
    model.eval()
    maps = model.forward_stages(_x())
    assert [list(m.shape) for m in maps] == [[2, 32, 4, 4]] * 2
    # Last map = last block's patch tokens (before the final norm), in row-major patch order.
    tokens = model.forward_tokens(_x())
    np.testing.assert_allclose(model.norm(maps[-1].flatten(2).transpose([0, 2, 1])).numpy(),
                               tokens[:, 1:].numpy(), rtol=1e-5, atol=1e-5)
    assert VisionTransformer(**dict(TINY, depth=12)).out_indices == [2, 5, 8, 11]


def test_hybrid():
    model = ppcls_lite.build_model(HYBRID, class_num=10, **TINY_HYBRID)
    assert model.grid_size == (4, 4) and "patch_embed.backbone.conv1.weight" in model.state_dict()
    model.eval()
    assert [list(m.shape) for m in model.forward_stages(_x())] == [[2, 32, 4, 4]] * 2

    class Toy(nn.Layer):  # any backbone with forward_stages
        stage_channels, stage_strides = [12], [4]

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(3, 12, 4, stride=4)

        def forward_stages(self, x):
            return [self.conv(x)]

    embed = HybridEmbed(Toy(), img_size=32, patch_size=2, embed_dim=16, feature_dim=12, feature_stride=4)
    assert embed.grid_size == (4, 4) and list(embed(_x()).shape) == [2, 16, 16]
    toy = VisionTransformer(img_size=32, patch_size=2, embed_dim=16, depth=1, num_heads=2, class_num=3,
                            hybrid_backbone=Toy())
    assert toy.grid_size == (4, 4) and list(toy(_x()).shape) == [2, 3]


def test_build_twice_is_independent():
    a = ppcls_lite.build_model(NAME, class_num=10, **TINY)
    b = ppcls_lite.build_model(NAME, class_num=10, **TINY)
    assert list(a.state_dict()) == list(b.state_dict())
    b.set_state_dict(a.state_dict())
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(_x()).numpy(), b(_x()).numpy())
