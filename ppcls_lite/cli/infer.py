"""ppcls-infer / tools/infer.py: top-k classes of images as JSON lines."""
from . import add_quick_model_args, config_arg_parser, print_records, user_errors_exit

USAGE = """Predict top-k classes of an image or a folder of images, as JSON lines.

    ppcls-infer -c CONFIG -o Global.pretrained_model=output/best_model -o Infer.infer_imgs=IMG_OR_DIR
    ppcls-infer --weights output/best_model --images IMG_OR_DIR           # a ppcls_lite checkpoint
    ppcls-infer --model ResNet50 --weights ResNet50.pdparams --images IMG_OR_DIR [--class-num N]

Quick mode uses a ppcls_lite checkpoint's own evaluation transforms and class names (from its .pdstates)."""


@user_errors_exit
def main(argv=None):
    """Parse the arguments, print one JSON line per image; the exit code."""
    import argparse
    import sys

    parser = config_arg_parser(USAGE)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--images", help="an image file or a folder (quick mode)")
    add_quick_model_args(parser, "checkpoint prefix or .pdparams (quick mode)")
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a multi-label checkpoint (quick mode): report the labels whose score exceeds this")
    parser.add_argument("--label-list", help="'<id> <name>' lines for label names (default: the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--on-bad-image", choices=("error", "skip"),
                        help="an undecodable image stops with an error (default), or is skipped and listed")
    args = parser.parse_args(argv)
    from ..engine.prediction import predict, predict_config
    from ..errors import ConfigError

    progress = sys.stderr.isatty()
    if args.config:
        run = predict_config(args.config, args.override, label_list=args.label_list, on_bad_image=args.on_bad_image,
                             batch_size=args.batch_size, topk=args.topk, progress=progress)
    elif args.images and args.weights:
        run = predict(args.weights, args.images, model=args.model, class_num=args.class_num, img_size=args.img_size,
                      topk=args.topk, label_list=args.label_list, batch_size=args.batch_size,
                      on_bad_image=args.on_bad_image, progress=progress, threshold=args.threshold)
        print(f"preprocessing: {run.preprocessing}", file=sys.stderr)
    else:
        raise ConfigError("give -c CONFIG, or --images and --weights (and --model for weights without a "
                          "checkpoint)")
    print_records(run, run.skipped, " (on_bad_image: skip)")
    return 0
