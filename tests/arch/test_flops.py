"""The MAC counter against hand-computed figures: convolutions, linear layers, functional products, attention."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from ppcls_lite.arch.flops import count_macs, count_params, matmul_macs, sdpa_macs
from ppcls_lite.arch.swin_transformer import SwinTransformer
from ppcls_lite.arch.vision_transformer import VisionTransformer


class TinyCNN(nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(3, 8, 3, padding=1)  # 8x8x8 outputs x 27 = 13824
        self.bn = nn.BatchNorm2D(8)  # not counted
        self.group = nn.Conv2D(8, 8, 3, padding=1, groups=4, bias_attr=False)  # 512 x (2 x 9) = 9216
        self.dw = nn.Conv2D(8, 8, 3, stride=2, padding=1, groups=8)  # 4x4x8 = 128 x 9 = 1152
        self.pw = nn.Conv2D(8, 16, 1, data_format="NCHW")  # 4x4x16 = 256 x 8 = 2048
        self.tokens = nn.Linear(16, 4)  # on [1, 16 tokens, 16]: 16 x 4 x 16 = 1024
        self.fc = nn.Linear(64, 10)  # 640

    def forward(self, x):
        x = self.pw(self.dw(self.group(F.relu(self.bn(self.conv(x))))))
        x = self.tokens(x.flatten(2).transpose([0, 2, 1]))
        return self.fc(x.flatten(1))


def test_conv_and_linear_by_hand():
    report = count_macs(TinyCNN(), [1, 3, 8, 8])
    assert report.by_kind == {"conv": 13824 + 9216 + 1152 + 2048, "linear": 1024 + 640, "matmul": 0}
    assert report.total == 13824 + 9216 + 1152 + 2048 + 1024 + 640


def test_batch_size_scales_linearly_and_nhwc_counts_the_same():
    assert count_macs(TinyCNN(), [3, 3, 8, 8]).total == 3 * count_macs(TinyCNN(), [1, 3, 8, 8]).total
    conv = nn.Conv2D(3, 8, 3, padding=1, data_format="NHWC")
    assert count_macs(conv, [1, 8, 8, 3]).total == 13824


def test_transposed_conv():
    # 4x4x8 inputs, each scattered to 4 outputs x 2x2 kernel: 128 x (4 x 2 x 2) = 2048
    assert count_macs(nn.Conv2DTranspose(8, 4, 2, stride=2), [1, 8, 4, 4]).total == 2048


class Products(nn.Layer):
    """Functional products in every spelling the counter wraps; the Linear's own F.linear counts once."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)
        self.w = self.create_parameter([6, 3])
        self.w_conv = self.create_parameter([5, 6, 1, 1])

    def forward(self, x):  # x: [2, 4, 6]
        x = self.proj(x)  # 2*4*6*6 = 288 (linear)
        a = paddle.matmul(x, x, transpose_y=True)  # [2,4,4]: 2*4*6*4 = 192
        b = x.matmul(x, transpose_x=True)  # [2,6,6]: 2*6*4*6 = 288
        c = x @ self.w  # [2,4,3]: 2*4*6*3 = 144
        d = paddle.bmm(a, c)  # [2,4,3]: 2*4*4*3 = 96
        e = F.linear(x, self.w)  # 2*4*6*3 = 144 (linear)
        f = F.conv2d(x.transpose([0, 2, 1]).unsqueeze(-1), self.w_conv)  # [2,5,4,1]: 40 x 6 = 240 (conv)
        return a.sum() + b.sum() + d.sum() + e.sum() + f.sum()


def test_functional_products_counted_once():
    report = count_macs(Products(), [2, 4, 6])
    assert report.by_kind == {"conv": 240, "linear": 288 + 144, "matmul": 192 + 288 + 144 + 96}


def test_patches_and_hooks_removed_and_mode_restored():
    original = (paddle.matmul, paddle.Tensor.matmul, paddle.Tensor.__matmul__, F.linear,
                F.scaled_dot_product_attention)
    model = Products()
    model.train()
    first = count_macs(model, [2, 4, 6]).total
    assert (paddle.matmul, paddle.Tensor.matmul, paddle.Tensor.__matmul__, F.linear,
            F.scaled_dot_product_attention) == original
    assert model.training
    assert count_macs(model, [2, 4, 6]).total == first  # no hook left behind counting twice


def test_product_formulas():
    assert matmul_macs([5, 2, 3], [3, 4]) == 5 * 2 * 3 * 4
    assert matmul_macs([2, 1, 3, 7], [4, 7, 5]) == 2 * 4 * 3 * 7 * 5
    assert matmul_macs([3], [3, 4]) == 12 and matmul_macs([2, 3], [3]) == 6
    assert matmul_macs([2, 7, 3], [2, 7, 4], transpose_x=True) == 2 * 3 * 7 * 4
    assert sdpa_macs([2, 5, 3, 8], [2, 9, 3, 8], [2, 9, 3, 4]) == 2 * 3 * 5 * 9 * (8 + 4)


def test_params_trainable_and_with_bn_stats():
    trainable, total = count_params(TinyCNN())
    conv = 8 * 27 + 8
    bn = 8 + 8
    expected = conv + bn + 8 * 2 * 9 + (8 * 9 + 8) + (16 * 8 + 16) + (16 * 4 + 4) + (64 * 10 + 10)
    assert trainable == expected
    assert total == expected + 2 * 8  # BatchNorm running mean and variance


@pytest.mark.parametrize("fused", [False, True])
def test_tiny_vit_counts_attention(fused):
    # 32 px / patch 8: 16 patches + class token = 17 tokens of dim 16; 2 blocks, 2 heads; head on the class token.
    model = VisionTransformer(img_size=32, patch_size=8, class_num=10, embed_dim=16, depth=2, num_heads=2,
                              use_fused_attn=fused)
    report = count_macs(model, [1, 3, 32, 32])
    n, c = 17, 16
    assert report.by_kind["conv"] == 16 * c * 3 * 8 * 8
    assert report.by_kind["linear"] == 2 * n * 12 * c * c + c * 10  # qkv 3c^2, proj c^2, mlp 8c^2; head
    assert report.by_kind["matmul"] == 2 * 2 * n * n * c  # per block: q k^T and attn v, n x n x c each


@pytest.mark.parametrize("fused", [False, True])
def test_tiny_swin_counts_window_attention(fused):
    # 32 px / patch 4: 8x8 tokens of dim 8 (window 4: 4 windows of 16 tokens), merge to 4x4 of dim 16 (1 window).
    model = SwinTransformer(img_size=32, patch_size=4, class_num=10, embed_dim=8, depths=(2, 2), num_heads=(1, 2),
                            window_size=4, use_fused_attn=fused)
    report = count_macs(model, [1, 3, 32, 32])
    stages = [(64, 8), (16, 16)]  # (tokens, dim)
    window_tokens = 16
    assert report.by_kind["conv"] == 64 * 8 * 3 * 4 * 4
    linear = sum(2 * n * 12 * c * c for n, c in stages) + 16 * (4 * 8) * 16 + 16 * 10  # blocks, merging, head
    assert report.by_kind["linear"] == linear
    # Per block, each token attends within its window: q k^T and attn v, window_tokens x c each.
    assert report.by_kind["matmul"] == sum(2 * 2 * n * window_tokens * c for n, c in stages)
