"""PaddleClas's `Arch.name: DistillationModel`: several models (a teacher and a student, or peers) side by side on
the same batch, their outputs in one dict {member name: logits} for the Distillation* losses.

    Arch:
      name: DistillationModel
      freeze_params_list: [True, False]    # the teacher learns nothing
      models:
        - Teacher: {name: ResNet34, pretrained: True}
        - Student: {name: ResNet18}
      infer_model_name: Student            # what evaluation, export and inference use

A frozen member takes no gradient and runs in eval mode (BatchNorm with its running statistics, no dropout)
under `paddle.no_grad()`, so it costs one forward and nothing else; it needs weights (its `pretrained`, its
`pretrained_list` entry or Global.pretrained_model), a random frozen teacher being an error, not a lesson.
Checkpoints hold the trainable members only, their keys prefixed with the member's name ("Student.conv1...",
as in PaddleClas's files), so a resume reloads the frozen ones from where they came from.
"""
import hashlib

import numpy as np
import paddle
import paddle.nn as nn

from ..errors import ConfigError, WeightsError

NAME = "DistillationModel"


def is_distillation(arch_cfg):
    """Whether an (validated) Arch section describes a DistillationModel."""
    return isinstance(arch_cfg, dict) and arch_cfg.get("name") == NAME


def members_of(arch_cfg):
    """[(member name, its Arch section)] of a DistillationModel Arch, in order."""
    return [next(iter(entry.items())) for entry in arch_cfg["models"]]


def used_arch(arch_cfg):
    """The Arch of the model that is evaluated, exported and served: a DistillationModel's infer_model_name
    member, else the Arch itself."""
    if not is_distillation(arch_cfg):
        return arch_cfg
    return dict(members_of(arch_cfg))[arch_cfg["infer_model_name"]]


class DistillationModel(nn.Layer):
    """Members as sublayers named as in the config (their state-dict keys are '<member>.<key>')."""

    def __init__(self, members, frozen, infer_model_name):
        super().__init__()
        self.member_names = [name for name, _ in members]
        for name, model in members:
            self.add_sublayer(name, model)
        self.frozen_members = [name for name, f in zip(self.member_names, frozen) if f]
        self.infer_model_name = infer_model_name
        for name in self.frozen_members:
            for param in self.member(name).parameters():
                param.stop_gradient = True
        self.frozen_names = frozenset(self._frozen_param_names())

    def member(self, name):
        """The member model `name`."""
        return self._sub_layers[name]

    @property
    def infer_model(self):
        """The member evaluation, export and inference use."""
        return self.member(self.infer_model_name)

    def _frozen_param_names(self):
        names = set()
        for member in self.member_names:
            frozen_here = member in self.frozen_members
            own = getattr(self.member(member), "frozen_names", ())
            names.update(f"{member}.{n}" for n, p in self.member(member).named_parameters()
                         if frozen_here or n in own)
        return names

    def train(self):
        super().train()
        for name in self.frozen_members:  # a frozen member always runs as it was trained
            self.member(name).eval()
        return self

    def forward(self, x):
        out = {}
        for name in self.member_names:
            member = self.member(name)
            # the batch comes NCHW; a channels-last member takes it transposed (engine/model_input does this for
            # a model on its own)
            xm = x.transpose([0, 2, 3, 1]) if getattr(member, "data_format", "NCHW") == "NHWC" and x.ndim == 4 else x
            if name in self.frozen_members:
                with paddle.no_grad():
                    out[name] = member(xm)
            else:
                out[name] = member(xm)
        return out

    def freeze(self):
        """Freeze the frozen members again and each member's own frozen parts (after SyncBatchNorm conversion
        replaced their layers)."""
        for name in self.member_names:
            member = self.member(name)
            if name in self.frozen_members:
                for param in member.parameters():
                    param.stop_gradient = True
            elif getattr(member, "frozen_names", None):
                member.freeze()
        self.frozen_names = frozenset(self._frozen_param_names())
        return sorted(self.frozen_names)

    def layerwise_lr_ratios(self, decay):
        """Each trainable member's layer-wise rates (AdamWDL), under its prefixed names; frozen members: 1."""
        ratios = {n: 1.0 for n, _ in self.named_parameters()}
        for name in self.member_names:
            member = self.member(name)
            if name in self.frozen_members:
                continue
            if not hasattr(member, "layerwise_lr_ratios"):
                raise ConfigError(f"Optimizer.layerwise_decay: member {name} ({type(member).__name__}) has no "
                                  "layer order")
            ratios.update({f"{name}.{k}": v for k, v in member.layerwise_lr_ratios(decay).items()})
        return ratios

    def frozen_digests(self):
        """{frozen member: sha256 of its weights}: a checkpoint records them, so a resume with another teacher
        (whose weights the checkpoint does not hold) is an error, not a silent switch."""
        out = {}
        for name in self.frozen_members:
            h = hashlib.sha256()
            for key, value in sorted(self.member(name).state_dict().items()):
                h.update(key.encode("utf-8"))
                h.update(np.ascontiguousarray(value.numpy()).tobytes())
            out[name] = h.hexdigest()
        return out

    # -- what a checkpoint holds -----------------------------------------------------------------------------
    def checkpoint_state_dict(self):
        """The trainable members' entries, keys prefixed with the member name."""
        out = {}
        for name in self.member_names:
            if name not in self.frozen_members:
                out.update({f"{name}.{k}": v for k, v in self.member(name).state_dict().items()})
        return out

    def set_checkpoint_state_dict(self, state):
        """Load what checkpoint_state_dict() saved (the frozen members keep their weights)."""
        for name in self.member_names:
            if name not in self.frozen_members:
                prefix = name + "."
                self.member(name).set_state_dict({k[len(prefix):]: v for k, v in state.items()
                                                  if k.startswith(prefix)})

    def load_members(self, path, new_head=True, class_num_key="Arch.class_num"):
        """Global.pretrained_model of a DistillationModel: load each member whose prefixed keys the file holds
        (a PaddleClas distillation checkpoint holds all of them; ours the trainable ones); returns their names."""
        from .download import fetch_weights, is_url
        from .pretrained import load_pretrained, load_state_file

        if is_url(path):
            path = fetch_weights(path, load_state_file)
        path, state = load_state_file(path)
        found = [n for n in self.member_names if any(k.startswith(n + ".") for k in state)]
        if not found:
            raise WeightsError(f"{path}: holds no weights of the members {', '.join(self.member_names)} (keys "
                               f"like '{self.member_names[0]}.<key>')")
        for name in found:
            load_pretrained(self.member(name), path, new_head=new_head and name not in self.frozen_members,
                            class_num_key=class_num_key, member=name)
        return found


def build_distillation(arch_cfg, build_member, pretrained_model=None):
    """The DistillationModel of a validated Arch; `build_member(member_arch, where=key path)` builds one member. Member weights:
    its `pretrained`, then its pretrained_list entry (a frozen member must fit as trained, a trainable one may
    get a new head); Global.pretrained_model (`pretrained_model`) over them, as PaddleClas loads it."""
    from .pretrained import load_pretrained

    names, models, loaded = [], [], set()
    frozen = list(arch_cfg["freeze_params_list"])
    pretrained_list = arch_cfg.get("pretrained_list") or [None] * len(frozen)
    for index, (name, member_cfg) in enumerate(members_of(arch_cfg)):
        model = build_member(member_cfg, where=f"Arch.models.{index}.{name}")
        for source in (member_cfg.get("pretrained"), pretrained_list[index]):
            if source:
                load_pretrained(model, source, new_head=not frozen[index],
                                class_num_key=f"Arch.models.{index}.{name}.class_num")
                loaded.add(name)
        names.append(name)
        models.append(model)
    model = DistillationModel(list(zip(names, models)), frozen, arch_cfg["infer_model_name"])
    if pretrained_model:
        loaded.update(model.load_members(pretrained_model))
    for index, name in enumerate(names):
        if frozen[index] and name not in loaded:
            raise ConfigError(
                f"Arch.models.{index}.{name}: frozen (Arch.freeze_params_list[{index}]: true) but given no weights; "
                f"set Arch.models.{index}.{name}.pretrained (true, a .pdparams path or URL), "
                f"Arch.pretrained_list[{index}], or Global.pretrained_model to a distillation checkpoint")
    return model
