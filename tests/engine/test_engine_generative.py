"""Adversarial and reconstruction training in the shared trainer, end to end: what they
report, what they draw, exact resume with two optimizers, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg, run_script
from conftest import train_run as train
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.errors import CheckpointError, ConfigError
from engine.evaluation import evaluate_runs
from engine.run import load_run, make_trainer
from engine.sampling import draw_samples

QUIET = [*FAST, "logger=none"]
GAN = ["model=gan", "task=adversarial", "loss=gan", "data=ring", "data.params.n_samples=1000"]
VAE = ["model=vae", "task=reconstruction", "loss=bce", "data.scale=minmax"]
AE = ["model=autoencoder", "task=reconstruction", "loss=mse"]


def images(run_dir) -> dict[str, int]:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0}).Reload()
    return {tag: len(events.Images(tag)) for tag in events.Tags()["images"]}


# ----------------------------------------------------------------------------- adversarial


def test_gan_run_reports_players_and_mode_metrics_and_draws_samples_each_epoch(tmp_path):
    metrics = train(compose_cfg(*FAST, *GAN), tmp_path)
    train_keys = json.loads((tmp_path / "metrics.json").read_text())["test"].keys()
    assert {"loss", "d_real", "d_fake", "modes_covered", "high_quality_fraction"} <= train_keys
    assert 0 <= metrics["test"]["modes_covered"] <= 8
    assert 0 <= metrics["test"]["high_quality_fraction"] <= 1
    assert metrics["test_checkpoint"] == "last" and metrics["epochs"] == 3  # no early stop
    events = EventAccumulator(str(tmp_path)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"} <= scalars
    assert {"train/loss_d_step", "train/loss_g_step", "val/modes_covered"} <= scalars
    assert images(tmp_path) == {"samples/generated_over_real": 3}  # one per epoch


def test_discriminator_steps_per_generator_step(tmp_path):
    trainer, _ = make_trainer(compose_cfg(*QUIET, *GAN, "task.d_steps=3"), tmp_path)
    trainer.fit()
    steps = {
        name: max(s["step"].item() for s in opt.state_dict()["state"].values())
        for name, opt in trainer.optimizers.items()
    }
    assert steps["discriminator"] == trainer.step
    assert steps["generator"] == trainer.step // 3


def test_generator_and_discriminator_take_their_own_optimizers(tmp_path):
    cfg = compose_cfg(
        *QUIET, *GAN, "optim=adam", "optim.lr=0.0002", "optim_d=sgd", "optim_d.lr=0.05"
    )
    trainer, built = make_trainer(cfg, tmp_path)
    g, d = trainer.optimizers["generator"], trainer.optimizers["discriminator"]
    assert isinstance(g, torch.optim.Adam) and g.param_groups[0]["lr"] == 0.0002
    assert d.param_groups[0]["lr"] == 0.05 and not isinstance(d, torch.optim.Adam)
    ids = lambda opt: {id(p) for group in opt.param_groups for p in group["params"]}  # noqa: E731
    assert ids(g) == {id(p) for p in built.model.generator.parameters()}
    assert ids(d) == {id(p) for p in built.model.discriminator.parameters()}
    # optim_d: null trains the discriminator with optim's settings
    trainer, _ = make_trainer(compose_cfg(*QUIET, *GAN, "optim.lr=0.003"), tmp_path / "b")
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 0.003


def test_gan_resume_continues_exactly(tmp_path):
    straight = train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=2"), tmp_path / "a")
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1"), tmp_path / "b")
    resumed = train(
        compose_cfg(*QUIET, *GAN, "trainer.max_epochs=2", "resume=true"), tmp_path / "b"
    )
    assert resumed["test"] == straight["test"]
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["optimizers"].keys() == {"generator", "discriminator"}


def test_gan_on_digits_is_scored_by_a_classifier_of_the_real_data(tmp_path):
    cfg = compose_cfg(
        *QUIET, "model=gan", "task=adversarial", "loss=gan", "data=digits", "data.scale=minmax",
        "model.output=sigmoid", "model.arch=conv", "trainer.max_epochs=1",
    )  # fmt: skip
    metrics = train(cfg, tmp_path)["test"]
    assert 0 <= metrics["confident_fraction"] <= 1 and 0 <= metrics["classes_covered"] <= 10
    assert metrics["real_confident_fraction"] > 0.5  # the judge recognizes real digits


def test_evaluate_and_sample_a_gan_run(tmp_path):
    run = tmp_path / "run"
    trained = train(compose_cfg(*QUIET, *GAN), run)
    result = evaluate_runs([run], tmp_path / "eval")
    assert result["test"] == trained["test"]  # the same fixed noise, the same numbers
    samples = np.load(tmp_path / "eval/samples.npz")["samples"]
    assert samples.shape == (2500, 2)
    assert (tmp_path / "eval/samples_generated_over_real.png").read_bytes()[:4] == b"\x89PNG"
    written = draw_samples(run, tmp_path / "s", n=10, seed=1)
    assert np.load(written[0]).shape == (10, 2) and written[1].suffix == ".png"
    again = draw_samples(run, tmp_path / "s2", n=10, seed=1)
    assert np.array_equal(np.load(written[0]), np.load(again[0]))  # seeded


# ----------------------------------------------------------------------------- reconstruction


def test_kl_is_zero_when_the_posterior_is_the_prior(tmp_path):
    _, built = make_trainer(compose_cfg(*QUIET, *VAE), tmp_path)
    model = built.model
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # mu = 0 and log σ² = 0 for every input: q(z|x) = N(0, I)
        last.weight.zero_()
        last.bias.zero_()
    metrics = built.task.evaluate(model, built.loss_fn, built.data, "val")
    assert metrics["kl"] == 0.0
    assert metrics["elbo"] == -metrics["recon"]


def test_elbo_improves_and_reconstructions_beat_the_mean_image(tmp_path):
    cfg = compose_cfg(*QUIET, *VAE, "trainer.max_epochs=15")
    trainer, built = make_trainer(cfg, tmp_path)
    before = built.task.evaluate(built.model, built.loss_fn, built.data, "val")
    trainer.fit()
    after = built.task.evaluate(built.model, built.loss_fn, built.data, "val")
    assert after["elbo"] > before["elbo"] + 5  # nats per image
    assert after["kl"] > 0.5  # the codes carry information (no posterior collapse)
    assert after["mse"] < 0.8 * after["mean_image_mse"]


def test_autoencoder_reconstructs_better_than_the_mean_image(tmp_path):
    metrics = train(compose_cfg(*QUIET, *AE, "trainer.max_epochs=10"), tmp_path)["test"]
    assert metrics["mse"] < 0.6 * metrics["mean_image_mse"]
    assert "kl" not in metrics and "elbo" not in metrics


def test_vae_draws_reconstructions_prior_samples_and_a_2d_latent_space(tmp_path):
    train(compose_cfg(*FAST, *VAE, "model.latent_size=2", "trainer.max_epochs=2"), tmp_path)
    assert images(tmp_path) == {"reconstructions": 2, "samples/prior": 2, "latent_space": 2}


def test_probe_trains_a_head_on_a_frozen_encoder(tmp_path):
    train(compose_cfg(*QUIET, *AE, "trainer.max_epochs=8"), tmp_path / "ae")
    _, ae, _ = load_run(tmp_path / "ae")
    probe = ["model=probe", f"model.run={tmp_path / 'ae'}", "optim.lr=0.01"]
    cfg = compose_cfg(*QUIET, *probe, "trainer.max_epochs=30")
    trainer, built = make_trainer(cfg, tmp_path / "probe")
    trainer.fit()
    encoder = ae.model.encoder.state_dict()
    for key, value in built.model.backbone.state_dict().items():
        assert torch.equal(value, encoder[key]), key  # as trained, untouched by the probe
    accuracy = built.task.evaluate(built.model, built.loss_fn, built.data, "test")["accuracy"]
    assert accuracy > 0.8  # 10 classes: chance is 0.1


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=gan", "data=karate"], "model 'gan' reads vector or image data, not graph"),
        ([*GAN[:3], "data=karate"], "generates vectors or images"),
        (["model=gan", "task=classification"], "trained by task=adversarial"),
        (["model=vae"], "trained by task=reconstruction"),
        (["task=adversarial", "loss=gan", "model=mlp"], "use model=gan, not 'mlp'"),
        (["task=reconstruction", "loss=mse", "model=mlp"], "use model=autoencoder or vae"),
        (["task=reconstruction", "loss=bce", "model=vae"], "add data.scale=minmax"),
        (["task=reconstruction", "loss=mse", "model=autoencoder", "task.beta=4"], "use model=vae"),
        ([*GAN, "regularization=l2"], "use regularization=none"),
        (["model=probe"], "probe needs an encoder: set model.run="),
    ],
)  # fmt: skip
def test_impossible_combinations_are_one_line(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        make_trainer(compose_cfg(*QUIET, *overrides), tmp_path)
    assert "\n" not in str(e.value)


def test_probe_on_a_run_without_an_encoder_is_one_line(tmp_path):
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "mlp")
    cfg = compose_cfg(*QUIET, "model=probe", f"model.run={tmp_path / 'mlp'}")
    with pytest.raises(ConfigError, match="is a 'mlp' run; model 'probe' needs the encoder"):
        make_trainer(cfg, tmp_path / "probe")


def test_checkpoint_of_another_model_or_shape_is_one_line(tmp_path):
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1"), tmp_path / "gan")
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1", "model.latent_size=3"), tmp_path / "z3")
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "mlp")
    with pytest.raises(CheckpointError, match="holds a 'mlp' model, not this run's 'gan'"):
        load_run(tmp_path / "gan", str(tmp_path / "mlp/checkpoints/last.pt"))
    with pytest.raises(CheckpointError, match="latent_size=3 there, 8 here"):
        load_run(tmp_path / "gan", str(tmp_path / "z3/checkpoints/last.pt"))


def test_sample_script_errors_are_one_line(tmp_path):
    train(compose_cfg(*QUIET, *VAE, "trainer.max_epochs=1"), tmp_path / "vae")
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "mlp")
    np.save(tmp_path / "z.npy", np.zeros((4, 3), dtype=np.float32))
    cases = [
        ([f"run_dir={tmp_path / 'vae'}", f"latent={tmp_path / 'z.npy'}"], "its latent_size is 8"),
        ([f"run_dir={tmp_path / 'mlp'}"], "sample.py draws from a gan or vae run"),
        ([f"run_dir={tmp_path / 'nowhere'}"], "is not a run directory"),
    ]
    for args, message in cases:
        done = run_script("sample.py", *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = run_script("sample.py", f"run_dir={tmp_path / 'vae'}", "n=5")
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "vae/samples/samples.npy").shape == (5, 1, 8, 8)
