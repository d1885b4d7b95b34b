"""`_BASE_` inheritance: relative to the including file, recursive, deep merge, cycles detected."""
import pytest

from ppcls_lite.config import load_config
from ppcls_lite.errors import ConfigError


def test_base_is_merged_deeply(write, full_config, fakes):
    child = write("sub/child.yaml", """
        _BASE_: ../full.yaml
        Global:
          epochs: 9
        Optimizer:
          lr:
            learning_rate: 0.05
        Metric:
          Eval:
            - TopkAcc:
                topk: [1]
    """)
    cfg = load_config(child, registries=fakes)
    assert cfg["Global"]["epochs"] == 9 and cfg["Global"]["output_dir"] == "./out"  # merged, not replaced
    assert cfg["Optimizer"]["lr"] == {"name": "Cosine", "learning_rate": 0.05, "warmup_epoch": 1}
    assert cfg["Metric"]["Eval"] == [{"TopkAcc": {"topk": [1]}}]  # lists are replaced
    assert "_BASE_" not in cfg


def test_base_chain_and_list(write, fakes):
    write("a.yaml", "Global: {epochs: 1, seed: 1}\nArch: {name: ResNet18}\n")
    write("b.yaml", "_BASE_: a.yaml\nGlobal: {seed: 2, print_batch_step: 5}\n")
    write("c.yaml", "Global: {eval_interval: 3}\n")
    top = write("top.yaml", "_BASE_: [b.yaml, c.yaml]\nArch: {class_num: 3}\n")
    cfg = load_config(top, registries=fakes)
    g = cfg["Global"]
    assert (g["epochs"], g["seed"], g["print_batch_step"], g["eval_interval"]) == (1, 2, 5, 3)
    assert cfg["Arch"]["name"] == "ResNet18" and cfg["Arch"]["class_num"] == 3


def test_base_cycle_is_detected(write, fakes):
    first = write("a.yaml", "_BASE_: b.yaml\nGlobal: {epochs: 1}\n")
    write("b.yaml", "_BASE_: a.yaml\nArch: {name: ResNet18}\n")
    with pytest.raises(ConfigError, match=r"^_BASE_: inheritance cycle: a.yaml -> b.yaml -> a.yaml$"):
        load_config(first, registries=fakes)


def test_base_missing_file(write, fakes):
    with pytest.raises(ConfigError, match=r"^_BASE_: file not found: .*nope.yaml \(included from .*top.yaml\)$"):
        load_config(write("top.yaml", "_BASE_: nope.yaml\n"), registries=fakes)


def test_error_points_at_the_file_that_wrote_the_key(write, fakes):
    base = write("base.yaml", "Global:\n  epochs: 1\n  print_batch_step: ten\nArch: {name: ResNet18}\n")
    top = write("top.yaml", "_BASE_: base.yaml\nGlobal: {seed: 3}\n")
    with pytest.raises(ConfigError) as info:
        load_config(top, registries=fakes)
    assert str(info.value).startswith("Global.print_batch_step: expected int, got str 'ten'")
    assert str(info.value).endswith(f"({base}:3)")
