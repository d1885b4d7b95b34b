"""Generic checks of named components (ops, datasets, losses, metrics, optimizers, LR schedules, models).

A registry is a plain dict name -> class or function; `inspect.signature` gives the keyword arguments a
component accepts, and each default's type the type expected for it (None: anything). The registries are
imported lazily, when a config is validated, because their modules are independent of this one.
"""
import importlib
import inspect
import sys

from .checks import check_type, config_error, parse_fraction, spec_from_default, suggest, unknown_key

# kind -> (module, attribute) of the registry dict
REGISTRY_SOURCES = {
    "transforms": ("ppcls_lite.data.transforms", "TRANSFORMS"),
    "batch_ops": ("ppcls_lite.data.batch_ops", "BATCH_OPS"),
    "datasets": ("ppcls_lite.data.datasets", "DATASETS"),
    "losses": ("ppcls_lite.loss", "LOSSES"),
    "metrics": ("ppcls_lite.metric", "METRICS"),
    "optimizers": ("ppcls_lite.optim", "OPTIMIZERS"),
    "lr_schedules": ("ppcls_lite.optim", "LR_SCHEDULES"),
}
REGISTRY_KINDS = tuple(REGISTRY_SOURCES) + ("models",)

_EMPTY = inspect.Parameter.empty


def load_registry(kind):
    """The registry (a dict name -> class) of `kind`."""
    if kind == "models":
        from ..arch import list_models  # imports every model family
        from ..arch.registry import get_model_factory

        return {name: get_model_factory(name) for name in list_models()}
    module_name, attr = REGISTRY_SOURCES[kind]
    return getattr(importlib.import_module(module_name), attr)


def signature_params(component):
    """({parameter name: default or inspect.Parameter.empty}, accepts **kwargs) of a class or function."""
    try:
        signature = inspect.signature(component)
    except (TypeError, ValueError):
        return {}, True
    params, open_ended = {}, False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
        elif param.kind is not inspect.Parameter.VAR_POSITIONAL and param.name != "self":
            params[param.name] = param.default
    return params, open_ended


def model_params(factory):
    """Accepted kwargs of a model factory: its own, or, for a `**kwargs` factory, the constructor parameters of
    its `model_class` (a table-registered variant) or else of the model classes (ClassifierBase subclasses)
    in its module.

    Returns (params, open_ended); open_ended is True when nothing better than `**kwargs` is known.
    """
    params, open_ended = signature_params(factory)
    if not open_ended:
        return params, False
    from ..arch.base import ClassifierBase

    model_class = getattr(factory, "model_class", None)
    if model_class is not None:
        found, open_ended = _class_chain_params(model_class, ClassifierBase)
        return {**found, **params}, open_ended
    module = sys.modules.get(getattr(factory, "__module__", None) or "")
    found = {}
    for obj in list(vars(module).values()) if module else ():
        if isinstance(obj, type) and issubclass(obj, ClassifierBase) and obj is not ClassifierBase:
            class_params, class_open = signature_params(obj)
            if class_open:
                return params, True
            found.update(class_params)
    if not found:
        return params, True
    found.update(params)
    return found, False


def _class_chain_params(model_class, base):
    """Constructor parameters of `model_class`, following `**kwargs` up its bases (a subclass that passes them
    on to its parent accepts the parent's too); open-ended when the chain ends in `**kwargs`."""
    found = {}
    for klass in model_class.__mro__:
        if klass is base or not issubclass(klass, base):
            break
        own, open_ended = signature_params(klass)
        for key, default in own.items():
            found.setdefault(key, default)
        if not open_ended:
            return found, False
    return found, True


_ANNOTATION_SPECS = {float: "float", int: "int", bool: "bool", str: "str"}


def _annotation_spec(component, key):
    """The type spec a required parameter's annotation gives (`learning_rate: float`), else anything."""
    try:
        annotation = inspect.signature(component).parameters[key].annotation
    except (TypeError, ValueError, KeyError):
        return "any"
    return _ANNOTATION_SPECS.get(annotation, "any")


def _as_path(path):
    if isinstance(path, str):
        return tuple(int(p) if p.isdigit() else p for p in path.split(".")) if path else ()
    return tuple(path)


def validate_component(path, name, kwargs, registry, *, what="component", name_path=None, extra=None,
                       injected=(), created=(), params=None, check_required=True):
    """Check `kwargs` of the component `name` against `registry`; return them (numbers coerced).

    path: key path of the kwargs mapping (tuple or 'A.b.0.Name'); name_path: where the name was written
    (default: `path`). extra: {key: type spec} accepted besides the component's own parameters (keys the
    builder consumes, e.g. a loss's `weight`). injected: parameters the builder supplies (not required from
    the config). created: key paths added by -o overrides; in a `**kwargs` component those must still be
    known parameters. params: (params, open_ended) to use instead of the component's signature.
    check_required: report parameters without a default that the config does not give.

    Errors (ConfigError, message starting with the key path): unknown component (closest name suggested),
    unknown parameter (closest parameter suggested), type mismatch with the default's type (an int is
    accepted for a float), required parameter missing.
    """
    path = _as_path(path)
    name_path = _as_path(name_path) if name_path is not None else path
    extra = dict(extra or {})
    if not isinstance(name, str):
        raise config_error(name_path, f"expected a {what} name, got {name!r}")
    if name not in registry:
        raise config_error(name_path, f"unknown {what} '{name}'{suggest(name, registry)}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise config_error(path, f"expected a mapping of parameters for {what} '{name}', got {kwargs!r}")
    accepted, open_ended = params if params is not None else signature_params(registry[name])
    created = {tuple(str(p) for p in c) for c in created}
    known = {k for k in accepted if k not in injected} | set(extra)
    out = {}
    for key, value in kwargs.items():
        key_path = path + (key,)
        if key in extra:
            spec = extra[key]
        elif key in accepted:
            default = accepted[key]
            spec = _annotation_spec(registry[name], key) if default is _EMPTY else spec_from_default(default)
        elif open_ended and tuple(str(p) for p in key_path) not in created:
            spec = "any"
        else:
            raise unknown_key(path, key, known)
        if spec == "any" and isinstance(value, str) and parse_fraction(value) is not None:
            value = parse_fraction(value)  # '1.0/255.0' where no type is known: meant as a number
        out[key] = check_type(key_path, value, spec)
    for key, default in accepted.items() if check_required else ():
        if default is _EMPTY and key not in kwargs and key not in injected:
            raise config_error(path + (key,), f"required parameter of {name} missing")
    return out
