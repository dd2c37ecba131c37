"""engine.report.metrics: every metric equals scikit-learn's to 1e-9 on random and tied inputs, and
each edge case (a class never predicted or never present, one class, one sample, ties,
perfect predictions) gives the value engine.report.metrics documents, where sklearn differs too."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as sk

from engine.report.metrics import classification_report, format_report, regression_report

ATOL = 1e-9
PRF = ("precision", "recall", "f1")


def close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), 0, ATOL)


def quiet(fn, *args, **kwargs):
    """sklearn's value with its UndefinedMetricWarnings hidden (our edge-case tests say
    what we return instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def probabilities(rng: np.random.Generator, N: int, C: int, decimals: int | None = None):
    """Rows of class probabilities; with ``decimals``, multiples of 10^-decimals (counts
    of a multinomial over 10^decimals draws), which tie often and still sum to 1."""
    p = rng.dirichlet(np.ones(C), N)
    if decimals is None:
        return p
    n = 10**decimals
    return np.stack([rng.multinomial(n, row) for row in p]) / n


def sklearn_top_k(y: np.ndarray, s: np.ndarray, k: int) -> float:
    """sklearn's top-k under our tie rule (lower index first). sklearn ranks equal scores
    higher index first, so reversing the columns (and the labels with them) turns its rule
    into ours; binary input goes through its 1-d path, P(1) > 0.5, which is our argmax."""
    C = s.shape[1]
    if C == 2:
        return quiet(sk.top_k_accuracy_score, y, s[:, 1], k=k, labels=[0, 1])
    return quiet(sk.top_k_accuracy_score, C - 1 - y, s[:, ::-1], k=k, labels=np.arange(C))


def assert_matches_sklearn(y: np.ndarray, s: np.ndarray, r: dict) -> None:
    """Every value of report ``r`` against sklearn; undefined values against None."""
    C = s.shape[1]
    labels = np.arange(C)
    pred = s.argmax(1) if r.get("threshold") is None else (s[:, 1] >= r["threshold"]).astype(int)
    close(r["accuracy"], sk.accuracy_score(y, pred))
    for key in (key for key in r if key.startswith("top_")):
        k = int(key.split("_")[1])
        assert k <= C
        close(r[key], sklearn_top_k(y, s, k))

    p, rec, f, support = sk.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per = [r["per_class"][n] for n in r["class_names"]]
    close([m["precision"] for m in per], p)
    close([m["recall"] for m in per], rec)
    close([m["f1"] for m in per], f)
    assert [m["support"] for m in per] == support.tolist()
    for avg in ("macro", "micro", "weighted"):
        want = sk.precision_recall_fscore_support(
            y, pred, labels=labels, average=avg, zero_division=0
        )
        close([r[f"{avg}_avg"][k] for k in PRF], want[:3])
    assert r["confusion_matrix"] == sk.confusion_matrix(y, pred, labels=labels).tolist()
    close(
        r["confusion_matrix_normalized"],
        sk.confusion_matrix(y, pred, labels=labels, normalize="true"),
    )

    if C == 2:
        positive, p1 = y == 1, s[:, 1]
        assert_binary_curves(positive, p1, r["roc_curve"], r["roc_auc"], r["pr_curve"])
        if r["average_precision"] is not None:  # None: no positives (sklearn: 0.0)
            close(r["average_precision"], sk.average_precision_score(positive, p1))
        for i, t in enumerate(r["threshold_sweep"]["thresholds"]):
            at_t = p1 >= t
            for key, fn in zip(
                PRF, (sk.precision_score, sk.recall_score, sk.f1_score), strict=True
            ):
                close(r["threshold_sweep"][key][i], fn(positive, at_t, zero_division=0))
        close([r["positive_class"][k] for k in PRF], [p[1], rec[1], f[1]])
        return

    onehot = (y[:, None] == labels).astype(int)  # (N,) -> (N, C)
    for c, name in enumerate(r["class_names"]):
        assert_binary_curves(
            onehot[:, c] == 1,
            s[:, c],
            r["roc_curves"][name],
            r["roc_auc_per_class"][name],
            r["pr_curves"][name],
        )
    aucs = [v for v in r["roc_auc_per_class"].values() if v is not None]
    aps = [v for v in r["average_precision_per_class"].values() if v is not None]
    assert r["roc_auc_ovr_macro"] == (np.mean(aucs) if aucs else None)
    assert r["average_precision"] == (np.mean(aps) if aps else None)
    # sklearn's macro AUC needs every class present and rows that sum to 1
    if np.bincount(y, minlength=C).min() > 0 and np.allclose(s.sum(1), 1):
        close(
            r["roc_auc_ovr_macro"],
            sk.roc_auc_score(y, s, multi_class="ovr", average="macro", labels=labels),
        )
        close(r["average_precision"], sk.average_precision_score(onehot, s, average="macro"))


def assert_binary_curves(positive, scores, roc, auc, pr) -> None:
    """One column's curves and areas; None exactly where we define them undefined."""
    both = 0 < positive.sum() < len(positive)
    assert (roc is None) == (auc is None) == (not both)
    if both:
        fpr, tpr, thr = sk.roc_curve(positive, scores, drop_intermediate=False)
        close(roc["fpr"], fpr)
        close(roc["tpr"], tpr)
        close(roc["thresholds"], thr)  # thresholds[0] = inf in both
        close(auc, sk.roc_auc_score(positive, scores))
    else:  # sklearn: nan and a warning
        assert math.isnan(quiet(sk.roc_auc_score, positive, scores))
    assert (pr is None) == (positive.sum() == 0)
    if pr is not None:
        precision, recall, thr = sk.precision_recall_curve(positive, scores)
        close(pr["precision"], precision)
        close(pr["recall"], recall)
        close(pr["thresholds"], thr)


# ------------------------------------------------------------ against sklearn


@pytest.mark.parametrize("C", [2, 3, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [None, 1], ids=["continuous", "ties"])
def test_classification_matches_sklearn(C, seed, decimals):
    rng = np.random.default_rng(seed)
    N = 30 * C
    y = rng.integers(0, C, N)
    s = probabilities(rng, N, C, decimals)
    r = classification_report(y, s)
    assert r["num_samples"] == N and r["num_classes"] == C
    assert r["class_names"] == [str(c) for c in range(C)]
    assert_matches_sklearn(y, s, r)
    # One label per sample: micro precision = recall = F1 = accuracy = top-1 accuracy.
    close([r["micro_avg"][k] for k in PRF], [r["accuracy"]] * 3)
    assert r["top_1_accuracy"] == r["accuracy"]
    if decimals is None and C > 2:  # no ties: sklearn's own top-k needs no column reversal
        for k in (1, 5):
            if f"top_{k}_accuracy" in r:
                close(r[f"top_{k}_accuracy"], sk.top_k_accuracy_score(y, s, k=k))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("threshold", [0.1, 0.35, 0.5, 0.9])
def test_binary_threshold_matches_sklearn(seed, threshold):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80)
    s = probabilities(rng, 80, 2, decimals=1)  # P(1) lands on the thresholds too
    r = classification_report(y, s, threshold=threshold)
    assert r["threshold"] == threshold
    assert_matches_sklearn(y, s, r)
    # The sweep point at t is the report at threshold t.
    sweep = r["threshold_sweep"]
    if threshold in sweep["thresholds"]:
        i = sweep["thresholds"].index(threshold)
        assert [sweep[k][i] for k in PRF] == [r["positive_class"][k] for k in PRF]


def test_sweep_thresholds_are_one_tenth_steps():
    r = classification_report(np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]))
    assert r["threshold_sweep"]["thresholds"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.mark.parametrize("shape", [(40,), (40, 1), (40, 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_matches_sklearn(shape, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=shape) * rng.uniform(0.5, 5)
    y_hat = y + rng.normal(size=shape)
    r = regression_report(y, y_hat)
    close(r["mse"], sk.mean_squared_error(y, y_hat))
    close(r["mae"], sk.mean_absolute_error(y, y_hat))
    close(r["rmse"], sk.root_mean_squared_error(y, y_hat))
    close(r["r2"], sk.r2_score(y, y_hat))


# ------------------------------------------------------------ edge cases


def test_class_never_predicted():
    y = np.array([0, 1, 2, 2, 1, 0])
    s = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]] * 3)  # argmax is never class 2
    r = classification_report(y, s, class_names=["a", "b", "c"])
    assert_matches_sklearn(y, s, r)
    assert r["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert [row[2] for row in r["confusion_matrix"]] == [0, 0, 0]


def test_class_never_present():
    """Class 2 has a column but no sample: recall and support 0, an all-zero normalized row,
    its AUC, AP and curves None; the macro AUC and AP average the other classes. sklearn's
    macro AUC is nan, and its macro AP counts the absent class as 0."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 30)
    s = probabilities(rng, 30, 3)
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    assert r["per_class"]["2"]["recall"] == 0.0 and r["per_class"]["2"]["support"] == 0
    assert r["confusion_matrix_normalized"][2] == [0.0, 0.0, 0.0]
    assert r["roc_auc_per_class"]["2"] is None and r["roc_curves"]["2"] is None
    assert r["average_precision_per_class"]["2"] is None and r["pr_curves"]["2"] is None
    per_class_auc = [sk.roc_auc_score(y == c, s[:, c]) for c in (0, 1)]
    close(r["roc_auc_ovr_macro"], np.mean(per_class_auc))
    sklearn_auc = quiet(
        sk.roc_auc_score, y, s, multi_class="ovr", average="macro", labels=[0, 1, 2]
    )
    assert math.isnan(sklearn_auc)
    onehot = (y[:, None] == np.arange(3)).astype(int)
    sklearn_ap = quiet(sk.average_precision_score, onehot, s, average="macro")
    close(r["average_precision"], sklearn_ap * 3 / 2)  # sklearn: (AP_0 + AP_1 + 0) / 3


@pytest.mark.parametrize("C", [2, 3])
@pytest.mark.parametrize("present", [0, 1])
def test_single_class_present(C, present):
    """AUC needs positives and negatives: None (sklearn: nan). AP needs positives only:
    1.0 for the class present in every sample, None for the others (sklearn: 0.0)."""
    rng = np.random.default_rng(C)
    y = np.full(12, present)
    s = probabilities(rng, 12, C)
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    if C == 2:
        assert r["roc_auc"] is None and r["roc_curve"] is None
        if present == 1:
            assert r["average_precision"] == 1.0
        else:
            assert r["average_precision"] is None and r["pr_curve"] is None
            assert quiet(sk.average_precision_score, y == 1, s[:, 1]) == 0.0
    else:
        assert r["roc_auc_ovr_macro"] is None
        assert all(v is None for v in r["roc_auc_per_class"].values())
        assert r["average_precision"] == 1.0  # the mean over the one class with positives


@pytest.mark.parametrize("C", [2, 3])
def test_one_sample(C):
    s = np.full((1, C), 1 / C)
    s[0, -1] += 0.1
    s[0, 0] -= 0.1
    y = np.array([C - 1])
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    assert r["accuracy"] == 1.0 and r["top_1_accuracy"] == 1.0
    assert r.get("roc_auc", r.get("roc_auc_ovr_macro")) is None


@pytest.mark.parametrize("C", [2, 3, 10])
def test_perfect_predictions(C):
    y = np.arange(5 * C) % C
    s = np.full((5 * C, C), 0.1 / (C - 1))
    s[np.arange(5 * C), y] = 0.9
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    assert r["accuracy"] == 1.0 and r["macro_avg"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert r["confusion_matrix"] == (np.eye(C, dtype=int) * 5).tolist()
    auc = r["roc_auc"] if C == 2 else r["roc_auc_ovr_macro"]
    assert auc == 1.0 and r["average_precision"] == 1.0


def test_tied_scores_curves_and_areas():
    """A run of equal scores is one threshold, one point; AUC counts a positive-negative
    tie as 1/2 (all scores equal: AUC 0.5, AP the positive rate)."""
    y = np.array([0, 1, 0, 1, 1])
    s = np.full((5, 2), 0.5)
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    assert r["roc_curve"] == {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0], "thresholds": [math.inf, 0.5]}
    assert r["roc_auc"] == 0.5
    close(r["average_precision"], 3 / 5)
    assert r["pr_curve"] == {"precision": [0.6, 1.0], "recall": [1.0, 0.0], "thresholds": [0.5]}


def test_top_k_ties_go_to_the_lower_index_unlike_sklearn():
    """All scores equal: we rank class 0 first (as argmax does), sklearn's multi-class
    top-k ranks class 2 first. Documented difference; top-1 stays equal to accuracy."""
    y = np.zeros(4, dtype=int)
    s = np.full((4, 3), 1 / 3)
    r = classification_report(y, s, top_k=(1, 2))
    assert r["accuracy"] == r["top_1_accuracy"] == 1.0 and r["top_2_accuracy"] == 1.0
    assert sk.top_k_accuracy_score(y, s, k=1, labels=[0, 1, 2]) == 0.0
    assert sk.top_k_accuracy_score(y, s, k=2, labels=[0, 1, 2]) == 0.0
    assert sk.accuracy_score(y, s.argmax(1)) == 1.0  # sklearn's own accuracy agrees with ours
    # A tie for the k-th place only: class 1 ties class 2 behind class 0.
    y, s = np.array([1, 2]), np.array([[0.5, 0.25, 0.25]] * 2)
    r = classification_report(y, s, top_k=(2,))
    assert r["top_2_accuracy"] == 0.5  # class 1 is second, class 2 third
    assert sk.top_k_accuracy_score(y, s, k=2, labels=[0, 1, 2]) == 0.5  # the other way round
    assert sklearn_top_k(y, s, 2) == 0.5


def test_top_k_reported_only_when_k_fits():
    rng = np.random.default_rng(0)
    for C, expected in [(2, ["top_1"]), (4, ["top_1"]), (5, ["top_1", "top_5"])]:
        r = classification_report(rng.integers(0, C, 20), probabilities(rng, 20, C))
        assert [k[:-9] for k in r if k.startswith("top_")] == expected
    r = classification_report(np.array([0, 1, 2]), np.eye(3), top_k=(3, 2))
    assert [k for k in r if k.startswith("top_")] == [f"top_{k}_accuracy" for k in (1, 2, 3)]
    assert r["top_3_accuracy"] == 1.0  # k = C: every sample, as sklearn (which warns)


def test_argmax_and_threshold_at_exactly_one_half():
    """P(1) = 0.5 exactly: argmax gives class 0 (the tie goes to the lower index),
    threshold=0.5 gives class 1 (P(1) >= t, as on the curves). Elsewhere they agree."""
    y = np.array([1, 0, 1])
    s = np.array([[0.5, 0.5], [0.8, 0.2], [0.3, 0.7]])
    by_argmax = classification_report(y, s)
    by_threshold = classification_report(y, s, threshold=0.5)
    assert by_argmax["threshold"] is None
    assert by_argmax["confusion_matrix"] == [[1, 0], [1, 1]]
    assert by_threshold["confusion_matrix"] == [[1, 0], [0, 2]]
    assert by_threshold["positive_class"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    i = by_argmax["threshold_sweep"]["thresholds"].index(0.5)
    assert by_argmax["threshold_sweep"]["recall"][i] == 1.0  # the sweep is by threshold too
    # sklearn's binary top-1 is P(1) > 0.5, our argmax.
    assert sk.top_k_accuracy_score(y, s[:, 1], k=1) == by_argmax["top_1_accuracy"] == 2 / 3


def test_scores_need_not_sum_to_one():
    """One-vs-rest sigmoids: AUC per column is still defined. sklearn's multi-class
    roc_auc_score refuses such rows; ours is the mean of its per-column AUCs."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 50)
    s = rng.uniform(size=(50, 3))
    r = classification_report(y, s)
    assert_matches_sklearn(y, s, r)
    with pytest.raises(ValueError, match="sum up to 1"):
        sk.roc_auc_score(y, s, multi_class="ovr")
    close(r["roc_auc_ovr_macro"], np.mean([sk.roc_auc_score(y == c, s[:, c]) for c in range(3)]))


def test_regression_constant_target_and_one_sample():
    y = np.array([[2.0, 1.0], [2.0, 3.0], [2.0, 5.0]])  # the first target is constant
    for y_hat in (y.copy(), y + [[0.5, 0.0]] * 3):
        r = regression_report(y, y_hat)
        close(r["r2"], sk.r2_score(y, y_hat))
    assert regression_report(y, y)["r2"] == 1.0  # both targets exact: (1 + 1) / 2
    assert regression_report(y, y + [[0.5, 0.0]] * 3)["r2"] == 0.5  # (0 + 1) / 2
    r = regression_report(np.array([0.1] * 3), np.array([0.1] * 3))
    close(r["r2"], sk.r2_score([0.1] * 3, [0.1] * 3))
    one = regression_report(np.array([1.0]), np.array([3.0]))
    assert one == {"mse": 4.0, "mae": 2.0, "rmse": 2.0, "r2": None}
    assert math.isnan(quiet(sk.r2_score, [1.0], [3.0]))  # sklearn: nan and a warning


def test_multi_target_rmse_is_the_mean_of_per_target_rmse():
    y, y_hat = np.zeros((2, 2)), np.array([[1.0, 3.0], [1.0, 3.0]])
    r = regression_report(y, y_hat)
    assert r["mse"] == 5.0 and r["rmse"] == 2.0  # (1 + 3) / 2, not √5


# ------------------------------------------------------------ report form


def test_report_is_json_without_nan():
    rng = np.random.default_rng(0)
    for C in (2, 3):
        y = rng.integers(0, C - 1, 20)  # the last class absent: some values None
        r = classification_report(y, probabilities(rng, 20, C))
        text = json.dumps(r)
        assert "NaN" not in text
        assert json.loads(text) == r  # +inf (first ROC threshold) round-trips as Infinity
    assert json.loads(json.dumps(regression_report(np.ones(1), np.ones(1)))) == {
        "mse": 0.0,
        "mae": 0.0,
        "rmse": 0.0,
        "r2": None,
    }


def test_format_report():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 30)
    r = classification_report(y, probabilities(rng, 30, 3), class_names=["cat", "dog", "emu"])
    text = format_report(r, "classification")
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    for name in ("cat", "dog", "emu", "accuracy", "macro avg", "weighted avg"):
        assert any(line.strip().startswith(name) for line in lines), name
    cat = next(line for line in lines if line.strip().startswith("cat")).split()
    m = r["per_class"]["cat"]
    assert cat == ["cat", *(f"{m[k]:.4f}" for k in PRF), str(m["support"])]
    assert f"top-1 accuracy: {r['top_1_accuracy']:.4f}" in text
    assert f"ROC AUC (one-vs-rest, macro): {r['roc_auc_ovr_macro']:.4f}" in text

    binary = classification_report(np.zeros(4, dtype=int), probabilities(rng, 4, 2))
    text = format_report(binary, "classification")
    assert "ROC AUC: n/a" in text and "average precision: n/a" in text
    assert "decision rule: argmax" in text and "      0.9" in text
    assert "positive class: 1 (class 1; 0 is class 0)" in text
    named = classification_report(
        np.array([0, 1, 1, 0]), probabilities(rng, 4, 2), class_names=["malignant", "benign"]
    )
    named["threshold"] = 0.3
    text = format_report(named, "classification")
    assert "positive class: benign (class 1; malignant is class 0)" in text
    assert "decision rule: P(benign) >= 0.3" in text

    reg = format_report(regression_report(np.arange(3.0), np.arange(3.0) + 1), "regression")
    assert reg == "mse 1.0000  rmse 1.0000  mae 1.0000  r2 -0.5000"
    with pytest.raises(ValueError, match="kind"):
        format_report(r, "ranking")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.array([0, 1]), np.ones((2, 1))), {}, "C >= 2"),
        ((np.array([0, 3]), np.ones((2, 3))), {}, r"\[0, 2\]"),
        ((np.array([0.0, 1.0]), np.ones((2, 2))), {}, "integer"),
        ((np.array([0, 1, 1]), np.ones((2, 2))), {}, "matching"),
        ((np.array([0, 1]), np.array([[np.nan, 1], [0, 1]])), {}, "nan"),
        ((np.array([0, 1]), np.ones((2, 3))), {"threshold": 0.5}, "C = 3"),
        ((np.array([0, 1]), np.ones((2, 2))), {"threshold": 1.5}, "1.5"),
        ((np.array([0, 1]), np.ones((2, 2))), {"class_names": ["a"]}, "2 distinct"),
        ((np.array([0, 1]), np.ones((2, 2))), {"top_k": (0,)}, "positive"),
    ],
)
def test_bad_inputs_fail_with_the_value(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_report(*args, **kwargs)


def test_regression_bad_shapes():
    with pytest.raises(ValueError, match=r"\(3,\) and \(3, 1\)"):
        regression_report(np.zeros(3), np.zeros((3, 1)))
