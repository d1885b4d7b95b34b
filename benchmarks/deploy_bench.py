"""Deployment measured side by side in one run (docs/deploy.md): the backends and precisions of one exported model.

    python benchmarks/deploy_bench.py speed [--model ResNet50] [--batch 8] [--threads 2] [--repeat 30]
    python benchmarks/deploy_bench.py accuracy -c configs/quickstart/resnet18_cifar10_mini.yaml \\
        --weights output/quickstart/best_model [--calib dataset/cifar10_mini/train]

speed: the variant with seeded random weights, exported once (Paddle + ONNX + int8 calibrated on 32 of
../shared/data/imagenet_sample_100's JPEGs); median seconds per batch of each backend / precision after a warmup,
and each one's logits against Paddle Inference fp32 (max |diff| / max |logit|).
accuracy: top-1 on the config's evaluation list of the dygraph model (the checkpoint), then of the exported
model through each backend / precision, all on the same images.

    python benchmarks/deploy_bench.py e2e --paddleclas-python /tmp/pcvenv/bin/python \
        --paddleclas-root /tmp/pc_patched [--pairs 3]

e2e: the same exported ResNet50 folder, the 100 JPEGs of imagenet_sample_100 to top-5, whole commands timed in
alternation: tools/predict.py against PaddleClas 2.6.0's deploy/python/predict_cls.py reading our inference.yml
(oneDNN on, the same threads and batch). PaddleClas's predictor needs one patch on Paddle 3.3.1 CPU: its
`config.enable_memory_optim()` fails ("Not find predictor_id 0 and pass_name memory_optimize_pass"), so
--paddleclas-root is a copy of the installed paddleclas package with that call removed (not part of this repo).
Both top-1 lists are compared image by image.
"""
import json
import re
import subprocess
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenet_sample_100")
RUNS = [("paddle", "fp32"), ("paddle", "bf16"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]


def _available(runs):
    from ppcls_lite.deploy.backends import cpu_supports_bf16

    return [r for r in runs if r[1] != "bf16" or cpu_supports_bf16()]


def speed(args):
    import paddle

    import ppcls_lite
    from ppcls_lite.arch.registry import model_spec
    from ppcls_lite.deploy.backends import make_backend
    from ppcls_lite.deploy.bundle import write_bundle
    from ppcls_lite.export import _calibration_batches, export_inference_model
    from ppcls_lite.deploy.onnx_export import quantize_int8, to_onnx

    paddle.seed(0)
    folder = tempfile.mkdtemp(prefix="deploy-bench-")
    model = ppcls_lite.build_model(args.model, class_num=1000)
    spec = model_spec(args.model)
    prefix = export_inference_model(model, os.path.join(folder, "inference"), (3, spec.input_size, spec.input_size))
    write_bundle(folder, args.model, spec.eval_transform_ops(), [str(i) for i in range(1000)])
    quantize_int8(to_onnx(prefix), _calibration_batches(folder, SAMPLE, 32))
    x = np.random.default_rng(0).standard_normal((args.batch, 3, spec.input_size, spec.input_size)).astype("f4")
    print(f"{args.model}, batch {args.batch}, {args.threads} threads, median of {args.repeat} after 3 warmups")
    print("| backend | precision | s / batch | img/s | vs Paddle fp32 | max abs diff / max abs logit |")
    print("|---|---|---|---|---|---|")
    reference, base = None, None
    for backend, precision in _available(RUNS):
        run = make_backend(prefix, backend, precision, threads=args.threads)
        for _ in range(3):
            out = run(x)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = run(x)
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        if reference is None:
            reference, base = out, t
        rel = float(np.abs(out - reference).max() / np.abs(reference).max())
        print(f"| {backend} | {precision} | {t:.4f} | {args.batch / t:.1f} | {base / t:.2f}x | {rel:.2e} |",
              flush=True)
    return 0


def accuracy(args):
    import ppcls_lite
    from ppcls_lite.config import load_config
    from ppcls_lite.deploy import BundlePredictor
    from ppcls_lite.export import export_config

    config = load_config(args.config, [f"Global.pretrained_model={args.weights}"])
    ds = config["DataLoader"]["Eval"]["dataset"]
    listing = [line.split() for line in open(ds["cls_label_path"]) if line.strip()]
    paths = [os.path.join(ds["image_root"], p) for p, _ in listing]
    labels = {p: int(c) for p, (_, c) in zip(paths, listing)}
    folder = tempfile.mkdtemp(prefix="deploy-acc-")
    config["Global"]["save_inference_dir"] = folder
    export_config(config, formats=("paddle", "onnx"), int8_calib=args.calib, calib_num=args.calib_num)
    result = ppcls_lite.evaluate_config(config)
    print(f"{len(paths)} images of {ds['cls_label_path']}; int8 calibrated on {args.calib_num} of {args.calib}")
    print("| model | top-1 |\n|---|---|")
    print(f"| dygraph (tools/eval.py of the checkpoint) | {result.metrics['top1']:.4f} |")
    for backend, precision in _available(RUNS):
        records = BundlePredictor(folder, paths, backend, precision, batch_size=32, topk=1)
        top1 = np.mean([r["class_ids"][0] == labels[r["file"]] for r in records])
        print(f"| exported, {backend} {precision} | {top1:.4f} |", flush=True)
    return 0


def _export_resnet50(folder):
    import paddle

    import ppcls_lite
    from ppcls_lite.config import load_config
    from ppcls_lite.export import export_config

    paddle.seed(0)
    weights = os.path.join(folder, "random.pdparams")
    paddle.save(ppcls_lite.build_model("ResNet50").state_dict(), weights)
    config = load_config(os.path.join(ROOT, "configs", "resnet50.yaml"),
                         [f"Global.pretrained_model={weights}", f"Global.save_inference_dir={folder}/inference",
                          "Infer.PostProcess.class_id_map_file=null"], check_paths=("Global.pretrained_model",))
    export_config(config, formats=("paddle", "onnx"), int8_calib=SAMPLE, calib_num=32)
    return os.path.join(folder, "inference")


def e2e(args):
    folder = tempfile.mkdtemp(prefix="deploy-e2e-")
    model_dir = _export_resnet50(folder)
    theirs_name = "PaddleClas deploy/python/predict_cls.py, fp32"
    theirs = [args.paddleclas_python, os.path.join(args.paddleclas_root, "paddleclas", "deploy", "python",
                                                    "predict_cls.py"), "-c", os.path.join(model_dir, "inference.yml")]
    for key, value in (("inference_model_dir", model_dir), ("infer_imgs", SAMPLE), ("batch_size", args.batch),
                       ("use_gpu", False), ("enable_mkldnn", True), ("cpu_num_threads", args.threads),
                       ("ir_optim", True), ("use_tensorrt", False), ("use_fp16", False), ("gpu_mem", 8000),
                       ("enable_profile", False), ("enable_benchmark", False)):
        theirs += ["-o", f"Global.{key}={value}"]
    commands = [(theirs_name, theirs, dict(os.environ, PYTHONPATH=args.paddleclas_root))]
    for backend, precision in _available(RUNS):
        commands.append((f"ppcls_lite tools/predict.py, {backend} {precision}",
                         [sys.executable, os.path.join(ROOT, "tools", "predict.py"), "--model-dir", model_dir,
                          "--images", SAMPLE, "--batch-size", str(args.batch), "--threads", str(args.threads),
                          "--backend", backend, "--precision", precision], None))
    times, outputs = {name: [] for name, _, _ in commands}, {}
    for _ in range(args.pairs):
        for name, cmd, env in commands:
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
            times[name].append(time.perf_counter() - start)
            if proc.returncode:
                print(name, "failed:", proc.stderr[-2000:])
                return 1
            outputs[name] = proc.stdout
    pc = {m[1]: int(m[2]) for m in re.finditer(r"^(\S+):\s+class id\(s\): \[(\d+)", outputs[theirs_name], re.M)}
    base = statistics.median(times[theirs_name])
    print(f"100 JPEGs -> top-5, the same exported ResNet50 (random weights), batch {args.batch}, {args.threads} "
          f"threads, whole commands, {args.pairs} alternating rounds")
    print("| command | seconds (min / median / max) | vs PaddleClas | top-1 equal to PaddleClas's |\n|---|---|---|---|")
    for name, ts in times.items():
        if name == theirs_name:
            same = f"{len(pc)} / {len(pc)}"
        else:
            mine = {os.path.basename(json.loads(line)["file"]): json.loads(line)["class_ids"][0]
                    for line in outputs[name].splitlines()}
            same = f"{sum(mine.get(k) == v for k, v in pc.items())} / {len(pc)}"
        print(f"| {name} | {min(ts):.2f} / {statistics.median(ts):.2f} / {max(ts):.2f} | "
              f"{base / statistics.median(ts):.2f}x | {same} |", flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--model", default="ResNet50")
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeat", type=int, default=30)
    a = sub.add_parser("accuracy")
    a.add_argument("-c", "--config", required=True)
    a.add_argument("--weights", required=True)
    a.add_argument("--calib", default=os.path.join(ROOT, "dataset", "cifar10_mini", "train"))
    a.add_argument("--calib-num", type=int, default=64)
    e = sub.add_parser("e2e")
    e.add_argument("--paddleclas-python", required=True, help="a python with paddleclas 2.6.0's dependencies")
    e.add_argument("--paddleclas-root", required=True, help="folder holding the patched paddleclas package")
    e.add_argument("--batch", type=int, default=8)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args(argv)
    return {"speed": speed, "accuracy": accuracy, "e2e": e2e}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
