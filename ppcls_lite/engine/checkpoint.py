"""Checkpoints: PaddleClas-compatible files, atomic writes, hash-verified exact-resume state.

A checkpoint `<prefix>` is three files:
  <prefix>.pdparams  model state dict (loads into PaddleClas and into ppcls_lite `pretrained_model`)
  <prefix>.pdopt     optimizer state (incl. LR schedule), keyed by structured parameter names
  <prefix>.pdstates  counters, best metric, EMA, loss scaler, and the sha256 of the two files above
The .pdstates file is written last, so a checkpoint whose .pdstates matches its other files is complete.
"""
import os

import numpy as np
import paddle

from ..errors import WeightsError
from ..serialization import atomic_save, file_sha256, safe_load

_SEP = "@@"  # separates the structured parameter name from the accumulator suffix in saved optimizer keys


def _param_name_map(model):
    """Paddle's generated parameter name -> structured name from named_parameters()."""
    return {p.name: n for n, p in model.named_parameters()}


def optimizer_state_to_structured(opt_state, model):
    """Re-key optimizer accumulators from generated names (which vary per process) to structured names."""
    names = _param_name_map(model)
    # Longest generated name first, so 'linear_1.w_0' never matches a key of 'linear_11.w_0'.
    ordered = sorted(names, key=len, reverse=True)
    out = {}
    for key, value in opt_state.items():
        if key in ("LR_Scheduler", "master_weights"):
            if key == "master_weights":
                value = {names.get(k, k): v for k, v in value.items()}
            out[key] = value
            continue
        match = next((g for g in ordered if key.startswith(g + "_")), None)
        if match is None:
            out[key] = value
        else:
            out[names[match] + _SEP + key[len(match) + 1:]] = value
    return out


def optimizer_state_from_structured(state, model):
    """Inverse of optimizer_state_to_structured for the current process's parameter names."""
    generated = {n: p.name for n, p in model.named_parameters()}
    out = {}
    for key, value in state.items():
        if key == "master_weights":
            out[key] = {generated.get(k, k): paddle.to_tensor(v) for k, v in value.items()}
        elif key == "LR_Scheduler":
            out[key] = value
        elif _SEP in key:
            structured, suffix = key.split(_SEP, 1)
            if structured not in generated:
                raise WeightsError(f"optimizer state names unknown parameter '{structured}'")
            out[generated[structured] + "_" + suffix] = paddle.to_tensor(value)
        else:
            out[key] = paddle.to_tensor(value) if isinstance(value, np.ndarray) else value
    return out


def save_checkpoint(prefix, model, optimizer=None, states=None):
    """Write <prefix>.pdparams/.pdopt/.pdstates atomically; .pdstates (with hashes) goes last."""
    states = dict(states or {})
    hashes = {"pdparams": atomic_save(model.state_dict(), prefix + ".pdparams")}
    if optimizer is not None:
        hashes["pdopt"] = atomic_save(
            optimizer_state_to_structured(optimizer.state_dict(), model), prefix + ".pdopt"
        )
    states["files"] = hashes
    atomic_save(states, prefix + ".pdstates")


def verify_checkpoint(prefix):
    """Return the .pdstates dict if every file exists and matches its recorded hash, else raise WeightsError."""
    states_path = prefix + ".pdstates"
    if not os.path.isfile(states_path):
        raise WeightsError(f"{states_path}: no such file (is '{prefix}' a checkpoint prefix?)")
    states = safe_load(states_path)
    if not isinstance(states, dict) or "files" not in states:
        raise WeightsError(f"{states_path}: not a ppcls_lite checkpoint state file")
    for ext, digest in states["files"].items():
        path = f"{prefix}.{ext}"
        if not os.path.isfile(path):
            raise WeightsError(f"{path}: missing (checkpoint {prefix} is incomplete)")
        if file_sha256(path) != digest:
            raise WeightsError(f"{path}: contents do not match {states_path} (truncated or overwritten)")
    return states


def load_checkpoint(prefix, model, optimizer=None):
    """Verify and load a checkpoint into model (and optimizer); returns its .pdstates dict."""
    prefix = prefix[: -len(".pdparams")] if prefix.endswith(".pdparams") else prefix
    states = verify_checkpoint(prefix)
    model_state = safe_load(prefix + ".pdparams")
    own = model.state_dict()
    bad = [k for k in own if k not in model_state or tuple(model_state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise WeightsError(f"{prefix}.pdparams: does not fit the model (first mismatch: '{bad[0]}')")
    model.set_state_dict(model_state)
    if optimizer is not None and "pdopt" in states["files"]:
        optimizer.set_state_dict(optimizer_state_from_structured(safe_load(prefix + ".pdopt"), model))
    return states
