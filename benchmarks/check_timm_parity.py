"""Converted timm weights give timm's logits: for each family, timm's model with seeded random weights is saved
by timm itself (benchmarks/timm_side.py, in a scratch environment with timm and torch), converted by
ppcls_lite.convert, and our logits on the same input compared with timm's.

    python -m venv /tmp/timmvenv && /tmp/timmvenv/bin/pip install torch==2.13.0 timm safetensors
    python benchmarks/check_timm_parity.py --timm-python /tmp/timmvenv/bin/python            # native size
    python benchmarks/check_timm_parity.py --timm-python /tmp/timmvenv/bin/python --more     # 16 more variants
    python benchmarks/check_timm_parity.py --timm-python ... --tiny --fixtures tests/fixtures/timm

Prints one row per model (family, timm model, our variant, max |ours - timm|, max |timm|) and exits 1 when a
difference exceeds --tol. --tiny runs narrow test-only widths; --fixtures keeps timm's files (checkpoint,
input + logits, pretrained_cfg) for tests/convert/test_timm_fixtures.py.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# (tag, family, timm model, timm kwargs, our variant, our kwargs, input size, checkpoint format)
NATIVE = [
    ("resnet50", "ResNet", "resnet50", {}, "ResNet50", {}, 224, "safetensors"),
    ("resnet50d", "ResNet", "resnet50d", {}, "ResNet50_vd", {}, 224, "pth"),
    ("resnext50_32x4d", "ResNeXt", "resnext50_32x4d", {}, "ResNeXt50_32x4d", {}, 224, "safetensors"),
    ("res2net50_26w_4s", "Res2Net", "res2net50_26w_4s", {}, "Res2Net50_26w_4s", {}, 224, "safetensors"),
    ("res2net50d", "Res2Net", "res2net50d", {}, "Res2Net50_vd_26w_4s", {}, 224, "safetensors"),
    ("swin_tiny", "Swin", "swin_tiny_patch4_window7_224", {}, "SwinTransformer_tiny_patch4_window7_224", {}, 224,
     "safetensors"),
    ("vit_base", "ViT", "vit_base_patch16_224", {}, "ViT_base_patch16_224", {}, 224, "safetensors"),
    ("vit_base_in21k", "ViT", "vit_base_patch16_224.augreg_in21k", {}, "ViT_base_patch16_224", {}, 224,
     "safetensors"),
    ("deit_small_distilled", "DeiT", "deit_small_distilled_patch16_224", {}, "DeiT_small_distilled_patch16_224",
     {}, 224, "safetensors"),
    ("convnext_tiny", "ConvNeXt", "convnext_tiny", {}, "ConvNeXt_tiny", {}, 224, "safetensors"),
]

# further variants, the same way (--more)
MORE = [(t.replace(".", "_"), fam, t, {}, ours, {}, size, "safetensors") for fam, t, ours, size in [
    ("ResNet", "resnet18", "ResNet18", 224), ("ResNet", "resnet34", "ResNet34", 224),
    ("ResNet", "resnet101", "ResNet101", 224), ("ResNet", "resnet18d", "ResNet18_vd", 224),
    ("ResNet", "resnet152d", "ResNet152_vd", 224), ("ResNeXt", "resnext101_32x8d", "ResNeXt101_32x8d_wsl", 224),
    ("ResNeXt", "resnext101_64x4d", "ResNeXt101_64x4d", 224), ("Res2Net", "res2net50_14w_8s", "Res2Net50_14w_8s", 224),
    ("Res2Net", "res2net101d", "Res2Net101_vd_26w_4s", 224),
    ("Swin", "swin_small_patch4_window7_224", "SwinTransformer_small_patch4_window7_224", 224),
    ("Swin", "swin_base_patch4_window12_384", "SwinTransformer_base_patch4_window12_384", 384),
    ("ViT", "vit_base_patch32_384", "ViT_base_patch32_384", 384),
    ("ViT", "vit_tiny_patch16_224", "DeiT_tiny_patch16_224", 224),
    ("ViT", "vit_small_patch16_224", "DeiT_small_patch16_224", 224),
    ("DeiT", "deit_base_patch16_384", "DeiT_base_patch16_384", 384),
    ("ConvNeXt", "convnext_small", "ConvNeXt_small", 224),
]]

_VIT = dict(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2)
TINY = [
    ("resnet_d", "ResNet", "resnet50d", dict(channels=(4, 8, 16, 32), stem_width=2, num_classes=5),
     "ResNet50_vd", dict(base_channels=4), 32, "pth"),
    ("resnet18_d", "ResNet", "resnet18d", dict(channels=(4, 8, 16, 32), stem_width=2, num_classes=5),
     "ResNet18_vd", dict(base_channels=4), 32, "safetensors"),
    ("resnext_d", "ResNeXt", "resnext50d_32x4d", dict(channels=(4, 8, 16, 32), stem_width=2, cardinality=2,
                                                      base_width=32, num_classes=5),
     "ResNeXt50_vd_32x4d", dict(base_channels=4, cardinality=2, group_width=2), 32, "safetensors"),
    ("res2net_d", "Res2Net", "res2net50d", dict(channels=(4, 8, 16, 32), stem_width=2, num_classes=5,
                                                base_width=16),
     "Res2Net50_vd_26w_4s", dict(base_channels=4, width=1), 32, "safetensors"),
    ("swin", "Swin", "swin_tiny_patch4_window7_224", dict(img_size=32, embed_dim=8, depths=(1, 2),
                                                          num_heads=(1, 2), window_size=2, num_classes=5),
     "SwinTransformer_tiny_patch4_window7_224", dict(img_size=32, embed_dim=8, depths=[1, 2], num_heads=[1, 2],
                                                     window_size=2), 32, "safetensors"),
    ("vit", "ViT", "vit_base_patch16_224", dict(_VIT, num_classes=5), "ViT_base_patch16_224", dict(_VIT), 32,
     "safetensors"),
    ("deit_distilled", "DeiT", "deit_tiny_distilled_patch16_224", dict(_VIT, num_classes=5),
     "DeiT_tiny_distilled_patch16_224", dict(_VIT), 32, "safetensors"),
    ("convnext", "ConvNeXt", "convnext_tiny", dict(depths=(1, 1, 2, 1), dims=(8, 8, 16, 16), num_classes=5),
     "ConvNeXt_tiny", dict(depths=[1, 1, 2, 1], dims=[8, 8, 16, 16]), 32, "safetensors"),
]


def compare(folder, row):
    """max |ours - timm| and max |timm| for one converted checkpoint in `folder`."""
    import paddle

    from ppcls_lite.convert import convert_timm, read_timm_state

    tag, _, _, _, ours, our_kwargs, _, fmt = row
    state = read_timm_state(os.path.join(folder, f"{tag}.{fmt}"))
    model, _ = convert_timm(state, dict(name=ours, **our_kwargs))
    model.eval()
    ref = np.load(os.path.join(folder, f"{tag}.npz"))
    with paddle.no_grad():
        out = model(paddle.to_tensor(ref["x"])).numpy()
    return float(np.abs(out - ref["logits"]).max()), float(np.abs(ref["logits"]).max())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm-python", required=True, help="a python that has timm, torch and safetensors")
    ap.add_argument("--tiny", action="store_true", help="narrow test-only widths at 32 px")
    ap.add_argument("--more", action="store_true", help="16 further variants at native size")
    ap.add_argument("--fixtures", help="keep timm's files here (with --tiny: the tests' fixtures)")
    ap.add_argument("--only", nargs="*", help="tags to run")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    table = TINY if args.tiny else MORE if args.more else NATIVE
    rows = [r for r in table if not args.only or r[0] in args.only]
    folder = args.fixtures or tempfile.mkdtemp(prefix="timm-parity-")
    os.makedirs(folder, exist_ok=True)
    jobs = [dict(tag=r[0], timm=r[2], kwargs=r[3], size=r[6], format=r[7]) for r in rows]
    subprocess.run([args.timm_python, os.path.join(HERE, "timm_side.py"), "--out", folder, "--jobs",
                    json.dumps(jobs)], check=True)
    worst = 0.0
    print(f"{'family':9} {'timm model':36} {'ppcls_lite variant':40} {'max |diff|':>11} {'max |logit|':>11}")
    for row in rows:
        diff, scale = compare(folder, row)
        worst = max(worst, diff)
        print(f"{row[1]:9} {row[2]:36} {row[4]:40} {diff:11.2e} {scale:11.3f}", flush=True)
    if args.fixtures:
        manifest = [dict(tag=r[0], family=r[1], timm=r[2], timm_kwargs=r[3], variant=r[4], arch=r[5], size=r[6],
                         file=f"{r[0]}.{r[7]}") for r in rows]
        with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"worst {worst:.2e} (tolerance {args.tol:g})")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
