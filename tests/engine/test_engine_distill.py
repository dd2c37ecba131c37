"""Knowledge distillation from a saved teacher run (task.teacher_run + loss=kl)."""

from __future__ import annotations

import pytest
import torch
from conftest import FAST, compose_cfg

from engine.errors import ConfigError
from engine.run import load_run, make_trainer, save_config, train

STUDENT = ["loss=kl", "loss.target_kind=logits", "loss.temperature=4", "model.hidden_size=32"]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("teacher")
    cfg = compose_cfg(*FAST, "logger=none", "trainer.max_epochs=8")
    train(cfg, run_dir)
    save_config(cfg, run_dir)  # what Hydra writes for train.py
    return run_dir


def student_cfg(teacher_dir, *extra):
    return compose_cfg(*FAST, "logger=none", f"task.teacher_run={teacher_dir}", *extra)


def test_student_trains_on_the_teachers_logits_and_is_tested_on_labels(teacher_dir, tmp_path):
    cfg = student_cfg(teacher_dir, *STUDENT, "trainer.max_epochs=10")
    trainer, built = make_trainer(cfg, tmp_path)
    x, targets = built.data.splits["train"]
    _, teacher, _ = load_run(teacher_dir)
    teacher.model.eval()
    with torch.no_grad():
        expected = teacher.model(x)
    assert targets.dtype == torch.float32 and torch.equal(targets, expected)
    # validation and test keep the true labels: the metrics measure the real task
    assert built.data.splits["test"][1].dtype == torch.long
    trainer.fit()
    trainer.logger.close()
    test = built.task.evaluate(built.model, built.loss_fn, built.data, "test")
    assert test["accuracy"] > 0.9
    # on true labels, val/test loss is their cross-entropy, not the T²-scaled KL
    out = built.model.eval()(built.data.splits["test"][0])
    expected = torch.nn.functional.cross_entropy(out, built.data.splits["test"][1])
    assert test["loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_distillation_needs_kl_on_logits(teacher_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"use loss=kl loss\.target_kind=logits"):
        make_trainer(student_cfg(teacher_dir), tmp_path)


def test_teacher_must_share_the_students_data_and_seed(teacher_dir, tmp_path):
    with pytest.raises(ConfigError, match="same data and seed") as info:
        make_trainer(student_cfg(teacher_dir, *STUDENT, "seed=1"), tmp_path)
    assert "\n" not in str(info.value)


def test_a_missing_teacher_run_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is not a run directory"):
        make_trainer(student_cfg(tmp_path / "nowhere", *STUDENT), tmp_path / "run")
