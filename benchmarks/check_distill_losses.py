"""Our distillation losses beside PaddleClas's own, on the same fixed logits.

    python benchmarks/check_distill_losses.py --paddleclas-src /path/to/PaddleClas

Imports PaddleClas's loss modules (ppcls/loss/*.py) from a source checkout without its package __init__ (which
pulls in its whole engine), runs each Distillation* loss of a config's form on seeded logits, and prints both
values and their difference. DistillationCELoss is compared without epsilon (with it, PaddleClas smooths raw
logits; see ppcls_lite/loss/distillation.py); DistillationDeiTHardLoss is ours alone.
"""
import argparse
import importlib
import os
import sys
import types

import numpy as np
import paddle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# (loss name, its keyword arguments), as the configs write them
CASES = [
    ("DistillationGTCELoss", {"model_names": ["Student"]}),
    ("DistillationGTCELoss", {"model_names": ["Student"], "epsilon": 0.1}),
    ("DistillationCELoss", {"model_name_pairs": [["Student", "Teacher"]]}),
    ("DistillationKLDivLoss", {"model_name_pairs": [["Student", "Teacher"]], "temperature": 4}),
    ("DistillationDMLLoss", {"model_name_pairs": [["Student", "Teacher"]]}),
    ("DistillationDMLLoss", {"model_name_pairs": [["Student", "Teacher"]], "sum_across_class_dim": True}),
    ("DistillationDKDLoss", {"model_name_pairs": [["Student", "Teacher"]], "temperature": 1, "alpha": 1.0,
                             "beta": 1.0}),
    ("DistillationDKDLoss", {"model_name_pairs": [["Student", "Teacher"]], "temperature": 4, "alpha": 1.0,
                             "beta": 8.0}),
    ("DistillationDISTLoss", {"model_name_pairs": [["Student", "Teacher"]]}),
    ("DistillationSKDLoss", {"model_name_pairs": [["Student", "Teacher"]], "temperature": 1.0, "multiplier": 2.0,
                             "alpha": 0.9}),
    ("DistillationWSLLoss", {"model_name_pairs": [["Student", "Teacher"]], "temperature": 2}),
]


def paddleclas_losses(src):
    """PaddleClas's ppcls.loss.distillationloss module, its package __init__ files bypassed."""
    for name in ("ppcls", "ppcls.utils", "ppcls.loss"):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(src, *name.split("."))]
        sys.modules[name] = module
    logger = types.ModuleType("ppcls.utils.logger")
    logger.warning = logger.info = logger.error = lambda *a, **k: None
    sys.modules["ppcls.utils.logger"] = logger
    sys.modules["ppcls.utils"].logger = logger
    return importlib.import_module("ppcls.loss.distillationloss")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paddleclas-src", required=True, help="a PaddleClas checkout (holding ppcls/loss)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--classes", type=int, default=10)
    args = ap.parse_args(argv)
    theirs = paddleclas_losses(args.paddleclas_src)
    from ppcls_lite.loss import LOSSES

    rng = np.random.default_rng(0)
    student = paddle.to_tensor(rng.normal(0, 3, (args.batch, args.classes)).astype("float32"))
    teacher = paddle.to_tensor(rng.normal(0, 3, (args.batch, args.classes)).astype("float32"))
    label = paddle.to_tensor(rng.integers(0, args.classes, (args.batch, 1)).astype("int64"))
    predicts = {"Student": student, "Teacher": teacher}
    worst = 0.0
    print(f"{'loss':<24} {'parameters':<58} {'PaddleClas':>12} {'ppcls_lite':>12} {'|diff|':>9}")
    for name, kwargs in CASES:
        ref = getattr(theirs, name)(**kwargs)(predicts, label)
        ours = LOSSES[name](**kwargs)(predicts, label)
        a = float(paddle.add_n(list(ref.values())))
        b = float(paddle.add_n(list(ours.values())))
        worst = max(worst, abs(a - b))
        params = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("model_names", "model_name_pairs"))
        print(f"{name:<24} {params:<58} {a:12.7f} {b:12.7f} {abs(a - b):9.2e}")
    print(f"worst |difference|: {worst:.2e}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
