"""ResNet (He et al., arXiv:1512.03385) and ResNet-vd (arXiv:1812.01187), as PaddleClas 2.6.0's legendary ResNet.

State-dict keys equal PaddleClas's: `stem.N.conv.weight`, `stem.N.bn._mean`, `blocks.N.conv0.bn.weight`,
`blocks.N.short.conv.weight`, ..., `fc.weight`. As in PaddleClas, the first block of *every* stage has a 1x1
projection shortcut (even when shapes match); vd replaces the 7x7 stem by three 3x3 convs and strides the
shortcut with a 2x2 average pool instead of the 1x1 conv.
"""
import paddle.nn as nn

from .cnn_blocks import (BasicBlock, BottleneckBlock, ConvBNLayer, ResNetLikeBase, build_stages,
                         check_data_format, stage_depths, stem_specs)
from .dbb import DiverseBranchBlock
from .registry import register_variants
from .spec import Variant

# Arch.layer_type -> what builds the residual blocks' convs (PaddleClas's two)
LAYER_TYPES = {"ConvBNLayer": ConvBNLayer, "DiverseBranchBlock": DiverseBranchBlock}

# depth -> (block type, expansion of the block's output over its width)
NET_CONFIG = {
    18: (BasicBlock, 1),
    34: (BasicBlock, 1),
    50: (BottleneckBlock, 4),
    101: (BottleneckBlock, 4),
    152: (BottleneckBlock, 4),
    200: (BottleneckBlock, 4),
}


class ResNet(ResNetLikeBase):
    """ResNet-`layers` (18/34/50/101/152/200), version vb or vd (`vd=True`).

    `base_channels` (64 in every PaddleClas variant) is the stem width and the first stage's block width;
    later stages double it. Input: [N, 3, H, W] (NCHW) or [N, H, W, 3] (`data_format="NHWC"`), H, W >= 32.
    """

    head_prefixes = ("fc.",)
    head_attr = "fc"

    def __init__(self, layers=50, vd=False, class_num=1000, data_format="NCHW", base_channels=64, in_channels=3,
                 layer_type="ConvBNLayer", use_first_short_conv=True, lr_mult_list=None):
        super().__init__()
        check_data_format(data_format)
        depths = stage_depths(layers)
        block_cls, expansion = NET_CONFIG[layers]
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"layer_type: {layer_type!r} is not one of {', '.join(LAYER_TYPES)}")
        layer = LAYER_TYPES[layer_type]
        if not use_first_short_conv and base_channels * expansion != base_channels:
            raise ValueError(f"use_first_short_conv: False leaves the first block without a projection, which "
                             f"needs equal channels in and out ({base_channels} -> {base_channels * expansion}: "
                             "only ResNet18/34)")
        self.layers, self.vd, self.layer_type = layers, vd, layer_type
        self.stem = nn.Sequential(*[
            ConvBNLayer(i, o, k, stride=s, act="relu", data_format=data_format)
            for i, o, k, s in stem_specs(vd, base_channels, in_channels)
        ])

        def make_block(stage, i, channels, stride, first):
            width = base_channels * 2 ** stage
            # PaddleClas: use_first_short_conv False gives the very first block an identity shortcut; the
            # projections stay ConvBNLayer whatever layer_type builds the block's own convs
            project = first and (use_first_short_conv or stage > 0)
            kw = dict(stride=stride, project=project, vd=vd and first and stage > 0, data_format=data_format,
                      layer=layer, short_layer=ConvBNLayer)
            if block_cls is BasicBlock:
                return BasicBlock(channels, width, **kw), width * expansion
            return BottleneckBlock(channels, width, width * expansion, **kw), width * expansion

        stages, channels = build_stages(depths, base_channels, make_block)
        self.blocks = nn.Sequential(*[b for blocks in stages for b in blocks])
        self._setup(list(self.stem), stages, channels, class_num, data_format)
        if lr_mult_list is not None:  # PaddleClas's: the stem's and each stage's learning-rate multiplier
            self.scale_learning_rates(stage_mults=list(lr_mult_list))


_SSLD = ("standard", "ssld")
# PaddleClas 2.6's ResNet configs: resize 256 / crop 224, bilinear, ImageNet mean/std (the ModelSpec default).
VARIANTS = {
    "ResNet18": Variant(dict(layers=18), published=("standard", "dbb")),  # dbb: layer_type DiverseBranchBlock
    "ResNet18_vd": Variant(dict(layers=18, vd=True)),
    "ResNet34": Variant(dict(layers=34)),
    "ResNet34_vd": Variant(dict(layers=34, vd=True), published=_SSLD),
    "ResNet50": Variant(dict(layers=50)),
    "ResNet50_vd": Variant(dict(layers=50, vd=True), published=_SSLD),
    "ResNet101": Variant(dict(layers=101)),
    "ResNet101_vd": Variant(dict(layers=101, vd=True), published=_SSLD),
    "ResNet152": Variant(dict(layers=152)),
    "ResNet152_vd": Variant(dict(layers=152, vd=True)),
    "ResNet200_vd": Variant(dict(layers=200, vd=True)),
}
register_variants("ResNet", ResNet, VARIANTS, __name__, weights_folder="legendary_models/")
