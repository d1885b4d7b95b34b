"""A data check before training (tools/check_data.py): every file of the training and validation sets decoded by
the pipeline's own decoder, and the problems that would hurt training listed, all of them, each naming its file:

  * undecodable or truncated images; images smaller than the crop (`min_size`);
  * empty class folders, train / val class sets that differ, list-file lines that are malformed, missing or
    duplicated, labels beyond the class count;
  * exact duplicates (same bytes) and near duplicates (64-bit difference hash within `max_distance` bits, then
    confirmed by a 16 x 16 grey thumbnail differing by at most `max_mad` grey levels on average: the hash alone
    pairs unrelated smooth 32 px images), within a split and across train / val -- the latter leak the
    validation set into training;
  * class imbalance (largest / smallest class), with the class weights CELoss's `class_weights: balanced` uses.

`problems` (what would hurt training: exit 1) and `warnings` (worth a look) are lists of one-line strings.
"""
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import DataError
from .constants import IMG_EXTENSIONS
from .datasets import parse_list_file, read_label_list
from .image_io import ImageDecodeError, decode_image

HASH_SIDE = 8  # difference hash of a 9 x 8 grey thumbnail: 64 bits
THUMB_SIDE = 16  # the grey thumbnail that confirms a near duplicate


@dataclass
class Split:
    """One set of samples: name ('train' / 'val'), files, labels, class names, where it was read from."""

    name: str
    files: list
    labels: list
    class_names: list
    source: str
    problems: list = field(default_factory=list)


def folder_split(name, root):
    """A Split of a class-per-folder tree (empty class folders are problems, not errors)."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: dataset folder not found")
    classes = sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise DataError(f"{root}: no class folders")
    files, labels, problems = [], [], []
    for index, cls in enumerate(classes):
        found = []
        for base, dirs, names in os.walk(os.path.join(root, cls)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(base, f) for f in sorted(names)
                      if not f.startswith(".") and f.lower().endswith(IMG_EXTENSIONS)]
        if not found:
            problems.append(f"{os.path.join(root, cls)}: empty class folder (no images)")
        files += found
        labels += [index] * len(found)
    return Split(name, files, labels, classes, root, problems)


def list_split(name, image_root, list_path, class_num=None, delimiter=" "):
    """A Split of a PaddleClas list file (its line problems, and labels >= class_num, are problems)."""
    if not os.path.isfile(list_path):
        raise DataError(f"{list_path}: list file not found")
    entries, problems = parse_list_file(list_path, image_root, delimiter)
    if class_num is not None:
        problems += [f"{list_path}:{line}: label {lab} is out of range for {class_num} classes (Arch.class_num)"
                     for _, lab, line in entries if lab >= class_num]
    count = max([lab for _, lab, _ in entries] + [(class_num or 0) - 1]) + 1 if entries else (class_num or 0)
    label_list = os.path.join(os.path.dirname(os.path.abspath(list_path)), "label_list.txt")
    names = [str(i) for i in range(count)]
    if os.path.isfile(label_list):
        try:  # the dataset's own reader and rules (indices 0..C-1, each once)
            names = read_label_list(label_list)
        except DataError as exc:
            problems.append(str(exc))
        if count > len(names):
            problems.append(f"{label_list}: lists {len(names)} classes but {list_path} uses label {count - 1}")
    return Split(name, [f for f, _, _ in entries], [lab for _, lab, _ in entries], names, list_path, problems)


def _difference_hash(grey):
    pixels = np.asarray(grey.resize((HASH_SIDE + 1, HASH_SIDE), Image.BILINEAR), dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).reshape(-1)
    return int("".join("1" if b else "0" for b in bits), 2)


def _inspect(path):
    """(sha256, dhash, (h, w), None, thumbnail) of one file, or (sha256, None, None, reason, None) when it cannot
    be decoded."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return None, None, None, f"cannot read ({exc.strerror or exc})", None
    digest = hashlib.sha256(data).hexdigest()
    try:
        array = decode_image(data)
    except ImageDecodeError as exc:
        return digest, None, None, str(exc), None
    grey = Image.fromarray(array).convert("L")
    thumb = np.asarray(grey.resize((THUMB_SIDE, THUMB_SIDE), Image.BILINEAR), dtype=np.uint8)
    return digest, _difference_hash(grey), array.shape[:2], None, thumb


def _near_pairs(hashes, max_distance):
    """Pairs (i, j), i < j, whose hashes differ in at most max_distance bits: any such pair agrees exactly on
    one of max_distance + 1 bands of the 64 bits (pigeonhole), so only band-mates are compared."""
    bands = max_distance + 1
    width = 64 // bands
    pairs = set()
    for band in range(bands):
        shift = band * width
        mask = (1 << (width if band < bands - 1 else 64 - shift)) - 1
        buckets = {}
        for i, h in enumerate(hashes):
            if h is not None:
                buckets.setdefault((h >> shift) & mask, []).append(i)
        for members in buckets.values():
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    i, j = members[a], members[b]
                    if bin(hashes[i] ^ hashes[j]).count("1") <= max_distance:
                        pairs.add((i, j))
    return sorted(pairs)


@dataclass
class CheckReport:
    """What check_splits found: `problems` (exit 1), `warnings`, per-split class counts, the class weights of
    `balanced`, and the duplicate groups."""

    problems: list
    warnings: list
    counts: dict
    imbalance: dict
    class_weights: list
    duplicates: list
    files_checked: int

    def to_dict(self):
        return dict(vars(self))


def check_splits(splits, min_size=32, max_distance=4, max_mad=12.0, max_imbalance=10.0, threads=0,
                 progress=None):
    """Check the Splits (see the module docstring); returns a CheckReport."""
    problems = [p for s in splits for p in s.problems]
    warnings = []
    files = [(s.name, f, s.class_names[lab] if lab < len(s.class_names) else str(lab))
             for s in splits for f, lab in zip(s.files, s.labels)]
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        results = []
        for i, res in enumerate(pool.map(_inspect, [f for _, f, _ in files])):
            results.append(res)
            if progress and (i + 1) % 200 == 0:
                progress(i + 1, len(files))
    for (split, path, _), (_, _, shape, reason, _) in zip(files, results):
        if reason is not None:
            problems.append(f"{path}: {reason}")
        elif min(shape) < min_size:
            problems.append(f"{path}: {shape[1]} x {shape[0]} px, smaller than the {min_size} px crop")
    duplicates = []
    by_digest = {}
    for i, (digest, *_) in enumerate(results):
        if digest is not None:
            by_digest.setdefault(digest, []).append(i)
    exact = {tuple(g) for g in by_digest.values() if len(g) > 1}
    near = [(i, j) for i, j in _near_pairs([r[1] for r in results], max_distance)
            if results[i][0] != results[j][0]
            and np.abs(results[i][4].astype("int16") - results[j][4].astype("int16")).mean() <= max_mad]
    for kind, groups in (("exact duplicate", exact), ("near duplicate", near)):
        for group in sorted(groups):
            members = [files[i] for i in group]
            splits_of = {m[0] for m in members}
            entry = {"kind": kind, "files": [m[1] for m in members], "splits": sorted(splits_of),
                     "classes": sorted({m[2] for m in members})}
            duplicates.append(entry)
            line = f"{kind}s: " + ", ".join(f"{m[1]} ({m[0]}, {m[2]})" for m in members)
            if len(splits_of) > 1:
                problems.append(line + " -- across train and val: the validation set leaks into training")
            elif len(entry["classes"]) > 1:
                problems.append(line + " -- the same image under different classes")
            else:
                warnings.append(line)
    names = [s.name for s in splits]
    if "train" in names and "val" in names:
        train, val = splits[names.index("train")], splits[names.index("val")]
        if train.source and os.path.isdir(train.source) and set(train.class_names) != set(val.class_names):
            only = sorted(set(train.class_names) ^ set(val.class_names))
            problems.append(f"{train.source} and {val.source} have different classes ({', '.join(only[:5])} in only "
                            "one of them)")
    counts, imbalance, weights = {}, {}, []
    for s in splits:
        per = np.bincount(np.asarray(s.labels, dtype="int64"), minlength=len(s.class_names)) if s.labels else \
            np.zeros(len(s.class_names), "int64")
        counts[s.name] = {name: int(c) for name, c in zip(s.class_names, per)}
        present = per[per > 0]
        ratio = float(present.max() / present.min()) if len(present) else 0.0
        imbalance[s.name] = ratio
        if s.name == "train" and len(present):
            weights = [round(float(len(s.labels) / (len(per) * c)), 4) if c else None for c in per]
            if ratio > max_imbalance:
                problems.append(f"{s.source}: classes from {int(present.min())} to {int(present.max())} images "
                                f"(imbalance {ratio:.1f} > {max_imbalance:g}); weigh them with "
                                "Loss.Train: [{CELoss: {class_weights: balanced}}] or sample them evenly with "
                                "DataLoader.Train.sampler.balance: class")
            elif ratio > 3:
                warnings.append(f"{s.source}: imbalance {ratio:.1f} (largest / smallest class); consider "
                                "CELoss class_weights: balanced")
    return CheckReport(problems, warnings, counts, imbalance, weights, duplicates, len(files))


def markdown(report, title="Data check"):
    """A short markdown summary of a CheckReport."""
    lines = [f"# {title}", "", f"{report.files_checked} files checked: {len(report.problems)} problem(s), "
             f"{len(report.warnings)} warning(s).", ""]
    for split, per in report.counts.items():
        values = list(per.values())
        lines.append(f"- {split}: {sum(values)} images in {len(values)} classes, "
                     f"imbalance {report.imbalance[split]:.2f} (largest / smallest class)")
    if report.class_weights:
        lines += ["", "Class weights of `class_weights: balanced` (N / (C * n_c)): "
                  + ", ".join(f"{n}: {w}" for n, w in zip(report.counts["train"], report.class_weights))]
    for heading, items in (("Problems (would hurt training)", report.problems), ("Warnings", report.warnings)):
        if items:
            lines += ["", f"## {heading}", ""] + [f"- {item}" for item in items]
    return "\n".join(lines) + "\n"
