"""CPU knobs, each measured ALTERNATELY (ABAB) in one process: threads, oneDNN flags, fused attention.

    python benchmarks/cpu_knobs.py [--parts threads,onednn,fused] [--batch-size 8] [--repeat 4]

threads  ResNet18 training step (forward + backward + Momentum step) with 1 thread against all cores
         (paddle.base.core.set_num_threads; Paddle's CPU default is 1 thread, ppcls_lite's runtime sets all cores).
onednn   ResNet50 training step with FLAGS_use_onednn / FLAGS_use_mkldnn off and on (dygraph), and whether the
         loss differs.
fused    ViT-B/16 and Swin-T inference and training step, use_fused_attn=False against True
         (F.scaled_dot_product_attention), with the largest logit difference.
Prints one line per comparison: medians and the ratio.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def report(label, times, a, b, extra=""):
    ma, mb = harness.median(times[a]), harness.median(times[b])
    line = (f"{label:44s} {a}: {ma:7.3f}s  {b}: {mb:7.3f}s  {a}/{b} time ratio {ma / mb:5.2f}"
            f"{('  ' + extra) if extra else ''}")
    print(line, flush=True)
    return {"label": label, a: ma, b: mb, "ratio": ma / mb, "extra": extra}


def threads(args):
    import paddle

    model = harness.build("ResNet18", 1000)
    step = harness.train_step_fn(model, args.batch_size, 224)
    cores = os.cpu_count() or 1

    def with_threads(n):
        def run():
            paddle.base.core.set_num_threads(n)
            step()
        return run

    times = harness.alternate({"1 thread": with_threads(1), f"{cores} threads": with_threads(cores)},
                              args.warmup, args.repeat)
    paddle.base.core.set_num_threads(cores)
    return [report(f"ResNet18 train step b{args.batch_size} threads", times, "1 thread", f"{cores} threads")]


def onednn(args):
    import paddle

    rows = []
    model = harness.build("ResNet50", 1000)
    step = harness.train_step_fn(model, args.batch_size, 224, lr=0.0)  # lr 0: every step sees the same weights
    flags = [f for f in ("FLAGS_use_onednn", "FLAGS_use_mkldnn") if f in paddle.base.core.globals().keys()]

    def with_flag(value):
        def run():
            paddle.set_flags({f: value for f in flags})
            return float(step())
        return run

    off, on = with_flag(False), with_flag(True)
    diff = abs(off() - on())
    times = harness.alternate({"off": off, "on": on}, args.warmup, args.repeat)
    paddle.set_flags({f: False for f in flags})
    rows.append(report(f"ResNet50 train step b{args.batch_size} {'+'.join(flags)}", times, "off", "on",
                       f"|loss(on) - loss(off)| = {diff:.3g}"))
    return rows


def fused(args):
    import numpy as np
    import paddle

    rows = []
    for name in ("ViT_base_patch16_224", "SwinTransformer_tiny_patch4_window7_224"):
        plain = harness.build(name, 1000)
        fast = harness.build(name, 1000, use_fused_attn=True)
        fast.set_state_dict(plain.state_dict())
        x = paddle.to_tensor(np.random.default_rng(0).standard_normal((args.batch_size, 3, 224, 224)).astype("float32"))

        def infer(m):
            def run():
                m.eval()
                with paddle.no_grad():
                    return m(x).numpy()
            return run

        diff = float(np.abs(infer(plain)() - infer(fast)()).max())
        times = harness.alternate({"plain": infer(plain), "fused": infer(fast)}, args.warmup, args.repeat)
        rows.append(report(f"{name} infer b{args.batch_size}", times, "plain", "fused", f"max|dlogit| {diff:.2e}"))
        cands = {"plain": harness.train_step_fn(plain, args.batch_size, 224),
                 "fused": harness.train_step_fn(fast, args.batch_size, 224)}
        times = harness.alternate(cands, args.warmup, args.repeat)
        rows.append(report(f"{name} train step b{args.batch_size}", times, "plain", "fused"))
        del plain, fast
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="threads,onednn,fused")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args(argv)
    import paddle

    paddle.set_device("cpu")
    harness.set_threads(0)
    print(f"Paddle {paddle.__version__}, {os.cpu_count()} cores, load average {harness.load_average():.2f}")
    for part in args.parts.split(","):
        {"threads": threads, "onednn": onednn, "fused": fused}[part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
