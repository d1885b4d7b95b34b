"""load_config: plain validated dicts, every Global key filled in, PaddleClas's number spellings understood."""
import json

from ppcls_lite.config import load_config
from ppcls_lite.config import schema


def test_loads_plain_dicts_with_every_global_key(full_config, fakes):
    cfg = load_config(full_config, registries=fakes)
    json.dumps(cfg)  # plain dicts, lists and scalars only
    assert set(schema.GLOBAL) <= set(cfg["Global"])
    assert cfg["Global"]["epochs"] == 2 and cfg["Global"]["output_dir"] == "./out"
    assert cfg["Global"]["print_batch_step"] == 10 and cfg["Global"]["seed"] is None
    assert cfg["Global"]["max_checkpoints"] is None and cfg["Global"]["num_threads"] == 0
    assert set(schema.SECTIONS) == set(cfg)


def test_fills_fixed_defaults_and_normalizes_entries(full_config, fakes):
    cfg = load_config(full_config, registries=fakes)
    assert cfg["Arch"] == {"name": "ResNet18", "class_num": 10, "pretrained": False, "use_ssld": False,
                           "use_sync_bn": False, "frozen_stages": 0, "frozen_params": [],
                           "head_lr_mult": 1.0}
    evaluation = cfg["DataLoader"]["Eval"]
    assert evaluation["sampler"] == {"batch_size": 8, "name": "DistributedBatchSampler", "drop_last": False,
                                     "shuffle": False, "balance": None}
    assert evaluation["loader"] == {"num_workers": 0, "use_shared_memory": True}
    assert evaluation["dataset"]["transform_ops"] == [{"DecodeImage": {}}, {"ToCHWImage": {}}]
    assert cfg["Metric"]["Train"] == []  # `Train:` with nothing under it
    assert cfg["AMP"] is None and cfg["EMA"] is None and cfg["Infer"] is None


def test_numbers_written_the_paddleclas_way(full_config, fakes):
    cfg = load_config(full_config, registries=fakes)
    assert cfg["Optimizer"]["regularizer"]["coeff"] == 5e-4  # YAML 1.1 reads '5e-4' as text
    normalize = cfg["DataLoader"]["Train"]["dataset"]["transform_ops"][2]["NormalizeImage"]
    assert normalize["scale"] == 1.0 / 255.0  # '1.0/255.0' divided, never evaluated
    assert normalize["order"] == ""


def test_amp_and_ema_sections(write, fakes):
    base = "Global: {epochs: 1}\nArch: {name: ResNet18}\n"
    cfg = load_config(write("a.yaml", base + "AMP: {use_amp: False, level: O2}\nEMA: {}\n"), registries=fakes)
    assert cfg["AMP"] is None and cfg["EMA"] == {"decay": 0.9999}
    cfg = load_config(write("b.yaml", base + "AMP: {scale_loss: 128.0, use_promote: False}\n"), registries=fakes)
    assert cfg["AMP"] == {"scale_loss": 128.0, "use_promote": False, "use_amp": True,
                          "use_dynamic_loss_scaling": False, "level": "O1", "dtype": "fp16", "use_fp16_test": False}


def test_global_class_num_moves_to_arch(write, fakes):
    cfg = load_config(write("a.yaml", "Global: {epochs: 1, class_num: 7}\nArch: {name: ResNet18}\n"),
                      registries=fakes)
    assert cfg["Arch"]["class_num"] == 7


def test_model_kwargs_pass_through(write, fakes):
    text = "Global: {epochs: 1}\nArch: {name: ConvNeXt_tiny, drop_path_rate: 0.1, layer_scale_init_value: 1e-6}\n"
    cfg = load_config(write("a.yaml", text), registries=fakes)
    assert cfg["Arch"]["drop_path_rate"] == 0.1 and cfg["Arch"]["layer_scale_init_value"] == 1e-6


def test_global_use_fused_attn_reaches_models_that_take_it(write, fakes):
    text = "Global: {epochs: 1, use_fused_attn: true}\nArch: {name: %s}\n"
    cfg = load_config(write("vit.yaml", text % "ViT_base_patch16_224"), registries=fakes)
    assert cfg["Arch"]["use_fused_attn"] is True
    cfg = load_config(write("cnn.yaml", text % "ConvNeXt_tiny"), registries=fakes)
    assert "use_fused_attn" not in cfg["Arch"]
    own = "Global: {epochs: 1, use_fused_attn: true}\nArch: {name: ViT_base_patch16_224, use_fused_attn: false}\n"
    cfg = load_config(write("own.yaml", own), registries=fakes)
    assert cfg["Arch"]["use_fused_attn"] is False


def test_arch_pretrained_path_moves_to_global(write, fakes, tmp_path):
    (tmp_path / "w.pdparams").write_bytes(b"")
    text = "Global: {epochs: 1}\nArch: {name: ResNet18, pretrained: %s}\n" % (tmp_path / "w")
    cfg = load_config(write("a.yaml", text), registries=fakes)
    assert cfg["Global"]["pretrained_model"] == str(tmp_path / "w") and cfg["Arch"]["pretrained"] is False
