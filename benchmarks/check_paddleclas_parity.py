"""Numerical parity with PaddleClas 2.6.0: same weights in, same logits out (eval mode, random input).

    PADDLECLAS_ROOT=/path/to/site-packages/paddleclas python benchmarks/check_paddleclas_parity.py \
        --models ResNet50,SwinTransformer_tiny_patch4_window7_224 [--img-size 224] [--batch 2]

Each model is checked in a subprocess: PaddleClas's legacy models use global parameter names and cannot be
built twice in one process. Exits 1 if any model differs by more than --tol.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

# PaddleClas module (under ppcls.arch.backbone) holding each family's factories.
FAMILY_MODULES = {
    "ResNet": "legendary_models.resnet",
    "ResNet_vd": "legendary_models.resnet",
    "ResNeXt": "model_zoo.resnext",
    "ResNeXt_vd": "model_zoo.resnext_vd",
    "ResNeXt_wsl": "model_zoo.resnext101_wsl",
    "Res2Net": "model_zoo.res2net",
    "Res2Net_vd": "model_zoo.res2net_vd",
    "SwinTransformer": "legendary_models.swin_transformer",
    "VisionTransformer": "model_zoo.vision_transformer",
    "ConvNeXt": "model_zoo.convnext",
}


def reference_module(name):
    """PaddleClas module key for a model name."""
    if name.startswith("ResNeXt"):
        if name.endswith("_wsl"):
            return FAMILY_MODULES["ResNeXt_wsl"]
        return FAMILY_MODULES["ResNeXt_vd" if "_vd" in name else "ResNeXt"]
    if name.startswith("Res2Net"):
        return FAMILY_MODULES["Res2Net_vd" if "_vd" in name else "Res2Net"]
    for prefix, fam in (("ResNet", "ResNet"), ("Swin", "SwinTransformer"), ("ViT", "VisionTransformer"),
                        ("ConvNeXt", "ConvNeXt")):
        if name.startswith(prefix):
            return FAMILY_MODULES[fam]
    raise KeyError(name)


def check_one(name, img_size, batch, class_num, seed=0):
    """Max abs logit difference between PaddleClas's model and ours with PaddleClas's weights."""
    import paddle

    import ppcls_lite
    from paddleclas_ref import paddleclas_module

    paddle.set_device("cpu")
    paddle.seed(seed)
    ref = getattr(paddleclas_module(reference_module(name)), name)(class_num=class_num)
    ours = ppcls_lite.build_model(name, class_num=class_num)
    ref_sd = ref.state_dict()
    ours_sd = ours.state_dict()
    assert list(ref_sd) == list(ours_sd), "state_dict keys differ"
    # Randomise BN statistics too so that eval-mode normalisation is exercised, not identity.
    rng = np.random.default_rng(seed)
    new = {}
    for k, v in ref_sd.items():
        a = v.numpy()
        if k.endswith("_variance"):
            a = rng.uniform(0.5, 1.5, a.shape).astype(a.dtype)
        elif k.endswith("_mean"):
            a = rng.normal(0, 0.1, a.shape).astype(a.dtype)
        new[k] = a
    ref.set_state_dict(new)
    ours.set_state_dict(new)
    ref.eval()
    ours.eval()
    x = paddle.to_tensor(rng.standard_normal((batch, 3, img_size, img_size)).astype("float32"))
    with paddle.no_grad():
        a = ref(x).numpy()
        b = ours(x).numpy()
    return float(np.abs(a - b).max()), float(np.abs(a).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="comma-separated model names, or 'all'")
    ap.add_argument("--img-size", type=int, default=0, help="input size (default: the model's own)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--class-num", type=int, default=1000)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(check_one(args.models, args.img_size, args.batch, args.class_num)))
        return 0
    import csv

    with open(os.path.join(os.path.dirname(HERE), "tests", "fixtures", "model_figures.csv")) as f:
        sizes = {r["model"]: int(r["input_size"]) for r in csv.DictReader(f)}
    names = list(sizes) if args.models == "all" else args.models.split(",")
    failed = 0
    for name in names:
        size = args.img_size or sizes.get(name, 224)
        cmd = [sys.executable, __file__, "--one", "--models", name, "--img-size", str(size),
               "--batch", str(args.batch), "--class-num", str(args.class_num)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            failed += 1
            print(f"{name:45s} ERROR {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}")
            continue
        diff, scale = json.loads(proc.stdout.strip().splitlines()[-1])
        ok = diff <= args.tol
        failed += not ok
        print(f"{name:45s} size={size} max|diff|={diff:.3e} max|logit|={scale:.3e} {'OK' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
