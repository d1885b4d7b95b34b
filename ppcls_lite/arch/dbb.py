"""Diverse Branch Block (Ding et al., arXiv:2103.13425), as PaddleClas 2.6.0's `base/dbb` for ResNet's
`layer_type: DiverseBranchBlock`.

In training a KxK conv + BN is the sum of four branches: the KxK conv (`dbb_origin`), a 1x1 conv (`dbb_1x1`),
1x1 conv -> average pool (`dbb_avg`) and 1x1 (identity-initialised) -> KxK conv (`dbb_1x1_kxk`), each with its
BatchNorm. `re_parameterize()` folds them into one KxK conv with bias (`dbb_reparam`) computing the same
function, which is what gets exported. State-dict keys equal PaddleClas's. NCHW only, as PaddleClas.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _conv_bn(in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1):
    seq = nn.Sequential()
    seq.add_sublayer("conv", nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                       groups=groups, bias_attr=False))
    seq.add_sublayer("bn", nn.BatchNorm2D(out_channels))
    return seq


class IdentityBasedConv1x1(nn.Layer):
    """A 1x1 conv whose kernel is identity + a learnt residual (the residual starts at zero)."""

    def __init__(self, channels, groups=1):
        super().__init__()
        if channels % groups:
            raise ValueError(f"groups: {channels} channels do not split into {groups} groups")
        per_group = channels // groups
        self._groups = groups
        self.weight = self.create_parameter([channels, per_group, 1, 1],
                                            default_initializer=nn.initializer.Constant(0.0))
        identity = np.zeros((channels, per_group, 1, 1), np.float32)
        identity[np.arange(channels), np.arange(channels) % per_group] = 1.0
        self.register_buffer("_identity", paddle.to_tensor(identity), persistable=False)

    def actual_kernel(self):
        """identity + weight: the kernel the layer applies."""
        return self.weight + self._identity.astype(self.weight.dtype)

    def forward(self, x):
        return F.conv2d(x, self.actual_kernel(), None, stride=1, padding=0, groups=self._groups)


class BNAndPad(nn.Layer):
    """BatchNorm, then a border of `pad` pixels holding what the BN gives for a zero input, so that a 1x1 conv
    -> BN -> (unpadded) KxK conv equals one padded KxK conv after re-parameterisation."""

    def __init__(self, pad, channels):
        super().__init__()
        self.bn = nn.BatchNorm2D(channels)
        self.pad = pad

    def forward(self, x):
        out = self.bn(x)
        if self.pad <= 0:
            return out
        bn = self.bn
        values = (bn.bias - bn.weight * bn._mean / paddle.sqrt(bn._variance + bn._epsilon)).reshape([1, -1, 1, 1])
        n, _, h, w = out.shape
        rows = values.expand([n, -1, self.pad, w])
        out = paddle.concat([rows, out, rows], axis=2)
        cols = values.expand([n, -1, h + 2 * self.pad, self.pad])
        return paddle.concat([cols, out, cols], axis=3)


def fuse_bn(kernel, bn):
    """(kernel, bias) of conv(kernel) -> bn as one conv with bias (BN in inference form)."""
    std = paddle.sqrt(bn._variance + bn._epsilon)
    scale = bn.weight / std
    return kernel * scale.reshape([-1, 1, 1, 1]), bn.bias - bn._mean * scale


def merge_1x1_kxk(k1, b1, k2, b2, groups):
    """(kernel, bias) of a 1x1 conv (k1, b1) followed by a KxK conv (k2, b2), both with `groups` groups."""
    k1_in_groups = k1.shape[0] // groups
    k2_in_groups = k2.shape[0] // groups
    kernels, biases = [], []
    k1_t = k1.transpose([1, 0, 2, 3])
    for g in range(groups):
        k1_g = k1_t[:, g * k1_in_groups:(g + 1) * k1_in_groups]
        k2_g = k2[g * k2_in_groups:(g + 1) * k2_in_groups]
        kernels.append(F.conv2d(k2_g, k1_g))
        biases.append((k2_g * b1[g * k1_in_groups:(g + 1) * k1_in_groups].reshape([1, -1, 1, 1])).sum((1, 2, 3)))
    return paddle.concat(kernels, axis=0), paddle.concat(biases) + b2


def average_kernel(channels, kernel_size, groups):
    """The KxK kernel of a KxK average pool over each channel (as a grouped conv)."""
    per_group = channels // groups
    kernel = np.zeros((channels, per_group, kernel_size, kernel_size), np.float32)
    kernel[np.arange(channels), np.tile(np.arange(per_group), groups)] = 1.0 / kernel_size ** 2
    return paddle.to_tensor(kernel)


class DiverseBranchBlock(nn.Layer):
    """A KxK conv + BN (+ ReLU with act='relu') trained as four branches; the ConvBNLayer interface of the CNN
    families (in_channels, out_channels, kernel_size, stride, groups, act)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, act=None, vd=False,
                 data_format="NCHW"):
        super().__init__()
        if vd:
            raise ValueError("layer_type: DiverseBranchBlock has no vd (average-pooled) form")
        if data_format != "NCHW":
            raise ValueError("data_format: DiverseBranchBlock runs NCHW only (as PaddleClas's)")
        padding = (kernel_size - 1) // 2
        self.act, self.kernel_size, self.groups = act, kernel_size, groups
        self._conv_args = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                               stride=stride, padding=padding, groups=groups)
        self.dbb_origin = _conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups)
        self.dbb_avg = nn.Sequential()
        if groups < out_channels:
            self.dbb_avg.add_sublayer("conv", nn.Conv2D(in_channels, out_channels, 1, groups=groups,
                                                        bias_attr=False))
            self.dbb_avg.add_sublayer("bn", BNAndPad(padding, out_channels))
            self.dbb_avg.add_sublayer("avg", nn.AvgPool2D(kernel_size, stride=stride, padding=0))
            self.dbb_1x1 = _conv_bn(in_channels, out_channels, 1, stride, 0, groups)
        else:
            # zeros of the padding count in the mean (as in the DBB paper's code), so the pool is exactly the
            # average kernel that re-parameterisation folds in; PaddleClas's port leaves them out (Paddle's
            # default), which its ResNets never reach (groups 1) but would make a depthwise fold inexact
            self.dbb_avg.add_sublayer("avg", nn.AvgPool2D(kernel_size, stride=stride, padding=padding,
                                                          exclusive=False))
        self.dbb_avg.add_sublayer("avgbn", nn.BatchNorm2D(out_channels))
        internal = in_channels if groups < out_channels else 2 * in_channels
        self.dbb_1x1_kxk = nn.Sequential()
        if internal == in_channels:
            self.dbb_1x1_kxk.add_sublayer("idconv1", IdentityBasedConv1x1(in_channels, groups))
        else:
            self.dbb_1x1_kxk.add_sublayer("conv1", nn.Conv2D(in_channels, internal, 1, groups=groups,
                                                             bias_attr=False))
        self.dbb_1x1_kxk.add_sublayer("bn1", BNAndPad(padding, internal))
        self.dbb_1x1_kxk.add_sublayer("conv2", nn.Conv2D(internal, out_channels, kernel_size, stride=stride,
                                                         padding=0, groups=groups, bias_attr=False))
        self.dbb_1x1_kxk.add_sublayer("bn2", nn.BatchNorm2D(out_channels))
        self.dbb_reparam = None

    def forward(self, x):
        if self.dbb_reparam is not None:
            out = self.dbb_reparam(x)
        else:
            out = self.dbb_origin(x) + self.dbb_avg(x) + self.dbb_1x1_kxk(x)
            if hasattr(self, "dbb_1x1"):
                out = out + self.dbb_1x1(x)
        return F.relu(out) if self.act == "relu" else out

    def equivalent_kernel_bias(self):
        """(kernel, bias) of the one KxK conv equal to the four branches in inference (BN statistics fixed)."""
        kernel, bias = fuse_bn(self.dbb_origin.conv.weight, self.dbb_origin.bn)
        if hasattr(self, "dbb_1x1"):
            k, b = fuse_bn(self.dbb_1x1.conv.weight, self.dbb_1x1.bn)
            pad = (self.kernel_size - 1) // 2
            kernel, bias = kernel + F.pad(k, [pad, pad, pad, pad]), bias + b
        branch = self.dbb_1x1_kxk
        first = branch.idconv1.actual_kernel() if hasattr(branch, "idconv1") else branch.conv1.weight
        k1, b1 = fuse_bn(first, branch.bn1.bn)
        k2, b2 = fuse_bn(branch.conv2.weight, branch.bn2)
        k, b = merge_1x1_kxk(k1, b1, k2, b2, self.groups)
        kernel, bias = kernel + k, bias + b
        out_channels = self._conv_args["out_channels"]
        k_avg, b_avg = fuse_bn(average_kernel(out_channels, self.kernel_size, self.groups), self.dbb_avg.avgbn)
        if hasattr(self.dbb_avg, "conv"):
            k1, b1 = fuse_bn(self.dbb_avg.conv.weight, self.dbb_avg.bn.bn)
            k_avg, b_avg = merge_1x1_kxk(k1, b1, k_avg, b_avg, self.groups)
        return kernel + k_avg, bias + b_avg

    @paddle.no_grad()
    def re_parameterize(self):
        """Fold the branches into `dbb_reparam` (a KxK conv with bias) and drop them (for export)."""
        if self.dbb_reparam is not None:
            return
        kernel, bias = self.equivalent_kernel_bias()
        conv = nn.Conv2D(**self._conv_args, bias_attr=True)
        conv.weight.set_value(kernel)
        conv.bias.set_value(bias)
        for name in ("dbb_origin", "dbb_avg", "dbb_1x1", "dbb_1x1_kxk"):
            if hasattr(self, name):
                delattr(self, name)
        self.dbb_reparam = conv
