"""Samples of a trained generative model (what ``sample.py`` calls)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import zoo
from engine.errors import ConfigError
from engine.report.evaluation import run_test_checkpoint
from engine.report.pictures import encode_png
from engine.run import load_run, resolve_device, write_json
from engine.tasks.generative import fixed_noise
from zoo.modes import eval_mode


def read_codes(path: str | Path, latent_size: int, model_name: str) -> np.ndarray:
    """Codes ``(N, latent_size)`` from a .npy file, or one line saying what is wrong."""
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"latent={path} is not a readable .npy array ({e})") from None
    codes = codes[None] if codes.ndim == 1 else codes
    numeric = np.issubdtype(codes.dtype, np.number) and not np.iscomplexobj(codes)
    if (
        not numeric
        or codes.ndim != 2
        or codes.shape[1] != latent_size
        or not np.isfinite(codes).all()
    ):
        raise ConfigError(
            f"latent={path} holds an array of shape {codes.shape}; this {model_name} decodes "
            f"codes of shape (N, {latent_size}) (finite numbers): its latent_size is {latent_size}"
        )
    return codes.astype(np.float32)


@torch.inference_mode()
def draw_samples(
    run_dir: str | Path,
    out_dir: str | Path,
    checkpoint: str | None = None,
    n: int = 64,
    seed: int = 0,
    latent: str | None = None,
    device_name: str = "auto",
) -> list[Path]:
    """Decode ``n`` prior samples (or the codes in ``latent``); write samples.npy and
    samples.png to ``out_dir``; return the paths written."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    checkpoint = checkpoint or run_test_checkpoint(run_dir)
    cfg, built, _ = load_run(run_dir, checkpoint, resolve_device(device_name))
    model, data, task = built.model, built.data, built.task
    name = cfg.model.name
    capabilities = zoo.model_capabilities(name)  # as registered (zoo.capabilities)
    decodes, priors = "decode" in capabilities, zoo.models_with("variational")
    if not (decodes or "discriminate" in capabilities):
        samplers = " or ".join(sorted(zoo.models_with("discriminate") + priors))
        raise ConfigError(
            f"{run_dir} is a '{name}' run; sample.py draws from a {samplers} run (or decodes "
            f"latent=<file.npy> with the decoder of model {' or '.join(zoo.models_with('decode'))})"
        )
    device = next(model.parameters()).device
    if latent is not None:
        z = torch.as_tensor(read_codes(latent, model.latent_size, name)).to(device)
    elif decodes and "variational" not in capabilities:
        raise ConfigError(
            f"model '{name}' has no prior to sample from; train model={' or '.join(priors)}, or "
            f"decode codes of your choice with latent=<file.npy> of shape (N, {model.latent_size})"
        )
    else:
        z = fixed_noise(n, model.latent_size, seed, device)
    with eval_mode(model):
        out = model.decode(z) if decodes else model(z)
    if decodes:
        out = task.reconstruct(out)  # a Bernoulli decoder's logits -> intensities
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = data.unscale(out).cpu().numpy()
    np.save(out_dir / "samples.npy", samples)
    written = [out_dir / "samples.npy"]
    picture = task.samples_picture(out, data, "test")
    if picture is not None:
        (out_dir / "samples.png").write_bytes(encode_png(picture))
        written.append(out_dir / "samples.png")
    info = {"run_dir": str(run_dir), "checkpoint": checkpoint, "seed": seed, "n": len(samples)}
    write_json(info | {"latent": latent}, out_dir / "samples.json")
    return written
