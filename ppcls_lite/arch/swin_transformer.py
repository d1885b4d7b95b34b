"""Swin Transformer (Liu et al. 2021, arXiv:2103.14030), weight-compatible with PaddleClas 2.6.0.

Numerics follow PaddleClas's `legendary_models/swin_transformer.py`:
  * inputs whose size is not a multiple of the patch (or of the window, inside each block) are zero-padded
    at the bottom/right as PaddleClas does -- including its quirk that, once one side needs padding, the
    other side is padded by a whole extra patch/window even when it is already a multiple;
  * the last stage shifts its windows even when the window covers the whole map (no clamping; timm's Swin,
    which the converted timm weights need, does not shift there: `shift_full_window=False`);
  * shifted-window masks use -100 (not -inf) for pairs from different regions.
`relative_position_index` is a persistable buffer (it is in PaddleClas's state_dict); the shift masks are
computed from the (padded) map size and cached as numpy arrays, so any input size works.
"""
import functools
import logging
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .base import ClassifierBase
from .layers import DropPath, Mlp, ones_, resize_2d, to_2tuple, trunc_normal_, zeros_
from .registry import register_variants
from .spec import ModelSpec, Variant

logger = logging.getLogger("ppcls_lite")

_MASK_VALUE = -100.0  # PaddleClas's value for token pairs from different shifted regions


def _pad_amounts(height, width, multiple):
    """Bottom/right padding PaddleClas applies to reach a multiple of `multiple` (see module docstring)."""
    if height % multiple == 0 and width % multiple == 0:
        return 0, 0
    return multiple - height % multiple, multiple - width % multiple


def window_partition(x, window_size):
    """[B, H, W, C] -> [B * nW, window_size, window_size, C] (windows in row-major order per image)."""
    _, height, width, channels = x.shape
    x = x.reshape([-1, height // window_size, window_size, width // window_size, window_size, channels])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, window_size, window_size, channels])


def window_reverse(windows, window_size, H, W, C):
    """Inverse of window_partition: [B * nW, ws, ws, C] -> [B, H, W, C]."""
    x = windows.reshape([-1, H // window_size, W // window_size, window_size, window_size, C])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, H, W, C])


def relative_position_index(window_size):
    """[Wh*Ww, Wh*Ww] int64: row of the bias table for every (query, key) pair of a window."""
    wh, ww = to_2tuple(window_size)
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)  # N, N, 2
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    return rel.sum(-1).astype("int64")


@functools.lru_cache(maxsize=64)
def shifted_window_mask(height, width, window_size, shift_size):
    """[nW, ws*ws, ws*ws] float32 additive mask (0 / -100) for a padded map of height x width.

    After the cyclic shift, tokens of a window may come from up to 3x3 regions of the unshifted map; tokens
    of different regions must not attend to each other. Read-only (cached).
    """
    region = np.zeros((height, width), dtype="float32")
    slices = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    count = 0
    for hs in slices:
        for ws in slices:
            region[hs, ws] = count
            count += 1
    ids = region.reshape(height // window_size, window_size, width // window_size, window_size)
    ids = ids.transpose(0, 2, 1, 3).reshape(-1, window_size * window_size)
    mask = np.where(ids[:, None, :] != ids[:, :, None], _MASK_VALUE, 0.0).astype("float32")
    mask.flags.writeable = False
    return mask


class WindowAttention(nn.Layer):
    """Window multi-head self-attention with a learned relative position bias (shifted or not)."""

    def __init__(self, dim, window_size, num_heads, qkv_bias=True, qk_scale=None, attn_drop=0.0,
                 proj_drop=0.0, use_fused_attn=False):
        super().__init__()
        self.dim = dim
        self.window_size = to_2tuple(window_size)
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        wh, ww = self.window_size
        self.relative_position_bias_table = self.create_parameter(
            shape=[(2 * wh - 1) * (2 * ww - 1), num_heads], default_initializer=trunc_normal_)
        self.register_buffer("relative_position_index", paddle.to_tensor(relative_position_index(self.window_size)))
        self.qkv = nn.Linear(dim, dim * 3, bias_attr=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.softmax = nn.Softmax(axis=-1)
        if use_fused_attn and not hasattr(F, "scaled_dot_product_attention"):
            logger.warning("scaled_dot_product_attention unavailable in this Paddle; using the plain attention")
            use_fused_attn = False
        # use_fused_attn: F.scaled_dot_product_attention with bias (+ shift mask) as an additive float mask.
        # Paddle 3.3.1's CPU SDPA supports that (tests check it equals the plain path); Paddle builds without
        # SDPA fall back to the plain path above with a warning.
        self.use_fused_attn = use_fused_attn

    def get_relative_position_bias(self):
        """[1, heads, N, N] bias gathered from the table."""
        n = self.window_size[0] * self.window_size[1]
        bias = paddle.index_select(self.relative_position_bias_table, self.relative_position_index.reshape([-1]))
        return bias.reshape([n, n, -1]).transpose([2, 0, 1]).unsqueeze(0)

    def forward(self, x, mask=None):
        """x: [B * nW, N, C]; mask: [nW, N, N] additive (0 / -100) or None."""
        _, n, c = x.shape
        h = self.num_heads
        qkv = self.qkv(x).reshape([-1, n, 3, h, c // h])
        bias = self.get_relative_position_bias()
        if self.use_fused_attn:
            q, k, v = paddle.unbind(qkv, axis=2)  # [B_, N, heads, d] each
            # A full [B_, heads, N, N] mask, as PaddleClas passes it (not every backend broadcasts one): the
            # per-window bias (+ shift mask) repeated over the images by adding zeros shaped [B, nW, 1, 1, 1],
            # which also works under to_static with an unknown batch size.
            nw = 1 if mask is None else mask.shape[0]
            per_window = bias if mask is None else bias + mask.unsqueeze(1)  # nW, heads, N, N
            zeros = paddle.zeros_like(x[:, :1, :1]).reshape([-1, nw, 1, 1, 1])
            attn_mask = (zeros + per_window.unsqueeze(0)).reshape([-1, h, n, n])
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop.p, training=self.training,
                scale=self.scale)
        else:
            q, k, v = paddle.unbind(qkv.transpose([2, 0, 3, 1, 4]), axis=0)  # [B_, heads, N, d] each
            attn = paddle.matmul(q * self.scale, k, transpose_y=True) + bias
            if mask is not None:
                nw = mask.shape[0]
                attn = attn.reshape([-1, nw, h, n, n]) + mask.unsqueeze(1).unsqueeze(0)
                attn = attn.reshape([-1, h, n, n])
            attn = self.attn_drop(self.softmax(attn))
            out = paddle.matmul(attn, v).transpose([0, 2, 1, 3])
        return self.proj_drop(self.proj(out.reshape([-1, n, c])))

    def extra_repr(self):
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"


class SwinTransformerBlock(nn.Layer):
    """norm -> (shifted) window attention -> residual; norm -> MLP -> residual."""

    def __init__(self, dim, num_heads, window_size=7, shift_size=0, mlp_ratio=4.0, qkv_bias=True,
                 qk_scale=None, drop=0.0, attn_drop=0.0, drop_path=0.0, use_fused_attn=False,
                 shift_full_window=True):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.shift_full_window = shift_full_window
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop,
                                    use_fused_attn=use_fused_attn)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x, hw):
        height, width = hw
        c = x.shape[-1]
        ws, shift = self.window_size, self.shift_size
        if not self.shift_full_window and min(height, width) <= ws:
            shift = 0
        shortcut = x
        x = self.norm1(x).reshape([-1, height, width, c])
        pad_h, pad_w = _pad_amounts(height, width, ws)
        if pad_h or pad_w:
            x = F.pad(x, [0, 0, 0, pad_h, 0, pad_w, 0, 0])
        hp, wp = height + pad_h, width + pad_w
        if shift > 0:
            x = paddle.roll(x, shifts=(-shift, -shift), axis=(1, 2))
        windows = window_partition(x, ws).reshape([-1, ws * ws, c])
        mask = None
        if shift > 0:
            mask = paddle.to_tensor(shifted_window_mask(hp, wp, ws, shift)).astype(x.dtype)
        windows = self.attn(windows, mask=mask).reshape([-1, ws, ws, c])
        x = window_reverse(windows, ws, hp, wp, c)
        if shift > 0:
            x = paddle.roll(x, shifts=(shift, shift), axis=(1, 2))
        if pad_h or pad_w:
            x = x[:, :height, :width, :]
        x = shortcut + self.drop_path(x.reshape([-1, height * width, c]))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def extra_repr(self):
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, shift={self.shift_size}"


class PatchMerging(nn.Layer):
    """2x2 neighbouring tokens -> concat (4C) -> LayerNorm -> Linear to 2C (halves H and W)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias_attr=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x, hw):
        height, width = hw
        c = x.shape[-1]
        x = x.reshape([-1, height, width, c])
        if height % 2 or width % 2:
            x = F.pad(x, [0, 0, 0, height % 2, 0, width % 2, 0, 0])
        x = paddle.concat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
        x = x.reshape([-1, ((height + 1) // 2) * ((width + 1) // 2), 4 * c])
        return self.reduction(self.norm(x))


class BasicLayer(nn.Layer):
    """One stage: `depth` blocks alternating plain / shifted windows, then an optional PatchMerging."""

    def __init__(self, dim, depth, num_heads, window_size, mlp_ratio=4.0, qkv_bias=True, qk_scale=None,
                 drop=0.0, attn_drop=0.0, drop_path=0.0, downsample=True, use_fused_attn=False,
                 shift_full_window=True):
        super().__init__()
        self.dim = dim
        self.depth = depth
        rates = drop_path if isinstance(drop_path, (list, tuple)) else [drop_path] * depth
        self.blocks = nn.LayerList([
            SwinTransformerBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, mlp_ratio,
                                 qkv_bias, qk_scale, drop, attn_drop, rates[i], use_fused_attn=use_fused_attn,
                                 shift_full_window=shift_full_window)
            for i in range(depth)
        ])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward_blocks(self, x, hw):
        """Tokens after the blocks, before merging: [B, H*W, C]."""
        for blk in self.blocks:
            x = blk(x, hw)
        return x

    def forward(self, x, hw):
        x = self.forward_blocks(x, hw)
        if self.downsample is not None:
            x = self.downsample(x, hw)
            hw = ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
        return x, hw


class PatchEmbed(nn.Layer):
    """Non-overlapping patch_size x patch_size convolution to embed_dim channels, then an optional LayerNorm."""

    def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96, patch_norm=True):
        super().__init__()
        self.img_size = to_2tuple(img_size)
        self.patch_size = to_2tuple(patch_size)
        self.patches_resolution = [self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1]]
        self.num_patches = self.patches_resolution[0] * self.patches_resolution[1]
        self.embed_dim = embed_dim
        self.proj = nn.Conv2D(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x):
        """[B, C, H, W] -> ([B, h*w, embed_dim], (h, w))."""
        height, width = x.shape[2], x.shape[3]
        ph, pw = self.patch_size
        if height % ph or width % pw:  # PaddleClas pads both sides then (see module docstring)
            x = F.pad(x, [0, 0, 0, 0, 0, ph - height % ph, 0, pw - width % pw])
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose([0, 2, 1])
        if self.norm is not None:
            x = self.norm(x)
        return x, hw


def fused_linear_available():
    """Whether Paddle's FusedLinear (fused_gemm_epilogue, a CUDA kernel) can run on the current device."""
    return paddle.is_compiled_with_cuda() and paddle.get_device().startswith("gpu") and \
        hasattr(paddle.incubate.nn, "FusedLinear")


def fuse_linears(model, names):
    """PaddleClas's use_fused_linear: the nn.Linear sublayers called `names` (the attention's qkv / proj, the
    MLP's fc1 / fc2 and the head) become FusedLinear holding the same parameters, so the state dict and the
    numbers stay those of nn.Linear. Where the kernel is unavailable (CPU), one warning and nothing changes."""
    if not fused_linear_available():
        logger.warning("Arch.use_fused_linear: Paddle's FusedLinear needs a CUDA GPU; using nn.Linear (the same "
                       "numbers)")
        return 0
    swapped = 0
    for parent in model.sublayers(include_self=True):
        for name, child in list(parent.named_children()):
            if name in names and type(child) is nn.Linear:
                fused = paddle.incubate.nn.FusedLinear(child.weight.shape[0], child.weight.shape[1],
                                                       bias_attr=None if child.bias is not None else False)
                fused.weight = child.weight
                if child.bias is not None:
                    fused.bias = child.bias
                setattr(parent, name, fused)
                swapped += 1
    return swapped


class SwinTransformer(ClassifierBase):
    """Hierarchical vision transformer with shifted windows; PaddleClas key names and numerics."""

    head_prefixes = ("head.",)

    def __init__(self, img_size=224, patch_size=4, in_chans=3, class_num=1000, embed_dim=96, depths=(2, 2, 6, 2),
                 num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0, qkv_bias=True, qk_scale=None,
                 drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1, ape=False, patch_norm=True,
                 use_fused_attn=False, use_fused_linear=False, shift_full_window=True):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"num_heads: {len(num_heads)} entries for the {len(depths)} stages of depths {list(depths)}")
        self.class_num = class_num
        self.num_layers = len(depths)
        self.embed_dim = embed_dim
        self.window_size = window_size
        self.ape = ape
        self.num_features = int(embed_dim * 2 ** (self.num_layers - 1))
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, patch_norm)
        self.patches_resolution = self.patch_embed.patches_resolution
        if ape:
            self.absolute_pos_embed = self.create_parameter(
                shape=[1, self.patch_embed.num_patches, embed_dim], default_initializer=trunc_normal_)
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = np.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.LayerList()
        for i in range(self.num_layers):
            self.layers.append(BasicLayer(
                int(embed_dim * 2 ** i), depths[i], num_heads[i], window_size, mlp_ratio, qkv_bias, qk_scale,
                drop_rate, attn_drop_rate, dpr[sum(depths[:i]):sum(depths[:i + 1])],
                downsample=i < self.num_layers - 1, use_fused_attn=use_fused_attn,
                shift_full_window=shift_full_window))
        self.norm = nn.LayerNorm(self.num_features)
        self.head = self._make_head(class_num)
        self.apply(self._init_weights)
        if use_fused_linear:
            fuse_linears(self, ("qkv", "proj", "fc1", "fc2", "head"))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight)
            if m.bias is not None:
                zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            zeros_(m.bias)
            ones_(m.weight)

    def _make_head(self, class_num):
        if class_num <= 0:
            return nn.Identity()
        head = nn.Linear(self.num_features, class_num)
        self._init_weights(head)
        return head

    def stage_groups(self):
        """The patch embedding (and absolute position embedding), then each layer (with its patch merging)."""
        stem = [self.patch_embed] + ([self.absolute_pos_embed] if self.ape else [])
        return [stem] + [[layer] for layer in self.layers]

    def layer_groups(self):
        """The patch embedding, then each block (a patch merging goes with the block before it), as SimMIM's
        layer-wise decay numbers Swin's layers."""
        groups = [self.stage_groups()[0]]
        for layer in self.layers:
            groups.extend([block] for block in layer.blocks)
            if layer.downsample is not None:
                groups[-1].append(layer.downsample)
        return groups

    def reset_classifier(self, class_num):
        self.class_num = class_num
        self.head = self._make_head(class_num)

    def _pos_embed(self, hw):
        """Absolute position embedding for an h x w token grid (bicubic resize when it differs)."""
        pos = self.absolute_pos_embed
        if tuple(hw) == tuple(self.patches_resolution):
            return pos
        h0, w0 = self.patches_resolution
        grid = pos.reshape([1, h0, w0, -1]).transpose([0, 3, 1, 2])
        grid = F.interpolate(grid, size=list(hw), mode="bicubic", align_corners=False)
        return grid.transpose([0, 2, 3, 1]).reshape([1, hw[0] * hw[1], -1])

    def _embed(self, x):
        x, hw = self.patch_embed(x)
        if self.ape:
            x = x + self._pos_embed(hw)
        return self.pos_drop(x), hw

    def forward_features(self, x):
        x, hw = self._embed(x)
        for layer in self.layers:
            x, hw = layer(x, hw)
        return self.norm(x).mean(axis=1)

    def forward_head(self, feats):
        return self.head(feats)

    def forward_stages(self, x):
        """Each stage's tokens before merging, as NCHW maps (strides 4, 8, 16, 32; no final norm)."""
        x, hw = self._embed(x)
        outs = []
        for layer in self.layers:
            x = layer.forward_blocks(x, hw)
            outs.append(x.reshape([-1, hw[0], hw[1], x.shape[-1]]).transpose([0, 3, 1, 2]))
            if layer.downsample is not None:
                x = layer.downsample(x, hw)
                hw = ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
        return outs

    def adapt_state_dict(self, state):
        """Fit weights made for another window size / resolution.

        Relative position bias tables are resized bicubically on their (2W-1) x (2W-1) grid, index buffers
        are rebuilt, cached buffers PaddleClas may have saved (eval-time `relative_position_bias`,
        `attn_mask`) are dropped, and the absolute position embedding (ape) is resized on its token grid.
        Tensors whose head count / channel count differ are left for the loader to report.
        """
        own = self.state_dict()
        out = {}
        for key, value in state.items():
            if key not in own and key.endswith((".attn.relative_position_bias", ".attn_mask")):
                continue
            target = own.get(key)
            if target is not None and tuple(value.shape) != tuple(target.shape):
                if key.endswith(".relative_position_index"):
                    value = target.numpy()
                elif key.endswith(".relative_position_bias_table"):
                    value = _resize_bias_table(value, target.shape)
                elif key == "absolute_pos_embed":
                    value = _resize_token_grid(value, target.shape)
            out[key] = value
        return out


def _resize_bias_table(table, new_shape):
    """[(2W-1)^2, heads] -> [(2W'-1)^2, heads] by bicubic resizing of the offset grid (square windows)."""
    old_side, new_side = math.isqrt(table.shape[0]), math.isqrt(int(new_shape[0]))
    if old_side ** 2 != table.shape[0] or new_side ** 2 != new_shape[0] or table.shape[1] != new_shape[1]:
        return table
    grid = table.reshape(old_side, old_side, -1)
    return resize_2d(grid, (new_side, new_side)).reshape(new_side * new_side, -1)


def _resize_token_grid(pos, new_shape):
    """[1, h*w, C] -> [1, h'*w', C] for square token grids."""
    old_side, new_side = math.isqrt(pos.shape[1]), math.isqrt(int(new_shape[1]))
    if old_side ** 2 != pos.shape[1] or new_side ** 2 != new_shape[1] or pos.shape[2] != new_shape[2]:
        return pos
    grid = pos.reshape(old_side, old_side, -1)
    return resize_2d(grid, (new_side, new_side)).reshape(1, new_side * new_side, -1)


# PaddleClas 2.6's Swin configs: bicubic resize of the short side (PIL) to 256 / 438, centre crop 224 / 384.
_SPEC_224 = ModelSpec(interpolation="bicubic", backend="pil")
_SPEC_384 = ModelSpec(input_size=384, resize_short=438, interpolation="bicubic", backend="pil")


def _swin(img_size, embed_dim, depths, num_heads, window_size, drop_path_rate, published=("standard",)):
    """A row with PaddleClas's factory arguments; its large variants publish only ImageNet-22k->1k weights."""
    return Variant(dict(img_size=img_size, embed_dim=embed_dim, depths=list(depths), num_heads=list(num_heads),
                        window_size=window_size, drop_path_rate=drop_path_rate),
                   _SPEC_384 if img_size == 384 else _SPEC_224, published)


_22K = ("standard", "22kto1k")
VARIANTS = {
    "SwinTransformer_tiny_patch4_window7_224": _swin(224, 96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 0.2),
    "SwinTransformer_small_patch4_window7_224": _swin(224, 96, (2, 2, 18, 2), (3, 6, 12, 24), 7, 0.3),
    "SwinTransformer_base_patch4_window7_224": _swin(224, 128, (2, 2, 18, 2), (4, 8, 16, 32), 7, 0.5, _22K),
    "SwinTransformer_base_patch4_window12_384": _swin(384, 128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 0.5, _22K),
    "SwinTransformer_large_patch4_window7_224": _swin(224, 192, (2, 2, 18, 2), (6, 12, 24, 48), 7, 0.1,
                                                      ("22kto1k",)),
    "SwinTransformer_large_patch4_window12_384": _swin(384, 192, (2, 2, 18, 2), (6, 12, 24, 48), 12, 0.1,
                                                       ("22kto1k",)),
}
register_variants("SwinTransformer", SwinTransformer, VARIANTS, __name__, weights_folder="legendary_models/")
