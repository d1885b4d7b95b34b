"""Deployment: the self-describing export folder (inference.yml), ONNX and int8 beside it, and a predictor that
needs only the folder (Paddle Inference or onnxruntime)."""
from .backends import BACKENDS, DEVICES, PRECISIONS, make_backend
from .bundle import Bundle, read_bundle, write_bundle
from .predict import BundlePredictor, image_paths

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "Bundle", "BundlePredictor", "image_paths", "make_backend",
           "read_bundle", "write_bundle"]
