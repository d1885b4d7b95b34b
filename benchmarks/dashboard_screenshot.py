"""What a user sees on the VisualDL dashboard, shown by a real browser against the real server: a short real
training run (the embedded CIFAR subset) logs its evaluation dashboard, `python -m visualdl.server.app` serves
it on 127.0.0.1, and headless Chromium (Debian's `chromium`) screenshots each page into --out.

    apt-get install -y chromium        # once
    python benchmarks/dashboard_screenshot.py [--out docs/images/dashboard] [--logdir output/quickstart/vdl]

Without --logdir it trains ResNet18 for 2 epochs on 40 images per class first. Exits 1 when the server does not
serve the logged records (checked through its HTTP API) or a screenshot is missing or blank.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = {"scalars": "scalar", "images": "image", "pr_curves": "pr-curve", "roc_curves": "roc-curve",
         "histograms": "histogram", "hparams": "hyper-parameter"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1400,1000", "--virtual-time-budget=15000"]


def _train(folder):
    sys.path.insert(0, ROOT)
    import ppcls_lite
    from tests.engine.conftest import tiny_config

    cfg = tiny_config(__import__("pathlib").Path(folder), train_per_class=40, val_per_class=20, epochs=2,
                      extra_global={"visualdl_histograms": True})
    ppcls_lite.train(cfg, [])
    return os.path.join(folder, "output", "vdl")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port, route):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/app/api/{route}", timeout=5) as r:
        return json.loads(r.read().decode())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "images", "dashboard"))
    ap.add_argument("--logdir", help="a VisualDL log folder (default: train a small run first)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.chromium):
        print(f"no Chromium at {args.chromium}: apt-get install -y chromium")
        return 1
    logdir = args.logdir or _train(tempfile.mkdtemp(prefix="dashboard-"))
    os.makedirs(args.out, exist_ok=True)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "visualdl.server.app", "--logdir", logdir, "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    failures = 0
    try:
        deadline = time.time() + 60
        while True:
            try:
                tags = _api(port, "tags")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    print("the VisualDL server did not come up")
                    return 1
                time.sleep(0.5)
        kinds = list(tags.get("data", {}).values())  # {"<run>/<tag>": kind}
        for kind in ("scalar", "image", "pr_curve", "roc_curve", "histogram", "hyper_parameters"):
            print(f"server lists {kinds.count(kind)} {kind} tag(s)")
            failures += kinds.count(kind) == 0
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        for name, route in PAGES.items():
            shot = os.path.join(args.out, f"{name}.png")
            if os.path.exists(shot):
                os.remove(shot)
            subprocess.run([args.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                            f"http://127.0.0.1:{port}/app/{route}"], capture_output=True, timeout=120)
            ok = os.path.isfile(shot)
            if ok:
                from PIL import Image

                pixels = np.asarray(Image.open(shot).convert("L"), dtype="float32")
                ok = pixels.std() > 5  # a rendered page, not a blank one
            print(f"{name}: {shot if ok else 'MISSING or blank'}")
            failures += not ok
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
