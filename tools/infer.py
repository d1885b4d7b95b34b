"""Predict top-k classes of an image or a folder of images, as JSON lines.

    python tools/infer.py -c CONFIG -o Global.pretrained_model=output/best_model -o Infer.infer_imgs=IMG_OR_DIR
    python tools/infer.py --model ResNet50 --weights ResNet50.pdparams --images IMG_OR_DIR [--class-num N]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, user_errors_exit  # noqa: E402

@user_errors_exit
def main(argv=None):
    parser = config_arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--images", help="an image file or a folder (quick mode)")
    parser.add_argument("--model", help="model name (quick mode)")
    parser.add_argument("--weights", help=".pdparams (quick mode)")
    parser.add_argument("--class-num", type=int, default=1000)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--label-list", help="'<id> <name>' lines for label names")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    from ppcls_lite.arch.pretrained import load_pretrained
    from ppcls_lite.config import load_config
    from ppcls_lite.data.presets import eval_transform_ops
    from ppcls_lite.data.transforms import build_transforms
    from ppcls_lite.engine.predictor import list_images, predict_files, read_label_names
    from ppcls_lite.engine.runtime import configure_runtime
    from ppcls_lite.engine.trainer import build_arch
    from ppcls_lite.errors import ConfigError

    if args.config:
        config = load_config(args.config, args.override)
        g, infer = config["Global"], config.get("Infer") or {}
        arch, weights = config["Arch"], g.get("pretrained_model")
        images = infer.get("infer_imgs")
        ops = infer.get("transforms") or eval_transform_ops(int(g["image_shape"][-1]))
        post = infer.get("PostProcess") or {}
        topk = int(post.get("topk", args.topk))
        label_file = post.get("class_id_map_file") or args.label_list
        batch_size = int(infer.get("batch_size", args.batch_size))
        configure_runtime(g)
    elif args.images and args.model and args.weights:
        arch, weights, images = {"name": args.model, "class_num": args.class_num}, args.weights, args.images
        ops, topk, label_file, batch_size = eval_transform_ops(args.img_size), args.topk, args.label_list, args.batch_size
        configure_runtime({"device": "cpu"})
    else:
        raise ConfigError("give -c CONFIG, or all of --images, --model and --weights")
    if not weights:
        raise ConfigError("Global.pretrained_model: required for inference")
    if not images:
        raise ConfigError("Infer.infer_imgs: required (an image file or a folder)")
    model = build_arch(arch)
    load_pretrained(model, weights)
    transform = build_transforms(ops, where="Infer.transforms")
    names = read_label_names(label_file) if label_file else {}
    for record in predict_files(model, list_images(images), transform, batch_size, topk, names,
                                progress=sys.stderr.isatty()):
        print(json.dumps(record, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
