import os
import random

import numpy as np
import pytest

from ppcls_lite.data import ResumableBatchSampler, build_dataloader
from ppcls_lite.data.loader import _WorkerInit
from PIL import Image

from ppcls_lite.errors import ConfigError, DataError

from .conftest import EVAL_OPS, png_bytes, write

TRAIN_OPS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"RandCropImage": {"size": 32, "scale": [0.35, 1.0]}},
    {"RandFlipImage": {"flip_code": 1}},
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                        "order": ""}},
    {"RandomErasing": {"EPSILON": 0.5, "sl": 0.02, "sh": 0.4, "r1": 0.3, "mode": "pixel"}},
]


def section(root, ops, bs=64, shuffle=True, drop_last=False, workers=0, batch_ops=None, **ds):
    dataset = {"name": "ImageFolder", "root": root, "transform_ops": ops, **ds}
    if batch_ops:
        dataset["batch_transform_ops"] = batch_ops
    return {"dataset": dataset,
            "sampler": {"name": "DistributedBatchSampler", "batch_size": bs, "drop_last": drop_last,
                        "shuffle": shuffle},
            "loader": {"num_workers": workers, "use_shared_memory": True}}


def collect(loader):
    return [tuple(t.numpy() for t in b) for b in loader]


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


# -- sampler ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,ranks,bs,drop_last", [
    (10, 3, 3, False), (10, 3, 3, True), (7, 2, 4, False), (16, 4, 4, False), (1, 3, 2, False), (13, 1, 5, True),
])
def test_sampler_split_covers_dataset_once_plus_padding(n, ranks, bs, drop_last):
    samplers = [ResumableBatchSampler(_Sized(n), bs, shuffle=True, drop_last=drop_last, num_replicas=ranks,
                                      rank=r, seed=1) for r in range(ranks)]
    per_rank = [s.epoch_batches() for s in samplers]
    assert len({len(b) for b in per_rank}) == 1 and all(len(b) == len(s) for b, s in zip(per_rank, samplers))
    flat = [i for batches in per_rank for b in batches for i in b]
    per = -(-n // ranks)
    if drop_last:
        assert len(flat) == ranks * (per // bs) * bs
    else:
        assert len(flat) == ranks * per  # padded to a multiple of the replica count
        assert sorted(set(flat)) == list(range(n))
        pads = sum(int(p.sum()) for p in (s.rank_indices()[1] for s in samplers))
        assert pads == ranks * per - n
    assert len(set(flat)) == len(flat) - (0 if drop_last else ranks * per - n) or drop_last


def test_sampler_reshuffles_per_epoch_and_agrees_across_ranks():
    a = ResumableBatchSampler(_Sized(50), 8, shuffle=True, num_replicas=2, rank=0, seed=3)
    b = ResumableBatchSampler(_Sized(50), 8, shuffle=True, num_replicas=2, rank=1, seed=3)
    e0 = a.epoch_batches(0)
    assert e0 != a.epoch_batches(1) and e0 == a.epoch_batches(0)
    assert sorted(sum(e0, []) + sum(b.epoch_batches(0), [])) == list(range(50))  # same permutation on both ranks
    assert ResumableBatchSampler(_Sized(50), 8, shuffle=True, seed=4).epoch_batches(0) != \
        ResumableBatchSampler(_Sized(50), 8, shuffle=True, seed=3).epoch_batches(0)
    ordered = ResumableBatchSampler(_Sized(10), 4, shuffle=False)
    assert list(ordered) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_sampler_start_step_yields_tail():
    s = ResumableBatchSampler(_Sized(37), 5, shuffle=True, seed=9, keys=True)
    s.set_epoch(4)
    full = list(s)
    s.set_start_step(3)
    assert len(s) == len(full) == 8  # len is always the full epoch
    assert list(s) == full[3:]
    assert full[3][0].batch == 3 and full[3][0].epoch == 4
    s.set_epoch(5)
    assert s.start_step == 0
    with pytest.raises(ValueError):
        s.set_start_step(9)


# -- loader -------------------------------------------------------------------------------------------------------

def test_batch_structure_and_workers_give_same_batches(cifar):
    root = os.path.join(cifar, "val")
    mix = [{"OpSampler": {"MixupOperator": {"alpha": 0.8, "prob": 0.5}, "CutmixOperator": {"alpha": 1.0, "prob": 0.5}}}]
    single = build_dataloader(section(root, TRAIN_OPS, bs=100, batch_ops=mix), "Train", seed=5, class_num=10, epoch=2)
    multi = build_dataloader(section(root, TRAIN_OPS, bs=100, batch_ops=mix, workers=2), "Train", seed=5,
                             class_num=10, epoch=2)
    a, b = collect(single), collect(multi)
    assert len(a) == len(single) == 10
    images, labels, indices = a[0]
    assert images.shape == (100, 3, 32, 32) and images.dtype == np.float32
    assert labels.shape == (100, 10) and labels.dtype == np.float32 and np.allclose(labels.sum(1), 1.0)
    assert indices.dtype == np.int64 and sorted(np.concatenate([x[2] for x in a]).tolist()) == list(range(1000))
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    # resuming mid-epoch (with workers) gives exactly the tail of the uninterrupted epoch
    resumed = build_dataloader(section(root, TRAIN_OPS, bs=100, batch_ops=mix, workers=2), "Train", seed=5,
                               class_num=10, epoch=2, start_step=6)
    tail = collect(resumed)
    assert len(tail) == 4 and resumed.position == 10
    for x, y in zip(a[6:], tail):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    # a different epoch gives a different order and different augmentation
    single.batch_sampler.set_epoch(3)
    assert not np.array_equal(collect(single)[0][2], a[0][2])


def test_eval_loader_across_ranks(cifar):
    root = os.path.join(cifar, "val")
    seen, counts = [], []
    for r in range(3):
        ld = build_dataloader(section(root, EVAL_OPS, bs=128, shuffle=False), "Eval", num_replicas=3, rank=r)
        batches = collect(ld)
        counts.append(sum(len(b[2]) for b in batches))
        seen.extend(np.concatenate([b[2] for b in batches]).tolist())
        assert batches[0][1].dtype == np.int64 and batches[0][1].shape == (128,)
    assert counts == [334, 334, 334]  # 1000 padded to 1002
    assert sorted(set(seen)) == list(range(1000)) and len(seen) == 1002


def test_skipped_images_are_filtered_and_reported(small_tree):
    bad = [write(os.path.join(small_tree, "dog", n), d) for n, d in (("empty.jpg", b""), ("text.jpg", b"nope"))]
    for workers in (0, 2):
        # batch size 2: the two bad files (sorted last) fill the last batch alone, which is then dropped
        ld = build_dataloader(section(small_tree, EVAL_OPS, bs=2, shuffle=False, workers=workers,
                                      on_bad_image="skip"), "Eval")
        batches = collect(ld)
        bad_idx = [i for i, (p, _) in enumerate(ld.dataset.samples) if p in bad]
        assert bad_idx == [6, 7] and len(ld) == 4 and len(batches) == 3 and ld.position == 4
        assert np.concatenate([b[2] for b in batches]).tolist() == list(range(6))
        assert sorted(ld.skipped_files) == sorted(bad) and ld.num_skipped == 2
        assert all(len(b[0]) == len(b[1]) == len(b[2]) == 2 for b in batches)


def test_wholly_undecodable_batch_is_an_error_under_data_parallel(small_tree):
    bad = [write(os.path.join(small_tree, "dog", n), d) for n, d in (("empty.jpg", b""), ("text.jpg", b"nope"))]
    # 2 ranks, batch size 1, no shuffle: rank r gets samples r, r+2, r+4, r+6; the bad files are samples 6 and 7,
    # so each rank's last batch is one bad file, a batch dropped whole.
    for rank in (0, 1):
        ld = build_dataloader(section(small_tree, EVAL_OPS, bs=1, shuffle=False, on_bad_image="skip"), "Train",
                              num_replicas=2, rank=rank, epoch=3)
        assert ld.lockstep
        got = []
        with pytest.raises(DataError) as e:
            for b in ld:
                got.append(int(b[2].numpy()[0]))
        assert got == [rank, rank + 2, rank + 4]  # the batches before it were yielded
        assert str(e.value) == (
            f"rank {rank} of 2: every image of the batch at epoch 3, iter 3 is undecodable (on_bad_image: skip): "
            f"{bad[rank]}; with data-parallel training a batch cannot be dropped on one rank only (the other ranks "
            "would wait for it at the next step); fix or remove these files, or use a larger batch_size")
        assert ld.skipped_files == [bad[rank]] and ld.num_skipped == 1
        # without lockstep (evaluation gathers once at the end) the batch is dropped and counted, as with 1 process
        ev = build_dataloader(section(small_tree, EVAL_OPS, bs=1, shuffle=False, on_bad_image="skip"), "Eval",
                              num_replicas=2, rank=rank, lockstep=False)
        assert [int(b[2].numpy()[0]) for b in ev] == [rank, rank + 2, rank + 4] and ev.position == 4
        assert ev.skipped_files == [bad[rank]]
    # a partly bad batch is no problem: rank 1's one batch of 4 holds samples 4..7, two of them good
    ld = build_dataloader(section(small_tree, EVAL_OPS, bs=4, shuffle=False, on_bad_image="skip"), "Train",
                          num_replicas=2, rank=1)
    assert [b[2].numpy().tolist() for b in ld] == [[4, 5]] and sorted(ld.skipped_files) == sorted(bad)
    # one process: dropped and counted, as before
    assert not build_dataloader(section(small_tree, EVAL_OPS, bs=1, on_bad_image="skip"), "Train", num_replicas=1,
                                rank=0).lockstep


@pytest.mark.parametrize("workers", [0, 2])
def test_loading_errors_reach_the_main_process(small_tree, workers):
    write(os.path.join(small_tree, "dog", "text.jpg"), b"nope")
    ld = build_dataloader(section(small_tree, EVAL_OPS, bs=4, shuffle=False, workers=workers), "Eval")
    with pytest.raises(DataError, match=r"dog/text\.jpg: cannot decode image"):
        collect(ld)  # raised, not hanging (Paddle's loader thread would die on an exception)
    mixed = section(small_tree, [{"DecodeImage": None}], bs=8, shuffle=False, workers=workers)
    os.remove(os.path.join(small_tree, "dog", "text.jpg"))
    write(os.path.join(small_tree, "dog", "big.png"), png_bytes(Image.fromarray(np.zeros((40, 40, 3), np.uint8))))
    with pytest.raises(DataError, match="images in one batch have different shapes") as err:
        collect(build_dataloader(mixed, "Eval"))
    assert os.path.join(small_tree, "dog", "big.png") in str(err.value)  # the files, not sample indices
    assert "big.png is [3, 40, 40]" in str(err.value)


def test_worker_init_seeds_from_seed_epoch_worker():
    s = ResumableBatchSampler(_Sized(4), 2)
    s.set_epoch(3)
    _WorkerInit(7, s)(1)
    a = (np.random.random(), random.random())
    _WorkerInit(7, s)(1)
    assert (np.random.random(), random.random()) == a
    _WorkerInit(7, s)(0)
    assert np.random.random() != a[0]


def test_config_errors_name_the_key(small_tree):
    good = section(small_tree, EVAL_OPS, bs=2)
    cases = [
        ({**good, "sampler": {"name": "PKSampler", "batch_size": 2}}, r"DataLoader\.Train\.sampler\.name: unknown value 'PKSampler'; did you mean 'BatchSampler'\?"),
        ({**good, "sampler": {"batch_size": 0}}, r"DataLoader\.Train\.sampler\.batch_size: must be >= 1, got 0"),
        ({**good, "sampler": {"shuffle": True}}, r"DataLoader\.Train\.sampler\.batch_size: required key missing"),
        ({**good, "loader": {"num_workers": 2, "pin": True}}, r"DataLoader\.Train\.loader\.pin: unknown key; valid: num_workers, use_shared_memory"),
        ({**good, "dataset": {"name": "Cifar", "root": small_tree}}, r"DataLoader\.Train\.dataset\.name: unknown dataset 'Cifar'; valid: ImageFolder, ImageNetDataset"),
        ({**good, "dataset": {"name": "ImageFolder"}}, r"DataLoader\.Train\.dataset\.root: required parameter of ImageFolder missing"),
        ({**good, "dataset": {"name": "ImageFolder", "root": small_tree, "colour": 1}},
         r"DataLoader\.Train\.dataset\.colour: unknown key; valid: batch_transform_ops, class_names, on_bad_image, root, transform_ops"),
        ({**good, "dataset": {"name": "ImageFolder", "root": small_tree, "on_bad_image": "drop"}},
         r"DataLoader\.Train\.dataset\.on_bad_image: must be 'error' or 'skip'"),
        ({**good, "dataset": {"name": "ImageFolder", "root": small_tree,
                              "transform_ops": [{"DecodeImage": None}, {"ResizeImage": {"size": 0}}]}},
         r"DataLoader\.Train\.dataset\.transform_ops\[1\]\.ResizeImage: size must be positive"),
        ({**good, "dataset": {"name": "ImageFolder", "root": small_tree,
                              "batch_transform_ops": [{"MixupOperator": {"alpha": 0.2}}]}},
         r"DataLoader\.Train\.dataset\.batch_transform_ops\[0\]\.MixupOperator: needs the number of classes"),
    ]
    for cfg, pattern in cases:
        with pytest.raises(ConfigError, match=pattern):
            build_dataloader(cfg, "Train")


def test_check_first_collates_in_batches_of_the_sampler(small_tree):
    """Batch size 1 may hold images of any size: the check before training must not call that an error."""
    write(os.path.join(small_tree, "dog", "big.png"), png_bytes(Image.fromarray(np.zeros((40, 40, 3), np.uint8))))
    build_dataloader(section(small_tree, [{"DecodeImage": None}], bs=1, shuffle=False), "Eval").check_first(32)
    with pytest.raises(DataError, match="big.png is"):
        build_dataloader(section(small_tree, [{"DecodeImage": None}], bs=32, shuffle=False), "Eval").check_first(32)


def test_a_dropped_loader_lets_its_reaper_go(small_tree):
    import gc
    import time

    ld = build_dataloader(section(small_tree, EVAL_OPS, bs=4, shuffle=False, workers=2), "Eval")
    collect(ld)
    reaper = ld.guard._reaper
    assert reaper is not None and reaper.poll() is None
    del ld
    gc.collect()
    deadline = time.time() + 20
    while reaper.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert reaper.poll() == 0  # it saw the clean close and exited
