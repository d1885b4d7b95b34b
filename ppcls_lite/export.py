"""Inference export (paddle.jit.save) and a Paddle Inference predictor for the exported files."""
import copy
import os

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .errors import ConfigError, WeightsError


class _WithSoftmax(nn.Layer):
    """Wraps a classifier so the exported graph returns probabilities (a multi-label one: sigmoid scores)."""

    def __init__(self, model, sigmoid=False):
        super().__init__()
        self.model = model
        self.sigmoid = sigmoid

    def forward(self, x):
        return F.sigmoid(self.model(x)) if self.sigmoid else F.softmax(self.model(x), axis=-1)


def _channels_first(model, image_shape):
    """`model` if it computes channels-first; for a `data_format="NHWC"` model, a copy of it computing NCHW.

    The copy has the same weights (the state dict does not depend on the layout) and gives the same logits for
    the NCHW input; `model` itself is left as it is. The layout of every layer is its `data_format` attribute
    (Paddle's `_data_format` for conv / batch norm / adaptive pooling, and Paddle convs also keep the channel
    axis in `_channel_dim`); one dygraph forward of both models checks that nothing was left channels-last.
    """
    if getattr(model, "data_format", "NCHW") != "NHWC":
        return model
    twin = copy.deepcopy(model)
    for layer in twin.sublayers(include_self=True):
        for attr in ("data_format", "_data_format"):
            if getattr(layer, attr, None) == "NHWC":
                setattr(layer, attr, "NCHW")
        if isinstance(layer, nn.Conv2D) and layer._channel_dim == 3:
            layer._channel_dim = 1
    twin.eval()
    x = np.random.default_rng(0).standard_normal([1] + list(image_shape)).astype("float32")
    with paddle.no_grad():
        want = model(paddle.to_tensor(x.transpose(0, 2, 3, 1))).numpy()
        got = twin(paddle.to_tensor(x)).numpy()
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(want).max())):
        raise RuntimeError(f"{type(model).__name__}: its NCHW copy for export disagrees with the NHWC model "
                           "(a layer whose layout is not held in `data_format`?)")
    return twin


def export_inference_model(model, save_prefix, image_shape=(3, 224, 224), softmax=False, sigmoid=False):
    """jit.save `model` (eval mode, dynamic batch) to save_prefix.{json|pdmodel,pdiparams}; returns the prefix.

    The exported model's input is always float32 NCHW, [N, C, H, W] with (C, H, W) = `image_shape` (N dynamic),
    named "x" -- also for a model built with `data_format="NHWC"` (whose dygraph input is NHWC): such a model is
    exported as its channels-first equivalent (same weights, same logits), as Paddle Inference cannot run
    channels-last graphs reliably (its oneDNN kernels rotate the shape of every 4-D tensor between NCHW and
    NHWC, which breaks ConvNeXt's channels-last Linear layers and Res2Net's channel split). Output: logits
    [N, class_num], or probabilities with `softmax=True`, or each label's sigmoid score with `sigmoid=True` (a
    multi-label model, as PaddleClas exports it). An NHWC `model` itself stays channels-last.
    Re-parameterisable blocks (DiverseBranchBlock) are folded, in place, into the single conv they equal.
    """
    model.eval()
    for sub in model.sublayers(include_self=True):
        if hasattr(sub, "re_parameterize"):
            sub.re_parameterize()
    model = _channels_first(model, image_shape)
    layer = _WithSoftmax(model, sigmoid) if softmax or sigmoid else model
    layer.eval()
    spec = [paddle.static.InputSpec([None] + list(image_shape), "float32", "x")]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    os.makedirs(os.path.dirname(os.path.abspath(save_prefix)), exist_ok=True)
    paddle.jit.save(static, save_prefix)
    return save_prefix


def _model_file(prefix):
    for ext in (".json", ".pdmodel"):
        if os.path.isfile(prefix + ext):
            return prefix + ext
    raise WeightsError(f"{prefix}: no exported model (.json or .pdmodel) found")


def create_predictor(prefix, num_threads=0, use_gpu=False):
    """A paddle.inference predictor over an exported model (oneDNN and all cores on CPU by default)."""
    from paddle import inference

    model_file = _model_file(prefix)
    params_file = prefix + ".pdiparams"
    if not os.path.isfile(params_file):
        raise WeightsError(f"{params_file}: no such file")
    config = inference.Config(model_file, params_file)
    if use_gpu:
        config.enable_use_gpu(256, 0)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(num_threads or os.cpu_count() or 1)
        config.enable_mkldnn()
    config.disable_glog_info()
    return inference.create_predictor(config)


def run_predictor(predictor, batch):
    """Run one float32 NCHW numpy batch through a predictor; returns the first output as numpy."""
    name = predictor.get_input_names()[0]
    handle = predictor.get_input_handle(name)
    batch = np.ascontiguousarray(batch, dtype="float32")
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(batch)
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0])
    return out.copy_to_cpu()


def export_config(config, overrides=(), softmax=False, use_ema=False, formats=("paddle",), int8_calib=None,
                  calib_num=32):
    """Export Global.pretrained_model of `config` (a path or a validated dict) to Global.save_inference_dir, with
    the inference.yml that describes it (deploy/bundle.py) and, for "onnx" in `formats`, inference.onnx;
    returns the prefix of the written files. Only the weights need exist (not the training data).
    `use_ema`: the checkpoint's EMA weights (its .pdstates), not its trained ones. `int8_calib` (images: a
    folder, file or list file) also writes inference_int8.onnx, calibrated on `calib_num` of them."""
    from .arch.distillation import used_arch
    from .config import load_config
    from .deploy.bundle import write_bundle
    from .engine.output_dir import prepare_output_dir
    from .engine.calibration import calibration_path, load_temperature
    from .engine.trained_model import WEIGHT_PATHS, image_shape_of, load_for_use, read_model_info

    if not isinstance(config, dict):
        config = load_config(config, overrides, check_paths=WEIGHT_PATHS)
    g = config["Global"]
    # every refusal before anything is written: no folder left with a model but no inference.yml
    if int8_calib and "onnx" not in formats:
        raise ConfigError("--int8-calib: int8 is an onnxruntime model here; add --format onnx")
    if int8_calib and int(calib_num) < 1:
        raise ConfigError(f"--calib-num: at least 1, got {calib_num}")
    temperature = load_temperature(g["pretrained_model"])
    if temperature != 1.0 and (softmax or use_ema):
        flag = "--softmax" if softmax else "--ema"
        raise ConfigError(f"{flag}: {calibration_path(g['pretrained_model'])} calibrates the trained weights' "
                          f"logits; export without {flag}, or move that file aside")
    prepare_output_dir(g["save_inference_dir"], "Global.save_inference_dir")
    model = load_for_use(config["Arch"], g["pretrained_model"])
    if use_ema:
        _load_ema(model, g["pretrained_model"])
    image_shape = tuple(image_shape_of(config))
    multilabel = bool(g.get("use_multilabel"))
    if multilabel and softmax:
        raise ConfigError("--softmax: a multi-label model is exported with its sigmoid scores already")
    prefix = export_inference_model(model, os.path.join(g["save_inference_dir"], "inference"), image_shape,
                                    softmax=softmax, sigmoid=multilabel)
    info = read_model_info(g["pretrained_model"]) or {}
    ops, labels, topk = _bundle_contents(config, info)
    post = (config.get("Infer") or {}).get("PostProcess") or {}
    write_bundle(g["save_inference_dir"], used_arch(config["Arch"])["name"], ops, labels, topk, image_shape, softmax,
                 temperature=temperature, threshold=float(post.get("threshold", 0.5)) if multilabel else None)
    if "onnx" in formats:
        from .deploy.onnx_export import quantize_int8, to_onnx

        onnx_path = to_onnx(prefix)
        if int8_calib:
            quantize_int8(onnx_path, _calibration_batches(g["save_inference_dir"], int8_calib, calib_num))
    return prefix


def _calibration_batches(folder, images, count, batch_size=8):
    """`count` images spread evenly over `images`, preprocessed as the bundle says, in float32 batches."""
    from .data.datasets import read_and_transform
    from .data.transforms import build_transforms
    from .deploy.bundle import read_bundle
    from .deploy.predict import image_paths

    paths = image_paths(images)
    picked = [paths[i * len(paths) // min(count, len(paths))] for i in range(min(count, len(paths)))]
    transform = build_transforms(read_bundle(folder).transform_ops, "inference.yml PreProcess")
    arrays = [read_and_transform(p, transform) for p in picked]
    return [np.stack(arrays[i:i + batch_size]) for i in range(0, len(arrays), batch_size)]


def _load_ema(model, weights):
    from .engine.checkpoint import checkpoint_prefix
    from .serialization import safe_load

    path = checkpoint_prefix(weights) + ".pdstates"
    states = safe_load(path) if os.path.isfile(path) else {}
    ema = states.get("ema") if isinstance(states, dict) else None
    if not ema or not isinstance(ema.get("shadow"), dict):
        raise WeightsError(f"--ema: {path} holds no EMA weights (train with an EMA section to have them)")
    live = model.state_dict()
    missing = sorted(set(live) - set(ema["shadow"]))
    if missing:
        raise WeightsError(f"--ema: the EMA weights in {path} lack {missing[0]} (another model?)")
    model.set_state_dict({k: np.asarray(ema["shadow"][k]).astype(str(v.dtype).replace("paddle.", ""))
                          for k, v in live.items()})


def _bundle_contents(config, info):
    """(transform ops, label names, top-k) of the exported model: the config's Infer section, else its eval
    transforms, else the checkpoint's recorded ones, else the variant's spec; names from Infer.PostProcess's
    class_id_map_file, else the checkpoint's class names, else the class ids."""
    from .arch.distillation import used_arch
    from .arch.registry import model_spec
    from .engine.predictor import read_label_names

    infer = config.get("Infer") or {}
    eval_ds = (((config.get("DataLoader") or {}).get("Eval") or {}).get("dataset") or {})
    ops = infer.get("transforms") or eval_ds.get("transform_ops") or info.get("eval_transforms") \
        or model_spec(used_arch(config["Arch"])["name"]).eval_transform_ops()
    post = infer.get("PostProcess") or {}
    class_num = int(config["Arch"].get("class_num", 1000))
    if post.get("class_id_map_file"):
        names = read_label_names(post["class_id_map_file"], key="Infer.PostProcess.class_id_map_file")
        labels = [names.get(i, str(i)) for i in range(class_num)]
    elif info.get("class_names"):
        labels = list(info["class_names"])
    else:
        labels = [str(i) for i in range(class_num)]
    return ops, labels, int(post.get("topk", 5))
