"""Training as a workflow: `ppcls_lite.train("configs/x.yaml", ["Global.epochs=10"])`."""
import os
import time

import numpy as np

from ..config import load_config
from ..optim.lr import build_lr_scheduler
from .trainer import Trainer


def train(config, overrides=()):
    """Build a Trainer for `config` (a path or a validated dict), run it to Global.epochs and log the final
    figures; returns the Trainer (`trainer.result`: the last evaluation, or None). A SIGTERM/SIGINT raises
    TrainingInterrupted after `latest` is saved."""
    if not isinstance(config, dict):
        config = load_config(config, overrides)
    trainer = Trainer(config)
    trainer.result = trainer.fit()
    if trainer.result is not None:
        trainer.logger.info("final val %s", trainer.result.summary())
        if trainer.state["best_epoch"]:
            trainer.logger.info("best %s %.5f at epoch %d; checkpoints in %s", trainer.scorer.main_key,
                                trainer.state["best_metric"], trainer.state["best_epoch"], trainer.output_dir)
    return trainer


def dry_run(config, overrides=()):
    """What `train(config)` would do, checked without writing anything: the model is built (and its weights
    loaded), the datasets scanned, one training batch decoded through the real pipeline, the optimizer and
    schedule built, the checkpoint to resume read. Returns {line label: text}, also printed by the tool."""
    if not isinstance(config, dict):
        config = load_config(config, overrides)
    trainer = Trainer(config, dry_run=True)
    g, loader = config["Global"], trainer.train_loader
    started = time.time()
    images, labels = loader.first_batch()  # in this process: no DataLoader worker outlives the dry run
    decoded = time.time() - started
    trainable = sum(int(np.prod(p.shape)) for p in trainer.model.parameters() if not p.stop_gradient)
    steps = trainer.steps_per_epoch // trainer.update_freq
    total = steps * trainer.epochs
    warmup = int(getattr(trainer.lr_sched, "warmup_steps", 0) or 0)
    lrs = {"start": _lr_at(config, trainer, steps, 0)}
    if warmup:
        lrs["end of warmup"] = _lr_at(config, trainer, steps, warmup)
    lrs["last step"] = _lr_at(config, trainer, steps, max(total - 1, 0))
    eval_set = trainer.eval_loader.dataset if trainer.eval_loader is not None else None
    dataset = loader.dataset
    report = {
        "model": f"{_model_name(config['Arch'])}, {trainable / 1e6:.3f} M trainable parameters, {trainer.class_num} "
                 f"classes" + (f", weights from {g['pretrained_model']}" if g.get("pretrained_model") else ""),
        "train data": f"{len(dataset)} images, {dataset.num_classes} classes ({dataset.source})",
        "eval data": (f"{len(eval_set)} images ({eval_set.source}), every {g['eval_interval']} epoch(s) from "
                      f"epoch {max(1, g['start_eval_epoch'])}") if eval_set is not None else "none",
        "batch": f"{loader.batch_sampler.batch_size} per device x {trainer.world_size} device(s); one decoded in "
                 f"{decoded:.2f} s: images {list(images.shape)} {images.dtype}, "
                 f"labels {list(labels.shape)}",
        "steps": f"{trainer.steps_per_epoch} iterations per epoch (optimizer steps: {steps}), {trainer.epochs} "
                 f"epochs, {total} optimizer steps",
        "optimizer": f"{config['Optimizer']['name']}, schedule {config['Optimizer']['lr'].get('name', 'Constant')}"
                     + (f", warmup {warmup} steps" if warmup else ""),
        "learning rate": ", ".join(f"{k} {v:.6g}" for k, v in lrs.items()),
        "amp": (f"{trainer.amp.level} {trainer.amp.dtype}" if trainer.amp.enabled else "off")
               + (f" ({trainer.amp.message})" if trainer.amp.message else ""),
        "output dir": f"{trainer.output_dir} ({'exists' if os.path.isdir(trainer.output_dir) else 'to be created'})",
        "resume": (f"from {trainer.resumed_from}: epoch {trainer.state['epoch']}, step {trainer.state['step_in_epoch']}"
                   if trainer.resumed_from else "no: starts from scratch"),
    }
    return report


def _lr_at(config, trainer, steps_per_epoch, step):
    """The learning rate of optimizer step `step`, from a fresh schedule (the trainer's is left untouched)."""
    sched = build_lr_scheduler(config["Optimizer"]["lr"], trainer.epochs, steps_per_epoch)
    sched.step(step)
    return float(sched())


def _model_name(arch):
    """'ResNet50', or 'DistillationModel (Teacher: ResNet34, frozen; Student: ResNet18, evaluated)'."""
    if arch["name"] != "DistillationModel":
        return arch["name"]
    parts = []
    for (name, member), frozen in zip((next(iter(m.items())) for m in arch["models"]), arch["freeze_params_list"]):
        role = ", frozen" if frozen else ""
        role += ", evaluated" if name == arch["infer_model_name"] else ""
        parts.append(f"{name}: {member['name']}{role}")
    return f"DistillationModel ({'; '.join(parts)})"
