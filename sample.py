"""Draw samples from a trained generative model, from its run directory alone.

    python sample.py run_dir=outputs/2026-11-24/10-00-00_gan_ring          # 64 samples
    python sample.py run_dir=... n=1000 seed=3 checkpoint=last
    python sample.py run_dir=<vae or autoencoder run> latent=codes.npy     # decode codes

A GAN's generator and a VAE's decoder turn z ~ N(0, I) into samples; an autoencoder
has no prior, but decodes the codes it is given. Writes samples.npy (in the data's own
units) and samples.png (a grid of images, or the points over the real data for 2-D
data) to <run_dir>/samples (or out_dir).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from engine.cli import (
    check_is_run,
    check_keys,
    check_overrides,
    display_path,
    expand_home,
    fail,
    quote_values,
    report_errors,
    report_sweep,
)

log = logging.getLogger("sample")


def sample_dir(run_dir: str | None, out_dir: str | None) -> str:
    return out_dir or f"{run_dir}/samples"


OmegaConf.register_new_resolver("sample_dir", sample_dir, replace=True)


@hydra.main(version_base="1.3", config_path="configs", config_name="sample")
@report_errors
def main(cfg: DictConfig) -> None:
    from engine.report.sampling import draw_samples  # torch and friends: after the argument checks

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    written = draw_samples(
        cfg.run_dir, out_dir, cfg.checkpoint, cfg.n, cfg.seed, cfg.latent, cfg.device
    )
    log.info("wrote " + ", ".join(display_path(p) for p in written))


if __name__ == "__main__":
    paths = ("run_dir", "out_dir", "latent", "checkpoint")  # ~/runs/x as typed
    sys.argv[1:] = quote_values(expand_home(sys.argv[1:], paths))
    check_overrides(sys.argv[1:])
    check_keys(sys.argv[1:], "sample")
    args = [a for a in sys.argv[1:] if a.startswith("run_dir=")]
    if not any(a in ("--help", "-h", "--cfg", "-c", "--info") for a in sys.argv[1:]):
        if not args:
            fail("say which run to sample: python sample.py run_dir=outputs/<date>/<time>_gan_ring")
        check_is_run(args[-1].split("=", 1)[1])
    main()
    report_sweep()
