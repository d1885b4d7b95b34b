import inspect
import pickle

import numpy as np
import paddle
import paddle.nn as nn
import pytest
from paddle.utils import unique_name

from ppcls_lite.errors import ConfigError
from ppcls_lite.optim import OPTIMIZER_STRUCTURAL_KEYS, OPTIMIZERS, build_optimizer
from ppcls_lite.serialization import dumps_bytes


class Block(nn.Layer):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc(self.norm1(x))


class Tiny(nn.Layer):
    """ViT-shaped toy: pos_embed, blocks.0.norm1/fc, a BatchNorm (buffers) and a head."""

    def __init__(self, d=4, tokens=3, classes=3):
        super().__init__()
        self.pos_embed = self.create_parameter([1, tokens, d], default_initializer=nn.initializer.Normal(std=0.5))
        self.blocks = nn.LayerList([Block(d)])
        self.bn = nn.BatchNorm1D(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.blocks[0](x + self.pos_embed)
        return self.head(self.bn(x.mean(axis=1)))


def _params(model):
    return {n: p.numpy().copy() for n, p in model.named_parameters()}


def _zero_grad_step(model, opt):
    (model(paddle.ones([2, 3, 4])) * 0.0).sum().backward()
    opt.step()
    opt.clear_grad()


CONST = {"name": "Constant", "learning_rate": 0.1}


def test_adamw_exempts_structured_name_fragments():
    model = Tiny()
    opt, _ = build_optimizer({"name": "AdamW", "weight_decay": 0.05, "no_weight_decay_name": "pos_embed norm",
                              "lr": CONST}, 1, 1, model)
    before = _params(model)
    _zero_grad_step(model, opt)  # zero gradients: Adam's own step is 0, only the decoupled decay moves weights
    exempt = {"pos_embed", "blocks.0.norm1.weight", "blocks.0.norm1.bias"}
    for n, p in model.named_parameters():
        if p.stop_gradient:
            continue
        want = before[n] if n in exempt else before[n] * np.float32(1 - 0.1 * 0.05)
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-6, err_msg=n)
    names = {p.name for n, p in model.named_parameters() if n in exempt}
    assert opt._apply_decay_param_fun.excluded == names  # mapped onto Paddle's generated names


def test_adamw_one_dim_exemption():
    model = Tiny()
    opt, _ = build_optimizer({"name": "AdamW", "one_dim_param_no_weight_decay": True, "lr": CONST}, 1, 1, model)
    before = _params(model)
    _zero_grad_step(model, opt)
    for n, p in model.named_parameters():
        if p.stop_gradient:
            continue
        decayed = len(p.shape) > 1
        want = before[n] * np.float32(1 - 0.1 * 0.05) if decayed else before[n]
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-6, err_msg=n)


@pytest.mark.parametrize("kind", ["L2", "L1"])
def test_momentum_regularizer_and_exemptions(kind):
    model = Tiny()
    coeff = 0.01
    opt, _ = build_optimizer({"name": "Momentum", "momentum": 0.9, "regularizer": {"name": kind, "coeff": coeff},
                              "no_weight_decay_name": "head.", "one_dim_param_no_weight_decay": True,
                              "lr": CONST}, 1, 1, model)
    before = _params(model)
    _zero_grad_step(model, opt)
    for n, p in model.named_parameters():
        if p.stop_gradient:
            continue
        exempt = n.startswith("head.") or len(p.shape) == 1
        decay = before[n] if kind == "L2" else np.sign(before[n])
        want = before[n] if exempt else before[n] - np.float32(0.1 * coeff) * decay
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-6, atol=1e-8, err_msg=n)


class TwoParams(nn.Layer):
    def __init__(self):
        super().__init__()
        self.a = self.create_parameter([3], default_initializer=nn.initializer.Constant(1.0))
        self.b = self.create_parameter([2, 2], default_initializer=nn.initializer.Constant(-1.0))


@pytest.mark.parametrize("key", ["clip_norm", "clip_grad_norm"])
def test_clipping_uses_the_global_norm(key):
    model = TwoParams()
    opt, _ = build_optimizer({"name": "Momentum", "momentum": 0.0, key: 1.0, "lr": CONST}, 1, 1, model)
    ga = np.array([3.0, 0.0, 4.0], dtype="float32")
    gb = np.array([[0.0, 12.0], [0.0, 0.0]], dtype="float32")
    ((model.a * paddle.to_tensor(ga)).sum() + (model.b * paddle.to_tensor(gb)).sum()).backward()
    opt.step()
    norm = np.sqrt((ga ** 2).sum() + (gb ** 2).sum())  # 13: one scale for all gradients
    np.testing.assert_allclose(model.a.numpy(), 1.0 - 0.1 * ga / norm, rtol=1e-6)
    np.testing.assert_allclose(model.b.numpy(), -1.0 - 0.1 * gb / norm, rtol=1e-6)


def _batches(n):
    rng = np.random.default_rng(100)
    return [(rng.normal(size=(5, 3, 4)).astype("float32"), rng.integers(0, 3, size=5)) for _ in range(n)]


def _run(cfg, seed, batches, state=None):
    """Train Tiny on `batches` in a fresh name scope, optionally from a saved state; returns the saved state too."""
    with unique_name.guard():
        paddle.seed(seed)
        model = Tiny()
        opt, sched = build_optimizer(cfg, 4, 3, model)
        if state is not None:
            model.set_state_dict(state["model"])
            opt.set_state_dict(state["opt"])
        for x, y in batches:
            nn.functional.cross_entropy(model(paddle.to_tensor(x)), paddle.to_tensor(y)).backward()
            opt.step()
            opt.clear_grad()
            sched.step()
        # what a checkpoint holds: tensors as numpy arrays (ppcls_lite.serialization's format)
        saved = pickle.loads(dumps_bytes({"model": model.state_dict(), "opt": opt.state_dict()}))
    return model, sched, saved


@pytest.mark.parametrize("cfg", [
    {"name": "Momentum", "momentum": 0.9, "use_nesterov": True, "regularizer": {"name": "L2", "coeff": 1e-3},
     "one_dim_param_no_weight_decay": True, "clip_norm": 0.5,
     "lr": {"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1, "warmup_start_lr": 0.01}},
    {"name": "AdamW", "beta1": 0.8, "weight_decay": 0.05, "no_weight_decay_name": "pos_embed norm",
     "one_dim_param_no_weight_decay": True, "clip_grad_norm": 1.0, "epsilon": "1e-8",
     "lr": {"name": "Piecewise", "decay_epochs": [1, 2], "values": [1e-2, 1e-3, 1e-4], "warmup_epoch": 1}},
])
def test_state_round_trip_is_bitwise(cfg):
    batches = _batches(11)
    cut = 5  # inside the second epoch: after the warmup (3 iterations), before the first decay
    ref_model, ref_sched, _ = _run(cfg, 0, batches)
    _, _, state = _run(cfg, 0, batches[:cut])
    model, sched, _ = _run(cfg, 123, batches[cut:], state)  # different init: the restored state must win
    for (n, p), (_, q) in zip(model.named_parameters(), ref_model.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    for (n, p), (_, q) in zip(model.named_buffers(), ref_model.named_buffers()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    assert sched.last_epoch == ref_sched.last_epoch == len(batches)
    assert sched() == ref_sched()


@pytest.mark.parametrize("cfg, fragment", [
    ([{"Momentum": {"scope": "all"}}], "list form"),
    ({"name": "Adam", "lr": CONST}, "Optimizer.name"),
    ({"name": "Momentum"}, "Optimizer.lr"),
    ({"name": "Momentum", "momentun": 0.9, "lr": CONST}, "did you mean 'momentum'"),
    ({"name": "Momentum", "regularizer": {"name": "L3", "coeff": 1e-4}, "lr": CONST}, "regularizer.name"),
    ({"name": "Momentum", "regularizer": {"name": "L2"}, "lr": CONST}, "regularizer.coeff"),
    ({"name": "Momentum", "regularizer": {"name": "L2", "coeff": 1e-4}, "weight_decay": 1e-4, "lr": CONST},
     "only one of regularizer"),
    ({"name": "AdamW", "clip_norm": 1.0, "clip_grad_norm": 1.0, "lr": CONST}, "only one of clip_norm"),
    ({"name": "AdamW", "clip_norm": -1.0, "lr": CONST}, "Optimizer.clip_norm"),
    ({"name": "AdamW", "lr": {"name": "Cosine"}}, "Optimizer.lr.learning_rate"),
])
def test_errors_name_the_key(cfg, fragment):
    with pytest.raises(ConfigError) as e:
        build_optimizer(cfg, 2, 2, Tiny())
    assert fragment in str(e.value) and "Optimizer.Optimizer" not in str(e.value)


def test_registry_signatures_are_the_yaml_keys():
    assert set(OPTIMIZERS) == {"Momentum", "AdamW", "AdamWDL"} and OPTIMIZER_STRUCTURAL_KEYS == ("name", "lr")
    keys = lambda name: set(inspect.signature(OPTIMIZERS[name]).parameters)
    assert keys("Momentum") == {"momentum", "use_nesterov", "regularizer", "weight_decay", "no_weight_decay_name",
                                "one_dim_param_no_weight_decay", "clip_norm", "clip_grad_norm", "multi_precision"}
    assert keys("AdamW") == {"beta1", "beta2", "epsilon", "weight_decay", "no_weight_decay_name",
                             "one_dim_param_no_weight_decay", "clip_norm", "clip_grad_norm", "amsgrad",
                             "multi_precision"}
    assert keys("AdamWDL") == keys("AdamW") | {"layerwise_decay", "filter_bias_and_bn"}
    sig = inspect.signature(OPTIMIZERS["AdamW"]).parameters
    assert sig["weight_decay"].default == 0.05 and sig["epsilon"].default == 1e-8
