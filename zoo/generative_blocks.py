"""Building blocks of the generative models: networks that read data into a vector,
networks that write data from one, and the checks on sizes they share.

A GAN (:mod:`zoo.gan`) and an autoencoder or VAE (:mod:`zoo.autoencoder`) are both
built from one pair of networks:

* a *reader* ``(B, *data_shape) -> (B, K)``: the discriminator (K = 1 logit), the
  encoder (K = Z, or 2Z for the VAE's mean and log-variance);
* a *writer* ``(B, Z) -> (B, *data_shape)``: the generator, the decoder.

Two architectures of each, chosen by ``arch``:

* ``"mlp"``: fully connected blocks Linear -> [BatchNorm] -> φ -> [Dropout], as in
  :mod:`zoo.mlp`, over the flattened sample (the writer reshapes its output to the
  data's shape). The only choice for vector data.
* ``"conv"``: the all-convolutional stacks of DCGAN (Radford, Metz & Chintala,
  "Unsupervised representation learning with deep convolutional generative
  adversarial networks", ICLR 2016). Strided convolutions do the resizing instead of
  pooling, so the network learns its own down- and up-sampling:

      reader:  Conv2d(k=4, s=2, p=1)           H -> H/2     (n times)
      writer:  ConvTranspose2d(k=4, s=2, p=1)  H -> 2H      (n times)

  With k = 4, s = 2, p = 1 the output sizes are exactly H/2 (floor((H + 2 − 4)/2) + 1
  for even H) and 2H ((H − 1)·2 − 2 + 4); Dumoulin & Visin, "A guide to convolution
  arithmetic" (2016), relate the two. So an image goes through n = len(widths)
  halvings, and H and W must be divisible by 2ⁿ (:func:`coarsest_size`).

Each network takes ``widths``, one per hidden layer, in the order it runs them: units
of the dense blocks (mlp) or channels of the maps (conv). A reader lists them from
the data to the vector, a writer from the vector to the data (DCGAN's generator goes
1024 -> 512 -> 256 -> 128); a model whose two networks mirror each other gives one of
them the other's widths reversed. With writer widths [64, 32] (reader [32, 64]) on
1x8x8 digits:

    writer:  z -> Linear -> 64@2x2 -> 32@4x4 -> 32@8x8 -> Conv2d 3x3 -> 1@8x8
    reader:  1@8x8 -> 32@4x4 -> 64@2x2 -> flatten -> Linear -> K

The writer's last doubling keeps widths[-1] maps, and a 3x3 convolution at full
resolution turns them into the image's C channels: it smooths the checkerboard
pattern that overlapping stride-2 transposed convolutions leave (Odena, Dumoulin &
Olah, "Deconvolution and checkerboard artifacts", Distill 2016).

Where it continues: zoo/gan.py and zoo/autoencoder.py build their networks from these
stacks; the dense blocks are zoo/mlp.py's :func:`~zoo.mlp.dense_block`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from zoo.activations import make_activation
from zoo.checks import check_widths
from zoo.mlp import dense_block

ARCHS = ("mlp", "conv")


def standard_normal(
    shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Draws of N(0, 1) of ``shape`` on ``like``'s device and dtype. With a seeded
    ``generator`` they are drawn on the generator's own device and moved, so a CPU
    generator gives the same numbers whichever device the model is on."""
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    draws = torch.randn(shape, generator=generator, device=generator.device)
    return draws.to(device=like.device, dtype=like.dtype)


class LatentPrior:
    """``sample_latent`` for a model with a prior z ~ N(0, I) of ``latent_size``."""

    latent_size: int

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of z ~ N(0, I), ``(n, Z)``, on the model's device and dtype."""
        return standard_normal((n, self.latent_size), next(self.parameters()), generator)


def check_latent(model: str, latent_size: int, z: Tensor) -> None:
    """z must be ``(B, latent_size)``, the shape ``sample_latent`` returns."""
    if z.ndim != 2 or z.shape[1] != latent_size:
        got = f"{z.shape[1]} columns" if z.ndim == 2 else f"shape {tuple(z.shape)}"
        raise ValueError(
            f"{model} latent_size is {latent_size} but z has {got}; "
            f"pass z of shape (B, {latent_size})"
        )


def coarsest_size(model: str, data_shape: tuple[int, ...], num_stages: int) -> tuple[int, int]:
    """(H/2ⁿ, W/2ⁿ): the size of the smallest map after n = ``num_stages`` halvings.

    Raises a one-line ValueError, naming the sizes that work, when 2ⁿ does not divide
    H and W (28x28 MNIST halves twice, 7 -> 14 -> 28; a third halving would need 3.5).
    """
    _, H, W = data_shape
    factor = 2**num_stages
    if H % factor or W % factor:
        fits = 0  # how many halvings H and W do allow
        while H % 2 ** (fits + 1) == 0 and W % 2 ** (fits + 1) == 0:
            fits += 1
        hint = f"at most {fits} widths entries" if fits else "arch=mlp"
        raise ValueError(
            f"{model} arch=conv halves the image {num_stages} times (once per widths entry), "
            f"so H and W must be multiples of {factor} ({factor}, {2 * factor}, "
            f"{3 * factor}, ...), got {H}x{W}; use {hint} for {H}x{W} images"
        )
    return H // factor, W // factor


def mlp_encoder(
    in_features: int,
    widths: Sequence[int],
    out_features: int,
    activation: str = "relu",
    activation_kwargs: Mapping[str, Any] | None = None,
    norm: str = "none",
    dropout: float = 0.0,
    model: str = "model",
) -> nn.Sequential:
    """Flatten -> dense blocks of ``widths`` -> Linear to ``out_features``.

    Shapes:
        input ``(B, *shape)`` with prod(shape) = ``in_features``; output ``(B, K)``,
        K = ``out_features``. With no widths it is one linear map.
    """
    check_widths(f"{model} widths", widths, allow_empty=True)
    layers: list[nn.Module] = [nn.Flatten()]  # (B, *shape) -> (B, F)
    width = in_features
    for w in widths:
        layers.append(dense_block(width, w, activation, activation_kwargs, norm, dropout))
        width = w
    layers.append(nn.Linear(width, out_features))  # (B, H) -> (B, K)
    return nn.Sequential(*layers)


def mlp_decoder(
    latent_size: int,
    widths: Sequence[int],
    data_shape: tuple[int, ...],
    activation: str = "relu",
    activation_kwargs: Mapping[str, Any] | None = None,
    norm: str = "none",
    output: str = "identity",
    model: str = "model",
) -> nn.Sequential:
    """Dense blocks of ``widths`` -> Linear to prod(data_shape) -> reshape -> [output φ].

    Shapes:
        input ``(B, Z)``; output ``(B, *data_shape)``.
    """
    check_widths(f"{model} widths", widths, allow_empty=True)
    layers: list[nn.Module] = []
    width = latent_size
    for w in widths:
        layers.append(dense_block(width, w, activation, activation_kwargs, norm))
        width = w
    layers.append(nn.Linear(width, math.prod(data_shape)))  # (B, H) -> (B, F)
    layers.append(nn.Unflatten(1, data_shape))  # (B, F) -> (B, *data_shape)
    if output != "identity":
        layers.append(make_activation(output))
    return nn.Sequential(*layers)


def conv_encoder(
    data_shape: tuple[int, int, int],
    widths: Sequence[int],
    out_features: int,
    activation: str = "leaky_relu",
    activation_kwargs: Mapping[str, Any] | None = None,
    norm: str = "none",
    norm_first: bool = True,
    dropout: float = 0.0,
    model: str = "model",
) -> nn.Sequential:
    """DCGAN's reader: [Conv2d(k=4, s=2, p=1) -> [BatchNorm2d] -> φ -> [Dropout]] per
    entry of ``widths`` (the finest map's first) -> flatten -> Linear to K.

    ``norm_first=False`` leaves batch norm off the first block, as DCGAN's
    discriminator does: normalizing the input layer made its samples oscillate
    (Radford et al., 2016, sec. 3).

    Shapes:
        input ``(B, C, H, W)``; output ``(B, K)``, K = ``out_features``.
    """
    check_widths(f"{model} widths", widths)
    h, w = coarsest_size(model, data_shape, len(widths))
    layers: list[nn.Module] = []
    width = data_shape[0]
    for i, c in enumerate(widths):
        bn = norm == "batch" and (norm_first or i > 0)
        # (B, C_in, H, W) -> (B, c, H/2, W/2)
        block: list[nn.Module] = [nn.Conv2d(width, c, 4, stride=2, padding=1, bias=not bn)]
        if bn:
            block.append(nn.BatchNorm2d(c))
        block.append(make_activation(activation, **dict(activation_kwargs or {})))
        if dropout > 0:
            block.append(nn.Dropout(dropout))
        layers.append(nn.Sequential(*block))
        width = c
    layers.append(nn.Flatten())  # (B, c₀, H/2ⁿ, W/2ⁿ) -> (B, c₀·H/2ⁿ·W/2ⁿ)
    layers.append(nn.Linear(width * h * w, out_features))  # -> (B, K)
    return nn.Sequential(*layers)


def conv_decoder(
    latent_size: int,
    widths: Sequence[int],
    data_shape: tuple[int, int, int],
    activation: str = "relu",
    activation_kwargs: Mapping[str, Any] | None = None,
    norm: str = "none",
    output: str = "identity",
    model: str = "model",
) -> nn.Sequential:
    """DCGAN's writer: Linear -> reshape to ``(widths[0], H/2ⁿ, W/2ⁿ)`` -> [BatchNorm2d]
    -> φ -> per stage ConvTranspose2d(k=4, s=2, p=1) -> [BatchNorm2d] -> φ, then Conv2d
    3x3 to the C image channels -> [output φ].

    The projection and reshape of z is DCGAN's first layer ("project and reshape",
    Radford et al., 2016, fig. 1). No batch norm on the output layer, as there.

    Shapes:
        input ``(B, Z)``; output ``(B, C, H, W)``.
    """
    check_widths(f"{model} widths", widths)
    h, w = coarsest_size(model, data_shape, len(widths))
    act_kwargs = dict(activation_kwargs or {})
    bn = norm == "batch"
    c0 = widths[0]
    project: list[nn.Module] = [
        nn.Linear(latent_size, c0 * h * w, bias=not bn),  # (B, Z) -> (B, c₀·h·w)
        nn.Unflatten(1, (c0, h, w)),  # -> (B, c₀, h, w)
    ]
    if bn:
        project.append(nn.BatchNorm2d(c0))
    project.append(make_activation(activation, **act_kwargs))
    layers: list[nn.Module] = [nn.Sequential(*project)]
    # Each stage doubles the map; the last one keeps widths[-1] maps.
    for c_in, c_out in zip(widths, [*widths[1:], widths[-1]], strict=True):
        # (B, c_in, h, w) -> (B, c_out, 2h, 2w)
        block: list[nn.Module] = [
            nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=not bn)
        ]
        if bn:
            block.append(nn.BatchNorm2d(c_out))
        block.append(make_activation(activation, **act_kwargs))
        layers.append(nn.Sequential(*block))
    layers.append(nn.Conv2d(widths[-1], data_shape[0], 3, padding=1))  # -> (B, C, H, W)
    if output != "identity":
        layers.append(make_activation(output))
    return nn.Sequential(*layers)


def encoder(
    arch: str,
    data_shape: tuple[int, ...],
    widths: Sequence[int],
    out_features: int,
    pack: int = 1,
    norm_first: bool = True,
    **options: Any,
) -> nn.Sequential:
    """x -> ``(B, out_features)`` through ``widths`` (the data's side first) as ``arch``
    says: :func:`mlp_encoder` on ``pack`` samples' features side by side, or
    :func:`conv_encoder` on their channels stacked (``norm_first``: batch norm on the
    first block too). ``options`` (activation, norm, dropout, model) go to either."""
    if arch == "mlp":
        return mlp_encoder(pack * math.prod(data_shape), widths, out_features, **options)
    C, H, W = data_shape
    return conv_encoder((pack * C, H, W), widths, out_features, norm_first=norm_first, **options)


def decoder(
    arch: str,
    latent_size: int,
    data_shape: tuple[int, ...],
    widths: Sequence[int],
    **options: Any,
) -> nn.Sequential:
    """z -> ``(B, *data_shape)`` through ``widths`` (z's side first) as ``arch`` says:
    :func:`mlp_decoder` or :func:`conv_decoder`. ``options`` (activation, norm, output,
    model) go to either."""
    if arch == "mlp":
        return mlp_decoder(latent_size, widths, data_shape, **options)
    return conv_decoder(latent_size, widths, data_shape, **options)  # type: ignore[arg-type]
