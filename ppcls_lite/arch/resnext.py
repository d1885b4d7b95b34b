"""ResNeXt (Xie et al., arXiv:1611.05431), ResNeXt-vd and ResNeXt101-WSL (Mahajan et al., arXiv:1805.00932).

Weight-compatible with PaddleClas 2.6.0's model_zoo/resnext.py, resnext_vd.py and resnext101_wsl.py:
- ResNeXt / ResNeXt-vd keys: `conv._conv.weight` (vd: `conv1_1` .. `conv1_3`), `bb_<stage>_<i>.conv0._batch_norm.*`,
  `bb_<stage>_<i>.short._conv.weight`, `out.weight`. The first block of every stage projects its shortcut.
- WSL keys: `_conv_stem._bn.*`, `_conv<stage+1>_<i>._conv0._conv.weight`, `_conv<stage+1>_<i>._short._conv._bn.*`,
  `_out.weight`; its head keeps Paddle's default Linear init.
"""
import paddle.nn as nn

from .cnn_blocks import (BottleneckBlock, ConvBNLayer as _ConvBNBase, ResNetLikeBase, build_stages,
                         check_data_format, stage_depths)
from .registry import register_variants
from .spec import Variant


class ConvBNLayer(_ConvBNBase):
    """conv + BN named as in PaddleClas's legacy model_zoo (`_conv`, `_batch_norm`)."""

    conv_attr = "_conv"
    bn_attr = "_batch_norm"


class WSLConvBNLayer(_ConvBNBase):
    """conv + BN named as in PaddleClas's ResNeXt101-WSL (`_conv`, `_bn`)."""

    conv_attr = "_conv"
    bn_attr = "_bn"


class ShortCut(nn.Layer):
    """WSL shortcut wrapper: a 1x1 projection under `_conv` when `project`, the identity otherwise."""

    def __init__(self, conv=None):
        super().__init__()
        self._conv = conv

    def forward(self, x):
        return x if self._conv is None else self._conv(x)


class WSLBottleneckBlock(BottleneckBlock):
    """Bottleneck with WSL's names: `_conv0`, `_conv1`, `_conv2` and an always-present `_short` wrapper."""

    names = ("_conv0", "_conv1", "_conv2", "_short")

    @staticmethod
    def make_shortcut(in_channels, out_channels, stride, project, vd, layer, data_format):
        return ShortCut(BottleneckBlock.make_shortcut(in_channels, out_channels, stride, project, vd, layer,
                                                      data_format))


class ResNeXt(ResNetLikeBase):
    """ResNeXt-`layers` (50/101/152) with `cardinality` groups of `group_width` channels in the first stage.

    Stage s has cardinality * group_width * 2**s grouped channels and outputs base_channels * 4 * 2**s
    (256 .. 2048 for the PaddleClas variants, whose base_channels is 64). `vd=True`: 3x3 stem and avg-pool
    shortcuts. Input: [N, 3, H, W] (or NHWC with `data_format="NHWC"`), H, W >= 32.
    """

    head_prefixes = ("out.",)
    head_attr = "out"
    layer_cls = ConvBNLayer
    block_cls = BottleneckBlock

    def __init__(self, layers=50, cardinality=32, group_width=4, vd=False, class_num=1000, data_format="NCHW",
                 base_channels=64, in_channels=3, lr_mult_list=None):
        super().__init__()
        check_data_format(data_format)
        depths = stage_depths(layers)
        self.layers, self.cardinality, self.group_width, self.vd = layers, cardinality, group_width, vd
        stem = self._named_stem(self._stem_names(vd), self.layer_cls, vd, base_channels, in_channels, data_format)

        def make_block(stage, i, channels, stride, first):
            mid, out = cardinality * group_width * 2 ** stage, base_channels * 4 * 2 ** stage
            block = self.block_cls(channels, mid, out, stride=stride, groups=cardinality, project=first,
                                   vd=vd and first and stage > 0, layer=self.layer_cls, data_format=data_format)
            setattr(self, self._block_name(stage, i), block)
            return block, out

        stages, channels = build_stages(depths, base_channels, make_block)
        self._setup(stem, stages, channels, class_num, data_format)
        if lr_mult_list is not None:  # as PaddleClas's ResNet: the stem's and each stage's multiplier
            self.scale_learning_rates(stage_mults=list(lr_mult_list))

    @staticmethod
    def _stem_names(vd):
        return ["conv1_1", "conv1_2", "conv1_3"] if vd else ["conv"]

    @staticmethod
    def _block_name(stage, i):
        return f"bb_{stage}_{i}"


class ResNeXt101WSL(ResNeXt):
    """ResNeXt101 32xWd pretrained weakly supervised on Instagram; PaddleClas's WSL layer names."""

    head_prefixes = ("_out.",)
    head_attr = "_out"
    uniform_head_init = False
    layer_cls = WSLConvBNLayer
    block_cls = WSLBottleneckBlock

    def __init__(self, group_width=8, cardinality=32, layers=101, **kwargs):
        if kwargs.get("vd"):
            raise ValueError("vd: ResNeXt101WSL has no vd version")
        super().__init__(layers=layers, cardinality=cardinality, group_width=group_width, **kwargs)

    @staticmethod
    def _stem_names(vd):
        return ["_conv_stem"]

    @staticmethod
    def _block_name(stage, i):
        return f"_conv{stage + 1}_{i}"


def _resnext(layers, cardinality, vd=False):
    return Variant(dict(layers=layers, cardinality=cardinality, group_width=4, vd=vd))


# PaddleClas 2.6's ResNeXt / ResNeXt101_wsl configs: resize 256 / crop 224, bilinear, ImageNet mean/std.
VARIANTS = {
    "ResNeXt50_32x4d": _resnext(50, 32),
    "ResNeXt50_64x4d": _resnext(50, 64),
    "ResNeXt101_32x4d": _resnext(101, 32),
    "ResNeXt101_64x4d": _resnext(101, 64),
    "ResNeXt152_32x4d": _resnext(152, 32),
    "ResNeXt152_64x4d": _resnext(152, 64),
    "ResNeXt50_vd_32x4d": _resnext(50, 32, vd=True),
    "ResNeXt50_vd_64x4d": _resnext(50, 64, vd=True),
    "ResNeXt101_vd_32x4d": _resnext(101, 32, vd=True),
    "ResNeXt101_vd_64x4d": _resnext(101, 64, vd=True),
    "ResNeXt152_vd_32x4d": _resnext(152, 32, vd=True),
    "ResNeXt152_vd_64x4d": _resnext(152, 64, vd=True),
}
WSL_VARIANTS = {
    "ResNeXt101_32x8d_wsl": Variant(dict(group_width=8)),
    "ResNeXt101_32x16d_wsl": Variant(dict(group_width=16)),
    "ResNeXt101_32x32d_wsl": Variant(dict(group_width=32)),
    "ResNeXt101_32x48d_wsl": Variant(dict(group_width=48)),
}
register_variants("ResNeXt", ResNeXt, VARIANTS, __name__)
# PaddleClas's MODEL_URLS names the 32x16d file "ResNeXt101_32x16_wsl" (a botched fix of a typo, PaddleClas
# issue #1128); its model-zoo tables link the file by the variant's own name, which is what this URL uses.
register_variants("ResNeXt", ResNeXt101WSL, WSL_VARIANTS, __name__)
