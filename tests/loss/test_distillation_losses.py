"""Each distillation loss equals a hand computation in numpy on fixed logits (benchmarks/check_distill_losses.py
runs PaddleClas's own modules beside them: equal within 4e-6)."""
import numpy as np
import paddle
import pytest

from ppcls_lite.errors import ConfigError
from ppcls_lite.loss import LOSSES, build_loss

RNG = np.random.default_rng(7)
N, C = 6, 5
S = RNG.normal(0, 2, (N, C)).astype("float32")
T_ = RNG.normal(0, 2, (N, C)).astype("float32")
Y = np.array([0, 3, 1, 4, 2, 3])
PAIR = {"model_name_pairs": [["Student", "Teacher"]]}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(x):
    return np.log(softmax(x))


def kl(p, q):
    """sum_c p log(p / q) per row."""
    return (p * (np.log(p) - np.log(q))).sum(-1)


def run(name, label=Y, predicts=None, **kwargs):
    fn = LOSSES[name](**kwargs)
    predicts = predicts or {"Student": paddle.to_tensor(S), "Teacher": paddle.to_tensor(T_)}
    out = fn(predicts, paddle.to_tensor(label))
    return {k: float(v) for k, v in out.items()}


def test_gt_ce_is_the_cross_entropy_of_each_member_with_the_labels():
    out = run("DistillationGTCELoss", model_names=["Student", "Teacher"])
    assert out.keys() == {"CELoss_Student", "CELoss_Teacher"}
    assert out["CELoss_Student"] == pytest.approx(-log_softmax(S)[np.arange(N), Y].mean(), rel=1e-5)
    smooth = 0.9 * np.eye(C)[Y] + 0.1 / C
    out = run("DistillationGTCELoss", model_names=["Student"], epsilon=0.1)
    assert out["CELoss_Student"] == pytest.approx(-(smooth * log_softmax(S)).sum(-1).mean(), rel=1e-5)


def test_ce_is_the_cross_entropy_against_the_other_models_probabilities():
    out = run("DistillationCELoss", **PAIR)
    assert list(out) == ["CELoss_Student_Teacher"]
    assert out["CELoss_Student_Teacher"] == pytest.approx(-(softmax(T_) * log_softmax(S)).sum(-1).mean(), rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kldiv_is_t_squared_kl_of_the_softened_distributions(temperature):
    t = temperature
    out = run("DistillationKLDivLoss", temperature=t, **PAIR)
    expected = kl(softmax(T_ / t), softmax(S / t)).mean() * t * t
    assert out["loss_kldiv_Student_Teacher"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("act", ["softmax", "sigmoid"])
def test_dml_is_the_symmetric_kl_of_the_two_models(act):
    f = softmax if act == "softmax" else (lambda x: 1 / (1 + np.exp(-x)))
    ps, pt = f(S), f(T_)
    eps = 1e-12
    terms = (pt * np.log((pt + eps) / (ps + eps)) + ps * np.log((ps + eps) / (pt + eps))) * C / 2
    out = run("DistillationDMLLoss", act=act, **PAIR)
    assert list(out) == ["DMLLoss_Student_Teacher_0"]
    assert out["DMLLoss_Student_Teacher_0"] == pytest.approx(terms.mean(), rel=1e-5)
    if act == "softmax":  # the sum over classes of the symmetric KL, mean over the batch
        assert terms.mean() == pytest.approx(((kl(pt, ps) + kl(ps, pt)) / 2).mean(), rel=1e-5)
    out = run("DistillationDMLLoss", act=act, sum_across_class_dim=True, **PAIR)
    assert out["DMLLoss_Student_Teacher_0"] == pytest.approx(terms.sum(1).mean(), rel=1e-5)


def _dkd(s, t, y, temperature, alpha, beta):
    """DKD written from its definition: KL of the binary (target, rest) split plus KL of the distributions over
    the non-target classes alone (no masking trick)."""
    ps, pt = softmax(s / temperature), softmax(t / temperature)
    tckd = nckd = 0.0
    for i in range(len(y)):
        bs = np.array([ps[i, y[i]], 1 - ps[i, y[i]]])
        bt = np.array([pt[i, y[i]], 1 - pt[i, y[i]]])
        tckd += kl(bt, bs)
        rest = [c for c in range(s.shape[1]) if c != y[i]]
        nckd += kl(softmax(t[i, rest] / temperature), softmax(s[i, rest] / temperature))
    scale = temperature ** 2 / len(y)
    return alpha * tckd * scale + beta * nckd * scale


@pytest.mark.parametrize("temperature, alpha, beta", [(1.0, 1.0, 1.0), (4.0, 1.0, 8.0)])
def test_dkd_is_alpha_tckd_plus_beta_nckd(temperature, alpha, beta):
    out = run("DistillationDKDLoss", temperature=temperature, alpha=alpha, beta=beta, **PAIR)
    assert list(out) == ["loss_dkd_Student_Teacher"]
    assert out["loss_dkd_Student_Teacher"] == pytest.approx(_dkd(S, T_, Y, temperature, alpha, beta), rel=1e-5)
    # use_target_as_gt: the teacher's argmax is the target class; a Mixup target's argmax is the label
    out = run("DistillationDKDLoss", use_target_as_gt=True, **PAIR)
    assert out["loss_dkd_Student_Teacher"] == pytest.approx(_dkd(S, T_, T_.argmax(-1), 1.0, 1.0, 1.0), rel=1e-5)
    soft = (0.7 * np.eye(C)[Y] + 0.3 * np.eye(C)[(Y + 1) % C]).astype("float32")
    out = run("DistillationDKDLoss", label=soft, **PAIR)
    assert out["loss_dkd_Student_Teacher"] == pytest.approx(_dkd(S, T_, Y, 1.0, 1.0, 1.0), rel=1e-5)


def test_dist_is_one_minus_the_pearson_correlation_across_classes_and_across_the_batch():
    ys, yt = softmax(S), softmax(T_)
    inter = 1 - np.mean([np.corrcoef(ys[i], yt[i])[0, 1] for i in range(N)])
    intra = 1 - np.mean([np.corrcoef(ys[:, c], yt[:, c])[0, 1] for c in range(C)])
    out = run("DistillationDISTLoss", beta=1.0, gamma=2.0, **PAIR)
    assert out["loss_dist_Student_Teacher"] == pytest.approx(inter + 2.0 * intra, rel=1e-5)


def test_skd_layer_normalises_both_logits():
    def ln(x):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7)

    m, t, alpha = 2.0, 3.0, 0.9
    s, tt = ln(S) * m, ln(T_) * m
    kd = -(softmax(tt / t) * log_softmax(s / t)).sum(-1).mean() * t * t
    ce = -log_softmax(s)[np.arange(N), Y].mean()
    out = run("DistillationSKDLoss", temperature=t, multiplier=m, alpha=alpha, **PAIR)
    assert out["skd_loss_Student_Teacher"] == pytest.approx(alpha * kd + (1 - alpha) * ce, rel=1e-5)


def test_wsl_weighs_each_sample_by_how_much_worse_the_student_is():
    t = 2.0
    ce_s = -log_softmax(S)[np.arange(N), Y]
    ce_t = -log_softmax(T_)[np.arange(N), Y]
    weight = 1 - np.exp(-np.maximum(ce_s / (ce_t + 1e-7), 0))
    kd = -(softmax(T_ / t) * log_softmax(S / t)).sum(-1)
    out = run("DistillationWSLLoss", temperature=t, **PAIR)
    assert out["wsl_loss_Student_Teacher"] == pytest.approx(t * t * (kd * weight).mean(), rel=1e-5)


def test_deit_hard_distillation_trains_the_class_head_on_labels_and_the_dist_head_on_the_teacher():
    head, head_dist = S, RNG.normal(0, 2, (N, C)).astype("float32")
    predicts = {"Student": (paddle.to_tensor(head), paddle.to_tensor(head_dist)), "Teacher": paddle.to_tensor(T_)}
    hard = T_.argmax(-1)
    assert (hard != Y).any()  # the two targets differ, so the test tells them apart
    expected = (-log_softmax(head)[np.arange(N), Y].mean() - log_softmax(head_dist)[np.arange(N), hard].mean()) / 2
    out = run("DistillationDeiTHardLoss", predicts=predicts, **PAIR)
    assert out["loss_deit_hard_Student_Teacher"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="distilled DeiT"):
        run("DistillationDeiTHardLoss", **PAIR)  # a student with one head


def test_combined_loss_sums_the_entries_weighted_and_logs_them_unweighted():
    loss = build_loss([{"DistillationGTCELoss": {"weight": 1.0, "model_names": ["Student"]}},
                       {"DistillationKLDivLoss": {"weight": 2.5, "temperature": 4, **PAIR}}])
    out = loss({"Student": paddle.to_tensor(S), "Teacher": paddle.to_tensor(T_)}, paddle.to_tensor(Y))
    assert set(out) == {"loss", "CELoss_Student", "loss_kldiv_Student_Teacher"}
    assert float(out["loss"]) == pytest.approx(
        float(out["CELoss_Student"]) + 2.5 * float(out["loss_kldiv_Student_Teacher"]), rel=1e-6)


def test_a_member_that_is_not_there_is_named():
    with pytest.raises(ValueError, match="no output of a model 'Techer'"):
        run("DistillationKLDivLoss", model_name_pairs=[["Student", "Techer"]])
    with pytest.raises(ConfigError, match="weight_ratio"):
        build_loss([{"DistillationDMLLoss": {"weight_ratio": True, **PAIR}}])


def test_kl_terms_where_both_distributions_are_zero_count_zero():
    from ppcls_lite.loss.distillation import kl_divergence

    p = paddle.to_tensor([[1.0, 0.0]])
    value = kl_divergence(paddle.log(paddle.to_tensor([[1.0, 0.0]])), p)
    assert float(value.sum()) == 0.0
    one_class = {"Student": paddle.to_tensor(S[:, :1]), "Teacher": paddle.to_tensor(T_[:, :1])}
    out = run("DistillationDKDLoss", label=np.zeros(N, "int64"), predicts=one_class, **PAIR)
    assert np.isfinite(out["loss_dkd_Student_Teacher"])
