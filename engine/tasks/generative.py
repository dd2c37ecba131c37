"""Generative tasks: adversarial training (GANs) and reconstruction (autoencoders, VAEs).

Both override :meth:`Task.training_step`, because neither is "outputs, loss, one
optimizer step"; the trainer's loop does the rest (checks, logs, schedules):

* ``adversarial`` plays a discriminator against a generator (``model=gan``) with two
  optimizers, ``optim`` for the generator and ``optim_d`` for the discriminator, and k
  discriminator updates per generator update (Goodfellow et al. 2014, Algorithm 1).
  Its metrics measure the samples, not a loss: modes covered and the high-quality share
  on the 2-D mixtures (:mod:`engine.data.mixtures`), and on labelled data the share of samples
  a classifier of the real data recognizes with confidence.
* ``reconstruction`` trains an autoencoder to give back its input, and a VAE to
  maximize the evidence lower bound (Kingma & Welling 2014),

      log p(x) ≥ ELBO = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)),

  whose first term is the reconstruction's log-likelihood (``recon`` is its negative)
  and whose second keeps the posterior near the prior N(0, I) (``kl``, in closed form).
  A β-VAE (Higgins et al. 2017) weighs the KL by β: the loss is recon + β·kl.

Where it continues: the networks are ``zoo/gan.py`` and ``zoo/autoencoder.py`` (their
shared blocks ``zoo/generative_blocks.py``), the losses ``losses/adversarial.py`` and
``losses/divergence.py``, the mode metrics ``engine/data/mixtures.py``, and drawing
new samples from a saved run ``engine/report/sampling.py`` (``sample.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

import zoo
from engine.data import DataModule, mixtures
from engine.errors import ConfigError
from engine.report.pictures import PALETTE, image_grid, scatter_picture
from engine.report.plots import figure_pixels, latent_figure
from engine.tasks.core import TASKS, Step, Task
from losses import gaussian_kl
from zoo import DataSpec
from zoo.modes import eval_mode

GREY = np.array([170, 170, 170], dtype=np.uint8)
BLUE = PALETTE[0]


def fixed_noise(n: int, size: int, seed: int, device: torch.device) -> torch.Tensor:
    """The same latent vectors at every call: samples drawn from them change only as
    the model learns (and evaluation leaves the training RNG alone)."""
    return torch.randn(n, size, generator=torch.Generator().manual_seed(seed)).to(device)


class _Generative(Task):
    """What both generative tasks share: any labelled or unlabelled vector or image data
    (the labels are not used to train), and a fixed way to draw inputs as pictures."""

    generative = True
    takes_augment = False  # their own training steps use the batch as it comes

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        if spec.input_kind not in ("vector", "image"):
            raise ConfigError(
                f"task '{self.name}' generates vectors or images, not the {spec.input_kind} "
                f"data of '{data_name}'; use data=ring, grid or digits"
            )
        self.check_loss(loss, loss_name)
        self.loss_fn = loss  # the same module the trainer holds (moved to the device in place)
        return spec.in_features  # unused by the generative models (their output is x's shape)

    def bind(self, data: DataModule) -> None:
        x = data.splits["train"][0]
        self.lo, self.hi = x.min().item(), x.max().item()  # the range pictures are drawn in
        if data.spec.input_shape == (2,):  # a 2-D view around the real data
            lo, hi = x.amin(0).tolist(), x.amax(0).tolist()
            pad = [0.15 * (b - a) + 1e-6 for a, b in zip(lo, hi, strict=True)]
            self.extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])

    def picture_of(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (as scaled for training) mapped to [0, 1] for drawing."""
        return (x - self.lo) / (self.hi - self.lo if self.hi > self.lo else 1.0)

    def example_input(self, data: DataModule, n: int = 2) -> Any:
        return data.splits["train"][0][:n]

    def pictures(self, model: nn.Module, data: DataModule, split: str) -> dict[str, np.ndarray]:
        """What the model makes, as pictures by name (TensorBoard tags and PNG names)."""
        raise NotImplementedError

    def samples_picture(
        self, samples: torch.Tensor, data: DataModule, split: str
    ) -> np.ndarray | None:
        """Samples (as the data is scaled) drawn the way the data looks: a grid of images,
        or 2-D points over up to 2,500 of the split's real ones in grey; else None."""
        if data.spec.input_kind == "image":
            return image_grid(self.picture_of(samples))
        if data.spec.input_shape == (2,):
            real = data.splits[split][0][:2500].cpu().numpy()
            return scatter_picture([(real, GREY), (samples.cpu().numpy(), BLUE)], self.extent)
        return None

    def log_epoch(self, model: nn.Module, data: DataModule, logger: Any, step: int) -> None:
        for tag, picture in self.pictures(model, data, "val").items():
            logger.image(tag, picture, step)


# ----------------------------------------------------------------------------- adversarial


@TASKS.register("adversarial")
class Adversarial(_Generative):
    """Train a GAN: k discriminator updates, then one generator update (non-saturating
    loss by default, from ``loss=gan``), each player with its own optimizer.

    Per training step: draw z, compute G(z) once; update D on a real batch against
    G(z) detached; every ``d_steps``-th step update G through the updated D. The epoch's
    train numbers are ``loss_d``, ``loss_g`` and the means of D(x) and D(G(z)) (as
    probabilities): D(x) → 1 and D(G(z)) → 0 means D is winning; at the game's
    equilibrium both are ½.

    Evaluation draws ``samples`` points from fixed noise and reports the discriminator's
    loss on the split's real data against them (``loss``: a number to watch, not a
    measure of sample quality), ``d_real``, ``d_fake``, and what the data allows:
    ``modes_covered``/``high_quality_fraction`` on ring and grid (VEEGAN's metrics), or
    on other labelled data ``confident_fraction`` (share of samples a classifier of the
    real training data assigns to a class with probability ≥ ``confidence``) and
    ``classes_covered`` (classes among those), next to ``real_confident_fraction``, the
    same share for the split's real data.

    Args:
        d_steps: k, discriminator updates per generator update.
        samples: generated samples per evaluation (2,500 in VEEGAN and PacGAN).
        confidence: the class probability a sample needs to count as recognized.
    """

    name = "adversarial"
    takes_penalty = False
    optimizer_configs = ("optim", "optim_d")  # the generator's, the discriminator's

    def __init__(self, d_steps: int = 1, samples: int = 2500, confidence: float = 0.9) -> None:
        if not (isinstance(d_steps, int) and d_steps >= 1):
            raise ValueError(f"adversarial d_steps must be an integer >= 1, got {d_steps!r}")
        if not (isinstance(samples, int) and samples >= 1):
            raise ValueError(f"adversarial samples must be an integer >= 1, got {samples!r}")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"adversarial confidence must be in (0, 1), got {confidence}")
        self.d_steps, self.samples, self.confidence = d_steps, samples, confidence

    def check_model(self, model: nn.Module, model_name: str) -> None:
        if "discriminate" not in zoo.model_capabilities(model_name):
            raise ConfigError(
                f"task adversarial trains a generator against a discriminator: use "
                f"model={' or '.join(zoo.models_with('discriminate'))}, not '{model_name}'"
            )
        self.latent_size = model.latent_size  # the members of zoo.capabilities.Adversarial
        ranges = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
        if model.output in ranges:
            lo, hi = ranges[model.output]
            if self.lo < lo or self.hi > hi:
                fix = "data.scale=minmax" if model.output == "sigmoid" else "model.output=identity"
                raise ConfigError(
                    f"model.output={model.output} writes values in [{lo:g}, {hi:g}], but the "
                    f"data spans [{self.lo:.3g}, {self.hi:.3g}] as scaled; add {fix}"
                )

    def bind(self, data: DataModule) -> None:
        super().bind(data)
        # Labelled data without known modes is judged by a classifier of its real
        # training split, fitted at the first evaluation (sampling never needs it).
        self.judged = not mixtures.has_modes(data.name) and (
            data.spec.target_kind == "classification"
        )
        self.classifier: Any = None
        self.real_share: dict[str, float] = {}  # split -> real data's confident share

    def optimizer_groups(self, model: nn.Module) -> dict[str, tuple[Any, str]]:
        return {
            "generator": (model.generator.parameters(), "optim"),
            "discriminator": (model.discriminator.parameters(), "optim_d"),
        }

    def training_step(self, trainer: Any, x: Any, t: torch.Tensor) -> Step:
        gan, loss_fn = trainer.model, trainer.loss_fn
        real = x[: len(x) - len(x) % gan.pack]  # whole packs only
        if len(real) == 0:
            return Step({})  # a last batch smaller than one pack
        g_step = (trainer.step + 1) % self.d_steps == 0  # a function of the step: resumable
        with torch.set_grad_enabled(g_step):  # G's graph only when G learns this step
            fake = gan(gan.sample_latent(len(real)))
        d_real, d_fake = gan.discriminate(real), gan.discriminate(fake.detach())
        loss_d = loss_fn.discriminator_loss(d_real, d_fake)
        trainer.update("discriminator", loss_d)
        values = {
            "loss_d": loss_d,
            "d_real": torch.sigmoid(d_real).mean(),
            "d_fake": torch.sigmoid(d_fake).mean(),
        }
        if g_step:
            loss_g = loss_fn.generator_loss(gan.discriminate(fake))  # through the updated D
            trainer.update("generator", loss_g)
            values["loss_g"] = loss_g
        return Step(values)

    @torch.inference_mode()
    def generate(self, model: nn.Module, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` samples from fixed noise (seed), in eval mode, as the data is scaled."""
        with eval_mode(model):
            z = fixed_noise(n, model.latent_size, seed, next(model.parameters()).device)
            return torch.cat([model(part) for part in z.split(4096)])

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        fake = self.generate(model, self.samples, seed=0 if split == "val" else 1)
        real = data.splits[split][0]
        with eval_mode(model):
            d_real, d_fake = (_discriminate(model, v) for v in (real, fake))
        metrics = {
            "loss": loss_fn.discriminator_loss(d_real, d_fake).item(),
            "d_real": torch.sigmoid(d_real).mean().item(),
            "d_fake": torch.sigmoid(d_fake).mean().item(),
        }
        if mixtures.has_modes(data.name):
            samples = data.unscale(fake).cpu().numpy()
            coverage = mixtures.mode_coverage_for(data.name, samples, **data.params)
            metrics["modes_covered"] = coverage["modes_covered"]
            metrics["high_quality_fraction"] = coverage["high_quality_fraction"]
        elif self.judged:
            if self.classifier is None:
                self.classifier = _fit_classifier(data)
            metrics |= self.recognized(fake)
            if split not in self.real_share:  # the real data does not change
                self.real_share[split] = self.recognized(real)["confident_fraction"]
            metrics["real_confident_fraction"] = self.real_share[split]
        return metrics

    def recognized(self, x: torch.Tensor) -> dict[str, float]:
        """Share of ``x`` the real-data classifier assigns to a class with probability
        ≥ ``confidence``, and how many classes those samples fall in."""
        probs = self.classifier.predict_proba(x.flatten(1).cpu().double().numpy())
        confident = probs.max(1) >= self.confidence
        classes = np.unique(probs.argmax(1)[confident])
        return {"confident_fraction": float(confident.mean()), "classes_covered": len(classes)}

    def example_input(self, data: DataModule, n: int = 2) -> Any:
        return fixed_noise(n, self.latent_size, 0, data.device)  # the generator reads z

    def pictures(self, model: nn.Module, data: DataModule, split: str) -> dict[str, np.ndarray]:
        """Samples from fixed noise: 1,000 over the split's real data (grey) for 2-D data,
        a grid of 64 for images."""
        if data.spec.input_shape == (2,):
            fake = self.generate(model, 1000, seed=2)
            return {"samples/generated_over_real": self.samples_picture(fake, data, split)}
        if data.spec.input_kind == "image":
            fake = self.generate(model, 64, seed=2)
            return {"samples/generated": self.samples_picture(fake, data, split)}
        return {}

    def arrays(self, model: nn.Module, data: DataModule, split: str) -> dict[str, np.ndarray]:
        """What evaluate.py saves: the evaluation's samples, in the data's own units."""
        fake = self.generate(model, self.samples, seed=0 if split == "val" else 1)
        return {"samples": data.unscale(fake).cpu().numpy()}


def _discriminate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The discriminator's logits on ``x`` (cut to whole packs), in chunks."""
    x = x[: len(x) - len(x) % model.pack]
    chunk = 4096 - 4096 % model.pack
    return torch.cat([model.discriminate(part) for part in x.split(chunk)])


def _fit_classifier(data: DataModule) -> Any:
    """A multinomial logistic regression of the real training data (at most 10,000
    samples), the judge of generated samples; deterministic, about a second."""
    from sklearn.linear_model import LogisticRegression

    x, y = data.splits["train"]
    x, y = x[:10_000].flatten(1).cpu().double().numpy(), y[:10_000].cpu().numpy()
    return LogisticRegression(max_iter=2000).fit(x, y)


# ----------------------------------------------------------------------------- reconstruction


@TASKS.register("reconstruction")
class Reconstruction(_Generative):
    """Give back the input: an autoencoder, or a VAE trained on its ELBO.

    ``recon`` is the negative log-likelihood of the input under the decoder, per sample
    (summed over its D features), with the loss naming the decoder:

    * ``loss=bce``: Bernoulli, the outputs are logits of inputs in [0, 1] (use
      ``data.scale=minmax``): recon = Σ_d BCE(x̂_d, x_d);
    * ``loss=mse``: Gaussian with unit variance: recon = ½ Σ_d (x̂_d − x_d)² + (D/2) log 2π.

    The VAE adds ``kl`` = KL(q(z|x) ‖ N(0, I)), in closed form
    (:func:`losses.gaussian_kl`); the training loss is recon + β·kl and ``elbo`` =
    −(recon + kl), a lower bound on log p(x) in nats per sample. Evaluation also
    reports ``mse`` per feature of the reconstructions (probabilities for bce) and
    ``mean_image_mse``, the same for always answering the training split's mean input:
    a reconstruction that does not beat it has learned nothing about the sample.

    Args:
        beta: β, the weight of the KL term (VAE only); 1 is the ELBO.
    """

    name = "reconstruction"

    def __init__(self, beta: float = 1.0) -> None:
        if not beta >= 0:
            raise ValueError(f"reconstruction beta must be >= 0, got {beta}")
        self.beta = beta

    def configure(self, spec: DataSpec, data_name: str, loss: nn.Module, loss_name: str) -> int:
        size = super().configure(spec, data_name, loss, loss_name)
        if getattr(loss, "reduction", "mean") != "mean":
            raise ConfigError(
                f"task reconstruction sums loss '{loss_name}' over each sample's features "
                "itself; leave loss.reduction=mean"
            )
        self.bernoulli = self.loss_target == "binary"
        self.features = spec.in_features
        return size

    def bind(self, data: DataModule) -> None:
        super().bind(data)
        if self.bernoulli and (self.lo < 0 or self.hi > 1):
            raise ConfigError(
                f"loss=bce reconstructs values in [0, 1], but data '{data.name}' spans "
                f"[{self.lo:.3g}, {self.hi:.3g}] as scaled; add data.scale=minmax, or use loss=mse"
            )
        self.mean_input = data.splits["train"][0].mean(0)  # the mean image baseline
        self.labelled = data.spec.target_kind == "classification"

    def check_model(self, model: nn.Module, model_name: str) -> None:
        if "decode" not in zoo.model_capabilities(model_name):
            raise ConfigError(
                f"task reconstruction trains a model whose output has its input's shape: use "
                f"model={' or '.join(zoo.models_with('decode'))}, not '{model_name}'"
            )
        # A VAE (zoo.capabilities.Variational) has a posterior, a prior and a KL term.
        self.variational = "variational" in zoo.model_capabilities(model_name)
        if self.beta != 1.0 and not self.variational:
            raise ConfigError(
                f"task.beta weighs a VAE's KL term; model '{model_name}' has none: use "
                f"model={' or '.join(zoo.models_with('variational'))}, or leave task.beta=1"
            )

    def terms(
        self, model: nn.Module, x: torch.Tensor, noise: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-batch means of ``recon`` and (VAE) ``kl``, with the outputs ``out`` (and
        the VAE's posterior means ``mu``).

        A VAE's recon is E_q[−log p(x|z)] estimated with one z ~ q(z|x): in training
        the model draws it, in evaluation it is drawn with ``noise`` (a seeded CPU
        generator: the same draws every time, the training RNG untouched). Decoding
        the mean code instead would overstate the bound.
        """
        if self.variational:
            if noise is None:
                out, mu, logvar = model.forward_with_posterior(x)
            else:
                mu, logvar = model.posterior(x)
                out = model.decode(model.reparameterize(mu, logvar, noise))
            kl = gaussian_kl(mu, logvar).mean()  # (B, Z) -> (B,) -> ()
        else:
            out, kl, mu = model(x), None, None
        loss_fn, D = self.loss_fn, self.features
        if self.bernoulli:
            recon = loss_fn(out, x) * D  # mean over elements -> sum over a sample's features
        else:
            recon = 0.5 * loss_fn(out, x) * D + 0.5 * D * math.log(2 * math.pi)
        return {"out": out, "recon": recon} | ({} if kl is None else {"kl": kl, "mu": mu})

    def training_step(self, trainer: Any, x: Any, t: torch.Tensor) -> Step:
        parts = self.terms(trainer.model, x)
        loss = parts["recon"] + self.beta * parts["kl"] if "kl" in parts else parts["recon"]
        penalty = trainer.penalty()
        trainer.update("model", loss if penalty is None else loss + penalty)
        values = {"loss": loss, "recon": parts["recon"]}
        if "kl" in parts:
            values["kl"] = parts["kl"]
        if penalty is not None:
            values["penalty"] = penalty
        return Step(values)

    def reconstruct(self, out: torch.Tensor) -> torch.Tensor:
        """Outputs as inputs: probabilities for the Bernoulli decoder, values otherwise."""
        return torch.sigmoid(out) if self.bernoulli else out

    @torch.inference_mode()
    def evaluate(
        self, model: nn.Module, loss_fn: nn.Module, data: DataModule, split: str
    ) -> dict[str, float]:
        sums: dict[str, float] = {}
        noise = torch.Generator().manual_seed(0)
        with eval_mode(model):
            for x, _ in data.batches(split, 4096):
                parts = self.terms(model, x, noise)
                n = len(x)
                sums["recon"] = sums.get("recon", 0.0) + parts["recon"].item() * n
                if "kl" in parts:
                    sums["kl"] = sums.get("kl", 0.0) + parts["kl"].item() * n
                # The reconstruction a user sees: the mean code's (eval-mode forward).
                out = model.decode(parts["mu"]) if "kl" in parts else parts["out"]
                err = (self.reconstruct(out) - x).pow(2).flatten(1).mean(1)
                base = (self.mean_input - x).pow(2).flatten(1).mean(1)
                sums["mse"] = sums.get("mse", 0.0) + err.sum().item()
                sums["mean_image_mse"] = sums.get("mean_image_mse", 0.0) + base.sum().item()
        m = {k: v / data.size(split) for k, v in sums.items()}
        metrics = {"loss": m["recon"] + self.beta * m.get("kl", 0.0), "recon": m["recon"]}
        if "kl" in m:
            metrics |= {"kl": m["kl"], "elbo": -(m["recon"] + m["kl"])}
        return metrics | {"mse": m["mse"], "mean_image_mse": m["mean_image_mse"]}

    @torch.inference_mode()
    def arrays(self, model: nn.Module, data: DataModule, split: str) -> dict[str, np.ndarray]:
        """What evaluate.py saves: the split's codes (posterior means for a VAE), labels
        and reconstructions, in the data's own units."""
        with eval_mode(model):
            x, y = data.splits[split]
            parts = [(model.features(b), self.reconstruct(model(b))) for b in x.split(4096)]
        codes, recon = (torch.cat(p) for p in zip(*parts, strict=True))
        return {
            "codes": codes.cpu().numpy(),
            "y_true": y.cpu().numpy(),
            "reconstructions": data.unscale(recon).cpu().numpy(),
        }

    @torch.inference_mode()
    def pictures(self, model: nn.Module, data: DataModule, split: str) -> dict[str, np.ndarray]:
        """Inputs over their reconstructions (images), samples from the prior (VAE, images)
        and, with a 2-D latent space, the split's codes coloured by class, with a legend."""
        drawn = {}
        with eval_mode(model):
            x, y = data.splits[split]
            device = x.device
            if data.spec.input_kind == "image":
                first = x[:8]
                pair = torch.cat([first, self.reconstruct(model(first))])  # 8 over 8
                drawn["reconstructions"] = image_grid(self.picture_of(pair))
                if self.variational:
                    z = fixed_noise(32, model.latent_size, 2, device)
                    prior = self.reconstruct(model.decode(z))
                    drawn["samples/prior"] = image_grid(self.picture_of(prior))
            if model.latent_size == 2:
                codes = model.features(x).cpu().numpy()
                labels = y.cpu().numpy() if self.labelled else None
                figure = latent_figure(codes, labels, data.class_names, split)
                drawn["latent_space"] = figure_pixels(figure)
        return drawn
