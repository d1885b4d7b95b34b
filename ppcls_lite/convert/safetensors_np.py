"""Reading `.safetensors` files with numpy alone: an 8-byte little-endian header length, a JSON header
({name: {dtype, shape, data_offsets}, "__metadata__": {...}}), then the raw little-endian tensor bytes."""
import json
import os

import numpy as np

from ..errors import WeightsError

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?"}
_MAX_HEADER = 100 << 20  # the format's own limit on the JSON header


def read_safetensors(path):
    """({name: float32/int numpy array}, metadata dict); bfloat16 widens to float32 exactly."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        header_len = int.from_bytes(head, "little")
        if header_len > min(_MAX_HEADER, size - 8):
            raise WeightsError(f"{path}: not a safetensors file (header length {header_len} of a {size}-byte file)")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WeightsError(f"{path}: not a safetensors file (its header is not JSON: {exc})") from None
        data = f.read()
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], list(entry["shape"]), entry["data_offsets"]
            if not all(isinstance(v, int) and v >= 0 for v in shape + [begin, end]):
                raise ValueError
        except (KeyError, TypeError, ValueError, AttributeError):
            raise WeightsError(f"{path}: tensor {name!r} has a malformed header entry") from None
        if not 0 <= begin <= end <= len(data):
            raise WeightsError(f"{path}: tensor {name!r} lies outside the file (truncated?)")
        raw = data[begin:end]
        if dtype not in _DTYPES and dtype != "BF16":
            raise WeightsError(f"{path}: tensor {name!r} has dtype {dtype}, which ppcls_lite does not read")
        item = np.dtype("<u2" if dtype == "BF16" else _DTYPES[dtype])
        if len(raw) != int(np.prod(shape, dtype=np.int64)) * item.itemsize:
            raise WeightsError(f"{path}: tensor {name!r} holds {len(raw)} bytes for shape {shape} of {dtype}")
        array = np.frombuffer(raw, item)
        if dtype == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.reshape(shape).astype(np.float32 if array.dtype.kind == "f" else array.dtype)
    return tensors, metadata
