"""Train a model from a PaddleClas-style YAML config: python tools/train.py -c CONFIG [-o KEY=VALUE ...]."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, require_config, user_errors_exit  # noqa: E402


@user_errors_exit
def main(argv=None):
    args = config_arg_parser(__doc__).parse_args(argv)
    from ppcls_lite.config import load_config
    from ppcls_lite.engine.trainer import Trainer, TrainingInterrupted

    config = load_config(require_config(args), args.override)
    trainer = Trainer(config)
    try:
        result = trainer.fit()
    except TrainingInterrupted as e:
        return 128 + int(e.signum)
    if result is not None:
        trainer.logger.info("final val %s", result.summary())
        trainer.logger.info("best top1 %.5f at epoch %d; checkpoints in %s", trainer.state["best_metric"],
                            trainer.state["best_epoch"], trainer.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
