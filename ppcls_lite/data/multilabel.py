"""PaddleClas's MultiLabelDataset: a list file of `relative/path.jpg<TAB>0,1,0,1` lines, one 0/1 entry per label.

A folder tree cannot say that an image has several labels, so the list file is the format (docs/data.md).
Label names come from a `label_list.txt` (`index name` lines) beside the list file, else "0".."C-1". Every line
is checked when the dataset is built -- a malformed line, a value other than 0 or 1, a vector of another length
than the first, a duplicate or a missing file is a DataError naming the file and line.
"""
import os

import numpy as np

from ..errors import DataError
from .datasets import ClassificationDataset, load_list_file, parse_list_file, read_label_list

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
        entries = load_list_file(cls_label_path, image_root, self.delimiter, **_vector_fields())
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


def _vector_fields():
    """parse_list_file's label reader for 0/1 vectors as wide as the first line's (a fresh one per file)."""
    width = []

    def vector(text):
        values = [v.strip() for v in text.split(",")]
        if any(v not in ("0", "1") for v in values):
            return None, f"labels {text!r} are not a comma-separated list of 0 and 1"
        if width and len(values) != width[0]:
            return None, f"{len(values)} labels, but the first line has {width[0]}"
        width[:] = width or [len(values)]
        return [int(v) for v in values], None

    return {"label": vector, "label_form": "0,1,0,..."}


def parse_multilabel_list(path, image_root, delimiter="\t"):
    """(entries [(file, [0/1, ...], line number)], problems [one line each]) of a multi-label list file: those of
    datasets.parse_list_file, with label fields that must be 0/1 vectors as wide as the first line's."""
    return parse_list_file(path, image_root, delimiter, **_vector_fields())
