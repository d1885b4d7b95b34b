"""The evaluation report (issue 15, items 1-2): every figure against a hand computation on fixed counts and
scores, and temperature scaling on synthetic logits of a known temperature (the report of a real evaluation:
test_eval_report_e2e.py)."""

import numpy as np
import pytest

from ppcls_lite.engine.report import (averages, calibration_bins, confident_mistakes, cross_fitted_ece,
                                      expected_calibration_error, fit_temperature, most_confused,
                                      per_class_scores, softmax)

# rows: true class, columns: predicted; class 3 has no samples but one prediction, class 4 neither
CONFUSION = np.array([[5, 1, 0, 0, 0],
                      [2, 3, 1, 0, 0],
                      [0, 0, 4, 0, 0],
                      [0, 0, 0, 0, 0],
                      [0, 0, 0, 0, 0]])
CONFUSION[2, 3] = 1  # one sample of class 2 predicted as 3: class 2 has support 5


def test_per_class_precision_recall_f1_by_hand():
    s = per_class_scores(CONFUSION)
    np.testing.assert_allclose(s["precision"], [5 / 7, 3 / 4, 4 / 5, 0, 0])
    np.testing.assert_allclose(s["recall"], [5 / 6, 3 / 6, 4 / 5, 0, 0])
    np.testing.assert_allclose(s["f1"], [10 / 13, 3 / 5, 4 / 5, 0, 0])
    assert s["support"].tolist() == [6, 6, 5, 0, 0]


def test_averages_by_hand():
    avg = averages(CONFUSION)
    # macro over the classes with samples or predictions (0-3; class 4 has neither)
    assert avg["macro"]["precision"] == pytest.approx((5 / 7 + 3 / 4 + 4 / 5 + 0) / 4)
    assert avg["macro"]["recall"] == pytest.approx((5 / 6 + 1 / 2 + 4 / 5 + 0) / 4)
    assert avg["macro"]["f1"] == pytest.approx((10 / 13 + 3 / 5 + 4 / 5 + 0) / 4)
    assert avg["weighted"]["recall"] == pytest.approx((6 * 5 / 6 + 6 * 1 / 2 + 5 * 4 / 5) / 17)
    assert avg["weighted"]["f1"] == pytest.approx((6 * 10 / 13 + 6 * 3 / 5 + 5 * 4 / 5) / 17)
    assert avg["micro"] == {"precision": 12 / 17, "recall": 12 / 17, "f1": 12 / 17}


def test_most_confused_pairs():
    assert most_confused(CONFUSION, 3) == [(1, 0, 2), (0, 1, 1), (1, 2, 1)]


def test_ece_by_hand():
    conf = np.array([0.95, 0.85, 0.65, 0.55, 0.15, 0.8])
    correct = np.array([1, 0, 1, 1, 0, 1])
    bins = calibration_bins(conf, correct, bins=5)
    assert [b[2] for b in bins] == [1, 0, 1, 2, 2]  # 0.8 falls in (0.6, 0.8]
    # (2/6)|0.5 - 0.9| + (2/6)|1 - 0.725| + (1/6)|1 - 0.55| + (1/6)|0 - 0.15|
    expected = 2 / 6 * 0.4 + 2 / 6 * 0.275 + 1 / 6 * 0.45 + 1 / 6 * 0.15
    assert expected_calibration_error(conf, correct, bins=5) == pytest.approx(expected)


def test_confident_mistakes_are_the_surest_wrong_ones():
    conf = np.array([0.9, 0.99, 0.5, 0.97, 0.6])
    assert confident_mistakes(conf, np.array([1, 0, 2, 1, 0]), np.array([1, 1, 0, 0, 0]), 2) == [1, 3]


def test_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4000, 10)) * 3
    labels = np.array([rng.choice(10, p=p) for p in softmax(logits, 2.5)])  # calibrated at T = 2.5
    assert fit_temperature(logits, labels, "nll") == pytest.approx(2.5, rel=0.08)
    t = fit_temperature(logits, labels, "ece")
    assert t == pytest.approx(2.5, rel=0.15)
    before = expected_calibration_error(softmax(logits).max(1), softmax(logits).argmax(1) == labels)
    after = expected_calibration_error(softmax(logits, t).max(1), softmax(logits).argmax(1) == labels)
    assert after < before / 3 and cross_fitted_ece(logits, labels) < before / 2
    with pytest.raises(ValueError, match="objective: ece or nll"):
        fit_temperature(logits, labels, "brier")
