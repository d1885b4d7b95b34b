"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s"), weight-compatible with PaddleClas 2.6.0.

Layout of the state dict (as PaddleClas): `downsample_layers.{0..3}` (stem: 4x4/4 conv + channels-first
LayerNorm; then LayerNorm + 2x2/2 conv), `stages.{0..3}.{j}` blocks (`gamma`, `dwconv`, `norm`, `pwconv1`,
`pwconv2`), the final `norm` and the classifier `head`.

`data_format="NHWC"` runs the whole network channels-last: the input is NHWC too (as for the ResNet families);
`forward_stages` returns NCHW maps either way.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .base import ClassifierBase
from .layers import DropPath, ones_, trunc_normal_, zeros_
from .registry import register_variants
from .spec import ModelSpec, Variant

_DATA_FORMATS = ("NCHW", "NHWC")


def _linear(in_features, out_features, std_scale=1.0):
    """nn.Linear with ConvNeXt's init: truncated normal (std 0.02, scaled) weight, zero bias."""
    if std_scale == 1.0:
        w_init = trunc_normal_
    elif std_scale == 0.0:
        w_init = zeros_
    else:
        # trunc_normal_ is N(0, 0.02) cut at +-2 (absolute); scaling a sample by s is N(0, 0.02 s) cut at +-2 s.
        w_init = nn.initializer.TruncatedNormal(std=0.02 * std_scale, a=-2.0 * abs(std_scale), b=2.0 * abs(std_scale))
    return nn.Linear(
        in_features, out_features,
        weight_attr=paddle.ParamAttr(initializer=w_init), bias_attr=paddle.ParamAttr(initializer=zeros_),
    )


def _conv(in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1, data_format="NCHW"):
    """nn.Conv2D with truncated normal (std 0.02) weight and zero bias."""
    return nn.Conv2D(
        in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups,
        weight_attr=paddle.ParamAttr(initializer=trunc_normal_), bias_attr=paddle.ParamAttr(initializer=zeros_),
        data_format=data_format,
    )


class ChannelLayerNorm(nn.Layer):
    """LayerNorm over the channel axis of a feature map (the stem / downsampling norm).

    NCHW: the channel axis is 1; the formula of PaddleClas's ChannelsFirstLayerNorm (mean, biased variance,
    divide by sqrt(var + eps)), the square written as d * d (agrees with PaddleClas to ~1e-6 on ConvNeXt_tiny
    logits). NHWC: the channel axis is last; a plain layer_norm over it.
    """

    def __init__(self, num_channels, epsilon=1e-6, data_format="NCHW"):
        super().__init__()
        self.weight = self.create_parameter(shape=[num_channels], default_initializer=ones_)
        self.bias = self.create_parameter(shape=[num_channels], default_initializer=zeros_)
        self.epsilon = epsilon
        self.data_format = data_format

    def forward(self, x):
        if self.data_format == "NHWC":
            return F.layer_norm(x, self.weight.shape, weight=self.weight, bias=self.bias, epsilon=self.epsilon)
        u = x.mean(1, keepdim=True)
        d = x - u
        # d * d, not (x - u).pow(2): oneDNN inference fuses pow wrongly (exported logits came out wrong).
        s = (d * d).mean(1, keepdim=True)
        x = d / paddle.sqrt(s + self.epsilon)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Block(nn.Layer):
    """dwconv 7x7 -> LayerNorm (channels-last) -> Linear 4x -> GELU -> Linear -> * gamma -> DropPath -> + x."""

    def __init__(self, dim, drop_path=0.0, layer_scale_init_value=1e-6, data_format="NCHW"):
        super().__init__()
        self.data_format = data_format
        if layer_scale_init_value > 0:
            self.gamma = self.create_parameter(
                shape=[dim], default_initializer=nn.initializer.Constant(value=layer_scale_init_value)
            )
        else:
            self.gamma = None
        self.dwconv = _conv(dim, dim, 7, padding=3, groups=dim, data_format=data_format)
        self.norm = nn.LayerNorm(dim, epsilon=1e-6)
        self.pwconv1 = _linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = _linear(4 * dim, dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        shortcut = x
        x = self.dwconv(x)
        if self.data_format == "NCHW":
            x = x.transpose([0, 2, 3, 1])
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        if self.gamma is not None:
            x = self.gamma * x
        if self.data_format == "NCHW":
            x = x.transpose([0, 3, 1, 2])
        return shortcut + self.drop_path(x)


class ConvNeXt(ClassifierBase):
    """ConvNeXt backbone + linear head.

    Args:
        in_chans: input image channels.
        class_num: classifier outputs (0: no head, logits are the pooled features).
        depths: blocks per stage (4 values).
        dims: channels per stage (4 values).
        drop_path_rate: stochastic depth rate, rising linearly from 0 over all blocks.
        layer_scale_init_value: initial layer-scale `gamma` (<= 0: no layer scale, and no `gamma` keys).
        head_init_scale: factor on the head's initial weights.
        data_format: "NCHW" or "NHWC": layout of the input and of every internal map.
    """

    head_prefixes = ("head.",)

    def __init__(self, in_chans=3, class_num=1000, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768),
                 drop_path_rate=0.0, layer_scale_init_value=1e-6, head_init_scale=1.0, data_format="NCHW"):
        super().__init__()
        depths, dims = [int(d) for d in depths], [int(d) for d in dims]
        if len(depths) != 4 or len(dims) != 4:
            raise ValueError(f"depths: ConvNeXt needs 4 depths and 4 dims, got depths={depths}, dims={dims}")
        if data_format not in _DATA_FORMATS:
            raise ValueError(f"data_format: must be one of {_DATA_FORMATS}, got {data_format!r}")
        if class_num < 0:
            raise ValueError(f"class_num: must be >= 0, got {class_num}")
        self.data_format = data_format
        self.num_features = dims[-1]
        self.head_init_scale = float(head_init_scale)

        self.downsample_layers = nn.LayerList()
        self.downsample_layers.append(nn.Sequential(
            _conv(in_chans, dims[0], 4, stride=4, data_format=data_format),
            ChannelLayerNorm(dims[0], epsilon=1e-6, data_format=data_format),
        ))
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                ChannelLayerNorm(dims[i], epsilon=1e-6, data_format=data_format),
                _conv(dims[i], dims[i + 1], 2, stride=2, data_format=data_format),
            ))

        rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
        self.stages = nn.LayerList()
        cur = 0
        for i in range(4):
            self.stages.append(nn.Sequential(*[
                Block(dims[i], drop_path=rates[cur + j], layer_scale_init_value=layer_scale_init_value,
                      data_format=data_format)
                for j in range(depths[i])
            ]))
            cur += depths[i]

        self.norm = nn.LayerNorm(dims[-1], epsilon=1e-6)
        self.head = self._make_head(class_num, self.head_init_scale)

    def _make_head(self, class_num, scale=1.0):
        return _linear(self.num_features, class_num, std_scale=scale) if class_num > 0 else nn.Identity()

    def _to_nchw(self, x):
        return x.transpose([0, 3, 1, 2]) if self.data_format == "NHWC" else x

    def forward_stages(self, x):
        """Feature maps after each of the 4 stages, NCHW, strides 4, 8, 16, 32."""
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            outs.append(self._to_nchw(x))
        return outs

    def forward_features(self, x):
        """Global average pool of the last stage, then the final LayerNorm: [N, dims[-1]]."""
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
        spatial = [1, 2] if self.data_format == "NHWC" else [-2, -1]
        return self.norm(x.mean(spatial))

    def stage_groups(self):
        """The stem (the first downsampling layer), then each stage with the downsampling before it."""
        groups = [[self.downsample_layers[0]]]
        for i, stage in enumerate(self.stages):
            groups.append(([self.downsample_layers[i]] if i else []) + [stage])
        return groups

    def layer_groups(self):
        """The stem, then each block (a downsampling layer goes with the block after it, as in stage_groups)."""
        groups = [[self.downsample_layers[0]]]
        for i, stage in enumerate(self.stages):
            blocks = [[block] for block in stage.children()]
            if i:
                blocks[0].insert(0, self.downsample_layers[i])
            groups.extend(blocks)
        return groups

    def forward_head(self, feats):
        return self.head(feats)

    def reset_classifier(self, class_num):
        """A freshly initialised head with `class_num` outputs (0: identity)."""
        self.head = self._make_head(int(class_num))


# PaddleClas 2.6's ConvNeXt configs: bicubic resize (PIL) of the short side to 256 / crop 224, or 384 / 384 for
# the _384 variants (same architecture, fine-tuned at 384); ImageNet mean/std.
_SPEC = {224: ModelSpec(interpolation="bicubic", backend="pil"),
         384: ModelSpec(input_size=384, resize_short=384, interpolation="bicubic", backend="pil")}


def _convnext(depths, dims, size=224):
    return Variant(dict(depths=depths, dims=dims), _SPEC[size])


VARIANTS = {
    "ConvNeXt_tiny": _convnext((3, 3, 9, 3), (96, 192, 384, 768)),
    "ConvNeXt_small": _convnext((3, 3, 27, 3), (96, 192, 384, 768)),
    "ConvNeXt_base_224": _convnext((3, 3, 27, 3), (128, 256, 512, 1024)),
    "ConvNeXt_base_384": _convnext((3, 3, 27, 3), (128, 256, 512, 1024), 384),
    "ConvNeXt_large_224": _convnext((3, 3, 27, 3), (192, 384, 768, 1536)),
    "ConvNeXt_large_384": _convnext((3, 3, 27, 3), (192, 384, 768, 1536), 384),
}
register_variants("ConvNeXt", ConvNeXt, VARIANTS, __name__)
