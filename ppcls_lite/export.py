"""Inference export (paddle.jit.save) and a Paddle Inference predictor for the exported files."""
import os

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .errors import WeightsError


class _WithSoftmax(nn.Layer):
    """Wraps a classifier so the exported graph returns probabilities."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return F.softmax(self.model(x), axis=-1)


def export_inference_model(model, save_prefix, image_shape=(3, 224, 224), softmax=False):
    """jit.save `model` (eval mode, dynamic batch) to save_prefix.{json|pdmodel,pdiparams}; returns the prefix."""
    model.eval()
    layer = _WithSoftmax(model) if softmax else model
    layer.eval()
    spec = [paddle.static.InputSpec([None] + list(image_shape), "float32", "x")]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    os.makedirs(os.path.dirname(os.path.abspath(save_prefix)), exist_ok=True)
    paddle.jit.save(static, save_prefix)
    return save_prefix


def _model_file(prefix):
    for ext in (".json", ".pdmodel"):
        if os.path.isfile(prefix + ext):
            return prefix + ext
    raise WeightsError(f"{prefix}: no exported model (.json or .pdmodel) found")


def create_predictor(prefix, num_threads=0, use_gpu=False):
    """A paddle.inference predictor over an exported model (oneDNN and all cores on CPU by default)."""
    from paddle import inference

    model_file = _model_file(prefix)
    params_file = prefix + ".pdiparams"
    if not os.path.isfile(params_file):
        raise WeightsError(f"{params_file}: no such file")
    config = inference.Config(model_file, params_file)
    if use_gpu:
        config.enable_use_gpu(256, 0)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(num_threads or os.cpu_count() or 1)
        config.enable_mkldnn()
    config.disable_glog_info()
    return inference.create_predictor(config)


def run_predictor(predictor, batch):
    """Run one float32 NCHW numpy batch through a predictor; returns the first output as numpy."""
    name = predictor.get_input_names()[0]
    handle = predictor.get_input_handle(name)
    batch = np.ascontiguousarray(batch, dtype="float32")
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(batch)
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0])
    return out.copy_to_cpu()
