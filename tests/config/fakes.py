"""Small stand-in registries for the config tests: name -> class whose signature is what validation reads.

They mirror the PaddleClas parameter names the shipped configs use, so the config tests do not depend on the
data / loss / metric / optim / arch modules (one test in test_shipped_configs.py uses the real ones).
"""


class DecodeImage:
    def __init__(self, to_rgb=True, channel_first=False):
        pass


class RandCropImage:
    def __init__(self, size, scale=None, ratio=None, interpolation=None, backend="cv2"):
        pass


class RandFlipImage:
    def __init__(self, flip_code=1):
        pass


class ResizeImage:
    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2"):
        pass


class CropImage:
    def __init__(self, size):
        pass


class NormalizeImage:
    def __init__(self, scale=None, mean=None, std=None, order="chw"):
        pass


class ToCHWImage:
    def __init__(self):
        pass


class TimmAutoAugment:
    def __init__(self, config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic", img_size=224):
        pass


class RandomErasing:
    def __init__(self, EPSILON=0.5, sl=0.02, sh=0.4, r1=0.3, attempt=100, use_log_aspect=False, mode="const"):
        pass


class MixupOperator:
    def __init__(self, class_num=0, alpha=1.0):
        pass


class CutmixOperator:
    def __init__(self, class_num=0, alpha=0.2):
        pass


class OpSampler:
    def __init__(self, class_num=0, **ops):
        pass


class ImageNetDataset:
    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter=" ", on_bad_image="error"):
        pass


class ImageFolder:
    def __init__(self, root, transform_ops=None, on_bad_image="error"):
        pass


class CELoss:
    def __init__(self, epsilon=None):
        pass


class TopkAcc:
    def __init__(self, topk=(1, 5)):
        pass


class Momentum:
    def __init__(self, learning_rate, parameters=None, momentum=0.9, use_nesterov=False, regularizer=None,
                 weight_decay=None, clip_norm=None, multi_precision=True):
        pass


class AdamW:
    def __init__(self, learning_rate, parameters=None, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.05,
                 no_weight_decay_name="", one_dim_param_no_weight_decay=False, clip_norm=None):
        pass


class Cosine:
    def __init__(self, epochs, step_each_epoch, learning_rate, eta_min=0.0, warmup_epoch=0, warmup_start_lr=0.0,
                 last_epoch=-1, by_epoch=False):
        pass


class Piecewise:
    def __init__(self, epochs, step_each_epoch, decay_epochs=None, values=None, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1, by_epoch=False, learning_rate=None):
        pass


class Step:
    def __init__(self, epochs, step_each_epoch, learning_rate, step_size, gamma, warmup_epoch=0):
        pass


def _model():
    def factory(class_num=1000, **kwargs):  # like the real `**kwargs` factories: parameters unknown
        return None

    return factory


def _tiny_model(class_num=1000, drop_path_rate=0.0, layer_scale_init_value=1e-6, head_init_scale=1.0):
    return None


def _vit_model(class_num=1000, drop_path_rate=0.0, use_fused_attn=False):
    return None


MODELS = {name: _model() for name in (
    "ResNet18", "ResNet50", "ResNeXt50_32x4d", "Res2Net50_26w_4s", "SwinTransformer_tiny_patch4_window7_224")}
MODELS["ConvNeXt_tiny"] = _tiny_model
MODELS["ViT_base_patch16_224"] = _vit_model


def _table(*classes):
    return {cls.__name__: cls for cls in classes}


REGISTRIES = {
    "models": MODELS,
    "transforms": _table(DecodeImage, RandCropImage, RandFlipImage, ResizeImage, CropImage, NormalizeImage,
                         ToCHWImage, TimmAutoAugment, RandomErasing),
    "batch_ops": _table(MixupOperator, CutmixOperator, OpSampler),
    "datasets": _table(ImageNetDataset, ImageFolder),
    "losses": _table(CELoss),
    "metrics": _table(TopkAcc),
    "optimizers": _table(Momentum, AdamW),
    "lr_schedules": _table(Cosine, Piecewise, Step),
}
