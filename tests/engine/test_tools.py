"""tools/train.py on a PaddleClas-format config, tools/eval.py quick mode, tools/infer.py on a folder."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

import ppcls_lite
from ppcls_lite.serialization import atomic_save, safe_load
from tests.engine.conftest import DATA, _subset_list

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "paddleclas_Res2Net50_26w_4s.yaml")


def _tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_paddleclas_format_config_trains_one_iteration(tmp_path):
    """PaddleClas's own Res2Net50_26w_4s config, data paths changed; epochs 1 and batch 8 so that one iteration
    fits a CI CPU (its 224 px transforms, optimizer, loss and model stay as written)."""
    train_list = _subset_list(str(tmp_path / "train.txt"), "train", 1)
    with open(train_list) as f:
        lines = f.readlines()[:8]
    with open(train_list, "w") as f:
        f.writelines(lines)
    val_list = _subset_list(str(tmp_path / "val.txt"), "val", 1)
    out = tmp_path / "out"
    proc = _tool("train.py", "-c", FIXTURE,
                 "-o", f"DataLoader.Train.dataset.image_root={DATA}", "-o", f"DataLoader.Train.dataset.cls_label_path={train_list}",
                 "-o", f"DataLoader.Eval.dataset.image_root={DATA}", "-o", f"DataLoader.Eval.dataset.cls_label_path={val_list}",
                 "-o", f"Global.output_dir={out}", "-o", "Global.epochs=1",
                 "-o", "DataLoader.Train.sampler.batch_size=8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(out / "train.log").read()
    assert "[Train][Epoch 1/1][Iter: 0/1]" in log and "[Eval][Epoch 1][Avg]" in log
    weights = safe_load(str(out / "latest.pdparams"))
    assert list(weights) == list(ppcls_lite.build_model("Res2Net50_26w_4s").state_dict())
    assert all(np.isfinite(v).all() for v in weights.values())
    assert safe_load(str(out / "latest.pdstates"))["global_step"] == 1


def test_eval_quick_mode_writes_reports(tmp_path):
    model = ppcls_lite.build_model("ResNet18", class_num=10)
    weights = str(tmp_path / "w.pdparams")
    atomic_save(model.state_dict(), weights)
    val_list = _subset_list(str(tmp_path / "val.txt"), "val", 2)
    shutil.copy(os.path.join(DATA, "label_list.txt"), tmp_path / "label_list.txt")  # names come from beside the list
    proc = _tool("eval.py", "--data", val_list, "--image-root", DATA, "--model", "ResNet18", "--weights", weights,
                 "--img-size", "32", "--class-num", "10", "--output-dir", str(tmp_path / "eval"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.load(open(tmp_path / "eval" / "eval_metrics.json"))
    conf = np.array(report["confusion_matrix"])
    assert report["num_samples"] == 20 and conf.sum() == 20 and conf.sum(1).tolist() == [2] * 10
    assert abs(report["top1"] - np.trace(conf) / 20) < 1e-9
    assert report["class_names"][3] == "cat"
    per_class = open(tmp_path / "eval" / "eval_per_class.csv").read().splitlines()
    assert per_class[0] == "class_id,class_name,samples,accuracy" and len(per_class) == 11


def test_eval_folder_tree_without_config(tmp_path):
    model = ppcls_lite.build_model("ResNet18", class_num=10)
    weights = str(tmp_path / "w.pdparams")
    atomic_save(model.state_dict(), weights)
    proc = _tool("eval.py", "--data", os.path.join(DATA, "val"), "--model", "ResNet18", "--weights", weights,
                 "--img-size", "32", "--output-dir", str(tmp_path / "eval"), "--batch-size", "250")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.load(open(tmp_path / "eval" / "eval_metrics.json"))
    assert report["num_samples"] == 1000 and len(report["class_names"]) == 10


def test_infer_folder_json_lines(tmp_path):
    model = ppcls_lite.build_model("ResNet18", class_num=10)
    weights = str(tmp_path / "w.pdparams")
    atomic_save(model.state_dict(), weights)
    folder = os.path.join(DATA, "val", "cat")
    proc = _tool("infer.py", "--model", "ResNet18", "--class-num", "10", "--weights", weights, "--images", folder,
                 "--img-size", "32", "--topk", "3", "--label-list", os.path.join(DATA, "label_list.txt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(records) == len(os.listdir(folder))
    r = records[0]
    assert len(r["class_ids"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True)
    assert all(name for name in r["label_names"])


def test_eval_bad_weights_is_exit_2(tmp_path):
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"not a pickle")
    proc = _tool("eval.py", "--data", os.path.join(DATA, "val"), "--model", "ResNet18", "--weights", str(bad))
    assert proc.returncode == 2 and "bad.pdparams" in proc.stderr and "Traceback" not in proc.stderr


def test_batch_skipped_whole_keeps_steps_aligned_with_the_sampler(make_config, tmp_path):
    """on_bad_image: skip with a batch whose every image is undecodable: the iteration numbers (and the resume
    position) follow the sampler's batches, not a count of the batches that reached the model."""
    import yaml

    cfg_path = make_config("skipwhole", epochs=1, batch_size=2)
    cfg = yaml.safe_load(open(cfg_path))
    good = open(cfg["DataLoader"]["Train"]["dataset"]["cls_label_path"]).read().splitlines()[:6]
    (tmp_path / "bad1.jpg").write_bytes(b"")
    (tmp_path / "bad2.jpg").write_text("not an image")
    train_list = tmp_path / "train_with_bad.txt"
    ds = cfg["DataLoader"]["Train"]["dataset"]
    ds.update(cls_label_path=str(train_list), image_root="/", on_bad_image="skip")
    # image_root "/" with absolute paths, so the bad files can live in tmp_path
    train_list.write_text("\n".join(
        [f"{os.path.join(DATA, p.split()[0])} {p.split()[1]}" for p in good[:2]]
        + [f"{tmp_path / 'bad1.jpg'} 0", f"{tmp_path / 'bad2.jpg'} 1"]
        + [f"{os.path.join(DATA, p.split()[0])} {p.split()[1]}" for p in good[2:]]) + "\n")
    cfg["DataLoader"]["Train"]["sampler"]["shuffle"] = False
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f)
    proc = _tool("train.py", "-c", cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(os.path.join(cfg["Global"]["output_dir"], "train.log")).read()
    iters = [int(line.split("[Iter: ")[1].split("/")[0]) for line in log.splitlines() if "[Iter: " in line]
    assert iters == [0, 2, 3]
    assert "bad1.jpg" in log and "bad2.jpg" in log
    assert safe_load(os.path.join(cfg["Global"]["output_dir"], "latest.pdstates"))["global_step"] == 3
