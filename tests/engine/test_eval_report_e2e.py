"""tools/eval.py's report and --calibrate end to end on real images (issue 15, items 1-2): the report files next
to the log, the fitted temperature recorded beside the weights, and infer, export and predict scoring with it."""
import json
import os
import shutil

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.deploy import BundlePredictor
from ppcls_lite.deploy.backends import make_backend
from ppcls_lite.engine.report import softmax
from tests.engine.conftest import DATA, run_tool, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    cfg = tiny_config(tmp, train_per_class=20, val_per_class=6, epochs=2)
    ppcls_lite.train(cfg, ["Global.use_visualdl=False", "Optimizer.lr.learning_rate=0.01"])
    return tmp, cfg, str(tmp / "output" / "best_model")


def test_report_files_and_calibration(trained):
    tmp, cfg, weights = trained
    proc = run_tool("eval.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                 "-o", f"Global.output_dir={tmp / 'eval'}", "--calibrate")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.load(open(tmp / "eval" / "eval_report.json"))
    assert report["num_samples"] == 60 and len(report["per_class"]) == 10
    assert sum(r["support"] for r in report["per_class"]) == 60
    cal = report["calibration"]
    assert cal["objective"] == "ece" and cal["ece_after"] <= cal["ece"] + 1e-9
    assert sum(b["count"] for b in cal["reliability"]) == 60
    mistakes = report["confident_mistakes"]
    assert mistakes and all(os.path.isfile(m["file"]) and m["true"] != m["predicted"] for m in mistakes)
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    md = open(tmp / "eval" / "eval_report.md").read()
    assert "| macro |" in md and "Expected calibration error" in md and "after temperature scaling" in md
    assert "![reliability diagram](eval_reliability.png)" in md
    from PIL import Image
    diagram = np.asarray(Image.open(tmp / "eval" / "eval_reliability.png"))
    assert diagram.shape == (360, 360, 3) and (diagram[..., 2] > 200).any() and diagram.std() > 10
    header = open(tmp / "eval" / "eval_report.csv").readline().strip()
    assert header == "class_id,class_name,precision,recall,f1,support"
    recorded = json.load(open(weights + ".calibration.json"))
    assert recorded["temperature"] == pytest.approx(cal["temperature"]) and recorded["samples"] == 60


def test_infer_export_and_predict_score_with_the_temperature(trained):
    tmp, cfg, weights = trained
    temperature = json.load(open(weights + ".calibration.json"))["temperature"] if os.path.exists(
        weights + ".calibration.json") else None
    if temperature is None:  # run alone: calibrate first
        assert run_tool("eval.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                     "-o", f"Global.output_dir={tmp / 'eval'}", "--calibrate").returncode == 0
        temperature = json.load(open(weights + ".calibration.json"))["temperature"]
    assert abs(temperature - 1.0) > 1e-3
    images = os.path.join(DATA, "val", "cat")
    export = run_tool("export_model.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                   "-o", f"Global.save_inference_dir={tmp / 'inference'}")
    assert export.returncode == 0, export.stderr[-2000:]
    bundle = yaml.safe_load(open(tmp / "inference" / "inference.yml"))
    assert bundle["Global"]["temperature"] == pytest.approx(temperature)
    files = sorted(os.path.join(images, f) for f in os.listdir(images))[:8]
    from ppcls_lite.data.datasets import read_and_transform
    predictor = BundlePredictor(str(tmp / "inference"), files, topk=10)
    logits = make_backend(str(tmp / "inference" / "inference"))(
        np.stack([read_and_transform(f, predictor.transform) for f in files]))
    expected = softmax(logits, temperature)
    for row, record in zip(expected, predictor):
        np.testing.assert_allclose(record["scores"], row[record["class_ids"]], atol=2e-6)
    for row, record in zip(expected, ppcls_lite.predict(weights, files, topk=3)):  # dygraph infer too
        np.testing.assert_allclose(record["scores"], row[record["class_ids"]], atol=1e-4)


def test_a_calibration_of_other_weights_is_refused(trained, tmp_path):
    tmp, cfg, weights = trained
    copy_prefix = str(tmp_path / "copy")
    for ext in (".pdparams", ".pdstates"):
        shutil.copy(weights + ext, copy_prefix + ext)
    assert run_tool("eval.py", "-c", cfg, "-o", f"Global.pretrained_model={copy_prefix}",
                 "-o", f"Global.output_dir={tmp_path / 'eval'}", "--calibrate").returncode == 0
    state = paddle.load(copy_prefix + ".pdparams")  # the same name, other weights (trained again, say)
    state["fc.bias"] = state["fc.bias"] + 1.0
    paddle.save(state, copy_prefix + ".pdparams")
    images = os.path.join(DATA, "val", "cat")
    proc = run_tool("infer.py", "--weights", copy_prefix, "--images", images)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "fitted on other weights" in errors[0], proc.stderr[-800:]
    proc = run_tool("eval.py", "-c", cfg, "-o", "Global.pretrained_model=https://example.invalid/w.pdparams",
                 "-o", f"Global.output_dir={tmp_path / 'eval2'}", "--calibrate")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-800:]
