"""Bad numbers: a NaN/Inf loss stops the run naming the step, the batch's files and a hint, or -- within
Global.skip_nan_steps -- skips the step and counts it (the count is checkpointed); weights that are not finite
are never written to any checkpoint, so best_model stays the last good one."""
import math
import os
import sys

import numpy as np
import pytest

from ppcls_lite.config import load_config
from ppcls_lite.engine.trainer import NonFiniteLossError, Trainer
from ppcls_lite.serialization import safe_load

from .conftest import ROOT, output_of, small_config

sys.path.insert(0, os.path.join(ROOT, "tools"))
import train as train_tool  # noqa: E402


def _trainer(tmp_path, **global_overrides):
    cfg = small_config(str(tmp_path), epochs=2, extra_global={"latest_interval_steps": 0, **global_overrides})
    return Trainer(load_config(cfg)), output_of(cfg)


def _nan_at(trainer, steps):
    """Make the loss NaN at the given (0-based) global steps."""
    real = trainer.loss_fn

    def loss_fn(logits, labels):
        losses = real(logits, labels)
        if trainer.state["global_step"] in steps:
            losses = {k: v * float("nan") for k, v in losses.items()}
        return losses

    trainer.loss_fn = loss_fn


def _all_finite(path):
    return all(np.isfinite(v).all() for v in safe_load(path).values() if isinstance(v, np.ndarray))


def test_divergent_learning_rate_stops_with_step_files_and_hint(tmp_path, capsys):
    cfg = small_config(str(tmp_path), epochs=2, extra_global={"latest_interval_steps": 0})
    rc = train_tool.main(["-c", cfg, "-o", "Optimizer.lr.learning_rate=1000000.0"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1, err[-3000:]
    msg = errors[0]
    assert "training loss is" in msg and "at epoch 1, iter" in msg and "global step" in msg, msg
    assert "batch files: " in msg and ".jpg" in msg and "hint: lower the learning rate" in msg, msg
    out = output_of(cfg)
    assert not any(f.endswith(".pdparams") for f in os.listdir(out))  # nothing diverged was saved


def test_nan_steps_within_budget_are_skipped_and_counted(tmp_path):
    trainer, out = _trainer(tmp_path, skip_nan_steps=2)
    _nan_at(trainer, {2, 6})
    trainer.fit()
    states = safe_load(os.path.join(out, "latest.pdstates"))
    assert states["nan_steps_skipped"] == 2 and states["global_step"] == 10
    log = open(os.path.join(out, "train.log")).read()
    assert log.count("step skipped") == 2 and "epoch 1 iter 2: step skipped (1/2 allowed)" in log
    assert "epoch 2 iter 1: step skipped (2/2 allowed)" in log
    assert all(_all_finite(os.path.join(out, f)) for f in os.listdir(out) if f.endswith(".pdparams"))


def test_nan_beyond_budget_stops_naming_step_and_batch_files(tmp_path):
    trainer, out = _trainer(tmp_path, skip_nan_steps=1)
    _nan_at(trainer, {2, 6})
    with pytest.raises(NonFiniteLossError) as e:
        trainer.fit()
    msg = str(e.value)
    assert "training loss is nan at epoch 2, iter 1 (global step 6)" in msg, msg
    files = msg.split("batch files: ")[1].split(";")[0].rstrip(" .").split(", ")
    assert len(files) == 4 and all(os.path.isfile(f) for f in files) and "..." in msg
    train_paths = {p for p, _ in trainer.train_loader.dataset.samples}
    assert set(files) <= train_paths and "Global.skip_nan_steps" in msg
    assert safe_load(os.path.join(out, "latest.pdstates"))["global_step"] == 5  # the epoch-1 checkpoint stays


def test_nan_found_at_the_next_logging_step_still_names_its_own_step(tmp_path):
    # Without skips the loss is read only when logging (no host sync per step); the error must still name the
    # first bad step, not the logging step that found it, and nothing after it may be written.
    trainer, out = _trainer(tmp_path, print_batch_step=4)
    _nan_at(trainer, {1, 2})
    with pytest.raises(NonFiniteLossError) as e:
        trainer.fit()
    msg = str(e.value)
    assert "training loss is nan at epoch 1, iter 1 (global step 1)" in msg, msg
    assert trainer.state["global_step"] == 5  # detected when logging iter 4, not at iter 1
    assert not any(f.endswith(".pdparams") for f in os.listdir(out))


def test_nonfinite_weights_never_reach_a_checkpoint_or_best(tmp_path):
    trainer, out = _trainer(tmp_path, skip_nan_steps=100)
    real_step = trainer._optimizer_step

    def poisoned_step():  # after the update of step 6, one weight becomes NaN (as an overflowing update would)
        real_step()
        if trainer.state["global_step"] == 7:
            w = trainer.model.parameters()[0]
            w.set_value(np.full(w.shape, math.nan, np.float32))

    trainer._optimizer_step = poisoned_step
    with pytest.raises(NonFiniteLossError, match="model weights are not finite .* not written"):
        trainer.fit()
    assert trainer.state["nan_steps_skipped"] == 3  # steps 7, 8, 9 had NaN losses and were skipped
    assert not any(f.startswith("epoch_2") for f in os.listdir(out))
    best = safe_load(os.path.join(out, "best_model.pdstates"))
    assert best["best_epoch"] == 1
    for f in os.listdir(out):
        if f.endswith((".pdparams", ".pdstates")):
            assert _all_finite(os.path.join(out, f)), f
