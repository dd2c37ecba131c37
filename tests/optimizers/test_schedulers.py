from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

import optimizers

LR0 = 0.1
TOTAL, PER_EPOCH = 100, 10


def make(name: str, **kwargs) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    sched = optimizers.create_scheduler(
        name, opt, total_steps=TOTAL, steps_per_epoch=PER_EPOCH, **kwargs
    )
    return opt, sched


def lr_sequence(name: str, steps: int, **kwargs) -> list[float]:
    """η_t for t = 0..steps−1: the rate used by the t-th optimizer step."""
    opt, sched = make(name, **kwargs)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def closed_form(name: str, t: int) -> float:
    if name == "constant":
        return LR0
    if name == "step":  # step_size=3 epochs, gamma=0.5
        return LR0 * 0.5 ** (t // (3 * PER_EPOCH))
    eta_min = 1e-3  # cosine
    return eta_min + (LR0 - eta_min) * (1 + math.cos(math.pi * min(t, TOTAL) / TOTAL)) / 2


KWARGS = {"constant": {}, "step": {"step_size": 3, "gamma": 0.5}, "cosine": {"eta_min": 1e-3}}


def test_expected_schedulers_registered() -> None:
    assert {"constant", "step", "cosine"} <= set(optimizers.list_schedulers())


@pytest.mark.parametrize("name", ["constant", "step", "cosine"])
def test_matches_closed_form(name: str) -> None:
    lrs = lr_sequence(name, TOTAL + 5, **KWARGS[name])
    for t in [0, 1, 29, 30, 31, 50, 59, 60, 99, 100, 104]:
        assert lrs[t] == pytest.approx(closed_form(name, t), rel=1e-12, abs=1e-15), t


def test_specific_values() -> None:
    step = lr_sequence("step", 61, step_size=3, gamma=0.5)
    assert (step[29], step[30], step[60]) == pytest.approx((0.1, 0.05, 0.025))
    cosine = lr_sequence("cosine", TOTAL + 2)
    assert cosine[0] == pytest.approx(LR0)
    assert cosine[TOTAL // 2] == pytest.approx(LR0 / 2)
    assert cosine[TOTAL] == pytest.approx(0.0, abs=1e-15)
    assert cosine[TOTAL + 1] == pytest.approx(0.0, abs=1e-15)  # stays at η_min


def test_cosine_per_group_base_lr() -> None:
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.01}], lr=1.0)
    sched = optimizers.create_scheduler(
        "cosine", opt, total_steps=10, steps_per_epoch=1, eta_min=0.001
    )
    for _ in range(10):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.001, 0.001])


@pytest.mark.parametrize("name", ["constant", "step", "cosine"])
def test_state_round_trip_weights_only(name: str) -> None:
    opt_a, sched_a = make(name, **KWARGS[name])
    reference = []
    for _ in range(60):
        reference.append(opt_a.param_groups[0]["lr"])
        opt_a.step()
        sched_a.step()

    opt_b, sched_b = make(name, **KWARGS[name])
    for _ in range(25):
        opt_b.step()
        sched_b.step()
    buffer = io.BytesIO()
    torch.save({"optim": opt_b.state_dict(), "sched": sched_b.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    opt_c, sched_c = make(name, **KWARGS[name])
    opt_c.load_state_dict(state["optim"])
    sched_c.load_state_dict(state["sched"])
    resumed = []
    for _ in range(35):
        resumed.append(opt_c.param_groups[0]["lr"])
        opt_c.step()
        sched_c.step()
    assert resumed == reference[25:]


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("step", {"step_size": 0}, "step_size must be >= 1 epoch, got 0"),
        ("step", {"gamma": 0.0}, "gamma must be > 0, got 0.0"),
        ("cosine", {"eta_min": -1.0}, "eta_min must be >= 0, got -1.0"),
    ],
)
def test_argument_errors(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(name, **kwargs)


def test_step_counts_and_unknown_kwargs() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    with pytest.raises(ValueError, match="total_steps must be >= 1, got 0"):
        optimizers.create_scheduler("cosine", opt, total_steps=0, steps_per_epoch=1)
    with pytest.raises(TypeError):
        optimizers.create_scheduler("constant", opt, total_steps=1, steps_per_epoch=1, gamma=0.5)
    with pytest.raises(LookupError, match="constant, cosine, step"):
        optimizers.create_scheduler("warmup", opt, total_steps=1, steps_per_epoch=1)
