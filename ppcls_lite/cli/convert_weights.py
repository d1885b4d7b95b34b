"""ppcls-convert / tools/convert_weights.py: timm checkpoints -> ppcls_lite (PaddleClas-keyed) weights."""
import argparse

from . import user_errors_exit

USAGE = """Convert a timm checkpoint into ppcls_lite weights (PaddleClas's names), with timm's preprocessing.

    ppcls-convert --from timm --model ConvNeXt_tiny --src convnext_tiny/model.safetensors --out convnext_tiny.pdparams

Writes OUT (.pdparams) and beside it a .pdstates recording the model (Arch), its class names and timm's eval
preprocessing, which tools/eval.py and tools/infer.py --weights OUT use. The preprocessing comes from
--timm-config, else from the config.json beside --src (what a Hugging Face timm download has), else it is the
variant's PaddleClas spec (said on stderr). docs/finetune.md lists which timm models convert to which variant."""


def _arch_overrides(texts):
    from ..config.overrides import parse_override
    from ..errors import ConfigError

    arch = {}
    for text in texts:
        keys, value = parse_override(text)
        if len(keys) != 2 or keys[0] != "Arch":
            raise ConfigError(f"-o {text}: only Arch.<key>=VALUE is read here (e.g. -o Arch.class_num=10)")
        arch[keys[1]] = value
    return arch


@user_errors_exit
def main(argv=None):
    """Parse the arguments and convert; the exit code."""
    import os
    import sys

    parser = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, choices=("timm",), help="whose checkpoint")
    parser.add_argument("--model", required=True, help="the ppcls_lite variant to fill, e.g. ConvNeXt_tiny")
    parser.add_argument("--src", required=True, help="timm checkpoint: .safetensors, .pth, .pt or .bin")
    parser.add_argument("--out", required=True, help="output weights, PREFIX or PREFIX.pdparams")
    parser.add_argument("--timm-config", help="timm's config.json / pretrained_cfg (default: beside --src)")
    parser.add_argument("--use-ema", action="store_true", help="a timm training checkpoint: its EMA weights")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="Arch.KEY=VALUE",
                        help="constructor keys of the variant (repeatable)")
    args = parser.parse_args(argv)
    from ..convert import convert_timm, read_pretrained_cfg, read_timm_state, timm_eval_spec
    from ..engine.checkpoint import checkpoint_prefix, save_checkpoint
    from ..engine.trained_model import make_model_info
    from ..arch.registry import get_model_factory, model_spec
    from ..errors import ConfigError

    try:
        get_model_factory(args.model)
    except ConfigError as exc:
        raise ConfigError(f"--model: {exc}") from None
    state = read_timm_state(args.src, use_ema=args.use_ema)
    model, arch = convert_timm(state, dict(_arch_overrides(args.override), name=args.model))
    cfg_path = args.timm_config or os.path.join(os.path.dirname(os.path.abspath(args.src)), "config.json")
    if args.timm_config or os.path.isfile(cfg_path):
        cfg = read_pretrained_cfg(cfg_path)
        spec, source = timm_eval_spec(args.model, cfg), f"timm's preprocessing (from {cfg_path})"
        names = cfg.get("label_names")
    else:
        spec, names = model_spec(args.model), None
        source = f"{args.model}'s PaddleClas preprocessing (no timm config.json)"
    classes = int(arch["class_num"])
    if not (isinstance(names, list) and len(names) == classes):
        names = [str(i) for i in range(classes)]
    prefix = checkpoint_prefix(args.out)
    if os.path.dirname(prefix):
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
    info = make_model_info(arch, names, spec.eval_transform_ops(), [3, spec.input_size, spec.input_size],
                           eval_source=source)
    save_checkpoint(prefix, model, states={"model_info": info,
                                           "converted_from": {"source": "timm", "file": os.path.abspath(args.src)}})
    print(f"converted {len(state)} timm tensors of {args.src} into {args.model} ({classes} classes): "
          f"{prefix}.pdparams")
    print(f"preprocessing: {spec.describe()}: {source}", file=sys.stderr)
    return 0
