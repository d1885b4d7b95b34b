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


__all__ = ["build_model", "list_models", "model_family", "model_spec", "register_model"]
