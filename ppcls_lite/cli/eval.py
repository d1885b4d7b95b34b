"""ppcls-eval / tools/eval.py: the configured metrics, per-class precision / recall / F1, confusion matrix,
calibration and the most confidently wrong images (CSV, JSON, markdown)."""
from . import add_quick_model_args, config_arg_parser, user_errors_exit

USAGE = """Evaluate a model: top-1/top-5, loss, per-class precision / recall / F1 and accuracy, confusion matrix,
expected calibration error, most confused classes and most confidently wrong images (CSV, JSON, markdown).

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
    parser.add_argument("--tta", choices=("flip", "five_crop"), help="test-time augmentation, averaging the "
                        "logits: flip (each image and its mirror image) or five_crop (the eval CropImage at the "
                        "centre and the four corners)")
    parser.add_argument("--calibrate", nargs="?", const="ece", choices=("ece", "nll"),
                        help="fit the temperature that calibrates the scores on this set, minimising the expected "
                        "calibration error (default) or the NLL; record it beside the weights (infer, export and "
                        "predict use it)")
    args = parser.parse_args(argv)
    from ..engine.evaluation import evaluate_config, evaluate_weights
    from ..errors import ConfigError

    if args.config:
        evaluate_config(args.config, args.override, calibrate=args.calibrate, tta=args.tta)
    elif args.data and args.weights:
        evaluate_weights(args.data, args.weights, model=args.model, class_num=args.class_num,
                         img_size=args.img_size, batch_size=args.batch_size, image_root=args.image_root,
                         output_dir=args.output_dir, calibrate=args.calibrate, tta=args.tta)
    else:
        raise ConfigError("give -c CONFIG, or --data and --weights (and --model for weights without a checkpoint)")
    return 0
