"""ppcls-check-data / tools/check_data.py: check a dataset before training (ppcls_lite/data/check.py)."""
import argparse

from . import user_errors_exit

USAGE = """Check the training and validation data before training: undecodable or truncated files, images smaller
than the crop, empty classes, list-file problems, class sets that differ, exact and near duplicates within and
across train / val, and class imbalance (with the class weights to use). Exit 1 when something would hurt
training, 0 otherwise.

    ppcls-check-data --data dataset/my_images          # dataset/my_images/train/<class>/..., val/<class>/...
    ppcls-check-data -c configs/quickstart/resnet18_cifar10_mini.yaml"""


def _min_crop(ops):
    """The eval crop an image must cover: CropImage's size when no resize comes before it, else None."""
    for op in ops or []:
        name = next(iter(op)) if isinstance(op, dict) else op
        params = (op.get(name) or {}) if isinstance(op, dict) else {}
        if name == "ResizeImage":
            return None
        if name == "CropImage" and params.get("size") is not None:
            size = params["size"]
            return int(min(size) if isinstance(size, (list, tuple)) else size)
    return None


def _config_splits(path, overrides):
    from ..config import load_config
    from ..data.check import folder_split, list_split
    from ..errors import ConfigError

    config = load_config(path, overrides, check_paths=False)
    class_num = int(config["Arch"].get("class_num", 1000))
    splits, crop = [], None
    for key, name in (("Train", "train"), ("Eval", "val")):
        section = (config["DataLoader"] or {}).get(key)
        if not section:
            continue
        ds = section["dataset"]
        if ds["name"] == "ImageFolder":
            splits.append(folder_split(name, ds["root"]))
        elif ds["name"] == "ImageNetDataset":
            splits.append(list_split(name, ds["image_root"], ds["cls_label_path"], class_num,
                                     ds.get("delimiter", " ")))
        else:
            raise ConfigError(f"DataLoader.{key}.dataset.name: {ds['name']} is not checked here")
        if key == "Eval":
            crop = _min_crop(ds.get("transform_ops"))
    if not splits:
        raise ConfigError("DataLoader: neither Train nor Eval to check")
    return splits, crop


@user_errors_exit
def main(argv=None):
    """Parse the arguments, check, write the report; 1 when a problem was found, else 0."""
    import json
    import os
    import sys

    parser = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", help="a training config: its DataLoader.Train and .Eval datasets")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", help="a folder with train/ and val/ class-per-folder trees")
    parser.add_argument("--min-size", type=int, help="smallest acceptable side in pixels (default: the config's "
                        "eval crop where nothing resizes before it, else 32)")
    parser.add_argument("--max-distance", type=int, default=4,
                        help="near duplicates: at most this many of the 64 difference-hash bits differ")
    parser.add_argument("--max-mad", type=float, default=12.0, help="near duplicates: and their 16 x 16 grey "
                        "thumbnails differ by at most this many grey levels on average")
    parser.add_argument("--max-imbalance", type=float, default=10.0,
                        help="largest / smallest class beyond which the imbalance is a problem")
    parser.add_argument("--out", default="./output/check_data", help="folder for check_data.md / .json")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    from ..data.check import check_splits, folder_split, markdown
    from ..errors import ConfigError

    if args.config:
        splits, crop = _config_splits(args.config, args.override)
        title = f"Data check of {args.config}"
    elif args.data:
        if not os.path.isdir(args.data):
            raise ConfigError(f"--data: no such folder: {args.data}")
        parts = [p for p in ("train", "val") if os.path.isdir(os.path.join(args.data, p))]
        if not parts:
            raise ConfigError(f"--data: {args.data} has neither train/ nor val/")
        splits, crop, title = [folder_split(p, os.path.join(args.data, p)) for p in parts], None, \
            f"Data check of {args.data}"
    else:
        raise ConfigError("give -c CONFIG or --data DIR")
    if args.threads < 0:
        raise ConfigError(f"--threads: 0 (all cores) or more, got {args.threads}")
    if args.max_distance < 0 or args.max_distance > 15:
        raise ConfigError(f"--max-distance: 0 to 15 bits, got {args.max_distance}")

    def progress(done, total):
        if sys.stderr.isatty():
            sys.stderr.write(f"\rchecked {done}/{total} files")
            sys.stderr.flush()

    report = check_splits(splits, min_size=args.min_size or crop or 32, max_distance=args.max_distance,
                          max_mad=args.max_mad, max_imbalance=args.max_imbalance, threads=args.threads,
                          progress=progress)
    text = markdown(report, title)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "check_data.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(args.out, "check_data.json"), "w", encoding="utf-8") as f:
        json.dump(report.to_dict(), f, indent=1, ensure_ascii=False)
    print(text, end="")
    return 1 if report.problems else 0
