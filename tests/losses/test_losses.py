"""Every registered loss, and parity of each with the PyTorch loss it mirrors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import losses
from engine.tasks import list_tasks
from zoo import UnknownNameError

N, C = 6, 5
REDUCTIONS = ["mean", "sum", "none"]


# Losses on two views of one batch (losses/self_supervised.py): their "target" is the
# other view's embeddings, not a label.
VIEW_LOSSES = {"nt_xent", "vicreg"}


def inputs_of(name: str, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    return inputs_for("views" if name in VIEW_LOSSES else losses.get(name).target, gen)


def inputs_for(target_kind: str, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """A (prediction, target) pair of the kind the loss declares it reads."""
    if target_kind == "index":
        return torch.randn(N, C, generator=gen), torch.randint(0, C, (N,), generator=gen)
    if target_kind == "onehot":
        labels = torch.randint(0, C, (N,), generator=gen)
        return torch.randn(N, C, generator=gen), torch.nn.functional.one_hot(labels, C).float()
    if target_kind == "views":  # a self-supervised loss: two views' embeddings (N, D)
        return torch.randn(N, 3, generator=gen), torch.randn(N, 3, generator=gen)
    if target_kind == "none":  # a GAN's loss: discriminator logits, real and generated
        return torch.randn(N, 1, generator=gen), torch.randn(N + 2, 1, generator=gen)
    if target_kind == "binary":
        return torch.randn(N, 1, generator=gen), torch.randint(0, 2, (N, 1), generator=gen).float()
    return torch.randn(N, 3, generator=gen), torch.randn(N, 3, generator=gen)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("name", losses.list_losses())
def test_every_loss(name: str, impl: str) -> None:
    cls = losses.get(name)
    assert issubclass(cls, nn.Module)
    assert cls.tasks and set(cls.tasks) <= set(list_tasks())
    assert losses.loss_tasks(name) == cls.tasks
    assert cls.target in losses.base.TARGETS

    pred, target = inputs_of(name, torch.Generator().manual_seed(0))
    pred.requires_grad_(True)
    loss = losses.create_loss(name, impl=impl)(pred, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.any()

    if "none" not in cls.reductions:  # the GAN loss: a sum of two means, nothing per element
        return
    per_element = losses.create_loss(name, reduction="none", impl=impl)(pred, target)
    if "embedding" not in cls.tasks:  # metric-learning losses give one loss per mined tuple
        assert per_element.shape[0] == N
    total = losses.create_loss(name, reduction="sum", impl=impl)(pred, target)
    torch.testing.assert_close(total, per_element.sum())


@pytest.mark.parametrize("name", losses.list_losses())
def test_bad_reduction(name: str) -> None:
    with pytest.raises(
        ValueError, match=r"reduction must be one of (\w+, )*mean(, \w+)*; got 'avg'"
    ):
        losses.create_loss(name, reduction="avg")


def test_registry_errors() -> None:
    with pytest.raises(
        UnknownNameError,
        match=", ".join(sorted(losses.list_losses())),
    ):
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


# Non-default options whose fused path differs from the default one's.
VARIANTS: dict[str, list[dict]] = {
    "huber": [{"delta": 0.3}, {"delta": 3.0}],
    "hinge": [{"p": 2}, {"margin": 0.5}, {"form": "crammer_singer", "p": 2}],
    "kl": [{"input_kind": "log_probs"}, {"temperature": 4.0}],
    "cross_entropy": [{"label_smoothing": 0.1}],
    "bce": [{"pos_weight": 2.0}],
}
FUSED_CASES = [
    (name, reduction, kwargs)
    for name in losses.list_losses()
    for reduction in losses.get(name).reductions
    for kwargs in [{}, *VARIANTS.get(name, [])]
]


@pytest.mark.parametrize(
    ("name", "reduction", "kwargs"),
    FUSED_CASES,
    ids=[f"{n}-{r}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, r, kw in FUSED_CASES],
)
def test_fused_equals_reference(name: str, reduction: str, kwargs: dict) -> None:
    """Training runs impl=fused; it must compute the formula the reference one spells out."""
    pred, target = inputs_of(name, torch.Generator().manual_seed(1))
    results = []
    for impl in ("fused", "reference"):
        z = pred.double().clone().requires_grad_(True)
        t = target.double() if target.is_floating_point() else target
        out = losses.create_loss(name, reduction=reduction, impl=impl, **kwargs)(z, t)
        out.sum().backward()
        results.append((out.detach(), z.grad))
    (fused, fused_grad), (ref, ref_grad) = results
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(fused_grad, ref_grad, rtol=0, atol=1e-12)


def test_fused_cases_cover_every_loss_and_reduction() -> None:
    covered = {(n, r) for n, r, _ in FUSED_CASES}
    assert {"kl", "hinge", "huber", "mae"} <= {n for n, _ in covered}
    assert ("kl", "batchmean") in covered and ("hinge", "none") in covered


def test_unknown_impl() -> None:
    with pytest.raises(ValueError, match="loss impl must be one of fused, reference; got 'cuda'"):
        losses.create_loss("mse", impl="cuda")
    # Run directories saved before the rename say impl=torch: it reads as fused.
    assert losses.create_loss("mse", impl="torch").impl == "fused"


# ------------------------------------------------------------------ mae, huber


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mae_parity(reduction: str, gen) -> None:
    pred = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    target[0] = pred[0]  # exact ties: the subgradient at 0
    assert_parity(
        losses.create_loss("mae", impl="reference", reduction=reduction),
        nn.L1Loss(reduction=reduction),
        pred,
        target,
    )


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_mae_subgradient_at_zero_is_zero(impl: str) -> None:
    pred = torch.tensor([[1.0], [2.0], [-3.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    losses.create_loss("mae", impl=impl, reduction="sum")(pred, target).backward()
    # sign(r): 0 at the exact fit, ±1 elsewhere however large the error.
    torch.testing.assert_close(pred.grad, torch.tensor([[0.0], [1.0], [-1.0]], dtype=torch.float64))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_parity(reduction: str, delta: float, gen) -> None:
    target = torch.randn(N, 4, generator=gen, dtype=torch.float64)
    pred = target + 3 * torch.randn(N, 4, generator=gen, dtype=torch.float64)
    # residuals exactly at 0, ±δ (where the pieces meet) and far out
    pred[0] = target[0] + torch.tensor([0.0, delta, -delta, 100.0], dtype=torch.float64)
    assert_parity(
        losses.create_loss("huber", impl="reference", delta=delta, reduction=reduction),
        nn.HuberLoss(delta=delta, reduction=reduction),
        pred,
        target,
    )


def test_huber_values_and_limits(gen) -> None:
    huber = losses.create_loss("huber", impl="reference", delta=1.0, reduction="none")
    r = torch.tensor([0.5, -0.5, 1.0, 3.0, -3.0], dtype=torch.float64)
    # ½r² inside δ, δ(|r| − ½δ) outside; both ½ at |r| = δ
    expected = torch.tensor([0.125, 0.125, 0.5, 2.5, 2.5], dtype=torch.float64)
    torch.testing.assert_close(huber(r, torch.zeros_like(r)), expected)
    pred = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    wide = losses.create_loss("huber", impl="reference", delta=1e6)(pred, target)
    mse = losses.create_loss("mse", impl="reference")(pred, target)
    torch.testing.assert_close(wide, 0.5 * mse)  # δ -> ∞: ½ MSE
    narrow = losses.create_loss("huber", impl="reference", delta=1e-8)(pred, target) / 1e-8
    mae = losses.create_loss("mae", impl="reference")(pred, target)
    torch.testing.assert_close(narrow, mae)  # δ -> 0: ℓ/δ -> MAE


def test_regression_loss_errors() -> None:
    with pytest.raises(ValueError, match="huber delta must be > 0, got 0"):
        losses.create_loss("huber", delta=0)
    for name in ("mae", "huber"):
        with pytest.raises(ValueError, match=rf"{name}: prediction shape \(4, 1\) != target"):
            losses.create_loss(name, impl="reference")(torch.randn(4, 1), torch.randn(4))


# ------------------------------------------------------------------ hinge


def scores_with_kinks(gen: torch.Generator, margin: float) -> tuple[Tensor, Tensor]:
    """Random scores, plus rows where m − z_y + z_j is exactly 0 (the kink) or > 0."""
    z = 2 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=gen)
    y[0], y[1] = 0, 2
    z[0] = torch.tensor([1.0, 1.0 - margin, 0.0, -3.0, 1.0 - margin], dtype=torch.float64)
    z[1] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # all tied
    return z, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("p", [1, 2])
def test_hinge_parity_with_multi_margin(reduction: str, margin: float, p: int, gen) -> None:
    z, y = scores_with_kinks(gen, margin)
    assert_parity(
        losses.create_loss("hinge", impl="reference", p=p, margin=margin, reduction=reduction),
        nn.MultiMarginLoss(p=p, margin=margin, reduction=reduction),
        z,
        y,
    )


def test_hinge_literal_values() -> None:
    z = torch.tensor([[3.0, 1.0, 2.5], [0.0, 0.5, -1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    ww = losses.create_loss("hinge", impl="reference", reduction="none")
    # row 0: wrong classes cost max(0, 1 − 3 + 1) = 0 and max(0, 1 − 3 + 2.5) = 0.5
    # row 1: max(0, 1 − 0.5 + 0) = 0.5 and max(0, 1 − 0.5 − 1) = 0; both / C = 3
    torch.testing.assert_close(ww(z, y), torch.tensor([0.5, 0.5], dtype=torch.float64) / 3)
    cs = losses.create_loss("hinge", impl="reference", form="crammer_singer", reduction="none")
    torch.testing.assert_close(cs(z, y), torch.tensor([0.5, 0.5], dtype=torch.float64))
    sq = losses.create_loss("hinge", impl="reference", p=2, reduction="none")
    torch.testing.assert_close(sq(z, y), torch.tensor([0.25, 0.25], dtype=torch.float64) / 3)


@pytest.mark.parametrize("p", [1, 2])
def test_crammer_singer_gradcheck(p: int, gen) -> None:
    z = 2 * torch.randn(N, C, generator=gen, dtype=torch.float64)  # away from kinks a.s.
    y = torch.randint(0, C, (N,), generator=gen)
    cs = losses.create_loss("hinge", impl="reference", form="crammer_singer", p=p, margin=3.0)
    assert cs(z, y) > 0  # some terms inside the margin, so the gradient is not all zero
    assert torch.autograd.gradcheck(lambda s: cs(s, y), z.requires_grad_(True))


def test_two_class_hinge_is_binary_hinge_on_score_difference(gen) -> None:
    z = 2 * torch.randn(N, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (N,), generator=gen)
    d = z[:, 1] - z[:, 0]  # t·d = z_y − z_other
    binary = losses.binary_hinge(d, y)
    ww = nn.MultiMarginLoss(reduction="none")(z, y)  # PyTorch's, over (N, 2)
    torch.testing.assert_close(binary, 2 * ww)
    cs = losses.create_loss("hinge", form="crammer_singer", reduction="none")(z, y)
    torch.testing.assert_close(cs, binary)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_binary_hinge_single_score(impl: str) -> None:
    z = torch.tensor([[2.0], [0.5], [-1.0], [0.0], [1.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1, 1, 1, 0, 1])  # t = 2y − 1 = [1, 1, 1, −1, 1]
    loss = losses.create_loss("hinge", impl=impl, reduction="none")(z, y)
    torch.testing.assert_close(loss, torch.tensor([0.0, 0.5, 2.0, 1.0, 0.0], dtype=torch.float64))
    loss.sum().backward()
    # −t inside the margin; 0 beyond it and at the kink t·z = m (last row)
    torch.testing.assert_close(
        z.grad, torch.tensor([[0.0], [-1.0], [-1.0], [1.0], [0.0]], dtype=torch.float64)
    )
    float_targets = y.double()[:, None]  # (N, 1) 0/1, as the engine gives a binary loss
    torch.testing.assert_close(
        losses.create_loss("hinge", impl=impl, reduction="none")(z, float_targets), loss
    )


def test_hinge_errors() -> None:
    with pytest.raises(ValueError, match="hinge p must be 1 or 2, got 3"):
        losses.create_loss("hinge", p=3)
    with pytest.raises(ValueError, match="hinge margin must be > 0, got 0"):
        losses.create_loss("hinge", margin=0)
    with pytest.raises(ValueError, match="form must be one of weston_watkins, crammer_singer"):
        losses.create_loss("hinge", form="ovr")
    with pytest.raises(ValueError, match="binary hinge needs 0/1 labels"):
        losses.binary_hinge(torch.zeros(3), torch.tensor([0, 1, -1]))
    with pytest.raises(ValueError, match=r"labels shape \(3,\) does not fit scores \(4, 5\)"):
        losses.create_loss("hinge")(torch.randn(4, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels shape \(4, 5\) does not fit"):  # one-hot
        losses.create_loss("hinge")(torch.randn(4, 5), torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"scores must be \(N, C\)"):
        losses.create_loss("hinge")(torch.randn(4), torch.zeros(4, dtype=torch.long))


# ------------------------------------------------------------------ kl


def distribution(gen: torch.Generator, *, zeros: bool = False) -> Tensor:
    """Rows of probabilities (N, C); with ``zeros``, some classes get probability 0."""
    p = torch.softmax(2 * torch.randn(N, C, generator=gen, dtype=torch.float64), dim=1)
    if zeros:
        p[:, 0] = 0
        p[0] = nn.functional.one_hot(torch.tensor(3), C).double()
        p = p / p.sum(1, keepdim=True)
    return p


class TorchKL(nn.Module):
    """nn.KLDivLoss on log-probabilities computed from the same input kind as ours."""

    def __init__(self, reduction: str, log_target: bool, from_logits: bool) -> None:
        super().__init__()
        self.kl = nn.KLDivLoss(reduction=reduction, log_target=log_target)
        self.from_logits = from_logits

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        return self.kl(torch.log_softmax(x, dim=1) if self.from_logits else x, target)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
@pytest.mark.parametrize("input_kind", ["logits", "log_probs"])
@pytest.mark.parametrize("target_kind", ["probs", "log_probs"])
def test_kl_parity(impl: str, reduction: str, input_kind: str, target_kind: str, gen) -> None:
    x = 2 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    if input_kind == "log_probs":
        x = torch.log_softmax(x, dim=1)
    p = distribution(gen, zeros=target_kind == "probs")  # 0·log 0 terms only as probs
    target = p if target_kind == "probs" else p.log()
    assert_parity(
        losses.create_loss(
            "kl", impl=impl, reduction=reduction, input_kind=input_kind, target_kind=target_kind
        ),
        TorchKL(
            reduction, log_target=target_kind == "log_probs", from_logits=input_kind == "logits"
        ),
        x,
        target,
    )


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kl_distillation_temperature(impl: str, temperature: float, gen) -> None:
    student = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    teacher = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    T = temperature

    class Hinton(nn.Module):  # T² · KL(softmax(t/T) ‖ softmax(z/T)), with PyTorch's kernel
        def forward(self, z: Tensor, t: Tensor) -> Tensor:
            log_p, log_q = torch.log_softmax(t / T, 1), torch.log_softmax(z / T, 1)
            return T**2 * nn.KLDivLoss(reduction="batchmean", log_target=True)(log_q, log_p)

    kl = losses.create_loss("kl", impl=impl, target_kind="logits", temperature=T)
    assert_parity(kl, Hinton(), student, teacher)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize(("reduction", "ce_reduction"), [("batchmean", "mean"), ("sum", "sum")])
def test_kl_on_hard_labels_is_cross_entropy(impl: str, reduction: str, ce_reduction: str, gen):
    z = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=gen)
    assert_parity(
        losses.create_loss("kl", impl=impl, reduction=reduction),
        nn.CrossEntropyLoss(reduction=ce_reduction),
        z,
        y,
    )
    per_sample = losses.create_loss("kl", impl=impl, reduction="none")(z, y).sum(1)
    torch.testing.assert_close(per_sample, nn.functional.cross_entropy(z, y, reduction="none"))


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_kl_is_cross_entropy_minus_entropy(impl: str, gen) -> None:
    z = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    p = distribution(gen)
    entropy = -(p * p.log()).sum(1).mean()
    kl = losses.create_loss("kl", impl=impl)(z, p)
    torch.testing.assert_close(kl, nn.functional.cross_entropy(z, p) - entropy)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_kl_nonnegative_zero_only_at_equality_and_asymmetric(impl: str, gen) -> None:
    kl = losses.create_loss("kl", impl=impl, reduction="none", input_kind="log_probs")
    p, q = distribution(gen), distribution(gen)

    def div(a: Tensor, b: Tensor) -> Tensor:  # KL(a ‖ b) per row
        return kl(b.log(), a).sum(1)

    assert (div(p, q) > 1e-3).all() and (div(q, p) > 1e-3).all()
    torch.testing.assert_close(div(p, p), torch.zeros(N, dtype=torch.float64))
    assert ((div(p, q) - div(q, p)).abs() > 1e-3).any()  # KL(P‖Q) ≠ KL(Q‖P)
    # A fixed pair, by hand: P = (½, ½), Q = (¼, ¾).
    P, Q = torch.tensor([[0.5, 0.5]]).double(), torch.tensor([[0.25, 0.75]]).double()
    expected_pq = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    expected_qp = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert div(P, Q).item() == pytest.approx(expected_pq)
    assert div(Q, P).item() == pytest.approx(expected_qp)


def test_kl_errors() -> None:
    with pytest.raises(
        ValueError, match="input_kind must be one of logits, log_probs; got 'probs'"
    ):
        losses.create_loss("kl", input_kind="probs")
    with pytest.raises(ValueError, match="target_kind must be one of probs, log_probs, logits"):
        losses.create_loss("kl", target_kind="labels")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        losses.create_loss("kl", temperature=0)
    with pytest.raises(ValueError, match="softens logits; use input_kind=logits"):
        losses.create_loss("kl", temperature=2.0, input_kind="log_probs")
    soft = torch.softmax(torch.randn(4, 3), 1)
    with pytest.raises(ValueError, match="needs target_kind=logits"):
        losses.create_loss("kl", temperature=2.0)(torch.randn(4, 3), soft)
    with pytest.raises(ValueError, match=r"kl: prediction shape \(4, 2\) != target shape \(4, 3\)"):
        losses.create_loss("kl")(torch.randn(4, 2), soft)


# ------------------------------------------------------------------ gaussian_kl


def test_gaussian_kl_matches_torch_distributions(gen) -> None:
    mu = torch.randn(N, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(N, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    ours = losses.gaussian_kl(mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    theirs = torch.distributions.kl_divergence(q, prior).sum(-1)  # (N, 4) -> (N,)
    torch.testing.assert_close(ours, theirs)
    upstream = torch.randn(N, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad(ours, (mu, logvar), upstream)
    expected = torch.autograd.grad(theirs, (mu, logvar), upstream)
    torch.testing.assert_close(grads, expected)
    assert torch.autograd.gradcheck(losses.gaussian_kl, (mu, logvar))


def test_gaussian_kl_matches_monte_carlo(gen) -> None:
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, -1.0], [1.0, 0.5]], dtype=torch.float64)
    std = (0.5 * logvar).exp()
    # KL = E_{z~q}[log q(z) − log p(z)], estimated with S samples of z = μ + σ·ε
    S = 200_000
    z = mu + std * torch.randn(S, *mu.shape, generator=gen, dtype=torch.float64)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)  # (S, N)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    samples = log_q - log_p
    estimate, stderr = samples.mean(0), samples.std(0) / math.sqrt(S)
    assert ((estimate - losses.gaussian_kl(mu, logvar)).abs() < 4 * stderr).all()


def test_gaussian_kl_zero_only_at_the_prior() -> None:
    zeros = torch.zeros(3, 5, dtype=torch.float64)
    torch.testing.assert_close(
        losses.gaussian_kl(zeros, zeros), torch.zeros(3, dtype=torch.float64)
    )
    assert (losses.gaussian_kl(zeros + 0.1, zeros) > 0).all()
    assert (losses.gaussian_kl(zeros, zeros - 0.1) > 0).all()
    with pytest.raises(ValueError, match="gaussian_kl: prediction shape"):
        losses.gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 4))


def test_sparse_cross_entropy_is_cross_entropy_on_labels_and_refuses_floats() -> None:
    gen = torch.Generator().manual_seed(3)
    z, y = torch.randn(N, C, generator=gen), torch.randint(0, C, (N,), generator=gen)
    sparse = losses.create_loss("sparse_cross_entropy", label_smoothing=0.1)
    categorical = losses.create_loss("cross_entropy", label_smoothing=0.1)
    one_hot = torch.nn.functional.one_hot(y, C).float()
    torch.testing.assert_close(sparse(z, y), categorical(z, one_hot), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="integer class labels; for one-hot or soft"):
        sparse(z, one_hot)
