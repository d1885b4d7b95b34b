"""Kills: SIGKILL at five seeded-random moments (before any checkpoint, mid-training, inside a checkpoint file's
write, between the renames that commit a checkpoint, inside an epoch checkpoint's write), each followed by a
resume from `latest`; SIGTERM and Ctrl-C (SIGINT) save `latest` and exit 128+signal. Every resumed run ends
bitwise-identical to the uninterrupted reference run."""
import os
import random
import signal
import time

import pytest

from ppcls_lite.serialization import safe_load

from .conftest import (assert_bitwise_identical, output_of, run_train, small_config, start_train, temp_files,
                       valid_step, wait_for)

SEEDS = (20261121, 7)  # two chains of five kills


def _resume_args(cfg, out):
    """The same command every time: Global.checkpoints: auto resumes from `latest` (or its _prev) when there is
    one, and starts from scratch when there is none."""
    return ["-c", cfg, "-o", "Global.checkpoints=auto"]


def _progress(out):
    try:
        return safe_load(os.path.join(out, "latest.pdstates"))["global_step"]
    except Exception:
        return -1


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_five_moments_then_resume_is_bitwise_identical(reference, tmp_path, seed):
    rng = random.Random(seed)
    cfg = small_config(str(tmp_path / "run"))
    out = output_of(cfg)
    log = str(tmp_path / "runs.log")
    plan = [  # (what, fault for faulty_train.py or None, seconds to wait before the kill)
        ("before any checkpoint", None, rng.uniform(0.05, 0.5)),
        ("mid-training", None, rng.uniform(0.0, 0.3)),
        ("inside the write of latest.pdopt", f"stall_write:latest.pdopt:{rng.randint(0, 2)}", None),
        ("between the renames of latest", f"stall_commit:latest.pdopt:{rng.randint(0, 2)}", None),
        ("inside the write of an epoch checkpoint", "stall_write:epoch_*.pdparams:0", None),
    ]
    landed = []
    for i, (what, fault, delay) in enumerate(plan):
        marker = str(tmp_path / f"marker{i}")
        args = _resume_args(cfg, out)
        before = _progress(out)
        proc = start_train(args, log, fault, marker)
        if fault:
            wait_for(lambda: os.path.exists(marker), proc, f"the fault of kill {i + 1} ({what})")
        elif i == 0:
            time.sleep(delay)
        else:
            wait_for(lambda: _progress(out) > before, proc, f"training progress before kill {i + 1}")
            time.sleep(delay)
        tmp_at_kill = temp_files(out)
        assert proc.poll() is None, f"kill {i + 1} ({what}): the run ended before the kill"
        proc.kill()
        proc.wait()
        latest, prev = valid_step(os.path.join(out, "latest")), valid_step(os.path.join(out, "latest_prev"))
        landed.append((what, len(tmp_at_kill), latest, prev))
        if i == 0:  # nothing written yet: the next run starts from scratch
            assert not os.path.exists(os.path.join(out, "latest.pdstates"))
        if fault and fault.startswith("stall_write"):  # killed mid-write: `latest` itself untouched and valid
            assert tmp_at_kill and latest is not None, landed[-1]
        if fault and fault.startswith("stall_commit"):  # half-committed: `latest` invalid, `latest_prev` valid
            assert latest is None and prev is not None, landed[-1]
    print("kills landed (what, .tmp files at kill, valid latest step, valid latest_prev step):", landed)

    final = run_train(_resume_args(cfg, out))
    assert final.returncode == 0, final.stderr[-3000:]
    text = open(log).read() + final.stdout + final.stderr
    assert text.count("resumed from") >= 4
    assert "falling back to the previous checkpoint" in text and "latest_prev" in text  # after kill 4
    assert "unfinished checkpoint write(s)" in text  # the .tmp- files of kills 3 and 5 were cleaned up
    assert_bitwise_identical(reference, out)


def _stop_with(signum, cfg, tmp_path, fault):
    out = output_of(cfg)
    marker = str(tmp_path / "marker")
    log = str(tmp_path / "stopped.log")
    proc = start_train(["-c", cfg], log, fault, marker)
    wait_for(lambda: os.path.exists(marker), proc, "the stall in a checkpoint write")
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum, open(log).read()[-3000:]
    text = open(log).read()
    assert "signal received: saved" in text and "Traceback" not in text
    stopped = valid_step(os.path.join(out, "latest"))
    assert stopped is not None and stopped < 5 * 4  # a valid `latest`, well before the end
    return stopped


def test_sigterm_saves_latest_and_resume_is_bitwise_identical(reference, tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    # The signal lands while latest.pdparams of step 3 is being written (the write stalls 1 s).
    stopped = _stop_with(signal.SIGTERM, cfg, tmp_path, "stall_write:latest.pdparams:2:1.0")
    assert stopped == 3
    resumed = run_train(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(output_of(cfg), 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_bitwise_identical(reference, output_of(cfg))


def test_sigint_saves_latest_and_resume_is_bitwise_identical(reference, tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    # Ctrl-C arrives while the stalled commit of step 7's latest.pdopt (an epoch-2 step) waits 1 s.
    stopped = _stop_with(signal.SIGINT, cfg, tmp_path, "stall_commit:latest.pdopt:6:1.0")
    assert stopped == 7
    resumed = run_train(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(output_of(cfg), 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_bitwise_identical(reference, output_of(cfg))
