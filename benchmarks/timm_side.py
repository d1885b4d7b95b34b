"""The timm half of benchmarks/check_timm_parity.py, run by it in a scratch environment that has timm and torch
(they are not ppcls_lite dependencies): for each requested model, timm's model with seeded random weights
(scrambled so that no block is near the identity), its checkpoint (.safetensors, or torch.save's .pth) and its
logits on a seeded input, written under --out.

    python benchmarks/timm_side.py --out DIR --jobs '[{"tag": "r50", "timm": "resnet50", "kwargs": {}, ...}]'
"""
import argparse
import json
import math
import os

import numpy as np
import timm
import torch
from safetensors.torch import save_file


def scramble(model, seed):
    """Seeded weights of a trained-looking scale: fan-in scaled matrices, norm scales and layer scales near 1,
    small biases / tokens, positive BatchNorm variances."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75)
            elif name.endswith("running_mean") or name.endswith("bias") or "token" in name or "pos_embed" in name:
                t.copy_(noise * 0.1)
            elif t.ndim >= 2:
                t.copy_(noise / math.sqrt(max(1, t[0].numel())))
            else:  # norm scales, ConvNeXt's gamma
                t.copy_(1.0 + 0.2 * noise)


def run(job, out):
    torch.manual_seed(0)
    model = timm.create_model(job["timm"], pretrained=False, **job.get("kwargs", {})).eval()
    scramble(model, job.get("seed", 0))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = os.path.join(out, job["tag"] + (".pth" if job.get("format") == "pth" else ".safetensors"))
    if job.get("format") == "pth":
        torch.save(state, path)
    else:
        save_file(state, path)
    size = job.get("size", 224)
    x = torch.from_numpy(np.random.default_rng(job.get("seed", 0)).standard_normal((2, 3, size, size))
                         .astype("float32"))
    with torch.no_grad():
        logits = model(x)
    np.savez(os.path.join(out, job["tag"] + ".npz"), x=x.numpy(), logits=logits.numpy())
    cfg = dict(model.pretrained_cfg)
    with open(os.path.join(out, job["tag"] + ".config.json"), "w", encoding="utf-8") as f:
        json.dump({"architecture": job["timm"], "pretrained_cfg": {k: cfg[k] for k in
                   ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std") if k in cfg}}, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", required=True, help="JSON list of {tag, timm, kwargs, size, seed, format}")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    for job in json.loads(args.jobs):
        print(run(job, args.out), f"timm {timm.__version__}, torch {torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
