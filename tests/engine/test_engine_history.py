"""engine.history: history.csv (one row per epoch, every train/val metric), kept exact
across a resume, and the learning curves drawn from it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import FAST, ROOT, compose_cfg
from PIL import Image

from engine.history import History, draw_learning_curves, read_history
from engine.run import train

QUIET = [*FAST, "logger=none", "trainer.checkpoint_interval_s=0"]


def test_a_run_writes_each_epochs_metrics(tmp_path):
    metrics = train(compose_cfg(*QUIET, "trainer.max_epochs=3"), tmp_path)
    history = read_history(tmp_path / "history.csv")
    assert list(history) == [
        "epoch", "step", "lr", "train/loss", "train/accuracy", "val/loss", "val/accuracy"
    ]  # fmt: skip
    assert history["epoch"].tolist() == [1, 2, 3] and history["step"][-1] == metrics["steps"]
    best = metrics["best_epoch"] - 1
    assert history["val/loss"][best] == np.float64(metrics["best_val_loss"])
    assert history["val/loss"].min() == history["val/loss"][best]


def test_a_resumed_run_has_the_history_of_an_uninterrupted_one(tmp_path):
    train(compose_cfg(*QUIET, "trainer.max_epochs=4"), tmp_path / "whole")
    train(compose_cfg(*QUIET, "trainer.max_epochs=2"), tmp_path / "resumed")
    # A row a killed run wrote past its last checkpoint (epoch 2): resume drops it.
    with (tmp_path / "resumed" / "history.csv").open("a") as f:
        f.write("3,999,0.5,9,9,9,9\r\n")
    train(compose_cfg(*QUIET, "trainer.max_epochs=4", "resume=true"), tmp_path / "resumed")
    whole = (tmp_path / "whole" / "history.csv").read_text()
    assert (tmp_path / "resumed" / "history.csv").read_text() == whole
    assert len(whole.splitlines()) == 1 + 4


def test_each_epoch_appends_its_row_and_a_new_column_rewrites_the_file(tmp_path):
    path = tmp_path / "history.csv"
    history = History(path)
    history.append({"epoch": 1, "val/loss": 0.5})
    inode = path.stat().st_ino
    history.append({"epoch": 2, "val/loss": 0.25})
    assert path.stat().st_ino == inode  # appended in place, not written anew
    assert path.read_text().splitlines() == ["epoch,val/loss", "1,0.5", "2,0.25"]
    history.append({"epoch": 3, "val/loss": 0.125, "val/accuracy": 1.0})
    assert path.read_text().splitlines() == [
        "epoch,val/loss,val/accuracy", "1,0.5,", "2,0.25,", "3,0.125,1.0"
    ]  # fmt: skip
    history.restore(history.rows[:1])  # resumed from epoch 1: the later rows go
    assert path.read_text().splitlines() == ["epoch,val/loss", "1,0.5"]
    history.append({"epoch": 2, "val/loss": 0.25})  # the rewritten file takes rows again
    history.close()  # as fit ends; a row after it opens the file again
    history.append({"epoch": 3, "val/loss": 0.125})
    assert path.read_text().splitlines() == ["epoch,val/loss", "1,0.5", "2,0.25", "3,0.125"]
    history.restore([])
    assert not path.exists()
    kept = History(None)  # a DDP rank other than 0: rows only
    kept.append({"epoch": 1})
    assert kept.rows == [{"epoch": 1}] and sorted(tmp_path.iterdir()) == []


def test_learning_curves_are_drawn_from_the_history(tmp_path):
    train(compose_cfg(*QUIET, "trainer.max_epochs=2"), tmp_path)
    out = draw_learning_curves(tmp_path, tmp_path / "curves.png")
    width, height = Image.open(out).size
    assert width > 1.5 * height  # two charts side by side: loss and accuracy
    assert draw_learning_curves(tmp_path / "nowhere", tmp_path / "x.png") is None


def test_the_command_draws_them_or_says_what_is_missing(tmp_path):
    train(compose_cfg(*QUIET, "trainer.max_epochs=1"), tmp_path)
    command = [sys.executable, "-m", "engine.history"]
    done = subprocess.run([*command, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "learning_curves.png").is_file()
    refused = subprocess.run(
        [*command, str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 2 and refused.stderr.startswith("error: give a run directory")
