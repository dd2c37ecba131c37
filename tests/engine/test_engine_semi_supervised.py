"""Semi-supervised tasks: the EMA update rule, the labelled/unlabelled batches, the
confidence mask, exact resume with the teacher in the checkpoint, and bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_cfg
from resume_checks import assert_bitwise_equal, check_resume_after_kill
from torch import nn

from engine.errors import ConfigError
from engine.run import build, make_trainer, train
from engine.tasks.semi_supervised import PseudoLabel
from engine.tasks.teacher import EMATeacher
from engine.trainer import epoch_generator

QUIET = ["logger=none", "trainer.progress_bar=false"]
# Three of digits' ten classes: a third of the (unlabelled) samples to train on, for the
# tests whose claims (what is logged, exact resume) hold on any data.
SMALL = ["data.classes=[0,1,2]"]
SEMI = ["pseudo_label", "mean_teacher"]


def test_ema_update_rule() -> None:
    """θ′ ← α_t θ′ + (1 − α_t) θ with α_t = min(1 − 1/(t + 1), α), buffers alike."""
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    teacher = EMATeacher(student, decay=0.9)
    expected = {k: v.clone() for k, v in student.state_dict().items()}
    for t in range(1, 6):
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p))
            student[1].running_mean.add_(1.0)
            student[1].num_batches_tracked.add_(1)
        teacher.update(student)
        alpha = min(1 - 1 / (t + 1), 0.9)
        for k, v in student.state_dict().items():
            if v.is_floating_point():
                expected[k] = alpha * expected[k] + (1 - alpha) * v
            else:
                expected[k] = v.clone()
        for k, v in teacher.model.state_dict().items():
            torch.testing.assert_close(v, expected[k], rtol=1e-6, atol=1e-6)
    assert teacher.alpha() == pytest.approx(5 / 6)  # α_5: still warming up
    for _ in range(20):
        teacher.update(student)
    assert teacher.alpha() == 0.9
    assert not any(p.requires_grad for p in teacher.model.parameters())


def test_ema_state_round_trips() -> None:
    student = nn.Linear(3, 2)
    a = EMATeacher(student, 0.99)
    with torch.no_grad():
        student.weight.add_(1.0)
    a.update(student)
    b = EMATeacher(nn.Linear(3, 2), 0.99)
    b.load_state_dict(a.state_dict())
    assert_bitwise_equal(a.model.state_dict(), b.model.state_dict())
    assert b.updates == 1


def test_batches_pair_labelled_with_mu_times_unlabelled_and_are_deterministic() -> None:
    cfg = compose_cfg(*QUIET, "task=pseudo_label", "data.labels_per_class=4", "task.mu=3")
    built = build(cfg, torch.device("cpu"))
    data, task = built.data, built.task
    n_l, n_u = data.size("train"), data.size("unlabelled")
    assert n_l == 40 and n_u > 1000

    def epoch(seed: int):
        return list(task.train_batches(data, 8, epoch_generator(seed, 0)))

    batches = epoch(0)
    assert all(len(x.labelled) == 8 == len(t) for x, t in batches)
    assert sum(len(x.unlabelled) for x, _ in batches) == n_u  # every unlabelled once
    assert {len(x.unlabelled) for x, _ in batches[:-1]} == {24}  # μ·B, the last one the rest
    seen = torch.cat([x.unlabelled for x, _ in batches])
    assert (
        torch.unique(seen, dim=0).shape[0]
        == torch.unique(data.splits["unlabelled"][0], dim=0).shape[0]
    )
    labelled = torch.cat([x.labelled for x, _ in batches])[:n_l]  # the first round: each once
    assert (
        torch.unique(labelled, dim=0).shape[0]
        == torch.unique(data.splits["train"][0], dim=0).shape[0]
    )
    again = epoch(0)
    for (x1, t1), (x2, t2) in zip(batches, again, strict=True):
        assert torch.equal(x1.unlabelled, x2.unlabelled) and torch.equal(t1, t2)
    assert not torch.equal(batches[0][0].unlabelled, epoch(1)[0][0].unlabelled)


def test_confidence_mask_and_pseudo_label_loss() -> None:
    task = PseudoLabel(threshold=0.9)
    logits = torch.tensor([[5.0, 0.0], [0.2, 0.0], [0.0, 4.0]])
    labels, mask = task.confident(logits)
    assert labels.tolist() == [0, 0, 1] and mask.tolist() == [1.0, 0.0, 1.0]
    hidden = torch.tensor([0, 1, 0])
    loss, extra = task.pseudo_label_loss(logits, labels, mask, hidden)
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert loss.item() == pytest.approx((ce[0] + ce[2]).item() / 3)
    assert extra["mask_rate"].item() == pytest.approx(2 / 3)
    assert extra["pseudo_accuracy"].item() == pytest.approx(1 / 2)


@pytest.mark.parametrize("task", SEMI)
def test_semi_supervised_task_trains_and_reports_its_pseudo_labels(task, tmp_path) -> None:
    cfg = compose_cfg(*QUIET, *SMALL, f"task={task}", "data.labels_per_class=5",
                      "trainer.max_epochs=2", "model=cnn")  # fmt: skip
    trainer, _ = make_trainer(cfg, tmp_path)
    logged = []
    trainer.logger.scalars = lambda values, step: logged.append(values)
    summary = trainer.fit()
    epoch_logs = [v for v in logged if "epoch" in v]
    assert "train/pseudo_accuracy" in epoch_logs[-1] and "train/loss_unlabelled" in epoch_logs[-1]
    assert summary["steps"] == 2 * trainer.data.num_batches("unlabelled", 7 * 64)


@pytest.mark.parametrize("task", SEMI)
def test_semi_supervised_resume_after_a_kill_continues_exactly(task, tmp_path, monkeypatch):
    common = [*QUIET, *SMALL, f"task={task}", "data.labels_per_class=5", "model=cnn", "task.mu=2",
              "trainer.max_epochs=3", "trainer.checkpoint_interval_s=0"]  # fmt: skip
    a, b = check_resume_after_kill(common, tmp_path, monkeypatch, 3)
    assert bool(a["task"]) == (task == "mean_teacher")  # the teacher is in the checkpoint
    if a["task"]:
        assert_bitwise_equal(a["task"], b["task"])


@pytest.mark.parametrize("task", SEMI)
def test_semi_supervised_without_labels_per_class_is_one_line(task, tmp_path) -> None:
    with pytest.raises(ConfigError, match=f"task '{task}' learns from unlabelled data: set "
                       "data.labels_per_class=k"):  # fmt: skip
        train(compose_cfg(*QUIET, f"task={task}"), tmp_path)


def test_labels_per_class_larger_than_a_class_is_one_line(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=pseudo_label", "data.labels_per_class=500")
    with pytest.raises(ConfigError, match=r"data\.labels_per_class=500 but class"):
        train(cfg, tmp_path)


def test_semi_supervised_needs_an_index_loss(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=pseudo_label", "data.labels_per_class=5", "loss=bce")
    with pytest.raises(ConfigError, match="use loss=sparse_cross_entropy, not bce"):
        train(cfg, tmp_path)


def test_fixmatch_trains_with_weak_and_strong_views(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=fixmatch", "data.labels_per_class=5", "augment=strong",
                      "model=cnn", "trainer.max_epochs=1", "task.threshold=0")  # fmt: skip
    trainer, _ = make_trainer(cfg, tmp_path)
    logged = []
    trainer.logger.scalars = lambda values, step: logged.append(values)
    trainer.fit()
    last = [v for v in logged if "epoch" in v][-1]
    assert last["train/mask_rate"] == 1  # τ = 0: every pseudo-label passes
    assert 0.1 < last["train/pseudo_accuracy"] < 1  # better than chance, far from perfect


def test_fixmatch_resume_after_a_kill_continues_exactly(tmp_path, monkeypatch) -> None:
    common = [*QUIET, *SMALL, "task=fixmatch", "data.labels_per_class=5", "model=cnn", "task.mu=2",
              "augment=strong", "trainer.max_epochs=2",
              "trainer.checkpoint_interval_s=0"]  # fmt: skip
    check_resume_after_kill(common, tmp_path, monkeypatch, 2)


def test_fixmatch_without_augmentation_is_one_line(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=fixmatch", "data.labels_per_class=5", "augment=none")
    with pytest.raises(ConfigError, match="task 'fixmatch' compares two augmented views"):
        train(cfg, tmp_path)
