"""Reading PyTorch `.pth` / `.bin` files (torch.save's zip format) without torch and without running code: the
pickle inside may name only tensor rebuilding, storage types and plain containers, each mapped to numpy here."""
import collections
import os
import pickle
import zipfile
import zlib

import numpy as np

from ..errors import WeightsError

# torch's legacy storage class names (what the pickle refers to) -> (numpy dtype, widen bfloat16)
_STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
             "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
             "ByteStorage": "u1", "BoolStorage": "?"}


class _StorageType:
    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGES[name])


class _Namespace:
    """Stands in for argparse.Namespace (timm's training checkpoints keep their arguments in one)."""


def _tensor(storage, offset, size, stride, *_):
    array, bf16 = storage
    itemsize = array.dtype.itemsize
    size, stride, offset = tuple(int(n) for n in size), tuple(int(s) for s in stride), int(offset)
    # a crafted file must not make as_strided read outside the storage: non-negative numbers, last element inside
    if offset < 0 or len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError("a tensor has a negative offset, size or stride")
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(array):
        raise pickle.UnpicklingError("a tensor lies outside its storage")
    view = np.lib.stride_tricks.as_strided(array[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride)).copy()
    return (view.astype(np.uint32) << 16).view(np.float32) if bf16 else view


def _parameter(data, *_):
    return data


_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("argparse", "Namespace"): _Namespace,
}


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
            self.storages[key] = (np.frombuffer(raw, storage_type.dtype), storage_type.name == "BFloat16Storage")
        return self.storages[key]


def read_torch_file(path):
    """The object torch.save wrote (tensors as numpy arrays), read without torch."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not a PyTorch zip checkpoint (torch.save of torch >= 1.6); re-save it with "
                           "a current torch, or use its .safetensors")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{path}: cannot read it: {exc}") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise WeightsError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][:-len("/data.pkl")]
        try:
            with archive.open(pickles[0]) as f:
                return _TorchUnpickler(f, archive, prefix).load()
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError, AttributeError, IndexError,
                zipfile.BadZipFile, zlib.error) as exc:
            raise WeightsError(f"{path}: cannot read it safely: {exc}") from None
