"""User mistakes reach the user as one line on stderr and exit code 2, never a traceback."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    "override, expected",
    [
        ("Optimizer.lr.learnig_rate=0.1", "learning_rate"),          # unknown key -> nearest valid
        ("Global.epochs=ten", "Global.epochs"),                      # wrong type names the path
        ("Arch.name=ResNet51", "ResNet50"),                          # unknown model -> closest names
        ("DataLoader.Train.dataset.cls_label_path=/nonexistent/list.txt", "/nonexistent/list.txt"),  # missing file
        ("Global.checkpoints=/nonexistent/latest", "/nonexistent/latest"),                           # missing ckpt
    ],
)
def test_train_config_errors_are_one_line_exit_2(make_config, override, expected):
    cfg = make_config("err")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg, "-o", override],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_missing_config_file_is_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr and "Traceback" not in proc.stderr
