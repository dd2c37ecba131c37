from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from torch import nn

import optimizers
from optimizers import adam, adaptive, sgd
from zoo.checks import IMPLS

NAMES = optimizers.list_optimizers()
# A rate that solves the least-squares problem below within 100 steps.
LR = {"momentum": 0.01, "nesterov": 0.01, "adagrad": 0.5, "adadelta": 10.0}
REFERENCE = {
    "sgd": sgd.SGD,
    "momentum": sgd.SGD,
    "nesterov": sgd.SGD,
    "adagrad": adaptive.Adagrad,
    "adadelta": adaptive.Adadelta,
    "rmsprop": adaptive.RMSprop,
    "adam": adam.Adam,
    "adamw": adam.AdamW,
}


def least_squares(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """min_w ||X w − y||² for a linear model on a fixed random problem."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=gen)
    y = x @ torch.randn(8, 2, generator=gen) + 0.1 * torch.randn(64, 2, generator=gen)
    torch.manual_seed(seed)
    return nn.Linear(8, 2), x, y


def train(model: nn.Module, opt: torch.optim.Optimizer, x, y, steps: int) -> float:
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
    return loss.item()


def test_expected_optimizers_registered() -> None:
    assert set(REFERENCE) <= set(NAMES)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_reduces_loss(name: str, impl: str) -> None:
    model, x, y = least_squares()
    opt = optimizers.create_optimizer(name, model.parameters(), lr=LR.get(name, 0.05), impl=impl)
    initial = (model(x) - y).pow(2).mean().item()
    final = train(model, opt, x, y, steps=100)
    assert final < 0.1 * initial


@pytest.mark.parametrize("name", NAMES)
def test_impl_picks_the_class(name: str) -> None:
    params = [nn.Parameter(torch.zeros(3))]
    reference = optimizers.create_optimizer(name, params, lr=0.1, impl="reference")
    assert type(reference) is REFERENCE[name]
    fast = optimizers.create_optimizer(name, params, lr=0.1)  # impl="fused" by default
    assert type(fast).__module__.startswith("torch.optim")
    # Run directories saved before the rename say impl=torch: it reads as fused.
    assert type(optimizers.create_optimizer(name, params, lr=0.1, impl="torch")) is type(fast)
    assert type(fast).__name__.lower() == type(reference).__name__.lower()
    kernel = "fused" if name not in ("adadelta", "rmsprop") else "foreach"
    assert fast.defaults[kernel] is True


# ------------------------------------------- the from-scratch rules equal torch.optim's


def mlp_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small float64 tanh MLP on a fixed 3-class problem (curved, unlike least squares)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=gen, dtype=torch.float64)
    return model, x, torch.randint(0, 3, (64,), generator=gen)


def trajectory(name: str, impl: str, weight_decay: float, steps: int = 200) -> torch.Tensor:
    model, x, y = mlp_problem()
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adadelta": 1.0}.get(name, 0.01)
    opt = optimizers.create_optimizer(
        name, model.parameters(), lr=lr, weight_decay=weight_decay, impl=impl
    )
    thetas = []
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        thetas.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return torch.stack(thetas)  # (steps, num_params)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name", NAMES)
def test_reference_trajectory_matches_torch(name: str, weight_decay: float) -> None:
    fast = trajectory(name, "torch", weight_decay)
    reference = trajectory(name, "reference", weight_decay)
    assert (fast[-1] - fast[0]).abs().max() > 0.1  # the parameters did travel
    assert (fast - reference).abs().max().item() <= 1e-6


# Two steps of loss 2·θ (g = 2 every step) from θ = 1 with η = 0.1, worked by hand.
TWO_STEPS = {
    "sgd": [0.8, 0.6],
    "momentum": [0.8, 0.8 - 0.1 * 3.8],  # v = 2, then 0.9·2 + 2
    "nesterov": [1 - 0.1 * (2 + 1.8), 0.62 - 0.1 * (2 + 0.9 * 3.8)],
    "adagrad": [0.9, 0.9 - 0.1 * 2 / math.sqrt(8)],  # s = 4, then 8
    "rmsprop": [1 - 0.1 / math.sqrt(0.01), 0.0 - 0.1 * 2 / math.sqrt(0.0199 * 4)],
    "adam": [0.9, 0.8],  # m̂ = g and v̂ = g² while g is constant: steps of η
    "adamw": [0.9, 0.8],
}


@pytest.mark.parametrize("name", NAMES)
def test_two_steps_by_hand(name: str) -> None:
    theta = nn.Parameter(torch.ones(1, dtype=torch.float64))
    kwargs = {"weight_decay": 0.0} if name == "adamw" else {}
    opt = optimizers.create_optimizer(name, [theta], lr=0.1, impl="reference", **kwargs)
    if name == "adadelta":  # Δ = √(u + ε)/√(v + ε)·g, u and v averages with ρ = 0.9
        eps, g, u, v, expected, value = 1e-6, 2.0, 0.0, 0.0, [], 1.0
        for _ in range(2):
            v = 0.9 * v + 0.1 * g * g
            delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
            u = 0.9 * u + 0.1 * delta * delta
            value -= 0.1 * delta
            expected.append(value)
    else:
        expected = TWO_STEPS[name]
    for want in expected:
        opt.zero_grad()
        (2 * theta).sum().backward()
        opt.step()
        assert theta.item() == pytest.approx(want, rel=1e-7, abs=1e-7)  # by hand: no ε


def test_adamw_decay_is_decoupled() -> None:
    """With g = 0, Adam's L2 term becomes a full ±η step; AdamW only shrinks θ by ηλ."""
    steps = {}
    for name in ("adam", "adamw"):
        theta = nn.Parameter(torch.full((1,), 10.0, dtype=torch.float64))
        opt = optimizers.create_optimizer(
            name, [theta], lr=0.1, weight_decay=0.01, impl="reference"
        )
        theta.grad = torch.zeros_like(theta)
        opt.step()
        steps[name] = 10.0 - theta.item()
    assert steps["adam"] == pytest.approx(0.1, rel=1e-6)  # m̂/√v̂ = 1 whatever λ is
    assert steps["adamw"] == pytest.approx(10.0 * 0.1 * 0.01, rel=1e-12)


# ----------------------------------------- the guide's claim on adaptive step sizes


def effective_steps(name: str, impl: str) -> list[float]:
    """|Δθ| / |g| per step, minimizing c_t·θ: c = 1 for 100 steps, then 0.01 for 600."""
    theta = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = optimizers.create_optimizer(name, [theta], lr=0.1, impl=impl)
    ratios = []
    for t in range(700):
        scale = 1.0 if t < 100 else 0.01
        before = theta.item()
        opt.zero_grad()
        (scale * theta).sum().backward()
        opt.step()
        ratios.append(abs(theta.item() - before) / scale)
    return ratios


@pytest.mark.parametrize("impl", IMPLS)
def test_only_adagrad_step_size_keeps_shrinking(impl: str) -> None:
    adagrad = effective_steps("adagrad", impl)
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(adagrad))
    assert adagrad[-1] < 0.2 * adagrad[0]
    for name in ("rmsprop", "adadelta"):
        ratios = effective_steps(name, impl)
        # When g shrinks 100x the averages forget the large ones (RMSprop's α = 0.99
        # over ~1/(1 − α) = 100s of steps), and the step grows.
        assert max(ratios[100:]) > 5 * ratios[99], name


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_is_bitwise(name: str, impl: str) -> None:
    kwargs = {"lr": LR.get(name, 0.01), "weight_decay": 0.01, "impl": impl}
    if name == "sgd":
        kwargs["momentum"] = 0.9  # so there is optimizer state to lose
    # Uninterrupted: 20 steps.
    model_a, x, y = least_squares()
    opt_a = optimizers.create_optimizer(name, model_a.parameters(), **kwargs)
    train(model_a, opt_a, x, y, steps=20)

    # Interrupted after 10: save, rebuild from scratch, load, run 10 more.
    model_b, _, _ = least_squares()
    opt_b = optimizers.create_optimizer(name, model_b.parameters(), **kwargs)
    train(model_b, opt_b, x, y, steps=10)
    buffer = io.BytesIO()
    torch.save({"model": model_b.state_dict(), "optim": opt_b.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert checkpoint["optim"]["state"], "no optimizer state was saved"
    model_c, _, _ = least_squares(seed=1)  # different weights, overwritten by the load
    model_c.load_state_dict(checkpoint["model"])
    opt_c = optimizers.create_optimizer(name, model_c.parameters(), **kwargs)
    opt_c.load_state_dict(checkpoint["optim"])
    train(model_c, opt_c, x, y, steps=10)

    for pa, pc in zip(model_a.parameters(), model_c.parameters(), strict=True):
        assert torch.equal(pa, pc)


# ----------------------------------------------------------------- defaults, errors


def test_defaults_and_yaml_lists() -> None:
    params = [nn.Parameter(torch.zeros(3))]
    adam_ = optimizers.create_optimizer("adam", params, betas=[0.8, 0.99])
    assert adam_.defaults["betas"] == (0.8, 0.99)
    assert adam_.defaults["lr"] == 1e-3 and adam_.defaults["weight_decay"] == 0.0
    adamw = optimizers.create_optimizer("adamw", params)
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["weight_decay"] == 0.01 and adamw.defaults["betas"] == (0.9, 0.999)
    sgd_ = optimizers.create_optimizer("sgd", params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert isinstance(sgd_, torch.optim.SGD)
    assert (sgd_.defaults["momentum"], sgd_.defaults["weight_decay"]) == (0.9, 1e-4)
    for name, nesterov in (("momentum", False), ("nesterov", True)):
        for impl in IMPLS:
            opt = optimizers.create_optimizer(name, params, lr=0.1, impl=impl)
            assert (opt.defaults["momentum"], opt.defaults["nesterov"]) == (0.9, nesterov)
    ref = optimizers.create_optimizer("adamw", params, betas=[0.8, 0.99], impl="reference")
    assert ref.defaults["betas"] == (0.8, 0.99) and ref.defaults["weight_decay"] == 0.01


@pytest.mark.parametrize("impl", IMPLS)
def test_accepts_param_groups(impl: str) -> None:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    opt = optimizers.create_optimizer(
        "adamw", [{"params": [a]}, {"params": b, "weight_decay": 0.0}], impl=impl
    )
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [-1.0, 0.0])
def test_non_positive_lr(name: str, lr: float) -> None:
    with pytest.raises(ValueError, match=rf"^optim.lr must be > 0, got {lr}$"):
        optimizers.create_optimizer(name, [nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_impl(name: str) -> None:
    with pytest.raises(
        ValueError, match=r"optim\.impl must be one of fused, reference; got 'fast'"
    ):
        optimizers.create_optimizer(name, [nn.Parameter(torch.zeros(1))], lr=0.1, impl="fast")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("sgd", {"lr": 0.1, "momentum": -0.5}, r"optim.momentum must be in \[0, 1\), got -0.5"),
        ("sgd", {"lr": 0.1, "weight_decay": -1}, "optim.weight_decay must be >= 0, got -1"),
        ("sgd", {"lr": 0.1, "nesterov": True}, "optim.nesterov needs optim.momentum > 0, got 0"),
        ("momentum", {"lr": 0.1, "momentum": 0.0}, r"optim.momentum must be in \(0, 1\)"),
        ("nesterov", {"lr": 0.1, "momentum": 1.0}, r"optim.momentum must be in \(0, 1\)"),
        ("adagrad", {"eps": 0.0}, "optim.eps must be > 0, got 0.0"),
        ("adadelta", {"rho": 1.0}, r"optim.rho must be in \[0, 1\), got 1.0"),
        ("rmsprop", {"alpha": -0.1}, r"optim.alpha must be in \[0, 1\), got -0.1"),
        ("adam", {"betas": [0.9, 1.0]}, r"optim.betas\[1\] must be in \[0, 1\), got 1.0"),
        ("adam", {"betas": [0.9]}, "optim.betas must be two numbers"),
        ("adamw", {"eps": 0.0}, "optim.eps must be > 0, got 0.0"),
    ],
)
def test_argument_errors(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optimizers.create_optimizer(name, [nn.Parameter(torch.zeros(1))], **kwargs)


def test_lr_given_as_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"optim\.lr must be a number, got '1e-3'"):
        optimizers.create_optimizer("adam", [nn.Parameter(torch.zeros(1))], lr="1e-3")


def test_unknown_optimizer_lists_names() -> None:
    with pytest.raises(LookupError, match=", ".join(sorted(REFERENCE))):
        optimizers.create_optimizer("lion", [nn.Parameter(torch.zeros(1))])


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_engine_resume_with_reference_impl_is_exact(name: str, tmp_path) -> None:
    """2 epochs, then resume=true to 3, gives the bits of an uninterrupted 3-epoch run."""
    from conftest import FAST, compose_cfg

    from engine.run import train

    base = [*FAST, "logger=none", "trainer.patience=null", f"optim={name}", "optim.impl=reference"]
    train(compose_cfg(*base, "trainer.max_epochs=3"), tmp_path / "straight")
    train(compose_cfg(*base, "trainer.max_epochs=2"), tmp_path / "resumed")
    train(compose_cfg(*base, "trainer.max_epochs=3", "resume=true"), tmp_path / "resumed")
    states = [
        torch.load(tmp_path / run / "checkpoints" / "last.pt", weights_only=True)
        for run in ("straight", "resumed")
    ]
    for key, value in states[0]["model"].items():
        assert torch.equal(value, states[1]["model"][key]), key
