"""ppcls_lite: PaddleClas-compatible image classification for Paddle 3."""
from .arch import build_model, list_models, model_spec
from .config import load_config
from .errors import ConfigError, DataError, PpclsError, WeightsError

__version__ = "0.1.0"


# The engine pulls in data loading and VisualDL: import it only when asked for.
# name -> the module defining it ("evaluate" runs a model over a loader; "evaluate_config" is the workflow)
_LAZY = dict.fromkeys(["Trainer"], "engine.trainer")
_LAZY.update(evaluate="engine.evaluator", train="engine.training", export_config="export")
_LAZY.update(dict.fromkeys(["evaluate_config", "evaluate_weights"], "engine.evaluation"))
_LAZY.update(dict.fromkeys(["predict", "predict_config"], "engine.prediction"))


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = ["build_model", "list_models", "model_spec", "load_config", "ConfigError", "DataError", "PpclsError", "WeightsError",
           *_LAZY]
