"""Top-k predictions from an exported folder alone (its inference.yml gives preprocessing and labels): images are
decoded and preprocessed by a thread pool one batch ahead of the backend, so decoding overlaps inference."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data.datasets import read_and_transform
from ..data.image_io import ImageDecodeError
from ..data.transforms import build_transforms, five_crop_ops
from ..engine.predictor import list_images
from ..engine.predictor import multilabel_records
from ..engine.report import softmax
from ..errors import ConfigError, DataError, PpclsError
from .backends import make_backend
from .bundle import read_bundle


def image_paths(images):
    """Files of `images`: image files, folders (recursively, sorted) and .txt files listing one path per line."""
    paths = []
    for item in [images] if isinstance(images, str) else list(images):
        if item.endswith(".txt") and os.path.isfile(item):
            base = os.path.dirname(os.path.abspath(item))
            with open(item, encoding="utf-8") as f:
                listed = [line.split()[0] for line in f if line.strip()]
            paths.extend(p if os.path.isabs(p) else os.path.join(base, p) for p in listed)
        else:
            paths.extend(list_images(item))
    if not paths:
        raise DataError(f"--images: {images}: no image files")
    return paths


class BundlePredictor:
    """Iterate over one record per image: {'file', 'class_ids', 'scores', 'label_names'}, or, for an image skipped
    with on_bad_image='skip', {'file', 'error'} (also kept in `skipped`). tta='flip' also runs each image's
    mirror image, tta='five_crop' its crops at the centre and the four corners, and averages the outputs."""

    def __init__(self, model_dir, images, backend="auto", precision="fp32", device="cpu", threads=0,
                 batch_size=8, topk=None, on_bad_image="error", progress=False, tensorrt=False, tta=None):
        if tta not in (None, "flip", "five_crop"):
            raise ConfigError(f"--tta: flip or five_crop, got {tta!r}")
        self.tta = tta
        if on_bad_image not in ("error", "skip"):
            raise ConfigError(f"--on-bad-image: error or skip, got {on_bad_image!r}")
        if int(batch_size) < 1:
            raise ConfigError(f"--batch-size: at least 1, got {batch_size}")
        if topk is not None and int(topk) < 1:
            raise ConfigError(f"--topk: at least 1, got {topk}")
        if int(threads) < 0:
            raise ConfigError(f"--threads: 0 (all cores) or more, got {threads}")
        self.bundle = read_bundle(model_dir)
        self.paths = image_paths(images)
        where = f"{model_dir}/inference.yml PreProcess"
        self.transform = build_transforms(self.bundle.transform_ops, where)
        # the views of each image: itself, or its crops at the centre and the four corners
        self.views = [build_transforms(ops, where) for ops in five_crop_ops(self.bundle.transform_ops, where)] \
            if tta == "five_crop" else [self.transform]
        self.run = make_backend(self.bundle.prefix, backend, precision, device, threads, tensorrt)
        self.batch_size, self.topk = int(batch_size), int(topk or self.bundle.topk)
        self.on_bad_image, self.progress, self.threads = on_bad_image, progress, threads or os.cpu_count() or 1
        self.skipped = []

    def _load(self, path):
        try:
            return [read_and_transform(path, view) for view in self.views], None
        except ImageDecodeError as exc:
            if self.on_bad_image == "skip":
                return None, str(exc)
            raise

    def __iter__(self):
        batches = [self.paths[i:i + self.batch_size] for i in range(0, len(self.paths), self.batch_size)]
        done = 0
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            pending = [pool.submit(self._load, p) for p in batches[0]] if batches else []
            for index, batch in enumerate(batches):
                current = pending
                pending = [pool.submit(self._load, p) for p in batches[index + 1]] if index + 1 < len(batches) else []
                kept, arrays, failure, skipped = [], [], None, []
                for path, future in zip(batch, current):
                    try:
                        array, reason = future.result()
                    except PpclsError as exc:  # the images before it are still reported
                        failure = exc
                        break
                    if reason is not None:
                        skipped.append((path, reason))
                        continue
                    if arrays and array[0].shape != arrays[0][0].shape:
                        failure = DataError(f"{path}: preprocessed to shape {list(array[0].shape)} but {kept[0]} "
                                            f"to {list(arrays[0][0].shape)}; the bundle's PreProcess must give one "
                                            "size")
                        break
                    kept.append(path)
                    arrays.append(array)
                if arrays:
                    yield from self._records(kept, [np.stack([a[v] for a in arrays]) for v in range(len(self.views))])
                for path, reason in skipped:
                    self.skipped.append((path, reason))
                    yield {"file": path, "error": reason}
                if failure is not None:
                    for future in pending:
                        future.cancel()
                    raise failure
                done += len(batch)
                if self.progress:
                    sys.stderr.write(f"\rpredict {done}/{len(self.paths)} images" +
                                     ("\n" if done == len(self.paths) else ""))
                    sys.stderr.flush()

    def _records(self, paths, views):
        # the mean output (logits, or probabilities) over the views, and over the mirror images with flip
        out = np.mean([self.run(batch).astype("float32") for batch in views], axis=0)
        if self.tta == "flip":
            out = (out + self.run(np.ascontiguousarray(views[0][..., ::-1])).astype("float32")) / 2
        if self.bundle.threshold is not None:  # multi-label: sigmoid scores, the labels that reach the threshold
            names = dict(enumerate(self.bundle.label_list))
            yield from multilabel_records(paths, out, self.bundle.threshold, names)
            return
        probs = out if self.bundle.output == "probabilities" else softmax(out, self.bundle.temperature)
        k = min(self.topk, probs.shape[-1])
        ids = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        labels = self.bundle.label_list
        for path, row, top in zip(paths, probs, ids):
            yield {"file": path, "class_ids": [int(i) for i in top],
                   "scores": [round(float(row[i]), 6) for i in top],
                   "label_names": [labels[i] if i < len(labels) else str(i) for i in top]}
