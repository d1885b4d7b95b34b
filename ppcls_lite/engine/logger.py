"""Console/file logging and the VisualDL writer; only rank 0 writes, other ranks stay quiet."""
import logging
import os
import sys

LOGGER_NAME = "ppcls_lite"


def setup_logger(output_dir=None, rank=0, filename="train.log"):
    """Configure the 'ppcls_lite' logger: console + output_dir/filename on rank 0, warnings only elsewhere."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s: %(message)s", datefmt="%Y/%m/%d %H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if rank == 0:
        logger.setLevel(logging.INFO)
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
            fh = logging.FileHandler(os.path.join(output_dir, filename), encoding="utf-8")
            fh.setFormatter(fmt)
            logger.addHandler(fh)
    else:
        logger.setLevel(logging.ERROR)
    return logger


class VisualDLWriter:
    """Thin wrapper over visualdl.LogWriter that does nothing when disabled (non-zero rank or turned off)."""

    def __init__(self, logdir, enabled=True):
        self._writer = None
        if enabled:
            from visualdl import LogWriter

            os.makedirs(logdir, exist_ok=True)
            self._writer = LogWriter(logdir=logdir)

    @property
    def enabled(self):
        return self._writer is not None

    @property
    def writer(self):
        """The visualdl.LogWriter (None when disabled)."""
        return self._writer

    def scalars(self, prefix, values, step):
        """Log {name: number} as '<prefix>/<name>' scalars at `step`."""
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(tag=f"{prefix}/{name}", value=float(value), step=step)

    def image(self, tag, img_hwc_uint8, step=0):
        """Log one HWC uint8 image."""
        if self._writer is not None:
            self._writer.add_image(tag=tag, img=img_hwc_uint8, step=step)

    def text(self, tag, text, step=0):
        """Log a text record (e.g. the config)."""
        if self._writer is not None:
            self._writer.add_text(tag=tag, text_string=text, step=step)

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def image_grid(batch_nchw, mean, std, max_images=16):
    """Undo normalisation of a float NCHW batch and tile up to max_images into one HWC uint8 RGB grid."""
    import numpy as np

    imgs = np.asarray(batch_nchw[:max_images], dtype="float32").transpose(0, 2, 3, 1)
    # RGB of a 4-channel input (PaddleClas's extra channel is zeros); a one-channel input shown as gray
    keep = 3 if imgs.shape[-1] >= 3 else 1
    mean, std = np.asarray(mean, "float32").reshape(-1)[:keep], np.asarray(std, "float32").reshape(-1)[:keep]
    imgs = imgs[..., :keep] * std + mean
    imgs = np.clip(imgs * 255.0, 0, 255).astype("uint8")
    if keep == 1:
        imgs = np.repeat(imgs, 3, axis=-1)
    n, h, w, c = imgs.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), dtype="uint8")
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = imgs[i]
    return grid
