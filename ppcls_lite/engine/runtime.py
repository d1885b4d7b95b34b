"""Process runtime: device choice, CPU threads, and per-step seeds."""
import hashlib
import os
from dataclasses import dataclass

import paddle


@dataclass
class Device:
    """The device training runs on, and a message when the config asked for one that is not there."""

    name: str
    message: str = ""


def configure_runtime(global_cfg):
    """Select Global.device (falling back to CPU with a message) and give CPU dygraph all cores by default."""
    wanted = str(global_cfg.get("device", "cpu") or "cpu").lower()
    message = ""
    if wanted == "gpu" and not paddle.device.is_compiled_with_cuda():
        message = "Global.device is 'gpu' but this Paddle build has no CUDA: running on CPU"
        wanted = "cpu"
    elif wanted not in ("cpu", "gpu"):
        message = f"Global.device '{wanted}' is not supported here: running on CPU"
        wanted = "cpu"
    if wanted == "gpu":
        local_rank = int(os.environ.get("PADDLE_LOCAL_RANK", os.environ.get("FLAGS_selected_gpus", "0")).split(",")[0])
        paddle.set_device(f"gpu:{local_rank}")
    else:
        paddle.set_device("cpu")
        threads = int(global_cfg.get("num_threads", 0) or 0)
        if threads <= 0:
            # Under a multi-process CPU launch, share the cores instead of oversubscribing them.
            procs = max(int(os.environ.get("PADDLE_LOCAL_SIZE", os.environ.get("PADDLE_TRAINERS_NUM", "1"))), 1)
            threads = max((os.cpu_count() or 1) // procs, 1)
        # Paddle's CPU dygraph runs one thread unless told otherwise.
        paddle.base.core.set_num_threads(threads)
    return Device(wanted, message)


def step_seed(seed, rank, global_step):
    """A 32-bit seed for (seed, rank, global step): dropout/drop-path randomness independent of history,
    so a resumed run draws exactly what the uninterrupted run drew."""
    digest = hashlib.sha256(f"{seed}:{rank}:{global_step}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
