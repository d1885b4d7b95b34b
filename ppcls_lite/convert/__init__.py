"""Weights from other projects: timm's checkpoints (.safetensors read with numpy, .pth through a restricted
reader) converted to ppcls_lite's PaddleClas-keyed weights, with timm's preprocessing recorded beside them."""
from .safetensors_np import read_safetensors
from .timm import convert_timm, read_pretrained_cfg, read_timm_state, timm_eval_spec
from .torch_pickle import read_torch_file

__all__ = ["convert_timm", "read_pretrained_cfg", "read_safetensors", "read_timm_state", "read_torch_file",
           "timm_eval_spec"]
