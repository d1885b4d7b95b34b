"""Model registry: variant name -> factory function and spec; no string evaluation anywhere."""
import copy

from ..registry import Registry
from .spec import ModelSpec

_MODELS = Registry("model")
_FAMILIES = {}
_SPECS = {}


def register_model(family, spec=None):
    """Decorator registering a factory `fn(**kwargs) -> nn.Layer` under its function name (with `spec`, its
    ModelSpec; default: ImageNet 224 preprocessing, no published weights)."""

    def wrap(fn):
        _MODELS.register(fn)
        _FAMILIES[fn.__name__] = family
        _SPECS[fn.__name__] = spec or ModelSpec()
        return fn

    return wrap


def register_variants(family, model_class, table, module, weights_folder=""):
    """Register every row of a family's table ({name: Variant}): `name(**kwargs)` builds
    `model_class(**{**row.kwargs, **kwargs})`, and the row's spec is bound to the name's weight URLs (PaddleClas
    keeps a family's files under `weights_folder`). `module`: the caller's `__name__`."""
    for name, row in table.items():
        register_model(family, row.bound_spec(name, weights_folder))(_variant_factory(family, name, model_class, row, module))


def _variant_factory(family, name, model_class, row, module):
    def factory(**kwargs):
        return model_class(**{**copy.deepcopy(row.kwargs), **kwargs})

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = module
    factory.__doc__ = f"{family} variant {name}: {model_class.__name__}({row.kwargs}), updated by kwargs."
    factory.model_class = model_class  # config validation reads the Arch keys from its signature
    return factory


def list_models(family=None):
    """Names of every registered variant (optionally of one family), sorted."""
    return sorted(n for n, f in _FAMILIES.items() if family is None or f == family)


def model_family(name):
    """Family name ('ResNet', 'SwinTransformer', ...) of a registered variant."""
    return _FAMILIES[name]


def model_spec(name):
    """The ModelSpec of a registered variant (input size, eval preprocessing, published weight URLs)."""
    get_model_factory(name)
    return _SPECS[name]


def get_model_factory(name):
    """The factory of a registered variant; unknown names raise ConfigError naming the closest ones."""
    return _MODELS.lookup(name, "Arch.name")
