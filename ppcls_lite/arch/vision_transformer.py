"""Vision Transformer (Dosovitskiy et al. 2020), weight-compatible with PaddleClas 2.6.0's ViT_* models.

Beyond PaddleClas: ViT-Huge, ImageNet-21k variants with a timm-style `pre_logits` (Linear + Tanh), DeiT
(Touvron et al. 2021, plain and distilled with `dist_token` / `head_dist`; key layout of PaddleClas's DeiT
models), mean pooling, ResNet-hybrid patch embedding (vit_hybrid.py), SDPA attention, and inputs at any
resolution (the position embedding is resized bicubically on the fly when the patch grid differs).

Distilled models: forward_features returns concat(cls, dist) features ([N, 2 * embed_dim]); forward_head
returns (cls_logits, dist_logits) in train mode (DeiT's training interface) and their mean in eval mode.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .base import ClassifierBase
from .layers import DropPath, Mlp, ones_, resize_2d, to_2tuple, trunc_normal_, zeros_
from .registry import register_variants
from .spec import ModelSpec, Variant
from .vit_hybrid import HybridEmbed, ResNetStages


class PatchEmbed(nn.Layer):
    """Image to patch tokens: non-overlapping Conv2D(kernel = stride = patch_size)."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        img_size, patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid_size = (img_size[0] // patch_size[0], img_size[1] // patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2D(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward_map(self, x):
        """Embedded map [N, embed_dim, H // p, W // p] (any input size; remainders are cropped)."""
        return self.proj(x)

    def forward(self, x):
        return self.forward_map(x).flatten(2).transpose([0, 2, 1])


class Attention(nn.Layer):
    """Multi-head self-attention with a fused qkv projection (PaddleClas/timm key names).

    use_fused_attn routes through paddle.nn.functional.scaled_dot_product_attention (supported on CPU: Paddle 3.3
    picks its "math" backend there, which honours a custom `scale`); the plain path is the reference.
    """

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0.0, proj_drop=0.0,
                 use_fused_attn=False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads: embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.sdpa_scale = qk_scale or None  # None lets SDPA pick flash attention (it rejects a custom scale)
        self.use_fused_attn = use_fused_attn
        self.attn_drop_p = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias_attr=None if qkv_bias else False)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        n, c = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape([-1, n, 3, self.num_heads, self.head_dim])
        if self.use_fused_attn:
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, N, heads, head_dim]
            x = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.attn_drop_p if self.training else 0.0, training=self.training,
                scale=self.sdpa_scale)
        else:
            qkv = qkv.transpose([2, 0, 3, 1, 4])  # [3, B, heads, N, head_dim]
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = F.softmax(q.matmul(k, transpose_y=True) * self.scale, axis=-1)
            x = self.attn_drop(attn).matmul(v).transpose([0, 2, 1, 3])
        return self.proj_drop(self.proj(x.reshape([-1, n, c])))


class Block(nn.Layer):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)), with stochastic depth."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, qk_scale=None, drop=0.0, attn_drop=0.0,
                 drop_path=0.0, epsilon=1e-6, use_fused_attn=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=epsilon)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop,
                              proj_drop=drop, use_fused_attn=use_fused_attn)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, epsilon=epsilon)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), drop=drop)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class _PreLogits(nn.Layer):
    """timm's representation layer: Linear (`fc`) + Tanh (`act`)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x))


def _linear_head(in_features, class_num):
    if class_num <= 0:
        return nn.Identity()
    head = nn.Linear(in_features, class_num)
    trunc_normal_(head.weight)
    zeros_(head.bias)
    return head


class VisionTransformer(ClassifierBase):
    """ViT / DeiT classifier.

    Defaults are those of PaddleClas's ViT-B/16 (qkv_bias=True, epsilon=1e-6). pool: "cls" (class token after
    the final norm) or "mean" (mean of the normed patch tokens). representation_size adds `pre_logits`.
    hybrid_backbone: None (patch embedding), a tuple of bottleneck counts for the built-in compact ResNet
    (e.g. (3, 4, 9), width `hybrid_width`), or any layer with forward_stages; then patch_size applies to its
    last map. out_indices: blocks whose tokens forward_stages returns (default: 4 evenly spaced, last included).
    """

    head_prefixes = ("head.",)

    def __init__(self, img_size=224, patch_size=16, in_chans=3, class_num=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=True, qk_scale=None, representation_size=None,
                 distilled=False, pool="cls", drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0,
                 epsilon=1e-6, use_fused_attn=False, out_indices=None, hybrid_backbone=None, hybrid_width=64):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool: '{pool}' is not one of 'cls', 'mean'")
        if distilled and (pool != "cls" or representation_size):
            raise ValueError("distilled: distilled models use cls/dist tokens without pre_logits")
        self.class_num = class_num
        self.embed_dim = embed_dim
        self.depth = depth
        self.pool = pool
        self.distilled = bool(distilled)
        self.num_prefix_tokens = 2 if distilled else 1
        self.head_prefixes = ("head.", "head_dist.") if distilled else ("head.",)

        if hybrid_backbone is None:
            self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        else:
            if not isinstance(hybrid_backbone, nn.Layer):
                hybrid_backbone = ResNetStages(tuple(hybrid_backbone), in_chans, hybrid_width)
            self.patch_embed = HybridEmbed(hybrid_backbone, img_size, patch_size, in_chans, embed_dim)
        self.grid_size = tuple(self.patch_embed.grid_size)
        num_tokens = self.patch_embed.num_patches + self.num_prefix_tokens

        self.pos_embed = self.create_parameter([1, num_tokens, embed_dim], default_initializer=trunc_normal_)
        self.cls_token = self.create_parameter([1, 1, embed_dim], default_initializer=trunc_normal_)
        self.dist_token = (self.create_parameter([1, 1, embed_dim], default_initializer=trunc_normal_)
                           if distilled else None)
        self.pos_drop = nn.Dropout(p=drop_rate)

        dpr = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        self.blocks = nn.LayerList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, dpr[i],
                  epsilon, use_fused_attn)
            for i in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dim, epsilon=epsilon)
        if representation_size:
            self.pre_logits = _PreLogits(embed_dim, representation_size)
            self.head_in = representation_size
        else:
            self.pre_logits = nn.Identity()
            self.head_in = embed_dim
        self.num_features = 2 * embed_dim if distilled else self.head_in
        self.head = nn.Linear(self.head_in, class_num) if class_num > 0 else nn.Identity()
        if distilled:
            self.head_dist = nn.Linear(self.head_in, class_num) if class_num > 0 else nn.Identity()

        if out_indices is None:
            out_indices = sorted({max(0, depth * (i + 1) // 4 - 1) for i in range(4)})
        self.out_indices = [i % depth for i in out_indices]
        self._init_weights()

    def _init_weights(self):
        # PaddleClas/timm: truncated-normal Linear weights, zero biases; LayerNorm 1/0.
        for m in self.sublayers():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight)
                if m.bias is not None:
                    zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                ones_(m.weight)
                zeros_(m.bias)

    # ---- tokens -------------------------------------------------------------------------------------------
    def _pos_embed_for(self, grid):
        """pos_embed, its patch part resized bicubically when the input's patch grid differs from the built one."""
        if tuple(grid) == self.grid_size:
            return self.pos_embed
        npre, (gh, gw), c = self.num_prefix_tokens, self.grid_size, self.embed_dim
        patch = self.pos_embed[:, npre:].reshape([1, gh, gw, c]).transpose([0, 3, 1, 2])
        patch = F.interpolate(patch, size=list(grid), mode="bicubic", align_corners=False)
        patch = patch.transpose([0, 2, 3, 1]).reshape([1, grid[0] * grid[1], c])
        return paddle.concat([self.pos_embed[:, :npre], patch], axis=1)

    def _embed(self, x):
        x = self.patch_embed.forward_map(x)
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose([0, 2, 1])
        zeros = paddle.zeros_like(x[:, :1])  # batch-size-agnostic broadcast (works for dynamic batch in jit)
        prefix = [zeros + self.cls_token.astype(x.dtype)]
        if self.distilled:
            prefix.append(zeros + self.dist_token.astype(x.dtype))
        x = paddle.concat(prefix + [x], axis=1)
        return self.pos_drop(x + self._pos_embed_for(grid)), grid

    def forward_tokens(self, x):
        """All tokens after the final norm, [N, prefix + patches, embed_dim]."""
        x, _ = self._embed(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    # ---- contract -----------------------------------------------------------------------------------------
    def stage_groups(self):
        """The embedding (patches, position and class / distillation tokens), then each block as a stage."""
        stem = [self.patch_embed, self.pos_embed, self.cls_token] + ([self.dist_token] if self.distilled else [])
        return [stem] + [[block] for block in self.blocks]

    def forward_features(self, x):
        x = self.forward_tokens(x)
        if self.distilled:
            return paddle.concat([x[:, 0], x[:, 1]], axis=-1)
        x = x[:, self.num_prefix_tokens:].mean(axis=1) if self.pool == "mean" else x[:, 0]
        return self.pre_logits(x)

    def forward_head(self, feats):
        if not self.distilled:
            return self.head(feats)
        c = self.embed_dim
        x, x_dist = self.head(feats[:, :c]), self.head_dist(feats[:, c:])
        if self.training:
            return x, x_dist
        return (x + x_dist) / 2

    def forward_stages(self, x):
        """Patch tokens after the blocks in `out_indices` (no final norm), as maps [N, embed_dim, H/p, W/p]."""
        x, (gh, gw) = self._embed(x)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.out_indices:
                t = x[:, self.num_prefix_tokens:]
                outs.append(t.reshape([-1, gh, gw, self.embed_dim]).transpose([0, 3, 1, 2]))
        return outs

    def reset_classifier(self, class_num):
        self.class_num = class_num
        self.head = _linear_head(self.head_in, class_num)
        if self.distilled:
            self.head_dist = _linear_head(self.head_in, class_num)

    def adapt_state_dict(self, state):
        """Resize a pos_embed trained on another square patch grid (bicubic; prefix tokens kept)."""
        old = state.get("pos_embed")
        want = list(self.pos_embed.shape)
        if old is None or list(old.shape) == want or old.ndim != 3 or old.shape[2] != want[2]:
            return state
        npre = self.num_prefix_tokens
        side = math.isqrt(max(old.shape[1] - npre, 0))
        if side == 0 or side * side != old.shape[1] - npre:
            return state  # not a square grid: the loader reports the shape mismatch
        grid = resize_2d(old[0, npre:].reshape(side, side, want[2]), self.grid_size)
        state["pos_embed"] = np.concatenate([old[:, :npre], grid.reshape(1, -1, want[2])], axis=1)
        return state


# ---- variants -------------------------------------------------------------------------------------------------
# PaddleClas 2.6's configs: ViT resizes the short side to 256 (224 models) or 384 (384 models), bilinear, and
# normalises with mean = std = 0.5; DeiT resizes bicubic (PIL) to 256 / 438 with ImageNet mean/std. The variants
# PaddleClas lacks (huge, in21k, hybrid) take their ViT siblings' preprocessing and publish no weights.
_VIT = {224: ModelSpec(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        384: ModelSpec(input_size=384, resize_short=384, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))}
_DEIT = {224: ModelSpec(interpolation="bicubic", backend="pil"),
         384: ModelSpec(input_size=384, resize_short=438, interpolation="bicubic", backend="pil")}


def _vit(img, patch, dim, depth, heads, spec=_VIT, published=("standard",), **extra):
    kwargs = dict(img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads, **extra)
    return Variant(kwargs, spec[img], published)


def _deit(img, dim, heads, **extra):
    return _vit(img, 16, dim, 12, heads, spec=_DEIT, **extra)


def _extra(img, patch, dim, depth, heads, **extra):
    return _vit(img, patch, dim, depth, heads, published=(), **extra)


_IN21K = dict(class_num=21843)
VARIANTS = {
    # PaddleClas 2.6.0 (its ViT_small is not timm's ViT-S: depth 8, mlp_ratio 3, qk_scale dim**-0.5, eps 1e-5).
    "ViT_small_patch16_224": _vit(224, 16, 768, 8, 8, mlp_ratio=3, qkv_bias=False, qk_scale=768 ** -0.5,
                                  epsilon=1e-5),
    "ViT_base_patch16_224": _vit(224, 16, 768, 12, 12),
    "ViT_base_patch16_384": _vit(384, 16, 768, 12, 12),
    "ViT_base_patch32_384": _vit(384, 32, 768, 12, 12),
    "ViT_large_patch16_224": _vit(224, 16, 1024, 24, 16),
    "ViT_large_patch16_384": _vit(384, 16, 1024, 24, 16),
    "ViT_large_patch32_384": _vit(384, 32, 1024, 24, 16),
    # Extras, not in PaddleClas.
    "ViT_huge_patch14_224": _extra(224, 14, 1280, 32, 16),
    "ViT_base_patch16_224_in21k": _extra(224, 16, 768, 12, 12, representation_size=768, **_IN21K),
    "ViT_base_patch32_224_in21k": _extra(224, 32, 768, 12, 12, representation_size=768, **_IN21K),
    "ViT_large_patch16_224_in21k": _extra(224, 16, 1024, 24, 16, representation_size=1024, **_IN21K),
    "ViT_huge_patch14_224_in21k": _extra(224, 14, 1280, 32, 16, representation_size=1280, **_IN21K),
    "ViT_hybrid_base_r50_224": _extra(224, 1, 768, 12, 12, hybrid_backbone=(3, 4, 9)),
    "ViT_hybrid_base_r50_384": _extra(384, 1, 768, 12, 12, hybrid_backbone=(3, 4, 9)),
    "DeiT_tiny_patch16_224": _deit(224, 192, 3),
    "DeiT_small_patch16_224": _deit(224, 384, 6),
    "DeiT_base_patch16_224": _deit(224, 768, 12),
    "DeiT_base_patch16_384": _deit(384, 768, 12),
    "DeiT_tiny_distilled_patch16_224": _deit(224, 192, 3, distilled=True),
    "DeiT_small_distilled_patch16_224": _deit(224, 384, 6, distilled=True),
    "DeiT_base_distilled_patch16_224": _deit(224, 768, 12, distilled=True),
    "DeiT_base_distilled_patch16_384": _deit(384, 768, 12, distilled=True),
}
register_variants("VisionTransformer", VisionTransformer, VARIANTS, __name__)
