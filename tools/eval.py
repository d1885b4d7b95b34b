"""Evaluate a model: top-1/top-5, loss, per-class accuracy and confusion matrix (CSV + JSON).

    python tools/eval.py -c CONFIG -o Global.pretrained_model=output/best_model
    python tools/eval.py --data DIR_OR_LIST --model ResNet50 --weights ResNet50.pdparams [--img-size 224]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, user_errors_exit  # noqa: E402

def quick_config(data, model, weights, img_size, class_num, batch_size, image_root, output_dir):
    """A config equivalent to --data/--model/--weights: standard resize-256/center-crop eval transforms."""
    from ppcls_lite.data.presets import eval_transform_ops

    ops = eval_transform_ops(img_size)
    if os.path.isdir(data):
        dataset = {"name": "ImageFolder", "root": data, "transform_ops": ops}
    else:
        dataset = {"name": "ImageNetDataset", "image_root": image_root or os.path.dirname(os.path.abspath(data)),
                   "cls_label_path": data, "transform_ops": ops}
    arch = {"name": model}
    if class_num:
        arch["class_num"] = class_num
    return {
        "Global": {"pretrained_model": weights, "output_dir": output_dir, "image_shape": [3, img_size, img_size]},
        "Arch": arch,
        "DataLoader": {"Eval": {"dataset": dataset,
                                "sampler": {"name": "DistributedBatchSampler", "batch_size": batch_size,
                                            "drop_last": False, "shuffle": False},
                                "loader": {"num_workers": 2, "use_shared_memory": False}}},
    }


@user_errors_exit
def main(argv=None):
    parser = config_arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", help="class-per-subfolder tree or a list file (quick mode, no config)")
    parser.add_argument("--image-root", help="root the list file's paths are relative to (default: its folder)")
    parser.add_argument("--model", help="model name (quick mode)")
    parser.add_argument("--weights", help=".pdparams to evaluate (quick mode)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--class-num", type=int, default=0, help="default: the number of classes in --data")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", default="./output/eval")
    args = parser.parse_args(argv)

    from ppcls_lite.arch.pretrained import load_pretrained
    from ppcls_lite.config import load_config, validate_config
    from ppcls_lite.data import build_dataloader
    from ppcls_lite.engine.distributed import init_parallel_if_needed
    from ppcls_lite.engine.evaluator import evaluate
    from ppcls_lite.engine.logger import setup_logger
    from ppcls_lite.engine.runtime import configure_runtime
    from ppcls_lite.engine.trainer import build_arch
    from ppcls_lite.errors import ConfigError

    if args.config:
        config = load_config(args.config, args.override)
    elif args.data and args.model and args.weights:
        config = validate_config(quick_config(args.data, args.model, args.weights, args.img_size, args.class_num,
                                              args.batch_size, args.image_root, args.output_dir))
    else:
        raise ConfigError("give -c CONFIG, or all of --data, --model and --weights")
    g = config["Global"]
    configure_runtime(g)
    world_size, rank = init_parallel_if_needed()
    logger = setup_logger(g["output_dir"], rank, filename="eval.log")
    loader = build_dataloader(config["DataLoader"]["Eval"], "Eval", seed=int(g.get("seed") or 0),
                              num_replicas=world_size, rank=rank, lockstep=False)  # gathered once at the end
    dataset = loader.dataset
    arch = dict(config["Arch"])
    if not args.config and not args.class_num:
        arch["class_num"] = dataset.num_classes
    model = build_arch(arch)
    if not g.get("pretrained_model"):
        raise ConfigError("Global.pretrained_model: required for eval (e.g. -o Global.pretrained_model=output/best_model)")
    load_pretrained(model, g["pretrained_model"])
    class_num = int(arch.get("class_num", 1000))
    if dataset.num_classes > class_num:
        raise ConfigError(f"Arch.class_num: {class_num} but the data has {dataset.num_classes} classes")
    names = list(dataset.class_names) + [str(i) for i in range(dataset.num_classes, class_num)]
    result = evaluate(model, loader, class_num, names, progress=True)
    logger.info("[Eval][Avg]%s", result.summary())
    if rank == 0:
        for path in result.write(g["output_dir"]):
            logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
