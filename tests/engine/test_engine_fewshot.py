"""Few-shot tasks: episodes, prototypes, the confidence interval, MAML's inner loop, the
class split's checks, and each task training, testing and resuming through the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from resume_checks import assert_bitwise_equal, killed_and_resumed
from torch import nn
from torch.nn import functional as F

import zoo
from engine.data.episodes import EpisodeSampler, class_split, mean_ci
from engine.errors import ConfigError
from engine.report.evaluation import evaluate_runs
from engine.run import make_trainer, save_config, train
from engine.tasks.fewshot import prototype_logits
from engine.tasks.maml import inner_loop

TASKS = ["protonet", "siamese", "fewshot_baseline", "maml"]
LOSS = {"siamese": "contrastive"}
SMALL = ["logger=none", "task.test_episodes=40", "task.val_episodes=5", "trainer.batch_size=128"]


def overrides(task: str, *extra: str) -> list[str]:
    return [*FAST, *SMALL, f"task={task}", f"loss={LOSS.get(task, 'sparse_cross_entropy')}",
            *extra]  # fmt: skip


def test_episodes_are_class_disjoint_balanced_and_reproducible() -> None:
    labels = torch.arange(6).repeat_interleave(10)  # 6 classes of 10
    sampler = EpisodeSampler(labels, n_way=3, k_shot=2, q_queries=4)
    a = sampler.sample(torch.Generator().manual_seed(1))
    b = sampler.sample(torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))  # same seed, same episode
    assert not set(a.support.tolist()) & set(a.query.tolist())  # no sample on both sides
    for way, c in enumerate(a.classes.tolist()):
        assert (labels[a.support[a.support_labels == way]] == c).all()
        assert (labels[a.query[a.query_labels == way]] == c).all()
        assert (a.support_labels == way).sum() == 2 and (a.query_labels == way).sum() == 4
    draws = {tuple(sampler.sample(torch.Generator().manual_seed(s)).classes.tolist())
             for s in range(20)}  # fmt: skip
    assert len(draws) > 1  # other seeds, other episodes


def test_the_test_split_holds_only_novel_classes_and_training_only_base(tmp_path) -> None:
    _, built = make_trainer(compose_cfg(*overrides("protonet")), tmp_path)
    task, data = built.task, built.data
    assert (task.base, task.novel) == (["0", "1", "2", "3", "4"], ["5", "6", "7", "8", "9"])
    assert set(data.splits["train"][1].tolist()) == set(range(5))
    # Every novel digit's samples, from all three splits (about 180 each of 1,797 / 10).
    assert torch.bincount(data.splits["test"][1]).min() > 170
    train_x, test_x = data.splits["train"][0].flatten(1), data.splits["test"][0].flatten(1)
    assert torch.cdist(train_x, test_x).min() > 0  # no training image among the novel ones


def test_prototypes_are_the_support_means() -> None:
    zs = torch.randn(6, 4, dtype=torch.float64)
    ys = torch.tensor([0, 1, 2, 0, 1, 2])
    zq = torch.randn(5, 4, dtype=torch.float64)
    means = torch.stack([zs[ys == n].mean(0) for n in range(3)])
    expected = -(torch.cdist(zq, means) ** 2)
    torch.testing.assert_close(prototype_logits(zs, ys, zq, 3, "euclidean"), expected)
    cosine = 10 * F.cosine_similarity(zq[:, None], means[None], dim=-1)
    torch.testing.assert_close(prototype_logits(zs, ys, zq, 3, "cosine"), cosine)


def test_the_confidence_interval_is_1_96_standard_errors() -> None:
    acc = [0.2, 0.4, 0.4, 0.6, 0.9]
    mean = sum(acc) / 5
    s = math.sqrt(sum((a - mean) ** 2 for a in acc) / 4)
    assert mean_ci(acc) == pytest.approx((mean, 1.959964 * s / math.sqrt(5)))
    assert mean_ci([0.5]) == (0.5, 0.0)


def test_maml_inner_step_equals_a_hand_computed_gradient_step() -> None:
    """One step on a linear softmax classifier: ∇W = (softmax(XWᵀ + b) − Y)ᵀ X / n."""
    torch.manual_seed(0)
    model = nn.Linear(3, 4).double()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 4, (8,))
    weights = dict(model.named_parameters())
    adapted = inner_loop(model, weights, x, y, nn.CrossEntropyLoss(), 1, 0.5, first_order=False)
    residual = (torch.softmax(x @ model.weight.T + model.bias, 1) - F.one_hot(y, 4)) / 8
    torch.testing.assert_close(adapted["weight"], model.weight - 0.5 * residual.T @ x)
    torch.testing.assert_close(adapted["bias"], model.bias - 0.5 * residual.sum(0))


def test_second_order_maml_differentiates_through_the_inner_step() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    loss = nn.CrossEntropyLoss()
    grads = {}
    for first_order in (True, False):
        adapted = inner_loop(model, dict(model.named_parameters()), x, y, loss, 1, 1.0,
                             first_order)  # fmt: skip
        outer = loss(torch.func.functional_call(model, adapted, (x,)), y)
        grads[first_order] = torch.autograd.grad(outer, model.weight)[0]
    first = inner_loop(model, dict(model.named_parameters()), x, y, loss, 1, 1.0, True)
    adapted = {k: v.detach().requires_grad_() for k, v in first.items()}
    at_adapted = torch.autograd.grad(
        loss(torch.func.functional_call(model, adapted, (x,)), y), adapted["weight"]
    )[0]
    torch.testing.assert_close(grads[True], at_adapted)
    # First order: the outer gradient is ∇θ' L at θ', taken as ∇θ; second order is not.
    assert not torch.allclose(grads[True], grads[False])  # the Hessian term is there


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["task.k_shot=200"], "has only"),  # K + Q beyond a base class's samples
        (["task.q_queries=200"], "has only"),  # Q alone beyond them
        (["task.shots=[190]"], "novel class '.' has only"),  # K + Q beyond a novel class's
        (["task.n_way=6"], "task.n_way=6 but there are only 5"),
        (["task.base_classes=[0,1,2]", "task.novel_classes=[2,3,4]"], "both base and novel"),
        (["task.novel_classes=[5,x]"], "which the data lacks"),
        (["model=perceptron"], "no 'embedding' capability"),
        (["augment=noise"], "does not take augmented batches; use augment=none"),
    ],
)
def test_bad_episodes_and_models_fail_in_one_line(extra, message, tmp_path) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        make_trainer(compose_cfg(*overrides("protonet", *extra)), tmp_path)
    assert "\n" not in str(e.value)


def test_class_split_defaults_to_halves() -> None:
    assert class_split(list("abcde"), None, None) == (["a", "b", "c"], ["d", "e"])
    assert class_split(list("abcde"), None, ["a", "b"]) == (["c", "d", "e"], ["a", "b"])


@pytest.mark.parametrize("task", TASKS)
def test_each_task_reports_every_k_with_its_interval_and_reproduces(task, tmp_path) -> None:
    extra = ["trainer.max_epochs=1", "task.test_steps=1"] if task == "maml" else []
    cfg = compose_cfg(*overrides(task, *extra))
    a, b = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    assert a["test"] == b["test"]  # same config and seed, same numbers
    test = a["test"]
    for k in (1, 5):
        assert 0 <= test[f"accuracy_{k}shot"] <= 1 and 0 < test[f"ci95_{k}shot"] < 0.2
    assert test["accuracy"] == test["accuracy_1shot"]
    if task != "maml":  # a few epochs already beat chance (0.2) on novel digits
        assert test["accuracy_5shot"] > 0.5
    if task == "siamese":
        assert 0.5 < test["verification_accuracy"] <= 1


@pytest.mark.parametrize("task", ["protonet", "fewshot_baseline", "maml"])
def test_resume_after_a_kill_continues_exactly(task, tmp_path, monkeypatch) -> None:
    common = overrides(task, "trainer.max_epochs=2", "trainer.checkpoint_interval_s=0",
                       "task.test_episodes=5")  # fmt: skip
    straight, resumed, a, b = killed_and_resumed(common, tmp_path, monkeypatch, epoch=2)
    assert resumed["test"] == straight["test"]
    if task == "fewshot_baseline":  # the task's own linear head
        assert_bitwise_equal(a["task"], b["task"])


def test_novel_embeddings_reach_the_projector_and_an_episode_is_drawn(tmp_path) -> None:
    cfg = compose_cfg(*overrides("protonet", "logger=tensorboard", "trainer.max_epochs=1"))
    train(cfg, tmp_path)
    metadata = next(tmp_path.rglob("metadata.tsv")).read_text().split()
    assert set(metadata) == {"5", "6", "7", "8", "9"}  # novel classes only
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert "episode/1shot" in events.Tags()["images"]


@pytest.mark.parametrize("model", zoo.models_with("embedding"))
def test_every_embedding_model_trains_episodes_and_beats_chance(model, tmp_path) -> None:
    """Each model that declares ``embedding`` is a protonet's f(x): its output, of the
    task's width D, is what prototypes average (RNNs read an image row by row)."""
    cfg = compose_cfg(*overrides("protonet", "trainer.max_epochs=1", f"model={model}"))
    trainer, built = make_trainer(cfg, tmp_path / "shape")
    x = built.task.example_input(built.data)
    assert trainer.model(x).shape == (len(x), built.task.dim)  # (B, D)
    test = train(cfg, tmp_path / "run")["test"]
    assert test["accuracy_5shot"] > 0.3  # chance is 0.2 on 5 novel digits


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_repeats_the_runs_episode_protocol(task, tmp_path) -> None:
    """evaluate.py on a few-shot run: the same episodes, so the same numbers as the
    run's own test, and the novel embeddings and a drawn episode beside them."""
    extra = ["trainer.max_epochs=1", "task.test_steps=1"] if task == "maml" else []
    run = tmp_path / "run"
    cfg = compose_cfg(*overrides(task, "trainer.max_epochs=1", *extra))
    save_config(cfg, run)  # .hydra/config.yaml, as train.py writes it
    trained = train(cfg, run)
    result = evaluate_runs([run], tmp_path / "eval")
    assert result["test"] == trained["test"]
    assert {"accuracy_1shot", "ci95_1shot", "accuracy_5shot", "ci95_5shot"} <= set(result["test"])
    assert (tmp_path / "eval" / "episode_1shot.png").is_file()
    saved = np.load(tmp_path / "eval" / "predictions.npz")
    assert set(saved["novel_labels"].tolist()) == {"5", "6", "7", "8", "9"}
    with pytest.raises(ConfigError, match="is evaluated alone") as e:
        evaluate_runs([run, run], tmp_path / "ensemble")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("task", "option"),
    [
        ("protonet", ["task.distance=cosine"]),
        ("fewshot_baseline", ["task.distance=cosine"]),
        ("siamese", ["task.normalize=false"]),
        ("maml", ["task.inner_steps=2", "task.meta_batch=2"]),
    ],
)
def test_each_option_reaches_the_trained_model(task, option, tmp_path) -> None:
    """A task option changes what is trained or measured, so the test metrics move
    away from the default run's (same seed, same episodes)."""
    common = ["trainer.max_epochs=1", "task.test_steps=1"] if task == "maml" else []
    default = train(compose_cfg(*overrides(task, "trainer.max_epochs=1", *common)), tmp_path / "a")
    changed = train(compose_cfg(*overrides(task, "trainer.max_epochs=1", *common, *option)),
                    tmp_path / "b")  # fmt: skip
    assert changed["test"]["accuracy_5shot"] != default["test"]["accuracy_5shot"]
    assert 0 < changed["test"]["accuracy_5shot"] <= 1
