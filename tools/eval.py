"""Evaluate a model: top-1/top-5, loss, per-class accuracy and confusion matrix (CSV + JSON).

    python tools/eval.py -c CONFIG -o Global.pretrained_model=output/best_model
    python tools/eval.py --data DIR_OR_LIST --weights output/best_model      # a ppcls_lite checkpoint
    python tools/eval.py --data DIR_OR_LIST --model ResNet50 --weights ResNet50.pdparams [--img-size 224]

Quick mode (no config) scores a ppcls_lite checkpoint with its training-time evaluation transforms and label
map (stored in its .pdstates), mapping the classes of --data onto the model's by name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, user_errors_exit  # noqa: E402

# The config keys whose files evaluation reads (the training data need not exist here).
PATHS_USED = ("Global.pretrained_model", "Arch.pretrained", "DataLoader.Eval")


def quick_config(data, arch, weights, ops, batch_size, image_root, output_dir):
    """A config equivalent to --data/--weights: the Eval section over `data` with transform `ops`."""
    if os.path.isdir(data):
        dataset = {"name": "ImageFolder", "root": data, "transform_ops": ops}
    else:
        dataset = {"name": "ImageNetDataset", "image_root": image_root or os.path.dirname(os.path.abspath(data)),
                   "cls_label_path": data, "transform_ops": ops}
    return {
        "Global": {"pretrained_model": weights, "output_dir": output_dir},
        "Arch": dict(arch),
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
    parser.add_argument("--model", help="model name (quick mode; default: the checkpoint's)")
    parser.add_argument("--weights", help="checkpoint prefix or .pdparams to evaluate (quick mode)")
    parser.add_argument("--img-size", type=int, help="use the standard resize/crop at this size instead of the "
                        "checkpoint's evaluation transforms")
    parser.add_argument("--class-num", type=int, help="default: the checkpoint's, else the head in --weights")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", default="./output/eval")
    args = parser.parse_args(argv)

    from ppcls_lite.config import load_config, validate_config
    from ppcls_lite.data import build_dataloader, relabel_by_names
    from ppcls_lite.engine.distributed import init_parallel_if_needed
    from ppcls_lite.engine.evaluator import evaluate
    from ppcls_lite.engine.logger import setup_logger
    from ppcls_lite.engine.output_dir import prepare_output_dir
    from ppcls_lite.engine.runtime import configure_runtime
    from ppcls_lite.engine.trained_model import describe_weights, load_for_use
    from ppcls_lite.errors import ConfigError, DataError

    trained = None
    if args.config:
        config = load_config(args.config, args.override, check_paths=PATHS_USED)
        if config["DataLoader"] is None or config["DataLoader"]["Eval"] is None:
            raise ConfigError("DataLoader.Eval: required for evaluation")
    elif args.data and args.weights:
        trained = describe_weights(args.weights, args.model, args.class_num, args.img_size)
        config = validate_config(quick_config(args.data, trained.arch, args.weights, trained.eval_transforms,
                                              args.batch_size, args.image_root, args.output_dir),
                                 check_paths=PATHS_USED)
    else:
        raise ConfigError("give -c CONFIG, or --data and --weights (and --model for weights without a checkpoint)")
    g = config["Global"]
    configure_runtime(g)
    world_size, rank = init_parallel_if_needed()
    prepare_output_dir(g["output_dir"], "--output-dir" if trained else "Global.output_dir")
    logger = setup_logger(g["output_dir"], rank, filename="eval.log")
    loader = build_dataloader(config["DataLoader"]["Eval"], "Eval", seed=int(g.get("seed") or 0),
                              num_replicas=world_size, rank=rank, lockstep=False)  # gathered once at the end
    dataset = loader.dataset
    if trained is not None:
        logger.info("preprocessing: %s", trained.preprocessing)
        if trained.class_names is not None:
            relabel_by_names(dataset, trained.class_names, f"{args.weights} (its label list)")
        model = trained.build()
    else:
        model = load_for_use(config["Arch"], g["pretrained_model"])
    class_num = int(config["Arch"].get("class_num", 1000))
    if dataset.num_classes > class_num:
        key = "--class-num" if trained is not None else "Arch.class_num"
        raise DataError(f"{dataset.source}: has {dataset.num_classes} classes but the model has {class_num} "
                        f"({key})")
    names = list(dataset.class_names) + [str(i) for i in range(dataset.num_classes, class_num)]
    result = evaluate(model, loader, class_num, names, progress=True)
    logger.info("[Eval][Avg]%s", result.summary())
    if rank == 0:
        for path in result.write(g["output_dir"]):
            logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
