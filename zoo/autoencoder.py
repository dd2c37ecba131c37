"""Autoencoders: compress each sample to a short code z, then rebuild it from the code.

An encoder f and a decoder g are trained together so that

    z = f(x) ∈ ℝ^Z,    x̂ = g(z),    minimize L(x, x̂)

with L the squared error (x̂ a value) or the Bernoulli cross-entropy (x̂ a logit, for
pixels in [0, 1]). With Z much smaller than the F numbers of a sample, the code must
keep what varies between samples and drop the rest: an unsupervised representation.
A linear autoencoder trained with squared error spans the same subspace as the top Z
principal components (Baldi & Hornik, 1989); nonlinear ones learn curved manifolds
(Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural
networks", Science 2006). Reference: Goodfellow, Bengio & Courville, *Deep
Learning* (2016), ch. 14. The decoder returns raw outputs, without an output
activation: the loss decides whether they are logits or values.

* ``model=autoencoder``: the deterministic one above.
* ``model=vae``: the variational autoencoder (Kingma & Welling, "Auto-encoding
  variational Bayes", ICLR 2014; Rezende, Mohamed & Wierstra, 2014). A generative
  model p(z) = N(0, I), p(x | z) given by the decoder, and an encoder that outputs
  the approximate posterior q(z | x) = N(μ(x), diag σ²(x)). Training maximizes the
  evidence lower bound (ELBO)

      log p(x) ≥ E_q[log p(x | z)] − KL(q(z | x) ‖ p(z)),
      KL = ½ Σⱼ (μⱼ² + σⱼ² − 1 − log σⱼ²)

  (the reconstruction term estimated from one sample of z per x, the KL in closed
  form; its weight β (Higgins et al., 2017) belongs to the loss, not here). The KL pulls every code
  toward the prior, so decoding z ~ N(0, I) gives new samples, which a plain
  autoencoder's scattered codes cannot. The encoder outputs log σ² rather than σ:
  any real number is valid, and exp keeps σ positive.
* ``model=probe``: a classifier on the frozen encoder of a trained run (an autoencoder's
  or VAE's, or any classifier's minus its head), to measure how good its features
  are (:class:`Probe`).

Default sizes suit the 8x8 digits (F = 64): an MLP 64 -> 256 -> 128 -> Z and back,
Z = 16 for the autoencoder (a quarter of the pixels) and Z = 8 for the VAE, whose KL
term switches unneeded code dimensions off anyway (they collapse to the prior), and
whose prior is easier to cover, for sampling, in fewer dimensions. ``arch=conv`` uses
the DCGAN stacks of :mod:`zoo.generative_blocks` instead, whose widths are channels:
give it its own (experiment=autoencoder_digits_conv: ``widths=[32, 64]``).

Where it continues: the training step and the ELBO (reconstruction + β·KL) live in
engine/tasks/generative.py (``task=reconstruction``), the KL term in
losses/divergence.py (:func:`~losses.divergence.gaussian_kl`); a probe's encoder is
loaded from its run by engine/run.py (``backbone_of``) and frozen by the transfer plan
(engine/transfer/plan.py); sample.py decodes codes and
prior draws (engine/report/sampling.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from zoo.activations import make_activation
from zoo.checks import (
    NORMS,
    check_activation,
    check_at_least,
    check_choice,
    check_image,
    check_renamed,
    check_sizes,
)
from zoo.factory import register_model
from zoo.generative_blocks import (
    ARCHS,
    LatentPrior,
    check_latent,
    decoder,
    encoder,
    standard_normal,
)
from zoo.spec import DataSpec


class AutoEncoder(nn.Module):
    """x -> encoder -> z ``(B, Z)`` -> decoder -> x̂, raw (logits or values).

    Args:
        data_shape: one sample's shape, ``(F,)`` or ``(C, H, W)``.
        latent_size: Z, the code's dimension.
        arch: ``"mlp"`` or ``"conv"`` (images only).
        widths: the encoder's hidden widths, the data's side first; the decoder uses
            them reversed. Units of the dense layers (mlp; empty: a linear autoencoder,
            PCA's subspace with squared error) or channels of the maps (conv, e.g.
            ``(32, 64)``: H and W must be divisible by 2^len(widths)).
        activation: φ, a name from :func:`zoo.list_activations`.
        activation_kwargs: φ's own options, e.g. ``{"negative_slope": 0.2}``.
        norm: ``"none"`` or ``"batch"``, in every hidden block of both networks.

    Shapes:
        x ``(B, *data_shape)``; z ``(B, Z)``; x̂ ``(B, *data_shape)``.
    """

    variational = False
    model_name = "autoencoder"  # for error messages

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_size: int,
        arch: str = "mlp",
        widths: Sequence[int] = (256, 128),
        activation: str = "relu",
        activation_kwargs: Mapping[str, Any] | None = None,
        norm: str = "none",
    ) -> None:
        super().__init__()
        name = self.model_name
        data_shape = tuple(data_shape)
        check_choice(f"{name} arch", arch, ARCHS)
        check_choice(f"{name} norm", norm, NORMS)
        if arch == "conv":
            check_image(f"{name} arch=conv", data_shape, "use arch=mlp")
        check_at_least(f"{name} latent_size", latent_size, 1)
        check_activation(activation, activation_kwargs)

        self.latent_size = latent_size
        self.data_shape = data_shape
        code = 2 * latent_size if self.variational else latent_size  # VAE: [μ | log σ²]
        options = dict(
            activation=activation, activation_kwargs=activation_kwargs, norm=norm, model=name
        )
        widths = list(widths)
        self.encoder = encoder(arch, data_shape, widths, code, **options)
        self.decoder = decoder(arch, latent_size, data_shape, widths[::-1], **options)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # (B, *data_shape) -> (B, Z)

    def decode(self, z: Tensor) -> Tensor:
        check_latent(self.model_name, self.latent_size, z)
        return self.decoder(z)  # (B, Z) -> (B, *data_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def features(self, x: Tensor) -> Tensor:
        """What a downstream classifier reads: the code, ``(B, Z)``."""
        return self.encode(x)

    def feature_extractor(self) -> nn.Module:
        """A module x -> ``(B, Z)`` sharing this model's parameters: the encoder itself."""
        return self.encoder


class PosteriorMean(nn.Module):
    """The VAE's encoder reduced to μ: ``(B, *data_shape) -> (B, Z)``, same parameters."""

    def __init__(self, encoder: nn.Module, latent_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.latent_size = latent_size

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x)[:, : self.latent_size]  # (B, 2Z) -> (B, Z): μ


class VAE(LatentPrior, AutoEncoder):
    """Variational autoencoder: the encoder gives q(z | x) = N(μ, diag σ²), the decoder
    reads one sample z of it while training and z = μ in eval mode.

    Args: as :class:`AutoEncoder`; the encoder's last layer is 2Z wide, [μ | log σ²].

    Shapes:
        x ``(B, *data_shape)``; μ, log σ², z ``(B, Z)``; x̂ ``(B, *data_shape)``.
    """

    variational = True
    model_name = "vae"

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²) of q(z | x), each ``(B, Z)``."""
        h = self.encoder(x)  # (B, *data_shape) -> (B, 2Z)
        mu, logvar = h.chunk(2, dim=1)  # -> (B, Z), (B, Z)
        return mu, logvar

    @staticmethod
    def reparameterize(
        mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """One sample z ~ N(μ, diag σ²) as z = μ + σ ⊙ ε, σ = exp(log σ² / 2), ε ~ N(0, I).

        The *reparameterization trick* (Kingma & Welling, 2014, sec. 2.4): drawing z
        directly from N(μ, σ²) is a random choice with no derivative in μ or σ. Drawing
        the noise ε from a fixed N(0, I) instead, and moving it by μ and scaling it by
        σ, makes z a deterministic, differentiable function of (μ, log σ²) for that ε:

            ∂z/∂μ = 1,    ∂z/∂log σ² = ½ σ ε,

        so backpropagation carries the reconstruction loss's gradient through the
        sample into the encoder, and averaging over ε gives an unbiased, low-variance
        estimate of ∇ E_q[log p(x | z)] (unlike the score-function estimator, which
        only sees the loss's value).
        """
        eps = standard_normal(tuple(mu.shape), mu, generator)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward_with_posterior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(x̂, μ, log σ²): what the ELBO needs. z is sampled in training mode, μ in eval."""
        mu, logvar = self.posterior(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_posterior(x)[0]

    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean μ, the VAE's code (deterministic)."""
        return self.posterior(x)[0]

    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decoder outputs (raw: logits or values) for n codes from the prior."""
        return self.decode(self.sample_latent(n, generator))

    def feature_extractor(self) -> nn.Module:
        """A module x -> μ ``(B, Z)`` sharing this model's encoder."""
        return PosteriorMean(self.encoder, self.latent_size)


class Probe(nn.Module):
    """A classifier head on an encoder taken from another run: y = head(backbone(x)).

    *Linear probing* (Alain & Bengio, "Understanding intermediate layers using linear
    classifier probes", 2016): fit a linear classifier on fixed features and read its
    accuracy as a measure of what the features make linearly separable. It is the
    standard test of representations learned without labels (the "linear evaluation
    protocol" of e.g. Chen et al., SimCLR, 2020). The test is fair because the
    encoder never sees a label and cannot change: whatever the probe achieves was
    already in the codes the unsupervised objective produced. Fine-tuning the whole
    network (``freeze=False``) would instead measure how good an initialization it
    is, with the labels free to rewrite the features. Worth comparing against the
    same probe on raw pixels and on an untrained encoder.

    With ``freeze=True`` the backbone's parameters stop requiring gradients (they are
    the source model's own tensors, shared, not copies) and the backbone stays in
    eval mode even while the probe trains: batch norm keeps its running statistics
    and dropout stays off, so the features are exactly the trained encoder's. With
    ``freeze=False`` they require gradients again and follow the probe's mode.

    Args:
        backbone: a module x -> ``(B, Z)``, e.g. an autoencoder's ``feature_extractor()``.
        latent_size: Z, the width of the backbone's output.
        out_features: K, the number of outputs.
        hidden_size: H of a hidden layer (Linear -> φ -> Linear); 0 = a linear probe.
        activation: φ of the hidden layer.
        freeze: keep the backbone fixed (True) or train it with the head (False).

    Shapes:
        input ``(B, *data_shape)``; output ``(B, K)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        latent_size: int,
        out_features: int,
        hidden_size: int = 0,
        activation: str = "relu",
        freeze: bool = True,
    ) -> None:
        super().__init__()
        check_sizes("probe", latent_size=latent_size, out_features=out_features)
        check_at_least("probe hidden_size", hidden_size, 0, "(0 = linear)")
        self.backbone = backbone
        self.latent_size = latent_size
        self.freeze = freeze
        if hidden_size > 0:
            self.head = nn.Sequential(
                nn.Linear(latent_size, hidden_size),
                make_activation(activation),
                nn.Linear(hidden_size, out_features),
            )
        else:
            self.head = nn.Sequential(nn.Linear(latent_size, out_features))
        # Set either way: the parameters are shared, and an earlier probe may have frozen them.
        self.backbone.requires_grad_(not freeze)
        if freeze:
            self.backbone.eval()

    def train(self, mode: bool = True) -> Probe:
        super().train(mode)
        if self.freeze:
            self.backbone.eval()  # batch norm statistics and dropout stay as trained
        return self

    def forward(self, x: Tensor) -> Tensor:
        z = self.backbone(x)  # (B, *data_shape) -> (B, Z)
        return self.head(z)  # (B, K)


@register_model(
    "autoencoder",
    input_kinds=("vector", "image"),
    task="reconstruction",
    capabilities=("decode", "feature_extractor"),
)
def build_autoencoder(
    spec: DataSpec, out_features: int | None = None, latent_size: int = 16, **options: Any
) -> AutoEncoder:
    """:class:`AutoEncoder` of the data's samples, a code of ``latent_size`` (a quarter
    of the 8x8 digits' pixels); ``options`` are its arguments. ``out_features`` is
    ignored: the reconstruction has the input's shape."""
    check_renamed("autoencoder", options)
    return AutoEncoder(spec.input_shape, latent_size, **options)


@register_model(
    "vae",
    input_kinds=("vector", "image"),
    task="reconstruction",
    capabilities=("decode", "variational", "feature_extractor"),
)
def build_vae(
    spec: DataSpec, out_features: int | None = None, latent_size: int = 8, **options: Any
) -> VAE:
    """:class:`VAE` of the data's samples, a code of ``latent_size`` (the prior is
    easier to cover, for sampling, in fewer dimensions); ``options`` are its arguments.
    ``out_features`` is ignored: the reconstruction has the input's shape."""
    check_renamed("vae", options)
    return VAE(spec.input_shape, latent_size, **options)


@register_model("probe", input_kinds=("vector", "image"))
def build_probe(
    spec: DataSpec,
    out_features: int | None = None,
    backbone: nn.Module | None = None,
    latent_size: int | None = None,
    run: str | None = None,
    checkpoint: str = "best",
    **options: Any,
) -> Probe:
    """:class:`Probe` on ``backbone``; ``options`` are its arguments. ``run`` and
    ``checkpoint`` name the source run; the engine reads them and passes its
    ``feature_extractor()`` as ``backbone`` and its ``latent_size``. Here they are
    accepted and unused."""
    if backbone is None:
        raise ValueError(
            "probe needs an encoder: set model.run=<an autoencoder or vae run directory>"
        )
    if latent_size is None:
        raise ValueError(
            "probe needs latent_size, the width of its backbone's output (the source model's "
            "latent_size)"
        )
    out = spec.num_outputs if out_features is None else out_features
    return Probe(backbone, latent_size, out, **options)
