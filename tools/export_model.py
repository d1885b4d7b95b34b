"""Export an inference model: python tools/export_model.py -c CONFIG -o Global.pretrained_model=output/best_model."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, require_config, user_errors_exit  # noqa: E402

# The config keys whose files export reads (the training data need not exist here).
PATHS_USED = ("Global.pretrained_model", "Arch.pretrained")


@user_errors_exit
def main(argv=None):
    parser = config_arg_parser(__doc__)
    parser.add_argument("--softmax", action="store_true", help="append softmax so the model outputs probabilities")
    args = parser.parse_args(argv)
    from ppcls_lite.config import load_config
    from ppcls_lite.engine.output_dir import prepare_output_dir
    from ppcls_lite.engine.trained_model import load_for_use
    from ppcls_lite.export import export_inference_model

    config = load_config(require_config(args), args.override, check_paths=PATHS_USED)
    g = config["Global"]
    prepare_output_dir(g["save_inference_dir"], "Global.save_inference_dir")
    model = load_for_use(config["Arch"], g["pretrained_model"])
    prefix = os.path.join(g["save_inference_dir"], "inference")
    export_inference_model(model, prefix, tuple(g["image_shape"]), softmax=args.softmax)
    print(f"exported {config['Arch']['name']} to {prefix}.* (input {list(g['image_shape'])}, softmax={args.softmax})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
