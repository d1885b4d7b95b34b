"""Prediction as a workflow: images in, one record per image out.

    for record in ppcls_lite.predict("output/best_model", "path/to/images"):      # a checkpoint, no config
        print(record["file"], record["label_names"][0])
    run = ppcls_lite.predict_config("configs/x.yaml", ["Global.pretrained_model=output/best_model"])
"""
from dataclasses import dataclass, field

from ..arch.distillation import used_arch
from ..arch.registry import model_spec
from ..config import load_config
from ..data.transforms import build_transforms
from ..errors import ConfigError
from .calibration import load_temperature
from .predictor import list_images, predict_files, read_label_names
from .runtime import configure_runtime
from .trained_model import WEIGHT_PATHS, describe_weights, image_shape_of, load_for_use


@dataclass
class Prediction:
    """A prepared run over `paths`: iterate for the records; `skipped` then lists (path, reason) of the images
    left out under on_bad_image='skip'; `preprocessing` says where the transforms came from."""

    model: object
    transform: object
    paths: list
    batch_size: int = 8
    topk: int = 5
    label_names: dict = field(default_factory=dict)
    on_bad_image: str = "error"
    preprocessing: str = ""
    progress: bool = False
    skipped: list = field(default_factory=list)
    temperature: float = 1.0  # the weights' calibration (engine/calibration), 1.0 when they have none
    threshold: float = None  # a multi-label model: sigmoid scores, the labels above it

    def __iter__(self):
        return predict_files(self.model, self.paths, self.transform, self.batch_size, self.topk, self.label_names,
                             progress=self.progress, on_bad_image=self.on_bad_image, skipped=self.skipped,
                             temperature=self.temperature, threshold=self.threshold)


def predict_config(config, overrides=(), *, label_list=None, on_bad_image=None, batch_size=8, topk=5,
                   progress=False):
    """A Prediction from a config's Infer section (infer_imgs, transforms, batch_size, PostProcess, on_bad_image)
    and Global.pretrained_model; the keyword arguments are used where the config leaves them open."""
    if not isinstance(config, dict):
        config = load_config(config, overrides, check_paths=WEIGHT_PATHS)
    g, infer = config["Global"], config.get("Infer") or {}
    post = infer.get("PostProcess") or {}
    if post.get("class_id_map_file"):
        names = read_label_names(post["class_id_map_file"], "Infer.PostProcess.class_id_map_file")
    else:
        names = read_label_names(label_list) if label_list else {}
    configure_runtime(g)
    if not infer.get("infer_imgs"):
        raise ConfigError("Infer.infer_imgs: required (an image file or a folder)")
    paths = list_images(infer["infer_imgs"])
    model = load_for_use(config["Arch"], g["pretrained_model"])
    if infer.get("transforms"):
        ops, source = infer["transforms"], "the config's Infer.transforms"
    else:
        size = image_shape_of(config)[-1]
        name = used_arch(config["Arch"])["name"]
        spec = model_spec(name).at_size(size)
        ops, source = spec.eval_transform_ops(), f"{name}'s at {size}: {spec.describe()}"
    return Prediction(model, build_transforms(ops, where="Infer.transforms"), paths,
                      int(infer.get("batch_size", batch_size)), int(post.get("topk", topk)), names,
                      on_bad_image or infer.get("on_bad_image") or "error", source, progress,
                      temperature=load_temperature(g["pretrained_model"]),
                      threshold=float(post.get("threshold", 0.5)) if g.get("use_multilabel") else None)


def predict(weights, images, *, model=None, class_num=None, img_size=None, topk=5, label_list=None, batch_size=8,
            on_bad_image="error", progress=False, threshold=0.5):
    """A Prediction of the model in `weights` over `images` (a file, a folder or a list), with no config: the
    checkpoint's Arch, class names and evaluation transforms (see trained_model.describe_weights)."""
    configure_runtime({"device": "cpu"})
    paths = list_images(images)
    trained = describe_weights(weights, model, class_num, img_size)
    if label_list:
        names = read_label_names(label_list)
    else:
        names = dict(enumerate(trained.class_names)) if trained.class_names else {}
    return Prediction(trained.build(), build_transforms(trained.eval_transforms, where="Infer.transforms"), paths,
                      batch_size, topk, names, on_bad_image or "error", trained.preprocessing, progress,
                      temperature=load_temperature(weights),
                      threshold=threshold if trained.info.get("multilabel") else None)
