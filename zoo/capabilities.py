"""What a model can do beyond ``forward``, declared where it is registered.

A model family names its capabilities in its ``register_model`` line, and the task
that alone trains it when it has one (:func:`zoo.register_model`)::

    @register_model(
        "vae",
        input_kinds=("vector", "image"),
        task="reconstruction",
        capabilities=("decode", "variational", "feature_extractor"),
    )

Each capability stands for the :class:`typing.Protocol` of the same meaning below: the
methods and attributes the engine may then use.

    capability           Protocol            what the engine does with it
    -------------------  ------------------  ----------------------------------------------
    discriminate         Adversarial         task=adversarial trains G against D
    decode               Decoder             task=reconstruction; sample.py decodes codes
    variational          Variational         the ELBO's KL term; sample.py draws the prior
    feature_extractor    FeatureExtractor    model=probe is built on its encoder
    forward_window       WindowedRecurrent   truncated BPTT (trainer.tbptt_window)
    attention_maps       AttentionMaps       pictures after testing (TensorBoard IMAGES)
    first_layer_filters  FirstLayerFilters   pictures after testing
    feature_maps         FeatureMaps         pictures after testing
    packs_lengths        PacksLengths        ONNX export refuses lengths it would pack
    embedding            Embedder            few-shot and zero-shot tasks read its output
                                             as an embedding of any width they ask for

The engine asks the registry by name (``"decode" in zoo.model_capabilities(name)``),
never ``hasattr(model, "decode")`` nor ``isinstance(model, Decoder)``: a
runtime-checkable Protocol checks only that the names exist (``hasattr`` by another
name), so an unrelated method called ``decode`` would opt a model in, and a
declaration by name is known before the model is built (a task refuses a model, and
names the ones that fit, from the registry alone). The two are kept in step:
:func:`zoo.create_model` checks that a built model has every member of each Protocol it
declares (:func:`missing`), and ``tests/zoo/test_capabilities.py`` that every
registered model is an instance of a Protocol exactly when it declares it.

Reading lengths and giving per-step outputs are declared in the same line
(``reads_lengths``, ``step_outputs``); they decide which data a model fits, so
:func:`zoo.create_model` checks them against the data before building.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class Adversarial(Protocol):
    """A generator G, ``forward(z) -> x̃``, and a discriminator D (Goodfellow et al. 2014).

    The adversarial task draws z with :meth:`sample_latent`, updates D (its parameters
    are ``discriminator``'s, optimizer ``optim_d``) on :meth:`discriminate`'s logits
    for real and generated batches, then G (``generator``'s, optimizer ``optim``).
    """

    latent_size: int  # Z, the width of z
    pack: int  # m, the samples D judges together (PacGAN): batches are cut to multiples of m
    output: str  # G's output φ, "identity", "sigmoid" or "tanh": checked against the data range
    generator: nn.Module
    discriminator: nn.Module

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of z ~ N(0, I), ``(n, Z)``."""
        ...

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logits, one per pack of m samples: ``(B, *x) -> (B / m, 1)``."""
        ...


@runtime_checkable
class Decoder(Protocol):
    """x -> code z ``(B, Z)`` -> x̂ of x's shape; ``forward`` is ``decode(encode(x))``."""

    latent_size: int  # Z

    def encode(self, x: Tensor) -> Tensor:
        """The code of x, ``(B, Z)`` (a VAE's posterior mean)."""
        ...

    def decode(self, z: Tensor) -> Tensor:
        """Raw reconstructions of codes ``(B, Z)``: logits (a Bernoulli decoder) or values."""
        ...

    def features(self, x: Tensor) -> Tensor:
        """What a downstream reader sees of x (the latent-space picture, evaluate.py's codes)."""
        ...


@runtime_checkable
class Variational(Decoder, Protocol):
    """A decoder with a prior p(z) = N(0, I) and a posterior q(z | x) = N(μ, diag σ²):
    the reconstruction task adds KL(q ‖ p) to its loss, sample.py decodes prior draws."""

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²), each ``(B, Z)``."""
        ...

    def reparameterize(
        self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """z = μ + σ ⊙ ε, ε ~ N(0, I) (drawn with ``generator`` when given)."""
        ...

    def forward_with_posterior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(x̂, μ, log σ²): z sampled in training mode, μ in eval mode."""
        ...

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of the prior, ``(n, Z)``."""
        ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """An encoder another model can be built on (``model=probe``'s backbone)."""

    latent_size: int  # Z, the width of the features

    def feature_extractor(self) -> nn.Module:
        """A module x -> ``(B, Z)`` sharing this model's parameters."""
        ...


@runtime_checkable
class WindowedRecurrent(Protocol):
    """A recurrent model that runs a window of steps from a carried state (truncated BPTT)."""

    bidirectional: bool  # a bidirectional model has the method but cannot run windows

    def forward_window(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """``forward``'s output for this window and the final state to carry into the next."""
        ...


@runtime_checkable
class AttentionMaps(Protocol):
    """Self-attention whose weights can be drawn."""

    def attention_maps(self, x: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
        """One ``(B, heads, T, T)`` map per block, in eval mode."""
        ...

    def token_labels(self, x: Tensor) -> list[str]:
        """A short name for each of the T tokens of ``x`` (the maps' axes), in order."""
        ...


@runtime_checkable
class FirstLayerFilters(Protocol):
    """A first convolution whose kernels can be drawn."""

    def first_layer_filters(self) -> Tensor:
        """The kernels as ``(out_channels, in_channels, kH, kW)``."""
        ...


@runtime_checkable
class FeatureMaps(Protocol):
    """Convolutional blocks whose outputs can be drawn."""

    def feature_maps(self, x: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Each block's output by name, ``(B, C, *S)``, in eval mode."""
        ...


@runtime_checkable
class PacksLengths(Protocol):
    """A model that may pack padded sequences (``pack_padded_sequence``) for a fused
    kernel: the packed sizes depend on the lengths' values, which ONNX cannot hold."""

    packs_lengths: bool  # whether this instance packs (the fused kernels do, reference does not)


@runtime_checkable
class Embedder(Protocol):
    """A model whose output, ``(B, D)`` for any width D it is built with (``out_features``),
    can stand for its input: an embedding the few-shot tasks compare by distance, or the
    attribute scores of the zero-shot task (``engine/tasks/fewshot.py``, ``zeroshot.py``)."""

    embedding_size: int  # D, the width of forward's output


CAPABILITIES: dict[str, type] = {
    "discriminate": Adversarial,
    "decode": Decoder,
    "variational": Variational,
    "feature_extractor": FeatureExtractor,
    "forward_window": WindowedRecurrent,
    "attention_maps": AttentionMaps,
    "first_layer_filters": FirstLayerFilters,
    "feature_maps": FeatureMaps,
    "packs_lengths": PacksLengths,
    "embedding": Embedder,
}


def members(protocol: type) -> list[str]:
    """The names a Protocol asks for: its methods and attributes, with its bases'."""
    names: set[str] = set()
    for base in protocol.__mro__:  # object, Protocol and Generic add only _private names
        names.update(vars(base), vars(base).get("__annotations__", {}))
    return sorted(n for n in names if not n.startswith("_"))


def missing(model: Any, capability: str) -> list[str]:
    """The members of ``capability``'s Protocol that ``model`` lacks ([] = it has them all)."""
    return [name for name in members(CAPABILITIES[capability]) if not hasattr(model, name)]
