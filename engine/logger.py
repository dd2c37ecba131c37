"""Experiment loggers: TensorBoard (default) or none.

Event files go straight into the run directory, so ``tensorboard --logdir outputs``
shows one run per run directory, named after it, and two sub-runs beside it,
``<run>/train`` and ``<run>/val``, that hold the per-epoch curves so that each metric's
two lines share a card (:mod:`engine.logger_dashboard`). Every scalar is logged
against the global optimizer step; that single axis is what lets a resumed run discard
what the interrupted one logged after its last checkpoint (``purge_step``).

``torch.utils.tensorboard`` (the summaries, the graph tracer) and the projector's protos
are imported by the methods that use them: ~35 ms of start-up that logger=none saves.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import socket
import struct
import time
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import torch
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import (
    DataClass,
    HistogramProto,
    Summary,
    SummaryMetadata,
)
from torch import Tensor

from engine.logger_dashboard import curve_of, describe, layout, projector_view
from engine.report.pictures import encode_png
from zoo import Registry
from zoo.modes import eval_mode

log = logging.getLogger(__name__)
LOGGERS = Registry("logger")
HISTOGRAM_BINS = 30  # even buckets per histogram (TensorBoard re-bins for display anyway)
# Progress counters the trainer hands over with each epoch's metrics. TensorBoard draws
# every scalar against the optimizer step, which already says how far a run is, so a
# counter would only be a straight line; and Time Series, which sorts its groups by
# name and opens the first two, would lead with it ("epoch" < "train"). history.csv
# keeps the epoch of each step.
COUNTERS = frozenset({"epoch"})


_file_ids = itertools.count()


def masked_crc32c(data: bytes) -> int:
    """The checksum of TensorBoard's record format (CRC32C, rotated and offset)."""
    x = google_crc32c.value(data)
    return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class EventFile:
    """A TensorBoard event file, written in the caller's thread.

    The format is a sequence of records: length (uint64), its masked CRC32C, a
    serialized ``Event`` protobuf, and the data's masked CRC32C. ``SummaryWriter``
    hands each event to a writer thread and, without TensorFlow installed, computes
    the checksums in pure Python there; that thread competes for the GIL with the
    training loop, which cost a small model ~4% of its speed at one event per step.
    Framing and checksumming in C in this thread costs ~5 us an event.
    """

    def __init__(self, log_dir: Path, purge_step: int | None, flush_secs: float) -> None:
        # TensorBoard reads a run's files in name order: the counter is zero-padded so
        # that a process's 10th file of a second sorts after its 9th (a resumed run's
        # purge marker must come after what it purges).
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_file_ids):06d}"
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(log_dir / name, "ab")  # noqa: SIM115 - closed by close()
        self._flush_secs, self._last_flush = flush_secs, time.monotonic()
        self.write(Event(file_version="brain.Event:2"))
        if purge_step is not None:
            # TensorBoard drops events at steps >= purge_step logged before this
            # marker: what an interrupted run logged after its last checkpoint.
            self.write(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def write(self, *events: Event) -> None:
        """Append ``events``, stamped with the time now, in one write."""
        now, records = time.time(), []
        for event in events:
            event.wall_time = now
            data = event.SerializeToString()
            header = struct.pack("<Q", len(data))
            records += (
                header,
                struct.pack("<I", masked_crc32c(header)),
                data,
                struct.pack("<I", masked_crc32c(data)),
            )
        self._file.write(b"".join(records))
        if time.monotonic() - self._last_flush >= self._flush_secs:
            self.flush()

    def add_summary(self, summary: Summary, step: int | None = None) -> None:
        self.write(Event(summary=summary) if step is None else Event(summary=summary, step=step))

    def flush(self) -> None:
        self._file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def bucket_counts(flat: Tensor, bins: int, low: float, high: float) -> Tensor:
    """``torch.histc(flat, bins, low, high)`` of a 1-D tensor whose entries all lie in
    [low, high], as integer counts, in a third of its time on a CPU.

    The same rule as histc's kernel: entry x goes to bucket
    b = ⌊(x − lo)·B / (hi − lo)⌋ in float32 arithmetic, with lo and hi the bounds
    rounded to float32 and x = hi put in the last bucket; computed here with
    vectorized tensor ops and ``bincount``, where histc's CPU kernel visits one entry
    at a time (``tests/engine/test_engine_tensorboard.py`` checks the two agree).
    """
    lo, hi = np.float32(low), np.float32(high)
    width = float(hi - lo)  # in float32, as the kernel subtracts them
    # int32 indices: bincount counts them in two thirds of int64's time
    b = (flat - float(lo)).mul_(bins).div_(width).int().clamp_(max=bins - 1)
    return torch.bincount(b, minlength=bins)


def _stats(flats: list[Tensor]) -> list[list[float]]:
    """[min, max, Σx, Σx²] of each 1-D tensor, with one device sync."""
    parts = [s for flat in flats for s in (*torch.aminmax(flat), flat.sum(), flat.dot(flat))]
    return torch.stack(parts).view(-1, 4).tolist()


def graph_def(model: Any, args: tuple) -> Any:
    """The ``GraphDef`` that ``SummaryWriter.add_graph(model, args)`` writes, from one
    trace. Its ``graph()`` lets ``torch.jit.trace`` check the trace by tracing again and
    comparing: half the time of a step every run with TensorBoard pays before its first
    epoch (the default MLP's 0.05 s instead of 0.1-0.15 s), and a picture needs no
    second opinion."""
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.compat.proto.versions_pb2 import VersionDef
    from torch.utils.tensorboard._pytorch_graph import parse

    trace = torch.jit.trace(model, args, check_trace=False)
    torch._C._jit_pass_inline(trace.graph)
    return GraphDef(node=parse(trace.graph, trace, args), versions=VersionDef(producer=22))


def list_loggers() -> list[str]:
    return LOGGERS.names()


def create_logger(name: str, run_dir: str | Path, purge_step: int | None = None, **kwargs: Any):
    return LOGGERS.get(name)(run_dir, purge_step=purge_step, **kwargs)


@LOGGERS.register("none")
class NullLogger:
    """Logs nothing (metrics.json and the console still report the run)."""

    # Whether pictures, curves and embeddings go anywhere (none are made for nothing).
    draws = False

    def __init__(self, run_dir: str | Path, purge_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)

    def scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def scalars_at(self, rows: Sequence[tuple[int, dict[str, float]]]) -> None:
        pass

    def histograms(self, tensors: dict[str, Tensor], step: int) -> None:
        pass

    def hparams(
        self,
        hparams: dict[str, Any],
        metrics: dict[str, float],
        step: int,
        differs: Collection[str] | None = (),
    ) -> None:
        pass

    def embedding(
        self,
        features: Tensor,
        labels: Sequence[Any],
        tag: str,
        step: int,
        images: Tensor | None = None,
    ) -> None:
        pass

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        pass

    def pr_curve(self, tag: str, labels: Tensor, scores: Tensor, step: int) -> None:
        pass

    def graph(self, model: Any, example_inputs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@LOGGERS.register("tensorboard")
class TensorBoardLogger(NullLogger):
    """Scalars, histograms and the HPARAMS table, as TensorBoard event files.

    Summaries are built by ``torch.utils.tensorboard.summary``; :class:`EventFile`
    writes them: one file in the run directory, and one in each sub-run
    (``train/``, ``val/``) that the per-epoch curves go to
    (:func:`engine.logger_dashboard.curve_of`), opened at their first curve. The first
    event of each scalar or image tag carries its one-line description
    (:func:`engine.logger_dashboard.describe`), and the run carries the CUSTOM SCALARS
    layout that draws train and val of a metric, or every layer's gradient norm, on one
    chart (:func:`engine.logger_dashboard.layout`), rewritten whenever a new tag
    changes it.

    Args:
        flush_secs: at most this many seconds between flushes to disk while writing.
    """

    draws = True

    def __init__(
        self, run_dir: str | Path, purge_step: int | None = None, flush_secs: int = 30
    ) -> None:
        super().__init__(run_dir)
        self.events = EventFile(self.run_dir, purge_step, flush_secs)
        self._purge_step, self._flush_secs = purge_step, flush_secs
        self._curves: dict[str, EventFile] = {}  # sub-run -> its file
        self._tags: set[str] = set()  # scalar tags written so far, as the trainer names them
        self._own_tags: set[str] = set()  # those of them this run's file holds (no curve)
        self._layout: dict = {}

    @staticmethod
    def _metadata(tag: str, kind: str) -> SummaryMetadata:
        """The plugin and description of ``tag``, for its first event (TensorBoard keeps
        the first); the plugin named as TensorBoard's own summaries name it.

        The data class is set too: TensorBoard's default reader (its Rust data server,
        ``--load_fast=auto``) replaces the metadata of a ``simple_value`` or ``image``
        that has none with a blank one, description lost; with it, the metadata is kept.
        """
        if kind == "image":
            from tensorboard.plugins.image.metadata import create_summary_metadata

            data_class = DataClass.DATA_CLASS_BLOB_SEQUENCE
        else:
            from tensorboard.plugins.scalar.metadata import create_summary_metadata

            data_class = DataClass.DATA_CLASS_SCALAR
        metadata = create_summary_metadata(display_name=tag, description=describe(tag, kind))
        metadata.data_class = data_class
        return metadata

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Several scalars at one step, as one event in each run they go to (a curve to its
        sub-run); a new tag brings its description and, if it changes the CUSTOM SCALARS
        layout, the new layout. Counters (``COUNTERS``) are left out: the step axis
        carries them."""
        if not COUNTERS.isdisjoint(values):  # an epoch's scalars; a step's skip the copy
            values = {k: v for k, v in values.items() if k not in COUNTERS}
        if not values:
            return
        new = values.keys() - self._tags
        # Built in place in the event: Event(summary=Summary(...)) would copy it, and the
        # trainer logs a loss every step.
        events = {None: Event(step=step)}
        for k, v in values.items():
            run, tag = curve_of(k) or (None, k)
            if run not in events:
                events[run] = Event(step=step)
            add = events[run].summary.value.add
            if k in new:
                add(tag=tag, simple_value=v, metadata=self._metadata(tag, "scalar"))
            else:
                add(tag=tag, simple_value=v)
        for run, event in events.items():
            if run is None:
                if event.summary.value:
                    self.events.write(event)
            else:
                self._curve_file(run).write(event)
        if new:
            self._tags |= new
            self._own_tags |= {k for k in new if curve_of(k) is None}
            charts = layout(self._tags)
            if charts != self._layout:
                from torch.utils.tensorboard.summary import custom_scalars

                self._layout = charts
                self.events.add_summary(custom_scalars(charts))

    def scalars_at(self, rows: Sequence[tuple[int, dict[str, float]]]) -> None:
        """Each row's scalars at its step (an epoch's per-step losses), as :meth:`scalars`
        would write them a row at a time, with less work a row: a row of tags this
        run's own file already holds needs no description, layout or sub-run, and the
        rows go in one write."""
        events = []
        for step, values in rows:
            if not values:
                continue
            if values.keys() <= self._own_tags:
                event = Event(step=step)
                add = event.summary.value.add
                for k, v in values.items():
                    add(tag=k, simple_value=v)
                events.append(event)
            else:  # a new tag, a curve, a counter: the general path, in file order
                if events:
                    self.events.write(*events)
                    events = []
                self.scalars(values, step)
        if events:
            self.events.write(*events)

    def _curve_file(self, run: str) -> EventFile:
        """The event file of sub-run ``run`` (``train``, ``val``), opened at first use with
        the run's own purge step (a resumed run drops the same steps there)."""
        if run not in self._curves:
            self._curves[run] = EventFile(self.run_dir / run, self._purge_step, self._flush_secs)
        return self._curves[run]

    def histograms(self, tensors: dict[str, Tensor], step: int) -> None:
        """The distribution of each of ``tensors`` (by tag) at ``step``, for TensorBoard's
        HISTOGRAMS tab, all in one event.

        Each is binned by torch into ``HISTOGRAM_BINS`` even buckets over its own
        [min, max] and written raw: several times cheaper than ``add_histogram``,
        which bins with numpy into ~1500 exponential buckets and writes them all. The
        statistics of all the tensors come back in one sync, their counts in another.
        Non-finite entries are left out (a tensor of nothing else, whole), so a
        diverging run still ends with the trainer's one-line error.
        """
        flats = {tag: v.detach().flatten().float() for tag, v in tensors.items()}
        stats = _stats(list(flats.values()))
        # inf or NaN somewhere: rare, so the mask stays off the usual path
        if not all(math.isfinite(lo + hi) for lo, hi, *_ in stats):
            flats = {tag: f[torch.isfinite(f)] for tag, f in flats.items()}
            flats = {tag: f for tag, f in flats.items() if f.numel()}
            if not flats:
                return
            stats = _stats(list(flats.values()))
        # One value only (e.g. all-zero weights): buckets spanning [v - 0.5, v + 0.5].
        ranges = [(lo, hi) if hi > lo else (lo - 0.5, hi + 0.5) for lo, hi, *_ in stats]
        pairs = zip(flats.values(), ranges, strict=True)
        counts = torch.stack([bucket_counts(f, HISTOGRAM_BINS, *r) for f, r in pairs]).tolist()
        event = Event(step=step)
        parts = zip(flats.items(), stats, ranges, counts, strict=True)
        for (tag, flat), (vmin, vmax, total, squares), (low, high), n in parts:
            width = (high - low) / HISTOGRAM_BINS
            histogram = HistogramProto(
                min=vmin,
                max=vmax,
                num=flat.numel(),
                sum=total,
                sum_squares=squares,
                # TensorBoard stores right bucket edges; a leading empty bucket marks
                # the left one.
                bucket_limit=[low + i * width for i in range(HISTOGRAM_BINS + 1)],
                bucket=[0.0, *n],
            )
            event.summary.value.add(tag=tag, histo=histogram)
        self.events.write(event)

    def hparams(
        self,
        hparams: dict[str, Any],
        metrics: dict[str, float],
        step: int,
        differs: Collection[str] | None = (),
    ) -> None:
        """Write the run's config next to its final metrics (TensorBoard's HPARAMS tab).

        ``SummaryWriter.add_hparams`` would open a second run in a sub-directory;
        writing the hparams summaries into this run's own file keeps one run per
        directory. The metrics are logged as scalars too, under the same tags, which
        is where the HPARAMS tab reads their values. ``differs``: the keys whose
        columns TensorBoard shows first (:mod:`engine.logger_hparams`); None writes no
        experiment summary (a sweep's run: the sweep writes one for all its runs).
        """
        clean = {
            k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in hparams.items()
        }
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        from engine.logger_hparams import experiment_summary, session_start

        _, start, end = hparams_summary(clean, metrics)
        if differs is not None:
            self.events.add_summary(experiment_summary(session_start(start), metrics, differs))
        self.events.add_summary(start)
        self.events.add_summary(end)
        self.scalars(metrics, step)

    def pr_curve(self, tag: str, labels: Tensor, scores: Tensor, step: int) -> None:
        """A precision-recall curve (TensorBoard's PR CURVES tab) of binary ``labels``
        against ``scores`` in [0, 1] (one class against the rest)."""
        from torch.utils.tensorboard.summary import pr_curve as pr_curve_summary

        summary = pr_curve_summary(
            tag, labels.detach().cpu().numpy(), scores.detach().float().cpu().numpy()
        )
        self.events.add_summary(summary, step)

    def graph(self, model: Any, example_inputs: Any) -> None:
        """The model's graph (TensorBoard's GRAPHS tab), traced with ``torch.jit`` in
        eval mode on ``example_inputs`` (:func:`graph_def`). Models that do not trace
        (e.g. ones reading PyG graph objects) are left out, with a debug line in the
        run's log."""
        args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
        try:
            with eval_mode(model), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on Python control flow
                graph = graph_def(model, args)
        except Exception as e:  # tracing is best effort: training goes on without it
            log.debug(f"model graph not logged: {type(e).__name__}: {e}")
            return
        self.events.write(Event(graph_def=graph.SerializeToString()))

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An ``(H, W, 3)`` uint8 RGB picture (TensorBoard's IMAGES tab), PNG-encoded."""
        h, w = image.shape[:2]
        picture = Summary.Image(
            height=h, width=w, colorspace=3, encoded_image_string=encode_png(image)
        )
        value = Summary.Value(tag=tag, image=picture, metadata=self._metadata(tag, "image"))
        self.events.add_summary(Summary(value=[value]), step)

    def embedding(
        self,
        features: Tensor,
        labels: Sequence[Any],
        tag: str,
        step: int,
        images: Tensor | None = None,
    ) -> None:
        """Points with their labels, for TensorBoard's PROJECTOR tab (PCA, t-SNE, UMAP).

        Written where ``SummaryWriter.add_embedding`` writes them, without a second
        event file: ``<step>/<tag>/tensors.tsv`` (one point a line) and ``metadata.tsv``
        (one label a line; a single column has no header), listed in the run
        directory's ``projector_config.pbtxt``, the file the projector plugin looks
        for next to a run's event files. Paths in it are relative to the run directory.

        ``bookmarks.json`` beside them holds one view,
        :func:`engine.logger_dashboard.projector_view`: the projector opens with its
        bookmarks panel unfolded, and a click on the view colours the points by label.
        With ``images`` (the points' inputs, values in [0, 1]), each point is drawn as
        its thumbnail: ``sprite.png`` beside the tensors, one tile per point in order.

        Shapes:
            features ``(N, D)``; labels N of them; images ``(N, C, H, W)``.
        """
        if len(labels) != len(features):
            raise ValueError(f"embedding: {len(features)} points but {len(labels)} labels")
        subdir = f"{step:05d}/{tag}"
        folder = self.run_dir / subdir
        folder.mkdir(parents=True, exist_ok=True)
        rows = features.detach().double().cpu().tolist()
        (folder / "tensors.tsv").write_text(
            "".join("\t".join(f"{v:.7g}" for v in row) + "\n" for row in rows)
        )
        (folder / "metadata.tsv").write_text("".join(f"{label}\n" for label in labels))
        path = self.run_dir / "projector_config.pbtxt"
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        config = ProjectorConfig()
        if path.exists():  # keep the other tags' embeddings; replace this tag's
            text_format.Parse(path.read_text(), config)
            kept = [e for e in config.embeddings if e.tensor_name != tag]
            del config.embeddings[:]
            config.embeddings.extend(kept)
        added = config.embeddings.add(
            tensor_name=tag,
            tensor_path=f"{subdir}/tensors.tsv",
            metadata_path=f"{subdir}/metadata.tsv",
            tensor_shape=list(features.shape),
        )
        view = projector_view(features)  # one click colours the points by label
        (folder / "bookmarks.json").write_text(json.dumps([view]))
        added.bookmarks_path = f"{subdir}/bookmarks.json"
        if images is not None and len(images) == len(features):
            from engine.report.pictures import sprite

            (folder / "sprite.png").write_bytes(encode_png(sprite(images)))
            added.sprite.image_path = f"{subdir}/sprite.png"
            added.sprite.single_image_dim.extend([images.shape[-1], images.shape[-2]])  # W, H
        path.write_text(text_format.MessageToString(config))

    def flush(self) -> None:
        for events in (self.events, *self._curves.values()):
            events.flush()

    def close(self) -> None:
        for events in (self.events, *self._curves.values()):
            events.close()
