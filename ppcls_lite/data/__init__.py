"""Data pipeline: datasets (list file, folder tree), transform ops, batch ops, sampler and loader builder."""
from .batch_ops import BATCH_OPS, CutmixOperator, MixupOperator, OpSampler, build_batch_ops
from .datasets import (DATASETS, IMG_EXTENSIONS, ImageFolder, ImageNetDataset, Sample, SampleKey, SkippedSample,
                       check_same_classes, read_and_transform, relabel_by_names)
from .multilabel import MultiLabelDataset
from .loader import ClsDataLoader, Collate, ResumableBatchSampler, build_dataloader
from .rng import batch_rng, sample_rng
from .image_io import ImageDecodeError, decode_image
from .transforms import TRANSFORMS, Compose, build_transforms, parse_number

DATASETS.register(MultiLabelDataset)

__all__ = [
    "DATASETS", "TRANSFORMS", "BATCH_OPS", "ImageNetDataset", "ImageFolder", "MultiLabelDataset", "check_same_classes",
    "build_dataloader", "ResumableBatchSampler", "ClsDataLoader", "Collate", "build_transforms", "build_batch_ops",
    "Compose", "decode_image", "parse_number", "sample_rng", "batch_rng", "Sample", "SampleKey", "SkippedSample",
    "MixupOperator", "CutmixOperator", "OpSampler", "IMG_EXTENSIONS", "ImageDecodeError", "read_and_transform",
    "relabel_by_names",
]
