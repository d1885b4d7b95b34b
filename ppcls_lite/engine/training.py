"""Training as a workflow: `ppcls_lite.train("configs/x.yaml", ["Global.epochs=10"])`."""
from ..config import load_config
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
        trainer.logger.info("best top1 %.5f at epoch %d; checkpoints in %s", trainer.state["best_metric"],
                            trainer.state["best_epoch"], trainer.output_dir)
    return trainer
