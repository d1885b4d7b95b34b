"""Optimizers and learning-rate schedules: the `Optimizer:` config section.

    optimizer, lr_sched = build_optimizer(cfg["Optimizer"], epochs, step_each_epoch, model)
    ... loss.backward(); optimizer.step(); optimizer.clear_grad(); lr_sched.step()   # every iteration

Registries for the config validator (name -> class whose keyword arguments are the accepted YAML keys):
`OPTIMIZERS` (the Optimizer section minus its structural keys `name` and `lr`) and `LR_SCHEDULES`
(the Optimizer.lr section minus `name`).
"""
from .lr import LR_SCHEDULES, build_lr_scheduler
from .optimizer import OPTIMIZER_STRUCTURAL_KEYS, OPTIMIZERS, build_optimizer, no_weight_decay_names

__all__ = ["OPTIMIZERS", "LR_SCHEDULES", "OPTIMIZER_STRUCTURAL_KEYS", "build_optimizer", "build_lr_scheduler",
           "no_weight_decay_names"]
