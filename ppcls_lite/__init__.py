"""ppcls_lite: PaddleClas-compatible image classification for Paddle 3."""
from .arch import build_model, list_models
from .config import load_config
from .errors import ConfigError, DataError, PpclsError, WeightsError

__version__ = "0.1.0"


# The engine pulls in data loading and VisualDL: import it only when asked for.
_LAZY = {
    "Trainer": ("engine.trainer", "Trainer"),
    "evaluate": ("engine.evaluator", "evaluate"),  # a model over a loader -> EvalResult
    "train": ("engine.training", "train"),
    "evaluate_config": ("engine.evaluation", "evaluate_config"),
    "evaluate_weights": ("engine.evaluation", "evaluate_weights"),
    "predict": ("engine.prediction", "predict"),
    "predict_config": ("engine.prediction", "predict_config"),
    "export_config": ("export", "export_config"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(name)
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(f".{module}", __name__), attr)


__all__ = ["build_model", "list_models", "load_config", "ConfigError", "DataError", "PpclsError", "WeightsError",
           *_LAZY]
