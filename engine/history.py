"""A run's history without TensorBoard: ``history.csv`` and its learning curves.

Keras' ``fit`` returns a ``History`` (each epoch's metrics); lightning-hydra-template
writes a CSV. The trainer keeps one row per finished epoch (``epoch``, ``step``, the
first optimizer's ``lr`` at the epoch's end, and every ``train/*`` and ``val/*``
metric it logs) in its checkpoints, so a resumed run's history continues exactly,
and appends each to ``<run_dir>/history.csv`` as the epoch ends (:class:`History`).

The learning curves draw each metric's train and validation values on one chart, the
picture of over- and underfitting (the validation loss turning up while the training
loss keeps falling)::

    python -m engine.history <run_dir>     # writes <run_dir>/learning_curves.png

``python evaluate.py run_dir=<dir>`` draws them too, beside its other figures.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

FILE = "history.csv"


def write_history(rows: list[dict[str, float]], path: Path) -> list[str]:
    """The rows as CSV (columns in the order first seen; a metric an epoch lacks is
    empty), written atomically like checkpoints; returns the columns."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return columns


class History:
    """The finished epochs' rows: kept in memory (``rows``, which ``last.pt`` saves) and
    written to ``path`` (None: kept only, as on a DDP rank other than 0).

    Each epoch appends its one row to the file, kept open between epochs (the
    trainer's ``fit`` closes it), so an epoch costs the same however long the run.
    The file is written whole only where appending cannot give the right rows: at a
    run's first epoch (an old file in the run directory goes), on resume
    (:meth:`restore`: the rows a killed run wrote past its last checkpoint go, so the
    file holds what an uninterrupted run's would), and when a row brings a column the
    header lacks.
    """

    def __init__(self, path: Path | None) -> None:
        self.rows: list[dict[str, float]] = []
        self.path = path
        self._columns: list[str] | None = None  # the file's header; None: not written yet
        self._file: TextIO | None = None  # open for appending, from the second row on
        self._writer: csv.DictWriter | None = None

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        if self._columns is None or not row.keys() <= set(self._columns):
            self.close()
            self._columns = write_history(self.rows, self.path)
            return
        if self._file is None:  # kept open: an epoch's row is one write and one flush
            self._file = self.path.open("a", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=self._columns)
        self._writer.writerow(row)
        self._file.flush()  # on disk as the epoch ends, as if the file were closed

    def close(self) -> None:
        """Close the file (the next row opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def restore(self, rows: list[dict[str, float]]) -> None:
        """Continue from a checkpoint's rows; the file holds exactly those."""
        self.rows = list(rows)
        if self.path is None:
            return
        self.close()
        if self.rows:
            self._columns = write_history(self.rows, self.path)
        else:  # nothing finished yet: the first epoch writes the file
            self.path.unlink(missing_ok=True)
            self._columns = None


def read_history(path: Path) -> dict[str, np.ndarray]:
    """``history.csv`` as one float array per column (NaN where a value is missing)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0]) if rows else []
    return {c: np.array([float(r[c]) if r[c] else math.nan for r in rows]) for c in columns}


def learning_curves_figure(history: dict[str, np.ndarray]) -> Any:
    """One chart per metric (loss first), its train and val values against the epoch."""
    from engine.report.plots import _pyplot

    plt = _pyplot()
    names = sorted(
        {c.split("/", 1)[1] for c in history if c.startswith(("train/", "val/"))},
        key=lambda n: (n != "loss", n),
    )
    fig, axes = plt.subplots(
        1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.6), dpi=80, squeeze=False
    )
    epoch = history.get("epoch", np.arange(1, 1 + len(next(iter(history.values()), []))))
    for ax, name in zip(axes[0], names, strict=False):
        for split, style in (("train", "-"), ("val", "--")):
            values = history.get(f"{split}/{name}")
            if values is not None:
                ax.plot(epoch, values, style, marker=".", label=split)
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("learning curves: train and validation, per epoch")
    fig.tight_layout()
    return fig


def draw_learning_curves(run_dir: Path, out: Path) -> Path | None:
    """Draw ``<run_dir>/history.csv`` to ``out`` (a PNG); None when there is no history."""
    from engine.report.plots import save_figure

    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    history = read_history(path)
    if not history or len(next(iter(history.values()))) == 0:
        return None
    save_figure(learning_curves_figure(history), out)
    return out


if __name__ == "__main__":
    from engine.cli import fail

    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / FILE).is_file():
        fail("give a run directory that holds history.csv: python -m engine.history <dir>")
    drawn = draw_learning_curves(Path(sys.argv[1]), Path(sys.argv[1]) / "learning_curves.png")
    if not drawn:
        fail("history.csv holds no epoch yet")
    print(f"wrote {drawn}")
