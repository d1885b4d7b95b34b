"""Inference over image files: top-k class ids, scores and label names."""
import os
import sys

import numpy as np
import paddle
import paddle.nn.functional as F

from ..errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def list_images(path):
    """One image file, or every image file under a folder (recursively, sorted)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such image file or folder")
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not found:
        raise DataError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
    return found


def read_label_names(path):
    """PaddleClas class_id_map / label_list file ('<id> <name>' per line) -> {id: name}."""
    names = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if not parts[0].lstrip("-").isdigit():
                raise DataError(f"{path}:{lineno}: expected '<class id> <name>', got {line.strip()!r}")
            names[int(parts[0])] = parts[1] if len(parts) > 1 else parts[0]
    return names


def predict_files(model, paths, transform, batch_size=8, topk=5, label_names=None, progress=False):
    """Yield {'file', 'class_ids', 'scores', 'label_names'} per image, in order, batch by batch."""
    model.eval()
    label_names = label_names or {}
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        batch = []
        for p in chunk:
            with open(p, "rb") as f:
                data = f.read()
            batch.append(transform(data, None))
        with paddle.no_grad():
            logits = model(paddle.to_tensor(np.stack(batch).astype("float32")))
            if isinstance(logits, (list, tuple)):
                logits = paddle.stack(list(logits)).mean(0)
            probs = F.softmax(logits.astype("float32"), axis=-1)
            k = min(topk, probs.shape[-1])
            scores, ids = paddle.topk(probs, k=k, axis=-1)
        for p, s, i in zip(chunk, scores.numpy(), ids.numpy()):
            ids_list = [int(x) for x in i]
            yield {"file": p, "class_ids": ids_list, "scores": [round(float(x), 6) for x in s],
                   "label_names": [label_names.get(c, "") for c in ids_list]}
        if progress:
            done = min(start + batch_size, len(paths))
            sys.stderr.write(f"\rinfer {done}/{len(paths)} images")
            sys.stderr.write("\n" if done == len(paths) else "")
            sys.stderr.flush()
