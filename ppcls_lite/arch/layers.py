"""Blocks shared by several families: DropPath, Mlp, truncated-normal init, resizing helpers."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

trunc_normal_ = nn.initializer.TruncatedNormal(std=0.02)
zeros_ = nn.initializer.Constant(value=0.0)
ones_ = nn.initializer.Constant(value=1.0)


def to_2tuple(x):
    """(x, x) for a scalar, the pair itself otherwise."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


def drop_path(x, drop_prob=0.0, training=False):
    """Stochastic depth per sample: zero whole residual branches, rescale the kept ones."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = paddle.floor(keep_prob + paddle.rand(shape, dtype=x.dtype))
    return x.divide(paddle.to_tensor(keep_prob, dtype=x.dtype)) * mask


class DropPath(nn.Layer):
    """Stochastic depth (Huang et al. 2016) as a layer."""

    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class Mlp(nn.Layer):
    """Transformer feed-forward: fc1 -> act -> drop -> fc2 -> drop (PaddleClas key names)."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU, drop=0.0):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def resize_2d(array, new_hw, mode="bicubic"):
    """Resize a numpy [H, W, C] grid to new_hw with Paddle's interpolation (align_corners=False)."""
    t = paddle.to_tensor(np.ascontiguousarray(array.transpose(2, 0, 1)[None]), dtype="float32")
    out = F.interpolate(t, size=list(new_hw), mode=mode, align_corners=False)
    return out[0].numpy().transpose(1, 2, 0).astype(array.dtype)
