"""Parameter and multiply-accumulate (MAC) counting for any model, by running one forward pass.

Convention: one MAC is one multiply-add of a convolution, a fully connected layer or a tensor product
(matmul / bmm / scaled-dot-product attention). Bias additions, normalisation, activations, pooling, softmax and
other elementwise ops are not counted (they are a fraction of a percent for these models). "GFLOPs" in
PaddleClas's model tables are these GMACs for most families (ConvNeXt, Swin, ViT); for the ResNet family the
published figure is 2 x MACs, and PaddleClas's ViT figures leave out the attention products (q k^T, attn v).
The per-kind breakdown of `count_macs` lets one reproduce either convention.

How it counts:
  * forward hooks on nn.Conv1D/2D/3D (MACs = output elements x weight elements per output channel), on the
    transposed convolutions (input elements x weight elements per input channel) and on nn.Linear (output
    elements x in_features);
  * while counting, paddle.matmul / mm / bmm, Tensor.matmul / @, F.linear, F.conv1d/2d/3d and
    F.scaled_dot_product_attention are wrapped, so products written functionally (attention) are counted
    too. A nesting guard counts each product once, at its outermost counted call.

`paddle.flops` is not used: it only hooks layer types (attention products are invisible to it), counts bias and
normalisation ops, and fails on several of these models in Paddle 3.3.
"""
import contextlib
import math
from dataclasses import dataclass, field

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

_CONV = (nn.Conv1D, nn.Conv2D, nn.Conv3D)
_CONV_T = (nn.Conv1DTranspose, nn.Conv2DTranspose, nn.Conv3DTranspose)


def _numel(shape):
    return int(math.prod(int(s) for s in shape))


@dataclass
class MacsReport:
    """MACs of one forward pass, split by kind: 'conv', 'linear', 'matmul' (functional products, attention)."""

    by_kind: dict = field(default_factory=lambda: {"conv": 0, "linear": 0, "matmul": 0})

    @property
    def total(self):
        return sum(self.by_kind.values())

    def add(self, kind, macs):
        self.by_kind[kind] += int(macs)


def matmul_macs(x_shape, y_shape, transpose_x=False, transpose_y=False):
    """MACs of paddle.matmul(x, y) for the given shapes (broadcast batch dimensions, 1-D operands)."""
    x_shape, y_shape = [int(s) for s in x_shape], [int(s) for s in y_shape]
    if len(x_shape) == 1:
        x_shape = [1] + x_shape
    elif transpose_x:
        x_shape = x_shape[:-2] + [x_shape[-1], x_shape[-2]]
    if len(y_shape) == 1:
        y_shape = y_shape + [1]
    elif transpose_y:
        y_shape = y_shape[:-2] + [y_shape[-1], y_shape[-2]]
    m, k, n = x_shape[-2], x_shape[-1], y_shape[-1]
    batch = _numel(paddle.broadcast_shape(x_shape[:-2] or [1], y_shape[:-2] or [1]))
    return batch * m * k * n


def conv_macs(weight_shape, out_shape):
    """MACs of a (grouped) convolution: each output element takes weight[1:] products."""
    return _numel(out_shape) * _numel(weight_shape[1:])


def sdpa_macs(q_shape, k_shape, v_shape):
    """MACs of scaled_dot_product_attention on [B, L, H, D] tensors: q k^T plus attn v."""
    b, lq, h, d = (int(s) for s in q_shape)
    s, dv = int(k_shape[1]), int(v_shape[-1])
    return b * h * lq * s * (d + dv)


class _Counter:
    def __init__(self):
        self.report = MacsReport()
        self.depth = 0  # > 0 inside a counted call: inner products belong to it

    def enter(self):
        self.depth += 1
        return self.depth == 1

    def leave(self, kind, macs_fn):
        self.depth -= 1
        if self.depth == 0:
            self.report.add(kind, macs_fn())

    # Layer hooks ----------------------------------------------------------------------------------------
    def pre_hook(self, layer, inputs):
        self.enter()

    def post_hook(self, layer, inputs, output):
        if isinstance(layer, nn.Linear):
            self.leave("linear", lambda: _numel(output.shape) * int(layer.weight.shape[0]))
        elif isinstance(layer, _CONV_T):
            self.leave("conv", lambda: _numel(inputs[0].shape) * _numel(layer.weight.shape[1:]))
        else:
            self.leave("conv", lambda: conv_macs(layer.weight.shape, output.shape))

    # Functional wrappers ---------------------------------------------------------------------------------
    def wrap(self, fn, kind, macs_of):
        def counted(*args, **kwargs):
            self.enter()
            try:
                out = fn(*args, **kwargs)
            except BaseException:
                self.depth -= 1
                raise
            self.leave(kind, lambda: macs_of(out, *args, **kwargs))
            return out

        counted.__wrapped__ = fn
        return counted


def _matmul_of(out, x, y, transpose_x=False, transpose_y=False, name=None):
    return matmul_macs(x.shape, y.shape, transpose_x, transpose_y)


def _rmatmul_of(out, y, x):
    return matmul_macs(x.shape, y.shape)


def _linear_of(out, x, weight, *args, **kwargs):
    return _numel(out.shape) * int(weight.shape[0])


def _conv_of(out, x, weight, *args, **kwargs):
    return conv_macs(weight.shape, out.shape)


def _sdpa_of(out, query, key, value, *args, **kwargs):
    return sdpa_macs(query.shape, key.shape, value.shape)


@contextlib.contextmanager
def _patched(counter):
    """Wrap the functional products for the duration of a count; always restored."""
    targets = [
        (paddle, "matmul", "matmul", _matmul_of),
        (paddle, "mm", "matmul", _matmul_of),
        (paddle, "bmm", "matmul", _matmul_of),
        (paddle.Tensor, "matmul", "matmul", _matmul_of),
        (paddle.Tensor, "__matmul__", "matmul", _matmul_of),
        (paddle.Tensor, "__rmatmul__", "matmul", _rmatmul_of),
        (F, "linear", "linear", _linear_of),
        (F, "conv1d", "conv", _conv_of),
        (F, "conv2d", "conv", _conv_of),
        (F, "conv3d", "conv", _conv_of),
        (F, "scaled_dot_product_attention", "matmul", _sdpa_of),
    ]
    saved = []
    try:
        for owner, attr, kind, macs_of in targets:
            fn = getattr(owner, attr, None)
            if fn is None:
                continue
            saved.append((owner, attr, fn))
            setattr(owner, attr, counter.wrap(fn, kind, macs_of))
        yield
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)


def count_macs(model, x):
    """MacsReport of one eval-mode, no-grad forward of `model` on `x` (a tensor, or a shape to feed zeros).

    The model's train/eval mode is restored afterwards.
    """
    if not isinstance(x, paddle.Tensor):
        x = paddle.zeros(list(x), dtype="float32")
    counter = _Counter()
    handles = []
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, _CONV + _CONV_T + (nn.Linear,)):
            handles.append(layer.register_forward_pre_hook(counter.pre_hook))
            handles.append(layer.register_forward_post_hook(counter.post_hook))
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad(), _patched(counter):
            model(x)
    finally:
        for h in handles:
            h.remove()
        if was_training:
            model.train()
    return counter.report


def count_params(model):
    """(trainable, all): parameter element counts; `all` adds frozen ones such as BatchNorm running statistics."""
    trainable = total = 0
    for p in model.parameters():
        n = _numel(p.shape)
        total += n
        if not p.stop_gradient:
            trainable += n
    return trainable, total
