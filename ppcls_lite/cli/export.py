"""ppcls-export / tools/export_model.py: write an inference model (paddle.jit.save) from a config's weights."""
from . import config_arg_parser, require_config, user_errors_exit

USAGE = "Export an inference model: ppcls-export -c CONFIG -o Global.pretrained_model=output/best_model."


@user_errors_exit
def main(argv=None):
    """Parse the arguments and export; the exit code."""
    parser = config_arg_parser(USAGE)
    parser.add_argument("--softmax", action="store_true", help="append softmax so the model outputs probabilities")
    parser.add_argument("--ema", action="store_true", help="export the checkpoint's EMA weights")
    parser.add_argument("--format", choices=("paddle", "onnx"), default="paddle",
                        help="onnx: also write inference.onnx (paddle2onnx) for --backend onnxruntime")
    parser.add_argument("--int8-calib", metavar="IMAGES",
                        help="with --format onnx: also write inference_int8.onnx, calibrated on these images")
    parser.add_argument("--calib-num", type=int, default=32, help="calibration images (default 32)")
    args = parser.parse_args(argv)
    from ..arch.distillation import used_arch
    from ..config import load_config
    from ..engine.trained_model import WEIGHT_PATHS, image_shape_of
    from ..export import export_config

    config = load_config(require_config(args), args.override, check_paths=WEIGHT_PATHS)
    formats = ("paddle", "onnx") if args.format == "onnx" else ("paddle",)
    prefix = export_config(config, softmax=args.softmax, use_ema=args.ema, formats=formats,
                           int8_calib=args.int8_calib, calib_num=args.calib_num)
    print(f"exported {used_arch(config['Arch'])['name']} to {prefix}.* with inference.yml (input {image_shape_of(config)}, "
          f"softmax={args.softmax}{', EMA weights' if args.ema else ''})")
    return 0
