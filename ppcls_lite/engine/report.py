"""What an evaluation tells a user to act on, computed from its exact per-sample figures: per-class precision,
recall, F1 and support with macro / micro / weighted averages, the most-confused class pairs, the most
confidently wrong images, expected calibration error with its reliability table, and the temperature that
calibrates the scores. Pure numpy; `write_report` puts CSV, JSON and a markdown summary next to the log."""
import csv
import json
import math
import os

import numpy as np


def per_class_scores(confusion):
    """{precision, recall, f1, support} arrays from a [true, predicted] count matrix (0 where undefined, as
    scikit-learn's zero_division=0)."""
    confusion = np.asarray(confusion, dtype="float64")
    tp = np.diag(confusion)
    predicted, support = confusion.sum(0), confusion.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype("int64")}


def averages(confusion):
    """{macro, micro, weighted}: {precision, recall, f1} over the classes that have samples or predictions."""
    scores = per_class_scores(confusion)
    confusion = np.asarray(confusion, dtype="float64")
    present = (confusion.sum(0) + confusion.sum(1)) > 0
    support = scores["support"].astype("float64")
    total = confusion.sum()
    micro = float(np.trace(confusion) / total) if total else 0.0  # single-label: micro P = R = F1 = accuracy
    out = {"macro": {}, "micro": {"precision": micro, "recall": micro, "f1": micro}, "weighted": {}}
    for key in ("precision", "recall", "f1"):
        values = scores[key]
        out["macro"][key] = float(values[present].mean()) if present.any() else 0.0
        out["weighted"][key] = float((values * support).sum() / support.sum()) if support.sum() else 0.0
    return out


def most_confused(confusion, n=10):
    """[(true class, predicted class, count)] of the n largest off-diagonal counts, largest first."""
    confusion = np.asarray(confusion)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    pairs = [(int(i // off.shape[1]), int(i % off.shape[1])) for i in order]
    return [(t, p, int(off[t, p])) for t, p in pairs if off[t, p] > 0]


def calibration_bins(confidences, correct, bins=15):
    """Equal-width confidence bins over (0, 1]: [(low, high, count, mean confidence, accuracy)]."""
    confidences, correct = np.asarray(confidences, "float64"), np.asarray(correct, "float64")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        rows.append((float(edges[b]), float(edges[b + 1]), count,
                     float(confidences[mask].mean()) if count else 0.0, float(correct[mask].mean()) if count else 0.0))
    return rows


def expected_calibration_error(confidences, correct, bins=15):
    """ECE: sum over bins of (bin share of the samples) x |accuracy - mean confidence| (Guo et al. 2017)."""
    n = len(confidences)
    if not n:
        return 0.0
    return float(sum(count / n * abs(acc - conf) for _, _, count, conf, acc in
                     calibration_bins(confidences, correct, bins)))


def softmax(logits, temperature=1.0):
    """Row softmax of logits / temperature, in float64."""
    z = np.asarray(logits, "float64") / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(logits, labels, temperature):
    z = np.asarray(logits, "float64") / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(labels)), labels]).mean())


def _ece_at(logits, labels, temperature, bins):
    p = softmax(logits, temperature)
    return expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == labels, bins)


def fit_temperature(logits, labels, objective="ece", bins=15, low=0.05, high=20.0, steps=400):
    """The temperature T > 0 of softmax(logits / T) that minimises `objective` on (logits, labels): "ece" (the
    expected calibration error itself) or "nll" (the mean negative log-likelihood, Guo et al. 2017). A grid of
    `steps` log-spaced values over [low, high], then a finer one around the best; deterministic.

    NLL is the classic choice but a few samples with huge logits dominate it: the quickstart model, trained with
    label smoothing, is under-confident on average, yet its NLL-optimal T (1.09) makes it more so (ECE 0.063 ->
    0.084), where the ECE-optimal T (0.80) lowers it (0.025 on the fitting set, 0.053 cross-fitted)."""
    if objective not in ("ece", "nll"):
        raise ValueError(f"objective: ece or nll, got {objective!r}")
    labels = np.asarray(labels, "int64")
    loss = (lambda t: _ece_at(logits, labels, t, bins)) if objective == "ece" else \
        (lambda t: _nll(logits, labels, t))
    grid = np.exp(np.linspace(math.log(low), math.log(high), steps))
    best = min(grid, key=loss)
    ratio = (high / low) ** (1.0 / (steps - 1))
    fine = np.exp(np.linspace(math.log(best / ratio), math.log(best * ratio), 41))
    return float(min(fine, key=loss))


def cross_fitted_ece(logits, labels, objective="ece", bins=15):
    """ECE after temperature scaling without fitting and measuring on the same samples: T fitted on the even
    samples is scored on the odd ones and the other way round; the sample-weighted mean of the two."""
    labels = np.asarray(labels, "int64")
    halves = (np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1)
    total = 0.0
    for fit, score in (halves, halves[::-1]):
        if not fit.any() or not score.any():
            return None
        t = fit_temperature(logits[fit], labels[fit], objective, bins)
        total += _ece_at(logits[score], labels[score], t, bins) * score.sum()
    return float(total / len(labels))


def confident_mistakes(confidences, predictions, labels, n=20):
    """Indices (into the arrays) of the n wrong predictions made with the highest confidence, highest first."""
    wrong = np.flatnonzero(np.asarray(predictions) != np.asarray(labels))
    order = np.argsort(-np.asarray(confidences)[wrong], kind="stable")
    return wrong[order[:n]].tolist()


def build_report(result, paths=None, temperature=None, bins=15, top_confused=10, top_mistakes=20,
                 objective="ece"):
    """The report dict of an EvalResult that kept its per-sample figures (`paths`: sample index -> file)."""
    names = list(result.class_names or [])
    names += [str(i) for i in range(len(names), len(result.confusion))]
    scores = per_class_scores(result.confusion)
    samples = result.samples or {}
    report = {
        "num_samples": result.num_samples,
        "metrics": dict(result.metrics), "losses": dict(result.losses),
        "per_class": [{"class_id": i, "class_name": names[i], "precision": float(scores["precision"][i]),
                       "recall": float(scores["recall"][i]), "f1": float(scores["f1"][i]),
                       "support": int(scores["support"][i])} for i in range(len(names))],
        "averages": averages(result.confusion),
        "most_confused": [{"true": names[t], "predicted": names[p], "count": c}
                          for t, p, c in most_confused(result.confusion, top_confused)],
    }
    if samples:
        conf, pred, lab = samples["confidence"], samples["prediction"], samples["label"]
        correct = pred == lab
        report["calibration"] = {"bins": bins, "ece": expected_calibration_error(conf, correct, bins),
                                 "reliability": [dict(zip(("low", "high", "count", "confidence", "accuracy"), row))
                                                 for row in calibration_bins(conf, correct, bins)]}
        if temperature is not None and samples.get("logits") is not None:
            logits = samples["logits"]
            scaled = softmax(logits, temperature).max(axis=1)
            report["calibration"].update(
                temperature=float(temperature), objective=objective,
                ece_after=expected_calibration_error(scaled, correct, bins),
                ece_after_cross_fitted=cross_fitted_ece(logits, lab, objective, bins),
                nll_before=_nll(logits, lab, 1.0), nll_after=_nll(logits, lab, temperature))
        report["confident_mistakes"] = [
            {"file": paths(int(samples["index"][i])) if paths else int(samples["index"][i]),
             "true": names[int(lab[i])], "predicted": names[int(pred[i])], "confidence": float(conf[i])}
            for i in confident_mistakes(conf, pred, lab, top_mistakes)]
    return report


def _figure(value):
    return "n/a" if value is None else f"{value:.4f}"


def _markdown(report, stem="eval"):
    lines = [f"# Evaluation report ({report['num_samples']} samples)", ""]
    figures = {**report["metrics"], **report["losses"]}
    lines += [", ".join(f"{k}: {v:.4f}" for k, v in figures.items()), ""]
    lines += ["| average | precision | recall | F1 |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} |"
              for k, v in report["averages"].items()]
    worst = sorted(report["per_class"], key=lambda r: (r["f1"], r["class_id"]))[:5]
    lines += ["", "Lowest F1:", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {r['class_name']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
              for r in worst]
    if report["most_confused"]:
        lines += ["", "Most confused (true -> predicted):", ""]
        lines += [f"- {r['true']} -> {r['predicted']}: {r['count']}" for r in report["most_confused"][:5]]
    cal = report.get("calibration")
    if cal:
        line = f"Expected calibration error ({cal['bins']} bins): {cal['ece']:.4f}"
        if "temperature" in cal:
            line += (f"; after temperature scaling (T = {cal['temperature']:.4f}, fitted on this set by "
                     f"{cal['objective']}): {cal['ece_after']:.4f} (fitted on half, scored on the other half: "
                     f"{_figure(cal['ece_after_cross_fitted'])}); NLL {cal['nll_before']:.4f} -> "
                     f"{cal['nll_after']:.4f}")
        lines += ["", line, "", f"![reliability diagram]({stem}_reliability.png)"]
    if report.get("confident_mistakes"):
        lines += ["", "Most confidently wrong:", ""]
        lines += [f"- {r['file']}: {r['true']} predicted {r['predicted']} ({r['confidence']:.3f})"
                  for r in report["confident_mistakes"][:5]]
    return "\n".join(lines) + "\n"


def reliability_diagram(calibration, size=360):
    """The reliability diagram of a report's calibration: per confidence bin, a bar of its accuracy (blue) and a
    marker at its mean confidence (red), over the diagonal of perfect calibration; an HWC uint8 image."""
    from PIL import Image, ImageDraw

    margin, inner = 36, size - 48
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    x0, y0 = margin, size - 12  # the plot's origin (bottom left)
    draw.rectangle([x0, y0 - inner, x0 + inner, y0], outline=(0, 0, 0))
    draw.line([x0, y0, x0 + inner, y0 - inner], fill=(160, 160, 160))
    for b in calibration["reliability"]:
        if not b["count"]:
            continue
        left, right = x0 + b["low"] * inner, x0 + b["high"] * inner
        draw.rectangle([left + 1, y0 - b["accuracy"] * inner, right - 1, y0], fill=(90, 120, 220))
        y = y0 - b["confidence"] * inner
        draw.line([left + 1, y, right - 1, y], fill=(220, 40, 40), width=2)
    draw.text((4, 4), f"ECE {calibration['ece']:.4f}", fill=(0, 0, 0))
    draw.text((x0 + inner // 2 - 30, y0 - inner - 14), "accuracy per confidence bin", fill=(0, 0, 0))
    return np.asarray(img)


def write_report(directory, report, stem="eval"):
    """<stem>_report.json, <stem>_report.csv (per class), <stem>_report.md and, with calibration figures,
    <stem>_reliability.png; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"{stem}_report.{ext}") for ext in ("json", "csv", "md")]
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    with open(paths[1], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["class_id", "class_name", "precision", "recall", "f1", "support"])
        for r in report["per_class"]:
            w.writerow([r["class_id"], r["class_name"], f"{r['precision']:.6f}", f"{r['recall']:.6f}",
                        f"{r['f1']:.6f}", r["support"]])
    with open(paths[2], "w", encoding="utf-8") as f:
        f.write(_markdown(report, stem))
    if report.get("calibration"):
        from PIL import Image

        paths.append(os.path.join(directory, f"{stem}_reliability.png"))
        Image.fromarray(reliability_diagram(report["calibration"])).save(paths[-1])
    return paths
