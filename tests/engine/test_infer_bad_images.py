"""tools/infer.py on a folder with undecodable images: the file is named, the good images are still reported,
and on_bad_image chooses between stopping and skipping (issue 10, item 5)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

import ppcls_lite
from ppcls_lite.serialization import atomic_save
from tests.engine.conftest import DATA

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _infer(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "infer.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


@pytest.fixture
def folder(tmp_path):
    """Six real JPEGs (a.jpg .. f.jpg) and, sorted between them, a truncated JPEG and an HTML page named .jpg."""
    d = tmp_path / "images"
    d.mkdir()
    cats = sorted(os.listdir(os.path.join(DATA, "val", "cat")))[:6]
    for name, src in zip("abcdef", cats):
        shutil.copy(os.path.join(DATA, "val", "cat", src), d / f"{name}.jpg")
    data = (d / "a.jpg").read_bytes()
    (d / "c_truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "e_page.jpg").write_text("<html>not an image</html>")
    weights = str(tmp_path / "w.pdparams")
    atomic_save(ppcls_lite.build_model("ResNet18", class_num=10).state_dict(), weights)
    return d, ["--model", "ResNet18", "--weights", weights, "--img-size", "32", "--batch-size", "4"]


def _files(proc):
    return [os.path.basename(json.loads(line)["file"]) for line in proc.stdout.splitlines()]


def test_first_bad_image_is_named_after_the_good_ones_before_it(folder):
    d, args = folder
    proc = _infer(*args, "--images", str(d))
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert errors[0].startswith(f"error: {d / 'c_truncated.jpg'}: cannot decode image")
    assert "BytesIO" not in proc.stderr
    assert _files(proc) == ["a.jpg", "b.jpg", "c.jpg"]  # sorted: c.jpg, then c_truncated.jpg


@pytest.mark.parametrize("how", ["flag", "config"])
def test_skip_reports_every_good_image_and_lists_the_bad(folder, make_config, how):
    d, args = folder
    if how == "flag":
        proc = _infer(*args, "--images", str(d), "--on-bad-image", "skip")
    else:
        cfg = make_config("infer")
        proc = _infer("-c", cfg, "-o", f"Global.pretrained_model={args[3]}", "-o", f"Infer.infer_imgs={d}",
                      "-o", "Infer.on_bad_image=skip")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _files(proc) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    line = next(x for x in proc.stderr.splitlines() if x.startswith("skipped"))
    assert line.startswith("skipped 2 undecodable image(s) (on_bad_image: skip)")
    assert str(d / "c_truncated.jpg") in line and str(d / "e_page.jpg") in line and "BytesIO" not in line
