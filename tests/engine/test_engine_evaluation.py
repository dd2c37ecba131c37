"""engine.report.evaluation: full reports, predictions, figures and ensembles of saved runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, compose_cfg
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.errors import ConfigError
from engine.report.evaluation import Predictions, combine, evaluate_runs
from engine.run import save_config, train

QUIET = [*FAST, "logger=none", "trainer.max_epochs=4"]


def trained(run_dir: Path, *overrides: str) -> dict:
    cfg = compose_cfg(*QUIET, *overrides)
    save_config(cfg, run_dir)
    return train(cfg, run_dir)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory) -> list[Path]:
    """Three small MLPs on one split (data_seed=0), different model seeds."""
    root = tmp_path_factory.mktemp("digits")
    runs = []
    for seed in (0, 1, 2):
        run = root / f"s{seed}"
        trained(run, f"seed={seed}", "data_seed=0", "model.hidden_size=32")
        runs.append(run)
    return runs


def test_one_run_report_predictions_figures_and_images(digits_runs, tmp_path):
    run = digits_runs[0]
    result = evaluate_runs([run], tmp_path)
    saved = json.loads((run / "metrics.json").read_text())
    assert result["test"] == saved["test"]  # the task's numbers, as training reported them
    report = result["report"]
    # Training's accuracy is a float32 mean; the report counts exactly.
    assert report["accuracy"] == pytest.approx(saved["test"]["accuracy"], abs=1e-6)
    for key in (
        "top_1_accuracy",
        "top_5_accuracy",
        "macro_avg",
        "weighted_avg",
        "micro_avg",
        "confusion_matrix",
        "roc_auc_ovr_macro",
        "average_precision",
        "per_class",
    ):
        assert key in report, key
    on_disk = json.loads((tmp_path / "metrics.json").read_text())  # strict JSON: no Infinity
    assert on_disk["report"]["accuracy"] == report["accuracy"]
    arrays = np.load(tmp_path / "predictions.npz")
    n = report["num_samples"]
    assert arrays["y_true"].shape == (n,) and arrays["scores"].shape == (n, 10)
    np.testing.assert_array_equal(arrays["y_pred"], arrays["scores"].argmax(1))
    np.testing.assert_allclose(arrays["scores"].sum(1), 1.0, atol=1e-6)
    for name in ("confusion_matrix", "per_class", "roc", "precision_recall"):
        with Image.open(tmp_path / f"{name}.png") as picture:
            assert picture.size[0] > 100 and picture.size[1] > 100
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert {"eval/confusion_matrix", "eval/roc", "eval/precision_recall", "eval/per_class"} <= set(
        events.Tags()["images"]
    )
    image = events.Images("eval/confusion_matrix")[-1]
    assert Image.open(io.BytesIO(image.encoded_image_string)).size == (image.width, image.height)


def test_a_binary_threshold_shows_the_trade_off(tmp_path):
    run = tmp_path / "run"
    trained(run, "data=breast_cancer", "model=perceptron")
    low = evaluate_runs([run], tmp_path / "low", threshold=0.2)["report"]
    high = evaluate_runs([run], tmp_path / "high", threshold=0.8)["report"]
    assert low["threshold"] == 0.2 and high["threshold"] == 0.8
    # A lower threshold calls more samples positive: recall can only go up.
    assert low["positive_class"]["recall"] >= high["positive_class"]["recall"]
    sweep = low["threshold_sweep"]
    assert sweep["thresholds"] == pytest.approx([0.1 * i for i in range(1, 10)])
    assert sweep["recall"] == sorted(sweep["recall"], reverse=True)
    assert (tmp_path / "low" / "precision_recall.png").is_file()
    assert "roc_auc" in low and low["roc_auc"] > 0.8  # 4 epochs of one neuron


def test_regression_report_agrees_with_training(tmp_path):
    run = tmp_path / "run"
    metrics = trained(run, "data=diabetes")
    report = evaluate_runs([run], tmp_path / "eval")["report"]
    for key in ("mse", "mae", "r2"):
        assert report[key] == pytest.approx(metrics["test"][key], rel=1e-9, abs=1e-12)
    assert report["rmse"] == pytest.approx(report["mse"] ** 0.5)
    arrays = np.load(tmp_path / "eval" / "predictions.npz")
    assert arrays["y_true"].shape == arrays["y_pred"].shape


def test_an_ensemble_reports_members_their_mean_and_itself(digits_runs, tmp_path):
    result = evaluate_runs(digits_runs, tmp_path)
    members = [r["accuracy"] for r in result["members"].values()]
    assert len(members) == 3
    assert result["members_mean"]["accuracy"] == pytest.approx(np.mean(members))
    assert result["report"]["accuracy"] >= result["members_mean"]["accuracy"]
    vote = evaluate_runs(digits_runs, tmp_path / "vote", ensemble="vote")
    assert vote["ensemble_rule"] == "vote" and 0 < vote["report"]["accuracy"] <= 1


def test_majority_vote_breaks_ties_by_the_mean_probability():
    y = np.array([0])
    a = Predictions("classification", y, scores=np.array([[0.6, 0.4, 0.0]]))
    b = Predictions("classification", y, scores=np.array([[0.0, 0.55, 0.45]]))
    c = Predictions("classification", y, scores=np.array([[0.1, 0.8, 0.1]]))
    assert combine([a, b, c], "vote").scores.argmax(1).tolist() == [1]  # two votes of three
    assert combine([a, b], "vote").scores.argmax(1).tolist() == [1]  # 1-1 tie: mean 0.475 wins
    mean = combine([a, b], "mean").scores
    np.testing.assert_allclose(mean, [[0.3, 0.475, 0.225]])


def test_members_of_different_splits_are_refused(digits_runs, tmp_path):
    other = tmp_path / "other"
    trained(other, "seed=5", "model.hidden_size=32")  # data_seed = seed = 5: another split
    with pytest.raises(ConfigError, match=r"share the data and its seed.*data_seed=0"):
        evaluate_runs([digits_runs[0], other], tmp_path / "eval")


def test_an_embedding_run_reports_retrieval_and_saves_its_embeddings(tmp_path):
    run = tmp_path / "run"
    metrics = trained(run, "loss=triplet", "task=embedding", "task.dim=8")
    result = evaluate_runs([run], tmp_path / "eval")
    assert result["test"] == metrics["test"]
    assert {"nn_accuracy", "recall@1", "recall@5"} <= set(result["report"])
    arrays = np.load(tmp_path / "eval" / "predictions.npz")
    assert arrays["embeddings"].shape == (len(arrays["y_true"]), 8)
    np.testing.assert_allclose(np.linalg.norm(arrays["embeddings"], axis=1), 1.0, atol=1e-6)
    with pytest.raises(ConfigError, match="evaluate embedding runs one at a time"):
        evaluate_runs([run, run], tmp_path / "both")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": (0,)}, "top_k must be a list of integers >= 1"),
        ({"threshold": 1.5}, "threshold must be a probability"),
        ({"threshold": 0.3}, "binary classifier; this run is not one"),
        ({"ensemble": "median"}, "ensemble must be one of mean, vote"),
        ({"split": "holdout"}, "split must be train, val or test"),
    ],
)
def test_bad_evaluation_options_are_one_line(digits_runs, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        evaluate_runs([digits_runs[0]], tmp_path, **kwargs)


@pytest.mark.usefixtures("one_onnx_registry")
def test_onnx_goes_next_to_the_checkpoints_wherever_the_report_goes(digits_runs, tmp_path):
    result = evaluate_runs([digits_runs[0]], tmp_path / "elsewhere", export="onnx", pictures=False)
    assert Path(result["onnx"]["path"]) == digits_runs[0] / "model.onnx"
    assert result["onnx"]["max_abs_diff"] <= 1e-4
    with pytest.raises(ConfigError, match="exports one run"):
        evaluate_runs(digits_runs, tmp_path / "both", export="onnx")


def test_by_default_evaluation_uses_the_weights_the_run_tested(tmp_path):
    run = tmp_path / "run"
    metrics = trained(run, "trainer.test_checkpoint=last", "model.hidden_size=16")
    result = evaluate_runs([run], tmp_path / "eval", pictures=False)
    assert result["checkpoint"] == "last" and result["test"] == metrics["test"]


@pytest.mark.usefixtures("one_onnx_registry")
def test_the_exported_model_scores_on_raw_data_what_the_run_scores(digits_runs, tmp_path):
    """ONNX Runtime on the test split as loaded (no scaling by the user) gives the
    accuracy evaluate.py reports: the run's scaling is inside the exported graph."""
    import onnxruntime as ort

    from engine.report.evaluation import raw_inputs
    from engine.run import load_run

    run = digits_runs[0]
    result = evaluate_runs([run], tmp_path, export="onnx", pictures=False)
    _, built, _ = load_run(run, result["checkpoint"])
    x, y = built.data.splits["test"]
    raw = raw_inputs(built.data, x).numpy()
    assert raw.max() > 10  # digits' pixels as loaded, 0..16
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"x": raw})[0].argmax(1)
    assert (predicted == y.numpy()).mean() == pytest.approx(result["report"]["accuracy"])
