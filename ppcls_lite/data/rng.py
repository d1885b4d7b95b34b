"""Explicit random streams for data augmentation.

Every random decision of the data pipeline draws from a numpy Generator derived from plain integers, never from
process-global state, so a sample looks the same whatever the number of workers, the order in which workers
finish, or whether the epoch was resumed half-way.

    sample_rng(seed, epoch, index)        per-sample transforms (index = position in the dataset)
    batch_rng(seed, epoch, batch, rank)   batch transforms (batch = position of the batch in the epoch)
    worker_seed(seed, epoch, worker_id)   seed for numpy / random inside a loader worker (belt and braces)
"""
import numpy as np

# Stream tags keep the three families of generators apart even when their integers coincide.
_SAMPLE, _BATCH, _WORKER, _SAMPLER = 0x5A3B1E, 0xBA7C4, 0x3017E5, 0x5A3713


def _key(*values):
    out = []
    for v in values:
        v = int(v)
        # SeedSequence wants non-negative entries; fold the sign into a separate word.
        out.extend((abs(v) & 0xFFFFFFFF, (abs(v) >> 32) & 0xFFFFFFFF, 1 if v < 0 else 0))
    return out


def make_rng(tag, *values):
    """A fresh PCG64 Generator keyed by `tag` and `values` (ints)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(_key(tag, *values))))


def sample_rng(seed, epoch, index):
    return make_rng(_SAMPLE, seed, epoch, index)


def batch_rng(seed, epoch, batch, rank=0):
    return make_rng(_BATCH, seed, epoch, batch, rank)


def sampler_rng(seed, epoch):
    return make_rng(_SAMPLER, seed, epoch)


def worker_seed(seed, epoch, worker_id):
    """A 32-bit seed for np.random.seed / random.seed inside a worker process."""
    ss = np.random.SeedSequence(_key(_WORKER, seed, epoch, worker_id))
    return int(ss.generate_state(1, dtype=np.uint32)[0])
