"""Predict top-k classes of an image or a folder of images, as JSON lines.

    python tools/infer.py -c CONFIG -o Global.pretrained_model=output/best_model -o Infer.infer_imgs=IMG_OR_DIR
    python tools/infer.py --weights output/best_model --images IMG_OR_DIR           # a ppcls_lite checkpoint
    python tools/infer.py --model ResNet50 --weights ResNet50.pdparams --images IMG_OR_DIR [--class-num N]

Quick mode uses a ppcls_lite checkpoint's own evaluation transforms and class names (from its .pdstates).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_lite.cli import config_arg_parser, user_errors_exit  # noqa: E402

# The config keys whose files inference reads (the training data need not exist here).
PATHS_USED = ("Global.pretrained_model", "Arch.pretrained")


@user_errors_exit
def main(argv=None):
    parser = config_arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--images", help="an image file or a folder (quick mode)")
    parser.add_argument("--model", help="model name (quick mode; default: the checkpoint's)")
    parser.add_argument("--weights", help="checkpoint prefix or .pdparams (quick mode)")
    parser.add_argument("--class-num", type=int, help="default: the checkpoint's, else the head in --weights")
    parser.add_argument("--img-size", type=int, help="use the standard resize/crop at this size instead of the "
                        "checkpoint's evaluation transforms")
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--label-list", help="'<id> <name>' lines for label names (default: the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--on-bad-image", choices=("error", "skip"),
                        help="an undecodable image stops with an error (default), or is skipped and listed")
    args = parser.parse_args(argv)

    from ppcls_lite.config import load_config
    from ppcls_lite.data.presets import eval_transform_ops
    from ppcls_lite.data.transforms import build_transforms
    from ppcls_lite.engine.predictor import list_images, predict_files, read_label_names
    from ppcls_lite.engine.runtime import configure_runtime
    from ppcls_lite.engine.trained_model import describe_weights, load_for_use
    from ppcls_lite.errors import ConfigError

    names = {}
    if args.config:
        config = load_config(args.config, args.override, check_paths=PATHS_USED)
        g, infer = config["Global"], config.get("Infer") or {}
        images = infer.get("infer_imgs")
        ops = infer.get("transforms") or eval_transform_ops(int(g["image_shape"][-1]))
        post = infer.get("PostProcess") or {}
        topk = int(post.get("topk", args.topk))
        if post.get("class_id_map_file"):
            names = read_label_names(post["class_id_map_file"], "Infer.PostProcess.class_id_map_file")
        elif args.label_list:
            names = read_label_names(args.label_list)
        batch_size = int(infer.get("batch_size", args.batch_size))
        on_bad_image = args.on_bad_image or infer.get("on_bad_image") or "error"
        configure_runtime(g)
        if not images:
            raise ConfigError("Infer.infer_imgs: required (an image file or a folder)")
        paths = list_images(images)
        model = load_for_use(config["Arch"], g["pretrained_model"])
    elif args.images and args.weights:
        configure_runtime({"device": "cpu"})
        paths = list_images(args.images)
        trained = describe_weights(args.weights, args.model, args.class_num, args.img_size)
        model, ops, topk, batch_size = trained.build(), trained.eval_transforms, args.topk, args.batch_size
        if args.label_list:
            names = read_label_names(args.label_list)
        elif trained.class_names:
            names = dict(enumerate(trained.class_names))
        on_bad_image = args.on_bad_image or "error"
        print(f"preprocessing: {trained.preprocessing}", file=sys.stderr)
    else:
        raise ConfigError("give -c CONFIG, or --images and --weights (and --model for weights without a "
                          "checkpoint)")
    transform = build_transforms(ops, where="Infer.transforms")
    skipped = []
    for record in predict_files(model, paths, transform, batch_size, topk, names, progress=sys.stderr.isatty(),
                                on_bad_image=on_bad_image, skipped=skipped):
        print(json.dumps(record, ensure_ascii=False), flush=True)
    if skipped:
        print(f"skipped {len(skipped)} undecodable image(s) (on_bad_image: skip): "
              + "; ".join(reason for _, reason in skipped), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
