"""Where a fitted temperature lives: `<checkpoint prefix>.calibration.json` beside the weights, written by
`tools/eval.py --calibrate` and read by infer, export (into inference.yml) and so by tools/predict.py. It records
the sha256 of the weights it was fitted on: weights trained again under the same name make it an error, not a
temperature silently applied to another model."""
import json
import os

from ..arch.pretrained import resolve_weights_path
from ..errors import ConfigError, WeightsError
from ..serialization import file_sha256
from .checkpoint import checkpoint_prefix

SUFFIX = ".calibration.json"


def calibration_path(weights):
    """The calibration file of the checkpoint whose weights are `weights`."""
    return checkpoint_prefix(weights) + SUFFIX


def check_writable(weights, key="Global.pretrained_model"):
    """Before an evaluation that calibrates: the weights are a local file whose folder takes the record."""
    path = resolve_weights_path(weights) if weights else ""
    if not os.path.isfile(path):
        raise ConfigError(f"--calibrate: {key} must be a local weights file to record the temperature beside, "
                          f"got {weights!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--calibrate: cannot write into {folder} (where {calibration_path(weights)} goes)")


def save_temperature(weights, temperature, **facts):
    """Record `temperature` (with the weights' sha256 and what it was fitted on) beside `weights`; returns the
    path."""
    path = calibration_path(weights)
    record = {"temperature": float(temperature), "weights_sha256": file_sha256(resolve_weights_path(weights)),
              **facts}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    return path


def load_temperature(weights):
    """The recorded temperature of `weights`, or 1.0 when it has none. A malformed record, or one fitted on other
    weights than the file now holds, is a WeightsError."""
    path = calibration_path(weights) if weights else None
    if not path or not os.path.isfile(path):
        return 1.0
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        value = float(record["temperature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: not a calibration file ({type(exc).__name__}: {exc})") from None
    if not value > 0:
        raise WeightsError(f"{path}: temperature must be positive, got {value}")
    weights_file = resolve_weights_path(weights)
    if record.get("weights_sha256") and os.path.isfile(weights_file) \
            and record["weights_sha256"] != file_sha256(weights_file):
        raise WeightsError(f"{path}: fitted on other weights than {weights_file} now holds; run tools/eval.py "
                           "--calibrate again, or delete it")
    return value
