"""Evaluation computes what the config says (issue 12, item 2): Metric.Eval and Loss.Eval through the metric and
loss classes, each sample once; `Metric.Train: []` means no training metric; start_eval_epoch delays
evaluation; use_fp16_test evaluates under autocast; use_dali says in one line that it is not used."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

import ppcls_lite
from ppcls_lite.engine.amp import AmpDecision, amp_options
from ppcls_lite.engine.evaluator import Scorer, evaluate
from tests.engine.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(tmp_path, **changes):
    cfg = yaml.safe_load(open(tiny_config(tmp_path, epochs=2)))
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "configured.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def _train(cfg):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", cfg],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _lines(log, tag):
    return [line.split(tag, 1)[1] for line in log.splitlines() if tag in line]


def test_configured_metrics_and_losses_start_epoch_and_no_train_metric(tmp_path):
    cfg = _config(tmp_path, Metric__Train=[], Metric__Eval=[{"TopkAcc": {"topk": [1]}}],
                  Loss__Eval=[{"CELoss": {"weight": 1.0, "epsilon": 0.2}}],
                  Global__start_eval_epoch=2, Global__use_dali=True)
    log = _train(cfg)
    # evaluation only from epoch 2 on, with exactly the configured figures
    evals = [line for line in log.splitlines() if "[Eval][Epoch" in line and "[Avg]" in line]
    assert len(evals) == 1 and "[Eval][Epoch 2][Avg]top1: " in evals[0], evals
    assert "top5" not in evals[0] and ", CELoss: " in evals[0]
    # no training metric: the train lines carry losses only
    train = _lines(log, "[Train][Epoch 1/2][Iter: 0/")[0]
    assert "CELoss: " in train and "top1" not in train
    assert sum("Global.use_dali: ppcls_lite has no DALI pipeline" in line for line in log.splitlines()) == 1
    # best_model is chosen by the first Metric.Eval metric, and stored with it
    assert "[Eval][Epoch 2][best metric: " in log


def test_the_eval_loss_is_the_configured_one_computed_per_sample(tmp_path):
    """Loss.Eval with label smoothing, against a hand computation over every sample (two batches, the last
    one short), and a metric without per-sample values averaged over samples, not batches."""
    paddle.seed(3)
    logits = paddle.randn([7, 4])
    labels = paddle.to_tensor([0, 1, 2, 3, 0, 1, 2])

    class Fixed(paddle.nn.Layer):
        def forward(self, x):
            return logits[x.reshape([-1]).astype("int64")]

    loader = [(paddle.arange(0, 4).reshape([4, 1]), labels[:4], np.arange(4)),
              (paddle.arange(4, 7).reshape([3, 1]), labels[4:], np.arange(4, 7))]

    class BatchMean:  # a user metric with no per_sample: its batch value stands for each of the batch's samples
        def __call__(self, x, label):
            return {"first_logit": x[:, 0].mean()}

    from ppcls_lite.loss import build_loss
    from ppcls_lite.metric import CombinedMetric, TopkAcc

    scorer = Scorer(CombinedMetric([TopkAcc(topk=[1, 2]), BatchMean()]),
                    build_loss([{"CELoss": {"weight": 2.0, "epsilon": 0.3}}, {"CELoss": {"weight": 1.0}}]))
    result = evaluate(Fixed(), loader, 4, scorer=scorer)
    x = logits.numpy().astype("float64")
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    y = labels.numpy()
    onehot = np.eye(4)[y]
    smoothed = -(logp * (0.7 * onehot + 0.3 / 4)).sum(1).mean()
    plain = -logp[np.arange(7), y].mean()
    assert result.losses["CELoss"] == pytest.approx(smoothed, rel=1e-6)
    assert result.losses["CELoss_1"] == pytest.approx(plain, rel=1e-6)
    assert result.loss == pytest.approx(2.0 * smoothed + plain, rel=1e-6)
    top2 = np.argsort(-x, 1)[:, :2]
    assert result.metrics["top1"] == pytest.approx(float((top2[:, 0] == y).mean()))
    assert result.metrics["top2"] == pytest.approx(float((top2 == y[:, None]).any(1).mean()))
    assert result.metrics["first_logit"] == pytest.approx(float(x[:, 0].mean()), rel=1e-6)
    assert list(result.metrics) == ["top1", "top2", "first_logit"] and result.main_metric == result.metrics["top1"]
    assert result.summary().startswith("top1: ") and ", loss: " in result.summary()
    # nothing configured: nothing computed
    empty = evaluate(Fixed(), loader, 4, scorer=Scorer(None, None))
    assert empty.metrics == {} and empty.losses == {} and empty.loss is None and empty.main_metric is None
    assert empty.summary() == "samples: 7" and empty.top1 == pytest.approx(float((top2[:, 0] == y).mean()))


def test_no_eval_metric_means_no_best_model_and_report_keys(tmp_path):
    cfg = _config(tmp_path, Metric__Eval=[], Loss__Eval=[])
    log = _train(cfg)
    out = tmp_path / "output"
    assert "best metric" not in log and not (out / "best_model.pdparams").exists()
    assert (out / "latest.pdparams").exists()
    assert [line for line in log.splitlines() if "[Eval][Epoch 2][Avg]" in line][0].endswith("samples: 30")
    # the eval tool writes the configured figures into its report
    ppcls_lite.evaluate_config(cfg, [f"Global.pretrained_model={out / 'latest'}", "Metric.Eval=[{TopkAcc: "
                                     "{topk: [1]}}]", f"Global.output_dir={tmp_path / 'eval'}"], progress=False)
    report = json.load(open(tmp_path / "eval" / "eval_metrics.json"))
    assert list(report["metrics"]) == ["top1"] and report["losses"] == {}


def test_use_fp16_test_evaluates_under_autocast():
    opts = amp_options(use_fp16_test=True, use_promote=True, dtype="bf16")
    scorer = Scorer.from_config({"Metric": {"Eval": None}, "Loss": {"Eval": None}},
                                AmpDecision(True, "O1", "bfloat16", "", opts))
    assert scorer.autocast.func is paddle.amp.auto_cast
    assert scorer.autocast.keywords == {"level": "O1", "dtype": "bfloat16", "use_promote": True}
    entered = []

    class Recording:
        def __enter__(self):
            entered.append(True)

        def __exit__(self, *exc):
            return False

    model = paddle.nn.Linear(3, 2)
    loader = [(paddle.ones([2, 3]), paddle.to_tensor([0, 1]), np.arange(2))]
    evaluate(model, loader, 2, scorer=Scorer(scorer.metric, scorer.loss, autocast=Recording))
    assert entered == [True]
    # without use_fp16_test (O1) evaluation runs in float32; O2 (half-precision weights) always autocasts
    plain = Scorer.from_config({}, AmpDecision(True, "O1", "bfloat16", "", amp_options()))
    o2 = Scorer.from_config({}, AmpDecision(True, "O2", "bfloat16", "", amp_options(level="O2")))
    assert plain.autocast is not scorer.autocast and not hasattr(plain.autocast, "keywords")
    assert o2.autocast.keywords["level"] == "O2"


def test_class_weights_reach_training_and_are_refused_in_eval(tmp_path):
    from ppcls_lite.errors import ConfigError

    cfg = _config(tmp_path, Loss__Train=[{"CELoss": {"weight": 1.0, "class_weights": "balanced"}}])
    trainer = ppcls_lite.train(cfg, ["Global.epochs=1"])
    # the tiny training set holds 6 images of each of its 10 classes: balanced weights are all 1
    np.testing.assert_allclose(trainer.loss_fn.loss_funcs[0]._class_weights.numpy(), np.ones(10), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"^Loss.Train: class_weights: 3 weights for a 10-class model"):
        ppcls_lite.train(cfg, ["Loss.Train.0.CELoss.class_weights=[1, 2, 3]"])
    with pytest.raises(ConfigError, match=r"^Loss.Eval.0.CELoss.class_weights: weight the training loss"):
        ppcls_lite.train(cfg, ["Loss.Eval.0.CELoss.class_weights=balanced"])
