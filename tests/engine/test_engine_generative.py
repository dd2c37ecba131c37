"""Adversarial and reconstruction training in the shared trainer, end to end: what they
report, what they draw, exact resume with two optimizers, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from conftest import train_run as train
from resume_checks import Killed, assert_same_training_state, kill_after_epoch_log
from run_events import RunEvents
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.errors import CheckpointError, ConfigError
from engine.report.evaluation import evaluate_runs
from engine.report.sampling import draw_samples
from engine.run import load_run, make_trainer

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
    scalars = set(RunEvents(tmp_path).Tags()["scalars"])
    assert {"train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"} <= scalars
    assert {"train/loss_d_step", "train/loss_g_step", "val/modes_covered"} <= scalars
    assert {"lr/generator", "lr/discriminator"} <= scalars and "lr" not in scalars
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


@pytest.mark.parametrize(
    "extra",
    [[], ["task.d_steps=2", "sched=linear", "model.norm=batch", "optim_d=sgd", "model.pack=2"]],
    ids=["plain", "d_steps-linear-batchnorm-sgd-pack"],
)
def test_gan_resume_after_a_kill_continues_exactly(tmp_path, monkeypatch, extra):
    # As the trainer's own resume test: run B has the final config (a linear schedule's
    # length is the run's) and is killed during epoch 3, after its steps and logs but
    # before its checkpoint; resumed from epoch 2 it must end in run A's bits.
    common = [*QUIET, *GAN, *extra, "trainer.max_epochs=3", "trainer.checkpoint_interval_s=0"]
    straight = train(compose_cfg(*common), tmp_path / "a")
    trainer, _ = make_trainer(compose_cfg(*common), tmp_path / "b")
    kill_after_epoch_log(trainer, 3, monkeypatch)
    with pytest.raises(Killed):
        trainer.fit()
    resumed = train(compose_cfg(*common, "resume=true"), tmp_path / "b")
    assert resumed["test"] == straight["test"] and resumed["steps"] == straight["steps"]
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)
    assert_same_training_state(a, b)  # weights, both optimizers and schedules, RNGs
    assert a["optimizers"].keys() == {"generator", "discriminator"}


def test_checkpoints_from_before_several_optimizers_still_resume(tmp_path):
    trainer, _ = make_trainer(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "a")
    trainer.fit()
    state = trainer.state_dict()
    legacy = {k: v for k, v in state.items() if k not in ("optimizers", "schedulers")}
    legacy |= {"optimizer": state["optimizers"]["model"], "scheduler": state["schedulers"]["model"]}
    other, _ = make_trainer(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "b")
    other.load_state_dict(legacy)
    assert_same_training_state(other.state_dict(), state)


def test_evaluation_and_pictures_leave_weights_batchnorm_and_rng_alone(tmp_path):
    cfg = compose_cfg(*QUIET, *GAN, "model.norm=batch", "trainer.max_epochs=1")
    trainer, built = make_trainer(cfg, tmp_path)
    trainer.fit()
    before = {k: v.clone() for k, v in built.model.state_dict().items()}
    rng = torch.get_rng_state()
    built.task.evaluate(built.model, built.loss_fn, built.data, "val")
    built.task.pictures(built.model, built.data, "val")
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in built.model.state_dict().items():
        assert torch.equal(value, before[key]), key  # running means and vars included
    assert built.model.training  # put back as it was


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


def test_vae_evaluation_samples_the_posterior_with_fixed_noise(tmp_path):
    trainer, built = make_trainer(compose_cfg(*QUIET, *VAE, "trainer.max_epochs=2"), tmp_path)
    trainer.fit()
    model, task, data = built.model, built.task, built.data
    rng = torch.get_rng_state()
    metrics = task.evaluate(model, built.loss_fn, data, "val")
    assert torch.equal(torch.get_rng_state(), rng)  # the training RNG is untouched
    assert task.evaluate(model, built.loss_fn, data, "val") == metrics  # the same draws
    x = data.splits["val"][0]
    model.eval()
    mu, logvar = model.posterior(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    logits = model.decode(mu + (0.5 * logvar).exp() * eps)  # one z ~ q(z|x) per image
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    assert metrics["recon"] == pytest.approx(recon.item() / len(x), rel=1e-5)


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
        ([*GAN, "model.pack=4", "trainer.batch_size=3"], "smaller than model.pack=4"),
        ([*GAN[:3], "data=digits", "model.output=sigmoid"], "add data.scale=minmax"),
        (["optim_d=sgd"], "optim_d=sgd sets a GAN discriminator's optimizer"),
        ([*GAN, "sched=plateau"], "sched=plateau watches the one training loss"),
    ],
)  # fmt: skip
def test_impossible_combinations_are_one_line(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        make_trainer(compose_cfg(*QUIET, *overrides), tmp_path)
    assert "\n" not in str(e.value)


def test_probe_weights_follow_its_own_seed_not_the_encoders(tmp_path):
    train(compose_cfg(*QUIET, *AE, "trainer.max_epochs=1"), tmp_path / "ae")
    heads = []
    for seed in (1, 2, 1):
        probe = ["model=probe", f"model.run={tmp_path / 'ae'}", "data_seed=0", f"seed={seed}"]
        cfg = compose_cfg(*QUIET, *probe)
        _, built = make_trainer(cfg, tmp_path / f"probe{len(heads)}")
        heads.append(next(built.model.head.parameters()).detach().clone())
    assert not torch.equal(heads[0], heads[1]) and torch.equal(heads[0], heads[2])


def test_probe_on_an_encoder_of_other_data_names_the_difference(tmp_path):
    train(compose_cfg(*QUIET, *VAE, "trainer.max_epochs=1"), tmp_path / "vae")
    cfg = compose_cfg(*QUIET, "model=probe", f"model.run={tmp_path / 'vae'}")
    with pytest.raises(ConfigError, match=r"data\.scale='minmax' there, 'standard' here"):
        make_trainer(cfg, tmp_path / "probe")
    cfg = compose_cfg(*QUIET, "model=probe", f"model.run={tmp_path / 'vae'}", "data.scale=minmax")
    make_trainer(cfg, tmp_path / "probe")  # the same data: fine


def test_discriminator_optimizer_from_values_alone_is_optims_with_them(tmp_path):
    cfg = compose_cfg(*QUIET, *GAN, "optim.lr=0.003", "+optim_d.lr=0.0005")
    trainer, _ = make_trainer(cfg, tmp_path)
    d = trainer.optimizers["discriminator"]
    assert isinstance(d, torch.optim.Adam) and d.param_groups[0]["lr"] == 0.0005


def test_probe_on_a_classifier_reads_the_features_its_head_read(tmp_path):
    # Any classifier is an encoder: its head comes off, a new one trains on the frozen rest.
    train(compose_cfg(*QUIET, "trainer.max_epochs=2", "model.hidden_size=16"), tmp_path / "mlp")
    _, mlp, _ = load_run(tmp_path / "mlp")
    probe = ["model=probe", f"model.run={tmp_path / 'mlp'}", "data.labels_per_class=5"]
    trainer, built = make_trainer(compose_cfg(*QUIET, *probe), tmp_path / "probe")
    assert built.model.latent_size == 16 and isinstance(
        built.model.backbone.head, torch.nn.Identity
    )
    trained = [p for g in trainer.optimizer.param_groups for p in g["params"]]
    assert {id(p) for p in trained} == {id(p) for p in built.model.head.parameters()}
    trainer.fit()
    source = mlp.model.state_dict()
    for key, value in built.model.backbone.state_dict().items():
        assert torch.equal(value, source[key]), key  # weights and batch norm statistics


def test_probe_on_a_run_without_an_encoder_is_one_line(tmp_path):
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1"), tmp_path / "gan")
    cfg = compose_cfg(*QUIET, "model=probe", f"model.run={tmp_path / 'gan'}")
    with pytest.raises(ConfigError, match="is a 'gan' run of task 'adversarial'; model 'probe'"):
        make_trainer(cfg, tmp_path / "probe")


def test_checkpoint_of_another_model_or_shape_is_one_line(tmp_path):
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1"), tmp_path / "gan")
    train(compose_cfg(*QUIET, *GAN, "trainer.max_epochs=1", "model.latent_size=3"), tmp_path / "z3")
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "mlp")
    with pytest.raises(CheckpointError, match="holds a 'mlp' model, not this run's 'gan'"):
        load_run(tmp_path / "gan", str(tmp_path / "mlp/checkpoints/last.pt"))
    with pytest.raises(CheckpointError, match="latent_size=3 there, 8 here"):
        load_run(tmp_path / "gan", str(tmp_path / "z3/checkpoints/last.pt"))


def test_sample_script_errors_are_one_line(tmp_path, scripts):
    train(compose_cfg(*QUIET, *VAE, "trainer.max_epochs=1"), tmp_path / "vae")
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path / "mlp")
    np.save(tmp_path / "z.npy", np.zeros((4, 3), dtype=np.float32))
    cases = [
        ([f"run_dir={tmp_path / 'vae'}", f"latent={tmp_path / 'z.npy'}"], "its latent_size is 8"),
        ([f"run_dir={tmp_path / 'mlp'}"], "sample.py draws from a gan or vae run"),
        ([f"run_dir={tmp_path / 'nowhere'}"], "is not a run directory"),
    ]
    for args, message in cases:
        done = scripts.run("sample.py", *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = scripts.run("sample.py", f"run_dir={tmp_path / 'vae'}", "n=5")
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "vae/samples/samples.npy").shape == (5, 1, 8, 8)
