"""Model registry: variant name -> factory function; no string evaluation anywhere."""
from ..registry import Registry

_MODELS = Registry("model")
_FAMILIES = {}


def register_model(family):
    """Decorator registering a factory `fn(**kwargs) -> nn.Layer` under its function name."""

    def wrap(fn):
        _MODELS.register(fn)
        _FAMILIES[fn.__name__] = family
        return fn

    return wrap


def register_variants(family, names, build, module):
    """Register one factory per variant name, each `factory(**kwargs) = build(name, kwargs)`: a family whose
    variants differ only by a table row writes each name once, in its table. `module` (the caller's
    `__name__`) is where config validation looks for the model classes whose parameters the factories take."""
    for name in names:
        register_model(family)(_variant_factory(family, name, build, module))


def _variant_factory(family, name, build, module):
    def factory(**kwargs):
        return build(name, kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = module
    factory.__doc__ = f"{family} variant {name}: its row of the table in {module}, updated by kwargs."
    return factory


def list_models(family=None):
    """Names of every registered variant (optionally of one family), sorted."""
    return sorted(n for n, f in _FAMILIES.items() if family is None or f == family)


def model_family(name):
    """Family name ('ResNet', 'SwinTransformer', ...) of a registered variant."""
    return _FAMILIES[name]


def get_model_factory(name):
    """The factory of a registered variant; unknown names raise ConfigError naming the closest ones."""
    return _MODELS.lookup(name, "Arch.name")
