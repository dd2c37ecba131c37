"""How much time does the trainer add, around a task's own training step (a GAN's two
players), over a bare PyTorch GAN loop?

    make bench            # or: python bench/gan_overhead.py [--epochs 40] [--runs 10]

Both loops train experiment=gan_ring's GAN (MLPs, pack 2, Adam for each player,
linear decay) on the ring for the same number of steps, in this one process, with
the same threads. The trainer runs as a user runs it: progress bar, TensorBoard
(losses every step, samples drawn every epoch), validation on 2,500 samples with the
mode metrics, checkpoints. The bare loop is what one writes by hand: shuffle, slice,
one discriminator step on G(z) detached, one generator step through the updated D.
Last line: ``ratio=<trainer / bare>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overhead import Timing, clocks, compare, since  # noqa: E402  (bench/: the timing and the printout)

from engine.cli import compose_config  # noqa: E402
from engine.run import build, resolve_device, seed_everything  # noqa: E402


def config(epochs: int):
    return compose_config(["experiment=gan_ring", f"trainer.max_epochs={epochs}"])


def time_bare(cfg) -> Timing:
    seed_everything(cfg.seed)
    built = build(cfg, resolve_device(cfg.device))
    gan, x_train = built.model, built.data.splits["train"][0]
    betas = tuple(cfg.optim.betas)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=cfg.optim.lr, betas=betas)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=cfg.optim_d.lr, betas=betas)
    bs, n, epochs = cfg.trainer.batch_size, len(x_train), cfg.trainer.max_epochs
    total = epochs * -(-n // bs)
    decay = lambda t: 1 - min(t, total) / total  # noqa: E731
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
    gen, steps = torch.Generator().manual_seed(cfg.seed), 0
    start = clocks()
    for _ in range(epochs):
        xs = x_train[torch.randperm(n, generator=gen)]
        for i in range(0, n, bs):
            real = xs[i : i + bs]
            real = real[: len(real) - len(real) % gan.pack]
            fake = gan(torch.randn(len(real), gan.latent_size))
            d_real, d_fake = gan.discriminate(real), gan.discriminate(fake.detach())
            loss_d = F.binary_cross_entropy_with_logits(
                d_real, torch.ones_like(d_real)
            ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d_g = gan.discriminate(fake)
            loss_g = F.binary_cross_entropy_with_logits(d_g, torch.ones_like(d_g))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for s in scheds:
                s.step()
            steps += 1
    return since(start, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=10, help="alternating turns; median of")
    args = parser.parse_args()
    compare(config(args.epochs), {"bare loop": time_bare}, config(2), args.runs)


if __name__ == "__main__":
    main()
