"""The exported folder describes itself: `inference.yml` beside `inference.json/.pdiparams` (and `inference.onnx`),
in the format PaddleClas's export and PaddleX read --

    Global: {model_name: ResNet50}
    PreProcess: {transform_ops: [ResizeImage, CropImage, NormalizeImage (float scale, channel_num), ToCHWImage]}
    PostProcess: {main_indicator: Topk, Topk: {topk: 5, label_list: [...]}}

-- so the preprocessing and the label names travel with the weights. Decoding is not listed (PaddleClas leaves
DecodeImage out: its deploy predictor decodes to RGB itself); `read_bundle` puts it back.
"""
import copy
import os
from dataclasses import dataclass

import yaml

from ..data.op_base import parse_number
from ..errors import ConfigError, WeightsError

BUNDLE_FILE = "inference.yml"
MODEL_PREFIX = "inference"
_DECODE = {"DecodeImage": {"to_rgb": True, "channel_first": False}}


def _op_name(op):
    return next(iter(op)) if isinstance(op, dict) and op else op


def decode_settings(ops):
    """The DecodeImage parameters of `ops` that differ from PaddleClas's deploy decoding (RGB, 3 channels)."""
    for op in ops or []:
        if _op_name(op) == "DecodeImage" and isinstance(op, dict):
            params = dict(op["DecodeImage"] or {})
            return {k: v for k, v in params.items()
                    if (k, v) not in (("to_rgb", True), ("channel_first", False), ("channels", 3), ("to_np", True),
                                      ("draft", True))}
    return {}


def bundle_transform_ops(ops):
    """PaddleClas's PreProcess list from transform ops: no DecodeImage, NormalizeImage's scale as a float and its
    channel_num set (3 unless given, as PaddleClas writes it), ToCHWImage last."""
    out = []
    for op in copy.deepcopy(list(ops or [])):
        name = _op_name(op)
        if name == "DecodeImage":
            continue
        if isinstance(op, str) or not op[name]:
            op = {name: None}  # as PaddleClas writes a parameterless op
        if name == "NormalizeImage":
            params = dict(op[name] or {})
            if params.get("scale") is not None:
                params["scale"] = float(parse_number(params["scale"], "NormalizeImage.scale"))
            params.setdefault("channel_num", 3)
            op = {name: params}
        out.append(op)
    if not out or _op_name(out[-1]) != "ToCHWImage":
        out.append({"ToCHWImage": None})
    return out


def write_bundle(folder, model_name, transform_ops, label_list, topk=5, image_shape=None, softmax=False,
                 temperature=1.0, threshold=None):
    """Write folder/inference.yml (see the module docstring); returns its path. Beside PaddleClas's keys,
    Global.image_shape, Global.output (logits, or probabilities for an export with softmax),
    Global.temperature (scores are softmax(logits / T); from tools/eval.py --calibrate) and Global.decode
    (DecodeImage settings other than RGB / 3 channels: BGR or one-channel models) are ours. `threshold`: a
    multi-label model, exported with its sigmoid scores (Global.output: sigmoid): PostProcess is PaddleClas's
    MultiLabelThreshOutput, and the label names go to Global.label_list (that post-process takes no list)."""
    decode = decode_settings(transform_ops)
    cfg = {"Global": {"model_name": str(model_name), "output": "probabilities" if softmax else "logits"},
           "PreProcess": {"transform_ops": bundle_transform_ops(transform_ops)},
           # main_indicator: which output PaddleClas's deploy/python predictor returns (it needs the key)
           "PostProcess": {"main_indicator": "Topk",
                           "Topk": {"topk": int(topk), "label_list": [str(n) for n in label_list]}}}
    if threshold is not None:
        cfg["Global"]["output"] = "sigmoid"
        cfg["Global"]["label_list"] = [str(n) for n in label_list]
        cfg["PostProcess"] = {"main_indicator": "MultiLabelThreshOutput",
                              "MultiLabelThreshOutput": {"threshold": float(threshold)}}
    if image_shape:
        cfg["Global"]["image_shape"] = [int(v) for v in image_shape]
    if decode:  # ours: PaddleClas's deploy predictor always decodes RGB with 3 channels
        cfg["Global"]["decode"] = decode
    if float(temperature) != 1.0:
        if softmax:
            raise ConfigError("--softmax: the weights carry a calibration temperature, which needs the logits; "
                              "export without --softmax")
        cfg["Global"]["temperature"] = float(temperature)
    path = os.path.join(folder, BUNDLE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)
    os.replace(tmp, path)
    return path


@dataclass
class Bundle:
    """An exported folder: its model prefix, model name, transform ops (DecodeImage first), label names, top-k."""

    folder: str
    model_name: str
    transform_ops: list
    label_list: list
    topk: int
    image_shape: list = None
    output: str = "logits"
    temperature: float = 1.0
    threshold: float = None  # a multi-label bundle (output: sigmoid): the labels whose score reaches it

    @property
    def prefix(self):
        return os.path.join(self.folder, MODEL_PREFIX)


def read_bundle(folder):
    """The Bundle of an exported folder; a missing or malformed inference.yml is a WeightsError naming it."""
    path = os.path.join(folder, BUNDLE_FILE)
    if not os.path.isdir(folder):
        raise ConfigError(f"--model-dir: no such folder: {folder}")
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: not found (export with tools/export_model.py, which writes it beside the "
                           "model)")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise WeightsError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None
    try:
        ops = cfg["PreProcess"]["transform_ops"]
        post = cfg["PostProcess"]
        topk_cfg = post.get("Topk") or {}
        glob = cfg.get("Global") or {}
        labels = topk_cfg.get("label_list") or glob.get("label_list")
        if labels is None and topk_cfg.get("class_id_map_file"):
            labels = _read_id_map(os.path.join(folder, topk_cfg["class_id_map_file"]))
        output = glob.get("output", "logits")
        if output not in ("logits", "probabilities", "sigmoid"):
            raise ValueError(f"Global.output: logits, probabilities or sigmoid, got {output!r}")
        threshold = None
        if post.get("main_indicator") == "MultiLabelThreshOutput":
            threshold = float((post.get("MultiLabelThreshOutput") or {}).get("threshold", 0.5))
        temperature = float(glob.get("temperature", 1.0))
        if not temperature > 0:
            raise ValueError(f"Global.temperature: must be positive, got {temperature}")
        decode = {"DecodeImage": dict(_DECODE["DecodeImage"], **(glob.get("decode") or {}))}
        return Bundle(folder, str(glob.get("model_name", "")), [decode] + list(ops), list(labels or []),
                      int(topk_cfg.get("topk", 5)), glob.get("image_shape"), output, temperature, threshold)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise WeightsError(f"{path}: not a PaddleClas inference config ({type(exc).__name__}: {exc})") from None


def _read_id_map(path):
    from ..engine.predictor import read_label_names

    names = read_label_names(path, key="PostProcess.Topk.class_id_map_file")
    return [names.get(i, str(i)) for i in range(max(names) + 1)] if names else []
