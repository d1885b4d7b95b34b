"""ppcls-train / tools/train.py: train from a PaddleClas-style YAML config."""
from . import config_arg_parser, require_config, user_errors_exit

USAGE = "Train a model from a PaddleClas-style YAML config: ppcls-train -c CONFIG [-o KEY=VALUE ...]."


@user_errors_exit
def main(argv=None):
    """Parse the arguments and train; the exit code (128 + signal when stopped by SIGTERM/SIGINT)."""
    parser = config_arg_parser(USAGE)
    parser.add_argument("--dry-run", action="store_true", help="check the config, model, data, one batch, "
                        "optimizer and schedule, print a summary and exit without training or writing")
    args = parser.parse_args(argv)
    from ..engine.trainer import TrainingInterrupted
    from ..engine.training import dry_run, train

    if args.dry_run:
        for label, text in dry_run(require_config(args), args.override).items():
            print(f"{label + ':':15s}{text}")
        print("dry run: everything checked; nothing was trained or written")
        return 0
    try:
        train(require_config(args), args.override)
    except TrainingInterrupted as e:
        return 128 + int(e.signum)
    return 0
