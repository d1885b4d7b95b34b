"""ResNeXt / ResNeXt-vd / ResNeXt101-WSL: PaddleClas manifests for every variant, contract on narrow models."""
import numpy as np
import pytest

import ppcls_lite
from tests.arch import contract
from tests.arch.test_resnet import CNNFamilyContract, rand_input

RESNEXT_VARIANTS = [
    f"ResNeXt{depth}{vd}_{card}x4d" for vd in ("", "_vd") for depth in (50, 101, 152) for card in (32, 64)
] + [f"ResNeXt101_32x{w}d_wsl" for w in (8, 16, 32, 48)]


class TestResNeXt(CNNFamilyContract):
    NAME = "ResNeXt50_32x4d"
    VD_NAME = "ResNeXt50_vd_32x4d"
    SMALL = {"cardinality": 4, "group_width": 2, "base_channels": 8}
    WIDER = {"group_width": 4}
    STAGE_CHANNELS = (32, 64, 128, 256)

    def test_grouped_conv(self):
        model = self.build(class_num=3)
        conv = model.bb_1_0.conv1._conv
        assert conv._groups == 4 and list(conv.weight.shape) == [16, 4, 3, 3]


class TestResNeXtWSL(CNNFamilyContract):
    """WSL layer names (`_conv_stem`, `_convS_I._short._conv`, `_out`) on a test-only 50-layer narrow net."""

    NAME = "ResNeXt101_32x8d_wsl"
    SMALL = {"layers": 50, "cardinality": 4, "group_width": 2, "base_channels": 8}
    WIDER = {"group_width": 4}
    STAGE_CHANNELS = (32, 64, 128, 256)

    # WSL has no vd form: the vd checks of the shared contract are not collected here.
    test_nhwc_matches_nchw_vd = None
    test_vd_uses_avg_pool_shortcut = None

    def test_shortcut_wrapper_always_present(self):
        model = self.build(class_num=3)
        assert model._conv1_0._short._conv is not None and model._conv1_1._short._conv is None
        assert model.head_prefixes == ("_out.",) and "_out.weight" in model.state_dict()

    def test_no_vd_version(self):
        with pytest.raises(ValueError, match="no vd"):
            self.build(vd=True)


def test_registered():
    assert set(RESNEXT_VARIANTS) <= set(ppcls_lite.list_models("ResNeXt"))


@pytest.mark.parametrize("name", RESNEXT_VARIANTS)
def test_manifest(name):
    contract.check_manifest(name)


def test_wsl_matches_plain_resnext_numerically():
    """WSL and ResNeXt101_32x4d differ only in names: same weights in order give the same logits."""
    kw = {"layers": 50, "cardinality": 4, "group_width": 2, "base_channels": 8, "class_num": 5}
    plain, wsl = ppcls_lite.build_model("ResNeXt101_32x4d", **kw), ppcls_lite.build_model("ResNeXt101_32x8d_wsl", **kw)
    wsl.set_state_dict(dict(zip(wsl.state_dict(), plain.state_dict().values())))
    plain.eval()
    wsl.eval()
    x = rand_input(32)
    np.testing.assert_allclose(wsl(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
