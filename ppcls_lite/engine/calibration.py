"""Where a fitted temperature lives: `<checkpoint prefix>.calibration.json` beside the weights, written by
`tools/eval.py --calibrate` and read by infer, export (into inference.yml) and so by tools/predict.py."""
import json
import os

from ..errors import WeightsError
from .checkpoint import checkpoint_prefix

SUFFIX = ".calibration.json"


def calibration_path(weights):
    """The calibration file of the checkpoint whose weights are `weights`."""
    return checkpoint_prefix(weights) + SUFFIX


def save_temperature(weights, temperature, **facts):
    """Record `temperature` (and what it was fitted on, ECE before / after) beside `weights`; returns the path."""
    path = calibration_path(weights)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"temperature": float(temperature), **facts}, f, indent=1)
    os.replace(tmp, path)
    return path


def load_temperature(weights):
    """The recorded temperature of `weights`, or 1.0 when it has none; a malformed file is a WeightsError."""
    path = calibration_path(weights) if weights else None
    if not path or not os.path.isfile(path):
        return 1.0
    try:
        with open(path, encoding="utf-8") as f:
            value = float(json.load(f)["temperature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: not a calibration file ({type(exc).__name__}: {exc})") from None
    if not value > 0:
        raise WeightsError(f"{path}: temperature must be positive, got {value}")
    return value
