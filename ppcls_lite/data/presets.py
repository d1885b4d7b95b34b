"""Standard transform lists for tools that run without a config."""

from .constants import IMAGENET_MEAN, IMAGENET_STD


def eval_transform_ops(img_size, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """PaddleClas-style eval ops: resize short side to img_size*256/224, center crop img_size, normalise, CHW."""
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": int(round(img_size * 256 / 224))}},
        {"CropImage": {"size": img_size}},
        {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": list(mean), "std": list(std), "order": ""}},
        {"ToCHWImage": None},
    ]
