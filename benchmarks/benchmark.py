"""Benchmark models and the data pipeline: python benchmarks/benchmark.py --models resnet50,swin_tiny [--mode all].

Per model: parameters, MACs, inference images/s (dygraph, paddle.jit.to_static, the exported model through
paddle.inference), training images/s (forward + backward + optimizer step), peak memory, and the engine
overhead (the Trainer's loop against the bare step, same batch and threads). --mode data: images/s of the
ImageNet train and eval transform pipelines on a folder of JPEGs. Each model phase runs in its own process,
so peak memory is per phase. Timings: warmup calls, then the median of --repeat alternating rounds.
Writes benchmark.csv / benchmark.md (and data.csv) into --out. docs/benchmark.md has the measured tables.
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys

# `harness` (imported in the phases) sits beside this script, whose folder Python puts on sys.path; ppcls_lite is
# pip-installed (pip install -e .).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenet_sample_100")
MODES = ("infer", "train", "engine", "data")

MODEL_COLUMNS = [
    ("model", "model"), ("params_m", "params (M)"), ("gmacs", "GMACs/img"), ("batch", "batch"),
    ("img_size", "size"), ("infer_dygraph_ips", "infer dygraph img/s"), ("infer_static_ips", "infer to_static img/s"),
    ("infer_exported_ips", "infer exported img/s"), ("exported_vs_dygraph", "exported/dygraph"),
    ("train_ips", "train step img/s"), ("loop_ips", "train.py loop img/s"), ("bare_ips", "bare step img/s"),
    ("engine_overhead_pct", "loop overhead %"), ("real_loop_ips", "loop on JPEGs img/s"),
    ("peak_rss_infer_mb", "peak RSS infer (MiB)"), ("peak_rss_train_mb", "peak RSS train (MiB)"),
    ("peak_gpu_train_mb", "peak GPU train (MiB)"),
]
DATA_COLUMNS = [("pipeline", "pipeline"), ("images", "images"), ("ips", "images/s"), ("ms_per_image", "ms/image"),
                ("median_pass_s", "median pass (s)"), ("spread", "spread")]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet50",
                    help="comma-separated aliases (resnet50, resnext50_32x4d, res2net50, swin_tiny, "
                         "vit_base_patch16_224, convnext_tiny), registry names, or 'all' (the six aliases)")
    ap.add_argument("--mode", default="all", choices=MODES + ("all",),
                    help="infer | train | engine (train.py loop vs bare step) | data | all")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--img-size", type=int, default=0, help="input size (default: the model's, from ppcls_lite.model_spec)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for Paddle (0: all cores)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds (the median is reported)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--class-num", type=int, default=1000)
    ap.add_argument("--fused-attn", action="store_true", help="build ViT/Swin with use_fused_attn=True")
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder of JPEGs (data mode and the engine's real-data run)")
    ap.add_argument("--data-limit", type=int, default=0, help="use at most this many images (0: all)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the engine's real-data run")
    ap.add_argument("--engine-steps", type=int, default=0,
                    help="loop iterations on real JPEGs in engine mode (0: warmup + repeat; at most one epoch)")
    ap.add_argument("--out", default=os.path.join(ROOT, "output", "benchmark"), help="folder for CSV / markdown")
    ap.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one model phase, print JSON
    return ap.parse_args(argv)


def default_size(name):
    """The variant's own input size (its ModelSpec)."""
    from ppcls_lite import model_spec

    return model_spec(name).input_size


def model_kwargs(name, args):
    if args.fused_attn and any(k in name for k in ("ViT", "Swin", "DeiT")):
        return {"use_fused_attn": True}
    return {}


# ---------------------------------------------------------------------------------------------------------------
# one phase of one model, in a child process


def run_phase(args):
    import paddle

    import harness

    alias, name = harness.resolve_model(args.models)
    paddle.set_device("gpu" if args.device == "gpu" else "cpu")
    threads = harness.set_threads(args.threads)
    size = args.img_size or default_size(name)
    bs = args.batch_size
    row = {"model": alias, "batch": bs, "img_size": size, "threads": threads}
    kwargs = model_kwargs(name, args)
    if args.phase == "infer":
        with paddle.no_grad():
            params, macs = harness.model_figures(harness.build(name, args.class_num, **kwargs), size)
        row.update(params_m=params / 1e6, gmacs=macs / 1e9)
        workdir = harness.tempdir()
        cands, diff = harness.inference_candidates(name, bs, size, threads, workdir, args.class_num,
                                                   use_gpu=args.device == "gpu", model_kwargs=kwargs)
        times = harness.alternate(cands, args.warmup, args.repeat)
        for key, col in (("dygraph", "infer_dygraph_ips"), ("to_static", "infer_static_ips"),
                         ("exported", "infer_exported_ips")):
            row[col] = bs / harness.median(times[key])
        row["exported_vs_dygraph"] = row["infer_exported_ips"] / row["infer_dygraph_ips"]
        row["infer_max_abs_diff"] = diff
        row["peak_rss_infer_mb"] = harness.peak_rss_mb()
    elif args.phase == "train":
        model = harness.build(name, args.class_num, **kwargs)
        step = harness.train_step_fn(model, bs, size, args.class_num)
        times = harness.alternate({"train": step}, args.warmup, args.repeat)
        row["train_ips"] = bs / harness.median(times["train"])
        row["train_spread"] = harness.spread(times["train"])
        row["peak_rss_train_mb"] = harness.peak_rss_mb()
        row["peak_gpu_train_mb"] = harness.peak_gpu_mb()
    elif args.phase == "engine":
        config_path = harness.CONFIGS.get(alias, harness.CONFIGS["resnet50"])
        data = os.path.abspath(args.data)
        list_file = write_list_file(data, harness.tempdir())
        out_dir = harness.tempdir()
        cfg = harness.engine_config(config_path, name, bs, size, data, list_file, threads, args.workers, out_dir,
                                    device=args.device)
        real = args.engine_steps or (args.warmup + args.repeat)
        res = harness.engine_overhead(cfg, warmup=args.warmup, repeat=args.repeat, real_steps=real)
        row["loop_ips"] = bs / res["loop_s"]
        row["bare_ips"] = bs / res["bare_s"]
        row["engine_overhead_pct"] = 100.0 * (res["loop_s"] / res["bare_s"] - 1.0)
        row["loop_times"] = " ".join(f"{t:.2f}" for t in res["loop_times"])
        row["bare_times"] = " ".join(f"{t:.2f}" for t in res["bare_times"])
        if "real_loop_s" in res:
            row["real_loop_ips"] = bs / res["real_loop_s"]
    else:
        raise ValueError(args.phase)
    print("BENCH_JSON " + json.dumps(row))
    return 0


def write_list_file(folder, workdir):
    """A PaddleClas list file over the images of `folder` (label = index of the first-level subfolder)."""
    from ppcls_lite.engine.predictor import list_images

    given = os.path.join(folder, "val_list.txt")
    if os.path.isfile(given):
        return given
    paths = list_images(folder)
    classes = sorted({os.path.relpath(p, folder).split(os.sep)[0] for p in paths})
    path = os.path.join(workdir, "list.txt")
    with open(path, "w") as f:
        for p in paths:
            rel = os.path.relpath(p, folder)
            f.write(f"{rel} {classes.index(rel.split(os.sep)[0]) % 1000}\n")
    return path


def spawn_phase(args, model, phase):
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--models", model]
    for flag in ("batch_size", "img_size", "threads", "warmup", "repeat", "device", "class_num", "data",
                 "workers", "engine_steps"):
        cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.fused_attn:
        cmd.append("--fused-attn")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    print(f"  {model} {phase}: failed (exit {proc.returncode}): {tail}", file=sys.stderr)
    return {}


# ---------------------------------------------------------------------------------------------------------------
# data pipelines, in this process


def run_data(args):
    import harness

    paths, blobs = harness.read_images(args.data, args.data_limit)
    rows = []
    pipes = {"train (decode+RandCrop+flip+normalize+CHW)": harness.ours_pipeline(harness.train_ops(224)),
             "eval (decode+resize256+crop224+normalize+CHW)": harness.ours_pipeline(harness.eval_ops(224, 256))}
    times = harness.alternate({k: (lambda f=f: f(blobs)) for k, f in pipes.items()}, args.warmup, args.repeat)
    for key, t in times.items():
        med = harness.median(t)
        rows.append({"pipeline": key, "images": len(blobs), "ips": len(blobs) / med,
                     "ms_per_image": 1000.0 * med / len(blobs), "median_pass_s": med, "spread": harness.spread(t)})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# output


def fmt(value):
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def table(rows, columns):
    cols = [(k, h) for k, h in columns if any(r.get(k) not in (None, "") for r in rows)]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |")
    return "\n".join(lines), cols


def write_csv(path, rows, columns):
    keys = [k for k, _ in columns] + sorted({k for r in rows for k in r} - {k for k, _ in columns})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})


def environment():
    import paddle

    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    return (f"CPU: {model}, {os.cpu_count()} logical cores; Paddle {paddle.__version__}; "
            f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f} at start")


def main(argv=None):
    args = parse_args(argv)
    if args.phase:
        return run_phase(args)
    import harness

    names = list(harness.ALIASES) if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        for m in names:
            harness.resolve_model(m)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.mode in ("data", "all") and not os.path.isdir(args.data):
        print(f"error: --data {args.data}: no such folder", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    env = environment()
    print(env)
    command = "python benchmarks/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    phases = [p for p in ("infer", "train", "engine") if args.mode in (p, "all")]
    rows = []
    for m in names:
        row = {}
        for phase in phases:
            print(f"  {m}: {phase} ...", file=sys.stderr, flush=True)
            row.update(spawn_phase(args, m, phase))
        if row:
            rows.append(row)
    md = [f"# Benchmark\n\n`{command}`\n\n{env}\n"]
    if rows:
        text, cols = table(rows, MODEL_COLUMNS)
        print(text)
        write_csv(os.path.join(args.out, "benchmark.csv"), rows, MODEL_COLUMNS)
        md.append(text + "\n")
    if args.mode in ("data", "all"):
        data_rows = run_data(args)
        text, _ = table(data_rows, DATA_COLUMNS)
        print(text)
        write_csv(os.path.join(args.out, "data.csv"), data_rows, DATA_COLUMNS)
        md.append(f"Data pipelines, one process, images from {args.data}:\n\n" + text + "\n")
    with open(os.path.join(args.out, "benchmark.md"), "w") as f:
        f.write("\n".join(md))
    print(f"wrote {args.out}/benchmark.md")
    failed = len(names) * bool(phases) - len(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
