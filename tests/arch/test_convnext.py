"""ConvNeXt: PaddleClas manifests for every variant; behaviour on a tiny test-only configuration."""
import numpy as np
import paddle
import pytest

import ppcls_lite
from arch import contract
from ppcls_lite.arch.convnext import ConvNeXt

VARIANTS = [
    "ConvNeXt_tiny", "ConvNeXt_small", "ConvNeXt_base_224", "ConvNeXt_base_384",
    "ConvNeXt_large_224", "ConvNeXt_large_384",
]
NAME = "ConvNeXt_tiny"
TINY = dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32])


def _x(size=32, n=2, seed=0):
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype("float32"))


def _nhwc(x):
    return x.transpose([0, 2, 3, 1])


def _tiny(**kw):
    return ppcls_lite.build_model(NAME, **{**TINY, **kw})


def test_registered_variants():
    assert ppcls_lite.list_models("ConvNeXt") == sorted(VARIANTS)


@pytest.mark.parametrize("name", VARIANTS)
def test_manifest(name):
    contract.check_manifest(name)


def test_forward_shape_and_other_resolutions():
    model = _tiny(class_num=5)
    for size in (32, 48, 64, 50):
        contract.check_forward_shape(model, _x(size), 5)


def test_gradients_reach_every_parameter():
    contract.check_gradients_reach_all(_tiny(class_num=4, drop_path_rate=0.1), _x(32))


def test_eval_determinism():
    contract.check_eval_determinism(_tiny(class_num=4, drop_path_rate=0.2), _x(32))


def test_drop_path_active_in_training_only():
    model = _tiny(class_num=4, drop_path_rate=0.5, layer_scale_init_value=1.0)
    model.train()
    x = _x(32)
    outs = [model(x).numpy() for _ in range(4)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
def test_jit_roundtrip(tmp_path, data_format):
    x = _nhwc(_x(32)) if data_format == "NHWC" else _x(32)
    contract.check_jit_roundtrip(_tiny(class_num=3, data_format=data_format), x, tmp_path)


def test_pretrained_other_class_num(tmp_path, caplog):
    contract.check_pretrained_other_class_num(NAME, TINY, _x(32), tmp_path, caplog)


def test_body_shape_mismatch_is_error(tmp_path):
    contract.check_shape_mismatch_is_error(NAME, TINY, {**TINY, "dims": [8, 16, 24, 40]}, tmp_path)


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
def test_forward_stages_strides(data_format):
    model = _tiny(data_format=data_format)
    model.eval()
    for size in (32, 64):
        x = _x(size, n=1)
        maps = model.forward_stages(_nhwc(x) if data_format == "NHWC" else x)
        assert [list(m.shape) for m in maps] == [
            [1, c, size // s, size // s] for c, s in zip(TINY["dims"], (4, 8, 16, 32))
        ]


def test_nhwc_equals_nchw():
    a = _tiny(class_num=6)
    b = _tiny(class_num=6, data_format="NHWC")
    assert list(a.state_dict()) == list(b.state_dict())
    b.set_state_dict(a.state_dict())
    a.eval()
    b.eval()
    x = _x(48)
    np.testing.assert_allclose(b(_nhwc(x)).numpy(), a(x).numpy(), rtol=1e-4, atol=1e-5)
    for ma, mb in zip(a.forward_stages(x), b.forward_stages(_nhwc(x))):
        np.testing.assert_allclose(mb.numpy(), ma.numpy(), rtol=1e-4, atol=1e-5)


def test_build_twice_gives_independent_models():
    a, b = _tiny(class_num=3), _tiny(class_num=3)
    assert list(a.state_dict()) == list(b.state_dict())
    a.head.weight.set_value(paddle.zeros_like(a.head.weight))
    assert np.any(b.head.weight.numpy())
    for m in (a, b):
        contract.check_forward_shape(m, _x(32), 3)


def test_reset_classifier_and_headless():
    model = _tiny(class_num=3)
    model.reset_classifier(7)
    contract.check_forward_shape(model, _x(32), 7)
    model.reset_classifier(0)
    model.eval()
    x = _x(32)
    np.testing.assert_array_equal(model(x).numpy(), model.forward_features(x).numpy())
    assert list(_tiny(class_num=0)(x).shape) == [2, TINY["dims"][-1]]


def test_layer_scale_and_head_init_options():
    no_gamma = _tiny(layer_scale_init_value=0)
    assert not any(k.endswith("gamma") for k in no_gamma.state_dict())
    model = _tiny(layer_scale_init_value=0.5, head_init_scale=0.001)
    assert np.allclose(model.stages[0][0].gamma.numpy(), 0.5)
    # PaddleClas multiplies the N(0, 0.02) head init by head_init_scale.
    assert abs(model.head.weight.numpy().std() / (0.02 * 0.001) - 1) < 0.1
    assert not np.any(model.head.bias.numpy())


def test_bad_arguments_are_value_errors_naming_the_parameter():
    # the model layer names its parameter; the config layer (arch.build_from_config) makes it Arch.<parameter>
    with pytest.raises(ValueError, match="^data_format: must be one of"):
        _tiny(data_format="NDHWC")
    with pytest.raises(ValueError, match="^depths: ConvNeXt needs 4 depths and 4 dims"):
        ConvNeXt(depths=[1, 1, 1], dims=[8, 16, 24])
