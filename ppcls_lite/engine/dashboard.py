"""What an evaluation puts on the VisualDL dashboard beside its scalars (Global.visualdl_curves): per-class PR
and ROC curves, the confusion matrix as an image, a grid of the most confidently wrong validation images with
their labels, and (Global.visualdl_histograms) weight histograms; `log_hparams` fills VisualDL's hparams view."""
import numpy as np
from PIL import Image, ImageDraw

from ..data.image_io import decode_image
from .report import confident_mistakes

CELL = 14  # pixels per confusion-matrix cell
MAX_MATRIX = 60  # classes beyond this are not drawn (the CSV has them)
TILE = 96  # pixels per mistake thumbnail


def confusion_image(confusion, names):
    """Row-normalised confusion matrix as an HWC uint8 heat map (true class down, predicted across), with the
    class names along the left edge."""
    confusion = np.asarray(confusion, dtype="float64")
    n = len(confusion)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    label_width = 8 + 6 * max(len(str(name)[:14]) for name in names)
    img = Image.new("RGB", (label_width + n * CELL + 1, n * CELL + 1), "white")
    draw = ImageDraw.Draw(img)
    for i in range(n):
        draw.text((2, i * CELL + 1), str(names[i])[:14], fill=(0, 0, 0))
        for j in range(n):
            shade = int(255 * (1 - rates[i, j]))
            colour = (shade, shade, 255) if i == j else (255, shade, shade)
            x, y = label_width + j * CELL, i * CELL
            draw.rectangle([x, y, x + CELL - 1, y + CELL - 1], fill=colour, outline=(220, 220, 220))
    return np.asarray(img)


def mistakes_grid(paths, truths, predictions, confidences, columns=4):
    """Thumbnails of the given images, each captioned 'true -> predicted (confidence)', as one HWC uint8 grid."""
    rows = (len(paths) + columns - 1) // columns
    caption = 24
    img = Image.new("RGB", (columns * TILE, max(rows, 1) * (TILE + caption)), "white")
    draw = ImageDraw.Draw(img)
    for k, (path, truth, pred, conf) in enumerate(zip(paths, truths, predictions, confidences)):
        r, c = divmod(k, columns)
        x, y = c * TILE, r * (TILE + caption)
        try:
            with open(path, "rb") as f:
                thumb = Image.fromarray(decode_image(f.read())).resize((TILE - 4, TILE - 4), Image.BILINEAR)
            img.paste(thumb, (x + 2, y + 2))
        except Exception:  # a file gone since the evaluation: leave its tile blank, keep the caption
            pass
        draw.text((x + 2, y + TILE), f"{str(truth)[:12]} -> {str(pred)[:12]}", fill=(180, 0, 0))
        draw.text((x + 2, y + TILE + 11), f"{conf:.3f}", fill=(80, 80, 80))
    return np.asarray(img)


def curve_counts(truth, scores, thresholds=50):
    """(tp, fp, tn, fn) at `thresholds` evenly spaced thresholds over [0, 1]: a sample counts as predicted
    positive at threshold k when floor(score * (thresholds - 1)) >= k, VisualDL's bucketing."""
    truth = np.asarray(truth, "float64")
    buckets = np.floor(np.asarray(scores, "float64") * (thresholds - 1)).clip(0, thresholds - 1).astype("int64")
    pos = np.bincount(buckets, weights=truth, minlength=thresholds)
    neg = np.bincount(buckets, weights=1.0 - truth, minlength=thresholds)
    tp, fp = np.cumsum(pos[::-1])[::-1], np.cumsum(neg[::-1])[::-1]
    return tp, fp, fp[0] - fp, tp[0] - tp


def _add_curves(writer, prefix, name, truth, scores, step):
    # VisualDL 2.5.3's add_pr_curve / add_roc_curve call numpy's removed np.float, so the counts are made here
    # and handed to its raw records
    import time

    from visualdl.component.base_component import pr_curve_raw, roc_curve_raw

    tp, fp, tn, fn = curve_counts(truth, scores)
    precision = tp / np.maximum(tp + fp, 1e-7)
    recall = tp / np.maximum(tp + fn, 1e-7)
    fpr = fp / np.maximum(fp + tn, 1e-7)
    walltime = round(time.time() * 1000)
    counts = [c.astype(int).tolist() for c in (tp, fp, tn, fn)]
    record = writer._get_file_writer()
    # one tag per component: VisualDL's reader files a tag under one kind of record
    record.add_record(pr_curve_raw(f"{prefix}_pr/{name}", *counts, precision.tolist(), recall.tolist(), step,
                                   walltime))
    record.add_record(roc_curve_raw(f"{prefix}_roc/{name}", *counts, recall.tolist(), fpr.tolist(), step,
                                    walltime))


def log_evaluation(vdl, result, step, paths=None, curves=10, histograms=False, model=None, prefix="eval"):
    """Log the figures above for an EvalResult whose `samples` hold the probabilities of its first `curves`
    classes (evaluate(keep_probs=curves)); `paths`: sample index -> file."""
    if not vdl.enabled or not curves:
        return
    writer = vdl.writer
    samples, names = result.samples, list(result.class_names or [])
    names += [str(i) for i in range(len(names), len(result.confusion))]  # a head wider than the data's classes
    probs = samples.get("probs")
    if probs is not None and len(probs):
        for c in range(probs.shape[1]):
            truth = (samples["label"] == c).astype("int64")
            _add_curves(writer, prefix, f"class_{c}_{names[c]}", truth, probs[:, c], step)
    if len(result.confusion) <= MAX_MATRIX:
        writer.add_image(tag=f"{prefix}/confusion_matrix", img=confusion_image(result.confusion, names), step=step)
    if paths is not None and len(samples.get("index", ())):
        picked = confident_mistakes(samples["confidence"], samples["prediction"], samples["label"], 16)
        if picked:
            grid = mistakes_grid([paths(int(samples["index"][i])) for i in picked],
                                 [names[int(samples["label"][i])] for i in picked],
                                 [names[int(samples["prediction"][i])] for i in picked],
                                 [float(samples["confidence"][i]) for i in picked])
            writer.add_image(tag=f"{prefix}/most_confidently_wrong", img=grid, step=step)
    if histograms and model is not None:
        for name, param in model.named_parameters():
            if len(param.shape) > 1:
                writer.add_histogram(tag=f"weights/{name}", values=param.numpy().reshape(-1), step=step,
                                     buckets=30)


def log_hparams(vdl, config, metric_tags):
    """VisualDL's hparams view: the run's main hyper-parameters beside its evaluation metrics."""
    if not vdl.enabled:
        return
    opt, g = config.get("Optimizer") or {}, config["Global"]
    lr = opt.get("lr") or {}
    train = ((config.get("DataLoader") or {}).get("Train") or {}).get("sampler") or {}
    hparams = {"model": str(config["Arch"]["name"]), "optimizer": str(opt.get("name")),
               "lr_schedule": str(lr.get("name")), "learning_rate": float(lr.get("learning_rate", 0.0) or 0.0),
               "batch_size": int(train.get("batch_size", 0) or 0), "epochs": int(g.get("epochs", 0)),
               "frozen_stages": int(config["Arch"].get("frozen_stages", 0) or 0)}
    vdl.writer.add_hparams(hparams_dict=hparams, metrics_list=list(metric_tags))
