"""Speed of ppcls_lite against PaddleClas 2.6.0, timed alternately in one run on identical inputs.

    PADDLECLAS_ROOT=/tmp/pclas/paddleclas PADDLECLAS_SRC=/tmp/pclas_full \\
        python benchmarks/compare_paddleclas.py --part train,data,e2e [--models resnet50,...] [--out DIR]

--part train  bare training step (forward + cross-entropy + backward + Momentum step) of each model, PaddleClas's
              and ours with the same weights, batch and thread count, alternating ABAB in one process per model
              (PaddleClas's legacy models use global parameter names: each is built once per process).
--part data   ImageNet train and eval transform pipelines (PaddleClas's ops from PADDLECLAS_SRC's
              ppcls/data/preprocess/ops/operators.py) over the same JPEGs in memory, alternating.
--part e2e    the whole `tools/train.py` of each project (PaddleClas's from PADDLECLAS_SRC, run with
              --pc-python, which needs its engine's extra packages) on one generated config, alternating
              PaddleClas / ours runs; images/s = images trained / wall time of the command.
Prints ratios ours / PaddleClas (> 1: ours faster) of the medians and writes compare.md / compare.csv to --out.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import harness  # noqa: E402

# alias -> (registry name, PaddleClas module under ppcls.arch.backbone)
MODELS = {
    "resnet50": ("ResNet50", "legendary_models.resnet"),
    "resnext50_32x4d": ("ResNeXt50_32x4d", "model_zoo.resnext"),
    "res2net50": ("Res2Net50_26w_4s", "model_zoo.res2net"),
    "swin_tiny": ("SwinTransformer_tiny_patch4_window7_224", "legendary_models.swin_transformer"),
    "vit_base_patch16_224": ("ViT_base_patch16_224", "model_zoo.vision_transformer"),
    "convnext_tiny": ("ConvNeXt_tiny", "model_zoo.convnext"),
    "resnet18": ("ResNet18", "legendary_models.resnet"),
}
SCALE = 1.0 / 255.0  # a number, so that PaddleClas's NormalizeImage has nothing to evaluate


def ratio(ours, ref):
    return ours / ref if ref else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# training step, one model per child process


def train_one(alias, batch, size, threads, warmup, repeat, fused):
    import paddle

    from paddleclas_ref import paddleclas_module

    name, module = MODELS[alias]
    paddle.set_device("cpu")
    threads = harness.set_threads(threads)
    paddle.seed(0)
    ref = getattr(paddleclas_module(module), name)(class_num=1000)
    kwargs = {"use_fused_attn": True} if fused and alias in ("swin_tiny", "vit_base_patch16_224") else {}
    ours = harness.build(name, 1000, **kwargs)
    ours.set_state_dict(ref.state_dict())  # same weights: same work, same numerics
    cands = {"paddleclas": harness.train_step_fn(ref, batch, size), "ours": harness.train_step_fn(ours, batch, size)}
    first = {k: float(f()) for k, f in cands.items()}
    cpu = {}
    times = harness.alternate(cands, warmup, repeat, cpu=cpu)
    return {"model": alias, "batch": batch, "size": size, "threads": threads,
            "paddleclas_ips": batch / harness.median(times["paddleclas"]),
            "ours_ips": batch / harness.median(times["ours"]),
            "cpu_ratio": harness.median(cpu["paddleclas"]) / harness.median(cpu["ours"]),
            "first_loss_paddleclas": first["paddleclas"], "first_loss_ours": first["ours"],
            "paddleclas_times": times["paddleclas"], "ours_times": times["ours"]}


def part_train(args):
    rows = []
    for alias in args.models.split(","):
        cmd = [sys.executable, __file__, "--child-train", alias, "--batch-size", str(args.batch_size),
               "--img-size", str(args.img_size), "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--repeat", str(args.repeat)] + (["--fused-attn"] if args.fused_attn else [])
        print(f"  train step: {alias} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if line is None:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"  {alias}: failed (exit {proc.returncode}): {tail}", file=sys.stderr)
            continue
        r = json.loads(line[len("BENCH_JSON "):])
        r["ratio"] = ratio(r["ours_ips"], r["paddleclas_ips"])
        rows.append(r)
        print(f"  {alias:22s} PaddleClas {r['paddleclas_ips']:7.2f} img/s  ours {r['ours_ips']:7.2f} img/s  "
              f"ours/PaddleClas {r['ratio']:.2f}x (CPU seconds: {r['cpu_ratio']:.2f}x)", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# data pipelines


def paddleclas_pipeline(ops_module, spec):
    """fn(list of bytes) running PaddleClas's ops built from a transform_ops list (as its dataset would)."""
    import numpy as np

    ops = []
    for entry in spec:
        (name, params), = entry.items()
        ops.append(getattr(ops_module, name)(**(params or {})))

    def run(blobs):
        out = None
        for data in blobs:
            for op in ops:
                data = op(data)
            out = np.ascontiguousarray(data)
        return out

    return run, ops


def part_data(args):
    import random

    import numpy as np

    from paddleclas_ref import paddleclas_operators

    ops_module = paddleclas_operators()
    paths, blobs = harness.read_images(args.data, args.data_limit)
    specs = {}
    for kind, spec in (("train", harness.train_ops(224)), ("eval", harness.eval_ops(224, 256))):
        for entry in spec:
            if "NormalizeImage" in entry:
                entry["NormalizeImage"]["scale"] = SCALE
        specs[kind] = spec
    rows = []
    for kind, spec in specs.items():
        ref_run, ref_ops = paddleclas_pipeline(ops_module, spec)
        ours_run = harness.ours_pipeline(spec)
        # Parity of the deterministic eval pipeline: the same image through both.
        diff = ""
        if kind == "eval":
            a = np.stack([np.ascontiguousarray(_apply(ref_ops, b)) for b in blobs[:20]])
            b = np.stack([ours_run([x]) for x in blobs[:20]])
            diff = float(np.abs(a - b).max()) if a.shape == b.shape else f"shapes {a.shape} vs {b.shape}"
        random.seed(0)
        times = harness.alternate({"paddleclas": lambda: ref_run(blobs), "ours": lambda: ours_run(blobs)},
                                  args.warmup, args.repeat)
        r = {"pipeline": kind, "images": len(blobs),
             "paddleclas_ips": len(blobs) / harness.median(times["paddleclas"]),
             "ours_ips": len(blobs) / harness.median(times["ours"]), "max_abs_diff_first20": diff,
             "paddleclas_times": times["paddleclas"], "ours_times": times["ours"]}
        r["ratio"] = ratio(r["ours_ips"], r["paddleclas_ips"])
        rows.append(r)
        print(f"  data {kind:6s} PaddleClas {r['paddleclas_ips']:7.1f} img/s  ours {r['ours_ips']:7.1f} img/s  "
              f"ours/PaddleClas {r['ratio']:.2f}x", file=sys.stderr, flush=True)
    return rows


def _apply(ops, data):
    for op in ops:
        data = op(data)
    return data


# ---------------------------------------------------------------------------------------------------------------
# end to end: tools/train.py of both projects


E2E_TEMPLATE = """\
Global:
  checkpoints: null
  pretrained_model: null
  output_dir: {out}
  device: cpu
  save_interval: 1000
  eval_during_train: False
  eval_interval: 1
  epochs: {epochs}
  print_batch_step: 10
  use_visualdl: False
  image_shape: [3, {size}, {size}]
  save_inference_dir: {out}/inference
Arch:
  name: {arch}
  class_num: {class_num}
Loss:
  Train:
    - CELoss:
        weight: 1.0
  Eval:
    - CELoss:
        weight: 1.0
Optimizer:
  name: Momentum
  momentum: 0.9
  lr:
    name: Cosine
    learning_rate: 0.1
  regularizer:
    name: 'L2'
    coeff: 0.0001
DataLoader:
  Train:
    dataset:
      name: ImageNetDataset
      image_root: {root}
      cls_label_path: {list_file}
      transform_ops:
        - DecodeImage:
            to_rgb: True
            channel_first: False
        - RandCropImage:
            size: {size}
{crop_scale}        - RandFlipImage:
            flip_code: 1
        - NormalizeImage:
            scale: 1.0/255.0
            mean: {mean}
            std: {std}
            order: ''
    sampler:
      name: DistributedBatchSampler
      batch_size: {batch}
      drop_last: True
      shuffle: True
    loader:
      num_workers: {workers}
      use_shared_memory: True
Metric:
  Train:
    - TopkAcc:
        topk: [1, 5]
"""

E2E_CASES = {
    # name: (arch, size, dataset folder relative to the repo, list file, class_num, images used, batch)
    "cifar10_mini_32px": ("ResNet18", 32, "dataset/cifar10_mini", "train_list.txt", 10, 1280, 64),
    "imagenet_sample_224px": ("ResNet50", 224, "../shared/data/imagenet_sample_100", "val_list.txt", 1000, 96, 8),
}


def write_e2e_config(case, workdir, out, workers, epochs=1):
    arch, size, root, list_name, class_num, n_images, batch = E2E_CASES[case]
    root = os.path.abspath(os.path.join(ROOT, root))
    with open(os.path.join(root, list_name)) as f:
        lines = [ln for ln in f if ln.strip()][:n_images]
    list_file = os.path.join(workdir, f"{case}_list.txt")
    with open(list_file, "w") as f:
        f.writelines(lines)
    cifar = size == 32
    text = E2E_TEMPLATE.format(
        out=out, epochs=epochs, size=size, arch=arch, class_num=class_num, root=root + "/", list_file=list_file,
        crop_scale="            scale: [0.6, 1.0]\n" if cifar else "",
        mean="[0.4914, 0.4822, 0.4465]" if cifar else "[0.485, 0.456, 0.406]",
        std="[0.2470, 0.2435, 0.2616]" if cifar else "[0.229, 0.224, 0.225]",
        batch=batch, workers=workers)
    path = os.path.join(workdir, f"{case}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path, (len(lines) // batch) * batch * epochs


_IPS = re.compile(r"ips: ([0-9.]+)")


def run_train_tool(cmd, cwd, env):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    logged = [float(x) for x in _IPS.findall(proc.stdout + proc.stderr)]
    return wall, logged


def part_e2e(args):
    workdir = tempfile.mkdtemp(prefix="ppcls_e2e_")
    src = os.environ.get("PADDLECLAS_SRC")
    if not src or not os.path.isfile(os.path.join(src, "tools", "train.py")):
        raise SystemExit("e2e: PADDLECLAS_SRC must hold a PaddleClas source tree with tools/train.py")
    rows = []
    for case in args.e2e_cases.split(","):
        cfg, images = write_e2e_config(case, workdir, os.path.join(workdir, "out_" + case), args.workers)
        env = dict(os.environ)
        env.pop("PADDLECLAS_ROOT", None)
        pc_env = dict(env, PYTHONPATH=src)
        if args.pc_threads:
            # PaddleClas never calls set_num_threads and Paddle ignores FLAGS_paddle_num_threads for its CPU
            # math threads, so a sitecustomize module (imported by Python at start-up) sets the count.
            site = os.path.join(workdir, "pc_threads")
            os.makedirs(site, exist_ok=True)
            with open(os.path.join(site, "sitecustomize.py"), "w") as f:
                f.write(f"import paddle\npaddle.base.core.set_num_threads({int(args.pc_threads)})\n")
            pc_env["PYTHONPATH"] = site + os.pathsep + src
        runs = {
            "paddleclas": ([args.pc_python, os.path.join(src, "tools", "train.py"), "-c", cfg], src, pc_env),
            "ours": ([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg]
                     + (["-o", f"Global.num_threads={args.threads}"] if args.threads else []), ROOT, env),
        }
        walls = {k: [] for k in runs}
        logged = {k: [] for k in runs}
        for r in range(args.e2e_rounds):
            for key in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                print(f"  e2e {case} round {r + 1}: {key} ...", file=sys.stderr, flush=True)
                wall, ips = run_train_tool(*runs[key])
                walls[key].append(wall)
                logged[key].extend(ips[1:])  # the first logged iteration holds the warmup
        row = {"case": case, "images": images,
               "paddleclas_ips": images / harness.median(walls["paddleclas"]),
               "ours_ips": images / harness.median(walls["ours"]),
               "paddleclas_logged_ips": harness.median(logged["paddleclas"]),
               "ours_logged_ips": harness.median(logged["ours"]),
               "paddleclas_wall_s": walls["paddleclas"], "ours_wall_s": walls["ours"],
               "paddleclas_threads": args.pc_threads or "default (1)", "workers": args.workers}
        row["ratio"] = ratio(row["ours_ips"], row["paddleclas_ips"])
        row["logged_ratio"] = ratio(row["ours_logged_ips"], row["paddleclas_logged_ips"])
        rows.append(row)
        print(f"  e2e {case}: PaddleClas {row['paddleclas_ips']:.1f} img/s, ours {row['ours_ips']:.1f} img/s "
              f"(wall, startup included) -> {row['ratio']:.2f}x; logged ips ratio {row['logged_ratio']:.2f}x",
              file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------------------


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, list):
        return " ".join(f"{x:.2f}" for x in v)
    return str(v)


def write_outputs(out, parts, header):
    os.makedirs(out, exist_ok=True)
    md = [header]
    for part, rows in parts.items():
        if not rows:
            continue
        keys = list(rows[0])
        with open(os.path.join(out, f"compare_{part}.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow({k: fmt(r.get(k, "")) for k in keys})
        md.append(f"\n### {part}\n\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for r in rows:
            md.append("| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "compare.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="train,data", help="comma-separated: train, data, e2e")
    ap.add_argument("--models", default=",".join(m for m in MODELS if m != "resnet18"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both (0: all cores)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--fused-attn", action="store_true", help="our ViT/Swin with use_fused_attn=True")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenet_sample_100"))
    ap.add_argument("--data-limit", type=int, default=0)
    ap.add_argument("--e2e-cases", default=",".join(E2E_CASES))
    ap.add_argument("--e2e-rounds", type=int, default=2, help="ABAB rounds of the two train.py runs")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers in the e2e config")
    ap.add_argument("--pc-python", default=sys.executable,
                    help="python with PaddleClas's engine dependencies (faiss-cpu, scikit-learn, easydict, ...)")
    ap.add_argument("--pc-threads", type=int, default=0,
                    help="CPU threads for PaddleClas's train.py (0: its default, which is 1)")
    ap.add_argument("--out", default=os.path.join(ROOT, "output", "compare_paddleclas"))
    ap.add_argument("--child-train", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_train:
        row = train_one(args.child_train, args.batch_size, args.img_size, args.threads, args.warmup, args.repeat,
                        args.fused_attn)
        print("BENCH_JSON " + json.dumps(row))
        return 0
    from paddleclas_ref import available

    if not available():
        print("error: PaddleClas not found: set PADDLECLAS_ROOT (see benchmarks/paddleclas_ref.py)", file=sys.stderr)
        return 2
    import paddle

    header = (f"`python benchmarks/compare_paddleclas.py {' '.join(sys.argv[1:] if argv is None else argv)}`\n\n"
              f"Paddle {paddle.__version__}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
              "ratio = ours / PaddleClas (medians; > 1 means ours is faster)")
    print(header)
    parts = {}
    for part in args.part.split(","):
        parts[part] = {"train": part_train, "data": part_data, "e2e": part_e2e}[part](args)
    print(write_outputs(args.out, parts, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
