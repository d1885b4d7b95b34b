"""One test per kind of mistake: each is a one-line ConfigError starting with the key path."""
import os

import pytest

from ppcls_lite.config import load_config
from ppcls_lite.errors import ConfigError


def error_of(path, overrides=(), **kwargs):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_suggests_nearest(full_config, fakes):
    message = error_of(full_config, ["Optimizer.lr.learnig_rate=0.1"], registries=fakes)
    assert message.startswith("Optimizer.lr.learnig_rate: unknown key; did you mean 'learning_rate'?")


def test_unknown_key_in_file_is_located(write, fakes):
    path = write("a.yaml", "Global:\n  epochs: 1\n  save_intervall: 2\nArch: {name: ResNet18}\n")
    assert error_of(path, registries=fakes) == (
        f"Global.save_intervall: unknown key; did you mean 'save_interval'? ({path}:3)")


def test_unknown_section(write, fakes):
    path = write("a.yaml", "Global: {epochs: 1}\nArch: {name: ResNet18}\nOptimiser: {}\n")
    assert error_of(path, registries=fakes).startswith("Optimiser: unknown section; did you mean 'Optimizer'?")


def test_wrong_type_names_expected_type(full_config, fakes):
    message = error_of(full_config, ["DataLoader.Train.sampler.batch_size=eight"], registries=fakes)
    assert message.startswith("DataLoader.Train.sampler.batch_size: expected int, got str 'eight'")
    message = error_of(full_config, ["Global.use_visualdl=1"], registries=fakes)
    assert message.startswith("Global.use_visualdl: expected bool, got int 1")


def test_wrong_type_of_component_parameter(full_config, fakes):
    message = error_of(full_config, ["DataLoader.Train.dataset.transform_ops.0.DecodeImage.to_rgb=yes please"],
                       registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.transform_ops.0.DecodeImage.to_rgb: expected bool, got str")


def test_int_accepted_for_float(full_config, fakes):
    cfg = load_config(full_config, ["Optimizer.lr.learning_rate=1", "Optimizer.momentum=1"], registries=fakes)
    assert cfg["Optimizer"]["lr"]["learning_rate"] == 1


def test_value_out_of_range_and_choices(full_config, fakes):
    assert error_of(full_config, ["Global.epochs=0"], registries=fakes).startswith("Global.epochs: must be >= 1, got 0")
    assert error_of(full_config, ["Global.device=gpuu"], registries=fakes).startswith(
        "Global.device: unknown value 'gpuu'; did you mean 'gpu'?")
    assert error_of(full_config, ["Global.image_shape=[3, 32]"], registries=fakes).startswith(
        "Global.image_shape: expected 3 items, got 2")


def test_required_key_missing(full_config, write, fakes):
    path = write("c.yaml", "Global: {}\nArch: {class_num: 3}\n")
    assert error_of(path, registries=fakes) == f"Arch.name: required key missing ({path}:2)"
    path = write("b.yaml", "Global: {epochs: 1}\n")
    assert error_of(path, registries=fakes) == "Arch: required section missing"


def test_missing_file(full_config, fakes, data_root):
    os.remove(os.path.join(data_root, "train_list.txt"))
    message = error_of(full_config, registries=fakes)
    assert message.startswith(f"DataLoader.Train.dataset.cls_label_path: file not found: {data_root}/train_list.txt")
    assert load_config(full_config, registries=fakes, check_paths=False)


def test_missing_folder(full_config, fakes, data_root):
    message = error_of(full_config, ["DataLoader.Eval.dataset.root=" + data_root + "/nope"], registries=fakes)
    assert message.startswith(f"DataLoader.Eval.dataset.root: folder not found: {data_root}/nope")
    message = error_of(full_config, ["DataLoader.Train.dataset.image_root=" + data_root + "/train_list.txt"],
                       registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.image_root: is a file, expected a folder")


def test_weights_with_or_without_suffix(full_config, fakes, tmp_path):
    weights = tmp_path / "w.pdparams"
    weights.write_bytes(b"")
    for value in (str(weights), str(tmp_path / "w")):
        assert load_config(full_config, ["Global.pretrained_model=" + value], registries=fakes)
    message = error_of(full_config, ["Global.pretrained_model=" + str(tmp_path / "x")], registries=fakes)
    assert message.startswith(f"Global.pretrained_model: file not found: {tmp_path}/x.pdparams (nor {tmp_path}/x)")
    message = error_of(full_config, ["Global.checkpoints=" + str(tmp_path / "epoch_3")], registries=fakes)
    assert message.startswith("Global.checkpoints: file not found")
    # a URL is not a path to check: it is downloaded (and verified) when the weights are loaded
    cfg = load_config(full_config, ["Global.pretrained_model=https://x/y.pdparams"], registries=fakes)
    assert cfg["Global"]["pretrained_model"] == "https://x/y.pdparams"


def test_arch_pretrained_true_means_the_published_weights(full_config, fakes, tmp_path):
    cfg = load_config(full_config, ["Arch.pretrained=True"], registries=fakes)
    assert cfg["Global"]["pretrained_model"] == ("https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
                                                 "legendary_models/ResNet18_pretrained.pdparams")
    assert cfg["Arch"]["pretrained"] is False  # moved: Global.pretrained_model is the one place weights load from
    # Global.pretrained_model set as well: PaddleClas loads it over the download, so only it counts
    weights = tmp_path / "mine.pdparams"
    weights.write_bytes(b"")
    cfg = load_config(full_config, ["Arch.pretrained=True", f"Global.pretrained_model={weights}"], registries=fakes)
    assert cfg["Global"]["pretrained_model"] == str(weights)
    # a path in both places, differing: ambiguous
    other = tmp_path / "other.pdparams"
    other.write_bytes(b"")
    assert error_of(full_config, [f"Arch.pretrained={weights}", f"Global.pretrained_model={other}"],
                    registries=fakes).startswith("Arch.pretrained: set, and so is Global.pretrained_model")


def test_bad_override_syntax(full_config, fakes):
    assert error_of(full_config, ["Global.epochs"], registries=fakes).startswith(
        "-o Global.epochs: bad override syntax")


def test_unknown_model_suggests_closest(full_config, fakes):
    message = error_of(full_config, ["Arch.name=ResNet05"], registries=fakes)
    assert message.startswith("Arch.name: unknown model 'ResNet05'; did you mean 'ResNet50'?")


def test_unknown_transform_op(full_config, fakes):
    message = error_of(full_config, ["DataLoader.Train.dataset.transform_ops.1={RandCropImag: {size: 32}}"],
                       registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.transform_ops.1.RandCropImag: unknown transform op "
                              "'RandCropImag'; did you mean 'RandCropImage'?")


def test_unknown_op_kwarg(write, data_root, fakes):
    from tests.config.conftest import FULL

    text = FULL.format(root=data_root).replace("size: 32", "sise: 32")
    path = write("a.yaml", text)
    message = error_of(path, registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.transform_ops.1.RandCropImage.sise: unknown key; "
                              "did you mean 'size'?")
    line = text.splitlines().index("            sise: 32") + 1
    assert message.endswith(f"({path}:{line})")


def test_required_component_parameter_missing(full_config, fakes):
    message = error_of(full_config, ["DataLoader.Train.dataset.transform_ops.1.RandCropImage={}"], registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.transform_ops.1.RandCropImage.size: required parameter "
                              "of RandCropImage missing")


def test_unknown_component_names(full_config, fakes):
    assert error_of(full_config, ["Optimizer.name=Momentun"], registries=fakes).startswith(
        "Optimizer.name: unknown optimizer 'Momentun'; did you mean 'Momentum'?")
    assert error_of(full_config, ["Optimizer.lr.name=Cosin"], registries=fakes).startswith(
        "Optimizer.lr.name: unknown learning-rate schedule 'Cosin'; did you mean 'Cosine'?")
    assert error_of(full_config, ["Loss.Train.0={CELos: {}}"], registries=fakes).startswith(
        "Loss.Train.0.CELos: unknown loss 'CELos'; did you mean 'CELoss'?")
    assert error_of(full_config, ["DataLoader.Train.dataset.name=ImageNetDatset"], registries=fakes).startswith(
        "DataLoader.Train.dataset.name: unknown dataset 'ImageNetDatset'; did you mean 'ImageNetDataset'?")


def test_optimizer_parameters_follow_the_optimizer(full_config, fakes):
    # AdamW takes no regularizer: the key is refused for it, not silently dropped.
    message = error_of(full_config, ["Optimizer.name=AdamW", "Optimizer.momentum=null"], registries=fakes)
    assert message.startswith("Optimizer.momentum: unknown key")


def test_op_sampler_entries(write, data_root, fakes):
    from tests.config.conftest import FULL

    batch_ops = ("      batch_transform_ops:\n        - OpSampler:\n"
                 "            MixupOperator: {alpha: 0.8, prob: 0.5}\n"
                 "            CutmixOperatr: {alpha: 1.0, prob: 0.5}\n")
    anchor = "    sampler:\n      name: Dist"
    text = FULL.format(root=data_root).replace(anchor, batch_ops + anchor)
    message = error_of(write("a.yaml", text), registries=fakes)
    assert message.startswith("DataLoader.Train.dataset.batch_transform_ops.0.OpSampler.CutmixOperatr: unknown batch "
                              "op 'CutmixOperatr'; did you mean 'CutmixOperator'?")


def test_entry_must_be_one_mapping(full_config, fakes):
    assert error_of(full_config, ["Metric.Eval.0={TopkAcc: {}, Other: {}}"], registries=fakes).startswith(
        "Metric.Eval.0: expected one {Name: {parameters}} entry")


def test_file_level_errors(write, tmp_path, fakes):
    assert error_of(str(tmp_path / "none.yaml"), registries=fakes) == f"{tmp_path}/none.yaml: config file not found"
    path = write("bad.yaml", "Global:\n  epochs: [1, 2\nArch: {}\n")
    assert error_of(path, registries=fakes).startswith(f"{path}:3: invalid YAML")
    path = write("list.yaml", "- Global\n")
    assert error_of(path, registries=fakes).startswith(f"{path}: the top level must be a mapping")


def test_mapping_override_merges_into_the_section(full_config, fakes):
    """`-o 'Global={epochs: 3}'` sets what it names and keeps the rest of the section (it used to replace it)."""
    base = load_config(full_config, registries=fakes)
    cfg = load_config(full_config, ["Global={epochs: 3, seed: 5}", "DataLoader.Train.sampler={shuffle: true}"],
                      registries=fakes)
    assert cfg["Global"]["epochs"] == 3 and cfg["Global"]["seed"] == 5
    assert {k: v for k, v in cfg["Global"].items() if k not in ("epochs", "seed")} == {
        k: v for k, v in base["Global"].items() if k not in ("epochs", "seed")}
    sampler = cfg["DataLoader"]["Train"]["sampler"]
    assert sampler["shuffle"] is True and sampler["batch_size"] == base["DataLoader"]["Train"]["sampler"]["batch_size"]
    assert error_of(full_config, ["Global={epoch: 3}"], registries=fakes).startswith(
        "Global.epoch: unknown key; did you mean 'epochs'?")
    # a mapping naming another component replaces the old one: none of Cosine's keys (warmup_epoch: 1) carry over
    cfg = load_config(full_config, ["Optimizer.lr={name: Piecewise, decay_epochs: [2], values: [0.1, 0.01]}"],
                      registries=fakes)
    assert cfg["Optimizer"]["lr"] == {"name": "Piecewise", "decay_epochs": [2], "values": [0.1, 0.01]}


def test_override_index_past_the_end_names_the_override(full_config, fakes):
    assert error_of(full_config, ["Metric.Eval.5.TopkAcc.topk=[1]"], registries=fakes).endswith(
        "(-o Metric.Eval.5.TopkAcc.topk=[1])")
