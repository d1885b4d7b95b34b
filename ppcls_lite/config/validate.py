"""Validation of a whole config, section by section, before anything is built.

Returns a new, normalized config: plain dicts and lists; every Global key present (defaults filled in); the
fixed keys of Arch, Optimizer, sampler, loader, Infer, PostProcess, AMP and EMA filled in; every top-level
section present (None when absent; Loss and Metric as {"Train": [], "Eval": []}); AMP None unless it is on;
component entries as {Name: {kwargs}}; '5e-4'-style strings and '1.0/255.0' fractions as floats.
"""
import copy
import os

from ..errors import ConfigError
from . import schema as S
from .checks import (check_type, coerce_scientific, config_error, key_path, short_repr, suggest, type_name,
                     unknown_key)
from .components import REGISTRY_KINDS, load_registry, model_params, validate_component

OPTIMIZER_INJECTED = ("learning_rate", "parameters", "model_list", "grad_clip", "epochs", "step_each_epoch")
LR_INJECTED = ("epochs", "step_each_epoch")


class _Context:
    """What every check needs: path checking on/off, registries (given or imported), override-created keys."""

    def __init__(self, check_paths, registries, created):
        unknown = set(registries or {}) - set(REGISTRY_KINDS)
        if unknown:
            raise ValueError(f"unknown registry kinds {sorted(unknown)}; known: {list(REGISTRY_KINDS)}")
        if isinstance(check_paths, (list, tuple, set, frozenset)):
            self._path_prefixes = tuple(str(p) for p in check_paths)
        else:
            self._path_prefixes = ("",) if check_paths else ()
        self._registries = dict(registries or {})
        self.created = {tuple(str(p) for p in c) for c in created}

    def checks_path(self, path):
        """Whether the file or folder named at key path `path` must exist (the tool uses it)."""
        dotted = key_path(path)
        return any(not p or dotted == p or dotted.startswith(p + ".") for p in self._path_prefixes)

    def registry(self, kind):
        if kind not in self._registries:
            self._registries[kind] = load_registry(kind)
        return self._registries[kind]


def _check_path(path, value, kind):
    if kind == "file":
        if not os.path.isfile(value):
            raise config_error(path, f"is a folder, expected a file: {value}" if os.path.isdir(value)
                               else f"file not found: {value}")
    elif kind == "dir":
        if not os.path.isdir(value):
            raise config_error(path, f"is a file, expected a folder: {value}" if os.path.exists(value)
                               else f"folder not found: {value}")
    elif kind == "weights":
        if value.startswith(("http://", "https://")):
            return  # downloaded (and checked) when the weights are loaded
        if value.endswith(".pdparams"):
            if not os.path.isfile(value):
                raise config_error(path, f"file not found: {value}")
        elif not (os.path.isfile(value + ".pdparams") or os.path.isfile(value) or os.path.isdir(value)):
            raise config_error(path, f"file not found: {value}.pdparams (nor {value})")


def _check_field(path, value, field, ctx):
    value = check_type(path, value, field.spec)
    if field.choices and value is not None and value not in field.choices:
        raise config_error(path, f"unknown value {value!r}{suggest(value, field.choices)}")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if field.minimum is not None and is_number and value < field.minimum:
        raise config_error(path, f"must be >= {field.minimum}, got {value}")
    if field.above is not None and is_number and not value > field.above:
        raise config_error(path, f"must be > {field.above}, got {value}")
    if field.length is not None and isinstance(value, list) and len(value) != field.length:
        raise config_error(path, f"expected {field.length} items, got {len(value)}")
    if field.path and isinstance(value, str) and value not in field.keywords and ctx.checks_path(path):
        _check_path(path, value, field.path)
    return value


def check_section(path, data, fields, ctx, fill=True):
    """Check a mapping against a field table (unknown keys, types, choices, paths); fill in defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise config_error(path, f"expected a mapping, got {type_name(data)} {short_repr(data)}")
    out = {}
    for key, value in data.items():
        if key not in fields:
            raise unknown_key(path, key, fields)
        out[key] = _check_field(path + (key,), value, fields[key], ctx)
    for key, field in fields.items():
        if key in out:
            continue
        if field.required:
            raise config_error(path + (key,), "required key missing")
        if fill:
            out[key] = copy.deepcopy(field.default)
    return out


def check_fields(path, data, fields):
    """check_section without path checks, for a builder given a section by hand (the same rules, the same
    messages as a config's validation); `path` is a dotted key path or a tuple."""
    path = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
    return check_section(path, data, fields, _Context(False, None, ()))


def _mapping(path, data):
    if not isinstance(data, dict):
        raise config_error(path, f"expected a mapping, got {type_name(data)} {short_repr(data)}")
    return data


def _entry(path, entry):
    """(name, kwargs) of a list entry written `- Name: {kwargs}` (or `- Name` / `- Name:`)."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        (name, kwargs), = entry.items()
        return str(name), ({} if kwargs is None else kwargs)
    raise config_error(path, f"expected one {{Name: {{parameters}}}} entry, got {short_repr(entry)}")


def _component(path, name, kwargs, kind, what, ctx, **options):
    return validate_component(path, name, kwargs, ctx.registry(kind), what=what, created=ctx.created, **options)


def _entries(path, items, kind, what, ctx, extra=None):
    """A list of `- Name: {kwargs}` entries checked against a registry -> [{Name: kwargs}, ...]."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise config_error(path, f"expected a list of {what} entries, got {type_name(items)} {short_repr(items)}")
    out = []
    for index, entry in enumerate(items):
        name, kwargs = _entry(path + (index,), entry)
        out.append({name: _component(path + (index, name), name, kwargs, kind, what, ctx, extra=extra)})
    return out


def _batch_ops(path, items, ctx):
    """batch_transform_ops: like _entries, plus OpSampler's {OpName: {..., prob}} choices."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise config_error(path, f"expected a list of batch op entries, got {type_name(items)}")
    registry = ctx.registry("batch_ops")
    out = []
    for index, entry in enumerate(items):
        name, kwargs = _entry(path + (index,), entry)
        entry_path = path + (index, name)
        if name != "OpSampler":
            out.append({name: _component(entry_path, name, kwargs, "batch_ops", "batch op", ctx)})
            continue
        if name not in registry:
            raise config_error(entry_path, f"unknown batch op 'OpSampler'{suggest(name, registry)}")
        inner = {}
        for op_name, op_kwargs in _mapping(entry_path, kwargs).items():
            inner[op_name] = _component(entry_path + (op_name,), op_name, op_kwargs, "batch_ops", "batch op",
                                        ctx, extra={"prob": "float"})
        out.append({name: inner})
    return out


def _splits(section, data, kind, what, ctx, extra=None):
    """Loss / Metric: {Train: [entries], Eval: [entries]} (absent or null: [])."""
    out = check_section((section,), data, S.SPLITS, ctx)
    for split in ("Train", "Eval"):
        out[split] = _entries((section, split), out[split], kind, what, ctx, extra=extra)
    return out


def _resolve_pretrained(path, fixed, layer_type=None):
    """An Arch's `pretrained` as weights to load: a path or URL as written, True: the URL of the variant's
    published weights (its ModelSpec; the SSLD ones with use_ssld), None for none."""
    pretrained = fixed["pretrained"]
    if fixed["use_ssld"] and pretrained is not True:
        raise config_error(path + ("use_ssld",), "only means something with pretrained: True")
    if pretrained is True:
        from ..arch.registry import model_spec

        try:
            kind = "ssld" if fixed["use_ssld"] else "dbb" if layer_type == "DiverseBranchBlock" else None
            return model_spec(fixed["name"]).weight_url(kind)
        except ValueError as exc:
            raise config_error(path + ("use_ssld",) if fixed["use_ssld"] else path + ("pretrained",),
                               f"{exc.args[0].replace('this variant', fixed['name'])}; give a .pdparams path "
                               "instead") from None
    return pretrained or None


def _move_pretrained(fixed, global_cfg, layer_type=None):
    """Arch.pretrained -> Global.pretrained_model (the weights are downloaded when they are loaded) -- unless
    Global.pretrained_model is set, which PaddleClas loads over Arch.pretrained: True."""
    if fixed["pretrained"] is True and global_cfg["pretrained_model"] is not None:
        fixed["use_ssld"] = False  # PaddleClas loads Global.pretrained_model over the download: only it counts
        fixed["pretrained"] = False
    pretrained = _resolve_pretrained(("Arch",), fixed, layer_type)
    if isinstance(pretrained, str):
        if global_cfg["pretrained_model"] not in (None, pretrained):
            raise config_error(("Arch", "pretrained"), "set, and so is Global.pretrained_model; keep one")
        global_cfg["pretrained_model"] = pretrained
    fixed["pretrained"] = False


def _alias_input_channels(path, data, params):
    """PaddleClas's Arch.input_image_channel (its ResNet / ResNeXt keyword) is the in_channels of ours."""
    if "input_image_channel" not in data or "in_channels" not in params:
        return  # a model without in_channels: the key is refused by name below
    value = data.pop("input_image_channel")
    if data.get("in_channels", value) != value:
        raise config_error(path + ("input_image_channel",), f"{value}, but {key_path(path)}.in_channels is "
                           f"{data['in_channels']}; keep one")
    data["in_channels"] = value


def _arch(data, global_cfg, ctx):
    """Arch, checked; also applies the Global keys that act through it (class_num, use_fused_attn) and moves a
    path in Arch.pretrained to Global.pretrained_model (the one place weights are loaded from)."""
    path = ("Arch",)
    data = dict(_mapping(path, data))
    if data.get("name") == "DistillationModel":
        return _distillation_arch(data, global_cfg, ctx)
    if global_cfg["class_num"] is not None and "class_num" not in data:
        data["class_num"] = global_cfg["class_num"]  # PaddleClas's deprecated Global.class_num
    return _model_arch(path, data, global_cfg, ctx, lambda fixed: _move_pretrained(fixed, global_cfg,
                                                                                   data.get("layer_type")))


def _model_arch(path, data, global_cfg, ctx, place_pretrained):
    """One model's Arch at `path`: fixed keys and the model's own parameters; `place_pretrained(fixed)` decides
    where its `pretrained` goes."""
    fixed = check_section(path, {k: v for k, v in data.items() if k in S.ARCH}, S.ARCH, ctx)
    models = ctx.registry("models")
    name = fixed["name"]
    if name not in models:
        raise config_error(path + ("name",), f"unknown model '{name}'{suggest(name, models)}")
    place_pretrained(fixed)
    params = model_params(models[name])
    if global_cfg["use_fused_attn"] is not None and "use_fused_attn" in params[0] and "use_fused_attn" not in data:
        data["use_fused_attn"] = global_cfg["use_fused_attn"]
    _alias_input_channels(path, data, params[0])
    model_kwargs = {k: v for k, v in data.items() if k not in S.ARCH}
    model_kwargs = validate_component(path, name, model_kwargs, models, what="model", name_path=path + ("name",),
                                      created=ctx.created, params=params, check_required=False)
    out = {k: (fixed[k] if k in fixed else model_kwargs[k]) for k in data}
    out.update({k: v for k, v in fixed.items() if k not in out})
    return out


def _layer_class():
    from ..arch.distillation import DistillationModel

    return DistillationModel


def _distillation_arch(data, global_cfg, ctx):
    """PaddleClas's DistillationModel: its own keys (schema.DISTILLATION_ARCH), and each member an Arch section
    of its own whose `pretrained` (true: the published weights' URL) stays with it."""
    path = ("Arch",)
    out = check_section(path, data, S.DISTILLATION_ARCH, ctx)
    if global_cfg["class_num"] is not None and out["class_num"] is None:
        out["class_num"] = global_cfg["class_num"]
    entries = out["models"]
    if not entries:
        raise config_error(path + ("models",), "lists no models; expected [{Teacher: {name: ...}}, {Student: ...}]")
    members, names = [], []
    for index, entry in enumerate(entries):
        entry_path = path + ("models", index)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise config_error(entry_path, f"expected one {{MemberName: {{name: Model, ...}}}}, got "
                               f"{short_repr(entry)}")
        (member, member_data), = entry.items()
        member = str(member)
        if not member.isidentifier() or hasattr(_layer_class(), member):
            raise config_error(entry_path, f"member name {member!r}: a name like Teacher or Student (letters, digits "
                               "and _, not a Layer attribute such as train or eval)")
        if member in names:
            raise config_error(entry_path, f"member name {member!r} is used twice")
        member_path = entry_path + (member,)
        member_data = dict(_mapping(member_path, member_data))
        if member_data.get("name") == "DistillationModel":
            raise config_error(member_path + ("name",), "a DistillationModel cannot be a member of another")
        if "use_sync_bn" in member_data:
            raise config_error(member_path + ("use_sync_bn",), "converts the whole model: set Arch.use_sync_bn")
        if out["class_num"] is not None and "class_num" not in member_data:
            member_data["class_num"] = out["class_num"]

        def keep(fixed, member_path=member_path, layer_type=member_data.get("layer_type")):
            fixed["pretrained"] = _resolve_pretrained(member_path, fixed, layer_type) or False
            fixed["use_ssld"] = False

        members.append({member: _model_arch(member_path, member_data, global_cfg, ctx, keep)})
        names.append(member)
    for key in ("freeze_params_list", "pretrained_list"):
        if out[key] is not None and len(out[key]) != len(names):
            raise config_error(path + (key,), f"{len(out[key])} entries for {len(names)} models; give one per "
                               "model (or leave it null)")
    out["freeze_params_list"] = [bool(v) for v in out["freeze_params_list"] or [False] * len(names)]
    for index, value in enumerate(out["pretrained_list"] or []):
        if value is not None and not isinstance(value, str):
            raise config_error(path + ("pretrained_list", index), f"expected a .pdparams path or URL, got "
                               f"{short_repr(value)}")
        if value and ctx.checks_path(path + ("pretrained_list",)):
            _check_path(path + ("pretrained_list", index), value, "weights")
    trainable = [n for n, f in zip(names, out["freeze_params_list"]) if not f]
    if not trainable:
        raise config_error(path + ("freeze_params_list",), "freezes every model; at least one must train")
    if out["infer_model_name"] is None:
        if len(trainable) > 1:
            raise config_error(path + ("infer_model_name",), f"required: {', '.join(trainable)} all train; name "
                               "the one to evaluate and export")
        out["infer_model_name"] = trainable[0]
    elif out["infer_model_name"] not in names:
        raise config_error(path + ("infer_model_name",), f"{out['infer_model_name']!r} is not one of the models "
                           f"({', '.join(names)}){suggest(out['infer_model_name'], names)}")
    elif out["infer_model_name"] not in trainable:
        raise config_error(path + ("infer_model_name",), f"{out['infer_model_name']} is frozen; the model to "
                           f"evaluate and export is one that trains ({', '.join(trainable)})")
    class_nums = [int(next(iter(m.values()))["class_num"]) for m in members]
    if len(set(class_nums)) > 1:
        index = class_nums.index(next(c for c in class_nums if c != class_nums[0]))
        raise config_error(path + ("models", index, names[index], "class_num"),
                           f"{class_nums[index]}, but {names[0]} has {class_nums[0]}; the distillation losses "
                           "compare the models' logits class by class")
    out["models"] = members
    out["class_num"] = class_nums[0]
    return out


def _optimizer(data, ctx):
    path = ("Optimizer",)
    data = _mapping(path, data)
    # regularizer / clip_norm are checked here but not filled in: whether an optimizer takes them is its own
    # signature's business (AdamW has no regularizer).
    fixed = check_section(path, {k: v for k, v in data.items() if k in S.OPTIMIZER}, S.OPTIMIZER, ctx, fill=False)
    if fixed.get("regularizer") is not None:
        fixed["regularizer"] = check_section(path + ("regularizer",), fixed["regularizer"], S.REGULARIZER, ctx)
    lr_path = path + ("lr",)
    lr = dict(fixed["lr"])
    lr_name = check_section(lr_path, {"name": lr.pop("name")} if "name" in lr else {}, S.LR, ctx)["name"]
    lr_kwargs = _component(lr_path, lr_name, lr, "lr_schedules", "learning-rate schedule", ctx,
                           name_path=lr_path + ("name",), injected=LR_INJECTED,
                           extra={k: "int" for k in LR_INJECTED})  # PaddleClas's configs may write them: replaced
    fixed["lr"] = {"name": lr_name, **lr_kwargs}
    kwargs = {k: v for k, v in data.items() if k not in ("name", "lr")}
    kwargs = _component(path, fixed["name"], kwargs, "optimizers", "optimizer", ctx, name_path=path + ("name",),
                        injected=OPTIMIZER_INJECTED)
    return {k: (fixed[k] if k in fixed else kwargs[k]) for k in data}


def _dataset(path, data, ctx):
    data = _mapping(path, data)
    fixed = check_section(path, {k: v for k, v in data.items() if k in S.DATASET}, S.DATASET, ctx, fill=False)
    out = dict(data)
    out.update(fixed)
    if "transform_ops" in out:
        out["transform_ops"] = _entries(path + ("transform_ops",), out["transform_ops"], "transforms",
                                        "transform op", ctx)
    if "batch_transform_ops" in out:
        out["batch_transform_ops"] = _batch_ops(path + ("batch_transform_ops",), out["batch_transform_ops"], ctx)
    name = out.pop("name")
    batch_ops = out.pop("batch_transform_ops", None)
    extra = {k: f.spec for k, f in S.DATASET.items() if k not in ("name", "batch_transform_ops")}
    kwargs = _component(path, name, out, "datasets", "dataset", ctx, name_path=path + ("name",), extra=extra)
    result = {"name": name, **kwargs}
    if "batch_transform_ops" in data:
        result["batch_transform_ops"] = batch_ops
    return result


def _dataloader(data, ctx):
    path = ("DataLoader",)
    data = _mapping(path, data)
    for key in data:
        if key not in ("Train", "Eval"):
            raise unknown_key(path, key, ("Train", "Eval"))
    out = {"Train": None, "Eval": None}
    for split in ("Train", "Eval"):
        if data.get(split) is None:
            continue
        split_path = path + (split,)
        section = check_section(split_path, data[split], S.DATALOADER_SPLIT, ctx)
        section["dataset"] = _dataset(split_path + ("dataset",), section["dataset"], ctx)
        section["sampler"] = check_section(split_path + ("sampler",), section["sampler"], S.SAMPLER, ctx)
        section["loader"] = check_section(split_path + ("loader",), section["loader"], S.LOADER, ctx)
        out[split] = section
    return out


def _infer(data, ctx):
    path = ("Infer",)
    out = check_section(path, data, S.INFER, ctx)
    out["transforms"] = _entries(path + ("transforms",), out["transforms"], "transforms", "transform op", ctx)
    if out["PostProcess"] is not None:
        out["PostProcess"] = check_section(path + ("PostProcess",), out["PostProcess"], S.POSTPROCESS, ctx)
    return out


def _check_model_names(out):
    """The models that distillation losses and metrics name are members of the DistillationModel; evaluation,
    which runs the infer_model_name member alone, has no pair to compare."""
    arch = out["Arch"]
    members = [next(iter(m)) for m in arch["models"]] if arch["name"] == "DistillationModel" else None
    for split in ("Train", "Eval"):
        for index, entry in enumerate(out["Loss"][split]):
            (name, kwargs), = entry.items()
            path = ("Loss", split, index, name)
            if not name.startswith("Distillation"):
                if members is not None and split == "Train":
                    raise config_error(path, "a DistillationModel gives {model name: logits}; use its "
                                       "Distillation* form (DistillationGTCELoss with model_names for CELoss)")
                continue
            if split == "Eval":
                raise config_error(path, "evaluation runs one model (Arch.infer_model_name) alone, so there is "
                                   "nothing to distil; score it with CELoss")
            if members is None:
                raise config_error(path, "needs Arch.name: DistillationModel (the outputs of several models)")
            for key in ("model_names", "model_name_pairs"):
                for i, item in enumerate(kwargs.get(key) or []):
                    for j, member in enumerate(item if key == "model_name_pairs" and isinstance(item, list)
                                               else [item]):
                        if member not in members:
                            where = path + (key, i) + ((j,) if key == "model_name_pairs" else ())
                            raise config_error(where, f"{member!r} is not one of Arch.models "
                                               f"({', '.join(members)}){suggest(str(member), members)}")
    for split in ("Train", "Eval"):
        for index, entry in enumerate(out["Metric"][split]):
            (name, kwargs), = entry.items()
            if members is not None and split == "Train" and name != "DistillationTopkAcc":
                raise config_error(("Metric", split, index, name), "a DistillationModel gives {model name: "
                                   "logits}; use DistillationTopkAcc with model_key")
            if name != "DistillationTopkAcc" or members is None:
                continue
            path = ("Metric", split, index, name, "model_key")
            key = kwargs.get("model_key")
            if key not in members:
                raise config_error(path, f"{key!r} is not one of Arch.models ({', '.join(members)})"
                                   f"{suggest(str(key), members)}")
            if split == "Eval" and key != arch["infer_model_name"]:
                raise config_error(path, f"{key}, but evaluation runs Arch.infer_model_name "
                                   f"({arch['infer_model_name']}) alone")


MULTILABEL_LOSSES = ("MultiLabelLoss", "MultiLabelAsymmetricLoss")
MULTILABEL_METRICS = ("HammingDistance", "AccuracyScore")


def _check_task(out):
    """Global.use_multilabel and what the sections say agree: multi-label data, losses, metrics and
    post-processing go together (a single-label loss on 0/1 vectors would train silently wrong)."""
    multi = out["Global"]["use_multilabel"]
    flag = "Global.use_multilabel is " + ("true" if multi else "false")
    for split in ("Train", "Eval"):
        section = (out["DataLoader"] or {}).get(split)
        if section is None:
            continue
        name = section["dataset"]["name"]
        if multi != (name == "MultiLabelDataset"):
            raise config_error(("DataLoader", split, "dataset", "name"), f"{name}, but {flag}; "
                               + ("use MultiLabelDataset (a list file of 0/1 label vectors)" if multi else
                                  "set Global.use_multilabel: true for a MultiLabelDataset"))
        if multi and section["sampler"].get("balance"):
            raise config_error(("DataLoader", split, "sampler", "balance"), "balances single labels; a "
                               "multi-label dataset has several per image")
    for section, kinds in (("Loss", MULTILABEL_LOSSES), ("Metric", MULTILABEL_METRICS)):
        for split in ("Train", "Eval"):
            for index, entry in enumerate(out[section][split]):
                (name, _), = entry.items()
                if multi != (name in kinds):
                    raise config_error((section, split, index, name), f"{flag}; " + (
                        f"a multi-label {section.lower()} is one of {', '.join(kinds)}" if multi else
                        f"{name} is for multi-label data (Global.use_multilabel: true)"))
    thresholds = {float((kwargs or {}).get("threshold", 0.5)) for entry in out["Metric"]["Eval"]
                  for name, kwargs in entry.items() if name in MULTILABEL_METRICS}
    if len(thresholds) > 1:
        raise config_error(("Metric", "Eval"), f"the multi-label metrics use thresholds {sorted(thresholds)}; the "
                           "per-label report needs one: give them the same")
    post_cfg = (out.get("Infer") or {}).get("PostProcess") or {}
    if post_cfg.get("name") == "MultiLabelThreshOutput" and not 0 < post_cfg["threshold"] < 1:
        raise config_error(("Infer", "PostProcess", "threshold"), f"a probability in (0, 1), got "
                           f"{post_cfg['threshold']}")
    post = post_cfg.get("name")
    if post is not None and multi != (post == "MultiLabelThreshOutput"):
        raise config_error(("Infer", "PostProcess", "name"), f"{post}, but {flag}; "
                           + ("use MultiLabelThreshOutput" if multi else "use Topk"))


def validate_config(config, *, check_paths=True, registries=None, created=()):
    """Validate a merged config and return its normalized copy (see the module docstring).

    check_paths: check that data folders/files and weights exist: True (all), False (none), or the key-path
    prefixes of what the tool uses (e.g. ("Global.pretrained_model", "DataLoader.Eval")). registries: {kind: dict}
    replacing the imported registries (kinds: components.REGISTRY_KINDS), e.g. for tests. created: key paths
    that -o overrides added (validation makes sure each is a known key). Raises ConfigError.
    """
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of sections (Global, Arch, ...)")
    ctx = _Context(check_paths, registries, created)
    config = coerce_scientific(config)
    for key in config:
        if key not in S.SECTIONS:
            raise unknown_key((), key, S.SECTIONS, what="section")
    for key in S.REQUIRED_SECTIONS:
        if config.get(key) is None:
            raise config_error((key,), "required section missing")
    out = {"Global": check_section(("Global",), config["Global"], S.GLOBAL, ctx)}
    channels, shape = out["Global"]["image_channel"], out["Global"]["image_shape"]
    if channels is not None and shape is not None and shape[0] != channels:
        raise config_error(("Global", "image_channel"), f"{channels}, but Global.image_shape starts with {shape[0]}")
    out["Arch"] = _arch(config["Arch"], out["Global"], ctx)
    out["Loss"] = _splits("Loss", config.get("Loss"), "losses", "loss", ctx, extra={"weight": "float"})
    out["Optimizer"] = None if config.get("Optimizer") is None else _optimizer(config["Optimizer"], ctx)
    out["DataLoader"] = None if config.get("DataLoader") is None else _dataloader(config["DataLoader"], ctx)
    out["Metric"] = _splits("Metric", config.get("Metric"), "metrics", "metric", ctx)
    _check_model_names(out)
    out["Infer"] = None if config.get("Infer") is None else _infer(config["Infer"], ctx)
    _check_task(out)
    amp = None if config.get("AMP") is None else check_section(("AMP",), config["AMP"], S.AMP, ctx)
    out["AMP"] = amp if amp and amp["use_amp"] else None
    out["EMA"] = None if config.get("EMA") is None else check_section(("EMA",), config["EMA"], S.EMA, ctx)
    if out["EMA"] is not None and not 0 <= out["EMA"]["decay"] < 1:
        raise config_error(("EMA", "decay"), f"must be in [0, 1), got {out['EMA']['decay']}")
    return out
