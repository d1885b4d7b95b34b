"""timm's state-dict names -> ours (PaddleClas's), one rule per family.

A rule maps a timm key to our key, or to None for what timm stores but we derive (Swin's relative position
index and attention masks, BatchNorm's num_batches_tracked); a key no rule knows is reported by name.
"""
import re

from ..errors import ConfigError

from ..arch.convnext import ConvNeXt
from ..arch.res2net import Res2Net
from ..arch.resnet import ResNet
from ..arch.resnext import ResNeXt
from ..arch.swin_transformer import SwinTransformer
from ..arch.vision_transformer import VisionTransformer

_BN = {"weight": "weight", "bias": "bias", "running_mean": "_mean", "running_var": "_variance",
       "num_batches_tracked": None}


def _conv_unit_names(our_keys):
    """{unit path: (conv attr, bn attr)} of our ConvBN units: `.conv`/`.bn` (ResNet), `._conv`/`._batch_norm`
    (ResNeXt, Res2Net) or `._conv`/`._bn` (ResNeXt WSL)."""
    keys, units = set(our_keys), {}
    for key in our_keys:
        for conv, bn in ((".conv.weight", "bn"), ("._conv.weight", "_batch_norm"), ("._conv.weight", "_bn")):
            unit = key[:-len(conv)]
            if key.endswith(conv) and f"{unit}.{bn}.weight" in keys:
                units[unit] = (conv[1:-len(".weight")], bn)
    return units


def _block_name(units, stage, j, flat):
    """Our name of block j of timm's layer<stage> (flat: its index over all stages)."""
    if "blocks.0.conv0" in units:
        return f"blocks.{flat}"
    if "_conv1_0._conv0" in units:  # ResNeXt WSL
        return f"_conv{stage}_{j}"
    return f"bb_{stage - 1}_{j}"


class _CnnRule:
    """ResNet / ResNet-D / ResNeXt / Res2Net (timm's ResNet class with Bottleneck, BasicBlock or Bottle2neck)."""

    def __init__(self, model, timm_keys):
        our_keys = list(model.state_dict())
        self.units = _conv_unit_names(our_keys)
        self.head = model.head_prefixes[0].rstrip(".")
        stem = [u for u in self.units if not u.startswith(("blocks.", "bb_")) and not re.match(r"_conv\d+_\d+\.", u)]
        timm_stem = ["conv1"] if "conv1.weight" in timm_keys else ["conv1.0", "conv1.3", "conv1.6"]
        timm_stem_bn = ["bn1"] if len(timm_stem) == 1 else ["conv1.1", "conv1.4", "bn1"]
        self.modules = {}
        if len(stem) == len(timm_stem):
            for ours, conv, bn in zip(stem, timm_stem, timm_stem_bn):
                self._unit(ours, conv, bn)
        depths = {}
        for key in timm_keys:
            m = re.match(r"layer(\d)\.(\d+)\.", key)
            if m:
                depths[int(m[1])] = max(depths.get(int(m[1]), 0), int(m[2]) + 1)
        flat = 0
        for stage in sorted(depths):
            for j in range(depths[stage]):
                self._block(_block_name(self.units, stage, j, flat), f"layer{stage}.{j}", timm_keys)
                flat += 1

    def _unit(self, ours, timm_conv, timm_bn):
        if ours in self.units:
            conv, bn = self.units[ours]
            self.modules[timm_conv] = (f"{ours}.{conv}", None)
            self.modules[timm_bn] = (f"{ours}.{bn}", _BN)

    def _block(self, ours, theirs, timm_keys):
        c = (lambda k: f"{ours}._conv{k}") if f"{ours}._conv0" in self.units else (lambda k: f"{ours}.conv{k}")
        short = next((u for u in (f"{ours}.short", f"{ours}._short", f"{ours}._short._conv") if u in self.units),
                     f"{ours}.short")
        self._unit(c(0), f"{theirs}.conv1", f"{theirs}.bn1")
        splits = sorted((int(m[1]), u) for u in self.units
                        for m in [re.fullmatch(re.escape(ours) + r"\.res\d+[a-z\d]*_branch2b_(\d+)", u)] if m)
        if splits:  # Res2Net: conv1, convs.k, conv3
            for k, unit in splits:
                self._unit(unit, f"{theirs}.convs.{k - 1}", f"{theirs}.bns.{k - 1}")
            self._unit(c(2), f"{theirs}.conv3", f"{theirs}.bn3")
        else:
            self._unit(c(1), f"{theirs}.conv2", f"{theirs}.bn2")
            self._unit(c(2), f"{theirs}.conv3", f"{theirs}.bn3")
        pooled = f"{theirs}.downsample.1.weight" in timm_keys and f"{theirs}.downsample.2.weight" in timm_keys
        first = 1 if pooled else 0  # ResNet-D: downsample = (AvgPool, conv, bn)
        self._unit(short, f"{theirs}.downsample.{first}", f"{theirs}.downsample.{first + 1}")

    def __call__(self, key):
        module, _, attr = key.rpartition(".")
        if module == "fc":
            return f"{self.head}.{attr}"
        if module not in self.modules:
            return False
        ours, renames = self.modules[module]
        if renames is None:
            return f"{ours}.{attr}" if attr == "weight" else False
        if attr not in renames:
            return False
        return None if renames[attr] is None else f"{ours}.{renames[attr]}"


def _regex_rule(rules, derived=()):
    def rule(key):
        if any(re.search(pattern, key) for pattern in derived):
            return None
        for pattern, repl in rules:
            if re.search(pattern, key):
                return re.sub(pattern, repl, key)
        return False
    return rule


def _swin_rule(timm_keys):
    # timm >= 0.9 merges patches at the start of layers 1..3; PaddleClas (and timm before 0.9) at the end of 0..2
    shifted = any(k.startswith("layers.1.downsample.") for k in timm_keys) and \
        not any(k.startswith("layers.0.downsample.") for k in timm_keys)
    moves = [(r"^head\.fc\.", "head."), (r"^head\.", "head.")]
    if shifted:
        moves.insert(0, (r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) - 1}.downsample."))
    return _regex_rule(moves + [(r"^(patch_embed|layers|norm|absolute_pos_embed)", r"\1")],
                       derived=(r"relative_position_index$", r"attn_mask$"))


_VIT = _regex_rule([(r"^(cls_token|dist_token|pos_embed|patch_embed\.proj|blocks|norm|head|head_dist|"
                     r"pre_logits\.fc)\b", r"\1")])

_CONVNEXT = _regex_rule([
    (r"^stem\.(\d)\.", r"downsample_layers.0.\1."),
    (r"^stages\.(\d+)\.downsample\.(\d)\.", r"downsample_layers.\1.\2."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.", r"stages.\1.\2.dwconv."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.", r"stages.\1.\2.pwconv1."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.", r"stages.\1.\2.pwconv2."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.(norm\.|gamma$)", r"stages.\1.\2.\3"),
    (r"^head\.norm\.", "norm."),
    (r"^head\.fc\.", "head."),
])


def timm_arch(model, timm_keys):
    """Arch keys under which `model`'s family computes what timm's does (empty when it already does): timm's
    Res2Net blocks (split_style), Swin without a shift where one window covers the map, and ResNet-18/34 without
    PaddleClas's extra first shortcut conv."""
    if isinstance(model, Res2Net):
        return {"split_style": "timm"}
    if isinstance(model, SwinTransformer):
        return {"shift_full_window": False}
    basic = "layer1.0.conv1.weight" in timm_keys and "layer1.0.conv3.weight" not in timm_keys
    if isinstance(model, ResNet) and basic and not any(k.startswith("layer1.0.downsample.") for k in timm_keys):
        return {"use_first_short_conv": False}
    return {}


def timm_rule(model, timm_keys):
    """A function timm key -> our key, None (derived here, dropped) or False (unknown) for `model`'s family."""
    if isinstance(model, (ResNet, ResNeXt, Res2Net)):
        return _CnnRule(model, timm_keys)
    if isinstance(model, SwinTransformer):
        return _swin_rule(timm_keys)
    if isinstance(model, VisionTransformer):
        return _VIT
    if isinstance(model, ConvNeXt):
        return _CONVNEXT
    raise ConfigError(f"--model: {type(model).__name__} has no timm conversion (ResNet, ResNeXt, Res2Net, Swin, "
                      "ViT / DeiT and ConvNeXt have)")
