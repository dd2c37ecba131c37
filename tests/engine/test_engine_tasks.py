"""engine.tasks: data, task and loss are checked to fit before training, targets are
encoded the way the loss reads them, and metrics are right (in the data's units)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from torch import nn

import losses
from engine.data import DataModule
from engine.errors import ConfigError
from engine.run import build
from engine.tasks import create_task, list_tasks
from zoo import DataSpec

CPU = torch.device("cpu")


def built(*overrides: str):
    return build(compose_cfg(*FAST, "logger=none", *overrides), CPU)


def head(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def configured(task_name: str, loss_name: str, spec: DataSpec):
    task = create_task(task_name)
    size = task.configure(spec, "toy", losses.create_loss(loss_name), loss_name)
    return task, size


def test_tasks_registered():
    assert {"classification", "regression"} <= set(list_tasks())


# ----------------------------------------------------------------------------- fitting


def test_bce_on_binary_data_gives_one_logit_and_float_column_targets():
    b = built("data=breast_cancer", "loss=bce")
    assert head(b.model).out_features == 1
    x, t = b.data.splits["train"]
    assert t.dtype == torch.float32 and t.shape == (len(x), 1)
    assert set(t.unique().tolist()) == {0.0, 1.0}
    assert b.model(x[:5]).shape == (5, 1)
    # the float targets are the same labels cross-entropy sees
    ce = built("data=breast_cancer", "loss=sparse_cross_entropy")
    assert torch.equal(t[:, 0].long(), ce.data.splits["train"][1])


def test_sparse_cross_entropy_on_binary_data_gives_two_outputs_and_labels():
    b = built("data=breast_cancer", "loss=sparse_cross_entropy")
    assert head(b.model).out_features == 2
    t = b.data.splits["train"][1]
    assert t.dtype == torch.long and t.ndim == 1


def test_cross_entropy_is_fed_one_hot_rows_of_the_same_labels():
    labels = built("data=iris", "loss=sparse_cross_entropy").data.splits["train"][1]
    b = built("data=iris", "loss=cross_entropy")
    assert head(b.model).out_features == 3
    t = b.data.splits["train"][1]
    assert t.dtype == torch.float32 and torch.equal(t, nn.functional.one_hot(labels, 3).float())


def test_bce_on_three_classes_is_one_vs_rest():
    b = built("data=iris", "loss=bce")
    labels = built("data=iris", "loss=sparse_cross_entropy").data.splits["train"][1]
    assert head(b.model).out_features == 3
    t = b.data.splits["train"][1]
    assert t.dtype == torch.float32 and t.shape == (len(labels), 3)
    assert torch.equal(t, nn.functional.one_hot(labels, 3).float())


def test_classification_on_regression_data():
    with pytest.raises(ConfigError, match="task=regression") as err:
        built("data=diabetes", "task=classification", "loss=cross_entropy")
    assert "diabetes" in str(err.value) and "\n" not in str(err.value)


def test_regression_on_classification_data():
    with pytest.raises(ConfigError, match="task=classification"):
        built("data=iris", "task=regression", "loss=mse")


@pytest.mark.parametrize(
    ("task", "loss", "fits"),
    [("classification", "mse", "regression"), ("regression", "bce", "classification")],
)
def test_loss_of_another_task(task, loss, fits):
    data = "data=digits" if task == "classification" else "data=diabetes"
    with pytest.raises(ConfigError) as err:
        built(data, f"task={task}", f"loss={loss}")
    message = str(err.value)
    assert loss in message and fits in message and "\n" not in message


def test_regression_head_has_one_output_per_target():
    spec = DataSpec("vector", (4,), "regression", num_targets=3)
    _, size = configured("regression", "mse", spec)
    assert size == 3
    b = built("data=diabetes", "model=perceptron")
    assert head(b.model).out_features == 1 and b.data.splits["train"][1].shape[1] == 1


# ----------------------------------------------------------------------------- metrics


def regression_module(y_mean: list[float], y_std: list[float]) -> DataModule:
    spec = DataSpec("vector", (1,), "regression", num_targets=len(y_mean))
    stats = {"y_mean": torch.tensor(y_mean), "y_std": torch.tensor(y_std)}
    return DataModule(spec, {}, stats)


@pytest.mark.parametrize("k", [1, 3])
def test_regression_metrics_equal_sklearn_in_original_units(k):
    gen = torch.Generator().manual_seed(k)
    out = torch.randn(200, k, generator=gen)
    t = 0.7 * out + 0.5 * torch.randn(200, k, generator=gen)
    mean, std = [10.0 * (i + 1) for i in range(k)], [3.0 + i for i in range(k)]
    data = regression_module(mean, std)
    task, _ = configured("regression", "mse", data.spec)
    got = task.metrics(out, t, data)
    mean_, std_ = np.array(mean), np.array(std)
    o = out.double().numpy() * std_ + mean_
    y = t.double().numpy() * std_ + mean_
    assert got["mse"] == pytest.approx(mean_squared_error(y, o), rel=1e-9, abs=1e-9)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, o), rel=1e-9, abs=1e-9)
    assert got["r2"] == pytest.approx(r2_score(y, o), rel=1e-9, abs=1e-9)
    # in standardized units the error metrics would differ by std**2 and std
    assert got["mse"] != pytest.approx(mean_squared_error(t.double(), out.double()), rel=1e-3)


def test_regression_metrics_without_target_scaling():
    out, t = torch.randn(50, 2), torch.randn(50, 2)
    spec = DataSpec("vector", (1,), "regression", num_targets=2)
    task, _ = configured("regression", "mse", spec)
    got = task.metrics(out, t, DataModule(spec, {}, {}))
    o, y = out.double().numpy(), t.double().numpy()
    assert got["mse"] == pytest.approx(mean_squared_error(y, o), rel=1e-9)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, o), rel=1e-9)
    assert got["r2"] == pytest.approx(r2_score(y, o), rel=1e-9)


def test_evaluate_regression_model_matches_sklearn():
    b = built("data=diabetes", "model=perceptron")
    task, data = b.task, b.data
    result = task.evaluate(b.model, b.loss_fn, data, "test")
    x, t = data.splits["test"]
    with torch.no_grad():
        out = b.model(x).double()
    std, mean = data.stats["y_std"].double(), data.stats["y_mean"].double()
    y_true = (t.double() * std + mean).numpy()
    y_pred = (out * std + mean).numpy()
    assert result["r2"] == pytest.approx(r2_score(y_true, y_pred), rel=1e-9)
    assert result["mse"] == pytest.approx(mean_squared_error(y_true, y_pred), rel=1e-9)
    assert result["loss"] == pytest.approx(nn.functional.mse_loss(out.float(), t).item(), rel=1e-6)


def test_accuracy_multiclass_by_hand():
    spec = DataSpec("vector", (2,), "classification", num_classes=3)
    task, size = configured("classification", "cross_entropy", spec)
    assert size == 3
    out = torch.tensor([[3.0, 1, 0], [0, 2, 1], [0, 0, 5], [9, 0, 1], [0, 1, 0.5]])
    labels = torch.tensor([0, 1, 2, 1, 2])  # predictions 0, 1, 2, 0, 1: 3 of 5 right
    assert task.metrics(out, labels, None)["accuracy"] == pytest.approx(0.6)
    assert task.train_metrics(out, labels)["accuracy"] == pytest.approx(0.6)


def test_accuracy_single_logit_by_hand():
    spec = DataSpec("vector", (2,), "classification", num_classes=2)
    task, size = configured("classification", "bce", spec)
    assert size == 1
    out = torch.tensor([[2.0], [-1.0], [0.5], [-3.0], [0.0]])
    t = task.encode_targets(torch.tensor([1, 0, 0, 1, 0]))
    assert t.shape == (5, 1) and t.dtype == torch.float32
    # logit > 0 -> class 1: predictions 1, 0, 1, 0, 0 against 1, 0, 0, 1, 0
    assert task.metrics(out, t, None)["accuracy"] == pytest.approx(0.6)


def test_accuracy_one_vs_rest_by_hand():
    spec = DataSpec("vector", (2,), "classification", num_classes=3)
    task, _ = configured("classification", "bce", spec)
    t = task.encode_targets(torch.tensor([2, 0, 1, 1]))
    assert torch.equal(t, torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 0]]))
    out = torch.tensor([[-1.0, -2, 3], [1, 0, -1], [0, -1, 2], [-5, 4, -5]])
    assert task.metrics(out, t, None)["accuracy"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("overrides", "rows_sum_to_one"),
    [
        (["data=breast_cancer", "loss=bce"], True),  # one logit: sigmoid, and 1 - sigmoid
        (["data=iris", "loss=sparse_cross_entropy"], True),  # softmax over the classes
        (["data=iris", "loss=bce"], False),  # one-vs-rest: a sigmoid per column
    ],
)
def test_probabilities_from_logits(overrides, rows_sum_to_one):
    b = built(*overrides)
    x, t = b.data.splits["test"]
    with torch.no_grad():
        out = b.model.eval()(x)
    p = b.task.probabilities(out)
    assert p.shape == (len(x), b.data.spec.num_classes)
    assert ((p >= 0) & (p <= 1)).all()
    assert torch.allclose(p.sum(1), torch.ones(len(x))) == rows_sum_to_one
    # the most probable class is the predicted label
    assert torch.equal(p.argmax(1), b.task.labels(out, t)[0])
