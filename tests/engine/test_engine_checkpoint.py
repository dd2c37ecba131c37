"""engine.checkpoint: atomic writes, safe loads with one-line errors, and RNG states
that round-trip through a checkpoint file."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from engine import checkpoint
from engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from engine.errors import CheckpointError


class Gadget:
    """An arbitrary class: unpickling it could run code, so weights_only refuses it."""

    def __init__(self) -> None:
        self.value = 42


def sample_state() -> dict:
    return {
        "model": {"w": torch.randn(3, 4), "b": torch.arange(4)},
        "counters": {"epoch": 3, "step": 17, "best_val_loss": 0.25, "stopped_early": False},
        "config": {"model": {"name": "mlp", "hidden": [8, 8]}, "note": None},
    }


def assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    else:
        assert a == b and type(a) is type(b)


def test_round_trip(tmp_path):
    state = sample_state()
    path = tmp_path / "sub" / "c.pt"  # the directory is created
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert loaded.pop("format_version") == checkpoint.FORMAT_VERSION
    assert_same(state, loaded)
    assert os.listdir(path.parent) == ["c.pt"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, error):
    path = tmp_path / "last.pt"
    save_checkpoint(sample_state(), path)
    before = path.read_bytes()

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 a partial zip archive")  # some bytes, then the failure
        raise error

    monkeypatch.setattr(checkpoint.torch, "save", half_save)
    with pytest.raises(type(error)):
        save_checkpoint({"model": {"w": torch.zeros(2)}}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left behind
    assert_same(sample_state()["counters"], load_checkpoint(path)["counters"])


def test_overwrite_replaces_whole_file(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"x": torch.zeros(1000)}, path)
    save_checkpoint({"x": torch.ones(2)}, path)
    assert torch.equal(load_checkpoint(path)["x"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.pt"]


def write_truncated(path):
    save_checkpoint(sample_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_random(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def write_foreign_pickle(path):
    torch.save({"format_version": checkpoint.FORMAT_VERSION, "thing": Gadget()}, path)


def write_plain_pickle(path):
    path.write_bytes(pickle.dumps(Gadget()))


def write_empty(path):
    path.write_bytes(b"")


def write_not_ours(path):
    torch.save({"w": torch.zeros(2)}, path)  # loads, but is not a zoo checkpoint


def write_a_tensor(path):
    torch.save(torch.zeros(2), path)


@pytest.mark.parametrize(
    "write",
    [
        write_truncated,
        write_random,
        write_foreign_pickle,
        pytest.param(
            write_plain_pickle,
            marks=pytest.mark.filterwarnings("ignore:Detected pickle protocol"),
        ),
        write_empty,
        write_not_ours,
        write_a_tensor,
    ],
)
def test_bad_files_give_one_line_checkpoint_error(tmp_path, write):
    path = tmp_path / "best.pt"
    write(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message and message.isprintable() and len(message) < 400
    assert "False" not in message  # never advise loading an untrusted file unsafely


def test_foreign_pickle_does_not_run(tmp_path, monkeypatch):
    """weights_only refuses to rebuild the object: its code never runs."""
    built = []
    monkeypatch.setattr(Gadget, "__setstate__", lambda self, s: built.append(s), raising=False)
    write_foreign_pickle(tmp_path / "x.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "x.pt")
    assert built == []


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint") as err:
        load_checkpoint(tmp_path / "nope.pt")
    assert str(tmp_path / "nope.pt") in str(err.value)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)  # a directory is not a checkpoint either


def draws() -> tuple:
    return (
        torch.rand(5).tolist(),
        torch.randn(3).tolist(),
        np.random.rand(5).tolist(),
        np.random.randn(3).tolist(),
        [random.random() for _ in range(5)],
        random.gauss(0, 1),
    )


@pytest.mark.parametrize("through_file", [False, True])
def test_rng_state_round_trip(tmp_path, through_file):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    # leave a cached Gaussian in numpy and in python's random: part of their state
    np.random.randn(1)
    random.gauss(0, 1)
    state = rng_state()
    if through_file:
        save_checkpoint({"rng": state}, tmp_path / "rng.pt")
        state = load_checkpoint(tmp_path / "rng.pt")["rng"]
    first = draws()
    draws()  # move every generator on
    set_rng_state(state)
    assert draws() == first


def test_rng_state_is_not_a_reference_to_the_live_state():
    torch.manual_seed(0)
    state = rng_state()
    a = torch.rand(3)
    torch.rand(10)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a)
    torch.manual_seed(123)
    assert not torch.equal(torch.rand(3), a)
