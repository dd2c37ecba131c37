"""TensorBoard's HPARAMS table: which columns it shows first, and a sweep's own table.

The hparams plugin reads three summaries: a session start (the run's config), a
session end, and an *experiment* that lists the hyperparameter and metric columns.
TensorBoard sorts the columns so those marked ``differs`` come first and shows the
first few by default; the rest wait behind checkboxes. So:

- a single run marks as differing the keys its command line set (the ones its user
  chose), and lists ``test/*`` next to ``val_final/*`` (validation metrics of the
  weights that were tested) as metrics;
- the runs of a sweep (``-m``) write no experiment; when the sweep ends,
  :func:`write_sweep_experiment` writes one into the sweep's folder, read back from
  the runs' own session summaries, whose columns are only the keys whose values
  differ between its runs (the swept ones): TensorBoard shows the first five
  hyperparameter columns whatever their flag, so a table that listed the constants
  too would show three of them beside two swept keys. Each run's every key stays in
  its session (TensorBoard pointed at the run's folder alone lists them all) and in
  its ``.hydra/config.yaml``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path

from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

# Prefixes of the scalar tags shown as metrics, in the order of their columns.
METRIC_PREFIXES = ("test/", "val_final/")
# Keys a sweeper sets per trial for its own bookkeeping (the Optuna study's trial id):
# they differ between runs without being a choice of the user's.
BOOKKEEPING = ("trial.",)


def chosen_keys(names: Collection[str], explicit: Collection[str] | None) -> set[str] | None:
    """The hparams a command line chose (``explicit``: its keys and groups, as
    :func:`engine.resuming.explicit_keys` gives them): a key itself, a group's ``name``
    (``model=lstm`` -> ``model.name``), or every key under a prefix. None inside a
    Hydra sweep (``-m``), whose experiment :func:`write_sweep_experiment` writes."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return None
    chosen = set()
    for key in explicit or ():
        if key in names:
            chosen.add(key)
        elif f"{key}.name" in names:
            chosen.add(f"{key}.name")
        else:
            chosen |= {n for n in names if n.startswith(f"{key}.")}
    return chosen


def experiment_summary(
    start: plugin_data_pb2.SessionStartInfo, metrics: Iterable[str], differs: Collection[str]
) -> Summary:
    """The experiment summary: every hparam of ``start`` as a column, those named in
    ``differs`` marked and listed first (TensorBoard shows them by default), then
    ``metrics`` (scalar tags) as metric columns."""
    kinds = {
        "number_value": api_pb2.DATA_TYPE_FLOAT64,
        "string_value": api_pb2.DATA_TYPE_STRING,
        "bool_value": api_pb2.DATA_TYPE_BOOL,
    }
    infos = [
        api_pb2.HParamInfo(
            name=name, type=kinds.get(value.WhichOneof("kind"), 0), differs=name in differs
        )
        for name, value in start.hparams.items()
    ]
    # Differing keys first, a swept group's name (optim.name) before its fields.
    infos.sort(key=lambda info: (not info.differs, not info.name.endswith(".name"), info.name))
    columns = [
        api_pb2.MetricInfo(
            name=api_pb2.MetricName(tag=tag),
            dataset_type=api_pb2.DATASET_VALIDATION if tag.startswith("val") else 0,
        )
        for tag in metrics
    ]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=columns)
    content = plugin_data_pb2.HParamsPluginData(
        experiment=experiment, version=metadata.PLUGIN_DATA_VERSION
    )
    meta = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()
        )
    )
    return Summary(value=[Summary.Value(tag=metadata.EXPERIMENT_TAG, metadata=meta)])


def session_start(summary: Summary) -> plugin_data_pb2.SessionStartInfo:
    """The session start info inside torch's session-start summary."""
    content = summary.value[0].metadata.plugin_data.content
    return plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info


def read_run(run_dir: Path) -> tuple[plugin_data_pb2.SessionStartInfo | None, set[str]]:
    """A run's session start info (None if it wrote none) and its metric tags, read
    from the event files in ``run_dir`` itself."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    start, tags = None, set()
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == metadata.SESSION_START_INFO_TAG:
                    start = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content
                    ).session_start_info
                elif value.tag.startswith(METRIC_PREFIXES):
                    tags.add(value.tag)
    return start, tags


def write_sweep_experiment(sweep_dir: Path) -> bool:
    """Write the HPARAMS experiment of the runs in ``sweep_dir`` (its sub-folders) into
    an event file of ``sweep_dir``: the keys whose values differ between runs as its
    hyperparameters, marked (every key, when none differs), the runs' metric tags as
    metrics. False (and nothing written) when no run logged hparams."""
    from engine.logger import EventFile

    starts, metrics = [], set()
    for run in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        start, tags = read_run(run)
        if start is not None:
            starts.append(start)
            metrics |= tags
    if not starts:
        return False
    values = defaultdict(set)
    for start in starts:
        for name, value in start.hparams.items():
            values[name].add(value.SerializeToString(deterministic=True))
    # Values that differ, not keys some runs lack (sgd has no betas): those follow the
    # swept group's name, which is what differs.
    differs = {
        name for name, seen in values.items() if len(seen) > 1 and not name.startswith(BOOKKEEPING)
    }
    columns = differs or set(values)
    merged = plugin_data_pb2.SessionStartInfo()
    for start in starts:  # the columns' values, of whichever run has the key
        for name, value in start.hparams.items():
            if name in columns:
                merged.hparams[name].CopyFrom(value)
    ordered = sorted(metrics, key=lambda t: (t.split("/", 1)[1], t))  # test/x beside val_final/x
    events = EventFile(sweep_dir, None, flush_secs=0)
    try:
        events.add_summary(experiment_summary(merged, ordered, differs))
    finally:
        events.close()
    return True
