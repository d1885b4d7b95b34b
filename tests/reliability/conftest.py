"""Shared pieces of the reliability tests: a tiny ConvNeXt run on the vendored CIFAR subset, process helpers,
and one uninterrupted reference run that every interrupted-and-resumed run must reproduce bit for bit."""
import os
import pathlib
import subprocess
import sys
import time

import pytest
import yaml

from ppcls_lite.engine.checkpoint import verify_checkpoint
from ppcls_lite.serialization import file_sha256
from tests.engine.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "tools", "train.py")
FAULTY = os.path.join(ROOT, "tests", "reliability", "faulty_train.py")
# 40 training images in batches of 8: 5 steps an epoch, 4 epochs, a 'latest' after every step.
EPOCHS = 4


def small_config(directory, *, epochs=EPOCHS, extra_global=None, **kw):
    """Tiny ConvNeXt (depths 1,1,1,1, dims 8..32; no BatchNorm, no drop-path), EMA on, 'latest' every step,
    the newest 2 epoch checkpoints kept. Returns the config path; the run writes to <directory>/output."""
    os.makedirs(directory, exist_ok=True)
    g = {"latest_interval_steps": 1, "max_checkpoints": 2, "use_visualdl": False, **(extra_global or {})}
    path = tiny_config(pathlib.Path(directory), train_per_class=4, val_per_class=2, batch_size=8, epochs=epochs,
                       model="ConvNeXt_tiny", ema=True, extra_global=g, **kw)
    with open(path) as f:
        cfg = yaml.safe_load(f)
    cfg["Arch"].update(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32], drop_path_rate=0.0)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def output_of(config_path):
    return os.path.join(os.path.dirname(config_path), "output")


def run_train(args, fault=None, marker=None, timeout=300):
    """Run tools/train.py (through faulty_train.py when a fault is given) to the end."""
    env = dict(os.environ)
    if fault:
        env.update(PPCLS_FAULT=fault, PPCLS_FAULT_MARKER=marker)
    return subprocess.run([sys.executable, FAULTY if fault else TRAIN, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def start_train(args, log_path, fault=None, marker=None):
    """Start tools/train.py through faulty_train.py in the background; stdout and stderr go to log_path."""
    env = dict(os.environ)
    env.pop("PPCLS_FAULT", None)
    if fault:
        env.update(PPCLS_FAULT=fault, PPCLS_FAULT_MARKER=marker)
    log = open(log_path, "a")
    proc = subprocess.Popen([sys.executable, FAULTY, *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT)
    log.close()
    return proc


def wait_for(condition, proc, what, timeout=120):
    """Poll `condition` every 2 ms until true; fail if the process ends first or the timeout passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}")
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


def valid_step(prefix):
    """global_step of a valid checkpoint at prefix, or None when it is missing or invalid."""
    try:
        return verify_checkpoint(prefix)["global_step"]
    except Exception:
        return None


def temp_files(out):
    return sorted(f for f in os.listdir(out) if f.startswith(".tmp-")) if os.path.isdir(out) else []


FINAL_FILES = ["latest.pdparams", "latest.pdopt", "latest.pdstates", "best_model.pdparams", "best_model.pdopt",
               "best_model.pdstates"] + [f"epoch_{e}.{x}" for e in (EPOCHS - 1, EPOCHS) for x in ("pdparams", "pdopt",
                                                                                              "pdstates")]


def assert_bitwise_identical(ref_out, out):
    """Same checkpoint files, byte for byte (weights, optimizer, EMA, counters, best metric), same file set."""
    for name in FINAL_FILES:
        assert file_sha256(os.path.join(out, name)) == file_sha256(os.path.join(ref_out, name)), name
    assert _checkpoint_files(out) == _checkpoint_files(ref_out)
    assert temp_files(out) == []


def _checkpoint_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith((".pdparams", ".pdopt", ".pdstates")))


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """Output folder of one uninterrupted run of the small config."""
    cfg = small_config(str(tmp_path_factory.mktemp("reference")))
    proc = run_train(["-c", cfg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return output_of(cfg)
