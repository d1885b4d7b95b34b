"""ONNX beside the Paddle export: paddle2onnx converts the exported program, onnxruntime runs it; int8 by
onnxruntime's static post-training quantization calibrated on real images."""
import contextlib
import io
import logging
import os

import numpy as np

from ..errors import ConfigError, PpclsError, WeightsError

OPSET = 13


class ExportError(PpclsError):
    """A model could not be converted or quantized; the message names the file and the converter's reason."""


def require(module, flag):
    """Import `module` (paddle2onnx, onnxruntime), or a ConfigError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{flag}: needs {module} (pip install 'ppcls_lite[onnx]': paddle2onnx, onnxruntime, "
                          "ml_dtypes)") from None


def to_onnx(prefix):
    """prefix.{json|pdmodel, pdiparams} -> prefix.onnx (dynamic batch); returns its path."""
    from ..export import _model_file

    paddle2onnx = require("paddle2onnx", "--format onnx")

    model_file, params = _model_file(prefix), prefix + ".pdiparams"
    out = prefix + ".onnx"
    # onnxoptimizer, not paddle2onnx's default polygraphy: that one pip-installs its own dependencies at run time
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            paddle2onnx.export(model_file, params, save_file=out, opset_version=OPSET, enable_onnx_checker=True,
                               optimize_tool="onnxoptimizer")
    except Exception as exc:  # paddle2onnx reports unsupported ops as plain exceptions
        raise ExportError(f"{model_file}: paddle2onnx could not convert it: {exc}") from None
    if not os.path.isfile(out):
        raise ExportError(f"{model_file}: paddle2onnx wrote no {out}: {quiet.getvalue().strip()[-300:]}")
    return out


class _Calibration:
    """onnxruntime's CalibrationDataReader over preprocessed batches."""

    def __init__(self, input_name, batches):
        self.input_name, self.batches = input_name, iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: np.ascontiguousarray(batch, dtype="float32")}


def quantize_int8(onnx_path, batches):
    """onnx_path -> <same>_int8.onnx: static QDQ quantization (per-channel int8 weights, uint8 activations whose
    ranges are calibrated on `batches`, float32 NCHW arrays of real preprocessed images); returns its path."""
    ort = require("onnxruntime", "--int8-calib")
    quantization = require("onnxruntime.quantization", "--int8-calib")  # it also needs ml_dtypes
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not os.path.isfile(onnx_path):
        raise WeightsError(f"{onnx_path}: no such file (export with --format onnx first)")
    base = onnx_path[:-len(".onnx")]
    prepared, out = base + "_prep.onnx", base + "_int8.onnx"
    ort.set_default_logger_severity(3)  # its notes on unused initializers are not the user's business
    name = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    logging.getLogger("root").setLevel(logging.ERROR)  # onnxruntime.quantization logs every tensor it skips
    try:
        quant_pre_process(onnx_path, prepared, skip_symbolic_shape=True)
        quantization.quantize_static(prepared, out, _Calibration(name, batches),
                                     quant_format=quantization.QuantFormat.QDQ,
                                     activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QInt8, per_channel=True,
                                     calibrate_method=quantization.CalibrationMethod.MinMax)
    except Exception as exc:
        raise ExportError(f"{onnx_path}: onnxruntime could not quantize it: {exc}") from None
    finally:
        if os.path.exists(prepared):
            os.remove(prepared)
    return out
