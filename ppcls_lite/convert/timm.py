"""timm checkpoints -> ppcls_lite (PaddleClas-keyed) weights, with the preprocessing they were trained with.

`convert_timm(state, arch)` builds our model of `arch` and fills it from a timm state dict (names through
timm_keys, Linear weights transposed, every shape checked, every key accounted for); `timm_eval_spec` turns
timm's pretrained_cfg (the `config.json` beside a Hugging Face timm checkpoint) into our ModelSpec, so that
eval / infer / export of the converted weights preprocess as timm does.
"""
import json
import math
import os

import numpy as np
import paddle.nn as nn

from ..arch import build_from_config
from ..arch.registry import model_spec
from ..errors import ConfigError, WeightsError
from .safetensors_np import read_safetensors
from .timm_keys import timm_arch, timm_rule
from .torch_pickle import read_torch_file

_WRAPPERS = ("state_dict_ema", "state_dict", "model")  # timm's train checkpoints keep the weights under these
_HEADS = ("head.fc.weight", "head.weight", "fc.weight")
# timm's interpolation names -> ours (timm resizes with PIL, through torchvision)
_INTERPOLATIONS = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest", "lanczos": "lanczos",
                   "box": "box", "hamming": "hamming"}


def read_timm_state(path, use_ema=False):
    """{name: numpy array} of a timm checkpoint: .safetensors (numpy only) or .pth/.pt/.bin (restricted reader)."""
    if not os.path.isfile(path):
        raise WeightsError(f"--src: no such file: {path}")
    if path.endswith(".safetensors"):
        if use_ema:
            raise ConfigError(f"--use-ema: {path} is a .safetensors file, which holds one set of weights")
        state, _ = read_safetensors(path)
    elif path.endswith((".pth", ".pt", ".bin", ".tar")):
        state = read_torch_file(path)
        if use_ema and not (isinstance(state, dict) and isinstance(state.get("state_dict_ema"), dict)):
            raise WeightsError(f"--use-ema: {path} holds no state_dict_ema (a timm training checkpoint of a run "
                               "with --model-ema has one)")
        if isinstance(state, dict):
            for key in _WRAPPERS if use_ema else _WRAPPERS[1:]:
                if isinstance(state.get(key), dict):
                    state = state[key]
                    break
    else:
        raise WeightsError(f"--src: {path}: expected a .safetensors, .pth, .pt or .bin file")
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise WeightsError(f"--src: {path}: holds no state dict of tensors")
    # a model saved from DistributedDataParallel prefixes every name with 'module.'
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _head_classes(state):
    for key in _HEADS:
        if key in state and state[key].ndim == 2:
            return int(state[key].shape[0])
    return 0  # a features-only checkpoint (timm's num_classes=0)


def _summary(keys, limit=4):
    keys = list(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def convert_timm(state, arch):
    """(our model filled from `state`, the Arch it was built with). Arch.class_num comes from timm's head, and
    the family's timm-compatible keys are set (timm_keys.timm_arch: Res2Net's split style, ResNet-18/34's first
    shortcut), so the converted model computes what timm's does."""
    arch = dict(arch)
    classes = _head_classes(state)
    if arch.get("class_num") is not None and int(arch["class_num"]) != classes:
        raise ConfigError(f"Arch.class_num: {arch['class_num']}, but the timm checkpoint's head has {classes} "
                          "classes (leave class_num out to take the checkpoint's)")
    arch["class_num"] = classes
    model = build_from_config(arch)
    adapted = {k: v for k, v in timm_arch(model, state).items() if arch.get(k) != v}
    if adapted:
        arch.update(adapted)
        model = build_from_config(arch)
    ours = model.state_dict()
    linear = {f"{name}.weight" for name, layer in model.named_sublayers() if isinstance(layer, nn.Linear)}
    rule = timm_rule(model, list(state))
    filled, unknown, mismatched = {}, [], []
    for key, value in state.items():
        target = rule(key)
        if target is None:
            continue
        if target is False or target not in ours:
            unknown.append(key)
            continue
        if target in linear:
            value = value.T
        if tuple(value.shape) != tuple(ours[target].shape):
            mismatched.append(f"{key} {list(value.shape)} -> {target} {list(ours[target].shape)}")
            continue
        filled[target] = np.ascontiguousarray(value, dtype=np.float32)
    name = arch["name"]
    if unknown:
        raise WeightsError(f"{len(unknown)} timm key(s) have no place in {name}: {_summary(unknown)} (another "
                           "variant or family? see docs/finetune.md for what converts)")
    if mismatched:
        raise WeightsError(f"shapes differ from {name}'s: {_summary(mismatched, 2)} (another variant?)")
    missing = [k for k in ours if k not in filled and not k.endswith("relative_position_index")]
    if missing:
        raise WeightsError(f"the timm checkpoint lacks {len(missing)} of {name}'s weights: {_summary(missing)}")
    for key, value in filled.items():
        ours[key].set_value(value)
    return model, arch


def read_pretrained_cfg(path):
    """timm's pretrained_cfg from a Hugging Face `config.json` (or a JSON of the pretrained_cfg itself)."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--timm-config: cannot read {path}: {exc}") from None
    pretrained = cfg.get("pretrained_cfg", cfg) if isinstance(cfg, dict) else None
    if not isinstance(pretrained, dict):
        raise ConfigError(f"--timm-config: {path}: expected a JSON object with timm's pretrained_cfg")
    # a Hugging Face config.json keeps the class names beside the pretrained_cfg
    return {**pretrained, **({"label_names": cfg["label_names"]} if "label_names" in cfg else {})}


def timm_eval_spec(name, cfg):
    """Our ModelSpec of `name` with timm's eval preprocessing: resize the short side to floor(size / crop_pct)
    with PIL's interpolation, centre crop, timm's mean / std."""
    def field(key, default):
        return cfg[key] if cfg.get(key) is not None else default

    crop_mode = field("crop_mode", "center")
    if crop_mode != "center":
        raise ConfigError(f"--timm-config: crop_mode {crop_mode!r} (ppcls_lite evaluates with a centre crop only)")
    size = field("test_input_size", field("input_size", [3, 224, 224]))
    if len(size) != 3 or size[1] != size[2]:
        raise ConfigError(f"--timm-config: input_size {size}: only square inputs are supported")
    crop_pct = float(field("test_crop_pct", field("crop_pct", 0.875)))
    interpolation = str(field("interpolation", "bilinear"))
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError(f"--timm-config: interpolation {interpolation!r} is not one ppcls_lite resizes with")
    spec = model_spec(name)
    mean, std = tuple(float(v) for v in field("mean", spec.mean)), tuple(float(v) for v in field("std", spec.std))
    return type(spec)(input_size=int(size[1]), resize_short=int(math.floor(size[1] / crop_pct)),
                      interpolation=_INTERPOLATIONS[interpolation], backend="pil", mean=mean, std=std)
