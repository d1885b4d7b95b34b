"""Bad datasets are refused before the first training step, with the file (and line) named: tools/train.py
prints one `error:` line and exits 2. List files: a missing image, a non-integer, negative or out-of-range label
(label >= Arch.class_num, train or eval list), a malformed line, a duplicated line. Folder trees: an empty class
folder, train and val with different class folders, more class folders than Arch.class_num."""
import os
import sys

import pytest
import yaml

from tests.engine.conftest import DATA, _subset_list

from .conftest import ROOT, output_of, run_train, small_config

sys.path.insert(0, os.path.join(ROOT, "tools"))
import train as train_tool  # noqa: E402  tools/train.py, called in-process: same main(), no interpreter start-up


def _list_config(tmp_path, mode, lineno, new_line):
    """Small config whose Train (or Eval) list has line `lineno` replaced by new_line, where {rel} stands for that
    line's image (lineno None: the first line repeated at the end)."""
    cfg = small_config(str(tmp_path), epochs=1)
    data = yaml.safe_load(open(cfg))
    ds = data["DataLoader"][mode]["dataset"]
    lst = tmp_path / f"{mode.lower()}_bad.txt"
    lines = open(_subset_list(str(tmp_path / "base.txt"), mode.lower().replace("eval", "val"), 1)).read().splitlines()
    if lineno is None:
        lines.append(lines[0])
    else:
        lines[lineno - 1] = new_line.format(rel=lines[lineno - 1].split()[0])
    lst.write_text("\n".join(lines) + "\n")
    ds["cls_label_path"] = str(lst)
    yaml.safe_dump(data, open(cfg, "w"), sort_keys=False)
    return cfg, str(lst)


LIST_CASES = {  # id -> (mode, line number replaced, new line, expected message after "<list>:<line>: ")
    "missing image file": ("Train", 4, "train/cat/no_such_image.jpg 3", "image file not found"),
    "non-integer label": ("Train", 6, "{rel} five", "label 'five' is not an integer"),
    "negative label": ("Train", 2, "{rel} -1", "negative label -1"),
    "label >= class_num (train)": ("Train", 9, "{rel} 10", "label 10 is out of range for Arch.class_num 10"),
    "label >= class_num (eval)": ("Eval", 3, "{rel} 12", "label 12 is out of range for Arch.class_num 10"),
    "malformed line": ("Train", 5, "{rel}", "malformed line"),
}


def _train(cfg, capsys):
    rc = train_tool.main(["-c", cfg])
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.startswith("error:")], err


def _assert_refused_before_training(cfg, rc, errors, err, expected):
    assert rc == 2 and len(errors) == 1 and expected in errors[0], err[-3000:]
    out = output_of(cfg)
    assert not (os.path.isdir(out) and any(f.endswith(".pdparams") for f in os.listdir(out)))
    log = os.path.join(out, "train.log")
    assert not os.path.exists(log) or "[Train]" not in open(log).read()


@pytest.mark.parametrize("case", list(LIST_CASES))
def test_bad_list_line_is_refused_naming_file_and_line(tmp_path, capsys, case):
    mode, lineno, new_line, message = LIST_CASES[case]
    cfg, lst = _list_config(tmp_path, mode, lineno, new_line)
    rc, errors, err = _train(cfg, capsys)
    _assert_refused_before_training(cfg, rc, errors, err, f"error: {lst}:{lineno}: {message}")


def test_duplicated_line_is_refused_naming_both_lines(tmp_path, capsys):
    cfg, lst = _list_config(tmp_path, "Train", None, None)  # line 11 repeats line 1
    rc, errors, err = _train(cfg, capsys)
    _assert_refused_before_training(cfg, rc, errors, err, f"error: {lst}:11: duplicate entry")
    assert "first on line 1" in errors[0]


def _tree(root, classes, per_class=2, split="train"):
    """A class-per-folder tree of links to the vendored images."""
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(DATA, split, c)))[:per_class]:
            os.symlink(os.path.join(DATA, split, c, name), os.path.join(root, c, name))
    return str(root)


def _folder_config(tmp_path, train_root, val_root, class_num=10):
    cfg = small_config(str(tmp_path), epochs=1)
    data = yaml.safe_load(open(cfg))
    for mode, root in (("Train", train_root), ("Eval", val_root)):
        ds = data["DataLoader"][mode]["dataset"]
        data["DataLoader"][mode]["dataset"] = {"name": "ImageFolder", "root": root,
                                               "transform_ops": ds["transform_ops"]}
    data["Arch"]["class_num"] = class_num
    yaml.safe_dump(data, open(cfg, "w"), sort_keys=False)
    return cfg


def test_empty_class_folder_is_refused(tmp_path, capsys):
    train_root = _tree(tmp_path / "train", ["airplane", "cat", "dog"])
    os.makedirs(tmp_path / "train" / "emu")
    (tmp_path / "train" / "emu" / "notes.txt").write_text("no images here")
    cfg = _folder_config(tmp_path, train_root, _tree(tmp_path / "val", ["airplane", "cat", "dog"], split="val"))
    rc, errors, err = _train(cfg, capsys)
    expected = f"error: {tmp_path / 'train' / 'emu'}: class folder has no images"
    _assert_refused_before_training(cfg, rc, errors, err, expected)


def test_train_and_val_class_folders_differ(tmp_path, capsys):
    train_root = _tree(tmp_path / "train", ["airplane", "cat", "dog"])
    val_root = _tree(tmp_path / "val", ["airplane", "cat", "frog"], split="val")
    cfg = _folder_config(tmp_path, train_root, val_root)
    rc, errors, err = _train(cfg, capsys)
    _assert_refused_before_training(cfg, rc, errors, err, "train and val classes differ")
    assert f"only in {train_root}: dog" in errors[0] and f"only in {val_root}: frog" in errors[0]


def test_more_class_folders_than_class_num(tmp_path, capsys):
    classes = ["airplane", "automobile", "bird", "cat"]
    cfg = _folder_config(tmp_path, _tree(tmp_path / "train", classes), _tree(tmp_path / "val", classes, split="val"),
                         class_num=3)
    rc, errors, err = _train(cfg, capsys)
    _assert_refused_before_training(cfg, rc, errors, err, "label 3 is out of range for Arch.class_num 3")
    assert os.path.join(str(tmp_path / "train"), "cat") in errors[0]


def test_out_of_range_label_exits_2_from_a_real_process(tmp_path):
    cfg, lst = _list_config(tmp_path, "Train", 10, "{rel} 10")
    proc = run_train(["-c", cfg])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [f"error: {lst}:10: label 10 is out of range for Arch.class_num 10 "
                                               "(labels must be 0..9)"], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
