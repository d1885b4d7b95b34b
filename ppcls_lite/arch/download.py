"""Published weights by URL: downloaded once into a cache, written atomically, verified before they count.

The cache is `$PPCLS_LITE_HOME/weights/` (default `~/.cache/ppcls_lite/weights/`); a file is named after its URL's
last path segment, as PaddleClas names its downloads. `PPCLS_LITE_WEIGHTS_URL` replaces the PaddleClas host of a
spec URL (a mirror, or a local server in tests). A download goes to `<file>.part-<pid>` and is renamed into
place only after its length matches the server's and `verify` accepted it, so an interrupted or damaged
download never counts as cached; a cached file that fails `verify` is downloaded again.
"""
import http.client
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import WeightsError
from .spec import WEIGHTS_HOST

logger = logging.getLogger("ppcls_lite")

HOME_ENV = "PPCLS_LITE_HOME"
HOST_ENV = "PPCLS_LITE_WEIGHTS_URL"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


def is_url(path):
    """Whether a weights reference is an http(s) URL rather than a local path."""
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def weights_cache_dir():
    """Folder of downloaded weights: $PPCLS_LITE_HOME/weights, default ~/.cache/ppcls_lite/weights."""
    home = os.environ.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "ppcls_lite")
    return os.path.join(home, "weights")


def effective_url(url):
    """`url` with the PaddleClas host replaced by $PPCLS_LITE_WEIGHTS_URL when that is set."""
    base = os.environ.get(HOST_ENV)
    if base and url.startswith(WEIGHTS_HOST):
        return base.rstrip("/") + "/" + url[len(WEIGHTS_HOST):]
    return url


def cached_path(url):
    """Where the weights of `url` are (or would be) cached."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise WeightsError(f"{url}: the URL names no file")
    return os.path.join(weights_cache_dir(), name)


def fetch_weights(url, verify):
    """Local path of the weights at `url`: the cached file when `verify(path)` accepts it, else a fresh download.

    verify(path) raises WeightsError for a file that is not the expected weights. Failures are one WeightsError
    naming the URL and the path to place the file at by hand.
    """
    path = cached_path(url)
    if os.path.isfile(path):
        try:
            verify(path)
            return path
        except WeightsError as exc:
            logger.warning("%s: the cached file is damaged (%s); downloading it again", path, exc)
    source = effective_url(url)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot create the weights cache ({exc.strerror}); set {HOME_ENV} to a "
                           "writable folder") from None
    part = f"{path}.part-{os.getpid()}"
    try:
        _download(source, part)
        try:
            verify(part)
        except WeightsError as exc:
            raise WeightsError(f"{source}: the downloaded file is not usable weights ({exc}); place the weights "
                               f"at {path}") from None
        os.replace(part, path)
    finally:
        if os.path.exists(part):
            os.remove(part)
    return path


def _download(url, dest):
    """Stream `url` into `dest`; one WeightsError naming the URL for HTTP errors, no network, a short read."""
    hint = f"place the weights at {cached_path(url)} (or set {HOST_ENV} to a mirror)"
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            progress = _Progress(url, total)
            done = 0
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress.update(done)
            progress.close(done)
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"{url}: download failed (HTTP {exc.code} {exc.reason}); {hint}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, http.client.IncompleteRead):
            reason = f"the connection closed after {done + len(exc.partial)} bytes"
        raise WeightsError(f"{url}: download failed ({reason}); {hint}") from None
    if total and done != total:
        raise WeightsError(f"{url}: download ended after {done} of {total} bytes; {hint}")


class _Progress:
    """A one-line progress bar on stderr when it is a terminal; a start and an end line in the log otherwise."""

    def __init__(self, url, total):
        self.url, self.total, self.tty = url, total, sys.stderr.isatty()
        self.start = self.last = time.monotonic()
        logger.info("downloading %s (%s)", url, _mib(total) if total else "size unknown")

    def update(self, done):
        now = time.monotonic()
        if self.tty and now - self.last >= 0.2:
            self.last = now
            share = f"{100 * done / self.total:5.1f}% of {_mib(self.total)}" if self.total else _mib(done)
            sys.stderr.write(f"\r  {share}, {_mib(done / max(now - self.start, 1e-6))}/s")
            sys.stderr.flush()

    def close(self, done):
        if self.tty:
            sys.stderr.write("\n")
        logger.info("downloaded %s in %.1f s", _mib(done), time.monotonic() - self.start)


def _mib(n):
    return f"{n / 2 ** 20:.1f} MiB"
