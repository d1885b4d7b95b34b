"""DistillationModel training on real images: the frozen teacher learns nothing and runs in eval mode, only the
student is checkpointed, a resume is exact, and evaluation / export / quick-mode tools use the student."""
import json
import os

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.config import load_config
from ppcls_lite.engine.trainer import Trainer
from ppcls_lite.engine.training import train
from ppcls_lite.export import create_predictor, run_predictor
from ppcls_lite.serialization import atomic_save, safe_load
from tests.engine.conftest import DATA, run_tool, tiny_config

NARROW = {"base_channels": 8}


def _teacher_file(tmp_path):
    """A narrow ResNet18 with non-trivial BatchNorm statistics (a teacher run in train mode would change them)."""
    paddle.seed(3)
    model = ppcls_lite.build_model("ResNet18", class_num=10, **NARROW)
    rng = np.random.default_rng(0)
    state = {k: (rng.uniform(0.5, 1.5, v.shape).astype("float32") if k.endswith("_variance") else v.numpy())
             for k, v in model.state_dict().items()}
    path = str(tmp_path / "teacher.pdparams")
    atomic_save(state, path)
    return path, state


def distill_config(tmp_path, teacher, *, losses=None, ema=False, epochs=1, sub="run", student="ResNet18",
                   student_kwargs=None):
    d = tmp_path / sub
    d.mkdir(exist_ok=True)
    path = tiny_config(d, epochs=epochs, ema=ema, train_per_class=4, val_per_class=2)
    cfg = yaml.safe_load(open(path))
    cfg["Arch"] = {"name": "DistillationModel", "class_num": 10, "freeze_params_list": [True, False],
                   "models": [{"Teacher": {"name": "ResNet18", "pretrained": teacher, **NARROW}},
                              {"Student": {"name": student, **(student_kwargs or NARROW)}}],
                   "infer_model_name": "Student"}
    cfg["Loss"]["Train"] = losses or [
        {"DistillationGTCELoss": {"weight": 1.0, "model_names": ["Student"]}},
        {"DistillationDKDLoss": {"weight": 1.0, "model_name_pairs": [["Student", "Teacher"]]}}]
    metric = [{"DistillationTopkAcc": {"model_key": "Student", "topk": [1, 5]}}]
    cfg["Metric"] = {"Train": metric, "Eval": metric}
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def test_the_frozen_teacher_learns_nothing_runs_in_eval_mode_and_stays_out_of_checkpoints(tmp_path):
    teacher, state = _teacher_file(tmp_path)
    trainer = Trainer(load_config(distill_config(tmp_path, teacher, ema=True)))
    modes = []
    trainer.model.Teacher.register_forward_pre_hook(lambda layer, x: modes.append(("teacher", layer.training)))
    trainer.model.Student.register_forward_pre_hook(lambda layer, x: modes.append(("student", layer.training)))
    student_before = {k: v.numpy().copy() for k, v in trainer.model.Student.state_dict().items()}
    result = trainer.fit()
    training = [m for m in modes[:4]]  # the first training step, before any evaluation
    assert ("teacher", False) in training and ("student", True) in training
    assert not any(who == "teacher" and mode for who, mode in modes)
    for k, v in trainer.model.Teacher.state_dict().items():  # weights and BatchNorm statistics, bitwise
        np.testing.assert_array_equal(v.numpy(), state[k], err_msg=k)
    assert any(not np.array_equal(v.numpy(), student_before[k])
               for k, v in trainer.model.Student.state_dict().items())
    out = tmp_path / "run" / "output"
    weights = safe_load(str(out / "latest.pdparams"))
    assert set(weights) == {f"Student.{k}" for k in trainer.model.Student.state_dict()}
    assert not any("Teacher" in k for k in safe_load(str(out / "latest.pdopt")))
    states = safe_load(str(out / "latest.pdstates"))
    assert set(states["ema"]["shadow"]) == set(trainer.model.Student.state_dict())  # the EMA of what is served
    assert states["model_info"]["arch"]["name"] == "ResNet18" and states["model_info"]["member"] == "Student"
    assert list(result.metrics) == ["top1", "top5"] and result.num_samples == 20


def test_resume_is_exact(tmp_path):
    teacher, _ = _teacher_file(tmp_path)
    straight = train(load_config(distill_config(tmp_path, teacher, epochs=2, sub="straight")))
    path = distill_config(tmp_path, teacher, epochs=2, sub="resumed")
    train(load_config(path, ["Global.epochs=1"]))
    resumed = train(load_config(path, ["Global.checkpoints=auto"]))
    assert resumed.resumed_from is not None
    a = safe_load(str(tmp_path / "straight" / "output" / "latest.pdparams"))
    b = safe_load(str(tmp_path / "resumed" / "output" / "latest.pdparams"))
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert straight.result.metrics == resumed.result.metrics


def test_eval_export_and_quick_mode_use_the_student(tmp_path):
    teacher, _ = _teacher_file(tmp_path)
    path = distill_config(tmp_path, teacher)
    trainer = train(load_config(path))
    best = str(tmp_path / "run" / "output" / "best_model")
    proc = run_tool("eval.py", "-c", path, "-o", f"Global.pretrained_model={best}",
                    "-o", f"Global.output_dir={tmp_path / 'eval'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = f"top1: {trainer.result.metrics['top1']:.5f}"
    assert expected in proc.stdout + proc.stderr
    quick = run_tool("eval.py", "--data", str(tmp_path / "run" / "val_list.txt"), "--image-root", DATA,
                     "--weights", best, "--output-dir", str(tmp_path / "q"))
    assert quick.returncode == 0, quick.stderr[-2000:]
    assert expected in quick.stdout + quick.stderr
    proc = run_tool("export_model.py", "-c", path, "-o", f"Global.pretrained_model={best}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "exported ResNet18" in proc.stdout
    cfg = load_config(path)
    bundle = open(os.path.join(cfg["Global"]["save_inference_dir"], "inference.yml")).read()
    assert "model_name: ResNet18" in bundle
    student = ppcls_lite.build_model("ResNet18", class_num=10, **NARROW)
    student.set_state_dict({k[len("Student."):]: v for k, v in safe_load(best + ".pdparams").items()})
    student.eval()
    x = np.random.default_rng(1).normal(size=(4, 3, 32, 32)).astype("float32")
    with paddle.no_grad():
        want = student(paddle.to_tensor(x)).numpy()
    got = run_predictor(create_predictor(os.path.join(cfg["Global"]["save_inference_dir"], "inference"),
                                         num_threads=1), x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("change, message", [
    ({"Arch.pretrained_list": None, "Arch.models.0.Teacher.pretrained": False},
     "Arch.models.0.Teacher: frozen (Arch.freeze_params_list[0]: true) but given no weights"),
    ({"Loss.Train.1.DistillationDKDLoss.model_name_pairs": [["Student", "Techer"]]},
     "Loss.Train.1.DistillationDKDLoss.model_name_pairs.0.1: 'Techer' is not one of Arch.models (Teacher, "
     "Student); did you mean 'Teacher'?"),
    ({"Metric.Eval.0.DistillationTopkAcc.model_key": "Teacher"},
     "Metric.Eval.0.DistillationTopkAcc.model_key: Teacher, but evaluation runs Arch.infer_model_name (Student) "
     "alone"),
    ({"Arch.models.1.Student.class_num": 5},
     "Arch.models.1.Student.class_num: 5, but Teacher has 10; the distillation losses compare the models' logits"),
    ({"Arch.freeze_params_list": [True]}, "Arch.freeze_params_list: 1 entries for 2 models"),
    ({"Arch.models": [{"train": {"name": "ResNet18"}}, {"Student": {"name": "ResNet18"}}]},
     "Arch.models.0: member name 'train': a name like Teacher or Student"),
    ({"Arch.infer_model_name": "Teacher"}, "Arch.infer_model_name: Teacher is frozen"),
    ({"Arch.models.1.Student.use_sync_bn": True},
     "Arch.models.1.Student.use_sync_bn: converts the whole model: set Arch.use_sync_bn"),
    ({"Loss.Train.1": {"DistillationDeiTHardLoss": {"model_name_pairs": [["Student", "Teacher"]]}}},
     "Loss.Train.1.DistillationDeiTHardLoss.model_name_pairs: Student is a ResNet without a distillation head"),
    ({"Loss.Train.1.DistillationDKDLoss.key": "feats"},
     "key: 'feats', but the models return their logits (a tensor), not a dict; leave it null"),
    ({"Loss.Train": [{"CELoss": {"weight": 1.0}}]},
     "Loss.Train.0.CELoss: a DistillationModel gives {model name: logits}; use its Distillation* form"),
    ({"Metric.Train": [{"TopkAcc": {"topk": [1]}}]},
     "Metric.Train.0.TopkAcc: a DistillationModel gives {model name: logits}; use DistillationTopkAcc"),
    ({"Loss.Eval": [{"DistillationGTCELoss": {"model_names": ["Student"]}}]},
     "Loss.Eval.0.DistillationGTCELoss: evaluation runs one model (Arch.infer_model_name) alone"),
    ({"Arch.infer_model_name": "Studnet"}, "Arch.infer_model_name: 'Studnet' is not one of the models"),
])
def test_mistakes_are_one_line(tmp_path, change, message):
    teacher, _ = _teacher_file(tmp_path)
    path = distill_config(tmp_path, teacher)
    overrides = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in change.items()]
    proc = run_tool("train.py", "-c", path, *sum((["-o", o] for o in overrides), []))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "Warning" not in line
             and "warnings.warn" not in line]
    assert message in lines[-1] and "Traceback" not in proc.stderr


def test_deit_hard_distillation_trains_head_dist_on_the_teachers_argmax(tmp_path):
    teacher, _ = _teacher_file(tmp_path)
    deit = {"embed_dim": 16, "depth": 1, "num_heads": 2, "img_size": 32}
    path = distill_config(tmp_path, teacher, student="DeiT_tiny_distilled_patch16_224", student_kwargs=deit,
                          losses=[{"DistillationDeiTHardLoss": {"weight": 1.0,
                                                                "model_name_pairs": [["Student", "Teacher"]]}}])
    cfg = load_config(path)
    trainer = Trainer(cfg)
    model, student = trainer.model, trainer.model.Student
    model.train()
    paddle.seed(0)
    x = paddle.to_tensor(np.random.default_rng(2).normal(size=(6, 3, 32, 32)).astype("float32"))
    label = paddle.to_tensor(np.arange(6) % 10)
    out = model(x)
    assert isinstance(out["Student"], tuple) and len(out["Student"]) == 2
    trainer.loss_fn(out, label)["loss"].backward()
    # the gradient of head_dist's weight is that of CE(head_dist, teacher argmax) / 2, of head's CE(head, y) / 2
    feats = student.forward_features(x).numpy()
    c = student.embed_dim
    hard = out["Teacher"].numpy().argmax(-1)
    assert (hard != label.numpy()).any()  # the two targets differ, so the gradients tell them apart
    for head, f, target in ((student.head_dist, feats[:, c:], hard), (student.head, feats[:, :c], label.numpy())):
        z = f @ head.weight.numpy() + head.bias.numpy()
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        want = f.T @ (p - np.eye(10)[target]) / len(target) / 2
        np.testing.assert_allclose(head.weight.grad.numpy(), want, rtol=1e-4, atol=1e-6)
    assert model.Teacher.fc.weight.grad is None  # frozen: no gradient reaches the teacher
    model.eval()
    with paddle.no_grad():  # evaluation scores the average of the two heads, as before
        f = paddle.to_tensor(student.forward_features(x).numpy())
        both = (student.head(f[:, :c]) + student.head_dist(f[:, c:])) / 2
        np.testing.assert_allclose(student(x).numpy(), both.numpy(), rtol=1e-5, atol=1e-6)
    model.Student.clear_gradients()
    result = trainer.fit()  # the whole loop, on real images
    assert np.isfinite(result.loss) and result.num_samples == 20


def test_resuming_with_another_teacher_is_an_error(tmp_path):
    teacher, state = _teacher_file(tmp_path)
    path = distill_config(tmp_path, teacher, epochs=2)
    train(load_config(path, ["Global.epochs=1"]))
    changed = dict(state, **{"fc.bias": state["fc.bias"] + 1.0})  # a retrained teacher in the same file
    atomic_save(changed, teacher)
    proc = run_tool("train.py", "-c", path, "-o", "Global.checkpoints=auto")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Arch.models: the frozen Teacher is not the one" in proc.stderr and "Traceback" not in proc.stderr


def test_a_channels_last_member_gets_its_batch_transposed():
    from ppcls_lite.arch.distillation import DistillationModel

    paddle.seed(0)
    nchw = ppcls_lite.build_model("ResNet18", class_num=4, **NARROW)
    nhwc = ppcls_lite.build_model("ResNet18", class_num=4, data_format="NHWC", **NARROW)
    nhwc.set_state_dict(nchw.state_dict())
    model = DistillationModel([("Teacher", nchw), ("Student", nhwc)], [True, False], "Student")
    model.eval()
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype("float32"))
    with paddle.no_grad():
        out = model(x)
    np.testing.assert_allclose(out["Student"].numpy(), out["Teacher"].numpy(), rtol=1e-4, atol=1e-5)
