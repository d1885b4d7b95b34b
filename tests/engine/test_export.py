"""tools/export_model.py output, run through paddle.inference, agrees with the training-time model."""
import os
import subprocess
import sys

import numpy as np
import paddle

import ppcls_lite
from ppcls_lite.export import create_predictor, run_predictor
from ppcls_lite.serialization import atomic_save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_exported_predictor_matches_dygraph(make_config, tmp_path):
    from ppcls_lite.config import load_config
    from ppcls_lite.data import build_dataloader

    model = ppcls_lite.build_model("ResNet18", class_num=10)
    # Non-trivial BN statistics so that eval-mode folding is exercised.
    state = {k: (np.random.default_rng(0).uniform(0.5, 1.5, v.shape).astype("float32") if k.endswith("_variance")
                 else v.numpy()) for k, v in model.state_dict().items()}
    model.set_state_dict(state)
    weights = str(tmp_path / "w.pdparams")
    atomic_save(model.state_dict(), weights)
    cfg_path = make_config("export")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "export_model.py"), "-c", cfg_path,
         "-o", f"Global.pretrained_model={weights}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = load_config(cfg_path)
    prefix = os.path.join(cfg["Global"]["save_inference_dir"], "inference")

    loader = build_dataloader(cfg["DataLoader"]["Eval"], "Eval", seed=0, class_num=10)
    images = next(iter(loader))[0]
    model.eval()
    with paddle.no_grad():
        expected = model(images).numpy()
    got = run_predictor(create_predictor(prefix, num_threads=1), images.numpy())
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
