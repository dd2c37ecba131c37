"""Model registry: build any registered model from a :class:`~zoo.spec.DataSpec`.

A model family registers a *builder* ``build(spec, **kwargs) -> nn.Module`` with
:func:`register_model`, declaring which input kinds it can read. :func:`create_model`
checks that declaration before building, so pairing e.g. an MLP with a graph dataset
fails with one clear line instead of a shape error deep inside ``forward``.

The same line declares what the model can do beyond ``forward`` (``capabilities``,
each a Protocol of :mod:`zoo.capabilities`) and the task that alone trains it, if one
does (``task``); the engine reads both by name (:func:`model_capabilities`,
:func:`model_task`) instead of probing the built model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import nn

from zoo.capabilities import CAPABILITIES, missing
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
    task: str | None = None,
    capabilities: Iterable[str] = (),
) -> Callable[[Builder], Builder]:
    """Decorator for a builder ``build(spec: DataSpec, **kwargs) -> nn.Module``.

    Builders take ``out_features: int | None = None`` (``None`` means
    ``spec.num_outputs``) plus the model's own hyperparameters, named as in its YAML.
    ``step_outputs=True`` declares that the model gives one output per time step,
    ``(B, T, out)``, when ``spec.step_targets`` asks for it (sequence labelling).
    ``reads_lengths=True`` declares that its forward takes ``(x, lengths)``: padded
    sequences of different lengths (``spec.padded``).
    ``task`` names the one task that trains the model when it has its own (a GAN's
    ``"adversarial"``); None, the default, means any task whose targets its outputs fit.
    ``capabilities`` names what it can do beyond ``forward``, each a key of
    :data:`zoo.capabilities.CAPABILITIES` (e.g. ``("decode", "feature_extractor")``):
    the engine calls only what a model declares, and :func:`create_model` checks that
    the built model has each one's methods and attributes.
    """
    unknown = sorted(set(capabilities) - CAPABILITIES.keys())
    if unknown:
        raise ValueError(
            f"model '{name}' declares unknown capabilities {', '.join(unknown)}; "
            f"known: {', '.join(CAPABILITIES)}"
        )
    return MODELS.register(
        name,
        input_kinds=tuple(input_kinds),
        step_outputs=step_outputs,
        reads_lengths=reads_lengths,
        task=task,
        capabilities=frozenset(capabilities),
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
    model = entry.obj(spec, **kwargs)
    for capability in sorted(entry.meta["capabilities"]):
        lacking = missing(model, capability)
        if lacking:  # a wrong declaration: the zoo's bug, not the user's config
            protocol = CAPABILITIES[capability].__name__
            raise TypeError(
                f"model '{name}' declares capability '{capability}' "
                f"(zoo.capabilities.{protocol}) but has no {', '.join(lacking)}"
            )
    return model


def list_models() -> list[str]:
    return MODELS.names()


def model_input_kinds(name: str) -> tuple[str, ...]:
    return MODELS.meta(name)["input_kinds"]


def model_capabilities(name: str) -> frozenset[str]:
    """What model ``name`` declared it can do beyond ``forward`` (:mod:`zoo.capabilities`)."""
    return MODELS.meta(name)["capabilities"]


def models_with(capability: str) -> list[str]:
    """The registered models that declare ``capability``, sorted."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability '{capability}'; known: {', '.join(CAPABILITIES)}")
    return [n for n in MODELS.names() if capability in MODELS.meta(n)["capabilities"]]


def model_task(name: str) -> str | None:
    """The one task that trains model ``name``, or None when any task that fits its
    outputs may (see :func:`register_model`)."""
    return MODELS.meta(name)["task"]
