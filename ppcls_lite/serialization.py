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

TEMP_PREFIX = ".tmp-"  # files being written; renamed into place when complete, never read under this name

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


# A checksum trailer: pickle readers stop at the STOP opcode and ignore what follows, so a file carrying it still
# loads in paddle.load and PaddleClas, while safe_load can tell a flipped byte anywhere in it.
_TRAILER = b"\n#ppcls_lite-sha256:"
_TRAILER_LEN = len(_TRAILER) + 64 + 1  # marker, hex digest, newline


def _payload_size(f, path):
    """Bytes of pickle before a valid checksum trailer (verified), or None when the file carries none."""
    size = os.fstat(f.fileno()).st_size
    if size < _TRAILER_LEN:
        return None
    f.seek(size - _TRAILER_LEN)
    tail = f.read(_TRAILER_LEN)
    f.seek(0)
    if not (tail.startswith(_TRAILER) and tail.endswith(b"\n")):
        return None
    payload = size - _TRAILER_LEN
    h = hashlib.sha256()
    remaining = payload
    while remaining:
        chunk = f.read(min(remaining, 1 << 20))
        if not chunk:
            break
        h.update(chunk)
        remaining -= len(chunk)
    f.seek(0)
    if h.hexdigest() != tail[len(_TRAILER):-1].decode("ascii", "replace"):
        raise WeightsError(f"{path}: contents do not match the checksum the file carries (corrupt)")
    return payload


def _check_plain(obj, path):
    """Refuse object arrays: a weights file holds numbers, and an object array could smuggle anything in."""
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise WeightsError(f"{path}: not a plain state file (holds an array of Python objects)")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_plain(v, path)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, path)


def safe_load(path):
    """Load a pickled state file admitting only arrays and plain containers; tensors come back as numpy.

    Nothing in the file is ever called: any global other than numpy's array/dtype/scalar reconstructors and
    OrderedDict is refused with WeightsError before it is resolved. A checksum trailer, when present, is verified.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            _payload_size(f, path)
            obj = _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as e:
        raise WeightsError(f"{path}: not a plain state file ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as e:
        raise WeightsError(f"{path}: truncated or corrupt state file ({type(e).__name__}: {e})") from None
    _check_plain(obj, path)
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


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_temp(obj, path, checksum=False):
    """Write `obj` fully (fsynced) to a new `.tmp-` file beside `path`; returns (tmp path, sha256 of its bytes).

    `path` itself is not touched. On any failure (e.g. ENOSPC) the temporary file is removed and the error raised.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    data = dumps_bytes(obj, checksum=checksum)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        # mkstemp makes the file 0600; a checkpoint gets the permissions of any file the user creates.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp, hashlib.sha256(data).hexdigest()


def commit_file(tmp, path):
    """Rename a file from write_temp onto `path` (atomic on POSIX) and make the rename durable."""
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.fspath(path)) or ".")


def discard(tmp):
    """Remove a temporary file if it is there."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


def atomic_save(obj, path, checksum=False):
    """Pickle `obj` (tensors as numpy) to `path` via a temporary file and a rename; returns its sha256."""
    tmp, digest = write_temp(obj, path, checksum=checksum)
    try:
        commit_file(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    return digest


def file_sha256(path):
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps_bytes(obj, checksum=False):
    """Serialise `obj` like atomic_save does, into bytes; checksum=True appends the sha256 trailer."""
    buf = io.BytesIO()
    pickle.dump(_to_plain(obj), buf, protocol=4)
    data = buf.getvalue()
    if checksum:
        data += _TRAILER + hashlib.sha256(data).hexdigest().encode("ascii") + b"\n"
    return data
