"""PaddleClas's MultiLabelDataset: a list file of `relative/path.jpg<TAB>0,1,0,1` lines, one 0/1 entry per label.

A folder tree cannot say that an image has several labels, so the list file is the format (docs/data.md).
Label names come from a `label_list.txt` (`index name` lines) beside the list file, else "0".."C-1". Every line
is checked when the dataset is built -- a malformed line, a value other than 0 or 1, a vector of another length
than the first, a duplicate or a missing file is a DataError naming the file and line.
"""
import os

import numpy as np

from ..errors import DataError
from .datasets import ClassificationDataset, read_label_list

__all__ = ["MultiLabelDataset", "parse_multilabel_list"]


class MultiLabelDataset(ClassificationDataset):
    """Samples (path, float32 [C] 0/1 vector); `labels` is their [N, C] matrix."""

    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter="\t", label_ratio=False,
                 on_bad_image="error", batch_transform_ops=None):
        super().__init__(transform_ops, on_bad_image, batch_transform_ops)
        if label_ratio:
            raise ValueError("label_ratio: the attribute weighting of PaddleClas's attribute datasets is not "
                             "supported; leave it false")
        if batch_transform_ops:
            raise ValueError("batch_transform_ops: Mixup / CutMix mix one label per image; a multi-label dataset "
                             "takes none")
        self.image_root = image_root
        self.cls_label_path = cls_label_path
        self.delimiter = "\t" if delimiter is None else delimiter
        self.source = cls_label_path
        if not os.path.isfile(cls_label_path):
            raise DataError(f"{cls_label_path}: list file not found")
        if not os.path.isdir(image_root):
            raise DataError(f"{image_root}: image_root is not a directory (list file {cls_label_path})")
        entries, problems = parse_multilabel_list(cls_label_path, image_root, self.delimiter)
        if problems:
            more = f" (and {len(problems) - 1} more problem(s) in this file)" if len(problems) > 1 else ""
            raise DataError(problems[0] + more)
        if not entries:
            raise DataError(f"{cls_label_path}: empty dataset (no samples listed)")
        width = len(entries[0][1])
        label_list = os.path.join(os.path.dirname(os.path.abspath(cls_label_path)), "label_list.txt")
        if os.path.isfile(label_list):
            names = read_label_list(label_list)
            if len(names) != width:
                raise DataError(f"{label_list}: lists {len(names)} labels but {cls_label_path} has {width} per line")
            self.names_from = "label_list"
        else:
            names = [str(i) for i in range(width)]
        self.class_names = names
        self.samples = [(p, np.asarray(v, "float32")) for p, v, _ in entries]

    @property
    def label_matrix(self):
        """float32 [N, C]: every sample's 0/1 labels."""
        return np.stack([lab for _, lab in self.samples])


def parse_multilabel_list(path, image_root, delimiter="\t"):
    """(entries [(file, [0/1, ...], line number)], problems [one line each]) of a multi-label list file."""
    entries, seen, problems, width = [], {}, [], None
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    shown = "<tab>" if delimiter == "\t" else "<space>" if delimiter == " " else repr(delimiter)
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.rsplit(None, 1) if delimiter == " " else line.rsplit(delimiter, 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            problems.append(f"{path}:{lineno}: malformed line {line!r}: expected '<image path>{shown}0,1,0,...'")
            continue
        rel, text = parts[0].strip(), parts[1].strip()
        values = [v.strip() for v in text.split(",")]
        if any(v not in ("0", "1") for v in values):
            problems.append(f"{path}:{lineno}: labels {text!r} are not a comma-separated list of 0 and 1")
            continue
        if width is None:
            width = len(values)
        elif len(values) != width:
            problems.append(f"{path}:{lineno}: {len(values)} labels, but the first line has {width}")
            continue
        full = os.path.join(image_root, rel)
        norm = os.path.normpath(full)
        if norm in seen:
            problems.append(f"{path}:{lineno}: duplicate entry {rel!r} (first on line {seen[norm]})")
            continue
        seen[norm] = lineno
        if not os.path.isfile(full):
            problems.append(f"{path}:{lineno}: image file not found: {full}")
            continue
        entries.append((full, [int(v) for v in values], lineno))
    return entries, problems
