"""Backbones by name: build_model("ResNet50", class_num=10), list_models(), model_spec("ResNet50")."""
import importlib

from .registry import get_model_factory, list_models, model_family, model_spec, register_model

# Importing a family module registers its variants.
_FAMILY_MODULES = ("resnet", "resnext", "res2net", "swin_transformer", "vision_transformer", "convnext")
for _name in _FAMILY_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def build_model(name, pretrained=None, **kwargs):
    """Build a registered variant; `pretrained` is a .pdparams path (fine-tuning: a differing head is skipped)."""
    model = get_model_factory(name)(**kwargs)
    if pretrained:
        from .pretrained import load_pretrained

        load_pretrained(model, pretrained, new_head=True)
    return model


# Arch keys that are not constructor arguments (PaddleClas's; `pretrained` is the engine's business)
_NOT_MODEL_KWARGS = ("name", "use_sync_bn", "pretrained", "use_ssld", "frozen_stages", "frozen_params",
                     "head_lr_mult")


def build_from_config(arch_cfg, pretrained_model=None, where="Arch"):
    """Model from a config's Arch section (name + constructor kwargs); a value the model rejects is a ConfigError
    under `where` (model layers raise plain ValueError, phrased '<parameter>: ...' where one parameter is at
    fault). `pretrained_model`: weights to start training from (Global.pretrained_model; a differing head starts
    fresh). A DistillationModel Arch builds each member the same way (arch/distillation.py)."""
    from .distillation import build_distillation, is_distillation

    if is_distillation(arch_cfg):
        return build_distillation(arch_cfg, build_from_config, pretrained_model)
    kwargs = {k: v for k, v in arch_cfg.items() if k not in _NOT_MODEL_KWARGS}
    try:
        model = build_model(arch_cfg["name"], **kwargs)
        if arch_cfg.get("frozen_stages") or arch_cfg.get("frozen_params"):
            model.freeze(int(arch_cfg.get("frozen_stages") or 0), tuple(arch_cfg.get("frozen_params") or ()))
        if arch_cfg.get("head_lr_mult", 1.0) != 1.0:
            model.scale_learning_rates(head_mult=arch_cfg["head_lr_mult"])
    except ValueError as exc:
        raise _arch_error(arch_cfg, exc, where) from None
    if pretrained_model:
        from .pretrained import load_pretrained

        load_pretrained(model, pretrained_model, new_head=True)  # fine-tuning: a new head if needed
    return model


def _arch_error(arch_cfg, exc, where):
    """The ConfigError of a value the model rejected: under its key where the message names one."""
    from ..config.components import model_params
    from ..errors import ConfigError

    message = str(exc)
    params, _ = model_params(get_model_factory(arch_cfg["name"]))
    key = message.split(":", 1)[0]
    named = key in params or key in arch_cfg
    return ConfigError(f"{where}.{message}" if named else f"{where} ({arch_cfg['name']}): {message}")


__all__ = ["build_from_config", "build_model", "list_models", "model_family", "model_spec", "register_model"]
