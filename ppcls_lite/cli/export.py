"""ppcls-export / tools/export_model.py: write an inference model (paddle.jit.save) from a config's weights."""
from . import config_arg_parser, require_config, user_errors_exit

USAGE = "Export an inference model: ppcls-export -c CONFIG -o Global.pretrained_model=output/best_model."


@user_errors_exit
def main(argv=None):
    """Parse the arguments and export; the exit code."""
    parser = config_arg_parser(USAGE)
    parser.add_argument("--softmax", action="store_true", help="append softmax so the model outputs probabilities")
    args = parser.parse_args(argv)
    from ..config import load_config
    from ..engine.trained_model import WEIGHT_PATHS, image_shape_of
    from ..export import export_config

    config = load_config(require_config(args), args.override, check_paths=WEIGHT_PATHS)
    prefix = export_config(config, softmax=args.softmax)
    print(f"exported {config['Arch']['name']} to {prefix}.* (input {image_shape_of(config)}, "
          f"softmax={args.softmax})")
    return 0
