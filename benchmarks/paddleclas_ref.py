"""Import PaddleClas 2.6.0 model modules one by one, without its package __init__ (which needs faiss/sklearn).

Usage: `ref = paddleclas_module("model_zoo.resnext")` after `pip install paddleclas==2.6.0 --no-deps` into some
folder; PADDLECLAS_ROOT points at the folder holding `ppcls` (the wheel's `paddleclas/`). Used only by parity
scripts and benchmarks, never by the package.
"""
import importlib
import os
import sys
import types


def _find_root():
    root = os.environ.get("PADDLECLAS_ROOT")
    if root:
        return root
    try:
        spec = importlib.util.find_spec("paddleclas")
    except (ImportError, ValueError):
        spec = None
    if spec and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return None


def available():
    """True when a PaddleClas source tree (with ppcls/) can be found."""
    root = _find_root()
    return bool(root) and os.path.isdir(os.path.join(root, "ppcls"))


def paddleclas_module(relname):
    """Return ppcls.arch.backbone.<relname> (e.g. 'legendary_models.resnet'), skipping package __init__ files."""
    root = _find_root()
    if not root:
        raise ImportError("PaddleClas not found: set PADDLECLAS_ROOT to the folder that holds ppcls/")
    # Empty stand-ins for the packages so that only the wanted module and its real imports execute.
    for pkg in ("ppcls", "ppcls.arch", "ppcls.arch.backbone", "ppcls.arch.backbone.legendary_models",
                "ppcls.arch.backbone.model_zoo", "ppcls.utils"):
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = [os.path.join(root, *pkg.split("."))]
            sys.modules[pkg] = mod
    # PaddleClas logs through a logger that must be initialised first.
    importlib.import_module("ppcls.utils.logger").init_logger()
    return importlib.import_module("ppcls.arch.backbone." + relname)


def paddleclas_operators():
    """PaddleClas's transform ops module, ppcls/data/preprocess/ops/operators.py.

    The pip wheel has no ppcls/data: PADDLECLAS_SRC names a folder holding a PaddleClas source tree's ppcls/
    (e.g. a scratch checkout under /tmp; only ppcls/data/preprocess/ops and ppcls/utils are read). Falls back
    to PADDLECLAS_ROOT.
    """
    src = os.environ.get("PADDLECLAS_SRC") or _find_root()
    ops_dir = os.path.join(src or "", "ppcls", "data", "preprocess", "ops")
    if not src or not os.path.isfile(os.path.join(ops_dir, "operators.py")):
        raise ImportError("PaddleClas transform ops not found: set PADDLECLAS_SRC to a folder holding "
                          "ppcls/data/preprocess/ops/operators.py (a PaddleClas source tree)")
    paddleclas_module_packages(src)
    for pkg in ("ppcls.data", "ppcls.data.preprocess", "ppcls.data.preprocess.ops"):
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = [os.path.join(src, *pkg.split("."))]
            sys.modules[pkg] = mod
    importlib.import_module("ppcls.utils.logger").init_logger()
    return importlib.import_module("ppcls.data.preprocess.ops.operators")


def paddleclas_module_packages(src):
    """Make sure the stand-in ppcls / ppcls.utils packages exist (utils from `src` if not yet set up)."""
    root = _find_root() or src
    for pkg in ("ppcls", "ppcls.utils"):
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = [os.path.join(root, *pkg.split("."))]
            sys.modules[pkg] = mod
