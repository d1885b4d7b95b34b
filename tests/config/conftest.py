import os
import textwrap

import pytest

from tests.config.fakes import REGISTRIES

# A small but complete config; the tests write variations of it.
FULL = """
Global:
  epochs: 2
  output_dir: ./out
Arch:
  name: ResNet18
  class_num: 10
Loss:
  Train:
    - CELoss:
        weight: 1.0
        epsilon: 0.1
  Eval:
    - CELoss:
        weight: 1.0
Optimizer:
  name: Momentum
  momentum: 0.9
  lr:
    name: Cosine
    learning_rate: 0.1
    warmup_epoch: 1
  regularizer:
    name: L2
    coeff: 5e-4
DataLoader:
  Train:
    dataset:
      name: ImageNetDataset
      image_root: {root}
      cls_label_path: {root}/train_list.txt
      transform_ops:
        - DecodeImage:
            to_rgb: True
        - RandCropImage:
            size: 32
        - NormalizeImage:
            scale: 1.0/255.0
            mean: [0.5, 0.5, 0.5]
            std: [0.5, 0.5, 0.5]
            order: ''
    sampler:
      name: DistributedBatchSampler
      batch_size: 8
      shuffle: True
  Eval:
    dataset:
      name: ImageFolder
      root: {root}/val
      transform_ops:
        - DecodeImage:
        - ToCHWImage
    sampler:
      batch_size: 8
Metric:
  Train:
  Eval:
    - TopkAcc:
        topk: [1, 5]
"""


@pytest.fixture
def data_root(tmp_path):
    """A folder with train_list.txt and val/ (contents do not matter to the config checks)."""
    root = tmp_path / "data"
    (root / "val" / "cat").mkdir(parents=True)
    (root / "train_list.txt").write_text("a.jpg 0\n")
    return str(root)


@pytest.fixture
def write(tmp_path):
    """write(name, text) -> path of a YAML file in tmp_path (text dedented)."""

    def _write(name, text):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return str(path)

    return _write


@pytest.fixture
def full_config(write, data_root):
    """Path of the FULL config, its data paths pointing at `data_root`."""
    return write("full.yaml", FULL.format(root=data_root))


@pytest.fixture
def fakes():
    return REGISTRIES


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
