"""trainer.precision and trainer.compile: bf16-mixed trains the digits MLP and CNN to
within a point of float32 on the CPU, fp16 is refused where it cannot run, the fp16
loss scaler skips a step with inf gradients, and a compiled run's checkpoint keeps
the plain parameter names (loads uncompiled, resumes either way)."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import FAST, compose_cfg, train_run
from resume_checks import assert_same_training_state
from torch import nn

import engine.compilation
from engine.checkpoint import load_checkpoint
from engine.errors import ConfigError
from engine.precision import Precision, check_precision
from engine.run import load_run, make_trainer, train


@pytest.mark.parametrize(
    "model", [["model=mlp"], ["model=cnn", "model.widths=[8,16]", "model.hidden_size=32"]]
)
def test_bf16_mixed_lands_within_a_point_of_fp32(tmp_path, model):
    common = ["trainer.progress_bar=false", "logger=none", "data=digits", "trainer.max_epochs=6"]
    fp32 = train_run(compose_cfg(*common, *model), tmp_path / "fp32")
    bf16 = train_run(compose_cfg(*common, *model, "trainer.precision=bf16-mixed"), tmp_path / "b")
    assert fp32["test"]["accuracy"] > 0.9
    assert abs(bf16["test"]["accuracy"] - fp32["test"]["accuracy"]) <= 0.01
    assert bf16["test"] != fp32["test"]  # it did run in bfloat16


def test_fp16_on_the_cpu_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="needs a CUDA device") as err:
        check_precision("16-mixed", torch.device("cpu"))
    assert "bf16-mixed" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="32, bf16-mixed, 16-mixed"):
        check_precision("8-mixed", torch.device("cpu"))
    assert check_precision(32, torch.device("cpu")) == "32"  # YAML's number


def test_a_gan_refuses_mixed_precision(tmp_path):
    cfg = compose_cfg(*FAST, "logger=none", "experiment=gan_ring", "trainer.precision=bf16-mixed")
    with pytest.raises(ConfigError, match="step of its own"):
        make_trainer(cfg, tmp_path)


def test_the_fp16_scaler_skips_a_step_with_inf_gradients_and_halves_its_scale():
    # The scaler's logic is the device's; fp16 autocast runs on the CPU for this check.
    precision = Precision("16-mixed", torch.device("cpu"))
    layer = nn.Linear(2, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    scale = precision.scaler.get_scale()
    with precision.autocast():
        loss = layer(torch.tensor([[1.0, 2.0]])).sum() * torch.tensor(float("inf"))
    precision.backward(loss)
    precision.unscale(opt)
    precision.step(opt)
    assert torch.equal(layer.weight, before)  # skipped
    assert precision.scaler.get_scale() == scale / 2
    state = precision.state_dict()
    other = Precision("16-mixed", torch.device("cpu"))
    other.load_state_dict(state)
    assert other.scaler.get_scale() == scale / 2  # it goes into last.pt


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile with the eager backend: TorchDynamo traces the model (the wrapper
    and its ``_orig_mod.`` names are there) without Inductor's minutes of C++ builds."""
    real = torch.compile
    monkeypatch.setattr(engine.compilation.torch, "compile", lambda m: real(m, backend="eager"))


def test_a_compiled_runs_checkpoint_has_plain_names_and_resumes_either_way(tmp_path, eager_compile):
    common = [*FAST, "logger=none", "data=iris", "model.hidden_size=16", "trainer.patience=null"]
    every = "trainer.checkpoint_interval_s=0"
    cfg = compose_cfg(*common, every, "trainer.compile=true", "trainer.max_epochs=2")
    trainer, _ = make_trainer(cfg, tmp_path / "b")
    assert trainer.net is not trainer.model and hasattr(trainer.net, "_orig_mod")
    trainer.fit()
    names = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"].keys()
    assert names == trainer.model.state_dict().keys()
    assert not any("_orig_mod" in n for n in names)
    train_run(compose_cfg(*common, every, "trainer.max_epochs=4"), tmp_path / "a")
    # Resumed uncompiled (trainer.compile may change on resume), same bits as never compiled.
    train(compose_cfg(*common, every, "trainer.max_epochs=4", "resume=true"), tmp_path / "b")
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert_same_training_state(a, b)
    # And an uncompiled evaluation loads the compiled-then-resumed run.
    _, built, _ = load_run(tmp_path / "a", "last")
    assert built.model.state_dict().keys() == names


def test_no_cpp_compiler_trains_uncompiled_with_one_line(monkeypatch, caplog):
    monkeypatch.setattr(engine.compilation, "c_compiler", lambda: None)
    model = nn.Linear(2, 2)
    with caplog.at_level(logging.WARNING, logger="engine.compilation"):
        assert engine.compilation.compiled(model, torch.device("cpu")) is model
    (record,) = caplog.records
    assert "no C++ compiler" in record.getMessage() and "\n" not in record.getMessage()
