"""Pieces shared by the ResNet, ResNeXt and Res2Net families.

The three families differ mostly in the *names* PaddleClas gives their sub-layers (the legendary ResNet uses
`conv`/`bn`, the legacy model_zoo files `_conv`/`_batch_norm`, WSL `_conv`/`_bn`), so the layers here take
those names from class attributes that each family's subclass sets; the numerics are written once.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .base import ClassifierBase

# Residual blocks per stage for each depth (PaddleClas's NET_CONFIG "block_depth").
STAGE_DEPTHS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 12, 48, 3),
}


def stage_depths(layers):
    """Blocks per stage for a depth; ValueError naming the supported depths otherwise."""
    if layers not in STAGE_DEPTHS:
        raise ValueError(f"layers: {layers} is not supported; choose one of {sorted(STAGE_DEPTHS)}")
    return STAGE_DEPTHS[layers]


def check_data_format(data_format):
    if data_format not in ("NCHW", "NHWC"):
        raise ValueError(f"data_format: must be 'NCHW' or 'NHWC', got {data_format!r}")
    return data_format


class ConvBNLayer(nn.Layer):
    """[2x2 avg pool if vd] -> conv (no bias, 'same' padding) -> BatchNorm -> [ReLU].

    vd mode (ResNet-D shortcut, arXiv:1812.01187) moves the stride from the conv into a 2x2 average pool
    (ceil mode, padding excluded from the mean). Subclasses rename the conv / BN attributes.
    """

    conv_attr = "conv"
    bn_attr = "bn"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, act=None, vd=False,
                 data_format="NCHW"):
        super().__init__()
        self.act = act
        self.vd = vd
        if vd:
            self.avg_pool = nn.AvgPool2D(kernel_size=2, stride=stride, padding=0, ceil_mode=True,
                                         data_format=data_format)
        conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=1 if vd else stride,
                         padding=(kernel_size - 1) // 2, groups=groups, bias_attr=False, data_format=data_format)
        setattr(self, self.conv_attr, conv)
        setattr(self, self.bn_attr, nn.BatchNorm2D(out_channels, data_format=data_format))

    def forward(self, x):
        if self.vd:
            x = self.avg_pool(x)
        x = getattr(self, self.bn_attr)(getattr(self, self.conv_attr)(x))
        return F.relu(x) if self.act == "relu" else x


class BasicBlock(nn.Layer):
    """Two 3x3 convs plus a shortcut (1x1 projection when `project`; vd: avg-pool before it). `layer` builds the
    convs, `short_layer` (default: `layer`) the projection."""

    def __init__(self, in_channels, out_channels, stride=1, project=False, vd=False, layer=ConvBNLayer,
                 data_format="NCHW", short_layer=None):
        super().__init__()
        self.conv0 = layer(in_channels, out_channels, 3, stride=stride, act="relu", data_format=data_format)
        self.conv1 = layer(out_channels, out_channels, 3, data_format=data_format)
        self.short = (short_layer or layer)(in_channels, out_channels, 1, stride=stride, vd=vd,
                                            data_format=data_format) if project else None

    def forward(self, x):
        short = x if self.short is None else self.short(x)
        return F.relu(self.conv1(self.conv0(x)) + short)


class BottleneckBlock(nn.Layer):
    """1x1 reduce -> 3x3 (strided, optionally grouped) -> 1x1 expand, plus a shortcut.

    `names` are the attribute names of the three convs and the shortcut; `make_shortcut` builds the latter
    (a projection ConvBNLayer, vd: avg-pooled, or None for identity) and may be overridden.
    """

    names = ("conv0", "conv1", "conv2", "short")

    def __init__(self, in_channels, mid_channels, out_channels, stride=1, groups=1, project=False, vd=False,
                 layer=ConvBNLayer, data_format="NCHW", short_layer=None):
        super().__init__()
        n0, n1, n2, ns = self.names
        setattr(self, n0, layer(in_channels, mid_channels, 1, act="relu", data_format=data_format))
        setattr(self, n1, layer(mid_channels, mid_channels, 3, stride=stride, groups=groups, act="relu",
                                data_format=data_format))
        setattr(self, n2, layer(mid_channels, out_channels, 1, data_format=data_format))
        setattr(self, ns, self.make_shortcut(in_channels, out_channels, stride, project, vd, short_layer or layer,
                                             data_format))

    @staticmethod
    def make_shortcut(in_channels, out_channels, stride, project, vd, layer, data_format):
        if not project:
            return None
        return layer(in_channels, out_channels, 1, stride=stride, vd=vd, data_format=data_format)

    def forward(self, x):
        n0, n1, n2, ns = self.names
        y = getattr(self, n2)(getattr(self, n1)(getattr(self, n0)(x)))
        short_layer = getattr(self, ns)
        short = x if short_layer is None else short_layer(x)
        return F.relu(y + short)


def build_stages(depths, channels, make_block):
    """The blocks of the four residual stages of ResNet, ResNeXt and Res2Net, built in order.

    Stage s holds depths[s] blocks; the first block of every stage projects its shortcut, and in stages 1-3 it
    halves the resolution (stride 2; the vd forms average-pool the shortcut instead). make_block(stage, i,
    in_channels, stride, first) builds one block (registering it under its family's name) and returns
    (block, out_channels). Returns (the stages as lists of blocks, the channels after the last block).
    """
    stages = []
    for stage, depth in enumerate(depths):
        blocks = []
        for i in range(depth):
            block, channels = make_block(stage, i, channels, 2 if i == 0 and stage > 0 else 1, i == 0)
            blocks.append(block)
        stages.append(blocks)
    return stages, channels


def stem_specs(vd, width, in_channels=3):
    """(in, out, kernel, stride) of the stem convs: one 7x7/2 (vb) or three 3x3, the first strided (vd)."""
    if vd:
        return [(in_channels, width // 2, 3, 2), (width // 2, width // 2, 3, 1), (width // 2, width, 3, 1)]
    return [(in_channels, width, 7, 2)]


class ResNetLikeBase(ClassifierBase):
    """Stem convs -> 3x3/2 max pool -> four stages of residual blocks -> global avg pool -> linear head.

    A subclass registers its layers under PaddleClas's names, then calls `_setup(...)` with references to
    the stem convs and to each stage's blocks (plain lists: they are registered once, under their own names).
    Input and every internal map are in `data_format`; `forward_stages` always returns NCHW maps.
    """

    head_attr = "fc"
    uniform_head_init = True

    def _named_stem(self, names, layer_cls, vd, base_channels, in_channels, data_format):
        """Build the stem convs (stem_specs) registered under PaddleClas's `names`; returns them in order."""
        stem = []
        for name, (i, o, k, s) in zip(names, stem_specs(vd, base_channels, in_channels)):
            setattr(self, name, layer_cls(i, o, k, stride=s, act="relu", data_format=data_format))
            stem.append(getattr(self, name))
        return stem

    def _setup(self, stem, stages, num_features, class_num, data_format):
        self.data_format = data_format
        self._stem_layers = list(stem)
        self.max_pool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1, data_format=data_format)
        self._stage_blocks = [list(s) for s in stages]
        self.avg_pool = nn.AdaptiveAvgPool2D(1, data_format=data_format)
        self.num_features = num_features
        self.reset_classifier(class_num)

    def reset_classifier(self, class_num):
        self.class_num = class_num
        if class_num <= 0:
            head = nn.Identity()
        elif self.uniform_head_init:
            stdv = 1.0 / math.sqrt(self.num_features)
            head = nn.Linear(self.num_features, class_num,
                             weight_attr=paddle.ParamAttr(initializer=nn.initializer.Uniform(-stdv, stdv)))
        else:
            head = nn.Linear(self.num_features, class_num)
        setattr(self, self.head_attr, head)

    def stage_groups(self):
        return [list(self._stem_layers)] + [list(blocks) for blocks in self._stage_blocks]

    def _stem(self, x):
        for layer in self._stem_layers:
            x = layer(x)
        return self.max_pool(x)

    def _to_nchw(self, x):
        return x.transpose([0, 3, 1, 2]) if self.data_format == "NHWC" else x

    def forward_stages(self, x):
        x = self._stem(x)
        outs = []
        for blocks in self._stage_blocks:
            for block in blocks:
                x = block(x)
            outs.append(self._to_nchw(x))
        return outs

    def forward_features(self, x):
        x = self._stem(x)
        for blocks in self._stage_blocks:
            for block in blocks:
                x = block(x)
        return paddle.flatten(self.avg_pool(x), start_axis=1)

    def forward_head(self, feats):
        return getattr(self, self.head_attr)(feats)
