"""Self-supervised tasks: masks hide exactly their share, the masked loss counts only
the hidden positions, every task trains and resumes exactly, and bad input is one line."""

from __future__ import annotations

import pytest
import torch
from conftest import FAST, compose_cfg, train_run
from resume_checks import check_resume_after_kill
from torch import nn

from engine.errors import ConfigError
from engine.run import make_trainer, train
from engine.tasks.self_supervised import Masked, draw_mask

QUIET = ["logger=none", "trainer.progress_bar=false"]
# Three of digits' ten classes: a third of the samples, for the tests whose claims (every
# family trains, probes are reported, resume is exact) hold on any data (4x less time).
SMALL = ["data.classes=[0,1,2]"]


def test_image_mask_hides_whole_squares_in_the_share_asked() -> None:
    x = torch.zeros(5, 3, 8, 8)
    mask = draw_mask(x, "image", 0.25, 2, generator=torch.Generator().manual_seed(0))
    assert mask.shape == x.shape
    assert (mask == mask[:, :1]).all()  # every channel of a pixel alike
    squares = mask[:, 0].reshape(5, 4, 2, 4, 2)  # (B, Hu, p, Wu, p)
    assert (squares == squares[:, :, :1, :, :1]).all()  # whole 2x2 squares
    assert squares[:, :, 0, :, 0].sum((1, 2)).tolist() == [4] * 5  # round(0.25 * 16) each
    again = draw_mask(x, "image", 0.25, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)
    other = draw_mask(x, "image", 0.25, 2, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(mask, other)


def test_sequence_mask_hides_whole_real_steps_only() -> None:
    x = torch.zeros(4, 10, 3)
    lengths = torch.tensor([10, 6, 4, 1])
    mask = draw_mask(x, "sequence", 0.5, 1, lengths, torch.Generator().manual_seed(0))
    assert (mask == mask[..., :1]).all()  # whole steps
    steps = mask[..., 0]
    assert steps.sum(1).tolist() == [5, 3, 2, 1]  # round(0.5 * length), at least one
    padded = torch.arange(10)[None] >= lengths[:, None]
    assert not steps[padded].any()


class Echo(nn.Module):
    """Outputs a fixed tensor through one parameter (to read gradients per position)."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = nn.Parameter(out.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.flatten(1)


def test_masked_loss_counts_only_hidden_positions() -> None:
    """Outputs right at the hidden positions and wrong everywhere else: loss 0. The
    gradient is zero at every visible position and the loss is the mean over the
    hidden ones."""
    from losses import create_loss

    task = Masked(mask_ratio=0.5, patch_size=2)
    task.input_kind, task.per_token, task.loss_fn = "image", False, create_loss("mse")
    x = torch.randn(3, 1, 4, 4)
    mask = draw_mask(x, "image", 0.5, 2, generator=torch.Generator().manual_seed(7))
    wrong = x + 5.0
    model = Echo(torch.where(mask, x, wrong))
    loss = task.batch_loss(model, x, torch.Generator().manual_seed(7))
    assert loss.item() == 0.0
    model = Echo(wrong)
    loss = task.batch_loss(model, x, torch.Generator().manual_seed(7))
    assert loss.item() == pytest.approx(25.0)  # (5)² on each hidden position
    loss.backward()
    grad = model.out.grad
    assert (grad[~mask] == 0).all() and (grad[mask] != 0).all()


@pytest.mark.parametrize(
    "model", ["cnn", "mlp", "transformer", "gru", "lstm", "rnn", "transformer-patches"]
)
def test_masked_trains_every_family_and_reports_the_probes(model, tmp_path) -> None:
    extra = ["model=transformer", "model.tokens=patches"] if model == "transformer-patches" else []
    cfg = compose_cfg(
        *QUIET,
        *SMALL,
        "trainer.max_epochs=1",
        "task=masked",
        "loss=mse",
        *(extra or [f"model={model}"]),
    )
    metrics = train(cfg, tmp_path)
    test = metrics["test"]
    assert test["loss"] > 0 and 0.1 < test["linear_probe"] <= 1 and 0.1 < test["knn_accuracy"] <= 1


def test_masked_on_a_sequence_regression_has_no_probe(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "trainer.max_epochs=1", "task=masked", "loss=mse", "data=sine",
                      "data.params.n_samples=500", "model=gru")  # fmt: skip
    test = train(cfg, tmp_path)["test"]
    assert set(test) == {"loss"}


def test_masked_resume_after_a_kill_continues_exactly(tmp_path, monkeypatch) -> None:
    common = [*QUIET, *SMALL, "task=masked", "loss=mse", "model=cnn", "trainer.max_epochs=3",
              "trainer.checkpoint_interval_s=0", "task.probe_every=1"]  # fmt: skip
    check_resume_after_kill(common, tmp_path, monkeypatch, 3)


def test_probes_during_training_are_logged_every_few_epochs(tmp_path) -> None:
    cfg = compose_cfg(*FAST, *SMALL, "logger=none", "trainer.max_epochs=4", "task=masked",
                      "loss=mse", "task.probe_every=2")  # fmt: skip
    trainer, _ = make_trainer(cfg, tmp_path)
    logged = []
    trainer.logger.scalars = lambda values, step: logged.append(values)
    trainer.fit()
    probed = [v["epoch"] for v in logged if "val/linear_probe" in v]
    assert probed == [2, 4]


@pytest.mark.parametrize("ratio", [0, 1, 1.5])
def test_mask_ratio_outside_the_open_interval_is_one_line(ratio, tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=masked", "loss=mse", f"task.mask_ratio={ratio}")
    with pytest.raises(ConfigError, match=r"task 'masked': mask_ratio must be in \(0, 1\)"):
        train(cfg, tmp_path)


def test_a_model_without_a_linear_head_cannot_be_probed(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=masked", "loss=mse", "model=autoencoder")
    with pytest.raises(ConfigError, match="model 'autoencoder'"):
        train(cfg, tmp_path)


def test_projector_gets_the_test_features(tmp_path) -> None:
    cfg = compose_cfg(*FAST, *SMALL, "trainer.max_epochs=1", "task=masked", "loss=mse")
    train_run(cfg, tmp_path)
    assert list(tmp_path.rglob("projector_config.pbtxt"))


@pytest.mark.parametrize("task", ["simclr", "vicreg"])
def test_two_view_task_trains_and_reports_the_probes(task, tmp_path) -> None:
    cfg = compose_cfg(*QUIET, *SMALL, "trainer.max_epochs=1", f"task={task}", f"loss={LOSS[task]}",
                      "model=cnn", "augment=light")  # fmt: skip
    test = train(cfg, tmp_path)["test"]
    assert test["loss"] > 0 and 0.1 < test["linear_probe"] <= 1


LOSS = {"simclr": "nt_xent", "vicreg": "vicreg"}


@pytest.mark.parametrize("task", ["simclr", "vicreg"])
def test_two_view_resume_after_a_kill_continues_exactly(task, tmp_path, monkeypatch) -> None:
    common = [*QUIET, *SMALL, f"task={task}", f"loss={LOSS[task]}", "model=cnn", "augment=strong",
              "trainer.max_epochs=2", "trainer.checkpoint_interval_s=0"]  # fmt: skip
    check_resume_after_kill(common, tmp_path, monkeypatch, 2)


@pytest.mark.parametrize("task", ["simclr", "vicreg"])
def test_two_views_without_augmentation_is_one_line(task, tmp_path) -> None:
    cfg = compose_cfg(*QUIET, f"task={task}", f"loss={LOSS[task]}", "augment=none")
    with pytest.raises(ConfigError, match=f"task '{task}' compares two augmented views"):
        train(cfg, tmp_path)


def test_masked_refuses_augmentation(tmp_path) -> None:
    cfg = compose_cfg(*QUIET, "task=masked", "loss=mse", "augment=light")
    with pytest.raises(ConfigError, match="task 'masked' trains with its own step"):
        train(cfg, tmp_path)
