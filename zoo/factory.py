"""Model registry: build any registered model from a :class:`~zoo.spec.DataSpec`.

A model family registers a *builder* ``build(spec, **kwargs) -> nn.Module`` with
:func:`register_model`, declaring which input kinds it can read. :func:`create_model`
checks that declaration before building, so pairing e.g. an MLP with a graph dataset
fails with one clear line instead of a shape error deep inside ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from zoo.registry import Registry
from zoo.spec import DataSpec

MODELS = Registry("model")

# Every kind a flattening model can read; graph data has no fixed per-sample shape.
FLAT_INPUT_KINDS: tuple[str, ...] = ("vector", "image", "sequence")

Builder = Callable[..., nn.Module]


class IncompatibleDataError(ValueError):
    """The chosen model cannot read the chosen dataset's kind of input."""


def _or_join(words: tuple[str, ...]) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def register_model(
    name: str,
    input_kinds: Iterable[str] = FLAT_INPUT_KINDS,
    step_outputs: bool = False,
    reads_lengths: bool = False,
) -> Callable[[Builder], Builder]:
    """Decorator for a builder ``build(spec: DataSpec, **kwargs) -> nn.Module``.

    Builders take ``out_features: int | None = None`` (``None`` means
    ``spec.num_outputs``) plus the model's own hyperparameters, named as in its YAML.
    ``step_outputs=True`` declares that the model gives one output per time step,
    ``(B, T, out)``, when ``spec.step_targets`` asks for it (sequence labelling).
    ``reads_lengths=True`` declares that its forward takes ``(x, lengths)``: padded
    sequences of different lengths (``spec.padded``).
    """
    return MODELS.register(
        name, input_kinds=tuple(input_kinds), step_outputs=step_outputs, reads_lengths=reads_lengths
    )


def create_model(name: str, spec: DataSpec, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for data described by ``spec``; kwargs go to its builder."""
    entry = MODELS.entry(name)
    input_kinds: tuple[str, ...] = entry.meta["input_kinds"]
    if spec.input_kind not in input_kinds:
        raise IncompatibleDataError(
            f"model '{name}' reads {_or_join(input_kinds)} data, not {spec.input_kind}"
        )
    if spec.padded and not entry.meta["reads_lengths"]:
        readers = tuple(n for n in MODELS.names() if MODELS.meta(n)["reads_lengths"])
        raise IncompatibleDataError(
            f"model '{name}' cannot read padded sequences of different lengths; use a model "
            f"that takes their lengths: {_or_join(readers or ('none',))}"
        )
    if spec.step_targets and not entry.meta["step_outputs"]:
        steppers = tuple(n for n in MODELS.names() if MODELS.meta(n)["step_outputs"])
        raise IncompatibleDataError(
            f"model '{name}' gives one output per sample, but this data has a target at "
            f"every time step; use a model with per-step outputs: {_or_join(steppers or ('none',))}"
        )
    return entry.obj(spec, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()


def model_input_kinds(name: str) -> tuple[str, ...]:
    return MODELS.meta(name)["input_kinds"]
