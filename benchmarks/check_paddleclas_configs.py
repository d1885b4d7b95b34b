"""PaddleClas's own ImageNet configs for our families, dry-run with only their data paths and device changed.

    python benchmarks/check_paddleclas_configs.py --paddleclas-src /path/to/PaddleClas [--data DIR]
        [--compare-fixtures] [--only ResNet/ResNet50]

For every `ppcls/configs/ImageNet/<folder>/*.yaml` of ResNet, ResNeXt, ResNeXt101_wsl, Res2Net,
SwinTransformer, VisionTransformer, DeiT and ConvNeXt (65 files in PaddleClas 2.6): load and validate it with
DataLoader.{Train,Eval}.dataset.{image_root,cls_label_path} pointed at --data (a class-per-line list beside its
images, default: the vendored CIFAR-10 subset) and Global.device=cpu, then `ppcls_lite.engine.training.dry_run`
it: the full-size model built, the datasets scanned, one training batch of the config's own size decoded, the
optimizer and schedule built. `Arch.pretrained: True` is checked as the URL it names (nothing is downloaded:
Global.pretrained_model is cleared after validation). With --compare-fixtures, the key-for-key fixtures in
tests/fixtures/paddleclas_configs.py are compared with the files they stand for. Exits 1 on any failure.
"""
import argparse
import glob
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("ResNet", "ResNeXt", "ResNeXt101_wsl", "Res2Net", "SwinTransformer", "VisionTransformer", "DeiT",
           "ConvNeXt")


def _data_overrides(data):
    out = []
    for split, listing in (("Train", "train_list.txt"), ("Eval", "val_list.txt")):
        out += [f"DataLoader.{split}.dataset.image_root={data}",
                f"DataLoader.{split}.dataset.cls_label_path={os.path.join(data, listing)}"]
    return out + ["Global.device=cpu"]


def check_one(path, data):
    """'' when the config dry-runs, else the one-line reason."""
    from ppcls_lite.config import load_config
    from ppcls_lite.engine.training import dry_run
    from ppcls_lite.errors import PpclsError

    try:
        config = load_config(path, _data_overrides(data))
        url = config["Global"]["pretrained_model"]
        if url and url.startswith("http"):
            config["Global"]["pretrained_model"] = None  # the URL is what pretrained: True names; not fetched
        dry_run(config)
        return ""
    except PpclsError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a crash is a finding here, reported per config
        return f"{type(exc).__name__}: {exc}"


def compare_fixtures(src):
    """Names of the fixtures that differ from PaddleClas's file (empty: all equal)."""
    import yaml

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from fixtures.paddleclas_configs import CONFIGS

    differ = []
    for name, build in CONFIGS.items():
        with open(os.path.join(src, "ppcls", "configs", "ImageNet", name + ".yaml")) as f:
            if build() != yaml.safe_load(f):
                differ.append(name)
    return differ


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paddleclas-src", required=True, help="a PaddleClas checkout (holding ppcls/configs)")
    ap.add_argument("--data", default=os.path.join(ROOT, "dataset", "cifar10_mini"))
    ap.add_argument("--only", default="", help="comma-separated folder/name entries to check")
    ap.add_argument("--compare-fixtures", action="store_true")
    args = ap.parse_args(argv)
    import paddle

    paddle.set_device("cpu")
    paths = sorted(p for folder in FOLDERS
                   for p in glob.glob(os.path.join(args.paddleclas_src, "ppcls", "configs", "ImageNet", folder,
                                                   "*.yaml")))
    if args.only:
        wanted = set(args.only.split(","))
        paths = [p for p in paths if os.path.relpath(p, os.path.dirname(os.path.dirname(p)))[:-5] in wanted]
    failed = 0
    for path in paths:
        started = time.time()
        reason = check_one(path, args.data)
        failed += bool(reason)
        name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
        print(f"{'ok  ' if not reason else 'FAIL'} {name} ({time.time() - started:.1f} s){': ' + reason if reason else ''}",
              flush=True)
    print(f"{len(paths) - failed}/{len(paths)} PaddleClas configs dry-run with only data paths and device changed")
    if args.compare_fixtures:
        differ = compare_fixtures(args.paddleclas_src)
        print("fixtures equal to PaddleClas's files" if not differ else f"fixtures differing: {', '.join(differ)}")
        failed += len(differ)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
