"""`Arch.pretrained: True` / a weights URL (issue 12, item 3): the variant's published weights are downloaded once
from a real HTTP server on 127.0.0.1 into the cache, atomically and verified; every failure is one line naming
the URL and where to put the file."""
import io
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.arch.download import cached_path
from ppcls_lite.arch.pretrained import load_pretrained
from ppcls_lite.config import load_config
from ppcls_lite.errors import ConfigError, WeightsError
from tests.engine.conftest import tiny_config
from tests.engine.weights_server import WeightsServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILE = "/legendary_models/ResNet18_pretrained.pdparams"
NARROW = dict(base_channels=8)  # a test-only width: the same keys as ResNet18, small files


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = WeightsServer()
    monkeypatch.setenv("PPCLS_LITE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPCLS_LITE_WEIGHTS_URL", srv.base + "/")
    yield srv
    srv.close()


def _weights_bytes(model):
    buf = io.BytesIO()
    paddle.save(model.state_dict(), buf)
    return buf.getvalue()


def _published():
    """The narrow ResNet18 'published' on the server (1000 classes) and its file's bytes."""
    model = ppcls_lite.build_model("ResNet18", **NARROW)
    return model, _weights_bytes(model)


URL = ppcls_lite.model_spec("ResNet18").weight_url()


def _cache_files(tmp_path):
    folder = tmp_path / "home" / "weights"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_download_once_then_from_the_cache(server, tmp_path):
    published, body = _published()
    server.files[FILE] = body
    model = ppcls_lite.build_model("ResNet18", class_num=10, **NARROW)
    skipped = load_pretrained(model, URL, new_head=True)
    assert skipped == ["fc.weight", "fc.bias"]  # fine-tuning: a new 10-class head
    for key, value in published.state_dict().items():
        if not key.startswith("fc."):
            np.testing.assert_array_equal(model.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    assert server.hits == [FILE]
    assert _cache_files(tmp_path) == ["ResNet18_pretrained.pdparams"]
    assert cached_path(URL) == str(tmp_path / "home" / "weights" / "ResNet18_pretrained.pdparams")
    load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)  # the second use: no request
    assert server.hits == [FILE]


def test_http_404_names_the_url_and_where_to_put_the_file(server, tmp_path):
    with pytest.raises(WeightsError) as err:
        load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    message = str(err.value)
    assert message.startswith(f"{server.base}{FILE}: download failed (HTTP 404 Not Found); place the weights at "
                              f"{tmp_path / 'home' / 'weights' / 'ResNet18_pretrained.pdparams'}")
    assert _cache_files(tmp_path) == []


def test_a_connection_dropped_mid_file_leaves_nothing_cached(server, tmp_path):
    _, body = _published()
    server.files[FILE] = body
    server.drop.add(FILE)
    with pytest.raises(WeightsError, match=r"download failed \(the connection closed after \d+ bytes\)|"
                                           r"download ended after \d+ of \d+ bytes"):
        load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    assert _cache_files(tmp_path) == []  # no partial file counts, none is left behind
    server.drop.clear()
    load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    assert _cache_files(tmp_path) == ["ResNet18_pretrained.pdparams"]


def test_a_corrupt_download_is_refused_and_not_cached(server, tmp_path):
    server.files[FILE] = np.random.default_rng(0).bytes(5000)
    with pytest.raises(WeightsError, match=r"the downloaded file is not usable weights .*; place the weights at "):
        load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    assert _cache_files(tmp_path) == []
    # a file of the wrong model's keys is refused as well (the key manifest)
    server.files[FILE] = _weights_bytes(ppcls_lite.build_model("ConvNeXt_tiny", depths=[1, 1, 1, 1],
                                                               dims=[8, 8, 8, 8]))
    with pytest.raises(WeightsError, match=r"not usable weights \(.*missing keys for ResNet"):
        load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    assert _cache_files(tmp_path) == []


def test_a_damaged_cached_file_is_downloaded_again(server, tmp_path, caplog):
    _, body = _published()
    server.files[FILE] = body
    load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    cached = tmp_path / "home" / "weights" / "ResNet18_pretrained.pdparams"
    cached.write_bytes(body[:100])
    with caplog.at_level("WARNING"):
        load_pretrained(ppcls_lite.build_model("ResNet18", **NARROW), URL)
    assert "the cached file is damaged" in caplog.text and server.hits == [FILE, FILE]
    assert cached.read_bytes() == body


def test_pretrained_true_is_the_spec_url(tmp_path):
    cfg = yaml.safe_load(open(tiny_config(tmp_path)))
    cfg["Arch"]["pretrained"] = True
    path = tmp_path / "c.yaml"

    def load(**arch):
        path.write_text(yaml.safe_dump({**cfg, "Arch": {**cfg["Arch"], **arch}}))
        return load_config(str(path))

    assert load()["Global"]["pretrained_model"] == URL
    assert load(name="ResNet50_vd", use_ssld=True)["Global"]["pretrained_model"] == \
        ppcls_lite.model_spec("ResNet50_vd").weight_url("ssld")
    with pytest.raises(ConfigError, match=r"^Arch.use_ssld: no ssld weights are published for ResNet18 "
                                          r"\(published: dbb, standard\); give a .pdparams path instead"):
        load(use_ssld=True)
    with pytest.raises(ConfigError, match=r"^Arch.pretrained: no standard weights are published for "
                                          r"ViT_huge_patch14_224 \(published: none\)"):
        load(name="ViT_huge_patch14_224")
    with pytest.raises(ConfigError, match=r"^Arch.use_ssld: only means something with pretrained: True"):
        load(pretrained=False, use_ssld=True)


def _train(cfg_path, env, *overrides):
    args = [a for o in overrides for a in ("-o", o)]
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg_path, *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def test_train_with_pretrained_true_downloads_then_offline_is_one_line(server, tmp_path):
    _, body = _published()
    server.files[FILE] = body
    cfg = yaml.safe_load(open(tiny_config(tmp_path, epochs=1)))
    cfg["Arch"].update(pretrained=True, **NARROW)
    path = tmp_path / "pretrained.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ)
    proc = _train(str(path), env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"downloading {server.base}{FILE}" in proc.stdout and server.hits == [FILE]
    assert "skipped head keys" in proc.stdout + proc.stderr  # the 1000-class head gives way to a 10-class one

    # offline (nothing listens there) and nothing cached: one line naming the URL and the file path, exit 2
    env["PPCLS_LITE_HOME"] = str(tmp_path / "empty_home")
    env["PPCLS_LITE_WEIGHTS_URL"] = "http://127.0.0.1:9/"
    proc = _train(str(path), env, f"Global.output_dir={tmp_path / 'offline'}")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    expected_file = tmp_path / "empty_home" / "weights" / "ResNet18_pretrained.pdparams"
    assert errors[0].startswith(f"error: http://127.0.0.1:9{FILE}: download failed (")
    assert errors[0].endswith(f"); place the weights at {expected_file} (or set PPCLS_LITE_WEIGHTS_URL to a "
                              "mirror)"), errors[0]
