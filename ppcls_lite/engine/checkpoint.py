"""Checkpoints: PaddleClas-compatible files, atomic writes, hash-verified exact-resume state.

A checkpoint `<prefix>` is three files:
  <prefix>.pdparams  model state dict (loads into PaddleClas and into ppcls_lite `pretrained_model`)
  <prefix>.pdopt     optimizer state (incl. LR schedule), keyed by structured parameter names
  <prefix>.pdstates  counters, best metric, EMA, loss scaler, and the sha256 of the two files above
The .pdstates file is written last, so a checkpoint whose .pdstates matches its other files is complete; it also
carries a checksum of itself (a trailer pickle readers ignore), so a corrupt byte in any of the three is detected.

Saving stages all three files as `.tmp-` files first and renames them into place only when every byte is on disk:
a failed write (disk full) leaves the existing checkpoint untouched. With keep_previous (the trainer's `latest`),
a valid existing <prefix> is first hard-linked to <prefix>_prev, and load_checkpoint falls back to it, with a
warning, when <prefix> is missing, truncated or corrupt (e.g. a kill landed between the renames).
"""
import logging
import os
import shutil
import uuid

import numpy as np
import paddle

from ..errors import PpclsError, WeightsError
from ..serialization import TEMP_PREFIX, commit_file, discard, file_sha256, safe_load, write_temp

logger = logging.getLogger("ppcls_lite")

EXTS = ("pdparams", "pdopt", "pdstates")  # in commit order: .pdstates last
PREV_SUFFIX = "_prev"


class CheckpointWriteError(PpclsError):
    """A checkpoint could not be written (disk full, no permission); the previous checkpoint is left intact."""

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


def model_state(model):
    """What a checkpoint's .pdparams holds: the model's state dict (a DistillationModel: its trainable
    members')."""
    return model.checkpoint_state_dict() if hasattr(model, "checkpoint_state_dict") else model.state_dict()


def save_checkpoint(prefix, model, optimizer=None, states=None, keep_previous=False):
    """Write <prefix>.pdparams/.pdopt/.pdstates; no <prefix>.* file changes until all three are fully written.

    1. stage every file as a fsynced `.tmp-` file (a failure removes them and raises CheckpointWriteError);
    2. keep_previous: hard-link a valid existing <prefix> to <prefix>_prev (.pdstates last);
    3. rename .pdparams, .pdopt, then .pdstates (with the others' hashes) into place.
    """
    states = dict(states or {})
    staged = []
    current, committed = prefix + ".pdparams", 0
    try:
        tmp, digest = write_temp(model_state(model), current)
        staged.append(("pdparams", tmp))
        hashes = {"pdparams": digest}
        if optimizer is not None:
            current = prefix + ".pdopt"
            tmp, digest = write_temp(optimizer_state_to_structured(optimizer.state_dict(), model), current)
            staged.append(("pdopt", tmp))
            hashes["pdopt"] = digest
        states["files"] = hashes
        current = prefix + ".pdstates"
        tmp, _ = write_temp(states, current, checksum=True)
        staged.append(("pdstates", tmp))
        if keep_previous:
            current = prefix + PREV_SUFFIX
            _keep_previous(prefix)
        committed = 0
        for ext, tmp in staged:
            current = f"{prefix}.{ext}"
            commit_file(tmp, current)
            committed += 1
    except OSError as e:
        for _, tmp in staged:
            discard(tmp)
        if committed:  # a rename failed half-way (rare): the checkpoint's hashes no longer match
            fate = f"{prefix} is incomplete"
            if keep_previous:
                fate += f"; {prefix}{PREV_SUFFIX} holds the previous one"
        else:
            fate = "the checkpoint files already there are unchanged"
        raise CheckpointWriteError(f"cannot write {current}: {e.strerror or e}; {fate}") from None


def _keep_previous(prefix):
    """Hard-link (or copy) a valid checkpoint <prefix> to <prefix>_prev; an invalid one is left alone."""
    try:
        states = verify_checkpoint(prefix)
    except WeightsError:
        return  # nothing usable to keep: <prefix>_prev (if any) stays as it is
    prev = prefix + PREV_SUFFIX
    directory = os.path.dirname(prefix) or "."
    for ext in EXTS:
        src, dst = f"{prefix}.{ext}", f"{prev}.{ext}"
        if ext != "pdstates" and ext not in states["files"]:
            if os.path.exists(dst):
                os.remove(dst)
            continue
        tmp = os.path.join(directory, f".tmp-link-{uuid.uuid4().hex}")
        try:
            os.link(src, tmp)
        except OSError:  # a filesystem without hard links
            shutil.copyfile(src, tmp)
        try:
            commit_file(tmp, dst)
        except BaseException:
            discard(tmp)
            raise


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


def checkpoint_prefix(path):
    """'out/best_model' for 'out/best_model' or 'out/best_model.pdparams'."""
    path = os.fspath(path)
    return path[: -len(".pdparams")] if path.endswith(".pdparams") else path


def resolve_checkpoint(prefix, warn=None):
    """(prefix actually used, its verified .pdstates): <prefix>, or <prefix>_prev with a warning when <prefix> is
    missing, truncated or corrupt and <prefix>_prev is valid. Raises WeightsError naming both when neither is."""
    prefix = checkpoint_prefix(prefix)
    try:
        return prefix, verify_checkpoint(prefix)
    except WeightsError as e:
        prev = prefix + PREV_SUFFIX
        if not any(os.path.exists(f"{prev}.{ext}") for ext in EXTS):
            raise
        try:
            states = verify_checkpoint(prev)
        except WeightsError as e2:
            raise WeightsError(f"{e}; the previous checkpoint is unusable too: {e2}") from None
        (warn or logger.warning)(
            "checkpoint %s is unusable (%s); falling back to the previous checkpoint %s (%s.pdstates, step %s)",
            prefix, e, prev, prev, states.get("global_step", "?"),
        )
        return prev, states


def load_checkpoint(prefix, model, optimizer=None, warn=None, optimizer_name=None):
    """Verify and load a checkpoint (or its _prev fallback) into model (and optimizer); returns its .pdstates
    dict, with the prefix actually loaded under 'loaded_from'. optimizer_name (the config's Optimizer.name) must
    be the one the checkpoint was trained with, when it records one."""
    prefix, states = resolve_checkpoint(prefix, warn)
    own = model_state(model)
    weights = safe_load(prefix + ".pdparams")
    bad = [k for k in own if k not in weights or tuple(weights[k].shape) != tuple(own[k].shape)]
    if bad:
        raise WeightsError(f"{prefix}.pdparams: does not fit the model (first mismatch: '{bad[0]}')")
    getattr(model, "set_checkpoint_state_dict", model.set_state_dict)(weights)
    if optimizer is not None and "pdopt" in states["files"]:
        saved = states.get("optimizer")
        if optimizer_name and saved and saved != optimizer_name:
            raise WeightsError(
                f"{prefix}.pdopt: holds the state of a {saved} optimizer but Optimizer.name is {optimizer_name}; "
                f"resume with Optimizer.name: {saved}, or start a new run from these weights with "
                f"Global.pretrained_model={prefix} instead of Global.checkpoints"
            )
        try:
            optimizer.set_state_dict(optimizer_state_from_structured(safe_load(prefix + ".pdopt"), model))
        except (AssertionError, KeyError, ValueError, TypeError) as e:
            raise WeightsError(f"{prefix}.pdopt: does not fit the optimizer of this config "
                               f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    states["loaded_from"] = prefix
    return states


AUTO = "auto"  # Global.checkpoints: resume from <output_dir>/latest when it exists, else start fresh


class CheckpointManager:
    """The checkpoints of one run folder: their names, atomic writing with `latest_prev`, pruning of old
    `epoch_N`, the leftovers of writes a kill cut short, and which checkpoint a run resumes from.

    Only the writer (rank 0) touches files; on other ranks `save`, `prune` and `remove_unfinished_writes` do
    nothing, while `resume_prefix` and `load` work everywhere (every rank loads the same checkpoint).
    """

    LATEST = "latest"
    BEST = "best_model"

    def __init__(self, directory, keep_epochs=0, writer=True, warn=None):
        self.directory = os.fspath(directory)
        self.keep_epochs = int(keep_epochs or 0)
        self.writer = bool(writer)
        self.warn = warn or logger.warning

    def prefix(self, name):
        """'<directory>/<name>', the prefix of checkpoint `name`."""
        return os.path.join(self.directory, name)

    def save(self, name, model, optimizer, states):
        """Write checkpoint `name` atomically (`latest` keeps the previous one as `latest_prev`); its prefix."""
        if not self.writer:
            return None
        prefix = self.prefix(name)
        save_checkpoint(prefix, model, optimizer, states, keep_previous=name == self.LATEST)
        return prefix

    def prune(self):
        """Keep the newest `keep_epochs` epoch checkpoints (0: all); best_model and latest are never pruned."""
        if not self.writer or self.keep_epochs <= 0 or not os.path.isdir(self.directory):
            return
        # any of the three files counts, so the leftovers of a prune cut short by a kill go in the next one
        epochs = set()
        for f in os.listdir(self.directory):
            stem, _, ext = f.partition(".")
            if stem.startswith("epoch_") and stem[len("epoch_"):].isdigit() and ext in EXTS:
                epochs.add(int(stem[len("epoch_"):]))
        for e in sorted(epochs)[:-self.keep_epochs]:
            for ext in reversed(EXTS):  # .pdstates first: an unfinished prune leaves an invalid checkpoint
                path = f"{self.prefix(f'epoch_{e}')}.{ext}"
                if os.path.exists(path):
                    os.remove(path)

    def remove_unfinished_writes(self):
        """Delete the staging files a killed run left (never read: a checkpoint is renamed into place); their
        names."""
        if not self.writer or not os.path.isdir(self.directory):
            return []
        stale = sorted(f for f in os.listdir(self.directory) if f.startswith(TEMP_PREFIX))
        for f in stale:
            os.remove(os.path.join(self.directory, f))
        return stale

    def resume_prefix(self, setting):
        """The checkpoint to resume from for Global.checkpoints = `setting`: None for none; for 'auto',
        `latest` when it (or `latest_prev`) is there, else None (a fresh start); otherwise `setting` itself."""
        if not setting:
            return None
        if setting != AUTO:
            return setting
        latest = self.prefix(self.LATEST)
        there = any(os.path.exists(f"{p}.pdstates") for p in (latest, latest + PREV_SUFFIX))
        return latest if there else None

    def load(self, prefix, model, optimizer=None, optimizer_name=None):
        """load_checkpoint with this manager's warning channel; returns the .pdstates dict."""
        return load_checkpoint(prefix, model, optimizer, warn=self.warn, optimizer_name=optimizer_name)
