"""Untrusted input never runs code. Malicious pickles (__reduce__ gadgets calling os.system, open, subprocess,
hand-written GLOBAL opcodes for builtins.exec, a gadget hidden in a state dict, a persistent id, an object
array) are refused with WeightsError -- through safe_load, build_model(pretrained=...), tools/eval.py,
Global.pretrained_model and resuming a checkpoint (.pdparams, .pdopt, .pdstates) -- and leave no side effect.
YAML python tags are refused with ConfigError, in a config, a _BASE_ file and a -o override. A source scan finds
no eval()/exec() call, no global ParamAttr(name=...), and no unpickling outside ppcls_lite/serialization.py."""
import ast
import hashlib
import os
import pickle
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ppcls_lite import build_model
from ppcls_lite.config import load_config
from ppcls_lite.engine.checkpoint import save_checkpoint
from ppcls_lite.errors import ConfigError, WeightsError
from ppcls_lite.serialization import atomic_save, safe_load

from .conftest import ROOT, small_config

sys.path.insert(0, os.path.join(ROOT, "tools"))
import train as train_tool  # noqa: E402


class _Gadget:
    """Unpickling this calls func(*args): what a hostile weights file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _raw(text):
    return text.encode("utf-8")


PAYLOADS = {  # name -> marker path -> file bytes; every one would create the marker file if it ran
    "os.system": lambda m: pickle.dumps(_Gadget(os.system, f"touch {m}")),
    "builtins.open": lambda m: pickle.dumps(_Gadget(open, m, "w")),
    "subprocess.call": lambda m: pickle.dumps(_Gadget(subprocess.call, ["touch", m]), protocol=4),
    "gadget inside a state dict": lambda m: pickle.dumps(
        {"stem.0.weight": np.zeros((8, 3, 4, 4), np.float32), "stem.0.bias": _Gadget(os.system, f"touch {m}")}),
    "GLOBAL builtins exec (protocol 0)": lambda m: _raw(f"cbuiltins\nexec\n(Vopen({m!r}, 'w')\ntR."),
    "GLOBAL posix system (protocol 0)": lambda m: _raw(f"cposix\nsystem\n(Vtouch {m}\ntR."),
    "persistent id": lambda m: _raw(f"P{m}\n."),
    "object array": lambda m: pickle.dumps({"w": np.array([m, 1.5], dtype=object)}),
}


@pytest.fixture
def marker(tmp_path):
    path = str(tmp_path / "PWNED")
    yield path
    assert not os.path.exists(path), "a payload ran"


def _write(tmp_path, name, marker, suffix=".pdparams"):
    path = str(tmp_path / f"evil{suffix}")
    with open(path, "wb") as f:
        f.write(PAYLOADS[name](marker))
    return path


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_safe_load_refuses_payload(tmp_path, marker, name):
    with pytest.raises(WeightsError, match="evil.pdparams: not a plain state file") as e:
        safe_load(_write(tmp_path, name, marker))
    if name == "object array":
        assert "array of Python objects" in str(e.value)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_build_model_pretrained_refuses_payload(tmp_path, marker, name):
    with pytest.raises(WeightsError, match="not a plain state file"):
        build_model("ConvNeXt_tiny", class_num=10, depths=[1, 1, 1, 1], dims=[8, 16, 24, 32],
                    pretrained=_write(tmp_path, name, marker))


def test_eval_tool_refuses_payload_exit_2(tmp_path, marker):
    cfg = small_config(str(tmp_path / "run"))
    weights = _write(tmp_path, "os.system", marker)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "eval.py"), "-c", cfg,
                           "-o", f"Global.pretrained_model={weights}"], capture_output=True, text=True, timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "refusing to load global 'posix.system'" in errors[0], \
        proc.stderr[-3000:]


def test_train_pretrained_model_refuses_payload_exit_2(tmp_path, marker, capsys):
    cfg = small_config(str(tmp_path / "run"))
    rc = train_tool.main(["-c", cfg, "-o", f"Global.pretrained_model={_write(tmp_path, 'builtins.open', marker)}"])
    assert rc == 2 and "refusing to load global 'io.open'" in capsys.readouterr().err


def _checkpoint_with(tmp_path, marker, which):
    """A checkpoint for the small config whose `which` file is hostile; hashes in .pdstates made to match."""
    cfg = small_config(str(tmp_path / "run"))
    model = build_model("ConvNeXt_tiny", class_num=10, depths=[1, 1, 1, 1], dims=[8, 16, 24, 32])
    opt = paddle.optimizer.Momentum(0.1, parameters=model.parameters())
    prefix = str(tmp_path / "ckpt" / "latest")
    save_checkpoint(prefix, model, opt, {"epoch": 1, "global_step": 1})
    evil = PAYLOADS["os.system"](marker)
    with open(f"{prefix}.{which}", "wb") as f:
        f.write(evil)
    if which != "pdstates":
        states = safe_load(prefix + ".pdstates")
        states["files"][which] = hashlib.sha256(evil).hexdigest()
        atomic_save(states, prefix + ".pdstates", checksum=True)
    return cfg, prefix


@pytest.mark.parametrize("which", ["pdparams", "pdopt", "pdstates"])
def test_resume_refuses_payload_in_any_checkpoint_file(tmp_path, marker, capsys, which):
    cfg, prefix = _checkpoint_with(tmp_path, marker, which)
    rc = train_tool.main(["-c", cfg, "-o", f"Global.checkpoints={prefix}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {prefix}.{which}: not a plain state file (refusing to load global 'posix.system')" \
        in err, err[-3000:]


YAML_PAYLOADS = {
    "python/object/apply os.system": 'Global:\n  seed: !!python/object/apply:os.system ["touch {m}"]\n',
    "python/object/apply builtins.open": 'Global:\n  seed: !!python/object/apply:builtins.open ["{m}", "w"]\n',
    "python/object/new subprocess.Popen": 'Global:\n  seed: !!python/object/new:subprocess.Popen [["touch", "{m}"]]\n',
    "python/name os.system": "Global:\n  seed: !!python/name:os.system\n",
}


@pytest.mark.parametrize("where", ["config", "_BASE_ file"])
@pytest.mark.parametrize("name", list(YAML_PAYLOADS))
def test_yaml_python_tags_are_refused(tmp_path, marker, name, where):
    text = YAML_PAYLOADS[name].format(m=marker)
    path = tmp_path / "evil.yaml"
    if where == "_BASE_ file":
        (tmp_path / "base.yaml").write_text(text)
        path.write_text("_BASE_: base.yaml\nGlobal:\n  epochs: 1\n")
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=r"evil\.yaml:2: invalid YAML|base\.yaml:2: invalid YAML"):
        load_config(str(path))


def test_yaml_python_tag_in_override_is_refused(tmp_path, marker):
    cfg = small_config(str(tmp_path / "run"))
    with pytest.raises(ConfigError):
        load_config(cfg, [f'Global.seed=!!python/object/apply:os.system ["touch {marker}"]'])


# -- source scan ----------------------------------------------------------------------------------------------
UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("paddle", "load"),
              ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("marshal", "loads")}


def scan(source, filename, allow_unpickling=False):
    """Problems in one file: eval()/exec() calls, ParamAttr(name=...), unsafe deserialisers."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{filename}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            problems.append(f"{where}: {func.id}() call")
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name == "ParamAttr" and any(k.arg == "name" for k in node.keywords):
            problems.append(f"{where}: ParamAttr(name=...)")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and not allow_unpickling:
            if (func.value.id, func.attr) in UNPICKLERS:
                problems.append(f"{where}: {func.value.id}.{func.attr}()")
            if func.attr == "load" and func.value.id in ("np", "numpy") and any(
                    k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords):
                problems.append(f"{where}: numpy load with allow_pickle")
    return problems


def test_scanner_finds_what_it_looks_for():
    bad = ('eval("1")\nexec("x = 1")\nfc = paddle.ParamAttr(name="fc_0.w_0")\nw = ParamAttr(name="x")\n'
           'pickle.loads(b)\npaddle.load(p)\nyaml.load(t)\nnp.load(p, allow_pickle=True)\n')
    assert len(scan(bad, "bad.py")) == 8
    ok = ('model.eval()\nself.exec_plan()\nparamattr = paddle.ParamAttr(initializer=init)\nyaml.safe_load(t)\n'
          'np.load(p)\nsafe_load(p)\n')
    assert scan(ok, "ok.py") == []


def test_package_and_tools_have_no_eval_exec_global_param_names_or_raw_unpickling():
    files = []
    for top in ("ppcls_lite", "tools"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".py")]
    assert len(files) > 20
    problems = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            problems += scan(f.read(), os.path.relpath(path, ROOT),
                             allow_unpickling=path.endswith(os.path.join("ppcls_lite", "serialization.py")))
    assert problems == []
