"""Model registry: variant name -> factory function; no string evaluation anywhere."""
import difflib

from ..errors import ConfigError

_MODELS = {}
_FAMILIES = {}


def register_model(family):
    """Decorator registering a factory `fn(**kwargs) -> nn.Layer` under its function name."""

    def wrap(fn):
        if fn.__name__ in _MODELS:
            raise ValueError(f"model {fn.__name__} registered twice")
        _MODELS[fn.__name__] = fn
        _FAMILIES[fn.__name__] = family
        return fn

    return wrap


def list_models(family=None):
    """Names of every registered variant (optionally of one family), sorted."""
    return sorted(n for n, f in _FAMILIES.items() if family is None or f == family)


def model_family(name):
    """Family name ('ResNet', 'SwinTransformer', ...) of a registered variant."""
    return _FAMILIES[name]


def get_model_factory(name):
    """The factory of a registered variant; unknown names raise ConfigError naming the closest ones."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see ppcls_lite.list_models()"
        raise ConfigError(f"Arch.name: unknown model '{name}'{hint}")
    return _MODELS[name]
