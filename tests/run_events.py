"""A run's TensorBoard events read back with TensorBoard's own reader, under the names
the trainer logs them by.

The logger writes the per-epoch curves ``train/<m>`` and ``val/<m>`` into the sub-runs
``<run>/train`` and ``<run>/val`` as ``Learning curves/<m>``
(:func:`engine.logger_dashboard.curve_of`); :class:`RunEvents` reads the run and those
sub-runs and answers for ``train/loss`` with the train sub-run's ``Learning curves/loss``,
so a test asks for a metric by one name wherever it is drawn."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.logger_dashboard import CURVE_RUNS, CURVES, curve_of

EVERYTHING = {"scalars": 0, "tensors": 0, "histograms": 0, "images": 0}


def accumulator(path: Path, guidance: dict | None = None) -> EventAccumulator:
    ea = EventAccumulator(str(path), size_guidance=guidance or EVERYTHING)
    ea.Reload()
    return ea


class RunEvents:
    """The run's own events (``.run``) and its curve sub-runs (``.curves``); any other
    attribute is the run's own EventAccumulator's."""

    def __init__(self, run_dir: Path | str, guidance: dict | None = None) -> None:
        run_dir = Path(run_dir)
        self.run = accumulator(run_dir, guidance)
        self.curves = {
            split: accumulator(run_dir / split, guidance)
            for split in CURVE_RUNS
            if any((run_dir / split).glob("events.out.tfevents.*"))
        }

    def _where(self, tag: str) -> tuple[EventAccumulator, str]:
        split, curve = curve_of(tag) or (None, tag)
        if split is None:
            return self.run, tag
        if split not in self.curves:
            raise KeyError(f"no sub-run {split}/ for {tag}")
        return self.curves[split], curve

    def Scalars(self, tag: str):  # noqa: N802 - EventAccumulator's name
        ea, tag = self._where(tag)
        return ea.Scalars(tag)

    def SummaryMetadata(self, tag: str):  # noqa: N802
        ea, tag = self._where(tag)
        return ea.SummaryMetadata(tag)

    def Tags(self) -> dict:  # noqa: N802
        """The run's tags, its scalars with the curves under the trainer's names."""
        tags = dict(self.run.Tags())
        scalars = list(tags["scalars"])
        for split, ea in self.curves.items():
            for tag in ea.Tags()["scalars"]:
                assert tag.startswith(f"{CURVES}/"), f"{split}/ holds {tag}"
                scalars.append(f"{split}/{tag.removeprefix(CURVES + '/')}")
        tags["scalars"] = scalars
        return tags

    def __getattr__(self, name: str):
        return getattr(self.run, name)
