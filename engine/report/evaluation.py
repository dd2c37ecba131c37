"""Evaluate saved runs: full reports, predictions, figures, ensembles, ONNX export.

    one run:   predictions -> report (engine.report.metrics) -> eval/metrics.json,
               eval/predictions.npz, eval/*.png and TensorBoard images in eval/
    ensemble:  each member's predictions on the same split -> combined by probability
               averaging or majority vote (classification) or averaging (regression)
               -> a report for every member, the members' mean, and the ensemble

Members of an ensemble must share the data config and the seed: the seed fixes the
split, and only then do their test sets hold the same samples in the same order.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from engine.errors import ConfigError
from engine.report import metrics as M
from engine.run import Built, data_difference, load_run, resolve_device, write_json
from engine.tasks import outputs
from engine.tasks.fewshot import Episodic
from engine.tasks.zeroshot import ZeroShot

log = logging.getLogger(__name__)
ENSEMBLE_RULES = ("mean", "vote")


@dataclass
class Predictions:
    """One model's outputs on a split, in the data's own terms.

    Classification: ``y_true`` labels ``(N,)``, ``scores`` class probabilities
    ``(N, C)``; regression: ``y_true`` and ``y_pred`` ``(N, K)`` in the target's units.
    """

    kind: str
    y_true: np.ndarray
    scores: np.ndarray | None = None
    y_pred: np.ndarray | None = None


def predict(built: Built, split: str) -> tuple[Predictions, dict[str, float]]:
    """One model on a split: its predictions, and the task's own metrics on them (the
    numbers training reports), from one pass over the data."""
    model, data, task, loss_fn = built.model, built.data, built.task, built.loss_fn
    if task.name == "embedding":  # retrieval needs the training split as its gallery
        _, z, labels = task.embed(model, data, split)
        embedded = Predictions("embedding", labels.cpu().numpy(), y_pred=z.double().cpu().numpy())
        return embedded, task.evaluate(model, loss_fn, data, split)
    out, t = outputs(model, data, split)
    metrics = task.score(out, t, loss_fn, data)
    if task.name == "classification":
        _, true = task.labels(out, t)
        scores = task.probabilities(out).double().cpu().numpy()
        return Predictions("classification", true.cpu().numpy(), scores=scores), metrics
    if task.name == "regression":
        out, t = task.in_units(out, t, data)
        return Predictions("regression", t.cpu().numpy(), y_pred=out.cpu().numpy()), metrics
    raise ConfigError(f"evaluate.py does not know how to report task '{task.name}'")


def report_of(p: Predictions, class_names: list[str] | None, top_k, threshold) -> dict:
    if p.kind == "classification":
        return M.classification_report(
            p.y_true, p.scores, class_names, top_k=tuple(top_k), threshold=threshold
        )
    return M.regression_report(p.y_true, p.y_pred)


def combine(members: list[Predictions], rule: str) -> Predictions:
    """The ensemble's predictions: mean probabilities, or each member's vote (its argmax;
    a tie goes to the class with the higher mean probability), or mean predictions."""
    first = members[0]
    if first.kind == "regression":
        return Predictions(
            "regression", first.y_true, y_pred=np.mean([m.y_pred for m in members], 0)
        )
    mean = np.mean([m.scores for m in members], 0)  # (N, C)
    if rule == "mean":
        return Predictions("classification", first.y_true, scores=mean)
    votes = np.zeros_like(mean)
    for m in members:
        votes[np.arange(len(mean)), m.scores.argmax(1)] += 1
    # Scores whose argmax is the vote winner: votes first, mean probability breaks ties.
    scores = votes + mean / (len(members) + 1)
    return Predictions("classification", first.y_true, scores=scores / scores.sum(1, keepdims=True))


def run_test_checkpoint(run_dir: Path) -> str:
    """``trainer.test_checkpoint`` of a run (best or last), from its saved config."""
    config = run_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no .hydra/config.yaml)")
    return OmegaConf.load(config).trainer.get("test_checkpoint", "best")


def _check_members(cfgs: list[Any], dirs: list[Path]) -> None:
    first = cfgs[0]
    for cfg, path in zip(cfgs[1:], dirs[1:], strict=True):
        differ = data_difference(cfg, first)
        if differ:
            raise ConfigError(
                f"ensemble members must share the data and its seed (it fixes the split): "
                f"{path} differs from {dirs[0]} ({differ}); train the members with "
                "one data_seed, e.g. python train.py -m seed=0,1,2,3,4 data_seed=0"
            )
        if cfg.task.name != first.task.name:
            raise ConfigError(
                f"ensemble members must share the task: {path} is {cfg.task.name}, "
                f"{dirs[0]} is {first.task.name}"
            )


def figures(report: dict, class_names: list[str], out_dir: Path) -> dict[str, np.ndarray]:
    """The classification report's pictures as eval/*.png; returns them by name."""
    from engine.report import plots

    drawn = {}
    drawn["confusion_matrix"] = plots.save_figure(
        plots.confusion_figure(np.array(report["confusion_matrix"]), class_names),
        out_dir / "confusion_matrix.png",
    )
    per_class = report["per_class"]
    names = list(per_class)
    drawn["per_class"] = plots.save_figure(
        plots.class_bars_figure(
            names,
            [per_class[n]["precision"] for n in names],
            [per_class[n]["recall"] for n in names],
            [per_class[n]["f1"] for n in names],
        ),
        out_dir / "per_class.png",
    )
    if "roc_curve" in report:  # binary: the positive class's curves
        positive = names[-1]
        roc_curves = {positive: report["roc_curve"]} if report["roc_curve"] else {}
        roc_auc = {positive: report["roc_auc"]}
        pr_curves = {positive: report["pr_curve"]} if report["pr_curve"] else {}
        ap = {positive: report["average_precision"]}
    else:  # one-vs-rest, per class
        roc_curves = {n: c for n, c in (report.get("roc_curves") or {}).items() if c}
        roc_auc = report.get("roc_auc_per_class") or {}
        pr_curves = {n: c for n, c in (report.get("pr_curves") or {}).items() if c}
        ap = report.get("average_precision_per_class") or {}
    if roc_curves:
        roc = {n: (c["fpr"], c["tpr"], roc_auc.get(n)) for n, c in roc_curves.items()}
        drawn["roc"] = plots.save_figure(plots.roc_figure(roc), out_dir / "roc.png")
    if pr_curves:
        pr = {n: (c["recall"], c["precision"], ap.get(n)) for n, c in pr_curves.items()}
        point = None
        if report.get("threshold") is not None:  # where the chosen threshold sits
            pc = report["positive_class"]
            point = (pc["recall"], pc["precision"], report["threshold"])
        drawn["precision_recall"] = plots.save_figure(
            plots.pr_figure(pr, point), out_dir / "precision_recall.png"
        )
    return drawn


def evaluate_runs(
    run_dirs: list[str | Path],
    out_dir: str | Path,
    checkpoint: str | None = None,
    split: str = "test",
    device_name: str = "auto",
    top_k: tuple[int, ...] = (1, 5),
    threshold: float | None = None,
    ensemble: str = "mean",
    export: str | None = None,
    pictures: bool = True,
) -> dict[str, Any]:
    """Evaluate one run, or several as an ensemble; write the results to ``out_dir``."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split must be train, val or test, got '{split}'")
    if ensemble not in ENSEMBLE_RULES:
        raise ConfigError(f"ensemble must be one of {', '.join(ENSEMBLE_RULES)}, got '{ensemble}'")
    if export not in (None, "onnx"):
        raise ConfigError(f"export must be onnx or null, got '{export}'")
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ConfigError("say which run to evaluate: run_dir=<dir> or run_dirs=[<dir>,<dir>]")
    if export and len(dirs) > 1:
        raise ConfigError("export=onnx exports one run: give run_dir=<dir>, not run_dirs")
    if not top_k or not all(isinstance(k, int) and k >= 1 for k in top_k):
        raise ConfigError(f"top_k must be a list of integers >= 1, e.g. [1,5]; got {top_k}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigError(f"threshold must be a probability in [0, 1] or null, got {threshold}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device_name)
    if checkpoint is None:  # the weights each run's own test metrics used
        checkpoint = run_test_checkpoint(dirs[0])
    loaded = [load_run(d, checkpoint, device) for d in dirs]
    cfgs = [cfg for cfg, _, _ in loaded]
    _check_members(cfgs, dirs)
    built0 = loaded[0][1]
    class_names = built0.data.class_names
    if threshold is not None and (
        built0.task.name != "classification" or built0.task.num_classes != 2
    ):
        raise ConfigError(
            "threshold=... moves the cut of a binary classifier; this run is not one "
            "(leave threshold=null)"
        )
    if built0.task.generative:  # a generative model: its samples, not predictions
        if len(dirs) > 1:
            raise ConfigError(
                f"ensembles combine classifiers or regressors; evaluate {built0.task.name} "
                "runs one at a time (run_dir=<dir>)"
            )
        return _evaluate_generative(
            loaded[0], dirs[0], out_dir, split, checkpoint, export, pictures
        )
    # Few-shot (MAML included) and zero-shot runs are tested on classes they never
    # trained on: their own protocol is the report.
    if isinstance(built0.task, Episodic | ZeroShot):
        if len(dirs) > 1 or export:
            raise ConfigError(
                f"a {built0.task.name} run is evaluated alone (run_dir=<dir>, export=null): its "
                "test classes are ones it never trained on, named by episodes or attributes"
            )
        return _evaluate_held_out(loaded[0], out_dir, split, checkpoint, pictures)
    predicted = [predict(built, split) for _, built, _ in loaded]
    members = [p for p, _ in predicted]

    result: dict[str, Any] = {"split": split, "checkpoint": checkpoint}
    if members[0].kind == "embedding" and len(dirs) > 1:
        raise ConfigError(
            "ensembles combine classifiers or regressors; evaluate embedding runs one at a "
            "time (run_dir=<dir>): their spaces differ from run to run"
        )
    if len(dirs) == 1:
        _, _, state = loaded[0]
        result[split] = predicted[0][1]  # the task's own numbers, as training reported them
        result["epoch"] = checkpoint_epoch(state)
        final = members[0]
    else:
        reports = [report_of(m, class_names, top_k, threshold) for m in members]
        main = "accuracy" if members[0].kind == "classification" else "mse"
        result["members"] = {str(d): r for d, r in zip(dirs, reports, strict=True)}
        result["members_mean"] = {
            k: statistics.mean(r[k] for r in reports)
            for k in reports[0]
            if isinstance(reports[0][k], int | float) and not isinstance(reports[0][k], bool)
        }
        result["ensemble_rule"] = ensemble if members[0].kind == "classification" else "mean"
        final = combine(members, ensemble)
        result["main_metric"] = main
    if final.kind == "embedding":  # retrieval against the training split, as in training
        report = dict(result[split])
    else:
        report = report_of(final, class_names, top_k, threshold)
    result["report"] = report
    if len(dirs) > 1:
        result[split] = {k: v for k, v in report.items() if isinstance(v, int | float)}

    arrays = {"y_true": final.y_true}
    if final.kind == "classification":
        arrays |= {"y_pred": final.scores.argmax(1), "scores": final.scores}
    elif final.kind == "embedding":
        arrays |= {"embeddings": final.y_pred}
    else:
        arrays |= {"y_pred": final.y_pred}
    save_arrays(arrays, out_dir / "predictions.npz")

    if pictures and final.kind == "classification":
        drawn = figures(report, [str(n) for n in (class_names or [])] or None, out_dir)
        _log_images(drawn, out_dir)
    if export == "onnx":
        result["onnx"] = _export(built0, cfgs[0], dirs, out_dir)
    write_json(finite(result), out_dir / "metrics.json")
    return result


def _task_metrics(
    loaded: tuple[Any, Built, dict[str, Any]], split: str, checkpoint: str, kind: str
) -> dict[str, Any]:
    """The task's own metrics on ``split`` as the report; ``kind`` flags the result
    (``generative``, ``held_out``) so evaluate.py prints them as they are."""
    _, built, state = loaded
    metrics = built.task.evaluate(built.model, built.loss_fn, built.data, split)
    return {
        "split": split,
        "checkpoint": checkpoint,
        kind: True,
        split: metrics,
        "report": metrics,
        "epoch": checkpoint_epoch(state),
    }


def _evaluate_generative(
    loaded: tuple[Any, Built, dict[str, Any]],
    run_dir: Path,
    out_dir: Path,
    split: str,
    checkpoint: str,
    export: str | None,
    pictures: bool,
) -> dict[str, Any]:
    """A GAN's or an autoencoder's run: the task's metrics on ``split``, the arrays its
    task saves (samples; or codes and reconstructions) as samples.npz, and its pictures
    as PNGs and TensorBoard images."""
    from engine.report.pictures import encode_png

    cfg, built, _ = loaded
    task, model, data = built.task, built.model, built.data
    result = _task_metrics(loaded, split, checkpoint, "generative")
    save_arrays(task.arrays(model, data, split), out_dir / "samples.npz")
    if pictures:
        drawn = {tag.replace("/", "_"): p for tag, p in task.pictures(model, data, split).items()}
        for name, pixels in drawn.items():
            (out_dir / f"{name}.png").write_bytes(encode_png(pixels))
        _log_images(drawn, out_dir)
    if export == "onnx":
        sample = task.example_input(data, 8)
        result["onnx"] = export_model(built.model, sample, run_dir, cfg.model.name)
    write_json(finite(result), out_dir / "metrics.json")
    return result


class _Drawn:
    """Stands in for the run's logger when a task's ``after_test`` draws: keeps the
    images and the projector's embeddings instead of writing TensorBoard events."""

    def __init__(self) -> None:
        self.images: dict[str, np.ndarray] = {}
        self.embeddings: dict[str, np.ndarray] = {}

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.images[tag.replace("/", "_")] = image

    def embedding(self, z: torch.Tensor, labels: list[str], tag: str, step: int) -> None:
        self.embeddings[f"{tag}_embeddings"] = z.detach().float().cpu().numpy()
        self.embeddings[f"{tag}_labels"] = np.asarray(labels)


def _evaluate_held_out(
    loaded: tuple[Any, Built, dict[str, Any]],
    out_dir: Path,
    split: str,
    checkpoint: str,
    pictures: bool,
) -> dict[str, Any]:
    """A few-shot or zero-shot run: the task's own protocol on ``split``, as training's
    test reported it (few-shot: ``test_episodes`` episodes of the novel classes for each
    K, mean and 95% CI; zero-shot: unseen and generalized accuracies). On the test split
    also the novel (unseen) classes' embeddings, in predictions.npz, and the drawn test
    episode as a PNG (few-shot on images)."""
    from engine.report.pictures import encode_png

    _, built, _ = loaded
    task, model, data = built.task, built.model, built.data
    result = _task_metrics(loaded, split, checkpoint, "held_out")
    if split == "test":
        drawn = _Drawn()
        task.after_test(model, data, drawn, 0)
        save_arrays(drawn.embeddings, out_dir / "predictions.npz")
        if pictures:
            for name, pixels in drawn.images.items():
                (out_dir / f"{name}.png").write_bytes(encode_png(pixels))
            _log_images(drawn.images, out_dir)
    write_json(finite(result), out_dir / "metrics.json")
    return result


def checkpoint_epoch(state: dict[str, Any]) -> int | None:
    """The epoch whose weights a checkpoint holds (best.pt says it; last.pt counts it)."""
    return state.get("epoch", state.get("counters", {}).get("epoch"))


def save_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """An .npz written atomically (a temporary file, then renamed), like checkpoints."""
    tmp = path.with_name(f".{path.name}.tmp.npz")  # np.savez adds .npz unless it is there
    np.savez(tmp, **arrays)
    tmp.replace(path)


def finite(tree: Any) -> Any:
    """``tree`` with ±inf and NaN as None: strict JSON has no Infinity (a ROC curve's
    first threshold is +inf by convention)."""
    if isinstance(tree, dict):
        return {k: finite(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [finite(v) for v in tree]
    if isinstance(tree, float) and not np.isfinite(tree):
        return None
    return tree


def _log_images(drawn: dict[str, np.ndarray], out_dir: Path) -> None:
    """The figures as TensorBoard images, in an event file in ``out_dir`` (so
    ``tensorboard --logdir <run_dir>`` shows them as the run's ``eval``)."""
    from engine.logger import TensorBoardLogger

    logger = TensorBoardLogger(out_dir)
    try:
        for name, pixels in drawn.items():
            logger.image(f"eval/{name}", pixels, 0)
    finally:
        logger.close()


def _export(built: Built, cfg: Any, dirs: list[Path], out_dir: Path) -> dict[str, Any]:
    """Export with the run's scaling inside the graph: the file takes raw data."""
    data = built.data
    sample = data.head("test", 8)  # up to 8 test inputs (a graph is exported whole)
    return export_model(built.model, raw_inputs(data, sample), dirs[0], cfg.model.name, data.stats)


def raw_inputs(data: Any, inputs: Any) -> Any:
    """Scaled inputs (as :meth:`DataModule.batches` hands them out) back in the data's
    own units: a tensor, ``(x, lengths)``, or a graph whose node features are ``x``."""
    if isinstance(inputs, torch.Tensor):
        return data.unscale(inputs)
    if isinstance(inputs, tuple):
        return (data.unscale(inputs[0]), *inputs[1:])
    graph = inputs.clone()
    graph.x = data.unscale(graph.x)
    return graph


def export_model(
    model: Any, sample: Any, run_dir: Path, model_name: str, stats: dict | None = None
) -> dict[str, Any]:
    from engine.report.export import export_onnx

    return export_onnx(model, sample, run_dir / "model.onnx", model_name, stats)
