"""Standard transform lists for tools that run without a config."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def eval_transform_ops(img_size, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """PaddleClas-style eval ops: resize short side to img_size*256/224, center crop img_size, normalise, CHW."""
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": int(round(img_size * 256 / 224))}},
        {"CropImage": {"size": img_size}},
        {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": list(mean), "std": list(std), "order": ""}},
        {"ToCHWImage": None},
    ]
