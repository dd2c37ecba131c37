"""Generative adversarial network: a generator that writes data, a discriminator that judges it.

Goodfellow et al., "Generative adversarial nets" (NeurIPS 2014). A generator G maps
noise z ~ p(z) = N(0, I) to a sample x̃ = G(z); a discriminator with logit d(x) says
how likely x is to be real, D(x) = σ(d(x)). The two play

    min_G max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))]

and for the best D the generator's side equals 2·JS(p_data ‖ p_G) − log 4 (the paper's
Theorem 1), so at the game's equilibrium the samples follow the data's distribution.
This module holds the two networks; the losses (including the non-saturating one
G actually minimizes) are :mod:`losses.adversarial`, and the engine alternates their
updates with two optimizers.

* ``arch="mlp"``: fully connected G and D. The defaults suit 2-D toy data (two
  moons, a ring of Gaussians): z of 8 dimensions, 3 hidden layers of 128 in each
  network, ReLU in G and leaky ReLU (slope 0.2) in D, a linear output (the data is
  unbounded). Small enough to train in seconds on a CPU, wide enough to fold a
  Gaussian into several separate modes.
* ``arch="conv"``: DCGAN (Radford, Metz & Chintala, ICLR 2016), for images. The
  paper's guidelines, as options here: strided convolutions instead of pooling (the
  stacks in :mod:`zoo.generative_blocks`), batch norm in both networks but not on G's
  output or D's input (``norm=batch d_norm=batch``), ReLU in G and leaky ReLU 0.2 in
  D. The paper's tanh output fits pixels in [−1, 1]; a sigmoid on pixels in [0, 1]
  (``output=sigmoid``, with the engine's ``data.scale=minmax``) is the same up to
  an affine map. The paper drew every
  weight from N(0, 0.02²): ``init=normal init.std=0.02``.
* ``pack=m``: PacGAN (Lin, Khetan, Fanti & Oh, "PacGAN: the power of two samples in
  generative adversarial networks", NeurIPS 2018). D judges m samples at once, all
  real or all generated, concatenated into one input. A generator that collapses
  onto a few modes produces packs that lack the variety of real packs, which a
  packed D can see and a single-sample D cannot; the paper proves the penalty on
  mode collapse grows with m. Only D's first layer changes (m times wider), and
  the batch must be a multiple of m.

``out_features`` is accepted, for the builder signature every model shares, and
ignored: a generated sample has the data's shape, and D gives one logit per pack.

Where it continues: the training step (k discriminator updates, then one of the
generator) lives in engine/tasks/generative.py (``task=adversarial``), the two losses in
losses/adversarial.py, the mode metrics in engine/data/mixtures.py; the networks are
zoo/generative_blocks.py's stacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from zoo.checks import (
    NORMS,
    check_activation,
    check_at_least,
    check_choice,
    check_fraction,
    check_image,
    check_renamed,
)
from zoo.factory import register_model
from zoo.generative_blocks import ARCHS, LatentPrior, check_latent, decoder, encoder
from zoo.spec import DataSpec

OUTPUTS = ("identity", "sigmoid", "tanh")

# DCGAN's discriminator slope (Radford et al., 2016, sec. 3); read-only, as a default.
D_ACTIVATION_KWARGS: Mapping[str, Any] = MappingProxyType({"negative_slope": 0.2})


class GAN(LatentPrior, nn.Module):
    """A generator and a discriminator for samples of shape ``data_shape``.

    Args:
        data_shape: one sample's shape, ``(F,)`` or ``(C, H, W)``.
        latent_size: Z, the dimension of the noise z ~ N(0, I).
        arch: ``"mlp"`` or ``"conv"`` (DCGAN, images only).
        hidden_size: G's hidden width (mlp).
        num_layers: G's hidden layers (mlp); 0 = a linear generator.
        activation: G's φ, a name from :func:`zoo.list_activations`.
        activation_kwargs: G's φ options.
        d_hidden_size: D's hidden width (mlp).
        d_num_layers: D's hidden layers (mlp); 0 = logistic regression on the pack.
        d_activation: D's φ; leaky ReLU keeps a gradient for G on D's negative side.
        d_activation_kwargs: D's φ options; set ``{}`` for a φ without ``negative_slope``.
        norm: ``"none"`` or ``"batch"``, in G's hidden blocks.
        d_norm: ``"none"`` or ``"batch"``, in D's hidden blocks (conv: not the first).
        d_dropout: p in [0, 1), after each of D's hidden activations.
        widths: conv channels from the coarsest map to the finest, G's order; D uses
            them reversed. H and W must be divisible by 2^len(widths).
        output: G's output φ: ``"identity"``, ``"sigmoid"`` (data in [0, 1]) or
            ``"tanh"`` (data in [−1, 1]).
        pack: m, the samples D judges together (PacGAN); 1 = the usual GAN.

    Shapes:
        forward (= G): z ``(B, Z)`` -> ``(B, *data_shape)``.
        discriminate: x ``(B, *data_shape)`` -> logits ``(B / m, 1)``.
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_size: int = 8,
        arch: str = "mlp",
        hidden_size: int = 128,
        num_layers: int = 3,
        activation: str = "relu",
        activation_kwargs: Mapping[str, Any] | None = None,
        d_hidden_size: int = 128,
        d_num_layers: int = 3,
        d_activation: str = "leaky_relu",
        d_activation_kwargs: Mapping[str, Any] | None = D_ACTIVATION_KWARGS,
        norm: str = "none",
        d_norm: str = "none",
        d_dropout: float = 0.0,
        widths: Sequence[int] = (64, 32),
        output: str = "identity",
        pack: int = 1,
    ) -> None:
        super().__init__()
        data_shape = tuple(data_shape)
        check_choice("gan arch", arch, ARCHS)
        check_choice("gan norm", norm, NORMS)
        check_choice("gan d_norm", d_norm, NORMS)
        check_choice("gan output", output, OUTPUTS)
        if arch == "conv":
            check_image("gan arch=conv", data_shape, "use arch=mlp")
        check_at_least("gan latent_size", latent_size, 1)
        check_at_least("gan pack", pack, 1, "(1 = no packing)")
        for option, layers, width in (
            ("", num_layers, hidden_size),
            ("d_", d_num_layers, d_hidden_size),
        ):
            check_at_least(f"gan {option}num_layers", layers, 0)
            if layers:
                check_at_least(f"gan {option}hidden_size", width, 1)
        check_fraction("gan d_dropout", d_dropout)
        check_activation(activation, activation_kwargs)
        check_activation(d_activation, d_activation_kwargs)

        self.latent_size = latent_size
        self.pack = pack
        self.data_shape = data_shape
        self.arch = arch
        self.output = output  # G's output φ: the engine checks it fits the data's range
        # mlp: hidden_size x num_layers in G, d_hidden_size x d_num_layers in D; conv:
        # G runs widths from the coarsest map, D mirrors them.
        g_widths = list(widths) if arch == "conv" else [hidden_size] * num_layers
        d_widths = list(widths)[::-1] if arch == "conv" else [d_hidden_size] * d_num_layers
        self.generator = decoder(
            arch,
            latent_size,
            data_shape,
            g_widths,
            activation=activation,
            activation_kwargs=activation_kwargs,
            norm=norm,
            output=output,
            model="gan",
        )
        # Packed samples sit side by side (mlp) or stacked on the channel axis (conv).
        self.discriminator = encoder(
            arch,
            data_shape,
            d_widths,
            1,
            pack=pack,
            norm_first=False,
            activation=d_activation,
            activation_kwargs=d_activation_kwargs,
            norm=d_norm,
            dropout=d_dropout,
            model="gan",
        )

    def forward(self, z: Tensor) -> Tensor:
        """The generator: x̃ = G(z)."""
        check_latent("gan", self.latent_size, z)
        return self.generator(z)  # (B, Z) -> (B, *data_shape)

    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples G(z), z ~ N(0, I): ``(n, *data_shape)``."""
        return self(self.sample_latent(n, generator))

    def pack_samples(self, x: Tensor) -> Tensor:
        """Each run of m = ``pack`` consecutive samples as one discriminator input."""
        B, m = x.shape[0], self.pack
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"gan discriminates samples of shape {self.data_shape}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        if B % m:
            raise ValueError(
                f"gan pack={m} judges samples in groups of {m}, but the batch has {B}; "
                f"use a batch size divisible by {m}"
            )
        if self.arch == "conv":
            C, H, W = self.data_shape
            return x.reshape(B // m, m * C, H, W)  # (B, C, H, W) -> (B/m, m·C, H, W)
        return x.reshape(B // m, -1)  # (B, *data_shape) -> (B/m, m·F)

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logits d(x), one per pack of m samples (σ(d) = P(real))."""
        return self.discriminator(self.pack_samples(x))  # (B/m, ...) -> (B/m, 1)


@register_model(
    "gan", input_kinds=("vector", "image"), task="adversarial", capabilities=("discriminate",)
)
def build_gan(spec: DataSpec, out_features: int | None = None, **options: Any) -> GAN:
    """:class:`GAN` for samples of the data's shape; ``options`` are its arguments.
    ``out_features`` is ignored: G writes samples of the data's shape."""
    check_renamed("gan", options)
    return GAN(spec.input_shape, **options)
