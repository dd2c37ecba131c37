from __future__ import annotations

import io

import pytest
import torch
from torch import nn

import optimizers

LR = {"sgd": 0.05, "adam": 0.05, "adamw": 0.05}


def least_squares(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """min_w ||X w − y||² for a 2-layer-free linear model on a fixed random problem."""
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
    assert {"sgd", "adam", "adamw"} <= set(optimizers.list_optimizers())


@pytest.mark.parametrize("name", optimizers.list_optimizers())
def test_reduces_loss(name: str) -> None:
    model, x, y = least_squares()
    opt = optimizers.create_optimizer(name, model.parameters(), lr=LR.get(name, 0.01))
    initial = (model(x) - y).pow(2).mean().item()
    final = train(model, opt, x, y, steps=100)
    assert final < 0.1 * initial


@pytest.mark.parametrize("name", optimizers.list_optimizers())
def test_state_dict_round_trip_is_bitwise(name: str) -> None:
    kwargs = {"lr": LR.get(name, 0.01)}
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
    model_c, _, _ = least_squares(seed=1)  # different weights, overwritten by the load
    model_c.load_state_dict(checkpoint["model"])
    opt_c = optimizers.create_optimizer(name, model_c.parameters(), **kwargs)
    opt_c.load_state_dict(checkpoint["optim"])
    train(model_c, opt_c, x, y, steps=10)

    for pa, pc in zip(model_a.parameters(), model_c.parameters(), strict=True):
        assert torch.equal(pa, pc)


def test_defaults_and_yaml_lists() -> None:
    params = [nn.Parameter(torch.zeros(3))]
    adam = optimizers.create_optimizer("adam", params, betas=[0.8, 0.99])
    assert adam.defaults["betas"] == (0.8, 0.99)
    assert adam.defaults["lr"] == 1e-3 and adam.defaults["weight_decay"] == 0.0
    adamw = optimizers.create_optimizer("adamw", params)
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["weight_decay"] == 0.01 and adamw.defaults["betas"] == (0.9, 0.999)
    sgd = optimizers.create_optimizer("sgd", params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (0.9, 1e-4)


def test_accepts_param_groups() -> None:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    opt = optimizers.create_optimizer(
        "adamw", [{"params": [a]}, {"params": b, "weight_decay": 0.0}]
    )
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


@pytest.mark.parametrize("name", optimizers.list_optimizers())
@pytest.mark.parametrize("lr", [-1.0, 0.0])
def test_non_positive_lr(name: str, lr: float) -> None:
    with pytest.raises(ValueError, match=rf"^optim.lr must be > 0, got {lr}$"):
        optimizers.create_optimizer(name, [nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("sgd", {"lr": 0.1, "momentum": -0.5}, r"optim.momentum must be in \[0, 1\), got -0.5"),
        ("sgd", {"lr": 0.1, "weight_decay": -1}, "optim.weight_decay must be >= 0, got -1"),
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
    with pytest.raises(LookupError, match="adam, adamw, sgd"):
        optimizers.create_optimizer("lion", [nn.Parameter(torch.zeros(1))])
