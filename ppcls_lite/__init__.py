"""ppcls_lite: PaddleClas-compatible image classification for Paddle 3."""
from .arch import build_model, list_models
from .errors import ConfigError, DataError, PpclsError, WeightsError

__version__ = "0.1.0"
__all__ = ["build_model", "list_models", "ConfigError", "DataError", "PpclsError", "WeightsError"]
