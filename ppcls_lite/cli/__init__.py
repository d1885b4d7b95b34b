"""The command-line tools (`ppcls-train`, `ppcls-eval`, `ppcls-infer`, `ppcls-export`, and `python tools/*.py`):
shared -c/-o parsing and user-error reporting here, one module per tool beside it."""
import argparse
import functools
import sys

from ..errors import ConfigError, PpclsError


def config_arg_parser(description):
    """An ArgumentParser with PaddleClas's -c CONFIG and repeatable -o KEY=VALUE overrides."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-c", "--config", help="YAML config file")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. -o Global.epochs=10 (repeatable)")
    return parser


def add_quick_model_args(parser, weights_help):
    """The quick-mode flags eval and infer share: --model, --weights, --class-num, --img-size."""
    parser.add_argument("--model", help="model name (quick mode; default: the checkpoint's)")
    parser.add_argument("--weights", help=weights_help)
    parser.add_argument("--class-num", type=int, help="default: the checkpoint's, else the head in --weights")
    parser.add_argument("--img-size", type=int, help="use the model's own resize/crop (its ModelSpec) at this size "
                        "instead of the checkpoint's evaluation transforms")


def require_config(args):
    """The -c path; its absence is a ConfigError (not 'None: config file not found')."""
    if not args.config:
        raise ConfigError("-c CONFIG: required (a YAML config, e.g. -c configs/quickstart/resnet18_cifar10_mini.yaml)")
    return args.config


def print_records(records, skipped, how):
    """One JSON line per record on stdout, then the skipped images (`how`: the setting that skipped them) on
    stderr."""
    import json

    for record in records:
        print(json.dumps(record, ensure_ascii=False), flush=True)
    if skipped:
        print(f"skipped {len(skipped)} undecodable image(s){how}: " + "; ".join(reason for _, reason in skipped),
              file=sys.stderr)


def user_errors_exit(main):
    """Run `main`; a PpclsError (bad config, data or weights) becomes one line on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except PpclsError as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
