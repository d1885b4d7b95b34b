"""Multi-label training on real images (the embedded images tagged from their class): it learns (mAP well above
the label-frequency baseline), evaluation is what training measured, and infer / export / the deploy predictor
give the training-time model's sigmoid scores."""
import json
import os
import shutil

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.config import load_config
from ppcls_lite.data import MultiLabelDataset
from ppcls_lite.engine.training import train
from ppcls_lite.errors import DataError
from ppcls_lite.serialization import safe_load
from tests.engine.conftest import DATA, ROOT, run_tool

CONFIG = os.path.join(ROOT, "configs", "multilabel", "resnet18_cifar10_mini_multilabel.yaml")
LISTS = os.path.join(DATA, "multilabel")


def _subset(tmp_path, per_class=(24, 8)):
    """Every class's first images of the multi-label lists, with the label list beside them."""
    out = tmp_path / "lists"
    out.mkdir()
    shutil.copy(os.path.join(LISTS, "label_list.txt"), out / "label_list.txt")
    for split, n in zip(("train", "val"), per_class):
        seen, lines = {}, []
        for line in open(os.path.join(LISTS, f"{split}_list.txt")):
            cls = line.split("/")[1]
            seen[cls] = seen.get(cls, 0) + 1
            if seen[cls] <= n:
                lines.append(line)
        (out / f"{split}_list.txt").write_text("".join(lines))
    return out


def _overrides(tmp_path, lists):
    return [f"DataLoader.Train.dataset.image_root={DATA}", f"DataLoader.Eval.dataset.image_root={DATA}",
            f"DataLoader.Train.dataset.cls_label_path={lists / 'train_list.txt'}",
            f"DataLoader.Eval.dataset.cls_label_path={lists / 'val_list.txt'}",
            "DataLoader.Train.sampler.batch_size=24", "DataLoader.Train.loader.num_workers=0",
            "DataLoader.Eval.loader.num_workers=0", "Global.epochs=4", "Global.use_visualdl=False",
            "Optimizer.lr.learning_rate=0.05", "Global.num_threads=2", "Global.print_batch_step=5",
            f"Global.output_dir={tmp_path / 'out'}", f"Global.save_inference_dir={tmp_path / 'inference'}",
            "Arch.base_channels=16", f"Infer.infer_imgs={DATA}/val/ship",
            f"Infer.PostProcess.class_id_map_file={lists / 'label_list.txt'}"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("multilabel")
    lists = _subset(tmp_path)
    overrides = _overrides(tmp_path, lists)
    trainer = train(load_config(CONFIG, overrides))
    return tmp_path, lists, overrides, trainer


def test_training_learns_well_above_the_label_frequency_baseline(trained):
    tmp_path, lists, _, trainer = trained
    result = trainer.result
    labels = MultiLabelDataset(DATA, str(lists / "val_list.txt")).label_matrix
    baseline = labels.mean(0).mean()  # constant scores: each label's AP is its frequency
    assert result.num_samples == 80 and list(result.metrics) == ["AccuracyScore", "HammingDistance", "mAP"]
    assert result.metrics["mAP"] > baseline + 0.2, (result.metrics, baseline)
    assert result.metrics["AccuracyScore"] == pytest.approx(1 - result.metrics["HammingDistance"])
    assert trainer.state["best_metric"] == max(trainer.state["best_metric"], result.metrics["mAP"])
    info = safe_load(str(tmp_path / "out" / "best_model.pdstates"))["model_info"]
    assert info["multilabel"] is True and info["class_names"][:2] == ["animal", "vehicle"]


def _model_scores(tmp_path, paths):
    """Sigmoid scores of best_model, computed here from its weights and the config's Infer transforms."""
    from ppcls_lite.data.datasets import read_and_transform
    from ppcls_lite.data.transforms import build_transforms

    model = ppcls_lite.build_model("ResNet18", class_num=7, base_channels=16)
    model.set_state_dict(safe_load(str(tmp_path / "out" / "best_model.pdparams")))
    model.eval()
    cfg = load_config(CONFIG, check_paths=False)
    transform = build_transforms(cfg["Infer"]["transforms"])
    x = np.stack([read_and_transform(p, transform) for p in paths]).astype("float32")
    with paddle.no_grad():
        return paddle.nn.functional.sigmoid(model(paddle.to_tensor(x))).numpy()


def test_eval_infer_export_and_predict_give_the_training_time_scores(trained):
    tmp_path, lists, overrides, trainer = trained
    best = str(tmp_path / "out" / "best_model")
    common = ["-c", CONFIG] + sum((["-o", o] for o in overrides + [f"Global.pretrained_model={best}"]), [])
    proc = run_tool("eval.py", *common, "-o", f"Global.output_dir={tmp_path / 'eval'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    best_map = trainer.state["best_metric"]
    assert f"mAP: {best_map:.5f}" in proc.stdout + proc.stderr
    report = json.load(open(tmp_path / "eval" / "eval_metrics.json"))
    assert [r["label_name"] for r in report["per_label"]][:3] == ["animal", "vehicle", "mammal"]
    assert report["per_label"][6]["support"] == 8  # on_water: the 8 ships

    ships = sorted(os.path.join(DATA, "val", "ship", f) for f in os.listdir(os.path.join(DATA, "val", "ship")))
    want = _model_scores(tmp_path, ships[:4])
    proc = run_tool("infer.py", *common, "-o", f"Infer.infer_imgs={ships[0]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(record["all_scores"], want[0], atol=2e-6)
    assert record["class_ids"] == [int(c) for c in np.argsort(-want[0]) if want[0][c] >= 0.5]
    assert record["label_names"] == [["animal", "vehicle", "mammal", "flies", "road_vehicle", "pet",
                                      "on_water"][c] for c in record["class_ids"]]

    proc = run_tool("export_model.py", *common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bundle = yaml.safe_load(open(tmp_path / "inference" / "inference.yml"))
    assert bundle["PostProcess"] == {"main_indicator": "MultiLabelThreshOutput",
                                     "MultiLabelThreshOutput": {"threshold": 0.5}}
    assert bundle["Global"]["output"] == "sigmoid" and bundle["Global"]["label_list"][6] == "on_water"
    folder = tmp_path / "inference"
    proc = run_tool("predict.py", "--model-dir", str(folder), "--images", *ships[:4], "--backend", "paddle")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    np.testing.assert_allclose([r["all_scores"] for r in records], want, atol=1e-5)


@pytest.mark.parametrize("override, message", [
    ("Global.use_multilabel=False", "DataLoader.Train.dataset.name: MultiLabelDataset, but Global.use_multilabel "
                                    "is false; set Global.use_multilabel: true for a MultiLabelDataset"),
    ("Loss.Train=[{CELoss: {weight: 1.0}}]", "Loss.Train.0.CELoss: Global.use_multilabel is true; a multi-label "
                                            "loss is one of MultiLabelLoss, MultiLabelAsymmetricLoss"),
    ("Metric.Eval=[{TopkAcc: {topk: [1]}}]", "Metric.Eval.0.TopkAcc: Global.use_multilabel is true"),
    ("Arch.class_num=6", "7 labels per line, but Arch.class_num is 6"),
    ("Metric.Eval.0.AccuracyScore={threshold: 0.3}", "Metric.Eval: the multi-label metrics use thresholds [0.3, 0.5]"),
    ("Infer.PostProcess.threshold=2", "Infer.PostProcess.threshold: a probability in (0, 1), got 2"),
])
def test_mistakes_are_one_line(tmp_path, override, message):
    lists = _subset(tmp_path, (3, 1))
    args = sum((["-o", o] for o in _overrides(tmp_path, lists)), []) + ["-o", override]
    proc = run_tool("train.py", "-c", CONFIG, *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("line, message", [
    ("val/cat/0500.jpg\t1,0,2,0,0,0,0", "are not a comma-separated list of 0 and 1"),
    ("val/cat/0500.jpg\t1,0,1", "3 labels, but the first line has 7"),
    ("val/cat/0500.jpg 1,0,1,0,0,0,0", "malformed line"),
    ("val/cat/9999.jpg\t1,0,1,0,0,0,0", "image file not found"),
])
def test_a_bad_list_line_is_named(tmp_path, line, message):
    path = tmp_path / "list.txt"
    path.write_text("val/dog/0500.jpg\t1,0,1,0,0,1,0\n" + line + "\n")
    with pytest.raises(DataError) as err:
        MultiLabelDataset(DATA, str(path))
    assert str(err.value).startswith(f"{path}:2: ") and message in str(err.value)
