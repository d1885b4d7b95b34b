"""Output folders are checked before any work starts: a folder that cannot be written is a one-line error."""
import os
import tempfile

from ..errors import ConfigError
from ..serialization import TEMP_PREFIX


def prepare_output_dir(path, key):
    """Create `path` (the value of config key / flag `key`) if needed and make sure files can be written in it."""
    path = os.fspath(path)
    blocker = _file_in_the_way(path)
    if blocker == path:
        raise ConfigError(f"{key}: {path} is a file, not a folder")
    if blocker:
        raise ConfigError(f"{key}: {path} cannot be created: {blocker} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{key}: cannot write in {path}: {e.strerror or e}") from None
    return path


def _file_in_the_way(path):
    """`path` or the nearest of its parents that exists as something other than a folder, else None."""
    current = os.path.abspath(path)
    while True:
        if os.path.exists(current) or os.path.islink(current):
            return None if os.path.isdir(current) else (path if current == os.path.abspath(path) else current)
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
