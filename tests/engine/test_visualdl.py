"""Training logs to VisualDL; the real visualdl server serves the scalars back over its HTTP API."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, route, **params):
    url = f"http://127.0.0.1:{port}/app/api/{route}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]


@pytest.fixture
def trained_run(make_config):
    cfg = make_config("vdl", epochs=1)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return os.path.join(os.path.dirname(cfg), "output")


def test_curve_counts_by_hand():
    from ppcls_lite.engine.dashboard import curve_counts

    # scores 0.1, 0.4, 0.6, 0.9 of truths 0, 1, 0, 1 with 5 thresholds (buckets floor(s * 4): 0, 1, 2, 3)
    tp, fp, tn, fn = curve_counts([0, 1, 0, 1], [0.1, 0.4, 0.6, 0.9], thresholds=5)
    assert tp.tolist() == [2, 2, 1, 1, 0] and fp.tolist() == [2, 1, 1, 0, 0]
    assert tn.tolist() == [0, 1, 1, 2, 2] and fn.tolist() == [0, 0, 1, 1, 2]


def test_visualdl_server_serves_logged_scalars(trained_run):
    logdir = os.path.join(trained_run, "vdl")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "visualdl.server.app", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        runs = None
        while time.time() < deadline:
            try:
                runs = _get(port, "runs")
                break
            except OSError:
                time.sleep(0.3)
        assert runs, "visualdl server did not answer"
        tags = _get(port, "scalar/tags")
        run = tags["runs"][0]
        all_tags = set(tags["tags"][0])
        assert {"train/loss", "train/lr", "train/top1", "train/ips", "eval/top1", "eval/top5", "eval/loss"} <= all_tags
        losses = _get(port, "scalar/list", run=run, tag="train/loss")
        # tiny config: 60 images, batch 12, print every step -> 5 points at completed-step counts 1..5
        assert [p[1] for p in losses] == [1, 2, 3, 4, 5]
        assert all(0 < p[2] < 10 for p in losses)
        top1 = _get(port, "scalar/list", run=run, tag="eval/top1")
        assert len(top1) == 1 and 0.0 <= top1[0][2] <= 1.0
        assert "train/sample_images" in _get(port, "image/tags")["tags"][0]
        assert "config" in _get(port, "text/tags")["tags"][0]
        url = f"http://127.0.0.1:{port}/app/api/text/text?" + urllib.parse.urlencode(
            {"run": run, "tag": "config", "index": 0})
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        # the config as block YAML inside the fence, readable line by line, not one JSON blob
        assert text.startswith("```yaml\nGlobal:\n") and text.endswith("```")
        logged = yaml.safe_load(text[len("```yaml\n"):-len("```")])
        assert logged["Global"]["epochs"] == 1 and logged["Arch"] == {"name": "ResNet18", "class_num": 10,
                                                                       "pretrained": False, "use_ssld": False,
                                                                       "use_sync_bn": False, "frozen_stages": 0,
                                                                       "frozen_params": [], "head_lr_mult": 1.0}
        # the evaluation dashboard (Global.visualdl_curves: 10): per-class PR / ROC curves, the confusion matrix
        # and the most confidently wrong images, the run's hyper-parameters
        kinds = list(_get(port, "tags").values())
        assert kinds.count("pr_curve") == 10 and kinds.count("roc_curve") == 10
        assert kinds.count("hyper_parameters") == 1
        images = set(_get(port, "image/tags")["tags"][0])
        assert {"eval/confusion_matrix", "eval/most_confidently_wrong"} <= images
        pr = _get(port, "pr-curve/list", run=run, tag="eval_pr/class_3_3")
        assert len(pr) == 1 and len(pr[0][2]) == 50  # one evaluation, 50 thresholds
    finally:
        server.terminate()
        server.wait(timeout=30)
