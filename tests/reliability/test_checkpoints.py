"""Checkpoint integrity: any truncated, zeroed, corrupted or missing file of `latest` is detected and the
previous checkpoint (latest_prev) is used with a warning naming both; a failed write (ENOSPC injected) leaves
the checkpoint files already there unchanged and stops tools/train.py with one line and exit code 2;
Global.max_checkpoints keeps the newest N epoch checkpoints plus best_model."""
import errno
import os

import numpy as np
import paddle
import pytest

from ppcls_lite.engine.checkpoint import (CheckpointWriteError, load_checkpoint, resolve_checkpoint, save_checkpoint,
                                          verify_checkpoint)
from ppcls_lite.errors import WeightsError
from ppcls_lite.serialization import file_sha256, safe_load

from .conftest import EPOCHS, assert_bitwise_identical, output_of, run_train, small_config, temp_files, valid_step

FILES = ("pdparams", "pdopt", "pdstates")


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _zero(path):
    open(path, "wb").close()


def _flip_middle(path):
    """One byte in the middle of the file changed: for .pdstates that is inside the EMA array."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x5A
        f.seek(0)
        f.write(data)


def _delete(path):
    os.remove(path)


CORRUPTIONS = {"truncated": _truncate, "zero bytes": _zero, "one byte changed": _flip_middle, "deleted": _delete}


def _model_and_opt():
    paddle.seed(1)
    model = paddle.nn.Sequential(paddle.nn.Linear(16, 32), paddle.nn.Linear(32, 4))
    opt = paddle.optimizer.Momentum(0.1, parameters=model.parameters())
    return model, opt


def _step(model, opt):
    loss = model(paddle.randn([8, 16])).square().mean()
    loss.backward()
    opt.step()
    opt.clear_grad()


def _states(step):
    # an EMA-sized array makes up most of the .pdstates file, as in the trainer's checkpoints
    return {"global_step": step, "epoch": 1, "ema": {"shadow": {"w": np.full((64, 64), float(step), np.float32)}}}


@pytest.fixture
def two_saves(tmp_path):
    """output/latest at step 2, output/latest_prev at step 1 (written as the trainer writes them)."""
    model, opt = _model_and_opt()
    prefix = str(tmp_path / "output" / "latest")
    _step(model, opt)
    save_checkpoint(prefix, model, opt, _states(1), keep_previous=True)
    _step(model, opt)
    save_checkpoint(prefix, model, opt, _states(2), keep_previous=True)
    assert verify_checkpoint(prefix)["global_step"] == 2
    assert verify_checkpoint(prefix + "_prev")["global_step"] == 1
    return prefix


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("ext", FILES)
def test_damaged_latest_falls_back_to_previous_with_a_warning(two_saves, ext, kind):
    prefix = two_saves
    prev_weights = safe_load(prefix + "_prev.pdparams")
    CORRUPTIONS[kind](f"{prefix}.{ext}")
    with pytest.raises(WeightsError):
        verify_checkpoint(prefix)
    warnings = []
    model, opt = _model_and_opt()
    states = load_checkpoint(prefix, model, opt, warn=lambda fmt, *a: warnings.append(fmt % a))
    assert states["loaded_from"] == prefix + "_prev" and states["global_step"] == 1
    assert len(warnings) == 1
    assert f"{prefix}.{ext}" in warnings[0] and f"{prefix}_prev" in warnings[0], warnings[0]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), prev_weights[k])


def test_both_damaged_is_one_error_naming_both(two_saves):
    _truncate(two_saves + ".pdparams")
    _flip_middle(two_saves + "_prev.pdstates")
    with pytest.raises(WeightsError) as e:
        resolve_checkpoint(two_saves)
    assert "latest.pdparams" in str(e.value) and "latest_prev.pdstates" in str(e.value)
    assert "\n" not in str(e.value)


def test_damaged_checkpoint_without_previous_is_an_error(tmp_path):
    model, opt = _model_and_opt()
    prefix = str(tmp_path / "epoch_1")
    save_checkpoint(prefix, model, opt, _states(1))
    _flip_middle(prefix + ".pdopt")
    with pytest.raises(WeightsError, match="epoch_1.pdopt"):
        load_checkpoint(prefix, model, opt)


@pytest.mark.parametrize("failing", FILES)
def test_enospc_while_saving_leaves_previous_files_unchanged(two_saves, failing, monkeypatch):
    out = os.path.dirname(two_saves)
    before = {f: file_sha256(os.path.join(out, f)) for f in os.listdir(out)}
    model, opt = _model_and_opt()
    _step(model, opt)
    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the n-th fsync of a save belongs to the n-th file (.pdparams, .pdopt, .pdstates)
        calls.append(fd)
        if len(calls) == FILES.index(failing) + 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError) as e:
        save_checkpoint(two_saves, model, opt, _states(3), keep_previous=True)
    monkeypatch.undo()
    msg = str(e.value)
    assert f"latest.{failing}" in msg and "No space left on device" in msg and "unchanged" in msg, msg
    assert {f: file_sha256(os.path.join(out, f)) for f in os.listdir(out)} == before  # no file changed or added
    assert verify_checkpoint(two_saves)["global_step"] == 2


def test_failed_rename_leaves_latest_prev_to_resume_from(two_saves, monkeypatch):
    import ppcls_lite.engine.checkpoint as ckpt

    real_commit = ckpt.commit_file

    def commit_file(tmp, path):
        if path.endswith("latest.pdopt"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        return real_commit(tmp, path)

    model, opt = _model_and_opt()
    monkeypatch.setattr(ckpt, "commit_file", commit_file)
    with pytest.raises(CheckpointWriteError, match="incomplete.*latest_prev"):
        save_checkpoint(two_saves, model, opt, _states(3), keep_previous=True)
    monkeypatch.undo()
    assert temp_files(os.path.dirname(two_saves)) == []
    prefix, states = resolve_checkpoint(two_saves, warn=lambda *a: None)
    assert prefix.endswith("latest_prev") and states["global_step"] == 2


def test_enospc_stops_train_with_one_line_and_resume_is_bitwise_identical(reference, tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    out = output_of(cfg)
    proc = run_train(["-c", cfg], fault="enospc:latest.pdopt:4", marker=str(tmp_path / "marker"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "latest.pdopt" in errors[0] and "No space left on device" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert valid_step(os.path.join(out, "latest")) == 4 and temp_files(out) == []
    resumed = run_train(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(out, 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_bitwise_identical(reference, out)


def test_corrupt_latest_resumes_from_previous_and_is_bitwise_identical(reference, tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    out = output_of(cfg)
    # the 9th write of latest fails: step 7's (step 5 is saved three times: mid-epoch, at the epoch's end before
    # its evaluation, and after it)
    proc = run_train(["-c", cfg], fault="enospc:latest.pdparams:8", marker=str(tmp_path / "marker"))
    assert proc.returncode == 2 and valid_step(os.path.join(out, "latest")) == 6, proc.stderr[-3000:]
    _flip_middle(os.path.join(out, "latest.pdparams"))
    resumed = run_train(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(out, 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    warning = next(line for line in (resumed.stdout + resumed.stderr).splitlines() if "falling back" in line)
    assert os.path.join(out, "latest.pdparams") in warning and os.path.join(out, "latest_prev") in warning
    assert "resumed from " + os.path.join(out, "latest_prev") in resumed.stdout + resumed.stderr
    assert_bitwise_identical(reference, out)


def test_max_checkpoints_keeps_newest_epochs_and_best(reference):
    names = sorted(f for f in os.listdir(reference) if f.endswith(".pdstates"))
    assert names == ["best_model.pdstates", f"epoch_{EPOCHS - 1}.pdstates", f"epoch_{EPOCHS}.pdstates",
                     "latest.pdstates", "latest_prev.pdstates"]
    for name in names:
        verify_checkpoint(os.path.join(reference, name[: -len(".pdstates")]))
    assert not any(f.startswith(("epoch_1.", "epoch_2.")) for f in os.listdir(reference))
    best = safe_load(os.path.join(reference, "best_model.pdstates"))
    assert 1 <= best["best_epoch"] <= EPOCHS and best["metric"] == best["best_metric"]


def test_prune_finishes_a_prune_cut_short(tmp_path):
    """A kill between the deletes of a prune leaves epoch_1.pdparams without .pdstates: the next prune removes it."""
    from ppcls_lite.engine.checkpoint import CheckpointManager

    out = tmp_path / "out"
    out.mkdir()
    for e in (1, 2, 3):
        for ext in FILES:
            (out / f"epoch_{e}.{ext}").write_bytes(b"x")
    os.remove(out / "epoch_1.pdstates")
    CheckpointManager(str(out), keep_epochs=2, writer=False).prune()  # not the writer (rank > 0): touches nothing
    assert len(os.listdir(out)) == 3 * len(FILES) - 1
    CheckpointManager(str(out), keep_epochs=2).prune()
    assert sorted(os.listdir(out)) == sorted(f"epoch_{e}.{x}" for e in (2, 3) for x in FILES)
