"""Data parallelism through the real paddle.distributed.launch (CPU, gloo, 2 processes)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import yaml

from ppcls_lite.serialization import safe_load
from tests.engine.conftest import _subset_list, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2"]


def _bn_free_config(tmp_path, **kw):
    """Tiny ConvNeXt (LayerNorm only, no drop-path): data-parallel and single runs must agree numerically."""
    path = tiny_config(tmp_path, train_per_class=4, val_per_class=3, batch_size=8, model="ConvNeXt_tiny", **kw)
    cfg = yaml.safe_load(open(path))
    cfg["Arch"].update(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32], drop_path_rate=0.0)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, **kw)


def _launch(tmp_path, tool, *args, tag="launch"):
    return _run(LAUNCH + ["--log_dir", str(tmp_path / tag), os.path.join(ROOT, "tools", tool), *args])


def _worker_logs(tmp_path, tag):
    d = tmp_path / tag
    return "\n".join(open(d / f).read() for f in sorted(os.listdir(d)) if f.startswith("workerlog"))


def _train_dp_and_single(tmp_path, cfg):
    """Train `cfg` under 2 launcher processes (its batch size each) and in one of batch 16; both `latest`
    weights."""
    dp = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={tmp_path / 'dp'}")
    assert dp.returncode == 0, _worker_logs(tmp_path, "launch")[-3000:]
    single = _run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg,
                   "-o", f"Global.output_dir={tmp_path / 'single'}", "-o", "DataLoader.Train.sampler.batch_size=16"])
    assert single.returncode == 0, single.stderr[-3000:]
    return safe_load(str(tmp_path / "dp" / "latest.pdparams")), safe_load(str(tmp_path / "single" / "latest.pdparams"))


def test_two_processes_batch8_equal_one_process_batch16(tmp_path):
    cfg = _bn_free_config(tmp_path, epochs=2)
    a, b = _train_dp_and_single(tmp_path, cfg)
    init = safe_load(str(tmp_path / "single" / "epoch_1.pdparams"))
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-5
    assert max(float(np.abs(init[k] - b[k]).max()) for k in b) > 1e-4  # training moved the weights
    # rank 0 alone writes: one train.log, whose lines are not duplicated by rank 1
    log = open(tmp_path / "dp" / "train.log").read()
    assert log.count("[Eval][Epoch 2][Avg]") == 1
    assert "[Train]" not in open(tmp_path / "launch" / "workerlog.1").read()


def test_class_balanced_sampling_under_two_processes_equals_one_process(tmp_path):
    """Each rank trains on its own part of the one (seed, epoch) balanced order: two ranks of batch 4 move the
    weights exactly as one process of batch 8 (the union of their batches is its batch)."""
    cfg = _bn_free_config(tmp_path, epochs=1)
    balance = ["-o", "DataLoader.Train.sampler.balance=class"]
    dp = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={tmp_path / 'dp'}",
                 "-o", "DataLoader.Train.sampler.batch_size=4", *balance)
    assert dp.returncode == 0, _worker_logs(tmp_path, "launch")[-3000:]
    single = _run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg, *balance,
                   "-o", f"Global.output_dir={tmp_path / 'single'}", "-o", "DataLoader.Train.sampler.batch_size=8"])
    assert single.returncode == 0, single.stderr[-3000:]
    plain = _run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg,
                  "-o", f"Global.output_dir={tmp_path / 'plain'}", "-o", "DataLoader.Train.sampler.batch_size=8"])
    assert plain.returncode == 0, plain.stderr[-3000:]
    a = safe_load(str(tmp_path / "dp" / "latest.pdparams"))
    b = safe_load(str(tmp_path / "single" / "latest.pdparams"))
    c = safe_load(str(tmp_path / "plain" / "latest.pdparams"))
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-5
    assert max(float(np.abs(c[k] - b[k]).max()) for k in b) > 1e-4  # balanced draws are another order


def test_distributed_eval_equals_single_eval(tmp_path):
    # 31 samples: not divisible by 2, so the sampler pads one sample that must not be counted.
    val = _subset_list(str(tmp_path / "val.txt"), "val", 4)
    lines = open(val).read().splitlines()[:31]
    open(val, "w").write("\n".join(lines) + "\n")
    import ppcls_lite
    from ppcls_lite.serialization import atomic_save

    model = ppcls_lite.build_model("ConvNeXt_tiny", class_num=10, depths=[1, 1, 1, 1], dims=[8, 16, 24, 32])
    weights = str(tmp_path / "w.pdparams")
    atomic_save(model.state_dict(), weights)
    cfg = _bn_free_config(tmp_path)
    c = yaml.safe_load(open(cfg))
    c["DataLoader"]["Eval"]["dataset"]["cls_label_path"] = val
    c["DataLoader"]["Eval"]["sampler"]["batch_size"] = 4
    c["Global"]["pretrained_model"] = weights
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    single = _run([sys.executable, os.path.join(ROOT, "tools", "eval.py"), "-c", cfg,
                   "-o", f"Global.output_dir={tmp_path / 'single'}"])
    assert single.returncode == 0, single.stderr[-3000:]
    dp = _launch(tmp_path, "eval.py", "-c", cfg, "-o", f"Global.output_dir={tmp_path / 'dp'}")
    assert dp.returncode == 0, _worker_logs(tmp_path, "launch")[-3000:]
    a = json.load(open(tmp_path / "single" / "eval_metrics.json"))
    b = json.load(open(tmp_path / "dp" / "eval_metrics.json"))
    assert a["num_samples"] == b["num_samples"] == 31
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert (a["top1"], a["top5"]) == (b["top1"], b["top5"]) and abs(a["loss"] - b["loss"]) < 1e-6
    # the report too: per-class precision / recall / F1, averages, calibration and the confident mistakes (files)
    ra = json.load(open(tmp_path / "single" / "eval_report.json"))
    rb = json.load(open(tmp_path / "dp" / "eval_report.json"))
    assert ra["per_class"] == rb["per_class"] and ra["averages"] == rb["averages"]
    assert ra["most_confused"] == rb["most_confused"]
    assert [m["file"] for m in ra["confident_mistakes"]] == [m["file"] for m in rb["confident_mistakes"]]
    assert abs(ra["calibration"]["ece"] - rb["calibration"]["ece"]) < 1e-6 and ra["num_samples"] == 31


def test_resume_under_two_processes_is_exact(tmp_path):
    # Long enough (60 short epochs) that the SIGTERM lands mid-run; 'latest' after every step.
    cfg = _bn_free_config(tmp_path, epochs=60, extra_global={"latest_interval_steps": 1, "eval_during_train": False})
    full = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={tmp_path / 'full'}", tag="full")
    assert full.returncode == 0, _worker_logs(tmp_path, "full")[-3000:]

    out = tmp_path / "stopped"
    proc = subprocess.Popen(LAUNCH + ["--log_dir", str(tmp_path / "stop"), os.path.join(ROOT, "tools", "train.py"),
                                      "-c", cfg, "-o", f"Global.output_dir={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # a launcher that died fails at once
        states = out / "latest.pdstates"
        if states.exists() and safe_load(str(states))["global_step"] >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    stopped = safe_load(str(out / "latest.pdstates"))
    assert stopped["global_step"] < 180, "the run finished before it could be stopped"
    assert "signal received" in _worker_logs(tmp_path, "stop")

    resumed = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={out}",
                      "-o", f"Global.checkpoints={out / 'latest'}", tag="resume")
    _assert_resumed_equals(resumed, tmp_path, "resume", tmp_path / "full", out)


def _assert_resumed_equals(proc, tmp_path, tag, full, out):
    """The resumed launcher run succeeded, said it resumed, and ended with the uninterrupted run's weights."""
    assert proc.returncode == 0, _worker_logs(tmp_path, tag)[-3000:]
    assert "resumed from" in _worker_logs(tmp_path, tag)
    a = safe_load(str(full / "latest.pdparams"))
    b = safe_load(str(out / "latest.pdparams"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


_EXIT_CODE_WRAPPER = """import os, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    code = 0
except SystemExit as e:
    code = e.code or 0
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rc." + os.environ["PADDLE_TRAINER_ID"]), "w").write(str(code))
sys.exit(code)
"""


def test_wholly_undecodable_batch_on_one_rank_stops_every_rank(tmp_path):
    # on_bad_image: skip, 2 ranks, batch size 2, no shuffle: rank 1's batches are lines 2-3 and 6-7 of the list
    # (rank 0's are 0-1, 4-5, 8). Lines 6 and 7 are not images, so rank 1's iter 1 is wholly undecodable: dropping
    # it would leave rank 0 waiting in iter 1's gradient all-reduce (or running one step more). It must stop.
    cfg = _bn_free_config(tmp_path, epochs=1, extra_global={"eval_during_train": False})
    c = yaml.safe_load(open(cfg))
    train = c["DataLoader"]["Train"]
    train["sampler"].update(batch_size=2, shuffle=False)
    train["dataset"]["on_bad_image"] = "skip"
    lines = open(train["dataset"]["cls_label_path"]).read().splitlines()[:10]
    bad = []
    for i in (6, 7):
        bad.append(tmp_path / f"bad{i}.jpg")
        bad[-1].write_bytes(b"<html>not an image</html>")
        lines[i] = f"{bad[-1]} {lines[i].split()[-1]}"
    open(train["dataset"]["cls_label_path"], "w").write("\n".join(lines) + "\n")
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    wrapper = tmp_path / "rc_wrapper.py"  # records each rank's own exit code (the launcher reports only one)
    wrapper.write_text(_EXIT_CODE_WRAPPER)
    start = time.time()
    proc = subprocess.run(LAUNCH + ["--log_dir", str(tmp_path / "launch"), str(wrapper),
                                    os.path.join(ROOT, "tools", "train.py"), "-c", cfg,
                                    "-o", f"Global.output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    elapsed = time.time() - start
    log0 = open(tmp_path / "launch" / "workerlog.0").read()
    log1 = open(tmp_path / "launch" / "workerlog.1").read()
    assert proc.returncode != 0 and elapsed < 120, (proc.returncode, elapsed)
    assert (tmp_path / "rc.1").read_text() == "2", log1[-3000:]
    assert not (tmp_path / "rc.0").exists() or (tmp_path / "rc.0").read_text() != "0"  # rank 0 stopped too
    assert "[Train][Epoch 1/1][Iter: 0/3]" in log0 and "[Iter: 1/3]" not in log0  # the step before ran
    errors = [line for line in log1.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: rank 1 of 2: every image of the batch at epoch 1, iter 1 is undecodable (on_bad_image: skip): "
        f"{bad[0]}, {bad[1]}; with data-parallel training a batch cannot be dropped on one rank only (the other "
        "ranks would wait for it at the next step); fix or remove these files, or use a larger batch_size"
    ], log1[-3000:]
    assert "Traceback" not in log1


def test_sync_bn_conversion_keeps_keys_and_refuses_cpu():
    import paddle
    import pytest

    import ppcls_lite
    from ppcls_lite.engine.distributed import convert_sync_batchnorm

    model = ppcls_lite.build_model("ResNet18", class_num=3)
    keys = list(model.state_dict())
    with pytest.raises(ppcls_lite.ConfigError, match="Arch.use_sync_bn"):
        convert_sync_batchnorm(model, "cpu")
    # The conversion itself (run on GPUs) keeps PaddleClas's keys, so checkpoints stay interchangeable.
    converted = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert list(converted.state_dict()) == keys
    assert any(isinstance(m, paddle.nn.SyncBatchNorm) for m in converted.sublayers())


def test_sync_bn_on_cpu_launch_is_a_clear_error(tmp_path):
    cfg = tiny_config(tmp_path, train_per_class=2, val_per_class=1, batch_size=4, epochs=1)
    c = yaml.safe_load(open(cfg))
    c["Arch"]["use_sync_bn"] = True
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    proc = _launch(tmp_path, "train.py", "-c", cfg)
    assert proc.returncode != 0
    assert "error: Arch.use_sync_bn: SyncBatchNorm has no CPU kernel" in _worker_logs(tmp_path, "launch")


def _eval_line(log, epoch):
    line = next(x for x in log.splitlines() if f"[Eval][Epoch {epoch}][Avg]" in x)
    return {k: float(line.split(f"{k}: ")[1].split(",")[0]) for k in ("top1", "top5", "CELoss")}


def test_evaluation_during_data_parallel_training_is_of_the_saved_model(tmp_path):
    """ResNet18 has BatchNorm: each rank's running statistics drift apart during data-parallel training. Every
    rank must evaluate rank 0's (the saved ones), so the logged metric is the saved model's: equal to the
    single-process evaluation of the saved weights, and to a 2-process evaluation of them."""
    cfg = tiny_config(tmp_path, train_per_class=6, val_per_class=3, batch_size=6, epochs=2,
                      extra_global={"use_visualdl": False})
    c = yaml.safe_load(open(cfg))
    c["Optimizer"]["lr"]["learning_rate"] = 0.005  # a model that learns something, not a diverged one
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    out = tmp_path / "dp"
    dp = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={out}")
    assert dp.returncode == 0, _worker_logs(tmp_path, "launch")[-3000:]
    logged = _eval_line(open(out / "train.log").read(), 2)
    single = _run([sys.executable, os.path.join(ROOT, "tools", "eval.py"), "-c", cfg,
                   "-o", f"Global.pretrained_model={out / 'epoch_2'}", "-o", f"Global.output_dir={tmp_path / 'single'}"])
    assert single.returncode == 0, single.stderr[-3000:]
    multi = _launch(tmp_path, "eval.py", "-c", cfg, "-o", f"Global.pretrained_model={out / 'epoch_2'}",
                    "-o", f"Global.output_dir={tmp_path / 'multi'}", tag="eval")
    assert multi.returncode == 0, _worker_logs(tmp_path, "eval")[-3000:]
    a = json.load(open(tmp_path / "single" / "eval_metrics.json"))
    b = json.load(open(tmp_path / "multi" / "eval_metrics.json"))
    assert a["num_samples"] == b["num_samples"] == 30
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["per_class_accuracy"] == b["per_class_accuracy"]
    assert (a["top1"], a["top5"]) == (b["top1"], b["top5"]) and abs(a["loss"] - b["loss"]) < 1e-6
    # the training log prints 5 decimals
    assert (logged["top1"], logged["top5"]) == (round(a["top1"], 5), round(a["top5"], 5))
    assert abs(logged["CELoss"] - a["loss"]) <= 6e-6, (logged, a["loss"])


def test_sigkill_of_a_rank_then_the_same_command_again_is_exact(tmp_path):
    """Global.checkpoints: auto under the launcher: kill -9 of rank 1 mid-run stops the job; running the identical
    command again resumes every rank from `latest` and ends with the weights of an uninterrupted run."""
    cfg = _bn_free_config(tmp_path, epochs=40, extra_global={"latest_interval_steps": 1, "eval_during_train": False,
                                                             "use_visualdl": False})
    full = _launch(tmp_path, "train.py", "-c", cfg, "-o", f"Global.output_dir={tmp_path / 'full'}", tag="full")
    assert full.returncode == 0, _worker_logs(tmp_path, "full")[-3000:]

    out = tmp_path / "out"
    command = LAUNCH + ["--log_dir", str(tmp_path / "first"), os.path.join(ROOT, "tools", "train.py"), "-c", cfg,
                        "-o", f"Global.output_dir={out}", "-o", "Global.checkpoints=auto"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # a launcher that died fails at once
        states = out / "latest.pdstates"
        try:
            if states.exists() and safe_load(str(states))["global_step"] >= 6:
                break
        except Exception:  # being replaced right now
            pass
        time.sleep(0.02)
    rank1 = None
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and int(open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()[1]) == proc.pid \
                    and b"PADDLE_TRAINER_ID=1" in open(f"/proc/{name}/environ", "rb").read().split(b"\0"):
                rank1 = int(name)
        except OSError:
            continue
    assert rank1 is not None
    os.kill(rank1, signal.SIGKILL)
    assert proc.wait(timeout=180) != 0
    stopped = safe_load(str(out / "latest.pdstates"))["global_step"]
    assert stopped < 40 * 3, "the run finished before it could be killed"

    command[command.index("--log_dir") + 1] = str(tmp_path / "again")
    _assert_resumed_equals(_run(command), tmp_path, "again", tmp_path / "full", out)


def test_distillation_under_two_processes_equals_one_process(tmp_path):
    """A frozen teacher beside a DataParallel student: 2 x batch 8 trains the student as 1 x batch 16."""
    import ppcls_lite
    from ppcls_lite.serialization import atomic_save

    arch = {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32], "drop_path_rate": 0.0}
    teacher = str(tmp_path / "teacher.pdparams")
    atomic_save(ppcls_lite.build_model("ConvNeXt_tiny", class_num=10, **arch).state_dict(), teacher)
    cfg = _bn_free_config(tmp_path, epochs=1)
    c = yaml.safe_load(open(cfg))
    c["Arch"] = {"name": "DistillationModel", "class_num": 10, "freeze_params_list": [True, False],
                 "models": [{"Teacher": {"name": "ConvNeXt_tiny", "pretrained": teacher, **arch}},
                            {"Student": {"name": "ConvNeXt_tiny", **arch}}]}
    c["Loss"]["Train"] = [{"DistillationGTCELoss": {"weight": 1.0, "model_names": ["Student"]}},
                          {"DistillationKLDivLoss": {"weight": 1.0, "model_name_pairs": [["Student", "Teacher"]]}}]
    c["Metric"]["Train"] = [{"DistillationTopkAcc": {"model_key": "Student", "topk": [1]}}]
    with open(cfg, "w") as f:
        yaml.safe_dump(c, f)
    a, b = _train_dp_and_single(tmp_path, cfg)
    assert set(a) == set(b) and all(k.startswith("Student.") for k in a)
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-5


def test_multilabel_eval_under_two_processes_equals_one_process(tmp_path):
    """31 multi-label samples (the sampler pads one): the metrics, mAP and per-label figures are the same."""
    import ppcls_lite
    from ppcls_lite.serialization import atomic_save
    from tests.engine.conftest import DATA

    lists = os.path.join(DATA, "multilabel")
    lines = open(os.path.join(lists, "val_list.txt")).read().splitlines()[::32][:31]
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "val_list.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "lists" / "label_list.txt").write_text(open(os.path.join(lists, "label_list.txt")).read())
    arch = {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]}
    weights = str(tmp_path / "w.pdparams")
    atomic_save(ppcls_lite.build_model("ConvNeXt_tiny", class_num=7, **arch).state_dict(), weights)
    config = os.path.join(ROOT, "configs", "multilabel", "resnet18_cifar10_mini_multilabel.yaml")
    args = ["-c", config, "-o", "Arch.name=ConvNeXt_tiny", "-o", "Arch.depths=[1, 1, 1, 1]",
            "-o", "Arch.dims=[8, 16, 24, 32]", "-o", f"Global.pretrained_model={weights}",
            "-o", f"DataLoader.Eval.dataset.image_root={DATA}",
            "-o", f"DataLoader.Eval.dataset.cls_label_path={tmp_path / 'lists' / 'val_list.txt'}",
            "-o", "DataLoader.Eval.sampler.batch_size=4", "-o", "DataLoader.Eval.loader.num_workers=0"]
    single = _run([sys.executable, os.path.join(ROOT, "tools", "eval.py"), *args,
                   "-o", f"Global.output_dir={tmp_path / 'single'}"])
    assert single.returncode == 0, single.stderr[-3000:]
    dp = _launch(tmp_path, "eval.py", *args, "-o", f"Global.output_dir={tmp_path / 'dp'}")
    assert dp.returncode == 0, _worker_logs(tmp_path, "launch")[-3000:]
    a = json.load(open(tmp_path / "single" / "eval_metrics.json"))
    b = json.load(open(tmp_path / "dp" / "eval_metrics.json"))
    assert a["num_samples"] == b["num_samples"] == 31
    assert a["per_label"] == b["per_label"]
    assert a["metrics"].keys() == b["metrics"].keys() == {"AccuracyScore", "HammingDistance", "mAP"}
    for key in a["metrics"]:
        assert abs(a["metrics"][key] - b["metrics"][key]) < 1e-9, key
    assert abs(a["loss"] - b["loss"]) < 1e-6
