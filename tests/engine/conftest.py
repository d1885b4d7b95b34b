import os
import random
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "dataset", "cifar10_mini")


def run_tool(name, *args, timeout=600):
    """Run tools/<name> with this Python from the repository root; the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def cifar_tree(root, classes=("cat", "dog", "ship"), per_split=(6, 3), link=False):
    """root/train/<class>/ and root/val/<class>/ with the first images of each class from the vendored data
    (copies, or symlinks with link=True); returns root."""
    for split, n in zip(("train", "val"), per_split):
        for cls in classes:
            os.makedirs(root / split / cls)
            src = os.path.join(DATA, split, cls)
            for f in sorted(os.listdir(src))[:n]:
                (os.symlink if link else shutil.copy)(os.path.join(src, f), root / split / cls / f)
    return root


def _subset_list(path, split, per_class, seed=0):
    """A list file with `per_class` images of each class from the vendored dataset's `split` list."""
    with open(os.path.join(DATA, f"{split}_list.txt")) as f:
        lines = [line.split() for line in f if line.strip()]
    by_class = {}
    for rel, label in lines:
        by_class.setdefault(int(label), []).append(rel)
    rng = random.Random(seed)
    chosen = []
    for label in sorted(by_class):
        for rel in rng.sample(by_class[label], per_class):
            chosen.append(f"{rel} {label}\n")
    with open(path, "w") as f:
        f.writelines(chosen)
    return path


def tiny_config(tmp_path, *, train_per_class=6, val_per_class=3, batch_size=12, epochs=2, workers=0,
                model="ResNet18", extra_global=None, ema=False):
    """Write a small PaddleClas-format config on a subset of the vendored CIFAR-10 data; returns its path."""
    train_list = _subset_list(str(tmp_path / "train_list.txt"), "train", train_per_class)
    val_list = _subset_list(str(tmp_path / "val_list.txt"), "val", val_per_class)
    norm = {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.4914, 0.4822, 0.4465],
                               "std": [0.247, 0.243, 0.261], "order": ""}}
    cfg = {
        "Global": {"output_dir": str(tmp_path / "output"), "epochs": epochs, "seed": 7, "device": "cpu",
                   "eval_during_train": True, "eval_interval": 1, "save_interval": 1, "print_batch_step": 1,
                   "use_visualdl": True, "image_shape": [3, 32, 32], "save_inference_dir": str(tmp_path / "inference"),
                   "num_threads": 1, **(extra_global or {})},
        "Arch": {"name": model, "class_num": 10},
        "Loss": {"Train": [{"CELoss": {"weight": 1.0, "epsilon": 0.1}}], "Eval": [{"CELoss": {"weight": 1.0}}]},
        "Optimizer": {"name": "Momentum", "momentum": 0.9,
                      "lr": {"name": "Cosine", "learning_rate": 0.05, "warmup_epoch": 1},
                      "regularizer": {"name": "L2", "coeff": 5e-4}},
        "DataLoader": {
            "Train": {"dataset": {"name": "ImageNetDataset", "image_root": DATA, "cls_label_path": train_list,
                                  "transform_ops": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                                    {"RandCropImage": {"size": 32, "scale": [0.6, 1.0]}},
                                                    {"RandFlipImage": {"flip_code": 1}}, norm, {"ToCHWImage": None}]},
                      "sampler": {"name": "DistributedBatchSampler", "batch_size": batch_size, "drop_last": False,
                                  "shuffle": True},
                      "loader": {"num_workers": workers, "use_shared_memory": False}},
            "Eval": {"dataset": {"name": "ImageNetDataset", "image_root": DATA, "cls_label_path": val_list,
                                 "transform_ops": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                                   norm, {"ToCHWImage": None}]},
                     "sampler": {"name": "DistributedBatchSampler", "batch_size": 16, "drop_last": False,
                                 "shuffle": False},
                     "loader": {"num_workers": 0, "use_shared_memory": False}},
        },
        "Metric": {"Train": [{"TopkAcc": {"topk": [1, 5]}}], "Eval": [{"TopkAcc": {"topk": [1, 5]}}]},
    }
    if ema:
        cfg["EMA"] = {"decay": 0.9}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


@pytest.fixture
def make_config(tmp_path):
    def make(sub="run", **kw):
        d = tmp_path / sub
        d.mkdir(exist_ok=True)
        return tiny_config(d, **kw)

    return make
