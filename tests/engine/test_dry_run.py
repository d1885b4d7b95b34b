"""`tools/train.py --dry-run` (issue 12, item 4): everything a run needs is built and checked, a summary printed,
nothing trained or written; a broken part is the same one-line error a real run would give."""
import os
import subprocess
import sys

import pytest
import yaml

from ppcls_lite.optim.lr import build_lr_scheduler
from tests.engine.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def _summary(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line and not line.startswith("["))
    return {k.strip(): v.strip() for k, v in lines.items()}


def test_dry_run_summarises_and_writes_nothing(tmp_path):
    cfg = tiny_config(tmp_path, epochs=4)  # 60 train images in batches of 12, 30 val images
    out = tmp_path / "output"
    proc = _tool("-c", cfg, "--dry-run")
    summary = _summary(proc)
    assert not out.exists()  # no output folder, log, VisualDL or checkpoint
    assert summary["model"].startswith("ResNet18, 11.") and summary["model"].endswith("10 classes")
    assert summary["train data"].startswith("60 images, 10 classes (")
    assert summary["eval data"].startswith("30 images (") and "every 1 epoch(s) from epoch 1" in summary["eval data"]
    assert summary["batch"].startswith("12 per device x 1 device(s); one decoded in ")
    assert summary["batch"].endswith("images [12, 3, 32, 32] float32, labels [12, 1]") or \
        summary["batch"].endswith("images [12, 3, 32, 32] float32, labels [12]"), summary["batch"]
    assert summary["steps"] == "5 iterations per epoch (optimizer steps: 5), 4 epochs, 20 optimizer steps"
    assert summary["optimizer"] == "Momentum, schedule Cosine, warmup 5 steps"
    lr_cfg = yaml.safe_load(open(cfg))["Optimizer"]["lr"]
    expected = []
    for step in (0, 5, 19):
        sched = build_lr_scheduler(lr_cfg, 4, 5)
        sched.step(step)
        expected.append(f"{float(sched()):.6g}")
    assert summary["learning rate"] == f"start {expected[0]}, end of warmup {expected[1]}, last step {expected[2]}"
    assert summary["output dir"].endswith("(to be created)") and summary["resume"] == "no: starts from scratch"
    assert proc.stdout.rstrip().endswith("dry run: everything checked; nothing was trained or written")


def test_dry_run_reports_the_resume_and_stops_on_what_a_run_would_stop_on(tmp_path):
    cfg = tiny_config(tmp_path, epochs=2)
    assert _tool("-c", cfg, "-o", "Global.epochs=1").returncode == 0
    before = sorted(os.listdir(tmp_path / "output"))
    summary = _summary(_tool("-c", cfg, "--dry-run", "-o", "Global.checkpoints=auto"))
    assert summary["resume"] == f"from {tmp_path / 'output' / 'latest'}: epoch 2, step 0"
    assert summary["output dir"].endswith("(exists)")
    assert sorted(os.listdir(tmp_path / "output")) == before  # nothing added, nothing cleaned
    # labels beyond the head (10 classes of data, a 5-class model): the one-line error of a real run, exit 2
    proc = _tool("-c", cfg, "--dry-run", "-o", "Arch.class_num=5", "-o", f"Global.output_dir={tmp_path / 'new'}")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "class" in errors[0] and not (tmp_path / "new").exists()


@pytest.mark.parametrize("override, expected", [
    ("Optimizer.lr.name=Cosinus", "Optimizer.lr.name"),
    ("Arch.layers=51", "Arch.layers: 51 is not supported"),
])
def test_dry_run_config_errors_are_one_line(tmp_path, override, expected):
    proc = _tool("-c", tiny_config(tmp_path), "--dry-run", "-o", override)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and expected in errors[0], proc.stderr[-2000:]
