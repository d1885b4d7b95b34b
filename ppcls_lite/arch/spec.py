"""What each model variant expects of its input and where PaddleClas publishes its weights.

A family module declares its variants as one table of `Variant` rows (constructor kwargs, `ModelSpec`, which
PaddleClas weights exist); `registry.register_variants` turns each row into a factory and a bound spec, so a
variant name is written once. The spec's numbers are those of PaddleClas 2.6's own ImageNet config of the
variant (DataLoader.Eval: ResizeImage resize_short, CropImage size, NormalizeImage mean/std); its URLs those of
the backbone's MODEL_URLS, and the SSLD / 22k->1k files its model-zoo tables list.
"""
from dataclasses import dataclass, field, replace

from ..data.constants import IMAGENET_MEAN, IMAGENET_STD

WEIGHTS_HOST = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
# kind of published weights -> what PaddleClas puts before "_pretrained.pdparams" after the variant's name
WEIGHT_SUFFIXES = {"standard": "", "ssld": "_ssld", "22kto1k": "_22kto1k", "dbb": "_dbb"}


@dataclass(frozen=True)
class ModelSpec:
    """Input and weights of one variant: eval resize (short side) / centre crop, interpolation, mean/std, and
    {kind: url} of its published PaddleClas weights (`default_weights` is what `pretrained: True` loads)."""

    input_size: int = 224
    resize_short: int = 256
    interpolation: str = None  # None: the backend's default (cv2: bilinear), as PaddleClas's ResizeImage
    backend: str = "cv2"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    weights: dict = field(default_factory=dict)
    default_weights: str = "standard"

    def at_size(self, input_size):
        """The same preprocessing for another input size (the resize keeps its ratio to the crop)."""
        size = int(input_size)
        return replace(self, input_size=size, resize_short=int(round(size * self.resize_short / self.input_size)))

    def eval_transform_ops(self):
        """PaddleClas-style eval ops: decode, resize short side, centre crop, normalise, CHW."""
        resize = {"resize_short": self.resize_short}
        if self.interpolation is not None:
            resize["interpolation"] = self.interpolation
        if self.backend != "cv2":
            resize["backend"] = self.backend
        return [
            {"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"ResizeImage": resize},
            {"CropImage": {"size": self.input_size}},
            {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": list(self.mean), "std": list(self.std), "order": ""}},
            {"ToCHWImage": None},
        ]

    def describe(self):
        """One line for logs: 'resize 256 / crop 224, bilinear (cv2), mean [...] std [...]'."""
        interpolation = self.interpolation or ("bilinear" if self.backend == "cv2" else "bicubic")
        return (f"resize {self.resize_short} / crop {self.input_size}, {interpolation} ({self.backend}), "
                f"mean {list(self.mean)} std {list(self.std)}")

    def weight_url(self, kind=None):
        """URL of the published weights of `kind` (default: `default_weights`); ValueError naming what exists."""
        kind = kind or self.default_weights
        if kind not in self.weights:
            published = ", ".join(sorted(self.weights)) or "none"
            raise ValueError(f"no {kind} weights are published for this variant (published: {published})")
        return self.weights[kind]


@dataclass(frozen=True)
class Variant:
    """One row of a family table: the constructor kwargs of the variant, its spec, and the kinds of PaddleClas
    weights published for it (`weights_name`: PaddleClas's file name when it is not the variant's)."""

    kwargs: dict
    spec: ModelSpec = ModelSpec()
    published: tuple = ("standard",)
    weights_name: str = None

    def bound_spec(self, name, weights_folder=""):
        """The spec with the URLs of the weights published for the variant `name` (under WEIGHTS_HOST +
        `weights_folder`)."""
        stem = WEIGHTS_HOST + weights_folder + (self.weights_name or name)
        urls = {kind: f"{stem}{WEIGHT_SUFFIXES[kind]}_pretrained.pdparams" for kind in self.published}
        default = self.spec.default_weights if self.spec.default_weights in urls else next(iter(urls), "standard")
        return replace(self.spec, weights=urls, default_weights=default)
