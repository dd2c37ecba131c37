"""Every registered model: builds from a DataSpec of each kind it reads, runs forward
and backward, and its YAML names exactly its options, with the code's defaults."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

import pytest
import torch
from conftest import compose_cfg
from model_examples import MODEL_CASE_IDS, MODEL_CASES, make_model, random_graph
from omegaconf import OmegaConf
from torch_geometric.data import Batch, Data

import zoo
from zoo import DataSpec
from zoo.factory import MODELS


def example(kind: str, classes: int = 10, **spec_kw):
    """A DataSpec of ``kind`` and a batch of inputs fitting it, with the output rows."""
    if kind == "vector":
        return DataSpec("vector", (12,), "classification", classes, **spec_kw), torch.randn(4, 12)
    if kind == "image":
        spec = DataSpec("image", (1, 8, 8), "classification", classes, **spec_kw)
        return spec, torch.randn(4, 1, 8, 8)
    if kind == "sequence":
        spec = DataSpec("sequence", (6, 3), "classification", classes, **spec_kw)
        return spec, torch.randn(4, 6, 3)
    if kind == "graph":  # node-level: one graph, an output per node
        return DataSpec("graph", (5,), "classification", classes, **spec_kw), random_graph(9, 5, 0)
    if kind == "graphs":  # graph-level: a batch of 4 graphs, an output per graph
        spec = DataSpec("graph", (5,), "classification", classes, graph_level=True, **spec_kw)
        return spec, Batch.from_data_list([random_graph(5 + i, 5, i) for i in range(4)])
    raise ValueError(kind)


def rows(x) -> int:
    return x.num_graphs if isinstance(x, Batch) else x.num_nodes if isinstance(x, Data) else 4


def scores(model: torch.nn.Module, x) -> torch.Tensor:
    """What reaches every weight: a GAN's D logits on G's samples (4 of them), any
    other model's output on ``x``."""
    if hasattr(model, "discriminate"):
        return model.discriminate(model(model.sample_latent(4)))
    return model(x)


@pytest.mark.parametrize(("name", "kind"), MODEL_CASES, ids=MODEL_CASE_IDS)
@pytest.mark.parametrize("out_features", [None, 1], ids=["class_scores", "one_output"])
def test_forward_backward(name: str, kind: str, out_features: int | None) -> None:
    torch.manual_seed(0)
    spec, x = example(kind)
    model = make_model(name, spec, out_features=out_features)
    y = scores(model, x)
    if hasattr(model, "discriminate"):  # a GAN: one logit per sample
        assert y.shape == (4, 1)
    elif hasattr(model, "decode"):  # an autoencoder gives back its input's shape
        assert y.shape == x.shape
    else:
        assert y.shape == (rows(x), out_features or 10)
    y.square().sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    # Every parameter learns. A branch that starts silenced on purpose (a residual
    # block whose last norm scale is zero-initialized) gets gradient after one step.
    if any(p.grad.abs().sum() == 0 for p in model.parameters()):
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        model.zero_grad()
        scores(model, x).square().sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, pname


STEPPERS = [n for n in zoo.list_models() if MODELS.meta(n)["step_outputs"]]


@pytest.mark.parametrize("name", STEPPERS)
def test_per_step_outputs(name: str) -> None:
    spec, x = example("sequence", step_targets=True)
    assert zoo.create_model(name, spec)(x).shape == (4, 6, 10)


@pytest.mark.parametrize("name", sorted(set(zoo.list_models()) - set(STEPPERS)))
def test_per_step_targets_are_refused_by_models_without_per_step_outputs(name: str) -> None:
    kind = zoo.model_input_kinds(name)[0]
    spec, _ = example(kind, step_targets=True)
    with pytest.raises(zoo.IncompatibleDataError, match="target at every time step"):
        zoo.create_model(name, spec)


@pytest.mark.parametrize("name", zoo.list_models())
def test_unknown_data_kind_is_refused_in_one_line(name: str) -> None:
    reads = zoo.model_input_kinds(name)
    other = next(k for k in ("graph", "vector", "image", "sequence") if k not in reads)
    spec, _ = example(other)
    with pytest.raises(zoo.IncompatibleDataError, match=f"model '{name}' reads .* not {other}"):
        zoo.create_model(name, spec)


@pytest.mark.parametrize("name", zoo.list_models())
def test_unknown_kwarg_is_a_type_error(name: str) -> None:
    spec, _ = example(zoo.model_input_kinds(name)[0])
    with pytest.raises(TypeError):
        make_model(name, spec, no_such_option=3)


# What a builder derives from the DataSpec and hands its model class: sizes, not options.
DATA_ARGUMENTS = {
    "spec",
    "out_features",
    "in_features",
    "in_channels",
    "input_size",
    "image_size",
    "data_shape",
    "max_len",
    "mode",
    "step_outputs",
}


def model_class(name: str) -> type | None:
    """The class a builder passes its ``**options`` to (its return annotation), or None
    for a builder that takes every option by name."""
    builder = inspect.unwrap(MODELS.get(name))
    kinds = {p.kind for p in inspect.signature(builder).parameters.values()}
    return (
        typing.get_type_hints(builder)["return"] if inspect.Parameter.VAR_KEYWORD in kinds else None
    )


def code_defaults(name: str) -> dict[str, Any]:
    """Model ``name``'s options and their defaults in the code: its class's arguments (for
    a builder that passes ``**options`` through), overridden by the builder's own (the
    LSTM's forget_bias, the autoencoder's latent_size); ``empty`` where one is required."""

    def named(fn: Any) -> dict[str, Any]:
        params = inspect.signature(fn).parameters.values()
        return {
            p.name: p.default
            for p in params
            if p.name not in DATA_ARGUMENTS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }

    cls = model_class(name)
    return {**(named(cls) if cls else {}), **named(inspect.unwrap(MODELS.get(name)))}


def yaml_fields(name: str) -> dict[str, Any]:
    fields = OmegaConf.to_container(compose_cfg(f"model={name}").model)
    assert fields.pop("name") == name
    fields.pop("pairs_with", None)  # what train.py adds when the model is named alone
    if "run" in fields:  # built on another run's encoder: the engine supplies it
        fields |= {"backbone": None, "latent_size": None}
    return fields


def plain(value: Any) -> Any:
    """A default as YAML would write it: tuples as lists, read-only mappings as dicts."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, tuple | list) else value


@pytest.mark.parametrize("name", zoo.list_models())
def test_yaml_defaults_are_the_code_defaults(name: str) -> None:
    """Each option has one default, the code's (a model class's signature, or its
    builder's where a family differs), and configs/model/<name>.yaml restates it: every
    key is an option, with the value it takes when not given. The MLP's dropout 0.2 and
    batch norm, the pinned digits recipe, are the class's defaults as well."""
    code = code_defaults(name)
    for key, value in yaml_fields(name).items():
        assert key in code, f"model={name}: YAML key '{key}' is no option of the code"
        assert value == plain(code[key]), (
            f"model={name}: YAML says {key}={value!r}, the code's default is {code[key]!r}"
        )


@pytest.mark.parametrize("name", zoo.list_models())
def test_yaml_names_every_option(name: str) -> None:
    """Every option is in the YAML, but one of a class shared by several families that
    belongs to another of them (the rnn's nonlinearity, the lstm's forget_bias)."""
    missing = set(code_defaults(name)) - set(yaml_fields(name))
    cls = model_class(name)
    siblings = [n for n in zoo.list_models() if n != name and cls and model_class(n) is cls]
    others = set().union(*(yaml_fields(n) for n in siblings)) if siblings else set()
    assert missing <= others, f"model={name}: YAML lacks {sorted(missing - others)}"


@pytest.mark.parametrize("name", zoo.list_models())
def test_declares_input_kinds(name: str) -> None:
    kinds = zoo.model_input_kinds(name)
    assert kinds and set(kinds) <= {"vector", "image", "sequence", "graph"}


READERS = [n for n in zoo.list_models() if MODELS.meta(n)["reads_lengths"]]


@pytest.mark.parametrize("name", READERS)
def test_models_that_read_lengths_take_padded_batches(name: str) -> None:
    spec, x = example("sequence", padded=True)
    lengths = torch.tensor([6, 3, 5, 1])
    assert zoo.create_model(name, spec)(x, lengths).shape == (4, 10)


@pytest.mark.parametrize(
    "name",
    [n for n in zoo.list_models() if n not in READERS and "sequence" in zoo.model_input_kinds(n)],
)
def test_padded_sequences_are_refused_by_models_that_cannot_read_lengths(name: str) -> None:
    spec, _ = example("sequence", padded=True)
    with pytest.raises(zoo.IncompatibleDataError, match=r"padded sequences.*takes their lengths"):
        zoo.create_model(name, spec)
