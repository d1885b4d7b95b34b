"""A run stopped mid-epoch (SIGTERM in a real tools/train.py process) and resumed ends bitwise-identical."""
import os
import signal
import subprocess
import sys
import time

import numpy as np

from ppcls_lite.serialization import safe_load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = [sys.executable, os.path.join(ROOT, "tools", "train.py")]


def _run(args, **kw):
    return subprocess.run(TRAIN + args, capture_output=True, text=True, timeout=600, **kw)


def test_sigterm_then_resume_is_bitwise_identical(make_config):
    # Workers on, EMA on, accumulation 2: every piece of state must come back exactly.
    common = dict(workers=2, ema=True, epochs=2, extra_global={"update_freq": 2, "latest_interval_steps": 1})
    full_cfg = make_config("full", **common)
    done = _run(["-c", full_cfg])
    assert done.returncode == 0, done.stderr[-2000:]
    full_out = os.path.join(os.path.dirname(full_cfg), "output")

    cfg = make_config("stopped", **common)
    out = os.path.join(os.path.dirname(cfg), "output")
    proc = subprocess.Popen(TRAIN + ["-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Stop it once it is inside epoch 1 (a mid-epoch 'latest' exists), well before the end.
    deadline = time.time() + 300
    while time.time() < deadline:
        states = os.path.join(out, "latest.pdstates")
        if os.path.exists(states) and safe_load(states)["global_step"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    stopped = safe_load(os.path.join(out, "latest.pdstates"))
    assert (stopped["epoch"], stopped["step_in_epoch"]) < (3, 0)

    resumed = _run(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(out, 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr

    a = safe_load(os.path.join(full_out, "latest.pdparams"))
    b = safe_load(os.path.join(out, "latest.pdparams"))
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sa = safe_load(os.path.join(full_out, "latest.pdstates"))
    sb = safe_load(os.path.join(out, "latest.pdstates"))
    assert sa["ema"]["num_updates"] == sb["ema"]["num_updates"] > 0
    for k in sa["ema"]["shadow"]:
        np.testing.assert_array_equal(sa["ema"]["shadow"][k], sb["ema"]["shadow"][k], err_msg="ema " + k)
    assert sa["global_step"] == sb["global_step"] and sa["best_metric"] == sb["best_metric"]
    for name in ("best_model.pdparams", "epoch_1.pdparams", "epoch_2.pdparams", "label_list.txt", "train.log"):
        assert os.path.exists(os.path.join(out, name)), name
