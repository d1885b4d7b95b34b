"""User mistakes reach the user as one line on stderr and exit code 2, never a traceback."""
import json
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


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["Arch.layers=51"], "error: Arch.layers: 51 is not supported; choose one of [18, 34, 50, 101, 152, 200]"),
        (["Arch.name=ResNeXt101_32x8d_wsl", "Arch.vd=True"], "error: Arch.vd: ResNeXt101WSL has no vd version"),
        (["Arch.name=SwinTransformer_tiny_patch4_window7_224", "Arch.depths=[1, 1]"],
         "error: Arch.num_heads: 4 entries for the 2 stages of depths [1, 1]"),
        (["Arch.name=ViT_small_patch16_224", "Arch.num_heads=5"],
         "error: Arch.num_heads: embed_dim 768 is not divisible by num_heads 5"),
        (["Arch.name=ConvNeXt_tiny", "Arch.data_format=NDHWC"], "error: Arch.data_format: must be one of"),
    ],
)
def test_a_value_the_model_rejects_is_one_line_naming_the_arch_key(make_config, overrides, expected):
    """Model layers raise plain ValueError naming their parameter; the config layer says it as Arch.<key>."""
    cfg = make_config("arch")
    args = [a for o in overrides for a in ("-o", o)]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg, *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(expected), proc.stderr[-2000:]


def test_missing_config_file_is_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr and "Traceback" not in proc.stderr


def _tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def _one_error(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def test_output_dir_that_cannot_be_written_is_one_line(make_config, tmp_path):
    cfg = make_config("outdir", epochs=1)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [(str(a_file), "is a file, not a folder"),
             (str(a_file / "sub"), f"cannot be created: {a_file} is a file"),
             ("/sys/ppcls_lite_test_out", "cannot write in /sys/ppcls_lite_test_out")]  # not writable, even by root
    for path, expected in cases:
        error = _one_error(_tool("train.py", "-c", cfg, "-o", f"Global.output_dir={path}"))
        assert error.startswith("error: Global.output_dir: ") and expected in error, error
        error = _one_error(_tool("export_model.py", "-c", cfg, "-o", f"Global.save_inference_dir={path}",
                                 "-o", f"Global.pretrained_model={a_file}"))
        assert error.startswith("error: Global.save_inference_dir: ") and expected in error, error


def test_resume_with_another_optimizer_is_one_line(make_config):
    import yaml

    cfg = make_config("opt", epochs=1, extra_global={"use_visualdl": False})
    first = _tool("train.py", "-c", cfg)
    assert first.returncode == 0, first.stderr[-2000:]
    c = yaml.safe_load(open(cfg))
    c["Optimizer"] = {"name": "AdamW", "weight_decay": 0.05, "lr": {"name": "Cosine", "learning_rate": 0.001}}
    c["Global"]["epochs"] = 2
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    latest = os.path.join(c["Global"]["output_dir"], "latest")
    error = _one_error(_tool("train.py", "-c", cfg, "-o", f"Global.checkpoints={latest}"))
    assert "holds the state of a Momentum optimizer but Optimizer.name is AdamW" in error
    assert f"Global.pretrained_model={latest}" in error


def test_infer_with_a_paddleclas_class_id_map_file_is_one_line(make_config, tmp_path):
    import ppcls_lite
    from ppcls_lite.serialization import atomic_save

    weights = str(tmp_path / "w.pdparams")
    atomic_save(ppcls_lite.build_model("ResNet18", class_num=10).state_dict(), weights)
    cfg = make_config("idmap")
    error = _one_error(_tool("infer.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}",
                             "-o", "Infer.infer_imgs=" + os.path.join(ROOT, "dataset", "cifar10_mini", "val", "cat"),
                             "-o", "Infer.PostProcess={class_id_map_file: ppcls/utils/imagenet1k_label_list.txt}"))
    assert error.startswith("error: Infer.PostProcess.class_id_map_file: file not found: "
                            "ppcls/utils/imagenet1k_label_list.txt")


def test_infer_transforms_leaving_mixed_sizes_is_one_line(make_config, tmp_path):
    import numpy as np
    from PIL import Image

    import ppcls_lite
    from ppcls_lite.serialization import atomic_save

    weights = str(tmp_path / "w.pdparams")
    atomic_save(ppcls_lite.build_model("ResNet18", class_num=10).state_dict(), weights)
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(folder / "b.png")
    cfg = make_config("mixed")
    proc = _tool("infer.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}", "-o", f"Infer.infer_imgs={folder}",
                 "-o", "Infer.transforms=[{DecodeImage: {}}, {NormalizeImage: {order: ''}}, {ToCHWImage: {}}]",
                 "-o", "Infer.batch_size=4")
    error = _one_error(proc)
    assert str(folder / "b.png") in error and str(folder / "a.png") in error and "ResizeImage" in error
    assert [json.loads(line)["file"] for line in proc.stdout.splitlines()] == [str(folder / "a.png")]


def test_no_config_is_one_line():
    for tool in ("train.py", "export_model.py"):
        error = _one_error(_tool(tool))
        assert error.startswith("error: -c CONFIG: required"), error


def test_update_freq_above_the_iterations_of_an_epoch_names_the_keys(make_config):
    cfg = make_config("freq", epochs=1)  # 60 images in batches of 12: 5 iterations an epoch
    error = _one_error(_tool("train.py", "-c", cfg, "-o", "Global.update_freq=6"))
    assert error.startswith("error: Global.update_freq: 6 is more than the 5 iteration(s) of an epoch")
    assert "DataLoader.Train.sampler.batch_size" in error


def test_wrong_type_of_a_schedule_parameter_says_where(make_config):
    error = _one_error(_tool("train.py", "-c", make_config("lr"), "-o", "Optimizer.lr.learning_rate=fast"))
    assert error == ("error: Optimizer.lr.learning_rate: expected float, got str 'fast' "
                     "(-o Optimizer.lr.learning_rate=fast)")
