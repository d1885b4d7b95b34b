"""Parameter and MAC figures of every registered model, beside PaddleClas's published ones, as a markdown table.

    python benchmarks/model_figures.py [--models ResNet50,ConvNeXt_tiny] [--out docs/models.md]

Each model is built at its native input size (its ppcls_lite.model_spec) and run once
at batch 1 in a worker subprocess (a few models per worker; the very large ones alone), so that memory is returned
between models. Parameters: trainable, and with BatchNorm running statistics (PaddleClas's legacy ResNeXt/Res2Net
figures count those). MACs: see ppcls_lite/arch/flops.py. With --out, the table replaces the part of the file
between the `<!-- figures:begin -->` and `<!-- figures:end -->` markers (the file is created if missing); without
it the table goes to stdout.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES_CSV = os.path.join(ROOT, "tests", "fixtures", "model_figures.csv")
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
ALONE_ABOVE = 150e6  # parameters: models larger than this get a worker of their own
PER_WORKER = 8


def published_figures():
    """model_figures.csv rows (PaddleClas 2.6.0 parameter counts and published figures) by model name."""
    with open(FIGURES_CSV) as f:
        return {row["model"]: row for row in csv.DictReader(f)}


def native_size(name):
    """The model's own input resolution (its ModelSpec)."""
    from ppcls_lite import model_spec

    return model_spec(name).input_size


def measure(name, size):
    """{'trainable', 'total', 'macs': {kind: n}} of one model (run inside a worker)."""
    import gc

    import ppcls_lite
    from ppcls_lite.arch.flops import count_macs, count_params

    model = ppcls_lite.build_model(name)
    trainable, total = count_params(model)
    report = count_macs(model, [1, 3, size, size])
    del model
    gc.collect()
    return {"trainable": trainable, "total": total, "macs": report.by_kind}


def worker(jobs):
    """Measure `name:size` jobs one after another; one JSON line per model on stdout."""
    import paddle

    paddle.set_device("cpu")
    for job in jobs:
        name, size = job.rsplit(":", 1)
        start = time.time()
        try:
            row = measure(name, int(size))
        except Exception as exc:  # reported in the table, the other models go on
            row = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        row.update(model=name, seconds=round(time.time() - start, 1))
        print(json.dumps(row), flush=True)


def lazy_param_count(name):
    """Parameter elements without allocating them (to plan the workers)."""
    import paddle

    import ppcls_lite

    with paddle.LazyGuard():
        model = ppcls_lite.build_model(name)
    return sum(int(p.size) for p in model.parameters())


def plan_workers(names):
    """Group models into worker batches: large models alone, the others PER_WORKER at a time."""
    batches, small = [], []
    for name in names:
        if lazy_param_count(name) > ALONE_ABOVE:
            batches.append([name])
        else:
            small.append(name)
    batches += [small[i:i + PER_WORKER] for i in range(0, len(small), PER_WORKER)]
    return batches


def run_all(names, sizes, timeout):
    results = {}
    for batch in plan_workers(names):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker"] + [f"{n}:{sizes[n]}" for n in batch]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
            out, err = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            out, err = exc.stdout or "", f"timed out after {timeout} s"
            out = out.decode() if isinstance(out, bytes) else out
        for line in out.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                results[row["model"]] = row
                status = row.get("error") or f"{sum(row['macs'].values()) / 1e9:.3f} GMACs"
                print(f"{row['model']:45s} {row['seconds']:6.1f} s  {status}", file=sys.stderr, flush=True)
        for name in batch:
            if name not in results:
                tail = err.strip().splitlines()[-1] if err.strip() else "worker died"
                results[name] = {"model": name, "error": tail[:200]}
                print(f"{name:45s} ERROR {tail[:200]}", file=sys.stderr, flush=True)
    return results


def _close(a, b, tol=0.02):
    return b > 0 and abs(a - b) <= tol * b


def published_convention(macs, published_g):
    """Which of our counts the published 'GFLOPs' figure matches (within 2 %)."""
    total = sum(macs.values()) / 1e9
    candidates = [
        ("= MACs", total),
        ("= 2 x MACs", 2 * total),
        ("= MACs without attention products", total - macs.get("matmul", 0) / 1e9),
    ]
    for label, value in candidates:
        if _close(value, published_g):
            return label
    return f"differs: {published_g / total:.3f} x MACs"


def family_order(names, published):
    from ppcls_lite.arch.registry import model_family

    csv_order = list(published)
    families = []
    for n in csv_order + sorted(names):
        if n in names and model_family(n) not in families:
            families.append(model_family(n))
    rank = {n: i for i, n in enumerate(csv_order)}
    return sorted(names, key=lambda n: (families.index(model_family(n)), rank.get(n, len(rank)), n))


def fmt(value, digits=3):
    return "—" if value is None or value == "" else f"{float(value):.{digits}f}"


def markdown_table(names, results, published):
    from ppcls_lite.arch.registry import model_family

    head = ("| Model | Family | Input | Params (M) | incl. BN stats (M) | Published params (M) | GMACs "
            "| Published GFLOPs | Published top-1 | Published GFLOPs vs ours |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    mismatched = []
    for name in names:
        r, p = results[name], published.get(name, {})
        size = native_size(name)
        if "error" in r:
            lines.append(f"| {name} | {model_family(name)} | {size} | error: {r['error']} |||||||")
            continue
        bn = r["total"] if r["total"] != r["trainable"] else None
        if p.get("parameters_numel") and int(p["parameters_numel"]) not in (r["trainable"], r["total"]):
            mismatched.append(name)
        macs = sum(r["macs"].values())
        note = published_convention(r["macs"], float(p["published_flops_g"])) if p.get("published_flops_g") else ""
        top1 = fmt(float(p["published_top1"]) * 100, 2) if p.get("published_top1") else "—"
        lines.append(
            f"| {name} | {model_family(name)} | {size} | {fmt(r['trainable'] / 1e6)} | "
            f"{fmt(bn / 1e6) if bn else '—'} | {fmt(p.get('published_params_m'))} | {fmt(macs / 1e9)} | "
            f"{fmt(p.get('published_flops_g'))} | {top1} | {note} |"
        )
    return "\n".join(lines) + "\n", mismatched


def write_between_markers(path, table, command):
    block = f"{BEGIN}\n<!-- generated by: {command} -->\n\n{table}{END}\n"
    if os.path.isfile(path):
        with open(path) as f:
            text = f.read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + block
    else:
        text = "# Models\n\n" + block
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="all", help="comma-separated names (default: every registered model)")
    ap.add_argument("--out", help="markdown file to update (default: print the table)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per worker")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    import ppcls_lite

    registered = ppcls_lite.list_models()
    names = registered if args.models == "all" else [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in registered]
    if unknown:
        print(f"unknown models: {', '.join(unknown)}", file=sys.stderr)
        return 2
    published = published_figures()
    names = family_order(names, published)
    sizes = {n: native_size(n) for n in names}
    results = run_all(names, sizes, args.timeout)
    table, mismatched = markdown_table(names, results, published)
    if mismatched:
        print(f"parameter counts differ from PaddleClas's: {', '.join(mismatched)}", file=sys.stderr)
    failed = [n for n in names if "error" in results[n]]
    command = "python benchmarks/model_figures.py" + ("" if args.models == "all" else f" --models {args.models}")
    if args.out:
        command += f" --out {args.out}"
        write_between_markers(args.out, table, command)
        print(f"{len(names) - len(failed)} models written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(table)
    return 1 if failed or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
