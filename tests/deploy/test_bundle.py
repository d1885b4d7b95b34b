"""The export bundle (issue 14, items 1-2): a trained model exported, its folder moved away from the config and
the checkpoint, then predicted from alone -- the dygraph model's predictions on real images, bad images named."""
import json
import os
import shutil

import numpy as np
import pytest
import yaml

import ppcls_lite
from ppcls_lite.deploy import BundlePredictor, read_bundle
from ppcls_lite.deploy import backends
from ppcls_lite.errors import ConfigError
from ppcls_lite.serialization import safe_load
from tests.engine.conftest import DATA, run_tool, tiny_config

VAL = os.path.join(DATA, "val")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ResNet18 trained 2 epochs (with EMA) on real CIFAR images, exported with ONNX and int8."""
    tmp = tmp_path_factory.mktemp("bundle")
    cfg = tiny_config(tmp, train_per_class=20, val_per_class=4, ema=True)
    data = yaml.safe_load(open(cfg))
    data["Infer"] = {"infer_imgs": VAL, "batch_size": 8, "PostProcess": {
        "name": "Topk", "topk": 5, "class_id_map_file": os.path.join(DATA, "label_list.txt")}}
    with open(cfg, "w") as f:
        yaml.safe_dump(data, f)
    # lr 0.01: at the tiny config's 0.05 this little data drives the model to one class with probability 1
    ppcls_lite.train(cfg, ["Global.use_visualdl=False", "Optimizer.lr.learning_rate=0.01"])
    weights = str(tmp / "output" / "best_model")
    proc = run_tool("export_model.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                 "-o", f"Global.save_inference_dir={tmp / 'export'}", "--format", "onnx",
                 "--int8-calib", os.path.join(DATA, "train"), "--calib-num", "16")
    assert proc.returncode == 0, proc.stderr[-2000:]
    moved = tmp / "shipped"
    shutil.copytree(tmp / "export", moved)  # only the folder travels
    shutil.rmtree(tmp / "export")
    return cfg, weights, str(moved)


def _dygraph(weights, images):
    return {r["file"]: r["class_ids"][0] for r in ppcls_lite.predict(weights, images, topk=1)}


def test_the_folder_describes_itself_in_paddleclas_s_format(trained):
    _, _, folder = trained
    cfg = yaml.safe_load(open(os.path.join(folder, "inference.yml")))
    assert cfg["Global"]["model_name"] == "ResNet18"
    ops = cfg["PreProcess"]["transform_ops"]
    names = [next(iter(op)) for op in ops]
    assert "DecodeImage" not in names and names[-1] == "ToCHWImage"  # PaddleClas's deploy decodes itself
    norm = next(op["NormalizeImage"] for op in ops if "NormalizeImage" in op)
    assert norm["scale"] == pytest.approx(1 / 255) and norm["channel_num"] == 3
    labels = cfg["PostProcess"]["Topk"]["label_list"]
    assert labels == open(os.path.join(DATA, "label_list.txt")).read().split()[1::2]
    assert sorted(os.listdir(folder)) == ["inference.json", "inference.onnx", "inference.pdiparams",
                                          "inference.yml", "inference_int8.onnx"]


@pytest.mark.parametrize("backend, precision", [("paddle", "fp32"), ("onnxruntime", "fp32")])
def test_predict_from_the_folder_alone_is_the_dygraph_model(trained, backend, precision):
    _, weights, folder = trained
    proc = run_tool("predict.py", "--model-dir", folder, "--images", VAL, "--backend", backend,
                 "--precision", precision, "--batch-size", "16", "--topk", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    want = _dygraph(weights, VAL)
    assert len(records) == len(want) == 1000
    assert len(set(want.values())) >= 5  # a model that tells classes apart, not a constant
    agree = sum(r["class_ids"][0] == want[r["file"]] for r in records)
    assert agree == len(records), f"{agree} of {len(records)} top-1 agree"
    assert all(len(r["class_ids"]) == 3 and r["label_names"][0] for r in records)
    assert all(abs(sum(r["scores"]) - 1) < 1 for r in records) and records[0]["scores"][0] >= records[0]["scores"][1]


def test_int8_and_bf16_stay_close_to_fp32(trained):
    _, weights, folder = trained
    want = _dygraph(weights, VAL)
    for backend, precision, tolerance in (("onnxruntime", "int8", 0.1),) + (
            (("paddle", "bf16", 0.05),) if backends.cpu_supports_bf16() else ()):
        got = {r["file"]: r["class_ids"][0] for r in BundlePredictor(folder, VAL, backend, precision, batch_size=32)}
        disagree = sum(got[f] != c for f, c in want.items()) / len(want)
        assert disagree <= tolerance, (backend, precision, disagree)


def test_ema_weights_are_what_is_exported(trained, tmp_path):
    cfg, weights, _ = trained
    ema = safe_load(weights + ".pdstates")["ema"]["shadow"]
    plain = safe_load(weights + ".pdparams")
    assert any(not np.array_equal(ema[k], plain[k]) for k in plain)
    proc = run_tool("export_model.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                 "-o", f"Global.save_inference_dir={tmp_path / 'ema'}", "--ema")
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = ppcls_lite.build_model("ResNet18", class_num=10)
    model.set_state_dict({k: v.astype("float32") for k, v in ema.items()})
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32")
    import paddle
    with paddle.no_grad():
        expected = model(paddle.to_tensor(x)).numpy()
    got = backends.make_backend(str(tmp_path / "ema" / "inference"))(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_bad_image_is_named_in_the_output(trained, tmp_path):
    _, _, folder = trained
    images = tmp_path / "imgs"
    images.mkdir()
    good = sorted(os.listdir(os.path.join(VAL, "cat")))[:3]
    for name in good:
        shutil.copy(os.path.join(VAL, "cat", name), images / name)
    data = open(os.path.join(VAL, "cat", good[0]), "rb").read()
    (images / "b_truncated.jpg").write_bytes(data[:len(data) // 3])
    proc = run_tool("predict.py", "--model-dir", folder, "--images", str(images), "--on-bad-image", "skip")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    bad = [r for r in records if "error" in r]
    assert len(records) == 4 and len(bad) == 1 and bad[0]["file"].endswith("b_truncated.jpg")
    assert "skipped 1 undecodable image(s)" in proc.stderr
    proc = run_tool("predict.py", "--model-dir", folder, "--images", str(images), "--batch-size", "8")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "b_truncated.jpg" in errors[0] and "Traceback" not in proc.stderr
    assert len(proc.stdout.splitlines()) == 3  # the images sorted before it are still reported


def test_mistakes_are_one_line(trained, tmp_path, monkeypatch):
    _, _, folder = trained
    for args, message in [(["--model-dir", str(tmp_path)], "inference.yml: not found"),
                          (["--model-dir", folder, "--backend", "paddle", "--precision", "int8"],
                           "--precision int8: Paddle Inference on CPU runs fp32 or bf16"),
                          (["--model-dir", folder, "--device", "gpu"], "--device gpu: this Paddle is a CPU build"),
                          (["--model-dir", folder, "--tta", "five_crop"], "--tta five_crop: "
                                                                           f"{folder}/inference.yml PreProcess needs "
                                                                           "one CropImage to move")]:
        proc = run_tool("predict.py", *args, "--images", VAL)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr[-1000:]
    monkeypatch.setattr(backends, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"^--precision bf16: this CPU has no bfloat16 instructions"):
        BundlePredictor(folder, VAL, precision="bf16")
    assert read_bundle(folder).label_list[3] == "cat"


def test_flip_tta_scores_an_image_and_its_mirror_alike(trained, tmp_path):
    """--tta flip averages an image with its mirror image, so a mirrored copy gets the same scores; without TTA
    the two differ."""
    from PIL import Image

    _, _, folder = trained
    files = [os.path.join(VAL, "dog", f) for f in sorted(os.listdir(os.path.join(VAL, "dog")))[:6]]
    mirrored = []
    for f in files:
        out = tmp_path / ("m_" + os.path.basename(f).replace(".jpg", ".png"))
        Image.open(f).transpose(Image.FLIP_LEFT_RIGHT).save(out)  # lossless, so only the mirroring differs
        mirrored.append(str(out))
    originals = [tmp_path / ("o_" + os.path.basename(f).replace(".jpg", ".png")) for f in files]
    for f, out in zip(files, originals):
        Image.open(f).save(out)
    scores = lambda paths, tta: [r["scores"] for r in BundlePredictor(folder, [str(p) for p in paths], tta=tta,
                                                                      topk=10)]
    np.testing.assert_allclose(scores(originals, "flip"), scores(mirrored, "flip"), atol=1e-5)
    assert np.abs(np.array(scores(originals, None)) - np.array(scores(mirrored, None))).max() > 1e-4


def test_auto_runs_onnxruntime_where_the_folder_has_it(trained, tmp_path):
    from ppcls_lite.deploy.backends import choose_backend

    _, _, folder = trained
    prefix = os.path.join(folder, "inference")
    assert choose_backend(prefix) == "onnxruntime" and choose_backend(prefix, "int8") == "onnxruntime"
    assert choose_backend(prefix, "bf16") == "paddle"
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("inference.json", "inference.pdiparams", "inference.yml"):
        shutil.copy(os.path.join(folder, name), plain / name)
    assert choose_backend(str(plain / "inference")) == "paddle"
    proc = run_tool("predict.py", "--model-dir", folder, "--images", os.path.join(VAL, "cat"))
    assert proc.returncode == 0 and "backend: onnxruntime (fp32, cpu)" in proc.stderr
    proc = run_tool("predict.py", "--model-dir", str(plain), "--images", os.path.join(VAL, "cat"))
    assert proc.returncode == 0 and "backend: paddle (fp32, cpu)" in proc.stderr
