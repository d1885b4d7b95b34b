"""Classification datasets: PaddleClas list files (ImageNetDataset) and class-per-folder trees (ImageFolder).

Both check everything that can be checked without decoding (files exist, labels are integers, no duplicates,
no empty class) when they are built, and raise DataError naming the file and line. Decoding happens per sample;
an undecodable image either raises DataError naming the file (on_bad_image='error') or is dropped and counted
(on_bad_image='skip'): the dataset returns a SkippedSample marker that the loader's collate filters out.

Indexing: `ds[i]` or `ds[SampleKey(i, epoch, batch, pad)]` -> Sample(image CHW, label, index, epoch, batch, pad);
the random augmentation of sample i in epoch e always comes from rng.sample_rng(ds.seed, e, i).
"""
import os
import re
from collections import namedtuple

import numpy as np
import paddle

from ..errors import ConfigError, DataError, PpclsError
from ..registry import Registry
from .rng import sample_rng
from .constants import IMG_EXTENSIONS
from .image_io import ImageDecodeError
from .transforms import build_transforms

__all__ = ["DATASETS", "ImageNetDataset", "ImageFolder", "check_same_classes", "relabel_by_names", "SampleKey",
           "Sample", "SkippedSample", "FailedSample", "IMG_EXTENSIONS", "read_and_transform"]


SampleKey = namedtuple("SampleKey", "index epoch batch pad")
SampleKey.__doc__ = "What the batch sampler hands the dataset: sample index, epoch, batch position, padding flag."
Sample = namedtuple("Sample", "image label index epoch batch pad")
SkippedSample = namedtuple("SkippedSample", "index path reason epoch batch")
# An error met while loading inside a DataLoader, passed on as a value: an exception raised in Paddle's
# single-process loader thread would kill the thread and leave the training loop waiting forever.
FailedSample = namedtuple("FailedSample", "index kind message epoch batch")

_INT = re.compile(r"[+-]?\d+")


class ClassificationDataset(paddle.io.Dataset):
    """Shared machinery: samples [(path, label)], class names, transforms, bad-image policy."""

    def __init__(self, transform_ops=None, on_bad_image="error", batch_transform_ops=None):
        super().__init__()
        if on_bad_image not in ("error", "skip"):
            raise ConfigError(f"on_bad_image: must be 'error' or 'skip', got {on_bad_image!r}")
        self.on_bad_image = on_bad_image
        self.transform = build_transforms(transform_ops, where="transform_ops")
        self.batch_transform_ops = batch_transform_ops  # built by the loader, which knows class_num
        self.seed = 0
        self.epoch = 0
        self.samples = []
        self.class_names = []
        self.names_from = "labels"  # 'folders', 'label_list', 'labels' or 'given'
        self.source = ""
        self.skipped = []  # files skipped in this process (workers keep their own; the loader gathers them)

    # -- introspection -------------------------------------------------------------------------------------
    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def images(self):
        return [p for p, _ in self.samples]

    @property
    def labels(self):
        return [lab for _, lab in self.samples]

    def __len__(self):
        return len(self.samples)

    def __repr__(self):
        return (f"{type(self).__name__}({self.source!r}, {len(self)} samples, {self.num_classes} classes, "
                f"on_bad_image={self.on_bad_image!r})")

    # -- loading -------------------------------------------------------------------------------------------
    def __getitem__(self, key):
        if not isinstance(key, SampleKey):
            return self.load(int(key), self.epoch)
        try:
            return self.load(int(key.index), int(key.epoch), int(key.batch), bool(key.pad))
        except Exception as exc:  # inside a loader: hand the error to the main process as a value
            kind = "config" if isinstance(exc, ConfigError) else "data" if isinstance(exc, DataError) else "other"
            msg = str(exc) if isinstance(exc, PpclsError) else f"{type(exc).__name__}: {exc}"
            return FailedSample(int(key.index), kind, msg, int(key.epoch), int(key.batch))

    def load(self, index, epoch=0, batch=-1, pad=False):
        """Read, decode and transform sample `index` with the augmentation of `epoch` -> Sample (or SkippedSample
        for an undecodable image with on_bad_image='skip')."""
        if not 0 <= index < len(self.samples):
            raise IndexError(f"sample index {index} out of range for {len(self.samples)} samples")
        path, label = self.samples[index]
        try:
            img = read_and_transform(path, self.transform, sample_rng(self.seed, epoch, index))
        except ImageDecodeError as exc:
            if self.on_bad_image != "skip":
                raise
            self.skipped.append(path)
            return SkippedSample(index, path, str(exc), epoch, batch)
        return Sample(img, label, index, epoch, batch, pad)


def read_and_transform(path, transform, rng=None):
    """Read, decode and transform one image file -> contiguous CHW array.

    Every error starts with the file's path: ImageDecodeError for a file that is not a readable image (what
    on_bad_image='skip' may skip), DataError / ConfigError for the rest (unreadable file, a transform failing).
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    try:
        img = transform(data, rng)
    except PpclsError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:  # a transform failed on this image: name the file and the cause
        raise DataError(f"{path}: transform failed ({type(exc).__name__}: {exc})") from None
    if transform.out_layout == "hwc":  # PaddleClas datasets hand CHW to the model
        img = img.transpose(2, 0, 1)
    return np.ascontiguousarray(img)


def read_label_list(path):
    """`index name` lines -> list of names (index 0..C-1, each once)."""
    names = {}
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            parts = line.split(None, 1)
            if len(parts) != 2 or not _INT.fullmatch(parts[0]):
                raise DataError(f"{path}:{lineno}: malformed line {line!r}: expected '<index> <class name>'")
            idx = int(parts[0])
            if idx < 0:
                raise DataError(f"{path}:{lineno}: negative class index {idx}")
            if idx in names:
                raise DataError(f"{path}:{lineno}: class index {idx} listed twice")
            names[idx] = parts[1].strip()
    if not names:
        raise DataError(f"{path}: no classes listed")
    missing = sorted(set(range(len(names))) - set(names))
    if missing:
        raise DataError(f"{path}: class indices must be 0..{len(names) - 1}; missing {missing[:5]}")
    return [names[i] for i in range(len(names))]


class ImageNetDataset(ClassificationDataset):
    """PaddleClas list file: one `relative/path.jpg<delimiter><label>` per line, paths relative to image_root.

    Class names come from a `label_list.txt` (`index name` lines) next to the list file when present, else
    "0".."C-1" with C = max label + 1. relabel=True maps the sorted distinct labels onto 0..K-1.
    """

    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter=" ", relabel=False,
                 on_bad_image="error", batch_transform_ops=None):
        super().__init__(transform_ops, on_bad_image, batch_transform_ops)
        self.image_root = image_root
        self.cls_label_path = cls_label_path
        self.delimiter = delimiter if delimiter is not None else " "
        self.relabel = bool(relabel)
        self.source = cls_label_path
        entries = load_list_file(cls_label_path, image_root, self.delimiter)
        labels = [lab for _, lab, _ in entries]
        label_list = os.path.join(os.path.dirname(os.path.abspath(cls_label_path)), "label_list.txt")
        names = read_label_list(label_list) if os.path.isfile(label_list) else None
        if self.relabel:
            distinct = sorted(set(labels))
            remap = {old: new for new, old in enumerate(distinct)}
            if names is not None:
                self._check_range(entries, len(names), label_list)
                names = [names[old] for old in distinct]
            else:
                names = [str(old) for old in distinct]
            entries = [(p, remap[lab], n) for p, lab, n in entries]
            self.names_from = "label_list" if os.path.isfile(label_list) else "labels"
        elif names is not None:
            self._check_range(entries, len(names), label_list)
            self.names_from = "label_list"
        else:
            names = [str(i) for i in range(max(labels) + 1)]
            self.names_from = "labels"
        self.class_names = names
        self.samples = [(p, lab) for p, lab, _ in entries]

    def _check_range(self, entries, num_classes, label_list):
        for _, lab, lineno in entries:
            if lab >= num_classes:
                raise DataError(f"{self.cls_label_path}:{lineno}: label {lab} is out of range: {label_list} "
                                f"lists {num_classes} classes")


def _integer_label(text):
    """(label, None) for a non-negative integer, else (None, why)."""
    if not _INT.fullmatch(text):
        return None, f"label {text!r} is not an integer"
    if int(text) < 0:
        return None, f"negative label {int(text)}"
    return int(text), None


def parse_list_file(path, image_root, delimiter=" ", label=_integer_label, label_form="<label>"):
    """(entries [(file, label, line number)], problems [one line each, 'path:line: ...']) of a PaddleClas list
    file: malformed lines, bad labels, duplicate entries and missing image files. `label(text)` reads the last
    field -> (value, None) or (None, why) (default: a non-negative integer); `label_form` shows it in the
    malformed-line message."""
    delim = delimiter if delimiter is not None else " "
    shown = {" ": "<space>", "\t": "<tab>"}.get(delim, repr(delim))
    entries, seen, problems = [], {}, []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        # the label is the last field; ' ' (the default) splits on any whitespace run
        parts = line.rsplit(None, 1) if delim == " " else line.rsplit(delim, 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            problems.append(f"{path}:{lineno}: malformed line {line!r}: expected '<image path>{shown}{label_form}'")
            continue
        rel = parts[0].strip()
        value, why = label(parts[1].strip())
        if why is not None:
            problems.append(f"{path}:{lineno}: {why}")
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
        entries.append((full, value, lineno))
    return entries, problems


def load_list_file(path, image_root, delimiter=" ", **parse):
    """The entries of a dataset's list file (parse_list_file's, `parse` passed on); a missing file or folder, a
    problem (the first, and how many more) or no entry at all is a DataError."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: list file not found")
    if not os.path.isdir(image_root):
        raise DataError(f"{image_root}: image_root is not a directory (list file {path})")
    entries, problems = parse_list_file(path, image_root, delimiter, **parse)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s) in this file)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    if not entries:
        raise DataError(f"{path}: empty dataset (no samples listed)")
    return entries


class ImageFolder(ClassificationDataset):
    """Class-per-subfolder tree `root/<class>/**/<image>`; classes sorted by name (or as `class_names` gives).

    Only files with an image extension count (case-insensitive: .jpg .jpeg .png .bmp .webp .tif .tiff .ppm .pgm
    .pbm .gif); hidden files and folders are ignored. With class_names, folders not listed are ignored.
    """

    def __init__(self, root, transform_ops=None, on_bad_image="error", class_names=None, batch_transform_ops=None):
        super().__init__(transform_ops, on_bad_image, batch_transform_ops)
        self.root = root
        self.source = root
        if not os.path.isdir(root):
            raise DataError(f"{root}: dataset folder not found")
        folders = sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
        if class_names is not None:
            if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
                raise ConfigError(f"class_names: must be a list of folder names, got {class_names!r}")
            dup = sorted({c for c in class_names if list(class_names).count(c) > 1})
            if dup:
                raise ConfigError(f"class_names: lists {dup} more than once")
            missing = [c for c in class_names if c not in folders]
            if missing:
                raise DataError(f"{os.path.join(root, missing[0])}: class folder not found "
                                f"(class_names lists {len(missing)} missing folder(s): {missing[:5]})")
            classes = list(class_names)
            self.names_from = "given"
        else:
            classes = folders
            self.names_from = "folders"
        if not classes:
            raise DataError(f"{root}: empty dataset (no class folders)")
        samples = []
        for label, name in enumerate(classes):
            files = _list_images(os.path.join(root, name))
            if not files:
                raise DataError(f"{os.path.join(root, name)}: class folder has no images "
                                f"(extensions {', '.join(IMG_EXTENSIONS)})")
            samples.extend((p, label) for p in files)
        self.class_names = classes
        self.samples = samples


def _list_images(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if not fn.startswith(".") and fn.lower().endswith(IMG_EXTENSIONS):
                out.append(os.path.join(dirpath, fn))
    return out


def check_same_classes(train_ds, val_ds):
    """Raise DataError when train and val disagree on the classes (naming the differing class folders)."""
    a, b = list(train_ds.class_names), list(val_ds.class_names)
    if a == b:
        return
    if "labels" in (train_ds.names_from, val_ds.names_from):
        # names are just label numbers: val may cover fewer classes, never more
        if val_ds.num_classes <= train_ds.num_classes and a[:len(b)] == b:
            return
        raise DataError(f"{val_ds.source}: labels go up to {val_ds.num_classes - 1} but {train_ds.source} "
                        f"has {train_ds.num_classes} classes")
    only_train = [c for c in a if c not in set(b)]
    only_val = [c for c in b if c not in set(a)]
    if not only_train and not only_val:
        raise DataError(f"{val_ds.source}: same classes as {train_ds.source} but in a different order "
                        f"(first difference at label {next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)})")
    parts = []
    if only_train:
        parts.append(f"only in {train_ds.source}: {', '.join(only_train[:10])}"
                     + (f" (+{len(only_train) - 10} more)" if len(only_train) > 10 else ""))
    if only_val:
        parts.append(f"only in {val_ds.source}: {', '.join(only_val[:10])}"
                     + (f" (+{len(only_val) - 10} more)" if len(only_val) > 10 else ""))
    raise DataError("train and val classes differ: " + "; ".join(parts))


def relabel_by_names(dataset, class_names, model_source="the model"):
    """Map a dataset's labels onto a model's label list by class name (in place).

    A dataset whose names are only label numbers (a list file without label_list.txt) is taken to use the
    model's numbering; its labels must then fit. A class the model does not know is a DataError naming it.
    """
    class_names = [str(n) for n in class_names]
    if dataset.names_from == "labels":
        if dataset.num_classes > len(class_names):
            raise DataError(f"{dataset.source}: labels go up to {dataset.num_classes - 1} but {model_source} "
                            f"has {len(class_names)} classes")
        dataset.class_names = class_names
        return
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [n for n in dataset.class_names if n not in index]
    if unknown:
        raise DataError(f"{dataset.source}: class(es) {', '.join(unknown[:5])}"
                        f"{f' (+{len(unknown) - 5} more)' if len(unknown) > 5 else ''} are not among the "
                        f"{len(class_names)} classes of {model_source} ({', '.join(class_names[:10])}"
                        f"{', ...' if len(class_names) > 10 else ''})")
    remap = [index[n] for n in dataset.class_names]
    dataset.samples = [(p, remap[lab]) for p, lab in dataset.samples]
    dataset.class_names = class_names
    dataset.names_from = "given"


DATASETS = Registry("dataset", {"ImageNetDataset": ImageNetDataset, "ImageFolder": ImageFolder})
