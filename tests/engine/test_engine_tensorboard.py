"""engine.logger: what a TensorBoard user sees of a run, read back from the event files
with TensorBoard's own reader, including after an interrupted run was resumed."""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter
from pathlib import Path

import pytest
from conftest import FAST, compose_cfg
from run_events import RunEvents
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from engine.checkpoint import load_checkpoint
from engine.history import read_history
from engine.run import make_trainer, train

SMALL = ["logger=tensorboard", "data=iris", "model.hidden_size=16"]
TAGS = {
    "train/loss_step",
    "lr",
    "train/loss",
    "train/accuracy",
    "val/loss",
    "val/accuracy",
    "test/loss",
    "test/accuracy",
    "baseline/accuracy",  # the majority class on the test split
    "val_final/loss",  # the tested weights on the val split, beside test/* in HPARAMS
    "val_final/accuracy",
}


class Killed(BaseException):
    """Stands in for a kill in the middle of a run."""


def cfg_of(*overrides: str):
    return compose_cfg(*FAST, *SMALL, *overrides)


def events(run_dir: Path) -> RunEvents:
    """The run's events and its train/ and val/ sub-runs' (the curves)."""
    return RunEvents(run_dir)


def steps(ea: RunEvents, tag: str) -> list[int]:
    return [e.step for e in ea.Scalars(tag)]


def test_scalars_and_hparams(tmp_path):
    metrics = train(cfg_of("trainer.max_epochs=3"), tmp_path)
    ea = events(tmp_path)
    # a short run also logs each layer's gradient norm at each epoch's end
    assert {t for t in ea.Tags()["scalars"] if not t.startswith("grad_norm/")} == TAGS

    n_steps, n_epochs = metrics["steps"], metrics["epochs"]
    assert steps(ea, "train/loss_step") == list(range(1, n_steps + 1))
    assert len(ea.Scalars("val/loss")) == n_epochs == 3
    # The epoch counter is no chart of its own (the step axis carries it; Time Series
    # would lead with it); history.csv maps each epoch to the step its points are at.
    assert "epoch" not in ea.Tags()["scalars"]
    history = read_history(tmp_path / "history.csv")
    assert history["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert (
        history["step"].tolist() == steps(ea, "val/loss") and steps(ea, "val/loss")[-1] == n_steps
    )
    assert ea.Scalars("lr")[0].step == 1 and ea.Scalars("lr")[0].value == pytest.approx(1e-3)
    written = json.loads((tmp_path / "metrics.json").read_text())
    for name, value in written["test"].items():
        (event,) = ea.Scalars(f"test/{name}")
        assert event.value == pytest.approx(value, rel=1e-6) and event.step == n_steps
    # the final val metrics are those of the best epoch's weights (test_checkpoint=best)
    at_best = ea.Scalars("val/loss")[metrics["best_epoch"] - 1]
    assert at_best.value == pytest.approx(metrics["best_val_loss"], rel=1e-6)
    assert at_best.value == pytest.approx(metrics["val"]["loss"], rel=1e-6)

    content = ea.PluginTagToContent("hparams")
    assert content
    start = [
        plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
        for c in content.values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info")
    ]
    (info,) = start
    assert info.hparams["model.name"].string_value == "mlp"
    assert info.hparams["data.name"].string_value == "iris"
    assert info.hparams["model.hidden_size"].number_value == 16
    assert info.hparams["trainer.max_epochs"].number_value == 3
    assert "resume" not in info.hparams


def test_lr_logged_where_it_changes(tmp_path):
    metrics = train(cfg_of("trainer.max_epochs=2", "sched=cosine"), tmp_path)
    lrs = events(tmp_path).Scalars("lr")
    assert [e.step for e in lrs] == list(range(1, metrics["steps"] + 1))
    assert lrs[0].value == pytest.approx(1e-3)
    assert all(a.value > b.value for a, b in itertools.pairwise(lrs))


def test_resume_drops_what_the_interrupted_run_logged_after_its_checkpoint(tmp_path, monkeypatch):
    common = ["trainer.max_epochs=5", "trainer.checkpoint_interval_s=0", "trainer.patience=null"]
    trainer, _ = make_trainer(cfg_of(*common), tmp_path)
    scalars = trainer.logger.scalars

    def scalars_then_die(values: dict, step: int) -> None:
        scalars(values, step)
        if values.get("epoch") == 4:  # epoch 4 trained and logged, but not saved
            raise Killed

    monkeypatch.setattr(trainer.logger, "scalars", scalars_then_die)
    with pytest.raises(Killed):
        trainer.fit()  # flushes what was logged, as a writer may before a kill
    trainer.logger.close()
    saved_step = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["counters"]["step"]
    killed = events(tmp_path)
    assert steps(killed, "train/loss_step")[-1] > saved_step  # there is something to drop
    assert len(killed.Scalars("val/loss")) == 4

    metrics = train(cfg_of(*common, "resume=true"), tmp_path)
    for folder in (tmp_path, tmp_path / "train", tmp_path / "val"):  # the curves' sub-runs too
        assert len(list(folder.glob("events.out.tfevents.*"))) == 2, folder
    ea = events(tmp_path)
    assert steps(ea, "train/loss_step") == list(range(1, metrics["steps"] + 1))
    assert len(ea.Scalars("val/loss")) == metrics["epochs"] == 5
    assert read_history(tmp_path / "history.csv")["step"].tolist() == steps(ea, "val/loss")
    for tag in TAGS:
        counts = Counter(steps(ea, tag))
        assert max(counts.values()) == 1, tag
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert ea.Scalars("test/loss")[-1].value == pytest.approx(written["test"]["loss"], rel=1e-6)


def test_scalars_at_writes_what_scalars_writes_row_by_row(tmp_path):
    from engine.logger import TensorBoardLogger

    rows = [
        (1, {"train/loss_step": 0.5}),  # new: the general path, with its description
        (2, {"train/loss_step": 0.25}),  # known: the fast path
        (3, {}),  # nothing to write
        (3, {"train/loss_step": 0.125, "train/loss_d_step": 2.0}),  # one new among known
        (4, {"train/loss": 0.3, "epoch": 1}),  # a curve (sub-run train/) and a counter
        (5, {"train/loss": 0.2}),  # a known curve still goes to its sub-run
        (5, {"train/loss_d_step": 1.0}),
    ]
    for name in ("rows", "one_by_one"):
        logger = TensorBoardLogger(tmp_path / name)
        if name == "rows":
            logger.scalars_at(rows)
        else:
            for step, values in rows:
                logger.scalars(values, step)
        logger.close()
    a, b = events(tmp_path / "rows"), events(tmp_path / "one_by_one")
    assert a.Tags()["scalars"] == b.Tags()["scalars"]
    assert set(a.Tags()["scalars"]) == {"train/loss_step", "train/loss_d_step", "train/loss"}
    for tag in a.Tags()["scalars"]:
        assert [(e.step, e.value) for e in a.Scalars(tag)] == [
            (e.step, e.value) for e in b.Scalars(tag)
        ]
        assert a.SummaryMetadata(tag) == b.SummaryMetadata(tag)  # the description too
    assert steps(a, "train/loss") == [4, 5] and steps(a, "train/loss_d_step") == [3, 5]


@pytest.mark.parametrize("data", [b"", b"x", b"\x00\xff" * 37, bytes(range(256))])
def test_fast_record_checksum_equals_tensorboards(data):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as slow

    from engine.logger import masked_crc32c

    assert masked_crc32c(data) == slow(data)


def histogram_input(kind: str, n: int, g):
    import torch

    if kind == "randn":  # weights and gradients: a bell around 0
        return torch.randn(n, generator=g)
    if kind == "tiny":  # gradients of 1e-7: bucket widths near float32's resolution
        return torch.randn(n, generator=g) * 1e-7 + 3e-7
    if kind == "grid":  # many entries exactly on bucket edges
        return torch.randint(-6, 7, (n,), generator=g) * 0.1
    if kind == "constant":  # one value: buckets spanning [v - 0.5, v + 0.5]
        return torch.full((n,), 0.3)
    return torch.linspace(-1.7, 2.3, n)  # the extremes at both ends, the rest between


@pytest.mark.parametrize("kind", ["randn", "tiny", "grid", "constant", "linspace"])
def test_histogram_buckets_equal_torch_histc(kind):
    import torch

    from engine.logger import HISTOGRAM_BINS, bucket_counts

    g = torch.Generator().manual_seed(0)
    for n in (1, 7, 1000, 65_537):
        x = histogram_input(kind, n, g)
        lo, hi = (v.item() for v in torch.aminmax(x))
        low, high = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
        expected = torch.histc(x, HISTOGRAM_BINS, low, high)
        assert torch.equal(bucket_counts(x, HISTOGRAM_BINS, low, high).float(), expected)


def test_histograms_hold_each_tensors_statistics_and_histc_counts(tmp_path):
    import torch

    from engine.logger import HISTOGRAM_BINS, TensorBoardLogger

    g = torch.Generator().manual_seed(0)
    tensors = {
        "weights/a": torch.randn(3, 5, generator=g),
        "grads/a": torch.randn(3, 5, generator=g) * 1e-7,
        "weights/b": torch.full((4,), 0.3),  # one value: [v - 0.5, v + 0.5]
        "grads/b": torch.tensor([1.0, float("nan"), -2.0, float("inf")]),  # finite ones only
        "grads/c": torch.tensor([float("nan")] * 3),  # nothing finite: not written
    }
    logger = TensorBoardLogger(tmp_path)
    logger.histograms(tensors, step=7)
    logger.close()
    ea = events(tmp_path)
    assert sorted(ea.Tags()["histograms"]) == sorted(set(tensors) - {"grads/c"})
    for tag in ea.Tags()["histograms"]:
        (written,) = ea.Histograms(tag)
        h, x = written.histogram_value, tensors[tag].flatten()
        x = x[torch.isfinite(x)].double()
        lo, hi = x.min().item(), x.max().item()
        low, high = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
        counts = torch.histc(x.float(), HISTOGRAM_BINS, low, high).tolist()
        assert written.step == 7 and (h.min, h.max, h.num) == (lo, hi, x.numel())
        assert h.sum == pytest.approx(x.sum().item()) and h.sum_squares == pytest.approx(
            x.dot(x).item()
        )
        assert list(h.bucket) == [0.0, *counts]  # a leading empty bucket marks the left edge
        assert h.bucket_limit[0] == low and h.bucket_limit[-1] == pytest.approx(high)
        assert len(h.bucket_limit) == HISTOGRAM_BINS + 1


def test_model_graph_and_pr_curves_per_class(tmp_path):
    train(cfg_of("trainer.max_epochs=1"), tmp_path)
    ea = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    ea.Reload()
    assert ea.Tags()["graph"] and len(ea.Graph().node) > 3  # the traced MLP
    curves = {t for t in ea.Tags()["tensors"] if t.startswith("pr_curve/test/")}
    assert curves == {f"pr_curve/test/{name}" for name in ("setosa", "versicolor", "virginica")}
    (event,) = ea.Tensors("pr_curve/test/setosa")
    assert event.tensor_proto.tensor_shape.dim[0].size == 6  # TP, FP, TN, FN, precision, recall


def test_a_model_that_does_not_trace_still_trains(tmp_path):
    metrics = train(compose_cfg(*FAST, "trainer.max_epochs=1", "data=sbm", "model=gcn"), tmp_path)
    assert metrics["epochs"] == 1
    ea = EventAccumulator(str(tmp_path))
    ea.Reload()
    assert not ea.Tags()["graph"]  # a PyG graph input: left out, the run goes on


def test_event_files_sort_in_the_order_they_were_opened(tmp_path):
    """TensorBoard reads a run's files in name order; a process's 10th file of a second
    must not sort before its 9th (a resumed run's purge marker would come first)."""
    from engine.logger import EventFile

    opened = []
    for _ in range(12):
        events = EventFile(tmp_path, None, flush_secs=0)
        opened.append(Path(events._file.name).name)
        events.close()
    assert sorted(opened) == opened and len(set(opened)) == 12


@pytest.mark.parametrize("model", ["mlp", "cnn", "lstm", "transformer"])
def test_the_graph_is_the_one_add_graph_writes_from_one_trace(model):
    """engine.logger.graph_def traces once; SummaryWriter.add_graph's graph() traces a
    second time to check the first. The GraphDef must be the same, byte for byte."""
    from torch.utils.tensorboard._pytorch_graph import graph as add_graphs_graph

    from engine.cli import add_pairings
    from engine.logger import graph_def
    from engine.run import build, resolve_device
    from zoo.modes import eval_mode

    built = build(compose_cfg(*add_pairings([f"model={model}"])), resolve_device("cpu"))
    x = built.task.example_input(built.data)
    args = x if isinstance(x, tuple) else (x,)
    with eval_mode(built.model), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow
        ours = graph_def(built.model, args)
        theirs, _ = add_graphs_graph(built.model, args)
    assert len(ours.node) > 3
    assert ours.SerializeToString() == theirs.SerializeToString()
