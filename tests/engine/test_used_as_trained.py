"""A model used as trained (eval, infer, export) is the model that was trained: its head, its evaluation
preprocessing and its label map -- end to end through the tools on real images (issue 10, items 1, 2 and 6)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.engine.conftest import DATA, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = [line.split()[1] for line in open(os.path.join(DATA, "label_list.txt")) if line.strip()]


def _tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def _one_error(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of ResNet18 on a class-per-folder tree (6 images a class, real names), evaluated on a list file
    with the dataset's label_list.txt beside it; the eval transforms use CIFAR's mean/std at 32 px."""
    root = tmp_path_factory.mktemp("trained")
    cfg_path = tiny_config(root, train_per_class=6, val_per_class=3, epochs=1)
    cfg = yaml.safe_load(open(cfg_path))
    train_list = cfg["DataLoader"]["Train"]["dataset"]["cls_label_path"]
    for rel, label in (line.split() for line in open(train_list) if line.strip()):
        dst = root / "train" / NAMES[int(label)]
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(DATA, rel), dst / os.path.basename(rel))
    train = cfg["DataLoader"]["Train"]["dataset"]
    cfg["DataLoader"]["Train"]["dataset"] = {"name": "ImageFolder", "root": str(root / "train"),
                                             "transform_ops": train["transform_ops"]}
    shutil.copy(os.path.join(DATA, "label_list.txt"), root / "label_list.txt")  # names of the val list
    cfg["Global"]["use_visualdl"] = False
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    proc = _tool("train.py", "-c", cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = root / "output"
    config_eval = _tool("eval.py", "-c", cfg_path, "-o", f"Global.pretrained_model={out / 'best_model'}",
                        "-o", f"Global.output_dir={root / 'config_eval'}")
    assert config_eval.returncode == 0, config_eval.stderr[-3000:]
    return {"root": root, "cfg": cfg_path, "out": out, "val_list": cfg["DataLoader"]["Eval"]["dataset"]["cls_label_path"],
            "report": json.load(open(root / "config_eval" / "eval_metrics.json"))}


def test_quick_eval_reproduces_the_training_time_eval(trained, tmp_path):
    proc = _tool("eval.py", "--data", trained["val_list"], "--image-root", DATA,
                 "--weights", str(trained["out"] / "best_model"), "--output-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "preprocessing: the training-time evaluation of" in proc.stdout
    quick, ref = json.load(open(tmp_path / "eval_metrics.json")), trained["report"]
    assert quick["num_samples"] == ref["num_samples"] == 30
    assert (quick["top1"], quick["top5"]) == (ref["top1"], ref["top5"]) and abs(quick["loss"] - ref["loss"]) < 1e-6
    assert quick["confusion_matrix"] == ref["confusion_matrix"] and quick["class_names"] == NAMES
    # the standard ImageNet preprocessing (what quick mode always used) scores something else
    std = _tool("eval.py", "--data", trained["val_list"], "--image-root", DATA, "--img-size", "32",
                "--weights", str(trained["out"] / "best_model"), "--output-dir", str(tmp_path / "std"))
    assert std.returncode == 0, std.stderr[-3000:]
    assert json.load(open(tmp_path / "std" / "eval_metrics.json"))["loss"] != quick["loss"]


def test_quick_eval_maps_folder_classes_onto_the_model_by_name(trained, tmp_path):
    """A tree with only cat/dog/frog: folder order would make cat class 0; the model's cat is class 3."""
    picked = {3: "cat", 5: "dog", 6: "frog"}
    for rel, label in (line.split() for line in open(trained["val_list"]) if line.strip()):
        if int(label) in picked:
            dst = tmp_path / "three" / picked[int(label)]
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.join(DATA, rel), dst / os.path.basename(rel))
    proc = _tool("eval.py", "--data", str(tmp_path / "three"), "--weights", str(trained["out"] / "best_model"),
                 "--output-dir", str(tmp_path / "eval"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.load(open(tmp_path / "eval" / "eval_metrics.json"))
    conf, ref = np.array(report["confusion_matrix"]), np.array(trained["report"]["confusion_matrix"])
    assert report["num_samples"] == 9 and report["class_names"] == NAMES
    for label in range(10):
        expected = ref[label] if label in picked else np.zeros(10, int)
        assert conf[label].tolist() == expected.tolist(), label
    # a folder the model has no class for is an error naming it
    (tmp_path / "three" / "zebra").mkdir()
    shutil.copy(next((tmp_path / "three" / "cat").iterdir()), tmp_path / "three" / "zebra" / "z.jpg")
    error = _one_error(_tool("eval.py", "--data", str(tmp_path / "three"), "--weights",
                             str(trained["out"] / "best_model"), "--output-dir", str(tmp_path / "eval2")))
    assert "zebra" in error and "10 classes" in error


def test_infer_quick_mode_uses_the_checkpoint(trained):
    folder = os.path.join(DATA, "val", "cat")
    proc = _tool("infer.py", "--weights", str(trained["out"] / "best_model"), "--images", folder, "--topk", "10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == len(os.listdir(folder))
    assert all(sorted(r["class_ids"]) == list(range(10)) for r in records)
    assert all(sorted(r["label_names"]) == sorted(NAMES) for r in records)


def test_head_of_another_class_count_is_an_error_not_a_random_head(trained, tmp_path):
    best = str(trained["out"] / "best_model")
    images = os.path.join(DATA, "val", "cat")
    plain = str(tmp_path / "plain.pdparams")  # the bare weights, no checkpoint beside them
    shutil.copy(best + ".pdparams", plain)

    proc = _tool("infer.py", "--model", "ResNet18", "--weights", best, "--images", images, "--class-num", "1000")
    error = _one_error(proc)
    assert "10 classes" in error and "1000" in error and "--class-num" in error and proc.stdout == ""

    proc = _tool("infer.py", "--model", "ResNet18", "--weights", plain, "--images", images, "--img-size", "32")
    assert proc.returncode == 0, proc.stderr[-3000:]  # the class count comes from the head in the file
    assert all(max(json.loads(line)["class_ids"]) < 10 for line in proc.stdout.splitlines())

    error = _one_error(_tool("eval.py", "--data", os.path.join(DATA, "val"), "--model", "ResNet18",
                             "--weights", plain, "--class-num", "3", "--output-dir", str(tmp_path / "e")))
    assert "10 classes" in error and "model has 3" in error

    export_dir = tmp_path / "export"
    error = _one_error(_tool("export_model.py", "-c", trained["cfg"], "-o", "Arch.class_num=1000",
                             "-o", f"Global.pretrained_model={best}", "-o", f"Global.save_inference_dir={export_dir}"))
    assert "10 classes" in error and "Arch.class_num 1000" in error
    assert not any(export_dir.glob("inference.*"))


def test_tools_check_only_the_paths_they_use(trained, tmp_path):
    """eval / infer / export with the training data gone; train with it gone is still an error."""
    gone = ["-o", "DataLoader.Train.dataset.root=/nonexistent/train"]
    best = str(trained["out"] / "best_model")
    proc = _tool("eval.py", "-c", trained["cfg"], *gone, "-o", f"Global.pretrained_model={best}",
                 "-o", f"Global.output_dir={tmp_path / 'eval'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _tool("infer.py", "-c", trained["cfg"], *gone, "-o", f"Global.pretrained_model={best}",
                 "-o", f"Infer.infer_imgs={os.path.join(DATA, 'val', 'cat', sorted(os.listdir(os.path.join(DATA, 'val', 'cat')))[0])}",
                 "-o", f"Infer.transforms={json.dumps(yaml.safe_load(open(trained['cfg']))['DataLoader']['Eval']['dataset']['transform_ops'])}")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 1, proc.stderr[-3000:]
    proc = _tool("export_model.py", "-c", trained["cfg"], *gone, "-o", f"Global.pretrained_model={best}",
                 "-o", f"Global.save_inference_dir={tmp_path / 'inference'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DataLoader.Train.dataset.root: folder not found" in _one_error(
        _tool("train.py", "-c", trained["cfg"], *gone, "-o", f"Global.output_dir={tmp_path / 'train'}"))


def test_a_head_wider_than_the_data_keeps_working_in_quick_mode(tmp_path):
    """Arch.class_num 12 on 10 classes: the checkpoint lists a name per output (the extra ones by index)."""
    import ppcls_lite
    from ppcls_lite.engine.trained_model import describe_weights, model_info_from_config
    from ppcls_lite.serialization import atomic_save

    cfg = {"Global": {"image_shape": [3, 32, 32]}, "Arch": {"name": "ResNet18", "class_num": 12}}
    info = model_info_from_config(cfg, NAMES)
    assert info["class_names"] == NAMES + ["10", "11"]
    atomic_save(ppcls_lite.build_model("ResNet18", class_num=12).state_dict(), str(tmp_path / "w.pdparams"))
    atomic_save({"model_info": info}, str(tmp_path / "w.pdstates"))
    described = describe_weights(str(tmp_path / "w"))
    assert described.class_num == 12 and described.class_names[3] == "cat"
    assert described.build() is described.model and described.model is not None
    error = _one_error(_tool("infer.py", "--weights", str(tmp_path / "nope"), "--images", DATA))
    assert error == f"error: --weights: no such file: {tmp_path / 'nope'}.pdparams"


def test_library_entry_points_give_what_the_tools_give(trained, tmp_path):
    import ppcls_lite

    best = str(trained["out"] / "best_model")
    result = ppcls_lite.evaluate_weights(trained["val_list"], best, image_root=DATA, output_dir=str(tmp_path),
                                         progress=False)
    ref = trained["report"]
    assert (result.top1, result.top5) == (ref["top1"], ref["top5"]) and abs(result.loss - ref["loss"]) < 1e-6
    assert result.confusion.tolist() == ref["confusion_matrix"]
    folder = os.path.join(DATA, "val", "dog")
    records = list(ppcls_lite.predict(best, folder, topk=3))
    cli = _tool("infer.py", "--weights", best, "--images", folder, "--topk", "3")
    assert cli.returncode == 0 and records == [json.loads(line) for line in cli.stdout.splitlines()]


def test_tools_are_thin_shells_and_console_scripts_exist():
    for name in ("train.py", "eval.py", "infer.py", "export_model.py", "convert_weights.py", "predict.py",
                 "check_data.py"):
        text = open(os.path.join(ROOT, "tools", name)).read()
        code = [line for line in text.splitlines() if line.strip() and not line.startswith(('"""', "#"))]
        assert len(code) <= 40 and "sys.path" not in text, name
    for script in ("ppcls-train", "ppcls-eval", "ppcls-infer", "ppcls-export"):
        exe = shutil.which(script) or os.path.join(os.path.dirname(sys.executable), script)
        proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "-c CONFIG" in proc.stdout, (script, proc.stderr[-500:])
    for script, flag in (("ppcls-convert", "--from {timm}"), ("ppcls-predict", "--model-dir MODEL_DIR"),
                         ("ppcls-check-data", "--data DATA")):
        exe = shutil.which(script) or os.path.join(os.path.dirname(sys.executable), script)
        proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and flag in proc.stdout, (script, proc.stderr[-500:])
