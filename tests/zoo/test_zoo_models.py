"""Every registered model: builds from a DataSpec, runs forward and backward."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo import DataSpec

VECTOR = DataSpec("vector", (64,), "classification", num_classes=10)
IMAGE = DataSpec("image", (1, 8, 8), "classification", num_classes=10)
REGRESSION = DataSpec("vector", (5,), "regression", num_targets=3)


@pytest.mark.parametrize("name", zoo.list_models())
@pytest.mark.parametrize(
    ("spec", "kwargs", "out"),
    [
        (VECTOR, {}, 10),
        (IMAGE, {}, 10),
        (VECTOR, {"out_features": 1}, 1),
        (REGRESSION, {}, 3),
    ],
    ids=["vector", "image", "binary_head", "regression"],
)
def test_forward_backward(name: str, spec: DataSpec, kwargs: dict, out: int) -> None:
    torch.manual_seed(0)
    model = zoo.create_model(name, spec, **kwargs)
    x = torch.randn(4, *spec.input_shape)
    y = model(x)
    assert y.shape == (4, out)
    y.square().sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", zoo.list_models())
def test_unknown_kwarg_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError):
        zoo.create_model(name, VECTOR, no_such_option=3)


@pytest.mark.parametrize("name", zoo.list_models())
def test_declares_input_kinds(name: str) -> None:
    kinds = zoo.model_input_kinds(name)
    assert kinds and set(kinds) <= {"vector", "image", "sequence", "graph"}
