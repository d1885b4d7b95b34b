"""configs/finetune/ (issue 13, item 5): each recipe downloads its variant's weights (from a local server here),
fine-tunes on a class-per-folder tree of real images with a new head, and keeps what it freezes -- with only data
paths, device, batch size and test-only widths changed."""
import io
import os

import numpy as np
import paddle
import pytest

import ppcls_lite
from ppcls_lite.arch.registry import model_spec
from ppcls_lite.arch.spec import WEIGHTS_HOST
from ppcls_lite.config import load_config
from ppcls_lite.engine.training import train
from ppcls_lite.serialization import safe_load
from tests.engine.conftest import cifar_tree
from tests.engine.weights_server import WeightsServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(ROOT, "configs", "finetune")
RECIPES = sorted(f for f in os.listdir(FOLDER) if f.endswith(".yaml") and not f.startswith("_"))
NARROW = {
    "ResNet50_vd": dict(base_channels=8),
    "ResNeXt50_32x4d": dict(base_channels=8, cardinality=2),
    "Res2Net50_vd_26w_4s": dict(base_channels=8, width=2),
    "SwinTransformer_tiny_patch4_window7_224": dict(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]),
    "DeiT_small_patch16_224": dict(embed_dim=16, depth=2, num_heads=2),
    "ConvNeXt_tiny": dict(dims=[8, 8, 8, 8], depths=[1, 1, 1, 1]),
}


def test_every_family_has_a_recipe():
    names = {load_config(os.path.join(FOLDER, f), check_paths=False)["Arch"]["name"] for f in RECIPES}
    assert names == set(NARROW)


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_recipe_fine_tunes_downloaded_weights_on_a_folder(recipe, tmp_path, monkeypatch):
    arch = load_config(os.path.join(FOLDER, recipe), check_paths=False)["Arch"]
    name, narrow = arch["name"], NARROW[arch["name"]]
    paddle.seed(1)
    published = ppcls_lite.build_model(name, class_num=1000, **narrow).state_dict()
    buf = io.BytesIO()
    paddle.save(published, buf)
    spec = model_spec(name)
    server = WeightsServer()
    server.files["/" + spec.weight_url("ssld" if arch.get("use_ssld") else None)[len(WEIGHTS_HOST):]] = \
        buf.getvalue()
    monkeypatch.setenv("PPCLS_LITE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPCLS_LITE_WEIGHTS_URL", server.base + "/")
    tree = cifar_tree(tmp_path, per_split=(2, 1), link=True)
    train_dir, val_dir = str(tree / "train"), str(tree / "val")
    overrides = [f"DataLoader.Train.dataset.root={train_dir}", f"DataLoader.Eval.dataset.root={val_dir}",
                 "DataLoader.Train.sampler.batch_size=3", "DataLoader.Eval.sampler.batch_size=3",
                 "DataLoader.Train.loader.num_workers=0", "DataLoader.Eval.loader.num_workers=0",
                 "Global.device=cpu", "Global.epochs=2", "Global.use_visualdl=False", "Arch.class_num=3",
                 f"Global.output_dir={tmp_path / 'out'}", f"Infer.infer_imgs={val_dir}"]
    overrides += [f"Arch.{k}={v}" for k, v in narrow.items()]
    try:
        trainer = train(load_config(os.path.join(FOLDER, recipe), overrides))
    finally:
        server.close()
    assert server.hits, "the recipe's weights were not downloaded"
    tuned = safe_load(str(tmp_path / "out" / "latest.pdparams"))
    head = [k for k in tuned if k.startswith(tuple(trainer.model.head_prefixes))]
    assert head and all(tuned[k].shape[-1] == 3 for k in head if k.endswith("weight") and tuned[k].ndim == 2)
    body = [k for k in tuned if k not in head and k in published and tuned[k].dtype.kind == "f"]
    frozen = trainer.model.frozen_names if arch.get("frozen_stages") else frozenset()
    moved = [k for k in body if not np.array_equal(tuned[k], published[k].numpy())]
    assert moved, "fine-tuning changed no pretrained weight"
    for key in body:
        module = key.rsplit(".", 1)[0]
        if key in frozen or any(f.rsplit(".", 1)[0] == module for f in frozen):
            np.testing.assert_array_equal(tuned[key], published[key].numpy(), err_msg=key)  # BN statistics too
    assert not arch.get("frozen_stages") or frozen
