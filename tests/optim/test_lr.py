import inspect
import logging
import math

import pytest

from ppcls_lite.errors import ConfigError
from ppcls_lite.optim import LR_SCHEDULES, build_lr_scheduler

EPOCHS, ITERS = 10, 7  # 70 iterations


def _trace(sched, n):
    """Learning rate used at iterations 0..n-1 (the trainer steps after each optimizer step)."""
    out = []
    for _ in range(n):
        out.append(sched())
        sched.step()
    return out


def _check(cfg, formula, epochs=EPOCHS, iters=ITERS, rel=1e-6):
    sched = build_lr_scheduler(cfg, epochs, iters)
    got = _trace(sched, epochs * iters)
    for t, lr in enumerate(got):
        assert lr == pytest.approx(formula(t), rel=rel, abs=1e-12), f"iteration {t}"
    return sched


def test_cosine_with_warmup_closed_form():
    base, eta, w0, W = 0.1, 1e-4, 0.01, 2 * ITERS
    T = (EPOCHS - 2) * ITERS

    def f(t):
        if t < W:
            return w0 + (base - w0) * t / W
        return eta + (base - eta) * (1 + math.cos(math.pi * (t - W) / T)) / 2

    _check({"name": "Cosine", "learning_rate": base, "eta_min": eta, "warmup_epoch": 2, "warmup_start_lr": w0}, f)


def test_cosine_without_warmup_and_yaml_strings():
    T = EPOCHS * ITERS
    _check({"name": "Cosine", "learning_rate": "5e-4"},  # PyYAML reads 5e-4 as a string
           lambda t: 5e-4 * (1 + math.cos(math.pi * t / T)) / 2)


def test_piecewise_boundaries_follow_the_warmup():
    vals = [0.1, 0.01, 0.001]

    def f(t):
        if t < ITERS:  # one warmup epoch from 0
            return 0.1 * t / ITERS
        e = (t - ITERS) / ITERS  # decay clock starts when the warmup ends (PaddleClas)
        return vals[0] if e < 3 else vals[1] if e < 6 else vals[2]

    _check({"name": "Piecewise", "decay_epochs": [3, 6], "values": vals, "warmup_epoch": 1}, f)


def test_piecewise_learning_rate_rule(caplog):
    sched = build_lr_scheduler({"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [30, 60, 90],
                                "values": [0.1, 0.01, 0.001, 0.0001]}, 120, 1)
    lrs = _trace(sched, 120)
    assert lrs[29] == 0.1 and lrs[30] == pytest.approx(0.01) and lrs[119] == pytest.approx(1e-4)
    with caplog.at_level(logging.WARNING):
        sched = build_lr_scheduler({"name": "Piecewise", "learning_rate": 0.2, "decay_epochs": [5],
                                    "values": [1.0, 0.5]}, 40, 1)
    assert "decays 10x every 30 epochs" in caplog.text
    lrs = _trace(sched, 40)
    assert lrs[29] == 0.2 and lrs[30] == pytest.approx(0.02)
    short = _trace(build_lr_scheduler({"name": "Piecewise", "learning_rate": 0.3}, 10, 2), 20)
    assert short == [0.3] * 20


def test_step_multistep_linear_constant():
    _check({"name": "Step", "learning_rate": 0.5, "step_size": 3, "gamma": 0.5},
           lambda t: 0.5 * 0.5 ** (t // (3 * ITERS)))
    _check({"name": "MultiStepDecay", "learning_rate": 0.5, "milestones": [2, 7], "gamma": 0.1},
           lambda t: 0.5 * 0.1 ** sum(t >= m * ITERS for m in (2, 7)))
    T = EPOCHS * ITERS
    _check({"name": "Linear", "learning_rate": 0.4, "end_lr": 0.1}, lambda t: 0.1 + 0.3 * (1 - t / T))
    _check({"name": "ConstLR", "learning_rate": 0.3, "warmup_epoch": 1},
           lambda t: 0.3 * t / ITERS if t < ITERS else 0.3)
    _check({"name": "Constant", "learning_rate": 0.3}, lambda t: 0.3)
    _check({"learning_rate": 0.2}, lambda t: 0.2)  # no name: constant


def test_by_epoch_keeps_epoch_units():
    sched = build_lr_scheduler({"name": "Cosine", "learning_rate": 1.0, "warmup_epoch": 2, "by_epoch": True},
                               EPOCHS, ITERS)
    assert sched.by_epoch is True
    lrs = _trace(sched, EPOCHS)
    assert lrs[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert lrs[6] == pytest.approx((1 + math.cos(math.pi * 4 / 8)) / 2)
    assert build_lr_scheduler({"name": "Cosine", "learning_rate": 1.0}, 2, 3).by_epoch is False


def test_warmup_longer_than_training_is_clamped():
    lrs = _trace(build_lr_scheduler({"name": "Cosine", "learning_rate": 1.0, "warmup_epoch": 50}, 2, 5), 10)
    assert lrs == pytest.approx([t / 10 for t in range(10)])


def test_state_round_trip_continues_exactly():
    cfg = {"name": "Cosine", "learning_rate": 0.1, "eta_min": 1e-5, "warmup_epoch": 1, "warmup_start_lr": 1e-3}
    ref = build_lr_scheduler(cfg, EPOCHS, ITERS)
    full = _trace(ref, EPOCHS * ITERS)
    for cut in (3, ITERS, 40):  # inside the warmup, at its end, inside the cosine
        a = build_lr_scheduler(cfg, EPOCHS, ITERS)
        _trace(a, cut)
        state = a.state_dict()
        b = build_lr_scheduler(cfg, EPOCHS, ITERS)
        b.set_state_dict(state)
        assert _trace(b, EPOCHS * ITERS - cut) == full[cut:]  # bitwise


@pytest.mark.parametrize("cfg, fragment", [
    ({"name": "Cosinus", "learning_rate": 0.1}, "unknown learning-rate schedule 'Cosinus'; did you mean 'Cosine'?"),
    ({"name": "Cosine", "learning_rate": 0.1, "eta_mn": 0.0}, "Optimizer.lr.eta_mn"),
    ({"name": "Cosine"}, "Optimizer.lr.learning_rate"),
    ({"name": "Cosine", "learning_rate": "fast"}, "Optimizer.lr.learning_rate"),
    ({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1, "warmup_start_lr": 0.1}, "warmup_start_lr"),
    ({"name": "Piecewise", "decay_epochs": [3, 6], "values": [0.1, 0.01]}, "Optimizer.lr.values"),
    ({"name": "Piecewise", "decay_epochs": [6, 3], "values": [0.1, 0.01, 0.001]}, "decay_epochs"),
    ({"name": "Piecewise"}, "decay_epochs and values"),
    ({"name": "Step", "learning_rate": 0.1, "gamma": 0.1}, "Optimizer.lr.step_size"),
    ({"name": "Cosine", "learning_rate": 0.1, "by_epoch": "yes"}, "by_epoch"),
])
def test_errors_name_the_key(cfg, fragment):
    with pytest.raises(ConfigError) as e:
        build_lr_scheduler(cfg, EPOCHS, ITERS)
    assert fragment in str(e.value)


def test_registry_signatures_are_the_yaml_keys():
    assert set(LR_SCHEDULES) >= {"Cosine", "Piecewise", "Step", "ConstLR", "Constant", "Linear", "MultiStepDecay"}
    keys = lambda name: list(inspect.signature(LR_SCHEDULES[name]).parameters)
    assert keys("Cosine") == ["learning_rate", "eta_min", "warmup_epoch", "warmup_start_lr", "last_epoch", "by_epoch"]
    assert keys("Piecewise")[:2] == ["decay_epochs", "values"] and "learning_rate" in keys("Piecewise")
    assert keys("Step")[:3] == ["learning_rate", "step_size", "gamma"]
    for name, cls in LR_SCHEDULES.items():
        for p in inspect.signature(cls).parameters.values():
            assert p.kind == p.POSITIONAL_OR_KEYWORD and p.annotation is not p.empty, (name, p.name)
