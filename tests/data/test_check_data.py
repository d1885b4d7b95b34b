"""tools/check_data.py (issue 15, item 4): planted problems in a tree of real images are all found, each naming
its file, and a clean tree passes; list files and configs are checked the same way."""
import io
import json
import os
import shutil

import pytest
from PIL import Image

from tests.engine.conftest import DATA, ROOT, cifar_tree, run_tool


def _check(*args):
    return run_tool("check_data.py", *args, timeout=300)


def test_a_clean_tree_passes(tmp_path):
    data = cifar_tree(tmp_path / "data")
    proc = _check("--data", str(data), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.load(open(tmp_path / "report" / "check_data.json"))
    assert report["problems"] == [] and report["files_checked"] == 27
    assert report["counts"]["train"] == {"cat": 6, "dog": 6, "ship": 6} and report["imbalance"]["train"] == 1.0
    assert "27 files checked: 0 problem(s)" in open(tmp_path / "report" / "check_data.md").read()


def test_planted_problems_are_all_found(tmp_path):
    data = cifar_tree(tmp_path / "data")
    train_cat = sorted(os.listdir(data / "train" / "cat"))
    # 1. the same file in train and val (leak), 2. a re-encoded, resized copy of another across the split
    shutil.copy(data / "train" / "cat" / train_cat[0], data / "val" / "cat" / "leaked.jpg")
    buf = io.BytesIO()
    Image.open(data / "train" / "dog" / sorted(os.listdir(data / "train" / "dog"))[0]).resize((48, 48)).save(
        buf, "JPEG", quality=80)
    (data / "val" / "dog" / "resaved.jpg").write_bytes(buf.getvalue())
    # 3. a truncated JPEG, 4. a 10 x 10 image, 5. an empty class folder (in train only: the class sets differ)
    raw = (data / "train" / "cat" / train_cat[1]).read_bytes()
    (data / "train" / "cat" / "truncated.jpg").write_bytes(raw[: len(raw) // 3])
    Image.new("RGB", (10, 10), (200, 30, 30)).save(data / "val" / "ship" / "tiny.png")
    os.makedirs(data / "train" / "empty_class")
    proc = _check("--data", str(data), "--out", str(tmp_path / "report"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = json.load(open(tmp_path / "report" / "check_data.json"))["problems"]
    text = "\n".join(problems)
    assert any("exact duplicates" in p and "leaked.jpg" in p and "across train and val" in p for p in problems)
    assert any("near duplicates" in p and "resaved.jpg" in p and "across train and val" in p for p in problems)
    assert any(p.startswith(str(data / "train" / "cat" / "truncated.jpg")) and "cannot decode" in p for p in problems)
    assert any("tiny.png: 10 x 10 px, smaller than the 32 px crop" in p for p in problems)
    assert f"{data / 'train' / 'empty_class'}: empty class folder (no images)" in problems
    assert "have different classes (empty_class in only one of them)" in text
    assert len(problems) == 6, text
    assert "## Problems (would hurt training)" in proc.stdout


def test_imbalance_names_the_fix_and_list_problems_are_all_listed(tmp_path):
    data = cifar_tree(tmp_path / "data", classes=("cat", "dog"), per_split=(1, 1))
    src = os.path.join(DATA, "train", "cat")
    for f in sorted(os.listdir(src))[1:12]:
        shutil.copy(os.path.join(src, f), data / "train" / "cat" / f)
    proc = _check("--data", str(data), "--out", str(tmp_path / "r1"))
    report = json.load(open(tmp_path / "r1" / "check_data.json"))
    assert proc.returncode == 1 and report["imbalance"]["train"] == 12.0
    assert report["class_weights"] == [round(13 / (2 * 12), 4), round(13 / 2, 4)]
    assert any("imbalance 12.0 > 10" in p and "class_weights: balanced" in p for p in report["problems"])
    listing = tmp_path / "list.txt"
    listing.write_text("train/cat/0000.jpg 0\nno_label_here\ntrain/cat/missing.jpg 1\ntrain/dog/0000.jpg 12\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(open(os.path.join(ROOT, "configs", "quickstart", "resnet18_cifar10_mini.yaml")).read())
    proc = _check("-c", str(cfg), "-o", f"DataLoader.Eval.dataset.cls_label_path={listing}",
                  "-o", f"DataLoader.Eval.dataset.image_root={DATA}",
                  "-o", f"DataLoader.Train.dataset.root={data / 'train'}", "--out", str(tmp_path / "r2"))
    problems = json.load(open(tmp_path / "r2" / "check_data.json"))["problems"]
    assert proc.returncode == 1
    assert any(f"{listing}:2: malformed line" in p for p in problems)
    assert any(f"{listing}:3: image file not found" in p for p in problems)
    assert any(f"{listing}:4: label 12 is out of range for 10 classes" in p for p in problems)


@pytest.mark.parametrize("args, message", [(["--data", "/nonexistent"], "--data: no such folder"),
                                           ([], "give -c CONFIG or --data DIR")])
def test_mistakes_are_one_line(args, message):
    proc = _check(*args)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0]
