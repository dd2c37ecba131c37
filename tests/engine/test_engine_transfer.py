"""engine.transfer: weights load by name with a new head and one report line, frozen
parameters and buffers stay bit for bit as loaded (batch norm in eval mode) and never
reach the optimizer, parameter groups train at the configured rates (one TensorBoard
curve each), gradual unfreezing resumes exactly, torchvision-format weights load into
resnet18, and bad values are one line each."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import FAST, compose_cfg
from resume_checks import Killed, assert_same_training_state, kill_after_epoch_log
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.checkpoint import load_checkpoint
from engine.errors import ConfigError
from engine.run import make_trainer, save_config, train
from engine.transfer import Plan, TransferConfig, head_of, layer_of, layers

QUIET = [*FAST, "logger=none", "trainer.checkpoint_interval_s=0", "trainer.patience=null"]
SOURCE = "data.classes=[0,1,2,3,4]"
TARGET = ["data.classes=[5,6,7,8,9]", "data.labels_per_class=4"]


def cfg_of(*overrides: str):
    return compose_cfg(*QUIET, *overrides)


def trained(run_dir: Path, *overrides: str) -> Path:
    cfg = cfg_of(*overrides)
    save_config(cfg, run_dir)
    train(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A CNN (with batch norm) and an MLP trained briefly on digits 0-4."""
    root = tmp_path_factory.mktemp("sources")
    return {
        "cnn": trained(root / "cnn", "model=cnn", SOURCE, "trainer.max_epochs=2"),
        "mlp": trained(root / "mlp", "model.hidden_size=16", SOURCE, "trainer.max_epochs=2"),
    }


def source_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "best.pt")["model"]


# ----------------------------------------------------------------------------- layers


def test_layers_and_head_by_name(tmp_path):
    assert layer_of("blocks.0.1.weight") == "blocks.0" and layer_of("head.bias") == "head"
    assert layer_of("cls") == "cls"
    _, built = make_trainer(cfg_of("model=cnn"), tmp_path)
    model = built.model
    assert head_of(model) == "head.4"  # the classifier, not the hidden head.1
    assert layers(model) == ["blocks.0", "blocks.1", "head.1", "head.4"]


def test_gradual_unfreezing_releases_layers_top_first(tmp_path):
    _, built = make_trainer(cfg_of("model=cnn"), tmp_path)
    cfg = TransferConfig(freeze_backbone=True, unfreeze_at_epoch=2, unfreeze_every=2)
    plan = Plan(built.model, cfg)
    assert [plan.trainable_layers(e) for e in (0, 1, 2, 3, 4, 6)] == [
        set(),
        set(),
        {"head.1"},
        {"head.1"},
        {"head.1", "blocks.1"},
        {"head.1", "blocks.1", "blocks.0"},
    ]


# ----------------------------------------------------------------------------- loading


def test_weights_load_by_name_with_a_new_head(sources, tmp_path, caplog):
    src = source_weights(sources["mlp"])
    common = ["model.hidden_size=16", *TARGET]
    with caplog.at_level(logging.INFO, logger="engine.transfer.weights"):
        _, built = make_trainer(
            cfg_of(*common, "transfer=finetune", f"transfer.from={sources['mlp']}"), tmp_path / "t"
        )
    lines = [r.getMessage() for r in caplog.records if "transfer from" in r.getMessage()]
    assert lines == [
        f"transfer from {sources['mlp']}: loaded 2 layers (hidden.0, hidden.1); new: head; "
        "skipped: none"
    ]
    state = built.model.state_dict()
    for name, value in state.items():
        if name.startswith("head."):  # new, as the seed initializes it without transfer
            assert not torch.equal(value, src[name])
        else:
            assert torch.equal(value, src[name]), name  # buffers too (batch norm statistics)
    _, scratch = make_trainer(cfg_of(*common), tmp_path / "s")
    assert torch.equal(state["head.weight"], scratch.model.state_dict()["head.weight"])


def test_keep_head_keeps_the_head_for_the_same_classes_only(sources, tmp_path):
    same = cfg_of(
        "model.hidden_size=16", SOURCE, "transfer=finetune", f"transfer.from={sources['mlp']}",
        "transfer.keep_head=true",
    )  # fmt: skip
    _, built = make_trainer(same, tmp_path / "same")
    assert torch.equal(built.model.head.weight, source_weights(sources["mlp"])["head.weight"])
    other = cfg_of(
        "model.hidden_size=16", "data.classes=[5,6,7,8,9]", "transfer=finetune",
        f"transfer.from={sources['mlp']}", "transfer.keep_head=true",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"keeps a head for classes \['0', '1'"):
        make_trainer(other, tmp_path / "other")


def test_a_zoo_checkpoint_file_loads_too(sources, tmp_path):
    best = sources["cnn"] / "checkpoints" / "best.pt"
    cfg = cfg_of("model=cnn", *TARGET, "transfer=feature_extraction", f"transfer.from={best}")
    _, built = make_trainer(cfg, tmp_path)
    assert torch.equal(
        built.model.blocks[0][0].weight, source_weights(sources["cnn"])["blocks.0.0.weight"]
    )


# ----------------------------------------------------------------------------- freezing


def test_frozen_weights_and_buffers_stay_bit_for_bit(sources, tmp_path):
    cfg = cfg_of(
        "model=cnn", *TARGET, "transfer=feature_extraction", f"transfer.from={sources['cnn']}",
        "trainer.max_epochs=3",
    )  # fmt: skip
    trainer, built = make_trainer(cfg, tmp_path)
    model = built.model
    trained_ids = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert trained_ids == {id(p) for p in model.head[4].parameters()}  # frozen: not given
    trainer.fit()
    src = source_weights(sources["cnn"])
    after = model.state_dict()
    assert any("running_mean" in k for k in after)  # there is batch norm to keep still
    for name, value in after.items():
        if name.startswith("head.4."):
            assert not torch.equal(value, src[name]), name  # the new head trained
        else:
            assert torch.equal(value, src[name]), name  # weights, running stats, counts


def test_freeze_patterns_freeze_what_they_match(sources, tmp_path):
    cfg = cfg_of(
        "model=cnn", *TARGET, "transfer=finetune", f"transfer.from={sources['cnn']}",
        "transfer.freeze=[blocks.0]", "trainer.max_epochs=2",
    )  # fmt: skip
    trainer, built = make_trainer(cfg, tmp_path)
    trainer.fit()
    src = source_weights(sources["cnn"])
    after = built.model.state_dict()
    assert all(torch.equal(v, src[k]) for k, v in after.items() if k.startswith("blocks.0."))
    assert not torch.equal(after["blocks.1.0.weight"], src["blocks.1.0.weight"])


# ----------------------------------------------------------------------------- rates


def test_parameter_groups_train_at_the_configured_rates(sources, tmp_path):
    base = ["model=cnn", *TARGET, "transfer=finetune", f"transfer.from={sources['cnn']}"]
    trainer, _ = make_trainer(cfg_of(*base, "optim.lr=0.01"), tmp_path / "mult")
    rates = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert rates == pytest.approx({"backbone": 0.001, "head": 0.01})
    decay = [*base, "optim.lr=0.01", "transfer.backbone_lr_mult=1", "transfer.layer_decay=0.5"]
    trainer, _ = make_trainer(cfg_of(*decay), tmp_path / "decay")
    rates = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    expected = {"blocks.0": 0.00125, "blocks.1": 0.0025, "head.1": 0.005, "head.4": 0.01}
    assert rates == pytest.approx(expected)


def test_one_learning_rate_curve_per_group(sources, tmp_path):
    cfg = compose_cfg(
        *FAST, "model=cnn", *TARGET, "transfer=finetune", f"transfer.from={sources['cnn']}",
        "sched=cosine", "trainer.max_epochs=2",
    )  # fmt: skip
    train(cfg, tmp_path)
    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    ea.Reload()
    head = [e.value for e in ea.Scalars("lr/head")]
    backbone = [e.value for e in ea.Scalars("lr/backbone")]
    assert len(head) == len(backbone) > 1
    assert backbone == pytest.approx([0.1 * v for v in head])


# ----------------------------------------------------------------------------- gradual


def test_gradual_unfreezing_resumes_exactly_through_the_unfreeze(sources, tmp_path, monkeypatch):
    common = [
        "model=cnn", *TARGET, "transfer=gradual", f"transfer.from={sources['cnn']}",
        "transfer.unfreeze_at_epoch=2", "trainer.max_epochs=4", "sched=cosine",
    ]  # fmt: skip
    trained(tmp_path / "a", *common)
    src = source_weights(sources["cnn"])
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    assert not torch.equal(a["model"]["blocks.0.0.weight"], src["blocks.0.0.weight"])  # it joined

    cfg = cfg_of(*common)
    save_config(cfg, tmp_path / "b")
    trainer, _ = make_trainer(cfg, tmp_path / "b")
    kill_after_epoch_log(trainer, 3, monkeypatch)  # after the unfreeze (epoch index 2)
    with pytest.raises(Killed):
        trainer.fit()
    trainer.logger.close()
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert b["counters"]["epoch"] == 2  # saved before the unfreeze: the backbone as loaded
    assert torch.equal(b["model"]["blocks.0.0.weight"], src["blocks.0.0.weight"])
    train(cfg_of(*common, "resume=true"), tmp_path / "b")
    assert_same_training_state(a, load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt"))


# ----------------------------------------------------------------------------- resnet18


def test_torchvision_format_weights_load_into_resnet18_with_head_surgery(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    published = resnet18(num_classes=1000).state_dict()  # ImageNet's shapes, torchvision's names
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(published, path)
    cfg = cfg_of("model=resnet18", *TARGET, "transfer=finetune", f"transfer.from={path}")
    _, built = make_trainer(cfg, tmp_path / "run")
    state = built.model.state_dict()
    assert state["fc.weight"].shape == (5, 512)  # a new head for the five classes
    assert torch.equal(state["layer4.1.conv2.weight"], published["layer4.1.conv2.weight"])
    assert torch.equal(state["bn1.running_var"], published["bn1.running_var"])
    assert not torch.equal(
        state["conv1.weight"][:, :1, :3, :3], published["conv1.weight"][:, :1, :3, :3]
    )
    # model.weights=DEFAULT reads the same file from torch's cache: nothing downloads.
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    path.rename(tmp_path / "hub" / "checkpoints" / path.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda *a, **k: pytest.fail("download"))
    _, built = make_trainer(
        cfg_of("model=resnet18", "model.weights=DEFAULT", *TARGET), tmp_path / "d"
    )
    state = built.model.state_dict()
    assert state["fc.weight"].shape == (5, 512)
    assert torch.equal(state["layer4.1.conv2.weight"], published["layer4.1.conv2.weight"])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["transfer.freeze=[blocks.9]"], "transfer.freeze pattern 'blocks.9' matches no parameter"),
        (["transfer.layer_decay=1.5"], r"transfer.layer_decay must be in \(0, 1\]"),
        (["transfer.layer_decay=0"], r"transfer.layer_decay must be in \(0, 1\]"),
        (
            ["transfer=gradual", "transfer.unfreeze_at_epoch=3"],
            "transfer.unfreeze_at_epoch=3 is not within the 3 epochs",
        ),
        (["transfer.unfreeze_at_epoch=1"], "set transfer.freeze_backbone=true too"),
        (["transfer.backbone_lr_mult=0"], "transfer.backbone_lr_mult must be > 0"),
        (["transfer.head=body"], "transfer.head=body names no module of this model"),
        (["transfer.freeze=[head.4]"], r"freezes the head \(head.4\)"),
    ],
)
def test_bad_transfer_options_are_one_line(sources, tmp_path, overrides, says):
    base = ["model=cnn", *TARGET, "transfer=finetune", f"transfer.from={sources['cnn']}"]
    with pytest.raises(ConfigError, match=says) as e:
        make_trainer(cfg_of(*base, *overrides), tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["model=cnn"], "is a 'mlp' run; its weights do not fit model 'cnn'"),
        (
            ["model.hidden_size=16", "data=iris"],
            r"trained on inputs of shape \(1, 8, 8\); this run",
        ),
        (["model.hidden_size=16", "transfer.from=/no/such/run"], "no such run directory or file"),
        (["model.hidden_size=32"], "no tensor of it fits this model by name and shape"),
    ],
)
def test_a_source_that_does_not_fit_is_one_line(sources, tmp_path, overrides, says):
    base = ["transfer=finetune", f"transfer.from={sources['mlp']}"]
    with pytest.raises(ConfigError, match=says) as e:
        make_trainer(cfg_of(*base, *overrides), tmp_path)
    assert "\n" not in str(e.value)


def test_a_strategy_without_a_source_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="transfer=finetune starts from trained weights"):
        make_trainer(cfg_of("transfer=finetune"), tmp_path)
