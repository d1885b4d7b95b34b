"""A measured distillation run on the vendored CIFAR-10 subset: the same ResNet18 trained alone and taught by a
trained ResNet34 (configs/distill/), same epochs, same recipe; prints the top-1 of each.

    python benchmarks/distill_cifar.py [--epochs 12] [--teacher-epochs 20] [--base-channels 16] [--seed 1]

The teacher is trained first (configs/distill/resnet34_teacher_cifar10_mini.yaml) unless its best_model exists.
--base-channels narrows the student (both runs); --seed changes the students' seed (data order, augmentation,
initialisation). Each run is one tools/train.py command, printed before it runs.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEACHER = "configs/distill/resnet34_teacher_cifar10_mini.yaml"
DISTILL = "configs/distill/resnet34_distill_resnet18_cifar10_mini.yaml"
ALONE = "configs/quickstart/resnet18_cifar10_mini.yaml"


def train(config, overrides):
    """Run tools/train.py; (final top-1, best top-1, seconds)."""
    print("python tools/train.py -c", config, " ".join(f"-o {o}" for o in overrides), flush=True)
    tic = time.time()
    proc = subprocess.run([sys.executable, "tools/train.py", "-c", config, *sum((["-o", o] for o in overrides), [])],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{config}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    lines = (proc.stdout + proc.stderr).splitlines()
    final = next(line for line in reversed(lines) if "final val top1:" in line)
    best = next(line for line in reversed(lines) if "best top1" in line)
    return (float(final.split("final val top1:")[1].split(",")[0]), float(best.split("best top1")[1].split()[0]),
            time.time() - tic)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12, help="student epochs, alone and distilled")
    ap.add_argument("--teacher-epochs", type=int, default=20)
    ap.add_argument("--output", default="./output/distill")
    ap.add_argument("--base-channels", type=int, help="the student's width (ResNet18's is 64)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    teacher_dir = os.path.join(args.output, "teacher_resnet34")
    rows = []
    if not os.path.isfile(os.path.join(ROOT, teacher_dir, "best_model.pdparams")):
        rows.append(("teacher ResNet34", args.teacher_epochs,
                     *train(TEACHER, [f"Global.epochs={args.teacher_epochs}", f"Global.output_dir={teacher_dir}"])))
    common = [f"Global.epochs={args.epochs}", "Global.max_checkpoints=1"]
    suffix = (f"_w{args.base_channels}" if args.base_channels else "") + (f"_s{args.seed}" if args.seed else "")
    seed = [f"Global.seed={args.seed}"] if args.seed else []
    width = f", width {args.base_channels}" if args.base_channels else ""
    rows.append((f"student ResNet18{width} alone", args.epochs, *train(ALONE, common + [
        f"Global.output_dir={os.path.join(args.output, 'student_alone' + suffix)}"] + seed + (
        [f"Arch.base_channels={args.base_channels}"] if args.base_channels else []))))
    rows.append((f"student ResNet18{width} + DKD from ResNet34", args.epochs, *train(DISTILL, common + [
        f"Global.output_dir={os.path.join(args.output, 'resnet34_resnet18' + suffix)}",
        f"Arch.models.0.Teacher.pretrained={os.path.join(teacher_dir, 'best_model')}"] + seed + (
        [f"Arch.models.1.Student.base_channels={args.base_channels}"] if args.base_channels else []))))
    print(f"{'run':<40} {'epochs':>6} {'final top1':>10} {'best top1':>10} {'time':>8}")
    for name, epochs, final, best, seconds in rows:
        print(f"{name:<40} {epochs:>6} {final:>10.4f} {best:>10.4f} {seconds:>7.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
