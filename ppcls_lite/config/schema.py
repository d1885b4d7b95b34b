"""The fixed part of the schema: every key of the non-component sections, with type, default and meaning.

Sections made of named components (transform ops, batch ops, datasets, losses, metrics, optimizers, LR
schedules, models) are checked against their registries instead (see components.py). docs/config.md mirrors
these tables; tests/config/test_docs.py keeps the two in step.
"""
from dataclasses import dataclass

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One config key: its type spec (checks.check_type), default (REQUIRED: must be given) and rules."""

    spec: str
    default: object = REQUIRED
    doc: str = ""
    choices: tuple = ()
    minimum: float = None
    above: float = None  # exclusive minimum
    length: int = None
    path: str = None  # "file", "dir" or "weights": checked to exist when check_paths is on
    keywords: tuple = ()  # values that are not paths (Global.checkpoints: auto)

    @property
    def required(self):
        return self.default is REQUIRED


GLOBAL = {
    "checkpoints": Field("str|null", None, "checkpoint prefix to resume from (with or without .pdparams); auto: "
                         "output_dir/latest when it exists, else start fresh (rerun the same command after a "
                         "kill or preemption)", path="weights", keywords=("auto",)),
    "pretrained_model": Field("str|null", None, "weights to start from: a .pdparams path, with or without "
                              "the suffix, or an http(s) URL (downloaded once into the cache)", path="weights"),
    "output_dir": Field("str", "./output/", "where logs, checkpoints and the VisualDL log go"),
    "device": Field("str", "gpu", "cpu or gpu; gpu falls back to cpu (with a warning) when Paddle has no CUDA; "
                    "xpu/npu/mlu are accepted and run on cpu", choices=("cpu", "gpu", "xpu", "npu", "mlu")),
    "save_interval": Field("int", 1, "save a checkpoint every N epochs", minimum=1),
    "eval_during_train": Field("bool", True, "evaluate on DataLoader.Eval while training"),
    "eval_interval": Field("int", 1, "evaluate every N epochs", minimum=1),
    "start_eval_epoch": Field("int", 0, "evaluate only from this epoch on (as PaddleClas)", minimum=0),
    "epochs": Field("int|null", None, "number of training epochs; required to train, not to evaluate, export "
                    "or infer", minimum=1),
    "print_batch_step": Field("int", 10, "log a training line every N iterations", minimum=1),
    "use_visualdl": Field("bool", True, "write VisualDL scalars, sample images and the config under output_dir/vdl"),
    "visualdl_curves": Field("int", 10, "VisualDL at each evaluation: PR and ROC curves of the first N classes, "
                             "the confusion matrix and the most confidently wrong images (0: scalars only)",
                             minimum=0),
    "visualdl_histograms": Field("bool", False, "VisualDL at each evaluation: histograms of the weights"),
    "image_channel": Field("int|null", None, "channels of the model's input (PaddleClas's ultra configs: 4); "
                           "must agree with image_shape[0]; with image_shape null, its first entry", minimum=1),
    "image_shape": Field("list[int]|null", None, "C, H, W of the exported model's input; null: 3 x the model's "
                         "input size (its ModelSpec: 224, or 384 for the _384 variants)", length=3),
    "save_inference_dir": Field("str", "./inference", "where tools/export_model.py writes"),
    "to_static": Field("bool", False, "train the model under paddle.jit.to_static"),
    "seed": Field("int|null", None, "seed of every random draw (data order, augmentation, dropout; per rank); null: 0"),
    "eval_mode": Field("str", "classification", "only classification is supported", choices=("classification",)),
    "use_dali": Field("bool", False, "PaddleClas's NVIDIA DALI loader: ppcls_lite has none, so true logs one "
                      "warning and the data goes through the Paddle DataLoader"),
    "use_multilabel": Field("bool", False, "multi-label classification: 0/1 label vectors (MultiLabelDataset), "
                            "sigmoid scores; evaluation logs mAP and per-label precision / recall"),
    "update_freq": Field("int", 1, "gradient accumulation: optimizer step every N iterations", minimum=1),
    "class_num": Field("int|null", None, "deprecated in PaddleClas: copied to Arch.class_num when that is "
                       "absent", minimum=1),
    # ppcls_lite extensions
    "max_checkpoints": Field("int|null", None, "keep only the newest N epoch checkpoints; null: keep all",
                             minimum=1),
    "latest_interval_steps": Field("int", 0, "also write the 'latest' checkpoint every N optimizer steps (0: at "
                                   "epoch ends only; a SIGTERM/SIGINT writes it too)", minimum=0),
    "skip_nan_steps": Field("int", 0, "skip up to N iterations whose loss is NaN/Inf before stopping", minimum=0),
    "num_threads": Field("int", 0, "CPU threads for Paddle; 0: all cores", minimum=0),
    "use_fused_attn": Field("bool|null", None, "true: attention through paddle's fused "
                            "scaled_dot_product_attention; false: PaddleClas's explicit softmax(QK^T)V; null: the "
                            "model's default. Set as Arch.use_fused_attn for models that take it (ViT, Swin) "
                            "unless Arch sets it"),
}

ARCH = {
    "name": Field("str", REQUIRED, "registered model name (ppcls_lite.list_models())"),
    "class_num": Field("int", 1000, "number of classes of the head (0: no head)", minimum=0),
    "pretrained": Field("bool|str|null", False, "true: the variant's published PaddleClas weights (downloaded "
                        "once into the cache); a .pdparams path or URL: those; moved to Global.pretrained_model "
                        "(which must then be null)", path="weights"),
    "use_ssld": Field("bool", False, "with pretrained: true, the SSLD-distilled weights (where PaddleClas "
                      "publishes them)"),
    "use_sync_bn": Field("bool", False, "convert BatchNorm to SyncBatchNorm when training on several devices"),
    "frozen_stages": Field("int", 0, "fine-tuning: freeze the stem and the first N stages (ViT: blocks); their "
                           "BatchNorm statistics stay as loaded", minimum=0),
    "head_lr_mult": Field("float", 1.0, "fine-tuning: the head's learning rate is this times the schedule's",
                          minimum=0),
    "frozen_params": Field("list[str]", [], "fine-tuning: freeze the parameters whose names match these fnmatch "
                           "patterns (e.g. 'blocks.0.*')"),
}

# Arch of PaddleClas's DistillationModel: these keys, and each member of `models` an Arch section of its own
# (ARCH and the model's parameters; its `pretrained` stays with it).
DISTILLATION_ARCH = {
    "name": Field("str", REQUIRED, "DistillationModel"),
    "models": Field("list", REQUIRED, "the members, in order: [{Teacher: {name: ResNet34, pretrained: true}}, "
                    "{Student: {name: ResNet18}}]; their outputs reach the losses as {member name: logits}"),
    "freeze_params_list": Field("list[bool]|null", None, "per member: true freezes it (no gradient, eval mode, "
                                "not in checkpoints); null: none frozen"),
    "pretrained_list": Field("list|null", None, "per member: a .pdparams path or URL to load into it, or null"),
    "infer_model_name": Field("str|null", None, "the member that evaluation, export and inference use; null: the "
                              "one member not frozen"),
    "class_num": Field("int|null", None, "classes of every member that does not set its own (all must agree)",
                       minimum=1),
    "use_sync_bn": Field("bool", False, "convert BatchNorm to SyncBatchNorm when training on several devices"),
}

AMP = {
    "use_amp": Field("bool", True, "switch; the section also counts as off when absent or null"),
    "scale_loss": Field("float", 1.0, "initial loss scale (fp16)", above=0),
    "use_dynamic_loss_scaling": Field("bool", False, "adapt the loss scale when gradients overflow"),
    "level": Field("str", "O1", "O1: mixed precision per op; O2: half-precision weights (either case, as "
                   "PaddleClas reads it)", choices=("O1", "O2", "o1", "o2")),
    "dtype": Field("str", "fp16", "half type", choices=("fp16", "bf16", "float16", "bfloat16")),
    "use_fp16_test": Field("bool", False, "evaluate in half precision too"),
    "use_promote": Field("bool", False, "let ops with mixed inputs promote to float32 (paddle.amp.auto_cast)"),
}

EMA = {
    "decay": Field("float", 0.9999, "weight of the running average per step", minimum=0),
}

# Builder-level keys of the Optimizer section; every other key is a parameter of the optimizer named (checked
# against its signature). regularizer and clip_norm are typed here but never filled in.
OPTIMIZER = {
    "name": Field("str", REQUIRED, "registered optimizer (Momentum, AdamW, AdamWDL)"),
    "lr": Field("dict", REQUIRED, "the learning-rate schedule: {name: Cosine|Piecewise|Step|..., ...}"),
    "regularizer": Field("dict|null", None, "Momentum: {name: L2|L1, coeff: float}, weight decay as a "
                         "regularizer"),
    "clip_norm": Field("float|null", None, "clip gradients to this global norm", minimum=0),
}

REGULARIZER = {
    "name": Field("str", REQUIRED, "L2 or L1", choices=("L2", "L1")),
    "coeff": Field("float", REQUIRED, "regularization coefficient", minimum=0),
}

LR = {
    "name": Field("str", REQUIRED, "registered schedule (Cosine, Piecewise, Step, ...)"),
}

DATALOADER_SPLIT = {
    "dataset": Field("dict", REQUIRED, "{name: ImageNetDataset|ImageFolder, ...}"),
    "sampler": Field("dict", REQUIRED, "batching: {name, batch_size, drop_last, shuffle}"),
    "loader": Field("dict", {}, "worker settings: {num_workers, use_shared_memory}"),
}

# Keys of DataLoader.<split>.dataset that this module checks itself (type, choices, paths) before the rest
# is checked against the dataset class's signature. Nothing here is filled in: a dataset's defaults and its
# required arguments are those of its class (ImageNetDataset needs image_root and cls_label_path, ImageFolder
# needs root); the defaults shown are the dataset classes' own.
DATASET = {
    "name": Field("str", REQUIRED, "registered dataset (ImageNetDataset: list file; ImageFolder: class-per-folder "
                  "tree)"),
    "transform_ops": Field("list|null", None, "per-image transform ops, in order"),
    "batch_transform_ops": Field("list|null", None, "per-batch ops (MixupOperator, CutmixOperator, OpSampler, "
                                 "...); not passed to the dataset"),
    "on_bad_image": Field("str", "error", "an unreadable image stops with an error, or is skipped (and counted)",
                          choices=("error", "skip")),
    "image_root": Field("str", None, "ImageNetDataset: folder the list file's paths are relative to", path="dir"),
    "cls_label_path": Field("str", None, "ImageNetDataset: list file, one 'relative/path.jpg label' a line",
                            path="file"),
    "root": Field("str", None, "ImageFolder: folder with one sub-folder of images per class", path="dir"),
}

SAMPLER = {
    "name": Field("str", "DistributedBatchSampler", "DistributedBatchSampler (shards across ranks) or "
                  "BatchSampler", choices=("DistributedBatchSampler", "BatchSampler")),
    "batch_size": Field("int", REQUIRED, "images per batch and device", minimum=1),
    "drop_last": Field("bool", False, "drop the last incomplete batch"),
    "shuffle": Field("bool", False, "shuffle every epoch"),
    "balance": Field("str|null", None, "class imbalance: 'class' draws each epoch's samples (as many as the dataset "
                     "holds, with replacement) so that every class is equally likely", choices=("class",)),
}

LOADER = {
    "num_workers": Field("int", 0, "worker processes decoding images (0: in the main process)", minimum=0),
    "use_shared_memory": Field("bool", True, "pass batches from workers through shared memory"),
}

INFER = {
    "infer_imgs": Field("str|list[str]|null", None, "an image, a folder or a list of images for tools/infer.py "
                        "(checked when inferring, not when loading)"),
    "batch_size": Field("int", 1, "images per inference batch", minimum=1),
    "transforms": Field("list", [], "transform ops, in order"),
    "PostProcess": Field("dict|null", None, "{name: Topk, topk, class_id_map_file, delimiter}"),
    # ppcls_lite extension
    "on_bad_image": Field("str", "error", "tools/infer.py: an undecodable image stops with an error (after the "
                          "results of the images before it), or is skipped and listed", choices=("error", "skip")),
}

POSTPROCESS = {
    "name": Field("str", "Topk", "Topk: the k best classes with their scores; MultiLabelThreshOutput (multi-label): "
                  "every label whose sigmoid score exceeds threshold", choices=("Topk", "MultiLabelThreshOutput")),
    "topk": Field("int", 5, "Topk: how many classes to report", minimum=1),
    "threshold": Field("float", 0.5, "MultiLabelThreshOutput: the score a label must exceed", above=0),
    "class_id_map_file": Field("str|null", None, "'index name' per line, to print class names"),
    "delimiter": Field("str|null", None, "separator in class_id_map_file (null: whitespace)"),
}

SPLITS = {
    "Train": Field("list|null", [], "training entries; absent, null or []: none, as in PaddleClas (a loss is "
                   "required to train)"),
    "Eval": Field("list|null", [], "evaluation entries; absent, null or []: none, as in PaddleClas"),
}

# Top-level sections; absent optional ones come back as None (Loss and Metric as empty lists).
SECTIONS = ("Global", "Arch", "Loss", "Optimizer", "DataLoader", "Metric", "Infer", "AMP", "EMA")
REQUIRED_SECTIONS = ("Global", "Arch")
