"""The training loop: step, accumulate, AMP, EMA, log, eval, checkpoint, exact resume."""
import contextlib
import json
import math
import os
import signal
import time

import numpy as np
import paddle
import yaml

from ..arch import build_from_config
from ..data import ImageFolder, ImageNetDataset, build_dataloader, check_same_classes
from ..data.constants import IMAGENET_MEAN, IMAGENET_STD
from ..errors import ConfigError, DataError, PpclsError, WeightsError
from ..loss import build_loss
from ..metric import build_metric
from ..optim import build_optimizer
from .amp import resolve_amp
from .checkpoint import CheckpointManager
from .distributed import broadcast_buffers, broadcast_flag, convert_sync_batchnorm, init_parallel_if_needed
from .ema import ModelEMA
from .evaluator import Scorer, evaluate
from .multilabel import evaluate_multilabel
from .dashboard import log_evaluation, log_hparams
from .logger import VisualDLWriter, image_grid, setup_logger
from .model_input import model_input
from .output_dir import prepare_output_dir
from .runtime import configure_runtime, step_seed
from .trained_model import model_info_from_config


class TrainingInterrupted(Exception):
    """Raised after a signal-triggered 'latest' checkpoint was written; carries the signal number."""

    def __init__(self, signum, prefix):
        super().__init__(f"interrupted by signal {signum}; saved {prefix}")
        self.signum = signum
        self.prefix = prefix


class NonFiniteLossError(PpclsError):
    """The training loss became NaN/Inf."""


class PeerLostError(PpclsError):
    """Data parallel: a collective or the data loader failed because another rank died (or the launcher is
    stopping the job); one line instead of the traceback of whichever call noticed."""

    exit_code = 1


# What gloo / NCCL / Paddle's loader say when the other end of the job has gone away.
_PEER_FAILURE_MARKERS = ("connection reset by peer", "connection closed by peer", "connection refused",
                         "broken pipe", "socket closed", "gloo/transport", "gloo::", "timeout", "timed out")


def _is_peer_failure(exc):
    text = str(exc).lower()
    return any(m in text for m in _PEER_FAILURE_MARKERS)


def _last_line(exc):
    text = str(exc).strip().splitlines()
    return text[-1].strip() if text else type(exc).__name__


class Trainer:
    """Builds everything a config describes and runs `fit()`; rank 0 alone writes logs and checkpoints."""

    def __init__(self, config, dry_run=False):
        """dry_run: build and check everything (model, datasets, first samples, optimizer, schedule, the
        checkpoint to resume) but write nothing -- no output folder, log file, VisualDL log or cleanup."""
        self.cfg = config
        self.dry_run = dry_run
        g = config["Global"]
        if g.get("epochs") is None:
            raise ConfigError("Global.epochs: required for training (e.g. -o Global.epochs=10)")
        self.device = configure_runtime(g)
        self.world_size, self.rank = init_parallel_if_needed()
        self.output_dir = g["output_dir"]
        if not dry_run:
            prepare_output_dir(self.output_dir, "Global.output_dir")  # every rank: none may go on alone
        self.logger = setup_logger(None if dry_run else self.output_dir, self.rank)
        if self.device.message:
            self.logger.warning(self.device.message)
        self.seed = int(g["seed"] or 0)
        paddle.seed(step_seed(self.seed, self.rank, -1))
        np.random.seed(self.seed + self.rank)

        # Global.pretrained_model: fine-tuning, so a head of another class count starts fresh
        self.model = build_from_config(config["Arch"], pretrained_model=g.get("pretrained_model"))
        if config["Arch"].get("use_sync_bn") and self.world_size > 1:
            self.model = convert_sync_batchnorm(self.model, self.device.name)
            if getattr(self.model, "frozen_names", None):
                self.model.freeze()  # the new SyncBatchNorm layers of frozen stages keep their statistics too
        # what is evaluated, averaged (EMA) and exported: a DistillationModel's infer_model_name member
        self.used_model = getattr(self.model, "infer_model", self.model)
        self._frozen_digests = self.model.frozen_digests() if hasattr(self.model, "frozen_digests") else {}
        self.class_num = int(config["Arch"].get("class_num", 1000))

        loaders = config["DataLoader"]
        self.train_loader = build_dataloader(
            loaders["Train"], "Train", seed=self.seed, class_num=self.class_num,
            num_replicas=self.world_size, rank=self.rank,
        )
        self.eval_loader = None
        if g["eval_during_train"] and loaders.get("Eval"):
            self.eval_loader = build_dataloader(  # evaluation gathers once at the end: a rank may drop a batch
                loaders["Eval"], "Eval", seed=self.seed, class_num=self.class_num,
                num_replicas=self.world_size, rank=self.rank, lockstep=False,
            )
        self.class_names = list(self.train_loader.dataset.class_names)
        self._check_datasets()
        for loader in (self.train_loader, self.eval_loader):
            if loader is not None:
                loader.check_first()
        self.model_info = model_info_from_config(config, self.class_names)

        if not config["Loss"]["Train"]:
            raise ConfigError("Loss.Train: required to train (e.g. [{CELoss: {weight: 1.0}}])")
        self.loss_fn = build_loss(config["Loss"]["Train"], "Loss.Train")
        for i, (entry, fn) in enumerate(zip(config["Loss"]["Train"], self.loss_fn.loss_funcs)):
            if hasattr(fn, "check_model"):  # what a loss needs of the model (a distilled DeiT's second head)
                try:
                    fn.check_model(self.model)
                except ValueError as exc:
                    raise ConfigError(f"Loss.Train.{i}.{next(iter(entry))}.{exc}") from None
        self.multilabel = bool(g["use_multilabel"])
        if not self.multilabel:
            labels = np.asarray(self.train_loader.dataset.labels, "int64").reshape(-1)
            try:  # class weights: 'balanced' from these counts, a list checked against the model
                self.loss_fn.prepare(np.bincount(labels, minlength=self.class_num), self.class_num)
            except ValueError as exc:
                raise ConfigError(f"Loss.Train: {exc}") from None
        # as PaddleClas: no Metric.Train (absent, null or []) logs no training metric
        self.metric_fn = build_metric(config["Metric"]["Train"], "Metric.Train") if config["Metric"]["Train"] \
            else None
        if g["use_dali"]:
            self.logger.warning("Global.use_dali: ppcls_lite has no DALI pipeline; the data goes through the "
                                "Paddle DataLoader")
        self.update_freq = int(g["update_freq"])
        self.steps_per_epoch = len(self.train_loader)
        if self.update_freq > self.steps_per_epoch:
            sampler = self.train_loader.batch_sampler
            raise ConfigError(
                f"Global.update_freq: {self.update_freq} is more than the {self.steps_per_epoch} iteration(s) of an "
                f"epoch ({sampler.num_samples} samples per device in batches of {sampler.batch_size}); lower "
                "Global.update_freq or DataLoader.Train.sampler.batch_size"
            )
        self.epochs = int(g["epochs"])
        self.optimizer, self.lr_sched = build_optimizer(
            config["Optimizer"], self.epochs, self.steps_per_epoch // self.update_freq, self.model
        )
        self.amp = resolve_amp(config.get("AMP"), self.device.name)
        if self.amp.message:
            self.logger.warning(self.amp.message)
        if self.amp.enabled and self.amp.level == "O2":
            self.model, self.optimizer = paddle.amp.decorate(
                models=self.model, optimizers=self.optimizer, level="O2", dtype=self.amp.dtype
            )
            self.used_model = getattr(self.model, "infer_model", self.model)
        self.scaler = self.amp.make_scaler()
        self.scorer = Scorer.from_config(config, self.amp)
        ema_cfg = config.get("EMA")
        self.ema = ModelEMA(self.used_model, decay=float(ema_cfg.get("decay", 0.9999))) if ema_cfg else None

        self.train_model = paddle.DataParallel(self.model) if self.world_size > 1 else self.model
        if g.get("to_static"):
            self.train_model = paddle.jit.to_static(self.train_model)

        # eval_pending: the epoch whose evaluation is due; its checkpoint is written before it runs, so an error
        # found while evaluating loses no training, and a resume evaluates it first.
        self.state = {"epoch": 1, "step_in_epoch": 0, "global_step": 0, "best_metric": -1.0, "best_epoch": 0,
                      "nan_steps_skipped": 0, "eval_pending": None}
        self.resumed_from = None
        self.result = None  # the last evaluation of fit(), set by engine.training.train
        self.checkpoints = CheckpointManager(self.output_dir, keep_epochs=g.get("max_checkpoints") or 0,
                                             writer=self.rank == 0, warn=self.logger.warning)
        stale = [] if dry_run else self.checkpoints.remove_unfinished_writes()
        if stale:
            self.logger.warning("removed %d unfinished checkpoint write(s) left in %s by an interrupted run: %s",
                                len(stale), self.output_dir, ", ".join(stale))
        resume_from = self.checkpoints.resume_prefix(g.get("checkpoints"))
        if resume_from:
            self._resume(resume_from)
        elif g.get("checkpoints"):  # 'auto' with nothing to resume
            self.logger.info("Global.checkpoints: auto: no checkpoint in %s yet, starting from scratch",
                             self.output_dir)
        self.vdl = VisualDLWriter(os.path.join(self.output_dir, "vdl"),
                                  enabled=bool(g["use_visualdl"]) and self.rank == 0 and not dry_run)
        self._stop_signal = None
        self._skip_nan_allowed = int(g.get("skip_nan_steps", 0) or 0)
        self._pending_losses = []  # (loss, epoch, step, global step, sample ids) not yet checked for finiteness

    # -- checkpoints -------------------------------------------------------------------------------------
    def _resume(self, prefix):
        states = self.checkpoints.load(prefix, self.model, self.optimizer,
                                       optimizer_name=self.cfg["Optimizer"]["name"])
        prefix = states["loaded_from"]
        for name, digest in (states.get("frozen_members") or {}).items():
            # a frozen member is not in the checkpoint: it must be the one the run was trained with
            if self._frozen_digests.get(name) != digest:
                raise WeightsError(f"Arch.models: the frozen {name} is not the one {prefix} was trained with (its "
                                   "weights differ); resume with the same weights, or start a new run")
        self.resumed_from = prefix
        for key in self.state:
            if key in states:
                self.state[key] = states[key]
        trained = self.state["epoch"] - 1
        if trained > self.epochs:
            raise ConfigError(
                f"Global.epochs: {self.epochs}, but checkpoint {prefix} has already trained {trained} epochs; give "
                f"Global.epochs above {trained} to train on (tools/eval.py evaluates it as it is)"
            )
        if self.ema is not None and states.get("ema") is not None:
            self.ema.set_state_dict(states["ema"])
        if self.scaler is not None and states.get("scaler"):
            self.scaler.load_state_dict(states["scaler"])
        self.logger.info(
            "resumed from %s: epoch %d, step %d of the epoch, global step %d",
            prefix, self.state["epoch"], self.state["step_in_epoch"], self.state["global_step"],
        )

    def _save(self, name, metric=None):
        self._flush_finite_checks()
        if self.rank != 0:
            return
        states = dict(self.state)
        states["model_info"] = self.model_info
        if self._frozen_digests:
            states["frozen_members"] = self._frozen_digests
        states["optimizer"] = self.cfg["Optimizer"]["name"]
        states["ema"] = self.ema.state_dict() if self.ema is not None else None
        states["scaler"] = self.scaler.state_dict() if self.scaler is not None else None
        if metric is not None:
            states["metric"] = metric
        bad = [k for k, v in self.model.state_dict().items()
               if paddle.is_floating_point(v) and not bool(paddle.isfinite(v).all())]
        if bad:
            raise NonFiniteLossError(
                f"model weights are not finite ({bad[0]}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}) at "
                f"epoch {self.state['epoch']}, global step {self.state['global_step']}: {name} not written, the "
                "checkpoints on disk are from before; hint: lower the learning rate or enable Optimizer.clip_norm"
            )
        return self.checkpoints.save(name, self.model, self.optimizer, states)

    # -- data checks -------------------------------------------------------------------------------------
    def _check_datasets(self):
        """Before any step: every label fits Arch.class_num; folder-tree train and val have the same classes."""
        loaders = [self.train_loader] + ([self.eval_loader] if self.eval_loader is not None else [])
        for loader in loaders:
            ds = loader.dataset
            if self.cfg["Global"]["use_multilabel"]:
                if ds.num_classes != self.class_num:
                    raise DataError(f"{ds.source}: {ds.num_classes} labels per line, but Arch.class_num is "
                                    f"{self.class_num} (one output per label)")
                continue
            labels = np.asarray(ds.labels, dtype=np.int64)
            over = np.nonzero(labels >= self.class_num)[0]
            if over.size:
                i = int(over[0])
                raise DataError(f"{_sample_location(ds, i)}: label {int(labels[i])} is out of range for "
                                f"Arch.class_num {self.class_num} (labels must be 0..{self.class_num - 1})")
        if self.eval_loader is not None and isinstance(self.train_loader.dataset, ImageFolder) \
                and isinstance(self.eval_loader.dataset, ImageFolder):
            check_same_classes(self.train_loader.dataset, self.eval_loader.dataset)

    def _write_label_map(self):
        if self.rank != 0:
            return
        os.makedirs(self.output_dir, exist_ok=True)
        with open(os.path.join(self.output_dir, "label_list.txt"), "w") as f:
            for i, name in enumerate(self.class_names):
                f.write(f"{i} {name}\n")

    # -- signals -----------------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        def handler(signum, frame):
            self._stop_signal = signum

        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return previous

    # -- the loop ----------------------------------------------------------------------------------------
    def _forward_loss(self, images, labels):
        images = model_input(images, self.model)
        if self.amp.enabled:
            with paddle.amp.auto_cast(level=self.amp.level, dtype=self.amp.dtype,
                                      use_promote=self.amp.options["use_promote"]):
                logits = self.train_model(images)
                losses = self.loss_fn(logits, labels)
        else:
            logits = self.train_model(images)
            losses = self.loss_fn(logits, labels)
        return logits, losses

    def _optimizer_step(self):
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.clear_grad()
        self.lr_sched.step()
        if self.ema is not None:
            self.ema.update(self.used_model)

    def _log_step(self, epoch, step, logits, labels, losses, batch_cost, reader_cost, batch_size):
        metrics = self.metric_fn(logits, labels) if self.metric_fn is not None else {}
        values = {k: float(v) for k, v in losses.items()}
        values.update({k: float(v) for k, v in metrics.items()})
        lr = self.optimizer.get_lr()
        ips = batch_size / max(batch_cost, 1e-9)
        remaining = (self.epochs - epoch) * self.steps_per_epoch + (self.steps_per_epoch - step - 1)
        eta = int(remaining * batch_cost)
        text = ", ".join(f"{k}: {v:.5f}" for k, v in values.items())
        self.logger.info(
            "[Train][Epoch %d/%d][Iter: %d/%d]lr(%s): %.8f, %s, batch_cost: %.5fs, reader_cost: %.5fs, ips: %.5f samples/s, eta: %s",
            epoch, self.epochs, step, self.steps_per_epoch, type(self.lr_sched).__name__, lr, text,
            batch_cost, reader_cost, ips, time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 86400 else f"{eta // 86400}d",
        )
        self.vdl.scalars("train", dict(values, lr=lr, ips=ips), self.state["global_step"])
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFiniteLossError(
                f"training loss is not finite at epoch {epoch}, iter {step} (global step "
                f"{self.state['global_step']}); lower Optimizer.lr.learning_rate or enable gradient clipping"
            )

    def _check_finite(self, losses, epoch, step, batch):
        """Whether this step's loss is finite (False: skipped within Global.skip_nan_steps).

        Reading the loss is a host synchronisation, so it happens here only when a skip must be decided before
        the backward pass; otherwise the loss is queued and read at the next logging step or save
        (`_flush_finite_checks`), which still names the first bad step and its files, and no non-finite weights
        are ever written.
        """
        if not self._skip_nan_allowed:
            entry = (losses["loss"].detach(), epoch, step, self.state["global_step"], _sample_ids(batch))
            self._pending_losses.append(entry)
            return True
        loss = float(losses["loss"])
        if math.isfinite(loss):
            return True
        if self.state["nan_steps_skipped"] < self._skip_nan_allowed:
            self.state["nan_steps_skipped"] += 1
            self.logger.warning("non-finite loss at epoch %d iter %d: step skipped (%d/%d allowed)",
                                epoch, step, self.state["nan_steps_skipped"], self._skip_nan_allowed)
            self.optimizer.clear_grad()
            return False
        self._raise_nonfinite(loss, epoch, step, self.state["global_step"], _sample_ids(batch))

    def _flush_finite_checks(self):
        """Read the queued losses in one synchronisation; stop at the first non-finite one."""
        pending, self._pending_losses = self._pending_losses, []
        if not pending:
            return
        finite = paddle.isfinite(paddle.stack([p[0].reshape([]).astype("float32") for p in pending])).numpy()
        if finite.all():
            return
        loss, epoch, step, global_step, ids = pending[int(np.argmin(finite))]
        self._raise_nonfinite(float(loss), epoch, step, global_step, ids)

    def _raise_nonfinite(self, loss, epoch, step, global_step, ids):
        files = self._batch_files(ids)
        raise NonFiniteLossError(
            f"training loss is {loss} at epoch {epoch}, iter {step} (global step {global_step}); "
            f"batch files: {', '.join(files[:4])}{' ...' if len(files) > 4 else ''}; hint: lower the learning "
            "rate, enable Optimizer.clip_norm, or allow skips with Global.skip_nan_steps"
        )

    def _batch_files(self, ids):
        samples = getattr(self.train_loader.dataset, "samples", None)
        if samples is None or ids is None:
            return []
        return [str(samples[int(i)][0]) for i in np.asarray(ids).reshape(-1)]

    def evaluate(self, epoch):
        """Evaluate the model (and EMA weights) on the Eval loader; log and return the main result."""
        skipped_before = self.eval_loader.num_skipped
        g = self.cfg["Global"]
        # from the config, not vdl.enabled (rank 0 only): every rank must gather the same per-sample figures
        curves = int(g["visualdl_curves"]) if g["use_visualdl"] else 0
        result = self._evaluate_once(keep_probs=curves)
        self._log_skipped(self.eval_loader, f"[Eval][Epoch {epoch}]", skipped_before)
        self.logger.info("[Eval][Epoch %d][Avg]%s", epoch, result.summary())
        self.vdl.scalars("eval", result.scalars(), epoch)
        samples = getattr(self.eval_loader.dataset, "samples", None)
        if not self.multilabel:  # the curves, confusion and mistakes of single-label classification
            log_evaluation(self.vdl, result, epoch, paths=(lambda i: samples[i][0]) if samples else None,
                           curves=curves, histograms=bool(g["visualdl_histograms"]), model=self.used_model)
        if self.ema is not None:
            with self.ema.applied(self.used_model):
                ema_result = self._evaluate_once()
            self.logger.info("[Eval][Epoch %d][EMA]%s", epoch, ema_result.summary())
            self.vdl.scalars("eval_ema", ema_result.scalars(), epoch)
        return result

    def _evaluate_once(self, keep_probs=0):
        if self.multilabel:
            return evaluate_multilabel(self.used_model, self.eval_loader, self.class_num, self.class_names,
                                       scorer=self.scorer)
        return evaluate(self.used_model, self.eval_loader, self.class_num, self.class_names, scorer=self.scorer,
                        keep_probs=keep_probs)

    def _run_pending_eval(self):
        """Evaluate the epoch in state['eval_pending'] (its checkpoint is already written); update best_model and
        write 'latest' again with the evaluation done."""
        epoch = self.state["eval_pending"]
        result = self._evaluate_guarded(epoch)
        self.state["eval_pending"] = None
        # best_model follows the first Metric.Eval metric, as in PaddleClas (none configured: no best_model)
        if result.main_metric is not None and result.main_metric > self.state["best_metric"]:
            self.state["best_metric"] = result.main_metric
            self.state["best_epoch"] = epoch
            self._save("best_model", metric=result.main_metric)
            self.logger.info("[Eval][Epoch %d][best metric: %.5f]", epoch, result.main_metric)
        self._save("latest")
        return result

    def _evaluate_guarded(self, epoch):
        """`evaluate(epoch)`; a user error found in it also says that the epoch's checkpoint is safe."""
        try:
            return self.evaluate(epoch)
        except PpclsError as e:
            latest = self.checkpoints.prefix(CheckpointManager.LATEST)
            raise type(e)(f"{e} (while evaluating epoch {epoch}; its training is saved in {latest}: fix this and "
                          f"resume with -o Global.checkpoints={latest}, which evaluates epoch {epoch} first)") from None

    def _finished(self):
        """True (with one log line) when a resumed run has no epoch left to train."""
        if self.state["epoch"] <= self.epochs:
            return False
        best = (f"; best {self.scorer.main_key} {self.state['best_metric']:.5f} at epoch {self.state['best_epoch']}"
                if self.state["best_epoch"] else "")
        self.logger.info("nothing to train: checkpoint %s has finished all %d epochs of Global.epochs%s; raise "
                         "Global.epochs to train longer", self.resumed_from, self.epochs, best)
        return True

    def fit(self):
        """Train from the current state to Global.epochs; returns the last evaluation result (or None)."""
        self._write_label_map()
        self.vdl.text("config", "```yaml\n" + _as_yaml(self.cfg) + "```")
        if self.eval_loader is not None:
            log_hparams(self.vdl, self.cfg, [f"eval/{k}" for k in self.scorer.metric_keys])
        previous = self._install_signal_handlers()
        last_result = None
        try:
            if self.state["eval_pending"] is not None:  # a resumed run whose last evaluation did not finish
                if self.eval_loader is not None:
                    last_result = self._run_pending_eval()
                else:
                    self.logger.warning("epoch %d's evaluation did not finish before the checkpoint was resumed; "
                                        "evaluation is off in this config, so it is not run",
                                        self.state["eval_pending"])
                    self.state["eval_pending"] = None
            if self._finished():
                return last_result
            while self.state["epoch"] <= self.epochs:
                epoch = self.state["epoch"]
                self.run_epoch(epoch)
                last_result = self._end_epoch(epoch) or last_result
        except (RuntimeError, SystemError, OSError) as e:
            if self.world_size > 1 and (self._stop_signal is not None or _is_peer_failure(e)):
                raise PeerLostError(
                    f"rank {self.rank} of {self.world_size}: stopped because another process of the data-parallel "
                    f"job is gone ({_last_line(e)}); the log of the process that failed first (workerlog.N) says "
                    f"why; resume with -o Global.checkpoints={os.path.join(self.output_dir, 'latest')}"
                ) from None
            raise
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)
            self.vdl.close()
        return last_result

    def run_epoch(self, epoch, loader=None, start_step=None):
        """Train the batches of `epoch`, from `start_step` (default: the state's step_in_epoch, where a resume
        put it); no end-of-epoch work (checkpoint, evaluation). `loader`: what to iterate instead of the train
        loader, with its protocol (batch_sampler, position, num_skipped) -- the seam a benchmark times through."""
        loader = self.train_loader if loader is None else loader
        self.model.train()
        loader.batch_sampler.set_epoch(epoch)
        loader.batch_sampler.set_start_step(self.state["step_in_epoch"] if start_step is None else start_step)
        skipped_before = loader.num_skipped
        tic = time.time()
        for batch in loader:
            # The loader's position counts a batch dropped whole (every image undecodable, skip mode) too, so the
            # step saved for resume always names the next batch the sampler must yield.
            step = loader.position - 1
            reader_cost = time.time() - tic
            logits, losses, finite, at_boundary = self._train_step(batch, epoch, step)
            self._after_step(epoch, step, batch, logits, losses, finite, at_boundary, time.time() - tic,
                             reader_cost)
            tic = time.time()
        self._flush_finite_checks()
        self._log_skipped(loader, f"[Train][Epoch {epoch}]", skipped_before)

    def _train_step(self, batch, epoch, step):
        """Forward, loss, backward and (at an accumulation boundary) the optimizer step of one batch."""
        images, labels = batch[0], batch[1]
        if self.state["global_step"] == 0 and self.vdl.enabled:  # the grid of sample images, once
            self._log_sample_images(images)
        paddle.seed(step_seed(self.seed, self.rank, self.state["global_step"]))
        at_boundary = (step + 1) % self.update_freq == 0
        # Non-final micro-steps of an accumulation skip DataParallel's gradient all-reduce.
        sync = contextlib.nullcontext() if at_boundary or self.world_size == 1 else self.train_model.no_sync()
        with sync:
            logits, losses = self._forward_loss(images, labels)
            finite = self._check_finite(losses, epoch, step, batch)
            if finite:
                loss = losses["loss"] / self.update_freq
                (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        self.state["global_step"] += 1
        self.state["step_in_epoch"] = step + 1
        if at_boundary and finite:
            self._optimizer_step()
        return logits, losses, finite, at_boundary

    def _after_step(self, epoch, step, batch, logits, losses, finite, at_boundary, batch_cost, reader_cost):
        """What runs around a step: the finiteness check, the log line, `latest` every N steps, stop signals."""
        g = self.cfg["Global"]
        print_every = max(int(g["print_batch_step"]), 1)
        if step % print_every == 0:
            self._flush_finite_checks()
            if finite:
                self._log_step(epoch, step, logits, batch[1], losses, batch_cost, reader_cost, batch[0].shape[0])
        interval = int(g.get("latest_interval_steps", 0) or 0)
        if at_boundary and interval and self.state["global_step"] % interval == 0:
            self._save("latest")
        # The all-reduce of the stop flag is a host synchronisation: once per logging interval.
        stop_check = at_boundary and (
            self.world_size == 1 or (self.state["global_step"] // self.update_freq) % print_every == 0)
        if stop_check and broadcast_flag(self._stop_signal is not None):
            prefix = self._save("latest")
            self.logger.warning("signal received: saved %s at epoch %d, iter %d; resume with "
                                "-o Global.checkpoints=%s", prefix, epoch, step + 1, prefix)
            raise TrainingInterrupted(self._stop_signal or signal.SIGTERM, prefix)

    def _end_epoch(self, epoch):
        """After the last batch of `epoch`: rank 0's buffers everywhere, the epoch's checkpoints, then its
        evaluation (and best_model); returns the evaluation result, or None."""
        g = self.cfg["Global"]
        self.state["epoch"] = epoch + 1
        self.state["step_in_epoch"] = 0
        # What every rank evaluates is what rank 0 saves: its BatchNorm statistics (and EMA shadow).
        broadcast_buffers(self.model, self.ema.shadow if self.ema is not None else None)
        # PaddleClas evaluates from epoch start_eval_epoch on (every eval_interval epochs)
        if self.eval_loader is not None and epoch % int(g["eval_interval"]) == 0 and epoch >= g["start_eval_epoch"]:
            self.state["eval_pending"] = epoch
        # The epoch is on disk before its evaluation runs: an error found there loses no training.
        if epoch % int(g["save_interval"]) == 0:
            self._save(f"epoch_{epoch}")
            self.checkpoints.prune()
        self._save("latest")
        result = self._run_pending_eval() if self.state["eval_pending"] is not None else None
        self.vdl.flush()
        return result

    def _log_skipped(self, loader, where, before):
        """After an epoch: how many undecodable images on_bad_image='skip' dropped, and every such file."""
        count = loader.num_skipped - before
        if count:
            self.logger.warning("%s skipped %d undecodable image(s) (on_bad_image: skip); files skipped so far "
                                "(%d): %s", where, count, len(loader.skipped_files), ", ".join(loader.skipped_files))

    def _log_sample_images(self, images):
        ops = self.cfg["DataLoader"]["Train"]["dataset"].get("transform_ops") or []
        norm = next((op["NormalizeImage"] for op in ops if "NormalizeImage" in op), None)
        if norm is None or images.ndim != 4:
            return
        mean = norm.get("mean", IMAGENET_MEAN)
        std = norm.get("std", IMAGENET_STD)
        self.vdl.image("train/sample_images", image_grid(images.numpy(), mean, std), step=0)


def _as_yaml(config):
    """The config as block YAML (via JSON, so tuples and other non-YAML values become plain lists / strings)."""
    return yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=False, default_flow_style=False)


def _sample_location(ds, index):
    """'list_file:line' of sample `index` of a list dataset; the image path otherwise."""
    path = ds.samples[index][0]
    if isinstance(ds, ImageNetDataset):
        target = os.path.normpath(path)
        with open(ds.cls_label_path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                parts = raw.strip().rsplit(None if ds.delimiter == " " else ds.delimiter, 1)
                if len(parts) == 2 and os.path.normpath(os.path.join(ds.image_root, parts[0].strip())) == target:
                    return f"{ds.cls_label_path}:{lineno}"
    return path


def _sample_ids(batch):
    """The dataset indices of a batch's images (the loader's third field), or None."""
    return batch[2] if len(batch) >= 3 else None
