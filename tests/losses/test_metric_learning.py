"""Triplet and contrastive losses: parity with PyTorch on explicit triplets, mining
against brute-force loops over every tuple, gradients, and the batches with no tuple."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

import losses
from losses.metric_learning import distance

DISTANCES = ["euclidean", "cosine"]
MININGS = ["all", "batch_hard"]


def batch(n: int = 10, dim: int = 4, classes: int = 3, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    y = torch.arange(n) % classes  # every class at least twice for n >= 2 * classes
    return x, y[torch.randperm(n, generator=gen)]


def all_triplets(y: Tensor) -> list[tuple[int, int, int]]:
    n = len(y)
    return [
        (a, p, q)
        for a, p, q in itertools.product(range(n), repeat=3)
        if p != a and y[p] == y[a] and y[q] != y[a]
    ]


def torch_distance(kind: str):
    if kind == "euclidean":
        return F.pairwise_distance
    return lambda u, v: 1 - F.cosine_similarity(u, v)


# ------------------------------------------------------------------ triplet


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", DISTANCES)
def test_triplet_all_equals_torch_on_the_same_triplets(kind: str, reduction: str) -> None:
    """mining=all is nn.TripletMarginLoss (euclidean, its eps included) or
    nn.TripletMarginWithDistanceLoss (cosine) on every valid triplet, stacked in
    (a, p, n) order: values and gradients, float64."""
    x, y = batch()
    a, p, q = map(list, zip(*all_triplets(y), strict=True))
    if kind == "euclidean":
        ref = nn.TripletMarginLoss(margin=0.7, reduction=reduction)
    else:
        ref = nn.TripletMarginWithDistanceLoss(
            distance_function=torch_distance(kind), margin=0.7, reduction=reduction
        )
    ours = losses.create_loss("triplet", margin=0.7, distance=kind, reduction=reduction)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, want = ours(x1, y), ref(x2[a], x2[p], x2[q])
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    upstream = torch.rand(got.shape, dtype=torch.float64)
    got.backward(upstream)
    want.backward(upstream)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("kind", DISTANCES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_batch_hard_equals_a_loop_over_anchors(kind: str, seed: int) -> None:
    x, y = batch(n=9, classes=4, seed=seed)
    y[0] = 7  # an anchor with no positive: left out
    m, d = 0.3, torch_distance(kind)
    terms = []
    for a in range(len(y)):
        pos = [d(x[a : a + 1], x[j : j + 1]) for j in range(len(y)) if j != a and y[j] == y[a]]
        neg = [d(x[a : a + 1], x[j : j + 1]) for j in range(len(y)) if y[j] != y[a]]
        if pos and neg:
            terms.append(torch.relu(max(pos) - min(neg) + m))
    got = losses.create_loss("triplet", margin=m, mining="batch_hard", distance=kind)(x, y)
    torch.testing.assert_close(got, torch.cat(terms).mean(), atol=1e-12, rtol=1e-12)
    per_anchor = losses.create_loss(
        "triplet", margin=m, mining="batch_hard", distance=kind, reduction="none"
    )(x, y)
    assert per_anchor.shape == (len(terms),)


def test_triplet_is_zero_once_every_triplet_meets_the_margin() -> None:
    y = torch.tensor([0, 0, 1, 1])
    x = torch.tensor([[0.0, 0.0], [0.0, 0.1], [5.0, 0.0], [5.0, 0.1]], dtype=torch.float64)
    for mining in MININGS:
        assert losses.create_loss("triplet", mining=mining, margin=1.0)(x, y) == 0
        assert losses.create_loss("triplet", mining=mining, margin=10.0)(x, y) > 0


# ------------------------------------------------------------------ contrastive


def contrastive_pair(d: Tensor, same: bool, m: float) -> Tensor:
    """Hadsell et al. (2006) eq. 4 with Y = 0 for a similar pair, 1 for a dissimilar one."""
    Y = 0.0 if same else 1.0
    return (1 - Y) * 0.5 * d**2 + Y * 0.5 * torch.relu(m - d) ** 2


@pytest.mark.parametrize("kind", DISTANCES)
def test_contrastive_all_equals_a_loop_over_pairs(kind: str) -> None:
    x, y = batch(n=8, classes=3)
    m, d = 1.5, torch_distance(kind)
    terms = [
        contrastive_pair(d(x[i : i + 1], x[j : j + 1]), bool(y[i] == y[j]), m)
        for i, j in itertools.combinations(range(len(y)), 2)
    ]
    want = torch.cat(terms)
    none = losses.create_loss("contrastive", margin=m, distance=kind, reduction="none")(x, y)
    torch.testing.assert_close(none, want, atol=1e-12, rtol=1e-12)
    mean = losses.create_loss("contrastive", margin=m, distance=kind)(x, y)
    torch.testing.assert_close(mean, want.mean(), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("kind", DISTANCES)
def test_contrastive_batch_hard_equals_a_loop_over_anchors(kind: str) -> None:
    x, y = batch(n=9, classes=4, seed=3)
    y[0] = 7  # no positive: left out
    m, d = 1.5, torch_distance(kind)
    terms = []
    for a in range(len(y)):
        pos = [d(x[a : a + 1], x[j : j + 1]) for j in range(len(y)) if j != a and y[j] == y[a]]
        neg = [d(x[a : a + 1], x[j : j + 1]) for j in range(len(y)) if y[j] != y[a]]
        if pos and neg:
            terms.append(contrastive_pair(max(pos), True, m) + contrastive_pair(min(neg), False, m))
    got = losses.create_loss("contrastive", margin=m, mining="batch_hard", distance=kind)(x, y)
    torch.testing.assert_close(got, torch.cat(terms).mean(), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("kind", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_contrastive_gradcheck(mining: str, kind: str, normalize: bool) -> None:
    """No PyTorch equivalent: check the autograd gradient against finite differences."""
    x, y = batch(n=7, dim=3, classes=3, seed=4)
    loss = losses.create_loss(
        "contrastive", margin=2.0, mining=mining, distance=kind, normalize=normalize
    )
    assert torch.autograd.gradcheck(lambda z: loss(z, y), (x.requires_grad_(True),))


# ------------------------------------------------------------------ both


@pytest.mark.parametrize("name", ["triplet", "contrastive"])
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("kind", DISTANCES)
def test_normalize_measures_unit_vectors(name: str, mining: str, kind: str) -> None:
    x, y = batch()
    kwargs = {"mining": mining, "distance": kind, "margin": 0.5}
    got = losses.create_loss(name, normalize=True, **kwargs)(3 * x, y)
    want = losses.create_loss(name, **kwargs)(F.normalize(x, dim=1), y)
    torch.testing.assert_close(got, want)


def finite_zero_grad(loss: Tensor, x: Tensor) -> bool:
    (grad,) = torch.autograd.grad(loss, x)
    return bool(torch.isfinite(grad).all()) and not grad.any()


@pytest.mark.parametrize("kind", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_a_batch_without_positives_gives_zero_that_backprops(mining: str, kind: str) -> None:
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.arange(5)  # every label once: no triplet, no positive pair
    triplet = losses.create_loss("triplet", mining=mining, distance=kind)(x, y)
    assert triplet.item() == 0 and finite_zero_grad(triplet, x)
    contrastive = losses.create_loss("contrastive", mining=mining, distance=kind)(x, y)
    if mining == "batch_hard":  # no anchor has a positive
        assert contrastive.item() == 0 and finite_zero_grad(contrastive, x)
    else:  # the negative pairs still cost while nearer than the margin
        (grad,) = torch.autograd.grad(contrastive, x)
        assert torch.isfinite(contrastive) and torch.isfinite(grad).all()
    same = torch.zeros(5, dtype=torch.long)  # one label only: no negative either
    assert losses.create_loss("triplet", mining=mining, distance=kind)(x, same).item() == 0


@pytest.mark.parametrize("name", ["triplet", "contrastive"])
@pytest.mark.parametrize("mining", MININGS)
def test_identical_embeddings_have_a_finite_gradient(name: str, mining: str) -> None:
    """‖u − v + ε‖ keeps d'(0) finite, where ‖u − v‖ would give 0/0 = NaN."""
    x = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    loss = losses.create_loss(name, mining=mining)(x, y)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_distance_matches_torch() -> None:
    u, v = torch.randn(2, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(distance(u, v), F.pairwise_distance(u, v))
    torch.testing.assert_close(distance(u, v, "cosine"), 1 - F.cosine_similarity(u, v))


@pytest.mark.parametrize("name", ["triplet", "contrastive"])
def test_bad_options_and_inputs(name: str) -> None:
    with pytest.raises(ValueError, match="margin must be > 0, got 0"):
        losses.create_loss(name, margin=0)
    with pytest.raises(ValueError, match="mining must be one of all, batch_hard; got 'easy'"):
        losses.create_loss(name, mining="easy")
    with pytest.raises(ValueError, match="distance must be one of euclidean, cosine; got 'l1'"):
        losses.create_loss(name, distance="l1")
    loss = losses.create_loss(name)
    with pytest.raises(ValueError, match=r"needs embeddings \(N, D\) and integer labels"):
        loss(torch.randn(4, 2), torch.randn(4))
    with pytest.raises(ValueError, match=r"got \(4,\) and \(4,\)"):
        loss(torch.randn(4), torch.zeros(4, dtype=torch.long))
