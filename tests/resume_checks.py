"""What the resume tests share: a stand-in for a kill in the middle of a run, and
bit-for-bit comparisons of two training states (checkpoints)."""

from __future__ import annotations

import torch


class Killed(BaseException):
    """Stands in for a kill (Ctrl-C, OOM killer, preemption) in the middle of a run."""


def tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested state, by path."""
    found = {}
    if isinstance(tree, torch.Tensor):
        found[prefix] = tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            found.update(tensors(v, f"{prefix}/{k}"))
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            found.update(tensors(v, f"{prefix}/{i}"))
    return found


def assert_bitwise_equal(a, b) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys() and ta
    for key in ta:
        assert ta[key].dtype == tb[key].dtype and torch.equal(ta[key], tb[key]), key


def assert_same_training_state(a: dict, b: dict) -> None:
    """Model, optimizer, scheduler, RNGs and counters (but the wall clock) are equal."""
    for part in ("model", "optimizers", "rng"):
        assert_bitwise_equal(a[part], b[part])
    assert a["optimizers"].keys() == b["optimizers"].keys()
    for name in a["optimizers"]:
        assert a["optimizers"][name]["param_groups"] == b["optimizers"][name]["param_groups"]
    assert a["schedulers"] == b["schedulers"]
    ca, cb = dict(a["counters"]), dict(b["counters"])
    ca.pop("train_time"), cb.pop("train_time")
    assert ca == cb


def kill_after_epoch_log(trainer, epoch: int, monkeypatch) -> None:
    """Kill the run once epoch ``epoch`` has trained and logged, before its checkpoint:
    the interrupted run has done work that its last.pt does not hold."""
    scalars = trainer.logger.scalars

    def scalars_then_die(values: dict, step: int) -> None:
        scalars(values, step)
        if values.get("epoch") == epoch:
            raise Killed

    monkeypatch.setattr(trainer.logger, "scalars", scalars_then_die)


def killed_and_resumed(overrides: list[str], root, monkeypatch, epoch: int) -> tuple[dict, ...]:
    """Train ``overrides`` straight through (``root/a``), and again killed after epoch
    ``epoch`` logged and then resumed (``root/b``); return both runs' metrics and the
    ``last.pt`` states, checked to be the same training state."""
    import pytest
    from conftest import compose_cfg

    from engine.run import make_trainer, train

    straight = train(compose_cfg(*overrides), root / "a")
    trainer, _ = make_trainer(compose_cfg(*overrides), root / "b")
    kill_after_epoch_log(trainer, epoch, monkeypatch)
    with pytest.raises(Killed):
        trainer.fit()
    resumed = train(compose_cfg(*overrides, "resume=true"), root / "b")
    a = torch.load(root / "a/checkpoints/last.pt", weights_only=True)
    b = torch.load(root / "b/checkpoints/last.pt", weights_only=True)
    assert_same_training_state(a, b)
    return straight, resumed, a, b


def check_resume_after_kill(common: list[str], tmp_path, monkeypatch, epoch: int) -> tuple:
    """Train the config of overrides ``common`` straight through (run a), and again
    killed after epoch ``epoch`` has logged, then resumed (run b): both end with the same
    test metrics and training state. Returns their ``last.pt`` states (a, b)."""
    straight, resumed, a, b = killed_and_resumed(common, tmp_path, monkeypatch, epoch)
    assert resumed["test"] == straight["test"]
    return a, b
