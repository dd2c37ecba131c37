"""The GAN objective: a discriminator's loss and a generator's, on the discriminator's logits.

Goodfellow et al. ("Generative adversarial nets", 2014) set a discriminator D, which
outputs the probability σ(d(x)) that x is real, against a generator G, which maps noise
z ~ p(z) to samples. D maximizes the log-likelihood of telling them apart,

    max_D  E_x[log σ(d(x))] + E_z[log(1 − σ(d(G(z))))],

which, as a loss to minimize, is binary cross-entropy with label 1 for real data and 0
for generated data. The generator's side of the same game is the *minimax* loss

    min_G  E_z[log(1 − σ(d(G(z))))].

Early in training D rejects G's samples easily: σ(d(G(z))) ≈ 0, where log(1 − σ) is flat
and G's gradient vanishes. The paper's remedy, used by nearly every GAN since, is the
*non-saturating* loss: G maximizes log σ(d(G(z))) instead,

    min_G  −E_z[log σ(d(G(z)))],

i.e. BCE with label 1 on the fakes. It has the same fixed point and a strong gradient
exactly where the minimax loss has none (d/dd of −log σ(d) is σ(d) − 1 ≈ −1 there, of
log(1 − σ(d)) it is −σ(d) ≈ 0).

*One-sided label smoothing* (Salimans et al., "Improved techniques for training GANs",
2016): the real label becomes α < 1 (e.g. 0.9) in D's loss, so D is not rewarded for
ever more confident logits on real data; fake labels stay 0 (smoothing them too would
reward G for samples where p_data is 0).

Every term is a binary cross-entropy with a constant label, computed by the zoo's
``bce`` loss (:class:`losses.classification.BCEWithLogitsLoss`, whose reference form
never overflows).

Where it continues: the alternating discriminator and generator updates that use these
terms live in engine/tasks/generative.py (``task=adversarial``).
"""

from __future__ import annotations

from torch import Tensor

from losses.base import Loss, register_loss
from losses.classification import BCEWithLogitsLoss
from zoo.checks import check_choice

GENERATOR_LOSSES = ("non_saturating", "minimax")


@register_loss("gan")
class GANLoss(Loss):
    """The two losses of a GAN, from the discriminator's logits.

    ``discriminator_loss(real, fake)`` = mean BCE(d(x), α) + mean BCE(d(G(z)), 0) with
    α = ``real_label``; ``generator_loss(fake)`` = the non-saturating −mean log σ(d(G(z)))
    or the minimax mean log(1 − σ(d(G(z)))). Calling the loss, ``loss(real, fake)``, is
    the discriminator's loss (what the validation ``loss`` reports).

    Args:
        generator: ``"non_saturating"`` (the default, Goodfellow et al. sec. 3) or
            ``"minimax"`` (the game as written, to see its gradients vanish).
        real_label: α in (0, 1], the target of real samples in D's loss; 0.9 is
            one-sided label smoothing.
        reduction: ``"mean"`` only: each term is a mean over its samples.
        impl: ``"fused"`` (F.binary_cross_entropy_with_logits) or ``"reference"``
            (the ``bce`` loss's own formula); equal in value and gradient.

    Shapes:
        logits ``(N, 1)`` or ``(N,)``; real and fake may have different N.
    """

    tasks = ("adversarial",)
    target = "none"
    reductions = ("mean",)

    def __init__(
        self,
        generator: str = "non_saturating",
        real_label: float = 1.0,
        reduction: str = "mean",
        impl: str = "fused",
    ) -> None:
        super().__init__(reduction, impl)
        check_choice("gan generator loss", generator, GENERATOR_LOSSES)
        if not 0.0 < real_label <= 1.0:
            raise ValueError(
                f"gan real_label must be in (0, 1] (0.9 = one-sided smoothing), got {real_label}"
            )
        self.generator, self.real_label = generator, real_label
        self.bce = BCEWithLogitsLoss(impl=self.impl)

    def _bce(self, z: Tensor, label: float) -> Tensor:
        """Mean BCE of the logits ``z`` against the constant ``label``."""
        return self.bce(z, z.new_full(z.shape, label))

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """D's loss: real logits toward ``real_label``, fake logits toward 0."""
        return self._bce(real, self.real_label) + self._bce(fake, 0.0)

    def generator_loss(self, fake: Tensor) -> Tensor:
        """G's loss on D's logits for G's samples (gradients flow through ``fake``)."""
        if self.generator == "non_saturating":
            return self._bce(fake, 1.0)  # −mean log σ(d)
        return -self._bce(fake, 0.0)  # mean log(1 − σ(d)) = −mean softplus(d)

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.discriminator_loss(real, fake)

    def extra_repr(self) -> str:
        return f"generator={self.generator}, real_label={self.real_label}, impl={self.impl}"
