"""Load .pdparams into a model: safe unpickling, published weights by URL, head-mismatch skipping, resolution
adaptation."""
import logging
import os

import numpy as np

from ..errors import WeightsError
from ..serialization import safe_load
from .download import fetch_weights, is_url

logger = logging.getLogger("ppcls_lite")


def resolve_weights_path(path):
    """Accept 'x.pdparams' or PaddleClas-style 'x' (suffix implied)."""
    path = os.fspath(path)
    if not os.path.isfile(path) and os.path.isfile(path + ".pdparams"):
        return path + ".pdparams"
    return path


def load_state_file(path):
    """Read a weights file into a {key: numpy array} dict (checkpoint dicts give their 'model' entry)."""
    path = resolve_weights_path(path)
    state = safe_load(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of arrays")
    return path, state


def _summarise(keys, limit=5):
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _head_classes(shapes):
    """Class count of a head from {key: shape} of its keys: the length of its 1-D entry (the bias)."""
    for key in sorted(shapes):
        if len(shapes[key]) == 1:
            return int(shapes[key][0])
    return int(shapes[sorted(shapes)[0]][-1]) if shapes else None


def file_class_num(model, state):
    """Class count of the head stored in `state` (a numpy state dict for `model`), or None if it has no head."""
    prefixes = tuple(getattr(model, "head_prefixes", ()))
    if not prefixes:
        return None
    return _head_classes({k: tuple(v.shape) for k, v in state.items() if k.startswith(prefixes)})


def head_mismatch_error(path, theirs, ours, class_num_key):
    """The WeightsError for weights whose head has `theirs` classes used in a model with `ours`."""
    return WeightsError(
        f"{path}: the weights' head has {theirs} classes but the model has {ours} ({class_num_key} {ours}); "
        f"set {class_num_key} to {theirs} to use these weights as trained (a new head is only made when "
        "training from them)"
    )


def member_state(state, own_keys, member=None):
    """The entries of one member of a distillation file ('Student.conv1.weight' -> 'conv1.weight'): those of
    `member` where the file has them, else of the one member whose keys are exactly `own_keys`; a file of the
    model itself is returned as it is."""
    own_keys = set(own_keys)
    if member is not None and any(k.startswith(member + ".") for k in state):
        chosen = member
    elif own_keys <= set(state) or member is not None:
        return state  # the model's own file; or not `member`'s weights: the caller names the missing keys
    else:
        prefixes = sorted({k.split(".", 1)[0] for k in state if "." in k})
        fits = [p for p in prefixes if {k[len(p) + 1:] for k in state if k.startswith(p + ".")} == own_keys]
        if len(fits) != 1:
            return state  # not one member's weights: the caller names the missing keys
        chosen = fits[0]
    prefix = chosen + "."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _matching_state(model, path, member=None):
    """(path, state adapted to `model`, model.state_dict()) of a weights file with exactly the model's keys (or
    a distillation file with a member of exactly those keys: `member_state`)."""
    path, state = load_state_file(path)
    own = model.state_dict()
    state = model.adapt_state_dict(dict(member_state(state, own, member)))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        raise WeightsError(f"{path}: missing keys for {type(model).__name__}: {_summarise(missing)}")
    if unexpected:
        raise WeightsError(f"{path}: unexpected keys for {type(model).__name__}: {_summarise(unexpected)}")
    return path, state, own


def load_pretrained(model, path, new_head=False, class_num_key="Arch.class_num", member=None):
    """Load weights (a path, or an http(s) URL: downloaded once into the cache) into `model`; returns the head
    keys skipped (only with new_head, when class_num differs). `member`: the distillation member whose
    prefixed keys to take from a distillation file (see member_state); a DistillationModel loads its members.

    new_head=False (evaluating, predicting, exporting: the model is used as trained): a head of another class
    count is a WeightsError naming both counts and `class_num_key`. new_head=True (training / fine-tuning): the
    head is skipped with a warning and keeps its fresh initialisation.
    """
    if hasattr(model, "load_members"):
        return model.load_members(path, new_head, class_num_key)
    if is_url(path):
        checked = []  # verifying the download already read and matched it: use that, not a second read
        path = fetch_weights(path, lambda p: checked.append(_matching_state(model, p, member)))
        _, state, own = checked[-1]
    else:
        path, state, own = _matching_state(model, path, member)
    head_prefixes = tuple(getattr(model, "head_prefixes", ()))
    skipped, to_load = [], {}
    for key, param in own.items():
        value = state[key]
        if tuple(value.shape) != tuple(param.shape):
            if head_prefixes and key.startswith(head_prefixes):
                skipped.append(key)
                continue
            raise WeightsError(
                f"{path}: key '{key}' has shape {list(value.shape)} in the file "
                f"but {list(param.shape)} in the model"
            )
        to_load[key] = value
    if skipped and not new_head:
        raise head_mismatch_error(path, _head_classes({k: tuple(state[k].shape) for k in skipped}),
                                  _head_classes({k: tuple(own[k].shape) for k in skipped}), class_num_key)
    if skipped:
        logger.warning("%s: skipped head keys whose shape differs (other class_num), the head starts fresh: %s",
                       path, ", ".join(skipped))
    # Assigning tensor by tensor (rather than set_state_dict) keeps skipped keys free of Paddle's own warnings.
    for key, value in to_load.items():
        own[key].set_value(value.astype(str(own[key].dtype).replace("paddle.", ""), copy=False))
    return skipped
