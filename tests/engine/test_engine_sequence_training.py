"""Sequence data in the shared trainer: padded batches with lengths, a target per
step, truncated backpropagation through time, and the pictures of attention."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.data import build_data, call_model
from engine.errors import ConfigError
from engine.report.pictures import encode_png
from engine.run import make_trainer, train

QUIET = ["logger=none", "trainer.max_epochs=1"]
ADDING = ["data=adding", "data.params.n_samples=200", "data.params.length=12"]
COPY = ["data=copy", "data.params.n_samples=200", "data.params.delay=4"]
SMALL_LSTM = ["model=lstm", "model.hidden_size=8"]


def trainer_for(tmp_path, *overrides):
    cfg = compose_cfg(*FAST, *QUIET, *overrides)
    trainer, built = make_trainer(cfg, tmp_path)
    return trainer, built


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def first_batch(trainer):
    return next(trainer.data.batches("train", 32))


@pytest.mark.parametrize("data", [ADDING, COPY], ids=["one_target", "step_targets"])
def test_a_window_as_long_as_the_sequence_is_full_bptt(tmp_path, data):
    trainer, _ = trainer_for(tmp_path, *SMALL_LSTM, *data)
    x, t = first_batch(trainer)
    out, _, loss, _ = trainer._forward_backward(x, t)
    full = grads(trainer.model)
    trainer.cfg.tbptt_window = x.shape[1]
    out_w, _, loss_w, _ = trainer._forward_backward_truncated(x, t)
    torch.testing.assert_close(loss_w, loss)
    torch.testing.assert_close(out_w, out)
    truncated = grads(trainer.model)
    assert full.keys() == truncated.keys()
    for name in full:
        torch.testing.assert_close(truncated[name], full[name], msg=name)


def test_shorter_windows_keep_the_loss_but_cut_the_gradient_path(tmp_path):
    trainer, _ = trainer_for(tmp_path, *SMALL_LSTM, *ADDING)
    x, t = first_batch(trainer)
    _, _, loss, _ = trainer._forward_backward(x, t)
    full = grads(trainer.model)
    trainer.cfg.tbptt_window = 5  # 12 steps: windows of 5, 5 and 2
    _, _, loss_w, _ = trainer._forward_backward_truncated(x, t)
    torch.testing.assert_close(loss_w, loss)  # the forward pass is the same
    cut = grads(trainer.model)
    # The input weights get no gradient from the steps before the last window.
    assert not torch.allclose(cut["rnn.weight_ih_l0"], full["rnn.weight_ih_l0"])


def test_step_target_windows_add_up_to_the_mean_loss(tmp_path):
    trainer, _ = trainer_for(tmp_path, *SMALL_LSTM, *COPY)
    x, t = first_batch(trainer)
    _, _, loss, _ = trainer._forward_backward(x, t)
    trainer.cfg.tbptt_window = 3
    out, tw, loss_w, _ = trainer._forward_backward_truncated(x, t)
    torch.testing.assert_close(loss_w, loss)
    assert out.shape[0] == tw.shape[0] == t.numel()


def test_truncated_bptt_trains_end_to_end(tmp_path):
    cfg = compose_cfg(*FAST, *QUIET, *SMALL_LSTM, *ADDING, "trainer.tbptt_window=4")
    metrics = train(cfg, tmp_path)
    assert metrics["steps"] >= 1 and np.isfinite(metrics["test"]["mse"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=mlp"], "needs a unidirectional recurrent model, not model 'mlp'"),
        (["model=gru", "model.bidirectional=true"], "with bidirectional=true"),
    ],
)
def test_truncated_bptt_needs_a_unidirectional_recurrent_model(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        trainer_for(tmp_path, *ADDING, "trainer.tbptt_window=4", *overrides)


def test_truncated_bptt_refuses_padded_batches_before_training(tmp_path):
    with pytest.raises(ConfigError, match="padded sequences"):
        trainer_for(
            tmp_path, *SMALL_LSTM, *ADDING, "+data.params.min_length=6", "trainer.tbptt_window=4"
        )
    assert not (tmp_path / "checkpoints").exists()


def test_padded_batches_carry_their_lengths_to_the_model(tmp_path):
    cfg = compose_cfg(*FAST, *QUIET, *SMALL_LSTM, *ADDING, "+data.params.min_length=6")
    trainer, built = make_trainer(cfg, tmp_path)
    (x, lengths), _ = first_batch(trainer)
    assert x.shape[1] == 12 and lengths.min() >= 6 and lengths.max() <= 12
    assert not x[torch.arange(12)[None, :] >= lengths[:, None]].any()  # padding is zero
    # The model reads the lengths: the padded steps do not change its output.
    model = built.model.eval()
    with torch.no_grad():
        out = call_model(model, (x, lengths))
        garbage = x.clone()
        garbage[torch.arange(12)[None, :] >= lengths[:, None]] = 5.0
        torch.testing.assert_close(call_model(model, (garbage, lengths)), out)
    metrics = train(cfg, tmp_path / "run")
    assert np.isfinite(metrics["test"]["mse"])


def test_scaling_of_padded_sequences_uses_the_real_steps_only():
    cfg = compose_cfg(*ADDING, "+data.params.min_length=4", "data.scale=standard").data
    data = build_data(cfg, seed=0)
    x, n = data.splits["train"][0], data.lengths["train"]
    real = x[torch.arange(x.shape[1])[None, :] < n[:, None]]  # (steps, F)
    torch.testing.assert_close(real.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(real.std(0), torch.ones(2), atol=1e-4, rtol=0)


def test_a_target_per_step_trains_and_reports_per_step_accuracy(tmp_path):
    cfg = compose_cfg(*FAST, *QUIET, *SMALL_LSTM, *COPY)
    metrics = train(cfg, tmp_path)
    assert 0 <= metrics["test"]["accuracy"] <= 1
    data = build_data(cfg.data, seed=0)
    assert data.spec.step_targets and data.splits["train"][1].ndim == 2


def test_a_model_without_per_step_outputs_is_refused_for_step_targets(tmp_path):
    with pytest.raises(ConfigError, match="target at every time step; use a model with per-step"):
        trainer_for(tmp_path, *COPY, "model=mlp")


def test_recurrent_configs_clip_gradients_by_default_and_the_command_line_wins():
    for name in ("rnn", "lstm", "gru"):
        assert compose_cfg(f"model={name}").trainer.grad_clip == 1.0
    assert compose_cfg("model=mlp").trainer.grad_clip is None
    assert compose_cfg("model=lstm", "trainer.grad_clip=null").trainer.grad_clip is None


def test_png_encoder_round_trips_through_pil():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, size=(4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgb)))), rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(grey)))), grey)


def test_transformer_attention_of_a_test_sample_goes_to_tensorboard(tmp_path):
    cfg = compose_cfg(
        *FAST,
        "trainer.max_epochs=1",
        "model=transformer",
        "model.hidden_size=16",
        "model.num_layers=2",
        "model.num_heads=2",
    )
    train(cfg, tmp_path)
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert "attention/test_sample_0" in events.Tags()["images"]
    image = events.Images("attention/test_sample_0")[-1]
    picture = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    assert picture.shape == (image.height, image.width, 3)


def test_binary_labels_per_step_train_with_bce(tmp_path):
    cfg = compose_cfg(*FAST, *QUIET, *SMALL_LSTM, *COPY, "data.params.num_symbols=1", "loss=bce")
    metrics = train(cfg, tmp_path)  # one logit per step: targets (B, T) -> (B, T, 1)
    assert 0 <= metrics["test"]["accuracy"] <= 1
