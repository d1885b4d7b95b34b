"""Safe reading and atomic writing of Paddle state files (.pdparams / .pdopt / checkpoints).

`paddle.load` unpickles arbitrary objects, so a weights file from a stranger could run code. Here a
restricted unpickler admits only numpy arrays, numpy scalars/dtypes and plain containers.
"""
import hashlib
import io
import os
import pickle
import tempfile

import numpy as np

from .errors import WeightsError

_ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'")


def safe_load(path):
    """Load a pickled state file admitting only arrays and plain containers; tensors come back as numpy."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as e:
        raise WeightsError(f"{path}: not a plain state file ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise WeightsError(f"{path}: truncated or corrupt state file ({type(e).__name__}: {e})") from None
    # Paddle records structured-name -> parameter-name maps under this key; it carries no weights.
    if isinstance(obj, dict):
        obj.pop("StructuredToParameterName@@", None)
    return obj


def _to_plain(obj):
    """Turn tensors into numpy arrays, recursively, so the file holds only what safe_load admits."""
    if hasattr(obj, "numpy") and callable(obj.numpy):
        return np.asarray(obj.numpy())
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_plain(v) for v in obj)
    return obj


def atomic_save(obj, path):
    """Pickle `obj` (tensors as numpy) to `path` via a temporary file and a rename; returns its sha256."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    data = dumps_bytes(obj)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps_bytes(obj):
    """Serialise `obj` like atomic_save does, into bytes (for hashing and tests)."""
    buf = io.BytesIO()
    pickle.dump(_to_plain(obj), buf, protocol=4)
    return buf.getvalue()
