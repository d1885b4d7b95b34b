"""Swin Transformer: manifests, contract checks on a narrow config, windows/shift masks, weight adaptation."""
import os

import numpy as np
import paddle
import pytest

import ppcls_lite
from arch import contract
from ppcls_lite.arch import swin_transformer as swin
from ppcls_lite.serialization import atomic_save

NAMES = ppcls_lite.list_models("SwinTransformer")
TINY_NAME = "SwinTransformer_tiny_patch4_window7_224"
# Narrow test-only config: 64 px -> token maps 16, 8, 4, 2; window 2 (shift 1) divides every stage.
TINY = dict(img_size=64, embed_dim=24, depths=[2, 1, 2, 1], num_heads=[1, 2, 3, 4], window_size=2,
            drop_path_rate=0.1)


def tiny(**overrides):
    return ppcls_lite.build_model(TINY_NAME, **dict(TINY, class_num=10, **overrides))


def images(n=2, h=64, w=None, seed=0):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.standard_normal((n, 3, h, w or h)).astype("float32"))


def test_variant_names():
    assert NAMES == sorted(swin.VARIANTS)
    assert len(NAMES) == 6


@pytest.mark.parametrize("name", NAMES)
def test_manifest(name):
    contract.check_manifest(name)


def test_forward_shape_and_contract():
    model = tiny()
    x = images()
    out = contract.check_forward_shape(model, x, 10)
    feats = model.forward_features(x)
    assert list(feats.shape) == [2, 192]
    np.testing.assert_allclose(model.forward_head(feats).numpy(), out.numpy(), rtol=1e-6, atol=1e-6)


def test_gradients_reach_all():
    contract.check_gradients_reach_all(tiny(), images())


def test_eval_determinism():
    contract.check_eval_determinism(tiny(drop_rate=0.1, attn_drop_rate=0.1), images())


def test_jit_roundtrip(tmp_path):
    contract.check_jit_roundtrip(tiny(), images(), tmp_path)


def test_pretrained_other_class_num(tmp_path, caplog):
    contract.check_pretrained_other_class_num(TINY_NAME, dict(TINY), images(), tmp_path, caplog)


def test_body_shape_mismatch_is_error(tmp_path):
    contract.check_shape_mismatch_is_error(TINY_NAME, dict(TINY, mlp_ratio=4.0), dict(TINY, mlp_ratio=2.0), tmp_path)


def test_other_head_count_is_error_not_resized(tmp_path):
    # Same window, other head count: the bias table differs in its head axis and must not be "adapted".
    contract.check_shape_mismatch_is_error(TINY_NAME, TINY, dict(TINY, num_heads=[2, 2, 3, 4]), tmp_path)


def test_reset_classifier():
    model = tiny()
    model.reset_classifier(3)
    model.eval()
    assert list(model(images()).shape) == [2, 3]
    model.reset_classifier(0)
    x = images()
    np.testing.assert_array_equal(model(x).numpy(), model.forward_features(x).numpy())
    assert not any(k.startswith("head.") for k in model.state_dict())


def test_forward_stages_strides():
    model = tiny()
    model.eval()
    x = images(h=64, w=96)
    stages = model.forward_stages(x)
    assert [list(s.shape) for s in stages] == [
        [2, 24, 16, 24], [2, 48, 8, 12], [2, 96, 4, 6], [2, 192, 2, 3]]
    # The pooled features are the last stage after the final norm.
    last = stages[-1].flatten(2).transpose([0, 2, 1])
    np.testing.assert_allclose(model.norm(last).mean(axis=1).numpy(), model.forward_features(x).numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hw", [(96, 96), (50, 70)])
def test_other_input_sizes(hw):
    # 96 = patch * window * 12 (no padding anywhere); 50 x 70 needs patch, window and merge padding.
    model = tiny()
    model.eval()
    out = model(images(1, *hw))
    assert list(out.shape) == [1, 10] and np.isfinite(out.numpy()).all()


def test_fused_attention_matches_plain():
    plain = tiny()
    fused = tiny(use_fused_attn=True)
    fused.set_state_dict(plain.state_dict())
    plain.eval()
    fused.eval()
    assert all(m.use_fused_attn for m in fused.sublayers() if isinstance(m, swin.WindowAttention))
    for x in (images(), images(1, 50, 70)):
        np.testing.assert_allclose(fused(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-5)


def test_shift_mask_matches_brute_force():
    height, width, ws, shift = 6, 9, 3, 1
    mask = swin.shifted_window_mask(height, width, ws, shift)
    assert mask.shape == (6, 9, 9)
    # Brute force: token (r, c) of the shifted map comes from the wrapped-around border iff r >= H - shift
    # (resp. c >= W - shift); two tokens of a window may attend iff they agree on both wrap flags.
    nw_w = width // ws
    for win in range(mask.shape[0]):
        r0, c0 = (win // nw_w) * ws, (win % nw_w) * ws
        toks = [(r0 + i, c0 + j) for i in range(ws) for j in range(ws)]
        for a, (ra, ca) in enumerate(toks):
            for b, (rb, cb) in enumerate(toks):
                wrapped_a = (ra >= height - shift, ca >= width - shift)
                same = wrapped_a == (rb >= height - shift, cb >= width - shift)
                assert mask[win, a, b] == (0.0 if same else -100.0), (win, a, b)


def test_shifted_block_attends_only_within_shifted_windows():
    # End to end through roll/partition/mask: perturbing one token changes exactly the tokens that share
    # its shifted window and region (the MLP is per token).
    height = width = 6
    ws, shift = 3, 1
    block = swin.SwinTransformerBlock(8, 2, window_size=ws, shift_size=shift)
    rng = np.random.default_rng(0)  # large weights, so that every allowed interaction is clearly visible
    block.set_state_dict({k: rng.normal(0, 0.5, v.shape).astype("float32") if v.dtype == paddle.float32 else v
                          for k, v in block.state_dict().items()})
    block.eval()
    x = paddle.randn([1, height * width, 8])
    base = block(x, (height, width)).numpy()[0]

    def key(p, n):  # (shifted window, wrapped?) of original coordinate p along an axis of length n
        s = (p - shift) % n
        return s // ws, s >= n - shift

    for p in [(0, 0), (2, 3), (5, 5), (4, 1)]:
        xp = x.numpy().copy()
        xp[0, p[0] * width + p[1]] += rng.normal(0, 1, 8).astype("float32")  # not constant: LayerNorm
        changed = np.abs(block(paddle.to_tensor(xp), (height, width)).numpy()[0] - base).max(-1) > 1e-6
        expected = np.array([key(r, height) == key(p[0], height) and key(c, width) == key(p[1], width)
                             for r in range(height) for c in range(width)])
        np.testing.assert_array_equal(changed, expected, err_msg=str(p))


def test_window_partition_roundtrip():
    x = paddle.randn([2, 6, 9, 5])
    w = swin.window_partition(x, 3)
    assert list(w.shape) == [12, 3, 3, 5]
    np.testing.assert_array_equal(w.numpy()[1], x.numpy()[0, 0:3, 3:6])
    np.testing.assert_array_equal(swin.window_reverse(w, 3, 6, 9, 5).numpy(), x.numpy())


def test_relative_position_index():
    idx = swin.relative_position_index(3)
    assert idx.shape == (9, 9) and idx.min() == 0 and idx.max() == 24
    assert (np.diag(idx) == 12).all()  # zero offset -> centre of the 5 x 5 table
    # Tokens (0,0) -> (2,2): offset (-2,-2) -> row 0.
    assert idx[0, 8] == 0 and idx[8, 0] == 24


def _window_kwargs(window_size, img_size, **extra):
    return dict(TINY, window_size=window_size, img_size=img_size, **extra)


def test_load_other_window_and_resolution(tmp_path):
    # Like SwinTransformer_base_patch4_window7_224 -> ..._window12_384, in miniature: window 3 @ 96 px -> 5 @ 160.
    src = ppcls_lite.build_model("SwinTransformer_base_patch4_window7_224", **_window_kwargs(3, 96, ape=True))
    path = os.path.join(str(tmp_path), "w3.pdparams")
    atomic_save(src.state_dict(), path)
    dst = ppcls_lite.build_model("SwinTransformer_base_patch4_window12_384", pretrained=path,
                                 **_window_kwargs(5, 160, ape=True))
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    for key, value in dst_sd.items():
        if key.endswith("relative_position_bias_table"):
            old = src_sd[key].numpy().reshape(5, 5, -1)
            new = value.numpy().reshape(9, 9, -1)
            # Zero offset sits exactly on an input sample point (odd sides, align_corners=False): kept.
            np.testing.assert_allclose(new[4, 4], old[2, 2], rtol=1e-5, atol=1e-6)
            assert abs(new.mean() - old.mean()) < 0.5 * old.std()
        elif key.endswith("relative_position_index"):
            np.testing.assert_array_equal(value.numpy(), swin.relative_position_index(5))
        elif key == "absolute_pos_embed":
            assert list(value.shape) == [1, 40 * 40, 24]
        else:
            np.testing.assert_array_equal(value.numpy(), src_sd[key].numpy(), err_msg=key)
    dst.eval()
    out = dst(images(1, 160))
    assert list(out.shape) == [1, 1000] and np.isfinite(out.numpy()).all()


def test_adapt_drops_cached_buffers():
    model = tiny()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["layers.0.blocks.0.attn.relative_position_bias"] = np.zeros([1, 1, 4, 4], "float32")
    state["layers.0.blocks.1.attn_mask"] = np.zeros([64, 4, 4], "float32")
    assert list(model.adapt_state_dict(dict(state))) == list(model.state_dict())


def test_ape_other_input_size():
    model = tiny(ape=True)
    model.eval()
    out = model(images(1, 96))
    assert list(out.shape) == [1, 10] and np.isfinite(out.numpy()).all()


def test_build_twice():
    a, b = tiny(), tiny()
    assert list(a.state_dict()) == list(b.state_dict())
    a.eval()
    b.set_state_dict(a.state_dict())
    b.eval()
    x = images(1)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_use_fused_linear_keeps_keys_and_numbers(monkeypatch, caplog):
    """PaddleClas's use_fused_linear: on CPU (no FusedLinear kernel) one warning and the very same model; where
    the kernel exists, qkv / proj / fc1 / fc2 / head become FusedLinear holding the same parameters."""
    paddle.seed(0)
    plain = tiny()
    paddle.seed(0)
    with caplog.at_level("WARNING"):
        fused = tiny(use_fused_linear=True)
    assert "Arch.use_fused_linear: Paddle's FusedLinear needs a CUDA GPU; using nn.Linear" in caplog.text
    plain.eval()
    fused.eval()
    x = images()
    np.testing.assert_array_equal(plain(x).numpy(), fused(x).numpy())
    # the swap itself, as it runs where CUDA is there (no forward here: the kernel is GPU-only)
    monkeypatch.setattr(swin, "fused_linear_available", lambda: True)
    model = tiny()
    params = {k: id(v) for k, v in model.state_dict().items()}
    swapped = swin.fuse_linears(model, ("qkv", "proj", "fc1", "fc2", "head"))
    assert swapped == 6 * 4 + 1  # six blocks x (qkv, proj, fc1, fc2) + the head
    assert {k: id(v) for k, v in model.state_dict().items()} == params  # the same parameters, the same keys
    assert type(model.head).__name__ == "FusedLinear"
    assert type(model.layers[0].downsample.reduction) is paddle.nn.Linear  # PaddleClas keeps this one plain
