"""Named components (transform and batch ops, datasets, losses, metrics, optimizers, LR schedules): one registry
per kind, filled by a decorator, and one builder for all of them.

    TRANSFORMS = Registry("op")

    @TRANSFORMS.register
    class Blur(TransformOp): ...

    TRANSFORMS.build("Blur", {"radius": 2}, "transform_ops[3]")

A Registry is a dict (name -> class), so config validation (config/components.py) reads the same entries --
their signatures give the keys and types a config may use -- before anything is built. `build` is what every
builder calls; for a config that passed validation it only constructs, and for direct callers (the Python
API, tests) it gives the same one-line ConfigError a config would get.
"""
import inspect

from .config.checks import suggest
from .errors import ConfigError

__all__ = ["Registry"]


class Registry(dict):
    """name -> component class of one kind; `what` names the kind in messages ('op', 'loss', ...)."""

    def __init__(self, what, entries=None):
        super().__init__(entries or {})
        self.what = what

    def register(self, component=None, *, name=None):
        """Decorator (`@REG.register` or `@REG.register(name="X")`) adding a class under its name."""

        def add(obj):
            key = name or obj.__name__
            if key in self:
                raise ValueError(f"{self.what} {key!r} registered twice")
            self[key] = obj
            return obj

        return add(component) if component is not None else add

    def lookup(self, name, where):
        """The class registered as `name`; else a ConfigError at `where` naming the closest names."""
        if name not in self:
            msg = f"unknown {self.what} {name!r}{suggest(name, self)}"
            raise ConfigError(f"{where}: {msg}" if where else msg)
        return self[name]

    def build(self, name, params, where, name_in_path=True):
        """self[name](**params). Unknown names, unknown / missing parameters and bad values are a ConfigError
        whose message starts with the key path: `where`.`name` (or `where`, with name_in_path=False, for
        sections such as a dataset whose name is a key beside its parameters)."""
        path = (f"{where}.{name}" if where else name) if name_in_path else where
        cls = self.lookup(name, where if name_in_path else f"{where}.name")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: parameters must be a mapping, got {type(params).__name__}")
        plist = [p for n, p in inspect.signature(cls).parameters.items() if n != "self"]
        positional = [p for p in plist if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        known = [p.name for p in positional]
        # the same messages as config validation (config/components.py), so a mistake reads the same either way
        unknown = [k for k in params if k not in known]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in plist):
            raise ConfigError(f"{path}.{unknown[0]}: unknown key{suggest(unknown[0], known)}")
        missing = [p.name for p in positional if p.default is p.empty and p.name not in params]
        if missing:
            raise ConfigError(f"{path}.{missing[0]}: required parameter of {name} missing")
        try:
            return cls(**params)
        except ConfigError as exc:
            raise ConfigError(_join(path, str(exc))) from None
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path}: {exc}") from None


def _join(path, msg):
    """Prefix a ConfigError message with a key path ('a.b' + 'c.d: x' -> 'a.b.c.d: x')."""
    if not path or msg.startswith((f"{path}.", f"{path}:")):  # already names its whole path
        return msg
    head = msg.split(":", 1)[0]
    if head and " " not in head and ":" in msg:
        return f"{path}.{msg}"
    return f"{path}: {msg}"
