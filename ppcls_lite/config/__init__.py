"""Config files: load (yaml.safe_load, `_BASE_` inheritance), override (-o), validate, fill defaults.

    cfg = load_config("configs/res2net50.yaml", ["Global.epochs=10", "Metric.Eval.0.TopkAcc.topk=[1]"])
    cfg["Global"]["epochs"]          # every Global key is present

Every mistake is a one-line ConfigError starting with the key path, e.g.
`Optimizer.lr.learnig_rate: unknown parameter of Cosine; did you mean 'learning_rate'? (configs/x.yaml:37)`.
See docs/config.md for every key.
"""
from ..errors import ConfigError
from .checks import key_path
from .components import REGISTRY_KINDS, validate_component
from .loader import load_with_bases, locate
from .overrides import apply_overrides, parse_override
from .validate import validate_config


def _where(err, locations, applied):
    """' (file:line)' or ' (-o KEY=VALUE)' for the key path an error carries."""
    path = [str(p) for p in getattr(err, "key_path", ())]
    for depth in range(len(path), 0, -1):
        text = applied.get(key_path(path[:depth]))
        if text is not None:
            return f" (-o {text})"
    return locate(locations, path)


def load_config(path, overrides=(), *, check_paths=True, registries=None):
    """Load, merge `_BASE_` files, apply `overrides` ('A.b.0.c=value' strings), validate; return plain dicts.

    check_paths: check that data folders/files and weights named in the config exist: True (all), False (tests,
    or a config prepared on another machine), or key-path prefixes of what the tool uses, e.g.
    ("Global.pretrained_model", "DataLoader.Eval") for evaluation. registries: {kind: {name: class}} used
    instead of the package registries (kinds: models, transforms, batch_ops, datasets, losses, metrics,
    optimizers, lr_schedules).
    Raises ConfigError; its message starts with the key path and ends with where the value was written.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    config, locations = load_with_bases(str(path))
    config, created, applied = apply_overrides(config, overrides)
    try:
        return validate_config(config, check_paths=check_paths, registries=registries, created=created)
    except ConfigError as err:
        located = ConfigError(f"{err}{_where(err, locations, applied)}")
        located.key_path = getattr(err, "key_path", ())
        raise located from None


__all__ = [
    "ConfigError",
    "REGISTRY_KINDS",
    "apply_overrides",
    "load_config",
    "parse_override",
    "validate_component",
    "validate_config",
]
