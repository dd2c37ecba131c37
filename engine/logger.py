"""Experiment loggers: TensorBoard (default) or none.

Event files go straight into the run directory, so ``tensorboard --logdir outputs``
shows one run per run directory, named after it. Every scalar is logged against the
global optimizer step; that single axis is what lets a resumed run discard what the
interrupted one logged after its last checkpoint (``purge_step``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import google_crc32c
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer import record_writer
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from zoo import Registry

LOGGERS = Registry("logger")


def masked_crc32c(data: bytes) -> int:
    """The checksum of TensorBoard's record format, in C.

    Without TensorFlow, tensorboard's writer computes CRC32C in pure Python, byte by
    byte: about 10 us per event on its writer thread, which holds the GIL and so
    slows the training loop by a few percent. Same value (tested), C speed.
    """
    x = google_crc32c.value(data)
    return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF


record_writer.masked_crc32c = masked_crc32c


def list_loggers() -> list[str]:
    return LOGGERS.names()


def create_logger(name: str, run_dir: str | Path, purge_step: int | None = None, **kwargs: Any):
    return LOGGERS.get(name)(run_dir, purge_step=purge_step, **kwargs)


@LOGGERS.register("none")
class NullLogger:
    """Logs nothing (metrics.json and the console still report the run)."""

    def __init__(self, run_dir: str | Path, purge_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars({tag: value}, step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@LOGGERS.register("tensorboard")
class TensorBoardLogger(NullLogger):
    """Scalars and the HPARAMS table through ``torch.utils.tensorboard``.

    Args:
        flush_secs: how often the writer's background thread flushes to disk.
    """

    def __init__(
        self, run_dir: str | Path, purge_step: int | None = None, flush_secs: int = 30
    ) -> None:
        super().__init__(run_dir)

        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step, flush_secs=flush_secs)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Several scalars at one step, as ONE event: each event costs ~35 us to queue
        and write, about 3% of a small model's training step."""
        summary = Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in values.items()])
        self.writer.file_writer.add_summary(summary, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """Write the run's config next to its final metrics (TensorBoard's HPARAMS tab).

        ``SummaryWriter.add_hparams`` would open a second run in a sub-directory;
        writing the three hparams summaries into this run's own file keeps one run
        per directory. The metrics are logged as scalars too, under the same tags,
        which is where the HPARAMS tab reads their values.
        """
        clean = {
            k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in hparams.items()
        }
        for summary in hparams_summary(clean, metrics):
            self.writer.file_writer.add_summary(summary)
        self.scalars(metrics, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
