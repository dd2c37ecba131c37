"""Evaluation metrics for classification and regression: pure functions on numpy arrays.

Each number is defined as scikit-learn defines it (the tests check every one against
sklearn to 1e-9) but written out here so that the formulas can be read; sklearn is not
imported. Sources:

- precision, recall, F1 and their macro/micro averages: Manning, Raghavan & Schütze,
  *Introduction to Information Retrieval* (2008), §8.3 and §13.6.
- ROC curve, AUC, one-vs-rest multi-class AUC: Fawcett, "An introduction to ROC
  analysis", Pattern Recognition Letters 27 (2006).
- precision-recall curve, average precision: Davis & Goadrich, "The relationship between
  precision-recall and ROC curves", ICML 2006 (why AP is a step sum, not a trapezoid:
  straight lines between PR points overstate the area).
- R², the coefficient of determination, as sklearn's ``r2_score``.

Notation: N samples, C classes, y_n ∈ {0, …, C−1} the true class of sample n, s_nc its
score (probability) for class c. TP, FP, FN count true positives, false positives and
false negatives of one class.

Conventions, the same everywhere in this file:

- **Zero division gives 0.0** (sklearn's ``zero_division=0``): the precision of a class
  never predicted (TP + FP = 0), the recall of a class never present (TP + FN = 0), and
  an F1 with TP + FP + FN = 0 are 0.0.
- **Undefined gives None** (JSON null) where sklearn returns nan with a warning: the ROC
  AUC and ROC curve of a class present in every sample or in none, the AP and PR curve of
  a class never present, R² of a single sample. An average over classes (macro AUC, macro
  AP) is the mean over the classes where the value is defined, None if there are none;
  sklearn's is nan (AUC) or counts the class as AP = 0 (AP).
- **Thresholds**: a score s is predicted positive at threshold t when s ≥ t, in the
  curves, the threshold sweep and ``classification_report(threshold=t)`` alike.
- **Ties between classes** go to the lower class index: the predicted class is the first
  argmax (as ``torch.argmax`` in :class:`engine.tasks.Classification`), and top-k ranks
  equal scores lower index first, so ``top_1_accuracy == accuracy`` always. sklearn's
  ``top_k_accuracy_score`` ranks equal scores *higher* index first on multi-class input
  (its binary input agrees with ours), so the two differ only when a tie straddles the
  k-th place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

SWEEP_THRESHOLDS = [i / 10 for i in range(1, 10)]  # 0.1, 0.2, ..., 0.9 (the nearest doubles)
PRF = ("precision", "recall", "f1")


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0.0 where den = 0 (the zero-division rule)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _mean_defined(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None if all are."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def _check_classification(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"scores must be (N, C) with C >= 2 classes, got shape {s.shape}")
    if y.shape != (s.shape[0],) or len(y) == 0:
        raise ValueError(
            f"y_true must be (N,) with N >= 1 matching scores {s.shape}, got {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"y_true must lie in [0, {s.shape[1] - 1}], got [{y.min()}, {y.max()}]")
    if not np.isfinite(s).all():
        raise ValueError("scores hold nan or inf")
    return y.astype(np.int64), s


# ---------------------------------------------------------------- from predicted labels


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """M_ij = number of samples of true class i predicted as class j (rows true, as sklearn).

    Shapes:
        y_true, y_pred ``(N,)`` ints -> ``(C, C)`` int64.
    """
    M = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(M, (y_true, y_pred), 1)
    return M


def precision_recall_f1(M: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix M.

    TP_c = M_cc, TP_c + FP_c = Σ_i M_ic (predicted c), TP_c + FN_c = Σ_j M_cj (support)::

        precision_c = TP / (TP + FP)     recall_c = TP / (TP + FN)
        F1_c = 2·TP / (2·TP + FP + FN)   (= 2PR / (P + R), the harmonic mean)

    each 0.0 when its denominator is 0. Also returns the counts TP and TP + FP
    (``tp``, ``predicted``) that the micro average sums.
    """
    TP = np.diag(M).astype(np.float64)
    predicted = M.sum(0)  # TP + FP
    support = M.sum(1)  # TP + FN
    return {
        "precision": _divide(TP, predicted),
        "recall": _divide(TP, support),
        "f1": _divide(2 * TP, support + predicted),
        "support": support,
        "tp": TP,
        "predicted": predicted,
    }


def averages(prf: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Macro, micro and weighted averages of per-class precision, recall and F1.

    macro: the unweighted mean over all C classes (absent ones included, as 0.0s);
    weighted: the mean weighted by support; micro: the ratios of the summed counts,
    ΣTP / Σ(TP + FP) etc. With one label per sample all three micro values are the
    accuracy (every sample is one prediction and one truth).
    """
    support = prf["support"]
    TP, predicted = prf["tp"].sum(), prf["predicted"].sum()
    micro_p, micro_r = _divide(TP, predicted), _divide(TP, support.sum())
    return {
        "macro": {k: float(prf[k].mean()) for k in PRF},
        "micro": {
            "precision": float(micro_p),
            "recall": float(micro_r),
            "f1": float(_divide(2 * TP, predicted + support.sum())),
        },
        "weighted": {k: float(_divide((prf[k] * support).sum(), support.sum())) for k in PRF},
    }


# ---------------------------------------------------------------- from scores


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the k ranked first.

    The rank of the true class counts the classes ranked before it: those with a larger
    score, and those with an equal score and a lower index (ties go to the lower index)::

        rank_n = #{c : s_nc > s_ny} + #{c < y_n : s_nc = s_ny},   hit_n = [rank_n < k]

    so k = 1 is the first-argmax accuracy.

    Shapes:
        y_true ``(N,)``, scores ``(N, C)``.
    """
    N, C = scores.shape
    s_true = scores[np.arange(N), y_true][:, None]  # (N,) -> (N, 1)
    lower_index = np.arange(C)[None, :] < y_true[:, None]  # (N, C)
    rank = (scores > s_true).sum(1) + ((scores == s_true) & lower_index).sum(1)
    return float((rank < k).mean())


def _counts_at_thresholds(
    positive: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP and FP when predicting ``s ≥ t``, for each distinct score t, largest first.

    Sort the scores descending; at the last sample of each run of equal scores, TP is
    the number of positives so far and FP = (samples so far) − TP. A run of ties enters
    all at once: one threshold, one point of the curves.
    """
    order = np.argsort(-s, kind="stable")
    s, positive = s[order], positive[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    TP = np.cumsum(positive, dtype=np.float64)[last_of_run]
    FP = (last_of_run + 1) - TP
    return s[last_of_run], TP, FP


def roc_curve(positive: np.ndarray, s: np.ndarray) -> dict[str, list[float]] | None:
    """ROC curve of scores s for a binary truth: one point per distinct threshold.

    FPR = FP / (FP + TN) and TPR = TP / (TP + FN) when predicting s ≥ t, for every
    distinct score t (descending), after a first point t = +inf, (0, 0), that predicts
    nothing positive. Matches ``sklearn.metrics.roc_curve(drop_intermediate=False)``.
    None when ``positive`` is all true or all false (one of the rates is 0/0; sklearn
    fills it with nan and warns).

    Shapes:
        positive ``(N,)`` bool, s ``(N,)`` -> lists of length (distinct scores + 1).
    """
    P, N_neg = int(positive.sum()), int((~positive).sum())
    if P == 0 or N_neg == 0:
        return None
    t, TP, FP = _counts_at_thresholds(positive, s)
    return {
        "fpr": np.r_[0.0, FP / N_neg].tolist(),
        "tpr": np.r_[0.0, TP / P].tolist(),
        "thresholds": np.r_[np.inf, t].tolist(),  # json.dumps writes inf as Infinity
    }


def roc_auc(curve: dict[str, list[float]] | None) -> float | None:
    """Area under the ROC curve by the trapezoid rule, Σ_i (x_i − x_{i−1})(y_i + y_{i−1})/2.

    Equals the probability that a random positive scores above a random negative, ties
    counting 1/2 (Fawcett 2006, §7), which is why the trapezoids are right here.
    """
    if curve is None:
        return None
    x, y = np.asarray(curve["fpr"]), np.asarray(curve["tpr"])
    return float((np.diff(x) * (y[1:] + y[:-1]) / 2).sum())


def precision_recall_curve(positive: np.ndarray, s: np.ndarray) -> dict[str, list[float]] | None:
    """Precision-recall curve of scores s for a binary truth.

    precision = TP / (TP + FP) and recall = TP / P when predicting s ≥ t for every distinct
    score t, listed as sklearn's ``precision_recall_curve`` lists them: thresholds
    ascending (recall descending), then a final point (precision 1, recall 0) with no
    threshold. None when there are no positives (recall is 0/0; sklearn sets it to 1
    and warns).

    Shapes:
        positive ``(N,)`` bool, s ``(N,)`` -> thresholds of length T, precision and recall T + 1.
    """
    P = int(positive.sum())
    if P == 0:
        return None
    t, TP, FP = _counts_at_thresholds(positive, s)
    precision, recall = TP / (TP + FP), TP / P  # TP + FP ≥ 1: every threshold admits a sample
    return {
        "precision": np.r_[precision[::-1], 1.0].tolist(),
        "recall": np.r_[recall[::-1], 0.0].tolist(),
        "thresholds": t[::-1].tolist(),
    }


def average_precision(curve: dict[str, list[float]] | None) -> float | None:
    """AP = Σ_n (R_n − R_{n−1}) P_n, thresholds taken largest first, R_0 = 0.

    The precision at each threshold weighted by the recall it adds: a step function,
    not a trapezoid (Davis & Goadrich 2006), as sklearn's ``average_precision_score``.
    """
    if curve is None:
        return None
    P, R = np.asarray(curve["precision"]), np.asarray(curve["recall"])  # R descending to 0
    return float(max(0.0, -(np.diff(R) * P[:-1]).sum()))  # clip the −0.0 of rounding


def _at_threshold(positive: np.ndarray, p1: np.ndarray, t: float) -> dict[str, float]:
    """Precision, recall and F1 of the positive class when predicting p1 ≥ t."""
    pred = p1 >= t
    TP = float((pred & positive).sum())
    FP, FN = float((pred & ~positive).sum()), float((~pred & positive).sum())
    return {
        "precision": float(_divide(TP, TP + FP)),
        "recall": float(_divide(TP, TP + FN)),
        "f1": float(_divide(2 * TP, 2 * TP + FP + FN)),
    }


# ---------------------------------------------------------------- reports


def classification_report(
    y_true: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str] | None = None,
    top_k: Sequence[int] = (1, 5),
    threshold: float | None = None,
) -> dict[str, Any]:
    """Every classification metric of class probabilities against true labels.

    Predicted class: the first argmax of each row; with ``threshold`` (binary only),
    class 1 when P(class 1) = s_n1 ≥ threshold. With two columns that sum to 1, argmax
    means s_n1 > 0.5, so ``threshold=None`` and ``threshold=0.5`` differ only on samples
    with s_n1 exactly 0.5: class 0 by argmax (the tie goes to the lower index), class 1
    by the threshold (≥, as on the curves). ``accuracy``, the per-class values, their
    averages and the confusion matrices follow this rule; top-k accuracies rank scores
    and ignore it.

    Args:
        y_true: true class indices in [0, C).
        scores: class probabilities (rows need not sum to 1: one-vs-rest sigmoids do not;
            AUC and AP read one column at a time).
        class_names: C names, the keys of the per-class dicts (default "0", "1", …).
        top_k: the k of each ``top_{k}_accuracy``; k = 1 is always reported, k > C never.
        threshold: binary only, in [0, 1]; None predicts by argmax.

    Returns:
        A JSON-serializable dict (plain floats, ints, lists, None; the first ROC threshold
        is +inf, which ``json.dumps`` writes as ``Infinity``):
        ``num_samples``, ``num_classes``, ``class_names``, ``accuracy``,
        ``top_{k}_accuracy``, ``per_class`` {name: {precision, recall, f1, support}},
        ``macro_avg``, ``micro_avg``, ``weighted_avg`` {precision, recall, f1},
        ``confusion_matrix`` (C×C ints, rows true) and ``confusion_matrix_normalized``
        (rows sum to 1, zeros for an absent class); then for C = 2: ``roc_auc``,
        ``roc_curve`` {fpr, tpr, thresholds}, ``average_precision``, ``pr_curve``
        {precision, recall, thresholds} (all of class 1's column), ``threshold``,
        ``positive_class`` {precision, recall, f1} at the decision rule, and
        ``threshold_sweep`` {thresholds, precision, recall, f1} at 0.1, …, 0.9; for C > 2:
        ``roc_auc_ovr_macro``, ``roc_auc_per_class``, ``roc_curves``,
        ``average_precision`` (macro), ``average_precision_per_class``, ``pr_curves``
        (one-vs-rest: class c positive, the rest negative).

    Shapes:
        y_true ``(N,)`` ints, scores ``(N, C)``.
    """
    y, s = _check_classification(y_true, scores)
    N, C = s.shape
    names = [str(c) for c in range(C)] if class_names is None else [str(n) for n in class_names]
    if len(names) != C or len(set(names)) != C:
        raise ValueError(f"class_names must be {C} distinct names, got {class_names!r}")
    ks = sorted({1, *top_k})
    if not all(isinstance(k, int | np.integer) and k >= 1 for k in ks):
        raise ValueError(f"top_k must be positive integers, got {top_k!r}")
    if threshold is not None and (C != 2 or not 0.0 <= threshold <= 1.0):
        raise ValueError(
            f"threshold needs C = 2 classes and a value in [0, 1], got C = {C}, "
            f"threshold = {threshold!r}"
        )

    # argmax returns the first maximum: ties go to the lower index
    y_pred = s.argmax(1) if threshold is None else (s[:, 1] >= threshold).astype(np.int64)
    M = confusion_matrix(y, y_pred, C)
    prf = precision_recall_f1(M)
    avg = averages(prf)
    report: dict[str, Any] = {
        "num_samples": N,
        "num_classes": C,
        "class_names": names,
        "accuracy": float((y_pred == y).mean()),
        **{f"top_{k}_accuracy": top_k_accuracy(y, s, k) for k in ks if k <= C},
        "per_class": {
            name: {
                "precision": float(prf["precision"][c]),
                "recall": float(prf["recall"][c]),
                "f1": float(prf["f1"][c]),
                "support": int(prf["support"][c]),
            }
            for c, name in enumerate(names)
        },
        "macro_avg": avg["macro"],
        "micro_avg": avg["micro"],
        "weighted_avg": avg["weighted"],
        "confusion_matrix": M.tolist(),
        "confusion_matrix_normalized": _divide(M, M.sum(1, keepdims=True)).tolist(),
    }

    if C == 2:
        positive, p1 = y == 1, s[:, 1]
        roc, pr = roc_curve(positive, p1), precision_recall_curve(positive, p1)
        sweep = [_at_threshold(positive, p1, t) for t in SWEEP_THRESHOLDS]
        report |= {
            "roc_auc": roc_auc(roc),
            "roc_curve": roc,
            "average_precision": average_precision(pr),
            "pr_curve": pr,
            "threshold": None if threshold is None else float(threshold),
            "positive_class": {k: report["per_class"][names[1]][k] for k in PRF},
            "threshold_sweep": {
                "thresholds": list(SWEEP_THRESHOLDS),
                **{k: [point[k] for point in sweep] for k in PRF},
            },
        }
        return report

    onehot = y[:, None] == np.arange(C)[None, :]  # (N,) -> (N, C) bool
    rocs = [roc_curve(onehot[:, c], s[:, c]) for c in range(C)]
    prs = [precision_recall_curve(onehot[:, c], s[:, c]) for c in range(C)]
    aucs, aps = [roc_auc(r) for r in rocs], [average_precision(p) for p in prs]
    report |= {
        "roc_auc_ovr_macro": _mean_defined(aucs),
        "roc_auc_per_class": dict(zip(names, aucs, strict=True)),
        "roc_curves": dict(zip(names, rocs, strict=True)),
        "average_precision": _mean_defined(aps),
        "average_precision_per_class": dict(zip(names, aps, strict=True)),
        "pr_curves": dict(zip(names, prs, strict=True)),
    }
    return report


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MSE, MAE, RMSE and R², each averaged uniformly over the K targets (as sklearn's
    default ``multioutput="uniform_average"``).

    With e = ŷ − y and per target k::

        MSE_k = mean_n e_nk²     MAE_k = mean_n |e_nk|     RMSE_k = √MSE_k
        R²_k = 1 − SS_res / SS_tot,   SS_res = Σ_n e_nk²,   SS_tot = Σ_n (y_nk − ȳ_k)²

    A constant target (SS_tot = 0) has R²_k = 1.0 if predicted exactly (SS_res = 0), else
    0.0 (sklearn's ``force_finite=True``). R² of one sample is None (sklearn: nan and a
    warning). For K > 1, ``rmse`` is the mean of the per-target RMSEs, as sklearn's
    ``root_mean_squared_error``, so rmse² ≠ mse in general.

    Shapes:
        y_true, y_pred ``(N,)`` or ``(N, K)``, the same.
    """
    y, y_hat = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y.shape != y_hat.shape or y.ndim not in (1, 2) or len(y) == 0:
        raise ValueError(
            f"y_true and y_pred must both be (N,) or (N, K) with N >= 1, got "
            f"{y.shape} and {y_hat.shape}"
        )
    if y.ndim == 1:
        y, y_hat = y[:, None], y_hat[:, None]  # (N,) -> (N, 1)
    e = y_hat - y
    mse_k = (e**2).mean(0)  # (N, K) -> (K,)
    ss_res = (e**2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    constant = np.where(ss_res == 0, 1.0, 0.0)
    r2_k = np.where(ss_tot != 0, 1 - _divide(ss_res, ss_tot), constant)
    return {
        "mse": float(mse_k.mean()),
        "mae": float(np.abs(e).mean(0).mean()),
        "rmse": float(np.sqrt(mse_k).mean()),
        "r2": float(r2_k.mean()) if len(y) > 1 else None,
    }


# ---------------------------------------------------------------- text


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def format_report(report: dict[str, Any], kind: Literal["classification", "regression"]) -> str:
    """The report as readable text: for classification, sklearn's table (per class, then
    accuracy, macro and weighted averages) followed by top-k, AUC and AP; for regression,
    one line. Undefined values print as ``n/a``."""
    if kind == "regression":
        return "  ".join(f"{k} {_fmt(report[k])}" for k in ("mse", "rmse", "mae", "r2"))
    if kind != "classification":
        raise ValueError(f"kind must be 'classification' or 'regression', got {kind!r}")

    width = max(len("weighted avg"), *(len(n) for n in report["class_names"]))
    head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"

    def row(label: str, m: dict[str, Any], support: int) -> str:
        values = " ".join(f"{_fmt(m[k]):>9}" for k in PRF)
        return f"{label:>{width}} {values} {support:>9}"

    N = report["num_samples"]
    lines = [head, ""]
    lines += [row(n, m, m["support"]) for n, m in report["per_class"].items()]
    lines += [
        "",
        f"{'accuracy':>{width}} {'':>9} {'':>9} {_fmt(report['accuracy']):>9} {N:>9}",
        row("macro avg", report["macro_avg"], N),
        row("weighted avg", report["weighted_avg"], N),
        "",
    ]
    top = [key for key in report if key.startswith("top_")]  # top_{k}_accuracy, k ascending
    lines += [
        f"{key.replace('_', ' ').replace('top ', 'top-')}: {_fmt(report[key])}" for key in top
    ]
    if report["num_classes"] == 2:
        negative, positive = report["class_names"]
        rule = (
            "argmax" if report["threshold"] is None else f"P({positive}) >= {report['threshold']}"
        )
        lines += [
            f"positive class: {positive} (class 1; {negative} is class 0): ROC, precision, "
            "recall and the threshold are about it",
            f"ROC AUC: {_fmt(report['roc_auc'])}",
            f"average precision: {_fmt(report['average_precision'])}",
            f"decision rule: {rule}",
            "threshold  precision  recall  f1",
        ]
        sweep = report["threshold_sweep"]
        lines += [
            f"{t:>9.1f}  {p:>9.4f}  {r:>6.4f}  {f:.4f}"
            for t, p, r, f in zip(*(sweep[k] for k in ("thresholds", *PRF)), strict=True)
        ]
    else:
        lines += [
            f"ROC AUC (one-vs-rest, macro): {_fmt(report['roc_auc_ovr_macro'])}",
            f"average precision (one-vs-rest, macro): {_fmt(report['average_precision'])}",
        ]
    return "\n".join(lines)
