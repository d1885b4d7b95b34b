"""Res2Net (Gao et al., arXiv:1904.01169) and Res2Net-vd, weight-compatible with PaddleClas 2.6.0's
model_zoo/res2net.py and res2net_vd.py.

Keys: `conv1._conv.weight` (vd: `conv1_1` .. `conv1_3`), `bb_<stage>_<i>.conv0._batch_norm.*`, the split convs
`bb_<stage>_<i>.res<stage+2><letter>_branch2b_<k>._conv.weight` (stage 3 of the 101/200-layer nets uses
`res4a`, `res4b1`, `res4b2`, ... instead of letters), `bb_*.conv2`, `bb_*.short`, `out.weight`.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .cnn_blocks import ConvBNLayer as _ConvBNBase, ResNetLikeBase, build_stages, check_data_format, stage_depths
from .registry import register_variants
from .spec import Variant


class ConvBNLayer(_ConvBNBase):
    """conv + BN named as in PaddleClas's legacy model_zoo (`_conv`, `_batch_norm`)."""

    conv_attr = "_conv"
    bn_attr = "_batch_norm"


class BottleneckBlock(nn.Layer):
    """Res2Net bottleneck: 1x1 -> split into `scales` groups -> hierarchical 3x3 convs -> concat -> 1x1.

    As in PaddleClas: with stride 1 split k > 0 is convolved after adding the previous split's output and the
    last split passes through; with stride 2 each split is convolved alone and the last one is 3x3 avg-pooled
    (padding excluded from the average). `split_style="timm"` is timm's Bottle2neck, which the timm weights need:
    every block with a projection shortcut (so also the first of stage 1, at stride 1) splits stand-alone, and
    its average counts the padding. The split convs are registered as `<prefix>_branch2b_<k>` (k = 1 ..
    scales-1).
    """

    def __init__(self, in_channels, mid_channels, out_channels, stride, scales, prefix, project=False, vd=False,
                 data_format="NCHW", split_style="paddleclas"):
        super().__init__()
        if mid_channels % scales:
            raise ValueError(f"scales: {mid_channels} channels do not split into {scales} scales")
        self.stride, self.scales = stride, scales
        timm = split_style == "timm"
        self.stand_alone = stride != 1 or (timm and project)
        self.data_format = data_format
        split = mid_channels // scales
        self.conv0 = ConvBNLayer(in_channels, mid_channels, 1, act="relu", data_format=data_format)
        self._split_convs = []
        for k in range(1, scales):
            conv = ConvBNLayer(split, split, 3, stride=stride, act="relu", data_format=data_format)
            setattr(self, f"{prefix}_branch2b_{k}", conv)
            self._split_convs.append(conv)
        self.pool2d_avg = nn.AvgPool2D(kernel_size=3, stride=stride, padding=1, exclusive=not timm,
                                       data_format=data_format)
        self.conv2 = ConvBNLayer(mid_channels, out_channels, 1, data_format=data_format)
        self.short = ConvBNLayer(in_channels, out_channels, 1, stride=stride, vd=vd, data_format=data_format) \
            if project else None

    @property
    def channel_axis(self):
        # Derived from data_format (not stored) so that data_format alone states the layout (see export.py).
        return 1 if self.data_format == "NCHW" else 3

    def forward(self, x):
        xs = paddle.split(self.conv0(x), self.scales, axis=self.channel_axis)
        ys = []
        for k, conv in enumerate(self._split_convs):
            ys.append(conv(xs[k] if k == 0 or self.stand_alone else xs[k] + ys[-1]))
        ys.append(self.pool2d_avg(xs[-1]) if self.stand_alone else xs[-1])
        y = self.conv2(paddle.concat(ys, axis=self.channel_axis))
        short = x if self.short is None else self.short(x)
        return F.relu(y + short)


class Res2Net(ResNetLikeBase):
    """Res2Net-`layers` (50/101/152/200) with `scales` splits of `width` channels in the first stage.

    Stage s has width * scales * 2**s split channels and outputs base_channels * 4 * 2**s (256 .. 2048 for
    the PaddleClas variants). `vd=True`: 3x3 stem and avg-pool shortcuts. Input: [N, 3, H, W] (or NHWC with
    `data_format="NHWC"`), H, W >= 32. `split_style`: "paddleclas", or "timm" for timm's Res2Net weights (see
    BottleneckBlock; tools/convert_weights.py sets it).
    """

    head_prefixes = ("out.",)
    head_attr = "out"

    def __init__(self, layers=50, scales=4, width=26, vd=False, class_num=1000, data_format="NCHW",
                 base_channels=64, in_channels=3, lr_mult_list=None, split_style="paddleclas"):
        super().__init__()
        check_data_format(data_format)
        if split_style not in ("paddleclas", "timm"):
            raise ValueError(f"split_style: 'paddleclas' or 'timm', got {split_style!r}")
        depths = stage_depths(layers)
        self.layers, self.scales, self.width, self.vd = layers, scales, width, vd
        names = ["conv1_1", "conv1_2", "conv1_3"] if vd else ["conv1"]
        stem = self._named_stem(names, ConvBNLayer, vd, base_channels, in_channels, data_format)

        def make_block(stage, i, channels, stride, first):
            mid, out = width * scales * 2 ** stage, base_channels * 4 * 2 ** stage
            if layers >= 101 and stage == 2:
                prefix = f"res{stage + 2}" + ("a" if first else f"b{i}")
            else:
                prefix = f"res{stage + 2}{chr(ord('a') + i)}"
            block = BottleneckBlock(channels, mid, out, stride=stride, scales=scales, prefix=prefix, project=first,
                                    vd=vd and first and stage > 0, data_format=data_format,
                                    split_style=split_style)
            setattr(self, f"bb_{stage}_{i}", block)
            return block, out

        stages, channels = build_stages(depths, base_channels, make_block)
        self._setup(stem, stages, channels, class_num, data_format)
        if lr_mult_list is not None:  # as PaddleClas's ResNet: the stem's and each stage's multiplier
            self.scale_learning_rates(stage_mults=list(lr_mult_list))


def _res2net(layers, scales, width, vd=False, published=("standard",)):
    return Variant(dict(layers=layers, scales=scales, width=width, vd=vd), published=published)


_SSLD = ("standard", "ssld")
# PaddleClas 2.6's Res2Net configs: resize 256 / crop 224, bilinear, ImageNet mean/std.
VARIANTS = {
    "Res2Net50_26w_4s": _res2net(50, 4, 26),
    "Res2Net50_14w_8s": _res2net(50, 8, 14),
    "Res2Net50_vd_26w_4s": _res2net(50, 4, 26, vd=True, published=_SSLD),
    "Res2Net101_vd_26w_4s": _res2net(101, 4, 26, vd=True, published=_SSLD),
    "Res2Net200_vd_26w_4s": _res2net(200, 4, 26, vd=True, published=_SSLD),
}
register_variants("Res2Net", Res2Net, VARIANTS, __name__)
