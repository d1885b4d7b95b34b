"""Fine-tuning measured on real images: ResNet18 trained on five classes of the embedded CIFAR-10 subset, then
trained on the other five -- from those weights with frozen stages, from them in full, and from scratch -- for
the same number of epochs. Prints each run's final validation top-1.

    python benchmarks/finetune_cifar.py [--epochs 3] [--pretrain-epochs 6] [--finetune-lr 0.02]
        [--frozen-stages 2] [--b-per-class N] [--out output/finetune_cifar]

The quickstart config's recipe (Momentum, cosine from 0.1 with a warmup epoch) trains every run; the two fine-tunes
start from the task-A weights (a new 5-class head) at --finetune-lr.
"""
import argparse
import os
import sys

import ppcls_lite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "dataset", "cifar10_mini")
CONFIG = os.path.join(ROOT, "configs", "quickstart", "resnet18_cifar10_mini.yaml")


def _split_lists(out, b_per_class=None):
    """List files of classes 0-4 (task A) and 5-9 relabelled 0-4 (task B), for train and val; task B's training
    list keeps the first `b_per_class` images of each class (all when None)."""
    paths = {}
    for split in ("train", "val"):
        rows = [line.split() for line in open(os.path.join(DATA, f"{split}_list.txt")).read().splitlines()]
        for task, keep in (("A", range(0, 5)), ("B", range(5, 10))):
            chosen, seen = [], {}
            for p, c in rows:
                if int(c) in keep:
                    seen[c] = seen.get(c, 0) + 1
                    if not (task == "B" and split == "train" and b_per_class and seen[c] > b_per_class):
                        chosen.append(f"{p} {int(c) - keep.start}\n")
            path = os.path.join(out, f"{task}_{split}.txt")
            with open(path, "w") as f:
                f.writelines(chosen)
            paths[task, split] = path
    return paths


def _run(name, paths, task, epochs, out, extra=()):
    import yaml

    cfg = yaml.safe_load(open(CONFIG))
    for split, listing in (("Train", "train"), ("Eval", "val")):
        dataset = cfg["DataLoader"][split]["dataset"]
        dataset.pop("root", None)
        dataset.update(name="ImageNetDataset", image_root=DATA, cls_label_path=paths[task, listing])
    path = os.path.join(out, f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    overrides = [f"Global.epochs={epochs}", f"Global.output_dir={os.path.join(out, name)}", "Arch.class_num=5",
                 "Global.use_visualdl=False", *extra]
    trainer = ppcls_lite.train(path, overrides)
    return trainer.result.metrics["top1"], os.path.join(out, name, "best_model")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each task-B run")
    ap.add_argument("--pretrain-epochs", type=int, default=6, help="epochs of the task-A run")
    ap.add_argument("--finetune-lr", type=float, default=0.02)
    ap.add_argument("--frozen-stages", type=int, default=2)
    ap.add_argument("--b-per-class", type=int, help="task-B training images per class (default: all 500)")
    ap.add_argument("--out", default=os.path.join(ROOT, "output", "finetune_cifar"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    paths = _split_lists(args.out, args.b_per_class)
    top1_a, weights = _run("pretrain_A", paths, "A", args.pretrain_epochs, args.out)
    rows = [(f"A: classes 0-4 from scratch ({args.pretrain_epochs} epochs)", top1_a)]
    tune = [f"Global.pretrained_model={weights}", f"Optimizer.lr.learning_rate={args.finetune_lr}"]
    for label, extra in (
            (f"B from A, frozen_stages {args.frozen_stages}, lr {args.finetune_lr}",
             tune + [f"Arch.frozen_stages={args.frozen_stages}"]),
            (f"B from A, all layers, lr {args.finetune_lr}", tune),
            ("B from scratch, lr 0.1", [])):
        rows.append((label, _run(label.split(",")[0].replace(" ", "_") + str(len(rows)), paths, "B", args.epochs,
                                 args.out, extra)[0]))
    b_images = f"{args.b_per_class} images per class" if args.b_per_class else "all 500 images per class"
    print(f"\n| run (task B: {b_images}, {args.epochs} epochs each) | val top-1 |\n|---|---|")
    for label, top1 in rows:
        print(f"| {label} | {top1:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
