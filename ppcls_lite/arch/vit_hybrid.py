"""Hybrid ViT patch embedding: CNN feature maps (any backbone's forward_stages) projected into tokens.

`ResNetStages` is a compact ResNet-v1.5 stem + bottleneck stages (BatchNorm, no classifier) used by the
registered hybrid variants; `HybridEmbed` accepts it or any layer whose `forward_stages(x)` returns NCHW maps.
"""
import paddle.nn as nn

from .layers import to_2tuple

_kaiming = nn.initializer.KaimingNormal()


def _conv_bn(in_ch, out_ch, kernel, stride=1):
    conv = nn.Conv2D(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias_attr=False)
    return conv, nn.BatchNorm2D(out_ch)


class _Bottleneck(nn.Layer):
    """1x1 -> 3x3 (stride here, v1.5) -> 1x1 (x4 channels), projection shortcut when the shape changes."""

    expansion = 4

    def __init__(self, in_ch, width, stride=1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1, self.bn1 = _conv_bn(in_ch, width, 1)
        self.conv2, self.bn2 = _conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = _conv_bn(width, out_ch, 1)
        self.relu = nn.ReLU()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(*_conv_bn(in_ch, out_ch, 1, stride))
        else:
            self.downsample = nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNetStages(nn.Layer):
    """ResNet stem (7x7/2 conv, 3x3/2 max-pool) + len(layers) bottleneck stages, the first at stride 1.

    layers=(3, 4, 9) is the R50 trunk of ViT-R50+B/16 (output stride 16, 1024 channels).
    `stage_channels` / `stage_strides` describe the maps returned by `forward_stages`.
    """

    def __init__(self, layers=(3, 4, 9), in_chans=3, base_width=64):
        super().__init__()
        self.conv1 = nn.Conv2D(in_chans, base_width, 7, stride=2, padding=3, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(base_width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        stages, channels, strides = [], [], []
        in_ch, stride = base_width, 4
        for i, n in enumerate(layers):
            width = base_width * 2 ** i
            first_stride = 1 if i == 0 else 2
            stride *= first_stride
            blocks = []
            for j in range(n):
                blocks.append(_Bottleneck(in_ch, width, first_stride if j == 0 else 1))
                in_ch = width * _Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
            channels.append(in_ch)
            strides.append(stride)
        self.stages = nn.LayerList(stages)
        self.stage_channels = channels
        self.stage_strides = strides
        for m in self.sublayers():
            if isinstance(m, nn.Conv2D):
                _kaiming(m.weight)

    def forward_stages(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs

    def forward(self, x):
        return self.forward_stages(x)[-1]


class HybridEmbed(nn.Layer):
    """Tokens from a CNN feature map: backbone.forward_stages(x)[stage_index] -> Conv2D(patch_size) -> [N, L, C].

    feature_dim / feature_stride default to the backbone's `stage_channels` / `stage_strides`; pass them for a
    backbone that lacks those attributes.
    """

    def __init__(self, backbone, img_size=224, patch_size=1, in_chans=3, embed_dim=768, stage_index=-1,
                 feature_dim=None, feature_stride=None):
        super().__init__()
        img_size, patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        if feature_dim is None:
            feature_dim = backbone.stage_channels[stage_index]
        if feature_stride is None:
            feature_stride = backbone.stage_strides[stage_index]
        feature_stride = to_2tuple(feature_stride)
        self.backbone = backbone
        self.stage_index = stage_index
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid_size = tuple(i // s // p for i, s, p in zip(img_size, feature_stride, patch_size))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2D(feature_dim, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward_map(self, x):
        """Embedded map [N, embed_dim, H', W']."""
        return self.proj(self.backbone.forward_stages(x)[self.stage_index])

    def forward(self, x):
        return self.forward_map(x).flatten(2).transpose([0, 2, 1])
