"""ppcls_lite: PaddleClas-compatible image classification for Paddle 3."""
from .arch import build_model, list_models
from .config import load_config
from .errors import ConfigError, DataError, PpclsError, WeightsError

__version__ = "0.1.0"


def __getattr__(name):
    # The engine pulls in data loading and VisualDL: import it only when asked for.
    if name == "Trainer":
        from .engine.trainer import Trainer

        return Trainer
    if name == "evaluate":
        from .engine.evaluator import evaluate

        return evaluate
    raise AttributeError(name)


__all__ = ["build_model", "list_models", "load_config", "Trainer", "evaluate", "ConfigError", "DataError",
           "PpclsError", "WeightsError"]
