"""What runs an exported model: Paddle Inference (oneDNN on CPU, fp32 or bf16; CUDA / TensorRT on GPU) or
onnxruntime (fp32, or the int8 model of `--format onnx --int8-calib`). Each is a callable: float32 NCHW batch ->
first output as numpy."""
import os

import numpy as np

from ..errors import ConfigError, WeightsError

BACKENDS = ("auto", "paddle", "onnxruntime")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
DEVICES = ("cpu", "gpu")


def cpu_supports_bf16():
    """Whether this CPU runs oneDNN bfloat16 kernels natively (AVX-512-BF16 or AMX)."""
    from paddle.base import core

    return bool(core.supports_bfloat16())


class PaddleBackend:
    """paddle.inference over prefix.{json|pdmodel, pdiparams}."""

    def __init__(self, prefix, precision="fp32", device="cpu", threads=0, tensorrt=False):
        import paddle
        from paddle import inference

        from ..export import _model_file

        config = inference.Config(_model_file(prefix), prefix + ".pdiparams")
        if device == "gpu":
            if not paddle.is_compiled_with_cuda():
                raise ConfigError("--device gpu: this Paddle is a CPU build (install paddlepaddle-gpu)")
            if precision in ("bf16", "int8"):
                raise ConfigError(f"--precision {precision}: on GPU, Paddle Inference runs fp32 or fp16")
            half = precision == "fp16"
            config.enable_use_gpu(256, 0, inference.PrecisionType.Half if half and not tensorrt
                                  else inference.PrecisionType.Float32)
            if tensorrt:
                config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=64, min_subgraph_size=3,
                                              precision_mode=inference.PrecisionType.Half if half
                                              else inference.PrecisionType.Float32,
                                              use_static=False, use_calib_mode=False)
        else:
            if precision in ("fp16", "int8"):
                hint = "--backend onnxruntime (export with --format onnx --int8-calib IMAGES)" \
                    if precision == "int8" else "fp32 or bf16"
                raise ConfigError(f"--precision {precision}: Paddle Inference on CPU runs fp32 or bf16; use {hint}")
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
            config.enable_mkldnn()
            if precision == "bf16":
                if not cpu_supports_bf16():
                    raise ConfigError("--precision bf16: this CPU has no bfloat16 instructions (AVX-512-BF16 or "
                                      "AMX); use fp32, or int8 with --backend onnxruntime")
                config.enable_mkldnn_bfloat16()
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype="float32")
        self.input.reshape(list(batch.shape))
        self.input.copy_from_cpu(batch)
        self.predictor.run()
        return self.output.copy_to_cpu()


class OnnxBackend:
    """onnxruntime over prefix.onnx (fp32) or prefix_int8.onnx (int8)."""

    def __init__(self, prefix, precision="fp32", device="cpu", threads=0):
        from .onnx_export import require

        ort = require("onnxruntime", "--backend onnxruntime")

        if precision not in ("fp32", "int8"):
            raise ConfigError(f"--precision {precision}: onnxruntime runs the fp32 or the int8 export here")
        path = prefix + ("_int8.onnx" if precision == "int8" else ".onnx")
        if not os.path.isfile(path):
            how = "--format onnx --int8-calib IMAGES" if precision == "int8" else "--format onnx"
            raise WeightsError(f"{path}: not found (export with tools/export_model.py {how})")
        ort.set_default_logger_severity(3)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "gpu":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError("--device gpu: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch):
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype="float32")})[0]


def choose_backend(prefix, precision="fp32", device="cpu", tensorrt=False):
    """What `auto` runs: onnxruntime where the folder has the ONNX model of `precision` and onnxruntime is
    installed (on this CPU its fp32 is 1.12x Paddle Inference's, logits within 1e-6: docs/deploy.md) and int8;
    Paddle Inference for bf16 / fp16, TensorRT, or a folder without ONNX."""
    import importlib.util

    if precision in ("bf16", "fp16") or tensorrt:
        return "paddle"
    onnx = prefix + ("_int8.onnx" if precision == "int8" else ".onnx")
    usable = os.path.isfile(onnx) and importlib.util.find_spec("onnxruntime") is not None
    if precision == "int8" or (usable and device == "cpu"):
        return "onnxruntime"
    return "paddle"


def make_backend(prefix, backend="paddle", precision="fp32", device="cpu", threads=0, tensorrt=False):
    """The callable running prefix.* with `backend` (auto: choose_backend) at `precision` on `device`."""
    for value, choices, key in ((backend, BACKENDS, "--backend"), (precision, PRECISIONS, "--precision"),
                                (device, DEVICES, "--device")):
        if value not in choices:
            raise ConfigError(f"{key}: one of {', '.join(choices)}, got {value!r}")
    if backend == "auto":
        backend = choose_backend(prefix, precision, device, tensorrt)
    if tensorrt and (backend != "paddle" or device != "gpu"):
        raise ConfigError("--tensorrt: Paddle Inference on GPU only (--backend paddle --device gpu)")
    run = OnnxBackend(prefix, precision, device, threads) if backend == "onnxruntime" else \
        PaddleBackend(prefix, precision, device, threads, tensorrt)
    run.name = backend
    return run
