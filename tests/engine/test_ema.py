import pickle

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from ppcls_lite.engine.ema import ModelEMA
from ppcls_lite.errors import WeightsError
from ppcls_lite.serialization import dumps_bytes


def _model():
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1D(3))


def _state(model):
    return {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}


def _perturb(model, rng):
    with paddle.no_grad():
        for v in model.state_dict().values():
            v.set_value(rng.normal(size=v.shape).astype("float32"))


def test_decay_math_covers_parameters_and_buffers():
    rng = np.random.default_rng(0)
    model = _model()
    ema = ModelEMA(model, decay=0.9)
    want = _state(model)
    for _ in range(3):
        _perturb(model, rng)
        ema.update(model)
        cur = _state(model)
        want = {k: 0.9 * want[k] + 0.1 * cur[k] for k in want}
    assert ema.num_updates == 3
    assert {"0.weight", "0.bias", "1.weight", "1.bias", "1._mean", "1._variance"} <= set(ema.shadow)
    for k, s in ema.shadow.items():
        assert s.dtype == paddle.float32
        np.testing.assert_allclose(s.numpy(), want[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_decay_one_and_zero():
    rng = np.random.default_rng(1)
    model = _model()
    start = _state(model)
    frozen, follower = ModelEMA(model, decay=1.0), ModelEMA(model, decay=0.0)
    _perturb(model, rng)
    frozen.update(model)
    follower.update(model)
    now = _state(model)
    for k in start:
        np.testing.assert_array_equal(frozen.shadow[k].numpy(), start[k].astype("float32"))
        np.testing.assert_array_equal(follower.shadow[k].numpy(), now[k].astype("float32"))
    with pytest.raises(ValueError):
        ModelEMA(model, decay=1.5)


def test_applied_swaps_weights_in_and_out():
    rng = np.random.default_rng(2)
    model = _model()
    ema = ModelEMA(model, decay=0.5)
    _perturb(model, rng)
    ema.update(model)
    own = _state(model)
    params_before = [id(p) for p in model.parameters()]
    with ema.applied(model):
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), ema.shadow[k].numpy())
        out = model(paddle.ones([2, 4]))  # usable for evaluation
        assert out.shape == [2, 3]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), own[k].astype("float32"))
    assert [id(p) for p in model.parameters()] == params_before  # same Parameter objects: the optimizer still owns them
    with pytest.raises(RuntimeError):
        with ema.applied(model):
            raise RuntimeError("evaluation failed")
    for k, v in model.state_dict().items():  # restored despite the exception
        np.testing.assert_array_equal(v.numpy(), own[k].astype("float32"))
    with pytest.raises(RuntimeError):
        ema.restore(model)


def test_state_round_trip_through_a_checkpoint():
    rng = np.random.default_rng(3)
    model = _model()
    ema = ModelEMA(model, decay=0.99)
    for _ in range(2):
        _perturb(model, rng)
        ema.update(model)
    saved = pickle.loads(dumps_bytes({"ema": ema.state_dict()}))["ema"]  # numpy arrays, as in a checkpoint
    fresh_model = _model()
    restored = ModelEMA(fresh_model, decay=0.99)
    restored.set_state_dict(saved)
    assert restored.num_updates == 2
    for k in ema.shadow:
        np.testing.assert_array_equal(restored.shadow[k].numpy(), ema.shadow[k].numpy())
    _perturb(model, rng)
    fresh_model.set_state_dict(model.state_dict())
    ema.update(model)
    restored.update(fresh_model)
    for k in ema.shadow:  # continues bitwise
        np.testing.assert_array_equal(restored.shadow[k].numpy(), ema.shadow[k].numpy())
    # the averaged weights load into a model directly
    target = _model()
    target.set_state_dict(ema.averaged_state_dict(target))
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ema.shadow[k].numpy())


def test_mismatched_state_is_rejected():
    ema = ModelEMA(_model())
    other = ModelEMA(nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1D(5)))
    with pytest.raises(WeightsError):
        ema.set_state_dict(other.state_dict())
    with pytest.raises(WeightsError):
        ema.set_state_dict({"shadow": {"0.weight": np.zeros((4, 3))}})
    with pytest.raises(ValueError):
        ema.update(nn.Linear(4, 3))
