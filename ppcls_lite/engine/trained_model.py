"""A model used as trained (eval, infer, export): built, its weights loaded with a matching head, and what its
checkpoint says about it -- the Arch it was built from, its class names and its evaluation preprocessing.

The trainer stores that description as `model_info` in every checkpoint's `.pdstates`
(`model_info_from_config`), so `tools/eval.py --weights output/best_model` scores the model with the transforms
and the label map of its training-time evaluation, not a guess.
"""
import copy
import os
from dataclasses import dataclass, field

from ..arch import build_from_config
from ..arch.pretrained import (file_class_num, head_mismatch_error, load_pretrained, load_state_file,
                               resolve_weights_path)
from ..arch.distillation import is_distillation, used_arch
from ..arch.registry import model_spec
from ..errors import ConfigError, WeightsError
from ..serialization import safe_load
from .checkpoint import checkpoint_prefix

# The config keys whose files a model used as trained needs (its weights; not the training data).
WEIGHT_PATHS = ("Global.pretrained_model", "Arch.pretrained")

def image_shape_of(config):
    """C, H, W of the model's input: Global.image_shape, else Global.image_channel (or Arch.in_channels, or 3)
    x its spec's input size."""
    g, arch = config["Global"], used_arch(config["Arch"])
    if g.get("image_shape"):
        return [int(v) for v in g["image_shape"]]
    size = model_spec(arch["name"]).input_size
    channels = g.get("image_channel") or arch.get("in_channels", arch.get("in_chans", 3))
    return [int(channels), size, size]


def model_info_from_config(config, class_names):
    """What a checkpoint records about its model: Arch, class names (one per output, padded with the index
    where the head has more outputs than the data has classes), eval transforms, input shape."""
    eval_section = (config.get("DataLoader") or {}).get("Eval") or {}
    eval_ops = (eval_section.get("dataset") or {}).get("transform_ops")
    infer_ops = (config.get("Infer") or {}).get("transforms")
    member = config["Arch"]["infer_model_name"] if is_distillation(config["Arch"]) else None
    return make_model_info(used_arch(config["Arch"]), class_names, eval_ops or infer_ops or None,
                           image_shape_of(config), member=member,
                           multilabel=bool(config["Global"].get("use_multilabel")))


def make_model_info(arch, class_names, eval_transforms, image_shape, eval_source=None, member=None,
                    multilabel=False):
    """The model_info record (also written by tools/convert_weights.py beside converted weights, with
    `eval_source` saying where their eval transforms come from). `member`: the distillation member the model
    is, whose prefixed keys ('Student.conv1.weight') the checkpoint holds; `multilabel`: its outputs are
    independent sigmoid scores (Global.use_multilabel)."""
    names = [str(n) for n in class_names]
    names += [str(i) for i in range(len(names), int(arch.get("class_num", 1000)))]
    return {
        "arch": dict(copy.deepcopy(dict(arch)), pretrained=False),
        **({"member": member} if member else {}),
        **({"multilabel": True} if multilabel else {}),
        "class_names": names,
        "eval_transforms": copy.deepcopy(eval_transforms),
        "image_shape": [int(v) for v in image_shape],
        **({"eval_source": str(eval_source)} if eval_source else {}),
    }


def read_model_info(weights):
    """The model_info of the checkpoint whose weights are `weights` (its .pdstates beside them), or None."""
    states_path = checkpoint_prefix(weights) + ".pdstates"
    if not os.path.isfile(states_path):
        return None
    states = safe_load(states_path)
    info = states.get("model_info") if isinstance(states, dict) else None
    if info is None:
        return None  # a checkpoint from before model_info was recorded
    if not isinstance(info, dict) or not isinstance(info.get("arch"), dict) or "name" not in info["arch"]:
        raise WeightsError(f"{states_path}: model_info is malformed (no Arch name)")
    return info


def load_for_use(arch_cfg, weights, class_num_key="Arch.class_num", member=None):
    """Build `arch_cfg` and load `weights` as trained: a head of another class count is a WeightsError. A
    DistillationModel Arch is its infer_model_name member, with that member's keys of a distillation checkpoint
    (`member`: the same for an Arch that is already the member's)."""
    if not weights:
        raise ConfigError("Global.pretrained_model: required (e.g. -o Global.pretrained_model=output/best_model)")
    if is_distillation(arch_cfg):
        member, arch_cfg = arch_cfg["infer_model_name"], used_arch(arch_cfg)
    model = build_from_config(arch_cfg)
    load_pretrained(model, weights, new_head=False, class_num_key=class_num_key, member=member)
    return model


@dataclass
class TrainedModel:
    """What is known about the model of some weights (class_names / eval_transforms None when unknown);
    `model` is None until `build()`."""

    weights: str
    arch: dict
    class_names: list = None
    eval_transforms: list = None
    preprocessing: str = ""  # where eval_transforms came from, for the log
    info: dict = field(default_factory=dict)
    model: object = None

    @property
    def class_num(self):
        return int(self.arch.get("class_num", 1000))

    def build(self):
        """Build the model and load the weights as trained (after the runtime's device is set)."""
        self.model = load_for_use(self.arch, self.weights, class_num_key="--class-num", member=self.info.get("member"))
        return self.model


def describe_weights(weights, model_name=None, class_num=None, img_size=None):
    """Quick mode (no config): what the model of `weights` is, from its checkpoint where it has one.

    Arch and class names come from the checkpoint's model_info, else from `model_name` and the head in the
    weights file; `class_num` (the user's --class-num) must then match the file. Preprocessing: the variant's
    ModelSpec at `img_size` when given, else the checkpoint's training-time eval transforms, else the spec's.
    """
    if not os.path.isfile(resolve_weights_path(weights)):
        raise WeightsError(f"--weights: no such file: {checkpoint_prefix(weights)}.pdparams")
    info = read_model_info(weights) or {}
    if info:
        arch = dict(info["arch"])
        if model_name and model_name != arch["name"]:
            raise ConfigError(f"--model: {model_name}, but {checkpoint_prefix(weights)} was trained as "
                              f"{arch['name']} (leave --model out to use the checkpoint's)")
    elif model_name:
        arch = {"name": model_name}
    else:
        raise ConfigError(f"--model: required, {weights} is not a ppcls_lite checkpoint that names its model")
    if class_num is not None:
        trained_with = arch.get("class_num", 1000) if info else None
        if trained_with is not None and int(class_num) != int(trained_with):
            raise head_mismatch_error(resolve_weights_path(weights), int(trained_with), int(class_num),
                                      "--class-num")
        arch["class_num"] = int(class_num)
    elif not info:
        _, state = load_state_file(weights)
        probe = build_from_config(dict(arch, class_num=1))
        found = file_class_num(probe, probe.adapt_state_dict(dict(state)))
        arch["class_num"] = found if found is not None else 0
    names = info.get("class_names")
    if names is not None and len(names) != int(arch.get("class_num", 1000)):
        raise WeightsError(f"{checkpoint_prefix(weights)}.pdstates: lists {len(names)} class names for a "
                           f"{arch.get('class_num')}-class model")
    spec = model_spec(arch["name"])
    if img_size:
        spec = spec.at_size(img_size)
        ops, source = spec.eval_transform_ops(), f"{arch['name']}'s at --img-size {img_size}: {spec.describe()}"
    elif info.get("eval_transforms"):
        ops = info["eval_transforms"]
        source = f"{info['eval_source']}, recorded with {checkpoint_prefix(weights)}" if info.get("eval_source") \
            else f"the training-time evaluation of {checkpoint_prefix(weights)}"
    else:
        ops, source = spec.eval_transform_ops(), f"{arch['name']}'s (no checkpoint info): {spec.describe()}"
    return TrainedModel(weights, arch, names, ops, source, info)
