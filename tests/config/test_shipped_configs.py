"""Every YAML in configs/ and the PaddleClas-format fixture loads and validates."""
import glob
import os

import pytest

from ppcls_lite.config import REGISTRY_KINDS, load_config
from ppcls_lite.config.components import load_registry
from tests.config.conftest import ROOT

# every whole config (`_*.yaml` are the _BASE_ parts of the fine-tuning recipes, not configs of their own)
SHIPPED = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True)
                 if not os.path.basename(p).startswith("_"))
# the fine-tuning, distillation and multi-label recipes name variants, losses and optimizers the small fake
# registries leave out
WITH_FAKES = [p for p in SHIPPED if not any(os.sep + d + os.sep in p for d in ("finetune", "distill", "multilabel"))]
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "paddleclas_Res2Net50_26w_4s.yaml")
EXPECTED = {"resnet50.yaml", "resnext50_32x4d.yaml", "res2net50.yaml", "swin_tiny.yaml", "convnext_tiny.yaml",
            "vit_base_patch16_224.yaml", "resnet18_cifar10_mini.yaml"}


def test_expected_configs_exist():
    assert EXPECTED <= {os.path.basename(p) for p in SHIPPED}


@pytest.mark.parametrize("path", WITH_FAKES + [FIXTURE], ids=lambda p: os.path.relpath(p, ROOT))
def test_config_validates(path, fakes):
    cfg = load_config(path, check_paths=False, registries=fakes)
    assert cfg["Global"]["epochs"] >= 1 and cfg["DataLoader"]["Train"] and cfg["Optimizer"]


def test_quickstart_data_paths_exist(fakes, monkeypatch):
    monkeypatch.chdir(ROOT)  # data paths are relative to the working directory, as in PaddleClas
    cfg = load_config("configs/quickstart/resnet18_cifar10_mini.yaml", registries=fakes)
    assert cfg["DataLoader"]["Train"]["dataset"]["name"] == "ImageFolder"
    assert cfg["DataLoader"]["Eval"]["dataset"]["name"] == "ImageNetDataset"


def test_paddleclas_fixture_needs_only_data_paths(fakes, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = "./dataset/cifar10_mini/"
    overrides = [f"DataLoader.{split}.dataset.{key}={value}" for split in ("Train", "Eval") for key, value in (
        ("image_root", data), ("cls_label_path", data + "val_list.txt"))]
    cfg = load_config(FIXTURE, overrides, registries=fakes)
    assert cfg["Arch"]["name"] == "Res2Net50_26w_4s" and cfg["Global"]["device"] == "gpu"


def test_against_the_real_registries(monkeypatch):
    """The package's own registries (models, ops, datasets, losses, metrics, optimizers, schedules)."""
    for module in ("ppcls_lite.data.transforms", "ppcls_lite.data.batch_ops", "ppcls_lite.data.datasets",
                   "ppcls_lite.loss", "ppcls_lite.metric", "ppcls_lite.optim"):
        pytest.importorskip(module)
    for kind in REGISTRY_KINDS:
        assert load_registry(kind), f"registry {kind} is missing or empty"
    for path in SHIPPED + [FIXTURE]:
        load_config(path, check_paths=False)
    monkeypatch.chdir(ROOT)
    load_config("configs/quickstart/resnet18_cifar10_mini.yaml")
