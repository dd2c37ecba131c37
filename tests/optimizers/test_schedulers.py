from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
)

import optimizers

LR0 = 0.1
TOTAL, PER_EPOCH = 100, 10
NAMES = optimizers.list_schedulers()


def make(name: str, **kwargs) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    sched = optimizers.create_scheduler(
        name, opt, total_steps=TOTAL, steps_per_epoch=PER_EPOCH, **kwargs
    )
    return opt, sched


def run(opt: torch.optim.Optimizer, sched, steps: int) -> list[float]:
    """η_t for the next ``steps`` optimizer steps: the rate each one uses."""
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def lr_sequence(name: str, steps: int, **kwargs) -> list[float]:
    return run(*make(name, **kwargs), steps)


def cos_between(start: float, end: float, x: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * x)) / 2


# Non-default arguments for each schedule, and its closed form under them.
KWARGS = {
    "constant": {},
    "step": {"step_size": 3, "gamma": 0.5},
    "cosine": {"eta_min": 1e-3},
    "linear": {"eta_min": 1e-3},
    "warmup_cosine": {"warmup_steps": 10, "eta_min": 1e-3},
    "one_cycle": {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
    "plateau": {"factor": 0.2, "patience": 3, "min_lr": 1e-3},
}


def closed_form(name: str, t: int) -> float:
    if name in ("constant", "plateau"):  # plateau: no epoch's loss told, the rate stays
        return LR0
    if name == "step":  # every 3 epochs, halve
        return LR0 * 0.5 ** (t // (3 * PER_EPOCH))
    if name == "cosine":
        return cos_between(LR0, 1e-3, min(t, TOTAL) / TOTAL)
    if name == "linear":
        return LR0 - (LR0 - 1e-3) * min(t, TOTAL) / TOTAL
    if name == "warmup_cosine":  # 10 steps up to LR0, 90 down to 1e-3
        return LR0 * (t + 1) / 10 if t < 10 else cos_between(LR0, 1e-3, min(t - 10, 90) / 90)
    if name == "one_cycle":  # up from LR0/10 until step 24, down to LR0/1000 at step 99
        t = min(t, TOTAL - 1)
        if t <= 24:
            return cos_between(LR0 / 10, LR0, t / 24)
        return cos_between(LR0, LR0 / 1000, (t - 24) / 75)
    raise KeyError(f"add the closed form of scheduler '{name}' to this test")


def test_expected_schedulers_registered() -> None:
    assert {"constant", "step", "cosine", "warmup_cosine", "one_cycle"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_matches_closed_form(name: str) -> None:
    lrs = lr_sequence(name, TOTAL + 5, **KWARGS[name])
    for t, lr in enumerate(lrs):
        assert lr == pytest.approx(closed_form(name, t), rel=1e-12, abs=1e-15), t


def test_specific_values() -> None:
    step = lr_sequence("step", 61, step_size=3, gamma=0.5)
    assert (step[29], step[30], step[60]) == pytest.approx((0.1, 0.05, 0.025))
    cosine = lr_sequence("cosine", TOTAL + 2)
    assert cosine[0] == pytest.approx(LR0)
    assert cosine[TOTAL // 2] == pytest.approx(LR0 / 2)
    assert cosine[TOTAL] == pytest.approx(0.0, abs=1e-15)
    assert cosine[TOTAL + 1] == pytest.approx(0.0, abs=1e-15)  # stays at η_min
    warm = lr_sequence("warmup_cosine", TOTAL + 1, warmup_steps=4)
    assert warm[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert warm[4 + 48] == pytest.approx(LR0 / 2) and warm[TOTAL] == pytest.approx(0.0)
    cycle = lr_sequence("one_cycle", TOTAL)  # pct_start 0.3, div 25, final div 1e4
    assert cycle[0] == pytest.approx(LR0 / 25)
    assert max(cycle) == pytest.approx(LR0) and cycle.index(max(cycle)) == 29
    assert cycle[-1] == pytest.approx(LR0 / 25 / 1e4)


@pytest.mark.parametrize("total", [7, 100, 333])
@pytest.mark.parametrize("pct_start", [0.3, 0.45])
def test_one_cycle_matches_torch(total: int, pct_start: float) -> None:
    """The η sequence of ``OneCycleLR`` (momentum left alone) peaking at the optimizer's lr."""
    opt_a = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    ours = optimizers.create_scheduler(
        "one_cycle", opt_a, total_steps=total, steps_per_epoch=1, pct_start=pct_start
    )
    opt_b = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    theirs = OneCycleLR(
        opt_b, max_lr=LR0, total_steps=total, pct_start=pct_start, cycle_momentum=False
    )
    assert run(opt_a, ours, total) == pytest.approx(run(opt_b, theirs, total), rel=1e-12)


@pytest.mark.parametrize("warmup_steps", [0, 1, 10])
def test_warmup_cosine_matches_torch(warmup_steps: int) -> None:
    """Linear warmup then cosine, as torch's LinearLR followed by CosineAnnealingLR."""
    opt_a = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    ours = optimizers.create_scheduler(
        "warmup_cosine", opt_a, total_steps=TOTAL, steps_per_epoch=1, warmup_steps=warmup_steps
    )
    opt_b = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    cosine = CosineAnnealingLR(opt_b, T_max=TOTAL - warmup_steps)
    if warmup_steps > 0:
        warmup = LinearLR(opt_b, 1 / warmup_steps, 1.0, total_iters=warmup_steps - 1)
        theirs = SequentialLR(opt_b, [warmup, cosine], milestones=[warmup_steps])
    else:
        theirs = cosine
    assert run(opt_a, ours, TOTAL) == pytest.approx(run(opt_b, theirs, TOTAL), abs=1e-12)


@pytest.mark.parametrize("eta_min", [0.0, 1e-3])
def test_linear_matches_torch(eta_min: float) -> None:
    """A straight line to η_min, as torch's LinearLR from factor 1 to η_min/η₀."""
    opt_a = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    ours = optimizers.create_scheduler(
        "linear", opt_a, total_steps=TOTAL, steps_per_epoch=1, eta_min=eta_min
    )
    opt_b = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    theirs = LinearLR(opt_b, 1.0, eta_min / LR0, total_iters=TOTAL)
    assert run(opt_a, ours, TOTAL + 3) == pytest.approx(run(opt_b, theirs, TOTAL + 3), abs=1e-12)


# Training losses of 40 epochs: falling, stalling, small gains under the threshold, a
# rise, and a long flat tail that drives the rate to its floor.
LOSSES = (
    [1.0, 0.8, 0.7, 0.7, 0.71, 0.69995, 0.6, 0.6, 0.65, 0.6, 0.6, 0.59, 0.5]
    + [0.5 - 1e-6 * i for i in range(12)]
    + [0.45] * 15
)


def epochs(opt: torch.optim.Optimizer, sched, end_epoch) -> list[float]:
    """Each epoch's rate: two optimizer steps at it, then the epoch's loss told."""
    rates = []
    for loss in LOSSES:
        rates.append(opt.param_groups[0]["lr"])
        for _ in range(2):
            opt.step()
            sched.step()
        end_epoch(sched, loss)
    return rates


@pytest.mark.parametrize(
    "kwargs",
    [
        {"factor": 0.5, "patience": 2, "min_lr": 1e-3, "threshold": 1e-4},
        {"factor": 0.1, "patience": 0, "min_lr": 0.0, "threshold": 0.0},
        {"factor": 0.3, "patience": 4, "min_lr": 0.05, "threshold": 0.1},
    ],
)
def test_plateau_matches_torch(kwargs: dict) -> None:
    """The rates of torch's ReduceLROnPlateau (mode min, relative threshold) stepped
    with each epoch's loss; the plateau schedule keeps them between epochs."""
    opt_a = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    ours = optimizers.create_scheduler(
        "plateau", opt_a, total_steps=TOTAL, steps_per_epoch=2, **kwargs
    )
    opt_b = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR0)
    theirs = ReduceLROnPlateau(opt_b, mode="min", threshold_mode="rel", **kwargs)
    rates = epochs(opt_a, ours, lambda s, loss: s.end_epoch(loss))
    expected = []
    for loss in LOSSES:
        expected.append(opt_b.param_groups[0]["lr"])
        theirs.step(loss)
    assert rates == pytest.approx(expected, rel=1e-12)
    assert rates[-1] < LR0  # the losses did make it cut the rate


def test_plateau_floor_per_group_and_resume() -> None:
    """Each group is cut from its own rate and stops at min_lr; a schedule saved in a
    stall and loaded (weights_only) continues the count where it was."""
    kwargs = {"factor": 0.5, "patience": 1, "min_lr": 0.02}

    def make_two() -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([{"params": [a], "lr": LR0}, {"params": [b], "lr": 0.03}])
        return opt, optimizers.create_scheduler(
            "plateau", opt, total_steps=TOTAL, steps_per_epoch=1, **kwargs
        )

    opt, sched = make_two()
    for loss in [1.0, 1.0, 1.0]:  # two epochs without a gain: cut once
        sched.end_epoch(loss)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.02])
    sched.end_epoch(1.0)  # one more stalled epoch: within patience again
    buffer = io.BytesIO()
    torch.save({"optim": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed_opt, resumed = make_two()
    resumed_opt.load_state_dict(state["optim"])
    resumed.load_state_dict(state["sched"])
    for s in (sched, resumed):
        s.end_epoch(1.0)  # the second stalled epoch since the cut
    for o in (opt, resumed_opt):
        assert [g["lr"] for g in o.param_groups] == pytest.approx([0.025, 0.02])


def test_warmup_fraction_and_steps() -> None:
    by_fraction = lr_sequence("warmup_cosine", TOTAL, warmup_fraction=0.2)
    by_steps = lr_sequence("warmup_cosine", TOTAL, warmup_steps=20, warmup_fraction=0.9)
    assert by_fraction == by_steps  # warmup_steps, when given, wins
    assert by_fraction[19] == pytest.approx(LR0) and by_fraction[18] < LR0


@pytest.mark.parametrize("name", ["cosine", "warmup_cosine", "one_cycle"])
def test_per_group_base_lr(name: str) -> None:
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.01}], lr=1.0)
    sched = optimizers.create_scheduler(name, opt, total_steps=10, steps_per_epoch=1)
    for _ in range(4):
        opt.step()
        sched.step()
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs[0] / lrs[1] == pytest.approx(100.0)  # each group scaled from its own η₀


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_weights_only(name: str) -> None:
    reference = lr_sequence(name, 60, **KWARGS[name])

    opt_b, sched_b = make(name, **KWARGS[name])
    run(opt_b, sched_b, 25)
    buffer = io.BytesIO()
    torch.save({"optim": opt_b.state_dict(), "sched": sched_b.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    opt_c, sched_c = make(name, **KWARGS[name])
    opt_c.load_state_dict(state["optim"])
    sched_c.load_state_dict(state["sched"])
    assert run(opt_c, sched_c, 35) == reference[25:]


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("step", {"step_size": 0}, "step_size must be >= 1 epoch, got 0"),
        ("step", {"gamma": 0.0}, "gamma must be > 0, got 0.0"),
        ("cosine", {"eta_min": -1.0}, "eta_min must be >= 0, got -1.0"),
        ("linear", {"eta_min": -1.0}, "eta_min must be >= 0, got -1.0"),
        ("warmup_cosine", {"eta_min": -1.0}, "eta_min must be >= 0, got -1.0"),
        ("warmup_cosine", {"warmup_steps": 100}, r"warmup_steps must be in \[0, total_steps=100"),
        ("warmup_cosine", {"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\), got 1"),
        ("one_cycle", {"pct_start": 0.0}, r"pct_start must be in \(0, 1\), got 0.0"),
        ("one_cycle", {"pct_start": 0.01}, r"needs 1 < pct_start·total_steps < total_steps"),
        ("one_cycle", {"div_factor": 0.5}, "div_factor and final_div_factor must be >= 1"),
        ("plateau", {"factor": 1.0}, r"factor must be in \(0, 1\), got 1.0"),
        ("plateau", {"patience": -1}, "patience must be >= 0 epochs, got -1"),
        ("plateau", {"min_lr": -1.0}, "min_lr and threshold must be >= 0, got -1.0 and 0.0001"),
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
    with pytest.raises(LookupError, match=", ".join(sorted(KWARGS))):
        optimizers.create_scheduler("warmup", opt, total_steps=1, steps_per_epoch=1)
