"""The shape of the house: no import cycle in the package, one registry class for every kind of component, and
the same form of message for the same mistake in any kind of component."""
import ast
import os

import pytest

from ppcls_lite.config import load_config
from ppcls_lite.errors import ConfigError
from ppcls_lite.registry import Registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "ppcls_lite")
QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "resnet18_cifar10_mini.yaml")


def _module_name(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _module_imports(path, name, modules):
    """Modules of the package that `path` imports at module level (what runs when it is imported)."""
    is_package = path.endswith("__init__.py")
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.parse(open(path).read()).body:  # module level only: imports inside functions are lazy
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(parts + ([node.module] if node.module else []))
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle_in_the_package():
    paths = {}
    for dirpath, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                paths[_module_name(os.path.join(dirpath, f))] = os.path.join(dirpath, f)
    graph = {name: _module_imports(path, name, paths) for name, path in paths.items()}
    # a module's import of its own package's __init__ is the interpreter's order, not a cycle of ours
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles
    assert len(graph) > 50  # the walk saw the package


def test_every_component_kind_is_a_registry():
    from ppcls_lite.arch.registry import _MODELS
    from ppcls_lite.config.components import REGISTRY_SOURCES, load_registry

    for kind in REGISTRY_SOURCES:
        assert isinstance(load_registry(kind), Registry), kind
    assert isinstance(_MODELS, Registry)


@pytest.mark.parametrize("override, expected", [
    ("DataLoader.Train.dataset.transform_ops.1.RandCropImage.sise=32",
     "DataLoader.Train.dataset.transform_ops.1.RandCropImage.sise: unknown key; did you mean 'size'?"),
    ("Loss.Train.0.CELoss.epsilom=0.1", "Loss.Train.0.CELoss.epsilom: unknown key; did you mean 'epsilon'?"),
    ("Metric.Eval.0.TopkAcc.topc=[1]", "Metric.Eval.0.TopkAcc.topc: unknown key; did you mean 'topk'?"),
    ("DataLoader.Train.sampler.batch_sise=3",
     "DataLoader.Train.sampler.batch_sise: unknown key; did you mean 'batch_size'?"),
    ("Optimizer.lr.learnig_rate=0.1", "Optimizer.lr.learnig_rate: unknown key; did you mean 'learning_rate'?"),
])
def test_the_same_mistake_reads_the_same_in_every_kind_of_component(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config(QUICKSTART, [override], check_paths=False)
    assert str(err.value) == f"{expected} (-o {override})"


def test_builders_called_directly_say_it_as_validation_does():
    from ppcls_lite.data.transforms import build_transforms
    from ppcls_lite.loss import build_loss
    from ppcls_lite.metric import build_metric

    for build, spec, expected in [
        (build_transforms, [{"DecodeImage": None}, {"CropImage": {"sise": 3}}],
         "transform_ops[1].CropImage.sise: unknown key; did you mean 'size'?"),
        (build_loss, [{"CELoss": {"epsilom": 0.1}}], "Loss.Train[0].CELoss.epsilom: unknown key; did you mean 'epsilon'?"),
        (build_metric, [{"TopkAcc": {"topc": [1]}}], "Metric.Eval[0].TopkAcc.topc: unknown key; did you mean 'topk'?"),
    ]:
        with pytest.raises(ConfigError) as err:
            build(spec)
        assert str(err.value) == expected
    from ppcls_lite.data import build_dataloader

    section = {"dataset": {"name": "ImageFolder", "root": os.path.join(ROOT, "dataset", "cifar10_mini", "val")},
               "sampler": {"batch_sise": 4}}
    with pytest.raises(ConfigError) as err:
        build_dataloader(section, "Train")
    assert str(err.value) == "DataLoader.Train.sampler.batch_sise: unknown key; did you mean 'batch_size'?"


def test_a_new_component_is_one_decorated_class():
    """Recipe of docs/architecture.md: register a toy transform op and use it from a config."""
    import numpy as np

    from ppcls_lite.data.op_base import TransformOp
    from ppcls_lite.data.transforms import TRANSFORMS, build_transforms

    @TRANSFORMS.register
    class Invert(TransformOp):
        """255 - pixel."""

        def __init__(self, enabled: bool = True):
            self.enabled = enabled

        def __call__(self, img, rng=None):
            return 255 - img if self.enabled else img

    try:
        cfg = load_config(QUICKSTART, ["DataLoader.Eval.dataset.transform_ops.1={Invert: {enabled: true}}"],
                          check_paths=False)
        ops = cfg["DataLoader"]["Eval"]["dataset"]["transform_ops"]
        assert ops[1] == {"Invert": {"enabled": True}}
        with pytest.raises(ConfigError, match="Invert.enabled: expected bool"):
            load_config(QUICKSTART, ["DataLoader.Eval.dataset.transform_ops.1={Invert: {enabled: 3}}"],
                        check_paths=False)
        img = np.full((4, 4, 3), 10, np.uint8)
        out = build_transforms([{"DecodeImage": None}, {"Invert": {"enabled": True}}]).ops[1](img)
        assert int(out[0, 0, 0]) == 245
    finally:
        del TRANSFORMS["Invert"]


def test_recipes_of_the_architecture_doc_train_end_to_end(tmp_path):
    """docs/architecture.md's recipes: a model variant, a loss and a metric, each one decorated definition,
    used by name in a config that trains one epoch on real images."""
    import paddle
    import paddle.nn as nn
    import paddle.nn.functional as F
    import yaml

    import ppcls_lite
    from ppcls_lite.arch.base import ClassifierBase
    from ppcls_lite.arch.registry import _FAMILIES, _MODELS, _SPECS, register_model
    from ppcls_lite.loss import LOSSES
    from ppcls_lite.metric import METRICS
    from tests.engine.conftest import tiny_config

    class TinyNet(ClassifierBase):
        head_prefixes = ("fc.",)

        def __init__(self, class_num=1000, width=8):
            super().__init__()
            self.conv = nn.Conv2D(3, width, 3, stride=2, padding=1)
            self.fc = nn.Linear(width, class_num)

        def forward_features(self, x):
            return F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1)

        def forward_head(self, feats):
            return self.fc(feats)

    @register_model("Toy")
    def TinyNet_w8(class_num=1000, width=8):
        return TinyNet(class_num=class_num, width=width)

    @LOSSES.register
    class ScaledCE(nn.Layer):
        def __init__(self, scale: float = 1.0, weight: float = 1.0):
            super().__init__()
            self.scale, self.weight = float(scale), float(weight)

        def forward(self, x, label):
            return self.scale * F.cross_entropy(x, label.reshape([-1]).astype("int64"))

    @METRICS.register
    class ErrorRate:
        def __init__(self):
            pass

        def __call__(self, x, label):
            wrong = (paddle.argmax(x, axis=-1) != label.reshape([-1])).astype("float32")
            return {"error": wrong.mean()}

    try:
        path = tiny_config(tmp_path, epochs=1, model="TinyNet_w8", extra_global={"use_visualdl": False})
        cfg = yaml.safe_load(open(path))
        cfg["Arch"]["width"] = 4
        cfg["Loss"]["Train"] = [{"ScaledCE": {"scale": 0.5, "weight": 1.0}}]
        cfg["Metric"]["Train"] = [{"ErrorRate": None}]
        trainer = ppcls_lite.train(ppcls_lite.load_config(_write(tmp_path, cfg)))
        log = open(os.path.join(trainer.output_dir, "train.log")).read()
        assert "ScaledCE: " in log and "error: " in log and "[Eval][Epoch 1][Avg]" in log
        assert trainer.model.conv.weight.shape[0] == 4 and trainer.state["epoch"] == 2
    finally:
        del _MODELS["TinyNet_w8"], _FAMILIES["TinyNet_w8"], _SPECS["TinyNet_w8"]
        del LOSSES["ScaledCE"], METRICS["ErrorRate"]


def _write(tmp_path, cfg):
    import yaml

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)
