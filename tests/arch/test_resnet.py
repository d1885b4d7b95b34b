"""ResNet / ResNet-vd: PaddleClas manifests for every variant, and the backbone contract on a narrow ResNet18.

`CNNFamilyContract` holds the contract checks shared by the CNN families (ResNeXt and Res2Net subclass it):
they run on test-only narrow widths (`SMALL`) at 32-64 px so the three files stay fast on a CPU.
"""
import os

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

import ppcls_lite
from ppcls_lite.arch.cnn_blocks import ConvBNLayer
from ppcls_lite.serialization import atomic_save
from tests.arch import contract

RESNET_VARIANTS = [
    "ResNet18", "ResNet18_vd", "ResNet34", "ResNet34_vd", "ResNet50", "ResNet50_vd", "ResNet101",
    "ResNet101_vd", "ResNet152", "ResNet152_vd", "ResNet200_vd",
]

def rand_input(size=32, batch=2, seed=0, width=None):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.standard_normal((batch, 3, size, width or size)).astype("float32"))


def nhwc(x):
    return x.transpose([0, 2, 3, 1])


class CNNFamilyContract:
    """The backbone contract for one CNN family; subclasses set the class attributes below."""

    NAME = None  # smallest variant
    VD_NAME = None  # its vd twin (a family without one sets the vd tests to None)
    SMALL = {}  # narrow test-only constructor overrides
    WIDER = {}  # overrides that change some body shape relative to SMALL
    STAGE_CHANNELS = ()  # channels of the four stage maps under SMALL

    def build(self, name=None, **kwargs):
        return ppcls_lite.build_model(name or self.NAME, **{**self.SMALL, **kwargs})

    def test_forward_shape_any_size(self):
        model = self.build(class_num=7)
        for size, width in ((32, 32), (33, 47), (64, 64)):
            contract.check_forward_shape(model, rand_input(size, width=width), 7)
        assert list(model.forward_features(rand_input(32)).shape) == [2, model.num_features]

    def test_gradients_reach_every_parameter(self):
        contract.check_gradients_reach_all(self.build(class_num=7), rand_input(64))

    def test_eval_determinism(self):
        contract.check_eval_determinism(self.build(class_num=7), rand_input(32))

    def test_jit_save_load_roundtrip(self, tmp_path):
        contract.check_jit_roundtrip(self.build(class_num=7), rand_input(32), tmp_path)

    def test_pretrained_with_other_class_num(self, tmp_path, caplog):
        dst = contract.check_pretrained_other_class_num(self.NAME, self.SMALL, rand_input(32), tmp_path, caplog)
        skipped = [k for k in dst.state_dict() if k.startswith(dst.head_prefixes)]
        assert sorted(skipped) == sorted(p + s for p in dst.head_prefixes for s in ("weight", "bias"))

    def test_body_shape_mismatch_is_error(self, tmp_path):
        contract.check_shape_mismatch_is_error(self.NAME, self.SMALL, {**self.SMALL, **self.WIDER}, tmp_path)

    def test_weights_work_at_other_resolutions(self, tmp_path):
        src = self.build(class_num=7)
        path = os.path.join(str(tmp_path), "w.pdparams")
        atomic_save(src.state_dict(), path)
        dst = self.build(class_num=7, pretrained=path)
        src.eval()
        dst.eval()
        for size, width in ((48, 48), (40, 72), (96, 96)):
            x = rand_input(size, width=width, seed=size)
            assert np.isfinite(dst(x).numpy()).all()
            np.testing.assert_allclose(dst.forward_features(x).numpy(), src.forward_features(x).numpy(),
                                       rtol=1e-5, atol=1e-5)

    def test_forward_stages_strides(self):
        model = self.build(class_num=7)
        model.eval()
        maps = model.forward_stages(rand_input(64))
        assert [list(m.shape) for m in maps] == [[2, c, 64 // s, 64 // s]
                                                 for c, s in zip(self.STAGE_CHANNELS, (4, 8, 16, 32))]
        # The last map, pooled, is the feature vector.
        np.testing.assert_allclose(maps[-1].numpy().mean(axis=(2, 3)),
                                   model.forward_features(rand_input(64)).numpy(), rtol=1e-5, atol=1e-5)

    def test_nhwc_matches_nchw(self):
        self._check_nhwc(self.NAME)

    def test_nhwc_matches_nchw_vd(self):
        self._check_nhwc(self.VD_NAME)

    def _check_nhwc(self, name):
        ref = self.build(name, class_num=7)
        # Random BN statistics so that eval-mode normalisation is exercised.
        state = {k: (np.random.default_rng(1).uniform(0.5, 1.5, v.shape) if k.endswith("_variance") else v.numpy())
                 for k, v in ref.state_dict().items()}
        ref.set_state_dict({k: v.astype("float32") for k, v in state.items()})
        alt = self.build(name, class_num=7, data_format="NHWC")
        alt.set_state_dict(ref.state_dict())
        ref.eval()
        alt.eval()
        x = rand_input(40, width=56)
        np.testing.assert_allclose(alt(nhwc(x)).numpy(), ref(x).numpy(), rtol=1e-4, atol=1e-4)
        for a, b in zip(alt.forward_stages(nhwc(x)), ref.forward_stages(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)

    def test_build_twice_in_one_process(self):
        a, b = self.build(class_num=7), self.build(class_num=7)
        assert list(a.state_dict()) == list(b.state_dict())
        b.set_state_dict(a.state_dict())
        a.eval()
        b.eval()
        x = rand_input(32)
        np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
        with paddle.LazyGuard():  # full size too: no global parameter names
            full = [ppcls_lite.build_model(self.NAME) for _ in range(2)]
        assert list(full[0].state_dict()) == list(full[1].state_dict())

    def test_class_num_zero_and_reset_classifier(self):
        model = self.build(class_num=0)
        model.eval()
        x = rand_input(32)
        assert list(model(x).shape) == [2, model.num_features]
        assert not any(k.startswith(model.head_prefixes) for k in model.state_dict())
        model.reset_classifier(5)
        assert list(model(x).shape) == [2, 5]
        assert [k for k in model.state_dict() if k.startswith(model.head_prefixes)]
        model.reset_classifier(0)
        np.testing.assert_array_equal(model(x).numpy(), model.forward_features(x).numpy())

    def test_vd_uses_avg_pool_shortcut(self):
        plain, vd = self.build(class_num=7), self.build(self.VD_NAME, class_num=7)
        assert not any(isinstance(m, ConvBNLayer) and m.vd for m in plain.sublayers())
        pooled = [m for m in vd.sublayers() if isinstance(m, ConvBNLayer) and m.vd]
        # One avg-pooled projection shortcut at the start of stages 2, 3 and 4; a 3-conv stem.
        assert len(pooled) == 3
        assert list(plain.state_dict()) != list(vd.state_dict())
        # vd shortcut = BN(conv1x1(avgpool2x2(x))), with the conv unstrided.
        short = pooled[0]
        short.eval()
        conv, bn = getattr(short, short.conv_attr), getattr(short, short.bn_attr)
        x = paddle.randn([2, conv.weight.shape[1], 9, 9])
        expect = bn(F.conv2d(F.avg_pool2d(x, 2, 2, ceil_mode=True), conv.weight))
        np.testing.assert_allclose(short(x).numpy(), expect.numpy(), rtol=1e-5, atol=1e-5)


class TestResNet(CNNFamilyContract):
    NAME = "ResNet18"
    VD_NAME = "ResNet18_vd"
    SMALL = {"base_channels": 8}
    WIDER = {"base_channels": 16}
    STAGE_CHANNELS = (8, 16, 32, 64)

    def test_bottleneck_variant_small(self):
        model = ppcls_lite.build_model("ResNet50_vd", base_channels=8, class_num=3)
        out = contract.check_forward_shape(model, rand_input(32), 3)
        assert model.num_features == 256 and list(out.shape) == [2, 3]
        assert [m.shape[1] for m in model.forward_stages(rand_input(32))] == [32, 64, 128, 256]


def test_registered():
    assert set(RESNET_VARIANTS) <= set(ppcls_lite.list_models("ResNet"))


@pytest.mark.parametrize("name", RESNET_VARIANTS)
def test_manifest(name):
    contract.check_manifest(name)


