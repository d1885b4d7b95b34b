"""Write the multi-label list files of the vendored CIFAR-10 subset (dataset/cifar10_mini/multilabel/): every
image tagged from its class with the tags of TAGS. The tags are a function of the class, so they are exact for
these images; a tag's frequency is the share of its classes (the label-frequency baseline of mAP).

    python benchmarks/cifar_multilabel_lists.py [--check]

--check: compare with the committed files instead of writing them (exit 1 when they differ).
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "dataset", "cifar10_mini")
OUT = os.path.join(DATA, "multilabel")

# tag -> the CIFAR-10 classes that carry it
TAGS = {
    "animal": ("bird", "cat", "deer", "dog", "frog", "horse"),
    "vehicle": ("airplane", "automobile", "ship", "truck"),
    "mammal": ("cat", "deer", "dog", "horse"),
    "flies": ("airplane", "bird"),
    "road_vehicle": ("automobile", "truck"),
    "pet": ("cat", "dog"),
    "on_water": ("ship",),
}


def contents():
    """{file name: text} of label_list.txt, train_list.txt and val_list.txt."""
    classes = [line.split()[1] for line in open(os.path.join(DATA, "label_list.txt")) if line.strip()]
    files = {"label_list.txt": "".join(f"{i} {tag}\n" for i, tag in enumerate(TAGS))}
    for split in ("train", "val"):
        lines = []
        for line in open(os.path.join(DATA, f"{split}_list.txt")):
            if not line.strip():
                continue
            rel, label = line.split()
            cls = classes[int(label)]
            lines.append(f"{rel}\t{','.join('1' if cls in members else '0' for members in TAGS.values())}\n")
        files[f"{split}_list.txt"] = "".join(lines)
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    differ = []
    for name, text in contents().items():
        path = os.path.join(OUT, name)
        if args.check:
            if not os.path.isfile(path) or open(path).read() != text:
                differ.append(name)
            continue
        os.makedirs(OUT, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    if differ:
        print("differ from the tags:", ", ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
