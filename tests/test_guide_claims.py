"""The guide's claims about training, each shown on a model small enough to train in
well under a second, and each stated so that it fails if the claim (or the code that
implements it) is wrong.

Claims whose proof already lives elsewhere are not repeated here: that the trainer
stops a run whose loss turns NaN with one line and keeps its last good checkpoint is
``tests/engine/test_engine_trainer.py::test_divergence_is_a_training_error_and_keeps_last_checkpoint``
(and ``tests/e2e/test_e2e_errors.py`` through ``train.py``).
"""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFIG_DIR, FAST, compose_cfg
from omegaconf import OmegaConf
from run_events import RunEvents
from torch import nn

import zoo
from engine.errors import ConfigError
from engine.run import make_trainer, train
from engine.trainer import TrainerConfig


def toy_data(n: int = 256, features: int = 16, classes: int = 3, seed: int = 0):
    """Gaussian inputs; the label depends on the first three features only."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    score = torch.stack([x[:, 0], x[:, 1] - x[:, 2], -x[:, 0] + x[:, 2]], dim=1)[:, :classes]
    return x, score.argmax(dim=1)


def fit(model: nn.Module, x, y, steps: int, lr: float, penalty=None, clip: float | None = None):
    """Full-batch SGD on cross-entropy (+ penalty); returns the per-step losses."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty(model)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history.append(loss.item())
    return history


def hidden_weights(model: zoo.MLP) -> list[torch.Tensor]:
    return [block[0].weight.detach() for block in model.hidden]


# ---------------------------------------------------------------- initialization


def test_zero_init_units_stay_identical_random_init_breaks_symmetry():
    """All-zero weights: every unit of a layer gets the same gradient, so they never
    differ, however long they train. Random (xavier, he) weights make them differ."""
    x, y = toy_data()
    for name in ("zeros", "xavier_normal", "he_normal"):
        torch.manual_seed(0)
        # sigmoid: σ(0) = 1/2 is not 0, so gradients do flow from zero weights (with
        # tanh or relu, φ(0) = 0 and a zero network would not learn at all).
        model = zoo.MLP(16, 3, 8, 1, activation="sigmoid", norm="none", dropout=0.0)
        zoo.apply_initializer(model, name, generator=torch.Generator().manual_seed(0))
        fit(model, x, y, steps=50, lr=1.0)
        (w,) = hidden_weights(model)
        spread = (w - w[0]).abs().max().item()  # how far unit i's weights are from unit 0's
        if name == "zeros":
            assert w.abs().max() > 1e-2  # the layer did learn something ...
            assert spread < 1e-6  # ... but every unit learned the same thing
        else:
            assert spread > 0.1, name


# ---------------------------------------------------------------- vanishing gradients


def grad_norms(activation: str, init: str, depth: int = 12) -> tuple[float, float]:
    """(‖∂L/∂W‖ of the first layer, of the last layer) of a deep MLP, on one batch."""
    x, y = toy_data(features=32)
    torch.manual_seed(0)
    model = zoo.MLP(32, 3, 64, depth, activation=activation, norm="none", dropout=0.0)
    zoo.apply_initializer(model, init, generator=torch.Generator().manual_seed(0))
    F.cross_entropy(model(x), y).backward()
    return model.hidden[0][0].weight.grad.norm().item(), model.head.weight.grad.norm().item()


def test_deep_sigmoid_gradients_vanish_relu_with_he_init_do_not():
    """σ' <= 1/4, so each sigmoid layer scales the backpropagated gradient down; twelve
    of them leave the first layer a gradient orders of magnitude below the last's.
    ReLU's slope is 1 where active, and He init keeps the signal's size per layer."""
    first, last = grad_norms("sigmoid", "xavier_normal")
    assert first / last < 1e-4  # about 2e-8 here
    first, last = grad_norms("relu", "he_normal")
    assert 1e-2 < first / last < 1e2  # about 0.15 here: the same order of magnitude


# ---------------------------------------------------------------- exploding gradients


def explosive_model() -> nn.Module:
    """Ten ReLU layers with N(0, 1) weights: each multiplies the signal by ~√(64/2)."""
    torch.manual_seed(0)
    model = zoo.MLP(16, 3, hidden_size=64, num_layers=10, norm="none", dropout=0.0)
    return zoo.apply_initializer(model, "normal", torch.Generator().manual_seed(0), std=1.0)


def test_large_init_explodes_without_clipping_and_stays_finite_with_it():
    x, y = toy_data()
    unclipped = fit(explosive_model(), x, y, steps=30, lr=0.1)
    assert not all(math.isfinite(v) for v in unclipped)  # inf or NaN within 30 steps
    clipped = fit(explosive_model(), x, y, steps=30, lr=0.1, clip=1.0)
    assert all(math.isfinite(v) for v in clipped)


# The trainer's own divergence set-up (see test_engine_trainer.py): SGD at lr=30 on a
# perceptron overflows within two epochs unless the gradient is clipped.
DIVERGING = [
    *FAST,
    "logger=none",
    "data=diabetes",
    "model=perceptron",
    "optim=sgd",
    "optim.lr=30",
    "trainer.max_epochs=8",
]


@pytest.mark.parametrize("clip", ["trainer.grad_clip=1", "trainer.grad_clip_value=0.1"])
def test_trainer_clipping_keeps_a_diverging_run_finite(tmp_path, clip):
    metrics = train(compose_cfg(*DIVERGING, clip), tmp_path)  # no TrainingError
    assert metrics["epochs"] >= 1 and math.isfinite(metrics["test"]["loss"])


def test_grad_clip_value_bounds_every_entry(tmp_path):
    """SGD at lr=1 on one full batch: the step is the clipped gradient itself."""

    def step(*overrides: str) -> torch.Tensor:
        cfg = compose_cfg(
            *FAST,
            "logger=none",
            "data=iris",
            "model=perceptron",
            "optim=sgd",
            "optim.lr=1",
            "trainer.batch_size=100000",
            "trainer.max_epochs=1",
            *overrides,
        )
        trainer, built = make_trainer(cfg, tmp_path / str(len(list(tmp_path.iterdir()))))
        before = [p.detach().clone() for p in built.model.parameters()]
        trainer.fit()
        assert trainer.step == 1
        after = built.model.parameters()
        return torch.cat([(a - b).flatten() for a, b in zip(after, before, strict=True)])

    unclipped = step().abs()
    clipped = step("trainer.grad_clip_value=1e-3").abs()
    assert unclipped.max() > 1e-2  # the clip has something to do
    assert clipped.max().item() == pytest.approx(1e-3, rel=1e-4)
    # entries below the bound pass unchanged
    small = unclipped < 1e-3
    torch.testing.assert_close(clipped[small], unclipped[small])


@pytest.mark.parametrize(
    "override", ["trainer.grad_clip_value=0", "trainer.histogram_every_n_steps=-1"]
)
def test_bad_new_trainer_settings_are_config_errors(tmp_path, override):
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        make_trainer(compose_cfg(*FAST, "logger=none", override), tmp_path)


# ---------------------------------------------------------------- regularization


def near_zero_fraction(regularizer: str) -> float:
    """Fraction of a perceptron's weights below 1e-2 after fitting data in which only
    3 of 40 features matter (the rest only tempt the model to overfit)."""
    x, y = toy_data(n=200, features=40)
    torch.manual_seed(0)
    model = zoo.Perceptron(40, 3)
    penalty = zoo.create_regularizer(regularizer, strength=0.02) if regularizer else None
    fit(model, x, y, steps=400, lr=0.2, penalty=penalty)
    return (model.linear.weight.abs() < 1e-2).float().mean().item()


def test_l1_drives_most_weights_to_zero_l2_and_none_do_not():
    """L1 pulls with a constant force λ·sign(w), which reaches 0 and stays there; L2's
    pull 2λ·w fades as w shrinks, so it makes weights small, not zero."""
    l1, l2, none = near_zero_fraction("l1"), near_zero_fraction("l2"), near_zero_fraction(None)
    assert l1 > 0.6
    assert l2 < 0.2 and none < 0.2


def test_dropout_is_on_in_training_and_off_in_evaluation():
    """Training: about a fraction p of the hidden units are zeroed, the rest scaled by
    1/(1 − p), so the output is right on average. Evaluation: the plain network."""
    torch.manual_seed(0)
    model = zoo.MLP(10, 2, hidden_size=256, num_layers=1, dropout=0.5, norm="none")
    dropout, relu = model.hidden[0][2], model.hidden[0][1]
    seen = {}
    dropout.register_forward_hook(lambda m, i, o: seen.update(inp=i[0], out=o))
    x = torch.randn(4, 10)

    model.train()
    outs = torch.stack([model(x).detach() for _ in range(2000)])
    active = seen["inp"] > 0  # units ReLU let through
    dropped = (seen["out"][active] == 0).float().mean().item()
    assert dropped == pytest.approx(0.5, abs=0.05)
    kept = seen["out"][active] != 0
    torch.testing.assert_close(seen["out"][active][kept], 2 * seen["inp"][active][kept])
    assert outs.std(dim=0).min() > 0  # differs call to call

    model.eval()
    plain = model.head(relu(model.hidden[0][0](x)))  # the network without dropout
    torch.testing.assert_close(model(x), plain)
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    torch.testing.assert_close(outs.mean(dim=0), plain.detach(), atol=0.05, rtol=0.05)


# ---------------------------------------------------------------- seeing it


def events(run_dir) -> RunEvents:
    """The run's events, its curves (train/, val/ sub-runs) under the trainer's names."""
    return RunEvents(run_dir)


TB_SMALL = [
    *FAST,
    "logger=tensorboard",
    "data=iris",
    "model.hidden_size=16",
    "trainer.batch_size=16",
]


def test_gradient_norms_and_histograms_reach_tensorboard(tmp_path):
    metrics = train(compose_cfg(*TB_SMALL, "trainer.histogram_every_n_steps=3"), tmp_path)
    trainer, _ = make_trainer(compose_cfg(*TB_SMALL, "logger=none"), tmp_path / "shape")
    names = [n for n, _ in trainer.model.named_parameters()]
    ea = events(tmp_path)
    expected_steps = list(range(3, metrics["steps"] + 1, 3))
    assert len(expected_steps) >= 3
    for name in names:
        norms = ea.Scalars(f"grad_norm/{name}")
        assert [e.step for e in norms] == expected_steps
        assert all(math.isfinite(e.value) and e.value > 0 for e in norms), name
        for kind in ("weights", "grads"):
            hists = ea.Histograms(f"{kind}/{name}")
            assert [h.step for h in hists] == expected_steps
            assert hists[0].histogram_value.num == trainer.model.get_parameter(name).numel()
    # the gradient histogram's spread and the logged norm describe the same tensor
    name = names[0]
    h = ea.Histograms(f"grads/{name}")[0].histogram_value
    assert math.sqrt(h.sum_squares) == pytest.approx(ea.Scalars(f"grad_norm/{name}")[0].value)


def test_histograms_off(tmp_path):
    train(compose_cfg(*TB_SMALL, "trainer.histogram_every_n_steps=0"), tmp_path)
    ea = events(tmp_path)
    assert not ea.Tags()["histograms"]
    assert not [t for t in ea.Tags()["scalars"] if t.startswith("grad_norm/")]


def histogram_steps(run_dir) -> list[int]:
    """The steps of the first layer's gradient histograms."""
    ea = events(run_dir)
    return [h.step for h in ea.Histograms(ea.Tags()["histograms"][0])]


def test_a_run_past_the_first_histogram_step_logs_them_every_n_steps_only(tmp_path):
    """No extra ones at the epochs' ends before it (they cost 3% of the default run)."""
    every = ["trainer.histogram_every_n_steps=10", "trainer.patience=null"]
    metrics = train(compose_cfg(*TB_SMALL, "trainer.max_epochs=5", *every), tmp_path)
    assert metrics["steps"] >= 30
    assert histogram_steps(tmp_path) == list(range(10, metrics["steps"] + 1, 10))


def test_a_run_stopped_early_before_the_first_histogram_step_logs_them_at_its_end(tmp_path):
    """Planned for 200 epochs, stopped at the second (no epoch is better by 1000)."""
    stop = ["trainer.max_epochs=200", "trainer.patience=1", "trainer.min_delta=1000"]
    metrics = train(compose_cfg(*TB_SMALL, *stop), tmp_path)
    assert metrics["stopped_early"] and metrics["epochs"] == 2
    assert histogram_steps(tmp_path) == [metrics["steps"]]


def test_penalty_is_logged_apart_from_the_data_loss(tmp_path):
    """A huge L2 strength: the penalty dwarfs the data loss, which train/loss reports
    alone (cross-entropy over 3 classes stays near ln 3 when weights are crushed)."""
    reg = ["regularization=l2", "regularization.strength=10", "trainer.histogram_every_n_steps=0"]
    train(compose_cfg(*TB_SMALL, *reg), tmp_path / "l2")
    ea = events(tmp_path / "l2")
    penalty, loss = ea.Scalars("train/penalty"), ea.Scalars("train/loss")
    assert [e.step for e in penalty] == [e.step for e in loss] and len(loss) == 3
    assert all(p.value > 0 for p in penalty)
    assert penalty[0].value > 2 * loss[0].value  # would be impossible if loss held it
    assert all(e.value < 2 for e in loss)

    train(compose_cfg(*TB_SMALL, "trainer.histogram_every_n_steps=0"), tmp_path / "none")
    assert "train/penalty" not in events(tmp_path / "none").Tags()["scalars"]


def test_trainer_yaml_mirrors_trainer_config():
    """The new trainer switches exist in both places, with the same defaults. (An
    engine test at heart; it lives here because this change may not edit tests/engine.)"""
    yaml = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml"))
    code = {f.name: f.default for f in fields(TrainerConfig)}
    assert list(yaml) == list(code)  # field for field, in the same order
    assert yaml == code
