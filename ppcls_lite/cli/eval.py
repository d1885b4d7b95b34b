"""ppcls-eval / tools/eval.py: top-1/top-5, loss, per-class accuracy and confusion matrix (CSV + JSON)."""
from . import add_quick_model_args, config_arg_parser, user_errors_exit

USAGE = """Evaluate a model: top-1/top-5, loss, per-class accuracy and confusion matrix (CSV + JSON).

    ppcls-eval -c CONFIG -o Global.pretrained_model=output/best_model
    ppcls-eval --data DIR_OR_LIST --weights output/best_model      # a ppcls_lite checkpoint
    ppcls-eval --data DIR_OR_LIST --model ResNet50 --weights ResNet50.pdparams [--img-size 224]

Quick mode (no config) scores a ppcls_lite checkpoint with its training-time evaluation transforms and label
map (stored in its .pdstates), mapping the classes of --data onto the model's by name."""


@user_errors_exit
def main(argv=None):
    """Parse the arguments and evaluate; the exit code."""
    import argparse

    parser = config_arg_parser(USAGE)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--data", help="class-per-subfolder tree or a list file (quick mode, no config)")
    parser.add_argument("--image-root", help="root the list file's paths are relative to (default: its folder)")
    add_quick_model_args(parser, "checkpoint prefix or .pdparams to evaluate (quick mode)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", default="./output/eval")
    args = parser.parse_args(argv)
    from ..engine.evaluation import evaluate_config, evaluate_weights
    from ..errors import ConfigError

    if args.config:
        evaluate_config(args.config, args.override)
    elif args.data and args.weights:
        evaluate_weights(args.data, args.weights, model=args.model, class_num=args.class_num,
                         img_size=args.img_size, batch_size=args.batch_size, image_root=args.image_root,
                         output_dir=args.output_dir)
    else:
        raise ConfigError("give -c CONFIG, or --data and --weights (and --model for weights without a checkpoint)")
    return 0
