"""ppcls-train / tools/train.py: train from a PaddleClas-style YAML config."""
from . import config_arg_parser, require_config, user_errors_exit

USAGE = "Train a model from a PaddleClas-style YAML config: ppcls-train -c CONFIG [-o KEY=VALUE ...]."


@user_errors_exit
def main(argv=None):
    """Parse the arguments and train; the exit code (128 + signal when stopped by SIGTERM/SIGINT)."""
    args = config_arg_parser(USAGE).parse_args(argv)
    from ..engine.trainer import TrainingInterrupted
    from ..engine.training import train

    try:
        train(require_config(args), args.override)
    except TrainingInterrupted as e:
        return 128 + int(e.signum)
    return 0
