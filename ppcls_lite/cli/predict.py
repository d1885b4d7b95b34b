"""ppcls-predict / tools/predict.py: top-k classes of images from an exported folder alone, as JSON lines."""
import argparse

from . import print_records, user_errors_exit

USAGE = """Predict with an exported model folder (tools/export_model.py writes it, with its inference.yml).

    ppcls-predict --model-dir output/inference --images photos/            # onnxruntime if exported, else Paddle
    ppcls-predict --model-dir output/inference --images list.txt --precision bf16
    ppcls-predict --model-dir output/inference --images a.jpg --backend onnxruntime [--precision int8]

Preprocessing and label names come from the folder's inference.yml. One JSON line per image; an image that
cannot be decoded stops the run naming it (--on-bad-image error), or is written as {"file", "error"} and
listed at the end (--on-bad-image skip)."""


@user_errors_exit
def main(argv=None):
    """Parse the arguments, print one JSON line per image; the exit code."""
    import sys

    from ..deploy.backends import BACKENDS, DEVICES, PRECISIONS

    parser = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="the exported folder (inference.yml beside the model)")
    parser.add_argument("--images", required=True, nargs="+", help="image files, folders or .txt lists of paths")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto (default): onnxruntime where the folder has inference.onnx (int8: "
                             "inference_int8.onnx) and onnxruntime is installed, else paddle (also for bf16)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="CPU: fp32, bf16 (paddle, on CPUs with AVX-512-BF16 / AMX), int8 (onnxruntime); "
                             "GPU: fp32, fp16")
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--tensorrt", action="store_true", help="GPU: run through TensorRT (Paddle Inference)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the backend and the decoding "
                        "(default: all cores)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--topk", type=int, help="default: the folder's PostProcess.Topk.topk")
    parser.add_argument("--on-bad-image", choices=("error", "skip"), default="error")
    parser.add_argument("--tta", choices=("flip", "five_crop"), help="test-time augmentation, averaging the "
                        "outputs: flip (each image and its mirror image) or five_crop (the CropImage at the centre "
                        "and the four corners)")
    parser.add_argument("--progress", action="store_true", help="a progress line on stderr (default: on a tty)")
    args = parser.parse_args(argv)
    from ..deploy.predict import BundlePredictor

    predictor = BundlePredictor(args.model_dir, args.images, backend=args.backend, precision=args.precision,
                                device=args.device, threads=args.threads, batch_size=args.batch_size,
                                topk=args.topk, on_bad_image=args.on_bad_image,
                                progress=args.progress or sys.stderr.isatty(), tensorrt=args.tensorrt,
                                tta=args.tta)
    print(f"backend: {predictor.run.name} ({args.precision}, {args.device})", file=sys.stderr)
    print_records(predictor, predictor.skipped, "")
    return 0
