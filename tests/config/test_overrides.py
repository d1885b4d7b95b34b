"""-o overrides: YAML literals (never evaluated), list indices, new keys only where the schema knows them."""
import pytest

from ppcls_lite.config import load_config, parse_override
from ppcls_lite.errors import ConfigError


@pytest.mark.parametrize("text, keys, value", [
    ("Global.epochs=10", ("Global", "epochs"), 10),
    ("Optimizer.lr.learning_rate=0.01", ("Optimizer", "lr", "learning_rate"), 0.01),
    ("Global.use_visualdl=True", ("Global", "use_visualdl"), True),
    ("Global.pretrained_model=null", ("Global", "pretrained_model"), None),
    ("Global.pretrained_model=", ("Global", "pretrained_model"), None),
    ("Metric.Eval.0.TopkAcc.topk=[1]", ("Metric", "Eval", 0, "TopkAcc", "topk"), [1]),
    ("Global.output_dir=./out/a=b", ("Global", "output_dir"), "./out/a=b"),
    ("Arch.name=ResNet50", ("Arch", "name"), "ResNet50"),
    ("Global.epochs=__import__('os')", ("Global", "epochs"), "__import__('os')"),
])
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("text", ["Global.epochs", "=3", "Global..epochs=3", "Global.ep ochs=3", ".a=1"])
def test_bad_override_syntax(text):
    with pytest.raises(ConfigError, match=r"^-o .*: bad override syntax"):
        parse_override(text)


def test_bad_override_value():
    with pytest.raises(ConfigError, match=r"^Global.image_shape: bad override value '\[3, 32'"):
        parse_override("Global.image_shape=[3, 32")


def test_overrides_apply(full_config, fakes):
    cfg = load_config(full_config, [
        "Global.epochs=5", "Metric.Eval.0.TopkAcc.topk=[1]", "Optimizer.lr.learning_rate=1e-3",
        "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=24", "Global.seed=7", "EMA.decay=0.99",
        "DataLoader.Train.dataset.transform_ops.1.RandCropImage.interpolation=bicubic",
    ], registries=fakes)
    assert cfg["Global"]["epochs"] == 5 and cfg["Global"]["seed"] == 7
    assert cfg["Metric"]["Eval"] == [{"TopkAcc": {"topk": [1]}}]
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 1e-3
    crop = cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][1]["RandCropImage"]
    assert crop == {"size": 24, "interpolation": "bicubic"}
    assert cfg["EMA"] == {"decay": 0.99}


def test_override_is_never_evaluated(full_config, fakes):
    with pytest.raises(ConfigError) as info:
        load_config(full_config, ["Global.epochs=__import__('os')"], registries=fakes)
    assert str(info.value) == ("Global.epochs: expected int or null, got str \"__import__('os')\" "
                               "(-o Global.epochs=__import__('os'))")


def test_override_unknown_key_names_nearest(full_config, fakes):
    expected = r"^Global.epoch: unknown key; did you mean 'epochs'\? \(-o Global.epoch=3\)$"
    with pytest.raises(ConfigError, match=expected):
        load_config(full_config, ["Global.epoch=3"], registries=fakes)


def test_override_new_key_in_open_component_must_be_known(full_config, fakes):
    # The fake ResNet18 factory takes **kwargs: a key in the file would be passed on, a new one from -o is refused.
    with pytest.raises(ConfigError, match=r"^Arch.drop_rate: unknown key; valid: class_num \(-o Arch.drop_rate=0.1\)$"):
        load_config(full_config, ["Arch.drop_rate=0.1"], registries=fakes)


def test_override_list_index_out_of_range(full_config, fakes):
    with pytest.raises(ConfigError, match=r"^Metric.Eval.3: index out of range; Metric.Eval has 1 item"):
        load_config(full_config, ["Metric.Eval.3.TopkAcc.topk=[1]"], registries=fakes)


def test_override_list_needs_index(full_config, fakes):
    with pytest.raises(ConfigError, match=r"^Metric.Eval.TopkAcc: Metric.Eval is a list; use an index 0..0"):
        load_config(full_config, ["Metric.Eval.TopkAcc.topk=[1]"], registries=fakes)


def test_override_through_a_scalar(full_config, fakes):
    expected = r"^Global.epochs: holds a value of type int, not a mapping or list, so Global.epochs.x cannot"
    with pytest.raises(ConfigError, match=expected):
        load_config(full_config, ["Global.epochs.x=1"], registries=fakes)
