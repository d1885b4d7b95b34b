"""Measurement building blocks for benchmarks/benchmark.py and benchmarks/compare_paddleclas.py.

Timing rule: candidates that are compared are run ALTERNATELY in one process (round r runs A B C, round r+1
C B A, ...), after warmup calls, and each is summarised by the median of its rounds. The CPU of a shared machine
drifts in load; alternating spreads that drift over every candidate instead of penalising whichever ran last.

Nothing here is imported by the package: these are tools for people measuring it.
"""
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Short names used on the command line (and in docs/benchmark.md) -> registry names.
ALIASES = {
    "resnet50": "ResNet50",
    "resnext50_32x4d": "ResNeXt50_32x4d",
    "res2net50": "Res2Net50_26w_4s",
    "swin_tiny": "SwinTransformer_tiny_patch4_window7_224",
    "vit_base_patch16_224": "ViT_base_patch16_224",
    "convnext_tiny": "ConvNeXt_tiny",
}
# The ImageNet recipe shipped for each alias (engine-overhead runs use its optimizer, loss and batch ops).
CONFIGS = {alias: os.path.join(ROOT, "configs", alias + ".yaml") for alias in ALIASES}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def resolve_model(name):
    """(alias, registry name) for a short alias or a registry name; ValueError for anything else."""
    from ppcls_lite.arch import list_models

    if name.lower() in ALIASES:
        return name.lower(), ALIASES[name.lower()]
    by_lower = {n.lower(): n for n in list_models()}
    if name.lower() in by_lower:
        name = by_lower[name.lower()]
        alias = next((a for a, n in ALIASES.items() if n == name), name)
        return alias, name
    raise ValueError(f"unknown model {name!r}: use one of {', '.join(ALIASES)} or a registry name "
                     "(ppcls_lite.list_models())")


# ---------------------------------------------------------------------------------------------------------------
# timing


def sync():
    """Wait for queued device work (a no-op on CPU, where dygraph runs synchronously)."""
    import paddle

    if paddle.device.get_device().startswith("gpu"):
        paddle.device.synchronize()


def alternate(candidates, warmup=1, repeat=5, cpu=None):
    """Time each callable of {name: fn} `repeat` times, alternating the order every round.

    Each fn is called `warmup` times first (untimed, same alternating order). Returns {name: [seconds, ...]}
    of wall time; a dict passed as `cpu` receives the process CPU seconds (all threads) of the same calls.
    """
    names = list(candidates)
    for r in range(warmup):
        for name in names if r % 2 == 0 else names[::-1]:
            candidates[name]()
            sync()
    times = {name: [] for name in names}
    for r in range(warmup, warmup + repeat):  # the direction keeps alternating from the warmup on
        for name in names if r % 2 == 0 else names[::-1]:
            c0, t0 = time.process_time(), time.perf_counter()
            candidates[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - c0)
    return times


def median(values):
    return float(statistics.median(values)) if values else float("nan")


def spread(values):
    """'min..max' of a list of seconds, for the notes column."""
    return f"{min(values):.3f}..{max(values):.3f}s" if values else ""


def peak_rss_mb():
    """High-water resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_gpu_mb():
    """paddle.device.cuda.max_memory_allocated in MiB, or None on CPU."""
    import paddle

    if paddle.device.get_device().startswith("gpu"):
        return paddle.device.cuda.max_memory_allocated() / 2.0 ** 20
    return None


def set_threads(threads):
    """Give Paddle's CPU kernels `threads` threads (0: all cores); returns the number used."""
    import paddle

    threads = int(threads) or (os.cpu_count() or 1)
    paddle.base.core.set_num_threads(threads)
    return threads


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        return float("nan")


# ---------------------------------------------------------------------------------------------------------------
# models: size, inference, training step


def build(name, class_num=1000, **kwargs):
    import ppcls_lite

    return ppcls_lite.build_model(name, class_num=class_num, **kwargs)


def model_figures(model, img_size):
    """(trainable parameters, MACs of one image) via ppcls_lite.arch.flops."""
    from ppcls_lite.arch.flops import count_macs, count_params

    params, _ = count_params(model)
    macs = count_macs(model, [1, 3, img_size, img_size]).total
    return params, macs


def inference_candidates(name, batch_size, img_size, threads, workdir, class_num=1000, use_gpu=False,
                         model_kwargs=None):
    """{'dygraph', 'to_static', 'exported'} callables over one identical random batch, plus the largest
    output difference between them (all three share the same weights)."""
    import paddle

    from ppcls_lite.export import create_predictor, export_inference_model, run_predictor

    model_kwargs = dict(model_kwargs or {})
    dy = build(name, class_num, **model_kwargs)
    dy.eval()
    # to_static and export rewrite the layer they are given: each gets its own copy of the weights.
    st = build(name, class_num, **model_kwargs)
    st.set_state_dict(dy.state_dict())
    st.eval()
    ex = build(name, class_num, **model_kwargs)
    ex.set_state_dict(dy.state_dict())
    spec = [paddle.static.InputSpec([None, 3, img_size, img_size], "float32", "x")]
    st_fn = paddle.jit.to_static(st, input_spec=spec, full_graph=True)
    prefix = export_inference_model(ex, os.path.join(workdir, "inference"), (3, img_size, img_size))
    del ex
    predictor = create_predictor(prefix, num_threads=threads, use_gpu=use_gpu)

    x_np = np.random.default_rng(0).standard_normal((batch_size, 3, img_size, img_size)).astype("float32")
    x = paddle.to_tensor(x_np)

    def dygraph():
        with paddle.no_grad():
            return dy(x).numpy()

    def to_static():
        with paddle.no_grad():
            return st_fn(x).numpy()

    def exported():
        return run_predictor(predictor, x_np)

    ref = dygraph()
    diff = max(float(np.abs(to_static() - ref).max()), float(np.abs(exported() - ref).max()))
    return {"dygraph": dygraph, "to_static": to_static, "exported": exported}, diff


def train_step_fn(model, batch_size, img_size, class_num=1000, lr=1e-3, seed=0):
    """fn() doing forward + cross-entropy + backward + Momentum step + clear_grad on a fixed random batch."""
    import paddle
    import paddle.nn.functional as F

    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.standard_normal((batch_size, 3, img_size, img_size)).astype("float32"))
    y = paddle.to_tensor(rng.integers(0, class_num, (batch_size, 1)).astype("int64"))
    opt = paddle.optimizer.Momentum(learning_rate=lr, momentum=0.9, parameters=model.parameters())
    model.train()

    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        return loss

    return step


# ---------------------------------------------------------------------------------------------------------------
# engine overhead: the Trainer's own loop against the bare step, on the same model, optimizer and batch


class LoopProbe:
    """Given to Trainer.run_epoch as its loader; times every loop iteration.

    Each iteration's time runs from the moment the trainer asks for a batch until it asks for the next one, so
    it holds the data fetch plus everything the loop does with the batch. With `cached` the first real batch is
    replayed (no data cost: the engine alone); with `bare_step` a bare training step on the same batch runs
    between two loop iterations (outside both timings), so loop and bare step alternate ABAB.
    """

    def __init__(self, loader, steps, cached=False, bare_step=None):
        self.loader = loader
        self.steps = int(steps)
        self.cached = cached
        self.bare_step = bare_step
        self._position = 0
        self.loop_times, self.bare_times = [], []

    def __getattr__(self, attr):  # batch_sampler, dataset, skipped files, ...: the real loader's
        if attr in ("loader", "cached", "_position"):
            raise AttributeError(attr)
        return getattr(self.loader, attr)

    @property
    def position(self):
        """Batches of the epoch handed out (the trainer derives its step counter from it)."""
        return self._position if self.cached else self.loader.position

    def __len__(self):
        return self.steps

    def _source(self):
        if self.cached:
            first = next(iter(self.loader))
            return itertools.repeat(first)
        return iter(self.loader)

    def __iter__(self):
        source = self._source()
        self._position = 0
        for _ in range(self.steps):
            t0 = time.perf_counter()
            try:
                batch = next(source)
            except StopIteration:
                return
            self._position += 1
            yield batch
            sync()
            self.loop_times.append(time.perf_counter() - t0)
            if self.bare_step is not None:
                t1 = time.perf_counter()
                self.bare_step(batch)
                sync()
                self.bare_times.append(time.perf_counter() - t1)


def engine_config(config_path, name, batch_size, img_size, data_root, list_file, threads, workers, output_dir,
                  device="cpu"):
    """A training config for an engine-overhead run: the recipe at `config_path` (optimizer, loss, batch ops),
    model `name`, one epoch on `list_file` under `data_root`, no eval, no VisualDL, log every 10 steps."""
    from ppcls_lite.config import load_config

    overrides = [
        "Global.epochs=1", f"Global.device={device}", f"Global.output_dir={output_dir}",
        "Global.eval_during_train=False", "Global.use_visualdl=False", "Global.save_interval=1000",
        f"Global.num_threads={int(threads)}", "Global.update_freq=1",
        f"DataLoader.Train.dataset.image_root={data_root}", f"DataLoader.Train.dataset.cls_label_path={list_file}",
        f"DataLoader.Train.sampler.batch_size={int(batch_size)}", "DataLoader.Train.sampler.drop_last=True",
        f"DataLoader.Train.loader.num_workers={int(workers)}",
        f"DataLoader.Eval.dataset.image_root={data_root}", f"DataLoader.Eval.dataset.cls_label_path={list_file}",
    ]
    cfg = load_config(config_path, overrides)
    cfg["Global"]["image_shape"] = [3, img_size, img_size]
    cfg["Arch"]["name"] = name
    for op in cfg["DataLoader"]["Train"]["dataset"].get("transform_ops") or []:
        for key in ("RandCropImage", "CropImage"):
            if key in op:
                op[key]["size"] = img_size
    cfg["DataLoader"].pop("Eval", None)
    return cfg


def engine_overhead(config, warmup=2, repeat=8, real_steps=0):
    """Run the Trainer's epoch loop (Trainer.run_epoch, through its loader seam) on `config` twice: once on a
    replayed batch with bare steps interleaved (engine overhead), once on the real loader (`real_steps`
    iterations, 0 to skip). Returns a dict of seconds."""
    from ppcls_lite.engine.trainer import Trainer

    trainer = Trainer(config)
    real_loader = trainer.train_loader

    def bare(batch):
        images, labels = batch[0], batch[1]
        logits = trainer.train_model(images)
        losses = trainer.loss_fn(logits, labels)
        losses["loss"].backward()
        trainer.optimizer.step()
        trainer.optimizer.clear_grad()

    probe = LoopProbe(real_loader, warmup + repeat, cached=True, bare_step=bare)
    trainer.run_epoch(1, probe, start_step=0)
    out = {
        "loop_s": median(probe.loop_times[warmup:]),
        "bare_s": median(probe.bare_times[warmup:]),
        "loop_times": probe.loop_times[warmup:],
        "bare_times": probe.bare_times[warmup:],
        "batch_size": int(config["DataLoader"]["Train"]["sampler"]["batch_size"]),
    }
    if real_steps:
        n = min(int(real_steps), len(real_loader))
        probe = LoopProbe(real_loader, n, cached=False)
        trainer.run_epoch(1, probe, start_step=0)
        skip = min(max(warmup, 1), max(n - 1, 0))  # the first real batch waits for the workers to start
        out["real_loop_s"] = median(probe.loop_times[skip:])
        out["real_times"] = probe.loop_times[skip:]
    return out


# ---------------------------------------------------------------------------------------------------------------
# data pipelines


def train_ops(img_size=224, mean=None, std=None):
    """PaddleClas ImageNet train transform_ops: decode, random-resized crop, flip, normalize, CHW."""
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"RandCropImage": {"size": img_size}},
        {"RandFlipImage": {"flip_code": 1}},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": mean or IMAGENET_MEAN, "std": std or IMAGENET_STD,
                            "order": ""}},
        {"ToCHWImage": None},
    ]


def eval_ops(img_size=224, resize_short=256, mean=None, std=None):
    """PaddleClas ImageNet eval transform_ops: decode, resize short side, center crop, normalize, CHW."""
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": resize_short}},
        {"CropImage": {"size": img_size}},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": mean or IMAGENET_MEAN, "std": std or IMAGENET_STD,
                            "order": ""}},
        {"ToCHWImage": None},
    ]


def read_images(folder, limit=0):
    """The bytes of every JPEG/PNG under `folder` (sorted, recursively), at most `limit` (0: all)."""
    from ppcls_lite.engine.predictor import list_images

    paths = list_images(folder)
    if limit:
        paths = paths[:limit]
    blobs = []
    for p in paths:
        with open(p, "rb") as f:
            blobs.append(f.read())
    return paths, blobs


def ours_pipeline(ops):
    """fn(list of image bytes) running ppcls_lite's Compose over each (one numpy Generator per image)."""
    from ppcls_lite.data import build_transforms

    compose = build_transforms(ops)

    def run(blobs):
        out = None
        for i, data in enumerate(blobs):
            out = np.ascontiguousarray(compose(data, np.random.default_rng(i)))
        return out

    return run


def tempdir(prefix="ppcls_bench_"):
    return tempfile.mkdtemp(prefix=prefix)
