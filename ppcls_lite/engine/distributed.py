"""Thin helpers over paddle.distributed: world info, init, gathering numpy arrays across ranks."""
import numpy as np
import paddle
import paddle.distributed as dist


def world_info():
    """(world_size, rank) as set by paddle.distributed.launch (1, 0 when run plainly)."""
    return dist.get_world_size(), dist.get_rank()


def init_parallel_if_needed():
    """Initialise the collective environment (NCCL on GPU, gloo on CPU) when launched with >1 process."""
    world_size, rank = world_info()
    if world_size > 1 and not dist.is_initialized():
        dist.init_parallel_env()
    return world_size, rank


def all_gather_numpy(array):
    """Concatenate a numpy array (same trailing dims, any leading length) from every rank, in rank order."""
    world_size, _ = world_info()
    if world_size == 1:
        return array
    # all_gather needs equal shapes: pad to the longest leading length, then cut each piece back.
    length = paddle.to_tensor([array.shape[0]], dtype="int64")
    lengths = []
    dist.all_gather(lengths, length)
    lengths = [int(x.numpy()[0]) for x in lengths]
    padded = np.zeros((max(lengths),) + array.shape[1:], dtype=array.dtype)
    padded[: array.shape[0]] = array
    pieces = []
    dist.all_gather(pieces, paddle.to_tensor(padded))
    return np.concatenate([p.numpy()[:n] for p, n in zip(pieces, lengths)], axis=0)


def broadcast_flag(value):
    """Logical OR of a boolean over all ranks (e.g. 'stop requested' on any rank stops all)."""
    world_size, _ = world_info()
    if world_size == 1:
        return bool(value)
    t = paddle.to_tensor([1 if value else 0], dtype="int32")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.numpy()[0])


def broadcast_buffers(model, ema_shadow=None):
    """Data parallel: give every rank rank 0's non-trainable state (BatchNorm running statistics), and the same
    entries of an EMA shadow dict, as timm's distribute_bn does; a no-op with one process.

    DataParallel keeps the trainable weights identical across ranks, but each rank updates its running
    statistics on its own batches; only rank 0's are saved, so every rank must evaluate with those.
    """
    world_size, _ = world_info()
    if world_size == 1:
        return
    own = model._layers if isinstance(model, paddle.DataParallel) else model
    trainable = {n for n, p in own.named_parameters() if not p.stop_gradient}
    state = own.state_dict()
    with paddle.no_grad():
        for name, tensor in state.items():
            if name in trainable:
                continue
            dist.broadcast(tensor, src=0)
            if ema_shadow is not None and name in ema_shadow:
                dist.broadcast(ema_shadow[name], src=0)


def convert_sync_batchnorm(model, device):
    """Arch.use_sync_bn: every BatchNorm becomes SyncBatchNorm (statistics over all ranks); GPU only in Paddle."""
    from ..errors import ConfigError

    if device != "gpu":
        raise ConfigError(
            "Arch.use_sync_bn: SyncBatchNorm has no CPU kernel in Paddle; set it False for CPU (gloo) runs"
        )
    return paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
