"""Evaluation as a workflow: a config (or a checkpoint and a data folder) in, reports out.

    ppcls_lite.evaluate_config("configs/resnet50.yaml", ["Global.pretrained_model=output/best_model"])
    ppcls_lite.evaluate_weights("path/to/val", "output/best_model")     # the checkpoint's own preprocessing
"""
import os

from ..config import load_config, validate_config
from ..data import build_dataloader, relabel_by_names
from ..errors import ConfigError, DataError
from .distributed import init_parallel_if_needed
from .amp import resolve_amp
from .calibration import check_writable, save_temperature
from ..data.transforms import five_crop_ops
from .evaluator import MultiViewLoader, Scorer, evaluate
from .multilabel import evaluate_multilabel
from .report import build_report, fit_temperature, write_report
from .logger import setup_logger
from .output_dir import prepare_output_dir
from .runtime import configure_runtime
from .trained_model import WEIGHT_PATHS, describe_weights, load_for_use

# The config keys whose files evaluation reads (the training data need not exist here).
PATHS_USED = WEIGHT_PATHS + ("DataLoader.Eval",)


def evaluate_config(config, overrides=(), *, progress=True, calibrate=None, tta=None):
    """Evaluate Global.pretrained_model on DataLoader.Eval of `config` (a path or a validated dict); log the
    figures, write the reports into Global.output_dir, return the EvalResult. `calibrate` ("ece" or "nll", the
    objective): also fit the temperature that calibrates the scores on this set and record it beside the weights
    (engine/calibration). `tta="flip"`: score each image with its mirror image too."""
    if not isinstance(config, dict):
        config = load_config(config, overrides, check_paths=PATHS_USED)
    if config["DataLoader"] is None or config["DataLoader"]["Eval"] is None:
        raise ConfigError("DataLoader.Eval: required for evaluation")
    return _run(config, None, progress, calibrate, tta)


def evaluate_weights(data, weights, *, model=None, class_num=None, img_size=None, batch_size=64, image_root=None,
                     output_dir="./output/eval", progress=True, calibrate=None, tta=None):
    """Evaluate `weights` on a folder tree or list file with no config: the checkpoint's Arch, class names and
    evaluation transforms (see trained_model.describe_weights); classes of `data` matched to the model's by name."""
    trained = describe_weights(weights, model, class_num, img_size)
    multilabel = bool(trained.info.get("multilabel"))
    if multilabel:
        if os.path.isdir(data):
            raise ConfigError(f"--data: {weights} is a multi-label model; give a multi-label list file (a folder "
                              "tree has one label per image)")
        dataset = {"name": "MultiLabelDataset", "image_root": image_root or os.path.dirname(os.path.abspath(data)),
                   "cls_label_path": data, "transform_ops": trained.eval_transforms}
    elif os.path.isdir(data):
        dataset = {"name": "ImageFolder", "root": data, "transform_ops": trained.eval_transforms}
    else:
        dataset = {"name": "ImageNetDataset", "image_root": image_root or os.path.dirname(os.path.abspath(data)),
                   "cls_label_path": data, "transform_ops": trained.eval_transforms}
    config = validate_config({
        "Global": {"pretrained_model": weights, "output_dir": output_dir, "use_multilabel": multilabel},
        "Arch": dict(trained.arch),
        "DataLoader": {"Eval": {"dataset": dataset,
                                "sampler": {"name": "DistributedBatchSampler", "batch_size": batch_size,
                                            "drop_last": False, "shuffle": False},
                                "loader": {"num_workers": 2, "use_shared_memory": False}}},
    }, check_paths=PATHS_USED)
    return _run(config, trained, progress, calibrate, tta)


def _run(config, trained, progress, calibrate=None, tta=None):
    g = config["Global"]
    device = configure_runtime(g)
    world_size, rank = init_parallel_if_needed()
    prepare_output_dir(g["output_dir"], "--output-dir" if trained else "Global.output_dir")
    logger = setup_logger(g["output_dir"], rank, filename="eval.log")
    eval_sections = [config["DataLoader"]["Eval"]]
    if tta == "five_crop":  # one loader per crop position, in the same order
        ds = eval_sections[0]["dataset"]
        eval_sections = [dict(eval_sections[0], dataset=dict(ds, transform_ops=ops))
                         for ops in five_crop_ops(ds.get("transform_ops"), "DataLoader.Eval.dataset.transform_ops")]
    loaders = [build_dataloader(section, "Eval", seed=int(g.get("seed") or 0), num_replicas=world_size,
                                rank=rank, lockstep=False) for section in eval_sections]  # gathered at the end
    loader = loaders[0] if len(loaders) == 1 else MultiViewLoader(loaders)
    dataset = loader.dataset
    if trained is not None:
        logger.info("preprocessing: %s", trained.preprocessing)
        if trained.class_names is not None and g["use_multilabel"]:
            if list(dataset.class_names) != list(trained.class_names) and dataset.names_from == "label_list":
                raise DataError(f"{dataset.source}: its labels ({', '.join(dataset.class_names[:5])}...) are not "
                                f"{trained.weights}'s ({', '.join(trained.class_names[:5])}...), in that order")
        elif trained.class_names is not None:
            for view in loaders:
                relabel_by_names(view.dataset, trained.class_names, f"{trained.weights} (its label list)")
        model = trained.build()
    else:
        model = load_for_use(config["Arch"], g["pretrained_model"])
    class_num = int(config["Arch"].get("class_num", 1000))
    if dataset.num_classes > class_num:
        key = "--class-num" if trained is not None else "Arch.class_num"
        raise DataError(f"{dataset.source}: has {dataset.num_classes} classes but the model has {class_num} "
                        f"({key})")
    names = list(dataset.class_names) + [str(i) for i in range(dataset.num_classes, class_num)]
    amp = resolve_amp(config.get("AMP"), device.name) if trained is None else None
    scorer = Scorer.from_config(config, amp) if trained is None else Scorer.default(g["use_multilabel"])
    if calibrate not in (None, "ece", "nll"):
        raise ConfigError(f"--calibrate: ece or nll (the objective), got {calibrate!r}")
    if g["use_multilabel"]:
        if dataset.num_classes != class_num:
            raise DataError(f"{dataset.source}: {dataset.num_classes} labels per line but the model has {class_num} "
                            "outputs")
        if calibrate:
            raise ConfigError("--calibrate: temperature scaling calibrates a softmax; a multi-label model scores "
                              "each label with its own sigmoid")
        return _run_multilabel(model, loader, class_num, names, progress, scorer, tta, g, rank, logger)
    if calibrate:
        check_writable(g["pretrained_model"], "--weights" if trained else "Global.pretrained_model")
    result = evaluate(model, loader, class_num, names, progress=progress, scorer=scorer,
                      keep_logits=bool(calibrate), tta=tta)
    logger.info("[Eval][Avg]%s", result.summary())
    temperature = fit_temperature(result.samples["logits"], result.samples["label"], calibrate) \
        if calibrate else None
    result.report = build_report(result, paths=lambda i: dataset.samples[i][0], temperature=temperature,
                                 objective=calibrate)
    if rank == 0:
        for path in result.write(g["output_dir"]) + tuple(write_report(g["output_dir"], result.report)):
            logger.info("wrote %s", path)
        logger.info("macro F1 %.5f; expected calibration error %.5f", result.report["averages"]["macro"]["f1"],
                    result.report["calibration"]["ece"])
        if calibrate:
            cal = result.report["calibration"]
            path = save_temperature(g["pretrained_model"], temperature, objective=calibrate, ece_before=cal["ece"],
                                    ece_after=cal["ece_after"], ece_after_cross_fitted=cal["ece_after_cross_fitted"],
                                    fitted_on=dataset.source, samples=result.num_samples, tta=tta)
            logger.info("temperature %.4f (%s): expected calibration error %.5f -> %.5f (cross-fitted %s); "
                        "recorded in %s", temperature, calibrate, cal["ece"], cal["ece_after"],
                        "n/a" if cal["ece_after_cross_fitted"] is None else f"{cal['ece_after_cross_fitted']:.5f}",
                        path)
    return result


def _run_multilabel(model, loader, class_num, names, progress, scorer, tta, g, rank, logger):
    """The multi-label evaluation of `_run`: metrics, mAP and the per-label report."""
    result = evaluate_multilabel(model, loader, class_num, names, progress=progress, scorer=scorer, tta=tta)
    logger.info("[Eval][Avg]%s", result.summary())
    if rank == 0:
        written = list(result.write(g["output_dir"]))
        written.append(os.path.join(g["output_dir"], "eval_report.md"))
        with open(written[-1], "w", encoding="utf-8") as f:
            f.write(result.markdown())
        for path in written:
            logger.info("wrote %s", path)
    return result
