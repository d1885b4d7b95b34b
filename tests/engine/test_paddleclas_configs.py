"""PaddleClas's own configs run (issue 12): one of each kind -- every folder of ppcls/configs/ImageNet for our
families, plus its AMP "ultra" (4-channel NHWC, output_fp16, use_dali), DiverseBranchBlock, Swin
(use_fused_linear) and `pretrained: True` ones -- written key for key in tests/fixtures/paddleclas_configs.py,
dry-run and trained on tiny data with only data paths, device, batch size and test-only widths changed."""
import io
import os

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.config import load_config
from ppcls_lite.engine.training import dry_run, train
from tests.engine.weights_server import WeightsServer
from tests.fixtures.paddleclas_configs import CONFIGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "dataset", "cifar10_mini")

# Narrow test-only widths (the layouts, key names and code paths are those of the full models).
NARROW = {
    "ResNet/ResNet50": ["Arch.base_channels=8"],
    "ResNet/ResNet18_dbb": ["Arch.base_channels=8"],
    "ResNet/ResNet50_amp_O2_ultra": ["Arch.base_channels=8"],
    "ResNeXt/ResNeXt50_32x4d": ["Arch.base_channels=8", "Arch.cardinality=2"],
    "ResNeXt101_wsl/ResNeXt101_32x8d_wsl": ["Arch.base_channels=8", "Arch.cardinality=2", "Arch.group_width=2"],
    "Res2Net/Res2Net50_26w_4s": ["Arch.base_channels=8", "Arch.width=2"],
    "SwinTransformer/SwinTransformer_tiny_patch4_window7_224": [
        "Arch.embed_dim=8", "Arch.depths=[1, 1, 1, 1]", "Arch.num_heads=[1, 1, 1, 1]"],
    "VisionTransformer/ViT_base_patch16_224": ["Arch.embed_dim=16", "Arch.depth=1", "Arch.num_heads=2"],
    "DeiT/DeiT_tiny_distilled_patch16_224": ["Arch.embed_dim=16", "Arch.depth=1", "Arch.num_heads=2"],
    "ConvNeXt/ConvNeXt_tiny": ["Arch.dims=[8, 8, 8, 8]", "Arch.depths=[1, 1, 1, 1]"],
}
for _kind in ("dkd", "dist", "skd", "wsl"):
    NARROW[f"Distillation/resnet34_distill_resnet18_{_kind}"] = [
        "Arch.models.0.Teacher.base_channels=8", "Arch.models.1.Student.base_channels=8"]

# configs with `pretrained: True` -> the variant whose published weights they download (the narrow model's here)
SERVED = {"ResNet/ResNet50": "ResNet50",
          **{name: "ResNet34" for name in NARROW if name.startswith("Distillation/")}}


def _lists(tmp_path):
    """8 training images (4 iterations of 2: ConvNeXt's update_freq 4 makes one optimizer step) and 4 val."""
    out = {}
    for split, n in (("train", 8), ("val", 4)):
        lines = open(os.path.join(DATA, f"{split}_list.txt")).read().splitlines()
        picked = [lines[i * len(lines) // n] for i in range(n)]
        path = tmp_path / f"{split}.txt"
        path.write_text("\n".join(picked) + "\n")
        out[split] = str(path)
    return out


def _overrides(tmp_path, name):
    lists = _lists(tmp_path)
    return [f"DataLoader.Train.dataset.image_root={DATA}", f"DataLoader.Train.dataset.cls_label_path={lists['train']}",
            f"DataLoader.Eval.dataset.image_root={DATA}", f"DataLoader.Eval.dataset.cls_label_path={lists['val']}",
            "DataLoader.Train.sampler.batch_size=2", "DataLoader.Eval.sampler.batch_size=2",
            "DataLoader.Train.loader.num_workers=0", "DataLoader.Eval.loader.num_workers=0",
            "Global.device=cpu", "Global.epochs=1", f"Global.output_dir={tmp_path / 'output'}",
            f"Infer.infer_imgs={DATA}/val/cat"] + NARROW[name]


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    """PaddleClas's published ResNet50 / ResNet34 weights as the narrow test models', served on 127.0.0.1."""
    server = WeightsServer()
    for variant in sorted(set(SERVED.values())):
        buf = io.BytesIO()
        paddle.save(ppcls_lite.build_model(variant, base_channels=8).state_dict(), buf)
        server.files[f"/legendary_models/{variant}_pretrained.pdparams"] = buf.getvalue()
    monkeypatch.setenv("PPCLS_LITE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPCLS_LITE_WEIGHTS_URL", server.base + "/")
    yield server
    server.close()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_paddleclas_config_dry_runs_and_trains(name, tmp_path, request):
    server = request.getfixturevalue("weights_server") if name in SERVED else None
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIGS[name](), sort_keys=False))
    config = load_config(str(path), _overrides(tmp_path, name))
    report = dry_run(config)
    arch = config["Arch"]["name"]
    assert report["model"].startswith(arch) and report["train data"].startswith("8 images")
    assert report["steps"].startswith("4 iterations per epoch") and not (tmp_path / "output").exists()
    trainer = train(config)
    assert trainer.state["global_step"] == 4
    # optimizer steps (the schedule steps with them): ConvNeXt accumulates Global.update_freq = 4 iterations
    assert trainer.lr_sched.last_epoch == (1 if name == "ConvNeXt/ConvNeXt_tiny" else 4)
    assert os.path.isfile(tmp_path / "output" / "latest.pdparams")
    assert trainer.result is not None and np.isfinite(trainer.result.loss)
    assert list(trainer.result.metrics) == ["top1", "top5"]  # Metric.Eval of every one of them
    if server is not None:  # pretrained: True downloaded the published weights, once
        assert server.hits == [f"/legendary_models/{SERVED[name]}_pretrained.pdparams"]
