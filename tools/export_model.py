"""Export an inference model: python tools/export_model.py -c CONFIG -o Global.pretrained_model=output/best_model."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, user_errors_exit  # noqa: E402


@user_errors_exit
def main(argv=None):
    parser = config_arg_parser(__doc__)
    parser.add_argument("--softmax", action="store_true", help="append softmax so the model outputs probabilities")
    args = parser.parse_args(argv)
    from ppcls_lite.arch.pretrained import load_pretrained
    from ppcls_lite.config import load_config
    from ppcls_lite.engine.trainer import build_arch
    from ppcls_lite.errors import ConfigError
    from ppcls_lite.export import export_inference_model

    config = load_config(args.config, args.override)
    g = config["Global"]
    if not g.get("pretrained_model"):
        raise ConfigError("Global.pretrained_model: required for export (e.g. -o Global.pretrained_model=output/best_model)")
    model = build_arch(config["Arch"])
    load_pretrained(model, g["pretrained_model"])
    prefix = os.path.join(g["save_inference_dir"], "inference")
    export_inference_model(model, prefix, tuple(g["image_shape"]), softmax=args.softmax)
    print(f"exported {config['Arch']['name']} to {prefix}.* (input {list(g['image_shape'])}, softmax={args.softmax})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
