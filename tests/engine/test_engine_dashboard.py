"""What the dashboard shows of a run, read back from its event files with TensorBoard's
own reader: train and val of a metric on one card (one tag in two sub-runs, the group
the landing page opens first) and on one CUSTOM SCALARS chart with its test point, every
layer's gradient norm on one chart, histograms in a short run, a description on every
card, and HPARAMS columns that put the chosen (or, in a sweep, the differing) keys
first."""

from __future__ import annotations

import json
import math
import re

from conftest import FAST, compose_cfg
from omegaconf import OmegaConf
from run_events import RunEvents
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from engine.cli import SWEPT_ENV, run_name, swept_keys
from engine.logger_dashboard import CURVES, curve_of, describe, layout, projector_view
from engine.logger_hparams import write_sweep_experiment
from engine.run import train

SMALL = [*FAST, "logger=tensorboard", "data=iris", "model.hidden_size=8"]


def charts(ea: EventAccumulator) -> dict[str, dict[str, list[str]]]:
    """The run's last CUSTOM SCALARS layout: {category: {chart: [regex, ...]}}."""
    (*_, last) = ea.Tensors("custom_scalars__config__")
    proto = layout_pb2.Layout.FromString(last.tensor_proto.string_val[0])
    return {c.title: {ch.title: list(ch.multiline.tag) for ch in c.chart} for c in proto.category}


def experiment(ea: EventAccumulator):
    content = ea.PluginTagToContent("hparams")["_hparams_/experiment"]
    return plugin_data_pb2.HParamsPluginData.FromString(content).experiment


def test_layout_pairs_train_and_val_and_gathers_gradient_norms():
    tags = ["train/loss", "val/loss", "test/loss", "train/accuracy", "val/accuracy"]
    tags += ["baseline/accuracy", "train/penalty", "grad_norm/a.weight", "grad_norm/b.bias"]
    tags += ["lr", "train/loss_step", "epoch"]
    got = layout(tags)
    assert got["learning curves"] == {
        "accuracy": ["Multiline", [f"^({CURVES}|baseline)/accuracy$"]],
        "loss": ["Multiline", [f"^({CURVES}|test)/loss$"]],
    }  # train/penalty has no validation curve: no chart of its own
    assert got["gradients"] == {"gradient norm per parameter": ["Multiline", ["^grad_norm/"]]}
    assert got["optimization"]["training loss per step"] == ["Multiline", ["^train/loss_step$"]]
    assert layout(["epoch"]) == {}


def test_curves_go_to_sub_runs_and_steps_stay():
    assert curve_of("train/loss") == ("train", f"{CURVES}/loss")
    assert curve_of("val/nn_accuracy") == ("val", f"{CURVES}/nn_accuracy")
    for tag in ("train/loss_step", "test/loss", "val_final/loss", "baseline/accuracy", "lr"):
        assert curve_of(tag) is None, tag


def test_describe_fills_in_the_metric():
    assert "generalization gap" in describe(f"{CURVES}/accuracy")
    assert "accuracy" in describe(f"{CURVES}/accuracy")
    assert "conv.weight" in describe("grad_norm/conv.weight")
    assert describe("train/loss_step").startswith("loss of each training batch")
    assert "class" in describe("latent_space", "image")
    assert describe("samples/prior", "image").startswith("samples from fixed noise")
    assert describe("no_such/tag") == ""


def test_a_short_run_shows_curves_together_gradients_histograms_and_descriptions(tmp_path):
    metrics = train(compose_cfg(*SMALL, "optim.lr=0.01"), tmp_path, ["optim.lr", "data"])
    ea = RunEvents(tmp_path)
    scalars = ea.Tags()["scalars"]

    # The landing page: train and val of each metric on one card, one tag in two
    # sub-runs; its group sorts first (TensorBoard compares char codes, '/' and digits
    # first: no group starts with one, and upper case sorts before lower case).
    for split in ("train", "val"):
        assert sorted(ea.curves[split].Tags()["scalars"]) == [
            f"{CURVES}/accuracy",
            f"{CURVES}/loss",
        ]
    kinds = ("scalars", "histograms", "images")
    groups = {t.split("/", 1)[0] for kind in kinds for t in ea.run.Tags()[kind]}
    assert not any(g[0].isdigit() for g in groups) and min(groups | {CURVES}) == CURVES

    got = charts(ea.run)
    (loss_chart,) = got["learning curves"]["loss"]
    on_chart = [t for t in ea.run.Tags()["scalars"] if re.search(loss_chart, t)]
    on_chart += [
        f"{s}: {t}"
        for s, c in ea.curves.items()
        for t in c.Tags()["scalars"]
        if re.search(loss_chart, t)
    ]
    assert sorted(on_chart) == ["test/loss", f"train: {CURVES}/loss", f"val: {CURVES}/loss"]
    (grad_chart,) = got["gradients"]["gradient norm per parameter"]
    norms = [t for t in scalars if re.search(grad_chart, t)]
    names = [t.split("/", 1)[1] for t in norms]
    assert len(norms) >= 4 and "head.weight" in names  # every layer, first to last

    # 3 epochs is far below histogram_every_n_steps=200: one per epoch, at its end
    epoch_ends = [e.step for e in ea.Scalars("val/loss")]
    assert len(epoch_ends) == metrics["epochs"] == 3
    assert [e.step for e in ea.Scalars(norms[0])] == epoch_ends
    assert [h.step for h in ea.Histograms(f"grads/{names[0]}")] == epoch_ends

    for tag in scalars:  # every card explains itself
        assert ea.SummaryMetadata(tag).summary_description, tag

    exp = experiment(ea)
    shown = [h.name for h in exp.hparam_infos if h.differs]
    assert shown == ["data.name", "optim.lr"]  # what this command line chose, first
    assert [h.name for h in exp.hparam_infos[:2]] == shown
    metric_tags = [m.name.tag for m in exp.metric_infos]
    assert {"test/accuracy", "val_final/accuracy"} <= set(metric_tags)
    (final,) = ea.Scalars("val_final/loss")
    assert final.value == metrics["val"]["loss"]


def test_a_sweep_table_shows_the_keys_its_runs_differ_in_first(tmp_path):
    for name, optim in (("0_optim=adam", "adam"), ("1_optim=sgd", "sgd")):
        train(compose_cfg(*SMALL, "trainer.max_epochs=1", f"optim={optim}"), tmp_path / name)
    assert write_sweep_experiment(tmp_path)
    root = EventAccumulator(str(tmp_path))  # the sweep folder's own event file
    root.Reload()
    exp = experiment(root)
    infos = exp.hparam_infos
    # Only what differs is a column (TensorBoard shows the first five, flag or not).
    assert all(h.differs for h in infos) and "data.name" not in {h.name for h in infos}
    assert infos[0].name == "optim.name"  # the swept group's name leads the table
    assert "optim.lr" in {h.name for h in infos}  # adam 1e-3, sgd 0.05: it differs too
    tags = [m.name.tag for m in exp.metric_infos]
    assert tags.index("val_final/accuracy") == tags.index("test/accuracy") + 1


def test_a_sweep_without_event_files_writes_nothing(tmp_path):
    (tmp_path / "0_run").mkdir()
    assert not write_sweep_experiment(tmp_path)
    assert not list(tmp_path.glob("events.out.tfevents.*"))


def test_sweep_runs_are_named_by_the_keys_the_sweep_varies(monkeypatch):
    config = OmegaConf.create(
        {
            "hydra": {
                "overrides": {"task": ["optim=adam,sgd", "trainer.max_epochs=3", "seed=range(3)"]},
                "sweeper": {"params": {"optim.lr": "interval(1e-4, 1e-2)"}},
            }
        }
    )
    assert swept_keys(config) == ["optim", "optim.lr", "seed"]
    job = ["trainer.max_epochs=3", "seed=1", "optim=sgd", "device=cpu"]
    monkeypatch.setenv(SWEPT_ENV, "optim,optim.lr,seed")
    assert run_name(job, ["device"]) == "optim=sgd,seed=1"  # the shared max_epochs dropped
    monkeypatch.delenv(SWEPT_ENV)  # not started by a sweep's callback: every override
    assert run_name(job, ["device"]) == "optim=sgd,seed=1,trainer.max_epochs=3"


def test_projector_points_of_image_data_carry_their_thumbnails(tmp_path):
    from google.protobuf import text_format
    from PIL import Image
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    cfg = compose_cfg(
        *SMALL, "data=digits", "task=embedding", "loss=triplet", "trainer.max_epochs=1"
    )
    train(cfg, tmp_path)
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    (embedding,) = config.embeddings
    n = embedding.tensor_shape[0]
    assert list(embedding.sprite.single_image_dim) == [8, 8]
    sheet = Image.open(tmp_path / embedding.sprite.image_path)
    side = math.isqrt(n - 1) + 1  # ceil(sqrt(n))
    assert sheet.size == (8 * side, 8 * side)
    assert len((tmp_path / embedding.metadata_path).read_text().splitlines()) == n
    (view,) = json.loads((tmp_path / embedding.bookmarks_path).read_text())
    assert len(view["projections"]) == n and view["selectedColorOptionName"] == "label"


def test_the_projector_view_is_pca_coloured_by_label():
    import numpy as np
    import torch
    from sklearn.decomposition import PCA

    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0)) * torch.arange(1.0, 7.0)
    view = projector_view(x)
    z = np.array([[p[f"pca-{j}"] for j in range(3)] for p in view["projections"]])
    want = PCA(n_components=3).fit_transform(x.numpy().astype(np.float64))
    np.testing.assert_allclose(np.abs(z), np.abs(want), atol=1e-9)  # up to each axis' sign
    np.testing.assert_allclose(z * np.sign(z[0]), want * np.sign(want[0]), atol=1e-9)
    assert view["pcaComponentDimensions"] == [0, 1, 2] and view["dataSetDimensions"] == [40, 6]
    assert view["selectedColorOptionName"] == view["selectedLabelOption"] == "label"
    assert projector_view(x[:, :2])["pcaComponentDimensions"] == [0, 1]  # 2-D points: 2 axes


def sweep_of(tmp_path, runs: list[dict]) -> list[str]:
    """The HPARAMS columns of a sweep of runs that logged ``runs``' hparams."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    from engine.logger import EventFile

    for i, hparams in enumerate(runs):
        events = EventFile(tmp_path / f"{i}_run", None, flush_secs=0)
        _, start, _ = hparams_summary(hparams, {"test/x": 1.0})
        events.add_summary(start)
        events.close()
    assert write_sweep_experiment(tmp_path)
    root = EventAccumulator(str(tmp_path))
    root.Reload()
    return [h.name for h in experiment(root).hparam_infos]


def test_a_sweepers_trial_id_is_not_shown_as_a_choice(tmp_path):
    runs = [{"optim.lr": lr, "trial.id": i, "seed": 0} for i, lr in enumerate((0.1, 0.01))]
    assert sweep_of(tmp_path, runs) == ["optim.lr"]


def test_a_sweep_whose_runs_differ_in_nothing_lists_every_key(tmp_path):
    runs = [{"optim.lr": 0.1, "trial.id": i, "seed": 0} for i in range(2)]  # a rerun
    assert sorted(sweep_of(tmp_path, runs)) == ["optim.lr", "seed", "trial.id"]


def test_descriptions_survive_tensorboards_default_reader(tmp_path):
    """TensorBoard's default reader (its Rust data server) keeps a legacy scalar's or
    image's metadata, description included, only when it names its data class."""
    import numpy as np
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import DataClass

    from engine.logger import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path)
    logger.scalars({"train/loss": 1.0, "epoch": 1}, 10)
    logger.scalars({"train/loss": 0.5, "epoch": 2}, 20)
    logger.image("attention/test_sample_0", np.zeros((4, 4, 3), np.uint8), 20)
    logger.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    (curve,) = (tmp_path / "train").glob("events.out.tfevents.*")  # train/loss, a curve
    values = [
        v
        for file in (path, curve)
        for record in RawEventFileLoader(str(file)).Load()
        for v in Event.FromString(record).summary.value
    ]
    first = {}
    for v in values:
        first.setdefault(v.tag, v)
    assert set(first) == {f"{CURVES}/loss", "attention/test_sample_0"}  # no counter: "epoch"
    assert first[f"{CURVES}/loss"].metadata.data_class == DataClass.DATA_CLASS_SCALAR
    image = first["attention/test_sample_0"].metadata
    assert image.data_class == DataClass.DATA_CLASS_BLOB_SEQUENCE
    assert "token" in image.summary_description
    assert all(v.metadata.summary_description for v in first.values())
    later = [v for v in values if v.tag == f"{CURVES}/loss"][1]
    assert not later.HasField("metadata")  # once per tag: TensorBoard keeps the first
