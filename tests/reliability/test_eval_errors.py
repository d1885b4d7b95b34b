"""An error found while evaluating loses no training; a transform that cannot work on the data stops the run
before it starts; resuming a finished run says so (issue 10, items 3 and 7)."""
import os
import shutil

import yaml

from ppcls_lite.serialization import safe_load
from tests.engine.conftest import DATA
from tests.reliability.conftest import (EPOCHS, assert_bitwise_identical, output_of, run_train, small_config,
                                        valid_step)


def _errors(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def _edit(cfg_path, fn):
    cfg = yaml.safe_load(open(cfg_path))
    fn(cfg)
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def test_truncated_val_image_keeps_the_epoch_and_resume_evaluates_it_first(reference, tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    out = output_of(cfg)
    # The val images, copied under a root of their own; the last one (met only during evaluation, past the
    # samples checked before training) is cut to half its bytes.
    val = yaml.safe_load(open(cfg))["DataLoader"]["Eval"]["dataset"]
    rels = [line.split()[0] for line in open(val["cls_label_path"]) if line.strip()]
    images = tmp_path / "images"
    for rel in rels:
        os.makedirs(images / os.path.dirname(rel), exist_ok=True)
        shutil.copy(os.path.join(DATA, rel), images / rel)
    bad = images / rels[-1]
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 2])
    _edit(cfg, lambda c: c["DataLoader"]["Eval"]["dataset"].update(image_root=str(images)))

    proc = run_train(["-c", cfg])
    assert proc.returncode == 2
    error = _errors(proc)
    assert str(bad) in error and "while evaluating epoch 1" in error
    assert f"-o Global.checkpoints={os.path.join(out, 'latest')}" in error
    steps = 5  # one epoch: 40 images in batches of 8
    assert valid_step(os.path.join(out, "latest")) == steps and valid_step(os.path.join(out, "epoch_1")) == steps
    assert safe_load(os.path.join(out, "latest.pdstates"))["eval_pending"] == 1
    assert not os.path.exists(os.path.join(out, "best_model.pdstates"))

    bad.write_bytes(good_bytes)  # the user fixes the image and resumes
    resumed = run_train(["-c", cfg, "-o", f"Global.checkpoints={os.path.join(out, 'latest')}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert log.index("[Eval][Epoch 1][Avg]") < log.index("[Train][Epoch 2/")
    assert_bitwise_identical(reference, out)  # as if nothing had happened


def test_crop_larger_than_the_val_images_stops_before_training(tmp_path):
    cfg = small_config(str(tmp_path / "run"))
    _edit(cfg, lambda c: c["DataLoader"]["Eval"]["dataset"]["transform_ops"].insert(1, {"CropImage": {"size": 64}}))
    proc = run_train(["-c", cfg])
    assert proc.returncode == 2
    error = _errors(proc)
    assert "smaller than the crop 64x64" in error and error.split(": ")[1].endswith(".jpg")
    assert "[Train]" not in proc.stdout
    assert not any(f.endswith(".pdstates") for f in os.listdir(output_of(cfg)))


def test_resuming_a_finished_run_says_so(reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    cfg = small_config(str(tmp_path / "run"))
    latest = str(out / "latest")
    before = {f: open(out / f, "rb").read() for f in os.listdir(out) if f.endswith(".pdstates")}
    done = run_train(["-c", cfg, "-o", f"Global.output_dir={out}", "-o", f"Global.checkpoints={latest}"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"nothing to train: checkpoint {latest} has finished all {EPOCHS} epochs" in done.stdout
    assert "[Train]" not in done.stdout
    assert {f: open(out / f, "rb").read() for f in os.listdir(out) if f.endswith(".pdstates")} == before

    fewer = run_train(["-c", cfg, "-o", f"Global.output_dir={out}", "-o", f"Global.checkpoints={latest}",
                       "-o", "Global.epochs=2"])
    assert fewer.returncode == 2
    error = _errors(fewer)
    assert error.startswith(f"error: Global.epochs: 2, but checkpoint {latest} has already trained {EPOCHS} epochs")
