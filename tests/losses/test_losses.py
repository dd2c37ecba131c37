"""Every registered loss, and parity of each with the PyTorch loss it mirrors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import losses
from zoo import UnknownNameError

N, C = 6, 5
REDUCTIONS = ["mean", "sum", "none"]


def inputs_for(target_kind: str, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """A (prediction, target) pair of the kind the loss declares it reads."""
    if target_kind == "index":
        return torch.randn(N, C, generator=gen), torch.randint(0, C, (N,), generator=gen)
    if target_kind == "binary":
        return torch.randn(N, 1, generator=gen), torch.randint(0, 2, (N, 1), generator=gen).float()
    return torch.randn(N, 3, generator=gen), torch.randn(N, 3, generator=gen)


@pytest.mark.parametrize("impl", ["torch", "reference"])
@pytest.mark.parametrize("name", losses.list_losses())
def test_every_loss(name: str, impl: str) -> None:
    cls = losses.get(name)
    assert issubclass(cls, nn.Module)
    assert cls.tasks and set(cls.tasks) <= {"classification", "regression"}
    assert losses.loss_tasks(name) == cls.tasks
    assert cls.target in {"index", "binary", "value"}

    pred, target = inputs_for(cls.target, torch.Generator().manual_seed(0))
    pred.requires_grad_(True)
    loss = losses.create_loss(name, impl=impl)(pred, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.any()

    per_element = losses.create_loss(name, reduction="none", impl=impl)(pred, target)
    assert per_element.shape[0] == N
    total = losses.create_loss(name, reduction="sum", impl=impl)(pred, target)
    torch.testing.assert_close(total, per_element.sum())


@pytest.mark.parametrize("name", losses.list_losses())
def test_bad_reduction(name: str) -> None:
    with pytest.raises(ValueError, match="reduction must be one of mean, sum, none; got 'avg'"):
        losses.create_loss(name, reduction="avg")


def test_registry_errors() -> None:
    with pytest.raises(UnknownNameError, match="bce, cross_entropy, mse"):
        losses.create_loss("focal")
    with pytest.raises(ValueError, match="registered twice"):
        losses.register_loss("mse")(losses.MSELoss)


def test_register_loss_requires_tasks_and_target() -> None:
    class Untagged(losses.Loss):
        pass

    with pytest.raises(ValueError, match="tasks"):
        losses.register_loss("_untagged")(Untagged)
    assert "_untagged" not in losses.LOSSES


# ------------------------------------------------------------------ parity (float64)


def assert_parity(ours: nn.Module, ref: nn.Module, pred: Tensor, target: Tensor) -> None:
    """Same values and same gradient w.r.t. the prediction, to ~1e-10 in float64."""
    p1 = pred.detach().clone().requires_grad_(True)
    p2 = pred.detach().clone().requires_grad_(True)
    out1, out2 = ours(p1, target), ref(p2, target)
    torch.testing.assert_close(out1, out2, atol=1e-10, rtol=1e-10)
    upstream = torch.randn(
        out1.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    out1.backward(upstream)
    out2.backward(upstream)
    torch.testing.assert_close(p1.grad, p2.grad, atol=1e-10, rtol=1e-10)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_index_targets(reduction: str, smoothing: float, gen) -> None:
    z = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=gen)
    assert_parity(
        losses.create_loss(
            "cross_entropy", impl="reference", label_smoothing=smoothing, reduction=reduction
        ),
        nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction),
        z,
        y,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("soft", [False, True], ids=["one_hot", "soft"])
def test_cross_entropy_probability_targets(
    reduction: str, smoothing: float, soft: bool, gen
) -> None:
    z = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    if soft:
        q = torch.softmax(torch.randn(N, C, generator=gen, dtype=torch.float64), dim=1)
    else:
        q = nn.functional.one_hot(torch.randint(0, C, (N,), generator=gen), C).double()
    assert_parity(
        losses.create_loss(
            "cross_entropy", impl="reference", label_smoothing=smoothing, reduction=reduction
        ),
        nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction),
        z,
        q,
    )


def test_cross_entropy_spatial_targets(gen) -> None:
    z = torch.randn(2, C, 3, 4, generator=gen, dtype=torch.float64)  # (N, C, H, W)
    y = torch.randint(0, C, (2, 3, 4), generator=gen)
    assert_parity(
        losses.create_loss("cross_entropy", impl="reference", label_smoothing=0.1),
        nn.CrossEntropyLoss(label_smoothing=0.1),
        z,
        y,
    )


def test_cross_entropy_one_hot_equals_index(gen) -> None:
    z = torch.randn(N, C, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=gen)
    ce = losses.create_loss("cross_entropy", impl="reference", label_smoothing=0.1)
    torch.testing.assert_close(ce(z, y), ce(z, nn.functional.one_hot(y, C).double()))


def test_cross_entropy_large_logits_finite() -> None:
    z = torch.tensor([[1e4, -1e4, 0.0]])
    assert losses.create_loss("cross_entropy", impl="reference")(
        z, torch.tensor([1])
    ).item() == pytest.approx(2e4)


def test_cross_entropy_errors() -> None:
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.create_loss("cross_entropy", impl="reference", label_smoothing=1.5)
    with pytest.raises(ValueError, match="shape"):
        losses.create_loss("cross_entropy", impl="reference")(torch.randn(4, 3), torch.rand(4, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "pos_weight", [None, 3.0, [0.5, 2.0, 4.0]], ids=["none", "scalar", "per_column"]
)
def test_bce_parity(reduction: str, pos_weight, gen) -> None:
    z = 4 * torch.randn(N, 3, generator=gen, dtype=torch.float64)
    z[0] = torch.tensor([0.0, 50.0, -50.0], dtype=torch.float64)  # the kink and large |z|
    y = torch.randint(0, 2, (N, 3), generator=gen).double()
    y[1] = torch.tensor([0.3, 0.5, 0.9], dtype=torch.float64)  # soft targets too
    ref_weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    assert_parity(
        losses.create_loss("bce", impl="reference", pos_weight=pos_weight, reduction=reduction),
        nn.BCEWithLogitsLoss(pos_weight=ref_weight, reduction=reduction),
        z,
        y,
    )


def test_bce_stable_for_huge_logits() -> None:
    z = torch.tensor([[1000.0], [-1000.0], [1000.0], [-1000.0]], requires_grad=True)
    y = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    loss = losses.create_loss("bce", impl="reference", reduction="none")(z, y)
    # Right answers cost ~0 (e^-1000 underflows to exactly 0), wrong ones cost |z|.
    torch.testing.assert_close(loss.detach(), torch.tensor([[0.0], [0.0], [1000.0], [1000.0]]))
    loss.sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.0], [0.0], [1.0], [-1.0]]))


def test_bce_gradient_at_zero_is_half() -> None:
    z = torch.zeros(2, 1, requires_grad=True)
    losses.create_loss("bce", impl="reference", reduction="sum")(
        z, torch.tensor([[0.0], [1.0]])
    ).backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.5], [-0.5]]))  # σ(0) − y


def test_bce_refuses_to_broadcast() -> None:
    with pytest.raises(ValueError, match=r"prediction shape \(4, 1\) != target shape \(4,\)"):
        losses.create_loss("bce", impl="reference")(torch.randn(4, 1), torch.ones(4))
    with pytest.raises(ValueError, match="pos_weight must be > 0"):
        losses.create_loss("bce", impl="reference", pos_weight=0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_parity(reduction: str, gen) -> None:
    pred = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    assert_parity(
        losses.create_loss("mse", impl="reference", reduction=reduction),
        nn.MSELoss(reduction=reduction),
        pred,
        target,
    )


def test_mse_refuses_to_broadcast() -> None:
    with pytest.raises(ValueError, match="shape"):
        losses.create_loss("mse", impl="reference")(torch.randn(4, 1), torch.randn(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", losses.list_losses())
def test_fused_equals_reference(name: str, reduction: str) -> None:
    """Training runs impl=torch; it must compute the formula the reference one spells out."""
    cls = losses.get(name)
    pred, target = inputs_for(cls.target, torch.Generator().manual_seed(1))
    results = []
    for impl in ("torch", "reference"):
        z = pred.double().clone().requires_grad_(True)
        t = target.double() if target.is_floating_point() else target
        out = losses.create_loss(name, reduction=reduction, impl=impl)(z, t)
        out.sum().backward()
        results.append((out.detach(), z.grad))
    (fused, fused_grad), (ref, ref_grad) = results
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(fused_grad, ref_grad, rtol=0, atol=1e-12)


def test_unknown_impl() -> None:
    with pytest.raises(ValueError, match="impl must be one of torch, reference"):
        losses.create_loss("mse", impl="cuda")
