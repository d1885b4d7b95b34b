"""Inference over image files: top-k class ids, scores and label names."""
import os
import sys

import numpy as np
import paddle
import paddle.nn.functional as F

from ..data.datasets import IMG_EXTENSIONS, read_and_transform
from ..data.image_io import ImageDecodeError
from ..errors import ConfigError, DataError, PpclsError
from .model_input import model_input

def list_images(path):
    """One image file, every image file under a folder (recursively, sorted), or the same for a list of them."""
    if isinstance(path, (list, tuple)):
        return [p for item in path for p in list_images(item)]
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such image file or folder")
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMG_EXTENSIONS))
    if not found:
        raise DataError(f"{path}: no image files ({', '.join(IMG_EXTENSIONS)}) found")
    return found


def read_label_names(path, key="--label-list"):
    """PaddleClas class_id_map / label_list file ('<id> <name>' per line) -> {id: name}; `key` names the setting."""
    if not os.path.isfile(path):
        hint = (" (a path in PaddleClas's source tree? give this project's label list, or null for ids only)"
                if "ppcls" in path else "")
        raise ConfigError(f"{key}: file not found: {path}{hint}")
    names = {}
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"{key}: cannot read {path}: {e.strerror or e}") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if not parts[0].lstrip("-").isdigit():
                raise DataError(f"{path}:{lineno}: expected '<class id> <name>', got {line.strip()!r}")
            names[int(parts[0])] = parts[1] if len(parts) > 1 else parts[0]
    return names


def predict_files(model, paths, transform, batch_size=8, topk=5, label_names=None, progress=False,
                  on_bad_image="error", skipped=None, temperature=1.0, threshold=None):
    """Yield {'file', 'class_ids', 'scores', 'label_names'} per image, in order, batch by batch; with
    `threshold` (a multi-label model) the labels whose sigmoid score reaches it, best first (PaddleClas's
    MultiLabelThreshOutput, >=), and 'all_scores', every label's.

    An image that cannot be decoded is a DataError naming it, raised after the records of every image before
    it; with on_bad_image='skip' it is left out and (path, reason) appended to `skipped`. Images the transforms
    leave at different sizes within one batch are a DataError naming two of them. Scores are
    softmax(logits / temperature) (tools/eval.py --calibrate fits one).
    """
    model.eval()
    label_names = label_names or {}
    for start in range(0, len(paths), batch_size):
        kept, arrays, failure, first_shape = [], [], None, None
        for p in paths[start:start + batch_size]:
            try:
                img = read_and_transform(p, transform)
            except PpclsError as exc:  # named by its path; the images before it are still reported
                if on_bad_image != "skip" or not isinstance(exc, ImageDecodeError):
                    failure = exc
                    break
                if skipped is not None:
                    skipped.append((p, str(exc)))
                continue
            if first_shape is None:
                first_shape = (p, img.shape)
            elif img.shape != first_shape[1]:
                failure = DataError(f"{p}: preprocessed to shape {list(img.shape)} but {first_shape[0]} to "
                                    f"{list(first_shape[1])}; the inference transforms must give every image "
                                    "one size (add ResizeImage / CropImage)")
                break
            kept.append(p)
            arrays.append(img)
        if arrays:
            yield from _predict_batch(model, kept, arrays, topk, label_names, temperature, threshold)
        if failure is not None:
            raise failure
        if progress:
            done = min(start + batch_size, len(paths))
            sys.stderr.write(f"\rinfer {done}/{len(paths)} images")
            sys.stderr.write("\n" if done == len(paths) else "")
            sys.stderr.flush()


def multilabel_records(paths, scores, threshold, label_names):
    """PaddleClas's MultiLabelThreshOutput records of sigmoid `scores` [N, C]: the labels above `threshold`."""
    for p, s in zip(paths, np.asarray(scores, "float32")):
        ids = [int(c) for c in np.argsort(-s, kind="mergesort") if s[c] >= threshold]
        yield {"file": p, "class_ids": ids, "scores": [round(float(s[c]), 6) for c in ids],
               "label_names": [label_names.get(c, "") for c in ids],
               "all_scores": [round(float(x), 6) for x in s]}


def _predict_batch(model, paths, arrays, topk, label_names, temperature=1.0, threshold=None):
    with paddle.no_grad():
        logits = model(model_input(paddle.to_tensor(np.stack(arrays).astype("float32")), model))
        if isinstance(logits, (list, tuple)):
            logits = paddle.stack(list(logits)).mean(0)
        if threshold is not None:
            yield from multilabel_records(paths, F.sigmoid(logits.astype("float32")).numpy(), threshold,
                                          label_names)
            return
        probs = F.softmax(logits.astype("float32") / float(temperature), axis=-1)
        k = min(topk, probs.shape[-1])
        scores, ids = paddle.topk(probs, k=k, axis=-1)
    for p, s, i in zip(paths, scores.numpy(), ids.numpy()):
        ids_list = [int(x) for x in i]
        yield {"file": p, "class_ids": ids_list, "scores": [round(float(x), 6) for x in s],
               "label_names": [label_names.get(c, "") for c in ids_list]}
