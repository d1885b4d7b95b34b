"""Batch sampler, collate and DataLoader builder.

    loader = build_dataloader(cfg["DataLoader"]["Train"], "Train", seed=0, class_num=10)
    loader.batch_sampler.set_epoch(epoch)          # new permutation (same on every rank)
    loader.batch_sampler.set_start_step(k)         # resume: skip the first k batches of this epoch
    for images, labels, indices in loader: ...

images: float32 [N, C, H, W] (float16 with NormalizeImage output_fp16); labels: int64 [N], or float32 [N, class_num]
soft targets when batch_transform_ops are configured; indices: int64 [N] dataset index of every sample. Padding
(the repeats that make every rank hold the same number of samples) carries the index of the sample it repeats,
so de-duplicating gathered indices yields every sample exactly once.
"""
import math
import random

import numpy as np
import paddle

from ..config import schema as S
from ..config.validate import check_fields
from ..errors import ConfigError, DataError
from .batch_ops import build_batch_ops
from .datasets import DATASETS, FailedSample, Sample, SampleKey, SkippedSample
from .rng import batch_rng, sampler_rng, worker_seed
from .worker_guard import WorkerGuard

__all__ = ["ResumableBatchSampler", "ClsDataLoader", "Collate", "build_dataloader", "SAMPLER_NAMES"]

# The sampler names a config may give; both are this resumable, rank-sharding sampler.
SAMPLER_NAMES = S.SAMPLER["name"].choices


class ResumableBatchSampler(paddle.io.BatchSampler):
    """DistributedBatchSampler semantics with an explicit seed and mid-epoch resume.

    Per epoch: a permutation of the dataset from (seed, epoch) when shuffle (identical on every rank) -- with
    balance='class', len(dataset) draws with replacement in which every class is equally likely --, padded
    with its own head to a multiple of num_replicas, split across ranks batch-chunk by batch-chunk as Paddle's
    DistributedBatchSampler does, cut into batches (last partial batch dropped with drop_last). `set_start_step(k)`
    skips the first k batches of the epoch; `len()` is always the full number of batches.
    With keys=True the batches hold SampleKey(index, epoch, batch, pad) instead of plain ints.
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, num_replicas=None, rank=None, seed=0,
                 keys=False, balance=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.sampler = None
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.nranks = int(num_replicas) if num_replicas is not None else paddle.distributed.get_world_size()
        self.local_rank = int(rank) if rank is not None else paddle.distributed.get_rank()
        if self.nranks <= 0 or not 0 <= self.local_rank < self.nranks:
            raise ValueError(f"rank {self.local_rank} is not in [0, {self.nranks})")
        self.seed = int(seed)
        self.keys = bool(keys)
        self.epoch = 0
        self.start_step = 0
        if balance not in (None, "class"):
            raise ValueError(f"balance must be null or 'class', got {balance!r}")
        self.balance = balance
        self._class_weights = _inverse_class_frequency(dataset) if balance else None
        n = len(dataset)
        if n == 0:
            raise ValueError("cannot sample from an empty dataset")
        self.num_samples = int(math.ceil(n / self.nranks))
        self.total_size = self.num_samples * self.nranks

    # PaddleClas / torch spellings
    @property
    def num_replicas(self):
        return self.nranks

    @property
    def rank(self):
        return self.local_rank

    def set_epoch(self, epoch):
        """Select the epoch (its permutation and augmentation); resets start_step to 0."""
        self.epoch = int(epoch)
        self.start_step = 0

    def set_start_step(self, step):
        step = int(step)
        if not 0 <= step <= len(self):
            raise ValueError(f"start_step {step} is not in [0, {len(self)}]")
        self.start_step = step

    def rank_indices(self, epoch=None):
        """(indices, is_pad) of this rank for `epoch`, in order, before cutting into batches."""
        epoch = self.epoch if epoch is None else int(epoch)
        n = len(self.dataset)
        if self.balance:  # n draws with replacement, every class equally likely: one global order per epoch
            order = sampler_rng(self.seed, epoch).choice(n, size=n, replace=True, p=self._class_weights)
        else:
            order = sampler_rng(self.seed, epoch).permutation(n) if self.shuffle else np.arange(n)
        extra = self.total_size - n
        padded = np.concatenate([order, np.resize(order, extra)]) if extra else order
        pad = np.zeros(self.total_size, dtype=bool)
        pad[n:] = True
        if self.nranks == 1:
            return padded, pad
        bs, r = self.batch_size, self.local_rank
        last = self.total_size % (bs * self.nranks)
        last_local = last // self.nranks
        pick = []
        for start in range(r * bs, self.total_size - last, bs * self.nranks):
            pick.extend(range(start, start + bs))
        tail = self.total_size - last
        pick.extend(range(tail + r * last_local, tail + (r + 1) * last_local))
        pick = np.asarray(pick, dtype=np.int64)
        return padded[pick], pad[pick]

    def epoch_batches(self, epoch=None):
        """All batches of the epoch for this rank as lists of ints (ignores start_step)."""
        idx, _ = self.rank_indices(epoch)
        return [b.tolist() for b in self._cut(idx)]

    def _cut(self, arr):
        out = [arr[i:i + self.batch_size] for i in range(0, len(arr), self.batch_size)]
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self):
        epoch = self.epoch
        idx, pad = self.rank_indices(epoch)
        for b, (bi, bp) in enumerate(zip(self._cut(idx), self._cut(pad))):
            if b < self.start_step:
                continue
            if self.keys:
                yield [SampleKey(int(i), epoch, b, bool(p)) for i, p in zip(bi, bp)]
            else:
                yield [int(i) for i in bi]

    def __len__(self):
        if self.drop_last:
            return self.num_samples // self.batch_size
        return int(math.ceil(self.num_samples / self.batch_size))


def _inverse_class_frequency(dataset):
    """Per-sample draw probabilities that make every class of `dataset` (its `labels`) equally likely."""
    labels = np.asarray(dataset.labels, "int64").reshape(-1)
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return weights / weights.sum()


_KIND_CODE = {"ok": 0, "data": 1, "config": 2, "other": 3, "empty": 4}


class Collate:
    """Stack Samples into (images, labels, indices, meta), dropping SkippedSample markers.

    meta: int64 [3 + k + m] = [batch position in the epoch, status, k, k skipped sample indices, m message bytes];
    status 0 is a good batch, 4 a batch whose images were all undecodable, 1/2/3 a DataError/ConfigError/other
    error whose message follows; for 1-4 images/labels/indices are 1-element placeholders (zero-size arrays do
    not survive Paddle's shared-memory transfer). ClsDataLoader strips meta, drops placeholder batches and raises
    errors in the main process. Errors travel as values because an exception raised in Paddle's single-process
    loader thread leaves the main loop waiting forever.
    """

    def __init__(self, batch_ops=None, seed=0, rank=0, samples=None):
        self.batch_ops = batch_ops
        self.seed = int(seed)
        self.rank = int(rank)
        self.samples = samples  # the dataset's [(path, label)], to name files in errors

    def _name(self, index):
        return str(self.samples[index][0]) if self.samples is not None else f"sample {index}"

    @staticmethod
    def _empty(batch, status, skipped, message=""):
        meta = np.array([batch, status, len(skipped)] + list(skipped) + list(message.encode("utf-8")), np.int64)
        return np.zeros((1, 3, 1, 1), np.float32), np.zeros((1,), np.int64), np.full((1,), -1, np.int64), meta

    def __call__(self, items):
        batch = int(items[0].batch) if items and hasattr(items[0], "batch") else -1
        try:
            return self._collate(items)
        except Exception as exc:
            kind = "config" if isinstance(exc, ConfigError) else "data" if isinstance(exc, DataError) else "other"
            msg = str(exc) if kind != "other" else f"{type(exc).__name__}: {exc}"
            return self._empty(batch, _KIND_CODE[kind], [], msg)

    def check(self, items):
        """Collate `items` in this process, raising the error a loader would pass on (for a check before training)."""
        return self._collate(items)

    def _collate(self, items):
        for s in items:
            if isinstance(s, FailedSample):
                return self._empty(s.batch, _KIND_CODE[s.kind], [], s.message)
            if not isinstance(s, (Sample, SkippedSample)):
                raise DataError("collate got something that is not a Sample (use a dataset from "
                                "ppcls_lite.data.DATASETS with ResumableBatchSampler(keys=True))")
        good = [s for s in items if isinstance(s, Sample)]
        skipped = [int(s.index) for s in items if isinstance(s, SkippedSample)]
        epoch, batch = int(items[0].epoch), int(items[0].batch)
        if not good:
            return self._empty(batch, _KIND_CODE["empty"], skipped)
        shapes = {s.image.shape for s in good}
        if len(shapes) > 1:
            first = good[0]
            other = next(s for s in good if s.image.shape != first.image.shape)
            raise DataError(f"images in one batch have different shapes: {self._name(first.index)} is "
                            f"{list(first.image.shape)}, {self._name(other.index)} is {list(other.image.shape)}; "
                            "add ResizeImage / CropImage / RandCropImage to transform_ops")
        images = np.stack([s.image for s in good])
        if images.dtype != np.float16:
            images = images.astype(np.float32, copy=False)
        labels = np.array([s.label for s in good])  # class ids, or 0/1 vectors of a multi-label dataset
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64, copy=False)
        indices = np.array([s.index for s in good], dtype=np.int64)
        if self.batch_ops is not None:
            images, labels = self.batch_ops(images, labels, batch_rng(self.seed, epoch, batch, self.rank))
        meta = np.array([batch, 0, len(skipped)] + skipped, dtype=np.int64)
        return images, labels, indices, meta


class _WorkerInit:
    """In each worker: die with the parent (WorkerGuard), then seed numpy and `random` from (seed, epoch,
    worker id)."""

    def __init__(self, seed, sampler, guard=None):
        self.seed = seed
        self.sampler = sampler
        self.guard = guard

    def __call__(self, worker_id):
        if self.guard is not None:
            self.guard.in_worker()
        s = worker_seed(self.seed, self.sampler.epoch, worker_id)
        np.random.seed(s)
        random.seed(s)


class ClsDataLoader(paddle.io.DataLoader):
    """paddle.io.DataLoader yielding (images, labels, indices); records the files skipped as undecodable.

    Attributes: skipped_files (paths, in the order first seen), num_skipped (events, a file counts once per
    epoch it was met), position (batches of the current epoch consumed, including any batch that was entirely
    skipped; resume with batch_sampler.set_start_step(position)).

    lockstep: every rank must yield the same number of batches (data-parallel training, where each step is a
    collective). A batch whose images are all undecodable (on_bad_image: skip) is then a DataError naming its
    files and the rank, because dropping it on one rank only would leave the other ranks waiting for that rank
    at the next step. Without lockstep (one process, or evaluation, which gathers once at the end) it is
    dropped and counted.
    """

    def __init__(self, dataset, batch_sampler, collate_fn, num_workers=0, use_shared_memory=True,
                 worker_init_fn=None, lockstep=False, guard=None):
        self.guard = guard  # WorkerGuard, started before workers are forked
        super().__init__(dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, num_workers=num_workers,
                         use_shared_memory=use_shared_memory, worker_init_fn=worker_init_fn, return_list=True)
        self.lockstep = bool(lockstep)
        self.skipped_files = []
        self._skipped_set = set()
        self.num_skipped = 0
        self.position = 0

    def check_first(self, n=8):
        """Load and collate the first `n` samples here, in this process: a transform that cannot work on this data
        (a crop larger than the images, images of mixed sizes) is the same DataError now, before any training."""
        items = [self.dataset.load(i, 0, 0, False) for i in range(min(int(n), len(self.dataset)))]
        size = self.batch_sampler.batch_size
        for start in range(0, len(items), size):  # a batch of 1 may hold any size
            self.collate_fn.check(items[start:start + size])

    def first_batch(self):
        """The epoch's first batch, read, transformed, batch-op'ed and collated here in this process exactly as a
        worker would (no worker is started): (images, labels) as arrays. Errors raise as they would in training."""
        keys = next(iter(self.batch_sampler))
        items = [self.dataset.load(int(k.index), int(k.epoch), int(k.batch), bool(k.pad)) for k in keys]
        images, labels = self.collate_fn.check(items)[:2]
        return images, labels

    def set_epoch(self, epoch):
        self.batch_sampler.set_epoch(epoch)

    def set_start_step(self, step):
        self.batch_sampler.set_start_step(step)

    def __iter__(self):
        self.position = self.batch_sampler.start_step
        if self.guard is not None and self.num_workers > 0:
            self.guard.start()
        for images, labels, indices, meta in super().__iter__():
            meta = np.asarray(meta.numpy() if hasattr(meta, "numpy") else meta).reshape(-1)
            batch, status, k = int(meta[0]), int(meta[1]), int(meta[2])
            if status and status != _KIND_CODE["empty"]:
                message = bytes(int(v) for v in meta[3 + k:]).decode("utf-8", "replace")
                raise {1: DataError, 2: ConfigError}.get(status, RuntimeError)(message)
            self.position = batch + 1
            paths = [self.dataset.samples[int(i)][0] for i in meta[3:3 + k]]
            for path in paths:
                self.num_skipped += 1
                if path not in self._skipped_set:
                    self._skipped_set.add(path)
                    self.skipped_files.append(path)
            if status == _KIND_CODE["empty"]:  # every image of this batch was undecodable
                if self.lockstep:
                    raise DataError(self._empty_batch_message(batch, paths))
                continue
            yield images, labels, indices

    def _empty_batch_message(self, batch, paths):
        s = self.batch_sampler
        nranks, rank = getattr(s, "nranks", 1), getattr(s, "local_rank", 0)
        return (f"rank {rank} of {nranks}: every image of the batch at epoch {getattr(s, 'epoch', 0)}, iter {batch} "
                f"is undecodable (on_bad_image: skip): {', '.join(str(p) for p in paths)}; with data-parallel "
                "training a batch cannot be dropped on one rank only (the other ranks would wait for it at the "
                "next step); fix or remove these files, or use a larger batch_size")


def _as_dict(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping, got {type(value).__name__}")
    return dict(value)


def build_dataloader(section, mode, *, seed=0, class_num=None, epoch=0, start_step=0, num_replicas=None,
                     rank=None, lockstep=None):
    """ClsDataLoader from a PaddleClas `DataLoader.<mode>` section {dataset, sampler, loader}.

    lockstep (see ClsDataLoader): None means "more than one rank", right for training; pass False for a loop
    without per-batch collectives (evaluation), where a wholly undecodable batch may be dropped on one rank.
    """
    where = f"DataLoader.{mode}"
    section = _as_dict(section, where)
    unknown = sorted(set(section) - {"dataset", "sampler", "loader"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected dataset, sampler, loader")

    ds_cfg = _as_dict(section.get("dataset"), f"{where}.dataset")
    name = ds_cfg.pop("name", None)
    if name is None:
        raise ConfigError(f"{where}.dataset.name: missing (one of {', '.join(DATASETS)})")
    dataset = DATASETS.build(name, ds_cfg, f"{where}.dataset", name_in_path=False)
    dataset.seed = int(seed)

    # the config schema's own rules (a validated config passes them as it is; a section given by hand is
    # checked with the same messages)
    sp_cfg = check_fields(f"{where}.sampler", section.get("sampler"), S.SAMPLER)
    bs = sp_cfg["batch_size"]
    sampler = ResumableBatchSampler(dataset, bs, shuffle=sp_cfg["shuffle"], drop_last=sp_cfg["drop_last"],
                                    num_replicas=num_replicas, rank=rank, seed=seed, keys=True,
                                    balance=sp_cfg["balance"])
    if sampler.drop_last and len(sampler) == 0:
        raise ConfigError(f"{where}.sampler: drop_last with batch_size {bs} leaves no batch "
                          f"({sampler.num_samples} samples per rank)")
    sampler.set_epoch(epoch)
    sampler.set_start_step(start_step)

    batch_ops = build_batch_ops(dataset.batch_transform_ops, class_num, f"{where}.dataset.batch_transform_ops")

    ld_cfg = check_fields(f"{where}.loader", section.get("loader"), S.LOADER)
    workers, shm = ld_cfg["num_workers"], ld_cfg["use_shared_memory"]

    guard = WorkerGuard() if workers > 0 else None
    return ClsDataLoader(
        dataset, sampler, Collate(batch_ops, seed=seed, rank=sampler.local_rank, samples=dataset.samples),
        num_workers=workers, use_shared_memory=shm, worker_init_fn=_WorkerInit(int(seed), sampler, guard),
        lockstep=sampler.nranks > 1 if lockstep is None else lockstep, guard=guard,
    )
