"""The embedding task: retrieval metrics against scikit-learn, the fit checks, a short
run on digits, and the projector files TensorBoard's plugin reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from run_events import RunEvents
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
from werkzeug.test import Client

import losses
from engine.errors import ConfigError
from engine.run import build, train
from engine.tasks import create_task
from engine.tasks.embedding import retrieval_metrics
from zoo import DataSpec


def random_split(seed: int, n_query: int = 60, n_gallery: int = 90, classes: int = 4):
    gen = torch.Generator().manual_seed(seed)
    centers = 1.5 * torch.randn(classes, 5, generator=gen, dtype=torch.float64)
    gy = torch.randint(0, classes, (n_gallery,), generator=gen)
    qy = torch.randint(0, classes, (n_query,), generator=gen)
    g = centers[gy] + torch.randn(n_gallery, 5, generator=gen, dtype=torch.float64)
    q = centers[qy] + torch.randn(n_query, 5, generator=gen, dtype=torch.float64)
    return q, qy, g, gy


@pytest.mark.parametrize("kind", ["euclidean", "cosine"])
@pytest.mark.parametrize("seed", [0, 1])
def test_retrieval_metrics_equal_scikit_learn(kind: str, seed: int) -> None:
    q, qy, g, gy = random_split(seed)
    got = retrieval_metrics(q, qy, g, gy, ks=(1, 3, 10), distance=kind)
    knn = KNeighborsClassifier(n_neighbors=1, metric=kind, algorithm="brute").fit(g, gy)
    assert got["nn_accuracy"] == pytest.approx(knn.score(q, qy))
    assert 0.4 < got["nn_accuracy"] < 1  # neither trivial nor hopeless: a real check
    nn_idx = NearestNeighbors(n_neighbors=10, metric=kind, algorithm="brute").fit(g)
    neighbours = nn_idx.kneighbors(q, return_distance=False)  # (Q, 10), nearest first
    for k in (1, 3, 10):
        want = np.mean(
            [
                (gy.numpy()[row[:k]] == label).any()
                for row, label in zip(neighbours, qy.numpy(), strict=True)
            ]
        )
        assert got[f"recall@{k}"] == pytest.approx(want)
    assert got["recall@1"] == got["nn_accuracy"] < got["recall@10"]


def test_retrieval_within_one_set_leaves_each_query_out() -> None:
    _, _, g, gy = random_split(2)
    got = retrieval_metrics(g, gy, g, gy, ks=(1,), exclude_self=True)
    nearest = NearestNeighbors(n_neighbors=2).fit(g).kneighbors(g, return_distance=False)
    assert (nearest[:, 0] == np.arange(len(g))).all()  # sklearn finds each point itself first
    want = (gy.numpy()[nearest[:, 1]] == gy.numpy()).mean()
    assert got["nn_accuracy"] == pytest.approx(want)
    assert want < 1
    assert retrieval_metrics(g, gy, g, gy, ks=(1,))["nn_accuracy"] == 1  # self-match


def test_configure_sizes_the_head_and_normalizes_the_loss() -> None:
    spec = DataSpec("vector", (4,), "classification", num_classes=3)
    task = create_task("embedding", dim=7, normalize=True, k=[1, 2])
    loss = losses.create_loss("triplet", distance="cosine")
    assert not loss.normalize
    assert task.configure(spec, "toy", loss, "triplet") == 7
    assert loss.normalize and task.distance == "cosine"
    with pytest.raises(ValueError, match="dim must be a positive integer, got 0"):
        create_task("embedding", dim=0)
    with pytest.raises(ValueError, match=r"k must be positive integers, got \[1, 0\]"):
        create_task("embedding", k=[1, 0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["task=embedding", "loss=cross_entropy"],
            "loss 'cross_entropy' fits task classification, not embedding; "
            "losses for embedding: contrastive, triplet",
        ),
        (
            ["task=classification", "loss=triplet"],
            "loss 'triplet' fits task embedding, not classification; losses for classification: ",
        ),
        (
            ["task=embedding", "loss=triplet", "data=diabetes"],
            "task 'embedding' needs classification targets but data 'diabetes' has regression",
        ),
    ],
)
def test_a_loss_or_data_that_does_not_fit_fails_before_training(overrides, message) -> None:
    with pytest.raises(ConfigError) as err:
        build(compose_cfg(*FAST, *overrides), torch.device("cpu"))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("loss", ["triplet", "contrastive"])
def test_a_short_run_on_digits_learns_a_useful_embedding(loss: str, tmp_path) -> None:
    cfg = compose_cfg(
        *FAST, "trainer.max_epochs=4", "logger=tensorboard", "task=embedding", f"loss={loss}"
    )
    metrics = train(cfg, tmp_path)
    test = metrics["test"]
    assert set(test) == {"loss", "nn_accuracy", "recall@1", "recall@5"}
    assert test["nn_accuracy"] > 0.9  # 1-NN on the raw standardized pixels: ~0.97
    assert test["nn_accuracy"] == test["recall@1"] <= test["recall@5"]
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == test
    scalars = RunEvents(tmp_path).Tags()["scalars"]
    assert {"val/nn_accuracy", "val/recall@5", "test/nn_accuracy"} <= set(scalars)


def test_the_test_embeddings_reach_the_projector(tmp_path) -> None:
    cfg = compose_cfg(
        *FAST,
        "trainer.max_epochs=1",
        "logger=tensorboard",
        "task=embedding",
        "task.dim=6",
        "data=iris",
        "loss=triplet",
    )
    metrics = train(cfg, tmp_path)
    # TensorBoard's projector plugin on this run directory, as `tensorboard --logdir` sets it up.
    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    provider = MultiplexerDataProvider(mux, str(tmp_path))
    plugin = ProjectorPlugin(base_plugin.TBContext(logdir=str(tmp_path), data_provider=provider))
    plugin._update_configs()  # what its HTTP handlers do first
    (embedding,) = plugin._configs["."].embeddings
    assert embedding.tensor_name == "test"
    tensor_path = tmp_path / embedding.tensor_path
    metadata_path = tmp_path / embedding.metadata_path
    assert tensor_path.is_file() and metadata_path.is_file()
    assert tensor_path.parent == tmp_path / f"{metrics['steps']:05d}" / "test"
    tensor = plugin.tensor_cache.get((".", "test"))  # the plugin parsed tensors.tsv
    assert tensor.shape == (23, 6) == tuple(embedding.tensor_shape)  # iris: 15% of 150 test
    np.testing.assert_allclose(np.linalg.norm(tensor, axis=1), 1, rtol=1e-5)  # normalize: true
    labels = metadata_path.read_text().splitlines()
    assert len(labels) == 23 and set(labels) <= {"setosa", "versicolor", "virginica"}
    # The view its bookmarks panel offers, fetched as the page fetches it.
    bookmarks = Client(plugin.get_plugin_apps()["/bookmarks"]).get("/?run=.&name=test")
    assert bookmarks.status_code == 200, bookmarks.text
    (view,) = bookmarks.json
    assert len(view["projections"]) == 23 and view["selectedColorOptionName"] == "label"


def test_no_projector_files_without_a_logger_or_for_other_tasks(tmp_path) -> None:
    train(
        compose_cfg(
            *FAST,
            "trainer.max_epochs=1",
            "logger=none",
            "task=embedding",
            "data=iris",
            "loss=contrastive",
        ),
        tmp_path / "none",
    )
    train(
        compose_cfg(*FAST, "trainer.max_epochs=1", "logger=tensorboard", "data=iris"),
        tmp_path / "classification",
    )
    assert not list(tmp_path.rglob("projector_config.pbtxt"))
    assert not list(tmp_path.rglob("*.tsv"))
