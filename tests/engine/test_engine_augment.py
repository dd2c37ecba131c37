"""engine.augmentation: the configured augmentation reaches training batches only, is
refused in one line where it cannot apply, mixes labels through cross-entropy's soft
targets, shows in TensorBoard, and keeps resume bit-exact."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FAST, compose_cfg
from resume_checks import Killed, assert_same_training_state, kill_after_epoch_log
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import augment
from engine.augmentation import augment_generator
from engine.checkpoint import load_checkpoint
from engine.errors import ConfigError
from engine.run import make_trainer, save_config, train

# The digits (1x8x8 images) with a narrow MLP: 20 steps per epoch, a second or so.
SMALL = ["logger=none", "trainer.checkpoint_interval_s=0"]


def cfg_of(*overrides: str):
    mlp = not any(o.startswith("model=") for o in overrides)
    return compose_cfg(*FAST, *SMALL, *(["model.hidden_size=16"] if mlp else []), *overrides)


def run(run_dir, *overrides: str) -> dict:
    cfg = cfg_of(*overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    return train(cfg, run_dir)


def test_only_training_batches_are_augmented(tmp_path, monkeypatch):
    seen = []
    apply = augment.Pipeline.__call__

    def counting(self, x, generator):
        seen.append(len(x))
        return apply(self, x, generator)

    monkeypatch.setattr(augment.Pipeline, "__call__", counting)
    metrics = run(tmp_path, "augment=light", "trainer.max_epochs=2")
    # One call per training step and none for validation and test (whose batches of
    # 4096 hold a whole split, larger than any training batch).
    assert len(seen) == metrics["steps"] == 40
    assert max(seen) == 64


def test_augmentation_changes_the_run_and_the_same_seed_repeats_it(tmp_path):
    plain = run(tmp_path / "plain", "trainer.max_epochs=2")
    a = run(tmp_path / "a", "augment=strong", "trainer.max_epochs=2")
    b = run(tmp_path / "b", "augment=strong", "trainer.max_epochs=2")
    assert a["test"] == b["test"] and a["val"] == b["val"]
    assert a["test"] != plain["test"]


def test_resume_after_a_kill_is_exact_with_augmentation(tmp_path, monkeypatch):
    common = ["augment=strong", "trainer.patience=null", "trainer.max_epochs=4"]
    run(tmp_path / "a", *common)
    trainer, _ = make_trainer(cfg_of(*common), tmp_path / "b")
    kill_after_epoch_log(trainer, 3, monkeypatch)
    with pytest.raises(Killed):
        trainer.fit()
    trainer.logger.close()
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["counters"]["epoch"] == 2
    train(cfg_of(*common, "resume=true"), tmp_path / "b")
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert_same_training_state(a, b)
    metrics = [json.loads((tmp_path / r / "metrics.json").read_text()) for r in "ab"]
    assert metrics[0]["test"] == metrics[1]["test"]


def test_the_generator_is_a_function_of_seed_and_epoch():
    draw = [torch.rand(3, generator=augment_generator(0, e, torch.device("cpu"))) for e in (0, 1)]
    again = torch.rand(3, generator=augment_generator(0, 1, torch.device("cpu")))
    assert torch.equal(draw[1], again) and not torch.equal(draw[0], draw[1])


PADDED = ["data=adding", "data.params.n_samples=200", "data.params.length=12",
          "+data.params.min_length=4", "model=lstm", "model.hidden_size=8"]  # fmt: skip


def test_padded_sequences_train_with_augmentation_within_their_lengths(tmp_path, monkeypatch):
    batches = []
    apply = augment.Pipeline.__call__

    def spy(self, x, generator):
        out = apply(self, x, generator)
        batches.append((x, out))
        return out

    monkeypatch.setattr(augment.Pipeline, "__call__", spy)
    metrics = run(tmp_path, *PADDED, "augment=strong", "trainer.max_epochs=1")
    assert len(batches) == metrics["steps"] > 0
    for (x, lengths), (out, out_lengths) in batches:
        assert out_lengths is lengths and out.shape == x.shape
        padding = torch.arange(x.shape[1])[None, :] >= lengths[:, None]  # (B, T)
        assert padding.any() and not out[padding].any()  # the padding stays zero
        assert not torch.equal(out[~padding], x[~padding])


def test_mixing_padded_sequences_is_one_line():
    """Label mixing of classification data with lengths: refused (no such data set
    ships padded, so the run's data and task are stood in for)."""
    from types import SimpleNamespace

    from engine.augmentation import build_augment_of

    spec = SimpleNamespace(padded=True, input_kind="sequence", input_shape=(12, 1),
                           target_kind="classification")  # fmt: skip
    data = SimpleNamespace(spec=spec, stats={}, device=torch.device("cpu"))
    task = SimpleNamespace(takes_augment=True, loss_target="onehot", needs_views=False)
    assert build_augment_of({"name": "strong"}, data, task, "cross_entropy")
    with pytest.raises(ConfigError) as e:
        build_augment_of({"name": "mixup"}, data, task, "cross_entropy")
    assert "padded sequences" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("option", ["mixup", "cutmix"])
def test_mixing_trains_on_soft_targets_through_cross_entropy(tmp_path, monkeypatch, option):
    cfg = cfg_of(f"augment={option}", "trainer.max_epochs=1")
    assert cfg.loss.name == "cross_entropy"  # the option brings the loss of soft targets
    targets = []

    def spy(trainer, x, t):
        out, t, loss, penalty = forward_backward(trainer, x, t)
        targets.append(t)
        return out, t, loss, penalty

    from engine.trainer import Trainer

    forward_backward = Trainer.forward_backward
    monkeypatch.setattr(Trainer, "forward_backward", spy)
    save_config(cfg, tmp_path)
    metrics = train(cfg, tmp_path)
    assert metrics["steps"] == len(targets) == 20
    t = torch.cat(targets)
    torch.testing.assert_close(t.sum(1), torch.ones(len(t)))  # every row a distribution
    assert ((t > 0) & (t < 1)).any()  # and some of them mixed


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["data=iris", "augment=light"], "applies to image and sequence inputs, not vector"),
        (["data=karate", "model=gcn", "augment=light"], "not graph; for graph data"),
        (["augment=color", "augment.saturation=0.3"], "need 3 colour channels"),
        (["augment=jitter"], "for image data use augment=affine"),
        (["augment=mixup", "loss=sparse_cross_entropy"], "use loss=cross_entropy"),
        (["model=autoencoder", "task=reconstruction", "loss=mse", "augment=light"], "own step"),
        (["augment=affine", "augment.degrees=120"], "degrees must be in [0, 90)"),
        ([*PADDED, "task=simclr", "loss=nt_xent", "augment=strong"], "two augmented views"),
    ],
)
def test_what_cannot_work_is_one_line(tmp_path, overrides, said):
    with pytest.raises(ConfigError) as e:
        make_trainer(cfg_of(*overrides), tmp_path)
    assert said in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "overrides",
    [["model.hidden_size=16", "augment=strong"], ["data=sine", "data.params.n_samples=200",
                                                  "augment=jitter"], [*PADDED, "augment=strong"]],
    ids=["images", "sequences", "padded_sequences"],
)  # fmt: skip
def test_tensorboard_shows_original_and_augmented_samples(tmp_path, overrides):
    cfg = compose_cfg(*FAST, *overrides, "trainer.max_epochs=1")
    save_config(cfg, tmp_path)
    train(cfg, tmp_path)
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    (picture,) = events.Images("augment/train")
    assert picture.step == 0 and picture.height >= 3 * 16  # three rows: original, 2 draws


def test_augment_list_names_every_option(scripts):
    done = scripts.run("train.py", "augment=list")
    assert done.returncode == 0, done.stderr
    for name in ["none", *augment.list_augments()]:
        assert f"\n  {name} " in done.stdout
