"""The class-balanced sampler (issue 13, item 3): every class equally likely over epochs, deterministic, the same
with any number of workers, exact across a mid-epoch resume, one global order split across ranks."""
import os

import numpy as np
import pytest

from ppcls_lite.config.validate import check_fields
from ppcls_lite.config import schema as S
from ppcls_lite.data import ResumableBatchSampler, build_dataloader
from ppcls_lite.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "dataset", "cifar10_mini")


class Labels:
    """What the sampler reads of a dataset: its length and labels (and the (path, label) samples behind them)."""

    def __init__(self, counts):
        self.samples = [(f"{c}/{i}.jpg", c) for c, n in enumerate(counts) for i in range(n)]
        self.labels = [c for _, c in self.samples]

    def __len__(self):
        return len(self.samples)


IMBALANCED = Labels([40, 8, 2])  # 20x between the largest and the smallest class


def _labels(sampler, epoch):
    return [IMBALANCED.samples[i][1] for b in sampler.epoch_batches(epoch) for i in b]


def test_classes_are_drawn_uniformly_over_epochs():
    sampler = ResumableBatchSampler(IMBALANCED, 5, balance="class", seed=3)
    labels = np.concatenate([_labels(sampler, e) for e in range(200)])
    assert len(labels) == 200 * 50
    freq = np.bincount(labels, minlength=3) / len(labels)
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.02)  # without balance: 0.8 / 0.16 / 0.04
    plain = ResumableBatchSampler(IMBALANCED, 5, shuffle=True, seed=3)
    assert np.bincount(np.concatenate([_labels(plain, e) for e in range(3)]))[2] == 6


def test_deterministic_and_exact_across_a_mid_epoch_resume():
    a = ResumableBatchSampler(IMBALANCED, 4, balance="class", seed=7)
    b = ResumableBatchSampler(IMBALANCED, 4, balance="class", seed=7)
    assert a.epoch_batches(2) == b.epoch_batches(2) and a.epoch_batches(2) != a.epoch_batches(3)
    b.set_epoch(2)
    b.set_start_step(5)
    assert list(b) == a.epoch_batches(2)[5:]


def test_ranks_see_disjoint_positions_of_one_global_order():
    whole = ResumableBatchSampler(IMBALANCED, 4, balance="class", seed=1, num_replicas=1, rank=0)
    parts = [ResumableBatchSampler(IMBALANCED, 4, balance="class", seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    order, _ = whole.rank_indices(4)
    got = [p.rank_indices(4) for p in parts]
    assert sorted(np.concatenate([g[0] for g in got]).tolist()) == sorted(order.tolist())  # 50 = 2 x 25
    assert all(len(g[0]) == 25 for g in got)


def _list_file(tmp_path):
    lines = open(os.path.join(DATA, "train_list.txt")).read().splitlines()
    by_class = {}
    for line in lines:
        by_class.setdefault(line.split()[1], []).append(line.split()[0])
    picked = [f"{p} 0" for p in by_class["0"][:12]] + [f"{p} 1" for p in by_class["1"][:3]] + \
        [f"{p} 2" for p in by_class["2"][:1]]
    path = tmp_path / "imbalanced.txt"
    path.write_text("\n".join(picked) + "\n")
    return str(path)


def test_the_same_batches_with_any_number_of_workers(tmp_path):
    section = lambda workers: {  # noqa: E731
        "dataset": {"name": "ImageNetDataset", "image_root": DATA, "cls_label_path": _list_file(tmp_path),
                    "transform_ops": [{"DecodeImage": None}, {"RandFlipImage": None},
                                      {"NormalizeImage": {"order": ""}}, {"ToCHWImage": None}]},
        "sampler": {"name": "DistributedBatchSampler", "batch_size": 4, "balance": "class"},
        "loader": {"num_workers": workers, "use_shared_memory": False}}
    runs = []
    for workers in (0, 2):
        loader = build_dataloader(section(workers), "Train", seed=5, epoch=1)
        runs.append([(labels.numpy().reshape(-1).tolist(), images.numpy().sum()) for images, labels, _ in loader])
    assert [r[0] for r in runs[0]] == [r[0] for r in runs[1]]
    np.testing.assert_allclose([r[1] for r in runs[0]], [r[1] for r in runs[1]], rtol=1e-6)
    assert set(sum((r[0] for r in runs[0]), [])) == {0, 1, 2}


def test_the_config_key():
    assert check_fields("DataLoader.Train.sampler", {"batch_size": 2, "balance": "class"}, S.SAMPLER)["balance"] \
        == "class"
    with pytest.raises(ConfigError, match=r"^DataLoader.Train.sampler.balance: unknown value 'klass'"):
        check_fields("DataLoader.Train.sampler", {"batch_size": 2, "balance": "klass"}, S.SAMPLER)
