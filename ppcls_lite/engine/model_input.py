"""A loader batch as the model takes it: the data pipeline always yields NCHW images (the dataset transposes an
HWC result, as PaddleClas's does), in the dtype NormalizeImage made."""
import paddle


def model_input(images, model):
    """`images` [N, C, H, W] for `model`: channels-last for a data_format NHWC model (PaddleClas's NHWC ResNets
    take NCHW and transpose inside; ours take NHWC), and float32 for half-precision images (NormalizeImage
    output_fp16, as its AMP O2 configs write) when the model's weights are float32 (AMP off here, or O1)."""
    if getattr(model, "data_format", "NCHW") == "NHWC" and images.ndim == 4:
        images = images.transpose([0, 2, 3, 1])
    if images.dtype in (paddle.float16, paddle.bfloat16):
        first = next(iter(model.parameters()), None)
        if first is not None and first.dtype == paddle.float32:
            images = images.astype("float32")
    return images
