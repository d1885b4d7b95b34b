"""Res2Net / Res2Net-vd: PaddleClas manifests for every variant, and the backbone contract on a narrow net."""
import numpy as np
import pytest

import ppcls_lite
from ppcls_lite.arch.res2net import BottleneckBlock
from tests.arch import contract
from tests.arch.test_resnet import CNNFamilyContract, rand_input

RES2NET_VARIANTS = ["Res2Net50_26w_4s", "Res2Net50_14w_8s", "Res2Net50_vd_26w_4s", "Res2Net101_vd_26w_4s",
                    "Res2Net200_vd_26w_4s"]


class TestRes2Net(CNNFamilyContract):
    NAME = "Res2Net50_26w_4s"
    VD_NAME = "Res2Net50_vd_26w_4s"
    SMALL = {"width": 2, "base_channels": 8}
    WIDER = {"width": 4}
    STAGE_CHANNELS = (32, 64, 128, 256)

    def test_split_convs(self):
        model = self.build(class_num=3)
        assert [n for n, _ in model.bb_0_0.named_children() if "branch2b" in n] == \
            ["res2a_branch2b_1", "res2a_branch2b_2", "res2a_branch2b_3"]
        with pytest.raises(ValueError, match="split"):
            BottleneckBlock(8, 10, 32, stride=1, scales=4, prefix="res2a")

    def test_hierarchy_changes_output(self):
        """Stride-1 blocks feed each split's output into the next split: zeroing split 1's conv changes later splits."""
        model = self.build(class_num=3)
        model.eval()
        block = model.bb_0_1
        x = model.bb_0_0(model.max_pool(model.conv1(rand_input(32))))
        before = block(x).numpy()
        conv = getattr(block, "res2b_branch2b_1")._conv
        conv.weight.set_value(conv.weight * 0)
        after = block(x).numpy()
        assert not np.allclose(before, after)


def test_registered():
    assert set(RES2NET_VARIANTS) <= set(ppcls_lite.list_models("Res2Net"))


@pytest.mark.parametrize("name", RES2NET_VARIANTS)
def test_manifest(name):
    contract.check_manifest(name)
